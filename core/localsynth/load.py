"""Load a delimited text file and prepare it into an :class:`EncodedTable`.

Semantics follow SDS (reference sections 2.1-2.7): values are trimmed, ``;`` and ``:`` are replaced by
``<semicolon>`` and ``<colon>``, empty cells and (outside sensitive-zero columns) the exact text ``0`` are
absent, multi-value columns are spread into one binary column per value, and a subject-ID column joins
the rows of one subject. Column names in options match headers case-insensitively after trimming.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .binning import Binning, apply_binning
from .errors import InputError, ParameterError
from .table import EncodedTable, MultiValueSource, encode_frame

DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class LoadOptions:
    """How to read and prepare a file. Defaults follow the reference (all columns, '' and '0' absent)."""

    columns: tuple[str, ...] = ()
    delimiter: str | None = None
    multi_value: Mapping[str, str] = field(default_factory=dict)
    subject_id: str | None = None
    sensitive_zeros: tuple[str, ...] = ()
    binning: Mapping[str, Binning] = field(default_factory=dict)
    missing_values: tuple[str, ...] = ()
    record_limit: int = 0

    def __post_init__(self):
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "sensitive_zeros", tuple(self.sensitive_zeros))
        object.__setattr__(self, "missing_values", tuple(self.missing_values))
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise ParameterError(f"the delimiter must be a single character, not {self.delimiter!r}")
        if not isinstance(self.record_limit, int) or self.record_limit < 0:
            raise ParameterError("record limit must be a whole number ≥ 0 (0 = all records)")
        for col, delim in self.multi_value.items():
            if not delim:
                raise ParameterError(f"multi-value column '{col}' needs a non-empty delimiter")
        for col, spec in self.binning.items():
            if not isinstance(spec, Binning):
                raise ParameterError(f"binning for '{col}' must be a Binning, not {type(spec).__name__}")
        overlap = set(map(_key, self.binning)) & set(map(_key, self.multi_value))
        if overlap:
            raise ParameterError(f"column(s) {', '.join(sorted(overlap))} cannot be both binned and multi-value")


@dataclass(frozen=True, eq=False)
class RawTable:
    """A parsed file before preparation: every cell a string."""

    frame: pd.DataFrame
    name: str
    delimiter: str
    warnings: tuple[str, ...] = ()


def _key(name: str) -> str:
    return str(name).strip().lower()


def normalise(text: str) -> str:
    return text.strip().replace(";", "<semicolon>").replace(":", "<colon>")


def _normalise_series(series: pd.Series) -> pd.Series:
    return series.str.strip().str.replace(";", "<semicolon>", regex=False).str.replace(":", "<colon>", regex=False)


# ---- reading ------------------------------------------------------------------------------------------
def _decode(data: bytes, name: str) -> tuple[str, list[str]]:
    if not data.strip():
        raise InputError("the file is empty.", file=name, hint="Choose a CSV or TSV file with a header row and data rows.")
    if b"\x00" in data[:65536]:
        raise InputError("this looks like a binary file (it contains NUL bytes), not a CSV/TSV text file.",
                         file=name, hint="Export the data as CSV (comma- or tab-separated text) and try again.")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as err:
        bad_line = data[: err.start].count(b"\n") + 1
        try:
            text = data.decode("cp1252")
            enc = "Windows-1252"
        except UnicodeDecodeError:
            text = data.decode("latin-1")
            enc = "Latin-1"
        return text, [f"{name} is not valid UTF-8 (first bad byte on line {bad_line}); read it as {enc}. "
                      "Check accented characters in the output, or save the file as UTF-8."]


def _sniff(text: str, name: str) -> str:
    if name.lower().endswith((".tsv", ".tab")):
        return "\t"
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.split("\n", 1)[0]
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_raw(source: bytes | str | os.PathLike, *, name: str | None = None,
             delimiter: str | None = None) -> RawTable:
    """Parse CSV/TSV bytes, text or a path into strings; raise InputError on malformed input."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "uploaded file"
    elif isinstance(source, str) and ("\n" in source or "," in source) and not os.path.exists(source):
        data, name = source.encode("utf-8"), name or "text"
    else:
        path = Path(source)
        name = name or path.name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError("file not found.", file=str(path), hint="Check the path and try again.") from None
        except IsADirectoryError:
            raise InputError("this is a folder, not a file.", file=str(path)) from None
        except OSError as err:
            raise InputError(f"cannot read the file ({err.strerror}).", file=str(path)) from None
    text, warnings = _decode(data, name)
    delim = delimiter or _sniff(text, name)
    rows = csv.reader(io.StringIO(text), delimiter=delim)
    try:
        header = next(rows)
    except StopIteration:
        raise InputError("the file is empty.", file=name) from None
    except csv.Error as err:
        raise InputError(f"the header row cannot be read ({err}).", file=name, line=1) from None
    header = [h.strip() for h in header]
    if all(h == "" for h in header):
        raise InputError("the first line (the header) is empty.", file=name, line=1,
                         hint="The first line must name the columns.")
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if h == "":
            raise InputError(f"column {i + 1} has no name in the header.", file=name, line=1,
                             hint="Give every column a name.")
        k = _key(h)
        if k in seen:
            raise InputError(f"the column name '{h}' appears twice (columns {seen[k] + 1} and {i + 1}).",
                             file=name, line=1, column=h, hint="Rename one of them; names are compared ignoring case.")
        seen[k] = i
    _check_row_lengths(text, delim, len(header), name)
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False, na_filter=True,
                            na_values=[], header=0, names=header, index_col=False, engine="c", skip_blank_lines=True,
                            quotechar='"', skipinitialspace=False)
    except pd.errors.ParserError as err:
        match = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if match:
            exp, line, saw = match.groups()
            raise InputError(f"this row has {saw} fields but the header has {exp}.", file=name, line=int(line),
                             hint=f"Fix the row (a delimiter '{_show(delim)}' inside a value must be quoted) "
                                  "or choose the right delimiter.") from None
        raise InputError(f"the file cannot be parsed as delimited text ({err}).", file=name) from None
    if len(frame) == 0:
        raise InputError("the file has a header but no data rows.", file=name, line=2,
                         hint="Add at least one record below the header.")
    if len(header) == 1 and delimiter is None:
        warnings.append(f"{name} has a single column; if that is wrong, choose the delimiter explicitly.")
    return RawTable(frame, name, delim, tuple(warnings))


