"""Counts of every combination of present attribute values up to length L, and their k-protection.

A combination is a set of attributes from distinct columns. It is stored as one int64 *key*: its
sorted global attribute ids ``a1 < … < al`` read as base-``R`` digits ``(a1+1)…(al+1)`` with
``R = n_attributes + 1``, so keys of all lengths share one sorted array and lookups are a
``searchsorted``. Counting is vectorised per set of columns (a mixed-radix key per record, then
``bincount`` or ``unique``), never a Python loop over records.
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from ._np import bincount
from .errors import InputError, ParameterError
from .progress import Progress, ProgressCallback, as_progress
from .table import Domain, EncodedTable



def check_length(length: int) -> int:
    if not isinstance(length, (int, np.integer)) or isinstance(length, bool) or length < 1:
        raise ParameterError(f"aggregation limit (L) must be a whole number ≥ 1, not {length!r}")
    return int(length)


def check_resolution(resolution: int) -> int:
    if not isinstance(resolution, (int, np.integer)) or isinstance(resolution, bool) or resolution < 1:
        raise ParameterError(f"privacy resolution (k) must be a whole number ≥ 1, not {resolution!r}")
    return int(resolution)


# ---- combination keys ---------------------------------------------------------------------------------
def radix(domain: Domain) -> int:
    return domain.n_attributes + 1


def max_key_length(domain: Domain) -> int:
    """Longest combination whose key fits in int64 for this domain."""
    r = radix(domain)
    return max(1, int(math.floor(62 / math.log2(max(r, 2)))))


def pack(attrs: np.ndarray, r: int) -> np.ndarray:
    """Keys of combinations given as an (n, l) array of ascending attribute ids (-1 padding skipped)."""
    attrs = np.asarray(attrs, dtype=np.int64)
    if attrs.ndim == 1:
        attrs = attrs[:, None]
    key = np.zeros(attrs.shape[0], dtype=np.int64)
    for j in range(attrs.shape[1]):
        col = attrs[:, j]
        present = col >= 0
        key = np.where(present, key * r + col + 1, key)
    return key


def unpack(keys: np.ndarray, r: int, width: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack`: (n, width) ascending attribute ids, -1 padded on the right."""
    keys = np.asarray(keys, dtype=np.int64)
    lengths = key_lengths(keys, r)
    width = int(lengths.max(initial=0)) if width is None else width
    out = np.full((len(keys), width), -1, dtype=np.int64)
    k = keys.copy()
    rows = np.arange(len(keys))
    for j in range(width):  # j-th digit from the least significant end = attribute at lengths-1-j
        has = lengths > j
        out[rows[has], lengths[has] - 1 - j] = k[has] % r - 1
        k //= r
    return out


def key_lengths(keys: np.ndarray, r: int) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.int64)
    lengths = np.zeros(len(keys), dtype=np.int64)
    k = keys.copy()
    while True:
        nz = k > 0
        if not nz.any():
            return lengths
        lengths += nz
        k //= r


# ---- scanning column sets ---------------------------------------------------------------------------
def column_sets(n_columns: int, length: int) -> Iterator[tuple[int, ...]]:
    for l in range(1, length + 1):
        yield from itertools.combinations(range(n_columns), l)


def n_column_sets(n_columns: int, length: int) -> int:
    return sum(math.comb(n_columns, l) for l in range(1, length + 1))


@dataclass
class CountedGroups:
    """The combinations of one set of columns over one or more stacked tables (see :func:`scan_counts`)."""

    columns: tuple[int, ...]
    rows: np.ndarray                  # stacked records where every column of the set is present (ascending)
    local: np.ndarray                 # group id per such record; groups are numbered in ascending key order
    keys: np.ndarray | None           # combination key of each group (None when keys were not asked for)
    counts: tuple[np.ndarray, ...]    # records per group, one array per source table
    bounds: np.ndarray                # rows[bounds[i]:bounds[i + 1]] are the records of source table i
    valid: np.ndarray | None = None   # groups without an absent value (absent-as-value mode only)


_RADIX_LIMIT = 1 << 16  # numpy sorts ≤ 16-bit integers with a stable radix sort


