"""The C reader of plain upstream reports (``dm_read_plain_report``, csrc/common/
dm_report_json.c): what :func:`danube_metrics.schemas.read_json` tries first, when the C
extension is there. It reads a report a broker writes in one C pass, where ``json.loads`` and a
Python check per field cost a watching view most of its time per change, and declines (None)
any other text, which the Python reader then reads and judges. Imported when the first report
is read, never with the model: a load manager that only ranks needs no extension.
"""

from __future__ import annotations

import threading
from itertools import starmap
from typing import TYPE_CHECKING, Any, Optional, Union

from danube_metrics._native import ffi, lib
from danube_metrics.loads import (
    PRESSURE_FIELDS,
    TOPIC_FIELDS,
    ResourceType,
    checked_system_load,
    topics_from_checked_fields,
)
from danube_metrics.readings import Pressure

if TYPE_CHECKING:
    from danube_metrics.report import LoadReport

# The C reader's orders, which are the model's (tests/test_plain_report.py holds them so).
_RESOURCES = tuple(ResourceType)
_COUNTS: int = lib.DM_REPORT_TOPIC_COUNTS
# The C reader gives each topic's counts in TOPIC_COUNT_FIELDS order, which is the order they
# have among TopicLoad's fields: a topic's values in field order take the name, the rate and
# each count from one iterator over the counts.
_NAMES, _RATES, _COUNTED = range(3)
_TOPIC_SOURCES = tuple(
    _NAMES if name == "topic_name" else _RATES if name == "byte_rate_mbps" else _COUNTED
    for name in TOPIC_FIELDS
)
_NO_PRESSURE = (None,) * len(PRESSURE_FIELDS)
_FIRST_CAPACITY = 16
_KEPT_CAPACITY = 4096


def _topic_fields(
    topic_name: str,
    message_rate: int,
    byte_rate: int,
    byte_rate_mbps: float,
    producer_count: int,
    consumer_count: int,
    subscription_count: int,
    backlog_messages: int,
) -> dict[str, Any]:
    # A literal: twice as fast as dict(zip(TOPIC_FIELDS, values)) (tests/test_plain_report.py
    # holds its keys to TOPIC_FIELDS).
    return {
        "topic_name": topic_name,
        "message_rate": message_rate,
        "byte_rate": byte_rate,
        "byte_rate_mbps": byte_rate_mbps,
        "producer_count": producer_count,
        "consumer_count": consumer_count,
        "subscription_count": subscription_count,
        "backlog_messages": backlog_messages,
    }


class _Room(threading.local):
    """Each thread's output struct and topic arrays (the reader allocates nothing), grown when
    a report has more topics, up to _KEPT_CAPACITY (a larger report gets a room of its own, so
    that one huge report does not keep its arrays in every reading thread)."""

    def __init__(self, capacity: int = 0) -> None:
        self.make(capacity or _FIRST_CAPACITY)

    def make(self, capacity: int) -> None:
        self.counts = ffi.new("uint64_t[]", capacity * _COUNTS)
        self.mbps = ffi.new("double[]", capacity)
        self.names = ffi.new("uint64_t[]", 2 * capacity)
        self.report = ffi.new(
            "dm_plain_report *",
            {
                "topic_counts": self.counts,
                "topic_mbps": self.mbps,
                "topic_names": self.names,
                "topic_capacity": capacity,
            },
        )


_room = _Room()


def read_plain_report(cls: type[LoadReport], text: Union[str, bytes]) -> Optional[LoadReport]:
    """The ``cls`` of a plain upstream report's text, or None for any other text."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    room = _room
    out = room.report
    status = lib.dm_read_plain_report(data, len(data), out)
    if status == lib.DM_E_BUFFER:
        if out.topic_count <= _KEPT_CAPACITY:
            room.make(out.topic_count)
        else:
            room = _Room(out.topic_count)
        out = room.report
        status = lib.dm_read_plain_report(data, len(data), out)
    if status != lib.DM_OK:
        return None
    # The C reader checked SystemLoad's rules.
    loads = list(
        map(
            checked_system_load,
            map(_RESOURCES.__getitem__, ffi.unpack(out.resources, out.resource_count)),
            ffi.unpack(out.usage, out.resource_count),
        )
    )
    names: list[str] = []
    topics = []
    count = out.topic_count
    if count:
        # A plain text is ASCII throughout (its strings are, and nothing else may be).
        whole = text if isinstance(text, str) else data.decode("ascii")
        spans = ffi.unpack(room.names, 2 * count)
        names = list(map(whole.__getitem__, map(slice, spans[::2], spans[1::2])))
        sources = (
            names,
            ffi.unpack(room.mbps, count),
            iter(ffi.unpack(room.counts, _COUNTS * count)),
        )
        rows = zip(*map(sources.__getitem__, _TOPIC_SOURCES))
        topics = topics_from_checked_fields(list(starmap(_topic_fields, rows)))
    pressure = None
    if out.pressure_given:
        given = out.pressure_figures
        figures = ffi.unpack(out.pressure, len(PRESSURE_FIELDS)) if given else _NO_PRESSURE
        pressure = Pressure(
            *(figure if given >> i & 1 else None for i, figure in enumerate(figures))
        )
    return cls._unchecked(
        resources_usage=loads,
        topics_len=count,
        topic_list=names,
        timestamp=out.timestamp,
        broker_id=out.broker_id,
        topics=topics,
        total_throughput_mbps=out.total_throughput_mbps,
        total_message_rate=out.total_message_rate,
        total_lag_messages=out.total_lag_messages,
        pressure=pressure,
    )
