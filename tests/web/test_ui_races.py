"""Input made while the worker is busy is never lost (the page and Python agree afterwards).

Each test makes the worker's handling of the next change slow (1.5 s, as when it assesses the risk of a large
file), acts in the page meanwhile, waits until every change has reached Python, and then checks the page and the
Python widgets against what the user did.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SLOW_NEXT_PATCH = """
import time
from panel.io.state import state
_doc = state.curdoc
_orig = _doc.apply_json_patch
def _slow_once(*args, **kwargs):
    time.sleep(1.5)
    _doc.apply_json_patch = _orig
    return _orig(*args, **kwargs)
_doc.apply_json_patch = _slow_once
"""


def python(page, expr: str):
    """Evaluate a Python expression about the app object (in the worker) and return its JSON value."""
    return page.evaluate("code => LocalSynth.evalPython(code)",
                         f"import json\napp = _ls_ns['app']\njson.dumps({expr})")


def settle(page) -> None:
    """Wait until every change made in the page has been handled by the worker."""
    page.wait_for_function("() => !LocalSynth.worker.busy && LocalSynth.worker.queue.length === 0",
                           timeout=60000)
    page.wait_for_timeout(200)
    page.wait_for_function("() => !LocalSynth.worker.busy && LocalSynth.worker.queue.length === 0",
                           timeout=60000)


def load(page, path) -> None:
    page.locator(".ls-file-input input[type=file]").set_input_files(path)
    expect(page.locator(".ls-status .ls-msg")).to_contain_text("Loaded german_credit.csv", timeout=120000)
    settle(page)


def checked_columns(page) -> list[str]:
    return [label.inner_text().strip() for label in page.locator(".ls-columns label").all()
            if label.locator("input").is_checked()]


def click_column(page, name: str) -> None:
    page.locator(".ls-columns label").filter(has_text=re.compile(f"^{re.escape(name)}$")).locator("input").click()


def test_value_typed_while_busy_survives_the_default_that_arrives_later(app, german_credit):
    load(app, german_credit)
    app.locator(".ls-bin-column select").first.select_option(label="duration_in_month")
    settle(app)
    python(app, "exec(" + json.dumps(SLOW_NEXT_PATCH) + ") or True")
    # Choosing a treatment makes Python fill in its default width (10); the user types 5 before that arrives.
    app.locator(".ls-treatment select").first.select_option(label="Number ranges of a fixed width")
    box = app.locator(".ls-treatment-param input").first
    box.fill("5")
    box.press("Enter")
    settle(app)
    assert box.input_value() == "5"
    assert python(app, "app.treatment_param.value") == "5"
    assert python(app, "app.treatments['duration_in_month']") == ["width", "5"]
    expect(app.locator(".ls-bin-preview")).to_contain_text("[5, 10)")


def test_choice_made_while_busy_is_not_undone_by_an_older_update(app, german_credit):
    load(app, german_credit)
    column = app.locator(".ls-bin-column select").first
    treatment = app.locator(".ls-treatment select").first
    column.select_option(label="duration_in_month")
    settle(app)
    treatment.select_option(label="Number ranges of a fixed width")
    settle(app)
    column.select_option(label="credit_amount")
    settle(app)
    assert python(app, "app.treatment.value") == "As categories (values as written)"
    python(app, "exec(" + json.dumps(SLOW_NEXT_PATCH) + ") or True")
    # Going back to duration_in_month makes Python show its saved treatment (fixed width); the user picks
    # quantiles before that update arrives. The user's choice must win, in the page and in Python.
    column.select_option(label="duration_in_month")
    quantiles = "Number ranges: equal counts, N bins (quantiles)"
    treatment.select_option(label=quantiles)
    settle(app)
    assert treatment.evaluate("s => s.options[s.selectedIndex].text") == quantiles
    assert python(app, "app.treatment.value") == quantiles
    assert python(app, "app.treatments") == {"duration_in_month": ["quantile", "5"]}
    assert app.locator(".ls-treatment-param input").first.input_value() == "5"


def test_ticks_right_after_none_while_busy_are_kept(app, german_credit):
    load(app, german_credit)
    python(app, "exec(" + json.dumps(SLOW_NEXT_PATCH) + ") or True")
    app.locator(".ls-columns-none button").click()
    wanted = ["purpose", "credit_amount", "housing"]
    for name in wanted:
        click_column(app, name)
    settle(app)
    in_file_order = ["purpose", "credit_amount", "housing"]
    assert checked_columns(app) == in_file_order
    assert sorted(python(app, "app.columns.value")) == sorted(wanted)
    # "All" is answered in the page too, and reaches Python.
    app.locator(".ls-columns-all button").click()
    settle(app)
    assert len(checked_columns(app)) == 21
    assert len(python(app, "app.columns.value")) == 21


def test_a_click_sees_the_values_typed_before_it(app, german_credit):
    load(app, german_credit)
    app.locator(".bk-tab", has_text="3 Synthesize").first.click()
    synth = app.locator(".ls-page-synthesize").first
    python(app, "exec(" + json.dumps(SLOW_NEXT_PATCH) + ") or True")
    for css, value in (("ls-seed", 3), ("ls-resolution", 7)):
        box = synth.locator(f".{css} input").first
        box.fill(str(value))
        box.press("Enter")
    synth.locator(".ls-run button").click()
    settle(app)
    expect(synth.locator(".ls-run-info[data-status=finished]")).to_have_count(1, timeout=120000)
    assert python(app, "[app.runs[0].params.resolution, app.runs[0].params.seed]") == [7, 3]
    assert synth.locator(".ls-resolution input").first.input_value() == "7"


def test_runs_compute_side_by_side_and_the_app_answers_meanwhile(app, german_credit):
    load(app, german_credit)
    app.locator(".bk-tab", has_text="3 Synthesize").first.click()
    synth = app.locator(".ls-page-synthesize").first
    # Run 1: long (unseeded, 300,000 records: tens of seconds); run 2: short (row-seeded).
    synth.locator(".ls-mode select").first.select_option(label="K-anonymity: unseeded")
    box = synth.locator(".ls-records input").first
    box.fill("300000")
    box.press("Enter")
    synth.locator(".ls-run button").click()
    expect(synth.locator(".ls-run-info[data-status=running]")).to_have_count(1, timeout=30000)
    synth.locator(".ls-mode select").first.select_option(label="K-anonymity: row seeded")
    synth.locator(".ls-run button").click()
    expect(synth.locator(".ls-run-row")).to_have_count(2, timeout=30000)
    expect(synth.locator(".ls-run-info").nth(1)).to_have_attribute("data-status", "finished", timeout=120000)
    first = synth.locator(".ls-run-info").nth(0)
    assert first.get_attribute("data-status") == "running"
    # While run 1 computes, Python answers: run 2's evaluation is drawn and Explore counts a selection.
    app.locator(".bk-tab", has_text="4 Evaluate").first.click()
    expect(app.locator(".ls-page-evaluate .ls-eval-summary")).to_contain_text("Sensitive data privacy")
    app.locator(".bk-tab", has_text="5 Explore").first.click()
    explore = app.locator(".ls-page-explore").first
    explore.locator(".ls-pick-column select").first.select_option(label="housing")
    picker = explore.locator(".ls-pick-values").first
    picker.locator("input[type=search], input.choices__input--cloned").first.click()
    picker.locator(".choices__list--dropdown .choices__item--choice").filter(
        has_text=re.compile("^A152$")).first.click()
    app.keyboard.press("Escape")
    expected = python(app, "int((app.runs[1].result.synthetic.to_frame()['housing'] == 'A152').sum())")
    expect(explore.locator(".ls-total-synthetic")).to_have_text(f"{expected:,}", timeout=15000)
    assert first.get_attribute("data-status") == "running"
    assert python(app, "app.runs[0].status") == "running"
    # Cancel stops run 1 at once (its worker is terminated); nothing of it is kept.
    app.locator(".bk-tab", has_text="3 Synthesize").first.click()
    synth.locator(".ls-cancel button").first.click()
    expect(first).to_have_attribute("data-status", "cancelled", timeout=10000)
    assert python(app, "[app.runs[0].result is None, app.runs[0].stop is None]") == [True, True]
    assert python(app, "sorted(app._finished_options().values())") == [2]