def _dense_groups(key: np.ndarray, code: np.ndarray, parent: np.ndarray | None, size: int, space: int):
    """Dense ids of the distinct ``key`` values (``key = parent * size + code`` < ``space``), numbered in
    ascending key order: (uniq keys, id per element, count per id)."""
    n = len(key)
    if space <= 4 * n + 4096:
        counts_all = bincount(key, minlength=space)
        uniq = np.flatnonzero(counts_all)
        counts = counts_all[uniq]
        remap = np.empty(space, dtype=np.int64)
        remap[uniq] = np.arange(len(uniq), dtype=np.int64)
        return uniq, remap[key], counts
    if size <= _RADIX_LIMIT and space // size <= _RADIX_LIMIT and n:
        # Two stable radix passes (code, then parent) instead of a comparison sort of the keys.
        order = np.argsort(code.astype(np.uint16), kind="stable")
        if parent is not None:
            order = order[np.argsort(parent[order].astype(np.uint16), kind="stable")]
        ks = key[order]
        start = np.empty(n, dtype=bool)
        start[0] = True
        np.not_equal(ks[1:], ks[:-1], out=start[1:])
        starts = np.flatnonzero(start)
        counts = np.diff(np.append(starts, n))
        local = np.empty(n, dtype=np.int64)
        local[order] = np.cumsum(start) - 1
        return ks[starts], local, counts
    uniq, local, counts = np.unique(key, return_inverse=True, return_counts=True)
    return uniq, local.reshape(-1).astype(np.int64, copy=False), counts.astype(np.int64, copy=False)


def scan_counts(codes: np.ndarray, domain: Domain, length: int, *, splits: tuple[int, ...] = (),
                with_keys: bool = True, absent_as_value: int = 0,
                progress: Progress | None = None) -> Iterator[CountedGroups]:
    """Group stacked records by every set of at most ``length`` columns (shortest sets first, then in
    lexicographic order of the columns), counting each group's records per source table.

    ``codes`` are the rows of one or more tables over ``domain`` stacked on top of each other; ``splits``
    are the row indices where the second, third, … table starts. Groups are the combinations present
    in any of the tables, numbered in ascending key order within each column set (keys of different
    sets interleave). ``with_keys=False`` skips the keys (for lengths whose keys do not fit in int64).

    Column sets of at most ``absent_as_value`` columns are grouped over *all* records, "absent" being a
    value of its own that sorts first (the cells of the marginals): then ``valid`` marks the groups that
    are combinations (no absent value), ``keys`` holds the keys of those only, and ``counts`` and
    ``local`` cover every group. Longer sets, and all sets when it is 0, group only the records where
    every column is present (``valid`` is None).
    """
    n, m = codes.shape
    sizes = domain.sizes
    offsets = domain.offsets
    r = radix(domain)
    col_codes = [np.ascontiguousarray(codes[:, c]).astype(np.int64) for c in range(m)]
    all_rows = np.arange(n, dtype=np.int64)
    edges = np.array([0, *splits, n], dtype=np.int64)
    total = n_column_sets(m, length)
    # Per prefix column set: (rows, group id per row, number of groups, group keys, valid groups or None).
    prefix: dict[tuple[int, ...], tuple] = {}
    done = 0
    current: tuple[int, ...] = ()
    for cols in column_sets(m, length):
        last = cols[-1]
        l = len(cols)
        absent_mode = l <= absent_as_value
        size = int(sizes[last]) + (1 if absent_mode else 0)
        p_valid = None
        if l == 1:
            if absent_mode:
                rows, code = all_rows, col_codes[last] + 1
            else:
                rows = np.flatnonzero(col_codes[last] >= 0)
                code = col_codes[last][rows]
            key, parent, n_parent, p_keys = code, None, 1, None
        elif absent_mode:  # the prefix covers all rows too
            rows, parent, n_parent, p_keys, p_valid = prefix[cols[:-1]]
            code = col_codes[last] + 1
            key = parent * size + code
        else:
            p_rows, p_local, n_parent, p_keys, _ = prefix[cols[:-1]]
            code = col_codes[last][p_rows]
            keep = code >= 0
            if keep.all():
                rows, parent = p_rows, p_local
            else:
                rows, parent, code = p_rows[keep], p_local[keep], code[keep]
            key = parent * size + code
        uniq, local, counts = _dense_groups(key, code, parent, size, n_parent * size)
        valid = keys = keys_all = None
        if l == 1:
            g_parent, g_code = None, uniq
        else:
            g_parent, g_code = np.divmod(uniq, size)
        if absent_mode:
            valid = g_code > 0
            if p_valid is not None:
                valid &= p_valid[g_parent]
            attr_base = offsets[last]            # shifted code j + 1 is attribute offsets + j, key digit + 1
        else:
            attr_base = offsets[last] + 1
        if with_keys:
            keys_all = g_code + attr_base if l == 1 else p_keys[g_parent] * r + (g_code + attr_base)
            keys = keys_all[valid] if absent_mode else keys_all
        if len(edges) > 2:
            bounds = np.searchsorted(rows, edges)
            per_source = [bincount(local[bounds[i]:bounds[i + 1]], minlength=len(uniq))
                          for i in range(len(edges) - 2)]
            per_source.append(counts - sum(per_source))
            counts_t = tuple(per_source)
        else:
            bounds = np.array([0, len(rows)], dtype=np.int64)
            counts_t = (counts,)
        if l < length:
            if absent_mode and l == absent_as_value:  # children group present records only
                keep = valid[local]
                renumber = np.cumsum(valid, dtype=np.int64) - 1
                prefix[cols] = (rows[keep], renumber[local[keep]], int(valid.sum()), keys, None)
            else:
                prefix[cols] = (rows, local, len(uniq), keys_all, valid)
        # Column sets come in lexicographic order, so a prefix is finished once the next one starts.
        if l > 1 and cols[:-1] != current:
            prefix.pop(current, None)
            current = cols[:-1]
        yield CountedGroups(cols, rows, local, keys, counts_t, bounds, valid)
        done += 1
        if progress is not None and done % 16 == 0:
            progress(done / total, f"counting combinations of {l} columns")
    if progress is not None:
        progress(1.0, "counted all combinations")


