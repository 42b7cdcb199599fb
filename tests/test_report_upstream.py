"""LoadReport in the upstream broker's schema (danube v0.15.1 load_report.rs), schema detection,
serde_json's float and string layout, and per-topic loads in the builder."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from danube_metrics import ReportFormatError, ResourceType, SystemLoad
from danube_metrics.monitor import DiskIOStats, NetworkIOStats, Readings
from danube_metrics.report import (
    SEED,
    UPSTREAM,
    LoadReport,
    TopicLoad,
    detect_schema,
    generate_load_report,
    serde_f64,
)

GOLDEN = Path(__file__).parent / "golden"
UPSTREAM_LABEL = "upstream schema (danube v0.15.1): "


def golden(name: str) -> str:
    """A golden file's JSON: written by hand from the Rust definitions, one trailing newline."""
    text = (GOLDEN / name).read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    return text[:-1]


# --- golden files, both schemas ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "schema", "indent"),
    [
        ("seed.json", SEED, None),
        ("upstream.json", UPSTREAM, None),
        ("upstream_empty.json", UPSTREAM, None),
        ("upstream_pretty.json", UPSTREAM, 2),
    ],
)
def test_golden_files_round_trip_byte_for_byte(
    name: str, schema: str, indent: Optional[int]
) -> None:
    text = golden(name)
    report = LoadReport.from_json(text)
    assert detect_schema(json.loads(text)) == schema
    assert report.to_json(schema=schema, indent=indent) == text
    assert LoadReport.from_json(report.to_json(schema=schema)) == report
    # bytes in, too (as read from a metadata store)
    assert LoadReport.from_json(text.encode("utf-8")) == report


def test_the_seed_golden_is_the_seed_example() -> None:
    from test_report import SEED_JSON

    assert golden("seed.json") == SEED_JSON


def test_upstream_golden_reads_every_field() -> None:
    report = LoadReport.from_json(golden("upstream.json"))
    assert report.broker_id == 7
    assert report.timestamp == 1700000000
    assert report.usage(ResourceType.Memory) == 61.25
    assert report.topics_len == 2
    assert report.topic_list == ["/default/orders", "/default/café"]
    assert report.topics == [
        TopicLoad("/default/orders", 1200, 1500000, 1.5, 2, 3, 2, 40),
        TopicLoad(
            topic_name="/default/café",
            message_rate=0,
            byte_rate=12,
            byte_rate_mbps=0.000012,
            producer_count=0,
            consumer_count=1,
            subscription_count=1,
            backlog_messages=0,
        ),
    ]
    assert report.total_throughput_mbps == 1.500012
    assert report.total_message_rate == 1200
    assert report.total_lag_messages == 40
    assert report.throughput_mbps() == 1.500012


def test_upstream_pretty_golden_keeps_u64_extremes_and_float_layout() -> None:
    report = LoadReport.from_json(golden("upstream_pretty.json"))
    assert report.broker_id == 2**64 - 1
    assert report.total_lag_messages == 2**64 - 1
    assert report.usage(ResourceType.DiskIO) == 2.5e16
    assert report.usage(ResourceType.Memory) == 1e-5


def test_upstream_defaults_may_be_absent_and_are_written_back() -> None:
    # Only the fields without #[serde(default)]: LoadReport::empty(3) as an older writer
    # might leave it.
    report = LoadReport.from_json('{"resources_usage":[],"timestamp":1700000000,"broker_id":3}')
    assert report.topics == [] and report.topics_len == 0 and report.topic_list == []
    assert (report.total_throughput_mbps, report.total_message_rate) == (0.0, 0)
    assert report.total_lag_messages == 0
    assert report.to_json(schema=UPSTREAM) == golden("upstream_empty.json")


def test_upstream_totals_are_kept_as_read_not_recomputed() -> None:
    doc = json.loads(golden("upstream.json"))
    doc["total_message_rate"] = 5  # not the sum over topics: still what the broker said
    report = LoadReport.from_json(json.dumps(doc))
    assert report.total_message_rate == 5
    assert json.loads(report.to_json(schema=UPSTREAM))["total_message_rate"] == 5


# --- detection and conversion ----------------------------------------------------------------


def test_seed_fields_take_precedence_and_upstream_fields_are_then_ignored() -> None:
    doc = json.loads(golden("seed.json"))
    doc.update(broker_id=9, topics=[{"bad": 1}], total_message_rate="x")
    report = LoadReport.from_json(json.dumps(doc))
    assert report.broker_id is None and report.topics is None
    assert report.to_json() == golden("seed.json")


