"""``danube-metrics rank``: the brokers of a cluster ranked from their load reports.

The parser's options are in :mod:`danube_metrics.cli`; this module reads the reports, ranks
them once per strategy, and prints the result as tables or as one JSON document.
"""

from __future__ import annotations

__all__ = [
    "EXIT_NO_BROKER",
    "STDIN",
    "STDIN_LABEL",
    "ReadReport",
    "StrategyRanking",
    "broker_names",
    "rank_reports",
    "rankings_document",
    "read_reports",
    "render_rankings",
    "run_rank",
]

import argparse
import collections
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, BinaryIO, Optional, TextIO

from danube_metrics.errors import InputTooLargeError, ReportFormatError
from danube_metrics.inputs import read_report_file
from danube_metrics.rankings import (
    STRATEGIES,
    STRATEGY_FORMULAS,
    BrokerScore,
    NoEligibleBrokerError,
    score_brokers,
    select_broker,
)
from danube_metrics.report import SEED, UPSTREAM, LoadReport, ResourceType

#: The FILE that stands for standard input, and what the output calls it.
STDIN = "-"
STDIN_LABEL = "<stdin>"

#: The exit code when some strategy can choose no broker (every report is stale): distinct
#: from 1 (an error) and 2 (a usage error), so that a script can tell "nowhere to put a topic".
EXIT_NO_BROKER = 3


@dataclass(frozen=True)
class ReadReport:
    """One report as the command read it: the broker it names, where it came from."""

    broker: object  # the report's broker_id (an int), else a name made from its file
    file: str
    report: LoadReport

    @property
    def schema(self) -> str:
        return SEED if self.report.topics is None else UPSTREAM


@dataclass(frozen=True)
class StrategyRanking:
    strategy: str
    scores: list[BrokerScore[object]]
    chosen: Optional[object]  # None: no broker is eligible


def broker_names(paths: Sequence[str]) -> list[str]:
    """The names of reports without a broker_id: each path's shortest trailing part that no
    other path ends with ("r.json", or "a/r.json" and "b/r.json" when both are given), else
    the whole path (then the same path twice, which :func:`read_reports` refuses)."""
    parts = [PurePath(p).parts for p in paths]
    depth = max((len(p) for p in parts), default=0)
    tails = [collections.Counter(p[-k:] for p in parts) for k in range(1, depth + 1)]
    names = []
    for own in parts:
        unique = (k for k in range(1, len(own) + 1) if tails[k - 1][own[-k:]] == 1)
        names.append(str(PurePath(*own[-next(unique, len(own)) :])))
    return names


def read_reports(
    paths: Sequence[str], max_bytes: int, stdin: Optional[BinaryIO] = None
) -> list[ReadReport]:
    """Each FILE's report ("-": standard input), named by its broker_id, else by
    :func:`broker_names`.

    :raises ReportFormatError: naming the file, for a report that is not UTF-8, not JSON or
        malformed, or a broker that two files name.
    :raises InputTooLargeError: for a file past ``max_bytes`` (none of the rest is read).
    :raises OSError: for a file that cannot be read.
    """
    loaded: list[tuple[str, LoadReport]] = []
    for path in paths:
        try:
            if path == STDIN:
                source = stdin if stdin is not None else sys.stdin.buffer
                report = read_report_file(source, max_bytes=max_bytes)
                loaded.append((STDIN_LABEL, report))
            else:
                loaded.append((path, read_report_file(path, max_bytes=max_bytes)))
        except InputTooLargeError as exc:
            raise InputTooLargeError(exc.filename, exc.limit, "--max-bytes") from None
    nameless = [file for file, report in loaded if report.broker_id is None]
    names = iter(broker_names(nameless))
    read: list[ReadReport] = []
    by_broker: dict[object, str] = {}
    for file, report in loaded:
        broker: object = report.broker_id if report.broker_id is not None else next(names)
        if broker in by_broker:
            raise ReportFormatError(
                f"{file}: broker {broker} already read from {by_broker[broker]}"
            )
        by_broker[broker] = file
        read.append(ReadReport(broker, file, report))
    return read


