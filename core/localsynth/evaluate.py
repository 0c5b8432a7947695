"""Every evaluation figure in one place: utility and privacy of aggregates and synthetic data.

The CLI, the Python API and the web UI all call these functions, so a number means the same thing
wherever it is shown. Definitions follow reference section 7 (SDS "MicrodataStatistics"), computed with
numpy on the sorted int64 combination keys of :class:`~localsynth.aggregate.Aggregates` (``searchsorted``
look-ups and ``bincount`` sums, never a Python loop over combinations).

:func:`compare` ``(O, T, k)`` — ``O`` the original aggregates, ``T`` the target aggregates:

* **suppressed %** = 100·|O \\ T| / |O|.
* **fabricated %** = 100·|T \\ O| / |O| — the denominator is the number of *original* combinations, as
  in SDS core and web (reference quirk 6; the pac-synth notebook divides by |T| instead). It can exceed 100.
* **original count mean** (overall and by length) = mean of the O counts.
* **mean absolute error** (overall and by length) = mean over c ∈ O ∩ T of |O(c) − T(c)|.
* by length, of T: count mean, distinct combinations, rare combinations (T count < k) and their
  percentage of T's combinations of that length, unique combinations (T count = 1).
* **leakage** by length = |{c ∈ O : O(c) < k, c ∈ T, T(c) < k}|; percentage = 100·leak_l / |O_l|.
* **record expansion %** = 100·(n_T / n_O − 1) with n the ``n_records`` of the two aggregate tables.
* **unique / rare combinations %** = share of T's combinations with count 1 / count < k.
* **records with unique / rare combinations %** need to know *which records* hold each combination, which
  aggregates do not store. They are filled in from a :class:`~localsynth.risk.RiskSummary` of the table
  behind T when one is passed (``evaluate`` does so for the sensitive statistics, the only ones where
  SDS shows them) and are NaN otherwise.
* **preservation by count bucket**: bins 10, 20, 40, … doubling until a bin ≥ the largest T count; a
  combination belongs to the first bin ≥ its T count (T count 0 ⇒ bin 10), i.e. (0,10], (10,20], (20,40]…
  The population is every c ∈ O with O(c) ≥ k plus every c ∈ T not already included. Per combination:
  preservation = min(T/O, 1) (0 when O = 0) and proportional error = |T − O| / O (1 when O = 0). Per
  bucket: size, mean preservation, mean combination length, mean T count, mean proportional error (all 0
  for an empty bucket).
* **mean proportional error (overall)** = mean of the buckets' mean proportional errors **over the
  non-empty buckets only**. SDS averages over all bins, so that empty bins (which it fills with 0) pull
  the figure towards 0 and it depends on how many empty bins the largest count creates (reference
  quirk 7). We fix that; SDS's value is kept as ``mean_proportional_error_all_bins`` for comparison.
* **preservation by length**: the same population grouped by combination length.

Means over an empty set are 0 (as in SDS), percentages with a zero denominator are 0.

Both tables may come from different domains (a synthetic file may hold values the sensitive data lacks):
they are re-keyed on the union of the two domains first. When their aggregation limits differ, only the
combinations up to the shorter limit are compared (longer ones cannot be in the other table).

:func:`evaluate` builds the four comparisons of reference 7.1, the sensitive data's risk summary
(:func:`localsynth.risk.assess_risk`), the 1-/2-/3-way marginal errors (:func:`marginal_errors`) and the
k-marginal score (:func:`k_marginal_score` on the two tables' wide frames: values as loaded, so numeric
columns count as binned only if binning was set when loading; absent = empty string), and writes the four
plain-language sentences of reference 7.3 (:meth:`Evaluation.summary_text`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd

from ._np import bincount, repeat
from .aggregate import (Aggregates, aggregate, check_length, check_resolution, key_lengths, max_key_length,
                        protect_k, radix)
from .aggregate import _dense_groups
from .errors import ParameterError
from .progress import Progress, ProgressCallback, as_progress
from .risk import RiskSummary, aggregate_and_assess_risk
from .table import Domain, EncodedTable

__all__ = ["Statistics", "Evaluation", "compare", "marginal_errors", "k_marginal_score", "evaluate",
           "check_k_anonymity", "align_aggregates", "align_tables", "count_bins", "STATISTICS_TYPES"]

INITIAL_BIN = 10
BIN_RATIO = 2

#: The statistics types of reference 7.1, in display order, and what O and T are for each.
STATISTICS_TYPES = {
    "sensitive": "sensitive data compared with itself",
    "aggregate": "protected aggregate counts compared with the sensitive data",
    "synthetic": "synthetic data compared with the sensitive data",
    "synthetic_vs_aggregate": "synthetic data compared with the protected aggregate counts",
}


# ---- alignment --------------------------------------------------------------------------------------
def _union_domain(a: Domain, b: Domain) -> Domain:
    if a.same_as(b):
        return a
    if a.columns != b.columns:
        missing = sorted(set(a.columns) ^ set(b.columns))
        raise ParameterError("the two tables do not have the same columns"
                             + (f" (only in one of them: {', '.join(missing)})" if missing else " in the same order"))
    return a.union(b)


def align_aggregates(original: Aggregates, target: Aggregates) -> tuple[Aggregates, Aggregates]:
    """Both aggregate tables keyed in one domain (the union of their values)."""
    if original.domain.same_as(target.domain):
        return original, target
    dom = _union_domain(original.domain, target.domain)
    longest = max(original.length, target.length)
    if longest > max_key_length(dom):
        raise ParameterError(f"combinations of length {longest} do not fit in a key for {dom.n_attributes} "
                             "distinct values; lower the aggregation limit")
    return original.recode(dom), target.recode(dom)


def align_tables(first: EncodedTable, second: EncodedTable) -> tuple[EncodedTable, EncodedTable]:
    """Both tables over one domain; ``second``'s columns are put in ``first``'s order when they differ."""
    if first.domain.same_as(second.domain):
        return first, second
    if first.columns != second.columns:
        if sorted(first.columns) != sorted(second.columns):
            only = sorted(set(first.columns) ^ set(second.columns))
            raise ParameterError("the sensitive and synthetic data do not have the same columns "
                                 f"(only in one of them: {', '.join(only)})")
        order = [second.columns.index(c) for c in first.columns]
        dom = second.domain
        reordered = Domain(first.columns, tuple(dom.labels[i] for i in order), dict(dom.multi_value))
        second = EncodedTable(second.codes[:, order], reordered, second.name, second.warnings)
    dom = _union_domain(first.domain, second.domain)
    return first.recode(dom), second.recode(dom)


def _lookup(agg: Aggregates, keys: np.ndarray) -> np.ndarray:
    """``agg.lookup`` that also works on an empty table (count 0 everywhere)."""
    if len(agg) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    return agg.lookup(keys)


def _up_to(agg: Aggregates, length: int) -> Aggregates:
    if agg.length <= length:
        return agg
    return agg.subset(agg.lengths() <= length, length=length)


# ---- helpers ----------------------------------------------------------------------------------------
def _mean(sums: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    sums = np.asarray(sums, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.divide(sums, sizes, out=np.zeros_like(sums), where=sizes > 0)


def _pct(part, whole) -> np.ndarray:
    return 100.0 * _mean(part, whole)


def _scalar_mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0


def _by_length(lengths: np.ndarray, L: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of ``weights`` (or count) per length 1..L, as an array of size L."""
    out = bincount(lengths, weights=weights, minlength=L + 1)[1:L + 1]
    return out if weights is not None else out.astype(np.int64)