def test_unknown_fields_are_ignored_in_the_upstream_schema_too() -> None:
    doc = json.loads(golden("upstream.json"))
    doc["future_field"] = {"x": [1, 2]}
    doc["topics"][0]["future_field"] = None
    assert LoadReport.from_json(json.dumps(doc)).to_json(schema=UPSTREAM) == golden("upstream.json")


@pytest.mark.parametrize(
    "doc",
    [
        {"broker_id": 1, "resources_usage": [], "timestamp": 0},
        {"topics": [], "resources_usage": [], "timestamp": 0, "broker_id": 1},
        {"total_lag_messages": 0, "resources_usage": [], "timestamp": 0, "broker_id": 1},
    ],
)
def test_any_upstream_field_marks_the_upstream_schema(doc: dict[str, Any]) -> None:
    assert detect_schema(doc) == UPSTREAM
    assert LoadReport.from_dict(doc).broker_id == 1


def test_a_report_of_neither_schema_names_what_each_needs() -> None:
    with pytest.raises(ReportFormatError) as info:
        LoadReport.from_json('{"resources_usage":[],"timestamp":1,"load":3}')
    message = str(info.value)
    assert "cannot tell the report's schema" in message
    assert "'topics_len' and 'topic_list'" in message and "'broker_id'" in message
    assert "'resources_usage', 'timestamp', 'load'" in message
    with pytest.raises(ReportFormatError, match="fields found: none"):
        LoadReport.from_json("{}")


def test_the_schema_can_be_forced() -> None:
    doc = json.loads(golden("seed.json"))
    doc["broker_id"] = 4
    report = LoadReport.from_dict(doc, schema=UPSTREAM)  # serde upstream would read it so
    assert report.broker_id == 4 and report.topics == [] and report.topics_len == 0
    with pytest.raises(ReportFormatError, match="seed schema: missing field 'topics_len'"):
        LoadReport.from_json(golden("upstream.json"), schema=SEED)
    with pytest.raises(ValueError, match="unknown schema 'rust'"):
        LoadReport.from_json(golden("seed.json"), schema="rust")


def test_seed_report_written_in_the_upstream_schema() -> None:
    report = LoadReport([SystemLoad(ResourceType.CPU, 5.0)], 2, ["/a", "/b"], 10)
    with pytest.raises(ValueError, match="needs broker_id"):
        report.to_json(schema=UPSTREAM)
    report.broker_id = 1
    # One idle entry per topic, as upstream writes a topic it has no metrics for yet.
    assert json.loads(report.to_json(schema=UPSTREAM)) == {
        "resources_usage": [{"resource": "CPU", "usage": 5.0}],
        "topics": [
            {
                "topic_name": name,
                "message_rate": 0,
                "byte_rate": 0,
                "byte_rate_mbps": 0.0,
                "producer_count": 0,
                "consumer_count": 0,
                "subscription_count": 0,
                "backlog_messages": 0,
            }
            for name in ("/a", "/b")
        ],
        "total_throughput_mbps": 0.0,
        "total_message_rate": 0,
        "total_lag_messages": 0,
        "timestamp": 10,
        "broker_id": 1,
    }
    # The seed's count of 5 with one topic listed cannot be said upstream: refuse, not lose it.
    truncated = LoadReport.from_json(golden("seed.json"))
    truncated.broker_id = 1
    with pytest.raises(ValueError, match="topics_len is 5 but topic_list names 1"):
        truncated.to_json(schema=UPSTREAM)
    with pytest.raises(ValueError, match="unknown schema"):
        report.to_dict("json")


def test_upstream_report_written_in_the_seed_schema() -> None:
    report = LoadReport.from_json(golden("upstream.json"))
    assert json.loads(report.to_json()) == {
        "resources_usage": json.loads(golden("upstream.json"))["resources_usage"],
        "topics_len": 2,
        "topic_list": ["/default/orders", "/default/café"],
        "timestamp": 1700000000,
    }


# --- precise errors ---------------------------------------------------------------------------


