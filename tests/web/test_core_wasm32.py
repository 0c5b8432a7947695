"""The core under the bundle's own Pyodide (wasm32) in Node: same API, same results as natively.

In the browser numpy's index type ``np.intp`` is 32-bit, so calls such as ``np.bincount`` or ``np.repeat`` on
int64 arrays fail there while they work natively. This test runs the public API (load, aggregate,
row-seeded synthesize, k-anonymity check) on german_credit.csv under Pyodide without a browser, in seconds,
and requires the same synthetic file (same seed) as the native run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCRIPT = HERE / "wasm32_core_check.py"
RUNNER = REPO_ROOT / "build_scripts" / "pyodide_run.js"


def run_native(csv: Path, out: Path) -> dict:
    subprocess.run([sys.executable, str(SCRIPT), str(csv), str(out)], check=True, timeout=600)
    return json.loads(out.read_text())


def run_pyodide(bundle: Path, csv: Path, out: Path) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (apt-get install -y nodejs)", pytrace=False)
    proc = subprocess.run([node, str(RUNNER), "--bundle", str(bundle), str(SCRIPT), str(csv), str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_core_api_under_pyodide_matches_native(bundle_dir, german_credit, tmp_path):
    wasm = run_pyodide(bundle_dir, german_credit, tmp_path / "wasm.json")
    assert wasm["platform"] == "emscripten" and wasm["intp_bits"] == 32
    assert wasm["error"] is None, f"core fails under wasm32: {wasm['error']}\n{wasm.get('traceback', '')}"
    native = run_native(german_credit, tmp_path / "native.json")
    assert native["error"] is None, native.get("traceback")
    assert wasm["violations"] == []
    for key in ("n_records", "columns", "synthetic_records", "synthetic_sha256"):
        assert wasm[key] == native[key], key
