"""Rank a cluster's brokers by their load reports and pick the broker for a new topic.

::

    from danube_metrics.rankings import BrokerSelector, rank_brokers, select_broker

    ranking = rank_brokers(reports, strategy="balanced")  # {broker_id: LoadReport}
    # -> [(broker_id, score), ...], least loaded first
    broker_id = select_broker(ranking)  # the least loaded eligible broker

    selector = BrokerSelector()  # round robin among near-equal brokers, across calls
    for topic in new_topics:
        broker_id = selector.select(rank_brokers(reports))

The three strategies are those of the Danube broker's load manager (danube v0.15.1,
``danube-broker/src/danube_service/load_manager/rankings.rs``) with the same meaning; lower
scores are less loaded. Where upstream is plainly wrong this module differs, and says so:

- Scores are floats. Upstream truncates them to integers, so 0.9 and 0.1 tie.
- ``balanced`` counts disk and network I/O; upstream reads and ignores them.
- A report older than ``max_age`` seconds (by its timestamp) is stale: its broker gets the
  score ``math.inf`` and is never chosen. Upstream ranks a broker by its last report forever.
- A figure missing from a report is unknown, not zero: a broker whose monitor failed must not
  look idle and attract every new topic. See "Unknown figures" below.
- ``weighted_load`` is monotone (raising one figure never lowers a score; upstream's switch
  between bottleneck formulas can), weighs disk I/O (upstream finds a disk bottleneck and
  then scores it with the topic formula), and takes CPU and memory as the percentages they
  are (upstream divides them by the cluster's maximum, so a cluster idling at 2 % CPU has a
  "100 % CPU" bottleneck).

Figures (per broker, from its report):

- ``n``: the number of topics (``topics_len``; upstream: the length of ``topics``).
- ``T``: the weighted topic load, as upstream's ``calculate_weighted_topic_load``:
  ``0.2 n + 0.3 sum(byte_rate_mbps) + 0.3 sum(producers + consumers)
  + 0.2 sum(backlog_messages) / 10000``. A seed-schema report has no per-topic loads, so its
  ``T`` is ``0.2 n`` (its topics count as topics with no measured traffic, as upstream counts
  a topic it has no metrics for yet).
- ``C``, ``M``: CPU and memory usage, percent.
- ``D``, ``N``: disk and network bytes/s as a percentage of the busiest fresh broker's, the
  busiest counted as at least ``io_floor`` (default 1 MiB/s) so that a few KiB/s of idle
  noise do not move placement.
- ``P``: throughput, ``total_throughput_mbps`` (MB/s).

Strategies:

``fair``
    ``score = n``. Upstream's ``rankings_simple``.

``balanced`` (the default)
    ``score = 0.30 T + 0.35 C + 0.35 M + 0.10 D + 0.10 N``; upstream's ``rankings_composite``
    is ``0.30 T + 0.35 C + 0.35 M``, truncated. While no fresh report carries CPU or memory
    (a cluster starting up) the score is ``n``, as upstream falls back to the topic count.
    (Upstream decides that from ``usage > 0``; here a reported 0.0 is a reading, since this
    package never reports a failed reading as 0.)

``weighted_load``
    Each figure as a utilisation ``u``: ``C/100``, ``M/100``, ``D/100``, ``N/100``, and ``T``
    and ``P`` divided by the cluster's maximum (at least 1.0, as upstream). Then::

        score = 100 * (0.20 u_T + 0.25 u_C + 0.25 u_M + 0.10 u_D + 0.10 u_N + 0.10 u_P
                       + 0.25 * max(0, u_max - 0.7))

    where ``u_max`` is the broker's largest utilisation, its bottleneck: above 70 % the
    bottleneck's weight rises by 0.25 (upstream gives the bottleneck a weight of 0.5 above
    70 % by switching to another formula, which makes its score jump both ways). Scores are
    on upstream's scale (its utilisations times 100).

Unknown figures. A figure that no fresh report carries is left out of every score (it cannot
tell brokers apart). A figure that some carry and a report lacks counts at the top of its
scale: 100 % for CPU and memory, the busiest broker's for disk, network and throughput. So a
broker whose CPU monitor failed is ranked as if its CPU were saturated: it never looks idle,
yet it can still take topics when every broker with known figures is busier still. The
figure's note ("CPU unknown: counted as 100 %") says so.

Stale reports. A report whose timestamp is more than ``max_age`` seconds before ``now`` (or
more than ``max_age`` after it: a broker with a skewed or broken clock) is stale. Its broker
scores ``math.inf``, sorts after every other broker, and is left out of the cluster-wide
figures (maxima, "does any broker report CPU") that the fresh brokers are scored against.

Saturation. A report may carry its broker's pressure (stalls and CPU throttling, see
:class:`~danube_metrics.readings.Pressure`). The broker is saturated when one of three figures
exceeds its threshold (:class:`SaturationThresholds`, defaults: memory full pressure above
10 %, CPU throttled in more than 25 % of its periods, CPU some pressure above 50 %): its
latency already suffers, whatever its utilisation says. A figure the report lacks (no
pressure, or ``None``) is no signal, so reports without pressure rank exactly as before. A
saturated broker is never chosen while an unsaturated eligible one exists:

- its score is its strategy's score plus ``SATURATION_PENALTY`` (100; in ``balanced`` the
  resource terms weigh 90 at full scale, in ``weighted_load`` 100 is one whole utilisation),
  plus twice the highest unsaturated fresh score, so it sorts after every unsaturated broker
  and no round-robin window of ``tolerance`` up to 1 (100 %) can reach it from below;
- the score is a :class:`SaturatedScore`, a float that says so, and :func:`select_broker`
  leaves such scores out while any other is eligible, so no tolerance at all can reach it;
- its notes name each signal ("saturated: CPU throttled 62 % of periods (> 25 %)").

When every eligible broker is saturated, the choice is among them by their scores, and their
notes say so.

Ties. :func:`select_broker` keeps upstream's tie-break (``get_next_broker`` in
load_manager.rs): it goes round robin among the brokers whose score is within ``tolerance``
(10 %) of the minimum, so that a burst of new topics does not all land on one broker before
the next reports arrive.
"""

