"""Write the files of one synthesis run as a release folder or .zip, byte-for-byte reproducibly.

A release is described by a :class:`ReleaseRun` (the synthetic table, the released aggregates, the
evaluation, the parameters and provenance of the run) and written by :func:`write_release`. The same
inputs always give byte-identical files: nothing depends on the clock (times are only those passed in
``timings``), JSON keys are sorted, CSV lines end with ``\\n`` and zip entries carry a fixed timestamp
(1980-01-01 00:00:00) and fixed permissions, in sorted order.

Layout (paths inside the folder or zip; reference 8.3 names)::

    README.txt                                  what was released, the guarantee in words, what not to share
    dashboard.html                              offline Explore page of the released data (one self-contained file)
    manifest.json                               version, parameters, seed, input name + sha256, times, files + sha256
    synthetic_data_wide_format.csv              one column per (spread) attribute column
    synthetic_data_condensed_format.csv         multi-value columns joined back
    synthetic_data_long_format.csv              Id,Attribute,Value,AttributeValue
    protected_aggregates.csv                    the released (k-anonymous or DP) counts
    synthetic_aggregates.csv                    exact counts of the synthetic data
    metrics/synthetic_vs_aggregate_*.csv        synthetic data vs released counts (only released data: shareable)
    private/metrics/{sensitive,aggregate,synthetic}_*.csv   comparisons with the sensitive data
    private/evaluation_summary.txt, private/evaluation.json
    private/sensitive_aggregates.csv            only with include_sensitive=True

Each ``*`` metrics triple is ``metrics_summary.csv`` (Metric,Value), ``analysis_by_count.csv`` and
``analysis_by_length.csv`` (see :class:`localsynth.evaluate.Statistics`). Everything under ``private/``
is computed from the unprotected sensitive data and must stay with the data owner.
"""

from __future__ import annotations

import datetime as _dt
import enum
import hashlib
import io
import json
import os
import textwrap
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .aggregate import Aggregates, aggregate
from .errors import ParameterError
from .evaluate import Evaluation
from .table import EncodedTable

__all__ = ["ReleaseRun", "write_release", "release_files", "release_zip", "sha256_bytes", "sha256_file"]

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
MANIFEST = "manifest.json"
README = "README.txt"
FORMAT = "localsynth-release/1"


