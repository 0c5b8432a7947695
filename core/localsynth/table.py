"""The encoded table shared by every step: integer codes per column, absent = -1.

A *domain* fixes the columns and, per column, the sorted value labels; code ``j`` of column ``c`` means
``labels[c][j]``. Every attribute (column, value) also has a global id ``offsets[c] + j`` so that a
combination of attributes is a sorted tuple of ids (sorted ids are in column order).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._np import bincount, repeat

ABSENT = -1


@dataclass(frozen=True)
class MultiValueSource:
    """A binary column generated from a multi-value column: ``source`` contains ``value``."""

    source: str
    value: str
    delimiter: str


@dataclass(frozen=True, eq=False)
class Domain:
    """Columns and their value labels; attribute ids are assigned column by column."""

    columns: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    multi_value: dict[str, MultiValueSource] = field(default_factory=dict)

    def __post_init__(self):
        sizes = np.array([len(v) for v in self.labels], dtype=np.int64)
        offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "offsets", offsets)
        attr_column = repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        object.__setattr__(self, "attr_column", attr_column)
        object.__setattr__(self, "attr_code", np.arange(offsets[-1], dtype=np.int64) - offsets[attr_column])

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def n_attributes(self) -> int:
        return int(self.offsets[-1])

    def attribute_label(self, attr: int) -> str:
        """Canonical ``column:value`` text of a global attribute id."""
        c = int(self.attr_column[attr])
        return f"{self.columns[c]}:{self.labels[c][int(self.attr_code[attr])]}"

    def attribute_labels(self) -> list[str]:
        return [f"{col}:{v}" for col, vals in zip(self.columns, self.labels) for v in vals]

    def same_as(self, other: "Domain") -> bool:
        return self is other or (self.columns == other.columns and self.labels == other.labels)

    def union(self, other: "Domain") -> "Domain":
        """A domain holding the values of both (same columns required)."""
        if self.columns != other.columns:
            raise ValueError("domains have different columns")
        labels = tuple(tuple(sorted(set(a) | set(b))) for a, b in zip(self.labels, other.labels))
        return Domain(self.columns, labels, {**other.multi_value, **self.multi_value})


@dataclass(frozen=True, eq=False)
class EncodedTable:
    """Records as an ``(n_records, n_columns)`` int32 array of codes into ``domain`` (-1 = absent)."""

    codes: np.ndarray
    domain: Domain
    name: str = "data"
    warnings: tuple[str, ...] = ()

    def __post_init__(self):
        codes = np.ascontiguousarray(self.codes, dtype=np.int32)
        if codes.ndim != 2 or codes.shape[1] != self.domain.n_columns:
            raise ValueError("codes must be a 2-D array with one column per domain column")
        object.__setattr__(self, "codes", codes)

    @property
    def n_records(self) -> int:
        return self.codes.shape[0]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.domain.columns

    def attribute_ids(self) -> np.ndarray:
        """Global attribute id per cell, -1 where absent."""
        ids = self.codes.astype(np.int64) + self.domain.offsets[:-1]
        ids[self.codes < 0] = -1
        return ids

    def attribute_counts(self) -> np.ndarray:
        """Number of records holding each attribute (indexed by global id)."""
        ids = self.attribute_ids()
        return bincount(ids[ids >= 0], minlength=self.domain.n_attributes)

    def with_codes(self, codes: np.ndarray, name: str | None = None) -> "EncodedTable":
        return EncodedTable(codes, self.domain, name or self.name)

    def recode(self, domain: Domain) -> "EncodedTable":
        """The same records expressed in a larger domain (same columns, superset of values)."""
        if domain.same_as(self.domain):
            return self
        codes = np.full(self.codes.shape, ABSENT, dtype=np.int32)
        for c, (old, new) in enumerate(zip(self.domain.labels, domain.labels)):
            mapping = np.searchsorted(np.array(new, dtype=object), np.array(old, dtype=object))
            present = self.codes[:, c] >= 0
            codes[present, c] = mapping[self.codes[present, c]] if len(old) else ABSENT
        return EncodedTable(codes, domain, self.name, self.warnings)

    # ---- views and exports -------------------------------------------------------------------------
    def to_frame(self, empty: str = "") -> pd.DataFrame:
        """Wide format: one column per (spread) column, string labels, ``empty`` where absent."""
        data = {}
        for c, col in enumerate(self.domain.columns):
            labels = np.array(list(self.domain.labels[c]) + [empty], dtype=object)
            data[col] = labels[self.codes[:, c]]  # code -1 picks the trailing ``empty``
        return pd.DataFrame(data, columns=list(self.domain.columns))

    def to_condensed_frame(self, empty: str = "") -> pd.DataFrame:
        """Multi-value columns joined back: the values present in one record, in column order."""
        frame = self.to_frame(empty=empty)
        mv = self.domain.multi_value
        if not mv:
            return frame
        out: dict[str, object] = {}
        done: set[str] = set()
        for col in self.domain.columns:
            info = mv.get(col)
            if info is None:
                out[col] = frame[col]
                continue
            if info.source in done:
                continue
            done.add(info.source)
            parts = [c for c in self.domain.columns if c in mv and mv[c].source == info.source]
            present = np.stack([self.codes[:, self.domain.columns.index(c)] >= 0 for c in parts], axis=1)
            values = np.array([mv[c].value for c in parts], dtype=object)
            joined = [info.delimiter.join(values[row]) for row in present]
            out[info.source] = [j if j else empty for j in joined]
        return pd.DataFrame(out)

    def to_long_frame(self) -> pd.DataFrame:
        """Long format: ``Id, Attribute, Value, AttributeValue`` for every present cell."""
        rows, cols = np.nonzero(self.codes >= 0)
        ids = self.attribute_ids()[rows, cols]
        columns = np.array(self.domain.columns, dtype=object)[cols]
        labels = np.array([v for vals in self.domain.labels for v in vals], dtype=object)
        values = labels[ids] if len(ids) else np.array([], dtype=object)
        return pd.DataFrame({"Id": rows, "Attribute": columns, "Value": values,
                             "AttributeValue": [f"{a}:{v}" for a, v in zip(columns, values)]})

    def to_csv(self, delimiter: str = ",", fmt: str = "wide", empty: str = "") -> str:
        """The table as CSV text; ``fmt`` is ``wide``, ``condensed`` or ``long``."""
        frame = {"wide": lambda: self.to_frame(empty), "condensed": lambda: self.to_condensed_frame(empty),
                 "long": self.to_long_frame}[fmt]()
        buf = io.StringIO()
        frame.to_csv(buf, index=False, sep=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        return buf.getvalue()


def encode_frame(frame: pd.DataFrame, name: str = "data", multi_value: dict | None = None,
                 warnings: tuple[str, ...] = ()) -> EncodedTable:
    """Encode a frame of string labels ('' = absent) into an EncodedTable with sorted labels."""
    labels: list[tuple[str, ...]] = []
    codes = np.empty(frame.shape, dtype=np.int32)
    for c, col in enumerate(frame.columns):
        values = frame[col].to_numpy(dtype=object)
        uniq, inverse = np.unique(values.astype(str), return_inverse=True)
        inverse = inverse.astype(np.int32)
        if len(uniq) and uniq[0] == "":
            inverse -= 1  # '' sorts first: it becomes -1, every other code shifts down by one
            uniq = uniq[1:]
        labels.append(tuple(str(u) for u in uniq))
        codes[:, c] = inverse
    domain = Domain(tuple(str(c) for c in frame.columns), tuple(labels), dict(multi_value or {}))
    return EncodedTable(codes, domain, name, warnings)
