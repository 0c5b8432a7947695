"""A standalone, offline HTML dashboard of a release: Explore (reference 8.2) for the released data only.

:func:`dashboard_html` returns ONE self-contained HTML file — no external scripts, styles, fonts, images
or requests of any kind (a Content-Security-Policy meta tag forbids them) — that can be e-mailed and
opened in any browser. It holds only released data:

* the synthetic records, as column names, value labels and integer codes;
* the released (k-anonymous or DP) aggregates, ``run.reportable``;
* a short description of the release (mode, k or ε, L, record counts).

Never the sensitive data, the sensitive aggregates or the evaluation against them. Value labels are
restricted to the values that occur in the synthetic records or in a released count: a table's domain
may still list values of the sensitive data that the protection removed, and those must not leak.

The page reproduces Explore in plain JavaScript: the numbers are those of
:func:`localsynth.explore.explore_counts` (the tests run the embedded JavaScript with Node and compare).
The counting logic is a pure script (``<script id="ls-logic">``) defining ``LocalSynthExplore`` with
``load(data)``, ``counts(model, selection, columns)``, ``total(model, selection)``, ``toggle`` and
``label``; the data is the JSON in ``<script type="application/json" id="ls-data">`` (see
:func:`dashboard_data`).

Encoding (compact, so a 27k × 24 release stays a few MB): non-negative integers are written as
fixed-width base-64 digits (``ALPHABET``). Synthetic codes are stored column by column as ``code + 1``
(0 = empty cell). Aggregates are stored per combination length ``l`` as attribute ids (value ``j`` of
column ``c`` has id ``offset[c] + j``) grouped by their first ``l − 1`` ids: ``prefixes`` (one per group),
``sizes`` (members per group), ``last`` (the last id of each member) and ``counts`` (count / ``unit``, where
``unit`` is the greatest common divisor of the counts, e.g. k for k-anonymous counts).
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ParameterError
from .explore import Explorer

if TYPE_CHECKING:  # pragma: no cover
    from .export import ReleaseRun

__all__ = ["dashboard_html", "dashboard_data", "ALPHABET", "FORMAT", "CSP"]

FORMAT = "localsynth-dashboard/1"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
DEFAULT_TITLE = "Synthetic data release"
RELEASED_KINDS = ("k-anonymous", "dp")
_ALPHA = np.frombuffer(ALPHABET.encode("ascii"), dtype=np.uint8)


# ---- compact integer encoding -----------------------------------------------------------------------
def _width(largest: int) -> int:
    """Base-64 digits needed for integers 0..largest."""
    w = 1
    while 64 ** w <= largest:
        w += 1
    return w


def _encode(values: np.ndarray, width: int) -> str:
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    if len(v) == 0 or width == 0:
        return ""
    if v.min() < 0:
        raise ValueError("only non-negative integers can be encoded")
    powers = 64 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return _ALPHA[(v[:, None] // powers) % 64].tobytes().decode("ascii")


def _decode(text: str, width: int) -> np.ndarray:
    """Inverse of :func:`_encode` (for tests)."""
    if not text:
        return np.zeros(0, dtype=np.int64)
    lut = np.zeros(128, dtype=np.int64)
    lut[_ALPHA] = np.arange(64)
    digits = lut[np.frombuffer(text.encode("ascii"), dtype=np.uint8)].reshape(-1, width)
    powers = 64 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return digits @ powers


# ---- the released data ------------------------------------------------------------------------------
def _parameter(run: "ReleaseRun", name: str):
    value = run.parameters.get(name)
    if value is None and isinstance(run.parameters.get("dp"), dict):
        value = run.parameters["dp"].get(name)
    return value


def _number(value) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    return None if value is None else str(value)


def dashboard_data(run: "ReleaseRun") -> dict:
    """The JSON-ready data embedded in the dashboard (released data only; see the module documentation)."""
    if run.reportable.kind not in RELEASED_KINDS:
        raise ParameterError(f"the dashboard shows released (k-anonymous or DP) aggregates only, not aggregates "
                             f"of kind '{run.reportable.kind}'")
    ex = Explorer(run.synthetic, run.reportable)
    dom, codes, agg = ex.domain, ex.synthetic.codes, ex.aggregates
    n_cols = dom.n_columns
    # values that are released: present in a synthetic record or in a released combination
    used = np.zeros(dom.n_attributes, dtype=bool)
    ids = ex.synthetic.attribute_ids()
    used[ids[ids >= 0]] = True
    attrs = agg.attributes() if len(agg) else np.zeros((0, agg.length), dtype=np.int64)
    used[attrs[attrs >= 0]] = True
    new_id = np.cumsum(used) - 1                                   # old global id → released id
    labels, widths, columns_codes = [], [], []
    for c in range(n_cols):
        lo, hi = int(dom.offsets[c]), int(dom.offsets[c + 1])
        keep = np.flatnonzero(used[lo:hi])
        labels.append([dom.labels[c][j] for j in keep])
        local = np.full(hi - lo + 1, -1, dtype=np.int64)           # old code → released code; [-1] → -1
        local[keep] = np.arange(len(keep))
        col = local[codes[:, c]] + 1                               # 0 = empty
        w = _width(len(keep))
        widths.append(w)
        columns_codes.append(_encode(col, w))
    n_released = int(used.sum())
    id_width = _width(max(n_released - 1, 0))
    mapped = np.where(attrs >= 0, new_id[np.maximum(attrs, 0)], -1)
    lengths = (mapped >= 0).sum(axis=1)
    counts = agg.counts.astype(np.int64)
    unit = int(np.gcd.reduce(counts)) if len(counts) else 1
    unit = unit if unit > 0 else 1
    parts = []
    for l in range(1, agg.length + 1):
        sel = lengths == l
        combos, vals = mapped[sel, :l], counts[sel] // unit
        order = np.lexsort(combos.T[::-1]) if len(combos) else np.zeros(0, dtype=np.int64)
        combos, vals = combos[order], vals[order]
        prefix = combos[:, : l - 1]
        if len(combos):
            starts = np.flatnonzero(np.r_[True, (prefix[1:] != prefix[:-1]).any(axis=1)]) if l > 1 \
                else np.zeros(1, dtype=np.int64)
            sizes = np.diff(np.r_[starts, len(combos)])
        else:
            starts = sizes = np.zeros(0, dtype=np.int64)
        size_width = _width(int(sizes.max(initial=0)))
        count_width = _width(int(vals.max(initial=0)))
        parts.append({"prefixes": _encode(prefix[starts], id_width), "sizes": _encode(sizes, size_width),
                      "last": _encode(combos[:, l - 1] if len(combos) else combos, id_width),
                      "counts": _encode(vals, count_width), "sizeWidth": size_width, "countWidth": count_width,
                      "combinations": int(len(combos))})
    rep = run.reportable
    return {
        "format": FORMAT,
        "alphabet": ALPHABET,
        "columns": list(dom.columns),
        "labels": labels,
        "synthetic": {"records": int(ex.synthetic.n_records), "widths": widths, "codes": columns_codes},
        "aggregates": {"kind": rep.kind, "length": int(agg.length), "records": int(rep.reported_records),
                       "unit": unit, "idWidth": id_width, "parts": parts},
        "release": {
            "mode": _number(_parameter(run, "mode")),
            "kind": rep.kind,
            "resolution": _number(rep.resolution if rep.resolution is not None else _parameter(run, "resolution")),
            "epsilon": _number(_parameter(run, "epsilon")),
            "delta": _number(_parameter(run, "delta")),
            "length": int(rep.length),
            "syntheticRecords": int(run.synthetic.n_records),
            "reportedRecords": int(rep.reported_records),
        },
    }


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # inside <script>, "</script" or "<!--" would end or confuse the element; \u003c is the same JSON string
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# ---- the page ---------------------------------------------------------------------------------------
def _intro(release: dict) -> list[str]:
    """Plain-language paragraphs about the release (HTML-escaped)."""
    e = html.escape
    n_syn, n_rep, L = release["syntheticRecords"], release["reportedRecords"], release["length"]
    mode = release["mode"]
    lines = ["This page shows a synthetic data release made with LocalSynth"
             + (f" (synthesis mode: {e(str(mode))})" if mode else "") + f". It holds <b>{n_syn:,}</b> synthetic "
             "records — made-up records that resemble the real ones in their patterns, none of them a real "
             f"person — and the protected counts of combinations of up to <b>{L}</b> values, with a protected "
             f"record count of <b>{n_rep:,}</b>. Nothing else: no real record and no exact count is in this file, "
             "and it works without any network connection."]
    if release["kind"] == "dp":
        eps, delta = release["epsilon"], release["delta"]
        lines.append("The counts were made with <b>differential privacy</b>"
                     + (f" (ε = {e(str(eps))}" + (f", δ = {e(str(delta))}" if delta is not None else "") + ")"
                        if eps is not None else "")
                     + ": random noise was added to every count and small counts were removed, so nobody can tell "
                     "from them whether a particular person was in the data. Counts of small groups are "
                     "unreliable by design.")
    elif release["resolution"] is not None:
        k = e(str(release["resolution"]))
        lines.append(f"The counts are <b>k-anonymous with k = {k}</b>: every count is rounded down to a multiple "
                     f"of {k}, and combinations shared by fewer than {k} records are left out, so no released "
                     f"count describes a group of fewer than {k} people.")
    lines.append("How to use it: tick the columns to show. Each chart lists the values of one column with two "
                 "bars: the number of <b>synthetic</b> records and the <b>protected count</b> for records that "
                 "match your selection. Click a bar to select its value; several values in one column mean "
                 "“any of these”, values in different columns must all hold. Remove a selection with its × "
                 f"button. A dash (–) means the protected count is not available: the combination has more than "
                 f"{L} values, or it was not released (too few people, or removed by the protection).")
    return lines


def dashboard_html(run: "ReleaseRun", title: str = DEFAULT_TITLE) -> str:
    """The dashboard of ``run`` as the text of one self-contained HTML file (deterministic)."""
    data = dashboard_data(run)
    intro = "\n".join(f"<p>{p}</p>" for p in _intro(data["release"]))
    parts = {"TITLE": html.escape(str(title)), "CSP": CSP, "INTRO": intro, "STYLE": _STYLE, "LOGIC": LOGIC_JS,
             "UI": _UI_JS, "DATA": _json_for_script(data)}
    # one pass over the template: text put in (a title, a label) is never scanned for placeholders
    return re.sub(r"@@([A-Z]+)@@", lambda m: parts[m.group(1)], _PAGE)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="@@CSP@@">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="LocalSynth">
<title>@@TITLE@@</title>
<style>@@STYLE@@</style>
</head>
<body>
<header class="ls-head">
<h1>@@TITLE@@</h1>
<div class="ls-intro">
@@INTRO@@
</div>
</header>
<main>
<noscript><p class="ls-warn">This dashboard needs JavaScript to draw its charts. The data files of the release can be opened without it.</p></noscript>
<section class="ls-controls">
<details class="ls-columns" open>
<summary>Columns to show</summary>
<div class="ls-column-buttons"><button type="button" id="ls-all">All</button> <button type="button" id="ls-none">None</button></div>
<div id="ls-column-list" class="ls-column-list"></div>
</details>
<div class="ls-selection">
<span class="ls-selection-title">Selection:</span>
<span id="ls-chips" class="ls-chips"></span>
<button type="button" id="ls-clear" class="ls-clear">Clear all</button>
</div>
<p id="ls-total" class="ls-total"></p>
<p class="ls-legend"><span class="ls-swatch ls-syn"></span> Synthetic records <span class="ls-swatch ls-agg"></span> Protected count</p>
</section>
<section id="ls-charts" class="ls-charts" aria-live="polite"></section>
<p id="ls-error" class="ls-warn" hidden></p>
</main>
<script type="application/json" id="ls-data">@@DATA@@</script>
<script id="ls-logic">@@LOGIC@@</script>
<script id="ls-ui">@@UI@@</script>
</body>
</html>
"""

