"""Synthesizers: fit on a sensitive table or on aggregates, then sample with a seed."""

from .base import Synthesizer, make_rng
from .kanon import RowSeeded, Unseeded, ValueSeeded

__all__ = ["Synthesizer", "make_rng", "RowSeeded", "Unseeded", "ValueSeeded"]
