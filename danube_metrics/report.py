"""The broker's LoadReport: the model and its JSON in two schemas.

:func:`generate_load_report`, which measures this machine into a report, is in
:mod:`danube_metrics.measure`; it can still be imported from here, and is loaded on first use,
so that the model (and what only reads reports, such as :mod:`danube_metrics.rankings`) never
needs the C extension.

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

Either schema may end with an optional ``"pressure"`` object, written only for a report that
has one (``generate_load_report(..., pressure=True)``), so that other reports stay byte for
byte as they were and a reader that ignores unknown fields (serde's default) still reads them::

    "pressure":{"cpu_some_percent":12.5,"memory_some_percent":0.0,"memory_full_percent":0.0,
                "io_some_percent":1.25,"io_full_percent":0.5,"cpu_throttled_percent":null,
                "cpu_throttled_seconds_per_second":null}

Its seven figures are those of :class:`~danube_metrics.readings.Pressure`, in that order, each
``null`` where the monitor cannot have it (as serde writes ``Option::None``). Read back, a
``null`` or absent ``pressure`` is none, and a figure absent from it is ``null`` (serde's
``Option`` fields).

Units: CPU and Memory usage are percentages (0-100); DiskIO and NetworkIO are bytes per second
(read + write, rx + tx); timestamp is Unix seconds. Per topic: message_rate in messages/s,
byte_rate in bytes/s, byte_rate_mbps in megabytes (10^6 bytes) per second despite its name
(upstream fills it as ``byte_rate / 1_000_000``), backlog_messages in messages.

Both schemas are read as serde reads them (unknown fields ignored, a field given twice
rejected), and a little stricter where serde would accept nonsense: usages and rates must be
finite and >= 0.
"""

from __future__ import annotations

# generate_load_report also imports from here (it measures, so a star import of the model
# leaves it out: that would load the C extension).
__all__ = [
    "SCHEMAS",
    "SEED",
    "UPSTREAM",
    "UPSTREAM_VERSION",
    "LoadReport",
    "ResourceType",
    "SystemLoad",
    "TopicLoad",
    "detect_schema",
    "serde_f64",
]

import math
import time
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Optional

# The names imported "as" themselves are re-exported: they were defined here first.
from danube_metrics import serde_json
from danube_metrics.loads import (
    PRESSURE_FIELDS,
    U64_MAX,
    a_list,
    all_utf8_strings,
    check_items,
    kind_of,
    non_negative_float,
    pressure_of,
    repeated_resource,
    u64,
    utf8_string,
)
from danube_metrics.loads import ResourceType as ResourceType
from danube_metrics.loads import SystemLoad as SystemLoad
from danube_metrics.loads import TopicLoad as TopicLoad
from danube_metrics.readings import Pressure
from danube_metrics.schemas import SCHEMAS as SCHEMAS
from danube_metrics.schemas import SEED as SEED
from danube_metrics.schemas import UPSTREAM as UPSTREAM
from danube_metrics.schemas import UPSTREAM_VERSION as UPSTREAM_VERSION
from danube_metrics.schemas import detect_schema as detect_schema
from danube_metrics.schemas import read_json, read_report, unknown_schema
from danube_metrics.serde_json import serde_f64 as serde_f64