def _add_ones(total: float, n: int) -> float:
    """``total`` plus 1.0, ``n`` times, rounded after each addition (as a sequential sum would be)."""
    if n == 0:
        return total
    return float(np.cumsum(np.concatenate([[total], np.ones(n)]))[-1])


def count_bins(max_count: int) -> np.ndarray:
    """Upper bounds of the count buckets: 10, 20, 40, … until one is ≥ ``max_count``."""
    bins = [INITIAL_BIN]
    while bins[-1] < max_count:
        bins.append(bins[-1] * BIN_RATIO)
    return np.array(bins, dtype=np.int64)


def _fmt(x: float, precision: int = 2) -> str:
    return f"{x:.{precision}f}"


def _clean(value: Any) -> Any:
    """Plain JSON-ready Python values (NaN/inf → None, numpy scalars → Python)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, pd.DataFrame):
        return [_clean(r) for r in value.to_dict(orient="records")]
    return value


# ---- statistics -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Statistics:
    """Every metric of reference 7.2 for one comparison (O = original, T = target, k = resolution).

    ``kind`` says which comparison this is (a key of :data:`STATISTICS_TYPES`); it decides which rows
    of :meth:`summary_frame` are shown as "-" (as in the SDS web app). ``by_length`` has one row per
    combination length 1..L, ``by_count_bucket`` one row per count bin (see the module docstring).
    """

    kind: str
    resolution: int
    length: int
    original_records: int
    target_records: int
    original_combinations: int
    target_combinations: int
    common_combinations: int
    suppressed_combinations: int
    fabricated_combinations: int
    suppressed_percentage: float
    fabricated_percentage: float
    original_count_mean: float
    target_count_mean: float
    mean_absolute_error: float
    record_expansion_percentage: float
    unique_combinations_percentage: float
    rare_combinations_percentage: float
    records_with_unique_percentage: float
    records_with_rare_percentage: float
    leakage_count: int
    leakage_percentage: float
    #: combinations of T that match between 1 and k − 1 records of O (groups smaller than k in O)
    target_in_rare_original: int
    mean_proportional_error: float
    mean_proportional_error_all_bins: float
    by_length: pd.DataFrame
    by_count_bucket: pd.DataFrame

    # ---- the three SDS download frames -----------------------------------------------------------
    def summary_frame(self, precision: int = 2, empty: str = "-") -> pd.DataFrame:
        """``Metric,Value`` rows as SDS's metrics summary (values formatted as shown in the web app).

        The mean proportional error is the fixed one (non-empty buckets only, module docstring).
        """
        t = "sensitive" if self.kind == "sensitive" else ("aggregate" if self.kind == "aggregate" else "synthetic")
        cmp_ = t in ("aggregate", "synthetic")
        p = precision
        rows: list[tuple[str, str]] = [
            ("Suppressed combinations", f"{_fmt(self.suppressed_percentage, p)} %" if cmp_ else empty),
            ("Fabricated combinations", f"{_fmt(self.fabricated_percentage, p)} %" if cmp_ else empty),
        ]
        for r in self.by_length.itertuples(index=False):
            if r.original_combinations:
                rows.append((f"{int(r.length)}-count mean value +/- Mean error",
                             f"{_fmt(r.original_count_mean, p)} +/- {_fmt(r.mean_absolute_error, p)}"))
        rows.append(("Mean combination count +/- Mean error",
                     f"{_fmt(self.original_count_mean, p)} +/- {_fmt(self.mean_absolute_error, p)}"))
        rows.append(("Record expansion", f"{_fmt(self.record_expansion_percentage, p)} %" if t == "synthetic" else empty))
        rows.append(("Mean proportional error", _fmt(self.mean_proportional_error, p) if cmp_ else empty))

        def sens(value: float) -> str:
            return f"{_fmt(value, p)} %" if t == "sensitive" and math.isfinite(value) else empty

        rows += [("Records containing unique attribute combinations", sens(self.records_with_unique_percentage)),
                 ("Records containing rare attribute combinations", sens(self.records_with_rare_percentage)),
                 ("Unique attribute combinations", sens(self.unique_combinations_percentage)),
                 ("Rare attribute combinations", sens(self.rare_combinations_percentage))]
        return pd.DataFrame(rows, columns=["Metric", "Value"])

    def by_count_frame(self) -> pd.DataFrame:
        """``Bin,Mean proportional error,Mean length of combinations`` (bins ascending)."""
        b = self.by_count_bucket
        return pd.DataFrame({"Bin": b["bin"].to_numpy(), "Mean proportional error": b["mean_proportional_error"].to_numpy(),
                             "Mean length of combinations": b["mean_length"].to_numpy()})

    def by_length_frame(self) -> pd.DataFrame:
        """SDS's analysis by length (without its trailing comma); figures of T, leakage against O."""
        b = self.by_length
        return pd.DataFrame({
            "Length": b["length"].to_numpy(),
            "Mean combinations count": b["target_count_mean"].to_numpy(),
            "Distinct combinations count": b["distinct_combinations"].to_numpy(),
            "Rare combinations count": b["rare_combinations"].to_numpy(),
            "Rare combinations percentage": b["rare_percentage"].to_numpy(),
            "Leakage count": b["leakage_count"].to_numpy(),
            "Leakage percentage": b["leakage_percentage"].to_numpy(),
        })

    def to_dict(self) -> dict:
        """Every figure as plain Python values (frames as lists of row dicts)."""
        out = {}
        for name in self.__dataclass_fields__:
            out[name] = _clean(getattr(self, name))
        return out


