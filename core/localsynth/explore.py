"""Explore: counts of synthetic records and released aggregates for a selection of values (reference 8.2).

One place computes the numbers shown by the web app's Explore page, by the offline dashboard
(:mod:`localsynth.dashboard`, whose JavaScript mirrors this module) and by the tests.

A *selection* maps column names to the values chosen in that column, e.g.
``{"sex": ["female"], "age": ["[20, 30)", "[30, 40)"]}``. Several values in one column mean OR (a record
has one value per column, so the choices are mutually exclusive); different columns mean AND. The
reference (SDS) allows one value per column; this is the one extension. Columns generated from a
multi-value column are separate columns here (one per value), so the rule holds for them too.

For every shown column ``c`` and every value ``v`` of ``c`` (see :meth:`Explorer.counts`):

* ``synthetic`` = synthetic records that match the selection in every column *other than* ``c`` and have
  ``c = v``. With one value per column this is the reference's rule ("if the value is itself selected, the
  full selection"); with several selected values in ``c``, the bars of those values add up to the records
  matching the full selection (:meth:`Explorer.total`).
* ``aggregate`` = the released count of the combination {selection in the other columns} ∪ {``c = v``}.
  With OR this is the sum over every combination in the cartesian product of the chosen values, each one
  looked up in the released aggregates. It is ``<NA>`` (unknown) when

  - the combination is longer than the aggregates' length L (it was never counted), or
  - any combination of the product is absent from the released aggregates. Absent does not mean zero:
    k-anonymous aggregates leave out every combination held by fewer than k records (1..k−1 or none),
    and DP aggregates leave out combinations whose noisy count fell below the threshold. Counting an
    absent term as 0 would print a number that looks exact but may be too low, so the honest answer is
    "not released". With one value per column this is exactly the reference's rule (no bar).
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._np import bincount, repeat
from .aggregate import Aggregates, max_key_length, pack
from .errors import ParameterError
from .table import EncodedTable

__all__ = ["Explorer", "explore_counts", "selection_total", "selection_label", "toggle_value"]

Selection = Mapping[str, Iterable[str]]
COLUMNS = ["column", "value", "synthetic", "aggregate", "selected"]


def _values(values) -> list[str]:
    """The chosen values of one column as a list (a single string is one value, not its characters)."""
    if values is None:
        return []
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


class Explorer:
    """Explore counts of one release: the synthetic records and (optionally) the released aggregates.

    Build it once per run and call :meth:`counts` / :meth:`total` on every click: the alignment of the
    two domains (DP aggregates may hold values the synthetic records lack) is done here, once.
    """

    def __init__(self, synthetic: EncodedTable, aggregates: Aggregates | None = None):
        if not isinstance(synthetic, EncodedTable):
            raise ParameterError("explore needs the synthetic records as an EncodedTable")
        if aggregates is not None and not isinstance(aggregates, Aggregates):
            raise ParameterError("explore needs the released aggregates as Aggregates (or None)")
        domain = synthetic.domain
        if aggregates is not None and not aggregates.domain.same_as(domain):
            if aggregates.domain.columns != domain.columns:
                only = sorted(set(domain.columns) ^ set(aggregates.domain.columns))
                raise ParameterError("the synthetic records and the aggregates do not have the same columns"
                                     + (f" (only in one of them: {', '.join(only)})" if only else " in the same order"))
            domain = domain.union(aggregates.domain)
            if aggregates.length > max_key_length(domain):
                raise ParameterError(f"combinations of length {aggregates.length} do not fit in a key for "
                                     f"{domain.n_attributes} distinct values; lower the aggregation limit")
            synthetic = synthetic.recode(domain)
            aggregates = aggregates.recode(domain)
        self.synthetic = synthetic
        self.aggregates = aggregates
        self.domain = domain
        self._column_index = {c: i for i, c in enumerate(domain.columns)}
        self._value_index: dict[int, dict[str, int]] = {}

    # ---- selection handling --------------------------------------------------------------------------
    def _codes_of(self, c: int) -> dict[str, int]:
        idx = self._value_index.get(c)
        if idx is None:
            idx = {label: j for j, label in enumerate(self.domain.labels[c])}
            self._value_index[c] = idx
        return idx

    def _column(self, name) -> int:
        c = self._column_index.get(name)
        if c is None:
            raise ParameterError(f"'{name}' is not a column of the synthetic data")
        return c

    def _resolve(self, selection: Selection | None) -> dict[int, np.ndarray]:
        """{column index: sorted unique codes}, validated; columns with no value are left out."""
        if selection is None:
            return {}
        if not isinstance(selection, Mapping):
            raise ParameterError("a selection must map column names to lists of values")
        out: dict[int, np.ndarray] = {}
        for name, values in selection.items():
            c = self._column(name)
            index = self._codes_of(c)
            codes = []
            for v in _values(values):
                j = index.get(v)
                if j is None:
                    raise ParameterError(f"'{v}' is not a value of column '{name}'")
                codes.append(j)
            if codes:
                out[c] = np.unique(np.array(codes, dtype=np.int64))
        return dict(sorted(out.items()))

    def normalize(self, selection: Selection | None) -> dict[str, list[str]]:
        """The selection validated, in column order with values in label order, empty columns dropped."""
        return {self.domain.columns[c]: [self.domain.labels[c][j] for j in codes]
                for c, codes in self._resolve(selection).items()}

    # ---- counting ------------------------------------------------------------------------------------
    def _masks(self, sel: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        codes = self.synthetic.codes
        return {c: np.isin(codes[:, c], v) for c, v in sel.items()}

    def _others(self, masks: dict[int, np.ndarray], skip: int | None) -> np.ndarray | None:
        rest = [m for c, m in masks.items() if c != skip]
        if not rest:
            return None
        return np.logical_and.reduce(rest) if len(rest) > 1 else rest[0]

    def _product(self, sel: dict[int, np.ndarray], skip: int | None) -> np.ndarray:
        """(m, l) attribute ids of every combination of the chosen values in the columns except ``skip``."""
        offsets = self.domain.offsets
        lists = [codes + offsets[c] for c, codes in sel.items() if c != skip]
        if not lists:
            return np.zeros((1, 0), dtype=np.int64)
        return np.array(list(itertools.product(*lists)), dtype=np.int64).reshape(-1, len(lists))

    def _released(self, attrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Released count of each combination (a row of attribute ids, any order) and whether it was released."""
        agg = self.aggregates
        if len(agg) == 0:
            return np.zeros(len(attrs), dtype=np.int64), np.zeros(len(attrs), dtype=bool)
        idx = agg.index(pack(np.sort(attrs, axis=1), agg.radix))
        return np.where(idx >= 0, agg.counts[np.maximum(idx, 0)], 0).astype(np.int64), idx >= 0

    def counts(self, selection: Selection | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per (column, value) of the ``columns`` (default: all, in data order).

        Columns of the result: ``column``, ``value`` (text), ``synthetic`` (int64), ``aggregate`` (Int64,
        ``<NA>`` when unknown — see the module documentation), ``selected`` (bool). Rows are in the order
        of ``columns``, then by synthetic count (largest first), then by value (label order). Values with
        no synthetic record and no released count (0 or ``<NA>``) are left out, except selected values,
        which are always listed so that they can be shown and deselected.

        Raises :class:`~localsynth.errors.ParameterError` naming an unknown column or value.
        """
        sel = self._resolve(selection)
        if columns is None:
            shown = list(range(self.domain.n_columns))
        else:
            if isinstance(columns, str):
                columns = [columns]
            shown = [self._column(name) for name in columns]
        masks = self._masks(sel)
        codes = self.synthetic.codes
        agg = self.aggregates
        parts = []
        for c in shown:
            size = int(self.domain.sizes[c])
            col = codes[:, c]
            other = self._others(masks, c)
            vals = col if other is None else col[other]
            syn = bincount(vals[vals >= 0], minlength=size).astype(np.int64)
            n_other = sum(1 for k in sel if k != c)
            a_val = np.zeros(size, dtype=np.int64)
            a_known = np.zeros(size, dtype=bool)
            if agg is not None and n_other + 1 <= agg.length and size:
                prod = self._product(sel, c)                               # (m, n_other)
                m = len(prod)
                mine = np.arange(size, dtype=np.int64) + self.domain.offsets[c]
                attrs = np.concatenate([repeat(mine, m)[:, None], np.tile(prod, (size, 1))], axis=1)
                found, ok = self._released(attrs)
                a_val = found.reshape(size, m).sum(axis=1)
                a_known = ok.reshape(size, m).all(axis=1)
            selected = np.zeros(size, dtype=bool)
            if c in sel:
                selected[sel[c]] = True
            keep = np.flatnonzero((syn > 0) | (a_known & (a_val > 0)) | selected)
            order = keep[np.lexsort((keep, -syn[keep]))]
            labels = np.array(self.domain.labels[c], dtype=object)
            parts.append(pd.DataFrame({
                "column": np.full(len(order), self.domain.columns[c], dtype=object),
                "value": labels[order] if len(order) else np.array([], dtype=object),
                "synthetic": syn[order],
                "aggregate": pd.arrays.IntegerArray(a_val[order], ~a_known[order]),
                "selected": selected[order],
            }))
        if not parts:
            return pd.DataFrame({"column": pd.Series([], dtype=object), "value": pd.Series([], dtype=object),
                                 "synthetic": pd.Series([], dtype=np.int64),
                                 "aggregate": pd.Series([], dtype="Int64"),
                                 "selected": pd.Series([], dtype=bool)})
        return pd.concat(parts, ignore_index=True)[COLUMNS]

    def total(self, selection: Selection | None = None) -> tuple[int, int | None]:
        """(synthetic records matching the whole selection, released count of it or None when unknown).

        The empty selection gives (all synthetic records, the released record count). The released count
        follows the same rules as the ``aggregate`` column of :meth:`counts`.
        """
        sel = self._resolve(selection)
        other = self._others(self._masks(sel), None)
        syn = self.synthetic.n_records if other is None else int(other.sum())
        agg = self.aggregates
        if agg is None:
            return syn, None
        if not sel:
            return syn, int(agg.reported_records)
        if len(sel) > agg.length:
            return syn, None
        found, ok = self._released(self._product(sel, None))
        return syn, (int(found.sum()) if ok.all() else None)


def explore_counts(synthetic: EncodedTable, aggregates: Aggregates | None, selection: Selection | None = None,
                   columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Explore counts for one selection: ``Explorer(synthetic, aggregates).counts(selection, columns)``.

    See :meth:`Explorer.counts` for the columns and the module documentation for the counting rules.
    Build an :class:`Explorer` once when counting many selections of the same release.
    """
    return Explorer(synthetic, aggregates).counts(selection, columns)


def selection_total(synthetic: EncodedTable, aggregates: Aggregates | None,
                    selection: Selection | None = None) -> tuple[int, int | None]:
    """``Explorer(synthetic, aggregates).total(selection)``: counts of the whole selection."""
    return Explorer(synthetic, aggregates).total(selection)


def selection_label(selection: Selection | None, empty: str = "all records") -> str:
    """Plain text of a selection, e.g. ``sex is female, and age is [20, 30) or [30, 40)``.

    Columns and values keep the given order (duplicates dropped); columns without values are skipped;
    ``empty`` is returned when nothing is selected.
    """
    parts = []
    for column, values in (selection or {}).items():
        vals = list(dict.fromkeys(_values(values)))
        if vals:
            parts.append(f"{column} is {' or '.join(vals)}")
    if not parts:
        return empty
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + ", and " + parts[-1]


def toggle_value(selection: Selection | None, column: str, value: str) -> dict[str, list[str]]:
    """A new selection with ``value`` added to ``column`` or, when already chosen, removed (a bar click).

    The input is not changed; a column left without values is dropped.
    """
    out = {c: list(dict.fromkeys(_values(v))) for c, v in (selection or {}).items()}
    vals = out.setdefault(str(column), [])
    if value in vals:
        vals.remove(value)
    else:
        vals.append(str(value))
    return {c: v for c, v in out.items() if v}
