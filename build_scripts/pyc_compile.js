// Precompile wheels to CPython bytecode with the very interpreter that will run them: Pyodide 0.27.7 in Node.
//
// Usage: node pyc_compile.js PYODIDE_DIR IN_DIR OUT_DIR WHEEL [WHEEL...]
// For every IN_DIR/WHEEL it writes OUT_DIR/WHEEL in which each module `x.py` is replaced by `x.pyc`
// (sourceless, unchecked-hash), so the browser skips compiling Python source at import time: importing
// pandas, Bokeh and Panel in the worker is then several seconds faster. The RECORD file is rewritten.
// Called by build_bundle.py; works offline (the Pyodide npm package is already in build/cache/).
"use strict";

const fs = require("fs");
const path = require("path");

const COMPILE_PY = `
import base64, hashlib, io, py_compile, sys, zipfile
from importlib.util import MAGIC_NUMBER, source_hash
from importlib._bootstrap_external import _code_to_hash_pyc

def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def compile_wheel(src, dst, site="/lib/python3.12/site-packages"):
    n_compiled = 0
    with zipfile.ZipFile(src) as zin:
        infos = [i for i in zin.infolist() if not i.filename.endswith("/")]
        dist_info = next(i.filename.split("/")[0] for i in infos if i.filename.split("/")[0].endswith(".dist-info"))
        files = []
        for info in infos:
            name = info.filename
            if name == dist_info + "/RECORD":
                continue
            data = zin.read(name)
            top = name.split("/")[0]
            if name.endswith(".py") and not top.endswith((".dist-info", ".data")):
                source = data
                try:
                    code = compile(source, f"{site}/{name}", "exec", dont_inherit=True, optimize=0)
                except SyntaxError:
                    files.append((name, data))  # e.g. templates shipped as .py: keep as is
                    continue
                pyc = bytes(_code_to_hash_pyc(code, source_hash(source), checked=False))
                files.append((name[:-3] + ".pyc", pyc))
                n_compiled += 1
            else:
                files.append((name, data))
    record = [record_line(n, d) for n, d in files] + [dist_info + "/RECORD,,"]
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for name, data in files:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
        zi = zipfile.ZipInfo(dist_info + "/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zout.writestr(zi, "\\n".join(record) + "\\n")
    return n_compiled

results = {}
for name in WHEELS:
    results[name] = compile_wheel(f"/work/in/{name}", f"/work/out/{name}")
import json
json.dumps({"python": sys.version, "magic": MAGIC_NUMBER.hex(), "compiled": results})
`;

async function main() {
  const [pyodideDir, inDir, outDir, ...wheels] = process.argv.slice(2);
  if (!pyodideDir || !inDir || !outDir || wheels.length === 0) {
    console.error("usage: node pyc_compile.js PYODIDE_DIR IN_DIR OUT_DIR WHEEL...");
    process.exit(2);
  }
  const {loadPyodide} = require(path.resolve(pyodideDir, "pyodide.js"));
  const py = await loadPyodide({indexURL: path.resolve(pyodideDir) + path.sep, stdout: () => {}, stderr: console.error});
  py.FS.mkdirTree("/work/in");
  py.FS.mkdirTree("/work/out");
  for (const w of wheels) py.FS.writeFile(`/work/in/${w}`, fs.readFileSync(path.join(inDir, w)));
  py.globals.set("WHEELS", py.toPy(wheels));
  const summary = await py.runPythonAsync(COMPILE_PY);
  for (const w of wheels) fs.writeFileSync(path.join(outDir, w), py.FS.readFile(`/work/out/${w}`));
  process.stdout.write(summary + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
