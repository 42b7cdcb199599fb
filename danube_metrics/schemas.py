"""Reading a LoadReport from either JSON schema, and telling the two apart.

The schemas, and how strictly they are read, are described in :mod:`danube_metrics.report`.
"""

from __future__ import annotations

__all__ = ["SCHEMAS", "SEED", "UPSTREAM", "UPSTREAM_VERSION", "detect_schema"]

import functools
import json
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, compress, cycle
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, Callable, Optional

from danube_metrics.errors import ReportFormatError
from danube_metrics.loads import (
    PERCENT_RESOURCES,
    PRESSURE_FIELDS,
    TOPIC_COUNT_FIELDS,
    TOPIC_FIELDS,
    U64_MAX,
    ResourceType,
    SystemLoad,
    TopicLoad,
    all_non_negative_floats,
    all_u64,
    all_utf8_strings,
    check_items,
    checked_system_load,
    kind_of,
    non_negative_float,
    pressure_figure,
    repeated_resource,
    topics_from_checked_fields,
    u64,
    usage_of,
    utf8_string,
)
from danube_metrics.readings import Pressure

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
# Optional in both schemas (serde: Option with default).
_PRESSURE = "pressure"
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
    return _read(cls, data, schema, owned=False)


def read_json(
    cls: type[LoadReport], text: str | bytes, *, schema: Optional[str] = None
) -> LoadReport:
    """A ``cls`` read from JSON text: what :meth:`LoadReport.from_json` does (see there).

    With the C extension, a plain upstream report (what a broker writes) is read first by its
    C reader (``danube_metrics._plain_report``) in one pass; it declines any other text, which
    is read as follows, and only accepts what the reading below accepts, with the same values.

    ``json.loads`` keeps the last of a field given twice, which serde refuses, so the text is
    read one of two ways, both exact. The careful way decodes each object into a dict that
    remembers the keys it was given twice, at the cost of a Python call per object: cheap for
    a document of few objects in much text (the seed schema's list of names). The fast way,
    for a document of many objects (upstream's topics), decodes with ``json.loads`` alone and
    counts the text's quotes: every key and string is written between two, so a text of
    exactly two quotes per key and string of the decoded document dropped no key. When the
    count differs (a key given twice, or just an escaped quote), or the text holds NaN or
    Infinity, or the report is refused, the text is read again the careful way, which decides:
    the fast way only accepts what the careful way accepts. A plain upstream report (what a
    broker writes: see :func:`_plain_upstream`) is read the fast way with each rule a single
    comparison.

    :raises ReportFormatError: for invalid JSON or a malformed report.
    :raises ValueError: for an unknown ``schema``.
    """
    if schema is not None and schema not in SCHEMAS:
        raise unknown_schema(schema)
    if schema != SEED and type(text) in _PLAIN_TEXTS:
        plain = _read_plain(cls, text)
        if plain is not None:
            return plain
    if _few_objects(text):
        return _read(cls, decode_json(text), schema, owned=True)
    try:
        data = _plain_json(text)
    except _NotPlainJson:
        data = None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportFormatError(f"not valid JSON: {exc}") from None
    if isinstance(data, dict):
        quotes = text.count('"') if isinstance(text, str) else text.count(b'"')
        if schema != SEED:
            plain = _plain_upstream(cls, data, quotes)
            if plain is not None:
                return plain
        try:
            told = schema or detect_schema(data)
            report = _read(cls, data, told, owned=True)
        except ReportFormatError:
            pass  # the careful way gives the error, a key given twice being the first
        else:
            if quotes == 2 * _string_tokens(data, told):
                return report
    return _read(cls, decode_json(text), schema, owned=True)


def _load_plain_reader(cls: type[LoadReport], text: str | bytes) -> Optional[LoadReport]:
    """The C extension's reader of plain upstream reports (danube_metrics._plain_report),
    loaded at the first read; without the extension, no text is plain to it."""
    global _read_plain
    try:
        from danube_metrics._plain_report import read_plain_report
    except ImportError:
        read_plain_report = _no_plain_reader
    _read_plain = read_plain_report
    return read_plain_report(cls, text)


