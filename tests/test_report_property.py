"""Properties of the report model (issue 12): whatever the constructors accept is written in
both schemas and read back equal; whatever they are given either raises the documented errors
or builds a report the reader accepts; the reader's fast way agrees with its careful way."""

from __future__ import annotations

import json
import math
import sys
from typing import Any, Callable, Optional

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from danube_metrics import (
    LoadReport,
    Pressure,
    ReportFormatError,
    ResourceType,
    SystemLoad,
    TopicLoad,
)
from danube_metrics.loads import (
    PERCENT_RESOURCES,
    U64_MAX,
    all_non_negative_floats,
    all_u64,
    all_utf8_strings,
    non_negative_float,
    u64,
    utf8_string,
)
from danube_metrics.schemas import decode_json, read_report

SEED, UPSTREAM = "seed", "upstream"

# --- what the constructors accept --------------------------------------------------------------

counts = st.one_of(st.sampled_from([0, 1, 2**53, 2**63, U64_MAX]), st.integers(0, U64_MAX))
edge_rates = [0.0, -0.0, 5e-324, sys.float_info.min, 1e-7, 1e-5, 0.5, 1e16, 1.5e16, 1e300]
rates = st.one_of(
    st.sampled_from(edge_rates),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
    st.integers(0, 2**70),  # ints are kept as floats
)
percents = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, 1e-7, 99.99999999999999, 100.0, 100]),
    st.floats(0.0, 100.0),
)
# Any text UTF-8 can encode: control characters and the astral plane included, no surrogates.
names = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@st.composite
def system_loads(draw: st.DrawFn) -> list[SystemLoad]:
    chosen = draw(st.lists(st.sampled_from(list(ResourceType)), unique=True))
    return [SystemLoad(r, draw(percents if r in PERCENT_RESOURCES else rates)) for r in chosen]


def topic_loads_of(
    names: st.SearchStrategy[str],
    counts: st.SearchStrategy[int],
    rates: st.SearchStrategy[float],
) -> st.SearchStrategy[TopicLoad]:
    """TopicLoads of these names, counts and rates (tests/test_plain_report.py's too)."""
    return st.builds(
        TopicLoad,
        topic_name=names,
        message_rate=counts,
        byte_rate=counts,
        byte_rate_mbps=rates,
        producer_count=counts,
        consumer_count=counts,
        subscription_count=counts,
        backlog_messages=counts,
    )


topic_loads = topic_loads_of(names, counts, rates)


# A report's pressure: none, or seven figures each None or in range (six percentages, then
# seconds per second, which may pass 100).
pressures = st.none() | st.builds(Pressure, *[st.none() | percents] * 6, st.none() | rates)


@st.composite
def reports(draw: st.DrawFn) -> LoadReport:
    loads = draw(system_loads())
    timestamp = draw(counts)
    broker_id = draw(st.none() | counts)
    pressure = draw(pressures)
    if draw(st.booleans()):  # no per-topic loads: the seed's count may differ from the list
        topic_list = draw(st.lists(names, max_size=6))
        return LoadReport(
            loads, draw(counts), topic_list, timestamp, broker_id=broker_id, pressure=pressure
        )
    topics = draw(st.lists(topic_loads, max_size=6))
    totals = draw(st.booleans())  # given, or None for the sums (which must then fit)
    kwargs: dict[str, Any] = {"broker_id": broker_id, "topics": topics, "pressure": pressure}
    if totals:
        kwargs.update(
            total_throughput_mbps=draw(rates),
            total_message_rate=draw(counts),
            total_lag_messages=draw(counts),
        )
    else:
        assume(sum(t.message_rate for t in topics) <= U64_MAX)
        assume(sum(t.backlog_messages for t in topics) <= U64_MAX)
        assume(math.isfinite(sum(t.byte_rate_mbps for t in topics)))
    return LoadReport(loads, len(topics), [t.topic_name for t in topics], timestamp, **kwargs)


def seed_part(report: LoadReport) -> LoadReport:
    """The fields the seed's schema carries."""
    return LoadReport(
        report.resources_usage,
        report.topics_len,
        report.topic_list,
        report.timestamp,
        pressure=report.pressure,
    )


