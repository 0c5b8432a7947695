"""Progress reporting and cooperative cancellation for long steps.

A callback ``progress(fraction, message)`` receives a fraction in [0, 1]; returning ``False`` cancels
the work, which then raises :class:`~localsynth.errors.Cancelled` at the next checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

from .errors import Cancelled

ProgressCallback = Callable[[float, str], Optional[bool]]


class Progress:
    """Maps the progress of a sub-step onto a slice [start, end] of the caller's range."""

    __slots__ = ("_callback", "_start", "_end", "_last")

    def __init__(self, callback: ProgressCallback | None = None, start: float = 0.0, end: float = 1.0):
        self._callback = callback
        self._start = start
        self._end = end
        self._last = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        """Report ``fraction`` of this slice done; raises Cancelled if the callback returned False."""
        if self._callback is None:
            return
        value = self._start + (self._end - self._start) * min(max(fraction, 0.0), 1.0)
        # Throttle to 0.1 % steps so tight loops do not flood a UI, but always pass the end.
        if value - self._last < 0.001 and fraction < 1.0:
            return
        self._last = value
        if self._callback(value, message) is False:
            raise Cancelled("Stopped at your request; nothing was produced.")

    def check(self) -> None:
        """A cancellation checkpoint that reports no new progress."""
        if self._callback is not None and self._callback(max(self._last, self._start), "") is False:
            raise Cancelled("Stopped at your request; nothing was produced.")

    def slice(self, start: float, end: float) -> "Progress":
        """A child reporter for the part [start, end] (fractions of this reporter's range)."""
        span = self._end - self._start
        return Progress(self._callback, self._start + span * start, self._start + span * end)


def as_progress(callback: ProgressCallback | Progress | None) -> Progress:
    return callback if isinstance(callback, Progress) else Progress(callback)
