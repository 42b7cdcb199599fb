"""The ``danube-metrics`` command: a live view, JSON lines, and one-shot LoadReports."""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import io
import logging
import math
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import Optional, TextIO

from danube_metrics import __version__, cluster_cli, liveview
from danube_metrics.errors import DanubeMetricsError, InputTooLargeError
from danube_metrics.inputs import DEFAULT_MAX_BYTES, decode_utf8, read_limited
from danube_metrics.liveview import bar as bar
from danube_metrics.liveview import human_bytes as human_bytes
from danube_metrics.liveview import sparkline as sparkline
from danube_metrics.loads import U64_MAX
from danube_metrics.measure import generate_load_report
from danube_metrics.monitor import (
    DEFAULT_MIN_INTERVAL,
    MAX_INTERVAL,
    MODES,
    ResourceMonitor,
    create_resource_monitor,
)
from danube_metrics.rank_cli import STDIN, run_rank
from danube_metrics.rankings import DEFAULT_MAX_AGE, STRATEGIES
from danube_metrics.report import SCHEMAS, SEED, UPSTREAM


def read_topics(path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """One topic per line of a UTF-8 file of at most ``max_bytes``; blank lines and lines
    starting with '#' are skipped.

    :raises ValueError: naming the file, the byte and its offset, for text that is not UTF-8.
    :raises InputTooLargeError: past ``max_bytes`` (``--max-bytes`` raises it).
    """
    try:
        data = read_limited(path, max_bytes)
    except InputTooLargeError as exc:
        raise InputTooLargeError(exc.filename, exc.limit, "--max-bytes") from None
    text = decode_utf8(data, path)
    if text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark some editors write is no part of the first topic
    lines = io.StringIO(text, newline=None)  # ends of line \n, \r\n or \r, as open() reads them
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def positive_float(text: str) -> float:
    """Seconds for --interval: finite and > 0 (inf and nan are floats too, and would reach
    time.sleep or the C core)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_INTERVAL):
        raise argparse.ArgumentTypeError(
            f"must be > 0 and finite, in seconds up to {MAX_INTERVAL:g}; got {text}"
        )
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


_SIZE = re.compile(r"(\d+)\s*(?:([KMG])(?:iB)?)?", re.IGNORECASE)
_UNITS = {None: 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def byte_size(text: str) -> int:
    """Bytes for --max-bytes: 65536, 512K, 64M, 1G (KiB, MiB, GiB; "64MiB" too), at least 1."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"not a size in bytes (such as 65536, 512K, 64M): {text!r}"
        )
    value = int(match[1]) * _UNITS[match[2] and match[2].upper()]
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 byte, got {text}")
    return value


def u64(text: str) -> int:
    """A broker id: a decimal integer from 0 to 2^64-1, as upstream's u64."""
    if not re.fullmatch(r"\d+", text) or int(text) > U64_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2^64-1, got {text!r}")
    return int(text)


def _monitor_options(defaults: bool) -> argparse.ArgumentParser:
    """The monitor's options, accepted before and after a subcommand. Only the top level has
    defaults: a subcommand's own default would overwrite what was given before its name
    (argparse fills a subparser's defaults into the same namespace)."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--mode",
        choices=MODES,
        default=default(None),
        help="which monitor to use (default: $DANUBE_METRICS_MODE, else auto)",
    )
    common.add_argument(
        "--root", default=default("/"), help="path prefix for /proc and /sys (default /)"
    )
    common.add_argument(
        "--interfaces", default=default(None), help="comma-separated network interfaces to count"
    )
    common.add_argument(
        "--interval",
        type=positive_float,
        default=default(1.0),
        help="seconds between the live view's refreshes, or that report measures over "
        f"(default 1; below {DEFAULT_MIN_INTERVAL:g} s, see the note below)",
    )
    return common


COUNT_NOTE = """\
--count 0, the default, runs the live view until Ctrl-C; --count N stops after
N refreshes. report takes neither --count nor --json (it always prints JSON);
rank takes no --count and no monitor option, and its --json may go either side
of its name.
"""

INTERVAL_NOTE = f"""\
--interval below the monitor's minimum interval of {DEFAULT_MIN_INTERVAL:g} s: the live view
refreshes as often as asked, but its figures change at most every {DEFAULT_MIN_INTERVAL:g} s
(the refreshes in between repeat the last ones). A rate that cannot be taken
yet is left out, saying why (in the live view; in report, with a warning on
stderr): host CPU until the CPUs have counted 20 clock ticks (0.2 s divided by
the number of CPUs, at 100 ticks a second), and every rate over less than
10 ms. So report --interval 0.005 reports memory only, and report --interval
0.05 on two CPUs leaves out CPU.
"""


def build_parser() -> argparse.ArgumentParser:
    common = _monitor_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="danube-metrics",
        description="Live CPU, memory, disk and network load, or one LoadReport as JSON.",
        epilog=COUNT_NOTE + "\n" + INTERVAL_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_monitor_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # No default: given with a subcommand, it would be dropped, so parse_args refuses it.
    parser.add_argument(
        "--count",
        type=non_negative_int,
        help="exit after N refreshes (default 0: run until Ctrl-C)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per refresh instead of the live view",
    )
    sub = parser.add_subparsers(dest="command")
    add_report_parser(sub, common)
    add_rank_parser(sub)
    cluster_cli.add_cluster_parsers(sub)
    return parser


def _subcommand_parser(
    parser: argparse.ArgumentParser, command: Optional[str]
) -> argparse.ArgumentParser:
    """The parser of ``command`` (its usage goes with its errors), else the top level's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]  # type: ignore[no-any-return]
    return parser


