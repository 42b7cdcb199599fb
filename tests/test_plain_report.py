"""The C reader of plain upstream reports (dm_read_plain_report, danube_metrics._plain_report)
against the Python reader, which is the authority: the C reader may decline any text, but a text
it accepts the Python reader accepts too, with an equal report (same values, same types), and a
text the Python reader refuses the C reader declines. Every upstream report the package writes
with ASCII topic names is plain, so the C reader must accept it (that is what makes the cluster
view fast)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from danube_metrics._native import ffi, lib
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_report_property import topic_loads_of

from danube_metrics import (
    LoadReport,
    Pressure,
    ReportFormatError,
    ResourceType,
    SystemLoad,
    schemas,
)
from danube_metrics._plain_report import read_plain_report
from danube_metrics.loads import (
    PERCENT_RESOURCES,
    PRESSURE_FIELDS,
    TOPIC_COUNT_FIELDS,
    TOPIC_FIELDS,
    U64_MAX,
    TopicLoad,
)

UPSTREAM = "upstream"
GOLDEN = Path(__file__).parent / "golden"
FIXTURES = Path(__file__).parent / "fixtures"
Text = Union[str, bytes]

# --- the two readers -------------------------------------------------------------------------


def c_read(text: Text) -> Optional[LoadReport]:
    """The C reader's answer: a report, or None (declined)."""
    return read_plain_report(LoadReport, text)


@contextlib.contextmanager
def c_path_off() -> Iterator[None]:
    # A module global, not monkeypatch: hypothesis tests run many examples per fixture.
    saved = schemas._read_plain
    schemas._read_plain = schemas._no_plain_reader
    try:
        yield
    finally:
        schemas._read_plain = saved


def py_read(text: Text) -> Union[LoadReport, ReportFormatError]:
    """The pure-Python reader's answer: a report, or the error it raised."""
    with c_path_off():
        try:
            return LoadReport.from_json(text)
        except ReportFormatError as exc:
            return exc


def exact(value: Any) -> Any:
    """A value with its type, floats bit for bit (5 and 5.0, or 0.0 and -0.0, differ)."""
    return (type(value), value.hex() if type(value) is float else value)


def shape(report: LoadReport) -> Any:
    """Every field of a report, with its type, down to the topics' and pressure's figures."""
    return (
        type(report),
        sorted(vars(report)),
        [(type(r), r.resource, exact(r.usage)) for r in report.resources_usage],
        exact(report.topics_len),
        [exact(n) for n in report.topic_list],
        exact(report.timestamp),
        exact(report.broker_id),
        None
        if report.topics is None
        else [(type(t), [exact(getattr(t, f)) for f in TOPIC_FIELDS]) for t in report.topics],
        exact(report.total_throughput_mbps),
        exact(report.total_message_rate),
        exact(report.total_lag_messages),
        None
        if report.pressure is None
        else (type(report.pressure), list(map(exact, report.pressure))),
    )


def assert_parity(text: Text) -> Optional[LoadReport]:
    """The rule: an accepting C reader gives the Python reader's report; a refusing Python
    reader has a declining C reader. Returns the C reader's answer."""
    mine = c_read(text)
    theirs = py_read(text)
    if isinstance(theirs, ReportFormatError):
        assert mine is None, f"C accepted a text the Python reader refuses ({theirs})"
    elif mine is not None:
        assert mine == theirs
        assert shape(mine) == shape(theirs)
    return mine


def assert_accepted(text: Text) -> LoadReport:
    mine = assert_parity(text)
    assert mine is not None, "the C reader declined a plain report"
    return mine


# --- the reports the package writes ----------------------------------------------------------

counts = st.one_of(
    st.sampled_from([0, 1, 9, 10, 2**32, 2**53 + 1, 2**63, U64_MAX - 1, U64_MAX]),
    st.integers(0, U64_MAX),
)
# Non-negative finite floats across magnitudes: subnormals, the smallest normal, both sides of
# ryu's switch to exponents, the largest finite. -0.0 is left out: it is written "-0.0", which
# is not plain (a sign), and the explicit cases hold it.
edge_rates = [
    0.0,
    5e-324,
    1e-323,
    2.225073858507201e-308,  # the largest subnormal
    sys.float_info.min,
    1e-300,
    1e-7,
    1e-5,
    0.1,
    0.5,
    1.0,
    123456.789,
    1e15,
    1e16,
    1.5e16,
    2.5e16,
    1e22,
    1e300,
    sys.float_info.max,
]
rates = st.one_of(
    st.sampled_from(edge_rates),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).map(abs),
    st.floats(min_value=0.0, max_value=1e-300).map(abs),  # subnormal-ish
    st.integers(0, 2**70).map(float),
)
percents = st.one_of(
    st.sampled_from([0.0, 5e-324, 1e-7, 0.5, 50.0, 99.99999999999999, 100.0]),
    st.floats(0.0, 100.0).map(abs),
)
# Printable ASCII without '"' and '\\' (which serde_json escapes): what a broker's topic names are.
plain_names = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
    max_size=24,
)
topic_loads = topic_loads_of(plain_names, counts, rates)
pressures = st.one_of(
    st.none(),
    st.just(Pressure(*[None] * len(PRESSURE_FIELDS))),
    st.builds(Pressure, *[st.none() | percents] * 6, st.none() | rates),
)


