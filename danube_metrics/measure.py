"""Measuring this machine into a LoadReport: :func:`generate_load_report`, and the monitor it
reads when it is given none (one per process)."""

from __future__ import annotations

__all__ = ["generate_load_report"]

import logging
import math
import os
import threading
import time
from collections.abc import Iterable
from typing import Any, Callable, Optional

from danube_metrics.errors import DanubeMetricsError
from danube_metrics.loads import all_utf8_strings, check_items, kind_of, u64, utf8_string
from danube_metrics.monitor import ResourceMonitor, create_resource_monitor
from danube_metrics.readings import Pressure
from danube_metrics.report import LoadReport, ResourceType, SystemLoad, TopicLoad

log = logging.getLogger("danube_metrics")

_default_monitor: Optional[ResourceMonitor] = None
_default_lock = threading.Lock()


def _new_lock_in_child() -> None:
    # Held by another thread at fork (creating the monitor), it would never be released here.
    global _default_lock
    _default_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


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
    pressure: bool = False,
    on_left_out: Optional[Callable[[str, DanubeMetricsError], None]] = None,
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
    :param pressure: also read ``monitor.get_pressure()`` into the report's ``pressure`` (its
        figures over the interval since the previous pressure reading). When that raises
        (:class:`~danube_metrics.errors.NotSupportedError` where no figure can be had, or
        any other package error), the report has no pressure, with a warning naming the
        cause, as a failed resource is left out.
    :param on_left_out: called with the reading's name (``"cpu"``, ``"memory"``, ``"disk"``,
        ``"network"``, ``"pressure"``) and its error for each one left out, instead of the
        warning (a publisher says a lasting failure once, not at every report).
    :raises TypeError: for an argument of the wrong type, named: ``topics_len``, ``timestamp``
        and ``broker_id`` must be ints (not bools), ``topic_list`` an iterable of str other
        than a str itself (which would be taken as its characters), ``topic_loads`` an
        iterable of :class:`TopicLoad`.
    :raises ValueError: for a count or timestamp outside 0..2^64-1, a topic name that is not
        valid Unicode, or when ``topic_loads`` names a topic twice or one not in
        ``topic_list``, or is given while ``topics_len`` differs from the number of topics
        listed. Every argument is checked before the monitor is read.
    """
    # The arguments are checked by the report's own rules before anything is measured.
    topics_len = _argument("topics_len", u64, topics_len)
    if timestamp is not None:
        timestamp = _argument("timestamp", u64, timestamp)
    if broker_id is not None:
        broker_id = _argument("broker_id", u64, broker_id)
    names = _argument("topic_list", _names, topic_list)
    check_items(names, all_utf8_strings, utf8_string, "topic_list")
    topics: Optional[list[TopicLoad]] = None
    if topic_loads is not None:
        if isinstance(topic_loads, (str, bytes)) or not isinstance(topic_loads, Iterable):
            raise TypeError(
                f"topic_loads must be an iterable of TopicLoad, not {kind_of(topic_loads)}"
            )
        by_name: dict[str, TopicLoad] = {}
        for i, load in enumerate(topic_loads):
            if not isinstance(load, TopicLoad):
                raise TypeError(f"topic_loads[{i}] must be a TopicLoad, not {kind_of(load)}")
            if load.topic_name in by_name:
                raise ValueError(f"topic_loads: topic {load.topic_name!r} appears twice")
            by_name[load.topic_name] = load
        unknown = sorted(set(by_name) - set(names))
        if unknown:
            raise ValueError(f"topic_loads: topics not in topic_list: {', '.join(unknown)}")
        if topics_len != len(names):
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
    left_out = on_left_out if on_left_out is not None else _warn_left_out
    for name, err in readings.errors.items():
        left_out(name, err)
    saturation = _pressure_of(mon, left_out) if pressure else None
    return LoadReport(
        loads,
        topics_len,
        names,
        int(time.time()) if timestamp is None else timestamp,
        broker_id=broker_id,
        topics=topics,
        total_throughput_mbps=None
        if topics is None
        else math.fsum(t.byte_rate_mbps for t in topics),
        total_message_rate=None if topics is None else sum(t.message_rate for t in topics),
        total_lag_messages=None if topics is None else sum(t.backlog_messages for t in topics),
        pressure=saturation,
    )


def _warn_left_out(name: str, err: DanubeMetricsError) -> None:
    log.warning("load report: %s left out: %s", name, err)


def _pressure_of(
    mon: ResourceMonitor, left_out: Callable[[str, DanubeMetricsError], None]
) -> Optional[Pressure]:
    """The monitor's pressure, or None (said to `left_out`) when it cannot be read. Left out
    rather than written as nulls: a null figure says that this monitor can never have it,
    which a failure now (not ready, a file unreadable) does not say."""
    try:
        return mon.get_pressure()
    except DanubeMetricsError as err:
        left_out("pressure", err)
        return None


def _argument(name: str, rule: Callable[[Any], Any], value: Any) -> Any:
    try:
        return rule(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} {exc}") from None


def _names(topic_list: Any) -> list[str]:
    """The topic names as a list: any iterable but a str or bytes, which is one name, not
    one per character."""
    if isinstance(topic_list, (str, bytes)) or not isinstance(topic_list, Iterable):
        raise TypeError(f"must be an iterable of str (a list of names), not {kind_of(topic_list)}")
    return list(topic_list)
