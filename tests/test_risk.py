"""The shared column-set scan: aggregates, risk and marginal cells from one pass must equal the separate
computations exactly."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import localsynth as ls
from localsynth.aggregate import count_tables, scan_counts
from localsynth.evaluate import align_tables, marginal_errors
from localsynth.risk import aggregate_and_assess_risk, assess_risk


def _random_table(rng, n, values, name):
    rows = [",".join(f"C{j}" for j in range(len(values)))]
    for _ in range(n):
        rows.append(",".join(rng.choice(v) for v in values))
    return ls.load_table("\n".join(rows) + "\n", name=name)


def _pair(seed, n_cols=5):
    rng = np.random.default_rng(seed)
    vals = [[f"v{j}{i}" for i in range(int(rng.integers(1, 6)))] + ([""] if j % 2 == 0 else [])
            for j in range(n_cols)]
    other = [v + [f"w{j}"] for j, v in enumerate(vals)]  # values the first table lacks
    a = _random_table(rng, int(rng.integers(1, 80)), vals, "a")
    b = _random_table(rng, int(rng.integers(1, 80)), other, "b")
    return align_tables(a, b)


def _risk_equal(r1, r2):
    assert (r1.resolution, r1.length, r1.n_records) == (r2.resolution, r2.length, r2.n_records)
    assert (r1.records_with_unique, r1.records_with_rare) == (r2.records_with_unique, r2.records_with_rare)
    pd.testing.assert_frame_equal(r1.by_length, r2.by_length, check_exact=True)
    pd.testing.assert_frame_equal(r1.linkable_attributes, r2.linkable_attributes, check_exact=True)
    pd.testing.assert_frame_equal(r1.linkable_columns, r2.linkable_columns, check_exact=True)


@pytest.mark.parametrize("seed", range(8))
def test_one_scan_equals_separate_aggregates_and_risk(seed):
    a, b = _pair(seed)
    k = 1 + seed % 4
    for L in (1, 2, 3, 4):
        agg_a, agg_b = ls.aggregate(a, L), ls.aggregate(b, L)
        risk = assess_risk(a, k, L)
        for absent in (0, 1, 2, 3):
            keys, (ca, cb), r = aggregate_and_assess_risk([a, b], k, L, absent_as_value=absent)
            assert np.all(np.diff(keys) > 0) and np.all(ca + cb > 0)
            assert np.array_equal(keys[ca > 0], agg_a.keys) and np.array_equal(ca[ca > 0], agg_a.counts)
            assert np.array_equal(keys[cb > 0], agg_b.keys) and np.array_equal(cb[cb > 0], agg_b.counts)
            _risk_equal(r, risk)


def test_count_tables_single_table_and_domain_check():
    a, b = _pair(3)
    keys, (counts,) = count_tables([a], 3)
    agg = ls.aggregate(a, 3)
    assert np.array_equal(keys, agg.keys) and np.array_equal(counts, agg.counts)
    raw = ls.load_table("C0,C1\nx,y\n", name="r")
    with pytest.raises(ls.ParameterError):
        count_tables([a, raw], 2)


def test_absent_as_value_groups_are_the_marginal_cells():
    a, b = _pair(5, n_cols=4)
    codes = np.concatenate([a.codes, b.codes])
    frame = pd.DataFrame(codes)
    for g in scan_counts(codes, a.domain, 3, splits=(a.n_records,), absent_as_value=3):
        cols = list(g.columns)
        cells = frame.groupby(cols).size()  # codes -1 (absent) sort first, as in the scan
        assert np.array_equal(g.counts[0] + g.counts[1], cells.to_numpy())
        idx = cells.index.to_frame().to_numpy().reshape(len(cells), -1)
        assert np.array_equal(g.valid, (idx >= 0).all(axis=1))
        sens = pd.DataFrame(a.codes).groupby(cols).size()
        assert np.array_equal(g.counts[0][g.counts[0] > 0], sens.to_numpy())
        # every record falls in its own cell
        assert np.array_equal(g.rows, np.arange(len(codes)))
        assert np.array_equal(np.bincount(g.local, minlength=len(cells)), cells.to_numpy())


def _assert_statistics_equal_compare(ev, k):
    """Each of the evaluation's four statistics equals ``compare`` on the aggregates it holds."""
    sa, ra, ya = ev.sensitive_aggregates, ev.reportable_aggregates, ev.synthetic_aggregates
    expected = {"sensitive": ls.compare(sa, sa, k, kind="sensitive", risk=ev.risk),
                "aggregate": ls.compare(sa, ra, k, kind="aggregate"),
                "synthetic": ls.compare(sa, ya, k, kind="synthetic"),
                "synthetic_vs_aggregate": ls.compare(ra, ya, k, kind="synthetic_vs_aggregate")}
    for name, s in ev.statistics().items():
        assert s.to_dict() == expected[name].to_dict(), name


@pytest.mark.parametrize("seed", range(4))
def test_evaluate_marginals_and_statistics_equal_the_standalone_functions(seed):
    a, b = _pair(10 + seed)
    k = 2 + seed % 3
    for L in (1, 2, 3, 4):
        ev = ls.evaluate(a, b, k, L)
        assert ev.marginal_errors == marginal_errors(a, b)
        _risk_equal(ev.risk, assess_risk(a, k, L))
        sa, ra, ya = ev.sensitive_aggregates, ev.reportable_aggregates, ev.synthetic_aggregates
        assert sa.as_dict() == ls.aggregate(a, L).as_dict()
        assert ya.as_dict() == ls.aggregate(b, L).as_dict() and ya.kind == "synthetic"
        assert ra.as_dict() == ls.protect_k(sa, k).as_dict()
        _assert_statistics_equal_compare(ev, k)


@pytest.mark.parametrize("seed", range(3))
def test_evaluate_with_released_and_given_aggregates_equals_compare(seed):
    from dataclasses import replace
    a, b = _pair(20 + seed)
    k, L = 2, 3
    # released "DP" counts with combinations neither table holds, and given sensitive counts reaching further
    dp = replace(ls.aggregate(_pair(40 + seed)[1], L), kind="dp")
    dp = dp.recode(a.domain.union(dp.domain)) if not dp.domain.same_as(a.domain) else dp
    given = ls.aggregate(a, L + 1)
    ev = ls.evaluate(a, b, k, L, reportable=dp, sensitive_aggregates=given)
    sa, ra = ev.sensitive_aggregates, ev.reportable_aggregates
    assert sa.as_dict() == ls.aggregate(a, L).as_dict()
    assert ra.kind == "dp" and ra.as_dict() == dp.as_dict()
    _assert_statistics_equal_compare(ev, k)


def test_column_removal_hints_match_assessing_without_each_column():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.choice(list("xy"), 300), "b": rng.choice(list("pqrs"), 300),
                          "c": rng.choice([str(i) for i in range(40)], 300), "d": rng.choice(list("uv"), 300)})
    table = ls.encode_frame(frame)
    seen = []
    hints = ls.column_removal_hints(table, 5, 2, progress=lambda f, m: seen.append((f, m)) or True)
    base = assess_risk(table, 5, 2)
    top = list(base.linkable_columns["column"].head(3))
    assert list(hints["column"]) == top and "c" in top
    for row in hints.itertuples(index=False):
        without = ls.encode_frame(frame.drop(columns=[row.column]))
        assert row.rare_percentage_before == base.rare_percentage
        assert row.rare_percentage_after == assess_risk(without, 5, 2).rare_percentage
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and seen[-1][0] == 1.0
    assert [m for _, m in seen[1:-1]] == [f"trying without {c}" for c in top]
