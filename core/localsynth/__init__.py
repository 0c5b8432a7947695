"""LocalSynth: private synthetic data and protected aggregates, computed where the data lives.

The data path: :func:`load_table` → :func:`aggregate` → :func:`protect_k` / DP → :func:`synthesize` →
:func:`evaluate` → :func:`write_release`.
"""

from .aggregate import Aggregates, aggregate, parse_aggregates, protect_k
from .binning import Binning, preview_bins
from .dashboard import dashboard_html
from .errors import Cancelled, InputError, LocalSynthError, ParameterError
from .evaluate import (Evaluation, Statistics, check_k_anonymity, compare, evaluate, k_marginal_score,
                       marginal_errors)
from .export import ReleaseRun, release_zip, sha256_bytes, sha256_file, write_release
from .explore import Explorer, explore_counts, selection_label, selection_total, toggle_value
from .load import LoadOptions, RawTable, load_table, prepare, read_raw
from .risk import RiskSummary, assess_risk, column_removal_hints
from .synthesize import (MODES, SynthesisParams, SynthesisResult, make_synthesizer, summarize_columns, synthesize,
                         synthesize_and_evaluate)
from .table import ABSENT, Domain, EncodedTable, MultiValueSource, encode_frame

__version__ = "0.1.0"
