"""Exceptions raised by danube-metrics.

Each subclasses both :class:`DanubeMetricsError` and the builtin that fits, so ``except OSError``
or ``except ValueError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "DanubeMetricsError",
    "InputTooLargeError",
    "LeaseLostError",
    "MonitorClosedError",
    "NotReadyError",
    "NotSupportedError",
    "ParseError",
    "ReadingError",
    "ReportFormatError",
    "StoreUnavailableError",
]

from typing import Optional


class DanubeMetricsError(Exception):
    """Base class of every error this package raises."""


class ReadingError(DanubeMetricsError, OSError):
    """A file behind a reading could not be opened or read (``errno``, ``filename`` are set)."""

    def __init__(self, resource: str, errno: int, strerror: str, filename: Optional[str]):
        OSError.__init__(self, errno, strerror, filename)
        self.resource = resource

    def __str__(self) -> str:
        return f"{self.resource}: {self.filename}: {self.strerror} (errno {self.errno})"


class ParseError(DanubeMetricsError, ValueError):
    """A file's content is malformed; ``filename`` and ``detail`` say which and how."""

    def __init__(self, resource: str, filename: Optional[str], detail: str):
        super().__init__(f"{resource}: {filename or '<buffer>'}: malformed content: {detail}")
        self.resource = resource
        self.filename = filename
        self.detail = detail


class NotReadyError(DanubeMetricsError):
    """No rate can be given yet: no interval has been measured, or the counters were reset.

    Call again later; the monitor stays usable.
    """

    def __init__(self, resource: str, filename: Optional[str], detail: str):
        super().__init__(f"{resource}: {detail} ({filename})")
        self.resource = resource
        self.filename = filename
        self.detail = detail


class NotSupportedError(DanubeMetricsError):
    """A reading or monitor is not available here (no cgroup, a controller not enabled, a
    process in the v2 root cgroup); ``filename`` and ``detail`` say what was missing."""

    def __init__(self, resource: str, filename: Optional[str], detail: str):
        where = f" ({filename})" if filename else ""
        super().__init__(f"{resource}: not available: {detail}{where}")
        self.resource = resource
        self.filename = filename
        self.detail = detail


class MonitorClosedError(DanubeMetricsError, ValueError):
    """The monitor was used after :meth:`close`."""


class ReportFormatError(DanubeMetricsError, ValueError):
    """A LoadReport document is malformed; the message names the field and the problem."""


class InputTooLargeError(DanubeMetricsError, ValueError):
    """An input (a report, a topics file) is larger than the limit it was read with. Reading
    stopped at the limit; ``filename``, ``limit`` (bytes) and ``raise_with`` (the parameter or
    option that raises the limit) say which, how much and how to read it anyway."""

    def __init__(self, filename: str, limit: int, raise_with: str = "max_bytes") -> None:
        super().__init__(
            f"{filename}: larger than the limit of {_size(limit)}, not read beyond it "
            f"(raise the limit with {raise_with})"
        )
        self.filename = filename
        self.limit = limit
        self.raise_with = raise_with


class StoreUnavailableError(DanubeMetricsError, ConnectionError):
    """No member of a report store answered (every etcd endpoint down, or without a leader;
    a folder that cannot be written). The message names each endpoint and what it said."""


class LeaseLostError(DanubeMetricsError):
    """A broker's registration is gone from the store (its lease expired or was revoked while
    the store was out of reach): the publisher registers again."""


def _size(n: int) -> str:
    """67108864 -> '64 MiB (67108864 bytes)'; sizes that are no whole KiB, MiB, GiB in bytes."""
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit} ({n} bytes)"
    return f"{n} bytes"
