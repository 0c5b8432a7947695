"""The k-anonymous synthesizers that sample from the sensitive records (reference 4.2-4.5, 5.1-5.3).

Invariant of every record they produce: each attribute is added only while the records-so-far plus that
attribute match at least k sensitive records, so *every* combination of values in a synthetic record,
of any length, describes at least k sensitive records.

All records of a batch grow in lock-step, one attribute per step, over deduplicated partial records
whose matching sensitive records are bitsets or short lists (:mod:`.partials`). The reference draws each
next attribute with weight ``count(record-so-far ∪ {a})`` (when ≥ k); computing every candidate's count
at every step is what made wide tables slow, so each mode draws from *exactly that distribution* with
far fewer counts:

* row-seeded: rejection from the counts of earlier steps, which are upper bounds (:func:`_grow_from_seeds`);
* consolidation (row- and value-seeded): a uniform (matching record, column) cell holds ``a`` with
  probability ∝ ``count(record-so-far ∪ {a})`` (:func:`_consolidate`);
* unseeded: a uniform matching record's value has exactly the reference weights (:class:`Unseeded`).

Consolidation builds a batch of records at once; when several records of a batch pick an attribute with
too little availability left, the first ones (in batch order) keep it and the others draw again, so
availability and the k rule hold exactly. Batches hold about 1/8 of the records the availability still
allows, which keeps records of one batch from splitting scarce attributes between them (the reference
builds one record at a time). Same seed ⇒ identical output.

Reference quirks fixed here: value-seeded targets the rounded-down counts even with oversampling control
(quirk 9); unseeded keeps the rare rows after a blank (quirk 10); output rows are shuffled rather than
sorted and all-blank records are dropped (quirk 12, :func:`.base.finish`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._np import bincount, repeat
from ..aggregate import Aggregates, check_length, check_resolution, pack, radix
from ..errors import ParameterError
from ..progress import Progress, ProgressCallback, as_progress
from ..table import ABSENT, EncodedTable
from .base import Synthesizer, finish, group_rank, make_rng, weighted_choice
from .partials import Partials, RecordIndex

_BATCH = 4096
_CELL_ROUNDS = 4
_CELLS_PER_ROUND = 8
_SEED_BLOCK = 8192
_UNSEEDED_BLOCK = 4096    # records per unseeded batch (blank narrowing lists the matching records)


def _check_n(n, mode):
    if n is not None:
        raise ParameterError(f"{mode} synthesis decides the number of records itself; leave the number of records unset")


class _Context:
    """Sensitive table arrays shared by the samplers."""

    def __init__(self, table: EncodedTable, k: int):
        self.table = table
        self.k = k
        self.codes = table.codes
        self.index = RecordIndex(table)
        self.ids = self.index.ids
        dom = table.domain
        self.A = dom.n_attributes
        self.attr_column = dom.attr_column
        self.attr_code = dom.attr_code
        self.counts = self.index.counts
        self.targets = (self.counts // k) * k            # rounded-down single-attribute counts

    def root(self) -> Partials:
        return Partials.root(self.index)


def _grow_from_seeds(ctx: _Context, seeds: np.ndarray, rng, progress: Progress) -> np.ndarray:
    """Row seeded step: each seed record yields a record of its own attributes (≥ k rule, reference 5.1).

    The next attribute of a seed is drawn with weight ``count(record-so-far ∪ {a})`` over the seed's
    unused attributes whose count is ≥ k — exactly, but without counting every candidate at every step:
    counts only shrink as a record grows, so the counts of earlier steps are upper bounds. A candidate is
    proposed with its bound as weight, its exact count is computed, and it is accepted with probability
    exact/bound; a rejected candidate's bound becomes its exact count (0 when below k, for good) and
    the draw is repeated. Accepting ``a`` then has probability exactly ``count(a) / Σ counts`` (rejection
    sampling with tightening bounds), while on correlated data — where counts barely move between steps —
    about one count per record and step is computed instead of one per candidate.

    Seeds are processed in blocks (bounded memory); within a block all records grow in lock-step."""
    R, m = seeds.shape
    out = np.full((R, m), ABSENT, dtype=np.int32)
    seed_ids = np.where(seeds >= 0, seeds.astype(np.int64) + ctx.table.domain.offsets[:-1], -1)
    bound = np.where(seed_ids >= 0, ctx.counts[np.maximum(seed_ids, 0)], 0)
    alive = (seed_ids >= 0) & (bound >= ctx.k)            # candidates that may still reach k
    exact = np.ones((R, m), dtype=bool)                    # bound == count for the current record-so-far
    done = 0
    for lo in range(0, R, _SEED_BLOCK):
        block = np.arange(lo, min(R, lo + _SEED_BLOCK))
        active = block[alive[block].any(axis=1)]
        pid = np.zeros(len(active), dtype=np.int64)
        partials = ctx.root()
        step = 0
        while len(active):
            chosen = _draw_with_bounds(ctx, partials, pid, active, seed_ids, bound, alive, exact, rng)
            has = chosen >= 0
            active, pid, chosen = active[has], pid[has], chosen[has]
            if not len(active):
                break
            attr = seed_ids[active, chosen]
            out[active, chosen] = seeds[active, chosen]
            alive[active, chosen] = False
            exact[active] = False
            more = alive[active].any(axis=1)
            active, pid, attr = active[more], pid[more], attr[more]
            partials, pid = partials.narrow(pid, attr)
            step += 1
            progress((done + len(block) * min(step / m, 1.0)) / max(R, 1), "growing records from seeds")
        done += len(block)
        progress(done / max(R, 1), "growing records from seeds")
    return out


def _draw_with_bounds(ctx, partials, pid, active, cand_ids, bound, alive, exact, rng) -> np.ndarray:
    """One candidate column per record of ``active`` drawn with weight = exact count (≥ k), by rejection
    from the upper bounds ``bound`` (updated in place, as are ``alive`` and ``exact``); -1 = none left."""
    chosen = np.full(len(active), -1, dtype=np.int64)
    pending = np.arange(len(active))
    k = ctx.k
    while len(pending):
        recs = active[pending]
        u = np.where(alive[recs], bound[recs], 0)
        choice = weighted_choice(u, rng)
        has = choice >= 0
        pending, recs, choice = pending[has], recs[has], choice[has]
        if not len(pending):
            break
        known = exact[recs, choice]
        w = bound[recs, choice].copy()
        unknown = np.flatnonzero(~known)
        if len(unknown):
            w[unknown] = partials.pair_counts_shared(pid[pending[unknown]], cand_ids[recs[unknown], choice[unknown]])
        u_sel = bound[recs, choice]
        accept = known | ((w >= k) & (rng.random(len(pending)) * u_sel < w))
        chosen[pending[accept]] = choice[accept]
        rej = ~accept
        r_recs, r_choice, r_w = recs[rej], choice[rej], w[rej]
        bound[r_recs, r_choice] = r_w
        exact[r_recs, r_choice] = True
        alive[r_recs, r_choice] &= r_w >= k
        pending = pending[rej]
    return chosen


def _ragged_choice(owner: np.ndarray, weight: np.ndarray, n_owners: int, rng) -> np.ndarray:
    """For each owner (``owner`` ascending), the position in the arrays of one item drawn with
    probability proportional to its integer weight; -1 when an owner has no positive weight."""
    weight = np.asarray(weight, dtype=np.int64)
    total = bincount(owner, weights=weight, minlength=n_owners).astype(np.int64)
    cum = np.cumsum(weight)
    ends = np.cumsum(total)
    base = ends - total
    draw = np.floor(rng.random(n_owners) * total).astype(np.int64)
    pos = np.searchsorted(cum, base + draw, side="right")
    return np.where(total > 0, np.minimum(pos, max(len(weight) - 1, 0)), -1)


def _consolidate(ctx: _Context, available: np.ndarray, rng, progress: Progress,
                 cap=None) -> np.ndarray:
    """Build new records from the attributes still ``available`` (reference 4.4).

    A batch of records grows in lock-step. Each step draws, for every record, an attribute with weight
    ``count(record-so-far ∪ {a})`` among the attributes still available, of a free column, with count
    ≥ k (and, with an oversampling cap, not rejected for this record): on the first step from the known
    single-attribute counts; afterwards by drawing uniform (matching record, column) cells until one
    holds an eligible attribute — which picks ``a`` with probability proportional to its count, exactly
    — and, after a few fruitless rounds, by listing every qualifying cell of the partial's records (which
    also tells when nothing is eligible any more and the record is complete). When several records of a batch pick an attribute
    with too little availability left, the first ones (in batch order) keep it and the others draw
    again, so availability and the k rule hold exactly.
    """
    m, A, k = ctx.table.domain.n_columns, ctx.A, ctx.k
    available = np.maximum(available.copy(), 0)
    available[ctx.counts < k] = 0
    initial = int(available.sum())
    mean_len = max(1.0, float((ctx.codes >= 0).sum()) / max(ctx.table.n_records, 1))
    batches = []
    while available.sum() > 0:
        # A batch holds about 1/8 of the records the availability still allows, so that records of one
        # batch rarely compete for the last units of an attribute (the reference builds one record at a
        # time; lock-step records that split a scarce pair between them would end up shorter).
        R = int(min(_BATCH, max(1, math.ceil(available.sum() / mean_len / 8))))
        out = np.full((R, m), ABSENT, dtype=np.int32)
        banned = np.zeros((R, A), dtype=bool) if cap is not None else None   # rejected by the cap
        tries = np.zeros(R, dtype=np.int64)
        active = np.arange(R)
        pid = np.zeros(R, dtype=np.int64)
        partials = ctx.root()
        first = True
        while len(active):
            chosen = np.full(len(active), -1, dtype=np.int64)
            pending = np.arange(len(active))
            while len(pending):
                pick = _draw_available(ctx, partials, pid[pending], active[pending], out, available,
                                       banned, rng, first)
                has = pick >= 0
                pending, pick = pending[has], pick[has]
                if not len(pending):
                    break
                rank = group_rank(pick)
                ok = rank < available[pick]
                if cap is not None:
                    capped, conflict = cap.check(out, active[pending], pick, ok)
                    banned[active[pending[capped]], pick[capped]] = True
                    tries[active[pending[capped]]] += 1
                    closed = np.zeros(len(pending), bool)
                    closed[capped] = tries[active[pending[capped]]] >= cap.tries
                    ok &= ~capped & ~conflict
                    tries[active[pending[ok]]] = 0
                    acc = pending[ok]
                    chosen[acc] = pick[ok]
                    np.subtract.at(available, pick[ok], 1)
                    cap.record(out, active[acc], pick[ok])
                    pending = pending[~ok & ~closed]
                else:
                    acc = pending[ok]
                    chosen[acc] = pick[ok]
                    np.subtract.at(available, pick[ok], 1)
                    pending = pending[~ok]
            first = False
            has = chosen >= 0
            active, pid, chosen = active[has], pid[has], chosen[has]
            if not len(active):
                break
            out[active, ctx.attr_column[chosen]] = ctx.attr_code[chosen]
            partials, pid = partials.narrow(pid, chosen)
            progress.check()
        out = out[(out != ABSENT).any(axis=1)]
        if not len(out):
            break  # nothing could be placed: the rest of the availability is unusable
        mean_len = max(1.0, float((out != ABSENT).sum()) / len(out))
        batches.append(out)
        progress(1.0 - available.sum() / max(initial, 1), "consolidating leftover attributes")
    return np.concatenate(batches) if batches else np.zeros((0, m), dtype=np.int32)


def _draw_available(ctx: _Context, partials: Partials, pid, recs, out, available, banned, rng,
                    at_root: bool) -> np.ndarray:
    """One eligible attribute per record (weight = count of record-so-far ∪ {a}), -1 when none."""
    k, m = ctx.k, ctx.table.domain.n_columns
    pick = np.full(len(recs), -1, dtype=np.int64)
    ok_attr = (available > 0) & (ctx.counts >= k)
    if at_root:
        # Every record is empty: weight = the single-attribute count.
        cand = np.flatnonzero(ok_attr)
        if not len(cand):
            return pick
        if banned is None or not banned[recs][:, cand].any():
            cum = np.cumsum(ctx.counts[cand])
            return cand[np.searchsorted(cum, np.floor(rng.random(len(recs)) * cum[-1]), side="right")]
        w = np.where(banned[recs][:, cand], 0, ctx.counts[cand][None, :])
        choice = weighted_choice(w, rng)
        return np.where(choice >= 0, cand[np.maximum(choice, 0)], -1)
    free = out[recs] == ABSENT                                           # (r, m)
    todo = np.flatnonzero(partials.sizes[pid] >= k)        # (a partial of fewer than k records: nothing)
    exact_needed = np.zeros(0, dtype=np.int64)
    # Large partials: uniform cells (record of the partial, column) until one is eligible.
    for _ in range(_CELL_ROUNDS):
        if not len(todo):
            break
        n_draw = _CELLS_PER_ROUND
        p = repeat(pid[todo], n_draw)
        size = partials.sizes[p]
        row = partials.sample_rows(p, np.floor(rng.random(len(p)) * size).astype(np.int64))
        col = (rng.random(len(p)) * m).astype(np.int64)
        a = ctx.ids[row, col]
        rec_rep = repeat(recs[todo], n_draw)
        good = (a >= 0) & free[repeat(todo, n_draw), col]
        good &= ok_attr[np.maximum(a, 0)]
        if banned is not None:
            good &= ~banned[rec_rep, np.maximum(a, 0)]
        good = good.reshape(len(todo), n_draw)
        any_good = good.any(axis=1)
        first = good.argmax(axis=1)
        cand_rec = np.flatnonzero(any_good)
        a_first = a.reshape(len(todo), n_draw)[cand_rec, first[cand_rec]]
        cnt = partials.pair_counts_shared(pid[todo[cand_rec]], a_first)
        accept = cnt >= k
        pick[todo[cand_rec[accept]]] = a_first[accept]
        done = np.zeros(len(todo), bool)
        done[cand_rec[accept]] = True
        todo = todo[~done]
    exact_needed = np.concatenate([exact_needed, todo])
    if len(exact_needed):
        # One uniform qualifying cell per record: attribute a with probability ∝ count(partial ∪ {a}).
        # Attributes the cap rejected for a record are skipped by drawing again (a few rounds), then by
        # an exact histogram without them.
        starts, attrs, inverse = partials.qualifying_cells(pid[exact_needed], ok_attr, free[exact_needed], k)
        total = np.diff(starts)[inverse]
        left = np.flatnonzero(total > 0)
        for _ in range(_CELL_ROUNDS if banned is not None else 1):
            if not len(left):
                break
            j = np.floor(rng.random(len(left)) * total[left]).astype(np.int64)
            a = attrs[starts[inverse[left]] + j]
            ok = np.ones(len(left), bool) if banned is None else ~banned[recs[exact_needed[left]], a]
            pick[exact_needed[left[ok]]] = a[ok]
            left = left[~ok]
        exact_needed = exact_needed[left]
    if len(exact_needed):
        owner, a, cnts = partials.histograms(pid[exact_needed], ok_attr)
        e_recs = recs[exact_needed]
        good = (cnts >= k) & ok_attr[a] & free[exact_needed[owner], ctx.attr_column[a]]
        if banned is not None:
            good &= ~banned[e_recs[owner], a]
        owner, a, w = owner[good], a[good], cnts[good]
        pos = _ragged_choice(owner, w, len(exact_needed), rng)
        if len(a):
            pick[exact_needed] = np.where(pos >= 0, a[np.maximum(pos, 0)], -1)
    return pick


def _suppress(ctx: _Context, codes: np.ndarray, rng) -> np.ndarray:
    """Drop attribute occurrences above the rounded-down sensitive counts, in random record order."""
    ids = np.where(codes >= 0, codes.astype(np.int64) + ctx.table.domain.offsets[:-1], -1)
    synth = bincount(ids[ids >= 0], minlength=ctx.A)
    excess = np.maximum(synth - ctx.targets, 0)
    if not excess.any():
        return codes
    order = rng.permutation(len(codes))
    pos = np.empty(len(codes), dtype=np.int64)
    pos[order] = np.arange(len(codes))
    r, c = np.nonzero(ids >= 0)
    a = ids[r, c]
    walk = np.lexsort((c, pos[r]))                     # records in shuffled order, columns ascending
    r, c, a = r[walk], c[walk], a[walk]
    drop = group_rank(a) < excess[a]
    codes = codes.copy()
    codes[r[drop], c[drop]] = ABSENT
    return codes


def _nothing(table: EncodedTable, rng, prog: Progress) -> EncodedTable:
    """A table without any present value yields no records."""
    prog(1.0, "done")
    return finish(np.zeros((0, table.domain.n_columns), dtype=np.int32), table, rng, "synthetic")


class RowSeeded(Synthesizer):
    """Each sensitive record seeds one synthetic record built from its own values (reference 5.1)."""

    name = "row-seeded"

    def __init__(self, resolution: int = 10):
        self.resolution = check_resolution(resolution)

    def fit(self, table: EncodedTable) -> "RowSeeded":
        self.table_ = table
        return self

    def sample(self, n=None, *, seed=0, progress: ProgressCallback | Progress | None = None) -> EncodedTable:
        _check_n(n, "Row-seeded")
        rng, prog = make_rng(seed), as_progress(progress)
        if self.table_.domain.n_attributes == 0:
            return _nothing(self.table_, rng, prog)
        ctx = _Context(self.table_, self.resolution)
        grown = _grow_from_seeds(ctx, self.table_.codes, rng, prog.slice(0.0, 0.5))
        placed = bincount(ctx.ids[(grown != ABSENT)], minlength=ctx.A)
        available = ctx.targets - placed
        extra = _consolidate(ctx, available, rng, prog.slice(0.5, 0.8))
        codes = _suppress(ctx, np.concatenate([grown, extra]), rng)
        prog.slice(0.8, 1.0)(1.0, "done")
        return finish(codes, self.table_, rng, "synthetic")


class ValueSeeded(Synthesizer):
    """Records built from the whole budget of single-attribute counts (reference 5.3)."""

    name = "value-seeded"

    def __init__(self, resolution: int = 10, oversampling_ratio: float | None = None,
                 oversampling_tries: int = 10, length: int = 3):
        self.resolution = check_resolution(resolution)
        if oversampling_ratio is not None and not (oversampling_ratio >= 0 and math.isfinite(oversampling_ratio)):
            raise ParameterError("oversampling ratio must be a number ≥ 0 (or unset for unlimited)")
        if not isinstance(oversampling_tries, int) or oversampling_tries < 1:
            raise ParameterError("oversampling tries must be a whole number ≥ 1")
        self.oversampling_ratio = oversampling_ratio
        self.oversampling_tries = oversampling_tries
        self.length = check_length(length)

    def fit(self, table: EncodedTable) -> "ValueSeeded":
        self.table_ = table
        return self

    def sample(self, n=None, *, seed=0, progress: ProgressCallback | Progress | None = None) -> EncodedTable:
        _check_n(n, "Value-seeded")
        rng, prog = make_rng(seed), as_progress(progress)
        if self.table_.domain.n_attributes == 0:
            return _nothing(self.table_, rng, prog)
        ctx = _Context(self.table_, self.resolution)
        cap = None
        if self.oversampling_ratio is not None:
            from ..aggregate import aggregate, protect_k
            protected = protect_k(aggregate(self.table_, self.length, prog.slice(0.0, 0.2)), self.resolution)
            cap = _OversamplingCap(protected, self.oversampling_ratio, self.oversampling_tries, ctx)
        # Availability = the rounded-down counts (the reference starts from 2P − c with oversampling
        # control, quirk 9; we aim at P itself).
        records = _consolidate(ctx, ctx.targets.copy(), rng, prog.slice(0.2, 0.9), cap)
        codes = _suppress(ctx, records, rng)
        prog(1.0, "done")
        return finish(codes, self.table_, rng, "synthetic")


class _OversamplingCap:
    """Reject an attribute for a record when a combination (≤ L) of the record it completes would exceed
    its protected count × (1 + ratio) in the synthetic data so far (reference 4.4 step 5); after
    ``tries`` consecutive rejections the record is closed. Vectorised over (record, attribute) pairs.

    Records of a batch are checked together: a pair that would only exceed a cap because of pairs
    earlier in the batch (counted even if those are dropped for other reasons) draws again, so the cap
    is never exceeded."""

    def __init__(self, protected: Aggregates, ratio: float, tries: int, ctx: _Context):
        self.agg = protected
        self.limit = np.floor(protected.counts * (1.0 + ratio) + 1e-9).astype(np.int64)
        self.synth = np.zeros(len(protected), dtype=np.int64)
        self.r = radix(protected.domain)
        self.L = protected.length
        self.tries = tries
        self.offsets = ctx.table.domain.offsets[:-1]
        self._combos_cache: dict[tuple[int, int], np.ndarray] = {}

    def _positions(self, t: int, size: int) -> np.ndarray:
        key = (t, size)
        if key not in self._combos_cache:
            combos = list(itertools.combinations(range(t), size))
            self._combos_cache[key] = np.array(combos, dtype=np.int64).reshape(len(combos), size)
        return self._combos_cache[key]

    def _combos(self, out: np.ndarray, recs: np.ndarray, attrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pair, aggregate index) for every combination {a} ∪ S, S ⊆ record, |S| < L, that is in the
        protected aggregates."""
        rec = out[recs]
        ids = np.where(rec >= 0, rec.astype(np.int64) + self.offsets, np.iinfo(np.int64).max)
        ids.sort(axis=1)                                     # present attributes first, ascending
        t_all = (rec >= 0).sum(axis=1)
        owners, idxs = [], []
        for t in np.unique(t_all):
            grp = np.flatnonzero(t_all == t)
            for size in range(0, min(self.L - 1, int(t)) + 1):
                pos = self._positions(int(t), size)           # (C, size)
                combo = np.empty((len(grp), len(pos), size + 1), dtype=np.int64)
                combo[:, :, :size] = ids[grp][:, pos]
                combo[:, :, size] = attrs[grp][:, None]
                combo.sort(axis=2)
                keys = pack(combo.reshape(-1, size + 1), self.r)
                idx = self.agg.index(keys)
                found = idx >= 0
                owners.append(repeat(grp, len(pos))[found])
                idxs.append(idx[found])
        if not owners:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(owners), np.concatenate(idxs)

    def check(self, out, recs, attrs, ok):
        """Per pair: capped (over a limit on its own) and conflict (over only with earlier pairs)."""
        owner, idx = self._combos(out, recs, attrs)
        over = self.synth[idx] + 1 > self.limit[idx]
        capped = np.zeros(len(recs), dtype=bool)
        capped[owner[over]] = True
        live = (ok & ~capped)[owner]
        conflict = np.zeros(len(recs), dtype=bool)
        if live.any():
            o, i = owner[live], idx[live]
            order = np.argsort(o, kind="stable")
            o, i = o[order], i[order]
            rank = group_rank(i)
            conflict[o[self.synth[i] + rank + 1 > self.limit[i]]] = True
        return capped, conflict

    def record(self, out, recs, attrs):
        _, idx = self._combos(out, recs, attrs)
        np.add.at(self.synth, idx, 1)


