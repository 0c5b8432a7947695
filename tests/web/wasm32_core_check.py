"""Run the core's public API on one CSV and write what came out as JSON (argv: CSV OUT.json [K L SEED]).

Used by test_core_wasm32.py twice: natively and under the bundle's Pyodide (wasm32, np.intp = int32) via
``node build_scripts/pyodide_run.js``; the two results must agree. Errors are recorded, not raised.
"""

import hashlib
import json
import sys
import time
import traceback


def main() -> None:
    csv_path, out_path = sys.argv[1], sys.argv[2]
    k, length, seed = (int(x) for x in (sys.argv[3:6] if len(sys.argv) >= 6 else (10, 3, 0)))
    out = {"platform": sys.platform, "steps": {}, "error": None}
    try:
        import numpy as np

        import localsynth as ls

        out["intp_bits"] = np.dtype(np.intp).itemsize * 8
        t = time.perf_counter()
        table = ls.load_table(csv_path)
        out["steps"]["load"] = time.perf_counter() - t
        out["n_records"], out["columns"] = table.n_records, list(table.columns)
        t = time.perf_counter()
        agg = ls.aggregate(table, length=length)
        out["steps"]["aggregate"] = time.perf_counter() - t
        out["aggregate_size"] = len(agg) if hasattr(agg, "__len__") else None
        params = ls.SynthesisParams(mode="row-seeded", resolution=k, length=length, seed=seed)
        t = time.perf_counter()
        result = ls.synthesize(table, params)
        out["steps"]["synthesize"] = time.perf_counter() - t
        text = result.synthetic.to_csv()
        out["synthetic_records"] = result.synthetic.n_records
        out["synthetic_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        t = time.perf_counter()
        out["violations"] = ls.check_k_anonymity(table, result.synthetic, k, length)[:20]
        out["steps"]["check_k_anonymity"] = time.perf_counter() - t
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the test
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