def _upstream(fn: Callable[[dict[str, Any]], object]) -> str:
    doc = json.loads(golden("upstream.json"))
    fn(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_upstream(lambda d: d.pop("broker_id")), "missing field 'broker_id'"),
        (_upstream(lambda d: d.pop("timestamp")), "missing field 'timestamp'"),
        (_upstream(lambda d: d.pop("resources_usage")), "missing field 'resources_usage'"),
        (_upstream(lambda d: d.update(topics=None)), "'topics' must be a list, not null"),
        (_upstream(lambda d: d.update(topics=[3])), r"topics\[0\] must be an object, not int"),
        (
            _upstream(lambda d: d["topics"][1].pop("backlog_messages")),
            r"topics\[1\]: missing field 'backlog_messages'",
        ),
        (
            _upstream(lambda d: d["topics"][0].update(message_rate=1.0)),
            r"topics\[0\].message_rate must be an integer, not float",
        ),
        (
            _upstream(lambda d: d["topics"][0].update(producer_count=-1)),
            r"topics\[0\].producer_count must be a u64, got -1",
        ),
        (
            _upstream(lambda d: d["topics"][0].update(byte_rate_mbps=-0.5)),
            r"topics\[0\].byte_rate_mbps must be finite and >= 0",
        ),
        (
            _upstream(lambda d: d["topics"][0].update(byte_rate_mbps="1.5")),
            r"topics\[0\].byte_rate_mbps must be a number, not str",
        ),
        (
            _upstream(lambda d: d["topics"][0].update(topic_name=7)),
            r"topics\[0\].topic_name must be a string, not int",
        ),
        (
            _upstream(lambda d: d.update(total_message_rate=2**64)),
            "'total_message_rate' must be a u64",
        ),
        (
            _upstream(lambda d: d.update(total_throughput_mbps=True)),
            "'total_throughput_mbps' must be a number, not bool",
        ),
        (_upstream(lambda d: d.update(broker_id="7")), "'broker_id' must be an integer, not str"),
        (
            _upstream(lambda d: d["resources_usage"][0].update(resource="cpu")),
            r"resources_usage\[0\].resource: unknown resource 'cpu'",
        ),
        (
            '{"resources_usage":[],"timestamp":1,"broker_id":1,"total_throughput_mbps":1e999}',
            "'total_throughput_mbps' must be finite",
        ),
        (
            '{"resources_usage":[],"timestamp":1,"broker_id":1,"broker_id":2}',
            "field 'broker_id' appears twice",
        ),
        (
            '{"resources_usage":[],"timestamp":1,"broker_id":1,"topics":[{"topic_name":"t",'
            '"message_rate":1,"message_rate":2,"byte_rate":0,"byte_rate_mbps":0,'
            '"producer_count":0,"consumer_count":0,"subscription_count":0,'
            '"backlog_messages":0}]}',
            r"field topics\[0\].message_rate appears twice",
        ),
        (
            '{"resources_usage":[],"timestamp":1,"broker_id":1,"topics":[{"topic_name":'
            '"\\ud800","message_rate":1,"byte_rate":0,"byte_rate_mbps":0,"producer_count":0,'
            '"consumer_count":0,"subscription_count":0,"backlog_messages":0}]}',
            r"topics\[0\].topic_name is not valid Unicode",
        ),
    ],
)
def test_malformed_upstream_reports_name_the_schema_and_field(text: str, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message) as info:
        LoadReport.from_json(text)
    assert str(info.value).startswith(UPSTREAM_LABEL)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"resources_usage":[],"topics_len":0,"topic_list":[],"timestamp":1,"timestamp":2}',
            "seed schema: field 'timestamp' appears twice",
        ),
        (
            '{"resources_usage":[{"resource":"CPU","usage":1,"usage":2}],"topics_len":0,'
            '"topic_list":[],"timestamp":1}',
            r"seed schema: field resources_usage\[0\].usage appears twice",
        ),
        (
            '{"resources_usage":[],"topics_len":0,"topic_list":[],"timestamp":1}garbage',
            "not valid JSON",
        ),
    ],
)
def test_malformed_seed_reports_name_the_schema(text: str, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message):
        LoadReport.from_json(text)


def test_fields_unknown_to_the_schema_may_repeat() -> None:
    # serde skips unknown fields without looking at them, repeats included.
    text = golden("seed.json")[:-1] + ',"x":1,"x":2}'
    assert LoadReport.from_json(text).to_json() == golden("seed.json")


# --- serde_json's layout ----------------------------------------------------------------------

