"""Explore counts: exact values on a hand-made release, and a cross-check on german_credit against an
independent pandas filter of the synthetic records and a dict lookup in the released aggregates."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import localsynth as ls
from localsynth.errors import ParameterError
from localsynth.explore import Explorer, explore_counts, selection_label, selection_total, toggle_value

SENSITIVE = "A,B,C\na1,b1,c1\na1,b2,c1\na2,,c2\na2,b2,c1\na1,b2,\na1,b2,c1\na2,b2,c1\n"
SYNTHETIC = "A,B,C\na1,b2,c1\na1,b2,c1\na2,b2,c1\na2,b2,c1\na1,,c1\na2,b1,c2\n"
GERMAN = Path("/work/shared/data/german_credit/german_credit.csv")
NA = pd.NA


@pytest.fixture(scope="module")
def small():
    sens = ls.load_table(SENSITIVE, name="sens")
    syn = ls.load_table(SYNTHETIC, name="syn")
    agg = ls.protect_k(ls.aggregate(sens, 2), 2)
    # released: A:a1 4, A:a2 2, B:b2 4, C:c1 4, A:a1;B:b2 2, A:a1;C:c1 2, A:a2;B:b2 2, A:a2;C:c1 2, B:b2;C:c1 4
    assert agg.as_dict() == {"A:a1": 4, "A:a2": 2, "B:b2": 4, "C:c1": 4, "A:a1;B:b2": 2, "A:a1;C:c1": 2,
                             "A:a2;B:b2": 2, "A:a2;C:c1": 2, "B:b2;C:c1": 4}
    return syn, agg


def rows(frame: pd.DataFrame) -> list[tuple]:
    return [(r.column, r.value, r.synthetic, None if pd.isna(r.aggregate) else int(r.aggregate), r.selected)
            for r in frame.itertuples()]


def test_no_selection(small):
    syn, agg = small
    out = explore_counts(syn, agg)
    assert list(out.columns) == ["column", "value", "synthetic", "aggregate", "selected"]
    assert str(out["synthetic"].dtype) == "int64" and str(out["aggregate"].dtype) == "Int64"
    assert out["selected"].dtype == bool
    # a1 and a2 tie on 3 synthetic records → label order; B:b1 and C:c2 are not released (< k) → <NA>
    assert rows(out) == [("A", "a1", 3, 4, False), ("A", "a2", 3, 2, False),
                         ("B", "b2", 4, 4, False), ("B", "b1", 1, None, False),
                         ("C", "c1", 5, 4, False), ("C", "c2", 1, None, False)]
    assert list(out.index) == list(range(6))


def test_single_values_and_length_limit(small):
    syn, agg = small
    out = explore_counts(syn, agg, {"A": ["a1"], "C": "c1"})
    # A rows: C=c1 and A=v; B rows: A=a1, C=c1, B=v → length 3 > L=2 → <NA>; B:b1 has 0 synthetic → omitted;
    # C:c2 with A=a1: 0 synthetic, A:a1;C:c2 not released → omitted.
    assert rows(out) == [("A", "a1", 3, 2, True), ("A", "a2", 2, 2, False),
                         ("B", "b2", 2, None, False),
                         ("C", "c1", 3, 2, True)]
    assert selection_total(syn, agg, {"A": ["a1"], "C": "c1"}) == (3, 2)


def test_or_within_a_column(small):
    syn, agg = small
    out = explore_counts(syn, agg, {"A": ["a1", "a2"]}, columns=["C", "A"])
    # C rows: A in {a1,a2} and C=v; aggregate = sum over A:a1;C:v and A:a2;C:v
    assert rows(out) == [("C", "c1", 5, 4, False), ("C", "c2", 1, None, False),
                         ("A", "a1", 3, 4, True), ("A", "a2", 3, 2, True)]
    assert selection_total(syn, agg, {"A": ["a1", "a2"]}) == (6, 6)
    assert selection_total(syn, agg, {"A": ["a1", "a2"], "C": ["c1"]}) == (5, 4)
    # one absent term (A:a2;C:c2 … and A:a1;C:c2) makes the OR sum unknown, not a lower bound
    assert selection_total(syn, agg, {"A": ["a1", "a2"], "C": ["c2"]}) == (1, None)
    # B:b1 is not released: {B: b1, b2} sums b2's count with an unknown → unknown
    out = explore_counts(syn, agg, {"B": ["b1", "b2"]}, columns=["A"])
    assert rows(out) == [("A", "a2", 3, None, False), ("A", "a1", 2, None, False)]
    out = explore_counts(syn, agg, {"B": ["b2"]}, columns=["A"])
    assert rows(out) == [("A", "a1", 2, 2, False), ("A", "a2", 2, 2, False)]


def test_selected_value_without_counts_is_kept(small):
    syn, agg = small
    # no synthetic record has A=a1 and B=b1; a1 stays listed because it is selected
    out = explore_counts(syn, agg, {"A": "a1", "B": "b1"}, columns=["A", "B"])
    assert rows(out) == [("A", "a2", 1, None, False), ("A", "a1", 0, None, True),
                         ("B", "b2", 2, 2, False), ("B", "b1", 0, None, True)]


def test_totals_and_no_aggregates(small):
    syn, agg = small
    assert selection_total(syn, agg) == (6, 6)  # released record count = floor(7 / 2) * 2
    assert selection_total(syn, agg, {"A": "a1", "B": "b2", "C": "c1"}) == (2, None)  # longer than L
    out = explore_counts(syn, None, {"A": "a2"})
    assert rows(out) == [("A", "a1", 3, None, False), ("A", "a2", 3, None, True),
                         ("B", "b2", 2, None, False), ("B", "b1", 1, None, False),
                         ("C", "c1", 2, None, False), ("C", "c2", 1, None, False)]
    assert selection_total(syn, None, {"A": "a2"}) == (3, None)


def test_empty_release_aggregates(small):
    syn, agg = small
    empty = agg.subset(np.zeros(len(agg), dtype=bool))
    out = explore_counts(syn, empty, {"A": "a1"}, columns=["C"])
    assert rows(out) == [("C", "c1", 3, None, False)]


def test_validation(small):
    syn, agg = small
    ex = Explorer(syn, agg)
    with pytest.raises(ParameterError, match="'D' is not a column"):
        ex.counts({"D": ["x"]})
    with pytest.raises(ParameterError, match="'a9' is not a value of column 'A'"):
        ex.counts({"A": ["a1", "a9"]})
    with pytest.raises(ParameterError, match="'Z' is not a column"):
        ex.counts({}, columns=["A", "Z"])
    with pytest.raises(ParameterError, match="map column names"):
        ex.counts(["A"])
    other = ls.load_table("A,X\na1,x\n", name="o")
    with pytest.raises(ParameterError, match="same columns"):
        Explorer(syn, ls.aggregate(other, 2))
    assert ex.normalize({"C": ["c1"], "A": ["a2", "a1", "a2"], "B": []}) == {"A": ["a1", "a2"], "C": ["c1"]}
    assert rows(ex.counts({"A": "a1"}, columns="A")) == rows(ex.counts({"A": ["a1"]}, columns=["A"]))
    assert len(ex.counts({}, columns=[])) == 0


def test_aggregates_with_values_the_synthetic_data_lacks():
    # DP-style: the released counts know B:b3, which no synthetic record has
    syn = ls.load_table("A,B\na1,b1\na1,b1\na2,b1\n", name="syn")
    sens = ls.load_table("A,B\na1,b1\na1,b3\na1,b3\na2,b3\n", name="sens")
    agg = ls.aggregate(sens, 2)
    ex = Explorer(syn, agg)
    assert ex.domain.labels == (("a1", "a2"), ("b1", "b3"))
    assert rows(ex.counts({"A": "a1"}, columns=["B", "A"])) == [("B", "b1", 2, 1, False), ("B", "b3", 0, 2, False),
                                                                ("A", "a1", 2, 3, True), ("A", "a2", 1, 1, False)]
    assert rows(ex.counts({"B": "b3"}, columns=["A"])) == [("A", "a1", 0, 2, False), ("A", "a2", 0, 1, False)]


def test_multi_value_columns():
    opts = ls.LoadOptions(multi_value={"T": "|"})
    table = ls.load_table("A,T\nx,p|q\ny,q\nx,q\nx,p\n", name="mv", options=opts)
    assert table.columns == ("A", "T_p", "T_q")
    agg = ls.aggregate(table, 2)
    out = explore_counts(table, agg, {"T_p": ["1"]})
    assert rows(out) == [("A", "x", 2, 2, False), ("T_p", "1", 2, 2, True), ("T_q", "1", 1, 1, False)]


def test_selection_label_and_toggle():
    assert selection_label({}) == "all records"
    assert selection_label({"A": []}, empty="–") == "–"
    assert selection_label({"A": "a1"}) == "A is a1"
    assert selection_label({"A": ["a1", "a2", "a1"], "B": ["b1"], "C": ["c1"]}) == \
        "A is a1 or a2, B is b1, and C is c1"
    sel = {"A": ["a1"]}
    assert toggle_value(sel, "A", "a2") == {"A": ["a1", "a2"]}
    assert toggle_value(sel, "B", "b1") == {"A": ["a1"], "B": ["b1"]}
    assert toggle_value(sel, "A", "a1") == {}
    assert sel == {"A": ["a1"]}


# ---- cross-check on real data -----------------------------------------------------------------------
def reference_counts(frame: pd.DataFrame, released: dict[str, int], L: int, selection: dict, columns) -> list[tuple]:
    """Independent implementation: pandas filter + dict lookup of ';'-joined sorted 'col:value' labels."""
    out = []
    for col in columns:
        others = {c: v for c, v in selection.items() if c != col}
        mask = pd.Series(True, index=frame.index)
        for c, vals in others.items():
            mask &= frame[c].isin(vals)
        values = sorted(set(frame[col][frame[col] != ""]) | {k.split(":", 1)[1] for k in released
                                                              if ";" not in k and k.split(":", 1)[0] == col}
                        | set(selection.get(col, [])))
        found = []
        for v in values:
            syn = int((mask & (frame[col] == v)).sum())
            agg = None
            if len(others) + 1 <= L:
                total = 0
                for combo in itertools.product(*[[f"{c}:{x}" for x in vals] for c, vals in others.items()]):
                    key = ";".join(sorted(list(combo) + [f"{col}:{v}"]))
                    if key not in released:
                        total = None
                        break
                    total += released[key]
                agg = total
            selected = v in selection.get(col, [])
            if syn > 0 or (agg or 0) > 0 or selected:
                found.append((col, v, syn, agg, selected))
        out += sorted(found, key=lambda r: (-r[2], r[1]))
    return out


@pytest.fixture(scope="module")
def german():
    if not GERMAN.exists():
        pytest.skip(f"{GERMAN} is not available")
    table = ls.load_table(str(GERMAN))
    return pseudo_synthetic(table), ls.protect_k(ls.aggregate(table, 3), 10)


def pseudo_synthetic(table: ls.EncodedTable, seed: int = 0) -> ls.EncodedTable:
    """A stand-in for row-seeded output (same domain, resampled records, ~30% of cells emptied), so that
    these tests check the counting and do not depend on the state of the synthesizers."""
    rng = np.random.default_rng(seed)
    codes = table.codes[rng.integers(0, table.n_records, size=table.n_records)].copy()
    codes[rng.random(codes.shape) < 0.3] = ls.ABSENT
    return table.with_codes(codes, name="synthetic")


SELECTIONS = [
    {},
    {"credit_risk": ["1"]},
    {"credit_risk": ["2"], "housing": ["A151", "A153"]},
    {"purpose": ["A43", "A40", "A49", "A46"], "job": ["A173", "A174"]},
    {"purpose": ["A43"], "job": ["A173"], "housing": ["A152"]},
    {"foreign_worker": ["A201"], "telephone": ["A191", "A192"], "purpose": ["A410", "A48", "A43"]},
]


def test_german_credit_against_pandas_and_dict(german):
    syn, rep = german
    frame = syn.to_frame()
    released = rep.as_dict()
    ex = Explorer(syn, rep)
    columns = ["credit_risk", "housing", "purpose", "job", "telephone", "foreign_worker", "age_in_years"]
    seen_na_length = seen_na_absent = seen_or_sum = 0
    for selection in SELECTIONS:
        got = rows(ex.counts(selection, columns))
        expected = reference_counts(frame, released, rep.length, selection, columns)
        assert got == expected, selection
        seen_or_sum += any(r[3] is not None and r[3] > 0 and any(len(v) > 1 for c, v in selection.items() if c != r[0])
                           for r in got)
        for r in got:
            n_other = sum(1 for c in selection if c != r[0])
            if r[3] is None:
                seen_na_length += n_other + 1 > rep.length
                seen_na_absent += n_other + 1 <= rep.length
        syn_total, agg_total = ex.total(selection)
        mask = pd.Series(True, index=frame.index)
        for c, vals in selection.items():
            mask &= frame[c].isin(vals)
        assert syn_total == int(mask.sum())
    # the selections exercise every branch: unknown because too long, unknown because not released, OR sums
    assert seen_na_length > 0 and seen_na_absent > 0 and seen_or_sum > 0
    assert explore_counts(syn, rep, SELECTIONS[3], columns).equals(ex.counts(SELECTIONS[3], columns))
