"""The whole workflow in the offline bundle: Prepare → Risk → Synthesize → Evaluate → Explore → Export.

Runs in headless Chromium with every non-loopback request aborted and recorded (conftest.py). Saves a
screenshot of every page to docs/screenshots/ (the README embeds the main ones).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import zipfile

import pandas as pd
import pytest
from playwright.sync_api import expect

from lsweb import REPO_ROOT, SHARED_DATA, goto_page, shoot

pytestmark = pytest.mark.browser

expect.set_options(timeout=30000)  # a page redraw after a run (16 charts) can take seconds under wasm
RUN_TIMEOUT_MS = int(os.environ.get("LOCALSYNTH_SYNTH_TIMEOUT_MS", "300000"))
DOC_SHOTS = REPO_ROOT / "docs" / "screenshots"
COLUMNS = ["AGEP", "SEX", "MSP", "RAC1P", "PINCP", "EDU", "DPHY", "HOUSING_TYPE"]
K, L = 10, 3


def doc_shot(page, name: str) -> None:
    DOC_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOC_SHOTS / f"{name}.png"), full_page=True)


def status(page):
    return page.locator(".ls-status .ls-msg")


def upload(page, path_or_payload) -> None:
    page.locator(".ls-file-input input[type=file]").set_input_files(path_or_payload)


def tick(page, name: str, on: bool) -> None:
    box = page.locator(".ls-columns label").filter(has_text=re.compile(f"^{re.escape(name)}$")).locator("input")
    if box.is_checked() != on:
        box.click()


def choose(page, css: str, label: str, scope: str = "") -> None:
    page.locator(f"{scope} .{css} select".strip()).first.select_option(label=label)


def fill(page, css: str, value, scope: str = "") -> None:
    box = page.locator(f"{scope} .{css} input".strip()).first
    box.fill(str(value))
    box.press("Enter")


def pick_values(page, column: str, values: list[str]) -> None:
    """Select values of one column through the Explore page's value picker (a Choices.js multi-select)."""
    choose(page, "ls-pick-column", column)
    picker = page.locator(".ls-pick-values").first
    for v in values:
        picker.locator("input[type=search], input.choices__input--cloned").first.click()
        item = picker.locator(".choices__list--dropdown .choices__item--choice").filter(
            has_text=re.compile(f"^{re.escape(v)}$")).first
        item.click()
        page.keyboard.press("Escape")


def read_counts_table(page) -> pd.DataFrame:
    rows = page.locator(".ls-explore-counts table").first.evaluate(
        "t => [...t.rows].map(r => [...r.cells].map(c => c.textContent))")
    return pd.DataFrame(rows[1:], columns=rows[0]).astype(str)


def parse_aggregates(text: str) -> dict[frozenset, int]:
    out = {}
    for line in text.splitlines()[1:]:
        key, count = line.rsplit(",", 1)
        if key == "record_count":
            continue
        out[frozenset(key.split(";"))] = int(count)
    return out


def wait_run_done(page, number: int) -> None:
    expect(status(page)).to_contain_text(f"Run {number}", timeout=30000)
    expect(page.locator(".ls-status .ls-msg-ok, .ls-status .ls-msg-error").first).to_be_visible(
        timeout=RUN_TIMEOUT_MS)
    text = status(page).inner_text()
    assert text.startswith("Done") and f"Run {number}" in text, text