# Outputs from ryu's own tests (tests/d2s_test.rs: each literal is what ryu prints for it),
# and the plain/exponent boundaries: plain from 1e-5 up to below 1e16.
RYU_CASES = [
    "0.3",
    "1234000000000000.0",
    "1.234e16",
    "2.71828",
    "1.1e128",
    "1.1e-64",
    "2.718281828459045",
    "5e-324",
    "1.7976931348623157e308",
    "0.0",
    "-0.0",
    "1.0",
    "-1.0",
    "2.9802322387695312e-8",
    "-2.109808898695963e16",
    "9060801153433600.0",
    "4.708356024711512e18",
    "9007199254740991.0",
    "1000000000000001.0",
    "0.00001",
    "0.000012",
    "0.0001",
    "1e-6",
    "1.5e-6",
    "1e16",
    "9999999999999998.0",
]


@pytest.mark.parametrize("text", RYU_CASES)
def test_floats_are_written_as_ryu_writes_them(text: str) -> None:
    assert serde_f64(float(text)) == text


def _significant_digits(text: str) -> str:
    return text.lstrip("-").split("e")[0].replace(".", "").strip("0")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_layout_reads_back_exactly(value: float) -> None:
    text = serde_f64(value)
    assert float(text) == value and math.copysign(1, float(text)) == math.copysign(1, value)
    assert json.loads(text) == value
    plain = value == 0 or 1e-5 <= abs(value) < 1e16
    assert ("e" not in text and "." in text) if plain else ("e" in text)
    assert "+" not in text and "e0" not in text and "e-0" not in text
    # The same shortest digits as Python's repr: only the layout differs.
    assert _significant_digits(text) == _significant_digits(repr(value))


def test_non_finite_floats_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="finite"):
        serde_f64(math.nan)
    with pytest.raises(ValueError, match=r"SystemLoad\.usage must be finite and >= 0, got inf"):
        SystemLoad(ResourceType.CPU, math.inf)
    # A field reassigned after creation is checked again when written.
    report = LoadReport([SystemLoad(ResourceType.CPU, 1.0)], 0, [], 1)
    report.total_throughput_mbps = math.inf
    with pytest.raises(ValueError, match=r"LoadReport\.total_throughput_mbps must be finite"):
        report.to_json()


def test_strings_are_utf8_with_serde_escapes() -> None:
    name = 'a"b\\c\nd\te\x01f\x7fé\u2028😀'
    report = LoadReport([], 1, [name], 1)
    text = report.to_json()
    assert '"a\\"b\\\\c\\nd\\te\\u0001f\x7fé\u2028😀"' in text
    assert LoadReport.from_json(text).topic_list == [name]
    assert LoadReport.from_json(text.encode("utf-8")).topic_list == [name]


def test_lone_surrogates_are_rejected_in_the_seed_schema_too() -> None:
    text = '{"resources_usage":[],"topics_len":1,"topic_list":["\\udc00"],"timestamp":1}'
    with pytest.raises(ReportFormatError, match=r"topic_list\[0\] is not valid Unicode"):
        LoadReport.from_json(text)


