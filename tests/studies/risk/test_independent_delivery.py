"""The risk study on a register delivery written outside the project
(`deliveries.risk_independent`: CSVs in other spellings, yearly LISA files named with two
years), run end to end by parameters only (`make check-data` and `make report STUDY=risk` in a
copy of the project). The spells, outcomes and counts equal the generator's construction, and
the model card's coefficients equal R's glm fitted to the generator's own predictors (1e-8
relative), the empty level left out as R leaves it out. Slow: one pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from deliveries import risk_independent
from pipeline_helpers import run_on_delivery

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data, truth = risk_independent.write(tmp_path_factory.mktemp("scb") / "leverans")
    project = tmp_path_factory.mktemp("independent_risk")
    # the bootstrap is not what this test checks
    params, check, report = run_on_delivery(project, "risk", data, validation={"n_boot": 20})
    return project, params, truth, check, report


def test_the_delivery_is_checked_and_runs_by_parameters_only(run):
    project, _, _, check, report = run
    assert check.returncode == 0, check.stdout[-3000:]
    assert report.returncode == 0, report.stdout[-5000:]
    assert "risk/dvc.yaml:synthesize" not in report.stdout
    assert (project / "reports" / "risk" / "bilaga.html").is_file()


def test_spells_and_outcomes_are_the_generator_s(run):
    project, params, truth, _, report = run
    assert report.returncode == 0
    flow = json.loads((project / "data" / "processed" / "risk" / "tables" / "flow.json")
                      .read_text(encoding="utf-8"))
    assert flow["spells"] == len(truth) == flow["with_outcome"]
    for sample, years in (("training", params["validation"]["train_years"]),
                          ("test", params["validation"]["test_years"])):
        part = truth[truth["index_year"].isin(years)]
        assert flow[sample] == {"n": len(part), "events": int(part["long_sickleave"].sum())}


def test_coefficients_equal_r_glm_on_the_generator_s_predictors(run, run_r, tmp_path):
    project, params, truth, _, report = run
    assert report.returncode == 0
    train = truth[truth["index_year"].isin(params["validation"]["train_years"])]
    train.to_csv(tmp_path / "train.csv", index=False)
    p = params["predictors"]
    out = run_r(f"""d <- read.csv("{tmp_path / 'train.csv'}")
band <- function(x, e) cut(x, c(e, Inf), right = FALSE)
d$sex <- factor(d$sex, levels = c("man", "kvinna"))
d$diagnosis_group <- factor(d$diagnosis_group, levels = c("other", "mental", "pain", "both"))
d$employment <- factor(d$employment, levels = c("sysselsatt", "arbetslos", "studerande", "ovrig"))
d$income_group <- factor(d$income_group, levels = c("mellan", "lag", "hog"))
m <- glm(long_sickleave ~ age + sex + diagnosis_group +
         band(prior_netdays_1y, c({", ".join(map(str, p["prior_netdays_1y_edges"]))})) +
         band(prior_netdays_3y, c({", ".join(map(str, p["prior_netdays_3y_edges"]))})) +
         pmin(prior_spells, {p["prior_spells_cap"]}) + pmin(care_visits, {p["care_visits_cap"]}) +
         employment + income_group, family = binomial, data = d,
         control = glm.control(epsilon = 1e-14, maxit = 100))
b <- coef(m)
cat(sum(is.na(b)), sum(grepl("both", names(b))), sprintf("%.17g", b[!is.na(b)]), "\\n")
""")
    values = [float(v) for v in out.split()]
    (na, both), want = values[:2], np.array(values[2:])
    card = json.loads((project / "data" / "processed" / "risk" / "modell.json")
                      .read_text(encoding="utf-8"))
    columns = ["Intercept"] + [c for t in card["predictors"]["terms"]
                               for c in ([t["name"]] if t["kind"] == "linear" else
                                         _levels(t)[1:])]
    # glm drops an empty factor level from the model frame (drop.unused.levels): no 'both'
    assert na == 0 and both == 0 and card["aliased"] == ["diagnosis_group[both]"]
    got = np.array([card["coefficients"][c] for c in columns if c not in card["aliased"]])
    np.testing.assert_allclose(got, want, rtol=1e-8)
    notes = json.loads((project / "data" / "processed" / "risk" / "tables" / "notes.json")
                       .read_text(encoding="utf-8"))
    assert [n["column"] for n in notes if n["kind"] == "aliased"] == card["aliased"]


def _levels(term: dict) -> list[str]:
    """A categorical term's or a band term's design column names (the reference first)."""
    name = term["name"]
    if term["kind"] == "categorical":
        return [f"{name}[{lv}]" for lv in term["levels"]]
    edges = [float(e) for e in term["edges"]]
    num = [str(int(e)) if e.is_integer() else repr(e) for e in edges]
    labels = [f"{a}-{b}" for a, b in zip(num, num[1:], strict=False)] + [f"{num[-1]}+"]
    return [f"{name}[{lv}]" for lv in labels]

