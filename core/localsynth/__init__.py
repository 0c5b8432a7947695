"""LocalSynth: private synthetic data and protected aggregates, computed where the data lives.

The data path: :func:`load_table` → :func:`aggregate` → :func:`protect_k` / DP → synthesize → evaluate → export.
"""

from .aggregate import Aggregates, aggregate, parse_aggregates, protect_k
from .binning import Binning, preview_bins
from .errors import Cancelled, InputError, LocalSynthError, ParameterError
from .load import LoadOptions, RawTable, load_table, prepare, read_raw
from .table import ABSENT, Domain, EncodedTable, MultiValueSource, encode_frame

__version__ = "0.1.0"