def test_full_workflow_national2019(app, tmp_path):
    path = SHARED_DATA / "nist" / "national2019.csv"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    in_file_order = [c for c in raw.columns if c in COLUMNS]

    # ---- Prepare ------------------------------------------------------------------------------------
    upload(app, path)
    expect(status(app)).to_contain_text("Loaded national2019.csv", timeout=180000)
    prepare = app.locator(".ls-page-prepare").first
    expect(prepare.locator(".ls-summary table")).to_be_visible()
    assert prepare.locator(".ls-summary tbody tr").count() == len(raw.columns)
    assert prepare.locator(".ls-summary .ls-hist").count() == len(raw.columns)
    app.locator(".ls-columns-none button").click()
    for col in COLUMNS:
        tick(app, col, True)
    assert app.locator(".ls-columns input:checked").count() == len(COLUMNS)
    choose(app, "ls-bin-column", "AGEP")
    choose(app, "ls-treatment", "Number ranges of a fixed width")
    # Choosing a treatment fills in its default parameter; wait for it before typing over it.
    expect(app.locator(".ls-treatment-param input").first).to_have_value("10")
    fill(app, "ls-treatment-param", "10")
    expect(app.locator(".ls-bin-preview")).to_contain_text("[20, 30)")
    choose(app, "ls-bin-column", "PINCP")
    choose(app, "ls-treatment", "Number ranges: equal counts, N bins (quantiles)")
    expect(app.locator(".ls-treatment-param input").first).to_have_value("5")
    fill(app, "ls-treatment-param", "4")
    expect(app.locator(".ls-bin-preview")).to_contain_text("PINCP")
    expect(app.locator(".ls-treatments")).to_contain_text("AGEP")
    expect(app.locator(".ls-treatments")).to_contain_text("PINCP")
    doc_shot(app, "prepare")

    # ---- Risk ----------------------------------------------------------------------------------------
    app.locator(".ls-prepare-apply button").click()
    risk = app.locator(".ls-page-risk").first
    expect(risk).to_be_visible(timeout=120000)
    expect(status(app)).to_contain_text("8 columns prepared", timeout=120000)
    expect(risk.locator(".ls-risk-headline")).to_contain_text("Considering all combinations of up to 3")
    expect(risk.locator(".ls-risk-columns canvas").first).to_be_attached()
    expect(risk.locator(".ls-risk-attributes canvas").first).to_be_attached()
    # The column-removal hints are worked out in the background (a computation worker) and match the core's.
    expect(risk.locator(".ls-risk-hints")).to_contain_text("removing", timeout=120000)
    import localsynth as ls

    table = ls.prepare(ls.read_raw(path.read_bytes(), name=path.name), ls.LoadOptions(
        columns=tuple(COLUMNS), binning={"AGEP": ls.Binning("width", width=10.0),
                                         "PINCP": ls.Binning("quantile", bins=4)}))
    hints = ls.column_removal_hints(table, K, L)
    shown = risk.locator(".ls-risk-hints li").all_inner_texts()
    assert shown == [f"removing {r.column} cuts records with rare combinations from {r.rare_percentage_before:.0f}% "
                     f"to {r.rare_percentage_after:.0f}%" for r in hints.itertuples(index=False)]
    doc_shot(app, "risk")

    # ---- Synthesize: a k-anonymous run, a cancelled run, a DP run --------------------------------------
    synth = goto_page(app, "synthesize")
    fill(app, "ls-resolution", K, ".ls-page-synthesize")
    fill(app, "ls-length", L, ".ls-page-synthesize")
    fill(app, "ls-seed", 0, ".ls-page-synthesize")
    expect(synth.locator(".ls-epsilon")).to_be_hidden()
    synth.locator(".ls-run button").click()
    # The page answers while the worker computes: another page opens, and comes back.
    expect(synth.locator(".ls-run-row")).to_have_count(1, timeout=30000)
    goto_page(app, "risk")
    goto_page(app, "synthesize")
    wait_run_done(app, 1)
    expect(synth.locator(".ls-run-info[data-status=finished]")).to_have_count(1)
    # A run can be cancelled (its computation worker is terminated) and deleted.
    choose(app, "ls-mode", "K-anonymity: value seeded", ".ls-page-synthesize")
    synth.locator(".ls-run button").click()
    expect(synth.locator(".ls-run-row")).to_have_count(2, timeout=30000)
    expect(synth.locator(".ls-run-info[data-status=running]")).to_have_count(1, timeout=30000)
    synth.locator(".ls-cancel button").nth(1).click()
    expect(synth.locator(".ls-run-info[data-status=cancelled]")).to_have_count(1, timeout=60000)
    synth.locator(".ls-delete button").nth(1).click()
    expect(synth.locator(".ls-run-row")).to_have_count(1)
    next_run = 3

    choose(app, "ls-mode", "Differential privacy (DP aggregate seeded)", ".ls-page-synthesize")
    expect(synth.locator(".ls-epsilon")).to_be_visible()
    fill(app, "ls-epsilon", 4, ".ls-page-synthesize")
    synth.locator(".ls-advanced .card-button, .ls-advanced button").first.click()
    expect(synth.locator(".ls-advanced .ls-help a[href='docs/privacy.html']").first).to_be_visible()
    synth.locator(".ls-run button").click()
    wait_run_done(app, next_run)
    expect(synth.locator(".ls-run-info[data-status=finished]")).to_have_count(2)
    doc_shot(app, "synthesize")
    # The privacy notes linked from the help are in the bundle.
    assert app.request.get(app.url.split("?")[0].rstrip("/") + "/docs/privacy.html").ok

    # ---- Evaluate ------------------------------------------------------------------------------------
    ev = goto_page(app, "evaluate")
    expect(ev.locator(".ls-eval-summary")).to_contain_text("Sensitive data privacy")
    expect(ev.locator(".ls-eval-summary")).to_contain_text("differential privacy")
    expect(ev.locator(".ls-eval-marginals")).to_contain_text("2-way marginals")
    expect(ev.locator(".ls-chart")).to_have_count(16)
    expect(ev.locator(".ls-chart").nth(15).locator("canvas").first).to_be_attached(timeout=30000)
    expect(ev.locator(".ls-cmp-summary table")).to_have_count(2)
    expect(ev.locator(".ls-synthetic-table table")).to_be_visible()
    fill(app, "ls-table-page", 2, ".ls-page-evaluate")
    expect(ev).to_contain_text("rows 21–40")
    doc_shot(app, "evaluate")

    # ---- Export (the DP run) -------------------------------------------------------------------------
    ex = goto_page(app, "export")
    ex.locator(".ls-export-build button").click()
    expect(ex.locator(".ls-export-info")).to_contain_text("zip ready", timeout=120000)
    with app.expect_download(timeout=60000) as info:
        ex.locator(".ls-export button, .ls-export a").first.click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    doc_shot(app, "export")
    zf = zipfile.ZipFile(target)
    files = {name: zf.read(name) for name in zf.namelist()}
    for name in ("README.txt", "manifest.json", "dashboard.html", "protected_aggregates.csv",
                 "synthetic_aggregates.csv", "synthetic_data_wide_format.csv",
                 "synthetic_data_condensed_format.csv", "synthetic_data_long_format.csv",
                 "metrics/synthetic_vs_aggregate_metrics_summary.csv"):
        assert name in files, name
    manifest = json.loads(files["manifest.json"])
    assert manifest["privacy"]["kind"] == "dp"
    assert manifest["input"]["name"] == "national2019.csv"
    assert manifest["input"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["parameters"]["mode"] == "dp" and manifest["parameters"]["dp"]["epsilon"] == 4
    listed = {f["path"]: f for f in manifest["files"]}
    for name, data in files.items():
        if name != "manifest.json":
            assert listed[name]["sha256"] == hashlib.sha256(data).hexdigest(), name
    wide = pd.read_csv(io.BytesIO(files["synthetic_data_wide_format.csv"]), dtype=str, keep_default_na=False)
    assert list(wide.columns) == in_file_order and len(wide) > 1000
    assert wide["AGEP"].str.match(r"^(\[\d+, \d+\)|)$").all()
    assert set(wide["PINCP"]) - {""} <= {v for v in set(wide["PINCP"]) if v.startswith("[") or v == "N"}
    condensed = files["synthetic_data_condensed_format.csv"].decode().splitlines()
    assert len(condensed) == len(wide) + 1
    long_rows = files["synthetic_data_long_format.csv"].decode().splitlines()
    assert len(long_rows) - 1 == int((wide != "").to_numpy().sum())
    for name in ("protected_aggregates.csv", "synthetic_aggregates.csv"):
        text = files[name].decode()
        assert text.splitlines()[0].startswith("selections,") and "record_count" in text, name
    for name, data in files.items():
        if name.endswith(".csv"):
            assert data.decode("utf-8").strip(), name
    readme = files["README.txt"].decode()
    assert "differential privacy" in readme.lower()
    dashboard = files["dashboard.html"].decode()
    assert "<html" in dashboard.lower()
    assert not re.search(r"""(src|href)=["']https?://""", dashboard)
    # No sensitive record in the release: the dashboard holds released data only.
    protected = parse_aggregates(files["protected_aggregates.csv"].decode())

    # ---- Explore (the DP run), checked against pandas and the released aggregates ------------------
    xp = goto_page(app, "explore")
    expect(xp.locator(".ls-explore-chart canvas").first).to_be_attached(timeout=30000)
    pick_values(app, "SEX", ["1"])
    expect(xp.locator(".ls-chip")).to_have_count(1)
    pick_values(app, "EDU", ["9", "12"])
    expect(xp.locator(".ls-chip")).to_have_count(3)
    expect(xp.locator(".ls-explore-info")).to_contain_text("SEX is 1")
    doc_shot(app, "explore")
    selection = {"SEX": ["1"], "EDU": ["9", "12"]}
    shown = read_counts_table(app)
    assert set(shown["column"]) == set(in_file_order[:6])
    checked = 0
    for row in shown.itertuples(index=False):
        col, value = row.column, row.value
        mask = wide[col] == value
        for c, vals in selection.items():
            if c != col:
                mask &= wide[c].isin(vals)
        assert int(row.synthetic) == int(mask.sum()), (col, value)
        others = [[f"{c}:{v}" for v in vals] for c, vals in selection.items() if c != col]
        combos = [frozenset([f"{col}:{value}", *combo]) for combo in itertools.product(*others)]
        if any(len(c) > L for c in combos) or not all(c in protected for c in combos):
            assert row.aggregate == "", (col, value, row.aggregate)
        else:
            assert int(row.aggregate) == sum(protected[c] for c in combos), (col, value)
        checked += 1
    assert checked > 10
    total = int(xp.locator(".ls-total-synthetic").inner_text().replace(",", ""))
    assert total == int((wide["SEX"].isin(["1"]) & wide["EDU"].isin(["9", "12"])).sum())
    # "Values per chart" keeps the most common values, plus every selected one.
    fill(app, "ls-explore-max", 3, ".ls-page-explore")
    expect(xp.locator(".ls-explore-max input").first).to_have_value("3")
    edu = app.evaluate("LocalSynth.evalPython(`import json; json.dumps(_ls_ns['app']._explore_figs['EDU'][2].data)`)")
    edu_counts = wide.loc[wide["SEX"] == "1", "EDU"].value_counts()
    top3 = edu_counts.sort_values(ascending=False, kind="stable").head(3)
    assert edu["syn"][:3] == top3.tolist()
    assert set(edu["y"]) == set(edu["y"][:3]) | {"9", "12"} and len(edu["y"]) == len(set(edu["y"]))
    assert {v: c for v, c in zip(edu["y"], edu["syn"])} == {v: int(edu_counts.get(v, 0)) for v in edu["y"]}
    # Chips remove selections.
    xp.locator(".ls-chip").first.click()
    expect(xp.locator(".ls-chip")).to_have_count(2)
    xp.locator(".ls-clear-selection button").click()
    expect(xp.locator(".ls-chip")).to_have_count(0)
    expect(xp.locator(".ls-explore-info")).to_contain_text("all records")
    goto_page(app, "prepare")
    shoot(app, "workflow-done")


def test_bad_inputs_then_a_good_file(app, german_credit):
    """Each bad file gives a clear message in the page; the app stays usable for the next file."""
    cases = [
        ("empty.csv", b"", "error", "empty"),
        ("binary.csv", bytes(range(256)) * 64, "error", "binary"),
        ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8,9,10\n", "error", "fields"),
        ("header-only.csv", b"a,b,c\n", "error", "no data rows"),
        ("one-column.csv", b"age\n31\n42\n42\n57\n31\n", "warn", "single column"),
    ]
    for name, payload, kind, words in cases:
        upload(app, {"name": name, "mimeType": "text/csv", "buffer": payload})
        message = app.locator(f".ls-status .ls-msg-{kind}")
        expect(message).to_contain_text(words, timeout=30000)
        text = message.inner_text()
        shoot(app, f"bad-input-{name}")
        assert name in text or kind == "warn" or "empty" in text, text
        assert "Traceback" not in text and 'File "' not in text
        if kind == "error":
            expect(app.locator(".ls-page-prepare .ls-prepare-apply button")).to_be_disabled()
    doc_shot(app, "bad-input")
    upload(app, german_credit)
    expect(status(app)).to_contain_text("Loaded german_credit.csv", timeout=60000)
    expect(app.locator(".ls-page-prepare .ls-prepare-apply button")).to_be_enabled()
