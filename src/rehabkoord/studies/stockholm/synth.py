"""Synthetic deliveries for the Stockholm-type evaluation of rehabilitation coordinators.

1033 primary-care patients at 7 vårdcentraler in 3 areas, coordinator support ('Koordinator')
at four centres and usual care ('Kontroll') at three, index dates over 2013–2015, and their
sick-leave periods from MiDAS in the contract's format (`contract.SPELL_PERIODS`,
`PARTICIPANTS`, `POPULATION`), with LISA-like (sex, birth year, income) and BAS-like tables.

The true effects are parameters (`Effects`): a hazard ratio for the end of the index spell and
a ratio for the probability of a new spell after return, per effect subgroup, chosen so that
the published findings show in the data: faster return and fewer re-sick-listings with a
coordinator, best for earlier sick leave with mild/moderate mental ill-health or a pain
diagnosis, limited with extensive prior sick leave and high care use, none for mental
ill-health together with pain and for no prior sick leave with low care use.

Everything is drawn with numpy's default_rng from `StockholmSpec.seed` in whole arrays (no
per-person loop), so the same spec gives the same frames, and county (300 000 persons,
1.5 M periods) or national scale (8 M persons, 20 M periods) takes seconds, not hours.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...contract import GROUP_CONTROL, GROUP_COORDINATOR, PERSON_KEY
from ...io import atomic_outputs
from ...params import dataclass_fields

#: Area → (vårdcentral, group). Fictitious names; four coordinator and three control centres.
CENTRES = (
    ("Norr", "Vårdcentralen Björken", GROUP_COORDINATOR),
    ("Norr", "Vårdcentralen Eken", GROUP_CONTROL),
    ("Söder", "Vårdcentralen Linden", GROUP_COORDINATOR),
    ("Söder", "Vårdcentralen Aspen", GROUP_CONTROL),
    ("Väster", "Vårdcentralen Granen", GROUP_COORDINATOR),
    ("Väster", "Vårdcentralen Tallen", GROUP_COORDINATOR),
    ("Väster", "Vårdcentralen Rönnen", GROUP_CONTROL),
)

#: ICD-10 codes drawn per diagnosis group (as the default mapping in `spells` groups them).
CODES = {
    "mental": ("F32.0", "F32.1", "F33.1", "F41.1", "F41.2", "F43.2", "F43.8", "F43.9"),
    "pain": ("M54.5", "M54.2", "M53.1", "M75.1", "M79.7", "M51.1", "M77.1"),
    "other": ("S82.6", "J06.9", "I21.9", "C50.9", "K80.2", "F32.2", "G35", "S52.5"),
}
DIAGNOSIS_GROUPS = ("mental", "pain", "other")
PRIOR_CATEGORIES = ("none", "1-90", ">90")
#: Effect subgroups in the order they are decided (the first that applies).
SUBGROUPS = ("both", "no_prior_low_care", "extensive_prior_high_care", "best", "other")
#: Care visits in the year before index: below LOW_CARE is low care use, from HIGH_CARE high.
LOW_CARE, HIGH_CARE = 4, 10

EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Effects:
    """True effects of coordinator support per effect subgroup (`SUBGROUPS`).

    hr_return: hazard ratio for the end of the index spell (> 1: faster return).
    resick_ratio: ratio of the probability of a new spell after return (< 1: fewer).
    """

    hr_return: tuple[float, ...] = (1.0, 1.0, 1.15, 2.3, 1.45)
    resick_ratio: tuple[float, ...] = (1.0, 1.0, 0.9, 0.55, 0.8)

    def of(self, subgroup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.hr_return)[subgroup], np.asarray(self.resick_ratio)[subgroup]


@dataclass(frozen=True)
class StockholmSpec:
    """Parameters of the synthetic evaluation; days are calendar days, probabilities 0–1."""

    seed: int = 20130101
    n_participants: int = 1033
    index_start: str = "2013-01-01"
    index_end: str = "2015-12-31"
    extraction_date: str = "2017-09-30"
    share_women: float = 0.62
    p_diagnosis: tuple[float, float, float] = (0.45, 0.30, 0.25)   # mental, pain, other
    p_prior: tuple[float, float, float] = (0.35, 0.35, 0.30)       # none, 1-90, >90
    p_care: tuple[float, float, float] = (0.35, 0.40, 0.25)        # low, medium, high
    p_prior_other_type: float = 0.30    # a prior spell's diagnosis from the other of mental/pain
    p_ongoing: float = 0.88             # index spell ongoing at index; else started after,
    p_no_index_spell: float = 0.02      # or none within 14 days (starts 30–90 days later)
    median_return_days: float = 110.0   # control, no prior, low care: days from index to return
    p_resick: float = 0.45              # control: a new spell after return
    mean_resick_gap_days: float = 220.0
    mean_older_spells: float = 0.5      # spells 13–36 months before the index spell
    extra_periods_per_spell: float = 1.6  # periods per spell = 1 + Poisson(this)
    p_period_gap: float = 0.15          # 1–5 days without a period between two periods
    p_period_overlap: float = 0.06      # the next period starts 1–10 days before one ends
    p_death: float = 0.006
    p_emigration: float = 0.006
    effects: Effects = field(default_factory=Effects)


def scaled(n_persons: int, n_periods: int, seed: int = 1) -> StockholmSpec:
    """A spec for about `n_persons` and `n_periods` (benchmarks): periods per spell are tuned
    to the ratio, everything else as the study."""
    spells_per_person = 2.6  # older + prior + index + re-sick spells, measured on the study
    extra = max(n_periods / n_persons / spells_per_person - 1.0, 0.0)
    return StockholmSpec(seed=seed, n_participants=n_persons, extra_periods_per_spell=extra)


def _days(value: str) -> int:
    return int((np.datetime64(value, "D") - EPOCH).astype(int))


def _dates(days: np.ndarray) -> np.ndarray:
    return EPOCH + days.astype("timedelta64[D]")


def _codes(rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """An index into `_CODE_TABLE` (code × spelling) per row of `group` (0 mental, 1 pain, 2
    other): the code as delivered, ``F43.8``, ``F438`` or ``f43.8``."""
    n_codes = np.array([len(CODES[g]) for g in DIAGNOSIS_GROUPS])
    offset = np.concatenate([[0], np.cumsum(n_codes)[:-1]])
    code = offset[group] + (rng.random(len(group)) * n_codes[group]).astype(np.int64)
    spelling = rng.choice(3, size=len(group), p=[0.7, 0.2, 0.1])
    return _CODE_INDEX[code * 3 + spelling]


#: Every code in its three spellings, as categories (codes without a dot coincide).
_CODE_TABLE, _CODE_INDEX = np.unique(np.array(
    [s for g in DIAGNOSIS_GROUPS for c in CODES[g] for s in (c, c.replace(".", ""), c.lower())],
    dtype=object), return_inverse=True)


def generate(spec: StockholmSpec = StockholmSpec()) -> dict[str, pd.DataFrame]:  # noqa: B008
    """Participants (`deltagare`), sick-leave periods (`sjukpenningperioder`), deaths and
    emigrations (`befolkning`), sex, birth year and income (`lisa`) and main activity (`bas`)
    as frames; also `truth`, the
    generator's own attributes per participant (diagnosis group, prior category, care use,
    effect subgroup) for checking that the derivations find what was built in."""
    rng = np.random.default_rng(spec.seed)
    n = spec.n_participants
    keys = rng.permutation(n).astype(np.int64) + 100_000 + rng.integers(0, 1000)
    centre = rng.integers(0, len(CENTRES), n)
    coordinator = np.array([c[2] == GROUP_COORDINATOR for c in CENTRES])[centre]
    start, end = _days(spec.index_start), _days(spec.index_end)
    index = rng.integers(start, end + 1, n)
    age = rng.integers(20, 65, n)
    index_year = _dates(index).astype("datetime64[Y]").astype(int) + 1970
    birth_year = index_year - age
    women = rng.random(n) < spec.share_women

    diag = rng.choice(3, size=n, p=spec.p_diagnosis)
    prior = rng.choice(3, size=n, p=spec.p_prior)
    care = rng.choice(3, size=n, p=spec.p_care)
    visits = np.select([care == 0, care == 1],
                       [rng.integers(0, LOW_CARE, n), rng.integers(LOW_CARE, HIGH_CARE, n)],
                       rng.integers(HIGH_CARE, 30, n))
    # A recent prior spell's diagnosis: usually the same kind, sometimes the other of
    # mental/pain (→ 'both'), sometimes something else.
    other_type = (rng.random(n) < spec.p_prior_other_type) & (diag < 2)
    prior_diag = np.where(other_type, 1 - np.minimum(diag, 1), diag)
    prior_diag = np.where(rng.random(n) < 0.1, 2, prior_diag)
    both = (prior > 0) & (diag < 2) & (prior_diag == 1 - np.minimum(diag, 1)) & (prior_diag < 2)
    subgroup = np.select(
        [both, (prior == 0) & (care == 0), (prior == 2) & (care == 2), (diag < 2) & (prior > 0)],
        [0, 1, 2, 3], 4)
    hr, resick_ratio = spec.effects.of(subgroup)
    hr = np.where(coordinator, hr, 1.0)
    resick_ratio = np.where(coordinator, resick_ratio, 1.0)

    # Index spell: ongoing at index, starting up to 14 days after, or (none) 30–90 days after.
    kind = rng.choice(3, size=n, p=[spec.p_ongoing, 1 - spec.p_ongoing - spec.p_no_index_spell,
                                    spec.p_no_index_spell])
    s_start = np.select([kind == 0, kind == 1], [index - rng.integers(0, 61, n),
                                                 index + rng.integers(1, 15, n)],
                        index + rng.integers(30, 91, n))
    rate = (np.log(2) / spec.median_return_days * np.where(prior == 2, 0.7, 1.0)
            * np.where(care == 2, 0.8, 1.0) * np.where(diag == 0, 0.9, 1.0) * hr)
    to_return = np.ceil(rng.exponential(1 / rate)).astype(np.int64)  # days from index, ≥ 1
    s_end = np.maximum(index + to_return - 1, s_start + 6)

    rows = [(np.arange(n), s_start, s_end, diag)]  # (person, start, end, diagnosis group)
    # Recent prior spell inside the 12 months before the index spell; net days decide the
    # category (1–90: 5–80 days; >90: 130–240 days at 75–100 %, see `_periods`).
    has = prior > 0
    length = np.where(prior == 2, rng.integers(130, 241, n), rng.integers(5, 81, n))
    gap = 10 + (rng.random(n) * (350 - length - 10)).astype(np.int64)
    p_end = s_start - gap
    rows.append((np.flatnonzero(has), (p_end - length + 1)[has], p_end[has], prior_diag[has]))
    # Older spells 13–36 months before: they count in the 3-year measures only.
    n_old = np.minimum(rng.poisson(spec.mean_older_spells, n), 2)
    who = np.repeat(np.arange(n), n_old)
    o_end = s_start[who] - 400 - rng.integers(0, 640, len(who))
    rows.append((who, o_end - rng.integers(5, 61, len(who)) + 1, o_end,
                 rng.choice(3, size=len(who), p=spec.p_diagnosis)))
    # Re-sick-listings after return: a first and sometimes a second new spell.
    p_new = np.clip(spec.p_resick * resick_ratio, 0, 1)
    new1 = rng.random(n) < p_new
    r1_start = s_end + 7 + rng.exponential(spec.mean_resick_gap_days, n).astype(np.int64)
    r1_end = r1_start + rng.integers(7, 121, n)
    new2 = new1 & (rng.random(n) < 0.3 * p_new / spec.p_resick)
    r2_start = r1_end + 7 + rng.exponential(spec.mean_resick_gap_days, n).astype(np.int64)
    r2_end = r2_start + rng.integers(7, 121, n)
    re_diag = np.where(rng.random(n) < 0.7, diag, rng.choice(3, size=n))
    rows.append((np.flatnonzero(new1), r1_start[new1], r1_end[new1], re_diag[new1]))
    rows.append((np.flatnonzero(new2), r2_start[new2], r2_end[new2], re_diag[new2]))

    person, sp_start, sp_end, sp_diag = (np.concatenate(parts) for parts in zip(*rows,
                                                                                strict=True))
    sp_large = (prior[person] == 2) & (np.arange(len(person)) >= n) & (
        np.arange(len(person)) < n + has.sum())

    # Deaths and emigrations after index; the registers end periods on those days.
    death = np.where(rng.random(n) < spec.p_death, index + rng.integers(30, 900, n), -1)
    emig = np.where(rng.random(n) < spec.p_emigration, index + rng.integers(30, 900, n), -1)
    stop = np.minimum.reduce([np.where(death > 0, death, 1 << 40),
                              np.where(emig > 0, emig, 1 << 40),
                              np.full(n, _days(spec.extraction_date))])
    periods = _periods(rng, spec, person, sp_start, sp_end, sp_diag, sp_large, stop)

    lopnr = keys
    participants = pd.DataFrame({
        PERSON_KEY: lopnr, "Grupp": np.where(coordinator, GROUP_COORDINATOR, GROUP_CONTROL),
        "Vardcentral": np.array([c[1] for c in CENTRES], dtype=object)[centre],
        "Omrade": np.array([c[0] for c in CENTRES], dtype=object)[centre],
        "IndexDatum": _dates(index), "VardbesokForeAr": visits.astype(np.int16)})
    population = pd.DataFrame({
        PERSON_KEY: lopnr, "DodDatum": pd.Series(_dates(death)).where(death > 0),
        "UtvandringDatum": pd.Series(_dates(emig)).where(emig > 0)})
    lisa, bas = _registers(spec, lopnr, index_year, women, birth_year, prior)
    truth = pd.DataFrame({PERSON_KEY: lopnr, "diagnosis": np.array(DIAGNOSIS_GROUPS)[diag],
                          "prior": np.array(PRIOR_CATEGORIES)[prior],
                          "care": np.array(["low", "medium", "high"])[care],
                          "subgroup": np.array(SUBGROUPS)[subgroup],
                          "index_spell": np.array(["ongoing", "started_after", "none"])[kind]})
    periods[PERSON_KEY] = lopnr[periods.pop("_person").to_numpy()]
    periods = periods[[PERSON_KEY, "SjukfallNr", "FromDatum", "TomDatum", "Omfattning",
                       "Diagnos", "Formanstyp"]]
    return {"deltagare": participants, "sjukpenningperioder": periods,
            "befolkning": population, "lisa": lisa, "bas": bas, "truth": truth}


#: BAS main activity in the years before index (sysselsatt, arbetslös, studerande, sjuk,
#: övrigt) by prior sick leave (none, 1–90, > 90 net days).
BAS_MIX = {1: (0.80, 0.76, 0.55), 2: (0.09, 0.10, 0.12), 3: (0.05, 0.04, 0.03),
           5: (0.02, 0.05, 0.22), 9: (0.04, 0.05, 0.08)}


def _registers(spec: StockholmSpec, lopnr: np.ndarray, index_year: np.ndarray,
               women: np.ndarray, birth_year: np.ndarray, prior: np.ndarray
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """LISA (sex, birth year, disposable income in hundreds of SEK) and BAS for the two years
    before the index year (an index spell may start in the year before index). Drawn from a
    stream of their own, so the other tables do not change with them."""
    rng = np.random.default_rng([spec.seed, 2])
    n = lopnr.size
    codes = np.array(list(BAS_MIX))
    frames = []
    for back in (2, 1):
        mix = np.array([BAS_MIX[c] for c in codes])[:, prior].T
        u = rng.random(n)[:, None] > np.cumsum(mix, axis=1)
        frames.append(pd.DataFrame({
            PERSON_KEY: lopnr, "Ar": (index_year - back).astype(np.int16),
            "Kon": np.where(women, 2, 1).astype(np.int8),
            "FodelseAr": birth_year.astype(np.int16),
            "DispInk04": np.round(2400.0 * np.exp(rng.normal(0.0, 0.55, n)
                                                  - 0.15 * (prior == 2))),
            "BAS": codes[np.minimum(u.sum(axis=1), codes.size - 1)].astype(np.int8)}))
    both = pd.concat(frames, ignore_index=True).sort_values([PERSON_KEY, "Ar"],
                                                            ignore_index=True)
    return both.drop(columns="BAS"), both[[PERSON_KEY, "Ar", "BAS"]]


def _periods(rng: np.random.Generator, spec: StockholmSpec, person: np.ndarray,
             start: np.ndarray, end: np.ndarray, diag: np.ndarray, large: np.ndarray,
             stop: np.ndarray) -> pd.DataFrame:
    """Spells cut into 1 + Poisson(extra) consecutive periods (about equal lengths, jittered),
    with some 1–5-day gaps and some overlaps between them, degrees 25–100 (≥ 75 in extensive
    prior spells), and the spell's code (sometimes another of its group in later periods).
    Periods are cut at `stop` (death, emigration, extraction), in days since 1970."""
    n_spells = len(person)
    k = 1 + rng.poisson(spec.extra_periods_per_spell, n_spells)
    k = np.minimum(k, np.maximum(1, (end - start + 1) // 3))
    spell = np.repeat(np.arange(n_spells), k)
    first = np.concatenate([[0], np.cumsum(k)[:-1]])
    j = np.arange(len(spell)) - first[spell]
    kk = k[spell]
    length = (end - start + 1)[spell]
    jitter = rng.uniform(-0.3, 0.3, len(spell))
    cut = start[spell] + np.floor(length * np.clip((j + jitter) / kk, 0, 1)).astype(np.int64)
    cut = np.where(j == 0, start[spell], cut)
    nxt = np.where(j == kk - 1, end[spell] + 1,
                   start[spell] + np.floor(length * np.clip((j + 1 + np.roll(jitter, -1)) / kk,
                                                            0, 1)).astype(np.int64))
    frm, tom = cut, np.maximum(nxt - 1, cut)
    last = j == kk - 1
    gap = (~last) & (rng.random(len(spell)) < spec.p_period_gap) & (tom - frm > 6)
    tom = np.where(gap, tom - rng.integers(1, 6, len(spell)), tom)
    overlap = (j > 0) & (rng.random(len(spell)) < spec.p_period_overlap)
    frm = np.where(overlap, np.maximum(frm - rng.integers(1, 11, len(spell)), start[spell]), frm)
    degree = rng.choice(np.array([25, 50, 75, 100], dtype=np.int16), size=len(spell),
                        p=[0.08, 0.22, 0.10, 0.60])
    degree = np.where(j == 0, np.where(rng.random(len(spell)) < 0.8, 100, degree), degree)
    degree = np.where(large[spell], np.maximum(degree, 75), degree).astype(np.int16)
    # An overlapping period is mostly a second half-time decision beside a half-time one
    # (sum 100); one overlap in ten exceeds 100 % and is capped by the derivations.
    fits = np.flatnonzero(overlap & (rng.random(len(spell)) < 0.9))
    degree[fits - 1] = 50
    degree[fits] = 50
    group = diag[spell]
    code = _codes(rng, group)
    same = j > 0
    code = np.where(same & (rng.random(len(spell)) < 0.9), code[first[spell]], code)
    p = person[spell]
    keep = frm < stop[p]
    tom = np.minimum(tom, stop[p] - 1)
    # FK numbers a person's sick-leave cases; here the generator's own spell order.
    order = np.lexsort((frm, p))
    frame = pd.DataFrame({
        "_person": p, "SjukfallNr": (spell - spell.min() + 1).astype(np.int64),
        "FromDatum": _dates(frm), "TomDatum": _dates(tom), "Omfattning": degree,
        "Diagnos": pd.Categorical.from_codes(code, categories=_CODE_TABLE),
        "Formanstyp": pd.Categorical.from_codes(
            (rng.random(len(spell)) < 0.03).astype(np.int8), categories=["SJP", "REH"])})
    frame = frame.iloc[order[keep[order]]].reset_index(drop=True)
    # Number the generator's spells 1, 2, … per person in order of their first period.
    first_row = ~frame["SjukfallNr"].duplicated()
    number = first_row.astype(np.int32).groupby(frame["_person"], sort=False).cumsum()
    frame["SjukfallNr"] = frame["SjukfallNr"].map(
        pd.Series(number[first_row].to_numpy(), index=frame.loc[first_row, "SjukfallNr"]))
    frame["SjukfallNr"] = frame["SjukfallNr"].astype(np.int32)
    frame["Diagnos"] = frame["Diagnos"].cat.remove_unused_categories()
    return frame


def spec_with(spec: StockholmSpec, **changes) -> StockholmSpec:
    """A copy of `spec` with some fields changed (effects included)."""
    return replace(spec, **changes)


def write(frames: dict[str, pd.DataFrame], out_dir: str | Path,
          periods_format: str = "parquet") -> list[Path]:
    """Write the deliveries as they arrive: `deltagare.csv` (the region: semicolon, Latin-1),
    MiDAS periods as `sjukpenningperioder.parquet` (or `.csv`), `befolkning.parquet` and
    `lisa.parquet`, `bas.parquet` (dates as Parquet dates). All or nothing; returns the files written."""
    out = Path(out_dir)
    names = {"deltagare": out / "deltagare.csv",
             "sjukpenningperioder": out / f"sjukpenningperioder.{periods_format}",
             "befolkning": out / "befolkning.parquet", "lisa": out / "lisa.parquet",
             "bas": out / "bas.parquet"}
    with atomic_outputs(*names.values()) as temps:
        for (name, final), tmp in zip(names.items(), temps, strict=True):
            frame = frames[name]
            if final.suffix == ".csv":
                text = frame.copy()
                for col in text.columns:
                    if pd.api.types.is_datetime64_any_dtype(text[col]):
                        text[col] = text[col].dt.strftime("%Y-%m-%d")
                encoding = "latin-1" if name == "deltagare" else "utf-8"
                text.to_csv(tmp, sep=";", index=False, encoding=encoding)
            else:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                fields = [pa.field(f.name, pa.date32()) if pa.types.is_timestamp(f.type)
                          else f for f in table.schema]
                pq.write_table(table.cast(pa.schema(fields)).replace_schema_metadata(None),
                               tmp, compression="zstd")
    return list(names.values())


def spec_from_params(cfg: dict) -> StockholmSpec:
    """The `synthetic` section of the study's params.yaml as a spec: every `StockholmSpec`
    field may be given (tuples as lists), the true effects under `effects`; others are an
    error (`params.dataclass_fields`)."""
    values = dataclass_fields(cfg, StockholmSpec)
    if "effects" in values:
        values["effects"] = Effects(**{k: tuple(v) for k, v in values["effects"].items()})
    return StockholmSpec(**values)
