"""Guard-page buffers for fuzzing the C parsers.

`internals._as_c` normally hands C a heap copy, where reading a few bytes too far goes unnoticed.
Here the copy sits right against a PROT_NONE page (after its end, or before its start), and the
data pages themselves are read-only: a parser that reads past either end, or writes into its
input, dies with SIGSEGV on the spot instead of returning a plausible answer.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import internals
import pytest
from hypothesis import strategies as st
from internals import ffi

from danube_metrics.errors import ParseError

Side = Literal["after", "before"]

PAGE: int = mmap.PAGESIZE
_PROT_NONE = 0
_PROT_READ: int = mmap.PROT_READ
_PROT_WRITE: int = mmap.PROT_WRITE
_MAP_PRIVATE: int = mmap.MAP_PRIVATE
_MAP_ANONYMOUS: int = getattr(mmap, "MAP_ANONYMOUS", 0x20)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.mprotect.restype = ctypes.c_int
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_MAP_FAILED = ctypes.c_void_p(-1).value

# When set, every guarded input is written to this file first, so the input that crashed the
# interpreter (which hypothesis cannot report) is left behind.
_LAST_INPUT = os.environ.get("DM_GUARD_LAST_INPUT")


def _check(rc: int, what: str) -> None:
    if rc != 0:
        eno = ctypes.get_errno()
        raise OSError(eno, f"{what}: {os.strerror(eno)}")


class GuardedBuffer:
    """A read-only copy of `data` whose end (or start) touches an inaccessible page."""

    def __init__(self, data: bytes, side: Side = "after") -> None:
        n = len(data)
        data_pages = max(1, -(-n // PAGE))  # at least one, so that len 0 works too
        size = (data_pages + 1) * PAGE
        base = _libc.mmap(
            None, size, _PROT_READ | _PROT_WRITE, _MAP_PRIVATE | _MAP_ANONYMOUS, -1, 0
        )
        if base is None or base == _MAP_FAILED:
            eno = ctypes.get_errno()
            raise OSError(eno, f"mmap: {os.strerror(eno)}")
        self._base: int = base
        self._size = size
        if side == "after":
            data_start, guard = base, base + data_pages * PAGE
            self.address: int = guard - n  # the last byte is the one before the guard
        else:
            data_start, guard = base + PAGE, base
            self.address = data_start
        self.length = n
        ctypes.memmove(self.address, data, n)
        _check(_libc.mprotect(data_start, data_pages * PAGE, _PROT_READ), "mprotect")
        _check(_libc.mprotect(guard, PAGE, _PROT_NONE), "mprotect")
        self.pointer: Any = ffi.cast("char *", self.address)

    def close(self) -> None:
        if self._base:
            _check(_libc.munmap(self._base, self._size), "munmap")
            self._base = 0

    def __enter__(self) -> GuardedBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def guarded_as_c(side: Side = "after") -> Iterator[list[GuardedBuffer]]:
    """Swaps `internals._as_c` for guard-page buffers; yields the buffers handed out (so a test
    can check the swap took effect) and unmaps them all on exit."""
    made: list[GuardedBuffer] = []

    def as_c(data: bytes) -> tuple[Any, int, Any]:
        if _LAST_INPUT:
            with open(_LAST_INPUT, "wb") as f:
                f.write(data)
        buf = GuardedBuffer(data, side)
        made.append(buf)
        return buf.pointer, buf.length, buf

    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(internals, "_as_c", as_c)
            yield made
    finally:
        for buf in made:
            buf.close()


def guarded_outcome(parse: Callable[[bytes], object], data: bytes, side: Side) -> Any:
    """The parser's result on a guard-page copy of `data`, or the ParseError class if it
    refused the input. Any other exception, or a crash, fails the test."""
    with guarded_as_c(side) as made:
        try:
            result = parse(data)
        except ParseError:
            result = ParseError
    assert made, "the guard-page _as_c was bypassed: nothing is being checked"
    return result


@st.composite
def damaged(draw: st.DrawFn, files: st.SearchStrategy[bytes], alphabet: bytes) -> bytes:
    """A well-formed file cut short, or with a few bytes (from `alphabet`) deleted, inserted or
    replaced: the inputs most likely to walk a parser off a line or the buffer."""
    data = bytearray(draw(files))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["cut", "delete", "insert", "replace"]))
        at = draw(st.integers(0, len(data)))
        byte = draw(st.sampled_from(alphabet))
        if op == "cut":
            del data[at:]
        elif op == "delete":
            del data[at : at + 1]
        elif op == "insert":
            data.insert(at, byte)
        elif at < len(data):
            data[at] = byte
    return bytes(data)
