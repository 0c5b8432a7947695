"""Serve the offline browser bundle from a local folder on 127.0.0.1.

Only the Python standard library is used. The server binds to the loopback interface only, sends correct MIME
types (``application/wasm`` is required for streaming WebAssembly compilation, ``.mjs`` must be JavaScript) and
sends the same Content-Security-Policy that ``index.html`` carries, so that the page, its worker and everything
they load may only come from this origin.

``localsynth serve [--dir DIR] [--port P]`` calls :func:`serve`; tests use :func:`start_background_server`.
"""

from __future__ import annotations

import functools
import http.server
import os
import sys
import threading
import webbrowser
from pathlib import Path

__all__ = ["CONTENT_SECURITY_POLICY", "META_CONTENT_SECURITY_POLICY", "serve", "start_background_server",
           "default_bundle_dir", "build_web"]

# One policy for the page (meta tag written by build_scripts/build_bundle.py), the web worker (which only gets
# the HTTP header) and the service worker. Every fetch goes to this origin ('self'); nothing else is allowed.
#   script-src 'wasm-unsafe-eval'  Pyodide compiles pyodide.asm.wasm and the .so files inside the numpy/pandas
#                                  wheels with WebAssembly.compile/instantiate, which CSP treats as eval.
#                                  Plain 'unsafe-eval' (JavaScript eval / new Function) is NOT allowed.
#   style-src 'unsafe-inline'      BokehJS and Panel attach generated <style> elements to the shadow roots of
#                                  every widget (InlineStyleSheet) and Panel sends per-component CSS as strings;
#                                  without it the page renders unstyled. Scripts stay strictly 'self'.
#   img-src data:                  Bokeh/Panel widget icons are inline SVG data: URIs.
#   worker-src 'self'              the Pyodide web worker and the offline service worker are same-origin files.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'wasm-unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "worker-src 'self'; "
    "manifest-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'none'; "
    "frame-ancestors 'none'"
)
# frame-ancestors only works as an HTTP header; browsers warn when a <meta> policy carries it.
META_CONTENT_SECURITY_POLICY = "; ".join(
    d for d in CONTENT_SECURITY_POLICY.split("; ") if not d.startswith("frame-ancestors"))

MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".py": "text/x-python; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".csv": "text/csv; charset=utf-8",
}

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def _source_checkout() -> Path | None:
    """The repository root when running from a source checkout (editable install), else None."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "build_scripts" / "build_bundle.py").is_file():
            return parent
    return None


def default_bundle_dir() -> Path:
    """``dist/localsynth-web`` of the source checkout, else of the current directory."""
    root = _source_checkout()
    return (root or Path.cwd()) / "dist" / "localsynth-web"


def build_web(argv: list[str] | None = None) -> int:
    """Run ``build_scripts/build_bundle.py``'s ``main(argv)`` (needs a source checkout: it bundles web/)."""
    import importlib.util

    root = _source_checkout()
    if root is None:
        print("localsynth build-web needs a source checkout of LocalSynth (build_scripts/ and web/); "
              "run it from an editable install (pip install -e .).", file=sys.stderr)
        return 2
    spec = importlib.util.spec_from_file_location("localsynth_build_bundle", root / "build_scripts" / "build_bundle.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.main(argv)


class BundleRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with strict headers. GET/HEAD only; no directory listings."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    server_version = "localsynth-serve"
    sys_version = ""
    quiet = True

    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        # Cross-origin isolation: nothing cross-origin could load anyway; it also gives the page
        # SharedArrayBuffer, which the app uses to interrupt a running synthesis in the worker.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        # Revalidate every time (cheap on loopback, 304s); the service worker keeps the offline copy.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def list_directory(self, path):  # noqa: D401 - no directory listings
        self.send_error(404, "Not found")
        return None

    def guess_type(self, path) -> str:
        suffix = os.path.splitext(str(path))[1].lower()
        return MIME_TYPES.get(suffix) or super().guess_type(path)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        if not self.quiet:
            super().log_message(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A browser that stops a download (page closed, reload) resets the connection: not worth a traceback.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def _check_host(host: str) -> str:
    if host not in LOOPBACK_HOSTS and not host.startswith("127."):
        raise ValueError(f"Refusing to serve on {host!r}: the bundle is served on the loopback interface only "
                         "(use 127.0.0.1).")
    return "127.0.0.1" if host == "localhost" else host


def _make_server(directory: str | os.PathLike, port: int, host: str, quiet: bool) -> _Server:
    root = Path(directory).resolve()
    if not (root / "index.html").is_file():
        raise FileNotFoundError(f"No index.html in {root}. Build the bundle first: localsynth build-web "
                                "(or python build_scripts/build_bundle.py).")
    handler = functools.partial(type("Handler", (BundleRequestHandler,), {"quiet": quiet}), directory=str(root))
    server_cls = _Server
    if ":" in host:
        import socket

        server_cls = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    return server_cls((_check_host(host), port), handler)


def _url(server: _Server) -> str:
    host, port = server.server_address[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(directory: str | Path | None = None, port: int = 8765, host: str = "127.0.0.1",
          open_browser: bool = False) -> None:
    """Serve ``directory`` (the built bundle) on http://host:port/ until interrupted (Ctrl+C). Blocking."""
    directory = default_bundle_dir() if directory is None else directory
    server = _make_server(directory, port, host, quiet=False)
    url = _url(server)
    print(f"LocalSynth is served from {Path(directory).resolve()}")
    print(f"Open {url} in your browser (Ctrl+C stops the server). Nothing leaves this machine.", flush=True)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nStopped.", file=sys.stderr)
    finally:
        server.server_close()


def start_background_server(directory: str | Path, port: int = 0, host: str = "127.0.0.1"):
    """Start a quiet server in a daemon thread; returns ``(server, url)``. Stop it with ``server.shutdown()``.

    ``port=0`` picks a free port.
    """
    server = _make_server(directory, port, host, quiet=True)
    thread = threading.Thread(target=server.serve_forever, name="localsynth-serve", daemon=True)
    thread.start()
    return server, _url(server)


if __name__ == "__main__":  # python -m localsynth.serve [DIR] [PORT]
    serve(sys.argv[1] if len(sys.argv) > 1 else None, int(sys.argv[2]) if len(sys.argv) > 2 else 8765)