def _no_plain_reader(cls: type[LoadReport], text: str | bytes) -> Optional[LoadReport]:
    return None


_read_plain: Callable[[type[LoadReport], str | bytes], Optional[LoadReport]] = _load_plain_reader
_PLAIN_TEXTS = (bytes, str)


# The careful way costs about a microsecond per object, the quote count half a nanosecond per
# byte: the careful way is the cheaper below one object in this many bytes. Told from the
# first 64 KiB, where a report's resources and first topics are.
_BYTES_PER_OBJECT_FOR_CAREFUL = 2000
_SAMPLE = 65536


def _few_objects(text: str | bytes) -> bool:
    objects = text.count("{", 0, _SAMPLE) if isinstance(text, str) else text.count(b"{", 0, _SAMPLE)
    return objects * _BYTES_PER_OBJECT_FOR_CAREFUL < min(len(text), _SAMPLE)


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


def _plain_json(text: str | bytes) -> Any:
    """``json.loads(text)`` refusing NaN and Infinity, with one decoder made once (json.loads
    makes one per call when given an option, a few microseconds of a small report's read)."""
    if isinstance(text, (bytes, bytearray)):
        # json.detect_encoding's answer, without its call, for text that starts with "{" and
        # no NUL after it (no BOM starts so): UTF-8.
        plain = text[:1] == b"{" and text[1:2] != b"\x00"
        text = text.decode("utf-8" if plain else json.detect_encoding(text), "surrogatepass")
    return _PLAIN_JSON.decode(text)


class _NotPlainJson(Exception):
    """NaN or Infinity in the text: left to the exact way, which says why it is refused."""


def _refuse_constant(name: str) -> Any:
    raise _NotPlainJson(name)


_PLAIN_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def _string_tokens(data: dict[str, Any], schema: str) -> int:
    """How many strings (keys and string values) a document read without error was written
    with, if no key was given twice."""
    tokens = len(data)
    for key, value in data.items():
        if key == "resources_usage" and set(map(len, value)) <= {2}:
            tokens += 3 * len(value)  # checked: a resource's name and a number in each
        elif key == "topic_list" and schema == SEED:
            tokens += len(value)  # checked: all strings
        elif key == "topics" and schema == UPSTREAM:
            # Checked: one string (the name) and numbers in each, unless there are unknown keys.
            if set(map(len, value)) <= {len(TOPIC_FIELDS)}:
                tokens += (len(TOPIC_FIELDS) + 1) * len(value)
            else:
                tokens += sum(map(_json_tokens, value))
        else:
            tokens += _json_tokens(value)
    return tokens


def _json_tokens(value: Any) -> int:
    """How many strings (keys and string values) a decoded JSON value holds."""
    kind = type(value)
    if kind is str:
        return 1
    if kind is dict:
        return len(value) + sum(map(_json_tokens, value.values()))
    if kind is list:
        kinds = set(map(type, value))
        if kinds == {str}:
            return len(value)
        return sum(map(_json_tokens, value)) if kinds & {str, dict, list} else 0
    return 0


def _read(cls: type[LoadReport], data: Any, schema: Optional[str], owned: bool) -> LoadReport:
    if not isinstance(data, Mapping):
        raise ReportFormatError(f"a LoadReport must be a JSON object, not {kind_of(data)}")
    if schema is None:
        schema = detect_schema(data)
    elif schema not in SCHEMAS:
        raise unknown_schema(schema)
    if schema == SEED:
        return _parse_seed(cls, data, owned)
    return _parse_upstream(cls, data, owned)


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

    def by_rule(self, key: str, rule: Callable[[Any], Any], default: Any = None) -> Any:
        """The field's value checked by ``rule``; ``default`` where it may be absent."""
        value = self.data[key] if default is None else self.data.get(key, default)
        try:
            return rule(value)
        except (TypeError, ValueError) as exc:
            raise self.fail(f"{self.name(key)} {exc}") from None

    def items(self, key: str) -> list[Any]:
        value = self.data[key]
        if not isinstance(value, list):
            raise self.fail(f"{self.name(key)} must be a list, not {kind_of(value)}")
        return value

    def each(
        self,
        key: str,
        values: list[Any],
        screen: Callable[[Sequence[Any]], bool],
        rule: Callable[[Any], Any],
    ) -> None:
        """Checks every item of a list field by ``rule`` (``screen`` first, for speed)."""
        try:
            check_items(values, screen, rule, key)
        except (TypeError, ValueError) as exc:
            raise self.fail(str(exc)) from None


