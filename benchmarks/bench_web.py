#!/usr/bin/env python3
"""Benchmark of the offline browser bundle; prints a table and writes benchmarks/results/bench_web.json.

Figures:
* bundle size (MB) from manifest.json (target ≤ 60 MB);
* time from navigation to "app ready" (drawn and linked to the worker), cold: a fresh Chromium (empty HTTP
  and code caches) per run, bundle served from 127.0.0.1 (target ≤ 15 s);
* in-browser vs native time of load + exact aggregation (L=3) and row-seeded synthesis (k=10, L=3) on
  /work/shared/data/nist/national2019.csv, run by the same core code inside the app's Pyodide worker
  (target ratio ≤ 3);
* main-thread responsiveness while the worker synthesizes (round-trip of a trivial page script).

Usage: python benchmarks/bench_web.py [--runs N] [--skip-build] [--data CSV]
Every request except loopback ones is aborted; the run fails if one was attempted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "benchmarks" / "results" / "bench_web.json"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "nist" / "national2019.csv"
K, L, SEED = 10, 3, 0
TARGETS = {"bundle_mb": 60.0, "ready_s": 15.0, "ratio": 3.0}

sys.path.insert(0, str(REPO_ROOT / "build_scripts"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "web"))
sys.path.insert(0, str(REPO_ROOT / "core"))

import build_bundle  # noqa: E402
from lsweb import CHROMIUM_ARGS, Guard, chromium_path  # noqa: E402

# The same work, natively and in the worker. LS_EVAL_DATA is the CSV text (set by worker.js in the browser).
WORK_PY = """
import json, time
import localsynth as ls
def _ls_bench(data, name):
    out = {}
    t = time.perf_counter()
    table = ls.load_table(data, name=name)
    out["load_s"] = time.perf_counter() - t
    out["rows"], out["columns"] = table.n_records, len(table.columns)
    t = time.perf_counter()
    agg = ls.aggregate(table, length=%(L)d)
    out["aggregate_s"] = time.perf_counter() - t
    if hasattr(ls, "synthesize") and hasattr(ls, "SynthesisParams"):
        params = ls.SynthesisParams(mode="row-seeded", resolution=%(K)d, length=%(L)d, seed=%(SEED)d)
        t = time.perf_counter()
        result = ls.synthesize(table, params)
        out["synthesize_s"] = time.perf_counter() - t
        out["synthetic_rows"] = result.synthetic.n_records
    else:
        out["synthesize_s"] = None
    return out
