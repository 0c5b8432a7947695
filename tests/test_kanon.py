"""Tests of the k-anonymous record synthesizers (row-seeded, value-seeded, unseeded).

Every property is checked with a brute force written here (itertools over the records' values, compared
with numpy equality on the sensitive codes) — never with the library's own aggregation or checker.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import localsynth
from localsynth.generator import RowSeeded, Unseeded, ValueSeeded
from localsynth.table import encode_frame

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---- helpers ----------------------------------------------------------------------------------------
@st.composite
def tables(draw, max_rows=40, max_cols=5):
    """Small categorical tables with absent ('') cells and skewed value frequencies."""
    n = draw(st.integers(3, max_rows))
    m = draw(st.integers(1, max_cols))
    data = {}
    for c in range(m):
        alphabet = ["", "a", "b", "c", "d"][: draw(st.integers(2, 5))]
        weights = draw(st.lists(st.integers(1, 6), min_size=len(alphabet), max_size=len(alphabet)))
        pool = [v for v, w in zip(alphabet, weights) for _ in range(w)]
        data[f"c{c}"] = draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n))
    return encode_frame(pd.DataFrame(data))


def frame_table(rows: list[tuple[str, ...]]):
    return encode_frame(pd.DataFrame(rows, columns=[f"c{i}" for i in range(len(rows[0]))]))


def brute_force_violations(sensitive, synthetic, k: int) -> list[tuple]:
    """Every combination (any length) of values of a synthetic record matched by fewer than k sensitive
    records, found by enumerating subsets of each distinct synthetic record."""
    sens = sensitive.codes
    bad = []
    for rec in {tuple(r) for r in synthetic.codes.tolist()}:
        present = [c for c, v in enumerate(rec) if v >= 0]
        for size in range(1, len(present) + 1):
            for cols in itertools.combinations(present, size):
                match = np.all(sens[:, list(cols)] == np.array([rec[c] for c in cols]), axis=1).sum()
                if match < k:
                    bad.append((cols, [rec[c] for c in cols], int(match)))
    return bad


def single_counts(table) -> Counter:
    return Counter((c, v) for row in table.codes.tolist() for c, v in enumerate(row) if v >= 0)


def run(mode: str, table, k: int, seed: int = 0, **kw):
    if mode == "row-seeded":
        synth = RowSeeded(k)
    elif mode == "value-seeded":
        synth = ValueSeeded(k, kw.get("ratio"), kw.get("tries", 10), kw.get("length", 3))
    else:
        synth = Unseeded(k)
    return synth.fit(table).sample(kw.get("n"), seed=seed, progress=kw.get("progress"))


MODES = ["row-seeded", "value-seeded", "value-seeded-capped", "unseeded"]


def run_mode(mode: str, table, k: int, seed: int = 0, **kw):
    if mode == "value-seeded-capped":
        return run("value-seeded", table, k, seed, ratio=kw.pop("ratio", 0.1), **kw)
    return run(mode, table, k, seed, **kw)


# ---- properties -------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(table=tables(), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_every_combination_matches_k_records(mode, table, k, seed):
    out = run_mode(mode, table, k, seed)
    assert out.domain is table.domain
    assert not brute_force_violations(table, out, k)
    # No fabricated values, no all-empty records.
    sens_values = {(c, v) for row in table.codes.tolist() for c, v in enumerate(row) if v >= 0}
    assert set(single_counts(out)) <= sens_values
    assert (out.codes >= 0).any(axis=1).all()


@pytest.mark.parametrize("mode", ["row-seeded", "value-seeded", "value-seeded-capped"])
@SETTINGS
@given(table=tables(), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_single_attribute_counts_are_rounded_down_counts(mode, table, k, seed):
    """Consolidation can always place a leftover attribute alone (its own count is ≥ k), so it drains the
    availability and suppression trims any excess: every single-attribute count equals floor(c/k)·k."""
    out = run_mode(mode, table, k, seed)
    sens, syn = single_counts(table), single_counts(out)
    for attr, c in sens.items():
        assert syn.get(attr, 0) == (c // k) * k, (attr, c, syn.get(attr, 0))


@SETTINGS
@given(table=tables(), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
       ratio=st.sampled_from([0.0, 0.1, 0.5]), length=st.integers(1, 3))
def test_oversampling_cap_is_never_exceeded(table, k, seed, ratio, length):
    out = run("value-seeded", table, k, seed, ratio=ratio, length=length)
    syn = Counter()
    for row in out.codes.tolist():
        present = [(c, v) for c, v in enumerate(row) if v >= 0]
        for size in range(1, min(length, len(present)) + 1):
            syn.update(itertools.combinations(present, size))
    for combo, count in syn.items():
        cols = [c for c, _ in combo]
        c_sens = int(np.all(table.codes[:, cols] == np.array([v for _, v in combo]), axis=1).sum())
        protected = (c_sens // k) * k
        assert count <= math.floor(protected * (1 + ratio) + 1e-9), (combo, count, c_sens)


@SETTINGS
@given(table=tables(), k=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60))
def test_unseeded_record_count(table, k, seed, n, monkeypatch_finish):
    out = run("unseeded", table, k, seed, n=n)
    before = monkeypatch_finish[-1]
    assert before.shape[0] == n                             # n records are built ...
    assert out.n_records == int((before >= 0).any(axis=1).sum())   # ... and only all-blank ones dropped
    if k == 1 and (table.codes >= 0).any(axis=1).all():
        # With k = 1 a record keeps matching the record it drew last: it cannot end up all blank.
        assert out.n_records == n


@pytest.fixture(scope="module")
def monkeypatch_finish():
    """Spy on the codes handed to ``finish`` (before all-blank records are dropped)."""
    from localsynth.generator import kanon
    seen = []
    original = kanon.finish

    def spy(codes, like, rng, name):
        seen.append(codes.copy())
        return original(codes, like, rng, name)

    kanon.finish = spy
    yield seen
    kanon.finish = original


@pytest.mark.parametrize("mode", MODES)
@SETTINGS
@given(table=tables(), k=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_output(mode, table, k, seed):
    a = run_mode(mode, table, k, seed)
    b = run_mode(mode, table, k, seed)
    assert np.array_equal(a.codes, b.codes)


@pytest.fixture(scope="module")
def german():
    return localsynth.load_table("/work/shared/data/german_credit/german_credit.csv") \
        if __import__("os").path.exists("/work/shared/data/german_credit/german_credit.csv") else None


def random_table(n=300, m=6, seed=7):
    rng = np.random.default_rng(seed)
    data = {f"c{c}": rng.choice(["", "a", "b", "c"], size=n, p=[0.1, 0.5, 0.3, 0.1]) for c in range(m)}
    return encode_frame(pd.DataFrame(data))


@pytest.mark.parametrize("mode", MODES)
def test_different_seed_different_output(mode):
    table = random_table()
    a = run_mode(mode, table, 3, 1)
    b = run_mode(mode, table, 3, 2)
    assert a.codes.shape != b.codes.shape or not np.array_equal(a.codes, b.codes)
    assert np.array_equal(a.codes, run_mode(mode, table, 3, 1).codes)


@pytest.mark.parametrize("mode", MODES)
def test_progress_false_cancels(mode):
    table = random_table()
    calls = []

    def stop(fraction, message):
        calls.append(fraction)
        return False

    with pytest.raises(localsynth.Cancelled):
        run_mode(mode, table, 3, 0, progress=stop)
    assert calls


@pytest.mark.parametrize("mode", MODES)
def test_progress_reaches_the_end(mode):
    table = random_table()
    seen = []
    run_mode(mode, table, 3, 0, progress=lambda f, msg: seen.append(f))
    assert seen and seen[-1] == pytest.approx(1.0) and all(0 <= f <= 1 for f in seen)
    assert all(b >= a - 1e-12 for a, b in zip(seen, seen[1:]))


@pytest.mark.parametrize("mode", ["row-seeded", "value-seeded", "unseeded"])
def test_public_synthesize_checker_agrees(mode):
    table = random_table(n=400, m=5)
    res = localsynth.synthesize(table, localsynth.SynthesisParams(mode=mode, resolution=4, length=3, seed=5))
    assert localsynth.check_k_anonymity(table, res.synthetic, 4, None) == []


# ---- exact small cases ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_identical_rows_are_reproduced(mode):
    """Ten identical rows, k = 5: every record can only be the full row, ten times."""
    table = frame_table([("a", "x")] * 10)
    out = run_mode(mode, table, 5, 3)
    assert out.codes.tolist() == [[0, 0]] * 10


@pytest.mark.parametrize("mode", MODES)
def test_only_one_outcome_per_value(mode):
    """(a, x) ×5 and (b, y) ×5 with k = 5: a goes only with x and b only with y."""
    table = frame_table([("a", "x")] * 5 + [("b", "y")] * 5)
    out = run_mode(mode, table, 5, 11)
    assert set(map(tuple, out.codes.tolist())) <= {(0, 0), (1, 1)}
    if mode != "unseeded":
        assert sorted(map(tuple, out.codes.tolist())) == [(0, 0)] * 5 + [(1, 1)] * 5
    else:
        assert out.n_records == 10


def test_rare_value_is_never_used_and_counts_are_rounded():
    """6 × (a, x) and 2 × (b, x), k = 3: 'b' (2 < 3) never appears; a and x are rounded to 6 each."""
    table = frame_table([("a", "x")] * 6 + [("b", "x")] * 2)
    for mode in ["row-seeded", "value-seeded"]:
        for seed in range(5):
            out = run(mode, table, 3, seed)
            counts = single_counts(out)
            assert counts == Counter({(0, 0): 6, (1, 0): 6}), (mode, seed, counts)
    for seed in range(5):
        out = run("unseeded", table, 3, seed)
        # 'b' (code 1 of column 0) is rare: column 0 is 'a' or blank. A record that leaves column 0 blank
        # first keeps matching the two 'b' rows only, where x is rare too, and ends up all blank (dropped).
        assert set(map(tuple, out.codes.tolist())) <= {(0, 0), (-1, 0)}
        assert out.n_records <= 8


def test_row_seeded_k1_reproduces_the_table():
    """With k = 1 every seed keeps all of its values: the output is the table, shuffled."""
    table = random_table(n=50, m=4)
    out = run("row-seeded", table, 1, 0)
    assert sorted(map(tuple, out.codes.tolist())) == sorted(map(tuple, table.codes[(table.codes >= 0).any(axis=1)].tolist()))


def test_unseeded_first_column_frequencies():
    """One column, values a ×6, b ×3, c ×1 (k = 2): c is blank (dropped), a : b ≈ 2 : 1."""
    table = frame_table([("a",)] * 6 + [("b",)] * 3 + [("c",)])
    out = run("unseeded", table, 2, 0, n=6000)
    vals = Counter(out.codes[:, 0].tolist())
    assert set(vals) <= {0, 1}
    assert out.n_records == pytest.approx(5400, abs=150)     # 1/10 of the records are blank and dropped
    assert vals[0] / vals[1] == pytest.approx(2.0, rel=0.1)


def test_row_seeded_weights_follow_counts():
    """A seed (a, x) where count(a) = 8, count(x) = 4 and count(a, x) = 4, k = 2: first pick a with
    probability 8/12; afterwards x is always added (count 4 ≥ 2). The output of the seed is (a, x)."""
    table = frame_table([("a", "x")] * 4 + [("a", "y")] * 4 + [("b", "x")] * 0 + [("c", "z")] * 2)
    out = run("row-seeded", table, 2, 0)
    assert not brute_force_violations(table, out, 2)
    assert single_counts(out) == single_counts(table)        # all counts are multiples of 2 already


def test_german_credit_no_violations(german):
    if german is None:
        pytest.skip("german_credit data not available")
    for mode in ["row-seeded", "value-seeded", "unseeded"]:
        res = localsynth.synthesize(german, localsynth.SynthesisParams(mode=mode, resolution=10, length=3, seed=1))
        assert localsynth.check_k_anonymity(german, res.synthetic, 10, 3) == []


# ---- exact sampling distributions -------------------------------------------------------------------
def _matches(codes, cols, values):
    return int(np.all(codes[:, cols] == np.array(values), axis=1).sum()) if cols else len(codes)


def row_seeded_distribution(codes, seed_row, k):
    """Probability of each final set of columns a seed keeps, by the sequential reference rule
    (weights = count(record-so-far ∪ {c}) if ≥ k), enumerated exhaustively."""
    out = Counter()

    def go(chosen, prob):
        cands = [c for c in range(len(seed_row)) if seed_row[c] >= 0 and c not in chosen]
        w = {}
        for c in cands:
            cols = sorted(chosen + [c])
            cnt = _matches(codes, cols, [seed_row[x] for x in cols])
            if cnt >= k:
                w[c] = cnt
        if not w:
            out[frozenset(chosen)] += prob
            return
        total = sum(w.values())
        for c, cnt in w.items():
            go(chosen + [c], prob * cnt / total)

    go([], 1.0)
    return out


@pytest.mark.parametrize("table_seed", [1, 2, 3])
def test_row_seeded_draws_follow_the_reference_distribution(table_seed):
    """Many copies of one seed grown by the lock-step rejection sampler: the frequencies of the final
    records match the exactly enumerated distribution of the sequential reference."""
    from localsynth.generator import kanon
    from localsynth.progress import Progress

    rng = np.random.default_rng(table_seed)
    n, m = 60, 4
    data = {f"c{c}": rng.choice(["a", "b", "c", ""], size=n, p=[0.5, 0.3, 0.15, 0.05]) for c in range(m)}
    table = encode_frame(pd.DataFrame(data))
    k = 4
    seed_row = table.codes[int(np.argmax((table.codes >= 0).sum(axis=1)))]
    expected = row_seeded_distribution(table.codes, seed_row.tolist(), k)
    copies = 20000
    ctx = kanon._Context(table, k)
    grown = kanon._grow_from_seeds(ctx, np.repeat(seed_row[None, :], copies, axis=0),
                                   np.random.default_rng(0), Progress())
    got = Counter(frozenset(np.flatnonzero(g >= 0).tolist()) for g in grown)
    assert set(got) <= set(expected)
    for outcome, p in expected.items():
        sd = math.sqrt(max(p * (1 - p), 0.0) / copies)
        assert abs(got[outcome] / copies - p) <= 5 * sd + 1e-3, (outcome, got[outcome] / copies, p)


def unseeded_distribution(codes, k):
    """Distribution of one unseeded record (tuple of codes, -1 blank) over uniformly random column
    orders, by the reference weights with the rare-rows fix, enumerated exhaustively."""
    m = codes.shape[1]
    out = Counter()
    orders = list(itertools.permutations(range(m)))

    def go(order, t, rows, rec, prob):
        if t == m:
            out[tuple(rec)] += prob
            return
        c = order[t]
        vals = Counter(codes[rows, c].tolist())
        total = len(rows)
        frequent = {v for v, cnt in vals.items() if v >= 0 and cnt >= k}
        for v in frequent:
            go(order, t + 1, rows[codes[rows, c] == v], rec[:c] + [v] + rec[c + 1:], prob * vals[v] / total)
        blank = rows[~np.isin(codes[rows, c], list(frequent))]
        if len(blank):
            go(order, t + 1, blank, rec, prob * len(blank) / total)

    for order in orders:
        go(order, 0, np.arange(len(codes)), [-1] * m, 1.0 / len(orders))
    return out


def test_unseeded_draws_follow_the_reference_distribution():
    rng = np.random.default_rng(5)
    n, m = 50, 3
    data = {f"c{c}": rng.choice(["a", "b", "c", ""], size=n, p=[0.5, 0.25, 0.15, 0.1]) for c in range(m)}
    table = encode_frame(pd.DataFrame(data))
    k = 4
    expected = unseeded_distribution(table.codes, k)
    spy = []
    from localsynth.generator import kanon
    original = kanon.finish
    kanon.finish = lambda codes, like, rng_, name: (spy.append(codes.copy()), original(codes, like, rng_, name))[1]
    try:
        copies = 20000
        run("unseeded", table, k, 0, n=copies)
    finally:
        kanon.finish = original
    got = Counter(map(tuple, spy[-1].tolist()))
    assert set(got) <= set(expected)
    for outcome, p in expected.items():
        sd = math.sqrt(max(p * (1 - p), 0.0) / copies)
        assert abs(got[outcome] / copies - p) <= 5 * sd + 1e-3, (outcome, got[outcome] / copies, p)


# ---- the partial-record engine ----------------------------------------------------------------------
def test_partials_against_brute_force():
    """Counts, narrowing, listing, row selection and qualifying cells of bitset and list partials."""
    from localsynth.generator.partials import Partials, RecordIndex

    table = random_table(n=1000, m=5, seed=3)
    ix = RecordIndex(table)
    codes, ids = table.codes, ix.ids
    rng = np.random.default_rng(0)
    partials = Partials.root(ix)
    pid = np.zeros(40, dtype=np.int64)
    kinds = set()
    members = [np.arange(table.n_records)] * 40            # brute-force record sets per record
    for _ in range(4):
        # a random attribute of a random matching record, per record
        attr = np.array([ids[rng.choice(rows)][rng.integers(ix.m)] if len(rows) else -1 for rows in members])
        attr = np.where(attr >= 0, attr, ids[ids >= 0][0])
        counts = partials.pair_counts_shared(pid, attr)
        expect = [int((ids[rows] == a).any(axis=1).sum()) for rows, a in zip(members, attr)]
        assert counts.tolist() == expect
        partials, pid = partials.narrow(pid, attr)
        members = [rows[(ids[rows] == a).any(axis=1)] for rows, a in zip(members, attr)]
        assert partials.sizes[pid].tolist() == [len(r) for r in members]
        kinds |= set((pid < partials.n_bits).tolist())
        rows, owner = partials.list_rows(pid)
        for i, r in enumerate(members):
            assert rows[owner == i].tolist() == r.tolist()
        for i, r in enumerate(members):
            if len(r):
                ranks = np.arange(len(r))
                assert partials.sample_rows(np.full(len(r), pid[i]), ranks).tolist() == r.tolist()
        mask = rng.random(ix.A) < 0.7
        free = rng.random((len(pid), ix.m)) < 0.8
        free[:] = free[np.unique(pid, return_inverse=True)[1].reshape(-1)]  # equal pids, equal columns
        starts, attrs, inverse = partials.qualifying_cells(pid, mask, free, 3)
        for i, r in enumerate(members):
            cells = [a for row in r for c, a in enumerate(ids[row]) if a >= 0 and mask[a] and free[i, c]]
            cnt = Counter(cells)
            want = sorted(a for a in cells if cnt[a] >= 3)
            u = inverse[i]
            assert sorted(attrs[starts[u]:starts[u + 1]].tolist()) == want
    assert kinds == {True, False}                             # both bitset and list partials were used
