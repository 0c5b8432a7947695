"""Aggregate-seeded sampling (reference 4.4 + 5.4): invariants on random tables and exact small cases."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localsynth import Cancelled
from localsynth.aggregate import aggregate, protect_k
from localsynth.errors import ParameterError
from localsynth.generator.aggregate_seeded import AggregateSeeded, row_percentile
from localsynth.table import encode_frame


def _table(rows, columns=None):
    columns = columns or [chr(ord("A") + j) for j in range(len(rows[0]))]
    return encode_frame(pd.DataFrame(rows, columns=columns).astype(str).replace("-", ""))


def _records(out):
    """The synthetic records as a multiset of ``col:value`` tuples."""
    labels = out.domain.labels
    rows = []
    for rec in out.codes:
        rows.append(tuple(f"{out.domain.columns[c]}:{labels[c][v]}" for c, v in enumerate(rec) if v >= 0))
    return Counter(rows)


def _sub_counts(out, L):
    """Synthetic count of every combination of length ≤ L (by key), from the synthetic records."""
    return aggregate(out, L) if out.n_records else None


# ---- random tables ------------------------------------------------------------------------------------
@st.composite
def tables(draw):
    m = draw(st.integers(1, 5))
    n = draw(st.integers(1, 60))
    sizes = [draw(st.integers(1, 4)) for _ in range(m)]
    rows = []
    for _ in range(n):
        rows.append([draw(st.sampled_from([""] + [f"v{i}" for i in range(s)])) for s in sizes])
    frame = pd.DataFrame(rows, columns=[f"c{j}" for j in range(m)])
    if (frame == "").all(axis=None):
        frame.iloc[0, 0] = "v0"
    return encode_frame(frame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=tables(), L=st.integers(1, 4), k=st.integers(1, 3), synth=st.booleans(),
       pct=st.sampled_from([0, 50, 95, 100]), seed=st.integers(0, 2 ** 16))
def test_invariants_on_random_tables(t, L, k, synth, pct, seed):
    agg = protect_k(aggregate(t, L), k)
    L_eff = agg.length
    model = AggregateSeeded(use_synthetic_counts=synth, weight_selection_percentile=pct).fit(agg)
    out = model.sample(seed=seed)
    assert out.domain.same_as(t.domain)
    assert not (out.codes < 0).all(axis=1).any()                       # no empty records
    singles = agg.lengths() == 1
    if out.n_records == 0:
        assert not singles.any()
        return
    syn = aggregate(out, L_eff)
    # 1. every synthetic combination of length ≤ L is in the protected aggregates (which are closed
    #    under sub-combinations), so nothing is fabricated up to L
    idx = agg.index(syn.keys)
    assert (idx >= 0).all()
    # 2. without a target the 1-counts (availability) are used up exactly, never exceeded
    lengths = syn.lengths()
    assert np.array_equal(agg.keys[singles], syn.keys[lengths == 1])
    assert np.array_equal(agg.counts[singles], syn.counts[lengths == 1])
    # 3. with synthetic counts, a combination of length exactly L is always C = record ∪ {attribute} or
    #    a checked sub-combination when it is completed, so its synthetic count never exceeds the aggregate
    if synth:
        full = lengths == L_eff
        assert (syn.counts[full] <= agg.counts[idx[full]]).all()
    # 4. same seed, same output; target honoured
    again = model.sample(seed=seed)
    assert np.array_equal(again.codes, out.codes)
    target = int(agg.counts[singles].max()) + 3
    assert model.sample(target, seed=seed).n_records == target
    assert AggregateSeeded(synth, pct, target_records=5).fit(agg).sample(seed=seed).n_records == 5


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.lists(st.integers(-5, 50), min_size=1, max_size=9), min_size=1, max_size=6).filter(
    lambda v: len({len(r) for r in v}) == 1), p=st.sampled_from([0, 1, 25, 50, 66.6, 95, 99, 100]))
def test_row_percentile_is_numpy_median_unbiased(values, p):
    arr = np.array(values, dtype=np.int64)
    assert np.array_equal(row_percentile(arr, p), np.percentile(arr, p, axis=1, method="median_unbiased"))


# ---- exact small cases ---------------------------------------------------------------------------------
def test_identical_records_are_rebuilt_exactly():
    t = _table([["a1", "b1", "c1"]] * 10)
    for L in (1, 2, 3):
        for synth in (True, False):
            out = AggregateSeeded(use_synthetic_counts=synth).fit(aggregate(t, L)).sample(seed=4)
            assert _records(out) == Counter({("A:a1", "B:b1", "C:c1"): 10})


def test_absent_pairs_are_never_combined():
    t = _table([["a1", "b1"]] * 5 + [["a2", "b2"]] * 5)
    for synth in (True, False):
        for seed in range(5):
            out = AggregateSeeded(use_synthetic_counts=synth).fit(aggregate(t, 2)).sample(seed=seed)
            assert _records(out) == Counter({("A:a1", "B:b1"): 5, ("A:a2", "B:b2"): 5})


def test_length_one_combines_freely_but_uses_each_value_once():
    # with L = 1 the pair (a1, b2) is not controlled: records are any mix, 1-counts used exactly
    t = _table([["a1", "b1"]] * 5 + [["a2", "b2"]] * 5)
    seen = Counter()
    for seed in range(20):
        out = AggregateSeeded().fit(aggregate(t, 1)).sample(seed=seed)
        counts = Counter(x for rec, c in _records(out).items() for x in rec for _ in range(c))
        assert counts == Counter({"A:a1": 5, "A:a2": 5, "B:b1": 5, "B:b2": 5})
        seen.update(_records(out))
    assert seen[("A:a1", "B:b2")] > 0


def test_synthetic_counts_cap_pairs():
    # a1 pairs with b1 6 times and b2 4 times; a2 with b1 4 times. With synthetic counts no pair is
    # produced more often than it occurs; without, a1 b2 can be over-produced.
    rows = [["a1", "b1"]] * 6 + [["a1", "b2"]] * 4 + [["a2", "b1"]] * 4
    t = _table(rows)
    agg = aggregate(t, 2)
    over = 0
    for seed in range(30):
        out = _records(AggregateSeeded(True).fit(agg).sample(seed=seed))
        assert out[("A:a1", "B:b1")] <= 6 and out[("A:a1", "B:b2")] <= 4 and out[("A:a2", "B:b1")] <= 4
        assert ("A:a2", "B:b2") not in out
        loose = _records(AggregateSeeded(False).fit(agg).sample(seed=seed))
        over += loose[("A:a1", "B:b2")] > 4 or loose[("A:a2", "B:b1")] > 4 or loose[("A:a1", "B:b1")] > 6
    assert over > 0


def test_scale_factor_and_target_with_reset():
    t = _table([["a1", "b1"]] * 5 + [["a2", "b2"]] * 5)
    agg = aggregate(t, 2)
    out = AggregateSeeded(scale_factor=2).fit(agg).sample(seed=1)
    assert _records(out) == Counter({("A:a1", "B:b1"): 10, ("A:a2", "B:b2"): 10})
    out = AggregateSeeded(scale_factor=0.5).fit(agg).sample(seed=1)                  # ceil(2.5) = 3
    assert _records(out) == Counter({("A:a1", "B:b1"): 3, ("A:a2", "B:b2"): 3})
    # target 25: two full cycles of 5 + 5, then 5 records of a third cycle after the reset
    for seed in range(10):
        rec = _records(AggregateSeeded(target_records=25).fit(agg).sample(seed=seed))
        assert sum(rec.values()) == 25 and set(rec) <= {("A:a1", "B:b1"), ("A:a2", "B:b2")}
        assert 10 <= rec[("A:a1", "B:b1")] <= 15
    # n overrides target_records
    assert AggregateSeeded(target_records=25).fit(agg).sample(3, seed=0).n_records == 3


def test_longer_records_need_every_sub_combination():
    # L = 2, records (a1 b1 c1) ×4, (a1 b2 c2) ×4, (a2 b1 c2) ×4, (c3) ×2. A record a1 b1 (longer than
    # L once extended) may take c2: its sub-combinations holding c2 — c2, a1 c2, b1 c2 — all exist, so the
    # triple a1 b1 c2 is fabricated (the reference controls only combinations up to L). c3 never pairs
    # with anything, so it only ever forms a record on its own; no pair outside the data appears.
    rows = [["a1", "b1", "c1"]] * 4 + [["a1", "b2", "c2"]] * 4 + [["a2", "b1", "c2"]] * 4 + [["-", "-", "c3"]] * 2
    t = _table(rows)
    agg = aggregate(t, 2)
    triples = Counter()
    for seed in range(40):
        out = AggregateSeeded(use_synthetic_counts=False).fit(agg).sample(seed=seed)
        recs = _records(out)
        for rec, c in recs.items():
            if "C:c3" in rec:
                assert rec == ("C:c3",)
            for a, b in itertools.combinations(rec, 2):
                assert {a, b} in [set(x) for x in itertools.combinations(("A:a1", "B:b1", "C:c1"), 2)] + \
                    [set(x) for x in itertools.combinations(("A:a1", "B:b2", "C:c2"), 2)] + \
                    [set(x) for x in itertools.combinations(("A:a2", "B:b1", "C:c2"), 2)]
            if len(rec) == 3:
                triples[rec] += c
    assert triples[("A:a1", "B:b1", "C:c2")] > 0 and triples[("A:a1", "B:b1", "C:c1")] > 0


def test_determinism_seeds_and_generator():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.choice(["x", "y", "z"], 300) for c in "ABCD"})
    agg = protect_k(aggregate(encode_frame(frame), 3), 2)
    model = AggregateSeeded().fit(agg)
    a, b, c = model.sample(seed=1), model.sample(seed=1), model.sample(seed=2)
    assert np.array_equal(a.codes, b.codes) and not np.array_equal(a.codes, c.codes)
    g1 = model.sample(seed=np.random.default_rng(9))
    g2 = model.sample(seed=np.random.default_rng(9))
    assert np.array_equal(g1.codes, g2.codes)


def test_cancel_and_progress():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.choice(["x", "y", "z"], 300) for c in "ABCD"})
    model = AggregateSeeded().fit(aggregate(encode_frame(frame), 3))
    with pytest.raises(Cancelled):
        model.sample(seed=0, progress=lambda f, msg: False)
    calls = []

    def stop_later(f, msg):
        calls.append(f)
        return len(calls) < 3

    with pytest.raises(Cancelled):
        model.sample(seed=0, progress=stop_later)
    assert len(calls) == 3
    seen = []
    model.sample(seed=0, progress=lambda f, msg: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and all(0 <= x <= 1 for x in seen)
    assert all(b >= a for a, b in zip(seen, seen[1:]))


def test_parameter_validation():
    with pytest.raises(ParameterError, match="percentile"):
        AggregateSeeded(weight_selection_percentile=101)
    with pytest.raises(ParameterError, match="True or False"):
        AggregateSeeded(use_synthetic_counts="yes")
    with pytest.raises(ParameterError, match="number of records"):
        AggregateSeeded(target_records=-1)
    with pytest.raises(ParameterError, match="scale factor"):
        AggregateSeeded(scale_factor=0)
    with pytest.raises(ParameterError, match="fit"):
        AggregateSeeded().sample()
    with pytest.raises(ParameterError, match="Aggregates"):
        AggregateSeeded().fit(_table([["a"]]))


def test_empty_aggregates_give_no_records():
    t = _table([["a1", "b1"]] * 3)
    agg = protect_k(aggregate(t, 2), 10)               # everything below k
    assert len(agg) == 0
    assert AggregateSeeded().fit(agg).sample(seed=0).n_records == 0
    assert AggregateSeeded().fit(agg).sample(7, seed=0).n_records == 0


def test_sparse_lookup_gives_the_same_records(monkeypatch):
    import localsynth.generator.aggregate_seeded as mod

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({c: rng.choice(["x", "y", "z", ""], 400, p=[0.5, 0.3, 0.15, 0.05]) for c in "ABCDE"})
    agg = protect_k(aggregate(encode_frame(frame), 3), 2)
    for synth in (True, False):
        dense = AggregateSeeded(synth).fit(agg)
        assert dense._lookup.dense
        monkeypatch.setattr(mod, "_DENSE_LIMIT", 0)
        sparse = AggregateSeeded(synth).fit(agg)
        monkeypatch.undo()
        assert not sparse._lookup.dense
        assert np.array_equal(dense.sample(seed=3).codes, sparse.sample(seed=3).codes)
        assert np.array_equal(dense.sample(900, seed=4).codes, sparse.sample(900, seed=4).codes)


def test_no_pair_released_means_no_pairs():
    # found by hypothesis: aggregates of length 2 holding single values only (and an empty column)
    from localsynth.table import Domain, EncodedTable

    d = Domain(("c0", "c1", "c2"), ((), ("v0",), ("v0",)))
    t = EncodedTable(np.array([[-1, -1, 0], [-1, 0, -1]], dtype=np.int32), d)
    for synth in (True, False):
        out = AggregateSeeded(synth).fit(aggregate(t, 2)).sample(seed=0)
        assert sorted(map(tuple, out.codes.tolist())) == [(-1, -1, 0), (-1, 0, -1)]
