"""The Panel app's own logic natively (as under ``panel serve web/app.py``): runs compute in threads, side by
side, can be cancelled, and every result equals the core's."""

from __future__ import annotations

import asyncio
import runpy
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import localsynth as ls

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "german_credit" / "german_credit.csv"


@pytest.fixture
def app():
    if not DATA.exists():
        pytest.fail(f"test data missing: {DATA}", pytrace=False)
    app = runpy.run_path(str(REPO / "web" / "app.py"))["app"]
    app.file_input.param.update(filename=DATA.name, value=DATA.read_bytes())
    assert app.table is not None and app.table.n_records == 1000
    return app


def test_runs_side_by_side_and_cancel(app):
    async def scenario():
        app.mode.value = "unseeded"
        app.records.value = 200000
        long_run = asyncio.ensure_future(app._on_run())
        await asyncio.sleep(0.3)
        app.mode.value = "row-seeded"
        app.seed.value = 4
        app.fresh_seed.value = False
        await app._on_run()  # finishes while the long run still computes
        first, second = app.runs
        assert (first.status, second.status) == ("running", "finished")
        app._on_cancel(first)
        await long_run
        return first, second

    # A loop of its own in a thread: the browser tests' Playwright keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        first, second = pool.submit(asyncio.run, scenario()).result()
    assert first.status == "cancelled" and first.result is None
    expected = ls.synthesize(app.table, ls.SynthesisParams(mode="row-seeded", seed=4))
    assert np.array_equal(second.result.synthetic.codes, expected.synthetic.codes)
    assert second.evaluation.summary_text(False) == ls.evaluate(
        app.table, expected.synthetic, 10, 3, reportable=expected.reportable).summary_text(False)
    assert second.input_name == "german_credit.csv" and second.input_sha256 == ls.sha256_file(DATA)
    assert app._finished_options() == {second.label: 2}
