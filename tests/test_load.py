"""Loading and preparation: the reference's data-block cases (sds-study 12.1) and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import localsynth as ls
from localsynth import Binning, InputError, LoadOptions, ParameterError, load_table

DATA = Path(__file__).parent / "data"


def records(table) -> list[dict[str, str]]:
    """Each record as {column: value} of its present values (the reference's DataBlockRecord)."""
    frame = table.to_frame()
    return [{c: v for c, v in row.items() if v != ""} for row in frame.to_dict("records")]


# ---- reference data-block cases ---------------------------------------------------------------------
def test_block_all_columns_normalises_names_values_and_zeros():
    t = load_table(DATA / "sds_data_block.csv")
    assert t.columns == ("A", "B", "C", "D<semicolon>h", "E<colon>h")
    assert records(t) == [
        {"A": "a1", "C": "c1", "D<semicolon>h": "d1"},
        {"A": "a2", "B": "b2", "D<semicolon>h": "d3<semicolon>D", "E<colon>h": "e2"},
        {"A": "a3<colon>A", "B": "b3"},
        {"D<semicolon>h": "d4"},
    ]


def test_block_selected_columns_with_sensitive_zeros():
    t = load_table(DATA / "sds_data_block.csv", options=LoadOptions(columns=("A", "B", "D;h"), sensitive_zeros=("B",)))
    assert t.columns == ("A", "B", "D<semicolon>h")
    assert records(t) == [
        {"A": "a1", "B": "0", "D<semicolon>h": "d1"},
        {"A": "a2", "B": "b2", "D<semicolon>h": "d3<semicolon>D"},
        {"A": "a3<colon>A", "B": "b3"},
        {"B": "0", "D<semicolon>h": "d4"},
    ]


def test_block_record_limit():
    t = load_table(DATA / "sds_data_block.csv",
                   options=LoadOptions(columns=("A", "B", "D;h"), sensitive_zeros=("B",), record_limit=2))
    assert records(t) == [{"A": "a1", "B": "0", "D<semicolon>h": "d1"},
                          {"A": "a2", "B": "b2", "D<semicolon>h": "d3<semicolon>D"}]


def test_multi_value_all_columns():
    t = load_table(DATA / "sds_multi_value.csv", options=LoadOptions(multi_value={"B": ";", "C": ";", "D": "|"}))
    assert t.columns == ("RowID", "A", "B_b1", "B_b3", "B_b4", "C_c1", "C_c2", "C_c3", "F<colon>SenseZeros",
                         "G<colon>SenseZeros", "D_d1", "D_d3", "D_d4")
    assert records(t) == [
        {"RowID": "1", "A": "a1", "B_b1": "1", "B_b3": "1", "B_b4": "1", "C_c1": "1", "C_c2": "1", "C_c3": "1",
         "D_d1": "1", "D_d3": "1"},
        {"RowID": "2", "A": "a1", "C_c1": "1", "D_d1": "1", "D_d4": "1"},
        {"RowID": "3", "A": "a1", "B_b1": "1", "G<colon>SenseZeros": "Value<semicolon>ToNormalize", "D_d1": "1"},
    ]
    assert t.domain.multi_value["D_d4"] == ls.MultiValueSource("D", "d4", "|")


def test_multi_value_selected_columns():
    t = load_table(DATA / "sds_multi_value.csv",
                   options=LoadOptions(columns=("A", "C", "D"), multi_value={"B": ";", "C": ";", "D": "|"}))
    assert t.columns == ("A", "C_c1", "C_c2", "C_c3", "D_d1", "D_d3", "D_d4")
    assert records(t) == [
        {"A": "a1", "C_c1": "1", "C_c2": "1", "C_c3": "1", "D_d1": "1", "D_d3": "1"},
        {"A": "a1", "C_c1": "1", "D_d1": "1", "D_d4": "1"},
        {"A": "a1", "D_d1": "1"},
    ]


def test_multi_value_sensitive_zeros_and_loose_names():
    t = load_table(DATA / "sds_multi_value.csv", options=LoadOptions(
        columns=("A", "B", "  g:senseZeros ", "D"), multi_value={"B": ";", "d": "|"},
        sensitive_zeros=("b", "  g:senseZeros ")))
    assert t.columns == ("A", "B_0", "B_b1", "B_b3", "B_b4", "G<colon>SenseZeros", "D_d1", "D_d3", "D_d4")
    assert records(t) == [
        {"A": "a1", "B_b1": "1", "B_b3": "1", "B_b4": "1", "G<colon>SenseZeros": "0", "D_d1": "1", "D_d3": "1"},
        {"A": "a1", "B_0": "1", "G<colon>SenseZeros": "0", "D_d1": "1", "D_d4": "1"},
        {"A": "a1", "B_0": "1", "B_b1": "1", "G<colon>SenseZeros": "Value<semicolon>ToNormalize", "D_d1": "1"},
    ]


def test_subject_id_conflict_names_the_columns():
    with pytest.raises(InputError) as err:
        load_table(DATA / "sds_duplicated_id.csv", options=LoadOptions(subject_id="ID"))
    assert "A, B, C, D" in str(err.value) and "multi-value" in str(err.value)
    assert err.value.file == "sds_duplicated_id.csv"


def test_subject_id_join_condensed():
    t = load_table(DATA / "sds_duplicated_id.csv", options=LoadOptions(
        subject_id="id", multi_value={"A": ";", "B": ";", "C": ";", "D": "|"}))
    # The ID column joins rows but is never an attribute (reference quirk 18 fixed); rows sorted by ID.
    frame = t.to_condensed_frame()
    assert list(frame.columns) == ["A", "B", "C", "F", "G", "D"]
    assert frame.values.tolist() == [
        ["a1", "b1;b3;b4", "c1;c2;c3", "", "", "d1|d3"],
        ["a1", "b1;b2;b3", "c2", "1", "", "d2"],
        ["a2", "b1", "c2", "", "", "d2"],
        ["a2", "b2;b3", "c1", "1", "", "d1|d4"],
        ["a2", "b2", "c2", "", "", "d3"],
        ["a2", "b2", "c1;c3;c4", "", "", "d2"],
        ["a2", "", "c2", "", "", "d2"],
        ["a3", "b2", "c2", "", "", "d2"],
        ["a1;a2;b2", "b1;b2", "c2", "", "1", "d1|d10|d3|d7"],
    ]


def test_subject_id_missing_is_an_error_with_line():
    text = "ID,A\n1,a\n,b\n"
    with pytest.raises(InputError) as err:
        load_table(text.encode(), name="ids.csv", options=LoadOptions(subject_id="ID"))
    assert err.value.line == 3 and "subject ID" in str(err.value)


def test_encoded_table_codes_and_attribute_counts():
    t = load_table(b"A,B,C,D\na1,b1,c1,d1\na2,b2,,d2\na1,b2,,d3\n", name="block.csv")
    assert t.codes.dtype == np.int32
    assert t.codes.tolist() == [[0, 0, 0, 0], [1, 1, -1, 1], [0, 1, -1, 2]]
    assert t.domain.labels == (("a1", "a2"), ("b1", "b2"), ("c1",), ("d1", "d2", "d3"))
    assert t.attribute_counts().tolist() == [2, 1, 1, 2, 1, 1, 1, 1]


# ---- encodings, delimiters, binning ------------------------------------------------------------------
def test_bom_and_sniffed_semicolon_delimiter():
    t = load_table("\ufeffname;age\nx;1\ny;2\n".encode("utf-8"), name="semi.csv")
    assert t.columns == ("name", "age")
    assert records(t) == [{"name": "x", "age": "1"}, {"name": "y", "age": "2"}]


def test_tsv_and_latin1_fallback_warns():
    t = load_table("city\tn\nK\xf6ln\t1\nS\xe3o\t2\n".encode("latin-1"), name="cities.tsv")
    assert records(t)[0] == {"city": "Köln", "n": "1"}
    assert any("UTF-8" in w for w in t.warnings)


def test_binning_width_labels():
    t = load_table(b"age,g\n3,a\n17,a\n20,a\n35,a\nN,a\n,a\n", name="ages.csv",
                   options=LoadOptions(binning={"age": Binning("width", width=10)}))
    assert [r.get("age", "") for r in records(t)] == ["[0, 10)", "[10, 20)", "[20, 30)", "[30, 40)", "N", ""]


def test_binning_edges_last_bin_closed():
    t = load_table(b"x\n0\n5\n10\n", name="x.csv", options=LoadOptions(
        binning={"x": Binning("edges", edges=(0, 5, 10))}, sensitive_zeros=("x",)))
    assert [r["x"] for r in records(t)] == ["[0, 5)", "[5, 10]", "[5, 10]"]


# ---- bad input: specific messages ------------------------------------------------------------------
@pytest.mark.parametrize("payload, fragment, line", [
    (b"", "the file is empty", None),
    (b"a,b\n", "header but no data rows", 2),
    (b"a,b\n1,2\n3,4,5\n", "this row has 3 fields but the header has 2", 3),
    (b"a,b,c\n1,2,3\n4,5\n", "this row has 2 fields but the header has 3", 3),
    (b"a,A\n1,2\n", "appears twice", 1),
    (b"a,,c\n1,2,3\n", "column 2 has no name", 1),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary", None),
])
def test_bad_files_raise_input_error_with_place(payload, fragment, line):
    with pytest.raises(InputError) as err:
        load_table(payload, name="bad.csv")
    assert fragment in str(err.value)
    assert err.value.file == "bad.csv"
    assert err.value.line == line


def test_unknown_column_in_options_is_named():
    with pytest.raises(InputError) as err:
        load_table(b"a,b\n1,2\n", name="f.csv", options=LoadOptions(columns=("a", "zz")))
    assert err.value.column == "zz" and "Available columns: a, b" in str(err.value)


def test_identifier_column_warns():
    rows = "\n".join(f"{i},{'x' if i % 2 else 'y'}" for i in range(20))
    t = load_table(f"id,g\n{rows}\n".encode(), name="ids.csv")
    assert any("'id'" in w and "identifier" in w for w in t.warnings)
    assert not any("'g'" in w for w in t.warnings)


def test_bad_options_are_parameter_errors():
    with pytest.raises(ParameterError, match="single character"):
        LoadOptions(delimiter=";;")
    with pytest.raises(ParameterError, match="both binned and multi-value"):
        LoadOptions(multi_value={"a": ";"}, binning={"A": Binning("count", bins=3)})