def add_report_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    report = sub.add_parser(
        "report",
        parents=[common],
        help="measure over --interval and print one LoadReport as JSON",
        description="Measures this machine over --interval and prints one LoadReport as\n"
        "JSON, in the seed's schema or in the one Danube brokers publish\n"
        "(--schema upstream, which needs --broker-id).",
        epilog=INTERVAL_NOTE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--topics-file", help="file with one topic name per line (UTF-8; '#' starts a comment)"
    )
    report.add_argument("--indent", type=non_negative_int, help="pretty-print the JSON")
    report.add_argument(
        "--schema",
        choices=SCHEMAS,
        default=SEED,
        help="the JSON schema to write (default seed; upstream is what brokers publish)",
    )
    report.add_argument(
        "--broker-id",
        type=u64,
        metavar="N",
        help="the broker's u64 id: required by --schema upstream, refused by the seed schema "
        "(which has no such field)",
    )
    report.add_argument(
        "--pressure",
        action="store_true",
        help="add the pressure object (CPU, memory and I/O stalls, CPU throttling over "
        "--interval); left out, with a warning, where it cannot be read",
    )
    _max_bytes_option(report, "the topics file")


def _max_bytes_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--max-bytes",
        type=byte_size,
        default=DEFAULT_MAX_BYTES,
        metavar="SIZE",
        help=f"read at most this much of {what}, else fail (bytes, or with K, M, G; default "
        f"{DEFAULT_MAX_BYTES >> 20}M)",
    )


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line's arguments; options that would be ignored, or contradict each other,
    end the program with a usage error (exit 2) instead."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = _subcommand_parser(parser, args.command)
    if args.command is not None and args.count is not None:
        parser.error(f"--count is for the live view, not {args.command}")
    if args.command == "report":
        if args.json:
            command.error("--json is for the live view and rank; report always prints JSON")
        if args.schema == UPSTREAM and args.broker_id is None:
            command.error("--schema upstream needs --broker-id N (the broker's u64 id)")
        if args.schema == SEED and args.broker_id is not None:
            command.error("--broker-id: the seed schema has no broker id; add --schema upstream")
    if args.command == "rank":
        if bool(args.files) == bool(args.store):
            command.error("give FILEs or --store URL, one of the two")
        if args.files.count(STDIN) > 1:
            command.error("FILE - (standard input) may be given once")
    if args.command in ("rank", "cluster"):
        # The monitor's options, given before a command that measures nothing, would be
        # dropped (one given with its default value changes nothing, and cannot be told apart).
        measuring = [
            action.option_strings[0]
            for action in _monitor_options(defaults=True)._actions
            if getattr(args, action.dest) != action.default
        ]
        if measuring:
            parser.error(
                f"{', '.join(measuring)}: for the live view, report and publish, not {args.command}"
            )
    if args.count is None:
        args.count = 0
    return args