def _check_row_lengths(text: str, delim: str, width: int, name: str) -> None:
    """Every record must have the header's number of fields (pandas pads short rows silently)."""
    counts = np.fromiter(map(len, csv.reader(io.StringIO(text), delimiter=delim)), dtype=np.int64)
    bad = np.flatnonzero((counts != width) & (counts > 0))  # 0 = blank line, skipped like the parser
    if not len(bad):
        return
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    for _ in range(int(bad[0]) + 1):
        next(reader)
    saw = int(counts[bad[0]])
    hint = ("Every row needs one value per column (empty is fine)." if saw < width else
            f"Fix the row (a delimiter '{_show(delim)}' inside a value must be quoted) or choose the right delimiter.")
    raise InputError(f"this row has {saw} field{'s' if saw != 1 else ''} but the header has {width}.", file=name,
                     line=reader.line_num, hint=hint)


def _show(delim: str) -> str:
    return {"\t": "TAB"}.get(delim, delim)


# ---- preparation --------------------------------------------------------------------------------------
def _resolve(names, header_keys: dict[str, str], what: str, file: str) -> list[str]:
    out = []
    for n in names:
        h = header_keys.get(_key(n))
        if h is None:
            available = ", ".join(header_keys.values())
            raise InputError(f"{what} '{n}' is not a column of this file.", file=file, column=str(n),
                             hint=f"Available columns: {available}.")
        out.append(h)
    return out


