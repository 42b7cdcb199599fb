"""``danube-metrics rank``: the brokers of a cluster ranked from their load reports.

The parser's options are in :mod:`danube_metrics.cli`; this module reads the reports and
prints the rankings.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Optional, TextIO

from danube_metrics.errors import ReportFormatError
from danube_metrics.rankings import (
    STRATEGIES,
    STRATEGY_FORMULAS,
    NoEligibleBrokerError,
    score_brokers,
    select_broker,
)
from danube_metrics.report import LoadReport, ResourceType


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
