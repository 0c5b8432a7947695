"""The offline dashboard: self-contained, released data only, and its JavaScript computes the numbers of
localsynth.explore (run with Node, and rendered in headless Chromium when available)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import localsynth as ls
from localsynth.dashboard import CSP, _decode, _encode, _width, dashboard_data, dashboard_html
from localsynth.errors import ParameterError
from localsynth.explore import Explorer
from localsynth.export import ReleaseRun

SENSITIVE = ("A,B,C\na1,b1,c1\na1,b2,c1\na2,,c2\na2,b2,c1\na1,b2,\na1,b2,c1\na2,b2,c1\na1,b2,c1\n"
             "zz_rare_value,b2,c1\n")
GERMAN = Path("/work/shared/data/german_credit/german_credit.csv")
NATIONAL = Path("/work/shared/data/nist/national2019.csv")
NODE = shutil.which("node")

DRIVER = r"""
const fs = require("fs");
function between(text, start, end) {
  const i = text.indexOf(start);
  if (i < 0) throw new Error("missing " + start);
  return text.slice(i + start.length, text.indexOf(end, i + start.length));
}
const html = fs.readFileSync(process.argv[2], "utf8");
const data = JSON.parse(between(html, '<script type="application/json" id="ls-data">', "</script>"));
const api = new Function(between(html, '<script id="ls-logic">', "</script>") + "\nreturn LocalSynthExplore;")();
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const model = api.load(data, { stringKeys: process.argv[3] === "string" });
if (model.agg && model.agg.size && typeof model.agg.keys().next().value !== (process.argv[3] === "string" ? "string" : "number"))
  throw new Error("unexpected key type");
