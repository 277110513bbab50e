"""Disclosure control: every decision about which number the appendix may publish.

Each published table declares its people counts (with their true values) and the additive
relations between them: flow steps (randomised = excluded + analysed), the 6- and 12-month
flows sharing the randomised groups, strata (alla = kvinnor + män), levels of a Table 1
variable against its N, events + non-events = n. `protect` withholds the small counts
(primary suppression) and then further counts (complementary suppression) until a linear-
programming audit — the attacker's bounds, as tau-ARGUS and R's sdcTable compute them — shows
that no small count can be narrowed to fewer values than "<min_cell" allows. Percentages,
effects, intervals, p-values and the power text's detectable difference are withheld whenever
a count they rest on is withheld (they are functions of the counts); quantiles of groups below
`Rules.min_quantile_n`, sums and means by `Rules.magnitude_reason`; minima and maxima never.
Tests are computed on the real counts; only what is published is affected. `report` and `figures` format the
resulting `SafeCell`s and take no decision of their own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import texts
from .fmt import PROTECTED, number

#: The mark of a withheld value (`fmt.PROTECTED`, "×"): never "–", which in Swedish official
#: statistics means zero (`fmt.SYMBOLS` has every symbol, the shared `tecken.yaml` its legend).
SUPPRESSED = PROTECTED
SUPPRESS, ROUND = "suppress", "round"
SMALL = "small count"
COMPLEMENT = "complementary suppression"
REVEALS = "would reveal a withheld count"
SMALL_GROUP = "group smaller than the threshold"
FEW_FOR_QUANTILES = "fewer persons than the quantile threshold"
EXTREME = "a minimum or maximum is one person's value"
DOMINATED = "dominated by few persons"
FEW_DF = "fewer residual degrees of freedom than the threshold"
ROUNDED = "computed from the rounded counts"
TOLERANCE = 1e-6

Key = tuple


@dataclass(frozen=True)
class Rules:
    """The release rules (`report:` in params.yaml), stated in the appendix.

    `min_cell`: counts 1 … min_cell − 1 are not published. `zeros_disclosive`: zeros are
    treated as small too (a study may require it; off by default, as SCB leaves it to the
    project). `mark_small` (``report.mark_small_counts``): print small counts as "<min_cell"
    (the default) or as "×" (`SUPPRESSED`) like their complements. `method` (``report.protection``):
    `SUPPRESS` (small counts withheld, complements chosen by `protect`) or `ROUND`: every
    count printed as the nearest multiple of `rounding_base` (halves up; totals rounded on
    their own, zeros printed as 0), counts 1 … base − 1 as "<base" (`threshold` is then the
    base); see `publish` for the statistics computed from counts."""

    min_cell: int
    zeros_disclosive: bool = False
    mark_small: bool = True
    min_quantile_n: int = 10
    dominance_n: int = 2
    dominance_k: float = 0.9
    p_percent: float = 0.10
    min_df: int = 10
    method: str = "suppress"
    rounding_base: int = 5

    @classmethod
    def from_params(cls, report: dict) -> Rules:
        """The rules from a study's `report:` section; keys left out take the defaults above
        (the quantile threshold from the SDAP output-checking handbook, dominance and p %
        as ACRO's defaults)."""
        m = report["min_cell"]
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"params.yaml report.min_cell must be a positive integer, not {m!r}")
        q = report.get("min_quantile_n", cls.min_quantile_n)
        if not isinstance(q, int) or q < 1:
            raise ValueError("params.yaml report.min_quantile_n must be a positive integer, "
                             f"not {q!r}")
        dominance = report.get("dominance", [cls.dominance_n, cls.dominance_k])
        if (not isinstance(dominance, list | tuple) or len(dominance) != 2
                or not isinstance(dominance[0], int) or dominance[0] < 1
                or not 0 < float(dominance[1]) <= 1):
            raise ValueError("params.yaml report.dominance must be [n, k]: a whole number of "
                             f"contributors and a share in (0, 1], not {dominance!r}")
        p = report.get("p_percent", cls.p_percent)
        if not isinstance(p, int | float) or not 0 <= p < 1:
            raise ValueError(f"params.yaml report.p_percent must be a share in [0, 1), not {p!r}")
        df = report.get("min_df", cls.min_df)
        if not isinstance(df, int) or df < 0:
            raise ValueError(f"params.yaml report.min_df must be a whole number ≥ 0, not {df!r}")
        method = report.get("protection", cls.method)
        if method not in (SUPPRESS, ROUND):
            raise ValueError(f"params.yaml report.protection must be {SUPPRESS} or {ROUND}, "
                             f"not {method!r}")
        base = report.get("rounding_base", cls.rounding_base)
        if not isinstance(base, int) or base < 2:
            raise ValueError("params.yaml report.rounding_base must be a whole number ≥ 2, "
                             f"not {base!r}")
        return cls(m, bool(report.get("zeros_disclosive", False)),
                   bool(report.get("mark_small_counts", True)), q, dominance[0],
                   float(dominance[1]), float(p), df, method, base)

    def quantiles_allowed(self, n: int) -> bool:
        """Whether quantiles (median, quartiles, deciles, box-plot hinges, ECDF steps) of a
        group of `n` persons may be published: with fewer, interpolated quantiles give back
        the persons' own values."""
        return n >= self.min_quantile_n

    def magnitude_reason(self, values: Iterable[float]) -> str:
        """Why a sum or mean of the persons' magnitudes (days, kronor) may not be published,
        or "" when it may: a group below `min_cell`, the (n, k) rule (the `dominance_n`
        largest make up more than `dominance_k` of the total) or the p % rule (the total
        less the two largest is below `p_percent` of the largest, so the second largest
        contributor can estimate the largest within p %). Negative values count by size."""
        x = np.sort(np.abs(np.asarray(list(values), dtype=float)))[::-1]
        x = x[~np.isnan(x)]
        if len(x) < self.min_cell:
            return SMALL_GROUP
        total = x.sum()
        if total <= 0:
            return ""
        if x[:self.dominance_n].sum() > self.dominance_k * total:
            return DOMINATED
        if len(x) >= 2 and total - x[0] - x[1] < self.p_percent * x[0]:
            return DOMINATED
        return ""

    def describe(self, language: str = "sv") -> str:
        """The rules for statistics other than counts, as each appendix states them (the
        shared glossary `upplysningar`, one wording for every study)."""
        return texts.fill(texts.shared("upplysningar", language)["statistik"],
                          min_quantile_n=self.min_quantile_n, min_cell=self.min_cell,
                          dominance_n=self.dominance_n, min_df=self.min_df,
                          dominance_k=number(100 * self.dominance_k, 0, language),
                          p_percent=number(100 * self.p_percent, 0, language))

    @property
    def threshold(self) -> int:
        """Counts below it are small: `min_cell`, or under rounding the base."""
        return self.rounding_base if self.method == ROUND else self.min_cell

    def small(self, count: int) -> bool:
        return 0 < count < self.threshold or (self.zeros_disclosive and count == 0)

    def printed(self, count: int) -> int:
        """A count that is not small as printed: itself, or under rounding the nearest
        multiple of the base (halves up)."""
        if self.method != ROUND:
            return count
        return self.rounding_base * math.floor(count / self.rounding_base + 0.5)

    def reader_bounds(self, printed: int) -> tuple[int, int]:
        """The true values a printed count may stand for (persons)."""
        if self.method != ROUND or printed == 0:
            return printed, printed
        b = self.rounding_base
        return max(self.threshold, printed - b // 2), printed + (b + 1) // 2 - 1

    @property
    def mark(self) -> str:
        """What a small count is printed as: "<min_cell", or with `mark_small` off the same
        "×" as every other withheld cell, so a reader cannot tell small counts from their
        complements (needed where several small counts add up to a small total)."""
        return f"<{self.threshold}" if self.mark_small else SUPPRESSED

    @property
    def protection(self) -> tuple[int, int]:
        """The values "<min_cell" stands for."""
        return (0 if self.zeros_disclosive else 1, self.threshold - 1)

    @property
    def withheld_low(self) -> int:
        """The least value a reader knows a withheld printed count has: 1 when zeros are
        published as 0 (a withheld cell is then not a zero), else 0."""
        return 0 if self.zeros_disclosive else 1

    @property
    def width(self) -> int:
        """How wide a reader's interval for a small count must stay: as wide as "<min_cell"."""
        low, high = self.protection
        return max(1, high - low)

    def too_narrow(self, low: float, high: float, must_protect: bool) -> bool:
        """Whether a reader's bounds [low, high] give a count away: a small count (or one the
        reader can tell is small) pinned to fewer values than "<min_cell" allows. A count
        known to be zero is fine when zeros are published."""
        if not must_protect and high >= self.threshold - TOLERANCE:
            return False
        if not self.zeros_disclosive and high <= TOLERANCE:
            return False
        return high - low < self.width - TOLERANCE


@dataclass(frozen=True)
class SafeCell:
    """One published cell: its value when published (None when withheld), and why not."""

    value: object | None
    withheld: bool = False
    reason: str = ""
    mark: str = ""

    @property
    def text(self) -> str:
        """A published count as printed: the number, or the mark when withheld."""
        return self.mark if self.withheld else str(int(self.value))


#: What withholding a count costs, by its role: complements are chosen at least total cost
#: (`protect`), so totals go last, then the analysed numbers (a window's or outcome's n),
#: then the outcome counts (events; persons with any days), Table 1's N, a stratum's n and a
#: Table 1 level; flow steps (exclusions by reason) go first. Each weight exceeds what the
#: cheaper roles usually add up to in one relation, so a choice trades roles in this order.
ROLE_COST = {"total": 100.0, "analysed": 50.0, "outcome": 20.0, "table1 n": 10.0,
             "stratum": 5.0, "level": 3.0, "step": 1.0}


@dataclass
class Structure:
    """People counts and the additive relations between them, across all published tables.

    `shown` cells are printed somewhere (directly, or implied by a percentage); the others are
    implied quantities (non-events, all excluded) an attacker can still compute."""

    values: dict[Key, int] = field(default_factory=dict)
    shown: set[Key] = field(default_factory=set)
    cost: dict[Key, float] = field(default_factory=dict)
    relations: list[tuple[Key, tuple[Key, ...]]] = field(default_factory=list)

    def cell(self, key: Key, value: int, *, shown: bool = True,
             cost: float = ROLE_COST["step"]) -> Key:
        value = int(value)
        if value < 0:
            raise ValueError(f"disclosure: count {key} is negative ({value})")
        if key in self.values and self.values[key] != value:
            raise ValueError(f"disclosure: {key} is published as both {self.values[key]} and "
                             f"{value}; the tables disagree about the same people")
        self.values[key] = value
        if shown:
            self.shown.add(key)
        self.cost[key] = max(cost, self.cost.get(key, 0.0))
        return key

    def relation(self, total: Key, parts: Iterable[Key], rest: Key | None = None) -> None:
        """total = sum(parts) (+ `rest`, an implied cell added only when the parts fall short)."""
        parts = tuple(parts)
        gap = self.values[total] - sum(self.values[p] for p in parts)
        if gap and rest is not None and gap > 0:
            parts = (*parts, self.cell(rest, gap, shown=False))
            gap = 0
        if gap:
            raise ValueError(f"disclosure: declared relation {total} = {' + '.join(map(str, parts))}"
                             f" does not hold ({self.values[total]} vs {self.values[total] - gap})")
        self.relations.append((total, parts))


@dataclass(frozen=True)
class Interval:
    """An attacker's bounds for one unpublished count, and whether they protect it."""

    key: Key
    low: float
    high: float
    sensitive: bool
    protected: bool


class _Component:
    """One independent component's LP in HiGHS, built once and re-solved per target with a
    new objective. Each solve starts from the previous basis, so a target costs a few simplex
    steps instead of a fresh `scipy.optimize.linprog` (its input checks and conversions were
    most of the audit's time: 1.3–1.8 ms per LP, 300–800 LPs per decision)."""

    def __init__(self, variables: list[Key], var_bounds: list[tuple[float, float | None]],
                 rows: list[tuple[dict[Key, float], float]]) -> None:
        import highspy  # only where an audit runs (not to rebuild a decision)

        self._highspy = highspy
        self.index = {k: i for i, k in enumerate(variables)}
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(variables), len(rows)
        lp.col_cost_ = np.zeros(len(variables))
        lp.col_lower_ = np.array([lo for lo, _ in var_bounds], dtype=float)
        lp.col_upper_ = np.array([highspy.kHighsInf if hi is None else hi
                                  for _, hi in var_bounds], dtype=float)
        lp.row_lower_ = lp.row_upper_ = np.array([b for _, b in rows], dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.cumsum([0] + [len(c) for c, _ in rows])
        lp.a_matrix_.index_ = np.array([self.index[k] for c, _ in rows for k in c], dtype=np.int32)
        lp.a_matrix_.value_ = np.array([a for c, _ in rows for a in c.values()], dtype=float)
        # the raw solver (highspy.Highs adds callbacks and prints a banner on first use);
        # no presolve: the LPs are tiny and a warm start needs the previous basis
        self.highs = highspy._Highs()
        for option, value in (("output_flag", False), ("presolve", "off"), ("threads", 1)):
            self.highs.setOptionValue(option, value)
        self.highs.passModel(lp)

    def bounds(self, key: Key) -> tuple[float, float]:
        """Minimum and maximum of `key` over the component's feasible counts (± inf when
        unbounded). The true counts always satisfy the LP, so it is never infeasible."""
        status = self._highspy.HighsModelStatus
        i = self.index[key]
        ends = []
        for sign in (1.0, -1.0):
            self.highs.changeColCost(i, sign)
            self.highs.run()
            got = self.highs.getModelStatus()
            if got == status.kUnknown:  # simplex without presolve can stall on a ray
                self.highs.clearSolver()
                self.highs.setOptionValue("presolve", "on")
                self.highs.run()
                got = self.highs.getModelStatus()
                self.highs.setOptionValue("presolve", "off")
            if got in (status.kUnbounded, status.kUnboundedOrInfeasible):
                ends.append(-math.inf if sign > 0 else math.inf)
            elif got != status.kOptimal:
                raise RuntimeError(f"disclosure audit: LP failed for {key}: "
                                   f"{self.highs.modelStatusToString(got)}")
            else:
                ends.append(sign * self.highs.getInfo().objective_function_value)
        self.highs.changeColCost(i, 0.0)
        return ends[0], ends[1]


def attacker_bounds(keys: list[Key], relations: list[tuple[Key, tuple[Key, ...]]],
                    bounds: dict[Key, tuple[float, float | None]],
                    targets: Iterable[Key], cache: dict | None = None
                    ) -> dict[Key, tuple[float, float]]:
    """LP minimum and maximum of each target subject to the relations and the known bounds.

    Counts known exactly are substituted first and the rest is split into independent
    components, so each LP is small; a lone unknown in an equation is solved directly, and an
    unknown in no equation has its own bounds. `cache` keeps solved components across calls
    (the greedy search re-asks the same ones)."""
    cache = {} if cache is None else cache
    fixed = {k: b[0] for k, b in bounds.items() if b[1] is not None and b[0] == b[1]}
    rows = []
    for total, parts in relations:
        coef: dict[Key, float] = {}
        rhs = 0.0
        for k, a in ((total, 1.0), *((p, -1.0) for p in parts)):
            if k in fixed:
                rhs -= a * fixed[k]
            else:
                coef[k] = coef.get(k, 0.0) + a
        coef = {k: a for k, a in coef.items() if a}
        if coef:
            rows.append((coef, rhs))
    parent: dict[Key, Key] = {}

    def find(k: Key) -> Key:
        while parent.setdefault(k, k) != k:
            k = parent[k]
        return k

    for coef, _ in rows:
        first, *rest = coef
        for k in rest:
            parent[find(k)] = find(first)
    components: dict[Key, list[tuple[dict[Key, float], float]]] = {}
    for c, b in rows:
        components.setdefault(find(next(iter(c))), []).append((c, b))
    signatures: dict[Key, tuple] = {}
    out = {}
    for key in targets:
        if key in fixed:
            out[key] = (fixed[key], fixed[key])
            continue
        root = find(key)
        comp_rows = components.get(root, [])
        single = [b / c[key] for c, b in comp_rows if list(c) == [key]]
        if single:
            out[key] = (single[0], single[0])
            continue
        if not comp_rows:
            low, high = bounds.get(key, (0.0, None))
            out[key] = (low, math.inf if high is None else high)
            continue
        if root not in signatures:
            variables = sorted({k for c, _ in comp_rows for k in c}, key=str)
            var_bounds = [bounds.get(k, (0.0, None)) for k in variables]
            component = ("component", tuple(variables), tuple(var_bounds),
                         tuple(tuple(sorted((str(k), a) for k, a in c.items())) + (b,)
                               for c, b in comp_rows))
            if component not in cache:
                cache[component] = _Component(variables, var_bounds, comp_rows)
            signatures[root] = component
        component = signatures[root]
        if (key, component) not in cache:
            cache[key, component] = cache[component].bounds(key)
        out[key] = cache[key, component]
    return out


def audit(structure: Structure, withheld: dict[Key, str], rules: Rules,
          targets: Iterable[Key] | None = None, cache: dict | None = None) -> list[Interval]:
    """Attacker's interval for every count not published exactly (withheld or implied).

    The reader knows what a mark can hide: "<min_cell" its range, and any other withheld
    printed count at least `Rules.withheld_low` (1 when zeros are printed as 0, since a zero
    would have been printed). Implied counts (non-events, all excluded) may be 0. Under
    rounding a printed count is known to its `Rules.reader_bounds`, and exactly when it is in
    `withheld.exact` (a statistic computed from it is published, see `publish`)."""
    keys = list(structure.values)
    bounds: dict[Key, tuple[float, float | None]] = {}
    exact = getattr(withheld, "exact", frozenset())
    for k in keys:
        if k in structure.shown and k not in withheld:
            v = structure.values[k]
            bounds[k] = (v, v) if k in exact else rules.reader_bounds(rules.printed(v))
        elif withheld.get(k) == SMALL and rules.mark_small:
            bounds[k] = rules.protection
        elif k in withheld:
            bounds[k] = (rules.withheld_low, None)
    # a published zero marked as withheld contradicts "a mark hides at least 1": the reader
    # finds the tables infeasible and so learns it is a zero (`protect` never does this)
    zeros = {k for k in withheld if k in structure.shown and structure.values[k] == 0
             and not rules.zeros_disclosive}
    bounds.update(dict.fromkeys(zeros, (0.0, None)))
    hidden = [k for k in keys if k not in bounds or bounds[k][0] != bounds[k][1]]
    chosen = hidden if targets is None else [k for k in targets if k in hidden]
    found = attacker_bounds(keys, structure.relations, bounds, chosen, cache)
    out = []
    for k in chosen:
        low, high = found[k]
        v = structure.values[k]
        sensitive = rules.small(v) if k in structure.shown else 0 < v < rules.threshold
        out.append(Interval(k, low, high, sensitive,
                            k not in zeros and not rules.too_narrow(low, high, sensitive)))
    return out


class Withheld(dict):
    """Withheld key -> reason, as `protect` decided it, with how the complements were chosen
    (`OPTIMAL` or `GREEDY`), for the decision record and the appendix's statement, and under
    rounding the printed counts a reader knows exactly (`exact`: a published statistic rests
    on them)."""

    def __init__(self, cells: dict[Key, str] | Iterable = (), method: str = "",
                 exact: Iterable[Key] = ()) -> None:
        super().__init__(cells)
        self.method = method
        self.exact = frozenset(exact)


OPTIMAL = "least cost"
GREEDY = "greedy"
#: The least-cost search's deterministic limits (audit rounds, and branch-and-bound nodes
#: per round): beyond them the greedy choice is used and the record says so.
MAX_ROUNDS = 200
MAX_NODES = 20000


def protect(structure: Structure, rules: Rules, method: str = OPTIMAL, *,
            rounded_print: bool = False) -> Withheld:
    """Primary then complementary suppression; returns withheld key -> reason (`Withheld`).

    Complements are chosen at least cost (`_least_cost`: a MILP over the declared structure
    solved by HiGHS, with the audit as its oracle), falling back to the greedy choice
    (`_greedy`) when the search exceeds its limits; `method=GREEDY` asks for the greedy choice
    directly. Only small counts need protection, so only they (and implied counts below
    `min_cell`) are audited here; `audit` without targets reports every unpublished count.
    A published zero is never a complement when zeros are printed (a "×" would then tell the
    reader it hides at least 1, which is false). Under `report.protection: round` only a
    caller that prints counts rounded and decides its statistics by `publish`'s rule may ask
    (`rounded_print`); the others stop with a message naming the parameter."""
    if rules.method == ROUND and not rounded_print:
        raise ValueError("params.yaml report.protection: round needs a publication that prints "
                         "its counts rounded and names the counts its statistics rest on "
                         "(Counts.protected(..., statistics=...)); set report.protection: "
                         "suppress in this study's params.yaml")
    primary = {k: SMALL for k, v in structure.values.items()
               if k in structure.shown and rules.small(v)}
    sensitive = [k for k, v in structure.values.items() if v < rules.threshold]
    cache: dict = {}
    if method == OPTIMAL:
        found = _least_cost(structure, rules, primary, sensitive, cache)
        if found is not None:
            return Withheld(found, OPTIMAL)
    elif method != GREEDY:
        raise ValueError(f"disclosure: unknown complement method {method!r}")
    return Withheld(_greedy(structure, rules, primary, sensitive, cache), GREEDY)


def _may_complement(structure: Structure, rules: Rules, key: Key) -> bool:
    return key in structure.shown and (rules.zeros_disclosive or structure.values[key] > 0)


def _least_cost(structure: Structure, rules: Rules, primary: dict[Key, str],
                sensitive: list[Key], cache: dict) -> dict[Key, str] | None:
    """The complements of least total cost that pass the audit, or None past the limits.

    One MILP over the declared structure, as tau-ARGUS's optimal method and sdcTable's OPT
    pose it (Fischetti and Salazar): a binary per publishable count (withhold it or not) and,
    for every count to protect and each direction, a copy of the table the attacker might
    hold (the relations, published counts at their values, withheld ones free within what a
    reader knows), whose values of the count must differ by `Rules.width`: exactly the
    audit's condition (a small count keeps its whole "<min_cell" range). Withholding costs the cell's
    `Structure.cost` (its role) plus its persons as a fraction of all persons, so among equally
    costly choices the one withholding fewer persons wins. The audit then checks the choice;
    a count it still finds too narrow (a zero a reader could otherwise pin; the copies let a
    withheld count move by at most `M`) adds the cut "withhold one of the published counts
    bordering it" (`_neighbours`: only they can widen its interval) and the MILP is solved
    again. HiGHS runs single-threaded with a fixed seed, exact gaps and a node limit (not a
    time limit), so the same structure always gets the same choice."""
    import highspy  # only where a decision is made

    values = structure.values
    candidates = [k for k in values if k not in primary and _may_complement(structure, rules, k)]
    index = {k: i for i, k in enumerate(candidates)}
    fixed = {k for k in structure.shown if k not in primary and k not in index}

    def known(k: Key) -> tuple[float, float]:
        if k in primary:
            low, high = rules.protection if rules.mark_small else (rules.withheld_low, math.inf)
            return float(low), float(high)
        return 0.0, math.inf

    touching: dict[Key, list[int]] = {}
    for r, (total, parts) in enumerate(structure.relations):
        for k in (total, *parts):
            touching.setdefault(k, []).append(r)
    persons = 1 + sum(values.values())
    big = max(values.values(), default=0) + rules.threshold
    lower = [0.0] * len(candidates)
    upper = [1.0] * len(candidates)
    cost = [structure.cost[k] + values[k] / persons for k in candidates]
    rows: list[tuple[dict[int, float], float, float]] = []
    for target in sensitive:
        if target in fixed or (values[target] == 0 and target not in primary):
            continue  # published, or a zero the audit checks (a known zero may be pinned)
        comp, frontier = {target}, [target]
        while frontier:
            for r in touching.get(frontier.pop(), []):
                total, parts = structure.relations[r]
                for k in (total, *parts):
                    if k not in fixed and k not in comp:
                        comp.add(k)
                        frontier.append(k)
        ends = []
        for _ in range(2):  # two tables a reader cannot tell apart from the published one
            col = {}
            for k in sorted(comp, key=str):
                col[k] = len(lower)
                cost.append(0.0)
                if k in index:  # printed: within what its print says; withheld: ≥ 1 (or 0)
                    low, high = rules.reader_bounds(rules.printed(values[k]))
                    lower.append(float(rules.withheld_low))
                    upper.append(float(high + big))
                    rows.append(({col[k]: 1.0, index[k]: low - rules.withheld_low},
                                 low, math.inf))
                    rows.append(({col[k]: 1.0, index[k]: -float(big)}, -math.inf, high))
                else:
                    lower.append(known(k)[0])
                    upper.append(known(k)[1])
            for r in sorted({r for k in comp for r in touching.get(k, [])}):
                total, parts = structure.relations[r]
                coef: dict[int, float] = {}
                rhs = 0.0
                for k, a in ((total, 1.0), *((p, -1.0) for p in parts)):
                    if k in fixed:
                        rhs -= a * values[k]
                    else:
                        coef[col[k]] = coef.get(col[k], 0.0) + a
                rows.append((coef, rhs, rhs))
            ends.append(col[target])
        # ... whose values of the target differ by the width "<min_cell" must keep
        rows.append(({ends[0]: 1.0, ends[1]: -1.0}, float(rules.width), math.inf))
    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(lower), len(rows)
    lp.col_cost_ = np.array(cost)
    lp.col_lower_ = np.array(lower)
    lp.col_upper_ = np.array([min(u, inf) for u in upper])
    lp.row_lower_ = np.array([max(lo, -inf) for _, lo, _ in rows])
    lp.row_upper_ = np.array([min(hi, inf) for _, _, hi in rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.cumsum([0] + [len(c) for c, _, _ in rows])
    lp.a_matrix_.index_ = np.array([i for c, _, _ in rows for i in c], dtype=np.int32)
    lp.a_matrix_.value_ = np.array([a for c, _, _ in rows for a in c.values()], dtype=float)
    lp.integrality_ = ([highspy.HighsVarType.kInteger] * len(candidates)
                       + [highspy.HighsVarType.kContinuous] * (len(lower) - len(candidates)))
    h = highspy._Highs()
    for option, value in (("output_flag", False), ("threads", 1), ("random_seed", 0),
                          ("mip_rel_gap", 0.0), ("mip_abs_gap", 0.0),
                          ("mip_max_nodes", MAX_NODES)):
        h.setOptionValue(option, value)
    h.passModel(lp)
    cuts: set[frozenset] = set()
    for _ in range(MAX_ROUNDS):
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        x = h.getSolution().col_value
        withheld = {**primary, **{k: COMPLEMENT for k, i in index.items() if x[i] > 0.5}}
        failing = [iv.key for iv in audit(structure, withheld, rules, sensitive, cache)
                   if not iv.protected]
        if not failing:
            return withheld
        for key in failing:
            border = frozenset(index[k] for k in _neighbours(structure, key, withheld)
                               if k in index)
            if not border:
                raise RuntimeError(f"disclosure: {key} cannot be protected: every related "
                                   "count is already withheld or a published zero; check the "
                                   "relations declared in the study's declare (report.min_cell"
                                   f" = {rules.min_cell})")
            if border not in cuts:
                cuts.add(border)
                idx = np.array(sorted(border), dtype=np.int32)
                h.addRow(1.0, inf, len(idx), idx, np.ones(len(idx)))
    return None


def _greedy(structure: Structure, rules: Rules, primary: dict[Key, str], sensitive: list[Key],
            cache: dict) -> dict[Key, str]:
    """Complements chosen one at a time among published counts related to an unprotected one,
    preferring one that protects all that are unprotected, then the cheapest; complements
    that turn out unnecessary are published again."""
    withheld = dict(primary)
    added: list[Key] = []
    while True:
        failing = [iv.key for iv in audit(structure, withheld, rules, sensitive, cache)
                   if not iv.protected]
        if not failing:
            break
        candidates = sorted((c for c in _neighbours(structure, failing[0], withheld)
                             if _may_complement(structure, rules, c)),
                            key=lambda c: (structure.values[c] == 0, structure.cost[c],
                                           structure.values[c], str(c)))
        if not candidates:
            raise RuntimeError(f"disclosure: {failing[0]} cannot be protected: every related "
                               "count is already withheld or a published zero; check the "
                               "relations declared in the study's declare (report.min_cell = "
                               f"{rules.min_cell})")
        best, best_still = candidates[0], math.inf
        for c in candidates:
            trial = {**withheld, c: COMPLEMENT}
            still = sum(not iv.protected for iv in audit(structure, trial, rules, failing, cache))
            if still < best_still:
                best, best_still = c, still
            if still == 0:
                break
        withheld[best] = COMPLEMENT
        added.append(best)
    for c in reversed(added):
        trial = {k: v for k, v in withheld.items() if k != c}
        if all(iv.protected for iv in audit(structure, trial, rules, sensitive, cache)):
            withheld = trial
    return withheld


def _neighbours(structure: Structure, start: Key, withheld: dict[Key, str]) -> list[Key]:
    """Published counts in relations reachable from `start` through unpublished counts."""
    def published(k: Key) -> bool:
        return k in structure.shown and k not in withheld

    seen, frontier, found = {start}, [start], set()
    while frontier:
        k = frontier.pop()
        for total, parts in structure.relations:
            members = (total, *parts)
            if k not in members:
                continue
            for m in members:
                if published(m):
                    found.add(m)
                elif m not in seen:
                    seen.add(m)
                    frontier.append(m)
    return sorted(found, key=str)


@dataclass
class Counts:
    """A study's published people counts, decided once by `protect`: the text each count is
    printed as, whether a set of counts is published, and the audit of the withheld ones."""

    rules: Rules
    structure: Structure
    withheld: dict[Key, str]

    @classmethod
    def protected(cls, structure: Structure, rules: Rules,
                  statistics: Iterable[tuple[Key, ...]] | None = None) -> Counts:
        """`protect`'s decision. Under `report.protection: round` a caller that prints
        `text` (rounded) and shows a statistic of counts only when `exact` allows passes
        `statistics`: the counts each statistic rests on, most important first; a
        statistic's counts are taken as known exactly when the audit still leaves every
        small count its whole "<base" range (`_exact_for_statistics`, as `publish` does)."""
        if statistics is None or rules.method != ROUND:
            return cls(rules, structure, protect(structure, rules))
        withheld = protect(structure, rules, rounded_print=True)
        return cls(rules, structure,
                   _exact_for_statistics(structure, withheld, rules, list(statistics)))

    def text(self, key: Key, language: str = "sv") -> str:
        """The count as printed: the number (in the report language's format; under
        rounding the nearest multiple of the base, `Rules.printed`), or its mark."""
        if key in self.withheld:
            return self.rules.mark if self.withheld[key] == SMALL else SUPPRESSED
        return number(self.rules.printed(self.structure.values[key]), 0, language)

    def shown(self, *keys: Key) -> bool:
        """Whether every one of `keys` is published (a model estimate over them may be shown)."""
        return all(k not in self.withheld for k in keys)

    def exact(self, *keys: Key) -> bool:
        """Whether a reader may know every one of `keys` exactly, so a statistic computed
        from them (share, risk difference, rate, test) may be shown: published, and under
        rounding behind a statistic `protected` allowed (`Withheld.exact`)."""
        known = getattr(self.withheld, "exact", frozenset())
        return self.shown(*keys) and (self.rules.method != ROUND
                                      or all(k in known for k in keys))

    def intervals(self) -> list[Interval]:
        return audit(self.structure, self.withheld, self.rules)

    def n_withheld(self) -> int:
        return sum(1 for k in self.withheld if k in self.structure.shown)

    def record(self) -> dict:
        """The decision for the output check (`record`; internal: true counts)."""
        return record(self.structure, self.withheld, self.rules)

    def statement(self, language: str = "sv") -> str:
        """The rule as the appendix states it, with the number of withheld counts and how the
        complements were chosen (`cost_statement`); under rounding the rounding rule with
        statistics not computed from rounded counts (`rounding_statement`)."""
        if self.rules.method == ROUND:
            return rounding_statement(self.rules, language, from_rounded=False)
        head = texts.fill(texts.shared("upplysningar", language)["undertryckning"],
                          min_cell=self.rules.min_cell, small_mark=self.rules.mark,
                          suppressed=SUPPRESSED, withheld=self.n_withheld())
        return f"{head} {cost_statement(self.structure, self.withheld, language)}"


# --- the appendix's tables ---------------------------------------------------------------

GROUP_PREFIX = {"int": "Intervention", "ctl": "Kontroll"}
#: The cells of an outcome or Table 1 row that are not people counts (each a `SafeCell`,
#: named `<stat>_<group prefix>` or `<stat>`): what `to_json` lists as "statistics".
STATISTICS = ("pct", "quantiles", "mean", "deciles", "pvalue", "pvalue_holm", "effect")
#: Percentiles a days group's `quantiles` cell holds (box plot: whiskers and box).
QUANTILE_KEYS = ("p10", "q1", "median", "q3", "p90")
#: The deciles of days among those with at least one day (the `deciles` cell).
DECILE_KEYS = tuple(f"p{d}" for d in range(10, 100, 10))


def _is_statistic(name: str) -> bool:
    return name.split("_")[0] in STATISTICS


@dataclass
class Publication:
    """Everything the appendix and figures may show, decided once."""

    rules: Rules
    structure: Structure
    withheld: dict[Key, str]
    outcomes: list[dict]
    baseline: list[dict]
    flow: dict
    power_n: SafeCell
    flow_total: SafeCell = field(default_factory=lambda: SafeCell(None))
    _bounds: dict = field(default_factory=dict, repr=False, compare=False)

    def count(self, key: Key) -> SafeCell:
        if key in self.withheld:
            reason = self.withheld[key]
            return SafeCell(None, True, reason, self.rules.mark if reason == SMALL
                            else SUPPRESSED)
        v = self.structure.values[key]
        if key in POWER_N and self.exact(key):
            return SafeCell(v)  # the detectable difference printed with it gives it away
        return SafeCell(self.rules.printed(v))

    def exact(self, *keys: Key) -> bool:
        """Whether a reader knows every one of `keys` exactly (published and not rounded, or
        under rounding behind a published statistic), so a statistic over them may be shown."""
        known = getattr(self.withheld, "exact", frozenset())
        return all(k not in self.withheld and (self.rules.method != ROUND or k in known)
                   for k in keys)

    def bounds(self, key: Key) -> tuple[float, float]:
        """What a reader knows of a count: its value when known exactly, else the audit's
        interval (the attacker's LP bounds given everything published)."""
        if self.exact(key):
            v = self.structure.values[key]
            return v, v
        if key not in self._bounds:
            (iv,) = audit(self.structure, self.withheld, self.rules, [key])
            self._bounds[key] = (iv.low, iv.high)
        return self._bounds[key]

    def quantile_reason(self, key: Key) -> str:
        """Why quantiles of the group counted by `key` may not be published, or "".

        Decided on what a reader knows of the count, never on a withheld value (a withheld
        count whose bounds straddle the threshold withholds them as REVEALS): publishing
        or withholding them then tells the reader nothing the audit has not allowed."""
        low, high = self.bounds(key)
        low, high = math.ceil(low - TOLERANCE), high + TOLERANCE
        if self.rules.quantiles_allowed(low):
            return ""
        if high < self.rules.min_quantile_n:
            return FEW_FOR_QUANTILES
        return REVEALS

    def withheld_cells(self) -> list[tuple[Key, str]]:
        """Withheld shown counts and derived cells, flow first, then Table 1 and outcomes
        (a share is not listed again when its own count is)."""
        out = [(k, r) for k, r in self.withheld.items() if k in self.structure.shown]
        for row in self.baseline + self.outcomes:
            for name, cell in row.items():
                if not (isinstance(cell, SafeCell) and cell.withheld and _is_statistic(name)):
                    continue
                count = row.get(name.replace("pct", "events"))
                if name.startswith("pct") and count is not None and count.withheld:
                    continue
                out.append((row["key"] + (name,), cell.reason))
        order = {"randomised_total": 0, "randomised": 0, "flow": 1, "power n": 1, "t1": 2,
                 "t1 n": 2}
        return sorted(out, key=lambda kr: (order.get(kr[0][0], 3),
                                           [f"{x:09d}" if isinstance(x, int) else str(x)
                                            for x in kr[0]]))

    def statistics(self) -> list[tuple[Key, SafeCell]]:
        """Every non-count cell of the tables (shares, quantiles, means, deciles, p-values,
        effects) by key, published or withheld."""
        return [(row["key"] + (name,), cell) for row in self.baseline + self.outcomes
                for name, cell in row.items()
                if isinstance(cell, SafeCell) and _is_statistic(name)]

    def intervals(self) -> list[Interval]:
        return audit(self.structure, self.withheld, self.rules)

    def cost_statement(self, language: str = "sv") -> str:
        """How the complements were chosen and what they cost, for the appendix; under
        rounding what is rounded and which statistics are shown (`rounding_statement`)."""
        if self.rules.method == ROUND:
            return rounding_statement(self.rules, language)
        return cost_statement(self.structure, self.withheld, language)

    def record(self) -> dict:
        """The decision for the output check (`record`), every non-count cell's status with
        it (never a withheld value)."""
        return record(self.structure, self.withheld, self.rules, [
            {"key": [str(k) for k in key], "status": "withheld" if c.withheld else "published",
             "reason": c.reason} for key, c in self.statistics()])


def _withheld(reason: str) -> SafeCell:
    return SafeCell(None, True, reason, SUPPRESSED)


def _derived(pub: Publication, value: object, needs: Iterable[Key], reason: str = REVEALS
             ) -> SafeCell:
    """A number computed from counts (share, difference, interval, test statistic, p-value):
    published only when every count it rests on is known exactly (`Publication.exact`),
    since it is a function of them. None (no test, no estimate) is nothing to withhold."""
    if value is not None and not pub.exact(*needs):
        return _withheld(reason)
    return SafeCell(value)


def _share(pub: Publication, true_pct: float | None, count: Key, n: Key) -> SafeCell:
    """A share (%) of `n`: from the true counts when a reader may know them exactly, under
    rounding else from the printed counts (reason ROUNDED), withheld with a withheld count."""
    cell = _derived(pub, true_pct, [count, n])
    if (not cell.withheld or pub.rules.method != ROUND or count in pub.withheld
            or n in pub.withheld):
        return cell
    e, m = pub.count(count).value, pub.count(n).value
    return SafeCell(100 * e / m if m else None, reason=ROUNDED)


def _rounded_difference(pub: Publication, needs: list[Key], conf_level: float) -> SafeCell:
    """A binary outcome's risk difference (pp) and Newcombe interval from the printed,
    rounded counts (`needs`: n and events of Intervention, then of Kontroll); the interval
    by statsmodels as `stats.risk_difference` computes it (Newcombe's hybrid score)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    n1, e1, n2, e2 = (pub.count(k).value for k in needs)
    if not n1 or not n2:
        return _withheld(REVEALS)
    low, high = confint_proportions_2indep(e1, n1, e2, n2, method="newcomb", compare="diff",
                                           alpha=1 - conf_level)
    return SafeCell({"estimate": 100 * (e1 / n1 - e2 / n2), "low": 100 * float(low),
                     "high": 100 * float(high)}, reason=ROUNDED)


def _num(x: object) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _values(r: pd.Series, keys: Iterable[str], prefix: str) -> dict:
    """{key: r[f"{key}_{prefix}"]}; a table without them was made before these cells were
    decided (re-run the analysis stage)."""
    missing = [f"{k}_{prefix}" for k in keys if f"{k}_{prefix}" not in r.index]
    if missing:
        raise ValueError(f"disclosure: the analysis table has no {', '.join(missing)}; "
                         "re-run the analysis stage")
    return {k: _num(r[f"{k}_{prefix}"]) for k in keys}


def _quantile_cell(reason: str, r: pd.Series, keys: Iterable[str], prefix: str,
                   names: Iterable[str] | None = None) -> SafeCell:
    if reason:
        return _withheld(reason)
    got = _values(r, keys, prefix)
    return SafeCell(dict(zip(names or got, got.values(), strict=True)))


def _mean_cell(rules: Rules, r: pd.Series, prefix: str) -> SafeCell:
    """Mean and SD of days: withheld for a small group and by the dominance rules, decided
    from the group's largest contributions the analysis stage kept (`largest1` …)."""
    n = int(r[f"n_{prefix}"])
    stored = 0
    while f"largest{stored + 1}_{prefix}" in r.index:
        stored += 1
    if f"abs_sum_{prefix}" not in r.index or not stored:
        raise ValueError(f"disclosure: the analysis table has no abs_sum_{prefix}/largest*_"
                         f"{prefix} (the magnitudes the dominance rules need); re-run the "
                         "analysis stage")
    largest = [float(r[f"largest{i}_{prefix}"]) for i in range(1, stored + 1)]
    reason = magnitude_reason_of(rules, n, float(r[f"abs_sum_{prefix}"]), largest)
    return _withheld(reason) if reason else SafeCell(_values(r, ("mean", "sd"), prefix))


def declare(results: pd.DataFrame, baseline: pd.DataFrame, flow: dict,
            power_window: int | None) -> Structure:
    """The additive structure of every count the appendix publishes; `power_window` is the
    window whose smaller analysed group the power text publishes as the achieved n."""
    s = Structure()
    groups = list(GROUP_PREFIX.values())
    for window, by_group in flow["windows"].items():
        w = int(window)
        for g, f in by_group.items():
            s.cell(("randomised", g), f["randomised"], cost=ROLE_COST["total"])
            reasons = [s.cell(("flow", w, g, r), n) for r, n in f["excluded"].items()]
            excluded = s.cell(("flow", w, g, "excluded"), sum(f["excluded"].values()),
                              shown=False)
            s.relation(excluded, reasons)
            analysed = s.cell(("flow", w, g, "analysed"), f["analysed"],
                              cost=ROLE_COST["analysed"])
            s.relation(("randomised", g), [excluded, analysed])
            s.cell(("flow", w, g, "employment_status_missing"),
                   f["employment_status_missing"])
    if flow["windows"]:
        s.cell(("randomised_total",), sum(s.values[("randomised", g)] for g in groups),
               cost=ROLE_COST["total"])
        s.relation(("randomised_total",), [("randomised", g) for g in groups])

    for _, r in results.iterrows():
        w, st, o = int(r["window_months"]), r["stratum"], r["outcome"]
        for p, g in GROUP_PREFIX.items():
            n = s.cell(("n", w, st, o, g), r[f"n_{p}"],
                       cost=ROLE_COST["analysed" if st == "alla" else "stratum"])
            if r["kind"] == "binary":
                e = s.cell(("events", w, st, o, g), r[f"events_{p}"],
                           cost=ROLE_COST["outcome" if st == "alla" else "level"])
                ne = s.cell(("non-events", w, st, o, g), r[f"n_{p}"] - r[f"events_{p}"],
                            shown=False)
                s.relation(n, [e, ne])
            elif st == "alla" and _num(r.get(f"any_days_{p}")) is not None:
                k = s.cell(("any days", w, st, o, g), r[f"any_days_{p}"],
                           cost=ROLE_COST["outcome"])
                none = s.cell(("no days", w, st, o, g), r[f"n_{p}"] - r[f"any_days_{p}"],
                              shown=False)
                s.relation(n, [k, none])
    for (w, o, kind), part in results.groupby(["window_months", "outcome", "kind"]):
        w = int(w)
        strata = set(part["stratum"])
        for g in groups:
            if {"alla", "kvinna", "man"} <= strata:
                s.relation(("n", w, "alla", o, g), [("n", w, sx, o, g) for sx in ("kvinna", "man")],
                           rest=("n sex unknown", w, o, g))
                if kind == "binary":
                    s.relation(("events", w, "alla", o, g),
                               [("events", w, sx, o, g) for sx in ("kvinna", "man")],
                               rest=("events sex unknown", w, o, g))
            if ("flow", w, g, "analysed") not in s.values:
                continue
            if kind == "binary":
                s.relation(("flow", w, g, "analysed"),
                           [("n", w, "alla", o, g), ("flow", w, g, "employment_status_missing")])
            else:
                s.relation(("flow", w, g, "analysed"), [("n", w, "alla", o, g)],
                           rest=("days missing", w, o, g))
    for (w, st), part in results.groupby(["window_months", "stratum"]):
        if st == "alla":
            continue
        for g, p in zip(groups, GROUP_PREFIX, strict=True):
            base = s.cell(("analysed", int(w), st, g), part[f"n_{p}"].max(), shown=False)
            for o in part["outcome"]:
                s.relation(base, [("n", int(w), st, o, g)], rest=("missing", int(w), st, o, g))

    for (var, kind), part in baseline.groupby(["variable", "kind"], sort=False):
        if kind == "days":
            continue
        for p, g in GROUP_PREFIX.items():
            n = s.cell(("t1 n", var, g), part[f"n_{p}"].iloc[0], cost=ROLE_COST["table1 n"])
            # those missing the variable: declared even when none are (a reader cannot tell)
            missing = s.cell(("t1 missing", var, g), s.values[("randomised", g)] - s.values[n],
                             shown=False)
            s.relation(("randomised", g), [n, missing])
            levels = [s.cell(("t1", var, str(lv), g), e, cost=ROLE_COST["level"])
                      for lv, e in zip(part["level"], part[f"events_{p}"], strict=True)]
            if kind == "binary":
                levels.append(s.cell(("t1 not", var, g), part[f"n_{p}"].iloc[0]
                                     - part[f"events_{p}"].iloc[0], shown=False))
            s.relation(n, levels)
    if power_window is not None:
        w = int(power_window)
        g = min(groups, key=lambda g: (s.values.get(("flow", w, g, "analysed"), math.inf), g))
        if ("flow", w, g, "analysed") in s.values:
            s.cell(("power n",), s.values[("flow", w, g, "analysed")], cost=ROLE_COST["analysed"])
            s.relation(("power n",), [("flow", w, g, "analysed")])
    return s


def publish(results: pd.DataFrame, baseline: pd.DataFrame, flow: dict, rules: Rules,
            power_window: int | None = None, *,
            withheld: dict[Key, str] | None = None,
            conf_level: float | None = None) -> Publication:
    """Decide every published cell of the appendix (outcomes, Table 1, flow, power text).

    Counts by `protect`; then every other cell from the counts' decision and the rules:
    shares, differences, intervals and p-values only when the counts they rest on are
    published (REVEALS), Holm p-values only when every p-value of their family is;
    quantiles (quartiles, whisker percentiles, deciles among those with days, the
    Hodges–Lehmann shift) only for groups of at least `rules.min_quantile_n`; means and SDs
    of days by `magnitude_reason`. Minima and maxima are never taken. `withheld` is a
    decision already made by `protect` over the same tables and rules (see `from_json`);
    without it the decision is made here.

    Under rounding (`Rules.method` ROUND) a row's shares, difference, interval and p-value are
    computed from the true counts when `_exact_for_statistics` allows it; otherwise shares
    and a binary outcome's risk difference with its Newcombe interval (`conf_level`, the
    analysis' `analysis.conf_level`) are computed from the printed, rounded counts (reason
    ROUNDED, so a reader can tell), and p-values, Hodges–Lehmann shifts and Holm p-values
    are withheld (REVEALS): a test on rounded counts is not the study's test."""
    if rules.method == ROUND and conf_level is None:
        raise ValueError("disclosure: report.protection: round needs the analysis' confidence "
                         "level (publish(conf_level=params['analysis']['conf_level']))")
    structure = declare(results, baseline, flow, power_window)
    if withheld is None:
        withheld = protect(structure, rules, rounded_print=True)
    if rules.method == ROUND:
        withheld = _exact_for_statistics(structure, withheld, rules,
                                         _statistic_needs(results, baseline, structure))
    pub = Publication(rules, structure, withheld, [], [], {}, SafeCell(None))
    groups = list(GROUP_PREFIX.items())
    for _, r in results.iterrows():
        w, st, o = int(r["window_months"]), r["stratum"], r["outcome"]
        row: dict = {"key": ("outcome", w, st, o), "window": w, "stratum": st, "outcome": o,
                     "kind": r["kind"], "test": r["test"]}
        needs = []
        for p, g in groups:
            n_key = ("n", w, st, o, g)
            row[f"n_{p}"] = pub.count(n_key)
            needs.append(n_key)
            if r["kind"] == "binary":
                e_key = ("events", w, st, o, g)
                row[f"events_{p}"] = pub.count(e_key)
                row[f"pct_{p}"] = _share(pub, _num(r[f"pct_{p}"]), e_key, n_key)
                needs.append(e_key)
                continue
            row[f"quantiles_{p}"] = _quantile_cell(pub.quantile_reason(n_key), r,
                                                   QUANTILE_KEYS, p)
            row[f"mean_{p}"] = _mean_cell(rules, r, p)
            k_key = ("any days", w, st, o, g)
            if k_key in structure.values:
                row[f"any_days_{p}"] = pub.count(k_key)
                row[f"deciles_{p}"] = _quantile_cell(pub.quantile_reason(k_key), r,
                                                     [f"pos_{d}" for d in DECILE_KEYS], p,
                                                     DECILE_KEYS)
        row["pvalue"] = _derived(pub, _num(r["pvalue"]), needs)
        estimate = _num(r.get("estimate"))
        effect = None if estimate is None else {
            "estimate": estimate, "low": _num(r["conf_low"]), "high": _num(r["conf_high"])}
        row["effect"] = _derived(pub, effect, needs)
        if (r["kind"] == "binary" and effect is not None and row["effect"].withheld
                and rules.method == ROUND and not any(k in pub.withheld for k in needs)):
            row["effect"] = _rounded_difference(pub, needs, conf_level)
        if r["kind"] != "binary" and effect is not None and not row["effect"].withheld:
            hidden = [row[f"quantiles_{p}"] for p, _ in groups if row[f"quantiles_{p}"].withheld]
            if hidden:  # the Hodges–Lehmann shift is a quantile of the pairwise differences
                row["effect"] = _withheld(hidden[0].reason)
        pub.outcomes.append(row)
    families: dict[str, list[dict]] = {}
    for row, (_, r) in zip(pub.outcomes, results.iterrows(), strict=True):
        families.setdefault(row["stratum"], []).append(row)
        row["pvalue_holm"] = SafeCell(_num(r.get("pvalue_holm")))
    for rows in families.values():
        # a Holm p-value is the largest of (m − j + 1)·p over the family's smaller p-values,
        # so it may equal (and give back) any of them
        if any(row["pvalue"].withheld for row in rows):
            for row in rows:
                row["pvalue_holm"] = _withheld(REVEALS)
    levels: dict[str, list[Key]] = {}
    for _, r in baseline.iterrows():
        if r["kind"] != "days":
            levels.setdefault(r["variable"], []).extend(
                ("t1", r["variable"], str(r["level"]), g) for _, g in groups)
    for _, r in baseline.iterrows():
        var, level, kind = r["variable"], str(r["level"]), r["kind"]
        row = {"key": ("t1", var, level), "variable": var, "level": level, "kind": kind,
               "test": r.get("test")}
        if kind == "days":
            needs = [("randomised", g) for _, g in groups if ("randomised", g) in structure.values]
        else:
            needs = levels[var] + [("t1 n", var, g) for _, g in groups]
        for p, g in groups:
            if kind == "days":
                size = int(r[f"n_{p}"])
                reason = "" if rules.quantiles_allowed(size) else FEW_FOR_QUANTILES
                row[f"quantiles_{p}"] = _quantile_cell(reason, r, ("median", "q1", "q3"), p)
                row[f"mean_{p}"] = _mean_cell(rules, r, p)
            else:
                key = ("t1", var, level, g)
                row[f"events_{p}"] = pub.count(key)
                row[f"pct_{p}"] = _share(pub, _num(r[f"pct_{p}"]), key, ("t1 n", var, g))
        row["pvalue"] = _derived(pub, _num(r.get("pvalue")), needs)
        pub.baseline.append(row)
    for window, by_group in flow["windows"].items():
        w = int(window)
        pub.flow[w] = {g: {"randomised": pub.count(("randomised", g)),
                           "excluded": {reason: pub.count(("flow", w, g, reason))
                                        for reason in f["excluded"]},
                           "analysed": pub.count(("flow", w, g, "analysed")),
                           "employment_status_missing":
                               pub.count(("flow", w, g, "employment_status_missing"))}
                       for g, f in by_group.items()}
    if ("randomised_total",) in structure.values:
        pub.flow_total = pub.count(("randomised_total",))
    if ("power n",) in structure.values:
        pub.power_n = (pub.count(("power n",)) if pub.exact(("power n",))
                       or ("power n",) in withheld else _withheld(REVEALS))
    return pub


#: The power text's n: printed exactly even under rounding when published (the detectable
#: difference beside it is a function of it), so the audit counts it as known exactly.
POWER_N = {("power n",)}


def _statistic_needs(results: pd.DataFrame, baseline: pd.DataFrame, structure: Structure
                     ) -> list[tuple[Key, ...]]:
    """The counts each row's statistics rest on, the study's results first: outcome rows of
    all persons, then by sex, then the power text's n, then Table 1's rows."""
    groups = list(GROUP_PREFIX.values())
    rows = sorted(results.itertuples(), key=lambda r: r.stratum != "alla")
    out = [tuple(k for g in groups for k in (("n", int(r.window_months), r.stratum, r.outcome, g),
                                             ("events", int(r.window_months), r.stratum,
                                              r.outcome, g))
                 if k in structure.values) for r in rows]
    if ("power n",) in structure.values:
        out.append((("power n",),))
    for (var, kind), _ in baseline.groupby(["variable", "kind"], sort=False):
        if kind == "days":
            out.append(tuple(("randomised", g) for g in groups))
        else:
            out.append(tuple(k for k in structure.values if k[0] in ("t1", "t1 n")
                             and k[1] == var))
    return out


def _exact_for_statistics(structure: Structure, withheld: dict[Key, str], rules: Rules,
                          needs: list[tuple[Key, ...]]) -> Withheld:
    """Under rounding: which rows' statistics may be computed from the true counts. A share,
    difference, interval or p-value of true counts lets a reader solve for them, so the
    counts it rests on are taken as known exactly; a row's statistics are published (in
    `needs` order) only when, with its counts exact too, the audit still finds every small
    count its whole "<base" range. Otherwise they are withheld (REVEALS): never computed
    from rounded counts, which would be different numbers than the study's."""
    method = getattr(withheld, "method", "")
    sensitive = [k for k, v in structure.values.items() if v < rules.threshold]
    exact: set[Key] = set()
    cache: dict = {}
    for keys in needs:
        if not keys or any(k in withheld for k in keys) or set(keys) <= exact:
            continue
        trial = Withheld(withheld, method, exact | set(keys))
        if all(iv.protected for iv in audit(structure, trial, rules, sensitive, cache)):
            exact |= set(keys)
    return Withheld(withheld, method, exact)


def rules_json(rules: Rules) -> dict:
    """The rules as the decision files and the export state them (`rules_from_record` reads
    them back)."""
    return {"min_cell": rules.min_cell, "zeros_disclosive": rules.zeros_disclosive,
            "mark_small_counts": rules.mark_small, "min_quantile_n": rules.min_quantile_n,
            "dominance": [rules.dominance_n, rules.dominance_k], "p_percent": rules.p_percent,
            "min_df": rules.min_df, "protection": rules.method,
            "rounding_base": rules.rounding_base}


def to_json(pub: Publication) -> dict:
    """The published counts (withheld ones by mark only), the rules, and every other cell's
    status (`statistics`: its published value, or None with the reason it is withheld): what
    the attacker test and an output check read. Never a withheld value."""
    cells = []
    for k in pub.structure.values:
        if k not in pub.structure.shown:
            continue
        c = pub.count(k)
        cells.append({"key": list(k), "published": c.value, "mark": c.mark, "reason": c.reason})
    statistics = [{"key": list(k), "published": c.value, "reason": c.reason}
                  for k, c in pub.statistics()]
    return {"rules": rules_json(pub.rules), "cells": cells, "statistics": statistics,
            "method": getattr(pub.withheld, "method", "")}


def from_json(published: dict, results: pd.DataFrame, baseline: pd.DataFrame, flow: dict,
              rules: Rules, power_window: int | None = None, *,
              conf_level: float | None = None) -> Publication:
    """The publication `to_json` wrote, rebuilt over the same tables without solving the audit
    again: one stage decides (figures), a later one formats (the appendix).

    Exact, never a guess: `published` must state the same `rules`, name every shown count
    of these tables with the value these tables give it (withheld counts by reason), and
    list every other cell as these tables and rules decide it; else the decision was made
    over other tables or rules and a `ValueError` says so."""
    stated = published.get("rules", {})
    if stated != rules_json(rules):
        raise ValueError(f"disclosure: the published decision was made under the rules {stated}, "
                         f"not {rules}; re-run the stage that decides it")
    structure = declare(results, baseline, flow, power_window)
    withheld: dict[Key, str] = {}
    keys = set()
    for cell in published.get("cells", []):
        key = tuple(cell["key"])
        keys.add(key)
        if key not in structure.shown:
            raise ValueError(f"disclosure: the published decision names {key}, which these "
                             "tables do not publish")
        if (cell["reason"] == SMALL) != rules.small(structure.values[key]):
            raise ValueError(f"disclosure: the published decision and these tables disagree "
                             f"whether {key} is a small count")
        if cell["reason"]:
            withheld[key] = cell["reason"]
    missing = structure.shown - keys
    if missing:
        raise ValueError("disclosure: the published decision does not cover "
                         f"{sorted(missing, key=str)[:3]}")
    withheld = Withheld(withheld, published.get("method", ""))
    pub = publish(results, baseline, flow, rules, power_window, withheld=withheld,
                  conf_level=conf_level)
    for cell in published["cells"]:
        if not cell["reason"] and cell["published"] != pub.count(tuple(cell["key"])).value:
            raise ValueError(f"disclosure: the published decision gives {tuple(cell['key'])} as "
                             f"{cell['published']}, these tables as "
                             f"{pub.count(tuple(cell['key'])).value}")
    mine = to_json(pub)["statistics"]
    theirs = published.get("statistics")
    if theirs != mine:
        stated_cells = {tuple(c["key"]): c for c in theirs or []}
        differing = [tuple(c["key"]) for c in mine if stated_cells.get(tuple(c["key"])) != c]
        extra = set(stated_cells) - {tuple(c["key"]) for c in mine}
        raise ValueError("disclosure: the published decision's statistics differ from these "
                         f"tables' at {(differing or sorted(extra, key=str))[:3]}; re-run the "
                         "stage that decides it")
    return pub


# --- the decision as the output check re-audits it ----------------------------------------------

def record(structure: Structure, withheld: dict[Key, str], rules: Rules,
           statistics: Iterable[dict] = ()) -> dict:
    """A study's whole decision for `rehabkoord.export`: the rules, every count with its true
    value and status, the relations and (optionally) the study's other statistics with the n,
    degrees of freedom and status each was published under, and what the protection cost
    (`protection_cost`). Internal: it holds the values, so it is written under
    data/processed/, never under reports/."""
    return {"rules": rules_json(rules), "protection": protection_cost(structure, withheld),
            "cells": [{"key": list(k), "value": v, "shown": k in structure.shown,
                       "withheld": withheld.get(k, ""),
                       "exact": k in getattr(withheld, "exact", ())}
                      for k, v in structure.values.items()],
            "relations": [[list(total), [list(p) for p in parts]]
                          for total, parts in structure.relations],
            "statistics": list(statistics)}


def protection_cost(structure: Structure, withheld: dict[Key, str]) -> dict:
    """What the protection cost: how the complements were chosen (`OPTIMAL`, or `GREEDY`
    when the least-cost search reached its limits), the printed counts withheld (small and
    complementary) and the persons in them (the sum of their true values; a person is
    counted once per withheld cell they are in). Internal: the sum of withheld values is one
    more equation a reader could use, so the appendix states only the cells."""
    cells = [k for k in withheld if k in structure.shown]
    small = sum(withheld[k] == SMALL for k in cells)
    return {"method": getattr(withheld, "method", ""), "cells": len(cells), "small": small,
            "complementary": len(cells) - small,
            "persons": int(sum(structure.values[k] for k in cells))}


def cost_statement(structure: Structure, withheld: dict[Key, str], language: str = "sv"
                   ) -> str:
    """One sentence for the appendix: how the complements were chosen and how many counts
    were withheld, small and complementary (never the persons in them, see
    `protection_cost`)."""
    c = protection_cost(structure, withheld)
    words = texts.shared("upplysningar", language)
    how = words[{OPTIMAL: "komplement_optimalt", GREEDY: "komplement_grans"}.get(
        c["method"], "komplement_stegvis")]
    return texts.fill(words["komplement"], how=how, cells=c["cells"], small=c["small"],
                      complementary=c["complementary"])


def rounding_statement(rules: Rules, language: str = "sv", statistics: bool = True,
                       from_rounded: bool = True) -> str:
    """The rounding rule as the appendix states it (`report.protection: round`); without
    `statistics` only the counts' rule (a summary of counts only); without `from_rounded`
    statistics the audit does not allow are withheld, never computed from rounded counts
    (`Counts.exact`)."""
    if statistics and not from_rounded:
        key = "avrundning_granskad"
    else:
        key = "avrundning" if statistics else "avrundning_antal"
    return texts.fill(texts.shared("upplysningar", language)[key], base=rules.rounding_base,
                      largest_small=rules.rounding_base - 1, suppressed=SUPPRESSED)


def rules_from_record(rec: dict) -> Rules:
    r = rec["rules"]
    return Rules(r["min_cell"], r["zeros_disclosive"], r["mark_small_counts"],
                 r["min_quantile_n"], r["dominance"][0], r["dominance"][1], r["p_percent"],
                 r["min_df"], r.get("protection", SUPPRESS), r.get("rounding_base", 5))


def from_record(rec: dict) -> tuple[Structure, dict[Key, str], Rules]:
    """`record`'s structure, withheld counts and rules, ready for `audit`."""
    s = Structure()
    withheld = {}
    exact = []
    for cell in rec["cells"]:
        key = tuple(cell["key"])
        s.values[key] = int(cell["value"])
        if cell["shown"]:
            s.shown.add(key)
        if cell["withheld"]:
            withheld[key] = cell["withheld"]
        if cell.get("exact"):
            exact.append(key)
    s.relations = [(tuple(total), tuple(tuple(p) for p in parts))
                   for total, parts in rec["relations"]]
    method = rec.get("protection", {}).get("method", "")
    return s, Withheld(withheld, method, exact), rules_from_record(rec)


# --- statistics other than counts: shared helpers ---------------------------------------

def magnitude_reason_of(rules: Rules, n: int, total: float, largest: Iterable[float]) -> str:
    """`Rules.magnitude_reason` from what an analysis table keeps of a group instead of every
    person's value: its size `n`, the `total` of the absolute values and the largest absolute
    values (any order; NaN padding ignored). The rule is applied to a stand-in with the same
    n, the same largest values and the same total (the rest spread evenly, never above the
    smallest kept), which every rule it applies agrees on. A `ValueError` naming
    `report.dominance` when the rules look further down than was kept."""
    top = sorted((abs(float(x)) for x in largest if not math.isnan(float(x))), reverse=True)
    n = int(n)
    rest = n - len(top)
    if rest < 0:
        raise ValueError(f"disclosure: {len(top)} largest values kept for a group of {n}")
    if rest and max(rules.dominance_n, 2) > len(top):
        raise ValueError(f"params.yaml report.dominance n = {rules.dominance_n} looks at more "
                         f"contributors than the {len(top)} largest the analysis stage keeps "
                         "per group; lower it or keep more")
    filler = min((float(total) - sum(top)) / rest, top[-1]) if rest else 0.0
    return rules.magnitude_reason([*top, *[max(filler, 0.0)] * rest])


def rounded_steps(counts: pd.DataFrame, min_cell: int) -> pd.DataFrame:
    """Counts per time (each column: events of one kind, or censorings) whose running totals
    are rounded up to multiples of `min_cell`, as OpenSAFELY's disclosure-safe Kaplan–Meier
    (opensafely-actions/kaplan-meier-function, `min_count`): every step of the result is 0
    or a multiple of `min_cell`, and a curve recomputed from it can reveal no count below
    `min_cell`. Rows whose rounded counts are all 0 are dropped (nothing changes there)."""
    cum = counts.cumsum()
    rounded = np.ceil(cum / min_cell) * min_cell
    steps = rounded.diff().fillna(rounded).astype(int)
    return steps[(steps > 0).any(axis=1)]


def published_step(count: int, rules: Rules) -> bool:
    """Whether a change between two published values may be `count`: 0 or at least the
    threshold (`Rules.threshold`: `min_cell`, under rounding the base; a change of fewer
    persons is a small count)."""
    return count == 0 or count >= rules.threshold
