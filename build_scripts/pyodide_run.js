// Run a Python script under the bundle's Pyodide (wasm32, Python 3.12) in Node, with the bundle's wheels.
//
// Usage: node build_scripts/pyodide_run.js [--bundle DIR] [--packages a,b] [--wheels DIR] SCRIPT.py [ARGS...]
//        node build_scripts/pyodide_run.js [options] -m MODULE [ARGS...]
//   --bundle    the built bundle (default dist/localsynth-web); its pyodide/ folder and lock file are used
//   --packages  packages from the bundle's lock to load first (default: localsynth, i.e. numpy + pandas too)
//   --wheels    also install every pure-Python *.whl in DIR (e.g. pytest and its dependencies)
//   -m MODULE   run a module like python -m (e.g. -m pytest tests -x)
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
  let wheelDir = null;
  let module = null;
  while (argv.length && argv[0].startsWith("-")) {
    const flag = argv.shift();
    if (flag === "--bundle") bundle = path.resolve(argv.shift());
    else if (flag === "--packages") packages = argv.shift().split(",").filter(Boolean);
    else if (flag === "--wheels") wheelDir = path.resolve(argv.shift());
    else if (flag === "-m") { module = argv.shift(); break; }
    else throw new Error(`unknown option ${flag}`);
  }
  if (!argv.length && !module) {
    console.error("usage: node pyodide_run.js [--bundle DIR] [--packages a,b] SCRIPT.py [ARGS...]");
    process.exit(2);
  }
  const pyDir = path.join(bundle, "pyodide") + path.sep;
  const {loadPyodide} = require(path.join(pyDir, "pyodide.js"));
  const py = await loadPyodide({indexURL: pyDir, lockFileURL: path.join(pyDir, "pyodide-lock.json")});
  if (packages.length) await py.loadPackage(packages, {messageCallback: () => {}});
  if (wheelDir) {
    const wheels = fs.readdirSync(wheelDir).filter((f) => f.endsWith(".whl")).map((f) => path.join(wheelDir, f));
    if (wheels.length) await py.loadPackage(wheels, {messageCallback: () => {}});
  }
  py.FS.mkdirTree("/host");
  py.FS.mount(py.FS.filesystems.NODEFS, {root: "/"}, "/host");
  const hostPath = (p) => (path.isAbsolute(p) || fs.existsSync(p) ? "/host" + path.resolve(p) : p);
  const args = argv.map(hostPath);
  py.globals.set("LS_ARGV", py.toPy(args));
  py.globals.set("LS_MODULE", module);
  py.globals.set("LS_CWD", "/host" + process.cwd());
  let code = 0;
  try {
    code = await py.runPythonAsync(`
import os, runpy, sys
os.chdir(LS_CWD)
def _ls_run():
    try:
        if LS_MODULE:
            sys.argv = [LS_MODULE] + list(LS_ARGV)
            runpy.run_module(LS_MODULE, run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(LS_ARGV)
            sys.path.insert(0, os.path.dirname(sys.argv[0]))
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0
_ls_run()
`);
  } catch (e) {
    console.error(String(e.message || e));
    code = 1;
  }
  process.exit(code);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
