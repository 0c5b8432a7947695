"""Aggregation, k-protection, the aggregates file and the risk summary (reference 3.1-3.4, 12.2)."""

from __future__ import annotations

import itertools
import platform
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import localsynth as ls
from localsynth import aggregate, assess_risk, load_table, parse_aggregates, protect_k
from localsynth.aggregate import key_lengths, pack, radix, unpack

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NATIONAL = SHARED / "nist" / "national2019.csv"

DP_DOC_CSV = b"A,B,C\na1,b1,c1\na1,b2,c1\na2,,c2\na2,b2,c1\na1,b2,\n"


def brute_force_counts(frame, length: int) -> Counter:
    """Independent count of every combination of present values up to ``length``."""
    out: Counter = Counter()
    for row in frame.to_dict("records"):
        present = sorted(f"{c}:{v}" for c, v in row.items() if v != "")
        for l in range(1, length + 1):
            for combo in itertools.combinations(present, l):
                out[";".join(combo)] += 1
    return out


def test_dp_doc_example_17_combinations():
    t = load_table(DP_DOC_CSV, name="dp-doc.csv")
    agg = aggregate(t, 3)
    assert agg.as_dict() == {
        "A:a1": 3, "A:a2": 2, "B:b1": 1, "B:b2": 3, "C:c1": 3, "C:c2": 1,
        "A:a1;B:b1": 1, "A:a1;B:b2": 2, "A:a1;C:c1": 2, "A:a2;B:b2": 1, "A:a2;C:c1": 1, "A:a2;C:c2": 1,
        "B:b1;C:c1": 1, "B:b2;C:c1": 2, "A:a1;B:b1;C:c1": 1, "A:a1;B:b2;C:c1": 1, "A:a2;B:b2;C:c1": 1,
    }
    assert agg.n_records == 5 and agg.length == 3


def test_cli_readme_example_protected_file_is_exact():
    t = load_table(DATA / "sds_cli_example.csv")
    text = protect_k(aggregate(t, 3), 2).to_text("\t")
    lines = text.splitlines()
    assert lines[:2] == ["selections\tprotected_count", "record_count\t10"]
    expected = {  # the README's aggregates.tsv without its inconsistent F:1 lines (reference quirk 16)
        "B:b2;D:d2": 4, "A:a1;B:b1;C:c1": 2, "A:a1": 4, "A:a2;B:b2;D:d2": 2, "C:c1;D:d1": 4, "B:b1;D:d1": 2,
        "C:c2;D:d2": 4, "D:d1": 4, "A:a2;B:b2;C:c2": 2, "A:a2": 6, "B:b1": 4, "B:b2": 6, "B:b1;C:c1": 2,
        "A:a2;C:c2": 4, "C:c1": 4, "A:a1;D:d1": 2, "A:a1;C:c1;D:d1": 2, "D:d2": 6, "B:b1;C:c1;D:d1": 2,
        "B:b2;C:c2": 4, "A:a2;D:d2": 4, "A:a1;B:b1;D:d1": 2, "A:a1;B:b1": 2, "A:a2;C:c2;D:d2": 2,
        "B:b2;C:c2;D:d2": 2, "A:a2;B:b2": 4, "A:a1;C:c1": 2, "C:c2": 6,
    }
    body = dict((sel, int(c)) for sel, c in (ln.split("\t") for ln in lines[2:]))
    assert body == expected and len(lines) == 2 + 28
    # deterministic order: length, then count descending, then text
    assert lines[2:6] == ["A:a2\t6", "B:b2\t6", "C:c2\t6", "D:d2\t6"]
    assert lines[-1] == "B:b2;C:c2;D:d2\t2"


def test_reporting_length_is_capped_at_column_count():
    t = load_table(b"A,B,C,D\na1,b1,c1,d1\na2,b2,,d2\na1,b2,,d3\n", name="block.csv")
    assert aggregate(t, 10).length == 4 and aggregate(t, 2).length == 2
    assert protect_k(aggregate(t, 2), 2).protected_records == 2


