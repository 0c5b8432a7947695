"""Aggregate-seeded synthesis (reference 4.4 + 5.4): records built only from aggregate counts.

The sequential reference builds one record at a time. For the record so far and each candidate attribute
(available, column not yet in the record) it forms C = record ∪ {candidate}:

* |C| ≤ L: weight = count(C) [− synthetic(C) with synthetic counts]; excluded if C is not in the
  aggregates (or the weight is not positive);
* |C| > L: the weights (same rule) of every sub-combination of C of length 1..L that contains the
  candidate; excluded if any is missing (or not positive); weight = the ``weight_selection_percentile``
  of them (numpy ``median_unbiased`` = statrs "R type 8"), rounded half away from zero.

One candidate is drawn by weight; its availability (initially the aggregate 1-count) is decremented and,
with synthetic counts, every sub-combination of length ≤ L of the new record that contains it is counted.
A record ends when nothing can be drawn. Without a target, records are built until availability is used
up; with a target, availability is reset (and synthetic counts cleared) whenever it runs out.

Here a *batch* of records grows in lock-step, one attribute per record per step, everything vectorised:

* every combination of length ≤ L−1 in the aggregates has a *row* (0 = the empty combination), and a
  lookup table maps (row of S, attribute a) → position of S ∪ {a} in the aggregates (dense when it fits,
  else sorted keys + ``searchsorted``);
* each record keeps the row of each of its sub-combinations of length ≤ L−1, indexed by column set, so
  the sub-combinations {a} ∪ S of a candidate are one gather;
* candidates are pruned with the empty set and the single attributes of the record first (dense
  (records × attributes) masks), then the survivors get all their sub-combination weights and a per-row
  percentile (``np.partition``);
* conflicts inside a step are resolved exactly: proposals are taken in batch order, and a proposal is
  accepted only if, for every combination it must check, the number of proposals before it (accepted or
  not) that would count that combination is below the combination's remaining count, and likewise for
  availability. Rejected records simply draw again at the next step. So every accepted attribute
  satisfies the reference's rule against the counts as they are after all earlier accepted ones.

Invariants (as in the reference): every combination of length ≤ L that is ``record ∪ {attribute}`` at
the time an attribute is added is in the aggregates and, with synthetic counts, its synthetic count
never exceeds its aggregate count (within one availability cycle); every single attribute is used at
most its 1-count times per cycle; records longer than L also have every sub-combination (≤ L) holding
the newest attribute in the aggregates. For aggregates closed under taking sub-combinations (what
:func:`~localsynth.aggregate.protect_k` and :func:`~localsynth.dp.dp_aggregate` produce) this means no
synthetic record holds a combination of length ≤ L that is absent from the aggregates.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._np import bincount, ragged_ranges, repeat
from ..aggregate import Aggregates, key_lengths, pack, radix, unpack
from ..errors import ParameterError
from ..progress import Progress, ProgressCallback, as_progress
from ..table import ABSENT, EncodedTable
from .base import Synthesizer, finish, group_rank, make_rng

__all__ = ["AggregateSeeded", "row_percentile"]

_BATCH = 4096                 # records growing in lock-step
_TAIL = 8                     # a batch makes at most 1/_TAIL of the records still possible
_CHUNK = 1 << 22              # elements per gathered block (memory bound)
_DENSE_LIMIT = 1 << 26        # entries of the dense (row, attribute) table (int32: 256 MB)
_STATE_LIMIT = 1 << 24        # entries of the per-record sub-combination state


def _round_half_away(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def row_percentile(values: np.ndarray, p: float) -> np.ndarray:
    """``np.percentile(values, p, axis=1, method="median_unbiased")`` for a 2-D array, via ``np.partition``
    (only the two order statistics needed; same arithmetic as numpy, so identical results)."""
    values = np.asarray(values)
    n, g = values.shape
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    q = np.true_divide(p, 100)
    vi = g * q + (1 / 3.0 + q * (1 - 1 / 3.0 - 1 / 3.0)) - 1
    if vi >= g - 1:
        lo = hi = g - 1
        gamma = 0.0
    elif vi < 0:
        lo = hi = 0
        gamma = 0.0
    else:
        lo = int(math.floor(vi))
        hi = lo + 1
        gamma = float(vi - lo)
    part = np.partition(values, sorted({lo, hi}), axis=1)
    a = part[:, lo].astype(np.float64)
    b = part[:, hi].astype(np.float64)
    diff = b - a
    if gamma >= 0.5:
        return b - diff * (1 - gamma)
    return a + diff * gamma


class _Lookup:
    """Position in the aggregates of S ∪ {a} for the row of S (0 = ∅, 1 + position for |S| ≤ L−1) and an
    attribute a; −1 where absent (or where the row is negative)."""

    def __init__(self, keys: np.ndarray, lengths: np.ndarray, r: int, L: int, A: int):
        self.A = A
        n_short = int(np.count_nonzero(lengths <= L - 1))
        # lengths are contiguous in key order: every key of length l is below every key of length l + 1
        assert np.all(lengths[:n_short] <= L - 1)
        self.n_rows = 1 + n_short
        rows, attrs, pos = [], [], []
        width = int(lengths.max(initial=1))
        for l in range(1, L + 1):
            sel = np.flatnonzero(lengths == l)
            if not len(sel):
                continue
            at = unpack(keys[sel], r, width)[:, :l]
            for j in range(l):
                if l == 1:
                    row = np.zeros(len(sel), dtype=np.int64)
                else:
                    sub = pack(np.delete(at, j, axis=1), r)
                    p = np.searchsorted(keys, sub)
                    p = np.minimum(p, len(keys) - 1)
                    row = np.where(keys[p] == sub, p + 1, -1)
                ok = row >= 0
                rows.append(row[ok])
                attrs.append(at[ok, j])
                pos.append(sel[ok])
        rows_a = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        attrs_a = np.concatenate(attrs) if attrs else np.zeros(0, np.int64)
        pos_a = np.concatenate(pos) if pos else np.zeros(0, np.int64)
        self.entry_rows, self.entry_attrs, self.entry_pos = rows_a, attrs_a, pos_a
        self.dense = self.n_rows * max(A, 1) <= _DENSE_LIMIT
        if self.dense:
            dtype = np.int32 if len(keys) < 2 ** 31 - 1 else np.int64
            self.table = np.full((self.n_rows, A), -1, dtype=dtype)
            self.table[rows_a, attrs_a] = pos_a
        else:
            g = rows_a * A + attrs_a
            order = np.argsort(g)
            self.gkeys = g[order]
            self.gpos = pos_a[order]

    def __call__(self, rows: np.ndarray, attrs: np.ndarray) -> np.ndarray:
        """Elementwise (broadcast) lookup."""
        rows = np.asarray(rows, dtype=np.int64)
        attrs = np.asarray(attrs, dtype=np.int64)
        ok = rows >= 0
        if self.dense:
            out = self.table[np.where(ok, rows, 0), attrs].astype(np.int64)
        else:
            g = np.where(ok, rows, 0) * self.A + attrs
            if len(self.gkeys) == 0:
                return np.full(np.broadcast(rows, attrs).shape, -1, dtype=np.int64)
            p = np.minimum(np.searchsorted(self.gkeys, g), len(self.gkeys) - 1)
            out = np.where(self.gkeys[p] == g, self.gpos[p], -1)
        return np.where(ok, out, -1)

    def rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), A) positions of S ∪ {a} for every attribute a."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.dense:
            out = self.table[np.maximum(rows, 0)].astype(np.int64)
            out[rows < 0] = -1
            return out
        return self(rows[:, None], np.arange(self.A, dtype=np.int64)[None, :])


class _Remaining:
    """Remaining counts (aggregate − synthetic) per aggregate position, and — with a dense lookup — the same
    values laid out as a flat (row, attribute) table (0 where S ∪ {a} is absent), kept in step, so the
    weight of a candidate sub-combination is one gather."""

    def __init__(self, counts: np.ndarray, look: _Lookup):
        self.look = look
        self.counts0 = counts
        self.A = look.A
        if look.dense:
            flat = look.entry_rows * look.A + look.entry_attrs
            order = np.argsort(look.entry_pos, kind="stable")
            self.rev_flat = flat[order]
            self.rev_len = bincount(look.entry_pos, minlength=len(counts)).astype(np.int64)
            self.rev_start = np.cumsum(self.rev_len) - self.rev_len
            dtype = np.int32 if counts.max(initial=0) < 2 ** 31 - 1 else np.int64
            self.table0 = np.zeros(look.n_rows * look.A, dtype=dtype)
            self.table0[flat] = counts[look.entry_pos]
        self.reset()

    def reset(self) -> None:
        self.cap = self.counts0.copy()
        if self.look.dense:
            self.flat = self.table0.copy()

    def get(self, rows: np.ndarray, attrs: np.ndarray) -> np.ndarray:
        """Remaining count of S ∪ {a} (broadcast), 0 where absent; ``rows`` must be ≥ 0."""
        if self.look.dense:
            return self.flat[np.asarray(rows, dtype=np.int64) * self.A + attrs]
        pos = self.look(rows, attrs)
        return np.where(pos >= 0, self.cap[np.maximum(pos, 0)], 0)

    def get_rows(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), A) remaining counts of S ∪ {a} for every attribute; rows must be ≥ 0."""
        if self.look.dense:
            return self.flat.reshape(self.look.n_rows, self.A)[rows]
        return self.get(np.asarray(rows)[:, None], np.arange(self.A, dtype=np.int64)[None, :])

    def decrement(self, positions: np.ndarray) -> None:
        """One more synthetic occurrence of each combination in ``positions`` (repeats allowed)."""
        if not len(positions):
            return
        c = bincount(positions, minlength=len(self.cap))
        u = np.flatnonzero(c)
        self.cap[u] -= c[u]
        if self.look.dense:
            idx = self.rev_flat[ragged_ranges(self.rev_start[u], self.rev_len[u])]
            self.flat[idx] = repeat(self.cap[u], self.rev_len[u])