from __future__ import annotations

__all__ = [
    "BALANCED",
    "DEFAULT_IO_FLOOR",
    "DEFAULT_MAX_AGE",
    "DEFAULT_SATURATION",
    "DEFAULT_TOLERANCE",
    "FAIR",
    "SATURATED_NOTE",
    "SATURATION_PENALTY",
    "STRATEGIES",
    "STRATEGY_FORMULAS",
    "WEIGHTED_LOAD",
    "BrokerScore",
    "BrokerSelector",
    "NoEligibleBrokerError",
    "SaturatedScore",
    "SaturationThresholds",
    "rank_brokers",
    "score_brokers",
    "select_broker",
    "weighted_topic_load",
]

import math
import sys
import threading
import time
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, Generic, Optional, TypeVar, cast

from danube_metrics.errors import DanubeMetricsError
from danube_metrics.loads import pressure_figure
from danube_metrics.readings import Pressure
from danube_metrics.report import LoadReport, ResourceType

K = TypeVar("K", bound=Hashable)

FAIR = "fair"
BALANCED = "balanced"
WEIGHTED_LOAD = "weighted_load"
#: The strategies, named as upstream's ``AssignmentStrategy`` (serde snake_case).
STRATEGIES = (FAIR, BALANCED, WEIGHTED_LOAD)
#: One line on each strategy's formula, for tables.
STRATEGY_FORMULAS = {
    FAIR: "topic count",
    BALANCED: "0.30 topic load + 0.35 CPU % + 0.35 memory % + 0.10 disk + 0.10 network",
    WEIGHTED_LOAD: "100 x (weighted utilisations + 0.25 x the bottleneck above 70 %)",
}
#: Seconds after which a report is stale: three of upstream's default 30 s report intervals.
DEFAULT_MAX_AGE = 90.0
#: The least busiest-broker disk or network rate (bytes/s) that figures are taken against.
DEFAULT_IO_FLOOR = 1024.0 * 1024.0
#: select_broker's round-robin window: scores within 10 % of the minimum (as upstream).
DEFAULT_TOLERANCE = 0.10
#: How a note that names a saturation signal begins (what follows is the signal).
SATURATED_NOTE = "saturated: "
#: What saturation adds to a broker's score (besides twice the highest unsaturated score).
SATURATION_PENALTY = 100.0

