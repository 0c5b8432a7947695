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
