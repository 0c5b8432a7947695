"""One entry point for every synthesis mode: parameters → synthetic records + released aggregates.

:class:`SynthesisParams` holds every setting (defaults from the reference) and validates it;
:func:`synthesize` runs the chosen synthesizer on an :class:`~localsynth.table.EncodedTable` and returns a
:class:`SynthesisResult`. The CLI, the Python API and the web app all go through here.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._np import bincount
from .aggregate import Aggregates, aggregate, check_length, check_resolution, protect_k
from .errors import ParameterError
from .progress import Progress, ProgressCallback, as_progress
from .table import ABSENT, EncodedTable

MODES = ("row-seeded", "value-seeded", "unseeded", "aggregate-seeded", "dp")
K_ANON_MODES = MODES[:4]

MODE_HELP = {
    "row-seeded": "each real record seeds one synthetic record; keeps the real data's structure best",
    "value-seeded": "records built from the counts of single values; looser structure, value counts kept",
    "unseeded": "records built value by value from the real distribution; any number of records",
    "aggregate-seeded": "records built only from the protected aggregate counts, never from records",
    "dp": "differential privacy: records built from noisy counts, with a provable privacy budget ε",
}


def _whole(value, what: str, minimum: int, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ParameterError(f"{what} must be a whole number ≥ {minimum}, not {value!r}")
    return int(value)


@dataclass(frozen=True)
class SynthesisParams:
    """Every synthesis setting. Defaults follow the reference (SDS).

    * ``mode``: one of :data:`MODES`.
    * ``resolution`` k ≥ 1: every released count and every short combination in the synthetic data
      describes at least k real records (k-anonymous modes).
    * ``length`` L ≥ 1: longest combination of values that is counted, protected and evaluated.
    * ``seed``: random seed; the same seed and input give byte-identical output. None = fresh randomness.
      In DP mode the seed also drives the noise: publish a seed and the noise could be recomputed, so leave
      it unset for a real DP release.
    * ``records``: number of synthetic records (unseeded, aggregate-seeded, dp); None = as many as the
      data (or the protected / noisy record count).
    * ``oversampling_ratio``, ``oversampling_tries``: value-seeded only; cap every combination's synthetic
      count at its protected count × (1 + ratio); None = no cap.
    * ``use_synthetic_counts``, ``weight_selection_percentile``: aggregate-seeded and dp sampling.
    * ``dp``: :class:`localsynth.dp.DpParams` (ε, δ, percentile, shares, accuracy, fabrication); its
      ``length`` must equal ``length``. Defaults to ``DpParams(length=length)`` in dp mode.
    * ``complete``: dp only; fill suppressed cells from the DP aggregates (post-processing, no extra cost).
    """

    mode: str = "row-seeded"
    resolution: int = 10
    length: int = 3
    seed: int | None = 0
    records: int | None = None
    oversampling_ratio: float | None = None
    oversampling_tries: int = 10
    use_synthetic_counts: bool = True
    weight_selection_percentile: float = 95
    dp: Any = None
    complete: bool = True

    def __post_init__(self):
        if self.mode not in MODES:
            raise ParameterError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        check_resolution(self.resolution)
        check_length(self.length)
        _whole(self.seed, "seed", 0, allow_none=True)
        _whole(self.records, "number of records", 1, allow_none=True)
        if self.records is not None and self.mode in ("row-seeded", "value-seeded"):
            raise ParameterError(f"{self.mode} synthesis decides the number of records itself; "
                                 "leave the number of records unset")
        r = self.oversampling_ratio
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float, np.number))
                              or not math.isfinite(r) or r < 0):
            raise ParameterError(f"oversampling ratio must be a number ≥ 0 (or unset), not {r!r}")
        _whole(self.oversampling_tries, "oversampling tries", 1)
        if not isinstance(self.use_synthetic_counts, bool):
            raise ParameterError(f"use synthetic counts must be True or False, not {self.use_synthetic_counts!r}")
        p = self.weight_selection_percentile
        if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0 <= p <= 100:
            raise ParameterError(f"weight selection percentile must be between 0 and 100, not {p!r}")
        if not isinstance(self.complete, bool):
            raise ParameterError(f"complete must be True or False, not {self.complete!r}")
        if self.mode == "dp":
            from .dp import DpParams

            dp = self.dp if self.dp is not None else DpParams(length=self.length)
            if not isinstance(dp, DpParams):
                raise ParameterError("dp must be a localsynth.dp.DpParams")
            if dp.length != self.length:
                raise ParameterError(f"the DP aggregation limit ({dp.length}) must equal the aggregation "
                                     f"limit L ({self.length})")
            object.__setattr__(self, "dp", dp)
        elif self.dp is not None:
            raise ParameterError(f"DP parameters were given but the mode is {self.mode!r}; choose mode 'dp'")

    @property
    def is_dp(self) -> bool:
        return self.mode == "dp"

    def to_dict(self) -> dict:
        """The settings as plain JSON-ready values (for manifests and the UI)."""
        out = asdict(self)
        if self.dp is not None:
            dp = asdict(self.dp)
            out["dp"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dp.items()}
        if self.mode not in ("value-seeded",):
            out.pop("oversampling_ratio"), out.pop("oversampling_tries")
        if self.mode not in ("aggregate-seeded", "dp"):
            out.pop("use_synthetic_counts"), out.pop("weight_selection_percentile")
        if self.mode != "dp":
            out.pop("dp"), out.pop("complete")
        return out


@dataclass(eq=False)
class SynthesisResult:
    """A finished run: the synthetic records, the released aggregates and how long it took.

    ``reportable`` is the released aggregate table: k-protected exact counts for the k-anonymous modes
    (computed on first access for the record-based modes), DP counts for ``dp``.
    """

    params: SynthesisParams
    synthetic: EncodedTable
    seconds: float
    sensitive: EncodedTable | None = field(default=None, repr=False)
    _reportable: Aggregates | None = field(default=None, repr=False)
    sensitive_aggregates: Aggregates | None = field(default=None, repr=False)

    @property
    def reportable(self) -> Aggregates:
        if self._reportable is None:
            if self.sensitive_aggregates is None:
                self.sensitive_aggregates = aggregate(self.sensitive, self.params.length)
            self._reportable = protect_k(self.sensitive_aggregates, self.params.resolution)
        return self._reportable


def make_synthesizer(params: SynthesisParams):
    """The synthesizer object for ``params`` (fit on an EncodedTable, or on Aggregates for aggregate-seeded)."""
    from .generator import RowSeeded, Unseeded, ValueSeeded

    if params.mode == "row-seeded":
        return RowSeeded(params.resolution)
    if params.mode == "value-seeded":
        return ValueSeeded(params.resolution, params.oversampling_ratio, params.oversampling_tries, params.length)
    if params.mode == "unseeded":
        return Unseeded(params.resolution)
    if params.mode == "aggregate-seeded":
        from .generator.aggregate_seeded import AggregateSeeded

        return AggregateSeeded(use_synthetic_counts=params.use_synthetic_counts,
                               weight_selection_percentile=params.weight_selection_percentile,
                               target_records=params.records)
    from .dp import DpAggregateSeeded

    return DpAggregateSeeded(params.dp, use_synthetic_counts=params.use_synthetic_counts,
                             weight_selection_percentile=params.weight_selection_percentile,
                             target_records=params.records, complete=params.complete)


def synthesize(table: EncodedTable, params: SynthesisParams | None = None,
               progress: ProgressCallback | Progress | None = None) -> SynthesisResult:
    """Synthesize ``table`` with ``params``; ``progress(fraction, message)`` returning False cancels
    (raises :class:`~localsynth.errors.Cancelled`)."""
    params = params or SynthesisParams()
    prog = as_progress(progress)
    if table.n_records == 0:
        raise ParameterError("the table has no records to synthesize from")
    started = time.perf_counter()
    synth = make_synthesizer(params)
    rng = np.random.default_rng(params.seed)
    reportable = sens_agg = None
    if params.mode == "aggregate-seeded":
        prog(0.0, "counting combinations")
        sens_agg = aggregate(table, params.length, prog.slice(0.0, 0.3))
        reportable = protect_k(sens_agg, params.resolution)
        synth.fit(reportable)
        synthetic = synth.sample(seed=rng, progress=prog.slice(0.3, 1.0))
    elif params.mode == "dp":
        synth.fit(table, seed=rng, progress=prog.slice(0.0, 0.4))
        reportable = synth.aggregates_
        synthetic = synth.sample(seed=rng, progress=prog.slice(0.4, 1.0))
    else:
        synth.fit(table)
        synthetic = synth.sample(params.records if params.mode == "unseeded" else None, seed=rng,
                                 progress=prog)
    prog(1.0, "synthetic records ready")
    return SynthesisResult(params, synthetic, time.perf_counter() - started, table, reportable, sens_agg)


def synthesize_and_evaluate(table: EncodedTable, params: SynthesisParams | None = None,
                            progress: ProgressCallback | Progress | None = None):
    """One complete run: :func:`synthesize`, then :func:`~localsynth.evaluate.evaluate` against ``table``
    (reusing the run's aggregates). Returns ``(SynthesisResult, Evaluation)``; progress is 85 % synthesis."""
    from .evaluate import evaluate

    prog = as_progress(progress)
    result = synthesize(table, params, prog.slice(0.0, 0.85))
    prog(0.86, "evaluating")
    p = result.params
    evaluation = evaluate(table, result.synthetic, p.resolution, p.length, reportable=result.reportable,
                          sensitive_aggregates=result.sensitive_aggregates, progress=prog.slice(0.86, 1.0))
    return result, evaluation


def summarize_columns(table: EncodedTable, top: int = 3) -> pd.DataFrame:
    """One row per column: distinct values, empty cells, the most common values, and a warning when the
    column looks like an identifier (more distinct values than half the records)."""
    n = table.n_records
    rows = []
    for c, name in enumerate(table.domain.columns):
        codes = table.codes[:, c]
        present = codes[codes != ABSENT]
        labels = table.domain.labels[c]
        counts = bincount(present, minlength=len(labels)) if len(labels) else np.zeros(0, dtype=np.int64)
        order = np.lexsort((np.arange(len(counts)), -counts))[:top]
        common = ", ".join(f"{labels[i]} ({counts[i]:,})" for i in order if counts[i] > 0)
        distinct = int((counts > 0).sum())
        note = ""
        if n >= 4 and distinct > n / 2:
            note = "likely an identifier: consider excluding it"
        elif distinct == 1:
            note = "one value only: carries no information"
        rows.append({"column": name, "distinct values": distinct, "empty cells": int(n - len(present)),
                     "most common": common, "note": note})
    return pd.DataFrame(rows, columns=["column", "distinct values", "empty cells", "most common", "note"])