# Weights; see the module docstring.
_BALANCED_WEIGHTS = {
    "topics": 0.30,
    ResourceType.CPU: 0.35,
    ResourceType.Memory: 0.35,
    ResourceType.DiskIO: 0.10,
    ResourceType.NetworkIO: 0.10,
}
_WEIGHTED_WEIGHTS = {
    "topics": 0.20,
    ResourceType.CPU: 0.25,
    ResourceType.Memory: 0.25,
    ResourceType.DiskIO: 0.10,
    ResourceType.NetworkIO: 0.10,
    "throughput": 0.10,
}
_BOTTLENECK_THRESHOLD = 0.7
_BOTTLENECK_WEIGHT = 0.25

_RATES = (ResourceType.DiskIO, ResourceType.NetworkIO)
_NAMES = {
    ResourceType.CPU: "CPU",
    ResourceType.Memory: "memory",
    ResourceType.DiskIO: "disk I/O",
    ResourceType.NetworkIO: "network I/O",
}


class NoEligibleBrokerError(DanubeMetricsError, LookupError):
    """No broker can be chosen: the ranking is empty, or every broker is stale or excluded."""


@dataclass(frozen=True)
class SaturationThresholds:
    """When a broker is saturated: any of its report's pressure figures above its threshold
    (percent, 0-100; None: that signal is not used). The defaults, and why (README,
    "Rankings"):

    :ivar memory_full_percent: 10: every task stalled on memory a tenth of the time is
        thrashing, far earlier than systemd-oomd acts (it kills at 60 % memory pressure by
        default); a broker must shed load well before a killer does.
    :ivar cpu_throttled_percent: 25: kubernetes-mixin's CPUThrottlingHigh alert fires at 25 %
        of CFS periods throttled.
    :ivar cpu_some_percent: 50: runnable work waited for a CPU most of the time.
    :raises TypeError, ValueError: for a threshold that is not None or a number from 0 to 100.
    """

    memory_full_percent: Optional[float] = 10.0
    cpu_throttled_percent: Optional[float] = 25.0
    cpu_some_percent: Optional[float] = 50.0

    def __post_init__(self) -> None:
        for name in _SIGNALS:
            try:
                pressure_figure(name, getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"SaturationThresholds.{name} {exc}") from None

    def exceeded(self, pressure: Optional[Pressure]) -> list[str]:
        """A note for each signal of ``pressure`` above its threshold (none: not saturated)."""
        if pressure is None:
            return []
        notes = []
        for name, what in _SIGNALS.items():
            threshold = getattr(self, name)
            value = getattr(pressure, name)
            if threshold is not None and value is not None and value > threshold:
                notes.append(f"{SATURATED_NOTE}{what.format(f'{value:.3g}')} (> {threshold:g} %)")
        return notes


# The saturation signals, as the notes name them.
_SIGNALS = {
    "memory_full_percent": "memory full pressure {} %",
    "cpu_throttled_percent": "CPU throttled {} % of periods",
    "cpu_some_percent": "CPU some pressure {} %",
}
#: The thresholds score_brokers and rank_brokers use unless given others.
DEFAULT_SATURATION = SaturationThresholds()


class SaturatedScore(float):
    """The score of a saturated broker: a float (placed above every unsaturated score) whose
    type tells :func:`select_broker` to leave it out while an unsaturated broker is eligible."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SaturatedScore({float(self)!r})"


@dataclass(frozen=True)
class BrokerScore(Generic[K]):
    """One broker's place in a ranking.

    :ivar score: lower is less loaded; ``math.inf`` for a broker that must not be chosen.
    :ivar notes: why the score is what it is where that is not plain: a stale report, an
        unknown figure and how it was counted, the topic-count fallback, saturation.
    :ivar saturated: the report's pressure passed a threshold (``score`` is then a
        :class:`SaturatedScore`).
    """

    broker_id: K
    score: float
    notes: tuple[str, ...] = ()
    saturated: bool = False

    @property
    def eligible(self) -> bool:
        """Whether the broker may be chosen (its report is fresh)."""
        return math.isfinite(self.score)


def weighted_topic_load(report: LoadReport) -> float:
    """Upstream's weighted topic load ``T`` of a report (see the module docstring)."""
    count = 0.2 * report.topics_len
    if not report.topics:
        return count
    try:
        throughput = math.fsum(t.byte_rate_mbps for t in report.topics)
    except OverflowError:
        raise ValueError(
            "the topics' byte_rate_mbps add up past the largest float: no topic load can be "
            "weighed from them"
        ) from None
    connections = sum(t.producer_count + t.consumer_count for t in report.topics)
    backlog = sum(t.backlog_messages for t in report.topics)
    return count + 0.3 * throughput + 0.3 * connections + 0.2 * backlog / 10_000.0


