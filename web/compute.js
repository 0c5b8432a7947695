// LocalSynth computation worker: one long job of the app (a synthesis run, the risk hints), computed beside it.
//
// The app (Python in worker.js) starts one of these per job, so the app keeps answering while jobs compute,
// several runs can compute side by side, and Cancel simply terminates the worker. It loads only Pyodide,
// numpy, pandas and LocalSynth (no UI packages), from this origin, with the same integrity-checked package
// list as the app. Protocol:
//   app → here: {type: "run", job: Uint8Array}   pickle of (job name, args): a function of JOBS below,
//                                                called with args and progress=…
//   here → app: {type: "progress", fraction, message}    at most a few per second
//               {type: "done", result: Uint8Array}       pickle of ("ok", return value) or ("error", exception)
//               {type: "failed", message}                the runtime itself failed (e.g. out of memory)
"use strict";

importScripts("./pyodide_boot.js");

const CONFIG = /*@LS_CONFIG@*/ {
  "packages": [],
  "lockFile": "pyodide/pyodide-lock.json",
};

const BASE = new URL("./", self.location.href).href;

const JOB_PY = `
import pickle, time
import localsynth as ls

JOBS = {"synthesize_and_evaluate": ls.synthesize_and_evaluate, "column_removal_hints": ls.column_removal_hints}

def _ls_job(job, report):
    last = [0.0]

    def progress(fraction, message):
        now = time.perf_counter()
        if now - last[0] >= 0.15 or fraction >= 1.0:
            last[0] = now
            report(float(fraction), str(message or ""))
        return True

    try:
        name, args = pickle.loads(job.to_bytes())
        value = JOBS[name](*args, progress=progress)
        if name == "synthesize_and_evaluate":
            value[0].sensitive = None  # the app holds the sensitive table already
        return pickle.dumps(("ok", value), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001 - the app shows it as one readable line
        try:
            return pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that cannot be pickled: keep its type name and message
            return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
`;

let pyodide = null;

const ready = (async () => {
  pyodide = await lsStartPyodide(BASE, CONFIG);
  await lsLoadPackages(pyodide, CONFIG.packages);
  await pyodide.runPythonAsync(JOB_PY);
})();
ready.catch(() => {}); // reported when a run asks for it

function lastLine(e) {
  return String(e && e.message ? e.message : e).split("\n").filter(Boolean).slice(-1)[0] || "unknown error";
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type !== "run") return;
  try {
    const t = setTimeout(() => {
      self.postMessage({type: "progress", fraction: 0, message: "starting the computation engine"});
    }, 50);
    await ready;
    clearTimeout(t);
    const report = (fraction, message) => self.postMessage({type: "progress", fraction, message});
    const job = pyodide.globals.get("_ls_job");
    const out = job(msg.job, report);
    job.destroy();
    const buffer = out.getBuffer("u8");
    const bytes = buffer.data.slice();
    buffer.release();
    out.destroy();
    self.postMessage({type: "done", result: bytes}, [bytes.buffer]);
  } catch (e) {
    console.error(e);
    self.postMessage({type: "failed", message: lastLine(e)});
  }
};
