"""The broker's LoadReport: the model, its JSON in two schemas, and the builder.

Two JSON schemas describe the same report; :meth:`LoadReport.from_json` reads either (telling
them apart by the fields present) and :meth:`LoadReport.to_json` writes either.

The seed's schema (``schema="seed"``, the default), compact as serde_json writes it::

    {"resources_usage":[{"resource":"CPU","usage":12.5},{"resource":"Memory","usage":40.0},
     {"resource":"DiskIO","usage":1048576.0},{"resource":"NetworkIO","usage":2048.0}],
     "topics_len":5,"topic_list":["/default/topic1"],"timestamp":1700000000}

The schema Danube brokers publish (``schema="upstream"``: danube-messaging/danube v0.15.1,
``danube-broker/src/danube_service/load_report.rs``)::

    {"resources_usage":[{"resource":"CPU","usage":12.5}],
     "topics":[{"topic_name":"/default/topic1","message_rate":120,"byte_rate":1500000,
                "byte_rate_mbps":1.5,"producer_count":2,"consumer_count":3,
                "subscription_count":1,"backlog_messages":0}],
     "total_throughput_mbps":1.5,"total_message_rate":120,"total_lag_messages":0,
     "timestamp":1700000000,"broker_id":7}

``topics`` and the three ``total_*`` fields are ``#[serde(default)]`` upstream: they may be
absent (read as ``[]``, 0.0, 0, 0). Everything else is required by its schema.

Units: CPU and Memory usage are percentages (0-100); DiskIO and NetworkIO are bytes per second
(read + write, rx + tx); timestamp is Unix seconds. Per topic: message_rate in messages/s,
byte_rate in bytes/s, byte_rate_mbps in megabytes (10^6 bytes) per second despite its name
(upstream fills it as ``byte_rate / 1_000_000``), backlog_messages in messages.

Both schemas are read as serde reads them (unknown fields ignored, a field given twice
rejected), and a little stricter where serde would accept nonsense: usages and rates must be
finite and >= 0.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

# The names imported "as" themselves are re-exported: they were defined here first.
from danube_metrics import serde_json
from danube_metrics.loads import U64_MAX
from danube_metrics.loads import ResourceType as ResourceType
from danube_metrics.loads import SystemLoad as SystemLoad
from danube_metrics.loads import TopicLoad as TopicLoad
from danube_metrics.monitor import ResourceMonitor, create_resource_monitor
from danube_metrics.schemas import SCHEMAS as SCHEMAS
from danube_metrics.schemas import SEED as SEED
from danube_metrics.schemas import UPSTREAM as UPSTREAM
from danube_metrics.schemas import UPSTREAM_VERSION as UPSTREAM_VERSION
from danube_metrics.schemas import decode_json, read_report, unknown_schema
from danube_metrics.schemas import detect_schema as detect_schema
from danube_metrics.serde_json import serde_f64 as serde_f64

log = logging.getLogger("danube_metrics")


@dataclass
class LoadReport:
    """A broker's load report. A resource that could not be measured is absent, never 0.

    The first four fields are the seed's schema and always set. The rest come from the
    upstream schema and are None where a report does not carry them (one read from the seed's
    schema, or built without per-topic loads):

    - ``broker_id``: the broker's u64 id.
    - ``topics``: one :class:`TopicLoad` per topic, in ``topic_list`` order; when set,
      ``topic_list`` is their names and ``topics_len`` their number (checked on creation).
    - ``total_throughput_mbps`` (MB/s), ``total_message_rate`` (messages/s),
      ``total_lag_messages``: the broker's totals. None means "the sum over ``topics``", which
      is how upstream computes them; a report read from upstream JSON keeps what it said.

    :raises ValueError: if ``topics`` disagrees with ``topic_list``/``topics_len``, or
        ``broker_id`` is not a u64.
    """

    resources_usage: list[SystemLoad]
    topics_len: int
    topic_list: list[str]
    timestamp: int = field(default_factory=lambda: int(time.time()))
    broker_id: Optional[int] = None
    topics: Optional[list[TopicLoad]] = None
    total_throughput_mbps: Optional[float] = None
    total_message_rate: Optional[int] = None
    total_lag_messages: Optional[int] = None

    def __post_init__(self) -> None:
        if self.broker_id is not None and (
            isinstance(self.broker_id, bool)
            or not isinstance(self.broker_id, int)
            or not 0 <= self.broker_id <= U64_MAX
        ):
            raise ValueError(f"broker_id must be an int in 0..2^64-1, got {self.broker_id!r}")
        if self.topics is not None:
            names = [t.topic_name for t in self.topics]
            if names != list(self.topic_list) or self.topics_len != len(names):
                raise ValueError(
                    "topics (the per-topic loads) must be one per topic: topic_list must be "
                    f"their names and topics_len their number ({len(names)}), got topics_len "
                    f"{self.topics_len} and {len(self.topic_list)} names in topic_list"
                )

    def usage(self, resource: ResourceType) -> Optional[float]:
        """The usage of one resource, or None when the report lacks it."""
        for load in self.resources_usage:
            if load.resource is resource:
                return load.usage
        return None

    def throughput_mbps(self) -> Optional[float]:
        """Total throughput in MB/s: the report's total, else the sum over its topics, else
        None (a report without per-topic loads does not know it)."""
        if self.total_throughput_mbps is not None:
            return self.total_throughput_mbps
        if self.topics is not None:
            return math.fsum(t.byte_rate_mbps for t in self.topics)
        return None

    def to_dict(self, schema: str = SEED) -> dict[str, Any]:
        """The report as a JSON-ready dict in ``schema`` ("seed" or "upstream").

        :raises ValueError: for an unknown schema, or when the upstream schema cannot hold
            the report (no ``broker_id``; ``topics_len`` differs from ``topic_list``, as
            the upstream schema carries one entry per topic and no separate count).
        """
        resources = [
            {"resource": r.resource.value, "usage": float(r.usage)} for r in self.resources_usage
        ]
        if schema == SEED:
            return {
                "resources_usage": resources,
                "topics_len": self.topics_len,
                "topic_list": list(self.topic_list),
                "timestamp": self.timestamp,
            }
        if schema != UPSTREAM:
            raise unknown_schema(schema)
        if self.broker_id is None:
            raise ValueError("the upstream schema needs broker_id, and this report has none")
        topics = self.topics
        if topics is None:
            if self.topics_len != len(self.topic_list):
                raise ValueError(
                    f"the upstream schema carries one entry per topic: topics_len is "
                    f"{self.topics_len} but topic_list names {len(self.topic_list)}"
                )
            # As upstream does for a topic without metrics yet: an entry of zeros.
            topics = [TopicLoad.idle(name) for name in self.topic_list]
        # Totals left as None are upstream's sums over the topics (zero for idle entries).
        throughput = self.throughput_mbps()
        message_rate = self.total_message_rate
        lag = self.total_lag_messages
        return {
            "resources_usage": resources,
            "topics": [t.to_dict() for t in topics],
            "total_throughput_mbps": 0.0 if throughput is None else throughput,
            "total_message_rate": (
                sum(t.message_rate for t in topics) if message_rate is None else message_rate
            ),
            "total_lag_messages": sum(t.backlog_messages for t in topics) if lag is None else lag,
            "timestamp": self.timestamp,
            "broker_id": self.broker_id,
        }

    def to_json(self, *, indent: Optional[int] = None, schema: str = SEED) -> str:
        """The report as the broker's JSON in ``schema``, byte for byte as serde_json writes it.

        Compact unless ``indent`` is given (then laid out as serde_json's pretty printer with
        that many spaces). Floats are written as Rust's ryu writes them (``40.0``, ``1e16``,
        ``0.00001``), strings as UTF-8 with only ``"``, ``\\`` and control characters escaped.
        Every upstream field is written, the defaulted ones included.

        :raises ValueError: as :meth:`to_dict`, or for a usage that is not finite.
        """
        doc = self.to_dict(schema)
        return serde_json.dumps(doc, indent=indent, floats=_floats_in(doc))

    @classmethod
    def from_dict(cls, data: Any, *, schema: Optional[str] = None) -> LoadReport:
        """Builds a report from decoded JSON in either schema; unknown fields are ignored.

        With ``schema=None`` the schema is told from the fields present: ``topics_len`` or
        ``topic_list`` mean the seed's (which then ignores upstream fields, as serde would),
        else ``broker_id``, ``topics`` or a ``total_*`` field mean upstream's.

        :param schema: "seed" or "upstream" to read the data as that schema whatever it has.
        :raises ReportFormatError: naming the schema and the field that is missing or
            malformed, or the fields expected when the schema cannot be told.
        :raises ValueError: for an unknown ``schema``.
        """
        return read_report(cls, data, schema=schema)

    @classmethod
    def from_json(cls, text: str | bytes, *, schema: Optional[str] = None) -> LoadReport:
        """Parses the broker's JSON in either schema (see :meth:`from_dict`).

        :raises ReportFormatError: for invalid JSON or a malformed report.
        """
        return cls.from_dict(decode_json(text), schema=schema)


def _floats_in(doc: dict[str, Any]) -> list[float]:
    """Every float of a to_dict() document (found where to_dict puts them)."""
    floats = [r["usage"] for r in doc["resources_usage"]]
    if "total_throughput_mbps" in doc:
        floats.append(doc["total_throughput_mbps"])
    for topic in doc.get("topics", ()):
        floats.extend(v for v in topic.values() if type(v) is float)
    return floats


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
    topic_loads: Optional[Iterable[TopicLoad]] = None,
    broker_id: Optional[int] = None,
) -> LoadReport:
    """Measures the machine and builds a LoadReport.

    A resource whose reading fails is left out of the report, with a warning logged on the
    ``danube_metrics`` logger: a fake 0.0 would make a broken broker look idle.

    :param monitor: the monitor to read; by default one shared monitor per process.
    :param timestamp: Unix seconds; now by default.
    :param topic_loads: per-topic loads for the topics the caller has them for. The report
        then carries one :class:`TopicLoad` per topic of ``topic_list`` (an idle entry, all
        zeros, for a topic without one, as upstream writes a topic with no metrics yet) and
        the totals summed from them, so it can be written in the upstream schema.
    :param broker_id: the broker's u64 id (needed for the upstream schema).
    :raises ValueError: if ``topic_loads`` names a topic twice or one not in ``topic_list``,
        or is given while ``topics_len`` differs from the number of topics listed.
    """
    names = list(topic_list)
    topics: Optional[list[TopicLoad]] = None
    if topic_loads is not None:
        by_name: dict[str, TopicLoad] = {}
        for load in topic_loads:
            if load.topic_name in by_name:
                raise ValueError(f"topic_loads: topic {load.topic_name!r} appears twice")
            by_name[load.topic_name] = load
        unknown = sorted(set(by_name) - set(names))
        if unknown:
            raise ValueError(f"topic_loads: topics not in topic_list: {', '.join(unknown)}")
        if int(topics_len) != len(names):
            raise ValueError(
                f"with topic_loads, topics_len ({topics_len}) must be the number of topics "
                f"listed ({len(names)})"
            )
        topics = [by_name.get(name) or TopicLoad.idle(name) for name in names]
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
        names,
        int(time.time()) if timestamp is None else int(timestamp),
        broker_id=broker_id,
        topics=topics,
        total_throughput_mbps=None
        if topics is None
        else math.fsum(t.byte_rate_mbps for t in topics),
        total_message_rate=None if topics is None else sum(t.message_rate for t in topics),
        total_lag_messages=None if topics is None else sum(t.backlog_messages for t in topics),
    )