def upstream_part(report: LoadReport) -> LoadReport:
    """The report as the upstream schema carries it: one entry per topic, every total."""
    topics = report.topics
    if topics is None:
        topics = [TopicLoad.idle(name) for name in report.topic_list]
    return LoadReport(
        report.resources_usage,
        len(topics),
        [t.topic_name for t in topics],
        report.timestamp,
        broker_id=report.broker_id,
        topics=topics,
        total_throughput_mbps=(
            math.fsum(t.byte_rate_mbps for t in topics)
            if report.total_throughput_mbps is None
            else report.total_throughput_mbps
        ),
        total_message_rate=(
            sum(t.message_rate for t in topics)
            if report.total_message_rate is None
            else report.total_message_rate
        ),
        total_lag_messages=(
            sum(t.backlog_messages for t in topics)
            if report.total_lag_messages is None
            else report.total_lag_messages
        ),
        pressure=report.pressure,
    )


def assert_round_trips(report: LoadReport) -> None:
    text = report.to_json(schema=SEED)
    back = LoadReport.from_json(text)
    assert back == seed_part(report)
    assert back.to_json() == text
    assert LoadReport.from_json(text.encode("utf-8")) == back
    assert LoadReport.from_json(report.to_json(schema=SEED, indent=2)) == back
    if report.broker_id is None or report.topics_len != len(report.topic_list):
        with pytest.raises(ValueError, match="upstream schema"):
            report.to_json(schema=UPSTREAM)
        return
    text = report.to_json(schema=UPSTREAM)
    back = LoadReport.from_json(text)
    assert back == upstream_part(report)
    assert back.to_json(schema=UPSTREAM) == text
    assert LoadReport.from_json(report.to_json(schema=UPSTREAM, indent=4)) == back


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
@example(LoadReport([SystemLoad(ResourceType.CPU, -0.0)], 0, [], 0, broker_id=0))
@example(LoadReport([SystemLoad(ResourceType.DiskIO, 5e-324)], U64_MAX, ["\x00"], U64_MAX))
@example(LoadReport([SystemLoad(ResourceType.NetworkIO, 1e16)], 1, ["😀\u2028"], 1, broker_id=1))
@example(LoadReport([], 0, [], 0, broker_id=0, pressure=Pressure(*[None] * 7)))
@example(
    LoadReport(
        [], 0, [], 0, broker_id=0, pressure=Pressure(100, 0, -0.0, 5e-324, 1e-7, 99.5, 1e300)
    )
)
def test_every_report_that_can_be_built_round_trips_in_both_schemas(report: LoadReport) -> None:
    assert_round_trips(report)


# --- what the constructors are given ----------------------------------------------------------

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.sampled_from([-1, 0, 1, U64_MAX, U64_MAX + 1, 10**400]),
    st.floats(),
    st.text(max_size=4),  # lone surrogates included
    st.sampled_from(["CPU", "Memory", "\ud800", "/a"]),
    st.lists(st.text(max_size=3) | st.integers(), max_size=3),
    st.tuples(st.text(max_size=3)),
    st.sampled_from(list(ResourceType)),
)


def built(make: Callable[[], Any]) -> Optional[Any]:
    """What ``make`` builds, or None when it raises one of the documented errors."""
    try:
        return make()
    except (TypeError, ValueError) as exc:
        assert str(exc)  # says what is wrong
        return None


@settings(max_examples=500)
@given(anything, anything)
def test_system_load_raises_or_builds_what_the_reader_reads(resource: Any, usage: Any) -> None:
    load = built(lambda: SystemLoad(resource, usage))
    if load is not None:
        assert_round_trips(LoadReport([load], 0, [], 1, broker_id=1))


@settings(max_examples=500)
@given(st.lists(anything, min_size=8, max_size=8), st.booleans())
def test_topic_load_raises_or_builds_what_the_reader_reads(values: list[Any], name: bool) -> None:
    if name:
        values[0] = "/t"
    topic = built(lambda: TopicLoad(*values))
    if topic is not None:
        report = built(
            lambda: LoadReport([], 1, [topic.topic_name], 1, broker_id=1, topics=[topic])
        )
        if report is not None:  # the sum of one topic always fits: only the topic can fail
            assert_round_trips(report)


@settings(max_examples=300)
@given(st.lists(anything, min_size=7, max_size=7))
def test_pressure_raises_or_builds_what_the_reader_reads(figures: list[Any]) -> None:
    report = built(lambda: LoadReport([], 0, [], 1, broker_id=1, pressure=Pressure(*figures)))
    if report is not None:
        assert report.pressure is not None
        assert all(v is None or type(v) is float for v in report.pressure)
        assert_round_trips(report)


