"""numpy calls that must also work on 32-bit wasm (Pyodide), where ``np.intp`` is int32.

``np.bincount`` and ``np.repeat`` refuse int64 inputs there ("cannot cast int64 to int32 safely"); these
wrappers cast to ``np.intp`` first (a no-op on 64-bit machines).
"""

from __future__ import annotations

import numpy as np


def bincount(x, weights=None, minlength: int = 0) -> np.ndarray:
    return np.bincount(np.asarray(x).astype(np.intp, copy=False), weights=weights, minlength=int(minlength))


def repeat(a, repeats, axis=None) -> np.ndarray:
    return np.repeat(a, np.asarray(repeats).astype(np.intp, copy=False), axis=axis)


def ragged_ranges(starts, lengths) -> np.ndarray:
    """Concatenation of ``arange(s, s + l)`` for every (s, l), without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    shift = repeat(np.asarray(starts, dtype=np.int64) - (ends - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift
