"""The ``danube-metrics`` command: a live view, JSON lines, and one-shot LoadReports."""

from __future__ import annotations

__all__ = ["build_parser", "main"]

import argparse
import collections
import json
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Optional, TextIO

from danube_metrics import __version__
from danube_metrics.errors import DanubeMetricsError, ReportFormatError
from danube_metrics.measure import generate_load_report
from danube_metrics.monitor import (
    MAX_INTERVAL,
    MODES,
    Readings,
    ResourceMonitor,
    create_resource_monitor,
)
from danube_metrics.rankings import (
    DEFAULT_MAX_AGE,
    STRATEGIES,
    STRATEGY_FORMULAS,
    NoEligibleBrokerError,
    score_brokers,
    select_broker,
)
from danube_metrics.report import LoadReport, ResourceType

BAR_WIDTH = 30
HISTORY = 40
# The lowest level is a visible bar: an idle history must still show as a line.
SPARKS = "▁▂▃▄▅▆▇█"


def human_bytes(rate: float) -> str:
    """1536.0 -> '1.5 KiB/s'."""
    value = float(rate)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}/s" if unit == "B" else f"{value:.1f} {unit}/s"
        value /= 1024
    raise AssertionError("unreachable")


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return "[" + "#" * filled + "." * (width - filled) + "]"


def sparkline(values: Sequence[float], top: float) -> str:
    if top <= 0:
        return SPARKS[0] * len(values)
    top_level = len(SPARKS) - 1
    return "".join(SPARKS[max(0, min(top_level, round(v / top * top_level)))] for v in values)


class LiveView:
    """Renders readings with bars and a short history of each figure."""

    def __init__(self, monitor: ResourceMonitor) -> None:
        self.monitor = monitor
        self.history: dict[str, collections.deque[float]] = {
            k: collections.deque(maxlen=HISTORY) for k in ("cpu", "memory", "disk", "network")
        }
        self.peak = {"disk": 1.0, "network": 1.0}

    def render(self, readings: Readings) -> str:
        lines = [
            f"danube-metrics {__version__}   {time.strftime('%Y-%m-%d %H:%M:%S')}",
            f"monitor: {self.monitor.describe()}",
            f"why:     {self.monitor.selection_reason}",
            f"where:   {self.monitor.environment.describe()}",
            "",
        ]

        def row(key: str, label: str, value: Optional[float], text: str, top: float) -> None:
            if value is None:
                err = readings.errors.get(key)
                lines.append(f"{label:<8} unavailable: {err}")
                return
            self.history[key].append(value)
            lines.append(f"{label:<8} {text:>22} {bar(value / top)}")
            lines.append(f"{'':<8} {'history':>22}  {sparkline(list(self.history[key]), top)}")

        row("cpu", "CPU", readings.cpu_percent, f"{readings.cpu_percent or 0:.1f} %", 100.0)
        row(
            "memory",
            "Memory",
            readings.memory_percent,
            f"{readings.memory_percent or 0:.1f} %",
            100.0,
        )
        for key, label, stats in (
            ("disk", "Disk", readings.disk),
            ("network", "Network", readings.network),
        ):
            if stats is None:
                row(key, label, None, "", 1.0)
                continue
            total = stats.total_bytes_per_sec()
            self.peak[key] = max(self.peak[key], total)
            a, b = stats
            names = ("r", "w") if key == "disk" else ("rx", "tx")
            text = f"{names[0]} {human_bytes(a)}  {names[1]} {human_bytes(b)}"
            row(key, label, total, text, self.peak[key])
        lines.append("")
        lines.append("bars: CPU and memory against 100 %; disk and network against their peak")
        return "\n".join(lines)


def readings_json(readings: Readings) -> str:
    doc = {
        "timestamp": time.time(),
        "cpu_percent": readings.cpu_percent,
        "memory_percent": readings.memory_percent,
        "disk_read_bytes_per_sec": readings.disk.read_bytes_per_sec if readings.disk else None,
        "disk_write_bytes_per_sec": readings.disk.write_bytes_per_sec if readings.disk else None,
        "net_rx_bytes_per_sec": readings.network.rx_bytes_per_sec if readings.network else None,
        "net_tx_bytes_per_sec": readings.network.tx_bytes_per_sec if readings.network else None,
        "errors": {k: str(v) for k, v in readings.errors.items()},
    }
    return json.dumps(doc, separators=(",", ":"))


