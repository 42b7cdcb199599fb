"""Reading files and streams with a size limit: a report, a topics file, standard input.

Nothing here reads without a bound: a path to ``/dev/zero``, a FIFO that is fed forever or a
runaway pipe stops at the limit with :class:`InputTooLargeError`, having read at most one byte
past it. The default, 64 MiB, holds a report of 250,000 to 350,000 upstream topics (100,000
take 18 to 25 MB, by the length of their names) and bounds what a mistaken path costs: the
text and the objects decoded from it take about 4.5 times its size (an 18 MB report took 82 MiB
to read here), so a report at the limit some 300 MiB.
"""

from __future__ import annotations

import io
import os
import stat
from typing import BinaryIO, Optional, Union

from danube_metrics.errors import InputTooLargeError, ReportFormatError
from danube_metrics.report import SCHEMAS, LoadReport
from danube_metrics.schemas import unknown_schema

__all__ = ["DEFAULT_MAX_BYTES", "decode_utf8", "read_limited", "read_report_file"]

#: The default limit of :func:`read_limited` and :func:`read_report_file`, in bytes.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

# Each read asks for at most this much, so a small input never costs a buffer of the limit's
# size and a large one grows by steps.
_CHUNK = 1024 * 1024

#: A file's path, or a binary stream open for reading (``sys.stdin.buffer``).
Source = Union[str, "os.PathLike[str]", BinaryIO]


def read_limited(
    source: Source, max_bytes: int = DEFAULT_MAX_BYTES, *, name: Optional[str] = None
) -> bytes:
    """Every byte of a file or stream, at most ``max_bytes`` of them.

    :param source: a path, or a binary stream (read from where it is to its end, not closed).
    :param name: what messages call the input; by default the path, or the stream's ``name``.
    :raises InputTooLargeError: past ``max_bytes``, without reading further.
    :raises OSError: if the file cannot be opened or read (the OSError names the path).
    :raises TypeError: for a text stream (pass ``sys.stdin.buffer``, not ``sys.stdin``).
    :raises ValueError: for a ``max_bytes`` that is not an int >= 1.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise ValueError(f"max_bytes must be an int >= 1, got {max_bytes!r}")
    if isinstance(source, (str, os.PathLike)):
        label = name if name is not None else os.fspath(source)
        # Unbuffered: each read is one read(2) of at most _CHUNK bytes, nothing read ahead.
        with open(source, "rb", buffering=0) as f:
            info = os.fstat(f.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
                raise InputTooLargeError(label, max_bytes)  # known without reading a byte
            return _read_to_end(f, max_bytes, label)
    label = name if name is not None else str(getattr(source, "name", "<stream>"))
    if isinstance(source, io.TextIOBase):
        raise TypeError(f"{label}: a binary stream is needed (sys.stdin.buffer, or open 'rb')")
    return _read_to_end(source, max_bytes, label)


def _read_to_end(stream: BinaryIO, max_bytes: int, label: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= max_bytes:
        # One byte past the limit is asked for, at most: it tells "exactly the limit" from
        # "more", and no more of the input is read.
        chunk = stream.read(min(_CHUNK, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    raise InputTooLargeError(label, max_bytes)


def decode_utf8(data: bytes, name: str, error: type[ValueError] = ValueError) -> str:
    """``data`` as UTF-8 text; not UTF-8: ``error`` naming ``name``, the byte, its offset and
    line (the first byte of an incomplete sequence at the end)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{name}: not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(line {line}): {exc.reason}"
        ) from None


def read_report_file(
    source: Source, *, max_bytes: int = DEFAULT_MAX_BYTES, schema: Optional[str] = None
) -> LoadReport:
    """A LoadReport read from a JSON file or binary stream (see :func:`read_limited`), in
    ``schema`` or the one told from its fields (see :meth:`LoadReport.from_dict`).

    :raises ReportFormatError: naming the input, for text that is not UTF-8, not JSON or not a
        report.
    :raises InputTooLargeError: past ``max_bytes``, without reading further.
    :raises OSError: if the file cannot be opened or read.
    :raises ValueError: for an unknown ``schema`` (before anything is read).
    """
    if schema is not None and schema not in SCHEMAS:
        raise unknown_schema(schema)
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
    else:
        name = str(getattr(source, "name", "<stream>"))
    text = decode_utf8(read_limited(source, max_bytes, name=name), name, ReportFormatError)
    if not text.strip():
        raise ReportFormatError(f"{name}: empty, not a report")
    try:
        return LoadReport.from_json(text, schema=schema)
    except ReportFormatError as exc:
        raise ReportFormatError(f"{name}: {exc}") from None