@st.composite
def system_loads(draw: st.DrawFn) -> list[SystemLoad]:
    chosen = draw(st.permutations(list(ResourceType)))[: draw(st.integers(0, 4))]
    return [SystemLoad(r, draw(percents if r in PERCENT_RESOURCES else rates)) for r in chosen]


@st.composite
def upstream_reports(draw: st.DrawFn, max_topics: int = 40) -> LoadReport:
    topics = draw(st.lists(topic_loads, max_size=max_topics))
    fields = (draw(system_loads()), len(topics), [t.topic_name for t in topics], draw(counts))
    kwargs: dict[str, Any] = {"broker_id": draw(counts), "topics": topics}
    kwargs["pressure"] = draw(pressures)
    if not draw(st.booleans()):
        try:
            return LoadReport(*fields, **kwargs)  # the totals left to their sums
        except ValueError:
            pass  # a sum past u64 or not finite: the totals must be given
    return LoadReport(
        *fields,
        **kwargs,
        total_throughput_mbps=draw(rates),
        total_message_rate=draw(counts),
        total_lag_messages=draw(counts),
    )


# --- the texts of a report, laid out anew ----------------------------------------------------


class Obj(list):  # type: ignore[type-arg]
    """A JSON object as its members in order (a key may come twice)."""


class Num(str):
    """A number's literal, kept as written."""


def parse(text: Text) -> Any:
    return json.loads(text, object_pairs_hook=Obj, parse_float=Num, parse_int=Num)


def dump(value: Any, gap: Any = lambda: "") -> str:
    """JSON text of a parsed tree, numbers as they were written, gap() between any two tokens."""
    if isinstance(value, Obj):
        members = [f"{gap()}{json.dumps(k)}{gap()}:{gap()}{dump(v, gap)}{gap()}" for k, v in value]
        return "{" + ",".join(members) + gap() + "}" if members else "{" + gap() + "}"
    if isinstance(value, list):
        items = [f"{gap()}{dump(v, gap)}{gap()}" for v in value]
        return "[" + ",".join(items) + "]" if items else "[" + gap() + "]"
    if isinstance(value, Num):
        return str(value)
    return json.dumps(value)


def objects(value: Any) -> Iterator[Obj]:
    if isinstance(value, Obj):
        yield value
        for _, v in value:
            yield from objects(v)
    elif isinstance(value, list):
        for v in value:
            yield from objects(v)


def spaced(text: str, rnd: random.Random) -> str:
    """The text with JSON whitespace (space, tab, CR, LF) between tokens, at random."""
    return dump(parse(text), lambda: "".join(rnd.choices(" \t\r\n", k=rnd.choice([0, 0, 1, 3]))))


def reordered(text: str, rnd: random.Random) -> str:
    """The text with every object's members in another order."""
    tree = parse(text)
    for obj in objects(tree):
        rnd.shuffle(obj)
    return dump(tree)


def test_the_layout_helpers_keep_the_text() -> None:
    text = (GOLDEN / "upstream_pretty.json").read_text().strip()
    assert dump(parse(text)) == LoadReport.from_json(text).to_json(schema=UPSTREAM)
    assert dump(parse('{"a":-0.0,"b":1E+2,"c":[]}')) == '{"a":-0.0,"b":1E+2,"c":[]}'
    rnd = random.Random(1)
    assert json.loads(spaced(text, rnd)) == json.loads(text)
    assert set(spaced(text, rnd)) - set(text) <= set(" \t\r\n")
    assert reordered(text, rnd) != dump(parse(text))
    assert json.loads(reordered(text, rnd)) == json.loads(text)


# --- property: what the package writes is plain ----------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(upstream_reports(), st.randoms(use_true_random=False))
@example(
    LoadReport([SystemLoad(ResourceType.DiskIO, 5e-324)], 0, [], 0, broker_id=0, topics=[]),
    random.Random(0),
)
@example(
    LoadReport(
        [SystemLoad(ResourceType.NetworkIO, 2.225073858507201e-308)],
        1,
        ["/t"],
        U64_MAX,
        broker_id=U64_MAX,
        topics=[TopicLoad("/t", U64_MAX, 0, 1e-310, 1, 2, 3, U64_MAX)],
        total_throughput_mbps=sys.float_info.max,
        total_message_rate=U64_MAX,
        total_lag_messages=U64_MAX,
        pressure=Pressure(100.0, 5e-324, None, 0.0, 1e-7, None, 1e300),
    ),
    random.Random(0),
)
def test_every_upstream_report_the_package_writes_is_read_by_c_as_by_python(
    report: LoadReport, rnd: random.Random
) -> None:
    text = report.to_json(schema=UPSTREAM)
    mine = assert_accepted(text)
    assert mine.to_json(schema=UPSTREAM) == text
    assert assert_accepted(text.encode("ascii")) == mine
    assert assert_accepted(report.to_json(schema=UPSTREAM, indent=2)) == mine
    assert assert_accepted(spaced(text, rnd)) == mine
    assert assert_accepted(reordered(text, rnd)) == mine
    assert assert_accepted(spaced(reordered(text, rnd), rnd).encode("ascii")) == mine
    # What LoadReport.from_json (C path on) gives is what the C reader gave.
    assert shape(LoadReport.from_json(text)) == shape(mine)


