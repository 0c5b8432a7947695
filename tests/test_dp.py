"""DP aggregation (reference section 6), completion of suppressed cells, and their invariants."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localsynth.aggregate import aggregate, key_lengths, pack, radix, unpack
from localsynth.dp import (DpParams, NoiseParams, Thresholds, _candidates, complete_records, dp_aggregate,
                           dp_percentile, percentile_scores)
from localsynth.errors import Cancelled, ParameterError
from localsynth.table import EncodedTable, encode_frame


# ---- budget split (reference 6.2) --------------------------------------------------------------------
def test_worked_example_long_l4():
    p = DpParams(epsilon=4.0, length=4, records_epsilon_share=0.005, percentile_epsilon_share=0.01,
                 accuracy_mode="long").noise_params(6000)
    assert p.delta == pytest.approx(1.9158e-5, rel=1e-4)
    assert p.rho == pytest.approx(0.29394, rel=1e-4)
    assert p.epsilon_records == pytest.approx(0.02)
    assert p.epsilon_main == pytest.approx(3.98)
    assert p.epsilon_percentile == pytest.approx(0.03834, rel=1e-3)
    assert p.sigma == pytest.approx(7.1796, rel=1e-4)
    assert p.sigmas == pytest.approx([7.180, 3.590, 2.393, 1.795], rel=2e-4)
    assert p.threshold_kind == "adaptive" and p.threshold_values == (1.0, 1.0, 1.0)


def test_worked_example_balanced_l3():
    p = DpParams(epsilon=4.0, length=3, accuracy_mode="balanced").noise_params(6000)
    assert p.epsilon_percentile == pytest.approx(0.04427, rel=1e-3)
    assert p.sigmas == pytest.approx([2.2704] * 3, rel=1e-4)


@settings(max_examples=60, deadline=None)
@given(eps=st.floats(0.05, 30), L=st.integers(1, 6), qp=st.floats(0.001, 0.5),
       np_=st.one_of(st.none(), st.floats(0.001, 0.5)), n=st.integers(2, 10**7),
       mode=st.sampled_from(["long", "short", "balanced"]))
def test_budget_split_sums(eps, L, qp, np_, n, mode):
    delta = None if np_ is not None else 1e-6
    p = DpParams(epsilon=eps, length=L, percentile_epsilon_share=qp, records_epsilon_share=np_,
                 accuracy_mode=mode, delta=delta).noise_params(n)
    assert p.epsilon_records + p.epsilon_main == pytest.approx(eps, rel=1e-12)
    spent = L * p.epsilon_percentile ** 2 / 2 + sum(1 / (2 * s * s) for s in p.sigmas)
    assert spent == pytest.approx(p.rho, rel=1e-9)
    assert p.rho_spent == pytest.approx(p.rho, rel=1e-9)
    # zCDP → (ε_M, δ/2)-DP conversion (Bun–Steinke) holds with equality
    assert p.rho + 2 * math.sqrt(p.rho * math.log(2 / p.delta)) == pytest.approx(p.epsilon_main, rel=1e-9)


def test_modes_resolve_like_reference():
    assert DpParams(length=3, accuracy_mode="long").sigma_proportions() == pytest.approx([1, 0.5, 1 / 3])
    assert DpParams(length=3, accuracy_mode="short").sigma_proportions() == pytest.approx([1 / 3, 0.5, 1])
    assert DpParams(length=4, fabrication_mode="progressive").thresholds().values == ((2, 0.1), (3, 0.55), (4, 1.0))
    assert DpParams(length=2, fabrication_mode="progressive").thresholds().values == ((2, 0.1),)
    assert DpParams(length=3, fabrication_mode="balanced").thresholds().values == ((2, 0.55), (3, 1.0))
    assert DpParams(length=3, fabrication_mode="minimize").thresholds().values == ((2, 0.01), (3, 0.01))
    custom = DpParams(length=3, fabrication_mode=Thresholds.fixed({3: 12.5}))
    p = custom.noise_params(1000)
    assert p.threshold_kind == "fixed" and p.threshold_values == (0.0, 12.5)
    assert p.threshold(3, 50) == 12.5 and p.threshold(2, 50) == 0.0


def test_thresholds_match_reference_illustration():
    # reference 6.4 step 6: Δ_2 = 45, σ_2 = 3.59 → η 0.55 → 14.4, 0.1 → 39.6, 0.01 → 62.0, 1 → 0
    base = DpParams(epsilon=4.0, length=4).noise_params(6000)
    for eta, tau in ((1.0, 0.0), (0.55, 14.4), (0.1, 39.6), (0.01, 62.0)):
        p = DpParams(epsilon=4.0, length=4, fabrication_mode=Thresholds.adaptive({2: eta})).noise_params(6000)
        assert p.threshold(2, 45) == pytest.approx(tau, abs=0.1)
    # Δ_1 = 10 ⇒ τ_1 ≈ 109
    assert base.threshold(1, 10) == pytest.approx(109, abs=1)


# ---- DP percentile (reference 6.3) -------------------------------------------------------------------
@pytest.mark.parametrize("values, expected", [
    ([0, 1, 4, 5, 5, 8, 11, 12, 12, 15], [-5, -4, -4, -4, -3, -1, -1, -1, 0, -1, -1, -1, -3, -3, -3, -4]),
    ([15, 1, 4, 5, 7, 8, 11, 12, 13, 0], [-5, -4, -4, -4, -3, -2, -2, -1, 0, -1, -1, -1, -2, -3, -3, -4]),
    ([4] * 10, [-6, -6, -6, -6, 0]),
    ([4] * 8 + [5, 5], [-6, -6, -6, -6, 0, -4]),
    (list(range(2, 12)), [-6, -6, -5, -4, -3, -2, -1, 0, -1, -2, -3, -4]),
    ([5, 4], [-2, -2, -2, -2, 0, -1]),
    ([4], [-1, -1, -1, -1, 0]),
    ([], []),
])
def test_percentile_scores_reference_vectors(values, expected):
    assert percentile_scores(values, 60).tolist() == expected


def test_dp_percentile_concentrates_and_handles_empty():
    rng = np.random.default_rng(0)
    assert dp_percentile([], 99, 1.0, rng) == 0
    values = np.r_[np.full(990, 7), np.arange(10) + 20]
    # type-8 99th percentile = 15.6 → v* = 7 (q = 0); 8..19 are absent and score −1; noise mean 2/ε
    assert percentile_scores(values, 99)[7:21].tolist() == [0] + [-1] * 12 + [-1]
    picks = [dp_percentile(values, 99, 100.0, np.random.default_rng(s)) for s in range(50)]
    assert picks == [7] * 50
    picks = [dp_percentile(values, 99, 1.0, np.random.default_rng(s)) for s in range(200)]
    assert set(picks) <= set(range(30)) and 0 < picks.count(7) < 100
    # a data-independent candidate range: values above max(values) carry the score of the maximum
    assert dp_percentile([4] * 10, 60, 1e6, np.random.default_rng(0), upper=9) == 4
    assert dp_percentile([], 60, 1e6, np.random.default_rng(0), upper=5) == 0
    with pytest.raises(ParameterError, match="upper bound"):
        dp_percentile([7], 60, 1.0, rng, upper=5)
    with pytest.raises(ParameterError, match="percentile ε"):
        dp_percentile(values, 99, 0, rng)


# ---- candidate universes (reference 6.4 step 1, tests/dp/noise_aggregator.rs) ------------------------
def _reference_table() -> EncodedTable:
    return encode_frame(pd.DataFrame({"A": ["a1", "a2", "a1"], "B": ["b1", "b2", ""], "C": ["c1", "", "c1"],
                                      "D": ["d1", "d2", ""]}))


def test_candidate_sets_of_reference_case():
    t = _reference_table()
    d, r = t.domain, radix(t.domain)
    singles = np.unique(t.attribute_ids()[t.codes >= 0])
    assert len(singles) == 7
    k2, a2 = _candidates(singles + 1, singles[:, None], 2, d, r)
    assert len(k2) == 18
    k3, a3 = _candidates(k2, a2, 3, d, r)
    assert len(k3) == 20
    assert np.all(np.diff(k3) > 0) and np.array_equal(pack(a3, r), k3)
    ids = {lab: i for i, lab in enumerate(d.attribute_labels())}
    drop = pack(np.array([[ids["A:a1"], ids["B:b1"]], [ids["A:a2"], ids["D:d1"]]]), r)
    keep = ~np.isin(k2, drop)
    k3b, _ = _candidates(k2[keep], a2[keep], 3, d, r)
    assert len(k3b) == 14


def test_dp_aggregate_reports_candidate_counts():
    # the reference case repeated 500 times: singles survive; "minimize" drops the 9 zero-count pairs
    t = _reference_table()
    big = t.with_codes(np.repeat(t.codes, 500, axis=0))
    agg = dp_aggregate(big, DpParams(epsilon=50, length=3, fabrication_mode="minimize"), seed=1)
    per = agg.meta["per_length"]
    assert [p["candidates"] for p in per] == [7, 18, 5]
    assert [p["released"] for p in per] == [7, 9, 5]
    exact = aggregate(big, 3)
    assert np.array_equal(agg.keys, exact.keys)
    assert np.all(np.abs(agg.counts - exact.counts) <= 5)


# ---- noise calibration ---------------------------------------------------------------------------
def test_noise_std_matches_sigma_k_sqrt_delta_k():
    """Length-1 and length-2 errors over many seeds have variance (σ_k√Δ_k)² + 1/12 (rounding)."""
    rng = np.random.default_rng(7)
    n = 4000
    t = encode_frame(pd.DataFrame({"X": rng.choice(["x1", "x2"], n), "Y": rng.choice(["y1", "y2", "y3"], n)}))
    exact = aggregate(t, 2)
    params = DpParams(epsilon=1.0, length=2, accuracy_mode="balanced", delta=1e-6)   # fixed δ ⇒ fixed σ
    errors = {1: [], 2: []}
    scales = set()
    lengths = exact.lengths()
    for seed in range(150):
        agg = dp_aggregate(t, params, seed=seed)
        assert [p["contribution_bound"] for p in agg.meta["per_length"]] == [2, 1]
        scales.add(tuple(p["noise_scale"] for p in agg.meta["per_length"]))
        assert np.array_equal(agg.keys, exact.keys)      # counts ~ 300..2000 ≫ noise: nothing dropped
        for k in (1, 2):
            sel = lengths == k
            errors[k].append(agg.counts[sel] - exact.counts[sel])
    assert len(scales) == 1
    noise = params.noise_params(agg.protected_records)
    (s1, s2), = scales
    assert s1 == pytest.approx(noise.sigmas[0] * math.sqrt(2))
    assert s2 == pytest.approx(noise.sigmas[1] * math.sqrt(1))
    for k, scale in ((1, s1), (2, s2)):
        e = np.concatenate(errors[k]).astype(np.float64)
        # the normalisation min(pair, singles) never binds here (pairs ≈ n/6, singles ≥ n/3)
        expected = scale ** 2 + 1 / 12
        dof = len(e)
        ratio = (e ** 2).sum() / (dof * expected)     # mean known (0): χ²_dof / dof
        assert abs(ratio - 1) < 5 * math.sqrt(2 / dof), (k, ratio)
        assert abs(e.mean()) < 5 * math.sqrt(expected / dof)


def test_noisy_record_count_is_laplace():
    t = encode_frame(pd.DataFrame({"X": ["a", "b"] * 500}))
    params = DpParams(epsilon=2.0, length=1, records_epsilon_share=0.05)   # scale 1/0.1 = 10
    diffs = np.array([dp_aggregate(t, params, seed=s).protected_records - 1000 for s in range(400)], float)
    expected = 2 * 10.0 ** 2 + 1 / 12
    ratio = (diffs ** 2).mean() / expected
    assert abs(ratio - 1) < 5 * math.sqrt(5 / len(diffs))   # Laplace: Var(x²)/E(x²)² = 5


# ---- invariants on random tables -------------------------------------------------------------------
@st.composite
def tables(draw, max_cols=5):
    m = draw(st.integers(1, max_cols))
    n = draw(st.integers(30, 400))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    data = {}
    for c in range(m):
        k = draw(st.integers(1, 5))
        p = rng.dirichlet(np.ones(k + 1))
        values = np.array([""] + [f"v{j}" for j in range(k)], dtype=object)
        data[f"c{c}"] = values[rng.choice(k + 1, n, p=p)]
    frame = pd.DataFrame(data)
    return encode_frame(frame)


dp_settings = st.builds(
    DpParams,
    epsilon=st.sampled_from([0.5, 2.0, 10.0, 100.0]),
    length=st.integers(1, 4),
    records_epsilon_share=st.sampled_from([0.005, 0.1]),
    accuracy_mode=st.sampled_from(["long", "short", "balanced"]),
    fabrication_mode=st.sampled_from(["uncontrolled", "progressive", "balanced", "minimize"]),
)


def _assert_monotone(agg):
    r = agg.radix
    lengths = agg.lengths()
    for l in range(2, int(lengths.max(initial=1)) + 1):
        sel = lengths == l
        attrs = unpack(agg.keys[sel], r, l)
        for j in range(l):
            sub = pack(np.delete(attrs, j, axis=1), r)
            pos = agg.index(sub)
            assert np.all(pos >= 0), "a sub-combination is missing"
            assert np.all(agg.counts[pos] >= agg.counts[sel])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=tables(), params=dp_settings, seed=st.integers(0, 1000))
def test_dp_aggregate_invariants(t, params, seed):
    agg = dp_aggregate(t, params, seed=seed)
    assert agg.kind == "dp" and agg.protected_records >= 1 and agg.n_records == t.n_records
    assert np.all(agg.counts > 0)
    assert np.all(np.diff(agg.keys) > 0)
    r = agg.radix
    attrs = unpack(agg.keys, r, agg.length)
    # within the domain, distinct columns, length ≤ L
    assert np.all(attrs < t.domain.n_attributes)
    lengths = agg.lengths()
    assert np.all((lengths >= 1) & (lengths <= min(params.length, t.domain.n_columns)))
    cols = np.where(attrs >= 0, t.domain.attr_column[np.maximum(attrs, 0)], -1 - np.arange(attrs.shape[1]))
    assert all(len(set(row)) == len(row) for row in cols.tolist())
    # no fabricated single values
    true_singles = t.attribute_counts()
    singles = attrs[lengths == 1, 0]
    assert np.all(true_singles[singles] > 0)
    _assert_monotone(agg)
    # same seed, same output
    again = dp_aggregate(t, params, seed=seed)
    assert np.array_equal(agg.keys, again.keys) and np.array_equal(agg.counts, again.counts)
    assert agg.protected_records == again.protected_records


def test_different_seeds_differ_and_generator_accepted():
    rng = np.random.default_rng(3)
    t = encode_frame(pd.DataFrame({"A": rng.choice(list("abc"), 2000), "B": rng.choice(list("xyz"), 2000)}))
    a = dp_aggregate(t, DpParams(epsilon=1), seed=1)
    b = dp_aggregate(t, DpParams(epsilon=1), seed=2)
    c = dp_aggregate(t, DpParams(epsilon=1), seed=np.random.default_rng(1))
    assert not (np.array_equal(a.keys, b.keys) and np.array_equal(a.counts, b.counts))
    assert np.array_equal(a.keys, c.keys) and np.array_equal(a.counts, c.counts)
    assert "protected_count" in a.to_text().splitlines()[0]


def test_contribution_bound_subsets_are_random_but_bounded():
    # 1500 full records (4 singles, 6 pairs) and 1500 with only C, D (2 singles, 1 pair); the 40th
    # percentile gives Δ_1 = 2, Δ_2 = 1: full records add to a random half of their singles, 1 of 6 pairs
    rng = np.random.default_rng(5)
    half = 1500
    frame = pd.DataFrame({c: rng.choice(["p", "q"], 2 * half) for c in "ABCD"})
    frame.loc[half:, ["A", "B"]] = ""
    t = encode_frame(frame)
    params = DpParams(epsilon=1e4, length=2, percentile=40, fabrication_mode="minimize", delta=1e-9,
                      records_epsilon_share=None)
    agg = dp_aggregate(t, params, seed=0)
    per = agg.meta["per_length"]
    assert [p["contribution_bound"] for p in per] == [2, 1]
    lengths = agg.lengths()
    assert abs(agg.counts[lengths == 1].sum() - 4 * half) <= 8       # noise ≈ 0.02, rounding
    assert abs(agg.counts[lengths == 2].sum() - 2 * half) <= 8
    exact = aggregate(t, 2)
    a_keys = exact.keys[exact.lengths() == 1][:4]     # A:p, A:q, B:p, B:q
    for key in a_keys:
        true = exact.lookup(np.array([key]))[0]
        got = agg.lookup(np.array([key]))[0]
        assert abs(got - true / 2) < 5 * math.sqrt(true / 4)            # Binomial(true, 1/2)
    # no noisy count released: the record count is estimated from the singles (post-processing)
    singles = agg.counts[lengths == 1].reshape(4, 2).sum(axis=1)       # per column A, B, C, D
    assert agg.meta["records_estimated"] and agg.protected_records == singles.max()


def test_progress_and_cancel():
    t = _reference_table()
    seen = []
    dp_aggregate(t, DpParams(epsilon=4), seed=0, progress=lambda f, msg: seen.append(f))
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    with pytest.raises(Cancelled):
        dp_aggregate(t, DpParams(epsilon=4), seed=0, progress=lambda f, msg: False)


# ---- complete_records ------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=tables(), L=st.integers(1, 3), holes=st.floats(0, 0.8), seed=st.integers(0, 100))
def test_complete_records_invariants(t, L, holes, seed):
    agg = dp_aggregate(t, DpParams(epsilon=20, length=L, records_epsilon_share=0.1), seed=seed)
    rng = np.random.default_rng(seed)
    codes = t.codes.copy()
    codes[rng.random(codes.shape) < holes] = -1
    syn = t.with_codes(codes)
    method = ["pairs", "context"][seed % 2]
    out = complete_records(syn, agg, seed=seed, method=method)
    assert out.codes.shape == codes.shape
    kept = codes >= 0
    assert np.array_equal(out.codes[kept], codes[kept])               # present cells untouched
    assert np.all(out.codes < t.domain.sizes[None, :])                # never outside the domain
    lengths = agg.lengths()
    released = set((agg.keys[lengths == 1] - 1).tolist())
    ids = out.attribute_ids()
    filled = (codes < 0) & (out.codes >= 0)
    assert set(ids[filled].tolist()) <= released                       # only released values
    singles = np.zeros(t.domain.n_attributes)
    singles[agg.keys[lengths == 1] - 1] = agg.counts[lengths == 1]
    col_total = np.bincount(t.domain.attr_column, weights=singles, minlength=t.domain.n_columns)
    n = len(codes)
    share = np.minimum(1, col_total / agg.reported_records)
    scale = agg.meta["per_length"][0]["noise_scale"] or 0.0
    released = np.bincount(t.domain.attr_column, weights=(singles > 0) * 1.0, minlength=t.domain.n_columns)
    sd = np.sqrt(released * scale ** 2 + 2 / agg.meta["noise"]["epsilon_records"] ** 2)
    share[agg.reported_records - col_total < 2 * sd] = 1
    target = np.floor(share * n + 0.5)
    before = (codes >= 0).sum(axis=0)
    after = (out.codes >= 0).sum(axis=0)
    expected = np.where(col_total > 0, np.maximum(before, np.minimum(target, n)), before)
    assert np.array_equal(after, expected)
    full = (share == 1) & (col_total > 0)
    assert np.all(out.codes[:, full] >= 0)                              # no suppressed cell left there
    assert np.array_equal(complete_records(syn, agg, seed=seed, method=method).codes, out.codes)


def test_complete_records_follows_pair_counts():
    # B is a deterministic function of A; knock B out of half the records: the fill must follow A
    rng = np.random.default_rng(1)
    n = 6000
    a = rng.choice(["a1", "a2", "a3"], n)
    b = np.array([{"a1": "b1", "a2": "b2", "a3": "b3"}[x] for x in a], dtype=object)
    t = encode_frame(pd.DataFrame({"A": a, "B": b}))
    agg = dp_aggregate(t, DpParams(epsilon=10, length=2, fabrication_mode="minimize"), seed=0)
    codes = t.codes.copy()
    codes[: n // 2, 1] = -1
    for method, accuracy in (("pairs", 0.97), ("context", 0.99)):
        out = complete_records(t.with_codes(codes), agg, seed=0, method=method)
        assert np.all(out.codes[:, 1] >= 0)
        assert np.mean(out.codes[:, 1] == t.codes[:, 1]) > accuracy     # pairs: tempered, slightly blurred
    with pytest.raises(ParameterError, match="completion method"):
        complete_records(t.with_codes(codes), agg, seed=0, method="magic")


def test_complete_records_keeps_legitimately_absent_share():
    # column B is absent in 40 % of the sensitive records: completion keeps ≈ 40 % absent
    rng = np.random.default_rng(2)
    n = 5000
    b = np.where(rng.random(n) < 0.4, "", rng.choice(["x", "y"], n))
    t = encode_frame(pd.DataFrame({"A": rng.choice(["p", "q"], n), "B": b}))
    agg = dp_aggregate(t, DpParams(epsilon=10, length=2), seed=0)
    codes = t.codes.copy()
    codes[:, 1] = -1
    out = complete_records(t.with_codes(codes), agg, seed=0)
    assert abs((out.codes[:, 1] < 0).mean() - 0.4) < 0.03


# ---- parameter validation --------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(epsilon=0), r"privacy budget ε \(epsilon\) must be a number > 0"),
    (dict(epsilon=-1), r"must be a number > 0"),
    (dict(delta=0), r"δ \(delta\) must be a number strictly between 0 and 1"),
    (dict(delta=1.5), r"strictly between 0 and 1"),
    (dict(length=0), r"aggregation limit \(L\) must be a whole number ≥ 1"),
    (dict(percentile=101), r"contribution percentile must be between 0 and 100"),
    (dict(percentile_epsilon_share=1.0), r"percentile_epsilon_share must be a share of ε strictly between 0 and 1"),
    (dict(records_epsilon_share=0), r"records_epsilon_share must be a share"),
    (dict(accuracy_mode="fast"), r"accuracy mode must be one of long, short, balanced"),
    (dict(length=3, accuracy_mode=(1, 0.5)), r"one value per length 1..3 \(3 values\), got 2"),
    (dict(length=2, accuracy_mode=(1, 0)), r"must all be > 0"),
    (dict(fabrication_mode="none"), r"fabrication mode must be one of uncontrolled"),
    (dict(length=2, fabrication_mode=Thresholds.adaptive({3: 0.5})), r"given for length 3 but .* L is 2"),
])
def test_parameter_messages(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        DpParams(**kwargs)


def test_threshold_messages():
    with pytest.raises(ParameterError, match=r"adaptive threshold η for length 2 must be in \(0, 1\]"):
        Thresholds.adaptive({2: 0})
    with pytest.raises(ParameterError, match=r"fixed threshold for length 3 must be ≥ 0"):
        Thresholds.fixed({3: -1})
    with pytest.raises(ParameterError, match=r"length 2, 3, …; 1 is not such a length"):
        Thresholds.fixed({1: 5})
    with pytest.raises(ParameterError, match="give δ explicitly"):
        dp_aggregate(_reference_table(), DpParams(records_epsilon_share=None), seed=0)
    with pytest.raises(ParameterError, match="seed"):
        dp_aggregate(_reference_table(), DpParams(), seed=-3)


# ---- DP aggregate-seeded synthesis ----------------------------------------------------------------------
def test_dp_aggregate_seeded_pipeline():
    from localsynth.dp import DpAggregateSeeded

    rng = np.random.default_rng(11)
    n = 3000
    a = rng.choice(["a1", "a2", "a3"], n, p=[0.5, 0.3, 0.2])
    b = np.where(a == "a1", rng.choice(["b1", "b2"], n, p=[0.9, 0.1]), rng.choice(["b1", "b2"], n, p=[0.2, 0.8]))
    c = rng.choice(["c1", "c2", "c3", "c4"], n)
    t = encode_frame(pd.DataFrame({"A": a, "B": b, "C": c}))
    model = DpAggregateSeeded(DpParams(epsilon=8, length=2)).fit(t, seed=1)
    agg = model.aggregates_
    assert agg.kind == "dp"
    out = model.sample(seed=2)
    assert out.domain.same_as(t.domain) and out.n_records == agg.reported_records
    assert np.all(out.codes < t.domain.sizes[None, :])
    # complete records: every column is full in the sensitive data, so nothing stays empty
    assert (out.codes < 0).mean() < 0.01
    again = DpAggregateSeeded(DpParams(epsilon=8, length=2)).fit(t, seed=1).sample(seed=2)
    assert np.array_equal(again.codes, out.codes)
    assert model.sample(500, seed=3).n_records == 500
    # the association A→B survives
    share_b1_given_a1 = np.mean(out.codes[out.codes[:, 0] == 0, 1] == 0)
    assert 0.8 < share_b1_given_a1 < 0.97
    with pytest.raises(ParameterError, match="fit"):
        DpAggregateSeeded().sample(seed=0)


def test_dp_pairs_sampler():
    from localsynth.dp import DpAggregateSeeded

    rng = np.random.default_rng(11)
    n = 3000
    a = rng.choice(["a1", "a2", "a3"], n, p=[0.5, 0.3, 0.2])
    b = np.where(a == "a1", rng.choice(["b1", "b2"], n, p=[0.9, 0.1]), rng.choice(["b1", "b2"], n, p=[0.2, 0.8]))
    t = encode_frame(pd.DataFrame({"A": a, "B": b}))
    model = DpAggregateSeeded(DpParams(epsilon=8, length=2), sampler="pairs").fit(t, seed=1)
    out = model.sample(seed=2)
    assert out.n_records == model.aggregates_.reported_records and np.all(out.codes >= 0)
    share = np.mean(out.codes[out.codes[:, 0] == 0, 1] == 0)
    assert 0.8 < share < 0.97
    assert np.array_equal(model.sample(seed=2).codes, out.codes)
    with pytest.raises(ParameterError, match="sampler must be"):
        DpAggregateSeeded(sampler="mst")
