"""Distinct partial records and the sensitive records that match them.

The k-anonymous synthesizers grow many synthetic records one attribute at a time and need, for each
record-so-far, how many sensitive records match it plus each candidate attribute. Records that share
the same partial content share one *partial* (deduplicated), whose matching sensitive rows are kept as
a CSR slice. Counting is a chunked ``bincount`` over those rows — no Python loop over records.
"""

from __future__ import annotations

import numpy as np

from .base import ragged_ranges

_ROWS_PER_CHUNK = 1 << 20    # matching rows handled per bincount
_CELLS_PER_CHUNK = 1 << 24   # partials × attributes in one dense count matrix


class Partials:
    """CSR: partial ``p`` matches sensitive rows ``rows[starts[p]:starts[p+1]]`` (ascending)."""

    def __init__(self, rows: np.ndarray, starts: np.ndarray):
        self.rows = rows
        self.starts = starts

    @classmethod
    def root(cls, n_rows: int) -> "Partials":
        """One empty partial matching every row."""
        return cls(np.arange(n_rows, dtype=np.int64), np.array([0, n_rows], dtype=np.int64))

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.starts)

    def counts_for(self, ids: np.ndarray, n_attributes: int, pid: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """For each record r (partial ``pid[r]``) and candidate attribute ``cand[r, j]`` (-1 = none):
        the number of sensitive rows matching the partial plus the candidate."""
        pid = np.asarray(pid, dtype=np.int64)
        cand = np.asarray(cand, dtype=np.int64)
        out = np.zeros(cand.shape, dtype=np.int64)
        if len(pid) == 0:
            return out
        needed, inverse = np.unique(pid, return_inverse=True)
        sizes = self.sizes[needed]
        # Chunks of distinct partials bounded by rows and by the dense matrix size.
        max_parts = len(needed)
        # Greedy split (a loop over chunks of distinct partials, not over records).
        csum = np.cumsum(sizes)
        boundaries = []
        start = 0
        while start < len(needed):
            limit_rows = (csum[start - 1] if start else 0) + _ROWS_PER_CHUNK
            end = max(start + 1, int(np.searchsorted(csum, limit_rows, side="right")))
            end = min(end, start + max_parts)
            boundaries.append((start, end))
            start = end
        order = np.argsort(inverse, kind="stable")
        inv_sorted = inverse[order]
        for lo, hi in boundaries:
            parts = needed[lo:hi]
            lens = self.sizes[parts]
            rows = self.rows[ragged_ranges(self.starts[parts], lens)]
            owner = np.repeat(np.arange(hi - lo, dtype=np.int64), lens)
            a = ids[rows]                                   # (len, m)
            present = a >= 0
            key = (owner[:, None] * n_attributes + a)[present]
            r_lo, r_hi = np.searchsorted(inv_sorted, [lo, hi])
            recs = order[r_lo:r_hi]
            c = cand[recs]
            query = (inverse[recs] - lo)[:, None] * n_attributes + np.maximum(c, 0)
            cells = (hi - lo) * n_attributes
            if cells <= 4 * len(key) + 65536:
                vals = np.bincount(key, minlength=cells)[query]
            else:
                # Few rows per partial: a sparse histogram beats a mostly-empty dense one.
                uniq, cnt = np.unique(key, return_counts=True)
                pos = np.minimum(np.searchsorted(uniq, query), max(len(uniq) - 1, 0))
                vals = np.where(uniq[pos] == query, cnt[pos], 0) if len(uniq) else np.zeros(query.shape, np.int64)
            out[recs] = np.where(c >= 0, vals, 0)
        return out

    def refine(self, pid: np.ndarray, token: np.ndarray, keep) -> tuple["Partials", np.ndarray]:
        """New partials for the distinct pairs (``pid[r]``, ``token[r]``) and each record's new partial id.

        ``keep(q, rows)`` says which parent rows stay in new partial ``q`` (``q`` and ``rows`` are arrays of
        equal length; ``q`` indexes the distinct pairs, returned as ``self.pairs`` of the new object).
        """
        key_pairs = np.stack([np.asarray(pid, np.int64), np.asarray(token, np.int64)], axis=1)
        uniq, inverse = np.unique(key_pairs, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        parents = uniq[:, 0]
        new_rows, new_sizes = [], np.zeros(len(uniq), dtype=np.int64)
        psizes = self.sizes[parents]
        csum = np.cumsum(psizes)
        start = 0
        while start < len(uniq):
            limit = (csum[start - 1] if start else 0) + _ROWS_PER_CHUNK
            end = max(start + 1, int(np.searchsorted(csum, limit, side="right")))
            lens = psizes[start:end]
            rows = self.rows[ragged_ranges(self.starts[parents[start:end]], lens)]
            owner = np.repeat(np.arange(start, end, dtype=np.int64), lens)
            mask = keep(owner, rows, uniq)
            new_rows.append(rows[mask])
            new_sizes[start:end] = np.bincount(owner[mask] - start, minlength=end - start)
            start = end
        starts = np.zeros(len(uniq) + 1, dtype=np.int64)
        np.cumsum(new_sizes, out=starts[1:])
        rows = np.concatenate(new_rows) if new_rows else np.zeros(0, dtype=np.int64)
        return Partials(rows, starts), inverse

    def with_attribute(self, codes: np.ndarray, attr_column: np.ndarray, attr_code: np.ndarray,
                       pid: np.ndarray, attr: np.ndarray) -> tuple["Partials", np.ndarray]:
        """Partials narrowed to the rows that also hold ``attr[r]``."""
        def keep(q, rows, pairs):
            a = pairs[q, 1]
            return codes[rows, attr_column[a]] == attr_code[a]
        return self.refine(pid, attr, keep)
