"""The broker's LoadReport: the model, its JSON (the broker's serde format) and the builder.

JSON example (compact, as serde_json writes it)::

    {"resources_usage":[{"resource":"CPU","usage":12.5},{"resource":"Memory","usage":40.0},
     {"resource":"DiskIO","usage":1048576.0},{"resource":"NetworkIO","usage":2048.0}],
     "topics_len":5,"topic_list":["/default/topic1"],"timestamp":1700000000}

CPU and Memory usage are percentages (0-100); DiskIO and NetworkIO are bytes per second
(read + write, rx + tx); timestamp is Unix seconds.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from danube_metrics.errors import ReportFormatError
from danube_metrics.monitor import ResourceMonitor, create_resource_monitor

log = logging.getLogger("danube_metrics")


class ResourceType(str, enum.Enum):
    """The resources of a report, named as the broker's serde enum variants."""

    CPU = "CPU"
    Memory = "Memory"
    DiskIO = "DiskIO"
    NetworkIO = "NetworkIO"


@dataclass(frozen=True)
class SystemLoad:
    """One resource's usage: percent for CPU and Memory, bytes/s for DiskIO and NetworkIO."""

    resource: ResourceType
    usage: float


@dataclass
class LoadReport:
    """A broker's load report. A resource that could not be measured is absent, never 0."""

    resources_usage: list[SystemLoad]
    topics_len: int
    topic_list: list[str]
    timestamp: int = field(default_factory=lambda: int(time.time()))

    def usage(self, resource: ResourceType) -> Optional[float]:
        """The usage of one resource, or None when the report lacks it."""
        for load in self.resources_usage:
            if load.resource is resource:
                return load.usage
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "resources_usage": [
                {"resource": r.resource.value, "usage": float(r.usage)}
                for r in self.resources_usage
            ],
            "topics_len": self.topics_len,
            "topic_list": list(self.topic_list),
            "timestamp": self.timestamp,
        }

    def to_json(self, *, indent: Optional[int] = None) -> str:
        """The report as the broker's JSON (compact unless ``indent`` is given)."""
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self.to_dict(), indent=indent, separators=separators, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Any) -> LoadReport:
        """Builds a report from decoded JSON; unknown fields are ignored (as serde does).

        :raises ReportFormatError: naming the field that is missing or malformed.
        """
        if not isinstance(data, Mapping):
            raise ReportFormatError(f"a LoadReport must be a JSON object, not {_kind(data)}")
        for key in ("resources_usage", "topics_len", "topic_list", "timestamp"):
            if key not in data:
                raise ReportFormatError(f"missing field {key!r}")
        resources = data["resources_usage"]
        if not isinstance(resources, list):
            raise ReportFormatError(f"'resources_usage' must be a list, not {_kind(resources)}")
        loads: list[SystemLoad] = []
        seen: set[ResourceType] = set()
        for i, item in enumerate(resources):
            where = f"resources_usage[{i}]"
            if not isinstance(item, Mapping):
                raise ReportFormatError(f"{where} must be an object, not {_kind(item)}")
            if "resource" not in item or "usage" not in item:
                raise ReportFormatError(f"{where} needs 'resource' and 'usage'")
            name = item["resource"]
            try:
                resource = ResourceType(name)
            except ValueError:
                known = ", ".join(r.value for r in ResourceType)
                raise ReportFormatError(
                    f"{where}.resource: unknown resource {name!r} (expected one of {known})"
                ) from None
            if resource in seen:
                raise ReportFormatError(f"{where}: resource {resource.value} appears twice")
            seen.add(resource)
            usage = item["usage"]
            if isinstance(usage, bool) or not isinstance(usage, (int, float)):
                raise ReportFormatError(f"{where}.usage must be a number, not {_kind(usage)}")
            if not math.isfinite(usage) or usage < 0:
                raise ReportFormatError(f"{where}.usage must be finite and >= 0, got {usage}")
            loads.append(SystemLoad(resource, float(usage)))
        topics_len = _non_negative_int(data["topics_len"], "topics_len")
        topic_list = data["topic_list"]
        if not isinstance(topic_list, list):
            raise ReportFormatError(f"'topic_list' must be a list, not {_kind(topic_list)}")
        for i, topic in enumerate(topic_list):
            if not isinstance(topic, str):
                raise ReportFormatError(f"topic_list[{i}] must be a string, not {_kind(topic)}")
        timestamp = _non_negative_int(data["timestamp"], "timestamp")
        return cls(loads, topics_len, list(topic_list), timestamp)

    @classmethod
    def from_json(cls, text: str | bytes) -> LoadReport:
        """Parses the broker's JSON.

        :raises ReportFormatError: for invalid JSON or a malformed report.
        """
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ReportFormatError(f"not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportFormatError(f"{name!r} must be an integer, not {_kind(value)}")
    if value < 0 or value >= 2**64:
        raise ReportFormatError(f"{name!r} must be a u64, got {value}")
    return value


_default_monitor: Optional[ResourceMonitor] = None
_default_lock = threading.Lock()


def _shared_monitor() -> ResourceMonitor:
    """The process-wide monitor used when none is passed (created on first use)."""
    global _default_monitor
    with _default_lock:
        if _default_monitor is None:
            _default_monitor = create_resource_monitor()
        return _default_monitor


def generate_load_report(
    topics_len: int,
    topic_list: Iterable[str],
    monitor: Optional[ResourceMonitor] = None,
    *,
    timestamp: Optional[int] = None,
) -> LoadReport:
    """Measures the machine and builds a LoadReport.

    A resource whose reading fails is left out of the report, with a warning logged on the
    ``danube_metrics`` logger: a fake 0.0 would make a broken broker look idle.

    :param monitor: the monitor to read; by default one shared monitor per process.
    :param timestamp: Unix seconds; now by default.
    """
    mon = monitor if monitor is not None else _shared_monitor()
    readings = mon.read_all()
    loads: list[SystemLoad] = []
    if readings.cpu_percent is not None:
        loads.append(SystemLoad(ResourceType.CPU, readings.cpu_percent))
    if readings.memory_percent is not None:
        loads.append(SystemLoad(ResourceType.Memory, readings.memory_percent))
    if readings.disk is not None:
        loads.append(SystemLoad(ResourceType.DiskIO, readings.disk.total_bytes_per_sec()))
    if readings.network is not None:
        loads.append(SystemLoad(ResourceType.NetworkIO, readings.network.total_bytes_per_sec()))
    for name, err in readings.errors.items():
        log.warning("load report: %s left out: %s", name, err)
    return LoadReport(
        loads,
        int(topics_len),
        list(topic_list),
        int(time.time()) if timestamp is None else int(timestamp),
    )
