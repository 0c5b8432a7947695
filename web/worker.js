// LocalSynth web worker: runs Pyodide, the LocalSynth core and the Panel app (Python side) off the main thread.
//
// Everything is loaded from this origin: build_scripts/build_bundle.py copies the Pyodide core into ./pyodide/,
// writes a trimmed pyodide-lock.json that lists only the wheels shipped in the bundle (each with its sha256, so
// Pyodide fetches them with Subresource Integrity), and replaces the CONFIG placeholder below.
// The protocol with main.js follows Panel's pyodide-worker protocol ('render', 'patch', 'idle' messages) plus
// 'stage' messages for the loading progress bar and 'fatal' for errors during start-up.
"use strict";

importScripts("./pyodide_boot.js");

const CONFIG = /*@LS_CONFIG@*/ {
  "stages": [],
  "app": {"url": "app/app.py", "integrity": null},
  "panelCdnRoot": "panel/",
  "lockFile": "pyodide/pyodide-lock.json",
};

const BASE = new URL("./", self.location.href).href;
let pyodide = null;

function post(type, data) {
  self.postMessage(Object.assign({type: type}, data || {}));
}

function stage(key, label, fraction) {
  post("stage", {key: key, label: label, fraction: fraction, t: performance.now()});
}

// Panel's pyodide module builds this converter with pyodide.code.run_js (a JS string eval, forbidden by our
// CSP); the bundled panel wheel is patched to use this function instead. It turns undefined into null.
self.lsDictConverter = (entries) => {
  for (const entry of entries) {
    if (entry[1] === undefined) entry[1] = null;
  }
  return Object.fromEntries(entries);
};

function sendPatch(patch, buffers, msgId) {
  self.postMessage({type: "patch", patch: patch, buffers: buffers});
}

// Python run by the worker after the packages are loaded: point Panel's resource URLs at the local copy of
// panel/dist, then execute the app exactly like `panel convert` does (init_doc, run the script, write_doc).
const BOOT_PY = `
import os, sys, time
_ls_t = {"t0": time.perf_counter()}
os.environ["PANEL_CDN_ROOT"] = LS_PANEL_CDN_ROOT
os.environ["BOKEH_RESOURCES"] = "cdn"
import pandas
_ls_t["import_pandas"] = time.perf_counter()
import bokeh.models
_ls_t["import_bokeh"] = time.perf_counter()
import panel
_ls_t["import_panel"] = time.perf_counter()
import localsynth
_ls_t["import_localsynth"] = time.perf_counter()
from panel.io.pyodide import init_doc, write_doc
init_doc()
_ls_ns = {"__name__": "__main__", "__file__": "app.py"}
exec(compile(LS_APP_CODE, "app.py", "exec"), _ls_ns)
_ls_t["run_app"] = time.perf_counter()
_ls_doc = await write_doc()
_ls_t["write_doc"] = time.perf_counter()
LS_BOOT_TIMES = {k: round(1000 * (v - _ls_t["t0"])) for k, v in _ls_t.items() if k != "t0"}
_ls_doc
`;

async function startApplication() {
  const t0 = performance.now();
  stage("runtime", "Starting the Python runtime (WebAssembly)", 0.02);
  pyodide = await lsStartPyodide(BASE, CONFIG, {env: {HOME: "/home/pyodide"}});
  const timings = {runtime: performance.now() - t0};
  const n = CONFIG.stages.length;
  for (let i = 0; i < n; i++) {
    const st = CONFIG.stages[i];
    stage(st.key, st.label, st.start);
    const ts = performance.now();
    await lsLoadPackages(pyodide, st.packages);
    timings[st.key] = performance.now() - ts;
  }
  stage("app", "Building the page", 0.9);
  const resp = await fetch(new URL(CONFIG.app.url, BASE),
                           CONFIG.app.integrity ? {integrity: CONFIG.app.integrity} : {});
  if (!resp.ok) throw new Error(`Could not load ${CONFIG.app.url}: HTTP ${resp.status}`);
  const code = await resp.text();
  pyodide.globals.set("sendPatch", sendPatch);
  pyodide.globals.set("LS_APP_CODE", code);
  pyodide.globals.set("LS_PANEL_CDN_ROOT", new URL(CONFIG.panelCdnRoot, BASE).href);
  const ts = performance.now();
  const result = await pyodide.runPythonAsync(BOOT_PY);
  const [docsJson, renderItems, rootIds] = result.toJs();
  result.destroy();
  timings.app = performance.now() - ts;
  timings.app_detail = pyodide.globals.get("LS_BOOT_TIMES").toJs({dict_converter: Object.fromEntries});
  timings.total = performance.now() - t0;
  stage("render", "Drawing the page", 0.97);
  post("render", {docs_json: docsJson, render_items: renderItems, root_ids: rootIds, timings: timings});
}

function runPython(code) {
  // Serialise calls into Python so that patches are applied in order.
  runPython.queue = (runPython.queue || Promise.resolve()).then(() => pyodide.runPythonAsync(code)).catch((e) => {
    console.error(e);
    post("error", {message: String(e && e.message ? e.message : e).split("\n").filter(Boolean).slice(-1)[0]});
  });
  return runPython.queue;
}

self.onmessage = async (event) => {
  const msg = event.data;
  if (msg.type === "init") {
    try {
      await startApplication();
    } catch (e) {
      console.error(e);
      const lines = String(e && e.message ? e.message : e).split("\n").filter(Boolean);
      post("fatal", {message: lines.slice(-1)[0] || "unknown error", detail: lines.slice(-6).join("\n")});
    }
  } else if (msg.type === "rendered") {
    await runPython(`
from panel.io.state import state
from panel.io.pyodide import _link_docs_worker
_link_docs_worker(state.curdoc, sendPatch, setter="js")
`);
    post("ready", {});
  } else if (msg.type === "patch") {
    pyodide.globals.set("patch", msg.patch);
    await runPython(`
from panel.io.state import state
from panel.io.pyodide import _convert_json_patch
state.curdoc.apply_json_patch(_convert_json_patch(patch), setter="js")
`);
    post("idle", {});
  } else if (msg.type === "eval") {
    // Used by the benchmark / tests only: run a Python snippet in the worker and return its (JSON) result.
    try {
      pyodide.globals.set("LS_EVAL_DATA", msg.data === undefined ? null : msg.data);
      const out = await pyodide.runPythonAsync(msg.code);
      let result;
      if (typeof out === "string") result = out;
      else if (out && out.toJs) { result = JSON.stringify(out.toJs({dict_converter: Object.fromEntries})); out.destroy(); }
      else result = JSON.stringify(out === undefined ? null : out);
      post("eval-result", {id: msg.id, result: result});
    } catch (e) {
      post("eval-result", {id: msg.id, error: String(e)});
    }
  }
};