_STYLE = """
:root { --syn: #1f5fa8; --agg: #e08a1e; --ink: #1d1d1f; --muted: #6b6b70; --line: #d9d9de; --bg: #fafafa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: var(--ink); background: var(--bg); }
.ls-head { padding: 16px 24px 4px; background: #fff; border-bottom: 1px solid var(--line); }
.ls-head h1 { margin: 0 0 8px; font-size: 22px; }
.ls-intro p { margin: 0 0 8px; max-width: 70em; }
main { padding: 12px 24px 32px; }
.ls-controls { position: sticky; top: 0; z-index: 2; background: var(--bg); padding: 8px 0; border-bottom: 1px solid var(--line); }
.ls-columns summary { cursor: pointer; font-weight: 600; }
.ls-column-list { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0; max-height: 140px; overflow: auto; }
.ls-column-list label { white-space: nowrap; }
.ls-column-buttons { margin: 6px 0 0; }
.ls-selection { margin: 8px 0 4px; display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.ls-selection-title { font-weight: 600; }
.ls-chips { display: contents; }
.ls-chip { display: inline-flex; align-items: center; gap: 4px; padding: 2px 4px 2px 10px; border-radius: 14px;
           background: #e3ecf7; border: 1px solid #b8cbe6; }
.ls-chip button { border: 0; background: transparent; cursor: pointer; font-size: 15px; line-height: 1; padding: 2px 6px; border-radius: 10px; }
.ls-chip button:hover { background: #c9d9ef; }
.ls-none { color: var(--muted); }
.ls-total { margin: 4px 0; }
.ls-legend { margin: 4px 0; color: var(--muted); font-size: 13px; }
.ls-swatch { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin: 0 4px 0 8px; border-radius: 2px; }
.ls-swatch.ls-syn { background: var(--syn); } .ls-swatch.ls-agg { background: var(--agg); }
.ls-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr)); gap: 16px; margin-top: 12px; }
.ls-chart { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; min-width: 0; }
.ls-chart h2 { font-size: 15px; margin: 0 0 6px; overflow-wrap: anywhere; }
.ls-chart .ls-note { color: var(--muted); font-size: 12px; margin: 0 0 6px; }
.ls-rows { max-height: 420px; overflow-y: auto; }
.ls-row { display: grid; grid-template-columns: minmax(70px, 34%) 1fr; gap: 6px; align-items: center; padding: 3px 4px;
          border-radius: 4px; cursor: pointer; }
.ls-row:hover, .ls-row:focus { background: #f0f3f8; outline: none; }
.ls-row:focus-visible { outline: 2px solid var(--syn); }
.ls-row.ls-selected { background: #e3ecf7; font-weight: 600; }
.ls-chart.ls-has-selection .ls-row:not(.ls-selected) { opacity: 0.5; }
.ls-value { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; font-size: 13px; }
.ls-bars { display: grid; gap: 2px; }
.ls-bar { display: flex; align-items: center; gap: 4px; font-size: 12px; min-height: 12px; }
.ls-fill { height: 10px; border-radius: 2px; min-width: 1px; }
.ls-bar.ls-syn .ls-fill { background: var(--syn); } .ls-bar.ls-agg .ls-fill { background: var(--agg); }
.ls-bar.ls-na { color: var(--muted); }
.ls-warn { color: #a12020; }
button { font: inherit; }
"""