class Unseeded(Synthesizer):
    """Records built column by column in random order from the sensitive distribution (reference 5.2).

    For each column the reference weighs every value v by ``|rows(record-so-far ∪ {v})|`` when that is
    ≥ k, and "leave blank" by the records whose value there is absent or rare (< k): weights that add up
    to ``|rows(record-so-far)|``. Drawing one matching sensitive record uniformly and taking its value
    (blank when absent or rare) has exactly these probabilities and costs one count per record and
    column. Fix of reference quirk 10: after "blank" the record keeps matching the absent *and* rare
    records it was weighed with (the reference keeps only the absent ones); all-blank records are
    dropped."""

    name = "unseeded"

    def __init__(self, resolution: int = 10):
        self.resolution = check_resolution(resolution)

    def fit(self, table: EncodedTable) -> "Unseeded":
        self.table_ = table
        return self

    def sample(self, n=None, *, seed=0, progress: ProgressCallback | Progress | None = None) -> EncodedTable:
        rng, prog = make_rng(seed), as_progress(progress)
        table = self.table_
        n = table.n_records if n is None else n
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ParameterError(f"number of records must be a whole number ≥ 1, not {n!r}")
        if table.domain.n_attributes == 0:                      # n all-blank records, all dropped
            prog(1.0, "done")
            return finish(np.full((n, table.domain.n_columns), ABSENT, dtype=np.int32), table, rng, "synthetic")
        ctx = _Context(table, self.resolution)
        m, k = table.domain.n_columns, ctx.k
        offsets = table.domain.offsets[:-1]
        col_codes = ctx.index.col_codes
        nrec = table.n_records
        chunks = []
        for lo in range(0, n, _UNSEEDED_BLOCK):
            R = min(_UNSEEDED_BLOCK, n - lo)
            out = np.full((R, m), ABSENT, dtype=np.int32)
            order = np.argsort(rng.random((R, m)), axis=1)            # each record's column order
            pid = np.zeros(R, dtype=np.int64)
            partials = ctx.root()
            recs = np.arange(R)
            for t in range(m):
                col = order[:, t]
                rank = np.floor(rng.random(R) * partials.sizes[pid]).astype(np.int64)
                row = partials.sample_rows(pid, rank)
                code = col_codes[col * nrec + row]
                attr = np.where(code >= 0, code.astype(np.int64) + offsets[col], -1)
                has = np.flatnonzero(attr >= 0)
                cnt = np.zeros(R, dtype=np.int64)
                cnt[has] = partials.pair_counts_shared(pid[has], attr[has])
                take = cnt >= k
                out[recs[take], col[take]] = code[take]
                if t == m - 1:
                    break
                # Records that took a value: narrow by it. Blank records: keep the absent and rare rows.
                val = np.flatnonzero(take)
                blank = np.flatnonzero(~take)
                p_val, id_val = partials.narrow(pid[val], attr[val])
                key, inv = np.unique(pid[blank] * m + col[blank], return_inverse=True)
                inv = inv.reshape(-1)
                b_pid, b_col = key // m, key % m
                p_blank, id_blank = partials.refine(b_pid, self._blank_keep(ctx, b_col, k))
                merged, map_val, map_blank = p_val.merge(p_blank)
                new_pid = np.empty(R, dtype=np.int64)
                new_pid[val] = map_val[id_val]
                new_pid[blank] = map_blank[id_blank[inv]]
                partials, pid = merged, new_pid
                prog((lo + R * (t + 1) / m) / n, "sampling column values")
            chunks.append(out)
        codes = np.concatenate(chunks)
        prog(1.0, "done")
        return finish(codes, table, rng, "synthetic")

    @staticmethod
    def _blank_keep(ctx: _Context, cols: np.ndarray, k: int):
        """``keep(owner, rows)``: the record's value in column ``cols[owner]`` is absent or held by fewer
        than k of the partial's records."""
        n = ctx.table.n_records

        def keep(owner, rows):
            code = ctx.index.col_codes[cols[owner] * n + rows].astype(np.int64)
            key = owner * (ctx.table.domain.sizes.max(initial=0) + 1) + code + 1
            uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
            return (code < 0) | (cnt[inv.reshape(-1)] < k)
        return keep
