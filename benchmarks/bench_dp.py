"""DP aggregate-seeded synthesis: LocalSynth vs pac-synth 0.0.8 (not a test; prints a table, writes JSON).

    python benchmarks/bench_dp.py                 # everything (≈ 30–40 min, most of it pac-synth)
    python benchmarks/bench_dp.py --only nist --seeds 1 --eps 1
    python benchmarks/bench_dp.py --skip-pacsynth

NIST national2019, "demographic-focused" columns (AGEP, SEX, MSP, RAC1P, HOUSING_TYPE, OWN_RENT, EDU,
PINCP_DECILE, DVET, DEYE), L = 3, ε ∈ {1, 5, 10}, several seeds. Both synthesizers get the same input:
AGEP binned to 10-year bins labelled "00-09", "10-19", … (done before synthesis and scoring, identically
for both); every other value, including NIST's missing marker "N" and "0", is a category (pac-synth
gets ``sensitive_zeros`` for every column so that "0" is not treated as empty). pac-synth samples the
DP record count (as in its notebooks); ours samples the DP record count too (the default). Our variants:
"ours" = DP aggregates → aggregate-seeded sampler → complete_records (the default pipeline),
"ours-no-completion" = without the completion step, "ours-pairs" = DP aggregates → records built by the
completion model alone (``sampler="pairs"``).

Metrics per run: SDNist-style k-marginal score (``localsynth.evaluate.k_marginal_score``: mean over all
column pairs of Σ|p_real − p_synth|, score (2 − mean)·500; empty cells are a category of their own),
mean absolute error of the 1/2/3-way marginals (``marginal_errors``: shares, "absent" is a value),
fabricated % and suppressed % of the synthetic data's combinations up to L = 3 against the sensitive
ones (denominator = sensitive combinations, reference 7.2), share of empty cells, wall time of
fit + sample, and peak memory (peak RSS of a fresh child process running only that synthesizer, minus
the RSS after imports and data loading, plus the absolute peak).

Scaling: generated tables 50 000 × 12 (L = 3, ε = 4) and 100 000 × 20 (L = 3, ε = 4).
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

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NIST = Path(os.environ.get("LOCALSYNTH_SHARED", ROOT.parent / "shared")) / "data" / "nist" / "national2019.csv"
if not NIST.exists():
    NIST = Path("/work/shared/data/nist/national2019.csv")
RESULTS = ROOT / "benchmarks" / "results" / "bench_dp.json"
COLUMNS = ["AGEP", "SEX", "MSP", "RAC1P", "HOUSING_TYPE", "OWN_RENT", "EDU", "PINCP_DECILE", "DVET", "DEYE"]
PUBLISHED = {1: {"pac-synth": 567, "MST": 958}, 5: {"pac-synth": 895}, 10: {"pac-synth": 910, "MST": 969}}


# ---- inputs -----------------------------------------------------------------------------------------
def load_nist() -> pd.DataFrame:
    df = pd.read_csv(NIST, dtype=str, keep_default_na=False)[COLUMNS].copy()
    age = df["AGEP"].astype(int) // 10 * 10
    df["AGEP"] = [f"{a:02d}-{a + 9:02d}" for a in age]
    return df


def generated(n: int, m: int, seed: int = 0) -> pd.DataFrame:
    """Correlated categorical columns (2–12 values, driven by two latent factors), ~3 % empty cells."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    data = {}
    for j in range(m):
        k = 2 + (j * 5) % 11
        w = rng.normal(size=2)
        score = z @ w + rng.normal(scale=1.0, size=n)
        cuts = np.quantile(score, np.sort(rng.uniform(0.05, 0.95, k - 1)))
        codes = np.searchsorted(cuts, score)
        col = np.array([f"v{c}" for c in range(k)], dtype=object)[codes]
        col[rng.random(n) < 0.03] = ""
        data[f"c{j:02d}"] = col
    return pd.DataFrame(data)


# ---- one synthesizer run in a fresh process -----------------------------------------------------------
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_ours(frame: pd.DataFrame, eps: float, seed: int, length: int, params_kw: dict) -> dict:
    from localsynth.dp import DpAggregateSeeded, DpParams
    from localsynth.table import encode_frame

    table = encode_frame(frame)
    base = _rss_mb()
    t0 = time.perf_counter()
    params_kw = dict(params_kw)
    model_kw = {k: params_kw.pop(k) for k in ("sampler", "complete") if k in params_kw}
    synth = DpAggregateSeeded(DpParams(epsilon=eps, length=length, **params_kw), **model_kw).fit(table, seed=seed)
    t1 = time.perf_counter()
    out = synth.sample(seed=seed)
    t2 = time.perf_counter()
    result = out.to_frame()
    return {"frame": result, "fit_s": t1 - t0, "sample_s": t2 - t1, "base_mb": base, "peak_mb": _rss_mb(),
            "dp_records": int(synth.aggregates_.reported_records), "dp_combinations": len(synth.aggregates_)}