LOGIC_JS = r"""
"use strict";
/* Explore counts of a LocalSynth release: the same numbers as localsynth.explore.explore_counts. Pure:
   no DOM, no network; usable from Node (module.exports) and from the page. */
var LocalSynthExplore = (function () {
  function decodeInts(text, width, lut) {
    var n = width > 0 ? text.length / width : 0, out = new Array(n), p = 0, i, j, v;
    for (i = 0; i < n; i++) {
      v = 0;
      for (j = 0; j < width; j++) v = v * 64 + lut[text.charCodeAt(p++)];
      out[i] = v;
    }
    return out;
  }

  /* options.stringKeys: key the aggregates by "id,id,…" text even when numbers would be exact (tests) */
  function load(data, options) {
    var lut = new Array(128).fill(0), i, c, l;
    for (i = 0; i < data.alphabet.length; i++) lut[data.alphabet.charCodeAt(i)] = i;
    var columns = data.columns, labels = data.labels, nc = columns.length, offsets = [0];
    var colIndex = new Map(), valueIndex = [], codes = [];
    for (c = 0; c < nc; c++) {
      offsets.push(offsets[c] + labels[c].length);
      colIndex.set(columns[c], c);
      var vi = new Map();
      for (i = 0; i < labels[c].length; i++) vi.set(labels[c][i], i);
      valueIndex.push(vi);
      var raw = decodeInts(data.synthetic.codes[c], data.synthetic.widths[c], lut);
      var col = new Int32Array(raw.length);
      for (i = 0; i < raw.length; i++) col[i] = raw[i] - 1;
      codes.push(col);
    }
    var model = { columns: columns, labels: labels, offsets: offsets, colIndex: colIndex, valueIndex: valueIndex,
                  codes: codes, n: data.synthetic.records, agg: null, length: 0, reported: null,
                  radix: offsets[nc] + 1, numericKeys: true };
    var a = data.aggregates;
    if (a) {
      var map = new Map(), ids = [], g, s, m, j, width;
      model.length = a.length;
      model.reported = a.records;
      model.numericKeys = !(options && options.stringKeys) && Math.pow(model.radix, a.length) < 9007199254740991;
      for (l = 1; l <= a.length; l++) {
        var part = a.parts[l - 1];
        var pre = decodeInts(part.prefixes, a.idWidth, lut), sizes = decodeInts(part.sizes, part.sizeWidth, lut);
        var last = decodeInts(part.last, a.idWidth, lut), cnt = decodeInts(part.counts, part.countWidth, lut);
        ids.length = l;
        for (g = 0, m = 0; g < sizes.length; g++) {
          for (j = 0; j < l - 1; j++) ids[j] = pre[g * (l - 1) + j];
          for (s = 0; s < sizes[g]; s++, m++) {
            ids[l - 1] = last[m];
            map.set(keyOf(model, ids), cnt[m] * a.unit);
          }
        }
      }
      model.agg = map;
    }
    return model;
  }

  function keyOf(model, ids) {  /* ids ascending */
    if (!model.numericKeys) return ids.join(",");
    var k = 0;
    for (var i = 0; i < ids.length; i++) k = k * model.radix + ids[i] + 1;
    return k;
  }

  function asList(values) {
    if (values === null || values === undefined) return [];
    return typeof values === "string" ? [values] : Array.prototype.slice.call(values).map(String);
  }

  function columnOf(model, name) {
    var c = model.colIndex.get(name);
    if (c === undefined) throw new Error("'" + name + "' is not a column of the synthetic data");
    return c;
  }

  /* selection {column: [values]} → [{c, codes}] sorted by column, codes sorted and unique */
  function resolve(model, selection) {
    var out = [];
    Object.keys(selection || {}).forEach(function (name) {
      var c = columnOf(model, name), seen = new Set();
      asList(selection[name]).forEach(function (v) {
        var j = model.valueIndex[c].get(v);
        if (j === undefined) throw new Error("'" + v + "' is not a value of column '" + name + "'");
        seen.add(j);
      });
      if (seen.size) out.push({ c: c, codes: Array.from(seen).sort(function (x, y) { return x - y; }) });
    });
    return out.sort(function (x, y) { return x.c - y.c; });
  }

  function masks(model, sel) {
    return sel.map(function (s) {
      var col = model.codes[s.c], want = new Uint8Array(model.labels[s.c].length), m = new Uint8Array(model.n);
      s.codes.forEach(function (j) { want[j] = 1; });
      for (var i = 0; i < model.n; i++) m[i] = col[i] >= 0 && want[col[i]] ? 1 : 0;
      return m;
    });
  }

  /* every combination of the chosen values in the selected columns except `skip`, as attribute ids */
  function product(model, sel, skip) {
    var out = [[]];
    sel.forEach(function (s) {
      if (s.c === skip) return;
      var next = [];
      out.forEach(function (p) {
        s.codes.forEach(function (j) { next.push(p.concat([model.offsets[s.c] + j])); });
      });
      out = next;
    });
    return out;
  }

  /* released count of the OR-sum over `prod` (each extended by `extra` when given), or null */
  function released(model, prod, extra) {
    var total = 0;
    for (var i = 0; i < prod.length; i++) {
      var ids = extra === undefined ? prod[i].slice() : prod[i].concat([extra]);
      ids.sort(function (x, y) { return x - y; });
      var k = keyOf(model, ids);
      if (!model.agg.has(k)) return null;
      total += model.agg.get(k);
    }
    return total;
  }

  function counts(model, selection, columns) {
    var sel = resolve(model, selection), ms = masks(model, sel), rows = [];
    var shown = columns === undefined || columns === null
      ? model.columns.map(function (_, c) { return c; })
      : asList(columns).map(function (name) { return columnOf(model, name); });
    shown.forEach(function (c) {
      var size = model.labels[c].length, col = model.codes[c], syn = new Array(size).fill(0), i, v, t;
      var others = [], chosen = new Uint8Array(size), nOther = 0;
      sel.forEach(function (s, k) {
        if (s.c === c) s.codes.forEach(function (j) { chosen[j] = 1; });
        else { others.push(ms[k]); nOther++; }
      });
      for (i = 0; i < model.n; i++) {
        v = col[i];
        if (v < 0) continue;
        for (t = 0; t < others.length && others[t][i]; t++);
        if (t === others.length) syn[v]++;
      }
      var agg = new Array(size).fill(null);
      if (model.agg && nOther + 1 <= model.length) {
        var prod = product(model, sel, c);
        for (v = 0; v < size; v++) agg[v] = released(model, prod, model.offsets[c] + v);
      }
      var keep = [];
      for (v = 0; v < size; v++) if (syn[v] > 0 || (agg[v] !== null && agg[v] > 0) || chosen[v]) keep.push(v);
      keep.sort(function (x, y) { return syn[y] - syn[x] || x - y; });
      keep.forEach(function (v) {
        rows.push({ column: model.columns[c], value: model.labels[c][v], synthetic: syn[v], aggregate: agg[v],
                    selected: chosen[v] === 1 });
      });
    });
    return rows;
  }

  function total(model, selection) {
    var sel = resolve(model, selection), ms = masks(model, sel), syn = 0, i, t;
    for (i = 0; i < model.n; i++) {
      for (t = 0; t < ms.length && ms[t][i]; t++);
      if (t === ms.length) syn++;
    }
    var agg = null;
    if (model.agg) {
      if (!sel.length) agg = model.reported;
      else if (sel.length <= model.length) agg = released(model, product(model, sel, -1));
    }
    return { synthetic: syn, aggregate: agg };
  }

  function toggle(selection, column, value) {
    var out = Object.create(null);
    Object.keys(selection || {}).forEach(function (c) {
      var vals = [];
      asList(selection[c]).forEach(function (v) { if (vals.indexOf(v) < 0) vals.push(v); });
      out[c] = vals;
    });
    var vals = out[column] || (out[column] = []), at = vals.indexOf(value);
    if (at >= 0) vals.splice(at, 1); else vals.push(String(value));
    Object.keys(out).forEach(function (c) { if (!out[c].length) delete out[c]; });
    return out;
  }

  function label(selection, empty) {
    var parts = [];
    Object.keys(selection || {}).forEach(function (c) {
      var vals = [];
      asList(selection[c]).forEach(function (v) { if (vals.indexOf(v) < 0) vals.push(v); });
      if (vals.length) parts.push(c + " is " + vals.join(" or "));
    });
    if (!parts.length) return empty === undefined ? "all records" : empty;
    if (parts.length === 1) return parts[0];
    return parts.slice(0, -1).join(", ") + ", and " + parts[parts.length - 1];
  }

  return { load: load, counts: counts, total: total, toggle: toggle, label: label };
})();
if (typeof module !== "undefined" && module.exports) module.exports = LocalSynthExplore;
"""

