"""Core speed and memory: aggregation and every k-anonymous synthesizer (not a test; prints a table, writes JSON).

    python benchmarks/bench_core.py                      # everything
    python benchmarks/bench_core.py --data national --steps aggregate-3 row-seeded

Datasets: ``nist/national2019.csv`` (27 253 × 24, every column as a category, as SDS would read it) and a
generated 100 000 × 20 table of correlated categorical columns (``bench_dp.generated``). Steps: exact
aggregation at L = 3 and L = 4, and row-seeded, value-seeded, unseeded and aggregate-seeded synthesis with
k = 10, L = 3. Each step runs in a fresh process: wall time of the step alone (data already loaded and
encoded), the process's peak RSS and the peak minus the RSS after loading.

Targets (issue 2): national2019 L=3 aggregation ≤ 3 s; row-seeded national2019 ≤ 10 s; 100k×20 L=3
aggregation ≤ 10 s and < 2 GB.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
NIST = HERE.parents[1] / "shared" / "data" / "nist" / "national2019.csv"
RESULTS = HERE / "results" / "bench_core.json"

STEPS = ("aggregate-3", "aggregate-4", "row-seeded", "value-seeded", "unseeded", "aggregate-seeded")
DATASETS = ("national", "generated")
TARGETS = {("national", "aggregate-3"): (3.0, None), ("national", "row-seeded"): (10.0, None),
           ("generated", "aggregate-3"): (10.0, 2048.0)}
K, L = 10, 3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(dataset: str):
    import localsynth as ls

    if dataset == "national":
        return ls.load_table(NIST)
    from bench_dp import generated

    return ls.encode_frame(generated(100_000, 20, seed=0), name="generated-100k-20")


def _step(dataset: str, step: str) -> dict:
    import localsynth as ls

    table = _load(dataset)
    base = _rss_mb()
    t0 = time.perf_counter()
    if step.startswith("aggregate-") and step != "aggregate-seeded":
        agg = ls.aggregate(table, int(step.split("-")[1]))
        detail = {"combinations": len(agg)}
    else:
        result = ls.synthesize(table, ls.SynthesisParams(mode=step, resolution=K, length=L, seed=0))
        detail = {"synthetic_records": result.synthetic.n_records}
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "peak_rss_mb": round(_rss_mb(), 1),
            "step_rss_mb": round(_rss_mb() - base, 1), "records": table.n_records,
            "columns": table.domain.n_columns, **detail}


def run_isolated(dataset: str, step: str, timeout: float) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        job = pool.apply_async(_step, (dataset, step))
        try:
            return job.get(timeout=timeout)
        except mp.TimeoutError:
            pool.terminate()
            return {"timeout_s": timeout}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per step (default 900)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import localsynth

    rows = []
    print(f"{'dataset':<10} {'step':<17} {'seconds':>9} {'peak MB':>9} {'step MB':>9}  target / result")
    for dataset in args.data:
        for step in args.steps:
            res = run_isolated(dataset, step, args.timeout)
            row = {"dataset": dataset, "step": step, **res}
            target = TARGETS.get((dataset, step))
            if target:
                t_s, t_mb = target
                ok = "seconds" in res and res["seconds"] <= t_s and (t_mb is None or res["peak_rss_mb"] < t_mb)
                row["target"] = f"≤ {t_s:g} s" + (f", < {t_mb:g} MB" if t_mb else "")
                row["met"] = bool(ok)
            rows.append(row)
            if "seconds" in res:
                print(f"{dataset:<10} {step:<17} {res['seconds']:>9.2f} {res['peak_rss_mb']:>9.0f} "
                      f"{res['step_rss_mb']:>9.0f}  {row.get('target', '')} {'' if 'met' not in row else ('met' if row['met'] else 'NOT met')}",
                      flush=True)
            else:
                print(f"{dataset:<10} {step:<17} {res}", flush=True)
    report = {"benchmark": "bench_core", "localsynth": localsynth.__version__, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": os.cpu_count(), "k": K, "L": L,
              "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
