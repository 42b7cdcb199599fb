"""Exceptions raised by danube-metrics.

Each subclasses both :class:`DanubeMetricsError` and the builtin that fits, so ``except OSError``
or ``except ValueError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "DanubeMetricsError",
    "MonitorClosedError",
    "NotReadyError",
    "NotSupportedError",
    "ParseError",
    "ReadingError",
    "ReportFormatError",
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