""" % {"K": K, "L": L, "SEED": SEED}


def native_run(data: Path) -> dict:
    ns: dict = {}
    exec(WORK_PY, ns)
    return ns["_ls_bench"](data.read_bytes(), data.name)


def measure_ready(browser_path: str, url: str, runs: int) -> tuple[list[float], list[dict], list[str]]:
    from playwright.sync_api import sync_playwright

    times, details, blocked = [], [], []
    with sync_playwright() as p:
        for _ in range(runs):
            # A new browser process (fresh profile): no HTTP cache, no compiled-wasm cache. Cold.
            browser = p.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
            ctx = browser.new_context(service_workers="block")
            guard = Guard()
            ctx.route("**/*", guard.route)
            page = ctx.new_page()
            page.goto(url, wait_until="commit")
            page.wait_for_selector("body[data-ls-ready=true], .ls-loader.failed", state="attached", timeout=180000)
            info = page.evaluate("({ready: LocalSynth.ready, nav: LocalSynth.readyAt, timings: LocalSynth.timings,"
                                 " errors: LocalSynth.errors})")
            if not info["ready"]:
                raise SystemExit(f"app failed to start: {info['errors']}")
            times.append(info["nav"] / 1000.0)
            details.append(info["timings"])
            blocked += guard.blocked
            browser.close()
    return times, details, blocked


def browser_run(browser_path: str, url: str, data: Path) -> tuple[dict, dict, list[str]]:
    from playwright.sync_api import sync_playwright

    text = data.read_text(encoding="utf-8")
    code = WORK_PY + f"\njson.dumps(_ls_bench(LS_EVAL_DATA, {data.name!r}))\n"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, headless=True, args=CHROMIUM_ARGS)
        ctx = browser.new_context(service_workers="block")
        guard = Guard()
        ctx.route("**/*", guard.route)
        page = ctx.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-ls-ready=true]", state="attached", timeout=180000)
        page.evaluate("([code, data]) => { window._lsBench = null; LocalSynth.evalPython(code, data).then("
                      "r => { window._lsBench = {ok: r}; }, e => { window._lsBench = {error: String(e)}; }); }",
                      [code, text])
        latencies = []
        started = time.perf_counter()
        result = None
        while time.perf_counter() - started < 1800:
            t = time.perf_counter()
            result = page.evaluate("window._lsBench")
            latencies.append(time.perf_counter() - t)
            if result:
                break
            time.sleep(0.2)
        browser.close()
    if not result or "error" in result:
        raise SystemExit(f"in-browser run failed: {result}")
    out = result["ok"]
    out = json.loads(out) if isinstance(out, str) else out
    responsiveness = {"probes": len(latencies), "median_ms": 1000 * statistics.median(latencies),
                      "max_ms": 1000 * max(latencies)}
    return out, responsiveness, guard.blocked


def fmt(x, unit="s", digits=2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f} {unit}".strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cold loads to time (default 3)")
    parser.add_argument("--skip-build", action="store_true", help="use dist/localsynth-web as it is")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, default=None, help="benchmark this bundle folder as it is")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"JSON output (default {RESULTS})")
    args = parser.parse_args(argv)

    out_dir = args.bundle or build_bundle.DEFAULT_OUT
    if args.bundle is None and not args.skip_build and not build_bundle.is_up_to_date(out_dir):
        t = time.perf_counter()
        if build_bundle.main(["--out", str(out_dir), "--quiet"]) != 0:
            return 1
        print(f"built the bundle in {time.perf_counter() - t:.1f} s")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    bundle_mb = manifest["total_bytes"] / 1e6

    from localsynth.serve import start_background_server

    server, url = start_background_server(out_dir, port=0)
    browser_path = chromium_path()
    try:
        ready, ready_details, blocked = measure_ready(browser_path, url, args.runs)
        in_browser, responsiveness, blocked2 = browser_run(browser_path, url, args.data)
    finally:
        server.shutdown()
        server.server_close()
    blocked += blocked2
    native = native_run(args.data)

    def ratio(key):
        b, n = in_browser.get(key), native.get(key)
        return None if b is None or not n else b / n

    work_keys = ("aggregate_s", "synthesize_s")
    b_total = sum(in_browser[k] for k in work_keys if in_browser.get(k) is not None)
    n_total = sum(native[k] for k in work_keys if native.get(k) is not None)
    try:
        chromium_version = subprocess.run([browser_path, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        chromium_version = "unknown"
    result = {
        "bundle_mb": round(bundle_mb, 2),
        "bundle_files": len(manifest["files"]),
        "ready_cold_s": [round(x, 2) for x in ready],
        "ready_cold_median_s": round(statistics.median(ready), 2),
        "ready_breakdown_ms": ready_details,
        "dataset": {"path": str(args.data), "rows": native.get("rows"), "columns": native.get("columns")},
        "params": {"mode": "row-seeded", "resolution": K, "length": L, "seed": SEED},
        "browser": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in in_browser.items()},
        "native": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in native.items()},
        "ratio": {"load": ratio("load_s"), "aggregate": ratio("aggregate_s"), "synthesize": ratio("synthesize_s"),
                  "aggregate_plus_synthesize": (b_total / n_total) if n_total else None},
        "main_thread_during_synthesis_ms": {k: (round(v, 1) if isinstance(v, float) else v)
                                            for k, v in responsiveness.items()},
        "non_loopback_requests": blocked,
        "targets": TARGETS,
        "environment": {"chromium": chromium_version, "pyodide": build_bundle.PYODIDE_VERSION,
                        "python_native": platform.python_version(), "cpus": os.cpu_count(),
                        "machine": platform.machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    }
    result["ratio"] = {k: (round(v, 2) if v is not None else None) for k, v in result["ratio"].items()}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1) + "\n")

    r = result["ratio"]
    rows = [
        ("bundle size", f"{bundle_mb:.1f} MB", f"≤ {TARGETS['bundle_mb']:.0f} MB"),
        ("app ready, cold (median of %d)" % len(ready), fmt(result["ready_cold_median_s"]),
         f"≤ {TARGETS['ready_s']:.0f} s"),
        ("  each run", ", ".join(f"{x:.1f}" for x in ready) + " s", ""),
        (f"load CSV ({native.get('rows')} rows) browser / native",
         f"{fmt(in_browser.get('load_s'))} / {fmt(native.get('load_s'))}", ""),
        (f"aggregate L={L} browser / native",
         f"{fmt(in_browser.get('aggregate_s'))} / {fmt(native.get('aggregate_s'))}  (x{fmt(r['aggregate'], '')})", ""),
        (f"synthesize k={K} L={L} browser / native",
         f"{fmt(in_browser.get('synthesize_s'))} / {fmt(native.get('synthesize_s'))}  (x{fmt(r['synthesize'], '')})",
         ""),
        ("aggregate+synthesize ratio", f"x{fmt(r['aggregate_plus_synthesize'], '')}", f"≤ {TARGETS['ratio']:.0f}"),
        ("main thread during synthesis", f"median {responsiveness['median_ms']:.0f} ms, "
                                         f"max {responsiveness['max_ms']:.0f} ms", ""),
        ("non-loopback requests", str(len(blocked)), "0"),
    ]
    width = max(len(a) for a, _, _ in rows)
    print(f"\nLocalSynth web bundle benchmark ({chromium_version}, {os.cpu_count()} CPUs)")
    for a, b, c in rows:
        print(f"  {a:<{width}}  {b:<40} {c}")
    print(f"\nwrote {args.results}")
    return 1 if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
