"""Numeric binning: turn a column of numbers into interval labels such as ``[20, 30)``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ParameterError

METHODS = ("width", "count", "quantile", "edges")


@dataclass(frozen=True)
class Binning:
    """How to cut a numeric column into intervals.

    ``width``: bins of a fixed ``width`` aligned on multiples of it; ``count``: ``bins`` equal-width bins
    between the minimum and maximum; ``quantile``: ``bins`` bins holding about the same number of records;
    ``edges``: the given ascending ``edges``. Non-numeric text (e.g. ``N`` for "not applicable") keeps its
    own label; empty cells stay absent.
    """

    method: str = "count"
    bins: int = 5
    width: float | None = None
    edges: tuple[float, ...] = ()

    def __post_init__(self):
        if self.method not in METHODS:
            raise ParameterError(f"binning method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.method in ("count", "quantile") and not (isinstance(self.bins, int) and 1 <= self.bins <= 1000):
            raise ParameterError(f"number of bins must be an integer from 1 to 1000, not {self.bins!r}")
        if self.method == "width" and not (self.width is not None and math.isfinite(self.width) and self.width > 0):
            raise ParameterError(f"bin width must be a positive number, not {self.width!r}")
        if self.method == "edges":
            edges = tuple(float(e) for e in self.edges)
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or not all(map(math.isfinite, edges)):
                raise ParameterError("custom bin edges must be at least two finite numbers in increasing order")
            object.__setattr__(self, "edges", edges)


def format_number(x: float) -> str:
    """Short text for a bin edge: 20 rather than 20.0, 0.125 rather than 1.25e-01."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.6g}"


def bin_edges(values: np.ndarray, spec: Binning) -> np.ndarray:
    """The ascending edges ``spec`` gives for these finite numbers."""
    if spec.method == "edges":
        return np.asarray(spec.edges, dtype=float)
    if len(values) == 0:
        return np.array([0.0, 1.0])
    lo, hi = float(values.min()), float(values.max())
    if spec.method == "width":
        w = float(spec.width)
        start = math.floor(lo / w) * w
        n = max(1, math.floor((hi - start) / w) + 1)
        return start + w * np.arange(n + 1)
    if spec.method == "count":
        if hi == lo:
            return np.array([lo, lo + 1.0])
        return np.linspace(lo, hi, spec.bins + 1)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, spec.bins + 1)))
    return edges if len(edges) > 1 else np.array([lo, lo + 1.0])


def apply_binning(raw: pd.Series, spec: Binning) -> tuple[pd.Series, int]:
    """Labels for ``raw`` (strings, '' = absent) and the number of non-numeric cells kept as text."""
    text = raw.astype(str)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    edges = bin_edges(numbers[finite], spec)
    closed_last = spec.method != "width"  # the maximum sits on the last edge for count/quantile/edges
    labels = [f"[{format_number(a)}, {format_number(b)})" for a, b in zip(edges[:-1], edges[1:])]
    if closed_last:
        labels[-1] = labels[-1][:-1] + "]"
    idx = np.searchsorted(edges, numbers[finite], side="right") - 1
    if closed_last:
        idx[numbers[finite] == edges[-1]] = len(edges) - 2
    below = idx < 0
    above = idx >= len(labels)
    out_labels = np.array(labels + [f"< {format_number(edges[0])}", f">= {format_number(edges[-1])}"], dtype=object)
    idx[below] = len(labels)
    idx[above] = len(labels) + 1
    result = text.to_numpy(dtype=object).copy()
    result[finite] = out_labels[idx]
    non_numeric = int(((~finite) & (text.to_numpy(dtype=object) != "")).sum())
    return pd.Series(result, index=raw.index, dtype=object), non_numeric


def preview_bins(raw: pd.Series, spec: Binning) -> pd.DataFrame:
    """Counts per bin label in edge order (for a live preview while choosing bins)."""
    labels, _ = apply_binning(raw, spec)
    counts = labels[labels != ""].value_counts()
    def order(label: str) -> tuple[int, float, str]:
        head = label.lstrip("[<>= ").split(",")[0]
        try:
            return (0, float(head) if not label.startswith("<") else -math.inf, label)
        except ValueError:
            return (1, 0.0, label)
    keys = sorted(counts.index, key=order)
    return pd.DataFrame({"bin": keys, "count": [int(counts[k]) for k in keys]})