# --- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"message_rate": -1}, ValueError, "TopicLoad.message_rate must be a u64, got -1"),
        ({"backlog_messages": 2**64}, ValueError, "TopicLoad.backlog_messages must be a u64"),
        ({"producer_count": True}, TypeError, "producer_count must be an integer, not bool"),
        ({"byte_rate_mbps": math.nan}, ValueError, "byte_rate_mbps must be finite"),
        ({"byte_rate_mbps": "1"}, TypeError, "byte_rate_mbps must be a number, not str"),
        ({"topic_name": 7}, TypeError, "TopicLoad.topic_name must be a string, not int"),
        ({"topic_name": "/\udc00"}, ValueError, "topic_name is not valid Unicode"),
    ],
)
def test_topic_load_validates_its_fields(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TopicLoad(**{"topic_name": "/t", **kwargs})


def test_topic_load_defaults_to_idle_and_ints_become_floats_for_mbps() -> None:
    assert TopicLoad.idle("/t") == TopicLoad("/t", 0, 0, 0.0, 0, 0, 0, 0)
    assert TopicLoad("/t", byte_rate_mbps=2).byte_rate_mbps == 2.0
    assert isinstance(TopicLoad("/t", byte_rate_mbps=2).byte_rate_mbps, float)


def test_per_topic_loads_must_match_the_topic_list() -> None:
    topics = [TopicLoad("/a"), TopicLoad("/b")]
    LoadReport([], 2, ["/a", "/b"], 1, topics=topics)
    with pytest.raises(ValueError, match="one per topic"):
        LoadReport([], 2, ["/b", "/a"], 1, topics=topics)
    with pytest.raises(ValueError, match="one per topic"):
        LoadReport([], 3, ["/a", "/b"], 1, topics=topics)
    with pytest.raises(ValueError, match=r"LoadReport\.broker_id must be a u64, got -1"):
        LoadReport([], 0, [], 1, broker_id=-1)
    with pytest.raises(TypeError, match=r"LoadReport\.broker_id must be an integer, not bool"):
        LoadReport([], 0, [], 1, broker_id=True)


def test_seed_constructor_and_equality_are_unchanged() -> None:
    a = LoadReport([SystemLoad(ResourceType.CPU, 1.0)], 1, ["/t"], 5)
    b = LoadReport([SystemLoad(ResourceType.CPU, 1.0)], 1, ["/t"], 5)
    assert a == b and a.broker_id is None and a.topics is None
    assert a.throughput_mbps() is None  # no per-topic loads: throughput is unknown
    assert a.to_dict() == {
        "resources_usage": [{"resource": "CPU", "usage": 1.0}],
        "topics_len": 1,
        "topic_list": ["/t"],
        "timestamp": 5,
    }


# --- the builder ------------------------------------------------------------------------------


class FixedMonitor:
    """Stands in for a monitor: generate_load_report only calls read_all()."""

    def read_all(self) -> Readings:
        return Readings(40.0, 25.0, DiskIOStats(100.0, 28.0), NetworkIOStats(1.5, 2.5), {})


def test_builder_takes_per_topic_loads_where_the_caller_has_them() -> None:
    orders = TopicLoad("/default/orders", 1200, 1500000, 1.5, 2, 3, 2, 40)
    report = generate_load_report(
        2,
        ["/default/orders", "/default/new"],
        FixedMonitor(),  # type: ignore[arg-type]
        timestamp=1700000000,
        topic_loads=[orders],
        broker_id=7,
    )
    assert report.topics == [orders, TopicLoad.idle("/default/new")]
    assert report.total_throughput_mbps == 1.5
    assert report.total_message_rate == 1200
    assert report.total_lag_messages == 40
    assert report.usage(ResourceType.DiskIO) == 128.0
    doc = json.loads(report.to_json(schema=UPSTREAM))
    assert doc["broker_id"] == 7
    assert [t["topic_name"] for t in doc["topics"]] == ["/default/orders", "/default/new"]
    assert LoadReport.from_json(report.to_json(schema=UPSTREAM)) == report
    # The seed's schema still writes what it always did.
    assert json.loads(report.to_json())["topics_len"] == 2


def test_builder_without_per_topic_loads_is_unchanged() -> None:
    report = generate_load_report(5, ["/a"], FixedMonitor(), timestamp=3)  # type: ignore[arg-type]
    assert report.topics is None and report.broker_id is None
    assert report.total_throughput_mbps is None
    assert report.to_dict() == {
        "resources_usage": [
            {"resource": "CPU", "usage": 40.0},
            {"resource": "Memory", "usage": 25.0},
            {"resource": "DiskIO", "usage": 128.0},
            {"resource": "NetworkIO", "usage": 4.0},
        ],
        "topics_len": 5,
        "topic_list": ["/a"],
        "timestamp": 3,
    }


@pytest.mark.parametrize(
    ("topics_len", "loads", "message"),
    [
        (1, [TopicLoad("/a"), TopicLoad("/a")], "'/a' appears twice"),
        (1, [TopicLoad("/zzz")], "topics not in topic_list: /zzz"),
        (4, [TopicLoad("/a")], r"topics_len \(4\) must be the number of topics listed \(1\)"),
    ],
)
def test_builder_rejects_inconsistent_topic_loads(
    topics_len: int, loads: list[TopicLoad], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generate_load_report(
            topics_len,
            ["/a"],
            FixedMonitor(),  # type: ignore[arg-type]
            topic_loads=loads,
        )


# --- the two ways of reading: both exact -------------------------------------------------------


def _many_topics_text(n: int = 3000) -> str:
    """An upstream report of many topic objects (read the fast way: json.loads alone)."""
    topics = [TopicLoad(f"/t/{i}", i, i * 10, i / 1e5, 1, 2, 3, i) for i in range(n)]
    report = LoadReport([SystemLoad(ResourceType.CPU, 5.0)], n, [t.topic_name for t in topics], 1)
    report.broker_id, report.topics = 7, topics
    return report.to_json(schema=UPSTREAM)


def _many_topics(n: int = 3000) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_many_topics_text(n))
    return doc


def test_the_fast_way_reads_many_topics_as_the_careful_way_does() -> None:
    text = _many_topics_text()
    doc = json.loads(text)
    report = LoadReport.from_json(text)
    assert report == LoadReport.from_dict(doc) and report.topics_len == 3000
    assert report.to_json(schema=UPSTREAM) == text
    assert LoadReport.from_json(text.encode("utf-8")) == report


@pytest.mark.parametrize(
    ("text_of", "message"),
    [
        # A key given twice deep in a large document: json.loads alone would keep the last.
        (
            lambda t: t.replace('"message_rate":2500,', '"message_rate":2500,"message_rate":1,'),
            r"field topics\[2500\].message_rate appears twice",
        ),
        (lambda t: t.replace('"broker_id":7', '"broker_id":7,"broker_id":8'), "broker_id.*twice"),
        (lambda t: t.replace('"backlog_messages":2999', '"backlog_messages":true'), "not bool"),
        (lambda t: t.replace('"byte_rate":29990', '"byte_rate":29990.0'), "not float"),
        (lambda t: t.replace('"byte_rate":29990', '"byte_rate":-1'), "must be a u64, got -1"),
        (lambda t: t.replace('"byte_rate_mbps":0.0,', '"byte_rate_mbps":NaN,'), "must be finite"),
        (lambda t: t.replace('"byte_rate_mbps":0.0,', '"byte_rate_mbps":1e999,'), "must be finite"),
        (lambda t: t.replace('"topic_name":"/t/9"', '"topic_name":"\\udc00"'), "not valid Unicode"),
        (lambda t: t.replace('"topic_name":"/t/9"', '"topic_name":null'), "must be a string"),
        (lambda t: t.replace('"usage":5.0', '"usage":500.0'), "at most 100 for CPU"),
    ],
)
def test_the_fast_way_refuses_what_the_careful_way_refuses(
    text_of: Callable[[str], str], message: str
) -> None:
    text = _many_topics_text()
    bad = text_of(text)
    assert bad != text
    with pytest.raises(ReportFormatError, match=message):
        LoadReport.from_json(bad)


@pytest.mark.parametrize(
    "change",
    [
        # An escaped quote, an unknown field in every topic, unknown fields given twice, pretty
        # layout: each makes the quote count or the field count differ from what the fast way
        # expects, and the careful way accepts the report.
        lambda d: d["topics"][5].update(topic_name='/t/"quoted"'),
        lambda d: [t.update(future={"x": ["y"]}) for t in d["topics"]],
        lambda d: d.update(extra="z"),
    ],
)
def test_what_the_fast_way_cannot_vouch_for_is_read_the_careful_way(
    change: Callable[[dict[str, Any]], object],
) -> None:
    doc = _many_topics()
    change(doc)
    expected = LoadReport.from_dict(doc)
    for text in (json.dumps(doc), json.dumps(doc, indent=2)):
        assert LoadReport.from_json(text) == expected
    repeated = json.dumps(doc)[:-1] + ',"extra":1,"extra":2}'
    assert LoadReport.from_json(repeated) == expected


def test_reading_a_dict_does_not_keep_the_callers_objects() -> None:
    doc = _many_topics(50)
    report = LoadReport.from_dict(doc)
    doc["topics"][0]["message_rate"] = -1
    doc["topics"][1]["byte_rate_mbps"] = "x"
    assert report.topics is not None and report.topics[0].message_rate == 0
    assert report.topics[1].byte_rate_mbps == 1e-5
    seed = {"resources_usage": [], "topics_len": 1, "topic_list": ["/a"], "timestamp": 1}
    read = LoadReport.from_dict(seed)
    seed["topic_list"].append(5)  # type: ignore[attr-defined]
    assert read.topic_list == ["/a"]


def test_integer_topic_rates_are_read_as_floats_the_fast_way_too() -> None:
    text = _many_topics_text()
    with_ints = text.replace('"byte_rate_mbps":0.0,', '"byte_rate_mbps":0,')
    assert with_ints != text
    report = LoadReport.from_json(with_ints)
    assert report.topics is not None
    assert type(report.topics[0].byte_rate_mbps) is float
    assert report.to_json(schema=UPSTREAM) == text
