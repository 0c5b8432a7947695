"""``localsynth`` command line: aggregate, synthesize, evaluate, build-web, serve.

Exit codes: 0 success, 2 bad input or parameters (one-line message on stderr), 1 out of memory,
130 interrupted. Progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .aggregate import aggregate, protect_k
from .binning import METHODS, Binning
from .errors import Cancelled, InputError, LocalSynthError, ParameterError
from .load import LoadOptions, load_table
from .synthesize import MODES, SynthesisParams, synthesize

# ---- progress on stderr ------------------------------------------------------------------------------
class ProgressBar:
    """A progress callback drawing ``label [#####-----]  42 % message`` on stderr (a line per 10 % when
    stderr is not a terminal). ``quiet`` draws nothing."""

    def __init__(self, label: str, quiet: bool = False, stream=None):
        self.label, self.quiet = label, quiet
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self._last = -1.0
        self._last_step = -1

    def __call__(self, fraction: float, message: str = "") -> bool:
        if self.quiet:
            return True
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.perf_counter()
        if self.tty:
            if now - self._last >= 0.1 or fraction >= 1.0:
                self._last = now
                filled = int(round(30 * fraction))
                text = f"\r{self.label} [{'#' * filled}{'-' * (30 - filled)}] {100 * fraction:3.0f} % {message[:40]:<40}"
                self.stream.write(text)
                self.stream.flush()
        else:
            step = int(fraction * 10)
            if step > self._last_step:
                self._last_step = step
                self.stream.write(f"{self.label}: {100 * fraction:3.0f} % {message}\n")
                self.stream.flush()
        return True

    def done(self) -> None:
        if not self.quiet:
            self(1.0, "done")
            if self.tty:
                self.stream.write(f"  ({time.perf_counter() - self.started:.1f} s)\n")
                self.stream.flush()


# ---- argument parsing --------------------------------------------------------------------------------
def _pair(text: str, what: str) -> tuple[str, str]:
    col, sep, value = text.partition("=")
    if not sep or not col.strip() or not value:
        raise argparse.ArgumentTypeError(f"{what} must look like COLUMN=VALUE, not {text!r}")
    return col.strip(), value


def _multi_value(text: str) -> tuple[str, str]:
    return _pair(text, "--multi-value")


def _binning(text: str) -> tuple[str, Binning]:
    """``COL=width:10``, ``COL=count:5``, ``COL=quantile:4``, ``COL=edges:0,18,65,120``."""
    col, spec = _pair(text, "--bin")
    method, _, arg = spec.partition(":")
    try:
        if method == "width":
            return col, Binning("width", width=float(arg))
        if method in ("count", "quantile"):
            return col, Binning(method, bins=int(arg))
        if method == "edges":
            return col, Binning("edges", edges=tuple(float(e) for e in arg.split(",")))
    except ValueError:
        pass
    except ParameterError as exc:
        raise argparse.ArgumentTypeError(f"--bin {text}: {exc}") from None
    raise argparse.ArgumentTypeError(f"--bin must be COLUMN=METHOD:VALUE with METHOD one of {', '.join(METHODS)} "
                                     f"(e.g. AGE=width:10, INCOME=quantile:5, AGE=edges:0,18,65,120), not {text!r}")


def _data_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data options")
    g.add_argument("--columns", nargs="+", metavar="C", help="columns to use (default: all)")
    g.add_argument("--multi-value", nargs="+", type=_multi_value, default=[], metavar="COL=DELIM",
                   help="split a column holding several values, e.g. services=';'")
    g.add_argument("--subject-id", metavar="COL", help="join the rows that share this ID into one record")
    g.add_argument("--sensitive-zeros", nargs="+", default=[], metavar="C",
                   help="columns where the value 0 is meaningful (elsewhere 0 means absent)")
    g.add_argument("--delimiter", metavar="D", help="field delimiter (default: detected; use '\\t' for tab)")
    g.add_argument("--bin", nargs="+", type=_binning, default=[], metavar="COL=METHOD:V",
                   help="bin a numeric column: width:W, count:N, quantile:N or edges:E1,E2,...")
    g.add_argument("--missing", nargs="+", default=[], metavar="TEXT",
                   help="extra cell texts meaning 'no value' (e.g. N NA)")
    g.add_argument("--record-limit", type=int, default=0, metavar="N", help="use only the first N rows (0 = all)")


def _privacy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resolution", "-k", type=int, default=10, metavar="K",
                        help="privacy resolution k: released counts and short combinations describe ≥ k records "
                             "(default 10; in dp mode used only for the evaluation)")
    parser.add_argument("--length", "-L", type=int, default=3, metavar="L",
                        help="aggregation limit L: longest combination of values counted and protected (default 3)")


def _dp_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("differential privacy options (see docs/privacy.md)")
    g.add_argument("--epsilon", type=float, default=None, help="privacy budget ε > 0 (default 4)")
    g.add_argument("--delta", type=float, default=None, help="δ in (0, 1) (default 1/(ln n·n) from the noisy count)")
    g.add_argument("--percentile", type=float, default=99, help="contribution bound percentile (default 99)")
    g.add_argument("--percentile-epsilon-share", type=float, default=0.01,
                   help="share of ε spent choosing the contribution bounds (default 0.01)")
    g.add_argument("--records-epsilon-share", type=float, default=0.005,
                   help="share of ε spent on the noisy record count (default 0.005)")
    g.add_argument("--accuracy-mode", choices=["long", "short", "balanced"], default="long",
                   help="which combination lengths get less noise (default long)")
    g.add_argument("--sigma-proportions", type=float, nargs="+", metavar="P",
                   help="custom noise proportions, one per length 1..L (overrides --accuracy-mode)")
    g.add_argument("--fabrication-mode", choices=["uncontrolled", "progressive", "balanced", "minimize"],
                   default="uncontrolled", help="how hard to suppress made-up combinations (default uncontrolled)")
    g.add_argument("--threshold-type", choices=["adaptive", "fixed"],
                   help="custom thresholds per length (with --threshold-values; overrides --fabrication-mode)")
    g.add_argument("--threshold-values", type=float, nargs="+", metavar="V",
                   help="threshold for lengths 2, 3, … (adaptive: η in (0,1]; fixed: τ ≥ 0)")


def _synthesis_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("sampling options")
    g.add_argument("--seed", type=int, default=None,
                   help="random seed (default 0 for k-anonymous modes; random for dp — a known seed "
                        "lets anyone recompute the DP noise)")
    g.add_argument("--records", type=int, metavar="N",
                   help="number of synthetic records (unseeded, aggregate-seeded, dp)")
    g.add_argument("--oversampling-ratio", type=float, metavar="R",
                   help="value-seeded: cap each combination at its protected count × (1 + R)")
    g.add_argument("--oversampling-tries", type=int, default=10, metavar="T",
                   help="value-seeded: rejections before a record is closed (default 10)")
    g.add_argument("--no-synthetic-counts", action="store_true",
                   help="aggregate-seeded/dp: do not subtract counts already synthesized from the weights")
    g.add_argument("--weight-selection-percentile", type=float, default=95, metavar="P",
                   help="aggregate-seeded/dp: percentile of sub-combination weights beyond L (default 95)")
    g.add_argument("--no-complete", action="store_true",
                   help="dp: leave suppressed cells empty instead of filling them from the DP counts")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="localsynth", description="Private synthetic data and protected aggregates, computed on this machine.")
    parser.add_argument("--version", action="version", version=f"localsynth {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS, help="no progress bars")

    p = sub.add_parser("aggregate", parents=[common], help="count every combination of up to L values, protected with k (or DP)")
    p.add_argument("input", metavar="INPUT", help="sensitive CSV/TSV file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="aggregates file to write")
    _privacy_options(p)
    p.add_argument("--no-protect", action="store_true",
                   help="write exact counts (as sensitive as the data itself!) instead of k-protected ones")
    p.add_argument("--dp", action="store_true", help="write differentially private counts instead")
    p.add_argument("--seed", type=int, default=None, help="dp noise seed (default: random)")
    _data_options(p)
    _dp_options(p)

    p = sub.add_parser("synthesize", parents=[common], help="make synthetic records")
    p.add_argument("input", metavar="INPUT", help="sensitive CSV/TSV file")
    p.add_argument("-o", "--output", required=True, metavar="OUT.csv", help="synthetic CSV to write")
    p.add_argument("--mode", choices=MODES, default="row-seeded", help="synthesis mode (default row-seeded)")
    _privacy_options(p)
    p.add_argument("--format", choices=["wide", "condensed", "long"], default="wide",
                   help="wide (one column per value of multi-value columns), condensed (joined) or long")
    p.add_argument("--release", metavar="DIR_OR_ZIP",
                   help="also write the full release (data, protected aggregates, metrics, manifest, README, "
                        "dashboard) to this folder or .zip")
    _synthesis_options(p)
    _data_options(p)
    _dp_options(p)

    p = sub.add_parser("evaluate", parents=[common], help="compare a synthetic file with the sensitive one")
    p.add_argument("input", metavar="INPUT", help="sensitive CSV/TSV file")
    p.add_argument("synthetic", metavar="SYNTHETIC", help="synthetic CSV (wide or condensed format)")
    _privacy_options(p)
    p.add_argument("--json", metavar="REPORT.json", help="write every metric to this JSON file")
    p.add_argument("--aggregates", metavar="AGG.csv",
                   help="released aggregates of the run (default: the sensitive counts protected with k)")
    p.add_argument("--dp", action="store_true",
                   help="the synthetic data (and --aggregates) are differentially private: report DP figures "
                        "instead of checking k-anonymity")
    _data_options(p)

    p = sub.add_parser("build-web", help="build the offline browser bundle", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)

    p = sub.add_parser("serve", help="serve the offline browser bundle on 127.0.0.1")
    p.add_argument("--dir", metavar="DIR", help="bundle folder (default dist/localsynth-web)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    p.add_argument("--open", action="store_true", help="open the browser")
    return parser


# ---- commands ----------------------------------------------------------------------------------------
def _load_options(args) -> LoadOptions:
    delimiter = args.delimiter
    if delimiter in ("\\t", "tab", "TAB"):
        delimiter = "\t"
    return LoadOptions(columns=tuple(args.columns or ()), delimiter=delimiter, multi_value=dict(args.multi_value),
                       subject_id=args.subject_id, sensitive_zeros=tuple(args.sensitive_zeros),
                       binning=dict(args.bin), missing_values=tuple(args.missing), record_limit=args.record_limit)


def _warn(table, quiet: bool) -> None:
    for w in table.warnings:
        print(f"warning: {w}", file=sys.stderr)


def _load(path: str, options: LoadOptions, quiet: bool):
    table = load_table(path, options=options)
    _warn(table, quiet)
    if table.n_records == 0:
        raise InputError("the file has a header but no data rows.", file=Path(path).name)
    return table


def _dp_params(args, length: int):
    from .dp import DpParams, Thresholds

    fabrication = args.fabrication_mode
    if args.threshold_type or args.threshold_values:
        if not (args.threshold_type and args.threshold_values):
            raise ParameterError("--threshold-type and --threshold-values go together")
        values = {k + 2: v for k, v in enumerate(args.threshold_values)}
        fabrication = Thresholds(args.threshold_type, tuple(values.items()))
    accuracy = tuple(args.sigma_proportions) if args.sigma_proportions else args.accuracy_mode
    return DpParams(epsilon=4.0 if args.epsilon is None else args.epsilon, delta=args.delta, length=length,
                    percentile=args.percentile, percentile_epsilon_share=args.percentile_epsilon_share,
                    records_epsilon_share=args.records_epsilon_share, accuracy_mode=accuracy,
                    fabrication_mode=fabrication)


def _check_output(path: str) -> Path:
    out = Path(path)
    if out.is_dir():
        raise ParameterError(f"{out} is a folder; give a file name for the output")
    if not out.parent.exists():
        raise ParameterError(f"the folder {out.parent} does not exist; create it first")
    return out


def _write_text(out: Path, text: str) -> None:
    tmp = out.with_name(out.name + ".part")  # never leave a half-written file under the real name
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(out)


def cmd_aggregate(args) -> int:
    out = _check_output(args.output)
    if args.dp and args.no_protect:
        raise ParameterError("--dp and --no-protect exclude each other")
    dp_params = _dp_params(args, args.length) if args.dp else None
    if not args.dp and args.epsilon is not None:
        raise ParameterError("--epsilon needs --dp")
    table = _load(args.input, _load_options(args), args.quiet)
    bar = ProgressBar("aggregate", args.quiet)
    if args.dp:
        from .dp import dp_aggregate

        result = dp_aggregate(table, dp_params, args.seed, bar)
    else:
        result = aggregate(table, args.length, bar)
        if not args.no_protect:
            result = protect_k(result, args.resolution)
    bar.done()
    _write_text(out, result.to_text(","))
    kind = {"dp": f"differentially private (ε={dp_params.epsilon:g})" if dp_params else "",
            "k-anonymous": f"protected with k={args.resolution}", "exact": "EXACT (sensitive!)"}
    print(f"Wrote {len(result):,} combinations of up to {args.length} values, "
          f"{kind.get(result.kind, result.kind)}, to {out}")
    return 0


def cmd_synthesize(args) -> int:
    out = _check_output(args.output)
    dp = _dp_params(args, args.length) if args.mode == "dp" else None
    if args.mode != "dp" and args.epsilon is not None:
        raise ParameterError("--epsilon is for --mode dp")
    seed = args.seed if args.seed is not None or args.mode == "dp" else 0
    params = SynthesisParams(mode=args.mode, resolution=args.resolution, length=args.length, seed=seed,
                             records=args.records, oversampling_ratio=args.oversampling_ratio,
                             oversampling_tries=args.oversampling_tries,
                             use_synthetic_counts=not args.no_synthetic_counts,
                             weight_selection_percentile=args.weight_selection_percentile, dp=dp,
                             complete=not args.no_complete)
    started = datetime.now(timezone.utc)
    table = _load(args.input, _load_options(args), args.quiet)
    bar = ProgressBar(f"synthesize ({args.mode})", args.quiet)
    result = synthesize(table, params, bar)
    bar.done()
    _write_text(out, result.synthetic.to_csv(fmt=args.format))
    print(f"Wrote {result.synthetic.n_records:,} synthetic records ({table.n_records:,} sensitive) to {out} "
          f"in {result.seconds:.1f} s")
    if result.synthetic.n_records == 0:
        print("warning: no synthetic records: every count was below k (or removed by the DP noise). Use fewer "
              "columns, bin numeric columns, a smaller k or, for dp, a larger ε or more records.", file=sys.stderr)
    if args.release:
        _write_release(args, table, result, started)
    return 0


def _write_release(args, table, result, started) -> None:
    from .evaluate import evaluate
    from .export import ReleaseRun, sha256_file, write_release

    bar = ProgressBar("evaluate", args.quiet)
    evaluation = evaluate(table, result.synthetic, args.resolution, args.length, reportable=result.reportable,
                          sensitive_aggregates=result.sensitive_aggregates, progress=bar)
    bar.done()
    run = ReleaseRun(synthetic=result.synthetic, reportable=evaluation.reportable_aggregates,
                     synthetic_aggregates=evaluation.synthetic_aggregates, evaluation=evaluation,
                     parameters=result.params.to_dict(), seed=result.params.seed,
                     input_name=Path(args.input).name, input_sha256=sha256_file(args.input),
                     timings={"started": started, "finished": datetime.now(timezone.utc),
                              "durations_seconds": {"synthesize": round(result.seconds, 3)}})
    files = write_release(args.release, run)
    print(f"Wrote the release ({len(files)} files) to {args.release}")


def cmd_evaluate(args) -> int:
    from .aggregate import parse_aggregates
    from .evaluate import check_k_anonymity, evaluate

    options = _load_options(args)
    sensitive = _load(args.input, options, args.quiet)
    # The synthetic file is already prepared: same columns and multi-value joining, no binning, no IDs.
    syn_options = LoadOptions(delimiter=options.delimiter, multi_value=options.multi_value,
                              sensitive_zeros=options.sensitive_zeros, missing_values=options.missing_values)
    synthetic = load_table(args.synthetic, options=syn_options)
    if synthetic.columns != sensitive.columns and sorted(synthetic.columns) != sorted(sensitive.columns):
        if set(sensitive.columns) <= set(synthetic.columns):
            synthetic = load_table(args.synthetic, options=LoadOptions(
                columns=sensitive.columns, delimiter=options.delimiter, sensitive_zeros=options.sensitive_zeros,
                missing_values=options.missing_values))
    reportable = None
    if args.aggregates:
        text = Path(args.aggregates).read_text(encoding="utf-8-sig")
        reportable = parse_aggregates(text, sensitive.domain, name=Path(args.aggregates).name,
                                      kind="dp" if args.dp else "k-anonymous")
    bar = ProgressBar("evaluate", args.quiet)
    ev = evaluate(sensitive, synthetic, args.resolution, args.length, reportable=reportable, progress=bar)
    bar.done()
    is_dp = args.dp or ev.reportable_kind == "dp"
    print(ev.summary_text(is_dp))
    violations = [] if is_dp else check_k_anonymity(sensitive, synthetic, args.resolution, args.length)
    if not is_dp:
        print(f"k-anonymity check (every combination of up to {args.length} values in a synthetic record "
              f"matches ≥ {args.resolution} sensitive records): "
              + ("passed" if not violations else f"FAILED for {len(violations)} combinations, e.g. {violations[0]}"))
    if args.json:
        report = ev.to_json()
        report["k_anonymity_violations"] = violations
        out = _check_output(args.json)
        _write_text(out, json.dumps(report, indent=2, sort_keys=True, allow_nan=False, default=str) + "\n")
        print(f"Wrote the report to {out}")
    return 0


def cmd_build_web(args) -> int:
    from .serve import build_web

    return int(build_web(args.args) or 0)


def cmd_serve(args) -> int:
    from .serve import serve

    directory = args.dir
    if directory is not None and not Path(directory, "index.html").is_file():
        raise ParameterError(f"{directory} is not a built bundle (no index.html); run 'localsynth build-web' first")
    serve(directory, port=args.port, open_browser=args.open)
    return 0


COMMANDS = {"aggregate": cmd_aggregate, "synthesize": cmd_synthesize, "evaluate": cmd_evaluate,
            "build-web": cmd_build_web, "serve": cmd_serve}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Cancelled:
        print("localsynth: stopped", file=sys.stderr)
        return 130
    except LocalSynthError as exc:
        newline = "\n" if sys.stderr.isatty() and not args.quiet else ""  # end a progress bar line first
        print(f"{newline}localsynth: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"localsynth: error: {exc.filename or exc}: file not found; check the path", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as exc:
        print(f"localsynth: error: {exc.filename or exc}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nlocalsynth: interrupted; nothing was written", file=sys.stderr)
        return 130
    except MemoryError:
        print("localsynth: error: out of memory; use a smaller aggregation limit L, fewer columns or "
              "--record-limit", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
