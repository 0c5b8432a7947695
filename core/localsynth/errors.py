"""Exceptions raised by localsynth. Every message is meant to be shown to a person as is."""

from __future__ import annotations


class LocalSynthError(Exception):
    """Base class of every error localsynth raises on purpose."""


class InputError(LocalSynthError, ValueError):
    """The input data cannot be used; says which file, line and column, and what to do."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 column: str | None = None, hint: str | None = None):
        self.file, self.line, self.column, self.hint = file, line, column, hint
        self.reason = message
        where = []
        if file:
            where.append(str(file))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        text = (", ".join(where) + ": " if where else "") + message
        if hint:
            text += f" {hint}"
        super().__init__(text)


class ParameterError(LocalSynthError, ValueError):
    """A parameter is outside its allowed range; names the parameter and the range."""


class Cancelled(LocalSynthError):
    """The progress callback asked to stop; no partial result is returned."""
