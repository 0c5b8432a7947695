"""Hand-computed checks of every evaluation metric (reference section 7)."""

from __future__ import annotations

import io
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

import localsynth as ls
from localsynth.aggregate import parse_aggregates
from localsynth.errors import ParameterError
from localsynth.evaluate import (Evaluation, Statistics, check_k_anonymity, compare, count_bins, evaluate,
                                 k_marginal_score, marginal_errors)
from localsynth.table import Domain

ABC = "A,B,C\na1,b1,c1\na1,b2,c1\na2,,c2\na2,b2,c1\na1,b2,\n"

# The sensitive aggregates of the reference's worked example (k = 2, L = 3): 17 combinations.
O_TEXT = """selections,count
record_count,5
A:a1,3
A:a2,2
B:b1,1
B:b2,3
C:c1,3
C:c2,1
A:a1;B:b1,1
A:a1;B:b2,2
A:a1;C:c1,2
A:a2;B:b2,1
A:a2;C:c1,1
A:a2;C:c2,1
B:b1;C:c1,1
B:b2;C:c1,2
A:a1;B:b1;C:c1,1
A:a1;B:b2;C:c1,1
A:a2;B:b2;C:c1,1
"""

# A target built by editing O's counts: B:b1, A:a1;B:b1, A:a2;C:c2, B:b1;C:c1, A:a1;B:b1;C:c1 and
# A:a2;B:b2;C:c1 dropped (6 suppressed); three combinations made up (3 fabricated); 6 records.
T_TEXT = """selections,count
record_count,6
A:a1,4
A:a2,2
B:b2,1
C:c1,3
C:c2,1
A:a1;B:b2,12
A:a1;C:c1,2
A:a2;B:b2,3
A:a2;C:c1,1
B:b2;C:c1,1
A:a1;B:b2;C:c1,1
A:a1;C:c2,5
A:a2;B:b1,1
A:a2;B:b1;C:c2,1
"""


@pytest.fixture(scope="module")
def table():
    return ls.load_table(ABC, name="abc.csv")


@pytest.fixture(scope="module")
def O(table):
    agg = ls.aggregate(table, 3)
    assert agg.as_dict() == parse_aggregates(O_TEXT, table.domain).as_dict()
    return agg


@pytest.fixture(scope="module")
def T(table):
    return parse_aggregates(T_TEXT, table.domain)


@pytest.fixture(scope="module")
def stats(O, T) -> Statistics:
    return compare(O, T, 2)


# ---- compare: scalar metrics ------------------------------------------------------------------------
def test_counts_of_combinations(stats):
    assert (stats.original_combinations, stats.target_combinations, stats.common_combinations) == (17, 14, 11)
    assert (stats.suppressed_combinations, stats.fabricated_combinations) == (6, 3)


def test_suppressed_and_fabricated_percentages(stats):
    assert stats.suppressed_percentage == pytest.approx(100 * 6 / 17)
    # denominator is |O| (SDS core/web), not |T|
    assert stats.fabricated_percentage == pytest.approx(100 * 3 / 17)


def test_count_means_and_mean_absolute_error(stats):
    assert stats.original_count_mean == pytest.approx(27 / 17)
    assert stats.target_count_mean == pytest.approx(38 / 14)
    # |errors| over the 11 common combinations: 1,0,2,0,0 | 10,0,2,0,1 | 0
    assert stats.mean_absolute_error == pytest.approx(16 / 11)


def test_record_expansion(stats):
    assert stats.original_records == 5 and stats.target_records == 6
    assert stats.record_expansion_percentage == pytest.approx(20.0)


def test_unique_and_rare_combinations_of_target(stats):
    # T counts equal to 1 (also the ones < k = 2): B:b2, C:c2, A:a2;C:c1, B:b2;C:c1, A:a2;B:b1, two of length 3
    assert stats.unique_combinations_percentage == pytest.approx(50.0)
    assert stats.rare_combinations_percentage == pytest.approx(50.0)
    assert math.isnan(stats.records_with_unique_percentage)  # no record sets without a risk summary


