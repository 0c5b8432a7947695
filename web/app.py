"""LocalSynth web app: pick a CSV, look at it, make a private synthetic copy, download it.

A thin Panel layer over the core's public API (``localsynth.load_table``, ``summarize_columns``,
``SynthesisParams``, ``synthesize``). The same file runs

* in the browser, inside the Pyodide web worker of the offline bundle (``localsynth build-web``; see
  docs/offline-bundle.md): all Python, including the synthesis, runs in the worker, so the page stays responsive;
* natively for development: ``panel serve web/app.py`` (the synthesis then runs in a thread).

Stable CSS classes for browser tests: ``ls-file-input``, ``ls-run``, ``ls-cancel``, ``ls-progress``,
``ls-status``, ``ls-download``, ``ls-preview``, ``ls-summary``, ``ls-k``, ``ls-length``, ``ls-seed``.
"""

from __future__ import annotations

import asyncio
import html
import io
import sys
import time

import panel as pn

import localsynth as ls

IN_BROWSER = sys.platform == "emscripten"

pn.extension(sizing_mode="stretch_width", notifications=False)

CSS = """
:host { --ls-ok: #2f8132; --ls-err: #9b1c1c; --ls-info: #1f4e8c; }
.ls-msg { padding: .6rem .9rem; border-radius: 4px; margin: 0; line-height: 1.4; white-space: pre-wrap; }
.ls-msg-info { background: #e8f0fb; color: var(--ls-info); }
.ls-msg-ok { background: #e6f4ea; color: var(--ls-ok); }
.ls-msg-error { background: #fde8e8; color: var(--ls-err); }
.ls-msg-busy { background: #fff8e1; color: #7a5b00; }
.ls-help { color: #52606d; font-size: .9em; margin: 0; }
"""

HELP = {
    "file": "A table with one row per person (or item) and a header row. CSV or TSV, up to a few hundred "
            "thousand rows. The file is read by this browser tab only; it is never uploaded.",
    "k": "Privacy threshold: every combination of values in the synthetic file is shared by at least k rows "
         "of your file. Higher k = more private, fewer rare details.",
    "length": "Aggregation limit: combinations of up to L columns are protected and kept realistic. Higher L "
              "= more structure kept, but slower and more values suppressed.",
    "seed": "Random seed: the same file, settings and seed always give the same synthetic file.",
    "run": "Builds a synthetic file row by row from k-protected combinations of your data (row-seeded "
           "synthesis).",
    "download": "Saves the synthetic CSV to your computer. It has the same columns as your file; empty "
                "cells are values that were suppressed to protect rare combinations.",
}


def _message(text: str, kind: str = "info") -> str:
    return f'<p class="ls-msg ls-msg-{kind}">{html.escape(text)}</p>'


