"""The etcd watch's reading path, without etcd: the HTTP chunked framing read from the socket's
buffer (``_http_chunks``), the one-PUT shortcut (``_one_put``) against the JSON decode it
stands in for, and the strict base64 decoders (the C extension's and the one made of
binascii's) against binascii. tests/test_cluster.py checks the same path against real etcd
members, and that the shortcut matches what they write."""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from collections.abc import Iterable
from typing import Any, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danube_metrics import cluster
from danube_metrics.cluster import Change, EtcdStore, _http_chunks, _WatchPosition


def chunked(*parts: bytes, trailer: bytes = b"") -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
    return body + b"0\r\n" + trailer + b"\r\n"


def read_all(body: bytes) -> list[bytes]:
    return list(_http_chunks(io.BufferedReader(io.BytesIO(body))))  # type: ignore[arg-type]


def test_chunks_come_out_whole_and_in_order() -> None:
    parts = [b'{"a":1}\n', b"", b"x" * 70000, b"\r\n inside \r\n"]
    # An empty chunk would end the body: the framing has none but the last.
    parts = [p for p in parts if p]
    assert read_all(chunked(*parts)) == parts


def test_chunk_extensions_and_trailers_are_passed_over() -> None:
    body = b"5;name=value\r\nhello\r\n3\r\nabc\r\n0;last\r\nX-Trailer: 1\r\n\r\n"
    assert read_all(body) == [b"hello", b"abc"]


def test_upper_case_hex_sizes() -> None:
    part = b"y" * 0xAB
    assert read_all(b"AB\r\n" + part + b"\r\n0\r\n\r\n") == [part]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "the chunked stream ended"),
        (b"5\r\nhel", "a chunk ended early"),
        (b"5\r\nhelloXY0\r\n\r\n", "a chunk ended early"),
        (b"zz\r\nhello\r\n", "invalid literal"),
        (b"-5\r\nhello\r\n", "a chunk of size -5"),
        (b"5" * 2000, "a chunk size too long"),
        (b"5\r\nhello\r\n", "the chunked stream ended"),
    ],
)
def test_broken_framing_is_a_value_error(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_all(body)


def test_chunks_already_read_are_given_before_the_break() -> None:
    chunks = _http_chunks(io.BufferedReader(io.BytesIO(b"2\r\nok\r\n5\r\nbro")))  # type: ignore[arg-type]
    assert next(chunks) == b"ok"
    with pytest.raises(ValueError):
        next(chunks)


# --- the one-PUT shortcut -----------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def header(revision: int) -> dict[str, str]:
    # etcd's order (cluster_id, member_id, revision, raft_term), as a member writes it.
    return {
        "cluster_id": "14841639068965178418",
        "member_id": "10276657743932975437",
        "revision": str(revision),
        "raft_term": "2",
    }


def put_line(key: bytes, value: bytes, revision: int, lease: Optional[int]) -> bytes:
    kv = {
        "key": b64(key),
        "create_revision": str(max(1, revision - 1)),
        "mod_revision": str(revision),
        "version": "3",
        "value": b64(value),
    }
    if lease is not None:
        kv["lease"] = str(lease)
    return compact({"result": {"header": header(revision), "events": [{"kv": kv}]}})


def one_put(line: bytes) -> Optional[tuple[bytes, int, bytes]]:
    return cluster._one_put(line, cluster._base64_decoder())


def changes_of(lines: Iterable[bytes], *, shortcut: bool) -> tuple[list[Change], int]:
    store = EtcdStore(["127.0.0.1:1"])
    position = _WatchPosition(0)
    with pytest.MonkeyPatch.context() as patch:
        if not shortcut:
            patch.setattr(cluster, "_one_put", lambda line, decode: None)
        changes = list(
            store._changes(iter([b"\n".join(lines) + b"\n"]), position, threading.Event())
        )
    return changes, position.revision


keys = st.one_of(
    st.builds(lambda b: b"/cluster/load/%d" % b, st.integers(0, 2**64)),
    st.builds(lambda b: b"/cluster/register/%d" % b, st.integers(0, 2**64)),
    st.binary(max_size=40),  # another writer's keys
)


@settings(max_examples=300, deadline=None)
@given(
    key=keys,
    value=st.binary(min_size=1, max_size=3000),
    revision=st.integers(1, 2**63 - 1),
    lease=st.none() | st.integers(1, 2**63 - 1),
)
def test_the_shortcut_reads_what_the_json_decode_reads(
    key: bytes, value: bytes, revision: int, lease: Optional[int]
) -> None:
    line = put_line(key, value, revision, lease)
    assert one_put(line) is not None, "etcd's PUT response must take the shortcut"
    fast = changes_of([line], shortcut=True)
    slow = changes_of([line], shortcut=False)
    assert fast == slow
    assert fast[1] == revision


def delete_line(key: bytes, revision: int) -> bytes:
    event = {"type": "DELETE", "kv": {"key": b64(key), "mod_revision": str(revision)}}
    return compact({"result": {"header": header(revision), "events": [event]}})


OTHER_RESPONSES = {
    "a DELETE": delete_line(b"/cluster/load/4", 9),
    "two events": compact(
        {
            "result": {
                "header": header(12),
                "events": [
                    {
                        "kv": json.loads(put_line(b"/cluster/load/1", b"{}", 11, 5))["result"][
                            "events"
                        ][0]["kv"]
                    },
                    {
                        "type": "DELETE",
                        "kv": {"key": b64(b"/cluster/load/2"), "mod_revision": "12"},
                    },
                ],
            }
        }
    ),
    "spaced JSON": json.dumps(json.loads(put_line(b"/cluster/load/3", b"{}", 13, None))).encode(),
    "an empty value": compact(
        {
            "result": {
                "header": header(14),
                "events": [
                    {
                        "kv": {
                            "key": b64(b"/cluster/load/5"),
                            "create_revision": "14",
                            "mod_revision": "14",
                            "version": "1",
                        }
                    }
                ],
            }
        }
    ),
    "a progress notification": compact({"result": {"header": header(20)}}),
    "an escape in the value": put_line(b"/cluster/load/7", b"{}", 22, None).replace(
        b'"value":"e30="', b'"value":"e\\u00330="'
    ),
    "a PUT with its type given": compact(
        {
            "result": {
                "header": header(21),
                "events": [
                    {
                        "type": "PUT",
                        "kv": json.loads(put_line(b"/cluster/load/6", b"x", 21, None))["result"][
                            "events"
                        ][0]["kv"],
                    }
                ],
            }
        }
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_RESPONSES))
def test_other_responses_are_decoded_as_json(name: str) -> None:
    line = OTHER_RESPONSES[name]
    assert one_put(line) is None
    fast = changes_of([line], shortcut=True)
    assert fast == changes_of([line], shortcut=False)


def test_a_mixed_stream_keeps_order_and_revision() -> None:
    lines = [
        put_line(b"/cluster/register/1", b"{}", 30, 7),
        put_line(b"/cluster/load/1", b'{"a":1}', 31, 7),
        delete_line(b"/cluster/load/1", 32),
        put_line(b"/elsewhere/x", b"y", 33, None),
        put_line(b"/cluster/load/2", b'{"b":2}', 34, None),
    ]
    changes, revision = changes_of(lines, shortcut=True)
    assert changes == [
        Change("register", "1", b"{}"),
        Change("load", "1", b'{"a":1}'),
        Change("load", "1", None),
        Change("load", "2", b'{"b":2}'),
    ]
    assert revision == 34


# --- base64 --------------------------------------------------------------------------------

DECODERS = {"C": cluster._base64_decoder(), "binascii": cluster._decode_base64}


def test_the_c_decoder_is_the_one_the_watch_uses() -> None:
    from danube_metrics._base64 import decode_base64

    assert cluster._base64_decoder() is decode_base64


@pytest.mark.parametrize("decoder", sorted(DECODERS))
@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=5000))
def test_padded_base64_decodes_as_binascii_does(decoder: str, data: bytes) -> None:
    assert DECODERS[decoder](base64.b64encode(data)) == data