def compare(original: Aggregates, target: Aggregates, resolution: int, *, kind: str = "synthetic",
            risk: RiskSummary | None = None) -> Statistics:
    """All metrics of reference 7.2 for original aggregates ``O`` and target aggregates ``T``.

    ``kind`` names the comparison (see :data:`STATISTICS_TYPES`). ``risk`` — the risk summary of the
    records behind ``T`` — provides the records-with-unique/rare percentages (NaN without it).
    """
    k = check_resolution(resolution)
    if kind not in STATISTICS_TYPES:
        raise ParameterError(f"kind must be one of {', '.join(STATISTICS_TYPES)}, not {kind!r}")
    O, T = align_aggregates(original, target)
    L = min(O.length, T.length)
    O, T = _up_to(O, L), _up_to(T, L)
    r = O.radix
    lo, lt = _sorted_key_lengths(O.keys, r), _sorted_key_lengths(T.keys, r)
    oc, tc = O.counts.astype(np.int64, copy=False), T.counts.astype(np.int64, copy=False)

    if O is T:  # the sensitive statistics: no look-ups needed
        in_t = in_o = np.ones(len(O), dtype=bool)
        t_of_o, o_of_t = tc, oc
    else:
        idx_in_t = T.index(O.keys)
        in_t = idx_in_t >= 0
        t_of_o = np.where(in_t, tc[np.maximum(idx_in_t, 0)] if len(tc) else 0, 0)
        idx_in_o = O.index(T.keys)
        in_o = idx_in_o >= 0
        o_of_t = np.where(in_o, oc[np.maximum(idx_in_o, 0)] if len(oc) else 0, 0)
    return _statistics(kind, k, L, O.n_records, T.n_records, lo, oc, in_t, t_of_o,
                       lt, tc, in_o, o_of_t, risk)