def _make_monitor(args: argparse.Namespace) -> ResourceMonitor:
    interfaces = args.interfaces.split(",") if args.interfaces else None
    return create_resource_monitor(args.root, args.mode, interfaces=interfaces)


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    topics = read_topics(args.topics_file, args.max_bytes) if args.topics_file else []
    with _make_monitor(args) as mon:
        time.sleep(args.interval)  # the rates cover this interval
        report = generate_load_report(
            len(topics), topics, mon, broker_id=args.broker_id, pressure=args.pressure
        )
    out.write(report.to_json(indent=args.indent, schema=args.schema) + "\n")
    if not report.resources_usage:
        print("danube-metrics: no resource could be measured", file=sys.stderr)
        return 1
    return 0


def run_live(args: argparse.Namespace, out: TextIO) -> int:
    return liveview.run_live(
        _make_monitor(args), out, interval=args.interval, count=args.count, as_json=args.json
    )


# --- rank: the brokers of a cluster, from their load reports ---------------------------------


RANK_NOTES = """\
Each FILE is one broker's report, in either schema; - reads one from standard
input (once). A broker is named by its report's broker_id, else by the shortest
end of its path that no other FILE shares: r.json, or a/r.json and b/r.json
when both are given.

Exit codes: 0 when every strategy shown chose a broker; 1 for an error (the
message names the file and the cause: unreadable, too large, not UTF-8, not
JSON, not a report); 2 for a usage error; 3 when no broker can be chosen (every
report is stale), with the rankings still printed and a message on stderr.
"""


def add_rank_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rank = sub.add_parser(
        "rank",
        help="rank brokers from their load reports (seed or upstream schema)",
        description="Reads one load report per broker (a JSON file in either schema) and\n"
        "prints the ranking of each strategy, least loaded first, and the broker a\n"
        "new topic would go to.",
        epilog=RANK_NOTES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rank.add_argument(
        "files", nargs="*", metavar="FILE", help="a broker's load report (JSON); - for stdin"
    )
    cluster_cli.add_store_option(rank)  # instead of FILEs: the live brokers of a store
    rank.add_argument(
        "--strategy",
        action="append",
        choices=STRATEGIES,
        help="rank by this strategy only (repeatable; default: all three)",
    )
    age = rank.add_mutually_exclusive_group()
    age.add_argument(
        "--max-age",
        type=positive_float,
        default=DEFAULT_MAX_AGE,
        help=f"seconds after which a report is stale (default {DEFAULT_MAX_AGE:g})",
    )
    age.add_argument("--any-age", action="store_true", help="never treat a report as stale")
    rank.add_argument(
        "--now", type=unix_seconds, help="Unix seconds to judge report ages against (default: now)"
    )
    # The top level's --json (given before "rank") means the same: no default here, which
    # would overwrite it.
    rank.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON document (the reports, each ranking, the choices) for scripts",
    )
    _max_bytes_option(rank, "each FILE")


def unix_seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be Unix seconds (finite, >= 0), got {text}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="danube-metrics: %(message)s")
    try:
        if args.command == "report":
            return run_report(args, sys.stdout)
        if args.command == "rank":
            if args.store:
                return cluster_cli.run_store_rank(args, sys.stdout)
            return run_rank(args, sys.stdout)
        if args.command == "publish":
            return cluster_cli.run_publish(args, sys.stdout, DEFAULT_MAX_BYTES)
        if args.command == "cluster":
            return cluster_cli.run_cluster(args, sys.stdout)
        return run_live(args, sys.stdout)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        # The live view runs until Ctrl-C: that is its end. A report or ranking cut short is a
        # failure (130, as shells report SIGINT), so `report > r.json && publish` stops.
        return 0 if args.command is None else 130
    except BrokenPipeError:
        # The reader went away (`| head -1`): end quietly, as other Unix tools do. Python would
        # report the pipe again when it flushes stdout at exit, so stdout points at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (DanubeMetricsError, OSError, ValueError) as exc:
        print(f"danube-metrics: error: {_describe(exc)}", file=sys.stderr)
        return 1


def _describe(exc: Exception) -> str:
    """An error as the user reads it: an OS error as "file: cause" (its own text puts the
    errno first and the file last, quoted)."""
    if (
        isinstance(exc, OSError)
        and not isinstance(exc, DanubeMetricsError)
        and exc.filename is not None
        and exc.strerror
    ):
        return f"{exc.filename}: cannot read: {exc.strerror}"
    return str(exc)