_RESOURCE_NAMED = {resource.value: resource for resource in ResourceType}
# The largest usage each resource's rule accepts: a percentage, or any finite rate.
_USAGE_LIMIT = {
    resource.value: 100.0 if resource in PERCENT_RESOURCES else sys.float_info.max
    for resource in ResourceType
}


def _resources_at_once(items: Any) -> Optional[list[SystemLoad]]:
    """The resources, when every one is a plain dict of exactly a known resource's name and a
    float usage that follows the rules, no resource given twice; else None (each is then read
    on its own, which names the one at fault). Made without SystemLoad's own checks, which are
    these rules: a watching view reads a report per change, and this is a third of its cost."""
    if type(items) is not list:
        return None
    loads: list[SystemLoad] = []
    names: set[str] = set()
    for item in items:
        if type(item) is not dict or len(item) != 2:
            return None
        name = item.get("resource")
        usage = item.get("usage")
        if type(name) is not str or name not in _RESOURCE_NAMED or name in names:
            return None
        # Floats only (an int usage is left to the rule); NaN fails every comparison.
        if type(usage) is not float or not 0.0 <= usage <= _USAGE_LIMIT[name]:
            return None
        names.add(name)
        loads.append(checked_system_load(_RESOURCE_NAMED[name], usage))
    return loads


def _parse_resources(f: _Fields) -> list[SystemLoad]:
    at_once = _resources_at_once(f.data["resources_usage"])
    if at_once is not None:
        return at_once
    loads: list[SystemLoad] = []
    for i, item in enumerate(f.items("resources_usage")):
        where = f"resources_usage[{i}]"
        if not isinstance(item, Mapping):
            raise f.fail(f"{where} must be an object, not {kind_of(item)}")
        if "resource" not in item or "usage" not in item:
            raise f.fail(f"{where} needs 'resource' and 'usage'")
        r = _Fields(item, f.schema, where)
        r.check((), ("resource", "usage"))
        name = item["resource"]
        try:
            resource = ResourceType(name)
        except ValueError:
            known = ", ".join(r.value for r in ResourceType)
            raise f.fail(
                f"{where}.resource: unknown resource {name!r} (expected one of {known})"
            ) from None
        usage = r.by_rule("usage", functools.partial(usage_of, resource))
        loads.append(SystemLoad(resource, usage))
    twice = repeated_resource(loads)
    if twice is not None:
        raise f.fail(
            f"resources_usage[{twice}]: resource {loads[twice].resource.value} appears twice"
        )
    return loads


def _parse_pressure(f: _Fields) -> Optional[Pressure]:
    """The report's pressure object: absent or null is none; a figure absent from it is None
    (serde's Option fields), unknown figures are ignored, one given twice is refused."""
    item = f.data.get(_PRESSURE)
    if item is None:
        return None
    if not isinstance(item, Mapping):
        raise f.fail(f"'pressure' must be an object or null, not {kind_of(item)}")
    p = _Fields(item, f.schema, _PRESSURE)
    p.check((), PRESSURE_FIELDS)
    figures = []
    for name in PRESSURE_FIELDS:
        try:
            figures.append(pressure_figure(name, item.get(name)))
        except (TypeError, ValueError) as exc:
            raise f.fail(f"{p.name(name)} {exc}") from None
    return Pressure(*figures)


