"""The spell study on a delivery written outside the project (`deliveries.spells_independent`:
MiDAS-like CSVs in other spellings, no LISA, an absolute `data.dir`), run end to end by
parameters only, as a user runs it (`make check-data` and `make report STUDY=stockholm` in a
copy of the project). Each participant's return equals the generator's construction, the
medians equal R's survfit and the hazard ratio R's coxph on that truth (1e-10 and 1e-8
relative), and the two empty levels of the adjusted model are left out with a note. Slow: one
pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from deliveries import spells_independent
from pipeline_helpers import run_on_delivery

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data, truth = spells_independent.write(tmp_path_factory.mktemp("region") / "leverans")
    project = tmp_path_factory.mktemp("independent_spells")
    _, check, report = run_on_delivery(project, "stockholm", data)
    return project, truth, check, report


def test_the_delivery_is_checked_and_runs_by_parameters_only(run):
    project, _, check, report = run
    assert check.returncode == 0, check.stdout[-3000:]
    assert report.returncode == 0, report.stdout[-5000:]
    assert "stockholm/dvc.yaml:synthesize" not in report.stdout
    html = (project / "reports" / "stockholm" / "bilaga.html").read_text(encoding="utf-8")
    assert "Vårdcentralen Åsen" not in html  # free-text centre names print as codes


def test_every_return_is_the_generator_s(run):
    project, truth, _, report = run
    assert report.returncode == 0
    table = pd.read_parquet(project / "data" / "processed" / "stockholm" / "analysis.parquet")
    t = truth[truth["analysed"]].set_index("LopNr").sort_index()
    got = table.assign(LopNr=table["LopNr"].astype(str)).set_index("LopNr").sort_index()
    assert list(got.index) == list(t.index)
    assert (got["ReturnDays"].to_numpy() == t["ReturnDays"].to_numpy()).all()
    assert (got["Returned"].astype(int).to_numpy() == t["Returned"].astype(int).to_numpy()).all()
    flow = json.loads((project / "data" / "processed" / "stockholm" / "flow.json")
                      .read_text(encoding="utf-8"))
    assert flow["derivation"]["by_status"]["no_index_spell"] == int((~truth["analysed"]).sum())


def test_medians_and_hazard_ratio_equal_r_on_the_truth(run, run_r, tmp_path):
    project, truth, _, report = run
    assert report.returncode == 0
    t = truth[truth["analysed"]].assign(coordinator=lambda d: (d["Grupp"] == "Koordinator")
                                        .astype(int))
    t.to_csv(tmp_path / "truth.csv", index=False)
    out = run_r(f"""suppressMessages(library(survival))
d <- read.csv("{tmp_path / 'truth.csv'}")
p <- function(name, v) cat(name, sprintf("%.17g", v), "\\n")
for (g in c("Koordinator", "Kontroll")) {{
  f <- survfit(Surv(ReturnDays, Returned) ~ 1, data = d[d$Grupp == g, ])
  p(paste0("median_days_", g), summary(f)$table[c("median", "0.95LCL", "0.95UCL")])
}}
u <- coxph(Surv(ReturnDays, Returned) ~ coordinator, data = d, cluster = Vardcentral,
           control = coxph.control(eps = 1e-13, iter.max = 100))
p("hr_unadjusted", c(summary(u)$conf.int[1, c(1, 3, 4)], summary(u)$coefficients[1, 6]))
""")
    want = {line.split()[0]: [float(v) for v in line.split()[1:]]
            for line in out.splitlines() if line.strip()}
    tables = project / "data" / "processed" / "stockholm" / "tables"
    main = pd.read_parquet(tables / "main.parquet").set_index("measure")
    for g in ("Koordinator", "Kontroll"):
        r = main.loc[f"median_days_{g}"]
        np.testing.assert_allclose([r.estimate, r.conf_low, r.conf_high],
                                   want[f"median_days_{g}"], rtol=1e-10)
    r = main.loc["hr_unadjusted"]
    np.testing.assert_allclose([r.estimate, r.conf_low, r.conf_high, r.pvalue],
                               want["hr_unadjusted"], rtol=1e-8)
    notes = json.loads((tables / "notes.json").read_text(encoding="utf-8"))
    left_out = {(n["variable"], n["level"]) for n in notes
                if n["kind"] == "aliased" and n["estimate"] == "hr_adjusted"}
    assert left_out == {("Diagnosgrupp", "both"), ("PriorCategory", ">90")}
    assert np.isfinite(main.loc["hr_adjusted", "estimate"])
