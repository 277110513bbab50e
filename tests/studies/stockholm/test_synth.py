"""Synthetic Stockholm-type deliveries: deterministic, contract-valid, and the published
direction of effects visible through the spell derivations."""

from __future__ import annotations

import pandas as pd
import pytest

from rehabkoord import spells as sp
from rehabkoord.clean import validate_table
from rehabkoord.contract import BAS, LISA_BACKGROUND, PARTICIPANTS, POPULATION, SPELL_PERIODS
from rehabkoord.io import read_delivery
from rehabkoord.studies.stockholm import synth as ss

EXTRACTION = ss.StockholmSpec().extraction_date


@pytest.fixture(scope="module")
def study():
    return ss.generate(ss.StockholmSpec())


def test_same_seed_same_frames_other_seed_other_frames(study):
    again = ss.generate(ss.StockholmSpec())
    for name, frame in study.items():
        pd.testing.assert_frame_equal(frame, again[name])
    other = ss.generate(ss.StockholmSpec(seed=2))
    assert not other["sjukpenningperioder"].equals(study["sjukpenningperioder"])


def test_the_study_design(study):
    part = study["deltagare"]
    assert len(part) == 1033 and part["LopNr"].is_unique
    assert part["Vardcentral"].nunique() == 7 and part["Omrade"].nunique() == 3
    assert set(part["Grupp"]) == {"Koordinator", "Kontroll"}
    years = part["IndexDatum"].dt.year
    assert years.min() == 2013 and years.max() == 2015
    periods = study["sjukpenningperioder"]
    assert set(periods["Omfattning"]) == {25, 50, 75, 100}
    assert (periods["TomDatum"] >= periods["FromDatum"]).all()
    spellings = set(periods["Diagnos"].astype(str))
    assert {"F43.8", "F438", "f43.8"} & spellings and len(spellings) > 30
    pop = study["befolkning"]
    assert 0 < pop["DodDatum"].notna().sum() < 30 and 0 < pop["UtvandringDatum"].notna().sum() < 30


def test_written_deliveries_fit_the_contract(study, tmp_path):
    paths = ss.write(study, tmp_path)
    assert [p.name for p in paths] == ["deltagare.csv", "sjukpenningperioder.parquet",
                                       "befolkning.parquet", "lisa.parquet", "bas.parquet"]
    for path, table in zip(paths, (PARTICIPANTS, SPELL_PERIODS, POPULATION, LISA_BACKGROUND,
                                   BAS), strict=True):
        problems: list = []
        typed = validate_table([read_delivery(path, table)], table, problems)
        assert problems == [], [str(p) for p in problems]
        assert len(typed) == len(study[path.stem])
    ss.write(study, tmp_path / "csv", periods_format="csv")
    problems = []
    validate_table([read_delivery(tmp_path / "csv" / "sjukpenningperioder.csv", SPELL_PERIODS)],
                   SPELL_PERIODS, problems)
    assert problems == []


def _outcomes(frames: dict) -> pd.DataFrame:
    d = sp.derive_all(frames["sjukpenningperioder"], frames["deltagare"], frames["befolkning"],
                      frames["lisa"].drop_duplicates("LopNr", keep="last"),
                      extraction_date=EXTRACTION, months=24)
    assert sum(d.flow["by_status"].values()) == len(frames["deltagare"])
    part = frames["deltagare"].assign(LopNr=lambda x: x["LopNr"].astype(str))
    net = d.months.df().groupby("LopNr")["NetDays"].sum().rename("net").reset_index()
    out = (d.returns.df().merge(part, on="LopNr").merge(d.prior.df(), on="LopNr")
           .merge(d.groups.df(), on="LopNr").merge(net, on="LopNr")
           .merge(d.resick.df()[["LopNr", "NewSpells"]], on="LopNr", how="left"))
    out["sub"] = "other"
    out.loc[out["Diagnosgrupp"].isin(["mental", "pain"]) & (out["PriorCategory"] != "none"),
            "sub"] = "best"
    out.loc[(out["PriorCategory"] == ">90") & (out["VardbesokForeAr"] >= ss.HIGH_CARE),
            "sub"] = "limited"
    out.loc[(out["PriorCategory"] == "none") & (out["VardbesokForeAr"] < ss.LOW_CARE),
            "sub"] = "no_prior_low_care"
    out.loc[out["Diagnosgrupp"] == "both", "sub"] = "both"
    return out


def test_published_direction_in_the_study(study):
    out = _outcomes(study)
    mean = out.groupby("Grupp")[["net", "ReturnDays", "FullReturn", "NewSpells"]].mean()
    k, c = mean.loc["Koordinator"], mean.loc["Kontroll"]
    assert k["net"] < c["net"] - 25                  # published: 53 days (32 %) shorter
    assert k["ReturnDays"] < c["ReturnDays"]        # faster return
    assert k["FullReturn"] > c["FullReturn"]        # more often left sick leave entirely
    assert k["NewSpells"] < c["NewSpells"]          # fewer re-sick-listings
    assert set(out["Diagnosgrupp"]) == {"mental", "pain", "both", "other"}
    assert set(out["PriorCategory"]) == {"none", "1-90", ">90"}


def test_effect_differs_by_subgroup_as_published():
    """On a large draw, so subgroup means are precise: best with prior sick leave and mental or
    pain diagnoses, limited with extensive prior and high care, none in the two null groups."""
    out = _outcomes(ss.generate(ss.StockholmSpec(n_participants=20_000, seed=11)))
    net = out.pivot_table(index="sub", columns="Grupp", values="net", aggfunc="mean")
    ratio = net["Koordinator"] / net["Kontroll"]
    assert ratio["best"] < 0.6
    assert 0.8 < ratio["limited"] < 1.0 and ratio["limited"] > ratio["best"] + 0.2
    assert 0.92 < ratio["both"] < 1.08
    assert 0.92 < ratio["no_prior_low_care"] < 1.08


def test_scaled_spec_hits_the_requested_size():
    spec = ss.scaled(20_000, 100_000)
    frames = ss.generate(spec)
    assert len(frames["deltagare"]) == 20_000
    assert 85_000 < len(frames["sjukpenningperioder"]) < 115_000
