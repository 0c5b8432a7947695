"""Sets of sensitive records matching partial synthetic records, as bitsets over the records.

The k-anonymous synthesizers grow many synthetic records one attribute at a time and need, for each
record-so-far (a *partial*), how many sensitive records match it plus a candidate attribute. Records
sharing the same partial content share one partial (deduplicated). A partial's matching records are a
bitset of ``W = ceil(n / 64)`` words, so that

* ``|rows(p) ∩ rows(a)|`` costs ``min(W, count(a))``: a word-wise AND + popcount against the bitset of a
  frequent attribute, or a bit test of each record holding a rare attribute;
* narrowing a partial by an attribute costs the same (AND, or setting the bits of the rare attribute's
  records that are in the parent);
* a partial's matching records can be listed (for a full histogram) in ``O(W + |rows(p)|)``.

On wide, correlated tables (tens of columns whose common values match most records) the matching sets
stay large for many steps; counting them record by record is what made the first version slow.
Everything is vectorised over partials and candidate pairs — no Python loop over records.
"""

from __future__ import annotations

import numpy as np

from .._np import bincount, ragged_ranges, repeat
from ..table import EncodedTable

_WORDS_PER_CHUNK = 1 << 21   # uint64 words per temporary block of AND + popcount
_ONE = np.uint64(1)
_DENSE_CELLS = 1 << 22       # partials × attributes in one dense histogram block
_ROWS_PER_BLOCK = 1 << 18    # matching records listed per histogram block

if hasattr(np, "bitwise_count"):                     # numpy ≥ 2.0 (Pyodide 0.27 ships 2.0)
    def _popcount_rows(x: np.ndarray) -> np.ndarray:
        return np.bitwise_count(x).sum(axis=1, dtype=np.int64)