class AggregateSeeded(Synthesizer):
    """Synthetic records from aggregate counts only (k-anonymous or DP aggregates), reference 5.4.

    * ``use_synthetic_counts``: weights are aggregate − synthetic counts, so combinations are not
      over-produced (reference default: on).
    * ``weight_selection_percentile``: for records longer than L, the weight of a candidate is this
      percentile of the weights of its sub-combinations (default 95).
    * ``target_records``: produce exactly this many (non-empty) records, resetting availability when it
      runs out; None = use up the 1-counts once (usually more records than the aggregates' record count,
      reference quirk 11). ``sample(n)`` overrides it.
    * ``scale_factor`` s > 0: every count becomes ceil(count·s) first.
    """

    def __init__(self, use_synthetic_counts: bool = True, weight_selection_percentile: float = 95,
                 target_records: int | None = None, scale_factor: float | None = None):
        if not isinstance(use_synthetic_counts, (bool, np.bool_)):
            raise ParameterError(f"use synthetic counts must be True or False, not {use_synthetic_counts!r}")
        p = weight_selection_percentile
        if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0 <= p <= 100:
            raise ParameterError(f"weight selection percentile must be between 0 and 100, not {p!r}")
        self._check_target(target_records)
        s = scale_factor
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float, np.number))
                              or not math.isfinite(s) or s <= 0):
            raise ParameterError(f"scale factor must be a number > 0 (or unset), not {s!r}")
        self.use_synthetic_counts = bool(use_synthetic_counts)
        self.weight_selection_percentile = float(p)
        self.target_records = None if target_records is None else int(target_records)
        self.scale_factor = None if s is None else float(s)
        self.aggregates_: Aggregates | None = None

    @staticmethod
    def _check_target(n):
        if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0):
            raise ParameterError(f"number of records must be a whole number ≥ 0, not {n!r}")

    # ---- fit ------------------------------------------------------------------------------------------
    def fit(self, aggregates: Aggregates) -> "AggregateSeeded":
        if not isinstance(aggregates, Aggregates):
            raise ParameterError("aggregate-seeded synthesis is fitted on Aggregates (see localsynth.aggregate)")
        domain = aggregates.domain
        r = radix(domain)
        counts = aggregates.counts.astype(np.int64)
        if self.scale_factor is not None:
            counts = np.ceil(counts * self.scale_factor).astype(np.int64)
        keep = counts > 0                           # a zero count can never be drawn
        keys = aggregates.keys[keep]
        counts = counts[keep]
        lengths = key_lengths(keys, r)
        # not clamped to the longest combination present: a missing length means none is allowed
        L = max(1, min(int(aggregates.length), domain.n_columns))
        keep = lengths <= L
        keys, counts, lengths = keys[keep], counts[keep], lengths[keep]
        A = domain.n_attributes
        self._L = L
        self._counts = counts
        single = lengths == 1
        avail = np.zeros(A, dtype=np.int64)
        avail[keys[single] - 1] = counts[single]
        self._avail0 = avail
        self._lookup = _Lookup(keys, lengths, r, L, A)
        # column sets of size ≤ L−1, by size then lexicographic; index 0 = ∅
        m = domain.n_columns
        colsets = [()] + [cs for j in range(1, L) for cs in itertools.combinations(range(m), j)]
        index = {cs: i for i, cs in enumerate(colsets)}
        self._ncs = len(colsets)
        with_c = [[index[cs] for cs in colsets if c in cs] for c in range(m)]
        width = max((len(w) for w in with_c), default=0)
        dummy = self._ncs                              # an always-absent state column
        self._with = np.full((m, width), dummy, dtype=np.int64)
        self._base = np.full((m, width), dummy, dtype=np.int64)
        for c in range(m):
            for i, w in enumerate(with_c[c]):
                self._with[c, i] = w
                self._base[c, i] = index[tuple(x for x in colsets[w] if x != c)]
        self._group_size = [sum(math.comb(t, j) for j in range(min(t, L - 1) + 1)) for t in range(m + 1)]
        self._remaining = None
        self.aggregates_ = aggregates
        return self

    # ---- sample ---------------------------------------------------------------------------------------
    def sample(self, n: int | None = None, *, seed: int | np.random.Generator | None = 0,
               progress: ProgressCallback | Progress | None = None) -> EncodedTable:
        if self.aggregates_ is None:
            raise ParameterError("call fit(aggregates) before sample()")
        self._check_target(n)
        target = n if n is not None else self.target_records
        rng = make_rng(seed)
        prog = as_progress(progress)
        domain = self.aggregates_.domain
        m = domain.n_columns
        avail0 = self._avail0
        total0 = int(avail0.sum())
        prog(0.0, "building records from the aggregates")
        if total0 == 0 or target == 0 or m == 0:
            return finish(np.full((0, m), ABSENT, dtype=np.int32), _like(domain), rng, "synthetic")
        avail = avail0.copy()
        remaining = _Remaining(self._counts, self._lookup) if self._remaining is None else self._remaining
        remaining.reset()
        self._remaining = remaining
        reported = self.aggregates_.reported_records
        mean_len = max(1.0, total0 / reported) if reported > 0 else float(m)
        state_batch = max(64, _STATE_LIMIT // (self._ncs + 1 + 2 * domain.n_attributes))
        parts, produced = [], 0
        while True:
            left = int(avail.sum())
            if target is None:
                if left == 0:
                    break
            else:
                if produced >= target:
                    break
                if left == 0:                     # availability used up: start a new cycle
                    avail[:] = avail0
                    remaining.reset()
                    left = total0
            # Records of one batch grow together, so near the end of the availability they would compete
            # for the last units and split each other's records (the sequential reference finishes one
            # record before starting the next). A batch therefore holds at most 1/_TAIL of the records the
            # remaining availability can still make: the tail is built in ever smaller batches.
            R = min(_BATCH, state_batch, max(1, math.ceil(left / mean_len / _TAIL)))
            if target is not None:
                R = min(R, target - produced)

            def report(done: float, _left=left, _R=R, _produced=produced):
                if target is None:
                    frac = 1.0 - (_left - done * (_left - int(avail.sum()))) / total0
                else:
                    frac = (_produced + done * _R) / target
                prog(frac, "building records from the aggregates")

            prog.check()
            codes = self._batch(R, avail, remaining, rng, report)
            codes = codes[(codes != ABSENT).any(axis=1)]
            if not len(codes):
                if target is None:
                    break
                avail[:] = 0                      # nothing placeable: treat the cycle as finished
                continue
            parts.append(codes)
            produced += len(codes)
        prog(1.0, "records built")
        codes = np.concatenate(parts) if parts else np.full((0, m), ABSENT, dtype=np.int32)
        return finish(codes, _like(domain), rng, "synthetic")

    # ---- one batch ------------------------------------------------------------------------------------
    def _batch(self, R: int, avail: np.ndarray, remaining: _Remaining, rng: np.random.Generator,
               report) -> np.ndarray:
        domain = self.aggregates_.domain
        m, A, L = domain.n_columns, domain.n_attributes, self._L
        col_of = domain.attr_column
        code_of = domain.attr_code
        look = self._lookup
        synth = self.use_synthetic_counts
        pct = self.weight_selection_percentile
        single_row = np.where(look(np.zeros(A, np.int64), np.arange(A)) >= 0,
                              look(np.zeros(A, np.int64), np.arange(A)) + 1, -1) if L >= 2 else None
        same_column = col_of[:, None] == np.arange(m)[None, :]        # (A, m)
        codes = np.full((R, m), ABSENT, dtype=np.int32)
        state = np.full((R, self._ncs + 1), -1, dtype=np.int64)   # row of each column set (-1 not in record,
        state[:, 0] = 0                                             # -2 in record but absent from aggregates)
        full = np.zeros(R, dtype=np.int64)                         # row of the whole record while |record| < L
        length = np.zeros(R, dtype=np.int64)
        free = np.ones((R, A), dtype=bool)                         # column not yet in the record
        # necessary condition for records longer than L: every pair {x, a} (x in the record) had a positive
        # remaining count when x was added (counts only fall within a batch, so this never wrongly excludes)
        pairs_ok = np.ones((R, A), dtype=bool)
        active = np.arange(R, dtype=np.int64)
        steps = 0
        while len(active):
            report(min(steps / (m + 1), 0.99))
            steps += 1
            p_rec, p_attr, p_w = [], [], []
            groups = {}
            has_avail = avail > 0
            for tt in np.unique(length[active]):
                recs = active[length[active] == tt]
                G = self._group_size[tt]
                st = state[recs, : self._ncs]
                Q = st[st != -1].reshape(len(recs), G)             # sub-combination rows, by size
                groups[int(tt)] = (recs, Q)
                if tt < L:
                    w = remaining.get_rows(np.maximum(full[recs], 0))
                    ok = free[recs] & has_avail[None, :] & (w > 0) & (full[recs] >= 0)[:, None]
                    ri, ai = np.nonzero(ok)
                    p_rec.append(recs[ri]), p_attr.append(ai), p_w.append(w[ri, ai])
                    continue
                ok = pairs_ok[recs] & free[recs] & has_avail[None, :]
                ok &= ~(Q == -2).any(axis=1)[:, None]
                ri, ai = np.nonzero(ok)
                QA = np.maximum(Q, 0) * A
                step = max(1, _CHUNK // G)
                for s in range(0, len(ri), step):
                    r_, a_ = ri[s:s + step], ai[s:s + step]
                    if remaining.look.dense:
                        W = remaining.flat[QA[r_] + a_[:, None]]
                    else:
                        W = remaining.get(Q[r_], a_[:, None])
                    good = (W > 0).all(axis=1)
                    w = _round_half_away(row_percentile(W[good], pct)).astype(np.int64)
                    pos = w > 0
                    p_rec.append(recs[r_[good][pos]]), p_attr.append(a_[good][pos]), p_w.append(w[pos])
            rec = np.concatenate(p_rec) if p_rec else np.zeros(0, np.int64)
            if not len(rec):
                break
            attr = np.concatenate(p_attr).astype(np.int64)
            w = np.concatenate(p_w).astype(np.int64)
            # one weighted draw per record (integer draw in [1, total], as the reference)
            order = np.argsort(rec, kind="stable")
            rec, attr, w = rec[order], attr[order], w[order]
            start = np.r_[0, np.flatnonzero(rec[1:] != rec[:-1]) + 1]
            cum = np.cumsum(w)
            total = np.add.reduceat(w, start)
            before = cum[start] - w[start]
            draw = rng.integers(1, total + 1)
            pick = np.searchsorted(cum, before + draw, side="left")
            prec, pattr = rec[pick], attr[pick]                       # proposals, in batch order
            # exact conflict resolution (see module docstring)
            reject = group_rank(pattr) >= avail[pattr]
            if synth:
                upd_prop, upd_key, upd_chk = [], [], []
                plen = length[prec]
                for tt in np.unique(plen):
                    idx = np.flatnonzero(plen == tt)
                    recs, Q = groups[int(tt)]
                    U = look(Q[np.searchsorted(recs, prec[idx])], pattr[idx][:, None])
                    has = U >= 0
                    upd_prop.append(np.broadcast_to(idx[:, None], U.shape)[has]), upd_key.append(U[has])
                    if tt < L:        # the reference checks only C = record ∪ {attribute}
                        C = look(full[prec[idx]], pattr[idx])
                        upd_chk.append((U == C[:, None])[has])
                    else:             # … or every sub-combination holding the attribute
                        upd_chk.append(np.ones(int(has.sum()), dtype=bool))
                up = np.concatenate(upd_prop)
                uk = np.concatenate(upd_key)
                chk = np.concatenate(upd_chk)
                # rank of (proposal, key) = number of earlier proposals that count the key
                stride = len(prec) + 1
                o = np.argsort(uk * stride + up)
                uk_s = uk[o]
                gstart = np.r_[0, np.flatnonzero(uk_s[1:] != uk_s[:-1]) + 1]
                rank = np.empty(len(uk), dtype=np.int64)
                rank[o] = np.arange(len(uk_s)) - repeat(gstart, np.diff(np.r_[gstart, len(uk_s)]))
                viol = chk & (rank >= remaining.cap[uk])
                reject[up[viol]] = True
            acc = np.flatnonzero(~reject)
            arec, aattr = prec[acc], pattr[acc]
            # apply
            np.subtract.at(avail, aattr, 1)
            if synth:
                remaining.decrement(uk[~reject[up]])
            acol = col_of[aattr]
            codes[arec, acol] = code_of[aattr]
            free[arec] &= ~same_column[:, acol].T
            if single_row is not None:
                srow = single_row[aattr]
                pairs_ok[arec] &= (remaining.get_rows(np.maximum(srow, 0)) > 0) & (srow >= 0)[:, None]
            B = state[arec[:, None], self._base[acol]]
            newpos = look(B, aattr[:, None])
            new = np.where(B >= 0, np.where(newpos >= 0, newpos + 1, -2), B)
            Wc = self._with[acol]
            real = Wc < self._ncs
            state[np.broadcast_to(arec[:, None], Wc.shape)[real], Wc[real]] = new[real]
            short = length[arec] + 1 <= L - 1
            if short.any():
                fp = look(full[arec[short]], aattr[short])
                full[arec[short]] = np.where(fp >= 0, fp + 1, -2)
            length[arec] += 1
            active = np.unique(prec)
        report(1.0)
        return codes


def _like(domain) -> EncodedTable:
    return EncodedTable(np.zeros((0, domain.n_columns), dtype=np.int32), domain, "synthetic")