@settings(max_examples=300)
@given(
    st.one_of(anything, st.just([SystemLoad(ResourceType.CPU, 1.0)])),
    anything,
    anything,
    anything,
    anything,
    st.one_of(st.none(), anything),
    st.one_of(st.none(), anything),
    st.one_of(st.none(), anything),
)
def test_load_report_raises_or_builds_what_the_reader_reads(
    resources: Any,
    topics_len: Any,
    topic_list: Any,
    timestamp: Any,
    broker_id: Any,
    throughput: Any,
    rate: Any,
    lag: Any,
) -> None:
    report = built(
        lambda: LoadReport(
            resources,
            topics_len,
            topic_list,
            timestamp,
            broker_id=broker_id,
            total_throughput_mbps=throughput,
            total_message_rate=rate,
            total_lag_messages=lag,
        )
    )
    if report is not None:
        assert_round_trips(report)


# --- the screens never accept what the rules refuse --------------------------------------------


@settings(max_examples=500)
@given(st.lists(anything, max_size=6))
def test_each_screen_accepts_only_lists_its_rule_accepts(values: list[Any]) -> None:
    for screen, rule in (
        (all_u64, u64),
        (all_non_negative_floats, non_negative_float),
        (all_utf8_strings, utf8_string),
    ):
        if screen(values):
            for value in values:
                rule(value)


# --- the reader's fast way agrees with its careful way ----------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2**65) | st.floats() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)


def careful(text: str) -> Any:
    """The careful way's verdict: the report, or the error's message."""
    try:
        return read_report(LoadReport, decode_json(text))
    except ReportFormatError as exc:
        return str(exc)


def fast(text: str) -> Any:
    try:
        return LoadReport.from_json(text)
    except ReportFormatError as exc:
        return str(exc)


@settings(max_examples=300)
@given(
    st.integers(20, 40),
    st.integers(0, 39),
    st.sampled_from([*TopicLoad.__dataclass_fields__, "extra"]),
    json_values,
    st.sampled_from(["replace", "repeat", "repeat_top"]),
)
def test_the_fast_way_gives_the_careful_ways_verdict(
    n: int, index: int, key: str, value: Any, how: str
) -> None:
    # Twenty topics or more: a document of many objects, read the fast way when it can.
    topics = [TopicLoad(f"/t{i}", i, 2**64 - 1 - i, i / 7, i % 3, 1, 2, i) for i in range(n)]
    report = LoadReport(
        [SystemLoad(ResourceType.CPU, 1.0)],
        n,
        [t.topic_name for t in topics],
        1,
        broker_id=1,
        topics=topics,
        total_message_rate=0,
    )
    index %= n
    if how == "replace":
        doc = json.loads(report.to_json(schema=UPSTREAM))
        doc["topics"][index][key] = value
        text = json.dumps(doc)
    else:
        text = report.to_json(schema=UPSTREAM)
        extra = f"{json.dumps(key)}:{json.dumps(value)}"
        if how == "repeat":  # the key once more in one topic (a known one: given twice)
            marker = f'"topic_name":"/t{index}",'
            text = text.replace(marker, marker + extra + ",", 1)
        else:
            text = text[:-1] + "," + extra + "}"
    assert fast(text) == careful(text)


UPSTREAM_TOP_FIELDS = [
    "resources_usage",
    "topics",
    "total_throughput_mbps",
    "total_message_rate",
    "total_lag_messages",
    "timestamp",
    "broker_id",
    "pressure",
]


@settings(max_examples=400)
@given(
    st.integers(0, 4),
    st.integers(0, 3),
    st.sampled_from([*TopicLoad.__dataclass_fields__, *UPSTREAM_TOP_FIELDS, "extra"]),
    st.one_of(
        json_values,
        st.sampled_from([0, 2**64 - 1, 2**64, -1, 0.0, -0.0, 1.5, 1e308, 1e309, "/t", "\ud800"]),
    ),
    st.sampled_from(["topic", "top", "drop", "repeat", "repeat_top", "escape"]),
)
# Each a rule the plain way checks by a comparison of its own (an int kept as a float, a
# count past u64, a bool, a key given twice).
@example(0, 0, "total_throughput_mbps", 3, "top")
@example(2, 1, "byte_rate_mbps", 2, "topic")
@example(2, 1, "backlog_messages", 2**64, "topic")
@example(2, 1, "producer_count", -1, "topic")
@example(0, 0, "timestamp", True, "top")
@example(1, 0, "message_rate", 1, "repeat")
def test_the_fast_way_gives_the_careful_ways_verdict_on_small_reports(
    n: int, index: int, key: str, value: Any, how: str
) -> None:
    # A few topics, as a broker writes them: read by the plain way when it can. The verdicts
    # are compared by repr, which tells an int from a float (0 == 0.0 would not).
    topics = [TopicLoad(f"/t{i}", i, 2**64 - 1 - i, i / 7, i % 3, 1, 2, i) for i in range(n)]
    report = LoadReport(
        [SystemLoad(ResourceType.CPU, 1.0), SystemLoad(ResourceType.Memory, 50.0)],
        n,
        [t.topic_name for t in topics],
        2**64 - 1,
        broker_id=7,
        topics=topics,
    )
    text = report.to_json(schema=UPSTREAM)
    doc = json.loads(text)
    extra = f"{json.dumps(key)}:{json.dumps(value)}"
    if how == "topic" and n:
        doc["topics"][index % n][key] = value
        text = json.dumps(doc)
    elif how == "top":
        doc[key] = value
        text = json.dumps(doc)
    elif how == "drop":
        doc.pop(key, None)
        for topic in doc.get("topics", []):
            topic.pop(key, None)
        text = json.dumps(doc)
    elif how == "repeat" and n:  # the key once more in one topic
        marker = f'"topic_name":"/t{index % n}",'
        text = text.replace(marker, marker + extra + ",", 1)
    elif how == "repeat_top":
        text = text[:-1] + "," + extra + "}"
    elif how == "escape" and n:  # a name with an escaped quote: the quote count differs
        text = text.replace(f'"/t{index % n}"', '"/t\\"x"', 1)
    assert repr(fast(text)) == repr(careful(text))