# Not padded standard base64, though of its alphabet: refused by the C decoder, decoded by
# binascii's as binascii decodes them (or refused where it raises), as the JSON path would.
NOT_PADDED = [b"A", b"AB", b"ABC", b"ABCDE", b"AB=C", b"A===", b"====", b"AB==CDEF", b"ABCD="]
# Bytes outside the alphabet: refused by both (the JSON decoder might read them otherwise).
OUTSIDE_THE_ALPHABET = [b"ABC\\", b"AB\nC", b"AB C", b"-_AB", b"\xff\xfeAB", b"AB\x00=", b'AB"C']


@pytest.mark.parametrize("text", NOT_PADDED + OUTSIDE_THE_ALPHABET)
def test_the_c_decoder_refuses_text_not_padded_base64(text: bytes) -> None:
    assert DECODERS["C"](text) is None


@pytest.mark.parametrize("text", OUTSIDE_THE_ALPHABET)
def test_the_binascii_decoder_refuses_bytes_outside_the_alphabet(text: bytes) -> None:
    assert DECODERS["binascii"](text) is None


def binascii_or_none(text: bytes) -> Optional[bytes]:
    try:
        return binascii.a2b_base64(text)
    except binascii.Error:
        return None


@pytest.mark.parametrize("text", NOT_PADDED)
def test_the_binascii_decoder_reads_the_alphabet_as_binascii(text: bytes) -> None:
    assert DECODERS["binascii"](text) == binascii_or_none(text)


@settings(max_examples=1000, deadline=None)
@given(text=st.binary(max_size=64) | st.text("ABab09+/=\\ \n-_", max_size=64).map(str.encode))
def test_the_decoders_agree_where_both_decode(text: bytes) -> None:
    c, python = (DECODERS[name](text) for name in ("C", "binascii"))
    if c is not None:
        assert python == c == base64.b64decode(text, validate=True)
    if python is None:
        assert c is None
    else:
        assert python == binascii_or_none(text)


def test_a_long_value_grows_the_buffer() -> None:
    decode = DECODERS["C"]
    data = bytes(range(256)) * 1000  # past the first buffer
    assert decode(base64.b64encode(data)) == data
    assert decode(base64.b64encode(b"small")) == b"small"
