"""What a LoadPublisher measures into its reports (issue 15 with issue 14's pressure): the
pressure of every report from the first, a monitor without pressure said once, and a reading
that fails at every report said once (again after it recovered), not every few seconds.

Driven with step() on a folder store and a scripted monitor: no thread, no clock in a verdict.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Union

import pytest

from danube_metrics.cluster import DirectoryStore, LoadPublisher
from danube_metrics.errors import NotReadyError, NotSupportedError, ReadingError
from danube_metrics.monitor import Readings
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Pressure
from danube_metrics.report import ResourceType

CALM = Pressure(2.0, 0.5, 0.0, 1.0, 0.25, None, None)
NOT_COUNTING = NotSupportedError("disk", None, "cgroup v1 blkio does not count this I/O")


class ScriptedMonitor:
    """A monitor whose readings and pressure readings follow a script (the last repeats)."""

    def __init__(self, readings: list[Readings], pressure: list[Union[Pressure, Exception]]):
        self.readings = readings
        self.pressure = pressure
        self.pressure_calls = 0

    def read_all(self) -> Readings:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]

    def get_pressure(self) -> Pressure:
        self.pressure_calls += 1
        item = self.pressure.pop(0) if len(self.pressure) > 1 else self.pressure[0]
        if isinstance(item, Exception):
            raise item
        return item


def readings(disk_error: bool = False) -> Readings:
    if disk_error:
        return Readings(10.0, 20.0, None, NetworkIOStats(1.0, 2.0), {"disk": NOT_COUNTING})
    return Readings(10.0, 20.0, DiskIOStats(3.0, 4.0), NetworkIOStats(1.0, 2.0), {})


def publisher(tmp_path: Path, monitor: Any, **kwargs: Any) -> LoadPublisher:
    store = DirectoryStore(tmp_path / "load", ttl=30.0)
    return LoadPublisher(store, 9, monitor, interval=1.0, ttl=30.0, warmup=0.0, **kwargs)


def publish(p: LoadPublisher, times: int) -> list[Any]:
    """`times` reports, each due at once (the schedule moved to now)."""
    reports = []
    p.on_publish = lambda _p, report: reports.append(report)
    for _ in range(times):
        p._next_publish = 0.0
        p.step()
    assert p.failed == 0, p.last_error
    return reports


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_every_report_has_the_pressure_from_the_first(tmp_path: Path) -> None:
    # The first pressure reading takes the baseline: the publisher makes it when it starts.
    monitor = ScriptedMonitor([readings()], [NotReadyError("pressure", None, "baseline"), CALM])
    reports = publish(publisher(tmp_path, monitor), 3)
    assert [r.pressure for r in reports] == [CALM, CALM, CALM]
    assert monitor.pressure_calls == 4  # the baseline, then one a report


def test_a_monitor_without_pressure_is_asked_once_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    none = NotSupportedError("pressure", None, "cgroup v1 without a CPU quota")
    monitor = ScriptedMonitor([readings()], [none])
    with caplog.at_level(logging.INFO, logger="danube_metrics"):
        reports = publish(publisher(tmp_path, monitor), 3)
    assert [r.pressure for r in reports] == [None, None, None]
    assert monitor.pressure_calls == 1
    assert warnings_of(caplog) == []
    assert sum("without pressure" in r.getMessage() for r in caplog.records) == 1


def test_without_pressure_when_told(tmp_path: Path) -> None:
    monitor = ScriptedMonitor([readings()], [CALM])
    reports = publish(publisher(tmp_path, monitor, pressure=False), 2)
    assert [r.pressure for r in reports] == [None, None]
    assert monitor.pressure_calls == 0


def test_a_lasting_failure_is_said_once_and_again_after_it_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = [readings(True)] * 3 + [readings()] + [readings(True)] * 2
    monitor = ScriptedMonitor(script, [CALM])
    with caplog.at_level(logging.WARNING, logger="danube_metrics"):
        reports = publish(publisher(tmp_path, monitor), 6)
    assert [r.usage(ResourceType.DiskIO) is None for r in reports] == [
        True,
        True,
        True,
        False,
        True,
        True,
    ]
    said = warnings_of(caplog)
    assert len(said) == 2, said
    assert all("disk left out of its reports" in m and "does not count" in m for m in said)


def test_a_failure_that_changes_is_said_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreadable = ReadingError("disk", 13, "Permission denied", "/sys/block/vda/stat")
    other = Readings(10.0, 20.0, None, NetworkIOStats(1.0, 2.0), {"disk": unreadable})
    monitor = ScriptedMonitor([readings(True), other, other], [CALM])
    with caplog.at_level(logging.WARNING, logger="danube_metrics"):
        publish(publisher(tmp_path, monitor), 3)
    assert len(warnings_of(caplog)) == 2
