"""The offline bundle in headless Chromium: loads from 127.0.0.1 only, synthesizes, downloads, stays private.

Every test runs in a browser context that aborts and records any request that does not go to the loopback
interface; the ``page`` fixture fails the test if one was attempted (see conftest.py).
"""

from __future__ import annotations

import itertools
import json
import os

import pandas as pd
import pytest
from playwright.sync_api import expect

from lsweb import Guard, goto_page, is_loopback, shoot, wait_ready

pytestmark = pytest.mark.browser

K, L, SEED = 10, 3, 0
SYNTH_TIMEOUT_MS = int(os.environ.get("LOCALSYNTH_SYNTH_TIMEOUT_MS", "300000"))


def status(page):
    return page.locator(".ls-status .ls-msg")


def upload(page, path_or_payload) -> None:
    page.locator(".ls-file-input input[type=file]").set_input_files(path_or_payload)


def set_int(page, css_class: str, value: int, scope: str = ".ls-page-synthesize") -> None:
    box = page.locator(f"{scope} .{css_class} input").first
    box.fill(str(value))
    box.press("Enter")


def pandas_k_violations(sensitive: pd.DataFrame, synthetic: pd.DataFrame, k: int, length: int) -> list[str]:
    """Independent check: each combination of ≤ length non-empty values in a synthetic row matches ≥ k rows."""
    bad = []
    cols = list(sensitive.columns)
    for n in range(1, length + 1):
        for combo in itertools.combinations(cols, n):
            combo = list(combo)
            syn = synthetic[combo]
            syn = syn[(syn != "").all(axis=1)].drop_duplicates()
            if syn.empty:
                continue
            sens = sensitive[combo]
            counts = sens[(sens != "").all(axis=1)].value_counts()
            keys = list(syn.itertuples(index=False, name=None))
            found = counts.reindex(pd.MultiIndex.from_tuples(keys, names=combo)).fillna(0)
            for key, count in zip(keys, found.to_numpy()):
                if count < k:
                    bad.append(f"{dict(zip(combo, key))} matches {int(count)} input rows")
    return bad


def test_app_loads_from_loopback_only(app, guard, server_url, bundle_dir):
    """The page becomes ready, every request went to 127.0.0.1, and all the key controls are there."""
    for css in ("ls-file-input", "ls-run", "ls-progress", "ls-status", "ls-download"):
        expect(app.locator(f".{css}").first).to_be_attached()
    expect(app.locator(".ls-run button")).to_be_disabled()
    expect(app.locator(".ls-download button")).to_be_disabled()
    expect(status(app)).to_contain_text("Choose a CSV file")
    assert guard.requests and all(is_loopback(u) for u in guard.requests)
    # Every Python package came from the bundle's own lock file; the wasm runtime too.
    loaded = {u.rsplit("/", 1)[-1] for u in guard.requests}
    assert "pyodide.asm.wasm" in loaded
    assert any(name.startswith("pandas-2.2.3-") for name in loaded)
    assert any(name.startswith("localsynth-") for name in loaded)
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    served = {f["path"] for f in manifest["files"]}
    for url in guard.requests:
        path = url[len(server_url):].split("?")[0]
        assert path == "" or path in served, f"{url} is not listed in manifest.json"


