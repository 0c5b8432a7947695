"""Privacy-risk summary of the sensitive data: records made linkable by rare attribute combinations.

Definitions follow reference 3.4: a combination is *rare* when fewer than k records hold it and *unique*
when exactly one does. A record is at risk when it holds a rare combination of length ≤ L.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._np import bincount
from .aggregate import (CountedGroups, check_aggregation_length, check_length, check_resolution,
                        count_tables, scan_counts)
from .progress import Progress, ProgressCallback, as_progress
from .table import EncodedTable


@dataclass(frozen=True, eq=False)
class RiskSummary:
    """Who is linkable through short rare combinations, and which columns and values cause it."""

    resolution: int
    length: int
    n_records: int
    records_with_unique: int
    records_with_rare: int
    by_length: pd.DataFrame           # length, combinations, rare, unique, records first unique/rare at that length
    linkable_attributes: pd.DataFrame  # column, value, attribute, records, linkable_records, percentage
    linkable_columns: pd.DataFrame     # column, percentage

    @property
    def rare_percentage(self) -> float:
        return 100.0 * self.records_with_rare / self.n_records if self.n_records else 0.0

    @property
    def unique_percentage(self) -> float:
        return 100.0 * self.records_with_unique / self.n_records if self.n_records else 0.0

    def headline(self) -> str:
        return (f"Considering all combinations of up to {self.length} attribute values, "
                f"{self.rare_percentage:.1f}% of records ({self.records_with_rare} of {self.n_records}) hold a "
                f"combination shared by fewer than {self.resolution} records, and "
                f"{self.unique_percentage:.1f}% ({self.records_with_unique}) hold a unique one.")


class _RiskScan:
    """Accumulates the risk figures of one table from the column-set groups of a scan (source 0)."""

    def __init__(self, table: EncodedTable, resolution: int, length: int):
        self.table, self.k, self.L = table, resolution, length
        n, m = table.codes.shape
        self.first_unique = np.zeros(n, dtype=np.int64)  # shortest length with a unique combination (0 = none)
        self.first_rare = np.zeros(n, dtype=np.int64)
        self.in_rare = np.zeros((m, n), dtype=bool)      # record's value in column c is in a rare combination
        self.rare_now = np.zeros(n, dtype=bool)          # rare / unique combination at the current length
        self.unique_now = np.zeros(n, dtype=bool)
        self.level = 1
        self.stats = {l: [0, 0, 0] for l in range(1, length + 1)}  # combinations, rare, unique

    def _close_level(self) -> None:
        l = self.level
        self.first_rare[self.rare_now & (self.first_rare == 0)] = l
        self.first_unique[self.unique_now & (self.first_unique == 0)] = l
        self.rare_now[:] = False
        self.unique_now[:] = False

    def add(self, g: CountedGroups) -> None:
        l = len(g.columns)
        while l > self.level:
            self._close_level()
            self.level += 1
        counts = g.counts[0]
        end = int(g.bounds[1])
        if len(g.counts) > 1 or g.valid is not None:
            # groups of the other tables only, or with an absent value, are not combinations of this one
            held = counts > 0
            if g.valid is not None:
                held &= g.valid
            n_groups = int(held.sum())
            rare_g = held & (counts < self.k)
        else:
            n_groups = len(counts)
            rare_g = counts < self.k
        unique_g = counts == 1
        if g.valid is not None:
            unique_g &= g.valid
        s = self.stats[l]
        s[0] += n_groups
        n_rare = int(rare_g.sum())
        s[1] += n_rare
        s[2] += int(unique_g.sum())
        if n_rare == 0:
            return
        rows = g.rows[:end]
        local = g.local[:end]
        rare_rows = rows[rare_g[local]]
        self.rare_now[rare_rows] = True
        for c in g.columns:
            self.in_rare[c, rare_rows] = True
        self.unique_now[rows[unique_g[local]]] = True

    def summary(self) -> "RiskSummary":
        self._close_level()
        table, k, L = self.table, self.k, self.L
        n = table.n_records
        first_unique, first_rare = self.first_unique, self.first_rare
        # Records with a unique combination are reported as unique, not also as rare (reference 3.4).
        only_rare = (first_rare > 0) & (first_unique == 0)
        rows = []
        for l in range(1, L + 1):
            c, r, u = self.stats[l]
            rows.append({"length": l, "combinations": c, "rare_combinations": r, "unique_combinations": u,
                         "records_first_unique": int((first_unique == l).sum()),
                         "records_first_rare": int((only_rare & (first_rare == l)).sum())})
        by_length = pd.DataFrame(rows)

        ids = table.attribute_ids()
        counts = bincount(ids[ids >= 0], minlength=table.domain.n_attributes)
        linked = bincount(ids[self.in_rare.T & (ids >= 0)], minlength=table.domain.n_attributes)
        dom = table.domain
        attrs = np.flatnonzero(linked)
        source = [dom.multi_value[dom.columns[c]].source if dom.columns[c] in dom.multi_value else dom.columns[c]
                  for c in dom.attr_column[attrs]]
        value = [dom.multi_value[dom.columns[c]].value if dom.columns[c] in dom.multi_value
                 else dom.labels[c][j] for c, j in zip(dom.attr_column[attrs], dom.attr_code[attrs])]
        attributes = pd.DataFrame({"column": source, "value": value,
                                   "attribute": [f"{s}:{v}" for s, v in zip(source, value)],
                                   "records": counts[attrs], "linkable_records": linked[attrs],
                                   "percentage": 100.0 * linked[attrs] / counts[attrs]})
        attributes = attributes.sort_values(["percentage", "attribute"], ascending=[False, True], ignore_index=True)
        # Column score: mean over the column's attributes that occur in a rare combination (reference 3.4;
        # attributes never in a rare combination do not dilute it).
        columns = (attributes.groupby("column", sort=False)["percentage"].mean().rename("percentage").reset_index()
                   .sort_values(["percentage", "column"], ascending=[False, True], ignore_index=True))
        return RiskSummary(k, L, n, int((first_unique > 0).sum()), int((first_rare > 0).sum()), by_length,
                           attributes, columns)


def assess_risk(table: EncodedTable, resolution: int, length: int,
                progress: ProgressCallback | Progress | None = None) -> RiskSummary:
    """Scan all column sets up to ``length`` and mark records holding rare (< k) or unique combinations."""
    k = check_resolution(resolution)
    L = min(check_length(length), table.domain.n_columns)
    acc = _RiskScan(table, k, L)
    for g in scan_counts(table.codes, table.domain, L, with_keys=False, progress=as_progress(progress)):
        acc.add(g)
    return acc.summary()


def aggregate_and_assess_risk(tables: list[EncodedTable], resolution: int, length: int,
                              progress: ProgressCallback | Progress | None = None, *, visit=None,
                              absent_as_value: int = 0) -> tuple[np.ndarray, list[np.ndarray], RiskSummary]:
    """One scan for the exact aggregates of several tables over one domain and the risk of the first.

    Returns the sorted keys of every combination (up to ``length``, capped at the number of columns)
    present in any of the tables, each table's count of each key (0 where absent), and
    ``assess_risk(tables[0], resolution, length)``. ``Aggregates(domain, L, keys[c > 0], c[c > 0], n)``
    with ``c`` a table's counts equals ``aggregate(table, length)``. Raises ParameterError like
    :func:`~localsynth.aggregate.aggregate` when the keys do not fit. ``visit`` and ``absent_as_value``
    are passed to :func:`~localsynth.aggregate.count_tables` (to compute more from the same scan).
    """
    k = check_resolution(resolution)
    L = check_aggregation_length(tables[0].domain, length)
    acc = _RiskScan(tables[0], k, L)
    if visit is None:
        visitor = acc.add
    else:
        def visitor(g: CountedGroups) -> None:
            acc.add(g)
            visit(g)
    keys, counts = count_tables(tables, L, progress, visit=visitor, absent_as_value=absent_as_value)
    return keys, counts, acc.summary()


def column_removal_hints(table: EncodedTable, resolution: int, length: int, top: int = 3,
                         progress: ProgressCallback | Progress | None = None) -> pd.DataFrame:
    """Effect of dropping each of the ``top`` most linkable columns on the share of at-risk records."""
    prog = as_progress(progress)
    prog(0.0, "assessing the risk")
    base = assess_risk(table, resolution, length)
    out = []
    columns = list(base.linkable_columns["column"].head(top))
    for i, col in enumerate(columns):
        prog((i + 1) / (len(columns) + 1), f"trying without {col}")
        keep = [i for i, c in enumerate(table.columns)
                if (table.domain.multi_value[c].source if c in table.domain.multi_value else c) != col]
        if not keep:
            continue
        sub = _select_columns(table, keep)
        r = assess_risk(sub, resolution, length)
        out.append({"column": col, "rare_percentage_before": base.rare_percentage,
                    "rare_percentage_after": r.rare_percentage})
    prog(1.0, "done")
    return pd.DataFrame(out, columns=["column", "rare_percentage_before", "rare_percentage_after"])


def _select_columns(table: EncodedTable, keep: list[int]) -> EncodedTable:
    from .table import Domain
    dom = table.domain
    cols = tuple(dom.columns[i] for i in keep)
    sub = Domain(cols, tuple(dom.labels[i] for i in keep), {c: v for c, v in dom.multi_value.items() if c in cols})
    return EncodedTable(table.codes[:, keep], sub, table.name)
