"""Release writing: contents, determinism, zip layout, manifest."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

import localsynth as ls
from localsynth.errors import ParameterError
from localsynth.evaluate import evaluate
from localsynth.export import ReleaseRun, release_files, release_zip, sha256_bytes, sha256_file, write_release

SENSITIVE = "A,B,C\na1,b1,c1\na1,b2,c1\na2,,c2\na2,b2,c1\na1,b2,\na1,b2,c1\na2,b2,c1\n"
SYNTHETIC = "A,B,C\na1,b2,c1\na1,b2,c1\na2,b2,c1\na2,b2,c1\na1,,c1\n"

PUBLIC = ["README.txt", "dashboard.html", "manifest.json",
          "metrics/synthetic_vs_aggregate_analysis_by_count.csv",
          "metrics/synthetic_vs_aggregate_analysis_by_length.csv",
          "metrics/synthetic_vs_aggregate_metrics_summary.csv",
          "protected_aggregates.csv", "synthetic_aggregates.csv", "synthetic_data_condensed_format.csv",
          "synthetic_data_long_format.csv", "synthetic_data_wide_format.csv"]
PRIVATE = ["private/evaluation.json", "private/evaluation_summary.txt"] + [
    f"private/metrics/{kind}_{what}.csv" for kind in ("aggregate", "sensitive", "synthetic")
    for what in ("analysis_by_count", "analysis_by_length", "metrics_summary")]


@pytest.fixture(scope="module")
def run() -> ReleaseRun:
    sens = ls.load_table(SENSITIVE, name="cases.csv")
    syn = ls.load_table(SYNTHETIC, name="synthetic")
    ev = evaluate(sens, syn, 2, 2)
    return ReleaseRun(
        synthetic=syn, reportable=ev.reportable_aggregates, evaluation=ev,
        parameters={"mode": "row-seeded", "resolution": np.int64(2), "length": 2, "columns": ("A", "B", "C")},
        seed=7, input_name="cases.csv", input_sha256=sha256_bytes(SENSITIVE),
        timings={"started": "2025-01-31T10:00:00+00:00", "finished": "2025-01-31T10:00:02+00:00",
                 "durations_seconds": {"synthesize": 1.5, "evaluate": 0.5}})


def read_tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_sha256_helpers(tmp_path):
    assert sha256_bytes(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_bytes("abc") == sha256_bytes(b"abc")
    f = tmp_path / "x.bin"
    data = bytes(range(256)) * 5000
    f.write_bytes(data)
    assert sha256_file(f, chunk_size=1000) == hashlib.sha256(data).hexdigest()


def test_folder_contents(tmp_path, run):
    written = write_release(tmp_path / "out", run)
    assert written == sorted(PUBLIC + PRIVATE)
    tree = read_tree(tmp_path / "out")
    assert sorted(tree) == written
    assert tree["synthetic_data_wide_format.csv"] == run.synthetic.to_csv().encode()
    assert tree["synthetic_data_wide_format.csv"].decode().splitlines() == [
        "A,B,C", "a1,b2,c1", "a1,b2,c1", "a2,b2,c1", "a2,b2,c1", "a1,,c1"]
    assert tree["synthetic_data_long_format.csv"].decode().splitlines()[:2] == [
        "Id,Attribute,Value,AttributeValue", "0,A,a1,A:a1"]
    assert tree["protected_aggregates.csv"].decode().splitlines()[:3] == [
        "selections,protected_count", "record_count,6", "A:a1,4"]
    assert tree["synthetic_aggregates.csv"].decode().splitlines()[:2] == ["selections,count", "record_count,5"]
    summary = tree["private/metrics/synthetic_metrics_summary.csv"].decode().splitlines()
    assert summary[0] == "Metric,Value" and summary[1].startswith("Suppressed combinations,")
    by_length = tree["metrics/synthetic_vs_aggregate_analysis_by_length.csv"].decode().splitlines()
    assert by_length[0] == ("Length,Mean combinations count,Distinct combinations count,Rare combinations count,"
                            "Rare combinations percentage,Leakage count,Leakage percentage")
    assert len(by_length) == 3
    assert tree["private/metrics/sensitive_analysis_by_count.csv"].decode().splitlines()[0] == \
        "Bin,Mean proportional error,Mean length of combinations"
    assert tree["private/evaluation_summary.txt"].decode() == run.evaluation.summary_text(False)
    assert json.loads(tree["private/evaluation.json"])["length"] == 2
    assert b"\r\n" not in b"".join(tree.values())


def test_sensitive_aggregates_only_when_asked(tmp_path, run):
    assert "private/sensitive_aggregates.csv" not in write_release(tmp_path / "a", run)
    written = write_release(tmp_path / "b", run, include_sensitive=True)
    assert "private/sensitive_aggregates.csv" in written
    text = (tmp_path / "b" / "private" / "sensitive_aggregates.csv").read_text()
    assert text == run.evaluation.sensitive_aggregates.to_text(",")
    assert text.splitlines()[:3] == ["selections,count", "record_count,7", "B:b2,5"]
    readme = " ".join((tmp_path / "b" / "README.txt").read_text().split())
    assert "EXACT counts of the sensitive data" in readme


def test_two_writes_are_byte_identical(tmp_path, run):
    write_release(tmp_path / "one", run, include_sensitive=True)
    write_release(tmp_path / "two", run, include_sensitive=True)
    assert read_tree(tmp_path / "one") == read_tree(tmp_path / "two")
    write_release(tmp_path / "one.zip", run)
    write_release(tmp_path / "two.zip", run)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert release_zip(run) == (tmp_path / "one.zip").read_bytes()


def test_zip_contents_match_folder(tmp_path, run):
    names = write_release(tmp_path / "nested" / "release.zip", run)
    folder = write_release(tmp_path / "folder", run)
    assert names == folder
    tree = read_tree(tmp_path / "folder")
    with zipfile.ZipFile(tmp_path / "nested" / "release.zip") as zf:
        assert zf.namelist() == names
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert zf.read(info) == tree[info.filename]
        assert zf.testzip() is None


def test_manifest(tmp_path, run):
    write_release(tmp_path / "r", run)
    tree = read_tree(tmp_path / "r")
    m = json.loads(tree["manifest.json"])
    assert m["format"] == "localsynth-release/1"
    assert m["localsynth_version"] == ls.__version__
    assert m["input"] == {"name": "cases.csv", "sha256": sha256_bytes(SENSITIVE)}
    assert m["seed"] == 7
    assert m["parameters"] == {"mode": "row-seeded", "resolution": 2, "length": 2, "columns": ["A", "B", "C"]}
    assert m["timings"]["started"] == "2025-01-31T10:00:00+00:00"
    assert m["timings"]["durations_seconds"] == {"synthesize": 1.5, "evaluate": 0.5}
    assert m["privacy"] == {"kind": "k-anonymous", "resolution": 2, "aggregation_limit": 2, "reported_records": 6}
    assert m["records"] == {"synthetic": 5}
    assert m["include_sensitive"] is False
    listed = {f["path"]: f for f in m["files"]}
    assert set(listed) == set(tree) - {"manifest.json"}
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(tree[path]).hexdigest()
        assert entry["bytes"] == len(tree[path])


def test_manifest_changes_with_inputs(run):
    a = release_files(run)
    b = release_files(dataclasses.replace(run, seed=8))
    assert a["manifest.json"] != b["manifest.json"]
    assert a["synthetic_data_wide_format.csv"] == b["synthetic_data_wide_format.csv"]


def test_readme_k_anonymous(run):
    text = release_files(run)["README.txt"].decode()
    assert max(len(line) for line in text.splitlines()) <= 88
    readme = " ".join(text.split())
    assert 'from the input file "cases.csv"' in readme
    assert "rounded down to a multiple of 2" in readme
    assert "WHAT MUST NOT BE SHARED" in readme and 'The "private" folder' in readme
    # every 1- and 2-combination of the synthetic records is held by ≥ 2 sensitive records
    assert ("Checked for this release: no combination of up to 2 values in the synthetic records matches a "
            "group of fewer than 2 people") in readme
    assert "WARNING" not in readme
    for name in PUBLIC[1:]:
        assert name in readme


def test_without_evaluation_and_dp(tmp_path, run):
    dp = dataclasses.replace(run.reportable, kind="dp", resolution=None)
    bare = ReleaseRun(synthetic=run.synthetic, reportable=dp, parameters={"mode": "dp", "epsilon": 4.0, "delta": 1e-6})
    files = release_files(bare)
    assert sorted(files) == sorted(["README.txt", "dashboard.html", "manifest.json", "protected_aggregates.csv",
                                    "synthetic_aggregates.csv",
                                    "synthetic_data_condensed_format.csv", "synthetic_data_long_format.csv",
                                    "synthetic_data_wide_format.csv"])
    assert files["synthetic_aggregates.csv"].decode() == ls.aggregate(run.synthetic, 2).to_text(",")
    readme = " ".join(files["README.txt"].decode().split())
    assert "differential privacy (epsilon = 4.0, delta = 1e-06)" in readme
    assert "private" not in files["manifest.json"].decode().split('"files"')[1]
    with pytest.raises(ParameterError):
        release_files(bare, include_sensitive=True)


def test_multi_value_condensed(tmp_path):
    opts = ls.LoadOptions(multi_value={"T": "|"})
    table = ls.load_table("A,T\nx,p|q\ny,q\n", name="mv", options=opts)
    agg = ls.protect_k(ls.aggregate(table, 2), 1)
    files = release_files(ReleaseRun(synthetic=table, reportable=agg))
    assert files["synthetic_data_condensed_format.csv"].decode().splitlines() == ["A,T", "x,p|q", "y,q"]
    assert files["synthetic_data_wide_format.csv"].decode().splitlines()[0] == "A,T_p,T_q"


def test_bad_destinations(tmp_path, run):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ParameterError):
        write_release(f, run)
    (tmp_path / "dir.zip").mkdir()
    with pytest.raises(ParameterError):
        write_release(tmp_path / "dir.zip", run)


def test_dashboard_in_release(tmp_path, run):
    from localsynth.dashboard import dashboard_data, dashboard_html

    files = release_files(run)
    page = files["dashboard.html"].decode("utf-8")
    assert page == dashboard_html(run)
    # only released values: b1 and c2 are held by 1 < k = 2 sensitive records and by no synthetic record
    data = dashboard_data(run)
    assert data["labels"] == [["a1", "a2"], ["b2"], ["c1"]]
    assert "b1" not in page and "c2" not in page
    assert "cases.csv" not in page  # the input file's name stays in the manifest, not in the e-mailable page
    listed = {f["path"]: f for f in json.loads(files["manifest.json"])["files"]}
    assert listed["dashboard.html"]["sha256"] == sha256_bytes(files["dashboard.html"])
    readme = " ".join(files["README.txt"].decode().split())
    assert "To look around, open dashboard.html in a web browser (it works offline)." in readme
    assert "dashboard.html An interactive dashboard" in readme
    write_release(tmp_path / "r.zip", run)
    with zipfile.ZipFile(tmp_path / "r.zip") as zf:
        assert zf.read("dashboard.html") == files["dashboard.html"]
    assert release_zip(run) == release_zip(run)


def test_release_without_dashboard(tmp_path, run):
    files = release_files(run, dashboard=False)
    assert "dashboard.html" not in files
    assert "dashboard.html" not in files["README.txt"].decode()
    assert sorted(files) == sorted(set(PUBLIC + PRIVATE) - {"dashboard.html"})
    assert write_release(tmp_path / "x", run, dashboard=False) == sorted(files)
    with zipfile.ZipFile(io.BytesIO(release_zip(run, dashboard=False))) as zf:
        assert "dashboard.html" not in zf.namelist()


def test_release_refuses_unprotected_aggregates(run):
    exact = dataclasses.replace(run.reportable, kind="sensitive")
    with pytest.raises(ParameterError, match="released"):
        release_files(dataclasses.replace(run, reportable=exact))
