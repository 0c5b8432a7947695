"""LocalSynth web app: Prepare → Risk → Synthesize → Evaluate → Explore → Export, all in this browser tab.

A thin Panel layer over the core's public API (``import localsynth as ls``): layout, widgets, charts and
calls; every number shown is computed by the core. The same file runs

* in the browser, inside the Pyodide web worker of the offline bundle (``localsynth build-web``; see
  docs/offline-bundle.md), off the page's thread; the sensitive data lives only in workers' memory. Each
  synthesis run computes in a computation worker of its own (web/compute.js), so the app answers during runs
  and runs can go side by side;
* natively for development: ``panel serve web/app.py`` (each run then computes in a thread).

Stable CSS classes for browser tests: ``ls-file-input``, ``ls-run``, ``ls-cancel``, ``ls-delete``,
``ls-progress``, ``ls-status``, ``ls-download``, ``ls-preview``, ``ls-summary``, ``ls-page-prepare`` …
``ls-page-export`` (the page containers inside the tabs), ``ls-mode``, ``ls-resolution`` (also ``ls-k``),
``ls-length``, ``ls-epsilon``, ``ls-seed``, ``ls-export``, and the ones named in the widgets below.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import math
import sys
import time
from datetime import datetime, timezone

import panel as pn
from bokeh.models import ColumnDataSource, FactorRange, LabelSet, Range1d, TapTool
from bokeh.plotting import figure

import localsynth as ls
from localsynth.dp import ACCURACY_MODES, FABRICATION_MODES, DpParams
from localsynth.synthesize import MODE_HELP

IN_BROWSER = sys.platform == "emscripten"
COMPUTE_WORKER = "./compute.js"  # one web worker per run (web/compute.js), next to worker.js in the bundle
MAX_PARALLEL_RUNS = 3  # each run holds its own copy of the data in memory
PRIVACY_DOC = "docs/privacy.html"  # rendered from docs/privacy.md into the bundle by build_bundle.py

pn.extension(sizing_mode="stretch_width", notifications=False)

CSS = """
:host { --ls-ok: #2f8132; --ls-err: #9b1c1c; --ls-info: #1f4e8c; }
.ls-msg { padding: .6rem .9rem; border-radius: 4px; margin: 0; line-height: 1.4; white-space: pre-wrap; }
.ls-msg-info { background: #e8f0fb; color: var(--ls-info); }
.ls-msg-ok { background: #e6f4ea; color: var(--ls-ok); }
.ls-msg-error { background: #fde8e8; color: var(--ls-err); }
.ls-msg-warn { background: #fff4e5; color: #8a4b00; }
.ls-msg-busy { background: #fff8e1; color: #7a5b00; }
.ls-help { color: #52606d; font-size: .9em; margin: 0; }
.ls-help a { color: #1f4e8c; }
table.ls-table { border-collapse: collapse; font-size: .9em; width: 100%; }
table.ls-table th, table.ls-table td { border-bottom: 1px solid #e4e7eb; padding: 3px 6px; text-align: left;
  vertical-align: top; }
table.ls-table td.num, table.ls-table th.num { text-align: right; font-variant-numeric: tabular-nums; }
.ls-hist { display: flex; align-items: flex-end; gap: 1px; height: 28px; min-width: 90px; }
.ls-hist span { display: inline-block; width: 9px; background: #5b8fd1; }
.ls-bars div { display: flex; align-items: center; gap: 6px; margin: 1px 0; font-size: .88em; }
.ls-bars .bar { background: #5b8fd1; height: 12px; }
.ls-note { color: #8a4b00; }
.ls-chips { display: flex; flex-wrap: wrap; gap: 6px; min-height: 4px; }
.ls-chip { border: 1px solid #3b6fb6; background: #e8f0fb; color: #1f4e8c; border-radius: 14px; padding: 3px 10px;
  font: inherit; font-size: .9em; cursor: pointer; }
.ls-chip:hover { background: #d2e2f7; }
.ls-verdict { font-size: 1.05em; }
"""

HELP = {
    "file": "A table with one row per person (or item) and a header row, as CSV or TSV. Drop it on the button "
            "or click to choose. It is read by this browser tab only and never uploaded.",
    "columns": "Tick the columns to keep. Leave out names, ID numbers, free text and anything you would not "
               "publish even in a rare combination.",
    "treatment": "How to treat the chosen column: as categories (as written), cut into number ranges (bins), "
                 "or split into several values (a multi-value cell such as 'a;b;c').",
    "param": "Bin width, number of bins, custom edges ('0, 18, 65, 120') or the multi-value delimiter, "
             "depending on the treatment. Press Enter to see the preview.",
    "subject": "If several rows describe the same person, the column holding their ID: the rows are joined.",
    "zeros": "Columns where the value 0 is meaningful (normally 0 counts as empty, as in the reference tool).",
    "apply": "Prepare the data with these choices and assess its privacy risk.",
    "k": "Privacy resolution k: every released count and every short combination of values in the synthetic "
         "data stands for at least k real records. Higher k = more private, fewer rare details.",
    "length": "Aggregation limit L: combinations of up to L columns are counted, protected and evaluated. "
              "Higher L = more structure kept, but slower and more values suppressed.",
    "mode": "How synthetic records are made; the line below explains the chosen mode.",
    "epsilon": "Privacy budget ε (DP only): smaller = more noise and stronger privacy; 1 to 10 is common.",
    "records": "Number of synthetic records (0 = automatic: as many as the data or the protected count). "
               "Row- and value-seeded modes decide this themselves.",
    "seed": "Random seed: the same file, settings and seed always give the same synthetic data.",
    "fresh_seed": "Use fresh randomness and do not record it. Recommended for DP releases: a published seed "
                  "would let anyone recompute the noise.",
    "oversampling_ratio": "Value-seeded: cap each combination's synthetic count at its protected count × "
                          "(1 + ratio); empty = no cap.",
    "oversampling_tries": "Value-seeded: how many times to retry a value that would exceed the cap.",
    "use_synthetic_counts": "Aggregate-seeded and DP: prefer combinations whose synthetic count is still below "
                            "the released count (better counts, slightly slower).",
    "weight_selection_percentile": "Aggregate-seeded and DP: how strongly sampling favours combinations with "
                                   "high counts (percentile of the weights, 0–100).",
    "delta": "DP δ: chance that the privacy guarantee fails; 0 = automatic (1 / (records × ln records)).",
    "percentile": "DP: percentile of the per-record number of combinations used to bound one record's "
                  "influence (higher = less clipping, more noise).",
    "percentile_epsilon_share": "DP: share of ε spent on finding that percentile privately.",
    "records_epsilon_share": "DP: share of ε spent on the noisy record count.",
    "accuracy_mode": "DP: how the budget is split over combination lengths (long = more for longer ones).",
    "fabrication_mode": "DP: how hard to filter out noisy combinations that do not exist in the real data.",
    "complete": "DP: fill cells left empty by the sampler from the noisy counts (no extra privacy cost).",
    "run": "Each run computes in the background, beside the page: use the other pages meanwhile, or start up to "
           "3 runs side by side.",
    "download": "Saves the latest finished run's synthetic data as CSV (empty cells = suppressed values).",
    "export": "One zip: synthetic data (wide, condensed, long), protected and synthetic counts, metrics, the "
              "run manifest, a plain-language README and an offline dashboard you can e-mail.",
}

TREATMENTS = {
    "As categories (values as written)": "categorical",
    "Number ranges of a fixed width": "width",
    "Number ranges: equal width, N bins": "count",
    "Number ranges: equal counts, N bins (quantiles)": "quantile",
    "Number ranges: custom edges": "edges",
    "Several values per cell (multi-value)": "multi",
}
TREATMENT_DEFAULT_PARAM = {"categorical": "", "width": "10", "count": "5", "quantile": "5", "edges": "0, 10, 100",
                           "multi": ";"}
MODE_LABELS = {
    "K-anonymity: row seeded": "row-seeded",
    "K-anonymity: value seeded": "value-seeded",
    "K-anonymity: unseeded": "unseeded",
    "K-anonymity: aggregate seeded": "aggregate-seeded",
    "Differential privacy (DP aggregate seeded)": "dp",
}
STAT_TYPES = {"Sensitive data": "sensitive", "Protected aggregates": "aggregate", "Synthetic data": "synthetic"}
PAGE_ROWS = 20
EXPLORE_MAX_VALUES = 15  # default bars per Explore chart (the most common values; selected ones always shown)


def _message(text: str, kind: str = "info") -> str:
    return f'<p class="ls-msg ls-msg-{kind}">{html.escape(text)}</p>'


def _help(text: str, link: bool = False) -> pn.pane.HTML:
    extra = (f' <a href="{PRIVACY_DOC}" target="_blank" rel="noopener">How privacy works</a>' if link else "")
    return pn.pane.HTML(f'<p class="ls-help">{html.escape(text)}{extra}</p>', stylesheets=[CSS],
                        margin=(0, 10, 8, 10))


def _title(text: str, level: int = 3) -> pn.pane.HTML:
    return pn.pane.HTML(f"<h{level} style='margin:.3em 0'>{html.escape(text)}</h{level}>", margin=(4, 10, 0, 10))


def _html(obj: str = "", css: str | None = None, **kw) -> pn.pane.HTML:
    return pn.pane.HTML(obj, stylesheets=[CSS], css_classes=[css] if css else [], **kw)


def _table(frame, numeric=(), max_rows: int | None = None) -> str:
    """A plain HTML table (escaped) of a small DataFrame."""
    cols = list(frame.columns)
    head = "".join(f'<th class="{"num" if c in numeric else ""}">{html.escape(str(c))}</th>' for c in cols)
    rows = []
    for rec in frame.head(max_rows).itertuples(index=False) if max_rows else frame.itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec):
            if isinstance(v, float):
                v = "" if math.isnan(v) else f"{v:,.2f}"
            elif v is None or (hasattr(v, "__class__") and str(v) == "<NA>"):
                v = ""
            cells.append(f'<td class="{"num" if c in numeric else ""}">{html.escape(str(v))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="ls-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _bars(labels, counts) -> str:
    """Tiny inline bar list (bin previews)."""
    top = max([int(c) for c in counts] or [1]) or 1
    rows = [f'<div><span style="width:11em;display:inline-block">{html.escape(str(l))}</span>'
            f'<span class="bar" style="width:{max(2, int(160 * int(c) / top))}px"></span>{int(c):,}</div>'
            for l, c in zip(labels, counts)]
    return '<div class="ls-bars">' + "".join(rows) + "</div>"


def _hist(counts) -> str:
    top = max([int(c) for c in counts] or [1]) or 1
    bars = "".join(f'<span title="{int(c):,}" style="height:{max(1, int(28 * int(c) / top))}px"></span>'
                   for c in counts)
    return f'<div class="ls-hist">{bars}</div>'


def _chart(fig, *css: str) -> pn.pane.Bokeh:
    """A Bokeh figure as a pane; the CSS classes go on the figure's own element (tests find it there)."""
    fig.css_classes = list(css)
    return pn.pane.Bokeh(fig, sizing_mode="stretch_width")


def hbar(labels, values, title: str, unit: str = "%", height_per: int = 22, color: str = "#5b8fd1"):
    """Horizontal bar chart, largest on top, with data labels."""
    labels = [str(l) for l in labels]
    fig = figure(y_range=FactorRange(*reversed(labels)) if labels else FactorRange("(none)"),
                 height=max(140, 60 + height_per * len(labels)), title=title, toolbar_location=None, tools="",
                 sizing_mode="stretch_width")
    vmax = max([float(v) for v in values] or [1.0]) or 1.0
    src = ColumnDataSource({"y": labels, "x": [float(v) for v in values],
                            "t": [f"{float(v):.1f} {unit}".strip() for v in values]})
    fig.hbar(y="y", right="x", height=0.7, source=src, color=color)
    fig.add_layout(LabelSet(x="x", y="y", text="t", source=src, x_offset=4, y_offset=-6, text_font_size="9pt"))
    fig.x_range = Range1d(0, vmax * 1.25)
    fig.ygrid.grid_line_color = None
    return fig


def vbar(categories, values, title: str, ymax: float | None = None, color: str = "#5b8fd1"):
    cats = [str(c) for c in categories]
    vals = [0.0 if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v) for v in values]
    top = ymax if ymax else (max(vals or [1.0]) or 1.0)
    fig = figure(x_range=FactorRange(*cats) if cats else FactorRange("(none)"), height=210, title=title,
                 toolbar_location=None, tools="", sizing_mode="stretch_width")
    fig.vbar(x=cats, top=vals, width=0.7, color=color)
    fig.y_range = Range1d(0, top * 1.1)
    fig.xaxis.major_label_orientation = 0.8 if len(cats) > 6 else 0
    fig.title.text_font_size = "9pt"
    return fig


class Run:
    """One synthesis run: settings, state and results (kept in the worker's memory only)."""

    def __init__(self, number: int, params: ls.SynthesisParams, fresh_seed: bool):
        self.number = number
        self.params = params
        self.fresh_seed = fresh_seed
        self.status = "queued"
        self.result = None
        self.evaluation = None
        self.error = ""
        self.started = time.perf_counter()
        self.seconds = 0.0
        self.input_name = ""
        self.input_sha256 = ""
        self.cancelled = False  # natively: the next progress callback stops the run
        self.reported = 0.0  # when progress was last shown
        self.stop = None  # in the browser: terminates the run's computation worker
        p = params
        label = [f"Run {number}", p.mode.replace("-", " ")]
        label.append(f"ε={p.dp.epsilon:g}" if p.is_dp else f"k={p.resolution}")
        label.append(f"L={p.length}")
        label.append("fresh seed" if p.seed is None else f"seed {p.seed}")
        self.label = " · ".join(label)
        self.progress = pn.indicators.Progress(value=0, max=1000, bar_color="primary", height=16, width=160,
                                               sizing_mode="fixed", css_classes=["ls-run-progress"])
        self.info = _html("", width=420, sizing_mode="fixed")
        self.cancel = pn.widgets.Button(name="Cancel", button_type="warning", width=80, sizing_mode="fixed",
                                        css_classes=["ls-cancel"])
        self.delete = pn.widgets.Button(name="Delete", button_type="light", width=80, sizing_mode="fixed",
                                        css_classes=["ls-delete"], disabled=True)
        self.row = pn.Row(self.info, self.progress, self.cancel, self.delete, css_classes=["ls-run-row"],
                          sizing_mode="stretch_width")
        self.show()

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def going(self) -> bool:
        return self.status in ("queued", "running", "evaluating")

    def show(self) -> None:
        status = {"queued": "waiting", "running": "running", "evaluating": "evaluating", "finished": "finished",
                  "cancelled": "cancelled", "error": "error"}[self.status]
        elapsed = f"{self.seconds:.1f} s"
        err = f"<br><span style='color:#9b1c1c'>{html.escape(self.error)}</span>" if self.error else ""
        self.info.object = (f'<div class="ls-run-info" data-status="{status}"><b>{html.escape(self.label)}</b><br>'
                            f'<span class="ls-run-status">{status}</span> · {elapsed}{err}</div>')


class LocalSynthApp:
    """Widgets, layout and actions of the six pages."""

    def __init__(self) -> None:
        self.raw = None
        self.raw_sha256 = ""
        self.table = None
        self.filename = "data.csv"
        self.treatments: dict[str, tuple[str, str]] = {}
        self.runs: list[Run] = []
        self.selection: dict[str, list[str]] = {}
        self._explorer = None
        self._explorer_run = None
        self._explore_figs: dict[str, tuple] = {}  # column -> (pane, figure, source) of the explored run
        self._spare_worker = None
        self._hints_stop = None
        self._hints_pending = None
        self._hints_worker = None  # kept between hints jobs (terminated only to stop a stale one)
        self.tabs = None  # made by layout()
        self._risk_pending = False

        # ---- shared -----------------------------------------------------------------------------
        self.status = _html(_message("Choose a CSV file to begin (page 1, Prepare)."), css="ls-status")

        # ---- Prepare ----------------------------------------------------------------------------
        self.file_input = pn.widgets.FileInput(accept=".csv,.tsv,.txt", multiple=False, name="Your data file",
                                               css_classes=["ls-file-input"])
        self.preview_title = _html("", margin=(10, 10, 0, 10))
        self.preview = pn.pane.DataFrame(None, index=False, max_rows=8, css_classes=["ls-preview"],
                                         sizing_mode="stretch_width", styles={"overflow-x": "auto"})
        self.summary = _html("", css="ls-summary", styles={"overflow-x": "auto"})
        self.columns = pn.widgets.CheckBoxGroup(options=[], value=[], inline=True, css_classes=["ls-columns"])
        self.columns_all = pn.widgets.Button(name="All", width=70, sizing_mode="fixed", css_classes=["ls-columns-all"])
        self.columns_none = pn.widgets.Button(name="None", width=70, sizing_mode="fixed",
                                              css_classes=["ls-columns-none"])
        self.bin_column = pn.widgets.Select(name="Column", options=[], css_classes=["ls-bin-column"], width=220,
                                            sizing_mode="fixed")
        self.treatment = pn.widgets.Select(name="Treatment", options=list(TREATMENTS), css_classes=["ls-treatment"],
                                           width=330, sizing_mode="fixed")
        self.treatment_param = pn.widgets.TextInput(name="Width / bins / edges / delimiter", value="",
                                                    css_classes=["ls-treatment-param"], width=260,
                                                    sizing_mode="fixed")
        self.bin_preview = _html("", css="ls-bin-preview")
        self.treatment_list = _html("", css="ls-treatments")
        self.subject_id = pn.widgets.Select(name="Subject ID column", options=["(none)"], value="(none)",
                                            css_classes=["ls-subject-id"])
        self.sensitive_zeros = pn.widgets.MultiChoice(name="Sensitive zeros", options=[], value=[],
                                                      css_classes=["ls-sensitive-zeros"])
        self.prepare_apply = pn.widgets.Button(name="Use these settings and assess risk", button_type="primary",
                                               disabled=True, css_classes=["ls-prepare-apply"])

        # ---- Risk -------------------------------------------------------------------------------
        self.k = pn.widgets.IntInput(name="Privacy resolution k", value=10, start=1, step=1,
                                     css_classes=["ls-resolution", "ls-k"])
        self.length = pn.widgets.IntInput(name="Aggregation limit L", value=3, start=1, end=10, step=1,
                                          css_classes=["ls-length"])
        self.risk_headline = _html(_message("Load a file on the Prepare page first."), css="ls-risk-headline")
        self.risk_verdict = _html("", css="ls-risk-verdict")
        self.risk_hints = _html("", css="ls-risk-hints")
        self.risk_by_length = _html("", css="ls-risk-by-length")
        self.risk_charts = pn.Row(sizing_mode="stretch_width", css_classes=["ls-risk-charts"])

        # ---- Synthesize -------------------------------------------------------------------------
        self.mode = pn.widgets.Select(name="Synthesis mode", options=MODE_LABELS, value="row-seeded",
                                      css_classes=["ls-mode"])
        self.mode_help = _html("", margin=(0, 10, 8, 10))
        self.epsilon = pn.widgets.FloatInput(name="Privacy budget ε", value=4.0, start=0.01, step=0.5,
                                             css_classes=["ls-epsilon"], visible=False)
        self.epsilon_help = _help(HELP["epsilon"], link=True)
        self.epsilon_help.visible = False
        self.records = pn.widgets.IntInput(name="Number of records (0 = automatic)", value=0, start=0, step=100,
                                           css_classes=["ls-records"])
        self.seed = pn.widgets.IntInput(name="Random seed", value=0, start=0, step=1, css_classes=["ls-seed"])
        self.fresh_seed = pn.widgets.Checkbox(name="Fresh random seed, not recorded", value=False,
                                              css_classes=["ls-fresh-seed"])
        self.oversampling_ratio = pn.widgets.TextInput(name="Oversampling ratio", value="",
                                                       css_classes=["ls-oversampling-ratio"])
        self.oversampling_tries = pn.widgets.IntInput(name="Oversampling tries", value=10, start=1,
                                                      css_classes=["ls-oversampling-tries"])
        self.use_synthetic_counts = pn.widgets.Checkbox(name="Use synthetic counts", value=True,
                                                        css_classes=["ls-use-synthetic-counts"])
        self.weight_percentile = pn.widgets.FloatInput(name="Weight selection percentile", value=95, start=0, end=100,
                                                       css_classes=["ls-weight-percentile"])
        self.delta = pn.widgets.FloatInput(name="δ (0 = automatic)", value=0.0, start=0.0,
                                           css_classes=["ls-delta"])
        self.percentile = pn.widgets.FloatInput(name="Percentile", value=99, start=1, end=100,
                                                css_classes=["ls-percentile"])
        self.percentile_share = pn.widgets.FloatInput(name="Percentile ε share", value=0.01, start=0.001, end=0.99,
                                                      step=0.01, css_classes=["ls-percentile-share"])
        self.records_share = pn.widgets.FloatInput(name="Record count ε share", value=0.005, start=0.001, end=0.99,
                                                   step=0.005, css_classes=["ls-records-share"])
        self.accuracy_mode = pn.widgets.Select(name="Accuracy mode", options=list(ACCURACY_MODES), value="long",
                                               css_classes=["ls-accuracy-mode"])
        self.fabrication_mode = pn.widgets.Select(name="Fabrication mode", options=list(FABRICATION_MODES),
                                                  value="uncontrolled", css_classes=["ls-fabrication-mode"])
        self.complete = pn.widgets.Checkbox(name="Fill suppressed cells (completion)", value=True,
                                            css_classes=["ls-complete"])
        self.run = pn.widgets.Button(name="Run synthesis", button_type="primary", disabled=True,
                                     css_classes=["ls-run"])
        self.progress = pn.indicators.Progress(name="Progress", value=0, max=1000, bar_color="primary",
                                               css_classes=["ls-progress"], height=20)
        self.runs_box = pn.Column(sizing_mode="stretch_width", css_classes=["ls-runs"])
        self.download = pn.widgets.FileDownload(filename="synthetic.csv", label="Download synthetic CSV (latest run)",
                                                embed=False, auto=True, disabled=True, button_type="success",
                                                css_classes=["ls-download"])

        # ---- Evaluate ---------------------------------------------------------------------------
        self.eval_run = pn.widgets.Select(name="Run", options={}, css_classes=["ls-eval-run"])
        self.eval_summary = _html(_message("Finish a run on the Synthesize page first."), css="ls-eval-summary")
        self.eval_marginals = _html("", css="ls-eval-marginals")
        self.cmp = []
        for side, kind in (("left", "sensitive"), ("right", "synthetic")):
            run_sel = pn.widgets.Select(name="Run", options={}, css_classes=[f"ls-cmp-{side}-run"])
            type_sel = pn.widgets.Select(name="Statistics of", options=STAT_TYPES, value=kind,
                                         css_classes=[f"ls-cmp-{side}-type"])
            self.cmp.append((run_sel, type_sel))
        self.cmp_tables = [_html("", css="ls-cmp-summary"), _html("", css="ls-cmp-summary")]
        self.cmp_charts = [pn.GridBox(ncols=2, sizing_mode="stretch_width", css_classes=["ls-cmp-charts"]),
                           pn.GridBox(ncols=2, sizing_mode="stretch_width", css_classes=["ls-cmp-charts"])]
        self.table_page = pn.widgets.IntInput(name="Page", value=1, start=1, css_classes=["ls-table-page"],
                                              width=120, sizing_mode="fixed")
        self.table_info = _html("")
        self.synthetic_table = pn.pane.DataFrame(None, index=False, css_classes=["ls-synthetic-table"],
                                                 sizing_mode="stretch_width", styles={"overflow-x": "auto"})

        # ---- Explore ----------------------------------------------------------------------------
        self.explore_run = pn.widgets.Select(name="Run", options={}, css_classes=["ls-explore-run"])
        self.explore_columns = pn.widgets.MultiChoice(name="Columns to show", options=[], value=[],
                                                      css_classes=["ls-explore-columns"])
        self.explore_max = pn.widgets.IntInput(name="Values per chart", value=EXPLORE_MAX_VALUES, start=3, end=500,
                                               step=5, css_classes=["ls-explore-max"], width=140, sizing_mode="fixed")
        self.pick_column = pn.widgets.Select(name="Select in column", options=[], css_classes=["ls-pick-column"])
        self.pick_values = pn.widgets.MultiChoice(name="Values (any of)", options=[], value=[],
                                                  css_classes=["ls-pick-values"])
        # The selection is shown as chips in HTML (a text change is cheap for the page; a widget whose size changes
        # makes the page re-lay out everything, ~0.2 s). A click on a chip's ✕ is passed by main.js to this
        # hidden input (data-ls-action), which Python watches.
        self.chip_action = pn.widgets.TextInput(value="", visible=False, css_classes=["ls-chip-action"])
        self.clear_selection = pn.widgets.Button(name="Clear selection", width=140, sizing_mode="fixed",
                                                 css_classes=["ls-clear-selection"])
        self.explore_info = _html("", css="ls-explore-info")
        self.explore_charts = pn.GridBox(ncols=3, sizing_mode="stretch_width", css_classes=["ls-explore-charts"])
        self.explore_counts = _html("", css="ls-explore-counts")

        # ---- Export -----------------------------------------------------------------------------
        self.export_run = pn.widgets.Select(name="Run", options={}, css_classes=["ls-export-run"])
        self.export_build = pn.widgets.Button(name="Build the export zip", button_type="primary", disabled=True,
                                              css_classes=["ls-export-build"])
        self.export_info = _html("", css="ls-export-info")
        self.export = pn.widgets.FileDownload(filename="localsynth-release.zip", label="Download the zip",
                                              embed=False, auto=True, disabled=True, button_type="success",
                                              css_classes=["ls-export"])

        # ---- events -----------------------------------------------------------------------------
        self.file_input.param.watch(self._on_file, ["value", "filename"])
        self.columns_all.on_click(lambda e: setattr(self.columns, "value", list(self.columns.options)))
        self.columns_none.on_click(lambda e: setattr(self.columns, "value", []))
        self.bin_column.param.watch(self._on_bin_column, "value")
        self.treatment.param.watch(self._on_treatment, "value")
        self.treatment_param.param.watch(self._on_treatment, "value")
        self.prepare_apply.on_click(self._on_prepare)
        self.k.param.watch(self._on_risk_params, "value")
        self.length.param.watch(self._on_risk_params, "value")
        self.mode.param.watch(self._on_mode, "value")
        self.run.on_click(self._on_run)
        self.eval_run.param.watch(lambda e: self._show_evaluation(), "value")
        for run_sel, type_sel in self.cmp:
            run_sel.param.watch(lambda e: self._show_comparison(), "value")
            type_sel.param.watch(lambda e: self._show_comparison(), "value")
        self.table_page.param.watch(lambda e: self._show_table_page(), "value")
        self.explore_run.param.watch(self._on_explore_run, "value")
        self.explore_columns.param.watch(lambda e: self._show_explore(), "value")
        self.explore_max.param.watch(lambda e: self._show_explore(), "value")
        self.pick_column.param.watch(self._on_pick_column, "value")
        self.pick_values.param.watch(self._on_pick_values, "value")
        self.clear_selection.on_click(lambda e: self._set_selection({}))
        self.chip_action.param.watch(self._on_chip, "value")
        self.export_run.param.watch(lambda e: self._on_export_run(), "value")
        self.export_build.on_click(self._on_export_build)
        self._on_mode()

    # ==== layout ======================================================================================
    def layout(self) -> pn.viewable.Viewable:
        intro = pn.pane.HTML(
            "<h1 style='margin:.2em 0'>LocalSynth</h1>"
            "<p style='margin:0;color:#52606d'>Private synthetic data, made entirely in this browser tab. "
            "Your file never leaves this computer: there is no server behind this page.</p>",
            margin=(0, 10, 6, 10))
        prepare = pn.Column(
            _title("1. Open your data"), self.file_input, _help(HELP["file"]),
            self.preview_title, self.preview,
            _title("Columns"), _help("Type, distinct values, empty cells, a small histogram of the values, and "
                                     "warnings about identifiers and free text."),
            self.summary,
            _title("2. Choose columns"), pn.Row(self.columns_all, self.columns_none), self.columns,
            _help(HELP["columns"]),
            _title("3. Prepare columns"),
            pn.Row(self.bin_column, self.treatment, self.treatment_param, sizing_mode="stretch_width"),
            _help(HELP["treatment"]), _help(HELP["param"]), self.bin_preview, self.treatment_list,
            pn.Row(pn.Column(self.subject_id, _help(HELP["subject"])),
                   pn.Column(self.sensitive_zeros, _help(HELP["zeros"]))),
            self.prepare_apply, _help(HELP["apply"]),
            css_classes=["ls-page", "ls-page-prepare"], sizing_mode="stretch_width")
        risk = pn.Column(
            _title("Privacy risk of the sensitive data"),
            pn.Row(pn.Column(self.k, _help(HELP["k"], link=True)), pn.Column(self.length, _help(HELP["length"]))),
            self.risk_headline, self.risk_verdict, self.risk_hints,
            _help("Hints: the effect of removing each of the three most linkable columns, worked out in the "
                  "background after each assessment."), self.risk_charts,
            _title("Records first linkable at each combination length", 4), self.risk_by_length,
            css_classes=["ls-page", "ls-page-risk"], sizing_mode="stretch_width")
        advanced = pn.Card(
            pn.Row(pn.Column(self.oversampling_ratio, _help(HELP["oversampling_ratio"]),
                             self.oversampling_tries, _help(HELP["oversampling_tries"]),
                             self.use_synthetic_counts, _help(HELP["use_synthetic_counts"]),
                             self.weight_percentile, _help(HELP["weight_selection_percentile"])),
                   pn.Column(self.delta, _help(HELP["delta"], link=True),
                             self.percentile, _help(HELP["percentile"], link=True),
                             self.percentile_share, _help(HELP["percentile_epsilon_share"], link=True),
                             self.records_share, _help(HELP["records_epsilon_share"], link=True)),
                   pn.Column(self.accuracy_mode, _help(HELP["accuracy_mode"], link=True),
                             self.fabrication_mode, _help(HELP["fabrication_mode"], link=True),
                             self.complete, _help(HELP["complete"], link=True))),
            title="Advanced parameters", collapsed=True, css_classes=["ls-advanced"], sizing_mode="stretch_width")
        synth = pn.Column(
            _title("Make synthetic data"),
            pn.Row(pn.Column(self.mode, self.mode_help, self.epsilon, self.epsilon_help),
                   pn.Column(self.k, _help(HELP["k"], link=True), self.length, _help(HELP["length"])),
                   pn.Column(self.records, _help(HELP["records"]), self.seed, _help(HELP["seed"]),
                             self.fresh_seed, _help(HELP["fresh_seed"], link=True))),
            advanced,
            self.run, _help(HELP["run"]), self.progress,
            _title("Runs", 4), self.runs_box,
            self.download, _help(HELP["download"]),
            css_classes=["ls-page", "ls-page-synthesize"], sizing_mode="stretch_width")
        cmp_cols = [pn.Column(pn.Row(run_sel, type_sel), self.cmp_tables[i], self.cmp_charts[i],
                              sizing_mode="stretch_width") for i, (run_sel, type_sel) in enumerate(self.cmp)]
        evaluate = pn.Column(
            _title("How private and how useful is it?"), self.eval_run, self.eval_summary,
            _title("Marginal error", 4), self.eval_marginals,
            _title("Side-by-side comparison", 4),
            _help("Pick any run and any of the sensitive data, the protected aggregates or the synthetic data on "
                  "each side. Charts on both sides share their vertical scale."),
            pn.Row(*cmp_cols, sizing_mode="stretch_width"),
            _title("Synthetic data", 4), pn.Row(self.table_page, self.table_info), self.synthetic_table,
            css_classes=["ls-page", "ls-page-evaluate"], sizing_mode="stretch_width")
        explore = pn.Column(
            _title("Explore the synthetic data"),
            _help("Each chart counts synthetic records (blue) beside the released protected count (orange) for "
                  "every value, given the current selection. Click a bar to select or deselect a value; several "
                  "values in one column mean any of them, different columns must all match."),
            pn.Row(self.explore_run, self.explore_columns, self.explore_max),
            _help("Each chart shows the most common values first, up to “Values per chart”; selected values are "
                  "always shown, and every value is in the table below the charts."),
            pn.Row(self.pick_column, self.pick_values),
            self.clear_selection, self.explore_info, self.chip_action, self.explore_charts,
            pn.Card(self.explore_counts, title="The numbers behind the charts", collapsed=True,
                    sizing_mode="stretch_width"),
            css_classes=["ls-page", "ls-page-explore"], sizing_mode="stretch_width")
        export = pn.Column(
            _title("Export a release"), self.export_run, _help(HELP["export"]),
            self.export_build, self.export_info, self.export,
            css_classes=["ls-page", "ls-page-export"], sizing_mode="stretch_width")
        self.tabs = pn.Tabs(("1 Prepare", prepare), ("2 Risk", risk), ("3 Synthesize", synth),
                            ("4 Evaluate", evaluate), ("5 Explore", explore), ("6 Export", export),
                            css_classes=["ls-tabs"], sizing_mode="stretch_width", dynamic=False)
        self.tabs.param.watch(self._maybe_compute_hints, "active")
        return pn.Column(intro, self.status, self.tabs, sizing_mode="stretch_width", max_width=1280)

    # ==== helpers =====================================================================================
    def _say(self, text: str, kind: str = "info") -> None:
        self.status.object = _message(text, kind)

    @staticmethod
    def _error_text(exc: BaseException, what: str) -> str:
        if isinstance(exc, ls.LocalSynthError):
            return str(exc)
        if isinstance(exc, MemoryError):
            return f"Out of memory while {what}: use fewer columns, a smaller aggregation limit L, or fewer rows."
        if isinstance(exc, ImportError):
            return f"This part of LocalSynth is not available in this build ({exc}) while {what}."
        return f"Something went wrong while {what} ({type(exc).__name__}: {exc})."

    async def _background(self, fn, *args):
        """Run a long job: in the browser we already are in the web worker; natively, in a thread."""
        if IN_BROWSER:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    # ==== Prepare =====================================================================================
    def _on_file(self, *events) -> None:
        data = self.file_input.value
        name = self.file_input.filename
        if isinstance(name, list) or isinstance(data, list):  # multiple=False, but be safe
            name, data = (name or [None])[0], (data or [None])[0]
        if not name:
            return
        self._clear_data()
        self.filename = name
        if not data:
            self._say(f"{name} is empty. Choose a CSV file with a header row and at least one data row.", "error")
            return
        self._say(f"Reading {name} ({len(data) / 1e6:.2f} MB)…", "busy")
        try:
            raw = ls.read_raw(data, name=name)
            default = ls.prepare(raw)
            summary = ls.summarize_columns(default)
        except Exception as exc:  # noqa: BLE001 - shown as one readable line
            self._say(self._error_text(exc, f"reading {name}") +
                      ("" if isinstance(exc, ls.LocalSynthError) else
                       " Check that it is a text CSV file with a header row."), "error")
            return
        self.raw = raw
        self.raw_sha256 = ls.sha256_bytes(data)
        frame = raw.frame
        cols = list(frame.columns)
        notes = dict(zip(summary["column"], summary["note"]))
        suggested_out = []
        rows = []
        for col in cols:
            series = frame[col]
            present = series[series != ""]
            numeric = len(present) > 0 and _numeric_share(present) >= 0.95
            note = notes.get(col, "")
            if not note and _looks_like_free_text(present):
                note = "looks like free text: consider excluding it"
            if note.startswith(("likely an identifier", "looks like free text")):
                suggested_out.append(col)
            if numeric:
                try:
                    hist = ls.preview_bins(series, ls.Binning("count", bins=10))["count"].tolist()
                except ls.LocalSynthError:
                    hist = []
            else:
                hist = present.value_counts().head(10).tolist()
            rows.append(f"<tr><td>{html.escape(col)}</td><td>{'numbers' if numeric else 'text'}</td>"
                        f'<td class="num">{present.nunique():,}</td><td class="num">{len(series) - len(present):,}</td>'
                        f"<td>{_hist(hist)}</td><td class='ls-note'>{html.escape(note)}</td></tr>")
        if len(suggested_out) >= len(cols):
            suggested_out = []  # never untick everything
        self.summary.object = ('<table class="ls-table"><thead><tr><th>column</th><th>type</th>'
                               '<th class="num">distinct</th><th class="num">empty</th><th>histogram</th>'
                               "<th>note</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
        self.preview_title.object = (f"<b>Preview</b>: first {min(8, len(frame))} of {len(frame):,} rows, "
                                     f"{len(cols)} columns")
        self.preview.object = frame.head(8)
        self.columns.options = cols
        self.columns.value = [c for c in cols if c not in suggested_out]
        self.bin_column.options = cols
        self.bin_column.value = cols[0]
        self.subject_id.options = ["(none)"] + cols
        self.subject_id.value = "(none)"
        self.sensitive_zeros.options = cols
        self.sensitive_zeros.value = []
        self.pick_column.options = []
        self.prepare_apply.disabled = False
        warn = list(raw.warnings)
        if suggested_out:
            warn.append(f"Unticked {', '.join(suggested_out)}: they look like identifiers or free text. Tick them "
                        "again on the Prepare page if you really need them.")
        if len(cols) < 2:
            warn.append("With a single column there are no combinations to protect or learn; check the delimiter "
                        "or choose a file with more columns.")
        self._prepare_and_assess(first=True, warnings=warn)
        self._warm_worker()

    def _clear_data(self) -> None:
        self.raw = None
        self.table = None
        self.treatments = {}
        self.run.disabled = True
        self.prepare_apply.disabled = True
        self.preview.object = None
        self.preview_title.object = ""
        self.summary.object = ""
        self.bin_preview.object = ""
        self.treatment_list.object = ""
        self.risk_headline.object = _message("Load a file on the Prepare page first.")
        self.risk_verdict.object = self.risk_hints.object = self.risk_by_length.object = ""
        self.risk_charts.objects = []

    def _on_bin_column(self, *events) -> None:
        col = self.bin_column.value
        kind, param = self.treatments.get(col, ("categorical", ""))
        label = next(l for l, v in TREATMENTS.items() if v == kind)
        self._loading_treatment = True
        try:
            self.treatment.value = label
            self.treatment_param.value = param
        finally:
            self._loading_treatment = False
        self._on_treatment()

    def _treatment_spec(self, kind: str, param: str):
        """(Binning or delimiter or None) for a treatment; raises ls.ParameterError with a readable message."""
        if kind == "categorical":
            return None
        if kind == "multi":
            if not param:
                raise ls.ParameterError("type the delimiter that separates the values, e.g. ;")
            return param
        try:
            if kind == "width":
                return ls.Binning("width", width=float(param))
            if kind in ("count", "quantile"):
                return ls.Binning(kind, bins=int(param))
            return ls.Binning("edges", edges=tuple(float(x) for x in param.replace(";", ",").split(",") if x.strip()))
        except ValueError:
            raise ls.ParameterError(f"'{param}' is not a number (or a list of numbers for custom edges)") from None

    def _on_treatment(self, *events) -> None:
        if self.raw is None or getattr(self, "_loading_treatment", False):
            return
        col = self.bin_column.value
        kind = TREATMENTS[self.treatment.value]
        param = self.treatment_param.value.strip()
        if events and events[0].obj is self.treatment and events[0].name == "value":
            param = TREATMENT_DEFAULT_PARAM[kind]
            self._loading_treatment = True
            self.treatment_param.value = param
            self._loading_treatment = False
        try:
            spec = self._treatment_spec(kind, param)
            if isinstance(spec, ls.Binning):
                bins = ls.preview_bins(self.raw.frame[col], spec)
                self.bin_preview.object = (f"<b>{html.escape(col)}</b>: records per range<br>" +
                                           _bars(bins["bin"], bins["count"]))
            elif kind == "multi":
                self.bin_preview.object = _message(f"{col}: cells will be split on '{param}'.", "info")
            else:
                self.bin_preview.object = ""
        except Exception as exc:  # noqa: BLE001
            self.bin_preview.object = _message(self._error_text(exc, f"previewing {col}"), "error")
            return
        if kind == "categorical":
            self.treatments.pop(col, None)
        else:
            self.treatments[col] = (kind, param)
        self._show_treatments()

    def _show_treatments(self) -> None:
        if not self.treatments:
            self.treatment_list.object = "<p class='ls-help'>All columns are treated as categories.</p>"
            return
        items = "".join(f"<li><b>{html.escape(c)}</b>: {html.escape(next(l for l, v in TREATMENTS.items() if v == k))}"
                        f"{' (' + html.escape(p) + ')' if p else ''}</li>" for c, (k, p) in self.treatments.items())
        self.treatment_list.object = f"<div class='ls-help'>Column treatments:<ul>{items}</ul></div>"

    def _options(self) -> ls.LoadOptions:
        binning, multi = {}, {}
        for col, (kind, param) in self.treatments.items():
            if col not in self.columns.value:
                continue
            spec = self._treatment_spec(kind, param)
            if isinstance(spec, ls.Binning):
                binning[col] = spec
            elif spec is not None:
                multi[col] = spec
        subject = None if self.subject_id.value in (None, "(none)") else self.subject_id.value
        if not self.columns.value:
            raise ls.ParameterError("no columns are ticked: choose at least one column on the Prepare page.")
        return ls.LoadOptions(columns=tuple(self.columns.value), binning=binning, multi_value=multi,
                              subject_id=subject, sensitive_zeros=tuple(self.sensitive_zeros.value))

    def _on_prepare(self, event=None) -> None:
        self._prepare_and_assess(first=False)

    def _prepare_and_assess(self, first: bool, warnings=()) -> None:
        if self.raw is None:
            self._say("Choose a CSV file first.", "error")
            return
        try:
            self.table = ls.prepare(self.raw, self._options())
        except Exception as exc:  # noqa: BLE001
            self.table = None
            self.run.disabled = True
            self._say(self._error_text(exc, "preparing the data"), "error")
            return
        self.run.disabled = False
        self.pick_column.options = []
        msg = (f"Loaded {self.filename}: {self.table.n_records:,} records, {len(self.table.columns)} columns "
               "prepared.")
        notes = list(warnings) + [w for w in getattr(self.table, "warnings", ()) if w not in warnings]
        ok = self._assess_risk()
        if ok:
            msg += " The privacy risk is on page 2 (Risk); then make synthetic data on page 3 (Synthesize)."
            if notes:
                self._say(msg + "\n" + "\n".join(notes), "warn")
            else:
                self._say(msg, "ok")
            if not first:
                self.tabs.active = 1

    # ==== Risk ========================================================================================
    def _on_risk_params(self, *events) -> None:
        if self.table is not None:
            self._assess_risk()

    def _assess_risk(self) -> bool:
        table = self.table
        try:
            k, L = int(self.k.value), int(self.length.value)
            risk = ls.assess_risk(table, k, L)
        except Exception as exc:  # noqa: BLE001
            self.risk_headline.object = _message(self._error_text(exc, "assessing the risk"), "error")
            self._say(self._error_text(exc, "assessing the risk"), "error")
            return False
        self.risk_headline.object = _message(risk.headline(), "info")
        rare = risk.rare_percentage
        if risk.records_with_rare == 0:
            verdict = (f"Low risk at this setting: no record holds a combination of up to {L} values shared by "
                       f"fewer than {k} records.")
        elif rare < 10:
            verdict = ("Moderate risk: a few records could be singled out by short combinations of their values. "
                       "Synthesis with this k protects them.")
        else:
            verdict = (f"High risk: {rare:.0f}% of the records could be singled out by a few of their values. Do "
                       "not share this data; share protected synthetic data instead, and consider removing the "
                       "most linkable columns.")
        self.risk_verdict.object = f"<p class='ls-verdict'><b>Verdict.</b> {html.escape(verdict)}</p>"
        self._start_hints(table, k, L, wanted=len(table.columns) >= 2 and risk.records_with_rare > 0)
        cols = risk.linkable_columns.head(15)
        attrs = risk.linkable_attributes.head(15)
        if len(cols):
            self.risk_charts.objects = [
                _chart(hbar(cols["column"], cols["percentage"], "Most linkable columns"), "ls-risk-columns"),
                _chart(hbar(attrs["attribute"], attrs["percentage"], "Most linkable attributes"),
                       "ls-risk-attributes")]
        else:
            self.risk_charts.objects = [_html(_message("No rare attribute combinations at this setting.", "ok"))]
        self.risk_by_length.object = _table(risk.by_length, numeric=set(risk.by_length.columns))
        return True

    def _start_hints(self, table, k: int, L: int, wanted: bool) -> None:
        """Work out the column-removal hints in the background once the Risk page is shown; a newer assessment
        replaces older hints (a job still computing them is stopped)."""
        self._hints_token = token = getattr(self, "_hints_token", 0) + 1
        if self._hints_stop is not None:
            self._hints_stop()
            self._hints_stop = None
        self._hints_pending = (token, table, k, L) if wanted else None
        self.risk_hints.object = (_message("Working out which columns to remove (in the background)…", "busy")
                                  if wanted else "")
        self._maybe_compute_hints()

    def _maybe_compute_hints(self, *events) -> None:
        if self._hints_pending is not None and self.tabs is not None and self.tabs.active == 1:
            job, self._hints_pending = self._hints_pending, None
            asyncio.ensure_future(self._compute_hints(*job))

    async def _compute_hints(self, token: int, table, k: int, L: int) -> None:
        def stop_with(stop):
            self._hints_stop = stop

        try:
            if IN_BROWSER:
                hints = await self._in_worker("column_removal_hints", (table, k, L), None, stop_with, keep="hints")
            else:
                hints = await asyncio.get_running_loop().run_in_executor(
                    None, lambda: ls.column_removal_hints(table, k, L))
        except ls.Cancelled:
            return
        except BaseException as exc:  # noqa: BLE001
            if token == self._hints_token:
                self.risk_hints.object = _message(self._error_text(exc, "computing hints"), "error")
            return
        finally:
            if token == self._hints_token:
                self._hints_stop = None
        if token != self._hints_token:
            return
        if not len(hints):
            self.risk_hints.object = _message("No single column stands out.", "info")
            return
        items = "".join(f"<li>removing <b>{html.escape(str(r.column))}</b> cuts records with rare combinations "
                        f"from {r.rare_percentage_before:.0f}% to {r.rare_percentage_after:.0f}%</li>"
                        for r in hints.itertuples(index=False))
        self.risk_hints.object = (f"<div><b>Hints</b> (untick a column on the Prepare page and press "
                                  f"“Use these settings” to apply one)<ul>{items}</ul></div>")

    # ==== Synthesize ==================================================================================
    def _on_mode(self, *events) -> None:
        mode = self.mode.value
        self.mode_help.object = f"<p class='ls-help'><b>{html.escape(mode)}</b>: {html.escape(MODE_HELP[mode])}.</p>"
        dp = mode == "dp"
        self.epsilon.visible = self.epsilon_help.visible = dp
        self.records.disabled = mode in ("row-seeded", "value-seeded")
        if events:
            self.fresh_seed.value = dp
        for w in (self.oversampling_ratio, self.oversampling_tries):
            w.disabled = mode != "value-seeded"
        for w in (self.use_synthetic_counts, self.weight_percentile):
            w.disabled = mode not in ("aggregate-seeded", "dp")
        for w in (self.delta, self.percentile, self.percentile_share, self.records_share, self.accuracy_mode,
                  self.fabrication_mode, self.complete):
            w.disabled = not dp

    def _params(self) -> tuple[ls.SynthesisParams, bool]:
        mode = self.mode.value
        k, L = int(self.k.value), int(self.length.value)
        fresh = bool(self.fresh_seed.value)
        seed = None if fresh else int(self.seed.value)
        records = int(self.records.value or 0) or None
        if mode in ("row-seeded", "value-seeded"):
            records = None
        ratio_text = (self.oversampling_ratio.value or "").strip()
        try:
            ratio = float(ratio_text) if ratio_text else None
        except ValueError:
            raise ls.ParameterError(f"oversampling ratio must be a number, not '{ratio_text}'") from None
        kw = dict(mode=mode, resolution=k, length=L, seed=seed, records=records)
        if mode == "value-seeded":
            kw.update(oversampling_ratio=ratio, oversampling_tries=int(self.oversampling_tries.value))
        if mode in ("aggregate-seeded", "dp"):
            kw.update(use_synthetic_counts=bool(self.use_synthetic_counts.value),
                      weight_selection_percentile=float(self.weight_percentile.value))
        if mode == "dp":
            eps = self.epsilon.value
            if eps is None or not eps > 0:
                raise ls.ParameterError("the privacy budget ε must be a number greater than 0")
            kw["dp"] = DpParams(epsilon=float(eps), delta=float(self.delta.value) or None, length=L,
                                percentile=float(self.percentile.value),
                                percentile_epsilon_share=float(self.percentile_share.value),
                                records_epsilon_share=float(self.records_share.value),
                                accuracy_mode=self.accuracy_mode.value, fabrication_mode=self.fabrication_mode.value)
            kw["complete"] = bool(self.complete.value)
        return ls.SynthesisParams(**kw), fresh

    def _on_progress(self, run: Run, fraction: float, message: str) -> bool:
        if run.cancelled:
            return False
        now = time.perf_counter()
        if now - run.reported < 0.15 and fraction < 1.0:  # a few page updates per second are enough
            return True
        run.reported = now
        value = int(round(1000 * min(max(fraction, 0.0), 1.0)))
        run.progress.value = value
        run.seconds = time.perf_counter() - run.started
        if run.status == "running" and fraction >= 0.86:  # synthesize_and_evaluate: the last 14 % evaluate
            run.status = "evaluating"
        run.show()
        if run is self._latest_going():
            self.progress.value = value
            if message:
                self._say(f"{run.label}: {message} ({100 * fraction:.0f} %)", "busy")
        return True

    def _latest_going(self) -> Run | None:
        return next((r for r in reversed(self.runs) if r.going), None)

    async def _on_run(self, event=None) -> None:
        if self.table is None:
            self._say("Open and prepare a file on the Prepare page first.", "error")
            return
        if sum(r.going for r in self.runs) >= MAX_PARALLEL_RUNS:
            self._say(f"{MAX_PARALLEL_RUNS} runs are already going; wait for one to finish or cancel one.", "error")
            return
        try:
            params, fresh = self._params()
        except Exception as exc:  # noqa: BLE001
            self._say(f"Check the settings: {self._error_text(exc, 'reading the settings')}", "error")
            return
        self._run_counter = getattr(self, "_run_counter", 0) + 1
        run = Run(self._run_counter, params, fresh)
        run.input_name, run.input_sha256 = self.filename, self.raw_sha256
        run.cancel.on_click(lambda e, r=run: self._on_cancel(r))
        run.delete.on_click(lambda e, r=run: self._on_delete(r))
        self.runs.append(run)
        self.runs_box.objects = [r.row for r in self.runs]
        self.progress.value = 0
        run.status = "running"
        run.show()
        self._say(f"{run.label}: starting…", "busy")
        table = self.table
        run.started = time.perf_counter()
        try:
            if IN_BROWSER:
                run.result, run.evaluation = await self._compute_in_worker(run, table)
            else:
                await asyncio.sleep(0.05)  # let the page show the new run first
                def job():
                    return ls.synthesize_and_evaluate(table, run.params, lambda f, m: self._on_progress(run, f, m))

                run.result, run.evaluation = await asyncio.get_running_loop().run_in_executor(None, job)
            run.status = "finished"
        except (ls.Cancelled, KeyboardInterrupt):
            run.status = "cancelled"
        except BaseException as exc:  # noqa: BLE001 - never a traceback in the page
            run.status = "error"
            run.error = self._error_text(exc, "synthesizing")
        finally:
            run.seconds = time.perf_counter() - run.started
            run.cancel.visible = False
            run.delete.disabled = False
            if IN_BROWSER:
                self._warm_worker()
        run.show()
        none_going = self._latest_going() is None
        if run.status == "finished":
            run.progress.value = 1000
            if none_going:
                self.progress.value = 1000
            self._publish_run(run)
            self._say(f"Done: {run.label} finished in {run.seconds:.1f} s with {run.result.synthetic.n_records:,} "
                      "synthetic records. See pages 4 (Evaluate), 5 (Explore) and 6 (Export).", "ok")
        elif run.status == "cancelled":
            if none_going:
                self.progress.value = 0
            self._say(f"{run.label}: cancelled. Nothing was produced.", "info")
        else:
            if none_going:
                self.progress.value = 0
            self._say(f"{run.label} failed: {run.error}", "error")

    # ---- computation workers (browser) -----------------------------------------------------------
    def _warm_worker(self) -> None:
        """Start loading a computation worker now, so that the next run starts at once."""
        if IN_BROWSER and self._spare_worker is None:
            from js import Worker

            self._spare_worker = Worker.new(COMPUTE_WORKER)

    async def _compute_in_worker(self, run: Run, table):
        """Synthesize and evaluate a run in a computation worker of its own; Cancel terminates it."""
        def stop_with(stop):
            run.stop = stop

        result, evaluation = await self._in_worker("synthesize_and_evaluate", (table, run.params),
                                                   lambda f, m: self._on_progress(run, f, m), stop_with,
                                                   spare=True)
        result.sensitive = table
        return result, evaluation

    async def _in_worker(self, job: str, args: tuple, on_progress, stop_with, spare: bool = False,
                         keep: str | None = None):
        """Run ``job`` (a function listed in web/compute.js) on ``args`` in a web worker and return its value.

        ``stop_with(stop)`` receives a function that terminates the job (it then raises Cancelled) and
        ``stop_with(None)`` when the job is over. ``spare`` uses the worker loaded ahead, if any; otherwise a
        new worker is started, and terminated afterwards unless ``keep`` names the attribute that keeps it
        for the next job of the same kind (``_<keep>_worker``)."""
        import pickle

        from js import Object, Worker
        from pyodide.ffi import create_proxy, to_js

        kept = f"_{keep}_worker" if keep else None
        if kept and getattr(self, kept) is not None:
            worker = getattr(self, kept)
            setattr(self, kept, None)
        elif spare and self._spare_worker is not None:
            worker, self._spare_worker = self._spare_worker, None
        else:
            worker = Worker.new(COMPUTE_WORKER)
        stopped = []
        done = asyncio.get_running_loop().create_future()

        def finish(outcome=None, error=None):
            if not done.done():
                done.set_exception(error) if error is not None else done.set_result(outcome)

        def on_message(event):
            data = event.data
            if data.type == "progress":
                if on_progress is not None:
                    on_progress(data.fraction, data.message)
            elif data.type == "done":
                finish(data.result.to_bytes())
            elif data.type == "failed":
                text = str(data.message)
                oom = any(w in text.lower() for w in ("memory", "oom", "allocation failed"))
                finish(error=MemoryError(text) if oom else
                       RuntimeError(f"the computation worker stopped: {text}"))

        def on_error(event):
            finish(error=RuntimeError(f"the computation worker failed: {getattr(event, 'message', event)}"))

        def stop():
            stopped.append(True)
            worker.terminate()
            finish(error=ls.Cancelled("Stopped at your request; nothing was produced."))

        handlers = [create_proxy(on_message), create_proxy(on_error)]
        worker.onmessage, worker.onerror = handlers
        stop_with(stop)
        try:
            payload = pickle.dumps((job, args), protocol=pickle.HIGHEST_PROTOCOL)
            worker.postMessage(to_js({"type": "run", "job": to_js(payload)}, dict_converter=Object.fromEntries))
            del payload
            data = await done
        finally:
            stop_with(None)
            worker.onmessage = worker.onerror = None
            for h in handlers:
                h.destroy()
            if kept and not stopped and done.done() and done.exception() is None:
                setattr(self, kept, worker)
            else:
                worker.terminate()
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        return value

    def _on_cancel(self, run: Run) -> None:
        if not run.going:
            return
        self._say(f"{run.label}: cancelling…", "busy")
        run.cancelled = True  # natively: the next progress callback stops the run
        if run.stop is not None:
            run.stop()

    def _on_delete(self, run: Run) -> None:
        if run.going:
            return
        self.runs = [r for r in self.runs if r is not run]
        self.runs_box.objects = [r.row for r in self.runs]
        if self._explorer_run is run:
            self._explorer, self._explorer_run = None, None
        self._refresh_run_lists()
        self._say(f"{run.label} deleted.", "info")

    def _publish_run(self, run: Run) -> None:
        csv_text = run.result.synthetic.to_csv()
        stem = self.filename.rsplit(".", 1)[0] or "data"
        p = run.params
        tag = f"eps{p.dp.epsilon:g}" if p.is_dp else f"k{p.resolution}"
        self.download.filename = f"{stem}-synthetic-{p.mode}-{tag}-L{p.length}.csv"
        self.download.file = io.BytesIO(csv_text.encode("utf-8"))
        self.download.disabled = False
        self._refresh_run_lists(select=run)

    def _finished_options(self) -> dict[str, int]:
        return {r.label: r.number for r in self.runs if r.finished}

    def _run_by_number(self, number):
        return next((r for r in self.runs if r.number == number and r.finished), None)

    def _refresh_run_lists(self, select: Run | None = None) -> None:
        """Update every run selector; each page is redrawn at most once, and only if its run changed."""
        options = self._finished_options()
        widgets = [self.eval_run, self.explore_run, self.export_run] + [rs for rs, _ in self.cmp]
        self._batch = set()
        try:
            for w in widgets:
                old = w.value
                w.options = options
                if select is not None:
                    w.value = select.number
                elif old in options.values():
                    w.value = old
                elif options:
                    w.value = list(options.values())[-1]
        finally:
            todo, self._batch = self._batch, None
        self.export_build.disabled = not options
        if not options:
            self.eval_summary.object = _message("Finish a run on the Synthesize page first.")
            self.cmp_tables[0].object = self.cmp_tables[1].object = ""
            self.cmp_charts[0].objects = self.cmp_charts[1].objects = []
            self.synthetic_table.object = None
            self.explore_charts.objects = []
            self.explore_counts.object = self.explore_info.object = ""
            self._explorer, self._explorer_run = None, None
        for name in ("_show_evaluation", "_show_comparison", "_on_explore_run", "_on_export_run"):
            if name in todo:
                getattr(self, name)()

    def _later(self, name: str) -> bool:
        """Inside _refresh_run_lists: remember that a page needs redrawing instead of drawing it now."""
        if getattr(self, "_batch", None) is not None:
            self._batch.add(name)
            return True
        return False

    # ==== Evaluate ====================================================================================
    def _show_evaluation(self) -> None:
        if self._later("_show_evaluation"):
            return
        run = self._run_by_number(self.eval_run.value)
        if run is None or run.evaluation is None:
            return
        ev = run.evaluation
        text = ev.summary_text(run.params.is_dp).strip().split("\n\n")
        self.eval_summary.object = "".join(f"<p class='ls-msg ls-msg-info' style='margin:4px 0'>{html.escape(t)}</p>"
                                           for t in text)
        marg = ev.marginal_errors
        rows = "".join(f"<tr><td>{w}-way marginals</td><td class='num'>{v:.4f}</td></tr>" for w, v in marg.items())
        km = "" if ev.k_marginal is None or (isinstance(ev.k_marginal, float) and math.isnan(ev.k_marginal)) else (
            f"<tr><td>k-marginal score (0–1000, higher is better)</td><td class='num'>{ev.k_marginal:.0f}</td></tr>")
        self.eval_marginals.object = (
            "<table class='ls-table'><thead><tr><th>Mean absolute error of the proportions in all</th>"
            f"<th class='num'>error</th></tr></thead><tbody>{rows}{km}</tbody></table>"
            "<p class='ls-help'>0 means the synthetic data has exactly the proportions of the real data.</p>")
        self.table_page.value = 1
        self._show_table_page()

    def _show_table_page(self) -> None:
        run = self._run_by_number(self.eval_run.value)
        if run is None:
            return
        syn = run.result.synthetic
        pages = max(1, math.ceil(syn.n_records / PAGE_ROWS))
        page = min(max(1, int(self.table_page.value or 1)), pages)
        self.table_page.end = pages
        start = (page - 1) * PAGE_ROWS
        self.synthetic_table.object = syn.with_codes(syn.codes[start:start + PAGE_ROWS]).to_frame()
        self.table_info.object = (f"<p class='ls-help' style='margin-top:28px'>rows {start + 1:,}–"
                                  f"{min(start + PAGE_ROWS, syn.n_records):,} of {syn.n_records:,} (page {page} of "
                                  f"{pages})</p>")

    def _show_comparison(self) -> None:
        if self._later("_show_comparison"):
            return
        stats = []
        for run_sel, type_sel in self.cmp:
            run = self._run_by_number(run_sel.value)
            stats.append(None if run is None or run.evaluation is None
                         else run.evaluation.statistics()[type_sel.value])
        if not any(stats):
            return
        charts = _comparison_charts(stats)
        for i, s in enumerate(stats):
            if s is None:
                self.cmp_tables[i].object = ""
                self.cmp_charts[i].objects = []
                continue
            self.cmp_tables[i].object = _table(s.summary_frame())
            self.cmp_charts[i].objects = [_chart(f, "ls-chart") for f in charts[i]]

    # ==== Explore =====================================================================================
    def _on_explore_run(self, *events) -> None:
        if self._later("_on_explore_run"):
            return
        run = self._run_by_number(self.explore_run.value)
        if run is None:
            return
        if self._explorer_run is not run:
            try:
                from localsynth.explore import Explorer

                self._explorer = Explorer(run.result.synthetic, run.result.reportable)
            except Exception as exc:  # noqa: BLE001
                self._explorer = None
                self.explore_info.object = _message(self._error_text(exc, "preparing Explore"), "error")
                return
            self._explorer_run = run
            self._explore_figs = {}
            cols = list(run.result.synthetic.columns)
            self.selection = {}
            self._loading_explore = True
            self.explore_columns.options = cols
            self.explore_columns.value = cols[:6]
            self.pick_column.options = cols
            self.pick_column.value = cols[0]
            self._loading_explore = False
            self._on_pick_column()
        self._show_explore()

    def _on_pick_column(self, *events) -> None:
        if self._explorer is None or not self.pick_column.value:
            return
        col = self.pick_column.value
        syn = self._explorer_run.result.synthetic
        c = list(syn.columns).index(col)
        self._loading_explore = True
        self.pick_values.options = list(syn.domain.labels[c])
        self.pick_values.value = list(self.selection.get(col, []))
        self._loading_explore = False

    def _on_pick_values(self, *events) -> None:
        if getattr(self, "_loading_explore", False) or self._explorer is None:
            return
        sel = {c: list(v) for c, v in self.selection.items()}
        if self.pick_values.value:
            sel[self.pick_column.value] = list(self.pick_values.value)
        else:
            sel.pop(self.pick_column.value, None)
        self._set_selection(sel)

    def _set_selection(self, selection: dict) -> None:
        self.selection = {c: list(v) for c, v in selection.items() if v}
        if self._explorer is not None and self.pick_column.value:
            self._loading_explore = True
            self.pick_values.value = list(self.selection.get(self.pick_column.value, []))
            self._loading_explore = False
        self._show_explore()

    def _toggle(self, column: str, value: str) -> None:
        from localsynth.explore import toggle_value

        self._set_selection(toggle_value(self.selection, column, value))

    def _show_explore(self) -> None:
        if getattr(self, "_loading_explore", False) or self._explorer is None:
            return
        from localsynth.explore import selection_label

        cols = list(self.explore_columns.value)
        try:
            counts = self._explorer.counts(self.selection, cols)
            total_syn, total_agg = self._explorer.total(self.selection)
        except Exception as exc:  # noqa: BLE001
            self.explore_info.object = _message(self._error_text(exc, "counting"), "error")
            return
        agg_text = "not released" if total_agg is None or (isinstance(total_agg, float) and math.isnan(total_agg)) \
            else f"{int(total_agg):,}"
        chips = "".join(
            f"<button type='button' class='ls-chip' title='Remove this value from the selection' "
            f"data-ls-action='ls-chip-action' data-ls-value='{html.escape(json.dumps([col, v]), quote=True)}'>"
            f"{html.escape(col)} = {html.escape(v)} ✕</button>"
            for col, values in self.selection.items() for v in values)
        self.explore_info.object = (f"<div class='ls-chips'>{chips}</div>"
                                    f"<p class='ls-help'>Selection: <b>{html.escape(selection_label(self.selection))}"
                                    f"</b> — synthetic records: <b class='ls-total-synthetic'>{int(total_syn):,}</b>, "
                                    f"protected count: <b class='ls-total-aggregate'>{agg_text}</b></p>")
        charts = []
        for col in cols:
            part = counts[counts["column"] == col]
            part = part[(part["synthetic"] > 0) | part["aggregate"].fillna(0).gt(0) | part["selected"]]
            part = part.sort_values("synthetic", ascending=False, kind="stable")
            limit = max(1, int(self.explore_max.value or EXPLORE_MAX_VALUES))
            if len(part) > limit:  # the most common values, and every selected one
                keep = part["selected"].to_numpy().copy()
                keep[:limit] = True
                part = part[keep]
            charts.append(self._explore_chart(col, part))
        if [id(c) for c in charts] != [id(c) for c in self.explore_charts.objects]:
            self.explore_charts.objects = charts
        shown = counts[(counts["synthetic"] > 0) | counts["aggregate"].fillna(0).gt(0) | counts["selected"]]
        self.explore_counts.object = _table(shown, numeric={"synthetic", "aggregate"})

    def _on_chip(self, *events) -> None:
        """A chip's ✕ was clicked: main.js sent ``[counter, '["column", "value"]']``."""
        try:
            _, payload = json.loads(self.chip_action.value)
            column, value = json.loads(payload)
        except (TypeError, ValueError):
            return
        self._toggle(str(column), str(value))

    def _explore_chart(self, col: str, part) -> pn.pane.Bokeh:
        """The chart of one column; made once per explored run, then only its data change (a small update)."""
        values = [str(v) for v in part["value"]]
        syn = [int(x) for x in part["synthetic"]]
        agg = [None if (x is None or str(x) == "<NA>") else int(x) for x in part["aggregate"]]
        has_sel = bool(self.selection.get(col))
        alpha = [1.0 if (s or not has_sel) else 0.35 for s in part["selected"]]
        top = max(syn + [a for a in agg if a is not None] + [1])
        data = {"y": values, "syn": syn, "agg": [a if a is not None else 0 for a in agg], "alpha": alpha}
        factors = list(reversed(values)) if values else ["(none)"]
        height = max(150, 60 + 26 * len(values))
        entry = self._explore_figs.get(col)
        if entry is not None:
            pane, fig, src = entry
            if list(fig.y_range.factors) != factors:
                fig.y_range.factors = factors
            src.data = data
            fig.x_range.end = top * 1.1
            if fig.height != height:
                fig.height = height
            return pane
        from bokeh.transform import dodge

        fig = figure(y_range=FactorRange(*factors), height=height, title=col, toolbar_location=None, tools="tap",
                     sizing_mode="stretch_width")
        src = ColumnDataSource(data)
        r1 = fig.hbar(y=dodge("y", 0.17, range=fig.y_range), right="syn", height=0.32, source=src, color="#3b6fb6",
                      fill_alpha="alpha", legend_label="Synthetic")
        fig.hbar(y=dodge("y", -0.17, range=fig.y_range), right="agg", height=0.32, source=src, color="#e08a2c",
                 fill_alpha="alpha", legend_label="Aggregate")
        fig.x_range = Range1d(0, top * 1.1)
        fig.legend.location = "bottom_right"
        fig.legend.label_text_font_size = "8pt"
        fig.ygrid.grid_line_color = None
        fig.select_one(TapTool).renderers = [r1]
        r1.nonselection_glyph = None

        def on_tap(attr, old, new, col=col, src=src):
            if new:
                value = src.data["y"][new[0]]
                src.selected.indices = []
                self._toggle(col, value)

        src.selected.on_change("indices", on_tap)
        pane = _chart(fig, "ls-explore-chart")
        self._explore_figs[col] = (pane, fig, src)
        return pane

    # ==== Export ======================================================================================
    def _on_export_run(self) -> None:
        if self._later("_on_export_run"):
            return
        self.export.disabled = True
        self.export.file = None
        run = self._run_by_number(self.export_run.value)
        if run is None:
            self.export_info.object = _message("Finish a run on the Synthesize page first.")
            return
        self.export_info.object = _message(f"{run.label}: press “Build the export zip”, then “Download the zip”.")

    def _release(self, run: Run) -> bytes:
        p = run.params
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        release = ls.ReleaseRun(synthetic=run.result.synthetic, reportable=run.result.reportable,
                                synthetic_aggregates=run.evaluation.synthetic_aggregates if run.evaluation else None,
                                evaluation=run.evaluation, parameters=p.to_dict(), seed=p.seed,
                                input_name=run.input_name, input_sha256=run.input_sha256,
                                timings={"exported": now, "durations_seconds": {"synthesize_and_evaluate":
                                                                                round(run.seconds, 3)}})
        return ls.release_zip(release)

    async def _on_export_build(self, event=None) -> None:
        run = self._run_by_number(self.export_run.value)
        if run is None:
            self.export_info.object = _message("Choose a finished run first.", "error")
            return
        self.export_info.object = _message("Building the zip…", "busy")
        await asyncio.sleep(0.05)
        try:
            data = await self._background(self._release, run)
        except Exception as exc:  # noqa: BLE001
            self.export_info.object = _message(self._error_text(exc, "building the zip"), "error")
            return
        stem = self.filename.rsplit(".", 1)[0] or "data"
        self.export.filename = f"{stem}-release-run{run.number}.zip"
        self.export.file = io.BytesIO(data)
        self.export.disabled = False
        self.export_info.object = _message(f"{run.label}: zip ready ({len(data) / 1e6:.2f} MB). It holds no "
                                           "sensitive records; read its README before sharing it.", "ok")


def _numeric_share(present) -> float:
    import pandas as pd

    return float(pd.to_numeric(present, errors="coerce").notna().mean())


def _looks_like_free_text(present) -> bool:
    if len(present) < 5:
        return False
    sample = present.head(500)
    return bool(sample.str.len().mean() > 25 and sample.str.contains(" ").mean() > 0.5
                and sample.nunique() > 0.5 * len(sample))


_CHARTS = [
    ("count", "Mean proportional error", "Mean proportional error by count"),
    ("count", "Mean length of combinations", "Mean length of combinations by count"),
    ("length", "Mean combinations count", "Mean combinations count by length"),
    ("length", "Distinct combinations count", "Distinct combinations count by length"),
    ("length", "Rare combinations count", "Rare combinations count by length"),
    ("length", "Rare combinations percentage", "Rare combinations % by length"),
    ("length", "Leakage count", "Leakage count by length"),
    ("length", "Leakage percentage", "Leakage % by length"),
]


def _comparison_charts(stats) -> list[list]:
    """The reference's 8 charts for each side, with a shared y maximum per chart."""
    frames = [None if s is None else {"count": s.by_count_frame().iloc[::-1], "length": s.by_length_frame()}
              for s in stats]
    out = [[] for _ in stats]
    for by, column, title in _CHARTS:
        tops = []
        for f in frames:
            if f is not None:
                vals = [v for v in f[by][column].tolist() if v is not None and not (isinstance(v, float) and math.isnan(v))]
                tops.append(max(vals or [0.0]))
        ymax = max(tops or [1.0]) or 1.0
        for i, f in enumerate(frames):
            if f is None:
                continue
            x = f[by]["Bin" if by == "count" else "Length"].tolist()
            out[i].append(vbar(x, f[by][column].tolist(), title, ymax))
    return out


app = LocalSynthApp()
app.layout().servable(title="LocalSynth")