def _run_pacsynth(frame: pd.DataFrame, eps: float, seed: int, length: int, params_kw: dict) -> dict:
    from pacsynth import (Dataset, DpAggregateSeededParametersBuilder, DpAggregateSeededSynthesizer,
                          FabricationMode)

    cols = list(frame.columns)
    dataset = Dataset.from_data_frame(frame, sensitive_zeros=cols)
    base = _rss_mb()
    t0 = time.perf_counter()
    params = (DpAggregateSeededParametersBuilder().reporting_length(length).epsilon(eps)
              .fabrication_mode(FabricationMode.uncontrolled()).use_synthetic_counts(True).build())
    synth = DpAggregateSeededSynthesizer(params)
    synth.fit(dataset)
    t1 = time.perf_counter()
    n_dp = synth.get_dp_number_of_records()
    raw = synth.sample(n_dp)
    t2 = time.perf_counter()
    result = Dataset.raw_data_to_data_frame(raw)[cols]
    return {"frame": result, "fit_s": t1 - t0, "sample_s": t2 - t1, "base_mb": base, "peak_mb": _rss_mb(),
            "dp_records": int(n_dp), "dp_combinations": len(synth.get_dp_aggregates(";"))}


#: our variants: the default pipeline, without completion, and with the "pairs" sampler
VARIANTS = {"ours": {}, "ours-no-completion": {"complete": False}, "ours-pairs": {"sampler": "pairs"}}


def _child(which: str, frame, eps, seed, length, params_kw):
    if which == "pacsynth":
        return _run_pacsynth(frame, eps, seed, length, params_kw)
    return _run_ours(frame, eps, seed, length, {**VARIANTS[which], **params_kw})


def run_isolated(which: str, frame: pd.DataFrame, eps: float, seed: int, length: int = 3,
                 params_kw: dict | None = None, timeout: float = 3600) -> dict:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        job = pool.apply_async(_child, (which, frame, eps, seed, length, params_kw or {}))
        try:
            return job.get(timeout=timeout)
        except mp.TimeoutError:
            pool.terminate()
            return {"timeout": timeout}
        except Exception as exc:  # e.g. a sampler that is not available: record it, go on
            return {"error": f"{type(exc).__name__}: {exc}"}


# ---- metrics ----------------------------------------------------------------------------------------
def quality(real: pd.DataFrame, synth: pd.DataFrame, length: int = 3) -> dict:
    from localsynth.aggregate import aggregate
    from localsynth.evaluate import align_tables, compare, k_marginal_score, marginal_errors
    from localsynth.table import encode_frame

    synth = synth[list(real.columns)].fillna("").astype(str)
    score = k_marginal_score(real, synth, list(real.columns))
    rt, st = align_tables(encode_frame(real), encode_frame(synth))
    mae = marginal_errors(rt, st, (1, 2, 3))
    stats = compare(aggregate(rt, length), aggregate(st, length), 1)
    return {"k_marginal": score, "mae_1": mae[1], "mae_2": mae[2], "mae_3": mae[3],
            "fabricated_pct": float(stats.fabricated_percentage),
            "suppressed_pct": float(stats.suppressed_percentage),
            "empty_cells_pct": float(100 * (synth == "").to_numpy().mean()), "records": len(synth)}


def summarise(run: dict, real: pd.DataFrame | None, length: int) -> dict:
    if "timeout" in run:
        return {"timeout_s": run["timeout"]}
    if "error" in run:
        return {"error": run["error"]}
    out = {"fit_s": run["fit_s"], "sample_s": run["sample_s"], "time_s": run["fit_s"] + run["sample_s"],
           "peak_rss_mb": run["peak_mb"], "peak_rss_increase_mb": run["peak_mb"] - run["base_mb"],
           "dp_records": run["dp_records"], "dp_combinations": run["dp_combinations"]}
    if real is not None:
        out.update(quality(real, run["frame"], length))
    else:
        out["records"] = len(run["frame"])
        out["empty_cells_pct"] = float(100 * (run["frame"].fillna("") == "").to_numpy().mean())
    return out


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if key in r]
    return float(np.mean(vals)) if vals else float("nan")