# A fresh broker's CPU, memory, disk and network usage, in ResourceType order (None: unknown).
_Usages = list[Optional[float]]
_SLOTS = {resource: slot for slot, resource in enumerate(ResourceType)}
# A scored broker, as score_brokers and rank_brokers give it: id, score, notes, saturated.
_Row = tuple[K, float, tuple[str, ...], bool]


class _Cluster:
    """The fresh brokers' figures as columns (entry i of each is broker i's), what the
    cluster-wide figures make of them, and the notes on the unknown ones."""

    def __init__(self, reports: list[LoadReport], usages: list[_Usages], io_floor: float) -> None:
        self.reports = reports
        self.io_floor = io_floor
        self.usages = list(zip(*usages)) if usages else [(), (), (), ()]
        self.reported = {
            res: column.count(None) < len(column) for res, column in zip(ResourceType, self.usages)
        }
        # By entry, in the order the figures are taken.
        self.notes: dict[int, list[str]] = {}

    def note_every(self, note: str) -> None:
        for entry in range(len(self.reports)):
            self.notes.setdefault(entry, []).append(note)

    def _note_unknown(self, column: Iterable[object], note: str) -> None:
        for entry, value in enumerate(column):
            if value is None:
                self.notes.setdefault(entry, []).append(note)

    def notes_column(self) -> list[tuple[str, ...]]:
        """Every broker's notes (most have none)."""
        if not self.notes:
            return [()] * len(self.reports)
        return [tuple(self.notes.get(entry, ())) for entry in range(len(self.reports))]

    def percents(self) -> list[list[float]]:
        """Per resource, every broker's CPU or memory %, or disk or network as % of the busiest
        broker's (at least ``io_floor``); unknown: 100, or 0 when nobody reports it."""
        out = []
        for resource, column in zip(ResourceType, self.usages):
            if not self.reported[resource]:
                out.append([0.0] * len(column))  # left out of every score
                continue
            unknown = None in column
            if resource not in _RATES:
                out.append([100.0 if u is None else u for u in column] if unknown else [*column])
            elif unknown:
                scale = max([self.io_floor, *(u for u in column if u is not None)])
                out.append([100.0 if u is None else 100.0 * u / scale for u in column])
            else:
                scale = max([self.io_floor, *column])
                out.append([100.0 * u / scale for u in column])
            if unknown:
                top = "100 %" if resource not in _RATES else "the busiest broker's"
                self._note_unknown(column, f"{_NAMES[resource]} unknown: counted as {top}")
        return out

    def topic_loads(self) -> list[float]:
        return [weighted_topic_load(r) for r in self.reports]

    def throughputs(self) -> list[float]:
        """Every broker's throughput as a fraction of the busiest broker's; unknown: 1.0."""
        column = [r.throughput_mbps() for r in self.reports]
        known = [p for p in column if p is not None]
        if not known:
            return [0.0] * len(column)
        if len(known) < len(column):
            self._note_unknown(
                column, "throughput unknown (no per-topic loads): counted as the busiest broker's"
            )
        scale = max([1.0, *known])
        return [1.0 if p is None else p / scale for p in column]


def _fair(cluster: _Cluster) -> list[float]:
    return [float(r.topics_len) for r in cluster.reports]


def _balanced(cluster: _Cluster) -> list[float]:
    if not (cluster.reported[ResourceType.CPU] or cluster.reported[ResourceType.Memory]):
        cluster.note_every("topic count: no fresh report carries CPU or memory")
        return _fair(cluster)
    w_topics = _BALANCED_WEIGHTS["topics"]
    w_cpu, w_mem, w_disk, w_net = (_BALANCED_WEIGHTS[res] for res in ResourceType)
    cpu, mem, disk, net = cluster.percents()
    return [
        w_topics * t + w_cpu * c + w_mem * m + w_disk * d + w_net * n
        for t, c, m, d, n in zip(cluster.topic_loads(), cpu, mem, disk, net)
    ]


