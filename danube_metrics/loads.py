"""The parts of a LoadReport: one resource's usage and one topic's load, and the rules every
value of a report follows.

Units as in :mod:`danube_metrics.report`.

The rules are defined here once and used by every constructor and by the reader
(:mod:`danube_metrics.schemas`), so that whatever can be built can be written and read back.
Each rule takes one value and returns it as a report keeps it, or raises ``TypeError`` (a value
of the wrong type) or ``ValueError`` (out of range) with a message that follows the field's
name. Each ``all_*`` screen says of a whole list at C speed whether every item follows a rule;
it may say no for a list the rule accepts (an int subclass, say), so a list it refuses is then
checked item by item with the rule, which has the last word.
"""

from __future__ import annotations

__all__ = ["PRESSURE_FIELDS", "U64_MAX", "ResourceType", "SystemLoad", "TopicLoad"]

import collections
import contextlib
import enum
import gc
import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Callable, Optional

from danube_metrics.readings import Pressure

#: The largest count a report carries (Rust's u64).
U64_MAX = 2**64 - 1


class ResourceType(str, enum.Enum):
    """The resources of a report, named as the broker's serde enum variants."""

    CPU = "CPU"
    Memory = "Memory"
    DiskIO = "DiskIO"
    NetworkIO = "NetworkIO"


#: The resources whose usage is a percentage, 0 to 100 (the others are bytes per second).
PERCENT_RESOURCES = frozenset({ResourceType.CPU, ResourceType.Memory})


# --- the rules --------------------------------------------------------------------------------


def kind_of(value: Any) -> str:
    """A value's type as error messages name it: ``null`` for None, as JSON says."""
    return "null" if value is None else type(value).__name__


def shown(value: Any) -> str:
    """A value as an error message quotes it: an integer too long to print is described."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"{'-' if value < 0 else ''}an integer of {value.bit_length()} bits"
    return repr(value) if isinstance(value, str) else str(value)


def u64(value: Any) -> int:
    """A count: an int (not a bool) from 0 to 2^64-1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"must be an integer, not {kind_of(value)}")
    if not 0 <= value <= U64_MAX:
        raise ValueError(f"must be a u64, got {shown(value)}")
    return int(value)


