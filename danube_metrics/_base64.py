"""The C extension's base64 decoder (``dm_base64_decode``, csrc/common/dm_base64.c), for the
etcd watch: binascii's decoder checks each byte on its own, which a view of 1,000 brokers pays
for at every change (a report is a kilobyte of base64). Imported by the watch when it starts;
without the extension the watch decodes with binascii.
"""

from __future__ import annotations

import threading
from typing import Optional

from danube_metrics._native import ffi, lib

_FIRST_CAPACITY = 65536


class _Room(threading.local):
    """Each thread's output buffer, grown for a longer text."""

    def __init__(self) -> None:
        self.make(_FIRST_CAPACITY)

    def make(self, capacity: int) -> None:
        self.buffer = ffi.new("char[]", capacity)
        self.capacity = capacity


_room = _Room()


def decode_base64(text: bytes) -> Optional[bytes]:
    """The bytes of padded standard base64 ``text``, or None for any other text."""
    room = _room
    size: int = lib.dm_base64_decode(text, len(text), room.buffer, room.capacity)
    if size == lib.DM_E_BUFFER:
        room.make(len(text) // 4 * 3)
        size = lib.dm_base64_decode(text, len(text), room.buffer, room.capacity)
    if size < 0:
        return None
    return ffi.unpack(room.buffer, size)  # type: ignore[no-any-return]
