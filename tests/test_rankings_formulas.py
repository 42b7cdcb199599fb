"""score_brokers and rank_brokers against the module docstring's formulas written out broker by
broker (the plain way, each figure taken with LoadReport.usage): the same scores to the bit,
the same notes, the same order and the same errors, whatever the reports, ids and parameters.
The rankings compute each report's figures once and score the cluster by columns; this is the
model they must agree with exactly."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any, Optional

from hypothesis import given, settings
from hypothesis import strategies as st

from danube_metrics.rankings import (
    STRATEGIES,
    SaturatedScore,
    SaturationThresholds,
    rank_brokers,
    score_brokers,
)
from danube_metrics.readings import Pressure
from danube_metrics.report import LoadReport, ResourceType, SystemLoad, TopicLoad

NOW = 1_700_000_000
R = ResourceType
RATES = (R.DiskIO, R.NetworkIO)
NAMES = {R.CPU: "CPU", R.Memory: "memory", R.DiskIO: "disk I/O", R.NetworkIO: "network I/O"}
Row = tuple[Hashable, float, tuple[str, ...], bool]


def order_key(broker_id: Hashable) -> tuple[int, Any]:
    if type(broker_id) is int:
        return (0, broker_id)
    if isinstance(broker_id, str):
        return (1, broker_id)
    return (2, f"{type(broker_id).__name__}:{broker_id!r}")


def topic_load(r: LoadReport) -> float:
    """T: 0.2 n + 0.3 sum(MB/s) + 0.3 sum(producers + consumers) + 0.2 sum(backlog) / 10000."""
    if not r.topics:
        return 0.2 * r.topics_len
    rates = math.fsum(t.byte_rate_mbps for t in r.topics)
    clients = sum(t.producer_count + t.consumer_count for t in r.topics)
    backlog = sum(t.backlog_messages for t in r.topics)
    return 0.2 * r.topics_len + 0.3 * rates + 0.3 * clients + 0.2 * backlog / 10_000.0


def model(
    reports: Mapping[Hashable, Any],
    strategy: str,
    max_age: Optional[float],
    io_floor: float,
    thresholds: SaturationThresholds,
) -> list[Row]:
    fresh: dict[Hashable, LoadReport] = {}
    stale: list[Row] = []
    for b, r in reports.items():
        if not isinstance(r, LoadReport):
            raise TypeError(f"broker {b!r}: expected a LoadReport, not {type(r)}")
        for load in r.resources_usage:
            if not (math.isfinite(load.usage) and load.usage >= 0):
                raise ValueError(
                    f"broker {b!r}: {load.resource.value} usage must be finite and >= 0, "
                    f"got {load.usage}"
                )
        age = NOW - r.timestamp
        if max_age is not None and age > max_age:
            stale.append(
                (b, math.inf, (f"stale: report is {age:.0f} s old (max {max_age:g} s)",), False)
            )
        elif max_age is not None and -age > max_age:
            note = f"stale: report is dated {-age:.0f} s in the future (max {max_age:g} s)"
            stale.append((b, math.inf, (note,), False))
        else:
            fresh[b] = r

    def known(res: ResourceType) -> list[float]:
        return [u for r in fresh.values() if (u := r.usage(res)) is not None]

    def percent(r: LoadReport, res: ResourceType, notes: list[str]) -> float:
        value = r.usage(res)
        if value is None:
            if not known(res):
                return 0.0
            top = "the busiest broker's" if res in RATES else "100 %"
            notes.append(f"{NAMES[res]} unknown: counted as {top}")
            return 100.0
        if res in RATES:
            return 100.0 * value / max([io_floor, *known(res)])
        return value

    throughputs = [p for r in fresh.values() if (p := r.throughput_mbps()) is not None]
    topic_scale = max([1.0, *(topic_load(r) for r in fresh.values())])

    def score(r: LoadReport, notes: list[str]) -> float:
        if strategy == "fair":
            return float(r.topics_len)
        if strategy == "balanced":
            if not (known(R.CPU) or known(R.Memory)):
                notes.append("topic count: no fresh report carries CPU or memory")
                return float(r.topics_len)
            c, m, d, n = (percent(r, res, notes) for res in R)
            return 0.30 * topic_load(r) + 0.35 * c + 0.35 * m + 0.10 * d + 0.10 * n
        u_c, u_m, u_d, u_n = (percent(r, res, notes) / 100.0 for res in R)
        u_t = topic_load(r) / topic_scale
        p = r.throughput_mbps()
        if not throughputs:
            u_p = 0.0
        elif p is None:
            notes.append("throughput unknown (no per-topic loads): counted as the busiest broker's")
            u_p = 1.0
        else:
            u_p = p / max([1.0, *throughputs])
        base = sum([0.25 * u_c, 0.25 * u_m, 0.10 * u_d, 0.10 * u_n, 0.20 * u_t, 0.10 * u_p])
        bottleneck = max(0.0, max(u_c, u_m, u_d, u_n, u_t, u_p) - 0.7)
        return 100.0 * (base + 0.25 * bottleneck)

    rows: list[Row] = []
    saturated = []
    for b, r in fresh.items():
        notes: list[str] = []
        s = score(r, notes)
        signals = thresholds.exceeded(r.pressure)
        if signals:
            saturated.append((b, s, notes + signals))
        else:
            rows.append((b, s, tuple(notes), False))
    top = max((s for _, s, _, _ in rows if math.isfinite(s)), default=None)
    for b, s, notes in saturated:
        lifted = s + 100.0 + (0.0 if top is None else 2.0 * top)
        if math.isinf(lifted) and math.isfinite(s):
            lifted = 1.7976931348623157e308
        if top is None:
            notes.append("every eligible broker is saturated: the least loaded of them is chosen")
        rows.append((b, SaturatedScore(lifted), tuple(notes), True))
    rows.sort(key=lambda row: (row[1], order_key(row[0])))
    stale.sort(key=lambda row: order_key(row[0]))
    return rows + stale


def exact(rows: list[Row]) -> list[tuple[Any, ...]]:
    """Rows with each score as its type and bits, so that 0.0 and -0.0 differ."""
    return [(b, type(s), s.hex(), notes, sat) for b, s, notes, sat in rows]


# --- reports -------------------------------------------------------------------------------------

percent_st = st.sampled_from([0.0, -0.0, 50.0, 70.0, 100.0]) | st.floats(0, 100)
rate_st = st.sampled_from([0.0, 1024.0, 1048576.0, 5e6]) | st.floats(0, 1e12)
optional_percent = st.none() | st.floats(0, 100)
pressures = st.none() | st.builds(
    Pressure,
    optional_percent,
    st.none(),
    optional_percent,
    st.none(),
    st.none(),
    optional_percent,
    st.none(),
)
topics_st = st.lists(
    st.builds(
        TopicLoad,
        topic_name=st.just("/t"),
        byte_rate_mbps=st.sampled_from([0.0, 1.5]) | st.floats(0, 1e6),
        producer_count=st.integers(0, 20),
        consumer_count=st.integers(0, 20),
        backlog_messages=st.integers(0, 10**12),
    ),
    max_size=5,
)


@st.composite
def reports_st(draw: st.DrawFn) -> Any:
    loads = [
        SystemLoad(res, draw(percent_st if res not in RATES else rate_st))
        for res in R
        if draw(st.integers(0, 4))  # one in five left out: its monitor failed
    ]
    stamp = NOW - draw(st.sampled_from([0, 30, 89, 90, 91, 500, -20, -91]))
    if draw(st.booleans()):  # seed schema: a topic count, no per-topic loads
        n = draw(st.integers(0, 50))
        report = LoadReport(loads, n, [f"/t{i}" for i in range(n)], stamp)
    else:
        topics = [
            TopicLoad(
                f"/t{i}",
                byte_rate_mbps=t.byte_rate_mbps,
                producer_count=t.producer_count,
                consumer_count=t.consumer_count,
                backlog_messages=t.backlog_messages,
            )
            for i, t in enumerate(draw(topics_st))
        ]
        total = draw(st.none() | st.floats(0, 1e6))
        report = LoadReport(
            loads,
            len(topics),
            [t.topic_name for t in topics],
            stamp,
            topics=topics,
            total_throughput_mbps=total,
        )
    report.pressure = draw(pressures)
    if loads and draw(st.integers(0, 9)) == 0:
        # A resource given twice, by changing the list after the check: the first counts.
        report.resources_usage.append(SystemLoad(loads[0].resource, 0.0))
    return report


ids = st.integers(-3, 40) | st.text(max_size=2) | st.tuples(st.integers(0, 2)) | st.booleans()
clusters = st.dictionaries(ids, reports_st(), min_size=0, max_size=9)
thresholds = st.builds(SaturationThresholds, optional_percent, optional_percent, optional_percent)
parameters = st.tuples(
    st.sampled_from(STRATEGIES),
    st.none() | st.sampled_from([90.0, 30.0, 1e9]),
    st.sampled_from([1048576.0, 1.0, 1e-3, 1e12]),
    thresholds,
)


@settings(max_examples=400, deadline=None)
@given(clusters, parameters)
def test_scores_notes_and_order_are_the_formulas_broker_by_broker(
    reports: dict[Hashable, LoadReport],
    params: tuple[str, Optional[float], float, SaturationThresholds],
) -> None:
    strategy, max_age, io_floor, saturation = params
    expected = exact(model(reports, strategy, max_age, io_floor, saturation))
    kw: dict[str, Any] = {
        "max_age": max_age,
        "now": NOW,
        "io_floor": io_floor,
        "saturation": saturation,
    }
    scored = score_brokers(reports, strategy, **kw)
    assert exact([(s.broker_id, s.score, s.notes, s.saturated) for s in scored]) == expected
    ranked = rank_brokers(reports, strategy, **kw)
    assert [(b, type(s), s.hex()) for b, s in ranked] == [row[:3] for row in expected]


def corrupted(report: LoadReport, usage: float) -> LoadReport:
    """The report with its first usage made ``usage``, past SystemLoad's own check."""
    object.__setattr__(report.resources_usage[0], "usage", usage)
    return report


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            reports_st(),
            st.sampled_from(["good", "good", "not a report", "bad usage"]),
            st.sampled_from([math.nan, -1.0, math.inf, -math.inf]),
        ),
        max_size=6,
    ),
    parameters,
)
def test_the_first_bad_broker_in_the_mappings_order_names_the_error(
    brokers: list[tuple[LoadReport, str, float]],
    params: tuple[str, Optional[float], float, SaturationThresholds],
) -> None:
    strategy, max_age, io_floor, saturation = params
    reports: dict[Hashable, Any] = {}
    for i, (report, kind, usage) in enumerate(brokers):
        if kind == "not a report":
            reports[i] = {"resources_usage": report.resources_usage}
        elif kind == "bad usage" and report.resources_usage:
            reports[i] = corrupted(report, usage)
        else:
            reports[i] = report
    try:
        expected: Any = exact(model(reports, strategy, max_age, io_floor, saturation))
    except (TypeError, ValueError) as exc:
        expected = (type(exc), str(exc))
    try:
        got: Any = exact(
            [
                (s.broker_id, s.score, s.notes, s.saturated)
                for s in score_brokers(
                    reports,
                    strategy,
                    max_age=max_age,
                    now=NOW,
                    io_floor=io_floor,
                    saturation=saturation,
                )
            ]
        )
    except (TypeError, ValueError) as exc:
        got = (type(exc), str(exc))
    assert got == expected