def _parse_seed(cls: type[LoadReport], data: Mapping[str, Any], owned: bool) -> LoadReport:
    f = _Fields(data, SEED)
    f.check(_SEED_FIELDS, (*_SEED_FIELDS, _PRESSURE))
    loads = _parse_resources(f)
    topics_len = f.by_rule("topics_len", u64)
    topic_list = f.items("topic_list")
    f.each("topic_list", topic_list, all_utf8_strings, utf8_string)
    return cls._unchecked(
        resources_usage=loads,
        topics_len=topics_len,
        topic_list=topic_list if owned else list(topic_list),
        timestamp=f.by_rule("timestamp", u64),
        broker_id=None,
        topics=None,
        total_throughput_mbps=None,
        total_message_rate=None,
        total_lag_messages=None,
        pressure=_parse_pressure(f),
    )


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
        topic_name=t.by_rule("topic_name", utf8_string),
        message_rate=t.by_rule("message_rate", u64),
        byte_rate=t.by_rule("byte_rate", u64),
        byte_rate_mbps=t.by_rule("byte_rate_mbps", non_negative_float),
        producer_count=t.by_rule("producer_count", u64),
        consumer_count=t.by_rule("consumer_count", u64),
        subscription_count=t.by_rule("subscription_count", u64),
        backlog_messages=t.by_rule("backlog_messages", u64),
    )


_topic_names = itemgetter("topic_name")
_topic_counts = itemgetter(*TOPIC_COUNT_FIELDS)
_topic_mbps = itemgetter("byte_rate_mbps")


def _topics_at_once(items: list[Any], owned: bool) -> Optional[tuple[list[TopicLoad], list[str]]]:
    """The topics and their names, each field checked for all topics at once, when every
    topic is a plain dict of exactly TopicLoad's fields that follow the rules; else None (each
    topic is then read on its own, to name the one at fault)."""
    if not items:
        return [], []
    if set(map(type, items)) != {dict} or set(map(len, items)) != {len(TOPIC_FIELDS)}:
        return None
    try:
        names = list(map(_topic_names, items))
        mbps = list(map(_topic_mbps, items))
        # Every topic's counts in one list, checked at once (one screen, not one per field).
        counts = list(chain.from_iterable(map(_topic_counts, items)))
    except KeyError:
        return None
    if not (all_u64(counts) and all_utf8_strings(names) and all_non_negative_floats(mbps)):
        return None
    fields = items if owned else list(map(dict, items))
    if int in set(map(type, mbps)):
        for topic in fields:
            topic["byte_rate_mbps"] = float(topic["byte_rate_mbps"])
    return topics_from_checked_fields(fields), names


def _parse_upstream(cls: type[LoadReport], data: Mapping[str, Any], owned: bool) -> LoadReport:
    f = _Fields(data, UPSTREAM)
    f.check(_UPSTREAM_REQUIRED, ("resources_usage", "timestamp", *_UPSTREAM_MARKERS, _PRESSURE))
    loads = _parse_resources(f)
    # #[serde(default)] fields: absent means empty/zero; present but null is an error, as in serde.
    topics: list[TopicLoad] = []
    names: list[str] = []
    if "topics" in data:
        items = f.items("topics")
        at_once = _topics_at_once(items, owned)
        if at_once is not None:
            topics, names = at_once
        else:
            topics = [_parse_topic(item, i) for i, item in enumerate(items)]
            names = list(map(attrgetter("topic_name"), topics))
    return cls._unchecked(
        resources_usage=loads,
        topics_len=len(topics),
        topic_list=names,
        timestamp=f.by_rule("timestamp", u64),
        broker_id=f.by_rule("broker_id", u64),
        topics=topics,
        total_throughput_mbps=f.by_rule("total_throughput_mbps", non_negative_float, 0.0),
        total_message_rate=f.by_rule("total_message_rate", u64, 0),
        total_lag_messages=f.by_rule("total_lag_messages", u64, 0),
        pressure=_parse_pressure(f),
    )