else:  # pragma: no cover - numpy 1.x fallback
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)

    def _popcount_rows(x: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(x).view(np.uint8).reshape(len(x), -1)
        return _BYTE_COUNTS[b].sum(axis=1, dtype=np.int64)


def bits_from_rows(owner: np.ndarray, rows: np.ndarray, n_owners: int, W: int) -> np.ndarray:
    """(n_owners, W) bitsets with bit ``rows[i]`` set in bitset ``owner[i]`` (pairs need not be sorted)."""
    out = np.zeros(n_owners * W, dtype=np.uint64)
    if len(rows):
        owner = np.asarray(owner, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        word = owner * W + (rows >> 6)
        bit = np.left_shift(_ONE, (rows & 63).astype(np.uint64))
        order = np.argsort(word, kind="stable")
        word, bit = word[order], bit[order]
        start = np.r_[0, np.flatnonzero(word[1:] != word[:-1]) + 1]
        out[word[start]] = np.bitwise_or.reduceat(bit, start)
    return out.reshape(n_owners, W)


def rows_from_bits(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Set bits of each bitset: (owner, row) pairs, rows ascending within each owner, owners ascending."""
    owner, word = np.nonzero(bits)
    if not len(owner):
        return owner.astype(np.int64), word.astype(np.int64)
    vals = np.ascontiguousarray(bits[owner, word]).astype("<u8", copy=False)
    j = np.flatnonzero(np.unpackbits(vals.view(np.uint8), bitorder="little"))
    i = j >> 6
    return owner[i].astype(np.int64), word[i].astype(np.int64) * 64 + (j & 63)


class RecordIndex:
    """The sensitive table as seen by the samplers: per attribute, its records (CSR, ascending) and,
    for attributes held by at least ``W // 2`` records, a bitset of them."""

    def __init__(self, table: EncodedTable):
        self.table = table
        self.codes = table.codes
        self.n = table.n_records
        self.m = table.domain.n_columns
        self.A = table.domain.n_attributes
        self.W = max(1, (self.n + 63) // 64)
        self.ids = table.attribute_ids()                                  # (n, m) int64, -1 absent
        self.attr_column = table.domain.attr_column
        self.attr_code = table.domain.attr_code.astype(np.int32)
        self.col_codes = np.ascontiguousarray(table.codes.T).ravel()   # column-major: col * n + row
        self.small = max(1, self.W // 4)      # partials with at most this many records are kept as lists
        flat = self.ids.ravel()
        present = flat >= 0
        rows = repeat(np.arange(self.n, dtype=np.int64), self.m)[present]
        attrs = flat[present]
        order = np.argsort(attrs, kind="stable")                          # rows stay ascending per attribute
        self.rows = rows[order]
        self.counts = bincount(attrs, minlength=self.A).astype(np.int64)
        self.starts = np.zeros(self.A + 1, dtype=np.int64)
        np.cumsum(self.counts, out=self.starts[1:])
        big = np.flatnonzero(self.counts * 2 >= self.W)
        self.big = np.full(self.A, -1, dtype=np.int64)
        self.big[big] = np.arange(len(big))
        lens = self.counts[big]
        self.big_bits = bits_from_rows(repeat(np.arange(len(big)), lens),
                                       self.rows[ragged_ranges(self.starts[big], lens)], len(big), self.W)
        self.all_bits = bits_from_rows(np.zeros(self.n, np.int64), np.arange(self.n), 1, self.W)

    def attr_rows(self, attrs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Records of each attribute in ``attrs``, concatenated, and the position in ``attrs`` they belong to."""
        attrs = np.asarray(attrs, dtype=np.int64)
        lens = self.counts[attrs]
        return self.rows[ragged_ranges(self.starts[attrs], lens)], repeat(np.arange(len(attrs)), lens)



def _compact_attributes(n_attributes: int, attr_mask: np.ndarray | None):
    """The attributes kept by ``attr_mask`` (all when None) numbered 0..space-1: returns ``space``, the
    kept attribute ids and a map ``compact[attr] -> number`` (index -1, i.e. absent, and dropped ones -> -1)."""
    to_attr = np.arange(n_attributes) if attr_mask is None else np.flatnonzero(attr_mask)
    compact = np.full(n_attributes + 1, -1, dtype=np.int64)
    compact[to_attr] = np.arange(len(to_attr))
    return len(to_attr), to_attr, compact

class Partials:
    """Partial records and the sensitive records matching each.

    Ids ``0 .. n_bits-1`` are *dense* partials stored as bitsets ``bits[p]``; ids from ``n_bits`` on are
    *small* partials (at most ``index.small = W / 4`` matching records) stored as ascending record lists (CSR
    ``rows[starts[q]:starts[q+1]]`` for ``q = p - n_bits``), for which a list is cheaper than ``W`` words.
    """

    def __init__(self, index: RecordIndex, bits: np.ndarray, bit_sizes: np.ndarray,
                 rows: np.ndarray, starts: np.ndarray):
        self.index = index
        self.bits = bits
        self.n_bits = len(bits)
        self.rows = rows
        self.starts = starts
        self.sizes = np.concatenate([bit_sizes, np.diff(starts)]).astype(np.int64)
        self._cum = None

    def sample_rows(self, pid: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """The ``rank[i]``-th record (0-based, ascending) of partial ``pid[i]`` (rank < size)."""
        pid = np.asarray(pid, dtype=np.int64)
        rank = np.asarray(rank, dtype=np.int64)
        out = np.empty(len(pid), dtype=np.int64)
        lst = np.flatnonzero(pid >= self.n_bits)
        out[lst] = self.rows[self.starts[pid[lst] - self.n_bits] + rank[lst]]
        den = np.flatnonzero(pid < self.n_bits)
        if len(den):
            W = self.index.W
            if self._cum is None:
                pc = _popcount_rows(self.bits.reshape(-1, 1))
                self._cum = np.cumsum(pc, dtype=np.int64)
            cum = self._cum
            p = pid[den]
            base = np.where(p > 0, cum[np.maximum(p * W - 1, 0)], 0)
            target = base + rank[den]
            flat = np.searchsorted(cum, target, side="right")
            word = self.bits.ravel()[flat]
            within = target - (cum[flat] - _popcount_rows(word[:, None]))
            onbits = np.unpackbits(word.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
            pos = (np.cumsum(onbits, axis=1) > within[:, None]).argmax(axis=1)
            out[den] = (flat - p * W) * 64 + pos
        return out

    @classmethod
    def build(cls, index: RecordIndex, bits: np.ndarray, bit_sizes: np.ndarray | None,
              owner: np.ndarray, rows: np.ndarray, n_lists: int) -> tuple["Partials", np.ndarray, np.ndarray]:
        """Partials from candidate bitsets and record lists (``owner`` ascending; rows ascending per owner).
        Bitsets with at most ``index.small`` records become lists. Returns the object and the new ids of the given
        bitsets and lists."""
        if bit_sizes is None:
            bit_sizes = _popcount_rows(bits) if len(bits) else np.zeros(0, np.int64)
        small = np.flatnonzero(bit_sizes <= index.small)
        dense = np.flatnonzero(bit_sizes > index.small)
        list_sizes = bincount(owner, minlength=n_lists).astype(np.int64) if n_lists else np.zeros(0, np.int64)
        if len(small):
            s_owner, s_rows = rows_from_bits(bits[small])
            owner = np.concatenate([owner, s_owner + n_lists])
            rows = np.concatenate([rows, s_rows])
            list_sizes = np.concatenate([list_sizes, bit_sizes[small]])
        starts = np.zeros(len(list_sizes) + 1, dtype=np.int64)
        np.cumsum(list_sizes, out=starts[1:])
        obj = cls(index, bits[dense] if len(small) else bits, bit_sizes[dense], rows, starts)
        bit_ids = np.empty(len(bits), dtype=np.int64)
        bit_ids[dense] = np.arange(len(dense))
        bit_ids[small] = len(dense) + n_lists + np.arange(len(small))
        list_ids = len(dense) + np.arange(n_lists, dtype=np.int64)
        return obj, bit_ids, list_ids

    @classmethod
    def root(cls, index: RecordIndex) -> "Partials":
        """One empty partial matching every record."""
        obj, _, _ = cls.build(index, index.all_bits.copy(), np.array([index.n], dtype=np.int64),
                              np.zeros(0, np.int64), np.zeros(0, np.int64), 0)
        return obj

    def __len__(self) -> int:
        return len(self.sizes)

    def list_rows(self, pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Records of each partial in ``pid`` (any kind), concatenated, with their position in ``pid``;
        rows ascending within each."""
        pid = np.asarray(pid, dtype=np.int64)
        is_bits = pid < self.n_bits
        if not is_bits.any():
            q = pid - self.n_bits
            lens = self.sizes[pid]
            return self.rows[ragged_ranges(self.starts[q], lens)], repeat(np.arange(len(pid), dtype=np.int64), lens)
        owner_parts, row_parts = [], []
        b = np.flatnonzero(is_bits)
        o, r = rows_from_bits(self.bits[pid[b]])
        owner_parts.append(b[o]); row_parts.append(r)
        l = np.flatnonzero(~is_bits)
        if len(l):
            q = pid[l] - self.n_bits
            lens = self.sizes[pid[l]]
            row_parts.append(self.rows[ragged_ranges(self.starts[q], lens)])
            owner_parts.append(repeat(l, lens))
        owner = np.concatenate(owner_parts)
        rows = np.concatenate(row_parts)
        order = np.argsort(owner, kind="stable")
        return rows[order], owner[order]

    # ---- counting ------------------------------------------------------------------------------------
    def pair_counts(self, pid: np.ndarray, attr: np.ndarray) -> np.ndarray:
        """``|rows(pid[i]) ∩ rows(attr[i])|`` for every pair (attr ≥ 0; no deduplication here)."""
        ix = self.index
        pid = np.asarray(pid, dtype=np.int64)
        attr = np.asarray(attr, dtype=np.int64)
        out = np.zeros(len(pid), dtype=np.int64)
        if not len(pid):
            return out
        W = ix.W
        is_bits = pid < self.n_bits
        b = np.where(is_bits, ix.big[attr], -2)
        # Small partials: compare each listed record's value.
        lst = np.flatnonzero(~is_bits)
        if len(lst):
            rows, owner = self.list_rows(pid[lst])
            a = attr[lst]
            hit = ix.col_codes[ix.attr_column[a][owner] * ix.n + rows] == ix.attr_code[a][owner]
            out[lst] = bincount(owner[hit], minlength=len(lst))
        # Dense partial, rare attribute: test the bit of each record holding the attribute.
        rare = np.flatnonzero(b == -1)
        if len(rare):
            rows, owner = ix.attr_rows(attr[rare])
            words = self.bits.ravel()[pid[rare][owner] * W + (rows >> 6)]
            hit = ((words >> (rows & 63).astype(np.uint64)) & _ONE).astype(bool)
            out[rare] = bincount(owner[hit], minlength=len(rare))
        # Dense partial, frequent attribute: AND with the attribute's bitset and popcount, in blocks.
        freq = np.flatnonzero(b >= 0)
        step = max(1, _WORDS_PER_CHUNK // W)
        for lo in range(0, len(freq), step):
            sel = freq[lo: lo + step]
            x = self.bits.take(np.asarray(pid[sel]).astype(np.intp, copy=False), axis=0)
            np.bitwise_and(x, ix.big_bits.take(np.asarray(b[sel]).astype(np.intp, copy=False), axis=0), out=x)
            out[sel] = _popcount_rows(x)
        return out

    def pair_counts_shared(self, pid: np.ndarray, attr: np.ndarray) -> np.ndarray:
        """:meth:`pair_counts`, counting pairs shared by several records once when partials are shared."""
        pid = np.asarray(pid, dtype=np.int64)
        attr = np.asarray(attr, dtype=np.int64)
        if len(self) * 2 <= len(pid):
            key, inverse = np.unique(pid * self.index.A + attr, return_inverse=True)
            return self.pair_counts(key // self.index.A, key % self.index.A)[inverse.reshape(-1)]
        return self.pair_counts(pid, attr)

    def histograms(self, pids: np.ndarray, attr_mask: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attribute histograms of the records matching each partial in ``pids`` (repeats allowed, counted
        once), restricted to attributes where ``attr_mask`` is true: ``(position in pids, attribute,
        count)`` triples, positions ascending."""
        ix = self.index
        uniq, inverse = np.unique(np.asarray(pids, dtype=np.int64), return_inverse=True)
        inverse = inverse.reshape(-1)
        owners, attrs, counts = [], [], []
        space, to_attr, compact = _compact_attributes(ix.A, attr_mask)
        sizes = self.sizes[uniq]
        csum = np.cumsum(sizes)
        lo = 0
        while lo < len(uniq) and space:
            # A block of partials whose dense (partials × attributes) histogram stays small.
            hi = min(len(uniq), lo + max(1, _DENSE_CELLS // space),
                     max(lo + 1, int(np.searchsorted(csum, (csum[lo - 1] if lo else 0) + _ROWS_PER_BLOCK))))
            rows, owner = self.list_rows(uniq[lo:hi])
            a = compact[ix.ids[rows]]                                 # (rows, m) compact ids, -1 = skip
            keep = a >= 0
            key = (owner[:, None] * space + a)[keep]
            cells = (hi - lo) * space
            if cells <= 8 * len(key) + 65536:
                hist = bincount(key, minlength=cells)
                keys = np.flatnonzero(hist)
                cnt = hist[keys]
            else:
                keys, cnt = np.unique(key, return_counts=True)
            owners.append(keys // space + lo)
            attrs.append(to_attr[keys % space])
            counts.append(cnt)
            lo = hi
        u_owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        u_attr = np.concatenate(attrs) if attrs else np.zeros(0, np.int64)
        u_count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        seg = np.searchsorted(u_owner, np.arange(len(uniq) + 1))
        lens = np.diff(seg)[inverse]
        idx = ragged_ranges(seg[:-1][inverse], lens)
        return repeat(np.arange(len(pids)), lens), u_attr[idx], u_count[idx].astype(np.int64)

    def qualifying_cells(self, pids: np.ndarray, attr_mask: np.ndarray, columns: np.ndarray, k: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The cells (matching record, column) of each distinct partial in ``pids`` whose attribute is in
        ``attr_mask``, whose column is in ``columns`` (bool (len(pids), m), equal for equal pids) and which
        is held by at least ``k`` of the partial's records. Returns ``(starts, attrs, inverse)``: the cells
        of distinct partial ``u`` are ``attrs[starts[u]:starts[u+1]]`` (one entry per cell, so attribute
        ``a`` appears ``count(partial ∪ {a})`` times) and ``inverse`` maps ``pids`` to distinct partials."""
        ix = self.index
        uniq, first, inverse = np.unique(np.asarray(pids, dtype=np.int64), return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        cols = np.asarray(columns, dtype=bool)[first]
        space, to_attr, compact = _compact_attributes(ix.A, attr_mask)
        sizes = self.sizes[uniq]
        csum = np.cumsum(sizes)
        owners, attrs = [], []
        lo = 0
        while lo < len(uniq) and space:
            hi = min(len(uniq), lo + max(1, _DENSE_CELLS // space),
                     max(lo + 1, int(np.searchsorted(csum, (csum[lo - 1] if lo else 0) + _ROWS_PER_BLOCK))))
            rows, owner = self.list_rows(uniq[lo:hi])
            a = compact[ix.ids[rows]]                                  # (rows, m), -1 = not eligible
            keep = (a >= 0) & cols[lo:hi][owner]
            cell_owner = np.broadcast_to(owner[:, None], a.shape)[keep]
            cell_a = a[keep]
            key = cell_owner * space + cell_a
            cells = (hi - lo) * space
            if cells <= 8 * len(key) + 65536:
                qual = bincount(key, minlength=cells)[key] >= k
            else:
                _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
                qual = cnt[inv.reshape(-1)] >= k
            owners.append(cell_owner[qual] + lo)
            attrs.append(to_attr[cell_a[qual]])
            lo = hi
        q_owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        q_attr = np.concatenate(attrs) if attrs else np.zeros(0, np.int64)
        return np.searchsorted(q_owner, np.arange(len(uniq) + 1)), q_attr, inverse

    # ---- narrowing -----------------------------------------------------------------------------------
    def narrow(self, pid: np.ndarray, attr: np.ndarray) -> tuple["Partials", np.ndarray]:
        """New partials for the pairs (``pid[r]``, ``attr[r]``): records of the parent that also hold the
        attribute. Returns them and each record's new partial id (shared pairs share a partial)."""
        pid = np.asarray(pid, dtype=np.int64)
        attr = np.asarray(attr, dtype=np.int64)
        if len(self) < len(pid) or (len(pid) and bincount(pid).max() > 1):
            key, inverse = np.unique(pid * self.index.A + attr, return_inverse=True)
            inverse = inverse.reshape(-1)
            p, a = key // self.index.A, key % self.index.A
        else:
            p, a, inverse = pid, attr, None
        obj, new_ids = self._narrow_pairs(p, a)
        return obj, (new_ids if inverse is None else new_ids[inverse])

    def _narrow_pairs(self, p: np.ndarray, a: np.ndarray) -> tuple["Partials", np.ndarray]:
        ix = self.index
        W = ix.W
        is_bits = p < self.n_bits
        b = np.where(is_bits, ix.big[a], -2)
        freq = np.flatnonzero(b >= 0)
        bits = np.empty((len(freq), W), dtype=np.uint64)
        step = max(1, _WORDS_PER_CHUNK // W)
        for lo in range(0, len(freq), step):
            sel = freq[lo: lo + step]
            x = self.bits.take(np.asarray(p[sel]).astype(np.intp, copy=False), axis=0)
            np.bitwise_and(x, ix.big_bits.take(np.asarray(b[sel]).astype(np.intp, copy=False), axis=0), out=bits[lo: lo + len(sel)])
        # Lists: records of a rare attribute that are in a dense parent; records of a small parent
        # that hold the attribute.
        rare = np.flatnonzero(b == -1)
        lst = np.flatnonzero(b == -2)
        rows_r, owner_r = ix.attr_rows(a[rare])
        words = self.bits.ravel()[p[rare][owner_r] * W + (rows_r >> 6)]
        hit = ((words >> (rows_r & 63).astype(np.uint64)) & _ONE).astype(bool)
        rows_l, owner_l = self.list_rows(p[lst])
        al = a[lst]
        keep = ix.col_codes[ix.attr_column[al][owner_l] * ix.n + rows_l] == ix.attr_code[al][owner_l]
        owner = np.concatenate([owner_r[hit], owner_l[keep] + len(rare)])
        rows = np.concatenate([rows_r[hit], rows_l[keep]])
        obj, bit_ids, list_ids = Partials.build(ix, bits, None, owner, rows, len(rare) + len(lst))
        new_ids = np.empty(len(p), dtype=np.int64)
        new_ids[freq] = bit_ids
        new_ids[rare] = list_ids[: len(rare)]
        new_ids[lst] = list_ids[len(rare):]
        return obj, new_ids

    def refine(self, pid: np.ndarray, keep) -> "Partials":
        """One new partial per entry of ``pid``: the records ``r`` of partial ``pid[i]`` for which
        ``keep(i, r)`` (vectorised: arrays of positions and records) holds."""
        rows, owner = self.list_rows(pid)
        mask = keep(owner, rows)
        owner, rows = owner[mask], rows[mask]
        sizes = bincount(owner, minlength=len(pid)).astype(np.int64)
        dense = np.flatnonzero(sizes > self.index.small)
        if not len(dense):
            obj, _, list_ids = Partials.build(self.index, np.zeros((0, self.index.W), np.uint64), None,
                                              owner, rows, len(pid))
            return obj, list_ids
        is_dense = np.zeros(len(pid), bool)
        is_dense[dense] = True
        d = is_dense[owner]
        remap = np.cumsum(is_dense) - 1
        bits = bits_from_rows(remap[owner[d]], rows[d], len(dense), self.index.W)
        small = np.flatnonzero(~is_dense)
        remap_s = np.cumsum(~is_dense) - 1
        obj, bit_ids, list_ids = Partials.build(self.index, bits, sizes[dense], remap_s[owner[~d]], rows[~d],
                                                len(small))
        new_ids = np.empty(len(pid), dtype=np.int64)
        new_ids[dense] = bit_ids
        new_ids[small] = list_ids
        return obj, new_ids

    def merge(self, other: "Partials") -> tuple["Partials", np.ndarray, np.ndarray]:
        """Both sets of partials in one object; returns it and the new ids of ``self``'s and ``other``'s."""
        nb = self.n_bits + other.n_bits
        bits = np.concatenate([self.bits, other.bits]) if other.n_bits else self.bits
        n_self_lists = len(self.starts) - 1
        rows = np.concatenate([self.rows, other.rows])
        starts = np.concatenate([self.starts, other.starts[1:] + self.starts[-1]])
        obj = Partials(self.index, bits, np.concatenate([self.sizes[: self.n_bits], other.sizes[: other.n_bits]]),
                       rows, starts)
        ids_self = np.concatenate([np.arange(self.n_bits), nb + np.arange(n_self_lists)])
        ids_other = np.concatenate([self.n_bits + np.arange(other.n_bits),
                                    nb + n_self_lists + np.arange(len(other.starts) - 1)])
        return obj, ids_self, ids_other
