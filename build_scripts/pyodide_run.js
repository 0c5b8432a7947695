// Run a Python script under the bundle's Pyodide (wasm32, Python 3.12) in Node, with the bundle's wheels.
//
// Usage: node build_scripts/pyodide_run.js [--bundle DIR] [--packages a,b] SCRIPT.py [ARGS...]
//   --bundle    the built bundle (default dist/localsynth-web); its pyodide/ folder and lock file are used
//   --packages  packages from the bundle's lock to load first (default: localsynth, i.e. numpy + pandas too)
// The host's / is mounted at /host; SCRIPT and absolute paths in ARGS are rewritten to /host/...; the
// script's sys.argv is [SCRIPT, ARGS...]. Exit code: 0, or 1 if the script raised.
//
// Why: the browser runs the core as wasm32 code (np.intp is int32, 32-bit pointers, no threads), where some
// numpy calls behave differently than natively. This finds such problems in seconds without a browser.
"use strict";

const fs = require("fs");
const path = require("path");

async function main() {
  const argv = process.argv.slice(2);
  let bundle = path.resolve(__dirname, "..", "dist", "localsynth-web");
  let packages = ["localsynth"];
  while (argv.length && argv[0].startsWith("--")) {
    const flag = argv.shift();
    if (flag === "--bundle") bundle = path.resolve(argv.shift());
    else if (flag === "--packages") packages = argv.shift().split(",").filter(Boolean);
    else throw new Error(`unknown option ${flag}`);
  }
  if (!argv.length) {
    console.error("usage: node pyodide_run.js [--bundle DIR] [--packages a,b] SCRIPT.py [ARGS...]");
    process.exit(2);
  }
  const pyDir = path.join(bundle, "pyodide") + path.sep;
  const {loadPyodide} = require(path.join(pyDir, "pyodide.js"));
  const py = await loadPyodide({indexURL: pyDir, lockFileURL: path.join(pyDir, "pyodide-lock.json")});
  if (packages.length) await py.loadPackage(packages, {messageCallback: () => {}});
  py.FS.mkdirTree("/host");
  py.FS.mount(py.FS.filesystems.NODEFS, {root: "/"}, "/host");
  const hostPath = (p) => (path.isAbsolute(p) || fs.existsSync(p) ? "/host" + path.resolve(p) : p);
  const args = argv.map(hostPath);
  py.globals.set("LS_ARGV", py.toPy(args));
  py.globals.set("LS_CWD", "/host" + process.cwd());
  try {
    await py.runPythonAsync(`
import os, runpy, sys
sys.argv = list(LS_ARGV)
os.chdir(LS_CWD)
sys.path.insert(0, os.path.dirname(sys.argv[0]))
runpy.run_path(sys.argv[0], run_name="__main__")
`);
  } catch (e) {
    console.error(String(e.message || e));
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