# ---- hashing ----------------------------------------------------------------------------------------
def sha256_bytes(data: bytes | bytearray | memoryview | str) -> str:
    """Hex SHA-256 of bytes (text is encoded as UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(bytes(data)).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk_size)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


# ---- the run ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ReleaseRun:
    """What one run releases and how it was made.

    * ``synthetic`` — the synthetic records.
    * ``reportable`` — the released aggregates (kind ``k-anonymous`` or ``dp``).
    * ``synthetic_aggregates`` — exact counts of the synthetic data; taken from ``evaluation`` or
      computed up to ``reportable.length`` when not given.
    * ``evaluation`` — :func:`localsynth.evaluate.evaluate` of the run; metrics files are written only
      when it is given.
    * ``parameters`` — the run's settings (mode, k, L, ε …) exactly as they should appear in the
      manifest; values must be JSON-representable (numpy scalars, tuples, enums, paths are converted).
    * ``seed`` — the random seed (None = not reproducible).
    * ``input_name`` / ``input_sha256`` — the sensitive input file's name and fingerprint
      (:func:`sha256_file`).
    * ``timings`` — e.g. ``{"started": "2025-01-31T10:00:00+00:00", "finished": …,
      "durations_seconds": {"aggregate": 0.4, "synthesize": 2.1}}``; datetimes become ISO text. Nothing
      is read from the clock, so leaving it empty keeps releases identical across runs.
    * ``sensitive_aggregates`` — exact sensitive counts, written only with ``include_sensitive=True``
      (falls back to ``evaluation.sensitive_aggregates``).
    """

    synthetic: EncodedTable
    reportable: Aggregates
    synthetic_aggregates: Aggregates | None = None
    evaluation: Evaluation | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    input_name: str = ""
    input_sha256: str = ""
    timings: Mapping[str, Any] = field(default_factory=dict)
    sensitive_aggregates: Aggregates | None = None

    @property
    def is_dp(self) -> bool:
        return self.reportable.kind == "dp"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, enum.Enum):
        return _jsonable(value.value if isinstance(value.value, (str, int, float)) else value.name)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if np.isfinite(v) else None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return _jsonable({k: getattr(value, k) for k in value.__dataclass_fields__})
    return str(value)


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(_jsonable(data), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _csv_bytes(frame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# ---- contents ---------------------------------------------------------------------------------------
def _synthetic_aggregates(run: ReleaseRun) -> Aggregates:
    if run.synthetic_aggregates is not None:
        return run.synthetic_aggregates
    if run.evaluation is not None:
        return run.evaluation.synthetic_aggregates
    return aggregate(run.synthetic, run.reportable.length)


def _metrics_files(prefix: str, stats) -> dict[str, bytes]:
    return {f"{prefix}_metrics_summary.csv": _csv_bytes(stats.summary_frame()),
            f"{prefix}_analysis_by_count.csv": _csv_bytes(stats.by_count_frame()),
            f"{prefix}_analysis_by_length.csv": _csv_bytes(stats.by_length_frame())}


DASHBOARD = "dashboard.html"

DESCRIPTIONS = {
    DASHBOARD:
        "An interactive dashboard: open it in any web browser, without internet, to explore the release. "
        "Select values and compare, for every value of the other columns, the number of synthetic records "
        "with the protected count. It contains only the synthetic records and the protected counts, so it "
        "can be shared (for example by e-mail) like them.",
    "synthetic_data_wide_format.csv":
        "Synthetic records: made-up records with the same columns as the sensitive data. They resemble the "
        "real records in their patterns, but no row is a real person. Multi-value columns are spread into "
        "one column per value.",
    "synthetic_data_condensed_format.csv":
        "The same synthetic records with multi-value columns joined back into one column.",
    "synthetic_data_long_format.csv":
        "The same synthetic records with one line per value (Id, Attribute, Value, AttributeValue), for "
        "dashboards such as Power BI.",
    "protected_aggregates.csv":
        "Protected counts: how many people have each combination of values, with the privacy protection "
        "described below. The first line after the header gives the (protected) number of records.",
    "synthetic_aggregates.csv":
        "The same kind of counts computed on the synthetic records, to compare with the protected counts.",
    "metrics/synthetic_vs_aggregate_metrics_summary.csv":
        "How closely counts in the synthetic records match the protected counts: summary figures.",
    "metrics/synthetic_vs_aggregate_analysis_by_count.csv":
        "How closely counts in the synthetic records match the protected counts, by size of count.",
    "metrics/synthetic_vs_aggregate_analysis_by_length.csv":
        "How closely counts in the synthetic records match the protected counts, by number of values "
        "in a combination.",
    MANIFEST:
        "Technical record of this release: LocalSynth version, settings, random seed, the name and "
        "fingerprint (SHA-256) of the input file, times, and a fingerprint of every file.",
}


def _guarantee(run: ReleaseRun) -> list[str]:
    rep = run.reportable
    k = rep.resolution if rep.resolution is not None else run.parameters.get("resolution")
    L = rep.length
    if run.is_dp:
        eps = run.parameters.get("epsilon")
        delta = run.parameters.get("delta")
        lines = ["The counts in protected_aggregates.csv were made with differential privacy"
                 + (f" (epsilon = {eps}" + (f", delta = {delta}" if delta is not None else "") + ")"
                    if eps is not None else "") + ".",
                 "Random noise was added to every count and small counts were removed, so that the results "
                 "are almost the same whether or not any one person is in the data: nobody can tell from "
                 "them whether a particular person was included. A smaller epsilon means stronger privacy "
                 "and noisier counts.",
                 "The synthetic records were generated from these protected counts only, so they carry the "
                 "same guarantee. Counts of small groups are unreliable by design."]
    elif k is None:
        lines = [f"The counts in protected_aggregates.csv cover combinations of up to {L} values and were "
                 "protected before release (see manifest.json for the settings)."]
    else:
        lines = [f"Every count in protected_aggregates.csv covers combinations of up to {L} values and is "
                 f"rounded down to a multiple of {k}; combinations shared by fewer than {k} records are left "
                 f"out. So no released count describes a group of fewer than {k} people (k-anonymity, "
                 f"k = {k})."]
        ev = run.evaluation
        if ev is not None:
            small = ev.synthetic.target_in_rare_original
            if small == 0:
                lines.append(f"Checked for this release: no combination of up to {ev.length} values in the "
                             f"synthetic records matches a group of fewer than {ev.resolution} people in the "
                             "sensitive data.")
            else:
                lines.append(f"WARNING: {small} combination(s) of up to {ev.length} values in the synthetic "
                             f"records match a group of fewer than {ev.resolution} people in the sensitive "
                             "data. Review the settings before sharing the synthetic records.")
    lines.append("Unusual real details can still appear in synthetic records when many people share them; "
                 "the protection is about small groups, not about common facts.")
    return lines


def _wrap(text: str, indent: str = "", first: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=88, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False) or [""]


def _readme(run: ReleaseRun, files: list[str], version: str, include_sensitive: bool) -> bytes:
    out: list[str] = ["LocalSynth release", "==================", ""]
    src = f'the input file "{run.input_name}"' if run.input_name else "the input data"
    intro = f"Made with LocalSynth {version} from {src}, entirely on the computer that ran it."
    mode = run.parameters.get("mode")
    if mode:
        intro += f" Synthesis mode: {mode}."
    intro += (f" {run.synthetic.n_records} synthetic records; protected counts of combinations of up to "
              f"{run.reportable.length} values.")
    if DASHBOARD in files:
        intro += f" To look around, open {DASHBOARD} in a web browser (it works offline)."
    out += _wrap(intro)
    out += ["", "WHAT YOU MAY SHARE", "------------------"]
    out += _wrap('Everything in this release except the "private" folder is meant to be shared:')
    for name in files:
        if name.startswith("private/") or name == README:
            continue
        out += ["", name] + _wrap(DESCRIPTIONS.get(name, ""), "    ")
    out += ["", "THE PRIVACY GUARANTEE, IN WORDS", "-------------------------------"]
    for paragraph in _guarantee(run):
        out += _wrap(paragraph) + [""]
    out += ["WHAT MUST NOT BE SHARED", "-----------------------"]
    if any(f.startswith("private/") for f in files):
        out += _wrap('The "private" folder. Its files are computed from the real, unprotected data and are '
                     "for the data owner only:", "  ", "- ")
        out += [f"      {name}" for name in files if name.startswith("private/")]
        if include_sensitive:
            out += _wrap("private/sensitive_aggregates.csv holds the EXACT counts of the sensitive data, "
                         "including groups of a single person: treat it like the sensitive data itself.", "  ")
    out += _wrap("The original input file and any copy of it.", "  ", "- ")
    out += _wrap("manifest.json records the name of the input file. If that name itself reveals something, "
                 "remove it from manifest.json before sharing, or leave the manifest out.", "  ", "- ")
    out += [""] + _wrap("Look through the files before sharing them: LocalSynth cannot know what your column "
                        "names and values mean to the people described.")
    return ("\n".join(out) + "\n").encode("utf-8")


def release_files(run: ReleaseRun, *, include_sensitive: bool = False, dashboard: bool = True) -> dict[str, bytes]:
    """Every file of the release as ``{relative path: bytes}``, in sorted path order.

    ``dashboard=False`` leaves out ``dashboard.html`` (see :func:`localsynth.dashboard.dashboard_html`).
    """
    from . import __version__
    from .dashboard import dashboard_html

    if not isinstance(run, ReleaseRun):
        raise ParameterError("write_release needs a ReleaseRun")
    files: dict[str, bytes] = {
        "synthetic_data_wide_format.csv": run.synthetic.to_csv(fmt="wide").encode("utf-8"),
        "synthetic_data_condensed_format.csv": run.synthetic.to_csv(fmt="condensed").encode("utf-8"),
        "synthetic_data_long_format.csv": run.synthetic.to_csv(fmt="long").encode("utf-8"),
        "protected_aggregates.csv": run.reportable.to_text(",").encode("utf-8"),
        "synthetic_aggregates.csv": _synthetic_aggregates(run).to_text(",").encode("utf-8"),
    }
    if dashboard:
        files[DASHBOARD] = dashboard_html(run).encode("utf-8")
    ev = run.evaluation
    if ev is not None:
        files.update({f"metrics/{k}": v for k, v in _metrics_files("synthetic_vs_aggregate",
                                                                   ev.synthetic_vs_aggregate).items()})
        for kind in ("sensitive", "aggregate", "synthetic"):
            files.update({f"private/metrics/{k}": v for k, v in _metrics_files(kind, getattr(ev, kind)).items()})
        files["private/evaluation_summary.txt"] = ev.summary_text(run.is_dp).encode("utf-8")
        files["private/evaluation.json"] = _json_bytes(ev.to_json())
    if include_sensitive:
        sens = run.sensitive_aggregates if run.sensitive_aggregates is not None else (
            ev.sensitive_aggregates if ev is not None else None)
        if sens is None:
            raise ParameterError("include_sensitive=True needs the sensitive aggregates (or an evaluation)")
        files["private/sensitive_aggregates.csv"] = sens.to_text(",").encode("utf-8")
    names = sorted(list(files) + [README, MANIFEST])
    files[README] = _readme(run, names, __version__, include_sensitive)
    manifest = {
        "format": FORMAT,
        "localsynth_version": __version__,
        "input": {"name": run.input_name, "sha256": run.input_sha256},
        "seed": run.seed,
        "parameters": dict(run.parameters),
        "privacy": {"kind": run.reportable.kind, "resolution": run.reportable.resolution,
                    "aggregation_limit": run.reportable.length,
                    "reported_records": run.reportable.reported_records},
        "records": {"synthetic": run.synthetic.n_records},
        "timings": dict(run.timings),
        "include_sensitive": include_sensitive,
        "files": [{"path": name, "bytes": len(files[name]), "sha256": sha256_bytes(files[name])}
                  for name in sorted(files)],
    }
    files[MANIFEST] = _json_bytes(manifest)
    return {name: files[name] for name in sorted(files)}


def release_zip(run: ReleaseRun, *, include_sensitive: bool = False, dashboard: bool = True) -> bytes:
    """The release as the bytes of a deterministic .zip (for a browser download)."""
    return _zip_bytes(release_files(run, include_sensitive=include_sensitive, dashboard=dashboard))


def _zip_bytes(files: Mapping[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100644 & 0xFFFF) << 16
            zf.writestr(info, files[name], compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return buf.getvalue()


def write_release(out: str | os.PathLike, run: ReleaseRun, *, include_sensitive: bool = False,
                  dashboard: bool = True) -> list[str]:
    """Write the release to a folder, or to a zip file when ``out`` ends with ``.zip``.

    Returns the relative paths written (zip entry names), sorted. An existing folder is written into
    (same-named files are replaced, others left alone); an existing zip file is replaced.
    ``include_sensitive=True`` adds ``private/sensitive_aggregates.csv`` (exact sensitive counts);
    ``dashboard=False`` leaves out ``dashboard.html``.
    """
    files = release_files(run, include_sensitive=include_sensitive, dashboard=dashboard)
    path = Path(out)
    if path.suffix.lower() == ".zip":
        if path.is_dir():
            raise ParameterError(f"{path} is a folder, not a zip file")
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _zip_bytes(files)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    else:
        if path.exists() and not path.is_dir():
            raise ParameterError(f"{path} exists and is not a folder")
        for name, data in files.items():
            target = path.joinpath(*name.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    return list(files)
