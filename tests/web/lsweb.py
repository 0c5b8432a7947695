"""Helpers shared by the browser tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
READY_TIMEOUT_MS = int(os.environ.get("LOCALSYNTH_READY_TIMEOUT_MS", "120000"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # not network requests
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium not found: apt-get install -y chromium (or set CHROMIUM_PATH)", pytrace=False)
    return path


class Guard:
    """Records what a page does that a test must not tolerate."""

    def __init__(self) -> None:
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.http_errors: list[str] = []

    def route(self, route) -> None:
        url = route.request.url
        if is_loopback(url):
            self.requests.append(url)
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")


def shoot(page, name: str) -> Path | None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception:  # a crashed page cannot be photographed; the failure itself is reported anyway
        return None
    return path


def wait_ready(page, timeout_ms: int = READY_TIMEOUT_MS) -> float:
    """Wait until the app is drawn and linked to the worker; returns the page's own navigation→ready time."""
    page.wait_for_selector("body[data-ls-ready=true], .ls-loader.failed", state="attached", timeout=timeout_ms)
    state = page.evaluate("({ready: LocalSynth.ready, ms: LocalSynth.readyMs, errors: LocalSynth.errors})")
    assert state["ready"], f"the app failed to start: {state['errors']}"
    return state["ms"] / 1000.0


PAGES = {"prepare": "1 Prepare", "risk": "2 Risk", "synthesize": "3 Synthesize", "evaluate": "4 Evaluate",
         "explore": "5 Explore", "export": "6 Export"}


def goto_page(page, name: str):
    """Click the tab of a workflow page; returns the page container (``.ls-page-<name>``) once visible."""
    page.locator(".bk-tab", has_text=PAGES[name]).first.click()
    container = page.locator(f".ls-page-{name}").first
    container.wait_for(state="visible", timeout=10000)
    return container