def check_aggregation_length(domain: Domain, length: int) -> int:
    """``length`` capped at the number of columns; ParameterError when its keys do not fit in int64."""
    length = min(check_length(length), domain.n_columns)
    if length > max_key_length(domain):
        raise ParameterError(f"aggregation limit {length} is too large for {domain.n_attributes} distinct "
                             f"attribute values (at most {max_key_length(domain)}); lower L or bin/merge values")
    return length


def count_tables(tables: list[EncodedTable], length: int, progress: ProgressCallback | Progress | None = None,
                 visit=None, absent_as_value: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Exact counts of every combination up to ``length`` in several tables over one domain, in one scan.

    Returns the sorted keys of the combinations present in any table and, per table, the count of each
    (0 where the table lacks it). ``visit(groups)`` is called with each :class:`CountedGroups` (e.g. to
    assess risk during the same scan); ``absent_as_value`` is passed to :func:`scan_counts`.
    """
    domain = tables[0].domain
    if any(not t.domain.same_as(domain) for t in tables[1:]):
        raise ParameterError("the tables must share one domain")
    length = check_aggregation_length(domain, length)
    codes = tables[0].codes if len(tables) == 1 else np.concatenate([t.codes for t in tables])
    splits = tuple(np.cumsum([t.n_records for t in tables[:-1]]).tolist())
    keys, counts = [], [[] for _ in tables]
    for g in scan_counts(codes, domain, length, splits=splits, absent_as_value=absent_as_value,
                         progress=as_progress(progress)):
        if visit is not None:
            visit(g)
        keys.append(g.keys)
        for acc, c in zip(counts, g.counts):
            acc.append(c if g.valid is None else c[g.valid])
    if not keys:
        return np.zeros(0, np.int64), [np.zeros(0, np.int64) for _ in tables]
    # Each column set's keys are ascending, but sets interleave (keys order by first attribute first):
    # a stable sort merges the runs.
    keys_a = np.concatenate(keys)
    order = np.argsort(keys_a, kind="stable")
    counts_a = [np.concatenate(c).astype(np.int64, copy=False)[order] for c in counts]
    return keys_a[order], counts_a


# ---- aggregates -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Aggregates:
    """Counts of attribute combinations up to ``length``, as sorted keys and counts.

    ``kind`` is ``sensitive`` (exact), ``k-anonymous`` (rounded down to multiples of ``resolution``),
    ``dp`` (differentially private) or ``synthetic``. ``protected_records`` is the published record
    count when the counts are protected.
    """

    domain: Domain
    length: int
    keys: np.ndarray
    counts: np.ndarray
    n_records: int
    kind: str = "sensitive"
    resolution: int | None = None
    protected_records: int | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        keys = np.asarray(self.keys)
        if len(keys) > 1 and not bool(np.all(keys[1:] >= keys[:-1])):  # a stable sort would not move them
            order = np.argsort(keys, kind="stable")
            object.__setattr__(self, "keys", np.asarray(self.keys, dtype=np.int64)[order])
            object.__setattr__(self, "counts", np.asarray(self.counts, dtype=np.int64)[order])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def radix(self) -> int:
        return radix(self.domain)

    @property
    def reported_records(self) -> int:
        return self.protected_records if self.protected_records is not None else self.n_records

    def lengths(self) -> np.ndarray:
        return key_lengths(self.keys, self.radix)

    def index(self, keys: np.ndarray) -> np.ndarray:
        """Position of each key in this table, or -1 where absent."""
        keys = np.asarray(keys, dtype=np.int64)
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, max(len(self.keys) - 1, 0))
        found = (len(self.keys) > 0) & (self.keys[pos] == keys) if len(self.keys) else np.zeros(len(keys), bool)
        return np.where(found, pos, -1)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Count of each key (0 where the combination is not in the table)."""
        idx = self.index(keys)
        if not len(self.counts):
            return np.zeros(len(idx), dtype=np.int64)
        return np.where(idx >= 0, self.counts[np.maximum(idx, 0)], 0)

    def attributes(self) -> np.ndarray:
        """(n, length) attribute ids of every combination, -1 padded."""
        return unpack(self.keys, self.radix, self.length)

    def _text_ranks(self) -> tuple[np.ndarray, np.ndarray]:
        """Each combination's attributes as ranks in text order, sorted per row (-1 padded, pads last),
        and the attribute texts by rank."""
        names = np.array(self.domain.attribute_labels(), dtype=object)
        n = len(names)
        order = np.argsort(names, kind="stable")
        text_rank = np.empty(n + 1, dtype=np.int64)
        text_rank[order] = np.arange(n)
        text_rank[-1] = n
        ranks = np.sort(text_rank[self.attributes()], axis=1)
        ranks[ranks == n] = -1
        return ranks, names[order]

    def _labels(self, delimiter: str = ";") -> tuple[np.ndarray, np.ndarray]:
        ranks, by_rank = self._text_ranks()
        by_rank = np.append(by_rank, "")
        out = by_rank[ranks[:, 0]] if ranks.shape[1] else np.full(len(ranks), "", dtype=object)
        for j in range(1, ranks.shape[1]):
            present = ranks[:, j] >= 0
            out[present] = out[present] + delimiter + by_rank[ranks[present, j]]
        return out, ranks

    def combination_labels(self, delimiter: str = ";") -> list[str]:
        """Canonical text of every combination: ``col:value`` sorted as text, joined by ``delimiter``."""
        return self._labels(delimiter)[0].tolist()

    def as_dict(self, delimiter: str = ";") -> dict[str, int]:
        return dict(zip(self.combination_labels(delimiter), self.counts.tolist()))

    def subset(self, mask: np.ndarray, **changes) -> "Aggregates":
        return replace(self, keys=self.keys[mask], counts=self.counts[mask], **changes)

    def recode(self, domain: Domain) -> "Aggregates":
        """The same combinations keyed in a larger domain (same columns, superset of values)."""
        if domain.same_as(self.domain):
            return self
        old = self.attributes()
        mapping = np.full(self.domain.n_attributes + 1, -1, dtype=np.int64)
        new_labels = {lab: i for i, lab in enumerate(domain.attribute_labels())}
        for i, lab in enumerate(self.domain.attribute_labels()):
            mapping[i] = new_labels[lab]
        keys = pack(np.where(old >= 0, mapping[old], -1), radix(domain))
        return replace(self, domain=domain, keys=keys, counts=self.counts.copy())

    # ---- text format (reference 3.3) ----------------------------------------------------------------
    def to_text(self, delimiter: str = ",", combination_delimiter: str = ";") -> str:
        """``selections,count`` file: a ``record_count`` row, then combinations by length, count desc, and
        the texts of their attributes."""
        labels, ranks = self._labels(combination_delimiter)
        # ties in count are ordered by the attributes' texts, one attribute after the other
        order = np.lexsort(tuple(ranks[:, j] for j in range(ranks.shape[1] - 1, -1, -1))
                           + (-self.counts, self.lengths()))
        head = "protected_count" if self.protected_records is not None else "count"
        body = labels[order] + delimiter + self.counts[order].astype(str).astype(object) + "\n"
        return f"selections{delimiter}{head}\nrecord_count{delimiter}{self.reported_records}\n" + "".join(body)

    def write(self, path: str | os.PathLike, delimiter: str = ",") -> None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(self.to_text(delimiter))


def aggregate(table: EncodedTable, length: int, progress: ProgressCallback | Progress | None = None) -> Aggregates:
    """Exact counts of every combination of present values of length 1..``length``."""
    length = check_aggregation_length(table.domain, length)
    keys, (counts,) = count_tables([table], length, progress)
    return Aggregates(table.domain, length, keys, counts, table.n_records)


def protect_k(aggregates: Aggregates, resolution: int) -> Aggregates:
    """k-anonymity protection: counts rounded down to multiples of k; combinations below k dropped."""
    k = check_resolution(resolution)
    rounded = (aggregates.counts // k) * k
    keep = rounded > 0
    return Aggregates(aggregates.domain, aggregates.length, aggregates.keys[keep], rounded[keep],
                      aggregates.n_records, "k-anonymous", k, (aggregates.n_records // k) * k)


def parse_aggregates(text: str, domain: Domain, *, name: str = "aggregates", delimiter: str | None = None,
                     combination_delimiter: str = ";", kind: str = "sensitive") -> Aggregates:
    """Read a ``selections,count`` file back, for combinations of values in ``domain``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputError("the aggregates file is empty.", file=name)
    delim = delimiter or ("\t" if "\t" in lines[0] else ",")
    head = lines[0].split(delim)
    if len(head) != 2 or head[0] != "selections":
        raise InputError("the first line must be 'selections<delimiter>count'.", file=name, line=1)
    lookup = {lab: i for i, lab in enumerate(domain.attribute_labels())}
    protected = head[1] == "protected_count"
    n_records, keys, counts, length = None, [], [], 1
    for number, line in enumerate(lines[1:], start=2):
        sel, _, cnt = line.rpartition(delim)
        try:
            value = int(cnt)
        except ValueError:
            raise InputError(f"the count '{cnt}' is not a whole number.", file=name, line=number) from None
        if sel == "record_count":
            n_records = value
            continue
        ids = []
        for part in sel.split(combination_delimiter):
            if part not in lookup:
                raise InputError(f"'{part}' is not a value of the data.", file=name, line=number)
            ids.append(lookup[part])
        ids.sort()
        length = max(length, len(ids))
        keys.append(ids)
        counts.append(value)
    if n_records is None:
        raise InputError("there is no 'record_count' row.", file=name)
    width = max((len(k) for k in keys), default=1)
    arr = np.array([k + [-1] * (width - len(k)) for k in keys], dtype=np.int64).reshape(len(keys), width)
    return Aggregates(domain, length, pack(arr, radix(domain)), np.array(counts, dtype=np.int64),
                      n_records, kind, None, n_records if protected else None)