# ---- main -------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["nist", "gen"], default=None)
    ap.add_argument("--eps", type=float, nargs="*", default=[1.0, 5.0, 10.0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--skip-pacsynth", action="store_true")
    ap.add_argument("--skip-ours", action="store_true")
    ap.add_argument("--no-variants", action="store_true", help="run only our default pipeline")
    ap.add_argument("--reuse-pacsynth", type=Path, default=None,
                    help="take the pac-synth runs from an earlier results file instead of running them")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--pacsynth-timeout", type=float, default=1800,
                    help="seconds before a pac-synth run on a generated table is given up (the issue: no "
                         "result within 10 minutes for 100k x 20)")
    args = ap.parse_args(argv)
    ours = [] if args.skip_ours else (["ours"] if args.no_variants else list(VARIANTS))
    systems = ours + ([] if args.skip_pacsynth else ["pac-synth"])
    reuse = json.loads(args.reuse_pacsynth.read_text()) if args.reuse_pacsynth else None
    report = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                          "cpus": os.cpu_count(), "numpy": np.__version__, "pandas": pd.__version__},
              "nist": {}, "generated": {}, "published": PUBLISHED}
    if args.only in (None, "nist"):
        real = load_nist()
        print(f"NIST national2019 demographic-focused: {len(real)} records x {real.shape[1]} columns, L = 3")
        header = (f"{'eps':>4} {'system':<10} {'k-marg':>7} {'mae1':>7} {'mae2':>7} {'mae3':>8} {'fab%':>6} "
                  f"{'sup%':>6} {'empty%':>6} {'rows':>6} {'time s':>7} {'peak MB':>8}")
        print(header)
        for eps in args.eps:
            entry = {}
            for system in systems:
                rows = []
                for seed in range(args.seeds):
                    if system == "pac-synth" and reuse is not None and str(eps) in reuse["nist"]:
                        rows.append(reuse["nist"][str(eps)]["pac-synth"]["runs"][seed])
                    else:
                        run = run_isolated("pacsynth" if system == "pac-synth" else system, real, eps, seed)
                        rows.append(summarise(run, real, 3))
                    r = rows[-1]
                    if "k_marginal" not in r:
                        print(f"{eps:>4g} {system:<10} {r}", flush=True)
                        continue
                    print(f"{eps:>4g} {system:<10} {r['k_marginal']:>7.1f} {r['mae_1']:>7.4f} {r['mae_2']:>7.4f} "
                          f"{r['mae_3']:>8.5f} {r['fabricated_pct']:>6.2f} {r['suppressed_pct']:>6.2f} "
                          f"{r['empty_cells_pct']:>6.2f} {r['records']:>6} {r['time_s']:>7.1f} "
                          f"{r['peak_rss_increase_mb']:>8.0f}", flush=True)
                keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
                entry[system] = {"runs": rows, "mean": {k: _mean(rows, k) for k in keys}}
            report["nist"][str(eps)] = entry
            _write(args.output, report)
        print("\nmeans (k-marginal; time ours/pac-synth):")
        for eps, entry in report["nist"].items():
            line = f"  eps {eps:>4}:"
            for v in VARIANTS:
                if "k_marginal" in entry.get(v, {}).get("mean", {}):
                    line += f"  {v} {entry[v]['mean']['k_marginal']:.1f}"
            ours = entry.get("ours", {}).get("mean", {})
            pac = entry.get("pac-synth", {}).get("mean", {})
            if "k_marginal" in pac:
                line += f"  pac-synth {pac['k_marginal']:.1f}"
            for v in VARIANTS:
                mine = entry.get(v, {}).get("mean", {})
                if "time_s" in mine and "time_s" in pac:
                    line += f"  time {v}/pac-synth {mine['time_s'] / pac['time_s']:.3f}"
            line += f"  (published pac-synth {PUBLISHED.get(int(float(eps)), {}).get('pac-synth', '–')})"
            print(line)
    if args.only in (None, "gen"):
        for n, m in ((50_000, 12), (100_000, 20)):
            frame = generated(n, m)
            entry = {}
            for system in [x for x in systems if x in ("ours", "ours-pairs", "pac-synth")]:
                if system == "pac-synth" and reuse is not None and f"{n}x{m}" in reuse["generated"]:
                    entry[system] = reuse["generated"][f"{n}x{m}"]["pac-synth"]
                else:
                    run = run_isolated("pacsynth" if system == "pac-synth" else system, frame, 4.0, 0,
                                       timeout=args.pacsynth_timeout if system == "pac-synth" else 1800)
                    entry[system] = summarise(run, frame if n <= 50_000 else None, 3)
                r = entry[system]
                if "timeout_s" in r or "error" in r:
                    print(f"generated {n}x{m} {system}: {r}", flush=True)
                else:
                    print(f"generated {n}x{m} {system}: time {r['time_s']:.1f} s (fit {r['fit_s']:.1f}, "
                          f"sample {r['sample_s']:.1f}), peak RSS {r['peak_rss_mb']:.0f} MB "
                          f"(+{r['peak_rss_increase_mb']:.0f}), rows {r['records']}"
                          + (f", k-marginal {r['k_marginal']:.1f}" if "k_marginal" in r else ""), flush=True)
            for v in ("ours", "ours-pairs"):
                if "time_s" in entry.get("pac-synth", {}) and "time_s" in entry.get(v, {}):
                    entry[f"time_ratio_{v}"] = entry[v]["time_s"] / entry["pac-synth"]["time_s"]
                    print(f"  time ratio {v}/pac-synth: {entry[f'time_ratio_{v}']:.3f}")
            report["generated"][f"{n}x{m}"] = entry
            _write(args.output, report)
    _write(args.output, report)
    print(f"written {args.output}")
    return 0


def _write(path: Path, report: dict) -> None:
    """Written after every block, so an interrupted run keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")


if __name__ == "__main__":
    sys.exit(main())