_UI_JS = r"""
"use strict";
(function () {
  var X = LocalSynthExplore, model, selection = Object.create(null), shown = [];
  var byId = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(n) { return n === null ? "–" : n.toLocaleString("en-US"); }

  function renderColumns() {
    var list = byId("ls-column-list");
    list.textContent = "";
    model.columns.forEach(function (name) {
      var lab = el("label"), box = el("input");
      box.type = "checkbox";
      box.checked = shown.indexOf(name) >= 0;
      box.addEventListener("change", function () {
        if (box.checked) shown = model.columns.filter(function (c) { return c === name || shown.indexOf(c) >= 0; });
        else shown = shown.filter(function (c) { return c !== name; });
        renderCharts();
      });
      lab.appendChild(box);
      lab.appendChild(document.createTextNode(" " + name));
      list.appendChild(lab);
    });
  }

  function toggle(column, value) {
    selection = X.toggle(selection, column, value);
    render();
  }

  function renderSelection() {
    var chips = byId("ls-chips");
    chips.textContent = "";
    var any = false;
    Object.keys(selection).forEach(function (c) {
      selection[c].forEach(function (v) {
        any = true;
        var chip = el("span", "ls-chip"), x = el("button", "", "×");
        chip.appendChild(document.createTextNode(c + ": " + v));
        x.type = "button";
        x.title = "Remove " + c + ": " + v;
        x.setAttribute("aria-label", "Remove " + c + ": " + v);
        x.addEventListener("click", function () { toggle(c, v); });
        chip.appendChild(x);
        chips.appendChild(chip);
      });
    });
    if (!any) chips.appendChild(el("span", "ls-none", "none — click a bar to select a value"));
    byId("ls-clear").disabled = !any;
    var t = X.total(model, selection);
    byId("ls-total").textContent = "Records matching " + X.label(selection) + ": " + fmt(t.synthetic) +
      " synthetic, protected count " + fmt(t.aggregate) + ".";
  }

  function bar(kind, value, max) {
    var b = el("div", "ls-bar ls-" + kind + (value === null ? " ls-na" : "")), f = el("div", "ls-fill");
    f.style.width = value === null || max <= 0 ? "0" : (100 * value / max * 0.82).toFixed(2) + "%";
    b.appendChild(f);
    b.appendChild(el("span", "", fmt(value)));
    return b;
  }

  function renderCharts() {
    var box = byId("ls-charts");
    box.textContent = "";
    if (!shown.length) { box.appendChild(el("p", "ls-none", "No column is shown: tick some above.")); return; }
    var rows = X.counts(model, selection, shown), byColumn = new Map();
    shown.forEach(function (c) { byColumn.set(c, []); });
    rows.forEach(function (r) { byColumn.get(r.column).push(r); });
    shown.forEach(function (c) {
      var list = byColumn.get(c), chart = el("div", "ls-chart"), max = 0;
      chart.setAttribute("data-column", c);
      if (selection[c]) chart.classList.add("ls-has-selection");
      chart.appendChild(el("h2", "", c));
      list.forEach(function (r) { max = Math.max(max, r.synthetic, r.aggregate === null ? 0 : r.aggregate); });
      if (!list.length) chart.appendChild(el("p", "ls-note", "No record matches the selection."));
      var body = el("div", "ls-rows");
      list.forEach(function (r) {
        var row = el("div", "ls-row" + (r.selected ? " ls-selected" : ""));
        row.setAttribute("role", "button");
        row.setAttribute("tabindex", "0");
        row.setAttribute("aria-pressed", r.selected ? "true" : "false");
        row.setAttribute("data-value", r.value);
        row.title = c + ": " + r.value + " — synthetic " + fmt(r.synthetic) + ", protected count " +
          (r.aggregate === null ? "not available" : fmt(r.aggregate)) + (r.selected ? " (selected)" : "");
        row.appendChild(el("div", "ls-value", r.value));
        var bars = el("div", "ls-bars");
        bars.appendChild(bar("syn", r.synthetic, max));
        bars.appendChild(bar("agg", r.aggregate, max));
        row.appendChild(bars);
        row.addEventListener("click", function () { toggle(c, r.value); });
        row.addEventListener("keydown", function (ev) {
          if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); toggle(c, r.value); }
        });
        body.appendChild(row);
      });
      chart.appendChild(body);
      box.appendChild(chart);
    });
  }

  function render() { renderSelection(); renderCharts(); }

  try {
    model = X.load(JSON.parse(byId("ls-data").textContent));
    shown = model.columns.slice(0, 6);
    renderColumns();
    byId("ls-all").addEventListener("click", function () { shown = model.columns.slice(); renderColumns(); renderCharts(); });
    byId("ls-none").addEventListener("click", function () { shown = []; renderColumns(); renderCharts(); });
    byId("ls-clear").addEventListener("click", function () { selection = Object.create(null); render(); });
    render();
    document.body.setAttribute("data-ready", "true");
  } catch (err) {
    var box = byId("ls-error");
    box.hidden = false;
    box.textContent = "The dashboard could not be drawn: " + err.message;
    throw err;
  }
})();
"""