process.stdout.write(JSON.stringify(cases.map(c => {
  try {
    return { rows: api.counts(model, c.selection, c.columns), total: api.total(model, c.selection),
             label: api.label(c.selection), toggled: api.toggle(c.selection, "A", "a1") };
  } catch (e) { return { error: e.message }; }
})));
"""


def small_run(**changes) -> ReleaseRun:
    sens = ls.load_table(SENSITIVE, name="sens.csv")
    # like row-seeded output: the sensitive table's domain (which still lists the unique zz_rare_value),
    # records built from the common values only
    codes = sens.codes[[0, 1, 3, 5, 6, 7, 1, 4, 2]].copy()
    codes[8, 2] = ls.ABSENT
    run = ReleaseRun(synthetic=sens.with_codes(codes, name="synthetic"), reportable=ls.protect_k(ls.aggregate(sens, 2), 2),
                     parameters={"mode": "row-seeded", "resolution": 2, "length": 2}, seed=0, input_name="sens.csv")
    return dataclasses.replace(run, **changes)


@pytest.fixture(scope="module")
def run() -> ReleaseRun:
    return small_run()


def embedded(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="ls-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def decode_aggregates(data: dict) -> dict[str, int]:
    """Independent reading of the embedded aggregates as {'col:value;…': count}."""
    names = [f"{c}:{v}" for c, vals in zip(data["columns"], data["labels"]) for v in vals]
    a = data["aggregates"]
    out = {}
    for l, part in enumerate(a["parts"], start=1):
        sizes = _decode(part["sizes"], part["sizeWidth"])
        pre = _decode(part["prefixes"], a["idWidth"]).reshape(len(sizes), l - 1)
        last = _decode(part["last"], a["idWidth"])
        counts = _decode(part["counts"], part["countWidth"]) * a["unit"]
        assert part["combinations"] == len(last) == len(counts) == sizes.sum()
        group = np.repeat(np.arange(len(sizes)), sizes)
        for g, x, n in zip(group, last, counts):
            ids = list(pre[g]) + [x] if l > 1 else [x]
            assert ids == sorted(ids)
            out[";".join(sorted(names[i] for i in ids))] = int(n)
    return out


def decode_synthetic(data: dict) -> pd.DataFrame:
    s = data["synthetic"]
    cols = {}
    for name, labels, w, text in zip(data["columns"], data["labels"], s["widths"], s["codes"]):
        codes = _decode(text, w)
        assert len(codes) == s["records"]
        cols[name] = np.array([""] + labels, dtype=object)[codes]
    return pd.DataFrame(cols)


# ---- encoding ---------------------------------------------------------------------------------------
def test_base64_integer_encoding():
    assert [_width(x) for x in (0, 1, 63, 64, 4095, 4096)] == [1, 1, 1, 2, 2, 3]
    values = np.array([0, 1, 63, 64, 4095, 4096, 262143])
    assert _encode(values, 3) == "000" "001" "00_" "010" "0__" "100" "___"
    assert list(_decode(_encode(values, 3), 3)) == values.tolist()
    assert _encode(np.zeros(0), 2) == ""
    with pytest.raises(ValueError):
        _encode(np.array([-1]), 1)


# ---- content ----------------------------------------------------------------------------------------
class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_self_contained(run):
    page = dashboard_html(run)
    parser = Tags()
    parser.feed(page)
    tags = parser.tags
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [{"http-equiv": "Content-Security-Policy", "content": CSP}]
    assert CSP == "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
    scripts = [a for t, a in tags if t == "script"]
    assert scripts == [{"type": "application/json", "id": "ls-data"}, {"id": "ls-logic"}, {"id": "ls-ui"}]
    assert not [t for t, _ in tags if t in ("link", "img", "iframe", "object", "embed", "base", "form", "audio",
                                            "video", "source")]
    assert not [a for _, a in tags if {"src", "href", "srcset", "action", "background"} & set(a)]
    lowered = page.lower()
    for needle in ("http:", "https:", "//cdn", "url(", "@import", "fetch(", "xmlhttprequest", "websocket",
                   "eventsource", "sendbeacon", "import(", "localstorage", "indexeddb", "<link"):
        assert needle not in lowered, needle
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert dashboard_html(run) == page  # deterministic


def test_only_released_data(run):
    sens = ls.load_table(SENSITIVE, name="sens.csv")
    assert "zz_rare_value" in sens.domain.labels[0] and run.synthetic.domain.same_as(sens.domain)
    page = dashboard_html(run)
    assert "zz_rare_value" not in page  # unique in the sensitive data: neither synthesized nor released
    assert "sens.csv" not in page
    data = embedded(page)
    assert data["format"] == "localsynth-dashboard/1"
    assert set(data) == {"format", "alphabet", "columns", "labels", "synthetic", "aggregates", "release"}
    # the embedded counts are exactly the released (k-protected) ones, not the exact sensitive counts
    assert decode_aggregates(data) == run.reportable.as_dict()
    assert run.reportable.as_dict() != ls.aggregate(sens, 2).as_dict()
    assert data["aggregates"]["records"] == run.reportable.reported_records == 8
    assert data["aggregates"]["unit"] == 2
    pd.testing.assert_frame_equal(decode_synthetic(data), run.synthetic.to_frame())
    assert data["release"] == {"mode": "row-seeded", "kind": "k-anonymous", "resolution": 2, "epsilon": None,
                               "delta": None, "length": 2, "syntheticRecords": run.synthetic.n_records,
                               "reportedRecords": 8}
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert f"It holds {run.synthetic.n_records} synthetic records" in text
    assert "k-anonymous with k = 2" in text and "combinations of up to 2 values" in text


def test_refuses_exact_aggregates(run):
    for kind in ("sensitive", "synthetic"):
        with pytest.raises(ParameterError, match=f"kind '{kind}'"):
            dashboard_html(dataclasses.replace(run, reportable=dataclasses.replace(run.reportable, kind=kind)))


def test_dp_header_and_escaping():
    syn = ls.load_table('A,B\n"</script><script>alert(1)</script>",b&1\nx,b&1\n', name="syn")
    agg = dataclasses.replace(ls.aggregate(syn, 2), kind="dp", protected_records=3)
    run = ReleaseRun(synthetic=syn, reportable=agg, parameters={"mode": "dp", "dp": {"epsilon": 2.5, "delta": 1e-6}})
    page = dashboard_html(run, title="Survey <2024> & co")
    assert "<title>Survey &lt;2024&gt; &amp; co</title>" in page
    assert page.count("</script>") == 3 and "<script>alert" not in page
    data = embedded(page)
    assert data["labels"][0] == ["</script><script>alert(1)</script>", "x"]
    assert data["release"]["epsilon"] == 2.5 and data["release"]["delta"] == 1e-6
    text = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "differential privacy (ε = 2.5, δ = 1e-06)" in text
    assert "protected record count of 3" in text


def test_national2019_size():
    if not NATIONAL.exists():
        pytest.skip(f"{NATIONAL} is not available")
    table = ls.load_table(str(NATIONAL))
    # the sensitive table stands in for a synthetic one of the same size (27k × 24): every value is used
    run = ReleaseRun(synthetic=table, reportable=ls.protect_k(ls.aggregate(table, 3), 10))
    page = dashboard_html(run)
    size = len(page.encode("utf-8"))
    assert 1_000_000 < size < 5_000_000, size


# ---- the JavaScript computes explore_counts ---------------------------------------------------------
def run_node(tmp_path: Path, page: str, cases: list[dict], keys: str = "number") -> list[dict]:
    if NODE is None:
        pytest.skip("node is not installed: the dashboard's JavaScript cannot be run")
    (tmp_path / "dashboard.html").write_text(page, encoding="utf-8")
    (tmp_path / "driver.js").write_text(DRIVER, encoding="utf-8")
    done = subprocess.run([NODE, str(tmp_path / "driver.js"), str(tmp_path / "dashboard.html"), keys],
                          input=json.dumps(cases), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def python_rows(ex: Explorer, selection, columns) -> list[dict]:
    frame = ex.counts(selection, columns)
    return [{"column": r.column, "value": r.value, "synthetic": int(r.synthetic),
             "aggregate": None if pd.isna(r.aggregate) else int(r.aggregate), "selected": bool(r.selected)}
            for r in frame.itertuples()]


def check_same(tmp_path, run: ReleaseRun, cases: list[dict], keys: str = "number") -> list[dict]:
    results = run_node(tmp_path, dashboard_html(run), cases, keys)
    ex = Explorer(run.synthetic, run.reportable)
    for case, got in zip(cases, results):
        assert "error" not in got, (case, got)
        assert got["rows"] == python_rows(ex, case["selection"], case.get("columns")), case
        syn, agg = ex.total(case["selection"])
        assert got["total"] == {"synthetic": syn, "aggregate": agg}, case
        assert got["label"] == ls.explore.selection_label(case["selection"])
    return results


def test_node_small(tmp_path, run):
    cases = [{"selection": {}}, {"selection": {"A": ["a1"]}}, {"selection": {"A": ["a1", "a2"]}, "columns": ["C", "A"]},
             {"selection": {"A": "a1", "C": ["c1"]}}, {"selection": {"B": ["b2"], "C": ["c1"]}, "columns": ["A"]},
             {"selection": {"A": ["a2"], "B": ["b2"], "C": ["c1"]}}, {"selection": {"A": ["a2"], "B": ["b1"]}}]
    results = check_same(tmp_path, run, cases)
    assert check_same(tmp_path, run, cases, keys="string") == results  # the text keys of very wide releases
    # no synthetic record has a2 and b1: the selected values stay listed (with 0 and "not released")
    assert {"column": "A", "value": "a2", "synthetic": 0, "aggregate": None, "selected": True} in results[6]["rows"]
    assert {"column": "B", "value": "b1", "synthetic": 0, "aggregate": None, "selected": True} in results[6]["rows"]
    assert results[0]["total"] == {"synthetic": run.synthetic.n_records, "aggregate": 8}
    assert any(r["aggregate"] is None for res in results for r in res["rows"])
    assert any(r["selected"] for res in results for r in res["rows"])
    assert results[1]["toggled"] == {} and results[0]["toggled"] == {"A": ["a1"]}
    errors = run_node(tmp_path, dashboard_html(run), [{"selection": {"Q": ["x"]}}, {"selection": {"A": ["a9"]}},
                                                      {"selection": {"A": ["zz_rare_value"]}}])
    assert errors == [{"error": "'Q' is not a column of the synthetic data"},
                      {"error": "'a9' is not a value of column 'A'"},
                      {"error": "'zz_rare_value' is not a value of column 'A'"}]


def test_node_dp_style_domains(tmp_path):
    # released DP counts may know values no synthetic record has (B:b3) — the page must list them too
    syn = ls.load_table("A,B\na1,b1\na1,b1\na2,b1\n", name="syn")
    sens = ls.load_table("A,B\na1,b1\na1,b3\na1,b3\na2,b3\n", name="sens")
    agg = dataclasses.replace(ls.aggregate(sens, 2), kind="dp", protected_records=4)
    run = ReleaseRun(synthetic=syn, reportable=agg, parameters={"mode": "dp", "epsilon": 1.0})
    results = check_same(tmp_path, run, [{"selection": {}}, {"selection": {"A": "a1"}, "columns": ["B", "A"]},
                                         {"selection": {"B": ["b1", "b3"]}}])
    assert {"column": "B", "value": "b3", "synthetic": 0, "aggregate": 2, "selected": False} in results[1]["rows"]


def test_node_german_credit(tmp_path):
    if not GERMAN.exists():
        pytest.skip(f"{GERMAN} is not available")
    table = ls.load_table(str(GERMAN))
    run = ReleaseRun(synthetic=pseudo_synthetic(table), reportable=ls.protect_k(ls.aggregate(table, 3), 10),
                     parameters={"mode": "row-seeded"})
    cases = [{"selection": {}},
             {"selection": {"credit_risk": ["2"], "housing": ["A151", "A153"]}},
             {"selection": {"purpose": ["A43", "A40", "A49"], "job": ["A173", "A174"]},
              "columns": ["purpose", "job", "credit_risk", "age_in_years", "credit_amount"]},
             {"selection": {"purpose": ["A43"], "job": ["A173"], "housing": ["A152"]}},
             {"selection": {"foreign_worker": ["A201"], "telephone": ["A191", "A192"], "purpose": ["A42", "A49"]}}]
    results = check_same(tmp_path, run, cases)
    assert sum(len(r["rows"]) for r in results) > 200
    assert any(r["aggregate"] is None for r in results[3]["rows"]) and any(
        r["aggregate"] is not None and r["aggregate"] > 0 for r in results[2]["rows"])


def pseudo_synthetic(table: ls.EncodedTable, seed: int = 0) -> ls.EncodedTable:
    """A stand-in for row-seeded output (same domain, resampled records, ~30% of cells emptied)."""
    rng = np.random.default_rng(seed)
    codes = table.codes[rng.integers(0, table.n_records, size=table.n_records)].copy()
    codes[rng.random(codes.shape) < 0.3] = ls.ABSENT
    return table.with_codes(codes, name="synthetic")


# ---- the page in a browser --------------------------------------------------------------------------
def test_page_in_chromium(tmp_path, run):
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Chromium is not installed")
    path = tmp_path / "dashboard.html"
    path.write_text(dashboard_html(run), encoding="utf-8")
    ex = Explorer(run.synthetic, run.reportable)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context()
            requests, problems = [], []

            def route(r):
                requests.append(r.request.url)
                r.continue_() if r.request.url == path.as_uri() else r.abort()

            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.add_init_script("document.addEventListener('securitypolicyviolation', "
                                 "e => console.error('CSP violation: ' + e.violatedDirective))")
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready=true]", timeout=20000)
            assert page.locator(".ls-chart").count() == 3
            assert page.locator("#ls-total").text_content() == (
                f"Records matching all records: {run.synthetic.n_records} synthetic, protected count 8.")

            def shown_rows(column):
                rows = page.locator(f'.ls-chart[data-column="{column}"] .ls-row')
                return [(rows.nth(i).get_attribute("data-value"),
                         rows.nth(i).locator(".ls-syn span").text_content(),
                         rows.nth(i).locator(".ls-agg span").text_content()) for i in range(rows.count())]

            def expected_rows(selection, column):
                frame = ex.counts(selection, [column])
                return [(r.value, str(r.synthetic), "–" if pd.isna(r.aggregate) else str(r.aggregate))
                        for r in frame.itertuples()]

            page.locator('.ls-chart[data-column="A"] .ls-row[data-value="a1"]').click()
            page.locator('.ls-chart[data-column="C"] .ls-row[data-value="c1"]').click()
            selection = {"A": ["a1"], "C": ["c1"]}
            assert page.locator(".ls-chip").all_text_contents() == ["A: a1×", "C: c1×"]
            for column in ("A", "B", "C"):
                assert shown_rows(column) == expected_rows(selection, column), column
            syn, agg = ex.total(selection)
            assert page.locator("#ls-total").text_content() == (
                f"Records matching A is a1, and C is c1: {syn} synthetic, protected count {agg}.")
            page.locator(".ls-chip", has_text="A: a1").locator("button").click()
            assert page.locator(".ls-chip").all_text_contents() == ["C: c1×"]
            assert shown_rows("A") == expected_rows({"C": ["c1"]}, "A")
            page.locator('.ls-column-list input').nth(1).uncheck()
            assert page.locator(".ls-chart").count() == 2
            page.locator("#ls-clear").click()
            assert page.locator(".ls-chip").count() == 0
            assert shown_rows("A") == expected_rows({}, "A")
            assert requests == [path.as_uri()] and problems == []
        finally:
            browser.close()
