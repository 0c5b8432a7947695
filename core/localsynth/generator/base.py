"""What every synthesizer shares: the fit/sample interface, seeding and vectorised helpers."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .._np import repeat
from ..errors import ParameterError
from ..progress import Progress, ProgressCallback
from ..table import ABSENT, EncodedTable


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator from a seed (None draws fresh OS entropy: not reproducible)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ParameterError(f"seed must be a whole number ≥ 0, not {seed!r}")
    return np.random.default_rng(seed)


class Synthesizer(ABC):
    """Fit on a sensitive table (or on aggregates), then sample synthetic records with a seed."""

    @abstractmethod
    def fit(self, data) -> "Synthesizer":
        """Learn what sampling needs; returns self."""

    @abstractmethod
    def sample(self, n: int | None = None, *, seed: int | np.random.Generator | None = 0,
               progress: ProgressCallback | Progress | None = None) -> EncodedTable:
        """Synthetic records as an EncodedTable over the fitted domain (``n`` where the mode allows)."""


def weighted_choice(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of ``weights`` drawn proportionally to the weights; -1 if a row sums to 0."""
    weights = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(weights, axis=1)
    total = cum[:, -1] if weights.shape[1] else np.zeros(len(weights))
    draw = rng.random(len(weights)) * total
    choice = (cum > draw[:, None]).argmax(axis=1)
    return np.where(total > 0, choice, -1)


def group_rank(groups: np.ndarray) -> np.ndarray:
    """0-based rank of each element within its group, in array order (groups need not be sorted)."""
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    start = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    counts = np.diff(np.r_[start, len(groups)])
    rank_sorted = np.arange(len(groups)) - repeat(start, counts)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def finish(codes: np.ndarray, like: EncodedTable, rng: np.random.Generator, name: str) -> EncodedTable:
    """Drop all-absent records and shuffle the rest (SDS sorts most-complete-first, which leaks
    nothing but biases anyone who takes the first rows; reference quirk 12)."""
    codes = codes[(codes != ABSENT).any(axis=1)]
    codes = codes[rng.permutation(len(codes))]
    return EncodedTable(codes, like.domain, name)