if TYPE_CHECKING:
    from danube_metrics.measure import generate_load_report as generate_load_report


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
    - ``pressure``: the broker's saturation (:class:`~danube_metrics.readings.Pressure`:
      stalls and CPU throttling), in either schema; None when it was not measured.

    Every field is checked on creation by the rules the reader applies, so that whatever can
    be built can be written and read back: ``resources_usage`` a list of :class:`SystemLoad`
    with no resource twice; ``topics_len``, ``timestamp``, ``broker_id`` and the two total
    counts u64 ints (not bools); ``topic_list`` a list of str (a str itself is refused, not
    taken as its characters) that UTF-8 can encode; ``total_throughput_mbps`` finite and
    >= 0; sums over ``topics`` that stand for a missing total within the same bounds;
    ``pressure`` None or a Pressure whose figures are each None or finite and >= 0, the
    percentages at most 100 (ints are kept as floats). A tuple
    given for a list is made a list. Fields may be reassigned and lists changed in place:
    :meth:`to_dict` and :meth:`to_json` check the report again, and refuse to write it when
    it breaks a rule.

    :raises TypeError: for a field of the wrong type, naming it.
    :raises ValueError: for a value out of range, a resource given twice, or ``topics`` that
        disagrees with ``topic_list``/``topics_len``, naming the field.
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
    pressure: Optional[Pressure] = None

    def __post_init__(self) -> None:
        self._check()

    @classmethod
    def _unchecked(cls, **fields: Any) -> LoadReport:
        """A report of fields the reader has checked by the same rules: not checked again (a
        report read from JSON is as valid as one built, and reading a million topics must not
        check each twice)."""
        report = cls.__new__(cls)
        report.__dict__.update(fields)
        return report

    def _check(self) -> None:
        """Checks every field by the rules, normalising the fields that may be: a tuple for a
        list, an int for a float."""
        self.resources_usage = _field("resources_usage", a_list, self.resources_usage, "SystemLoad")
        for i, load in enumerate(self.resources_usage):
            if not isinstance(load, SystemLoad):
                raise TypeError(
                    f"LoadReport.resources_usage[{i}] must be a SystemLoad, not {kind_of(load)}"
                )
        twice = repeated_resource(self.resources_usage)
        if twice is not None:
            raise ValueError(
                f"LoadReport.resources_usage[{twice}]: resource "
                f"{self.resources_usage[twice].resource.value} appears twice"
            )
        self.topics_len = _field("topics_len", u64, self.topics_len)
        self.topic_list = _field("topic_list", a_list, self.topic_list, "str")
        check_items(self.topic_list, all_utf8_strings, utf8_string, "LoadReport.topic_list")
        self.timestamp = _field("timestamp", u64, self.timestamp)
        if self.broker_id is not None:
            self.broker_id = _field("broker_id", u64, self.broker_id)
        if self.total_throughput_mbps is not None:
            self.total_throughput_mbps = _field(
                "total_throughput_mbps", non_negative_float, self.total_throughput_mbps
            )
        if self.total_message_rate is not None:
            self.total_message_rate = _field("total_message_rate", u64, self.total_message_rate)
        if self.total_lag_messages is not None:
            self.total_lag_messages = _field("total_lag_messages", u64, self.total_lag_messages)
        if self.topics is not None:
            self.topics = _field("topics", a_list, self.topics, "TopicLoad")
            self._check_topics(self.topics)
        if self.pressure is not None:
            self.pressure = pressure_of(self.pressure, "LoadReport.pressure")

    def _check_topics(self, topics: list[TopicLoad]) -> None:
        if not all(map(isinstance, topics, repeat(TopicLoad))):
            i, item = next((i, t) for i, t in enumerate(topics) if not isinstance(t, TopicLoad))
            raise TypeError(f"LoadReport.topics[{i}] must be a TopicLoad, not {kind_of(item)}")
        names = list(map(attrgetter("topic_name"), topics))
        if names != self.topic_list or self.topics_len != len(names):
            raise ValueError(
                "topics (the per-topic loads) must be one per topic: topic_list must be "
                f"their names and topics_len their number ({len(names)}), got topics_len "
                f"{self.topics_len} and {len(self.topic_list)} names in topic_list"
            )
        # A total left as None is written as the sum over the topics: it must fit too.
        if self.total_message_rate is None or self.total_lag_messages is None:
            for total, part in (
                ("total_message_rate", "message_rate"),
                ("total_lag_messages", "backlog_messages"),
            ):
                if getattr(self, total) is None and sum(map(attrgetter(part), topics)) > U64_MAX:
                    raise ValueError(
                        f"LoadReport.{total} is None, so the sum of {part} over topics, which "
                        "is past u64: give the total"
                    )
        if self.total_throughput_mbps is None:
            try:
                math.fsum(map(attrgetter("byte_rate_mbps"), topics))
            except OverflowError:
                raise ValueError(
                    "LoadReport.total_throughput_mbps is None, so the sum of byte_rate_mbps "
                    "over topics, which is not finite: give the total"
                ) from None

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
        :raises TypeError, ValueError: for a field that breaks a rule (see the class), as
            one reassigned or a list changed in place since creation may.
        """
        self._check()
        resources = [
            {"resource": r.resource.value, "usage": float(r.usage)} for r in self.resources_usage
        ]
        if schema == SEED:
            return self._with_pressure(
                {
                    "resources_usage": resources,
                    "topics_len": self.topics_len,
                    "topic_list": list(self.topic_list),
                    "timestamp": self.timestamp,
                }
            )
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
        return self._with_pressure(
            {
                "resources_usage": resources,
                "topics": [t.to_dict() for t in topics],
                "total_throughput_mbps": 0.0 if throughput is None else throughput,
                "total_message_rate": (
                    sum(t.message_rate for t in topics) if message_rate is None else message_rate
                ),
                "total_lag_messages": (
                    sum(t.backlog_messages for t in topics) if lag is None else lag
                ),
                "timestamp": self.timestamp,
                "broker_id": self.broker_id,
            }
        )

    def _with_pressure(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with the pressure object last, when the report has one (a new field goes
        at the end of serde's declaration order; absent otherwise, so the rest is as before)."""
        if self.pressure is not None:
            doc["pressure"] = dict(zip(PRESSURE_FIELDS, self.pressure))
        return doc

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
        return read_json(cls, text, schema=schema)


def _field(name: str, rule: Callable[..., Any], value: Any, *args: Any) -> Any:
    try:
        return rule(value, *args)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"LoadReport.{name} {exc}") from None


def _floats_in(doc: dict[str, Any]) -> list[float]:
    """Every float of a to_dict() document (found where to_dict puts them)."""
    floats = [r["usage"] for r in doc["resources_usage"]]
    if "total_throughput_mbps" in doc:
        floats.append(doc["total_throughput_mbps"])
    for topic in doc.get("topics", ()):
        floats.extend(v for v in topic.values() if type(v) is float)
    floats.extend(v for v in doc.get("pressure", {}).values() if v is not None)
    return floats


def __getattr__(name: str) -> Any:
    # PEP 562: generate_load_report measures, so it is imported when first asked for, not with
    # the model (importing it loads the C extension).
    if name == "generate_load_report":
        from danube_metrics.measure import generate_load_report

        return generate_load_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
