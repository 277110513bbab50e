"""Whether coordinators help the high-risk patients most: the risk model applied to the spell
study's participants at the start of their index spell, and the coordinator effect (hazard
ratio for return, difference in net days) per risk group with the interaction test.

The participants come from the spell study's analysis table (`data/processed/stockholm/
analysis.parquet`, a data dependency, not an import): its register history at the index
spell's start (net days 1 and 3 years before, earlier spells, LISA income and BAS activity the
year before) is scored with the saved model, whose card holds the income medians the income
groups rest on. Care use is the region's count of visits in the year before the index date
(`VardbesokForeAr`), the nearest the spell study has to the model's care visit days. A
participant who can't be scored is counted by reason, never given a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ... import prediction
from ...contract import PERSON_KEY
from ...io import DeliveryError, atomic_outputs, read_json, write_json, write_parquet
from ...subgroups import NOTES, effect_by_level
from .data import employment, income_group
from .model import RiskModel, score

#: Columns of the spell study's analysis table this analysis reads.
PARTICIPANT_COLUMNS = (PERSON_KEY, "PriorRef", "FodelseAr", "sex", "Diagnosgrupp",
                       "NetDays12m", "NetDays36m", "Spells36m", "VardbesokForeAr", "BAS",
                       "DispInk04", "Grupp", "coordinator", "Vardcentral", "ReturnDays",
                       "Returned", "NetDays")


def _text(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), None).map(
        lambda v: None if v is None else str(v))


def scoring_table(participants: pd.DataFrame, model: RiskModel) -> pd.DataFrame:
    """The participants as the model's input: predictors at the index spell's start."""
    missing = [c for c in PARTICIPANT_COLUMNS if c not in participants.columns]
    if missing:
        raise ValueError(f"the spell study's analysis table lacks {', '.join(missing)}: "
                         "re-run its derive stage (make report STUDY=stockholm)")
    start = pd.to_datetime(participants["PriorRef"])
    groups = model.validation["flow"]["derivation"]["income_groups"]
    medians = pd.Series({int(y): float(m) for y, m in groups["medians"].items()})
    return pd.DataFrame({
        PERSON_KEY: participants[PERSON_KEY].astype(str),
        "spell_start": start, "index_year": start.dt.year,
        "age": (start.dt.year - participants["FodelseAr"].astype(float)).astype(float),
        "sex": _text(participants["sex"]), "diagnosis_group": _text(participants["Diagnosgrupp"]),
        "prior_netdays_1y": participants["NetDays12m"].astype(float),
        "prior_netdays_3y": participants["NetDays36m"].astype(float),
        "prior_spells": participants["Spells36m"].astype(float),
        "care_visits": participants["VardbesokForeAr"].astype(float),
        "employment": employment(participants["BAS"]),
        "income_group": income_group(participants["DispInk04"], start.dt.year - 1, medians,
                                     float(groups["low_share"]), float(groups["high_share"])),
    }, index=participants.index)


#: How many of a group's largest net days `magnitudes` keeps (enough for the dominance
#: rules, `report.dominance` up to this n).
LARGEST = 5


@dataclass
class EffectByRisk:
    """The coordinator effect per risk group (`effects`, rows of `subgroups.effect_by_level`)
    and the flow: participants, scored, not scored by reason, scored per group and arm; and
    per group and arm the n, total and largest net days (`magnitudes`, for the report's
    dominance rules; None in results written before it was kept)."""

    effects: pd.DataFrame
    flow: dict[str, Any]
    magnitudes: pd.DataFrame | None = None
    #: what the data did not allow: `subgroup_level` (`level`, `note`, `reason`: a risk group
    #: with counts only, `subgroups.NOTES`) and `interaction_not_tested`
    notes: list[dict] = field(default_factory=list)

    def write(self, out_dir: str | Path) -> list[Path]:
        out = Path(out_dir)
        targets = [out / "effect_by_risk.parquet", out / "effect_by_risk.csv",
                   out / "effect_flow.json", out / "effect_magnitudes.parquet",
                   out / "effect_notes.json"]
        magnitudes = self.magnitudes if self.magnitudes is not None else pd.DataFrame()
        with atomic_outputs(*targets) as (parquet, csv, flow, mags, notes):
            write_parquet(self.effects, parquet)
            self.effects.to_csv(csv, index=False, float_format="%.10g", lineterminator="\n")
            write_json(self.flow, flow)
            write_parquet(magnitudes, mags)
            write_json(self.notes, notes)
        return targets

    @classmethod
    def read(cls, in_dir: str | Path) -> EffectByRisk:
        d = Path(in_dir)
        mags, notes = d / "effect_magnitudes.parquet", d / "effect_notes.json"
        return cls(pd.read_parquet(d / "effect_by_risk.parquet"),
                   read_json(d / "effect_flow.json"),
                   pd.read_parquet(mags) if mags.is_file() else None,
                   read_json(notes) if notes.is_file() else [])


STUDY, STAGE = "risk", "effect"
#: The spell study's register columns the model scores, and the parameter that delivers each.
REGISTERS = {"DispInk04": "data.lisa", "BAS": "data.bas"}


def check_registers(participants: pd.DataFrame) -> None:
    """Each register the model needs must cover the year before every participant's index
    spell: a year (or a whole register) missing for everyone who needs it is a delivery
    fault, not a reason to leave a third of the participants unscored."""
    need = pd.to_datetime(participants["PriorRef"]).dt.year - 1
    for column, key in REGISTERS.items():
        have = participants[column].notna()
        missing = sorted(int(y) for y in need.unique() if not have[need == y].any())
        if missing:
            n = int(need.isin(missing).sum())
            whole = not have.any()
            raise DeliveryError(
                f"{STUDY}, stage {STAGE}: the spell study's analysis table has no {column} "
                + ("at all" if whole else f"for {', '.join(map(str, missing))}")
                + f", the year before the index spell of {n} of {len(participants)} "
                f"participants → deliver it in the spell study ({key} in "
                "notebooks/stockholm/params.yaml"
                + (", not null" if whole and column == "BAS" else "") + ") and re-run it")


def effect_by_risk(participants: pd.DataFrame, model: RiskModel,
                   conf_level: float = 0.95) -> EffectByRisk:
    """Score every participant, then estimate the coordinator effect within each risk group
    (the model's cut points) and test the interaction coordinator × risk group."""
    check_registers(participants)
    scored = score(scoring_table(participants, model), model)
    ok = scored["reason"].isna().to_numpy()
    if not ok.any():
        reasons = scored["reason"].value_counts()
        raise DeliveryError(f"{STUDY}, stage {STAGE}: none of the {len(participants)} "
                            "participants can be scored (" + "; ".join(
                                f"{r}: {n}" for r, n in reasons.head(3).items())
                            + ") → check the spell study's delivery (notebooks/stockholm/"
                            "params.yaml: data.lisa, data.bas, data.participants)")
    data = participants[ok].copy()
    data["risk_group"] = scored.loc[ok, "group"].astype(str).to_numpy()
    data["risk"] = scored.loc[ok, "risk"].to_numpy()
    effects = effect_by_level(data, "risk_group", list(prediction.GROUPS), time="ReturnDays",
                              event="Returned", outcome="NetDays", treated="coordinator",
                              cluster="Vardcentral", conf_level=conf_level)
    effects["mean_risk"] = [float(data.loc[data["risk_group"] == g, "risk"].mean())
                            if (data["risk_group"] == g).any() else np.nan
                            for g in effects["level"]]
    reasons = scored.loc[~ok, "reason"].value_counts().sort_index()
    arms = participants["coordinator"].astype(int)
    flow = {"participants": {str(a): int((arms == a).sum()) for a in (1, 0)},
            "not_scored": {str(r): {str(a): int(((scored["reason"] == r) & (arms == a)).sum())
                                    for a in (1, 0)} for r in reasons.index},
            "scored": {g: {"1": int(r.n_treated), "0": int(r.n_control)}
                       for g, r in zip(effects["level"], effects.itertuples(), strict=True)},
            "cuts": list(model.group_cuts)}
    notes = [{"kind": "subgroup_level", "level": r.level, "note": r.note,
              "reason": NOTES[r.note]} for r in effects.itertuples() if r.note]
    if (effects["interaction_df"] == 0).all():
        notes.append({"kind": "interaction_not_tested"})
    return EffectByRisk(effects, flow, _magnitudes(data), notes)


def _magnitudes(data: pd.DataFrame) -> pd.DataFrame:
    """Per risk group and arm: n, total and the largest net days (never every value)."""
    rows = []
    for g in prediction.GROUPS:
        for arm in (1, 0):
            x = np.sort(np.abs(data.loc[(data["risk_group"] == g)
                                        & (data["coordinator"].astype(int) == arm),
                                        "NetDays"].dropna().to_numpy(float)))[::-1]
            rows.append({"level": g, "arm": str(arm), "n": int(x.size), "total": float(x.sum()),
                         **{f"largest_{i + 1}": float(x[i]) if i < x.size else np.nan
                            for i in range(LARGEST)}})
    return pd.DataFrame(rows)


def run(participants_path: str | Path, model: RiskModel, params: Mapping[str, Any]
        ) -> EffectByRisk:
    """`effect:` of params.yaml: the spell study's analysis table and the confidence level."""
    table = pd.read_parquet(participants_path, columns=list(PARTICIPANT_COLUMNS))
    return effect_by_risk(table, model, float(params["effect"]["conf_level"]))
