"""Record index of a sensitive table: the records holding each attribute, as CSR slices."""

from __future__ import annotations

import numpy as np

from ..table import EncodedTable
from .base import ragged_ranges


class AttributeIndex:
    """``rows(a)`` = sorted ids of the records holding attribute ``a``; plus per-attribute counts."""

    def __init__(self, table: EncodedTable):
        self.table = table
        self.codes = table.codes
        self.ids = table.attribute_ids()                      # (n, m) global ids, -1 absent
        flat = self.ids.ravel()
        present = flat >= 0
        rows = np.repeat(np.arange(table.n_records, dtype=np.int64), table.domain.n_columns)[present]
        attrs = flat[present]
        order = np.argsort(attrs, kind="stable")               # stable: rows stay ascending per attribute
        self.rows = rows[order]
        self.counts = np.bincount(attrs, minlength=table.domain.n_attributes).astype(np.int64)
        self.starts = np.zeros(table.domain.n_attributes + 1, dtype=np.int64)
        np.cumsum(self.counts, out=self.starts[1:])

    def gather(self, attrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of each attribute in ``attrs``, concatenated, and the position in ``attrs`` they belong to."""
        attrs = np.asarray(attrs, dtype=np.int64)
        lengths = self.counts[attrs]
        idx = self.rows[ragged_ranges(self.starts[attrs], lengths)]
        owner = np.repeat(np.arange(len(attrs), dtype=np.int64), lengths)
        return idx, owner