def test_aggregates_file_round_trip():
    t = load_table(DATA / "sds_cli_example.csv")
    agg = protect_k(aggregate(t, 3), 2)
    back = parse_aggregates(agg.to_text(), t.domain)
    assert back.keys.tolist() == agg.keys.tolist() and back.counts.tolist() == agg.counts.tolist()
    assert back.reported_records == 10


def test_parse_aggregates_names_bad_line():
    t = load_table(DATA / "sds_cli_example.csv")
    with pytest.raises(ls.InputError) as err:
        parse_aggregates("selections,count\nrecord_count,10\nA:zz,4\n", t.domain, name="agg.csv")
    assert err.value.line == 3 and "'A:zz'" in str(err.value)


def test_lookup_on_empty_aggregates():
    t = load_table(DATA / "sds_cli_example.csv")
    empty = protect_k(aggregate(t, 1), 100)
    assert len(empty) == 0
    assert empty.lookup(np.array([1, 2], dtype=np.int64)).tolist() == [0, 0]
    assert empty.index(np.array([5], dtype=np.int64)).tolist() == [-1]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_aggregate_matches_brute_force(data):
    m = data.draw(st.integers(1, 5))
    n = data.draw(st.integers(1, 25))
    cells = st.sampled_from(["", "x", "y", "z"])
    rows = [[data.draw(cells) for _ in range(m)] for _ in range(n)]
    text = ",".join(f"c{j}" for j in range(m)) + "\n" + "\n".join("," .join(r) if any(r) else ",".join(r) for r in rows)
    lines = text.split("\n")
    # a line of only commas is a record with every value absent; a 1-column empty line would be blank
    if m == 1:
        lines = [lines[0]] + [ln for ln in lines[1:] if ln]
        if len(lines) == 1:
            return
    t = load_table(("\n".join(lines) + "\n").encode(), name="h.csv")
    L = data.draw(st.integers(1, 4))
    k = data.draw(st.integers(1, 4))
    expected = brute_force_counts(t.to_frame(), L)
    agg = aggregate(t, L)
    assert agg.as_dict() == dict(expected)
    protected = protect_k(agg, k).as_dict()
    assert protected == {c: (v // k) * k for c, v in expected.items() if v >= k}


def test_key_packing_round_trip():
    attrs = np.array([[0, 3, 7], [2, -1, -1], [1, 4, -1]], dtype=np.int64)
    r = 9
    keys = pack(attrs, r)
    assert unpack(keys, r, 3).tolist() == attrs.tolist()
    assert key_lengths(keys, r).tolist() == [3, 1, 2]


def test_risk_summary_on_dp_doc_example():
    t = load_table(DP_DOC_CSV, name="dp-doc.csv")
    risk = assess_risk(t, 2, 3)
    # with k=2 the rare combinations are the unique ones: B:b1 (row 0), A:a1;B:b2;C:c1 (row 1), C:c2 (row 2),
    # A:a2;B:b2 and A:a2;C:c1 (row 3); row 4 (a1, b2) holds none, as A:a1;B:b2 is shared by 2 records.
    assert risk.records_with_rare == 4
    assert risk.records_with_unique == 4
    assert risk.headline().startswith("Considering all combinations of up to 3 attribute values, 80.0% of records")


pacsynth = None
if platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64"):
    try:
        import pacsynth  # noqa: F401
    except ImportError:
        pacsynth = None


@pytest.mark.slow
@pytest.mark.skipif(pacsynth is None, reason="pac-synth wheels exist only for x86-64 (pip install pac-synth)")
@pytest.mark.skipif(not NATIONAL.exists(), reason="shared dataset nist/national2019.csv not present")
def test_oracle_exact_aggregates_equal_pacsynth_on_national2019():
    import pandas as pd

    t = load_table(NATIONAL)
    ours = aggregate(t, 2)
    frame = pd.read_csv(NATIONAL, dtype=str, keep_default_na=False)
    ds = pacsynth.Dataset.from_data_frame(frame)
    theirs = ds.get_aggregates(2, ";")
    assert len(theirs) == len(ours)
    assert ours.as_dict() == {k: int(v) for k, v in theirs.items()}
