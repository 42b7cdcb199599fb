"""``danube-metrics publish``, ``danube-metrics cluster`` and ``danube-metrics rank --store``:
the command line of :mod:`danube_metrics.cluster` (issue 15).

``publish`` runs a :class:`~danube_metrics.cluster.LoadPublisher` until stopped (Ctrl-C or
SIGTERM, which remove its registration); ``cluster`` prints every live broker, ranked, with
its report's age and saturation, at each refresh; ``rank --store`` ranks the live brokers
once, as ``rank`` ranks files.
"""

from __future__ import annotations

__all__ = [
    "add_cluster_parsers",
    "add_store_option",
    "render_cluster",
    "run_cluster",
    "run_publish",
    "run_store_rank",
]

import argparse
import json
import shutil
import signal
import sys
import threading
import time
from typing import Any, Optional, TextIO

from danube_metrics.cluster import DEFAULT_INTERVAL, ClusterView, LoadPublisher, open_store
from danube_metrics.rankings import BALANCED, SATURATED_NOTE, STRATEGIES
from danube_metrics.report import LoadReport, ResourceType

STORE_HELP = (
    "etcd://HOST:PORT[,HOST:PORT...] (the etcd cluster's client endpoints; keys under "
    "/cluster) or dir://PATH (a folder of report files)"
)

#: How long ``rank --store`` and ``cluster`` wait for the store's first answer (seconds).
SYNC_TIMEOUT = 10.0


