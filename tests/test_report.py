"""LoadReport: the broker's JSON, validation, and the builder's handling of failed readings."""

from __future__ import annotations

import json
import logging
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