def prepare(raw: RawTable, options: LoadOptions = LoadOptions()) -> EncodedTable:
    """Apply column selection, binning, absent values, subject-ID joining and multi-value spreading."""
    frame, name = raw.frame, raw.name
    warnings = list(raw.warnings)
    header_keys = {_key(c): c for c in frame.columns}
    use = _resolve(options.columns, header_keys, "selected column", name) if options.columns else list(frame.columns)
    zeros = set(_resolve(options.sensitive_zeros, header_keys, "sensitive-zeros column", name))
    multi = dict(zip(_resolve(options.multi_value, header_keys, "multi-value column", name), options.multi_value.values()))
    bins = dict(zip(_resolve(options.binning, header_keys, "binned column", name), options.binning.values()))
    subject = _resolve([options.subject_id], header_keys, "subject-ID column", name)[0] if options.subject_id else None
    # The subject ID identifies people: it is never an attribute (fixes reference quirk 18).
    use = [c for c in frame.columns if c in set(use) and c != subject]
    if not use:
        raise InputError("no columns are left to synthesize.", file=name,
                         hint="Select at least one column other than the subject ID.")
    if options.record_limit:
        frame = frame.iloc[: options.record_limit]
    missing = {m.strip() for m in options.missing_values}

    def absent_mask(values: pd.Series, col: str) -> np.ndarray:
        v = values.to_numpy(dtype=object)
        mask = v == ""
        if col not in zeros:
            mask |= v == "0"
        if missing:
            mask |= values.isin(missing).to_numpy()
        return mask

    single: dict[str, pd.Series] = {}
    for col in use:
        if col in multi:
            continue
        values = frame[col].str.strip()
        if col in bins:
            values = values.where(~values.isin(missing), "")
            values, non_numeric = apply_binning(values, bins[col])
            if non_numeric:
                warnings.append(f"{non_numeric} non-numeric value(s) in binned column '{col}' were kept as text "
                                "categories; list them as missing values if they mean 'no value'.")
            values = _normalise_series(pd.Series(values, index=frame.index, dtype=object))
            values = values.mask(values.isin(missing) | (values == ""), "")
        else:
            values = _normalise_series(values)
            values = values.mask(absent_mask(values, col), "")
        single[col] = values

    # Multi-value cells → (record, value) pairs.
    parts: dict[str, pd.DataFrame] = {}
    for col, delim in multi.items():
        exploded = frame[col].str.split(delim, regex=False).explode()
        values = _normalise_series(exploded.astype(str))
        keep = ~absent_mask(values, col)
        parts[col] = pd.DataFrame({"record": exploded.index[keep], "value": values[keep].to_numpy()})

    if subject is not None:
        ids = frame[subject].str.strip().str.lower()
        empty = (ids == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise InputError("a record has an empty subject ID.", file=name, line=_line_of_record_frame(row),
                             column=subject, hint="Every record needs a subject ID, or do not use a subject-ID column.")
        uniq, group = np.unique(ids.to_numpy(dtype=str), return_inverse=True)
        conflicts = []
        for col, values in single.items():
            present = values != ""
            per = pd.DataFrame({"g": group[present.to_numpy()], "v": values[present].to_numpy()})
            n_distinct = per.groupby("g")["v"].nunique()
            bad = n_distinct[n_distinct > 1]
            if len(bad):
                example = uniq[int(bad.index[0])]
                conflicts.append((col, example))
            first = per.drop_duplicates("g")
            joined = np.full(len(uniq), "", dtype=object)
            joined[first["g"].to_numpy()] = first["v"].to_numpy()
            single[col] = pd.Series(joined)
        if conflicts:
            cols = ", ".join(c for c, _ in conflicts)
            raise InputError(f"records with the same subject ID have different values in column(s) {cols} "
                             f"(e.g. subject '{conflicts[0][1]}').", file=name, column=conflicts[0][0],
                             hint="Set these columns as multi-value to join the records, or fix the data.")
        for col, p in parts.items():
            p = p.assign(record=group[p["record"].to_numpy()])
            parts[col] = p
        n = len(uniq)
    else:
        n = len(frame)
        for col, p in parts.items():
            parts[col] = p.assign(record=p["record"].to_numpy() - frame.index[0] if n else p["record"])

    out: dict[str, object] = {}
    multi_meta: dict[str, MultiValueSource] = {}
    for col in use:
        ncol = normalise(col)
        if col not in multi:
            out[ncol] = single[col].to_numpy(dtype=object)
            continue
        p = parts[col].drop_duplicates()
        for value in sorted(p["value"].unique()):
            gen = f"{ncol}_{value}"
            cells = np.full(n, "", dtype=object)
            cells[p.loc[p["value"] == value, "record"].to_numpy(dtype=np.int64)] = "1"
            out[gen] = cells
            multi_meta[gen] = MultiValueSource(ncol, value, multi[col])
    result = pd.DataFrame(out)
    if result.shape[1] == 0:
        raise InputError("the selected columns have no values at all.", file=name)
    for col in result.columns:
        if col in multi_meta:
            continue
        values = result[col]
        distinct = values[values != ""].nunique()
        if n >= 20 and distinct > n / 2:
            warnings.append(f"column '{col}' has {distinct} distinct values in {n} records: it looks like an "
                            "identifier or free text. Exclude it (or bin it if numeric): otherwise almost all "
                            "of its values are rare and will be suppressed.")
    return encode_frame(result, name=name, multi_value=multi_meta, warnings=tuple(warnings))


def _line_of_record_frame(row: int) -> int:
    return row + 2


def load_table(source: bytes | str | os.PathLike, *, name: str | None = None,
               options: LoadOptions = LoadOptions()) -> EncodedTable:
    """Read and prepare a CSV/TSV file (path, bytes or text) into an EncodedTable."""
    return prepare(read_raw(source, name=name, delimiter=options.delimiter), options)
