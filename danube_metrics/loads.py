"""The parts of a LoadReport: one resource's usage and one topic's load.

Units as in :mod:`danube_metrics.report`.
"""

from __future__ import annotations

__all__ = ["U64_MAX", "ResourceType", "SystemLoad", "TopicLoad"]

import enum
import math
from dataclasses import dataclass
from typing import Any

#: The largest count a report carries (Rust's u64).
U64_MAX = 2**64 - 1


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


@dataclass(frozen=True)
class TopicLoad:
    """One topic's load, as the upstream broker reports it (``TopicLoad`` in load_report.rs).

    :param message_rate: messages/s published to the topic.
    :param byte_rate: bytes/s published to the topic.
    :param byte_rate_mbps: the same in MB/s (10^6 bytes); upstream writes byte_rate / 10^6.
    :param backlog_messages: messages not yet acknowledged by its subscriptions.
    :raises ValueError: for a count or rate that is negative, not finite, or past u64.
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
        if not isinstance(self.topic_name, str):
            raise TypeError(f"topic_name must be a str, not {kind_of(self.topic_name)}")
        for name in _TOPIC_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"TopicLoad.{name} must be an int, not {kind_of(value)}")
            if not 0 <= value <= U64_MAX:
                raise ValueError(f"TopicLoad.{name} must be in 0..2^64-1, got {value}")
        mbps = self.byte_rate_mbps
        if isinstance(mbps, bool) or not isinstance(mbps, (int, float)):
            raise TypeError(f"TopicLoad.byte_rate_mbps must be a float, not {kind_of(mbps)}")
        if not (math.isfinite(mbps) and mbps >= 0):
            raise ValueError(f"TopicLoad.byte_rate_mbps must be finite and >= 0, got {mbps}")
        object.__setattr__(self, "byte_rate_mbps", float(mbps))

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
_TOPIC_INT_FIELDS = (
    "message_rate",
    "byte_rate",
    "producer_count",
    "consumer_count",
    "subscription_count",
    "backlog_messages",
)


def kind_of(value: Any) -> str:
    """A value's type as error messages name it: ``null`` for None, as JSON says."""
    return "null" if value is None else type(value).__name__
