"""The command line contract: outputs, exit codes and one-line messages."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import localsynth as ls
from localsynth.cli import main

DATA = Path(__file__).parent / "data"
EXAMPLE = DATA / "sds_cli_example.csv"
GERMAN = Path(__file__).resolve().parents[2] / "shared" / "data" / "german_credit" / "german_credit.csv"


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_aggregate_writes_the_reference_file(tmp_path, capsys):
    out = tmp_path / "agg.csv"
    code, stdout, _ = run(["aggregate", EXAMPLE, "-o", out, "--resolution", 2, "--length", 3], capsys)
    assert code == 0
    assert "Wrote 28 combinations of up to 3 values, protected with k=2" in stdout
    lines = out.read_text().splitlines()
    assert lines[:3] == ["selections,protected_count", "record_count,10", "A:a2,6"] and len(lines) == 30


def test_aggregate_no_protect_and_columns(tmp_path, capsys):
    out = tmp_path / "agg.csv"
    code, _, _ = run(["aggregate", EXAMPLE, "-o", out, "-k", 2, "-L", 1, "--no-protect", "--columns", "a", "C"],
                     capsys)
    assert code == 0
    assert out.read_text().splitlines() == [
        "selections,count", "record_count,11", "A:a2,6", "C:c2,6", "A:a1,4", "C:c1,4", "A:a3,1", "C:c3,1"]


def test_synthesize_is_k_anonymous_and_reproducible(tmp_path, capsys):
    first, second = tmp_path / "s1.csv", tmp_path / "s2.csv"
    for out in (first, second):
        code, stdout, _ = run(["synthesize", EXAMPLE, "-o", out, "--mode", "row-seeded", "-k", 2, "-L", 3,
                               "--seed", 7], capsys)
        assert code == 0 and "synthetic records (11 sensitive)" in stdout
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text().splitlines()[0] == "A,B,C,F,G,D"
    sensitive = ls.load_table(EXAMPLE)
    synthetic = ls.load_table(first)
    assert ls.check_k_anonymity(sensitive, synthetic, 2, 6) == []


def test_evaluate_prints_summary_and_writes_json(tmp_path, capsys):
    syn = tmp_path / "s.csv"
    assert run(["synthesize", EXAMPLE, "-o", syn, "-k", 2, "-L", 3, "--seed", 1], capsys)[0] == 0
    report = tmp_path / "r.json"
    code, stdout, _ = run(["evaluate", EXAMPLE, syn, "-k", 2, "-L", 3, "--json", report], capsys)
    assert code == 0
    assert "k-anonymity check" in stdout and "passed" in stdout
    data = json.loads(report.read_text())
    assert data["k_anonymity_violations"] == [] and data["resolution"] == 2 and data["length"] == 3
    assert set(data["marginal_errors"]) == {"1", "2", "3"}


@pytest.mark.parametrize("argv, fragment", [
    (["synthesize", "missing.csv", "-o", "{tmp}/x.csv", "-k", "2", "-L", "3"], "missing.csv: file not found"),
    (["synthesize", str(EXAMPLE), "-o", "{tmp}/x.csv", "-k", "0", "-L", "3"], "privacy resolution (k) must be"),
    (["synthesize", str(EXAMPLE), "-o", "{tmp}/x.csv", "-k", "2", "-L", "3", "--columns", "A", "Z"],
     "column 'Z': selected column 'Z' is not a column of this file"),
    (["aggregate", "{tmp}/ragged.csv", "-o", "{tmp}/x.csv", "-k", "2", "-L", "3"],
     "ragged.csv, line 3: this row has 3 fields but the header has 2"),
    (["aggregate", "{tmp}/empty.csv", "-o", "{tmp}/x.csv", "-k", "2", "-L", "3"], "empty.csv: the file is empty"),
    (["synthesize", str(EXAMPLE), "-o", "{tmp}/nofolder/x.csv", "-k", "2", "-L", "3"], "does not exist"),
    (["synthesize", str(EXAMPLE), "-o", "{tmp}/x.csv", "-k", "2", "-L", "3", "--mode", "dp", "--epsilon", "0"],
     "ε (epsilon) must be a number > 0"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, fragment):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "empty.csv").write_text("")
    code, _, err = run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("localsynth: error:")]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err
    assert not (tmp_path / "x.csv").exists()


def test_bad_option_syntax_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["aggregate", str(EXAMPLE), "-o", "x.csv", "-k", "2", "-L", "3", "--multi-value", "A"])
    assert exc.value.code == 2
    assert "--multi-value must look like COLUMN=VALUE" in capsys.readouterr().err


@pytest.mark.skipif(not GERMAN.exists(), reason="shared dataset german_credit.csv not present")
def test_release_zip_and_binning(tmp_path, capsys):
    out, rel = tmp_path / "g.csv", tmp_path / "release.zip"
    code, _, err = run(["synthesize", GERMAN, "-o", out, "-k", 10, "-L", 2, "--seed", 3, "--bin",
                        "credit_amount=quantile:5", "age_in_years=width:10", "--release", rel], capsys)
    assert code == 0, err
    frame = ls.load_table(out).to_frame()
    assert set(frame["credit_amount"]) - {""} == {"[250, 1262)", "[1262, 1906.8)", "[1906.8, 2852.4)",
                                                  "[2852.4, 4720)", "[4720, 18424]"}
    names = zipfile.ZipFile(rel).namelist()
    assert {"synthetic_data_wide_format.csv", "protected_aggregates.csv", "manifest.json"} <= set(names)
    manifest = json.loads(zipfile.ZipFile(rel).read("manifest.json"))
    assert manifest["seed"] == 3


def test_console_script_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "localsynth.cli", "aggregate", str(EXAMPLE), "-o",
                           str(tmp_path / "a.csv"), "-k", "2", "-L", "2", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "Wrote 20 combinations of up to 2 values, protected with k=2" in proc.stdout


def test_dp_synthesize_aggregate_and_evaluate(tmp_path, capsys):
    syn, agg, report = tmp_path / "dp.csv", tmp_path / "dp_agg.csv", tmp_path / "r.json"
    big = tmp_path / "big.csv"  # the README example repeated so that DP noise leaves counts to work with
    lines = EXAMPLE.read_text().splitlines()
    big.write_text("\n".join([lines[0]] + lines[1:] * 200) + "\n")
    argv = ["synthesize", big, "-o", syn, "--mode", "dp", "--epsilon", 2, "-k", 10, "-L", 2, "--seed", 4]
    assert run(argv, capsys)[0] == 0
    first = syn.read_bytes()
    assert run(argv, capsys)[0] == 0 and syn.read_bytes() == first  # same seed, same DP output
    code, stdout, _ = run(["aggregate", big, "-o", agg, "--dp", "--epsilon", 2, "-k", 10, "-L", 2, "--seed", 4],
                          capsys)
    assert code == 0 and "differentially private (ε=2)" in stdout
    assert agg.read_text().splitlines()[0] == "selections,protected_count"
    code, stdout, _ = run(["evaluate", big, syn, "-k", 10, "-L", 2, "--dp", "--aggregates", agg, "--json", report],
                          capsys)
    assert code == 0 and "k-anonymity check" not in stdout
    data = json.loads(report.read_text())
    assert data["reportable_kind"] == "dp" and data["k_anonymity_violations"] == []
    header = syn.read_text().splitlines()[0]
    assert header == "A,B,C,F,G,D"
