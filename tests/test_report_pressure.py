"""Pressure in the LoadReport (issue 14): the optional "pressure" object in both schemas, its
golden files, the constructor's and the reader's rules, and generate_load_report(pressure=True)
with a monitor whose pressure reading works, is not supported, or fails."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest

from danube_metrics import LoadReport, Pressure, ReportFormatError, ResourceType, SystemLoad
from danube_metrics.errors import DanubeMetricsError, NotReadyError, NotSupportedError
from danube_metrics.measure import generate_load_report
from danube_metrics.monitor import Environment, Readings, _CoreMonitor
from danube_metrics.readings import DiskIOStats, NetworkIOStats
from danube_metrics.report import SEED, UPSTREAM

GOLDEN = Path(__file__).parent / "golden"

HOST_PRESSURE = Pressure(12.5, 0.75, 0.0, 3.25, 1.5, None, None)
CGROUP_PRESSURE = Pressure(62.5, 4.0, 0.25, 0.00001, 1e-7, 62.0, 1.375)


def golden(name: str) -> str:
    text = (GOLDEN / name).read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    return text[:-1]


# --- the golden files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "without", "schema", "pressure"),
    [
        ("seed_pressure.json", "seed.json", SEED, HOST_PRESSURE),
        ("upstream_pressure.json", "upstream.json", UPSTREAM, CGROUP_PRESSURE),
    ],
)
def test_golden_files_with_pressure_round_trip_byte_for_byte(
    name: str, without: str, schema: str, pressure: Pressure
) -> None:
    text = golden(name)
    report = LoadReport.from_json(text)
    assert report.pressure == pressure
    assert all(v is None or type(v) is float for v in report.pressure)
    assert report.to_json(schema=schema) == text
    assert LoadReport.from_json(text.encode("utf-8")) == report
    # The same report without its pressure is the golden file without it, byte for byte: the
    # object is only ever added, last.
    plain = LoadReport.from_json(golden(without))
    assert plain.pressure is None
    plain.pressure = pressure
    assert plain == report and plain.to_json(schema=schema) == text
    plain.pressure = None
    assert plain.to_json(schema=schema) == golden(without)
    # Pretty-printed, it reads back the same.
    pretty = report.to_json(schema=schema, indent=2)
    assert '"cpu_throttled_percent": ' in pretty
    assert LoadReport.from_json(pretty) == report


def test_the_seven_figures_are_written_in_order_nulls_included() -> None:
    doc = json.loads(golden("seed_pressure.json"))
    assert list(doc) == ["resources_usage", "topics_len", "topic_list", "timestamp", "pressure"]
    assert list(doc["pressure"]) == list(Pressure._fields)
    assert doc["pressure"]["cpu_throttled_percent"] is None


# --- reading -------------------------------------------------------------------------------------


def with_pressure(pressure_json: str, name: str = "seed.json") -> str:
    return golden(name)[:-1] + ',"pressure":' + pressure_json + "}"


@pytest.mark.parametrize("name", ["seed.json", "upstream.json"])
def test_null_or_absent_pressure_is_none_and_absent_figures_are_null(name: str) -> None:
    assert LoadReport.from_json(with_pressure("null", name)).pressure is None
    assert LoadReport.from_json(with_pressure("{}", name)).pressure == Pressure(*[None] * 7)
    partial = LoadReport.from_json(
        with_pressure('{"cpu_some_percent":5,"extra":[1,{"a":2}]}', name)
    )
    assert partial.pressure == Pressure(5.0, None, None, None, None, None, None)
    assert type(partial.pressure.cpu_some_percent) is float  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pressure_json", "message"),
    [
        ("[1,2]", "'pressure' must be an object or null, not list"),
        ("5", "'pressure' must be an object or null, not int"),
        ('{"cpu_some_percent":101}', "pressure.cpu_some_percent must be at most 100"),
        ('{"io_full_percent":-0.5}', "pressure.io_full_percent must be finite and >= 0"),
        ('{"memory_full_percent":"3"}', "pressure.memory_full_percent must be a number, not str"),
        ('{"cpu_throttled_percent":true}', "must be a number, not bool"),
        ('{"cpu_some_percent":NaN}', "pressure.cpu_some_percent must be finite"),
        ('{"cpu_some_percent":1,"cpu_some_percent":2}', "pressure.cpu_some_percent appears twice"),
    ],
)
def test_malformed_pressure_is_refused_naming_the_figure(pressure_json: str, message: str) -> None:
    for name in ("seed.json", "upstream.json"):
        with pytest.raises(ReportFormatError, match=re.escape(message)):
            LoadReport.from_json(with_pressure(pressure_json, name))


def test_throttled_seconds_per_second_may_pass_one_hundred() -> None:
    # Seconds per second summed over CPUs: not a percentage.
    text = with_pressure('{"cpu_throttled_seconds_per_second":128.0}')
    assert LoadReport.from_json(text).pressure.cpu_throttled_seconds_per_second == 128.0  # type: ignore[union-attr]


def test_pressure_given_twice_is_refused() -> None:
    text = with_pressure('{},"pressure":null')
    with pytest.raises(ReportFormatError, match="field 'pressure' appears twice"):
        LoadReport.from_json(text)


def test_many_topics_with_pressure_read_the_fast_way_and_refuse_duplicates_the_careful_way() -> (
    None
):
    topics = [{**json.loads(golden("upstream.json"))["topics"][0], "topic_name": f"/t/{i}"}
              for i in range(2000)]  # fmt: skip
    doc = {**json.loads(golden("upstream_pressure.json")), "topics": topics}
    doc.pop("total_throughput_mbps")
    text = json.dumps(doc, separators=(",", ":"))
    report = LoadReport.from_json(text)
    assert report.pressure == CGROUP_PRESSURE and report.topics_len == 2000
    twice = text.replace('"io_full_percent":1e-07', '"io_full_percent":1e-07,"io_full_percent":0')
    assert twice != text
    twice_message = re.escape("pressure.io_full_percent appears twice")
    with pytest.raises(ReportFormatError, match=twice_message):
        LoadReport.from_json(twice)


# --- the constructor -----------------------------------------------------------------------------


def test_the_constructor_checks_and_normalises_pressure() -> None:
    loads = [SystemLoad(ResourceType.CPU, 1.0)]
    report = LoadReport(loads, 0, [], 1, pressure=Pressure(1, 0, 0, 0, 0, None, 3))
    assert report.pressure == Pressure(1.0, 0.0, 0.0, 0.0, 0.0, None, 3.0)
    assert all(v is None or type(v) is float for v in report.pressure)  # type: ignore[union-attr]
    kept = Pressure(1.0, None, None, None, None, None, None)
    assert LoadReport(loads, 0, [], 1, pressure=kept).pressure is kept
    bad: list[tuple[Any, type[Exception], str]] = [
        ((1.0,) * 7, TypeError, "LoadReport.pressure must be a Pressure, not tuple"),
        ({"cpu_some_percent": 1.0}, TypeError, "must be a Pressure, not dict"),
        (Pressure(100.5, *[None] * 6), ValueError, "pressure.cpu_some_percent must be at most 100"),
        (Pressure(*[None] * 5, 250.0, None), ValueError, "cpu_throttled_percent must be at most"),
        (Pressure(None, math.nan, *[None] * 5), ValueError, "memory_some_percent must be finite"),
        (Pressure(*[None] * 6, math.inf), ValueError, "cpu_throttled_seconds_per_second must be"),
        (Pressure(*[None] * 4, -1.0, None, None), ValueError, "io_full_percent must be finite"),
        (Pressure(None, None, False, *[None] * 4), TypeError, "must be a number, not bool"),
        (Pressure("1", *[None] * 6), TypeError, "cpu_some_percent must be a number, not str"),
    ]
    for value, kind, message in bad:
        with pytest.raises(kind, match=re.escape(message)):
            LoadReport(loads, 0, [], 1, pressure=value)
    # Reassigned after creation: checked again before writing.
    report.pressure = Pressure(*[None] * 3, 300.0, *[None] * 3)
    above = re.escape("LoadReport.pressure.io_some_percent must be at most")
    with pytest.raises(ValueError, match=above):
        report.to_json()


# --- generate_load_report(pressure=True) ---------------------------------------------------------


class Frozen(_CoreMonitor):
    """Fixed readings, and a pressure reading that returns or raises what it is given."""

    def __init__(self, pressure: Any) -> None:
        self.pressure = pressure
        self.pressure_calls = 0

    def read_all(self) -> Readings:
        return Readings(10.0, 20.0, DiskIOStats(1.0, 2.0), NetworkIOStats(3.0, 4.0), {})

    def get_pressure(self) -> Pressure:
        self.pressure_calls += 1
        if isinstance(self.pressure, BaseException):
            raise self.pressure
        assert isinstance(self.pressure, Pressure)
        return self.pressure

    def describe(self) -> str:
        return "frozen readings"

    @property
    def environment(self) -> Environment:
        raise NotImplementedError


def test_pressure_is_read_only_when_asked_and_written_last() -> None:
    mon = Frozen(CGROUP_PRESSURE)
    plain = generate_load_report(1, ["/a"], mon, timestamp=5)
    assert mon.pressure_calls == 0 and plain.pressure is None
    assert "pressure" not in plain.to_json()
    report = generate_load_report(1, ["/a"], mon, timestamp=5, pressure=True)
    assert mon.pressure_calls == 1 and report.pressure == CGROUP_PRESSURE
    doc = json.loads(report.to_json())
    assert list(doc)[-1] == "pressure" and doc["pressure"]["cpu_throttled_percent"] == 62.0
    upstream = generate_load_report(1, ["/a"], mon, timestamp=5, broker_id=1, pressure=True)
    assert LoadReport.from_json(upstream.to_json(schema=UPSTREAM)).pressure == CGROUP_PRESSURE


@pytest.mark.parametrize(
    "failure",
    [
        NotSupportedError("pressure", None, "no /proc/pressure (a kernel without CONFIG_PSI)"),
        NotReadyError("pressure", "/proc/pressure/cpu", "no interval yet"),
    ],
)
def test_a_pressure_reading_that_fails_leaves_it_out_with_a_warning(
    failure: DanubeMetricsError, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="danube_metrics"):
        report = generate_load_report(0, [], Frozen(failure), timestamp=5, pressure=True)
    assert report.pressure is None and len(report.resources_usage) == 4
    assert "pressure" not in report.to_json()
    warned = [r.message for r in caplog.records if "pressure left out" in r.message]
    assert warned == [f"load report: pressure left out: {failure}"]


def test_other_exceptions_from_the_pressure_reading_propagate() -> None:
    # Anything but an exception from the reading propagates (a bug is not a missing figure).
    with pytest.raises(RuntimeError):
        generate_load_report(0, [], Frozen(RuntimeError("bug")), pressure=True)