def test_leakage(stats):
    # O < k, in T and T < k: C:c2, A:a2;C:c1, A:a1;B:b2;C:c1 (A:a2;B:b2 has T = 3 ≥ k: no leak)
    assert stats.leakage_count == 3
    assert stats.leakage_percentage == pytest.approx(100 * 3 / 17)
    # T combinations matching 1..k-1 original records: the three leaks plus A:a2;B:b2
    assert stats.target_in_rare_original == 4


# ---- compare: by length -----------------------------------------------------------------------------
def test_by_length(stats):
    b = stats.by_length
    assert b["length"].tolist() == [1, 2, 3]
    assert b["original_combinations"].tolist() == [6, 8, 3]
    np.testing.assert_allclose(b["original_count_mean"], [13 / 6, 11 / 8, 1.0])
    np.testing.assert_allclose(b["mean_absolute_error"], [3 / 5, 13 / 5, 0.0])
    assert b["common_combinations"].tolist() == [5, 5, 1]
    assert b["suppressed_combinations"].tolist() == [1, 3, 2]
    assert b["fabricated_combinations"].tolist() == [0, 2, 1]
    assert b["distinct_combinations"].tolist() == [5, 7, 2]
    np.testing.assert_allclose(b["target_count_mean"], [11 / 5, 25 / 7, 1.0])
    assert b["rare_combinations"].tolist() == [2, 3, 2]
    np.testing.assert_allclose(b["rare_percentage"], [40.0, 300 / 7, 100.0])
    assert b["unique_combinations"].tolist() == [2, 3, 2]
    assert b["leakage_count"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(b["leakage_percentage"], [100 / 6, 12.5, 100 / 3])


def test_preservation_by_length(stats):
    b = stats.by_length
    assert b["preservation_size"].tolist() == [5, 7, 2]
    np.testing.assert_allclose(b["mean_preservation"], [(4 + 1 / 3) / 5, 4.5 / 7, 0.5])
    np.testing.assert_allclose(b["preservation_mean_count"], [11 / 5, 25 / 7, 1.0])
    np.testing.assert_allclose(b["mean_proportional_error"], [1 / 5, 9.5 / 7, 0.5])


# ---- compare: count buckets -------------------------------------------------------------------------
def test_preservation_by_count_bucket(stats):
    b = stats.by_count_bucket
    # largest T count 12 ⇒ bins 10, 20; only A:a1;B:b2 (T = 12) is in bin 20
    assert b["bin"].tolist() == [10, 20]
    assert b["size"].tolist() == [13, 1]
    np.testing.assert_allclose(b["mean_preservation"], [(8 + 1 / 3 + 1 / 2) / 13, 1.0])
    np.testing.assert_allclose(b["mean_length"], [23 / 13, 2.0])
    np.testing.assert_allclose(b["mean_count"], [2.0, 12.0])
    np.testing.assert_allclose(b["mean_proportional_error"], [0.5, 5.0])
    assert stats.mean_proportional_error == pytest.approx(2.75)
    assert stats.mean_proportional_error_all_bins == pytest.approx(2.75)


def _one_column(o: dict[str, int], t: dict[str, int], n_o: int = 20, n_t: int = 20):
    values = sorted(set(o) | set(t))
    dom = Domain(("X",), (tuple(values),))
    def text(d, n):
        return "selections,count\nrecord_count,%d\n" % n + "".join(f"X:{v},{c}\n" for v, c in d.items())
    return parse_aggregates(text(o, n_o), dom), parse_aggregates(text(t, n_t), dom)


def test_bucket_boundaries():
    # T count 10 → bin 10, 11 → bin 20, 0 (suppressed, O ≥ k) → bin 10
    O1, T1 = _one_column({"a": 10, "b": 10, "c": 5}, {"a": 10, "b": 11})
    s = compare(O1, T1, 1)
    b = s.by_count_bucket
    assert b["bin"].tolist() == [10, 20]
    assert b["size"].tolist() == [2, 1]
    np.testing.assert_allclose(b["mean_preservation"], [0.5, 1.0])
    np.testing.assert_allclose(b["mean_proportional_error"], [0.5, 0.1])
    np.testing.assert_allclose(b["mean_count"], [5.0, 11.0])
    assert s.mean_proportional_error == pytest.approx(0.3)
    assert count_bins(0).tolist() == [10]
    assert count_bins(10).tolist() == [10]
    assert count_bins(11).tolist() == [10, 20]
    assert count_bins(41).tolist() == [10, 20, 40, 80]


def test_rare_original_only_enters_the_population_through_target():
    # O(b) = 1 < k: excluded unless it is in T; O = 0 (fabricated) ⇒ preservation 0, error 1
    O1, T1 = _one_column({"a": 4, "b": 1, "c": 1}, {"a": 2, "c": 1, "d": 3})
    s = compare(O1, T1, 2)
    assert s.by_count_bucket["size"].tolist() == [3]   # a, c, d
    assert s.by_count_bucket["mean_preservation"].iloc[0] == pytest.approx((0.5 + 1 + 0) / 3)
    assert s.by_count_bucket["mean_proportional_error"].iloc[0] == pytest.approx((0.5 + 0 + 1) / 3)
    assert s.leakage_count == 1                            # c: O 1, T 1
    assert s.fabricated_percentage == pytest.approx(100 / 3)


def test_mean_proportional_error_ignores_empty_buckets():
    # T count 45 ⇒ bins 10, 20, 40, 80 with only 80 used; SDS would divide by 4 bins (quirk 7)
    O1, T1 = _one_column({"a": 50}, {"a": 45})
    s = compare(O1, T1, 1)
    assert s.by_count_bucket["bin"].tolist() == [10, 20, 40, 80]
    assert s.by_count_bucket["size"].tolist() == [0, 0, 0, 1]
    assert s.by_count_bucket["mean_proportional_error"].tolist() == pytest.approx([0, 0, 0, 0.1])
    assert s.mean_proportional_error == pytest.approx(0.1)
    assert s.mean_proportional_error_all_bins == pytest.approx(0.025)


def test_identical_aggregates_have_no_error(O):
    s = compare(O, O, 2, kind="sensitive")
    assert s.suppressed_percentage == s.fabricated_percentage == s.mean_absolute_error == 0
    assert s.mean_proportional_error == 0 and s.record_expansion_percentage == 0
    assert s.by_count_bucket["mean_preservation"].tolist() == [1.0]
    # every rare combination leaks when O = T (10 of 17)
    assert s.leakage_count == 10


def test_disjoint_aggregates():
    O1, T1 = _one_column({"a": 4, "b": 6}, {"c": 5, "d": 5, "e": 5})
    s = compare(O1, T1, 1)
    assert s.suppressed_percentage == 100.0
    assert s.fabricated_percentage == 150.0
    assert s.mean_absolute_error == 0.0 and s.common_combinations == 0
    # population: a, b (T 0, preservation 0, error 1) and c, d, e (O 0, error 1)
    assert s.by_count_bucket["mean_preservation"].tolist() == [0.0]
    assert s.mean_proportional_error == 1.0


def test_empty_target():
    O1, _ = _one_column({"a": 4}, {"a": 1})
    T0 = O1.subset(np.zeros(1, bool))
    s = compare(O1, T0, 1)
    assert s.suppressed_percentage == 100.0 and s.target_combinations == 0
    assert s.by_count_bucket["bin"].tolist() == [10]
    assert s.by_length["target_count_mean"].tolist() == [0.0]


def test_different_domains_are_aligned(table, O):
    # the target holds a value the sensitive data lacks
    dom = Domain(("A", "B", "C"), (("a1", "a2", "a3"), ("b1", "b2"), ("c1", "c2")))
    T1 = parse_aggregates("selections,count\nrecord_count,5\nA:a1,3\nA:a3,2\nA:a3;B:b2,2\n", dom)
    s = compare(O, T1, 2)
    # T1 only reaches length 2, so O's 3-combinations are left out: |O| = 14
    assert s.length == 2 and s.original_combinations == 14
    assert s.common_combinations == 1 and s.fabricated_combinations == 2
    assert s.fabricated_percentage == pytest.approx(200 / 14)
    assert s.by_length["fabricated_combinations"].tolist() == [1, 1]


def test_different_lengths_compare_the_common_lengths(O):
    O2 = O.subset(O.lengths() <= 2, length=2)
    s = compare(O, O2, 2)
    assert s.length == 2 and s.suppressed_combinations == 0 and s.original_combinations == 14


def test_unknown_kind_is_refused(O):
    with pytest.raises(ParameterError):
        compare(O, O, 2, kind="other")


# ---- frames -----------------------------------------------------------------------------------------
def test_summary_frame(stats):
    f = stats.summary_frame()
    assert f.columns.tolist() == ["Metric", "Value"]
    assert dict(zip(f["Metric"], f["Value"])) == {
        "Suppressed combinations": "35.29 %",
        "Fabricated combinations": "17.65 %",
        "1-count mean value +/- Mean error": "2.17 +/- 0.60",
        "2-count mean value +/- Mean error": "1.38 +/- 2.60",
        "3-count mean value +/- Mean error": "1.00 +/- 0.00",
        "Mean combination count +/- Mean error": "1.59 +/- 1.45",
        "Record expansion": "20.00 %",
        "Mean proportional error": "2.75",
        "Records containing unique attribute combinations": "-",
        "Records containing rare attribute combinations": "-",
        "Unique attribute combinations": "-",
        "Rare attribute combinations": "-",
    }


def test_summary_frame_of_aggregate_kind_hides_record_expansion(O, T):
    f = compare(O, T, 2, kind="aggregate").summary_frame()
    values = dict(zip(f["Metric"], f["Value"]))
    assert values["Record expansion"] == "-" and values["Suppressed combinations"] == "35.29 %"


def test_by_count_and_by_length_frames(stats):
    c = stats.by_count_frame()
    assert c.columns.tolist() == ["Bin", "Mean proportional error", "Mean length of combinations"]
    assert c["Bin"].tolist() == [10, 20]
    np.testing.assert_allclose(c["Mean length of combinations"], [23 / 13, 2.0])
    l = stats.by_length_frame()
    assert l.columns.tolist() == ["Length", "Mean combinations count", "Distinct combinations count",
                                  "Rare combinations count", "Rare combinations percentage", "Leakage count",
                                  "Leakage percentage"]
    assert l["Distinct combinations count"].tolist() == [5, 7, 2]
    assert not l.to_csv(index=False).splitlines()[0].endswith(",")


# ---- marginals --------------------------------------------------------------------------------------
def test_marginal_errors_hand_computed():
    sens = ls.load_table("A,B\nx,u\nx,v\n", name="s")
    syn = ls.load_table("A,B\nx,u\n,u\n", name="y")
    e = marginal_errors(sens, syn)
    # w=1: A {x:1} vs {x:.5, absent:.5} → .5; B {u:.5, v:.5} vs {u:1} → .5; w=2: cells xu, xv, (absent)u → 1/3
    assert set(e) == {1, 2}
    assert e[1] == pytest.approx(0.5)
    assert e[2] == pytest.approx(1 / 3)


def test_marginal_errors_identical_and_disjoint(table):
    assert marginal_errors(table, table) == {1: 0.0, 2: 0.0, 3: 0.0}
    a = ls.load_table("A\nx\nx\n", name="a")
    b = ls.load_table("A\ny\n", name="b")
    assert marginal_errors(a, b, widths=(1,)) == {1: 1.0}


# ---- k-marginal -------------------------------------------------------------------------------------
def test_k_marginal_identical_and_disjoint():
    real = pd.DataFrame({"A": ["x", "x", "y"], "B": ["u", "v", "u"], "C": ["1", "2", "3"]})
    assert k_marginal_score(real, real.copy()) == 1000.0
    assert k_marginal_score(real, real.iloc[::-1].reset_index(drop=True)) == 1000.0
    other = pd.DataFrame({"A": ["p"] * 2, "B": ["q"] * 2, "C": ["r"] * 2})
    assert k_marginal_score(real, other) == pytest.approx(0.0, abs=1e-9)


def test_k_marginal_half_overlap():
    real = pd.DataFrame({"A": ["x", "x"], "B": ["u", "v"]})
    syn = pd.DataFrame({"A": ["x", "x"], "B": ["u", "u"]})
    # one pair: |.5 − 1| + |.5 − 0| = 1 ⇒ (2 − 1) × 500
    assert k_marginal_score(real, syn) == pytest.approx(500.0)


def test_k_marginal_within_puma_and_joint():
    real = pd.DataFrame({"PUMA": ["p1", "p1", "p2", "p2"], "A": ["x"] * 4, "B": ["u", "v", "u", "u"],
                         "INDP": ["1", "2", "3", "4"]})
    syn = pd.DataFrame({"PUMA": ["p1", "p1", "p1", "p2"], "A": ["x"] * 4, "B": ["u"] * 4,
                        "INDP": ["9", "9", "9", "9"]})
    # within p1: {xu .5, xv .5} vs {xu 1} → 1 → 500; within p2: identical → 1000; mean 750 (INDP ignored)
    assert k_marginal_score(real, syn) == pytest.approx(750.0)
    # joint (SDNist headline): real (p1,xu) .25 (p1,xv) .25 (p2,xu) .5; syn (p1,xu) .75 (p2,xu) .25 → 1 → 500
    assert k_marginal_score(real, syn, group_mode="joint") == pytest.approx(500.0)
    # a PUMA with no synthetic record scores 500 for itself
    syn2 = syn.assign(PUMA=["p1"] * 4)
    assert k_marginal_score(real, syn2) == pytest.approx((500.0 + 500.0) / 2)


def test_k_marginal_empty_is_a_category_and_columns_selection():
    real = pd.DataFrame({"A": ["x", "y"], "B": ["", ""], "C": ["1", "1"]})
    syn = pd.DataFrame({"A": ["x", "y"], "B": [np.nan, None], "C": ["2", "2"]})
    assert k_marginal_score(real, syn, columns=["A", "B"]) == 1000.0
    # pairs AB (0), AC (2), BC (2) → mean 4/3
    assert k_marginal_score(real, syn) == pytest.approx((2 - 4 / 3) * 500)
    with pytest.raises(ParameterError):
        k_marginal_score(real, syn, columns=["A", "PUMA"])
    with pytest.raises(ParameterError):
        k_marginal_score(real, syn, columns=["A"])


# ---- k-anonymity check ------------------------------------------------------------------------------
def test_check_k_anonymity(table):
    ok = ls.load_table("A,B,C\na1,b2,c1\n", name="ok")
    assert check_k_anonymity(table, ok, 2, 2) == []
    # the full record a1,b2,c1 is unique in the sensitive data
    assert check_k_anonymity(table, ok, 2, 3) == [
        "'A:a1;B:b2;C:c1' occurs in 1 synthetic record but matches only 1 sensitive record (fewer than k=2)."]
    assert check_k_anonymity(table, ok, 2, None) == check_k_anonymity(table, ok, 2, 3)
    bad = ls.load_table("A,B,C\na1,b2,c1\na2,b1,c2\n", name="bad")
    assert check_k_anonymity(table, bad, 2, 2) == [
        "'A:a2;B:b1' occurs in 1 synthetic record but matches no sensitive record (fewer than k=2).",
        "'B:b1;C:c2' occurs in 1 synthetic record but matches no sensitive record (fewer than k=2).",
        "'B:b1' occurs in 1 synthetic record but matches only 1 sensitive record (fewer than k=2).",
        "'C:c2' occurs in 1 synthetic record but matches only 1 sensitive record (fewer than k=2).",
        "'A:a2;C:c2' occurs in 1 synthetic record but matches only 1 sensitive record (fewer than k=2).",
    ]
    limited = check_k_anonymity(table, bad, 2, 2, max_messages=2)
    assert len(limited) == 3 and limited[-1].startswith("… and 3 more")


def test_check_k_anonymity_with_new_value(table):
    syn = ls.load_table("A,B,C\na9,b2,c1\na9,b2,c1\n", name="new")
    v = check_k_anonymity(table, syn, 1, 1)
    assert v == ["'A:a9' occurs in 2 synthetic records but matches no sensitive record (fewer than k=1)."]


# ---- full evaluation --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def identical(table) -> Evaluation:
    return evaluate(table, table, 2, 3)


def test_evaluate_identical(identical):
    ev = identical
    assert ev.length == 3 and ev.resolution == 2 and ev.reportable_kind == "k-anonymous"
    s = ev.sensitive
    assert s.records_with_unique_percentage == pytest.approx(80.0)
    assert s.records_with_rare_percentage == pytest.approx(80.0)
    assert s.unique_combinations_percentage == pytest.approx(1000 / 17)
    a = ev.aggregate
    assert a.suppressed_percentage == pytest.approx(1000 / 17)
    assert a.mean_absolute_error == pytest.approx(3 / 7)     # 3→2 three times over 7 reported counts
    assert a.fabricated_combinations == 0
    y = ev.synthetic
    assert y.suppressed_percentage == y.fabricated_percentage == y.mean_absolute_error == 0
    assert y.mean_proportional_error == 0 and y.record_expansion_percentage == 0
    assert ev.synthetic_vs_aggregate.suppressed_percentage == 0
    assert ev.synthetic_vs_aggregate.fabricated_percentage == pytest.approx(100 * 10 / 7)
    assert ev.marginal_errors == {1: 0.0, 2: 0.0, 3: 0.0}
    assert ev.k_marginal == 1000.0
    assert ev.dp_leakage_percentage() == pytest.approx(1000 / 17)


def test_summary_text(identical):
    text = identical.summary_text(mode_is_dp=False)
    parts = text.strip().split("\n\n")
    assert len(parts) == 4
    assert parts[0].startswith("Sensitive data privacy: 80.0% of the records")
    assert "another 0.0%" in parts[0] and "fewer than 2 records" in parts[0]
    assert "leave out 58.8%" in parts[1] and "by 0.4 on average" in parts[1]
    # the synthetic data is the sensitive data here: the k-anonymity sentence must warn
    assert "WARNING — 10 combination(s)" in parts[2]
    assert "keeps 100.0% of the combinations" in parts[3] and "by 0.0 on average" in parts[3]
    dp = identical.summary_text(mode_is_dp=True).split("\n\n")
    assert "58.8% of the combinations in the sensitive data" in dp[2] and "differential privacy" in dp[2]


def test_evaluate_with_synthetic_data(table):
    syn = ls.load_table("A,B,C\na1,b2,c1\na1,b2,c1\na2,b2,c1\na2,b2,c1\na3,,\n", name="syn")
    ev = evaluate(table, syn, 2, 2)
    rep = ev.reportable_aggregates.as_dict()
    assert rep == {"A:a1": 2, "A:a2": 2, "B:b2": 2, "C:c1": 2, "A:a1;B:b2": 2, "A:a1;C:c1": 2, "B:b2;C:c1": 2}
    y = ev.synthetic_aggregates.as_dict()
    assert y == {"A:a1": 2, "A:a2": 2, "A:a3": 1, "B:b2": 4, "C:c1": 4, "A:a1;B:b2": 2, "A:a1;C:c1": 2,
                 "A:a2;B:b2": 2, "A:a2;C:c1": 2, "B:b2;C:c1": 4}
    # sensitive up to L=2: 14 combinations; the synthetic data hits 9 of them and makes up A:a3
    s = ev.synthetic
    assert s.original_combinations == 14 and s.common_combinations == 9 and s.fabricated_combinations == 1
    # synthetic kept every reported combination
    assert ev.synthetic_vs_aggregate.suppressed_percentage == 0.0
    assert s.target_in_rare_original == 2   # A:a2;B:b2 and A:a2;C:c1 have 1 sensitive record each
    assert "WARNING — 2 combination(s)" in ev.summary_text(False)
    assert ev.marginal_errors[1] > 0 and ev.k_marginal < 1000


def test_evaluate_with_given_reportable(table, O):
    rep = ls.protect_k(O, 2)
    ev = evaluate(table, table, 2, 3, reportable=rep, sensitive_aggregates=O)
    assert ev.reportable_aggregates.as_dict() == rep.as_dict()
    with pytest.raises(ParameterError):
        evaluate(table, table, 2, 2, reportable=rep)


def test_evaluate_with_released_values_the_tables_lack(table, O):
    # DP aggregates may hold a value neither table has (here A:a9); they are aligned, not refused
    dom = Domain(("A", "B", "C"), (("a1", "a2", "a9"), ("b1", "b2"), ("c1", "c2")))
    rep = parse_aggregates("selections,protected_count\nrecord_count,5\nA:a1,3\nA:a9,2\nA:a1;B:b2,2\n"
                           "A:a1;B:b2;C:c1,1\n", dom, kind="dp")
    ev = evaluate(table, table, 2, 3, reportable=rep)
    assert ev.reportable_kind == "dp"
    assert ev.aggregate.fabricated_combinations == 1 and ev.aggregate.common_combinations == 3
    assert ev.synthetic_vs_aggregate.suppressed_percentage == pytest.approx(25.0)
    assert "removed by the privacy protection" in ev.to_json()["summary"]["aggregate_utility"]


def test_evaluate_reports_progress(table):
    seen = []
    evaluate(table, table, 2, 2, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


def test_to_json_is_plain(identical):
    data = identical.to_json()
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert set(back["statistics"]) == {"sensitive", "aggregate", "synthetic", "synthetic_vs_aggregate"}
    assert back["statistics"]["sensitive"]["records_with_unique_percentage"] == pytest.approx(80.0)
    assert back["statistics"]["synthetic"]["records_with_unique_percentage"] is None
    assert back["statistics"]["aggregate"]["by_length"][0]["length"] == 1
    assert back["marginal_errors"] == {"1": 0.0, "2": 0.0, "3": 0.0}
    assert back["k_marginal"] == 1000.0 and back["risk"]["records_with_unique"] == 4


# ---- cross-check against a direct dict-based transcription of the SDS evaluator ----------------------
def _naive(O: dict, T: dict, k: int, n_o: int, n_t: int, L: int) -> dict:
    length = lambda c: c.count(";") + 1  # noqa: E731
    res = {"suppressed": 100 * sum(c not in T for c in O) / len(O),
           "fabricated": 100 * sum(c not in O for c in T) / len(O)}
    common = [c for c in O if c in T]
    res["mae"] = sum(abs(O[c] - T[c]) for c in common) / len(common) if common else 0.0
    res["expansion"] = 100 * (n_t / n_o - 1)
    leak = [0] * (L + 1)
    n_len = [0] * (L + 1)
    for c, v in O.items():
        n_len[length(c)] += 1
        if v < k and c in T and T[c] < k:
            leak[length(c)] += 1
    res["leak"] = leak[1:]
    res["leak_pct"] = [100 * a / b if b else 0.0 for a, b in zip(leak[1:], n_len[1:])]
    bins = [10]
    while bins[-1] < max(T.values(), default=0):
        bins.append(bins[-1] * 2)
    buckets = {b: [0, 0.0, 0, 0, 0.0] for b in bins}
    done = set()

    def populate(c):
        o, t = O.get(c, 0), T.get(c, 0)
        b = next(x for x in bins if x >= t)
        acc = buckets[b]
        acc[0] += 1
        acc[1] += min(t / o, 1.0) if o > 0 else 0.0
        acc[2] += length(c)
        acc[3] += t
        acc[4] += abs(t - o) / o if o > 0 else 1.0
        done.add(c)

    for c, v in O.items():
        if v >= k and c not in done:
            populate(c)
    for c in T:
        if c not in done:
            populate(c)
    res["bucket_size"] = [buckets[b][0] for b in bins]
    res["bucket_pres"] = [buckets[b][1] / buckets[b][0] if buckets[b][0] else 0.0 for b in bins]
    res["bucket_len"] = [buckets[b][2] / buckets[b][0] if buckets[b][0] else 0.0 for b in bins]
    res["bucket_err"] = [buckets[b][4] / buckets[b][0] if buckets[b][0] else 0.0 for b in bins]
    nonempty = [e for e, s in zip(res["bucket_err"], res["bucket_size"]) if s]
    res["mpe"] = sum(nonempty) / len(nonempty) if nonempty else 0.0
    return res


def _random_csv(rng, n, values) -> str:
    rows = ["A,B,C,D"]
    for _ in range(n):
        rows.append(",".join(rng.choice(values[j]) for j in range(4)))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_compare_matches_direct_transcription(seed):
    rng = np.random.default_rng(seed)
    sens_vals = [["a1", "a2", ""], ["b1", "b2", "b3"], ["c1", "", "c2", "c3"], ["d1", "d2"]]
    syn_vals = [["a1", "a2", "a3"], ["b1", "b2", ""], ["c1", "c2"], ["d1", "d2", "d3", ""]]
    sens = ls.load_table(_random_csv(rng, int(rng.integers(20, 120)), sens_vals), name="s")
    syn = ls.load_table(_random_csv(rng, int(rng.integers(20, 120)), syn_vals), name="y")
    L = int(rng.integers(1, 5))
    k = int(rng.integers(1, 6))
    O, T = ls.aggregate(sens, L), ls.aggregate(syn, L)
    s = compare(O, T, k)
    ref = _naive(O.as_dict(), T.as_dict(), k, O.n_records, T.n_records, L)
    assert s.suppressed_percentage == pytest.approx(ref["suppressed"])
    assert s.fabricated_percentage == pytest.approx(ref["fabricated"])
    assert s.mean_absolute_error == pytest.approx(ref["mae"])
    assert s.record_expansion_percentage == pytest.approx(ref["expansion"])
    assert s.by_length["leakage_count"].tolist() == ref["leak"]
    np.testing.assert_allclose(s.by_length["leakage_percentage"], ref["leak_pct"])
    assert s.by_count_bucket["size"].tolist() == ref["bucket_size"]
    np.testing.assert_allclose(s.by_count_bucket["mean_preservation"], ref["bucket_pres"])
    np.testing.assert_allclose(s.by_count_bucket["mean_length"], ref["bucket_len"])
    np.testing.assert_allclose(s.by_count_bucket["mean_proportional_error"], ref["bucket_err"])
    assert s.mean_proportional_error == pytest.approx(ref["mpe"])


@pytest.mark.parametrize("seed", range(3))
def test_marginal_errors_match_pandas(seed):
    rng = np.random.default_rng(100 + seed)
    vals = [["a1", "a2", ""], ["b1", "b2", "b3"], ["c1", "", "c2"], ["d1", "d2", "d3", ""]]
    s_text, y_text = _random_csv(rng, 40, vals), _random_csv(rng, 25, vals)
    got = marginal_errors(ls.load_table(s_text, name="s"), ls.load_table(y_text, name="y"))
    s_df = pd.read_csv(io.StringIO(s_text), dtype=str, keep_default_na=False)
    y_df = pd.read_csv(io.StringIO(y_text), dtype=str, keep_default_na=False)
    for w in (1, 2, 3):
        errs = []
        for cols in itertools.combinations(s_df.columns, w):
            ps = s_df.groupby(list(cols)).size() / len(s_df)
            py = y_df.groupby(list(cols)).size() / len(y_df)
            errs.append(ps.subtract(py, fill_value=0).abs().mean())
        assert got[w] == pytest.approx(np.mean(errs)), w


@pytest.mark.parametrize("seed", range(3))
def test_k_marginal_matches_sdnist_transcription(seed):
    rng = np.random.default_rng(200 + seed)
    def frame(n):
        return pd.DataFrame({"PUMA": rng.choice(["p1", "p2", "p3"], n), "A": rng.choice(["x", "y", ""], n),
                             "B": rng.choice(["u", "v"], n), "C": rng.choice(["1", "2", "3", "4"], n),
                             "INDP": rng.choice(["i", "j"], n)})
    real, syn = frame(60), frame(45)
    pairs = list(itertools.combinations(["A", "B", "C"], 2))
    # SDNist 2.4 KMarginal._compute_score_grouped headline: densities of (PUMA, a, b) over all records
    tdds = 0.0
    for a, b in pairs:
        t = real.groupby(["PUMA", a, b]).size() / len(real)
        d = syn.groupby(["PUMA", a, b]).size() / len(syn)
        tdds += t.subtract(d, fill_value=0).abs().sum()
    assert k_marginal_score(real, syn, group_mode="joint") == pytest.approx((2 - tdds / len(pairs)) * 500)
    # within each PUMA, then the mean over the real data's PUMAs
    scores = []
    for p, r in real.groupby("PUMA"):
        y = syn[syn["PUMA"] == p]
        dist = [(r.groupby([a, b]).size() / len(r)).subtract(y.groupby([a, b]).size() / max(len(y), 1),
                                                               fill_value=0).abs().sum() for a, b in pairs]
        scores.append((2 - np.mean(dist)) * 500)
    assert k_marginal_score(real, syn) == pytest.approx(np.mean(scores))
    # without PUMA: plain 2-way marginals over all records
    cols = ["A", "B", "C"]
    dist = [(real.groupby([a, b]).size() / len(real)).subtract(syn.groupby([a, b]).size() / len(syn),
                                                               fill_value=0).abs().sum() for a, b in pairs]
    assert k_marginal_score(real, syn, columns=cols) == pytest.approx((2 - np.mean(dist)) * 500)
