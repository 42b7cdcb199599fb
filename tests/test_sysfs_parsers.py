"""The per-device sysfs counter parsers: /sys/block/<disk>/stat and statistics/*_bytes."""

from __future__ import annotations

import pytest
from guarded import guarded_outcome
from hypothesis import given, settings
from hypothesis import strategies as st
from internals import parse_block_stat, parse_u64_file

from danube_metrics.errors import ParseError

U64 = st.integers(0, 2**64 - 1)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=300), st.text("0123456789 \t\n-x", max_size=200).map(str.encode)
    )
)
def test_fuzz_never_reads_outside_the_buffer(data: bytes) -> None:
    for parse in (parse_block_stat, parse_u64_file):
        assert guarded_outcome(parse, data, "after") == guarded_outcome(parse, data, "before")


@settings(max_examples=200, deadline=None)
@given(
    fields=st.sampled_from([11, 15, 17]).flatmap(lambda n: st.lists(U64, min_size=n, max_size=n))
)
def test_block_stat_round_trip(fields: list[int]) -> None:
    text = " ".join(f"{v:8}" for v in fields) + "\n"  # sysfs writes "%8lu %8lu ..."
    assert parse_block_stat(text.encode()) == (fields[2], fields[6])


@settings(max_examples=200, deadline=None)
@given(value=U64)
def test_counter_round_trip(value: int) -> None:
    assert parse_u64_file(f"{value}\n".encode()) == value


@pytest.mark.parametrize(
    "text",
    [b"", b"\n", b"1 2 3\n", b"1 2 3 4 5 6 7 8 9 10 11 12\n", b"1 2 3 4 5 6 7 8 9 10 11",
     b"1 2 3 4 5 6 7 8 9 10 x\n", b"1 2 3 4 5 6 7 8 9 10 11\n1\n"],
)  # fmt: skip
def test_malformed_block_stat(text: bytes) -> None:
    with pytest.raises(ParseError):
        parse_block_stat(text)


@pytest.mark.parametrize(
    "text", [b"", b"\n", b"12", b" 12\n", b"12 \n", b"-1\n", b"18446744073709551616\n", b"1\n2\n"]
)
def test_malformed_counter(text: bytes) -> None:
    with pytest.raises(ParseError):
        parse_u64_file(text)