def non_negative_float(value: Any) -> float:
    """A rate: an int or float (not a bool), finite and >= 0, kept as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"must be a number, not {kind_of(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"must be finite and >= 0, got {shown(value)}")
    return number


def usage_of(resource: ResourceType, value: Any) -> float:
    """A resource's usage: a rate, and at most 100 where it is a percentage (CPU, Memory; the
    monitors clamp them to 0-100, so more is a broken writer)."""
    number = non_negative_float(value)
    if number > 100 and resource in PERCENT_RESOURCES:
        raise ValueError(
            f"must be at most 100 for {resource.value} (a percentage), got {shown(value)}"
        )
    return number


#: A report's pressure figures, in the order they are written (Pressure's own order).
PRESSURE_FIELDS: tuple[str, ...] = Pressure._fields
#: The pressure figures that are percentages (at most 100); the other is seconds per second,
#: which several throttled CPUs take past 1.
PRESSURE_PERCENT_FIELDS = frozenset(PRESSURE_FIELDS) - {"cpu_throttled_seconds_per_second"}


def pressure_figure(name: str, value: Any) -> Optional[float]:
    """One pressure figure: None (this monitor cannot have it), or a rate, at most 100 where
    it is a percentage."""
    if value is None:
        return None
    number = non_negative_float(value)
    if number > 100 and name in PRESSURE_PERCENT_FIELDS:
        raise ValueError(f"must be at most 100 (a percentage), got {shown(value)}")
    return number


def pressure_of(value: Any, where: str) -> Pressure:
    """A report's pressure: a :class:`~danube_metrics.readings.Pressure` whose figures follow
    :func:`pressure_figure`, ints made floats; errors name the figure as ``where.name``."""
    if not isinstance(value, Pressure):
        raise TypeError(f"{where} must be a Pressure, not {kind_of(value)}")
    figures = []
    for name, figure in zip(PRESSURE_FIELDS, value):
        try:
            figures.append(pressure_figure(name, figure))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}.{name} {exc}") from None
    if all(figure is None or type(figure) is float for figure in value):
        return value  # already as a report keeps it (the common case: no copy)
    return Pressure(*figures)


def utf8_string(value: Any) -> str:
    """A name: a str that UTF-8 can encode (no lone surrogate, which serde_json refuses)."""
    if not isinstance(value, str):
        raise TypeError(f"must be a string, not {kind_of(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode (lone surrogate)") from None
    return value


def resource_type(value: Any) -> ResourceType:
    """A resource of a report: a ResourceType member (a name is not converted)."""
    if not isinstance(value, ResourceType):
        hint = ""
        if isinstance(value, str) and value in ResourceType.__members__:
            hint = f" (ResourceType.{value})"
        raise TypeError(f"must be a ResourceType{hint}, not {kind_of(value)}")
    return value


def a_list(value: Any, of: str) -> list[Any]:
    """A list field: a list, or a tuple made a list; a str is refused, not taken as its
    characters."""
    if type(value) is list:
        return value
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"must be a list of {of}, not {kind_of(value)}")


def all_u64(values: Sequence[Any]) -> bool:
    """Whether every item follows :func:`u64` (exact ints only: the rest is left to it)."""
    if values and set(map(type, values)) != {int}:
        return False
    try:
        array("Q", values)  # range-checks every item in C
    except OverflowError:
        return False
    return True


def all_non_negative_floats(values: Sequence[Any]) -> bool:
    """Whether every item follows :func:`non_negative_float` (exact ints and floats only)."""
    if not values:
        return True
    if not set(map(type, values)) <= {float, int}:
        return False
    try:
        # A finite sum rules out NaN and infinities; then min() is meaningful.
        return math.isfinite(sum(values)) and min(values) >= 0
    except OverflowError:  # an int too large for a float
        return False


def all_utf8_strings(values: Sequence[Any]) -> bool:
    """Whether every item follows :func:`utf8_string`."""
    try:
        joined = "".join(values)  # refuses anything but str
    except TypeError:
        return False
    if joined.isascii():
        return True
    try:
        joined.encode("latin-1")  # a copy, for one byte per character: no surrogate there
        return True
    except UnicodeEncodeError:
        pass
    try:
        joined.encode("utf-8")  # Python never pairs surrogates across the joined strings
    except UnicodeEncodeError:
        return False
    return True


def check_items(
    values: Sequence[Any],
    screen: Callable[[Sequence[Any]], bool],
    rule: Callable[[Any], Any],
    where: str,
) -> None:
    """Raises the rule's error for the first item that breaks it, named ``where[i]``.

    :param screen: the rule's ``all_*`` screen, tried first.
    """
    if screen(values):
        return
    for i, value in enumerate(values):
        try:
            rule(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{where}[{i}] {exc}") from None


def repeated_resource(loads: Sequence[SystemLoad]) -> Optional[int]:
    """The index of the first load whose resource an earlier load has, or None."""
    seen: set[ResourceType] = set()
    for i, load in enumerate(loads):
        if load.resource in seen:
            return i
        seen.add(load.resource)
    return None


def _checked_field(owner: str, name: str, rule: Callable[[Any], Any], value: Any) -> Any:
    try:
        return rule(value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{owner}.{name} {exc}") from None


# --- the parts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemLoad:
    """One resource's usage: percent for CPU and Memory, bytes/s for DiskIO and NetworkIO.

    :raises TypeError: if ``resource`` is not a :class:`ResourceType` (its name is refused
        too: ``ResourceType("CPU")`` converts it), or ``usage`` is not a number.
    :raises ValueError: if ``usage`` is negative or not finite, or above 100 for CPU or
        Memory. An int usage is kept as a float.
    """

    resource: ResourceType
    usage: float

    def __post_init__(self) -> None:
        resource = _checked_field("SystemLoad", "resource", resource_type, self.resource)
        usage = _checked_field("SystemLoad", "usage", lambda v: usage_of(resource, v), self.usage)
        object.__setattr__(self, "usage", usage)


@dataclass(frozen=True)
class TopicLoad:
    """One topic's load, as the upstream broker reports it (``TopicLoad`` in load_report.rs).

    :param message_rate: messages/s published to the topic.
    :param byte_rate: bytes/s published to the topic.
    :param byte_rate_mbps: the same in MB/s (10^6 bytes); upstream writes byte_rate / 10^6.
    :param backlog_messages: messages not yet acknowledged by its subscriptions.
    :raises ValueError: for a count or rate that is negative, not finite, or past u64, or a
        topic name that is not valid Unicode (a lone surrogate).
    :raises TypeError: for a field of the wrong type (a bool is not a count).
    """

    topic_name: str
    message_rate: int = 0
    byte_rate: int = 0
    byte_rate_mbps: float = 0.0
    producer_count: int = 0
    consumer_count: int = 0
    subscription_count: int = 0
    backlog_messages: int = 0

    def __post_init__(self) -> None:
        for name, rule in _TOPIC_RULES:
            value = getattr(self, name)
            checked = _checked_field("TopicLoad", name, rule, value)
            if checked is not value:
                object.__setattr__(self, name, checked)

    @classmethod
    def idle(cls, topic_name: str) -> TopicLoad:
        """A topic with no measured traffic or clients (upstream's entry for a new topic)."""
        return cls(topic_name)

    def to_dict(self) -> dict[str, Any]:
        """The topic in upstream field order."""
        return {
            "topic_name": self.topic_name,
            "message_rate": self.message_rate,
            "byte_rate": self.byte_rate,
            "byte_rate_mbps": self.byte_rate_mbps,
            "producer_count": self.producer_count,
            "consumer_count": self.consumer_count,
            "subscription_count": self.subscription_count,
            "backlog_messages": self.backlog_messages,
        }


# TopicLoad's fields in upstream declaration order (the order serde writes them).
TOPIC_FIELDS = (
    "topic_name",
    "message_rate",
    "byte_rate",
    "byte_rate_mbps",
    "producer_count",
    "consumer_count",
    "subscription_count",
    "backlog_messages",
)
TOPIC_COUNT_FIELDS = (
    "message_rate",
    "byte_rate",
    "producer_count",
    "consumer_count",
    "subscription_count",
    "backlog_messages",
)
_TOPIC_RULES: tuple[tuple[str, Callable[[Any], Any]], ...] = (
    ("topic_name", utf8_string),
    *((name, u64) for name in TOPIC_COUNT_FIELDS),
    ("byte_rate_mbps", non_negative_float),
)


def checked_system_load(resource: ResourceType, usage: float) -> SystemLoad:
    """A SystemLoad of a resource and a float usage already checked by the rules, without
    checking them again: the readers' way, which a watching view takes at every change."""
    load = object.__new__(SystemLoad)
    object.__setattr__(load, "__dict__", {"resource": resource, "usage": usage})
    return load


def topics_from_checked_fields(fields: list[dict[str, Any]]) -> list[TopicLoad]:
    """TopicLoads made of dicts that hold exactly TopicLoad's fields, already checked by the
    rules (``byte_rate_mbps`` a float), without checking them again one by one: the reader's
    way to build a million topics it checked as whole lists. The dicts become the objects'
    own, so they must not be shared.
    """
    if len(fields) < _PAUSE_FROM:
        return _topics_of(fields)
    with _collection_paused():
        return _topics_of(fields)


# Below this many objects the collector runs at most once (its first threshold is 700 new
# objects): pausing it would cost more than it saves (a view reads a small report per change).
_PAUSE_FROM = 1000


def _topics_of(fields: list[dict[str, Any]]) -> list[TopicLoad]:
    topics = list(map(object.__new__, repeat(TopicLoad, len(fields))))
    collections.deque(map(object.__setattr__, topics, repeat("__dict__"), fields), maxlen=0)
    return topics


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    # Each new object is tracked by the cyclic collector, which would otherwise run hundreds of
    # times while a million of them are made (three times the cost of making them); none of
    # them can be part of a cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