def test_german_credit_end_to_end(app, german_credit, tmp_path):
    """Upload german_credit.csv, synthesize (k=10, L=3), download, check header and k-anonymity."""
    import localsynth as ls

    upload(app, german_credit)
    expect(status(app)).to_contain_text("Loaded", timeout=60000)
    expect(app.locator(".ls-preview table").first).to_be_visible()
    expect(app.locator(".ls-summary table").first).to_be_visible()
    shoot(app, "02-german-credit-loaded")
    # Near-unique columns (credit_amount) are unticked as likely identifiers; keep every column here.
    app.locator(".ls-columns-all button").click()
    expect(app.locator(".ls-columns input:checked")).to_have_count(len(pd.read_csv(german_credit, nrows=0).columns))
    app.locator(".ls-prepare-apply button").click()
    expect(status(app)).to_contain_text("columns prepared", timeout=60000)
    expect(app.locator(".ls-page-risk").first).to_be_visible(timeout=60000)
    goto_page(app, "synthesize")

    set_int(app, "ls-k", K)
    set_int(app, "ls-length", L)
    set_int(app, "ls-seed", SEED)
    run = app.locator(".ls-run button")
    expect(run).to_be_enabled()
    run.click()
    # The page stays responsive while the worker computes: the DOM answers and the status shows progress.
    expect(app.locator(".ls-status .ls-msg-busy, .ls-status .ls-msg-ok").first).to_be_visible(timeout=30000)
    shoot(app, "03-synthesizing")
    expect(status(app)).to_contain_text("Done", timeout=SYNTH_TIMEOUT_MS)
    assert app.locator(".ls-status .ls-msg-ok").count() == 1
    expect(app.locator(".ls-progress progress")).to_have_attribute("value", "1000")
    shoot(app, "04-synthesized")

    download_button = app.locator(".ls-download button")
    expect(download_button).to_be_enabled()
    with app.expect_download(timeout=60000) as info:
        app.locator(".ls-download a, .ls-download button").first.click()
    download = info.value
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    assert target.suffix == ".csv"
    shoot(app, "05-downloaded")

    original = pd.read_csv(german_credit, dtype=str, keep_default_na=False, nrows=0)
    synthetic = pd.read_csv(target, dtype=str, keep_default_na=False)
    assert list(synthetic.columns) == list(original.columns)
    assert len(synthetic) > 0

    # The browser made exactly the file the native core makes with the same settings and seed.
    sensitive_table = ls.load_table(german_credit)
    native = ls.synthesize(sensitive_table, ls.SynthesisParams(mode="row-seeded", resolution=K, length=L, seed=SEED))
    assert target.read_text(encoding="utf-8") == native.synthetic.to_csv()

    synthetic_table = ls.load_table(target)
    violations = ls.check_k_anonymity(sensitive_table, synthetic_table, K, L)
    assert violations == [], violations[:10]
    # Same property computed independently with pandas, on the labels the core derived from the input.
    bad = pandas_k_violations(sensitive_table.to_frame(), synthetic_table.to_frame(), K, L)
    assert bad == [], bad[:10]


def test_bundle_manifest_matches_files(bundle_dir):
    """Every file of the bundle is in manifest.json with its sha256 and a source, and nothing else is there."""
    import hashlib

    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {p.relative_to(bundle_dir).as_posix() for p in bundle_dir.rglob("*") if p.is_file()}
    assert on_disk - set(listed) == {"manifest.json", "build-info.json"}
    for path, entry in listed.items():
        data = (bundle_dir / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], path
        assert entry["source"]
    assert manifest["total_bytes"] <= 60e6
    lock = json.loads((bundle_dir / "pyodide" / "pyodide-lock.json").read_text())
    for name, entry in lock["packages"].items():
        assert listed[f"pyodide/{entry['file_name']}"]["sha256"] == entry["sha256"], name
    index = (bundle_dir / "index.html").read_text()
    assert "http://" not in index and "https://" not in index


def test_works_offline_after_first_visit(browser, bundle_dir, tmp_path):
    """PWA: with the service worker, a second visit works with the server gone."""
    from localsynth.serve import start_background_server

    guard = Guard()
    server, url = start_background_server(bundle_dir, port=0)
    ctx = browser.new_context(service_workers="allow")
    ctx.route("**/*", guard.route)
    page = ctx.new_page()
    try:
        page.goto(url)
        wait_ready(page)
        # navigator.serviceWorker.ready resolves once a worker is active, i.e. after its install step has
        # precached every file of the bundle.
        assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
        server.shutdown()
        server.server_close()
        page.reload()
        wait_ready(page)
        shoot(page, "06-offline-reload")
        expect(status(page)).to_contain_text("Choose a CSV file")
    finally:
        try:
            server.shutdown()
        except Exception:
            pass
        ctx.close()
    assert not guard.blocked, guard.blocked