_UPSTREAM_FIELDS = frozenset(("resources_usage", "timestamp", *_UPSTREAM_MARKERS, _PRESSURE))
_UPSTREAM_NEEDED = frozenset(_UPSTREAM_REQUIRED)
_TOPIC_KEYS = {TOPIC_FIELDS}
# A plain topic's value types, and which of them are counts, in TOPIC_FIELDS order.
_TOPIC_TYPES = tuple(
    str if n == "topic_name" else float if n == "byte_rate_mbps" else int for n in TOPIC_FIELDS
)
_TOPIC_COUNTS = tuple(n in TOPIC_COUNT_FIELDS for n in TOPIC_FIELDS)
_TOPIC_NAME_AT = TOPIC_FIELDS.index("topic_name")
_TOPIC_MBPS_AT = TOPIC_FIELDS.index("byte_rate_mbps")
_FLOAT_MAX = sys.float_info.max


def _plain_upstream(
    cls: type[LoadReport], data: dict[str, Any], quotes: int
) -> Optional[LoadReport]:
    """The report of a plain upstream document, decoded by ``json.loads`` from text of
    ``quotes`` quotes; None when it is not plain (then the usual way reads it, which decides).

    Plain is what a broker writes: only upstream's fields, every total given as the type the
    report keeps (or absent), resources read at once, and each topic exactly TopicLoad's
    fields in their order with a value of the kept type. Then each rule is one comparison,
    or one C pass over all topics' counts, and the quote count proves no key was given twice:
    what a watching view reads at each change, at about half the usual way's cost.
    """
    keys = data.keys()
    if not (keys <= _UPSTREAM_FIELDS and keys >= _UPSTREAM_NEEDED):
        return None
    timestamp = data["timestamp"]
    broker_id = data["broker_id"]
    message_rate = data.get("total_message_rate", 0)
    lag = data.get("total_lag_messages", 0)
    mbps = data.get("total_throughput_mbps", 0.0)
    if not (
        type(timestamp) is int
        and type(broker_id) is int
        and type(message_rate) is int
        and type(lag) is int
        and type(mbps) is float
    ):
        return None
    # json.loads makes no NaN here (_plain_json refuses it): the comparisons are exact.
    if not (
        min(timestamp, broker_id, message_rate, lag) >= 0
        and max(timestamp, broker_id, message_rate, lag) <= U64_MAX
        and 0.0 <= mbps <= _FLOAT_MAX
    ):
        return None
    loads = _resources_at_once(data["resources_usage"])
    if loads is None:
        return None
    tokens = len(data) + 3 * len(loads)
    items = data.get("topics", [])
    if type(items) is not list:
        return None
    names: list[str] = []
    if items:
        if set(map(type, items)) != {dict} or set(map(tuple, items)) != _TOPIC_KEYS:
            return None
        values = list(chain.from_iterable(map(dict.values, items)))
        if tuple(map(type, values)) != _TOPIC_TYPES * len(items):
            return None
        try:
            array("Q", compress(values, cycle(_TOPIC_COUNTS)))  # range-checks each in C
        except OverflowError:
            return None
        names = values[_TOPIC_NAME_AT :: len(TOPIC_FIELDS)]
        rates = values[_TOPIC_MBPS_AT :: len(TOPIC_FIELDS)]
        if not (all_utf8_strings(names) and min(rates) >= 0.0 and max(rates) <= _FLOAT_MAX):
            return None
        tokens += (len(TOPIC_FIELDS) + 1) * len(items)
    pressure = None
    if _PRESSURE in data:
        try:
            pressure = _parse_pressure(_Fields(data, UPSTREAM))
        except ReportFormatError:
            return None
        tokens += _json_tokens(data[_PRESSURE])
    if quotes != 2 * tokens:
        return None
    topics = topics_from_checked_fields(items)
    return cls._unchecked(
        resources_usage=loads,
        topics_len=len(topics),
        topic_list=names,
        timestamp=timestamp,
        broker_id=broker_id,
        topics=topics,
        total_throughput_mbps=mbps,
        total_message_rate=message_rate,
        total_lag_messages=lag,
        pressure=pressure,
    )