# --- property: mutated texts -----------------------------------------------------------------

SAMPLES = [
    (GOLDEN / "upstream_empty.json").read_text().strip(),
    (GOLDEN / "upstream_pretty.json").read_text().strip(),
    (GOLDEN / "upstream_pressure.json").read_text().strip().replace("café", "cafe"),
    LoadReport(
        [SystemLoad(ResourceType.Memory, 100.0), SystemLoad(ResourceType.CPU, 5e-324)],
        0,
        [],
        1,
        broker_id=2,
        topics=[],
        pressure=Pressure(*[None] * 7),
    ).to_json(schema=UPSTREAM),
]
INTERESTING_BYTES = (
    b' \t\r\n{}[],:"\\0123456789-+.eEnultrfxNaIy\x00\x7f\x80\xc3\xa9\xef\xbb\xbf\xff'
)
OTHER_VALUES = [
    "0", "1", "-1", "0.0", "1.5", "-0.0", "1e2", "1E+2", "18446744073709551615",
    "18446744073709551616", "1e309", "null", "true", "false", '""', '"x"', '"CPU"', "[]", "{}",
    "[{}]", '{"a":1}', "NaN", "-Infinity", "00", "1.", ".5",
]  # fmt: skip


# Number literals around the rules' edges: JSON's grammar (and past it), u64's, the percentages'.
number_literals = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,22})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["100", "100.0", "100.00000000000001", "1e2", "1.0000000000000002e2", "01"]),
    st.integers(U64_MAX - 2, U64_MAX + 2).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        text = draw(st.sampled_from(SAMPLES))
    else:
        text = draw(upstream_reports(max_topics=3)).to_json(schema=UPSTREAM)
    data = text.encode("utf-8")
    for _ in range(draw(st.integers(1, 3))):
        how = draw(
            st.sampled_from(["flip", "insert", "delete", "truncate", "twice", "swap", "number"])
        )
        if how in ("twice", "swap", "number"):
            try:
                tree = parse(data)
            except ValueError:
                continue
            if how == "number":  # another number in a number's place
                places = [
                    (o, i) for o in objects(tree) for i, m in enumerate(o) if type(m[1]) is Num
                ]
                if not places:
                    continue
                obj, i = draw(st.sampled_from(places))
                obj[i] = (obj[i][0], Num(draw(number_literals)))
                data = dump(tree).encode("utf-8")
                continue
            objs = [o for o in objects(tree) if o]
            if not objs:
                continue
            obj = draw(st.sampled_from(objs))
            i = draw(st.integers(0, len(obj) - 1))
            key, value = obj[i]
            if how == "twice":  # the key once more, with its value or another
                other = draw(st.sampled_from([value, *map(Num, OTHER_VALUES)]))
                obj.insert(draw(st.integers(0, len(obj))), (key, other))
            else:  # the value of another type
                obj[i] = (key, Num(draw(st.sampled_from(OTHER_VALUES))))
            data = dump(tree).encode("utf-8")
            continue
        at = draw(st.integers(0, len(data)))
        if how == "flip" and at < len(data):
            byte = draw(st.sampled_from(INTERESTING_BYTES) | st.integers(0, 255))
            data = data[:at] + bytes([byte]) + data[at + 1 :]
        elif how == "insert":
            piece = draw(st.lists(st.sampled_from(INTERESTING_BYTES), min_size=1, max_size=3))
            data = data[:at] + bytes(piece) + data[at:]
        elif how == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 3)) :]
        else:
            data = data[:at]
    return data


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_report_is_declined_or_read_as_python_reads_it(data: bytes) -> None:
    assert_parity(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert_parity(text)


@pytest.mark.parametrize("sample", range(len(SAMPLES)))
def test_every_cut_of_a_report_is_declined(sample: int) -> None:
    text = SAMPLES[sample]
    assert assert_parity(text) is not None
    for cut in range(len(text)):
        assert assert_parity(text[:cut]) is None, cut
        assert c_read(text[:cut].encode()) is None, cut


# --- explicit cases --------------------------------------------------------------------------

BASE = (
    '{"resources_usage":[{"resource":"CPU","usage":12.5},{"resource":"DiskIO","usage":2048.0}],'
    '"topics":[{"topic_name":"/default/a","message_rate":5,"byte_rate":2000,'
    '"byte_rate_mbps":0.002,"producer_count":1,"consumer_count":2,"subscription_count":1,'
    '"backlog_messages":7}],"total_throughput_mbps":0.002,"total_message_rate":5,'
    '"total_lag_messages":7,"timestamp":1700000000,"broker_id":7}'
)
PRESSURE = (
    '"pressure":{"cpu_some_percent":12.5,"memory_some_percent":0.75,"memory_full_percent":0.0,'
    '"io_some_percent":3.25,"io_full_percent":1.5,"cpu_throttled_percent":null,'
    '"cpu_throttled_seconds_per_second":null}'
)
TOPIC = BASE[BASE.index('{"topic_name"') : BASE.index("}],", BASE.index('{"topic_name"')) + 1]


def sub(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def usage(resource: str, literal: str) -> str:
    """A report of one resource, its usage written as `literal`."""
    resources = f'[{{"resource":"{resource}","usage":{literal}}}]'
    return f'{{"resources_usage":{resources},"timestamp":1,"broker_id":2}}'


def top(field: str, literal: str) -> str:
    """BASE with a top-level field's value written as `literal`."""
    found = re.search(f'"{field}":[^,}}]*', BASE)
    assert found is not None, field
    return sub(found.group(0), f'"{field}":{literal}')


def with_pressure(body: str) -> str:
    return BASE[:-1] + f',"pressure":{body}' + "}"


ACCEPT, DECLINE = True, False
OK, REFUSED = "ok", "refused"
# (name, text, the C reader's verdict by the header's definition, the Python reader's)
CASES: list[tuple[str, Text, bool, str]] = [
    ("base", BASE, ACCEPT, OK),
    ("base-bytes", BASE.encode(), ACCEPT, OK),
    ("with-pressure", BASE[:-1] + "," + PRESSURE + "}", ACCEPT, OK),
    ("leading-zero-count", top("timestamp", "01"), DECLINE, REFUSED),
    ("leading-zero-rate", usage("CPU", "01.5"), DECLINE, REFUSED),
    ("zero-count", top("timestamp", "0"), ACCEPT, OK),
    ("negative-count", top("broker_id", "-1"), DECLINE, REFUSED),
    ("negative-zero-count", top("broker_id", "-0"), DECLINE, OK),
    ("negative-usage", usage("CPU", "-1.5"), DECLINE, REFUSED),
    ("negative-zero-usage", usage("CPU", "-0.0"), DECLINE, OK),
    ("negative-zero-throughput", top("total_throughput_mbps", "-0.0"), DECLINE, OK),
    ("int-usage", usage("CPU", "5"), DECLINE, OK),
    ("int-throughput", top("total_throughput_mbps", "1"), DECLINE, OK),
    ("int-topic-mbps", sub('"byte_rate_mbps":0.002', '"byte_rate_mbps":0'), DECLINE, OK),
    ("int-pressure-figure", with_pressure('{"cpu_some_percent":5}'), DECLINE, OK),
    ("float-timestamp", top("timestamp", "1.0"), DECLINE, REFUSED),
    ("float-broker-id", top("broker_id", "7.0"), DECLINE, REFUSED),
    ("exponent-count", top("total_message_rate", "1e2"), DECLINE, REFUSED),
    ("float-topic-count", sub('"producer_count":1', '"producer_count":1.0'), DECLINE, REFUSED),
    ("overflow-1e309", usage("DiskIO", "1e309"), DECLINE, REFUSED),
    ("underflow-1e-400", usage("DiskIO", "1e-400"), DECLINE, OK),
    ("zero-with-huge-exponent", usage("DiskIO", "0e-400"), ACCEPT, OK),
    ("subnormal-min", usage("DiskIO", "5e-324"), ACCEPT, OK),
    ("subnormal-max", usage("NetworkIO", "2.225073858507201e-308"), ACCEPT, OK),
    ("subnormal-cpu", usage("CPU", "1e-310"), ACCEPT, OK),
    ("largest-finite", usage("DiskIO", "1.7976931348623157e308"), ACCEPT, OK),
    ("rounds-to-largest", usage("DiskIO", "1.7976931348623158e308"), ACCEPT, OK),
    ("rounds-past-largest", usage("DiskIO", "1.797693134862316e308"), DECLINE, REFUSED),
    ("exponent-1E2", usage("CPU", "1E2"), ACCEPT, OK),
    ("exponent-1e+2", usage("CPU", "1e+2"), ACCEPT, OK),
    ("exponent-2.5e-3", usage("CPU", "2.5e-3"), ACCEPT, OK),
    ("exponent-1.5E+1", usage("Memory", "1.5E+1"), ACCEPT, OK),
    ("exponent-without-digits", usage("CPU", "1e"), DECLINE, REFUSED),
    ("exponent-sign-only", usage("CPU", "1e+"), DECLINE, REFUSED),
    ("fraction-without-digits", usage("CPU", "1."), DECLINE, REFUSED),
    ("fraction-without-int", usage("CPU", ".5"), DECLINE, REFUSED),
    ("plus-sign", usage("CPU", "+1.5"), DECLINE, REFUSED),
    ("u64-max", top("broker_id", str(U64_MAX)), ACCEPT, OK),
    ("u64-max-plus-1", top("broker_id", str(U64_MAX + 1)), DECLINE, REFUSED),
    (
        "u64-max-topic-count",
        sub('"backlog_messages":7', f'"backlog_messages":{U64_MAX}'),
        ACCEPT,
        OK,
    ),
    (
        "u64-max-plus-1-topic-count",
        sub('"byte_rate":2000', f'"byte_rate":{U64_MAX + 1}'),
        DECLINE,
        REFUSED,
    ),
    ("21-digit-count", top("timestamp", "1" + "0" * 20), DECLINE, REFUSED),
    ("21-digit-zeros", top("timestamp", "0" * 21), DECLINE, REFUSED),
    ("21-digit-int-usage", usage("DiskIO", "1" + "0" * 20), DECLINE, OK),
    ("21-digit-float-usage", usage("DiskIO", "1" + "0" * 20 + ".5"), ACCEPT, OK),
    ("escaped-slash-name", sub('"/default/a"', '"\\/default/a"'), DECLINE, OK),
    ("escaped-u0041-name", sub('"/default/a"', '"/default/\\u0041"'), DECLINE, OK),
    ("escaped-key", sub('"timestamp"', '"\\u0074imestamp"'), DECLINE, OK),
    ("empty-name", sub('"/default/a"', '""'), ACCEPT, OK),
    ("raw-utf8-name-str", sub("/default/a", "/default/café"), DECLINE, OK),
    ("raw-utf8-name-bytes", sub("/default/a", "/default/café").encode(), DECLINE, OK),
    (
        "invalid-utf8-name",
        sub("/default/a", "/default/a").encode().replace(b"/a", b"/\xff"),
        DECLINE,
        REFUSED,
    ),
    ("control-char-in-name", sub("/default/a", "/default/\x01"), DECLINE, REFUSED),
    ("tab-in-name", sub("/default/a", "/default/\t"), DECLINE, REFUSED),
    ("del-in-name", sub("/default/a", "/default/\x7f"), DECLINE, OK),
    ("unknown-top-level-key", BASE[:-1] + ',"future":{"x":[1]}}', DECLINE, OK),
    ("unknown-pressure-figure", with_pressure('{"gpu_some_percent":1.0}'), DECLINE, OK),
    ("unknown-resource", usage("GPU", "1.5"), DECLINE, REFUSED),
    ("lowercase-resource", usage("cpu", "1.5"), DECLINE, REFUSED),
    ("resource-twice", sub('"DiskIO"', '"CPU"'), DECLINE, REFUSED),
    (
        "five-resources",
        '{"resources_usage":['
        + ",".join(
            f'{{"resource":"{r}","usage":1.0}}'
            for r in ["CPU", "Memory", "DiskIO", "NetworkIO", "CPU"]
        )
        + '],"timestamp":1,"broker_id":2}',
        DECLINE,
        REFUSED,
    ),
    (
        "four-resources-any-order",
        '{"resources_usage":['
        + ",".join(
            f'{{"usage":1.0,"resource":"{r}"}}' for r in ["NetworkIO", "Memory", "CPU", "DiskIO"]
        )
        + '],"timestamp":1,"broker_id":2}',
        ACCEPT,
        OK,
    ),
    ("resource-without-usage", sub(',"usage":2048.0', ""), DECLINE, REFUSED),
    ("resource-extra-field", sub('"usage":2048.0', '"usage":2048.0,"unit":"B/s"'), DECLINE, OK),
    (
        "resource-usage-twice",
        sub('"usage":2048.0', '"usage":2048.0,"usage":2048.0'),
        DECLINE,
        REFUSED,
    ),
    (
        "resources-not-a-list",
        sub(BASE[BASE.index("[{") : BASE.index("}],") + 2], "{}"),
        DECLINE,
        REFUSED,
    ),
    ("resources-empty", sub(BASE[BASE.index("[{") : BASE.index("}],") + 2], "[]"), ACCEPT, OK),
    (
        "resources-null",
        sub(BASE[BASE.index("[{") : BASE.index("}],") + 2], "null"),
        DECLINE,
        REFUSED,
    ),
    (
        "resources-nested-array",
        sub('{"resource":"CPU","usage":12.5}', '[["CPU",12.5]]'),
        DECLINE,
        REFUSED,
    ),
    ("topic-missing-field", sub(',"subscription_count":1', ""), DECLINE, REFUSED),
    (
        "topic-extra-field",
        sub('"backlog_messages":7', '"backlog_messages":7,"future":1'),
        DECLINE,
        OK,
    ),
    (
        "topic-field-twice",
        sub('"backlog_messages":7', '"backlog_messages":7,"backlog_messages":7'),
        DECLINE,
        REFUSED,
    ),
    ("topic-name-not-string", sub('"/default/a"', "5"), DECLINE, REFUSED),
    ("topics-null", sub("[" + TOPIC + "]", "null"), DECLINE, REFUSED),
    ("topics-empty", sub("[" + TOPIC + "]", "[]"), ACCEPT, OK),
    ("topics-absent", '{"resources_usage":[],"timestamp":1,"broker_id":2}', ACCEPT, OK),
    ("topics-object", sub("[" + TOPIC + "]", TOPIC), DECLINE, REFUSED),
    ("topics-nested-array", sub("[" + TOPIC + "]", "[[" + TOPIC + "]]"), DECLINE, REFUSED),
    ("topics-two", sub("[" + TOPIC + "]", "[" + TOPIC + "," + TOPIC + "]"), ACCEPT, OK),
    ("topics-trailing-comma", sub("[" + TOPIC + "]", "[" + TOPIC + ",]"), DECLINE, REFUSED),
    ("pressure-null", with_pressure("null"), ACCEPT, OK),
    ("pressure-empty", with_pressure("{}"), ACCEPT, OK),
    ("pressure-all-null", with_pressure(json.dumps(dict.fromkeys(PRESSURE_FIELDS))), ACCEPT, OK),
    ("pressure-array", with_pressure("[]"), DECLINE, REFUSED),
    ("pressure-nested-array", with_pressure("[{}]"), DECLINE, REFUSED),
    ("pressure-percent-100", with_pressure('{"io_full_percent":100.0}'), ACCEPT, OK),
    ("pressure-percent-past-100", with_pressure('{"io_full_percent":100.5}'), DECLINE, REFUSED),
    (
        "pressure-rate-past-100",
        with_pressure('{"cpu_throttled_seconds_per_second":250.5}'),
        ACCEPT,
        OK,
    ),
    (
        "pressure-figure-twice",
        with_pressure('{"io_full_percent":1.0,"io_full_percent":1.0}'),
        DECLINE,
        REFUSED,
    ),
    ("pressure-figure-string", with_pressure('{"io_full_percent":"1.0"}'), DECLINE, REFUSED),
    ("pressure-twice", BASE[:-1] + ',"pressure":null,"pressure":null}', DECLINE, REFUSED),
    ("missing-timestamp", sub(',"timestamp":1700000000', ""), DECLINE, REFUSED),
    ("missing-broker-id", sub(',"broker_id":7', ""), DECLINE, REFUSED),
    ("missing-resources", '{"timestamp":1,"broker_id":2}', DECLINE, REFUSED),
    ("timestamp-twice", BASE[:-1] + ',"timestamp":1700000000}', DECLINE, REFUSED),
    ("seed-schema", (GOLDEN / "seed.json").read_text().strip(), DECLINE, OK),
    ("trailing-garbage", BASE + "x", DECLINE, REFUSED),
    ("trailing-second-object", BASE + "{}", DECLINE, REFUSED),
    ("trailing-brace", BASE + "}", DECLINE, REFUSED),
    ("trailing-nul", BASE + "\x00", DECLINE, REFUSED),
    ("trailing-whitespace", BASE + " \t\r\n", ACCEPT, OK),
    ("leading-whitespace", "\r\n\t " + BASE, ACCEPT, OK),
    ("other-whitespace", BASE.replace(",", "\x0c,", 1), DECLINE, REFUSED),
    ("nbsp-whitespace", BASE.replace(",", "\u00a0,", 1), DECLINE, REFUSED),
    ("utf8-bom-bytes", b"\xef\xbb\xbf" + BASE.encode(), DECLINE, OK),
    ("utf8-bom-str", "\ufeff" + BASE, DECLINE, REFUSED),
    ("utf16-bytes", BASE.encode("utf-16"), DECLINE, OK),
    ("utf16le-bytes", BASE.encode("utf-16-le"), DECLINE, OK),
    ("nan", usage("DiskIO", "NaN"), DECLINE, REFUSED),
    ("infinity", usage("DiskIO", "Infinity"), DECLINE, REFUSED),
    ("minus-infinity", usage("DiskIO", "-Infinity"), DECLINE, REFUSED),
    ("nan-pressure", with_pressure('{"io_full_percent":NaN}'), DECLINE, REFUSED),
    ("empty-text", "", DECLINE, REFUSED),
    ("empty-bytes", b"", DECLINE, REFUSED),
    ("whitespace-only", " \n", DECLINE, REFUSED),
    ("empty-object", "{}", DECLINE, REFUSED),
    ("array", "[]", DECLINE, REFUSED),
    ("null", "null", DECLINE, REFUSED),
    ("report-in-array", "[" + BASE + "]", DECLINE, REFUSED),
    ("float-63-chars", usage("DiskIO", "1." + "0" * 60 + "1"), ACCEPT, OK),
    ("float-64-chars", usage("DiskIO", "1." + "0" * 61 + "1"), DECLINE, OK),
    ("float-100-chars", usage("DiskIO", "1." + "0" * 98), DECLINE, OK),
    ("cpu-100", usage("CPU", "100.0"), ACCEPT, OK),
    ("cpu-past-100", usage("CPU", "100.0000001"), DECLINE, REFUSED),
    ("cpu-rounds-to-100", usage("CPU", "100.000000000000001"), ACCEPT, OK),
    ("memory-100", usage("Memory", "100.0"), ACCEPT, OK),
    ("memory-past-100", usage("Memory", "1e3"), DECLINE, REFUSED),
    ("diskio-past-100", usage("DiskIO", "100.0000001"), ACCEPT, OK),
    ("true-count", top("total_lag_messages", "true"), DECLINE, REFUSED),
    ("string-count", top("total_lag_messages", '"7"'), DECLINE, REFUSED),
    ("null-count", top("total_lag_messages", "null"), DECLINE, REFUSED),
    ("null-throughput", top("total_throughput_mbps", "null"), DECLINE, REFUSED),
    ("nul-truncated", BASE.replace("1700000000", "17\x0000000000"), DECLINE, REFUSED),
    ("missing-colon", sub('"broker_id":7', '"broker_id" 7'), DECLINE, REFUSED),
    ("single-quotes", sub('"broker_id"', "'broker_id'"), DECLINE, REFUSED),
    ("nully-pressure", with_pressure("nul"), DECLINE, REFUSED),
    ("str-with-surrogate", sub("/default/a", "/default/\ud800"), DECLINE, REFUSED),
]


@pytest.mark.parametrize(
    ("text", "c_accepts", "python"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_explicit_case(text: Text, c_accepts: bool, python: str) -> None:
    mine = assert_parity(text)
    assert (mine is not None) == c_accepts
    theirs = py_read(text)
    assert (OK if isinstance(theirs, LoadReport) else REFUSED) == python, theirs


def test_case_names_are_unique() -> None:
    assert len({c[0] for c in CASES}) == len(CASES)


def test_str_and_bytes_give_the_same_report() -> None:
    as_str, as_bytes = c_read(BASE), c_read(BASE.encode())
    assert as_str is not None and as_bytes is not None
    assert shape(as_str) == shape(as_bytes)
    assert as_str.topic_list == ["/default/a"]
    # Only str and bytes are tried in C; anything else is left to the Python reader.
    assert LoadReport.from_json(bytearray(BASE.encode())) == as_str


def test_the_topic_builder_keeps_topicloads_field_order() -> None:
    # _plain_report's topic values come in field order from one iterator over the counts, so
    # the counts must have TOPIC_FIELDS' order among themselves; and its dict literal must
    # have TopicLoad's fields.
    from danube_metrics import _plain_report

    counts_in_field_order = tuple(f for f in TOPIC_FIELDS if f in TOPIC_COUNT_FIELDS)
    assert counts_in_field_order == TOPIC_COUNT_FIELDS
    assert list(_plain_report._topic_fields(*TOPIC_FIELDS).items()) == [  # type: ignore[arg-type]
        (f, f) for f in TOPIC_FIELDS
    ]


def test_the_orders_are_the_models() -> None:
    # _plain_report maps C's indices by the model's orders: ResourceType's, TOPIC_COUNT_FIELDS'
    # and PRESSURE_FIELDS'. Distinct values in every slot catch a mismatch.
    assert len(ResourceType) == lib.DM_REPORT_RESOURCES
    assert len(TOPIC_COUNT_FIELDS) == lib.DM_REPORT_TOPIC_COUNTS
    assert len(PRESSURE_FIELDS) == lib.DM_PRESSURE_FIGURES
    for resource in ResourceType:
        report = c_read(usage(resource.value, "1.25"))
        assert report is not None and report.resources_usage == [SystemLoad(resource, 1.25)]
    topic = TopicLoad("/t", 11, 12, 13.5, 14, 15, 16, 17)
    pressure = Pressure(*(i + 0.5 for i in range(len(PRESSURE_FIELDS))))
    report = LoadReport([], 1, ["/t"], 1, broker_id=2, topics=[topic], pressure=pressure)
    back = assert_accepted(report.to_json(schema=UPSTREAM))
    assert back.topics == [topic] and back.pressure == pressure


# --- many topics -----------------------------------------------------------------------------


def many_topics(n: int, seed: int = 0) -> LoadReport:
    topics = [
        TopicLoad(f"/t/{seed}/{i}", i, U64_MAX - i, i / 3, i % 5, seed, i * 7, U64_MAX // (i + 1))
        for i in range(n)
    ]
    return LoadReport(
        [SystemLoad(ResourceType.CPU, 50.0)],
        n,
        [t.topic_name for t in topics],
        1700000000 + seed,
        broker_id=seed,
        topics=topics,
        total_throughput_mbps=0.25,
        total_message_rate=1,
        total_lag_messages=2,
        pressure=Pressure(1.0, None, 2.0, None, 3.0, None, 4.0),
    )


@pytest.mark.parametrize("n", [15, 16, 17, 1000, 20000])
def test_reports_past_the_first_capacity_are_read(n: int) -> None:
    report = many_topics(n, seed=n)
    text = report.to_json(schema=UPSTREAM)
    mine = assert_accepted(text)
    assert mine == report and mine.topics_len == n
    assert assert_accepted(text.encode()) == report
    # Then a small one again, in the arrays grown for the large.
    small = many_topics(2, seed=1)
    assert assert_accepted(small.to_json(schema=UPSTREAM)) == small
    assert assert_accepted(text) == report
    # A thread keeps arrays for at most _KEPT_CAPACITY topics, whatever it read.
    from danube_metrics import _plain_report

    kept = _plain_report._room.report.topic_capacity
    assert kept <= _plain_report._KEPT_CAPACITY
    if n <= _plain_report._KEPT_CAPACITY:
        assert kept >= n  # grown in place, and kept


def test_threads_read_their_own_reports() -> None:
    # The binding's output struct and arrays are per thread: each thread grows its own to a
    # different size, and a shared one would mix topics between threads.
    sizes = [3, 17, 60, 300]
    texts = [many_topics(n, seed=i).to_json(schema=UPSTREAM) for i, n in enumerate(sizes)]
    expected = [shape(py_read(t)) for t in texts]  # type: ignore[arg-type]
    start = threading.Barrier(len(texts))
    failures: list[str] = []

    def run(i: int) -> None:
        start.wait()
        for k in range(150):
            text = texts[(i + k) % len(texts)] if k % 3 == 0 else texts[i]
            got = c_read(text.encode() if k % 2 else text)
            if got is None or shape(got) != expected[texts.index(text)]:
                failures.append(f"thread {i}, read {k}")
                return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# --- the C function itself: bounds and arguments ---------------------------------------------


class Out:
    """A dm_plain_report with room for `capacity` topics (the arrays kept alive here)."""

    def __init__(self, capacity: int, arrays: bool = True) -> None:
        self.counts = ffi.new("uint64_t[]", max(capacity, 1) * lib.DM_REPORT_TOPIC_COUNTS)
        self.mbps = ffi.new("double[]", max(capacity, 1))
        self.names = ffi.new("uint64_t[]", 2 * max(capacity, 1))
        self.report = ffi.new("dm_plain_report *")
        self.report.topic_capacity = capacity
        if arrays:
            self.report.topic_counts = self.counts
            self.report.topic_mbps = self.mbps
            self.report.topic_names = self.names


def c_call(data: bytes, length: int, out: Any) -> int:
    buf = ffi.new("char[]", data)  # exactly len(data) + 1 bytes (cffi adds a NUL)
    return int(lib.dm_read_plain_report(buf, length, out))


PLAIN = many_topics(3, seed=5).to_json(schema=UPSTREAM).encode()


@pytest.mark.parametrize("extra", [b"xx", b"}", b" }", b"\x00", b"0"])
def test_only_the_given_length_is_read(extra: bytes) -> None:
    out = Out(4)
    assert c_call(PLAIN + extra, len(PLAIN), out.report) == lib.DM_OK
    assert out.report.topic_count == 3 and out.report.broker_id == 5
    for i in range(3):
        start, end = out.names[2 * i], out.names[2 * i + 1]
        assert PLAIN[start:end] == f"/t/5/{i}".encode()
    assert c_call(PLAIN + extra, len(PLAIN) - 1, out.report) == lib.DM_E_PARSE
    assert c_call(PLAIN + extra, len(PLAIN) + len(extra), out.report) == lib.DM_E_PARSE


def test_a_number_cut_by_the_length_is_read_as_cut() -> None:
    # The length ends the text inside a number: what follows in memory is not part of it.
    text = b'{"resources_usage":[],"timestamp":1,"broker_id":2}'
    out = Out(0)
    assert c_call(text, len(text), out.report) == lib.DM_OK and out.report.broker_id == 2
    cut = text[: text.index(b"2}") + 1]
    assert c_call(cut + b"3}", len(cut), out.report) == lib.DM_E_PARSE
    assert c_call(cut + b"3}", len(cut) + 2, out.report) == lib.DM_OK
    assert out.report.broker_id == 23


def test_zero_length_and_null_arguments() -> None:
    out = Out(4)
    assert c_call(PLAIN, 0, out.report) == lib.DM_E_PARSE
    assert lib.dm_read_plain_report(ffi.NULL, 0, out.report) == lib.DM_E_INVALID
    assert lib.dm_read_plain_report(ffi.NULL, len(PLAIN), out.report) == lib.DM_E_INVALID
    buf = ffi.new("char[]", PLAIN)
    assert lib.dm_read_plain_report(buf, len(PLAIN), ffi.NULL) == lib.DM_E_INVALID
    # Room for topics but no arrays to put them in.
    assert (
        lib.dm_read_plain_report(buf, len(PLAIN), Out(4, arrays=False).report) == lib.DM_E_INVALID
    )


def test_no_room_says_how_many_topics() -> None:
    out = Out(0, arrays=False)
    assert c_call(PLAIN, len(PLAIN), out.report) == lib.DM_E_BUFFER
    assert out.report.topic_count == 3
    two = Out(2)
    assert c_call(PLAIN, len(PLAIN), two.report) == lib.DM_E_BUFFER
    assert two.report.topic_count == 3
    # A report without topics needs no room.
    empty = b'{"resources_usage":[],"topics":[],"timestamp":1,"broker_id":2}'
    assert c_call(empty, len(empty), out.report) == lib.DM_OK
    assert out.report.topic_count == 0
    # A text that is not plain says so, whatever the room.
    assert c_call(PLAIN[:-1], len(PLAIN) - 1, out.report) == lib.DM_E_PARSE


# --- end to end: the repository's report files -----------------------------------------------

REPORT_FILES = sorted(GOLDEN.glob("*.json")) + sorted(FIXTURES.rglob("*.json"))
# Which of them are plain: upstream, with ASCII names only.
PLAIN_FILES = {"upstream_empty.json", "upstream_pretty.json"}


@pytest.mark.parametrize("path", REPORT_FILES, ids=[p.name for p in REPORT_FILES])
def test_report_files_read_the_same_with_and_without_the_c_path(path: Path) -> None:
    data = path.read_bytes()
    for text in (data, data.decode("utf-8")):
        for schema in (None, UPSTREAM, "seed"):
            with c_path_off():
                try:
                    theirs: Any = LoadReport.from_json(text, schema=schema)
                except ReportFormatError as exc:
                    theirs = str(exc)
            try:
                mine: Any = LoadReport.from_json(text, schema=schema)
            except ReportFormatError as exc:
                mine = str(exc)
            assert type(mine) is type(theirs)
            assert (shape(mine) if isinstance(mine, LoadReport) else mine) == (
                shape(theirs) if isinstance(theirs, LoadReport) else theirs
            )
        assert (assert_parity(text) is not None) == (path.name in PLAIN_FILES)