def _sorted_key_lengths(keys: np.ndarray, r: int) -> np.ndarray:
    """``key_lengths`` for an ascending key array: keys of length l lie in [r^(l-1), r^l)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    top = int(key_lengths(keys[-1:], r)[0])
    edges = [0] + [int(np.searchsorted(keys, r ** l)) for l in range(top)] + [len(keys)]
    return repeat(np.arange(top + 1, dtype=np.int64), np.diff(edges))


@dataclass
class _Counts:
    """One aggregate table placed in a shared sorted key space: presence and count (0 if absent) per key."""

    present: np.ndarray
    counts: np.ndarray
    n_records: int


class _KeySpace:
    """Several aggregate tables of one domain over the sorted union of their keys, so that comparing two
    of them needs no look-ups (each table's keys are, in order, the space's keys where it is present)."""

    def __init__(self, keys: np.ndarray, r: int):
        self.keys, self.r = keys, r
        self.tables: list[_Counts] = []

    def add(self, present: np.ndarray, counts: np.ndarray, n_records: int) -> _Counts:
        entry = _Counts(present, counts, n_records)
        self.tables.append(entry)
        return entry

    def add_aggregates(self, agg: Aggregates, hint: np.ndarray | None = None) -> _Counts:
        """Place ``agg`` (same domain); ``hint`` is a presence mask to try before searching."""
        keys = agg.keys
        counts = agg.counts.astype(np.int64, copy=False)
        if hint is not None and int(hint.sum()) == len(keys) and np.array_equal(self.keys[hint], keys):
            present = hint
        else:
            pos = np.searchsorted(self.keys, keys)
            inside = pos < len(self.keys)
            if not (inside.all() and np.array_equal(self.keys[pos], keys)):
                self._extend(keys)
                pos = np.searchsorted(self.keys, keys)
            present = np.zeros(len(self.keys), dtype=bool)
            present[pos] = True
        full = np.zeros(len(self.keys), dtype=np.int64)
        full[present] = counts
        return self.add(present, full, agg.n_records)

    def _extend(self, keys: np.ndarray) -> None:
        new = np.union1d(self.keys, keys)
        pos = np.searchsorted(new, self.keys)
        for t in self.tables:
            present = np.zeros(len(new), dtype=bool)
            present[pos] = t.present
            counts = np.zeros(len(new), dtype=np.int64)
            counts[pos] = t.counts
            t.present, t.counts = present, counts
        self.keys = new
        self._lengths = None

    _lengths: np.ndarray | None = None

    def lengths(self) -> np.ndarray:
        if self._lengths is None:
            self._lengths = _sorted_key_lengths(self.keys, self.r)
        return self._lengths

    def compare(self, O: _Counts, T: _Counts, resolution: int, length: int, kind: str,
                risk: RiskSummary | None = None) -> "Statistics":
        """``compare`` of two tables of this space (both reaching ``length``, keys no longer)."""
        lengths = self.lengths()
        lo, oc = lengths[O.present], O.counts[O.present]
        if O is T:
            in_t = in_o = np.ones(len(oc), dtype=bool)
            lt, tc, t_of_o, o_of_t = lo, oc, oc, oc
        else:
            in_t, t_of_o = T.present[O.present], T.counts[O.present]
            lt, tc = lengths[T.present], T.counts[T.present]
            in_o, o_of_t = O.present[T.present], O.counts[T.present]
        return _statistics(kind, resolution, length, O.n_records, T.n_records, lo, oc, in_t, t_of_o,
                           lt, tc, in_o, o_of_t, risk)


def _statistics(kind: str, k: int, L: int, o_records, t_records,
                lo: np.ndarray, oc: np.ndarray, in_t: np.ndarray, t_of_o: np.ndarray,
                lt: np.ndarray, tc: np.ndarray, in_o: np.ndarray, o_of_t: np.ndarray,
                risk: RiskSummary | None) -> "Statistics":
    """The metrics from both tables' combinations in key order: lengths, counts, presence in the other
    table and the other table's count (0 where absent)."""
    n_o, n_t = len(oc), len(tc)
    # Both key orders put shorter combinations first, so each length is one slice of each table.
    eo = np.searchsorted(lo, np.arange(1, L + 2))
    et = np.searchsorted(lt, np.arange(1, L + 2))

    def seg_count(mask: np.ndarray, e: np.ndarray) -> np.ndarray:
        return np.array([np.count_nonzero(mask[e[i]:e[i + 1]]) for i in range(L)], dtype=np.int64)

    def seg_sum(values: np.ndarray, e: np.ndarray) -> np.ndarray:
        # exact integer sums; as floats they equal bincount's (exact) sums of the integer-valued weights
        return np.array([int(values[e[i]:e[i + 1]].sum()) for i in range(L)], dtype=np.int64).astype(np.float64)

    common = int(np.count_nonzero(in_t))
    suppressed = n_o - common
    fabricated = n_t - int(np.count_nonzero(in_o))
    abs_err = np.abs(oc - t_of_o)
    abs_err[~in_t] = 0

    # by length
    o_n_l = np.diff(eo).astype(np.int64)
    t_n_l = np.diff(et).astype(np.int64)
    common_l = seg_count(in_t, eo)
    err_l = seg_sum(abs_err, eo)
    rare_t = tc < k
    n_rare = int(np.count_nonzero(rare_t))
    rare_l = seg_count(rare_t, et)
    unique_t = tc == 1
    n_unique = int(np.count_nonzero(unique_t))
    unique_l = seg_count(unique_t, et)
    small_o = oc < k
    leak = small_o & in_t & (t_of_o < k)
    n_leak = int(np.count_nonzero(leak))
    leak_l = seg_count(leak, eo)
    small_in_t = int(np.count_nonzero(small_o & (oc > 0) & in_t))

    # Preservation population: every c ∈ T, then the c ∈ O \ T with O(c) ≥ k (T count 0). The latter
    # all fall in the first bucket with preservation 0 and proportional error exactly 1; float sums are
    # accumulated in population order, as a bincount over the whole population would.
    o_only = ~(small_o | in_t)
    n_only = int(np.count_nonzero(o_only))
    only_l = seg_count(o_only, eo)
    # T = O with every count > 0: T/O is exactly 1 and |T − O| / O exactly 0, so the float sums below
    # are whole numbers that counting gives exactly.
    identical = o_of_t is tc and (n_t == 0 or int(tc.min()) > 0)
    if not identical:
        # preservation = min(T/O, 1) (0 without O); proportional error = |T − O| / O (1 without O)
        pt = tc.astype(np.float64)
        po = o_of_t.astype(np.float64)
        lacks_o = ~(po > 0)
        safe_o = po.copy()
        safe_o[lacks_o] = 1.0
        preservation = np.divide(pt, safe_o)
        np.minimum(preservation, 1.0, out=preservation)
        preservation[lacks_o] = 0.0
        prop_err = np.subtract(pt, po)
        np.abs(prop_err, out=prop_err)
        np.divide(prop_err, safe_o, out=prop_err)
        prop_err[lacks_o] = 1.0

    top = int(tc.max()) if n_t else 0
    bins = count_bins(top)
    nb = len(bins)
    bucket = None
    if n_t and int(tc.min()) >= 0 and top <= 4 * n_t + 65536 and et[0] == 0 and et[-1] == n_t:
        # Histograms of the T counts per length give every whole-number bucket sum exactly.
        bucket_of = np.searchsorted(bins, np.arange(top + 1), side="left")
        hist = [bincount(tc[et[i]:et[i + 1]], minlength=top + 1).astype(np.int64) for i in range(L)]
        all_hist = sum(hist, np.zeros(top + 1, dtype=np.int64))
        b_size = bincount(bucket_of, weights=all_hist, minlength=nb).astype(np.int64)
        len_sum = bincount(bucket_of, weights=sum((h * (i + 1) for i, h in enumerate(hist)),
                                                  np.zeros(top + 1, dtype=np.int64)), minlength=nb)
        cnt_sum = bincount(bucket_of, weights=all_hist * np.arange(top + 1), minlength=nb)
        if not identical:
            bucket = bucket_of[tc]
    else:
        pt = tc.astype(np.float64)
        bucket = np.searchsorted(bins, pt, side="left")
        b_size = bincount(bucket, minlength=nb).astype(np.int64)
        len_sum = bincount(bucket, weights=lt.astype(np.float64), minlength=nb)
        cnt_sum = bincount(bucket, weights=pt, minlength=nb)
    if identical:
        pres_sum = b_size.astype(np.float64)
        err_sum = np.zeros(nb, dtype=np.float64)
        pres_l = t_n_l.astype(np.float64)
        err_l_pop = np.zeros(L, dtype=np.float64)
    else:
        pres_sum = bincount(bucket, weights=preservation, minlength=nb)
        err_sum = bincount(bucket, weights=prop_err, minlength=nb)
        pres_l = _by_length(lt, L, preservation)
        err_l_pop = _by_length(lt, L, prop_err)
    b_size[0] += n_only
    len_sum[0] += float(int(lo[o_only].sum()))
    b_pres = _mean(pres_sum, b_size)
    b_len = _mean(len_sum, b_size)
    b_cnt = _mean(cnt_sum, b_size)
    err_sum[0] = _add_ones(err_sum[0], n_only)
    b_err = _mean(err_sum, b_size)
    by_count = pd.DataFrame({"bin": bins, "size": b_size.astype(np.int64), "mean_preservation": b_pres,
                             "mean_length": b_len, "mean_count": b_cnt, "mean_proportional_error": b_err})
    nonempty = b_size > 0
    mpe = float(b_err[nonempty].mean()) if nonempty.any() else 0.0
    mpe_all = float(b_err.mean())

    p_size = t_n_l + only_l
    err_by_len = np.array([_add_ones(err_l_pop[i], int(only_l[i])) for i in range(L)], dtype=np.float64)
    t_sum_l = seg_sum(tc, et)
    by_length = pd.DataFrame({
        "length": np.arange(1, L + 1, dtype=np.int64),
        "original_combinations": o_n_l,
        "original_count_mean": _mean(seg_sum(oc, eo), o_n_l),
        "mean_absolute_error": _mean(err_l, common_l),
        "common_combinations": common_l,
        "suppressed_combinations": o_n_l - common_l,
        "fabricated_combinations": t_n_l - seg_count(in_o, et),
        "distinct_combinations": t_n_l,
        "target_count_mean": _mean(t_sum_l, t_n_l),
        "rare_combinations": rare_l,
        "rare_percentage": _pct(rare_l, t_n_l),
        "unique_combinations": unique_l,
        "leakage_count": leak_l,
        "leakage_percentage": _pct(leak_l, o_n_l),
        "preservation_size": p_size,
        "mean_preservation": _mean(pres_l, p_size),
        "preservation_mean_count": _mean(t_sum_l, p_size),
        "mean_proportional_error": _mean(err_by_len, p_size),
    })

    return Statistics(
        kind=kind, resolution=k, length=L,
        original_records=int(o_records), target_records=int(t_records),
        original_combinations=n_o, target_combinations=n_t, common_combinations=common,
        suppressed_combinations=suppressed, fabricated_combinations=fabricated,
        suppressed_percentage=float(100.0 * suppressed / n_o) if n_o else 0.0,
        fabricated_percentage=float(100.0 * fabricated / n_o) if n_o else 0.0,
        original_count_mean=float(int(oc.sum())) / n_o if n_o else 0.0,
        target_count_mean=float(int(tc.sum())) / n_t if n_t else 0.0,
        mean_absolute_error=float(int(abs_err.sum())) / common if common else 0.0,
        record_expansion_percentage=(100.0 * (t_records / o_records - 1.0)) if o_records else 0.0,
        unique_combinations_percentage=float(100.0 * n_unique / n_t) if n_t else 0.0,
        rare_combinations_percentage=float(100.0 * n_rare / n_t) if n_t else 0.0,
        records_with_unique_percentage=risk.unique_percentage if risk is not None else float("nan"),
        records_with_rare_percentage=risk.rare_percentage if risk is not None else float("nan"),
        leakage_count=n_leak,
        leakage_percentage=float(100.0 * n_leak / n_o) if n_o else 0.0,
        target_in_rare_original=small_in_t,
        mean_proportional_error=mpe, mean_proportional_error_all_bins=mpe_all,
        by_length=by_length, by_count_bucket=by_count,
    )


