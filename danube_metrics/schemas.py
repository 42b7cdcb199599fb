"""Reading a LoadReport from either JSON schema, and telling the two apart.

The schemas, and how strictly they are read, are described in :mod:`danube_metrics.report`.
"""

from __future__ import annotations

__all__ = ["SCHEMAS", "SEED", "UPSTREAM", "UPSTREAM_VERSION", "detect_schema"]

import json
import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional

from danube_metrics.errors import ReportFormatError
from danube_metrics.loads import TOPIC_FIELDS, U64_MAX, ResourceType, SystemLoad, TopicLoad, kind_of

if TYPE_CHECKING:
    # Annotations only: LoadReport.from_dict passes its class in, so this module never
    # imports the report module (which imports this one).
    from danube_metrics.report import LoadReport

SEED = "seed"
UPSTREAM = "upstream"
#: The JSON schemas a LoadReport reads and writes.
SCHEMAS = (SEED, UPSTREAM)
#: The upstream release whose schema ``"upstream"`` follows.
UPSTREAM_VERSION = "danube v0.15.1"

_LABELS = {SEED: "seed schema", UPSTREAM: f"upstream schema ({UPSTREAM_VERSION})"}
_SEED_FIELDS = ("resources_usage", "topics_len", "topic_list", "timestamp")
_UPSTREAM_REQUIRED = ("resources_usage", "timestamp", "broker_id")
_UPSTREAM_MARKERS = (
    "broker_id",
    "topics",
    "total_throughput_mbps",
    "total_message_rate",
    "total_lag_messages",
)


def detect_schema(data: Mapping[str, Any]) -> str:
    """Which schema a decoded report is in: "seed" or "upstream".

    :raises ReportFormatError: when neither schema's own fields are present.
    """
    if any(key in data for key in ("topics_len", "topic_list")):
        return SEED
    if any(key in data for key in _UPSTREAM_MARKERS):
        return UPSTREAM
    keys = [repr(k) for k in data]
    found = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
    raise ReportFormatError(
        "cannot tell the report's schema: the seed schema needs 'topics_len' and 'topic_list', "
        f"the {_LABELS[UPSTREAM]} needs 'broker_id'; fields found: {found or 'none'}"
    )


def read_report(cls: type[LoadReport], data: Any, *, schema: Optional[str] = None) -> LoadReport:
    """A ``cls`` read from decoded JSON in ``schema``, or the one told from its fields: what
    :meth:`LoadReport.from_dict` does (see there).

    :raises ReportFormatError: naming the schema and the field at fault.
    :raises ValueError: for an unknown ``schema``.
    """
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"a LoadReport must be a JSON object, not {kind_of(data)}")
    if schema is None:
        schema = detect_schema(data)
    elif schema not in SCHEMAS:
        raise unknown_schema(schema)
    return _parse_seed(cls, data) if schema == SEED else _parse_upstream(cls, data)


def decode_json(text: str | bytes) -> Any:
    """Decodes JSON text, each object remembering the keys it was given twice.

    :raises ReportFormatError: for text that is not valid JSON.
    """
    try:
        return json.loads(text, object_pairs_hook=_JsonObject.from_pairs)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportFormatError(f"not valid JSON: {exc}") from None


def unknown_schema(schema: str) -> ValueError:
    """The error for a schema name that is neither "seed" nor "upstream"."""
    return ValueError(f"unknown schema {schema!r} (expected one of {', '.join(SCHEMAS)})")