def rank_reports(
    reports: Sequence[ReadReport], strategies: Sequence[str], max_age: Optional[float], now: float
) -> list[StrategyRanking]:
    """Each strategy's scores and the broker it chooses: what both outputs show."""
    by_broker = {r.broker: r.report for r in reports}
    rankings = []
    for strategy in strategies:
        scores = score_brokers(by_broker, strategy, max_age=max_age, now=now)
        try:
            chosen: Optional[object] = select_broker([(s.broker_id, s.score) for s in scores])
        except NoEligibleBrokerError:
            chosen = None
        rankings.append(StrategyRanking(strategy, scores, chosen))
    return rankings


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
    reports: Sequence[ReadReport],
    rankings: Sequence[StrategyRanking],
    max_age: Optional[float],
    now: float,
) -> str:
    """The reports read, then each strategy's ranking table and the broker it would choose."""
    # Imported here: the live view's formatting lives with the command line, which imports
    # this module.
    from danube_metrics.cli import human_bytes

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
    for r in reports:
        rows.append(
            [
                str(r.broker),
                r.schema,
                f"{now - r.report.timestamp:.0f} s",
                *(figure(r.report, resource) for resource in ResourceType),
                str(r.report.topics_len),
                r.file,
            ]
        )
    lines += _table(rows, right=(2, 3, 4, 5, 6, 7))
    lines.append("  (- : not in the report, so unknown)")
    # Saturation needs pressure: without any, the tables are as they were before it.
    with_pressure = any(r.report.pressure is not None for r in reports)
    for ranking in rankings:
        lines += ["", f"{ranking.strategy}: {STRATEGY_FORMULAS[ranking.strategy]}"]
        rows = [["rank", "broker", "score", *(["saturated"] if with_pressure else []), "notes"]]
        for place, s in enumerate(ranking.scores, 1):
            saturated = ["yes" if s.saturated else "no"] if with_pressure else []
            rows.append(
                [
                    str(place) if s.eligible else "-",
                    str(s.broker_id),
                    f"{s.score:.2f}" if s.eligible else "not chosen",
                    *saturated,
                    "; ".join(s.notes),
                ]
            )
        lines += _table(rows, right=(0, 2))
        chosen = "none (every report is stale)" if ranking.chosen is None else ranking.chosen
        lines.append(f"  a new topic goes to: {chosen}")
    return "\n".join(lines)


def rankings_document(
    reports: Sequence[ReadReport],
    rankings: Sequence[StrategyRanking],
    max_age: Optional[float],
    now: float,
) -> dict[str, Any]:
    """What ``rank --json`` prints (its shape is in the README, "Rankings")."""
    return {
        "judged_at": now,
        "max_age": max_age,
        "reports": [
            {
                "broker": r.broker,
                "file": r.file,
                "schema": r.schema,
                "timestamp": r.report.timestamp,
                "age": now - r.report.timestamp,
                "topics": r.report.topics_len,
                "figures": {res.value: r.report.usage(res) for res in ResourceType},
            }
            for r in reports
        ],
        "strategies": {
            ranking.strategy: {
                "formula": STRATEGY_FORMULAS[ranking.strategy],
                "ranking": [
                    {
                        "rank": place if s.eligible else None,
                        "broker": s.broker_id,
                        "score": s.score if s.eligible else None,
                        "eligible": s.eligible,
                        "saturated": s.saturated,
                        "notes": list(s.notes),
                    }
                    for place, s in enumerate(ranking.scores, 1)
                ],
                "chosen": ranking.chosen,
            }
            for ranking in rankings
        },
    }


def run_rank(args: argparse.Namespace, out: TextIO) -> int:
    reports = read_reports(args.files, args.max_bytes)
    now = time.time() if args.now is None else args.now
    max_age = None if args.any_age else args.max_age
    strategies = list(dict.fromkeys(args.strategy)) if args.strategy else list(STRATEGIES)
    rankings = rank_reports(reports, strategies, max_age, now)
    if args.json:
        doc = rankings_document(reports, rankings, max_age, now)
        out.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    else:
        out.write(render_rankings(reports, rankings, max_age, now) + "\n")
    unplaced = [r.strategy for r in rankings if r.chosen is None]
    if unplaced:
        out.flush()  # the output first, then the message, when both go to one terminal
        limit = "" if max_age is None else f" (older than {max_age:g} s, or dated that far ahead)"
        print(
            f"danube-metrics: no broker can be chosen ({', '.join(unplaced)}): every report is "
            f"stale{limit}",
            file=sys.stderr,
        )
        return EXIT_NO_BROKER
    return 0