def read_topics(path: str) -> list[str]:
    """One topic per line; blank lines and lines starting with '#' are skipped."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


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
        help="seconds between refreshes / measured interval (default 1)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _monitor_options(defaults=False)
    parser = argparse.ArgumentParser(
        prog="danube-metrics",
        description="Live CPU, memory, disk and network load, or one LoadReport as JSON.",
        parents=[_monitor_options(defaults=True)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--count",
        type=non_negative_int,
        default=0,
        help="exit after N refreshes (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per refresh instead of the live view",
    )
    sub = parser.add_subparsers(dest="command")
    report = sub.add_parser(
        "report", parents=[common], help="measure over --interval and print one LoadReport as JSON"
    )
    report.add_argument("--topics-file", help="file with one topic name per line")
    report.add_argument("--indent", type=non_negative_int, help="pretty-print the JSON")
    add_rank_parser(sub)
    return parser


def _make_monitor(args: argparse.Namespace) -> ResourceMonitor:
    interfaces = args.interfaces.split(",") if args.interfaces else None
    return create_resource_monitor(args.root, args.mode, interfaces=interfaces)


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    topics = read_topics(args.topics_file) if args.topics_file else []
    with _make_monitor(args) as mon:
        time.sleep(args.interval)  # the rates cover this interval
        report = generate_load_report(len(topics), topics, mon)
    out.write(report.to_json(indent=args.indent) + "\n")
    if not report.resources_usage:
        print("danube-metrics: no resource could be measured", file=sys.stderr)
        return 1
    return 0


def run_live(args: argparse.Namespace, out: TextIO) -> int:
    interactive = out.isatty() and not args.json
    with _make_monitor(args) as mon:
        view = LiveView(mon)
        n = 0
        while args.count == 0 or n < args.count:
            time.sleep(args.interval)
            readings = mon.read_all()
            n += 1
            if args.json:
                out.write(readings_json(readings) + "\n")
            else:
                frame = view.render(readings)
                out.write(("\x1b[H\x1b[2J" + frame) if interactive else frame + "\n\n")
            out.flush()
    return 0


# --- rank: the brokers of a cluster, from their load reports ---------------------------------


def add_rank_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rank = sub.add_parser(
        "rank",
        help="rank brokers from their load reports (seed or upstream schema)",
        description="Reads one load report per broker (a JSON file in either schema) and "
        "prints the ranking of each strategy, least loaded first, and the broker a new topic "
        "would go to. A broker is named by the report's broker_id, else by its file name.",
    )
    rank.add_argument("files", nargs="+", metavar="FILE", help="a broker's load report (JSON)")
    rank.add_argument(
        "--strategy",
        action="append",
        choices=STRATEGIES,
        help="rank by this strategy only (repeatable; default: all three)",
    )
    rank.add_argument(
        "--max-age",
        type=positive_float,
        default=DEFAULT_MAX_AGE,
        help=f"seconds after which a report is stale (default {DEFAULT_MAX_AGE:g})",
    )
    rank.add_argument("--any-age", action="store_true", help="never treat a report as stale")
    rank.add_argument(
        "--now", type=unix_seconds, help="Unix seconds to judge report ages against (default: now)"
    )


def unix_seconds(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be Unix seconds (finite, >= 0), got {text}")
    return value


def read_reports(paths: Sequence[str]) -> dict[object, tuple[str, LoadReport]]:
    """Each file's report by broker id (its broker_id, else the file's name).

    :raises ReportFormatError: naming the file, for a malformed report or a broker id that
        two files share.
    :raises OSError: for a file that cannot be read.
    """
    reports: dict[object, tuple[str, LoadReport]] = {}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        try:
            report = LoadReport.from_json(data)
        except ReportFormatError as exc:
            raise ReportFormatError(f"{path}: {exc}") from None
        broker: object = (
            report.broker_id if report.broker_id is not None else os.path.basename(path)
        )
        if broker in reports:
            raise ReportFormatError(
                f"{path}: broker {broker} already read from {reports[broker][0]}"
            )
        reports[broker] = (path, report)
    return reports


def _table(rows: list[list[str]], right: Sequence[int] = ()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def render_rankings(
    reports: dict[object, tuple[str, LoadReport]],
    strategies: Sequence[str],
    max_age: Optional[float],
    now: float,
) -> str:
    """The reports read, then each strategy's ranking table and the broker it would choose."""

    def figure(report: LoadReport, resource: ResourceType) -> str:
        value = report.usage(resource)
        if value is None:
            return "-"
        if resource in (ResourceType.CPU, ResourceType.Memory):
            return f"{value:.1f}"
        return human_bytes(value)

    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    staleness = "no age limit" if max_age is None else f"stale after {max_age:g} s"
    count = f"{len(reports)} report" + ("" if len(reports) == 1 else "s")
    lines = [f"{count}, judged at {stamp}, {staleness}"]
    rows = [["broker", "schema", "age", "CPU %", "memory %", "disk", "network", "topics", "file"]]
    for broker, (path, report) in reports.items():
        rows.append(
            [
                str(broker),
                "seed" if report.topics is None else "upstream",
                f"{now - report.timestamp:.0f} s",
                figure(report, ResourceType.CPU),
                figure(report, ResourceType.Memory),
                figure(report, ResourceType.DiskIO),
                figure(report, ResourceType.NetworkIO),
                str(report.topics_len),
                path,
            ]
        )
    lines += _table(rows, right=(2, 3, 4, 5, 6, 7))
    lines.append("  (- : not in the report, so unknown)")
    by_id = {broker: report for broker, (_, report) in reports.items()}
    for strategy in strategies:
        scores = score_brokers(by_id, strategy, max_age=max_age, now=now)
        lines += ["", f"{strategy}: {STRATEGY_FORMULAS[strategy]}"]
        rows = [["rank", "broker", "score", "notes"]]
        for place, s in enumerate(scores, 1):
            rows.append(
                [
                    str(place) if s.eligible else "-",
                    str(s.broker_id),
                    f"{s.score:.2f}" if s.eligible else "not chosen",
                    "; ".join(s.notes),
                ]
            )
        lines += _table(rows, right=(0, 2))
        try:
            chosen = str(select_broker([(s.broker_id, s.score) for s in scores]))
        except NoEligibleBrokerError:
            chosen = "none (every report is stale)"
        lines.append(f"  a new topic goes to: {chosen}")
    return "\n".join(lines)


def run_rank(args: argparse.Namespace, out: TextIO) -> int:
    reports = read_reports(args.files)
    now = time.time() if args.now is None else args.now
    max_age = None if args.any_age else args.max_age
    strategies = list(dict.fromkeys(args.strategy)) if args.strategy else list(STRATEGIES)
    out.write(render_rankings(reports, strategies, max_age, now) + "\n")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="danube-metrics: %(message)s")
    try:
        if args.command == "report":
            return run_report(args, sys.stdout)
        if args.command == "rank":
            return run_rank(args, sys.stdout)
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
        print(f"danube-metrics: error: {exc}", file=sys.stderr)
        return 1
