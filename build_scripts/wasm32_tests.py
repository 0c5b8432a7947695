#!/usr/bin/env python3
"""Run the core's pytest suite under the bundle's Pyodide (wasm32, Python 3.12) in Node.

    python build_scripts/wasm32_tests.py [PYTEST ARGS...]      # default: tests --ignore=tests/web -q

The browser runs the core as wasm32 code, where ``np.intp`` is 32-bit: numpy calls that need index-sized
integers (``np.bincount``, ``np.repeat`` counts, ...) reject int64 arrays there although they work natively.
This runs the same tests the native CI runs, against the ``localsynth`` wheel inside the built bundle
(``dist/localsynth-web``, rebuilt first if it is out of date). pytest and its pure-Python dependencies are
pinned below and cached under ``build/cache/test-wheels``. Needs ``node``. Exit code: pytest's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import build_bundle  # noqa: E402

TEST_WHEELS = ("pytest==9.2.0", "pluggy==1.7.0", "iniconfig==2.3.1", "pygments==2.21.0", "packaging==24.2",
               "hypothesis==6.135.0", "attrs==26.1.0", "sortedcontainers==2.4.0")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv) or ["tests", "--ignore=tests/web", "-q"]
    out = build_bundle.DEFAULT_OUT
    if not build_bundle.is_up_to_date(out) and build_bundle.main(["--out", str(out), "--quiet"]) != 0:
        return 1
    wheels = build_bundle.DEFAULT_CACHE / "test-wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in TEST_WHEELS if not build_bundle.find_cached_wheel(wheels, *spec.split("=="))]
    missing = [spec for spec in missing if not spec.startswith("packaging==")]  # already in the bundle
    if missing:
        build_bundle.pip_download(missing, wheels)
    cmd = ["node", str(HERE / "pyodide_run.js"), "--bundle", str(out), "--wheels", str(wheels),
           "-m", "pytest", "-p", "no:cacheprovider", "-s", *args]
    return subprocess.run(cmd, cwd=REPO_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