def add_store_option(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument("--store", required=required, metavar="URL", help=STORE_HELP)


def add_cluster_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The command line's own argument types (cli imports this module, so not at the top).
    from danube_metrics.cli import positive_float, u64

    publish = sub.add_parser(
        "publish",
        help="publish this machine's load report to a store until stopped",
        description="Measures this machine and publishes its load report (upstream schema)\n"
        "to the store every INTERVAL seconds, registered under a lease of TTL seconds.\n"
        "Runs until Ctrl-C or SIGTERM, which remove the registration at once. In a\n"
        "terminal it prints one status line per publish; otherwise only errors.\n"
        "Each report carries the machine's pressure stalls and CPU throttling where the\n"
        "kernel measures them, so that rankings of the cluster see a saturated broker.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_option(publish, required=True)
    publish.add_argument("--broker-id", type=u64, required=True, help="the broker's u64 id")
    publish.add_argument("--topics-file", metavar="F", help="topic names, one a line")
    publish.add_argument(
        "--interval",
        type=positive_float,
        default=DEFAULT_INTERVAL,
        help=f"seconds between reports (default {DEFAULT_INTERVAL:g})",
    )
    publish.add_argument(
        "--ttl", type=positive_float, help="registration TTL in seconds (default: 32, as upstream)"
    )
    publish.add_argument(
        "--no-pressure",
        dest="pressure",
        action="store_false",
        help="leave the pressure stalls and throttling out of the reports",
    )
    # For tests: stop after N publishes. (Not "count": the top level's --count is the live view's.)
    publish.add_argument("--publishes", type=int, default=0, help=argparse.SUPPRESS)

    cluster = sub.add_parser(
        "cluster",
        help="watch every live broker of a store, ranked",
        description="Watches the store and prints every live broker, ranked (least loaded\n"
        "first), with its report's age and whether it is saturated (its report's pressure\n"
        "stalls or CPU throttling past the rankings' thresholds; '-' for a report without\n"
        "pressure), at each change and at least every REFRESH seconds, until Ctrl-C. In a\n"
        "terminal the table is cut to the window.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_store_option(cluster, required=True)
    cluster.add_argument("--strategy", choices=STRATEGIES, default=BALANCED)
    cluster.add_argument("--refresh", type=positive_float, default=1.0, help="seconds (default 1)")
    cluster.add_argument(
        "--refreshes",
        type=int,
        default=0,
        metavar="N",
        help="exit after N refreshes (default 0: until Ctrl-C)",
    )


def _status_line(publisher: LoadPublisher, report: LoadReport) -> str:
    """One publish, short enough for an 80-column terminal (the store and broker are said once,
    on the line before the first)."""
    figures = []
    for resource in (ResourceType.CPU, ResourceType.Memory):
        value = report.usage(resource)
        figures.append(f"{resource.value} {'-' if value is None else f'{value:.1f} %'}")
    failed = f"; {publisher.failed} failed" if publisher.failed else ""
    return (
        f"{time.strftime('%H:%M:%S')} published #{publisher.published}: {', '.join(figures)}, "
        f"{report.topics_len} topics{failed}"
    )


def run_publish(args: argparse.Namespace, out: TextIO, max_bytes: int) -> int:
    from danube_metrics.cli import _make_monitor, read_topics
    from danube_metrics.liveview import ELLIPSIS, _encodes, clip_to_width

    topics = read_topics(args.topics_file, max_bytes) if args.topics_file else []
    done = threading.Event()
    terminal = out.isatty()
    ascii_only = not _encodes(out, ELLIPSIS)

    def say(line: str) -> None:
        out.write(clip_to_width(line, shutil.get_terminal_size().columns, ascii_only) + "\n")
        out.flush()

    def said(publisher: LoadPublisher, report: LoadReport) -> None:
        if terminal:
            say(_status_line(publisher, report))
        if args.publishes and publisher.published >= args.publishes:
            done.set()

    # The monitor of --mode, --root and --interfaces (given before "publish").
    with _make_monitor(args) as monitor, open_store(args.store) as store:
        publisher = LoadPublisher(
            store,
            args.broker_id,
            monitor,
            interval=args.interval,
            ttl=args.ttl,
            topics=topics,
            on_publish=said,
            pressure=args.pressure,
            warmup=min(1.0, args.interval),  # the monitor was opened just now
        )
        if terminal:
            say(
                f"broker {args.broker_id} publishing to {args.store} every "
                f"{publisher.interval:g} s, TTL {publisher.ttl:g} s (Ctrl-C stops and "
                "withdraws it)"
            )
        previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
        try:
            publisher.start()
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a publisher ends
        finally:
            publisher.stop()
            signal.signal(signal.SIGTERM, previous)
    return 0


def _wait_synced(view: ClusterView, what: str) -> None:
    deadline = time.monotonic() + SYNC_TIMEOUT
    while not view.synced:
        if time.monotonic() > deadline:
            raise ConnectionError(
                f"{what}: no answer within {SYNC_TIMEOUT:g} s ({view.last_error})"
            )
        time.sleep(0.05)


# A view of many brokers changes many times a second: the table is drawn at most this often.
MIN_REDRAW_SECONDS = 0.1


def fit_to_terminal(text: str, columns: int, rows: int, ascii_only: bool = False) -> str:
    """The table cut to a terminal: each line to its columns, and to its rows (less one, for
    the cursor) with a last line that says how many were left out."""
    from danube_metrics.liveview import clip_to_width

    lines = text.split("\n")
    room = max(1, rows - 1)
    if len(lines) > room:
        hidden = len(lines) - (room - 1)
        lines = [*lines[: room - 1], f"  ({hidden} more lines: a taller window shows them)"]
    return "\n".join(clip_to_width(line, columns, ascii_only) for line in lines)


def render_cluster(view: ClusterView, strategy: str, now: Optional[float] = None) -> str:
    """The live brokers ranked, one line each, then what the view skipped."""
    from danube_metrics.cli import human_bytes
    from danube_metrics.rank_cli import _table

    when = time.time() if now is None else now
    reports = view.reports()
    scores = view.scores(strategy, now=when)
    rows = [
        [
            "rank",
            "broker",
            "score",
            "age",
            "saturated",
            "CPU %",
            "memory %",
            "disk",
            "network",
            "topics",
        ]
    ]
    saturated: list[str] = []
    for place, s in enumerate(scores, 1):
        report = reports[s.broker_id]
        figures = [report.usage(r) for r in ResourceType]
        if s.saturated:
            signals = [n[len(SATURATED_NOTE) :] for n in s.notes if n.startswith(SATURATED_NOTE)]
            saturated.append(f"  broker {s.broker_id} saturated: {'; '.join(signals)}")
        rows.append(
            [
                str(place) if s.eligible else "-",
                str(s.broker_id),
                f"{s.score:.2f}" if s.eligible else "stale",
                f"{when - report.timestamp:.0f} s",
                "-" if report.pressure is None else "yes" if s.saturated else "no",
                *("-" if v is None else f"{v:.1f}" for v in figures[:2]),
                *("-" if v is None else human_bytes(v) for v in figures[2:]),
                str(report.topics_len),
            ]
        )
    lines = [
        # The store last: in a narrow window it is what the cut takes.
        f"{len(reports)} live broker{'' if len(reports) == 1 else 's'}, {strategy}, at "
        f"{time.strftime('%H:%M:%S', time.localtime(when))}, in {view.store!r}"
    ]
    lines += _table(rows, right=range(len(rows[0])))
    lines += saturated
    if view.skipped:
        lines.append(
            f"  skipped: {'; '.join(f'{k}: {v}' for k, v in sorted(view.skipped.items()))}"
        )
    if view.last_error and view.errors:
        lines.append(f"  store errors: {view.errors} (last: {view.last_error})")
    return "\n".join(lines)


def run_cluster(args: argparse.Namespace, out: TextIO) -> int:
    from danube_metrics.liveview import ELLIPSIS, _encodes

    store = open_store(args.store)
    refreshed = threading.Event()
    with ClusterView(store, on_change=lambda _: refreshed.set()) as view:
        _wait_synced(view, args.store)
        terminal = out.isatty()
        ascii_only = not _encodes(out, ELLIPSIS)
        shown = 0
        try:
            while True:
                text = render_cluster(view, args.strategy)
                if terminal:
                    size = shutil.get_terminal_size()
                    text = "\x1b[H\x1b[2J" + fit_to_terminal(
                        text, size.columns, size.lines, ascii_only
                    )
                drawn = time.monotonic()
                out.write(text + "\n")
                out.flush()
                shown += 1
                if args.refreshes and shown >= args.refreshes:
                    return 0
                refreshed.wait(args.refresh)
                refreshed.clear()
                time.sleep(max(0.0, drawn + MIN_REDRAW_SECONDS - time.monotonic()))
        except KeyboardInterrupt:
            return 0
        finally:
            store.close()


def run_store_rank(args: argparse.Namespace, out: TextIO) -> int:
    """``rank --store``: the live brokers' reports ranked once, as ``rank`` ranks files."""
    from danube_metrics import rank_cli

    store = open_store(args.store)
    try:
        with ClusterView(store) as view:
            _wait_synced(view, args.store)
            reports = view.reports()
    finally:
        store.close()
    read = [
        rank_cli.ReadReport(broker, f"{args.store} broker {broker}", report)
        for broker, report in sorted(reports.items())
    ]
    now = time.time() if args.now is None else args.now
    max_age = None if args.any_age else args.max_age
    strategies = list(dict.fromkeys(args.strategy)) if args.strategy else list(STRATEGIES)
    rankings = rank_cli.rank_reports(read, strategies, max_age, now)
    if args.json:
        doc: dict[str, Any] = rank_cli.rankings_document(read, rankings, max_age, now)
        out.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    else:
        out.write(rank_cli.render_rankings(read, rankings, max_age, now) + "\n")
    if not read or any(r.chosen is None for r in rankings):
        out.flush()
        print("danube-metrics: no live broker can be chosen", file=sys.stderr)
        return rank_cli.EXIT_NO_BROKER
    return 0