def _weighted_load(cluster: _Cluster) -> list[float]:
    w_cpu, w_mem, w_disk, w_net = (_WEIGHTED_WEIGHTS[res] for res in ResourceType)
    w_topics, w_throughput = _WEIGHTED_WEIGHTS["topics"], _WEIGHTED_WEIGHTS["throughput"]
    cpu, mem, disk, net = cluster.percents()
    topic_loads = cluster.topic_loads()
    topic_scale = max([1.0, *topic_loads])
    scores = []
    for c, m, d, n, t, p in zip(cpu, mem, disk, net, topic_loads, cluster.throughputs()):
        u = (c / 100.0, m / 100.0, d / 100.0, n / 100.0, t / topic_scale, p)
        # sum() of the terms in this order: on Python 3.12+ sum() rounds otherwise than +.
        terms = (
            w_cpu * u[0],
            w_mem * u[1],
            w_disk * u[2],
            w_net * u[3],
            w_topics * u[4],
            w_throughput * u[5],
        )
        base = sum(terms)
        # A continuous, monotone bonus for the bottleneck: upstream switches formulas instead.
        above = max(u) - _BOTTLENECK_THRESHOLD
        scores.append(100.0 * (base + _BOTTLENECK_WEIGHT * (above if above > 0.0 else 0.0)))
    return scores


_SCORERS = {FAIR: _fair, BALANCED: _balanced, WEIGHTED_LOAD: _weighted_load}


def _order_key(broker_id: Hashable) -> tuple[int, Any]:
    """A total order on broker ids, whatever their types: ints, then strings, then others."""
    if isinstance(broker_id, int) and not isinstance(broker_id, bool):
        return (0, broker_id)
    if isinstance(broker_id, str):
        return (1, broker_id)
    return (2, f"{type(broker_id).__name__}:{broker_id!r}")


_BROKER_ID = itemgetter(0)
_SCORE = itemgetter(1)
_ID_AND_SCORE = itemgetter(0, 1)


def _sort_by_broker_id(rows: list[_Row[K]]) -> None:
    """Sorts rows in broker-id order, stably (rows with equal order keys keep theirs)."""
    if set(map(type, map(_BROKER_ID, rows))) <= {int}:
        rows.sort(key=_BROKER_ID)  # plain ints, the usual ids, compare as their order keys do
    else:
        rows.sort(key=lambda row: _order_key(row[0]))


def _stale_note(age: float, max_age: float) -> str:
    if age > max_age:
        return f"stale: report is {age:.0f} s old (max {max_age:g} s)"
    return f"stale: report is dated {-age:.0f} s in the future (max {max_age:g} s)"


