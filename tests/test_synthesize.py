"""The synthesis entry point: parameter validation, dispatch, results, column summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import localsynth as ls
from localsynth import ParameterError, SynthesisParams

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def example():
    return ls.load_table(DATA / "sds_cli_example.csv")


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "magic"}, "mode must be one of row-seeded, value-seeded, unseeded, aggregate-seeded, dp"),
    ({"resolution": 0}, "privacy resolution (k) must be a whole number ≥ 1, not 0"),
    ({"length": True}, "aggregation limit (L) must be a whole number ≥ 1, not True"),
    ({"seed": -1}, "seed must be a whole number ≥ 0, not -1"),
    ({"records": 5}, "row-seeded synthesis decides the number of records itself"),
    ({"mode": "unseeded", "records": 0}, "number of records must be a whole number ≥ 1, not 0"),
    ({"mode": "value-seeded", "oversampling_ratio": -0.1}, "oversampling ratio must be a number ≥ 0"),
    ({"oversampling_tries": 0}, "oversampling tries must be a whole number ≥ 1"),
    ({"weight_selection_percentile": 101}, "weight selection percentile must be between 0 and 100"),
    ({"use_synthetic_counts": "yes"}, "use synthetic counts must be True or False"),
    ({"dp": object()}, "DP parameters were given but the mode is 'row-seeded'"),
])
def test_invalid_parameters_name_the_problem(kwargs, message):
    with pytest.raises(ParameterError) as err:
        SynthesisParams(**kwargs)
    assert message in str(err.value)


def test_dp_params_default_and_length_must_match():
    from localsynth.dp import DpParams

    p = SynthesisParams(mode="dp", length=2)
    assert p.dp == DpParams(length=2) and p.is_dp
    with pytest.raises(ParameterError, match=r"DP aggregation limit \(3\) must equal the aggregation limit L \(2\)"):
        SynthesisParams(mode="dp", length=2, dp=DpParams(length=3))


def test_to_dict_keeps_only_relevant_settings():
    assert SynthesisParams().to_dict() == {"mode": "row-seeded", "resolution": 10, "length": 3, "seed": 0,
                                           "records": None}
    d = SynthesisParams(mode="value-seeded", oversampling_ratio=0.1).to_dict()
    assert d["oversampling_ratio"] == 0.1 and d["oversampling_tries"] == 10 and "dp" not in d
    d = SynthesisParams(mode="dp", seed=None).to_dict()
    assert d["dp"]["epsilon"] == 4.0 and d["complete"] is True and d["weight_selection_percentile"] == 95


@pytest.mark.parametrize("mode", ["row-seeded", "value-seeded", "unseeded"])
def test_record_modes_same_seed_same_output(example, mode):
    a = ls.synthesize(example, SynthesisParams(mode=mode, resolution=2, length=3, seed=5))
    b = ls.synthesize(example, SynthesisParams(mode=mode, resolution=2, length=3, seed=5))
    assert np.array_equal(a.synthetic.codes, b.synthetic.codes)
    assert a.synthetic.to_csv() == b.synthetic.to_csv()
    assert ls.check_k_anonymity(example, a.synthetic, 2, 6) == []


def test_result_reportable_is_k_protected(example):
    result = ls.synthesize(example, SynthesisParams(resolution=2, length=3, seed=0))
    assert result.reportable.kind == "k-anonymous" and result.reportable.reported_records == 10
    assert result.reportable.as_dict()["A:a2"] == 6 and len(result.reportable) == 28
    assert result.seconds >= 0


def test_cancel_raises_cancelled(example):
    with pytest.raises(ls.Cancelled):
        ls.synthesize(example, SynthesisParams(seed=0), progress=lambda fraction, message: False)


def test_empty_table_is_refused():
    t = ls.load_table(b"a,b\n0,\n", name="zeros.csv")
    empty = t.with_codes(t.codes[:0])
    with pytest.raises(ParameterError, match="no records"):
        ls.synthesize(empty, SynthesisParams())


def test_summarize_columns(example):
    s = ls.summarize_columns(example)
    assert s.columns.tolist() == ["column", "distinct values", "empty cells", "most common", "note"]
    first = s.iloc[0].to_dict()
    assert first == {"column": "A", "distinct values": 3, "empty cells": 0,
                     "most common": "a2 (6), a1 (4), a3 (1)", "note": ""}
    f = s.set_index("column").loc["F"]
    assert f["distinct values"] == 0 and f["empty cells"] == 11
    ids = ls.load_table(("id,g\n" + "\n".join(f"{i},x" for i in range(10)) + "\n").encode(), name="ids.csv")
    notes = ls.summarize_columns(ids).set_index("column")["note"]
    assert notes["id"] == "likely an identifier: consider excluding it"
    assert notes["g"] == "one value only: carries no information"


@pytest.mark.parametrize("mode", ["row-seeded", "aggregate-seeded"])
def test_synthesize_and_evaluate_is_one_run_and_survives_pickling(example, mode):
    """The app computes runs in a separate worker and gets them back pickled (web/compute.js)."""
    import pickle

    params = SynthesisParams(mode=mode, resolution=2, length=3, seed=7)
    seen = []
    result, evaluation = ls.synthesize_and_evaluate(example, params, progress=lambda f, m: seen.append(f) or True)
    alone = ls.synthesize(example, params)
    assert np.array_equal(result.synthetic.codes, alone.synthetic.codes)
    expected = ls.evaluate(example, alone.synthetic, 2, 3, reportable=alone.reportable)
    assert evaluation.summary_text(False) == expected.summary_text(False)
    assert evaluation.marginal_errors == expected.marginal_errors
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0.85 < max(f for f in seen if f < 1.0) < 1.0
    result.sensitive = None
    back, back_eval = pickle.loads(pickle.dumps((result, evaluation), protocol=pickle.HIGHEST_PROTOCOL))
    assert back.synthetic.to_csv() == alone.synthetic.to_csv()
    assert back.reportable.as_dict() == alone.reportable.as_dict()
    assert back_eval.summary_text(False) == expected.summary_text(False)
    assert back_eval.synthetic_aggregates.as_dict() == expected.synthetic_aggregates.as_dict()


def test_synthesize_and_evaluate_cancels(example):
    with pytest.raises(ls.Cancelled):
        ls.synthesize_and_evaluate(example, SynthesisParams(seed=0), progress=lambda f, m: f < 0.9)