@settings(max_examples=300)
@given(
    st.integers(20, 30),
    st.sampled_from([*Pressure._fields, "extra"]),
    json_values,
    st.sampled_from(["replace", "repeat", "whole"]),
)
def test_the_fast_way_gives_the_careful_ways_verdict_on_pressure(
    n: int, key: str, value: Any, how: str
) -> None:
    topics = [TopicLoad(f"/t{i}", i, i, i / 7, 1, 1, 1, i) for i in range(n)]
    report = LoadReport(
        [SystemLoad(ResourceType.CPU, 1.0)],
        n,
        [t.topic_name for t in topics],
        1,
        broker_id=1,
        topics=topics,
        pressure=Pressure(1.5, 2.0, 0.5, None, 0.25, 40.0, 0.125),
    )
    text = report.to_json(schema=UPSTREAM)
    if how == "replace":
        doc = json.loads(text)
        doc["pressure"][key] = value
        text = json.dumps(doc)
    elif how == "repeat":  # the key once more inside the pressure object
        marker = '"pressure":{'
        text = text.replace(marker, marker + f"{json.dumps(key)}:{json.dumps(value)},", 1)
    else:
        doc = json.loads(text)
        doc["pressure"] = value
        text = json.dumps(doc)
    assert fast(text) == careful(text)


@settings(max_examples=300)
@given(
    st.integers(0, 3),
    st.sampled_from(["resource", "usage", "extra"]),
    st.one_of(
        json_values,
        st.sampled_from([r.value for r in ResourceType]),
        st.sampled_from([0, -0.0, 5e-324, 100, 100.0, 100.00000000000001, 1e308, 1e309]),
    ),
    st.sampled_from(["replace", "repeat", "whole", "append"]),
)
def test_the_fast_way_gives_the_careful_ways_verdict_on_resources(
    index: int, key: str, value: Any, how: str
) -> None:
    # Resources are read at once when they are plain: any other is left to the rules.
    topics = [TopicLoad(f"/t{i}", i, i, i / 7, 1, 1, 1, i) for i in range(20)]
    usages = [12.5, 40.0, 1048576.0, 2048.0]
    report = LoadReport(
        [SystemLoad(r, u) for r, u in zip(ResourceType, usages)],
        len(topics),
        [t.topic_name for t in topics],
        1,
        broker_id=1,
        topics=topics,
    )
    text = report.to_json(schema=UPSTREAM)
    doc = json.loads(text)
    if how == "replace":
        doc["resources_usage"][index][key] = value
        text = json.dumps(doc)
    elif how == "repeat":  # the key once more in one resource
        marker = f'{{"resource":"{list(ResourceType)[index].value}",'
        text = text.replace(marker, marker + f"{json.dumps(key)}:{json.dumps(value)},", 1)
    elif how == "whole":
        doc["resources_usage"][index] = value
        text = json.dumps(doc)
    else:
        doc["resources_usage"].append({"resource": value, "usage": 1.0})
        text = json.dumps(doc)
    verdict = fast(text)
    assert verdict == careful(text)
    if isinstance(verdict, LoadReport):
        assert all(type(load.usage) is float for load in verdict.resources_usage)
        assert all(type(load.resource) is ResourceType for load in verdict.resources_usage)