def _scored(
    reports: Mapping[K, LoadReport],
    strategy: str,
    max_age: Optional[float],
    now: Optional[float],
    io_floor: float,
    saturation: SaturationThresholds,
) -> list[_Row[K]]:
    """score_brokers' rows, in its order: one pass reads each report's figures, then the
    strategy's formula scores the fresh brokers."""
    scorer = _SCORERS.get(strategy)
    if scorer is None:
        raise ValueError(f"unknown strategy {strategy!r} (expected one of {', '.join(STRATEGIES)})")
    if max_age is not None and not max_age > 0:
        raise ValueError(f"max_age must be > 0 seconds or None, got {max_age}")
    if not (io_floor > 0 and math.isfinite(io_floor)):
        raise ValueError(f"io_floor must be > 0 bytes/s, got {io_floor}")
    if not isinstance(saturation, SaturationThresholds):
        raise TypeError(f"saturation must be a SaturationThresholds, not {type(saturation)}")
    when = time.time() if now is None else float(now)
    fresh_ids: list[K] = []
    fresh: list[LoadReport] = []
    usages: list[_Usages] = []
    stale: list[_Row[K]] = []
    for broker_id, report in reports.items():
        if not isinstance(report, LoadReport):
            raise TypeError(f"broker {broker_id!r}: expected a LoadReport, not {type(report)}")
        figures: _Usages = [None, None, None, None]
        for load in report.resources_usage:
            usage = load.usage
            if not 0.0 <= usage < math.inf:  # also false for NaN
                raise ValueError(
                    f"broker {broker_id!r}: {load.resource.value} usage must be finite and "
                    f">= 0, got {usage}"
                )
            slot = _SLOTS[load.resource]
            if figures[slot] is None:  # a resource given twice counts by its first, as usage()
                figures[slot] = usage
        if max_age is not None:
            age = when - report.timestamp
            if age > max_age or -age > max_age:
                stale.append((broker_id, math.inf, (_stale_note(age, max_age),), False))
                continue
        fresh_ids.append(broker_id)
        fresh.append(report)
        usages.append(figures)
    # Cluster-wide figures come from fresh reports only: a dead broker's last report must not
    # set the scale the live ones are measured against.
    cluster = _Cluster(fresh, usages, io_floor)
    scores = scorer(cluster)
    notes = cluster.notes_column()
    rows: list[_Row[K]] = list(zip(fresh_ids, scores, notes, repeat(False)))
    signals = {}  # by entry: the saturated brokers'
    for entry, report in enumerate(fresh):
        if report.pressure is not None:
            exceeded = saturation.exceeded(report.pressure)
            if exceeded:
                signals[entry] = exceeded
    if signals:
        rows = [row for entry, row in enumerate(rows) if entry not in signals]
        saturated = [(fresh_ids[e], scores[e], [*notes[e], *more]) for e, more in signals.items()]
        rows += _saturated_rows(saturated, rows)
    # By score, then broker id: sorted by id first, the stable sort by score keeps that order
    # among equal scores.
    _sort_by_broker_id(rows)
    rows.sort(key=_SCORE)
    _sort_by_broker_id(stale)
    return rows + stale


def _saturated_rows(
    saturated: list[tuple[K, float, list[str]]], unsaturated: list[_Row[K]]
) -> list[_Row[K]]:
    """The saturated brokers' rows: each score its own plus the penalty plus twice the highest
    unsaturated eligible score, so that they sort after those, beyond any window of a
    tolerance up to 100 % (the type says the rest to select_broker)."""
    top = max((row[1] for row in unsaturated if math.isfinite(row[1])), default=None)
    every = ["every eligible broker is saturated: the least loaded of them is chosen"]
    out: list[_Row[K]] = []
    for broker_id, score, notes in saturated:
        lifted = score + SATURATION_PENALTY + (0.0 if top is None else 2.0 * top)
        if not math.isfinite(lifted) and math.isfinite(score):
            lifted = sys.float_info.max  # still above every finite score: eligible
        extra = every if top is None else []
        out.append((broker_id, SaturatedScore(lifted), tuple(notes + extra), True))
    return out


def score_brokers(
    reports: Mapping[K, LoadReport],
    strategy: str = BALANCED,
    *,
    max_age: Optional[float] = DEFAULT_MAX_AGE,
    now: Optional[float] = None,
    io_floor: float = DEFAULT_IO_FLOOR,
    saturation: SaturationThresholds = DEFAULT_SATURATION,
) -> list[BrokerScore[K]]:
    """Scores every broker, least loaded first, with notes on stale reports and unknowns.

    :param reports: each broker's latest report, by broker id (ints or strings; the mapping's
        key is the broker's identity, whatever the report's own ``broker_id`` says).
    :param strategy: "fair", "balanced" or "weighted_load" (formulas in the module docstring).
    :param max_age: seconds after which a report is stale (score ``math.inf``); None: never.
    :param now: Unix seconds to judge ages against; ``time.time()`` by default.
    :param io_floor: bytes/s; the least busiest-broker disk or network rate that the others
        are taken as a percentage of.
    :param saturation: when a report's pressure makes its broker saturated (see "Saturation"
        in the module docstring).
    :returns: eligible brokers by (score, broker id), saturated ones after the others, then
        stale ones by broker id. The order does not depend on the mapping's order.
    :raises ValueError: for an unknown strategy, a ``max_age`` or ``io_floor`` that is not
        > 0, or a report with a usage that is negative or not finite.
    :raises TypeError: if a value is not a LoadReport.
    """
    rows = _scored(reports, strategy, max_age, now, io_floor, saturation)
    return [BrokerScore(*row) for row in rows]