# ---- marginals --------------------------------------------------------------------------------------
def _densify(key: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Dense ids 0..n-1 of the distinct values of ``key`` (values < ``space``), and n."""
    if space <= 4 * len(key) + 65536:
        present = bincount(key, minlength=space) > 0
        remap = np.cumsum(present) - 1
        return remap[key], int(present.sum())
    uniq, inv = np.unique(key, return_inverse=True)
    return inv.reshape(-1), len(uniq)


MARGINAL_WIDTHS = (1, 2, 3)


class _MarginalScan:
    """:func:`marginal_errors` of two stacked tables from the groups of a scan that counts absent as a
    value (``absent_as_value`` ≥ the largest width): the groups of a column set are exactly the cells
    present in either table, in the same ascending order, so every figure is computed identically."""

    def __init__(self, n_sensitive: int, n_synthetic: int, widths: list[int]):
        self.widths = list(widths)
        self.inv_s, self.inv_y = 1.0 / max(n_sensitive, 1), 1.0 / max(n_synthetic, 1)
        self.errors: dict[int, list[float]] = {w: [] for w in self.widths}

    def add(self, g) -> None:
        errors = self.errors.get(len(g.columns))
        if errors is None:
            return
        cs, cy = g.counts
        errors.append(float(np.abs(cs * self.inv_s - cy * self.inv_y).mean()) if len(cs) else 0.0)

    def result(self) -> dict[int, float]:
        return {w: float(np.mean(e)) if e else 0.0 for w, e in self.errors.items()}


def marginal_errors(sensitive: EncodedTable, synthetic: EncodedTable,
                    widths: Iterable[int] = (1, 2, 3)) -> dict[int, float]:
    """Mean absolute error of all ``w``-way marginals, as proportions of each table's records.

    For every set of ``w`` columns, each table gives the distribution of its records over the value
    combinations of those columns — **"absent" counts as a value of its own**, so every record falls in
    exactly one cell and each distribution sums to 1 (a generator that drops values is penalised). The
    error of one column set is the mean of |p_sensitive − p_synthetic| over the cells present in either
    table; the figure for ``w`` is the mean over all column sets of that size. 0 means identical
    marginals; two tables without a cell in common score 2 / (number of cells of both). Widths larger than
    the number of columns are left out of the result. An empty table has all proportions 0.
    """
    sens, syn = align_tables(sensitive, synthetic)
    radices = sens.domain.sizes.astype(np.int64) + 1
    n_s = sens.n_records
    inv_s, inv_y = 1.0 / max(n_s, 1), 1.0 / max(syn.n_records, 1)
    codes = np.concatenate([sens.codes, syn.codes]).astype(np.int64) + 1   # 0 = absent
    m = sens.domain.n_columns
    out: dict[int, float] = {}
    for w in widths:
        w = int(w)
        if w < 1:
            raise ParameterError(f"marginal widths must be ≥ 1, not {w}")
        if w > m:
            continue
        errors = []
        prefix: tuple[int, ...] | None = None
        prefix_ids, n_prefix = np.zeros(len(codes), dtype=np.int64), 1
        # Column sets in lexicographic order: the dense cell ids of the first w−1 columns are reused.
        for cols in itertools.combinations(range(m), w):
            if cols[:-1] != prefix:
                prefix = cols[:-1]
                prefix_ids, n_prefix = np.zeros(len(codes), dtype=np.int64), 1
                for c in prefix:
                    prefix_ids, n_prefix = _densify(prefix_ids * radices[c] + codes[:, c], n_prefix * int(radices[c]))
            last = cols[-1]
            key = prefix_ids * radices[last] + codes[:, last]
            space = n_prefix * int(radices[last])
            if space > 4 * len(key) + 65536:
                key, space = _densify(key, space)
            cs = bincount(key[:n_s], minlength=space)
            cy = bincount(key[n_s:], minlength=space)
            cells = (cs > 0) | (cy > 0)
            if not cells.any():
                errors.append(0.0)
                continue
            errors.append(float(np.abs(cs[cells] * inv_s - cy[cells] * inv_y).mean()))
        out[w] = float(np.mean(errors)) if errors else 0.0
    return out


def _as_category_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    values = pd.concat([real, synthetic], ignore_index=True)
    values = values.astype(object).where(values.notna(), "").astype(str)
    codes, uniques = pd.factorize(values, sort=True)
    return codes[: len(real)].astype(np.int64), codes[len(real):].astype(np.int64), max(len(uniques), 1)


def k_marginal_score(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Iterable[str] | None = None,
                     *, group_mode: str = "within") -> float:
    """SDNist-2.4-style k-marginal score in [0, 1000] (1000 = identical 2-way marginals).

    What is computed, exactly:

    1. The evaluated columns are ``columns`` (default: every column of ``real``); each must exist in
       ``synthetic``. Values are categories compared as text (``str(value)``; missing/NaN and the empty
       string are the same category, its own). Numeric columns must already be binned by the caller.
    2. The *pairs* are all unordered pairs of evaluated columns other than ``PUMA`` and ``INDP`` (exact
       names).
    3. Without a ``PUMA`` column among the evaluated columns: for each pair, p_real and p_synthetic are
       the shares of each table's records in each value combination of the pair; the pair's distance is
       Σ |p_real − p_synthetic| over all combinations (0 … 2). Score = (2 − mean distance over pairs) × 500.
    4. With a ``PUMA`` column and ``group_mode="within"`` (default): steps 3 is done separately within each
       PUMA value of the real data (shares normalised by that PUMA's record count in each table; a PUMA
       with no synthetic record has distance 1 for every pair), giving one score per PUMA; the result
       is the unweighted mean over the real data's PUMAs. Synthetic records in PUMAs the real data lacks
       are ignored.
       ``group_mode="joint"`` instead reproduces SDNist 2.4's headline ``KMarginal.score``: each pair is
       extended to the 3-way marginal (PUMA, a, b) with shares of *all* records, score as in step 3.
    5. With fewer than two pair columns a ``ParameterError`` is raised; empty tables give shares of 0.
    """
    if group_mode not in ("within", "joint"):
        raise ParameterError(f"group_mode must be 'within' or 'joint', not {group_mode!r}")
    cols = list(real.columns) if columns is None else list(columns)
    missing = [c for c in cols if c not in real.columns or c not in synthetic.columns]
    if missing:
        raise ParameterError(f"column(s) {', '.join(map(str, missing))} are missing from one of the tables")
    pair_cols = [c for c in cols if c not in ("PUMA", "INDP")]
    if len(pair_cols) < 2:
        raise ParameterError("the k-marginal score needs at least two columns besides PUMA and INDP")
    enc = {c: _as_category_codes(real[c], synthetic[c]) for c in pair_cols}
    n_r, n_s = len(real), len(synthetic)
    if "PUMA" in cols:
        gr, gs, n_groups = _as_category_codes(real["PUMA"], synthetic["PUMA"])
    else:
        gr, gs, n_groups = np.zeros(n_r, np.int64), np.zeros(n_s, np.int64), 1
    within = "PUMA" in cols and group_mode == "within"
    size_r = bincount(gr, minlength=n_groups).astype(np.float64)
    size_s = bincount(gs, minlength=n_groups).astype(np.float64)
    if within:
        denom_r, denom_s = np.maximum(size_r, 1.0), np.maximum(size_s, 1.0)
    else:
        denom_r = np.full(n_groups, float(max(n_r, 1)))
        denom_s = np.full(n_groups, float(max(n_s, 1)))
    total = np.zeros(n_groups, dtype=np.float64)   # Σ over pairs of the per-group distance
    pairs = list(itertools.combinations(pair_cols, 2))
    # Cells (group, a, b) in ascending order of (group, a, b): dense ids of (group, a) are computed once
    # per a and extended by b (the same cells in the same order as a sort of the full keys).
    g_all = np.concatenate([gr, gs])
    prefix_of: str | None = None
    for a, b in pairs:
        if a != prefix_of:
            prefix_of = a
            ar, as_, na = enc[a]
            a_all = np.concatenate([ar, as_])
            uniq_ga, ga, _ = _dense_groups(g_all * na + a_all, a_all, g_all, na, n_groups * na)
            group_of_ga = uniq_ga // na
        br, bs, nb = enc[b]
        b_all = np.concatenate([br, bs])
        uniq, inv, _ = _dense_groups(ga * nb + b_all, b_all, ga, nb, len(uniq_ga) * nb)
        cr = bincount(inv[:n_r], minlength=len(uniq)).astype(np.float64)
        cs = bincount(inv[n_r:], minlength=len(uniq)).astype(np.float64)
        group = group_of_ga[uniq // nb]
        diff = np.abs(cr / denom_r[group] - cs / denom_s[group])
        total += bincount(group, weights=diff, minlength=n_groups)
    mean_dist = total / len(pairs)
    if within:
        present = size_r > 0
        scores = (2.0 - mean_dist[present]) * 500.0
        return float(scores.mean()) if len(scores) else 0.0
    return float((2.0 - mean_dist.sum()) * 500.0)


# ---- k-anonymity check ------------------------------------------------------------------------------
def check_k_anonymity(sensitive: EncodedTable, synthetic: EncodedTable, resolution: int, length: int | None,
                      *, max_messages: int | None = 100) -> list[str]:
    """Combinations in the synthetic records that match fewer than k sensitive records.

    Every combination of present values of length ≤ ``length`` that occurs in at least one synthetic
    record must be held by at least k sensitive records (0 is a violation too: a made-up combination
    of values). ``length=None`` checks every length up to the number of columns, which enumerates all
    combinations of every record — feasible for small tables only (a few columns or a few thousand
    records; it also fails when the keys of such long combinations do not fit in 64 bits). Returns one
    sentence per violation — most frequent in the synthetic data first, then fewest sensitive matches,
    then shortest — at most ``max_messages`` of them followed by a count of the rest; an empty list
    means the check passed.
    """
    k = check_resolution(resolution)
    sens, syn = align_tables(sensitive, synthetic)
    L = sens.domain.n_columns if length is None else min(check_length(length), sens.domain.n_columns)
    if L > max_key_length(sens.domain):
        raise ParameterError(f"checking combinations of length {L} is not possible for "
                             f"{sens.domain.n_attributes} distinct values; give a smaller length")
    sa = aggregate(sens, L)
    ya = aggregate(syn, L)
    found = _lookup(sa, ya.keys)
    bad = np.flatnonzero(found < k)
    if len(bad) == 0:
        return []
    lengths = ya.lengths()
    order = bad[np.lexsort((ya.keys[bad], lengths[bad], found[bad], -ya.counts[bad]))]
    shown = order if max_messages is None else order[:max_messages]
    sub = ya.subset(np.isin(np.arange(len(ya)), shown))
    text_of = dict(zip(sub.keys.tolist(), sub.combination_labels()))
    out = []
    for i in shown:
        n_syn, n_sen = int(ya.counts[i]), int(found[i])
        what = "no sensitive record" if n_sen == 0 else ("only 1 sensitive record" if n_sen == 1
                                                          else f"only {n_sen} sensitive records")
        rec = "record" if n_syn == 1 else "records"
        out.append(f"'{text_of[int(ya.keys[i])]}' occurs in {n_syn} synthetic {rec} but matches {what} "
                   f"(fewer than k={k}).")
    if len(order) > len(shown):
        out.append(f"… and {len(order) - len(shown)} more combination(s) matching fewer than k={k} sensitive records.")
    return out


# ---- the full evaluation ----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Evaluation:
    """The four statistics of reference 7.1 plus the sensitive data's risk and marginal errors."""

    resolution: int
    length: int
    sensitive_records: int
    synthetic_records: int
    reportable_kind: str
    sensitive: Statistics
    aggregate: Statistics
    synthetic: Statistics
    synthetic_vs_aggregate: Statistics
    risk: RiskSummary
    marginal_errors: dict
    k_marginal: float
    sensitive_aggregates: Aggregates = field(repr=False)
    reportable_aggregates: Aggregates = field(repr=False)
    synthetic_aggregates: Aggregates = field(repr=False)

    def statistics(self) -> dict[str, Statistics]:
        return {"sensitive": self.sensitive, "aggregate": self.aggregate, "synthetic": self.synthetic,
                "synthetic_vs_aggregate": self.synthetic_vs_aggregate}

    def dp_leakage_percentage(self) -> float:
        """100 · Σ_l leakage_l / Σ_l |sensitive combinations of length l| (synthetic vs sensitive)."""
        s = self.synthetic
        return 100.0 * s.leakage_count / s.original_combinations if s.original_combinations else 0.0

    def summary_sentences(self, mode_is_dp: bool) -> dict[str, str]:
        """The four sentences of reference 7.3, keyed by topic."""
        k, L = self.resolution, self.length
        up_to = f"up to {L} details" if L > 1 else "1 detail"
        unique = self.risk.unique_percentage
        rare_only = max(self.risk.rare_percentage - unique, 0.0)
        sens = (f"Sensitive data privacy: {unique:.1f}% of the records in the sensitive data have a combination of "
                f"{up_to} (column values) that no other record shares, and another {rare_only:.1f}% have one shared "
                f"by fewer than {k} records. Someone who knows those few details about a person could pick out "
                "their record, which is why the sensitive data must not be shared.")
        ag = self.aggregate
        what = "removed by the privacy protection" if mode_is_dp else f"dropped because fewer than {k} records share them"
        agg = (f"Aggregate data utility: the protected counts leave out {ag.suppressed_percentage:.1f}% of the "
               f"combinations of the sensitive data ({what}), and the counts that are reported differ from the "
               f"true counts by {ag.mean_absolute_error:.1f} on average.")
        if mode_is_dp:
            syn_priv = (f"Synthetic data privacy: {self.dp_leakage_percentage():.1f}% of the combinations in the "
                        f"sensitive data also appear in the synthetic data as groups smaller than {k}; they are "
                        "protected by differential privacy, which adds random noise so that no one can tell "
                        "whether any particular person was in the sensitive data.")
        else:
            small = self.synthetic.target_in_rare_original
            if small == 0:
                syn_priv = (f"Synthetic data privacy: no combination of {up_to} in the synthetic data matches a "
                            f"group of fewer than {k} people in the sensitive data, so the synthetic records "
                            "cannot single anyone out through such combinations.")
            else:
                syn_priv = (f"Synthetic data privacy: WARNING — {small} combination(s) of {up_to} in the synthetic "
                            f"data match a group of fewer than {k} people in the sensitive data. Check the "
                            "synthesis settings before sharing the synthetic data.")
        kept = 100.0 - self.synthetic_vs_aggregate.suppressed_percentage
        syn_util = (f"Synthetic data utility: the synthetic data keeps {kept:.1f}% of the combinations reported "
                    f"in the protected counts, and counting records in the synthetic data gives numbers that "
                    f"differ from the true counts by {self.synthetic.mean_absolute_error:.1f} on average.")
        return {"sensitive_privacy": sens, "aggregate_utility": agg, "synthetic_privacy": syn_priv,
                "synthetic_utility": syn_util}

    def summary_text(self, mode_is_dp: bool) -> str:
        """Four plain-language sentences (privacy and utility of sensitive, aggregate, synthetic data)."""
        return "\n\n".join(self.summary_sentences(mode_is_dp).values()) + "\n"

    def to_json(self) -> dict:
        """Every figure as a plain JSON-ready dict (for ``--json REPORT.json``).

        Includes the summary sentences, worded for DP when the released aggregates are of kind ``dp``.
        """
        risk = self.risk
        return _clean({
            "resolution": self.resolution,
            "length": self.length,
            "sensitive_records": self.sensitive_records,
            "synthetic_records": self.synthetic_records,
            "reportable_kind": self.reportable_kind,
            "statistics": {name: s.to_dict() for name, s in self.statistics().items()},
            "risk": {
                "records": risk.n_records,
                "records_with_unique": risk.records_with_unique,
                "records_with_rare": risk.records_with_rare,
                "unique_percentage": risk.unique_percentage,
                "rare_percentage": risk.rare_percentage,
                "headline": risk.headline(),
                "by_length": risk.by_length,
            },
            "marginal_errors": {str(w): v for w, v in self.marginal_errors.items()},
            "k_marginal": self.k_marginal,
            "dp_leakage_percentage": self.dp_leakage_percentage(),
            "summary": self.summary_sentences(self.reportable_kind == "dp"),
        })


def evaluate(sensitive: EncodedTable, synthetic: EncodedTable, resolution: int, length: int,
             reportable: Aggregates | None = None, sensitive_aggregates: Aggregates | None = None,
             progress: ProgressCallback | Progress | None = None) -> Evaluation:
    """Aggregate both tables exactly up to ``length`` and compute every figure.

    ``reportable`` are the released aggregates of an aggregate-based run (k-anonymous or DP); without
    them the sensitive aggregates are protected with k (row-/unseeded runs, reference 7.1).
    ``sensitive_aggregates`` saves re-counting the sensitive data (it must reach ``length``).
    """
    k = check_resolution(resolution)
    sens, syn = align_tables(sensitive, synthetic)
    dom = sens.domain
    for agg in (reportable, sensitive_aggregates):  # released DP counts may use values the tables lack
        if agg is not None:
            dom = _union_domain(dom, agg.domain)
    if not dom.same_as(sens.domain):
        sens, syn = sens.recode(dom), syn.recode(dom)
    L = min(check_length(length), sens.domain.n_columns)
    prog = as_progress(progress)
    if sensitive_aggregates is not None and min(sensitive_aggregates.length, sens.domain.n_columns) < L:
        raise ParameterError(f"the sensitive aggregates reach length {sensitive_aggregates.length}, but the "
                             f"evaluation needs length {L}")
    if reportable is not None and min(reportable.length, sens.domain.n_columns) != L:
        raise ParameterError(f"the released aggregates were computed up to length {reportable.length}, but the "
                             f"evaluation uses the aggregation limit {L}; use the same limit")
    # One scan of both tables: exact counts of each over the union of their combinations, and the
    # sensitive data's risk summary.
    # The same scan counts the cells of the 1-/2-/3-way marginals (absent as a value) up to length L.
    marginals = _MarginalScan(sens.n_records, syn.n_records, [w for w in MARGINAL_WIDTHS if w <= L])
    keys, (cs, cy), risk = aggregate_and_assess_risk([sens, syn], k, L, prog.slice(0.0, 0.85), visit=marginals.add,
                                                     absent_as_value=max(marginals.widths, default=0))
    space = _KeySpace(keys, radix(sens.domain))
    in_s, in_y = cs > 0, cy > 0
    if sensitive_aggregates is None:
        sens_agg = Aggregates(sens.domain, L, keys[in_s], cs[in_s], sens.n_records)
        s_entry = space.add(in_s, cs, sens.n_records)
    else:
        sens_agg = _up_to(sensitive_aggregates.recode(sens.domain), L)
        s_entry = space.add_aggregates(sens_agg, hint=in_s)
    syn_agg = Aggregates(sens.domain, L, keys[in_y], cy[in_y], syn.n_records, kind="synthetic")
    y_entry = space.add(in_y, cy, syn.n_records)
    if reportable is None:
        rep = protect_k(sens_agg, k)
        rounded = (s_entry.counts // k) * k
        r_entry = space.add(rounded > 0, rounded, sens_agg.n_records)
    else:
        rep = reportable.recode(sens.domain)
        r_entry = space.add_aggregates(_up_to(rep, L))
    prog(0.85, "comparing aggregates")
    stats = {
        "sensitive": space.compare(s_entry, s_entry, k, L, "sensitive", risk=risk),
        "aggregate": space.compare(s_entry, r_entry, k, L, "aggregate"),
        "synthetic": space.compare(s_entry, y_entry, k, L, "synthetic"),
        "synthetic_vs_aggregate": space.compare(r_entry, y_entry, k, L, "synthetic_vs_aggregate"),
    }
    prog(0.9, "comparing marginals")
    rest = [w for w in MARGINAL_WIDTHS if w > L]
    marg = {**marginals.result(), **(marginal_errors(sens, syn, rest) if rest else {})}
    km = k_marginal_score(sens.to_frame(), syn.to_frame()) if sens.domain.n_columns >= 2 else float("nan")
    prog(1.0, "evaluation done")
    return Evaluation(resolution=k, length=L, sensitive_records=sens.n_records, synthetic_records=syn.n_records,
                      reportable_kind=rep.kind, risk=risk, marginal_errors=marg, k_marginal=km,
                      sensitive_aggregates=sens_agg, reportable_aggregates=rep, synthetic_aggregates=syn_agg,
                      **stats)