def _help(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(f'<p class="ls-help">{html.escape(text)}</p>', stylesheets=[CSS], margin=(0, 10, 10, 10))


class LocalSynthApp:
    """Widgets, layout and the three actions: load, synthesize, download."""

    def __init__(self) -> None:
        self.table = None
        self.result = None
        self.filename = "data.csv"
        self._cancel = False
        self._running = False
        self._last_progress = 0.0

        self.file_input = pn.widgets.FileInput(accept=".csv,.tsv,.txt", multiple=False, name="Your data file",
                                               css_classes=["ls-file-input"])
        self.k = pn.widgets.IntInput(name="Resolution k", value=10, start=1, step=1, css_classes=["ls-k"])
        self.length = pn.widgets.IntInput(name="Aggregation limit L", value=3, start=1, step=1,
                                          css_classes=["ls-length"])
        self.seed = pn.widgets.IntInput(name="Random seed", value=0, start=0, step=1, css_classes=["ls-seed"])
        self.run = pn.widgets.Button(name="Synthesize", button_type="primary", disabled=True,
                                     css_classes=["ls-run"])
        self.cancel = pn.widgets.Button(name="Stop", button_type="light", visible=False,
                                        css_classes=["ls-cancel"])
        self.progress = pn.indicators.Progress(name="Progress", value=0, max=1000, bar_color="primary",
                                               css_classes=["ls-progress"], height=20)
        self.status = pn.pane.HTML(_message("Choose a CSV file to begin."), stylesheets=[CSS],
                                   css_classes=["ls-status"])
        self.download = pn.widgets.FileDownload(filename="synthetic.csv", label="Download synthetic CSV",
                                                embed=False, auto=True, disabled=True, button_type="success",
                                                css_classes=["ls-download"])
        self.preview = pn.pane.DataFrame(None, index=False, max_rows=10, css_classes=["ls-preview"],
                                         sizing_mode="stretch_width", styles={"overflow-x": "auto"})
        self.summary = pn.pane.DataFrame(None, index=False, css_classes=["ls-summary"],
                                         sizing_mode="stretch_width", styles={"overflow-x": "auto"})
        self.preview_title = pn.pane.HTML("", margin=(10, 10, 0, 10))
        self.summary_title = pn.pane.HTML("", margin=(10, 10, 0, 10))

        # Both: an empty file arrives as value=None with a new filename.
        self.file_input.param.watch(self._on_file, ["value", "filename"])
        self.run.on_click(self._on_run)
        self.cancel.on_click(self._on_cancel)

    # ---- layout -------------------------------------------------------------------------------------
    def layout(self) -> pn.viewable.Viewable:
        intro = pn.pane.HTML(
            "<h1 style='margin:.2em 0'>LocalSynth</h1>"
            "<p style='margin:0;color:#52606d'>Private synthetic data, made entirely in this browser tab. "
            "Your file never leaves this computer: there is no server behind this page.</p>",
            margin=(0, 10, 10, 10))
        params = pn.Column(
            pn.pane.HTML("<h3 style='margin:.3em 0'>Settings</h3>"),
            self.k, _help(HELP["k"]),
            self.length, _help(HELP["length"]),
            self.seed, _help(HELP["seed"]),
            width=340, sizing_mode=None)
        data = pn.Column(
            pn.pane.HTML("<h3 style='margin:.3em 0'>1. Your data</h3>"),
            self.file_input, _help(HELP["file"]),
            self.preview_title, self.preview,
            self.summary_title, self.summary,
            sizing_mode="stretch_width")
        actions = pn.Column(
            pn.pane.HTML("<h3 style='margin:.3em 0'>2. Make a synthetic copy</h3>"),
            pn.Row(self.run, self.cancel, sizing_mode="stretch_width"), _help(HELP["run"]),
            self.progress, self.status,
            pn.pane.HTML("<h3 style='margin:.3em 0'>3. Save it</h3>"),
            self.download, _help(HELP["download"]),
            sizing_mode="stretch_width")
        return pn.Column(intro, pn.Row(pn.Column(data, actions, sizing_mode="stretch_width"), params,
                                       sizing_mode="stretch_width"),
                         sizing_mode="stretch_width", max_width=1200)

    # ---- helpers ------------------------------------------------------------------------------------
    def _say(self, text: str, kind: str = "info") -> None:
        self.status.object = _message(text, kind)

    def _reset_result(self) -> None:
        self.result = None
        self.download.disabled = True
        self.download.file = None
        self.progress.value = 0

    # ---- load ---------------------------------------------------------------------------------------
    def _on_file(self, *events) -> None:
        self._reset_result()
        self.table = None
        self.run.disabled = True
        self.preview.object = None
        self.summary.object = None
        self.preview_title.object = ""
        self.summary_title.object = ""
        data = self.file_input.value
        name = self.file_input.filename
        if isinstance(name, list) or isinstance(data, list):  # multiple=False, but be safe
            name, data = (name or [None])[0], (data or [None])[0]
        if not name:
            return
        self.filename = name
        if not data:
            self._say(f"{name} is empty. Choose a CSV file with a header row and at least one data row.",
                      "error")
            return
        self._say(f"Reading {name} ({len(data) / 1e6:.2f} MB)…", "busy")
        try:
            table = ls.load_table(data, name=name)
            if table.n_records == 0:
                raise ls.InputError("the file has a header but no data rows.", file=name)
            summary = ls.summarize_columns(table)
            preview = table.to_frame().head(10)
        except ls.LocalSynthError as exc:
            self._say(str(exc), "error")
            return
        except Exception as exc:  # never show a traceback; say what happened in one line
            self._say(f"{name} could not be read as a table ({type(exc).__name__}: {exc}). "
                      "Check that it is a text CSV file with a header row.", "error")
            return
        self.table = table
        self.preview_title.object = (f"<b>Preview</b>: first {min(10, table.n_records)} of "
                                     f"{table.n_records:,} rows, {len(table.columns)} columns")
        self.preview.object = preview
        self.summary_title.object = "<b>Columns</b>: distinct values, empty cells and the most common values"
        self.summary.object = summary
        self.run.disabled = False
        self._say(f"Loaded {name}: {table.n_records:,} rows, {len(table.columns)} columns. "
                  "Choose the settings and press Synthesize.", "ok")

    # ---- synthesize ---------------------------------------------------------------------------------
    def _on_progress(self, fraction: float, message: str) -> bool:
        if self._cancel:
            return False
        now = time.perf_counter()
        if now - self._last_progress >= 0.1 or fraction >= 1.0:
            self._last_progress = now
            self.progress.value = int(round(1000 * min(max(fraction, 0.0), 1.0)))
            if message:
                self._say(f"{message} ({100 * fraction:.0f} %)", "busy")
        return True

    def _synthesize(self, params):
        return ls.synthesize(self.table, params, progress=self._on_progress)

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.run.disabled = running
        self.file_input.disabled = running
        self.k.disabled = self.length.disabled = self.seed.disabled = running
        self.cancel.visible = running
        self.cancel.disabled = False

    async def _on_run(self, event=None) -> None:
        if self.table is None:
            self._say("Choose a CSV file first.", "error")
            return
        self._reset_result()
        try:
            params = ls.SynthesisParams(mode="row-seeded", resolution=int(self.k.value),
                                        length=int(self.length.value), seed=int(self.seed.value))
        except ls.LocalSynthError as exc:
            self._say(str(exc), "error")
            return
        except (TypeError, ValueError) as exc:
            self._say(f"Invalid settings: {exc}", "error")
            return
        self._cancel = False
        self._set_running(True)
        self._say(f"Synthesizing {self.table.n_records:,} rows with k={params.resolution}, "
                  f"L={params.length}…", "busy")
        await asyncio.sleep(0.05)  # let the page show the busy state first
        started = time.perf_counter()
        try:
            if IN_BROWSER:
                # Already in the web worker: run here; progress patches stream to the page as they happen.
                result = self._synthesize(params)
            else:
                result = await asyncio.get_running_loop().run_in_executor(None, self._synthesize, params)
        except (ls.Cancelled, KeyboardInterrupt):
            self.progress.value = 0
            self._say("Stopped. Nothing was produced; change the settings and press Synthesize again.", "info")
            return
        except ls.LocalSynthError as exc:
            self.progress.value = 0
            self._say(str(exc), "error")
            return
        except MemoryError:
            self.progress.value = 0
            self._say("Out of memory: try a smaller aggregation limit L or fewer columns.", "error")
            return
        except Exception as exc:
            self.progress.value = 0
            self._say(f"Synthesis failed ({type(exc).__name__}: {exc}).", "error")
            return
        finally:
            self._set_running(False)
        elapsed = time.perf_counter() - started
        self.result = result
        csv_text = result.synthetic.to_csv()
        stem = self.filename.rsplit(".", 1)[0] or "data"
        self.download.filename = f"{stem}-synthetic-k{params.resolution}-L{params.length}.csv"
        self.download.file = io.BytesIO(csv_text.encode("utf-8"))
        self.download.disabled = False
        self.progress.value = 1000
        self._say(f"Done in {elapsed:.1f} s: {result.synthetic.n_records:,} synthetic rows. Press "
                  "“Download synthetic CSV” to save them.", "ok")

    def _on_cancel(self, event=None) -> None:
        # Native: the next progress callback returns False. In the browser the click has already interrupted
        # the worker (main.js, KeyboardInterrupt) and this event only arrives after the run has ended.
        if self._running:
            self._cancel = True
            self._say("Stopping…", "busy")


app = LocalSynthApp()
app.layout().servable(title="LocalSynth")