class _JsonObject(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers keys given twice (serde rejects those it knows)."""

    duplicates: frozenset[str] = frozenset()

    @classmethod
    def from_pairs(cls, pairs: list[tuple[str, Any]]) -> _JsonObject:
        obj = cls(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            twice: set[str] = set()
            for key, _ in pairs:
                (twice if key in seen else seen).add(key)
            obj.duplicates = frozenset(twice)
        return obj


class _Fields:
    """Reads one JSON object's fields, raising errors that name the schema and the field."""

    def __init__(self, data: Mapping[str, Any], schema: str, where: str = "") -> None:
        self.data = data
        self.schema = schema
        self.label = _LABELS[schema]
        self.where = where

    def fail(self, message: str) -> ReportFormatError:
        return ReportFormatError(f"{self.label}: {message}")

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else repr(key)

    def check(self, required: Iterable[str], known: Iterable[str]) -> None:
        for key in required:
            if key not in self.data:
                at = f"{self.where}: " if self.where else ""
                raise self.fail(f"{at}missing field {key!r}")
        twice: frozenset[str] = getattr(self.data, "duplicates", frozenset()) & set(known)
        if twice:
            raise self.fail(f"field {self.name(min(twice))} appears twice")

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def u64(self, key: str, default: Optional[int] = None) -> int:
        value = self.data[key] if default is None else self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{self.name(key)} must be an integer, not {kind_of(value)}")
        if value < 0 or value > U64_MAX:
            raise self.fail(f"{self.name(key)} must be a u64, got {value}")
        return value

    def f64(self, key: str, default: Optional[float] = None) -> float:
        value = self.data[key] if default is None else self.data.get(key, default)
        return _non_negative_float(value, self.name(key), self.fail)

    def string(self, key: str) -> str:
        return _utf8_string(self.data[key], self.name(key), self.fail)

    def items(self, key: str) -> list[Any]:
        value = self.data[key]
        if not isinstance(value, list):
            raise self.fail(f"{self.name(key)} must be a list, not {kind_of(value)}")
        return value


def _non_negative_float(value: Any, where: str, fail: Callable[[str], ReportFormatError]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"{where} must be a number, not {kind_of(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number < 0:
        raise fail(f"{where} must be finite and >= 0, got {value}")
    return number


def _utf8_string(value: Any, where: str, fail: Callable[[str], ReportFormatError]) -> str:
    if not isinstance(value, str):
        raise fail(f"{where} must be a string, not {kind_of(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate escape: serde_json refuses it, and it cannot be written as UTF-8.
        raise fail(f"{where} is not valid Unicode (lone surrogate)") from None
    return value


def _parse_resources(f: _Fields) -> list[SystemLoad]:
    loads: list[SystemLoad] = []
    seen: set[ResourceType] = set()
    for i, item in enumerate(f.items("resources_usage")):
        where = f"resources_usage[{i}]"
        if not isinstance(item, Mapping):
            raise f.fail(f"{where} must be an object, not {kind_of(item)}")
        if "resource" not in item or "usage" not in item:
            raise f.fail(f"{where} needs 'resource' and 'usage'")
        _Fields(item, f.schema, where).check((), ("resource", "usage"))
        name = item["resource"]
        try:
            resource = ResourceType(name)
        except ValueError:
            known = ", ".join(r.value for r in ResourceType)
            raise f.fail(
                f"{where}.resource: unknown resource {name!r} (expected one of {known})"
            ) from None
        if resource in seen:
            raise f.fail(f"{where}: resource {resource.value} appears twice")
        seen.add(resource)
        loads.append(
            SystemLoad(resource, _non_negative_float(item["usage"], f"{where}.usage", f.fail))
        )
    return loads


def _parse_seed(cls: type[LoadReport], data: Mapping[str, Any]) -> LoadReport:
    f = _Fields(data, SEED)
    f.check(_SEED_FIELDS, _SEED_FIELDS)
    loads = _parse_resources(f)
    topics_len = f.u64("topics_len")
    topic_list = [
        _utf8_string(topic, f"topic_list[{i}]", f.fail)
        for i, topic in enumerate(f.items("topic_list"))
    ]
    return cls(loads, topics_len, topic_list, f.u64("timestamp"))


def _parse_topic(item: Any, i: int) -> TopicLoad:
    where = f"topics[{i}]"
    if not isinstance(item, Mapping):
        raise ReportFormatError(
            f"{_LABELS[UPSTREAM]}: {where} must be an object, not {kind_of(item)}"
        )
    t = _Fields(item, UPSTREAM, where)
    # Every TopicLoad field is required: none is #[serde(default)] upstream.
    t.check(TOPIC_FIELDS, TOPIC_FIELDS)
    return TopicLoad(
        topic_name=t.string("topic_name"),
        message_rate=t.u64("message_rate"),
        byte_rate=t.u64("byte_rate"),
        byte_rate_mbps=t.f64("byte_rate_mbps"),
        producer_count=t.u64("producer_count"),
        consumer_count=t.u64("consumer_count"),
        subscription_count=t.u64("subscription_count"),
        backlog_messages=t.u64("backlog_messages"),
    )


def _parse_upstream(cls: type[LoadReport], data: Mapping[str, Any]) -> LoadReport:
    f = _Fields(data, UPSTREAM)
    f.check(_UPSTREAM_REQUIRED, ("resources_usage", "timestamp", *_UPSTREAM_MARKERS))
    loads = _parse_resources(f)
    # #[serde(default)] fields: absent means empty/zero; present but null is an error, as in serde.
    topics = (
        [_parse_topic(item, i) for i, item in enumerate(f.items("topics"))]
        if "topics" in data
        else []
    )
    return cls(
        loads,
        len(topics),
        [t.topic_name for t in topics],
        f.u64("timestamp"),
        broker_id=f.u64("broker_id"),
        topics=topics,
        total_throughput_mbps=f.f64("total_throughput_mbps", 0.0),
        total_message_rate=f.u64("total_message_rate", 0),
        total_lag_messages=f.u64("total_lag_messages", 0),
    )
