"""LoadReport: the broker's JSON, validation, and the builder's handling of failed readings."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import pytest
from conftest import SECOND, T0, FixtureTree

from danube_metrics import (
    LoadReport,
    NativeResourceMonitor,
    ReportFormatError,
    ResourceType,
    SystemLoad,
    generate_load_report,
)
from danube_metrics.monitor import Environment, Readings, _CoreMonitor

SEED_JSON = (
    '{"resources_usage":[{"resource":"CPU","usage":12.5},{"resource":"Memory","usage":40.0},'
    '{"resource":"DiskIO","usage":1048576.0},{"resource":"NetworkIO","usage":2048.0}],'
    '"topics_len":5,"topic_list":["/default/topic1"],"timestamp":1700000000}'
)


def test_round_trip_matches_the_broker_format_byte_for_byte() -> None:
    report = LoadReport.from_json(SEED_JSON)
    assert report.topics_len == 5
    assert report.topic_list == ["/default/topic1"]
    assert report.timestamp == 1700000000
    assert report.usage(ResourceType.CPU) == 12.5
    assert report.usage(ResourceType.DiskIO) == 1048576.0
    assert report.to_json() == SEED_JSON


def test_unknown_fields_are_ignored_like_serde() -> None:
    doc = json.loads(SEED_JSON)
    doc["broker_id"] = 7
    assert LoadReport.from_json(json.dumps(doc)).to_json() == SEED_JSON


def test_integer_usage_is_accepted_and_written_as_float() -> None:
    doc = json.loads(SEED_JSON)
    doc["resources_usage"][0]["usage"] = 12
    assert '"usage":12.0' in LoadReport.from_json(json.dumps(doc)).to_json()


def _mutate(fn: Callable[[dict], object]) -> str:  # type: ignore[type-arg]
    doc = json.loads(SEED_JSON)
    fn(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (_mutate(lambda d: d.pop("timestamp")), "missing field 'timestamp'"),
        (_mutate(lambda d: d.update(topics_len=-1)), "'topics_len' must be a u64"),
        (_mutate(lambda d: d.update(topics_len=True)), "'topics_len' must be an integer"),
        (_mutate(lambda d: d.update(timestamp=1.5)), "'timestamp' must be an integer"),
        (_mutate(lambda d: d.update(topic_list="t")), "'topic_list' must be a list"),
        (_mutate(lambda d: d.update(topic_list=[1])), r"topic_list\[0\] must be a string"),
        (_mutate(lambda d: d.update(resources_usage={})), "'resources_usage' must be a list"),
        (
            _mutate(lambda d: d["resources_usage"][1].update(resource="Disk")),
            r"resources_usage\[1\].resource: unknown resource 'Disk'",
        ),
        (
            _mutate(lambda d: d["resources_usage"][0].update(usage="high")),
            r"resources_usage\[0\].usage must be a number",
        ),
        (
            _mutate(lambda d: d["resources_usage"][0].update(usage=-1)),
            r"resources_usage\[0\].usage must be finite and >= 0",
        ),
        (
            _mutate(lambda d: d["resources_usage"].append({"resource": "CPU", "usage": 1})),
            "resource CPU appears twice",
        ),
        (
            '{"resources_usage":[{"resource":"CPU","usage":NaN}],"topics_len":0,'
            '"topic_list":[],"timestamp":0}',
            "finite",
        ),
    ],
)
def test_malformed_reports_are_rejected_with_a_precise_error(text: str, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message) as info:
        LoadReport.from_json(text)
    assert isinstance(info.value, ValueError)


def test_ten_thousand_topics_round_trip() -> None:
    topics = [f"/default/topic-{i}" for i in range(10_000)]
    report = LoadReport([SystemLoad(ResourceType.CPU, 1.0)], len(topics), topics, 1)
    text = report.to_json()
    back = LoadReport.from_json(text)
    assert back == report
    assert len(json.loads(text)["topic_list"]) == 10_000


def test_builder_uses_the_monitor_readings(tree_factory: Callable[[str], FixtureTree]) -> None:
    tree = tree_factory("linux-4.9")
    with NativeResourceMonitor(str(tree.root), _start_ns=T0) as mon:
        tree.advance()
        readings = mon._sample_at(T0 + 2 * SECOND)

    class Frozen(_CoreMonitor):
        def read_all(self) -> Readings:
            return readings

        def describe(self) -> str:
            return "frozen readings"

        @property
        def environment(self) -> Environment:
            raise NotImplementedError

    report = generate_load_report(2, ["/a", "/b"], Frozen(), timestamp=42)
    assert report.to_dict() == {
        "resources_usage": [
            {"resource": "CPU", "usage": 40.0},
            {"resource": "Memory", "usage": 25.0},
            {"resource": "DiskIO", "usage": (1004 + 8000) * 512 / 2},
            {"resource": "NetworkIO", "usage": (30000 + 60000) / 2},
        ],
        "topics_len": 2,
        "topic_list": ["/a", "/b"],
        "timestamp": 42,
    }


def test_failed_reading_is_left_out_not_zero(
    tree_factory: Callable[[str], FixtureTree], caplog: pytest.LogCaptureFixture
) -> None:
    tree = tree_factory("linux-6.1").without_device_files()
    with NativeResourceMonitor(str(tree.root), min_interval=0) as mon:
        tree.write("proc/diskstats", "garbage\n")
        with caplog.at_level(logging.WARNING, logger="danube_metrics"):
            report = generate_load_report(0, [], mon)
    kinds = [r.resource for r in report.resources_usage]
    assert ResourceType.DiskIO not in kinds
    assert ResourceType.Memory in kinds
    assert report.usage(ResourceType.DiskIO) is None
    assert any("disk left out" in r.message and "diskstats" in r.message for r in caplog.records)


def test_default_monitor_report_on_this_machine() -> None:
    report = generate_load_report(1, ["/default/t"])
    assert report.usage(ResourceType.Memory) is not None
    assert 0.0 < report.usage(ResourceType.Memory) <= 100.0  # type: ignore[operator]
    assert LoadReport.from_json(report.to_json()) == report


# --- construction validates (issue 12) ---------------------------------------------------------


class UnreadMonitor(_CoreMonitor):
    """Fails the test if read: a bad argument must be refused before anything is measured."""

    def read_all(self) -> Readings:
        raise AssertionError("the monitor was read despite a bad argument")

    def describe(self) -> str:
        return "unread"

    @property
    def environment(self) -> Environment:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((-1, []), {}, ValueError, "topics_len must be a u64, got -1"),
        ((2**64, []), {}, ValueError, "topics_len must be a u64"),
        ((True, []), {}, TypeError, "topics_len must be an integer, not bool"),
        ((1.0, []), {}, TypeError, "topics_len must be an integer, not float"),
        ((4, "/abc"), {}, TypeError, "topic_list must be an iterable of str .* not str"),
        ((4, b"/abc"), {}, TypeError, "topic_list must be an iterable of str .* not bytes"),
        ((1, [1]), {}, TypeError, r"topic_list\[0\] must be a string, not int"),
        ((2, ["/a", "/\udc00"]), {}, ValueError, r"topic_list\[1\] is not valid Unicode"),
        ((0, []), {"timestamp": 1.5}, TypeError, "timestamp must be an integer, not float"),
        ((0, []), {"timestamp": -1}, ValueError, "timestamp must be a u64"),
        ((0, []), {"broker_id": "7"}, TypeError, "broker_id must be an integer, not str"),
        ((1, ["/a"]), {"topic_loads": [{"topic_name": "/a"}]}, TypeError, r"topic_loads\[0\]"),
        ((1, ["/a"]), {"topic_loads": "/a"}, TypeError, "topic_loads must be an iterable"),
    ],
)
def test_builder_refuses_bad_arguments_before_measuring(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        generate_load_report(*args, UnreadMonitor(), **kwargs)  # type: ignore[arg-type, call-arg]


def test_builder_takes_any_iterable_of_names_but_a_string() -> None:
    report = generate_load_report(2, (n for n in ["/a", "/b"]), FixedReadings(), timestamp=1)
    assert report.topic_list == ["/a", "/b"]


class FixedReadings(_CoreMonitor):
    def read_all(self) -> Readings:
        return Readings(40.0, 25.0, None, None, {})

    def describe(self) -> str:
        return "fixed"

    @property
    def environment(self) -> Environment:
        raise NotImplementedError


@pytest.mark.parametrize(
    ("resource", "usage", "error", "message"),
    [
        (ResourceType.CPU, -3.0, ValueError, "SystemLoad.usage must be finite and >= 0, got -3.0"),
        (ResourceType.CPU, 250.0, ValueError, "at most 100 for CPU .* got 250.0"),
        (ResourceType.Memory, 100.5, ValueError, "at most 100 for Memory"),
        (ResourceType.DiskIO, float("nan"), ValueError, "finite"),
        (ResourceType.NetworkIO, 10**400, ValueError, "finite and >= 0, got an integer of"),
        (ResourceType.CPU, True, TypeError, "SystemLoad.usage must be a number, not bool"),
        (ResourceType.CPU, "1", TypeError, "must be a number, not str"),
        ("CPU", 1.0, TypeError, r"SystemLoad.resource must be a ResourceType \(ResourceType.CPU"),
        (None, 1.0, TypeError, "SystemLoad.resource must be a ResourceType, not null"),
    ],
)
def test_system_load_validates(
    resource: object, usage: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SystemLoad(resource, usage)  # type: ignore[arg-type]


def test_system_load_limits_only_percentages_and_keeps_floats() -> None:
    assert SystemLoad(ResourceType.CPU, 100).usage == 100.0
    assert isinstance(SystemLoad(ResourceType.CPU, 100).usage, float)
    assert SystemLoad(ResourceType.DiskIO, 250.0).usage == 250.0  # bytes/s: no upper bound
    assert SystemLoad(ResourceType.NetworkIO, 1e300).usage == 1e300


CPU1 = SystemLoad(ResourceType.CPU, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"topics_len": -1}, ValueError, "LoadReport.topics_len must be a u64, got -1"),
        ({"topics_len": True}, TypeError, "LoadReport.topics_len must be an integer, not bool"),
        ({"topic_list": "/abc"}, TypeError, "LoadReport.topic_list must be a list of str, not str"),
        ({"topic_list": [1]}, TypeError, r"LoadReport.topic_list\[0\] must be a string"),
        ({"topic_list": ["\ud800"]}, ValueError, "not valid Unicode"),
        ({"timestamp": 1.5}, TypeError, "LoadReport.timestamp must be an integer"),
        ({"timestamp": 2**64}, ValueError, "LoadReport.timestamp must be a u64"),
        ({"resources_usage": CPU1}, TypeError, "resources_usage must be a list of SystemLoad"),
        ({"resources_usage": [("CPU", 1.0)]}, TypeError, r"resources_usage\[0\] must be a Sys"),
        ({"resources_usage": [CPU1, CPU1]}, ValueError, r"\[1\]: resource CPU appears twice"),
        ({"total_message_rate": -1}, ValueError, "LoadReport.total_message_rate must be a u64"),
        ({"total_lag_messages": 1.0}, TypeError, "total_lag_messages must be an integer"),
        ({"total_throughput_mbps": -0.5}, ValueError, "total_throughput_mbps must be finite"),
        ({"topics": ["/a"]}, TypeError, r"LoadReport.topics\[0\] must be a TopicLoad, not str"),
    ],
)
def test_load_report_validates_every_field(
    kwargs: dict[str, object], error: type[Exception], message: str
) -> None:
    fields: dict[str, object] = {
        "resources_usage": [CPU1],
        "topics_len": 0,
        "topic_list": [],
        "timestamp": 1,
        **kwargs,
    }
    with pytest.raises(error, match=message):
        LoadReport(**fields)  # type: ignore[arg-type]


def test_sums_standing_for_missing_totals_must_fit_too() -> None:
    from danube_metrics import TopicLoad

    big = [TopicLoad("/a", message_rate=2**63), TopicLoad("/b", message_rate=2**63)]
    with pytest.raises(ValueError, match="total_message_rate is None, so the sum of message_rate"):
        LoadReport([], 2, ["/a", "/b"], 1, topics=big)
    given = LoadReport([], 2, ["/a", "/b"], 1, broker_id=1, topics=big, total_message_rate=5)
    assert json.loads(given.to_json(schema="upstream"))["total_message_rate"] == 5
    fast = [TopicLoad("/a", byte_rate_mbps=1e308), TopicLoad("/b", byte_rate_mbps=1e308)]
    with pytest.raises(ValueError, match="sum of byte_rate_mbps over topics, which is not finite"):
        LoadReport([], 2, ["/a", "/b"], 1, topics=fast)


def test_a_tuple_is_taken_as_a_list() -> None:
    report = LoadReport((CPU1,), 1, ("/a",), 1)  # type: ignore[arg-type]
    assert report.resources_usage == [CPU1] and report.topic_list == ["/a"]


# Each breaks a rule after creation: by reassigning a field, or changing a list in place.
MUTATIONS: list[tuple[Callable[[LoadReport], object], str]] = [
    (lambda r: setattr(r, "topics_len", -1), "topics_len must be a u64"),
    (lambda r: setattr(r, "topic_list", "/abc"), "topic_list must be a list of str"),
    (lambda r: r.topic_list.append(1), r"topic_list\[1\] must be a string"),  # type: ignore[arg-type]
    (lambda r: r.topic_list.append("\udfff"), "not valid Unicode"),
    (lambda r: setattr(r, "timestamp", True), "timestamp must be an integer, not bool"),
    (lambda r: r.resources_usage.append(CPU1), "resource CPU appears twice"),
    (lambda r: r.resources_usage.append({"resource": "CPU"}), "must be a SystemLoad"),  # type: ignore[arg-type]
    (lambda r: setattr(r, "broker_id", -7), "broker_id must be a u64"),
    (lambda r: setattr(r, "total_throughput_mbps", float("inf")), "must be finite"),
    (lambda r: setattr(r, "total_message_rate", 2**64), "total_message_rate must be a u64"),
]


@pytest.mark.parametrize("schema", ["seed", "upstream"])
@pytest.mark.parametrize(("mutate", "message"), MUTATIONS)
def test_a_report_changed_after_creation_is_checked_again_when_written(
    mutate: Callable[[LoadReport], object], message: str, schema: str
) -> None:
    report = LoadReport([CPU1], 1, ["/a"], 1, broker_id=3)
    assert LoadReport.from_json(report.to_json(schema=schema)).to_json(schema=schema)
    mutate(report)
    with pytest.raises((TypeError, ValueError), match=message):
        report.to_json(schema=schema)
    with pytest.raises((TypeError, ValueError), match=message):
        report.to_dict(schema)


# --- the reader's limits ----------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["seed", "upstream"])
@pytest.mark.parametrize(
    ("resource", "usage", "accepted"),
    [("CPU", 250, False), ("Memory", 100.000001, False), ("CPU", 100, True), ("DiskIO", 250, True)],
)
def test_the_reader_refuses_percentages_above_100(
    schema: str, resource: str, usage: float, accepted: bool
) -> None:
    report = LoadReport([SystemLoad(ResourceType.NetworkIO, 1.0)], 0, [], 1, broker_id=1)
    doc = json.loads(report.to_json(schema=schema))
    doc["resources_usage"].append({"resource": resource, "usage": usage})
    if accepted:
        assert LoadReport.from_json(json.dumps(doc)).usage(ResourceType(resource)) == usage
        return
    message = rf"resources_usage\[1\].usage must be at most 100 for {resource} .* got {usage}"
    with pytest.raises(ReportFormatError, match=message):
        LoadReport.from_json(json.dumps(doc))


def test_rank_refuses_a_report_of_cpu_250_percent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from danube_metrics.cli import main

    path = tmp_path / "hot.json"
    path.write_text(
        '{"resources_usage":[{"resource":"CPU","usage":250.0}],"topics_len":0,'
        '"topic_list":[],"timestamp":1700000000}',
        encoding="utf-8",
    )
    assert main(["rank", str(path), "--any-age"]) == 1
    err = capsys.readouterr().err
    assert "hot.json" in err and "usage must be at most 100 for CPU" in err and "250.0" in err