def rank_brokers(
    reports: Mapping[K, LoadReport],
    strategy: str = BALANCED,
    *,
    max_age: Optional[float] = DEFAULT_MAX_AGE,
    now: Optional[float] = None,
    io_floor: float = DEFAULT_IO_FLOOR,
    saturation: SaturationThresholds = DEFAULT_SATURATION,
) -> list[tuple[K, float]]:
    """Ranks brokers by load: ``[(broker_id, score), ...]``, least loaded first.

    A stale broker scores ``math.inf`` and comes last; a saturated one scores a
    :class:`SaturatedScore`, above every unsaturated broker, which :func:`select_broker`
    and :class:`BrokerSelector` recognise. Parameters, order and errors as
    :func:`score_brokers`, which also says why (stale, unknown figures, saturation).
    """
    rows = _scored(reports, strategy, max_age, now, io_floor, saturation)
    return list(map(_ID_AND_SCORE, rows))


def select_broker(
    ranking: Iterable[tuple[K, float]],
    *,
    last: Optional[K] = None,
    exclude: Collection[K] = (),
    tolerance: float = DEFAULT_TOLERANCE,
) -> K:
    """Picks the broker for a new topic from a ranking.

    The candidates are the eligible brokers (finite score, not in ``exclude``) whose score is
    at most ``min + tolerance * min`` (at least ``min`` plus rounding noise): upstream's
    window, which for its integer scores was exact ties under 10 and 10 % above. Without
    ``last`` the least loaded candidate is returned (the smallest broker id among equals);
    with ``last``, the candidate after ``last`` in broker-id order, wrapping round, so that
    successive picks go round robin among near-equal brokers. (Upstream steps through its
    ranking's order, which reshuffles as scores move; broker-id order does not.)

    Saturated brokers (a :class:`SaturatedScore`, as :func:`rank_brokers` gives them) are
    candidates only when no other broker is eligible; then the window is taken among them.

    :param last: the broker picked last time; :class:`BrokerSelector` keeps it for you.
    :param exclude: brokers that must not be picked (upstream excludes the broker a topic is
        being unloaded from).
    :param tolerance: the window, a fraction of the minimum score (>= 0).
    :raises NoEligibleBrokerError: if no broker is eligible.
    :raises ValueError: for a negative or non-finite tolerance.
    """
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be finite and >= 0, got {tolerance}")
    eligible = [(b, s) for b, s in ranking if math.isfinite(s) and b not in exclude]
    if not eligible:
        raise NoEligibleBrokerError(
            "no eligible broker: every broker is stale or excluded, or the ranking is empty"
        )
    unsaturated = [(b, s) for b, s in eligible if not isinstance(s, SaturatedScore)]
    if unsaturated:
        eligible = unsaturated
    least_id, least = min(eligible, key=lambda e: (e[1], _order_key(e[0])))
    if last is None:
        return least_id
    # Rounding noise must not split brokers whose figures are equal.
    window = least + max(tolerance * abs(least), 1e-9 * max(1.0, abs(least)))
    candidates = sorted({b for b, s in eligible if s <= window}, key=_order_key)
    after = [b for b in candidates if _order_key(b) > _order_key(last)]
    return after[0] if after else candidates[0]


class BrokerSelector:
    """Round-robin state for :func:`select_broker`: remembers the last pick. Thread-safe.

    One selector per placement decision stream (upstream keeps one per load manager).
    """

    def __init__(self, tolerance: float = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._last: Optional[Hashable] = None
        self._lock = threading.Lock()

    @property
    def last(self) -> Optional[Hashable]:
        """The broker picked last, or None before the first pick (or after :meth:`reset`)."""
        with self._lock:
            return self._last

    def reset(self) -> None:
        """Forgets the last pick: the next is the least loaded broker."""
        with self._lock:
            self._last = None

    def select(self, ranking: Iterable[tuple[K, float]], *, exclude: Collection[K] = ()) -> K:
        """:func:`select_broker` with the last pick as ``last``; remembers this pick.

        :raises NoEligibleBrokerError: if no broker is eligible (the last pick is kept).
        """
        with self._lock:
            # The previous pick came from a ranking of the caller's ids, so it is a K.
            last = cast(Optional[K], self._last)
            chosen = select_broker(ranking, last=last, exclude=exclude, tolerance=self.tolerance)
            self._last = chosen
            return chosen
