"""Fixtures for the browser tests of the offline bundle (headless Chromium driven by Playwright).

* ``bundle_dir`` (session): builds ``dist/localsynth-web`` once, or reuses it when it is up to date with the
  repository (``build_bundle.is_up_to_date``). ``LOCALSYNTH_WEB_BUNDLE=DIR`` tests an existing bundle instead.
* ``server_url`` (session): ``localsynth.serve.start_background_server`` on 127.0.0.1, free port.
* ``browser`` (session): Debian's Chromium (``/usr/bin/chromium``; ``CHROMIUM_PATH`` overrides).
* ``guard`` / ``context`` / ``page``: a fresh browser context per test whose routing lets loopback requests
  through and aborts and records every other one; the test fails at teardown if any was attempted, or if the
  page reported a Content-Security-Policy violation or an uncaught error.
* ``app`` : ``page`` with the app loaded and ready.

Screenshots go to ``test-output/screenshots/`` (main steps via ``shoot``, and always on failure).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "build_scripts"))
import build_bundle  # noqa: E402
from lsweb import (CHROMIUM_ARGS, SHARED_DATA, Guard, chromium_path, shoot, wait_ready)  # noqa: E402


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.timeout(600))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    override = os.environ.get("LOCALSYNTH_WEB_BUNDLE")
    if override:
        path = Path(override).resolve()
        assert (path / "index.html").exists(), f"LOCALSYNTH_WEB_BUNDLE={path} has no index.html"
        return path
    out = build_bundle.DEFAULT_OUT
    if not build_bundle.is_up_to_date(out):
        started = time.perf_counter()
        code = build_bundle.main(["--out", str(out)])
        assert code == 0, "building the bundle failed (see output above)"
        print(f"\nbuilt the bundle in {time.perf_counter() - started:.1f} s")
    return out


@pytest.fixture(scope="session")
def server_url(bundle_dir):
    from localsynth.serve import start_background_server

    server, url = start_background_server(bundle_dir, port=0)
    assert urlsplit(url).hostname == "127.0.0.1"
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance):
    b = playwright_instance.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
def context(browser, guard, request):
    ctx = browser.new_context(service_workers="block", accept_downloads=True, viewport={"width": 1280, "height": 900})
    ctx.route("**/*", guard.route)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, guard, request):
    pg = context.new_page()
    pg.on("pageerror", lambda e: guard.page_errors.append(str(e)))
    pg.on("console", lambda m: m.type == "error" and guard.console_errors.append(m.text))
    pg.on("response", lambda r: r.status >= 400 and guard.http_errors.append(f"{r.status} {r.url}"))
    yield pg
    failed = any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
                 for w in ("setup", "call"))
    if failed:
        shoot(pg, f"FAILED-{request.node.name}")
    violations, app_errors = [], []
    try:
        violations = pg.evaluate("window.LocalSynth ? window.LocalSynth.cspViolations : []")
        app_errors = pg.evaluate("window.LocalSynth ? window.LocalSynth.errors : []")
    except Exception:
        pass
    assert not guard.blocked, f"non-loopback requests were attempted: {guard.blocked}"
    assert not violations, f"Content-Security-Policy violations: {violations}"
    assert not guard.page_errors, f"uncaught page errors: {guard.page_errors}"
    assert not app_errors, f"errors inside the app's worker: {app_errors}"
    assert not guard.http_errors, f"HTTP errors: {guard.http_errors}"


@pytest.fixture
def app(page, server_url):
    page.goto(server_url)
    wait_ready(page)
    shoot(page, "01-app-ready")
    return page


@pytest.fixture(scope="session")
def german_credit() -> Path:
    path = SHARED_DATA / "german_credit" / "german_credit.csv"
    if not path.exists():
        pytest.fail(f"test data missing: {path}", pytrace=False)
    return path
