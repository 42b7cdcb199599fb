"""Resource monitors: the interface, the Linux host implementation and the factory.

Every reading is taken by the C core without sleeping. Rates (CPU %, disk and network bytes per
second) are measured over the interval since the previous reading of the same resource; the
first call measures since the monitor was created.
"""

from __future__ import annotations

import abc
import os
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import NamedTuple, Optional, TypeVar

from danube_metrics import _binding
from danube_metrics._binding import RawSample
from danube_metrics.errors import DanubeMetricsError

_M = TypeVar("_M", bound="ResourceMonitor")

DEFAULT_MIN_INTERVAL = 0.1
"""Seconds: rate readings closer together than this return the last values."""


class DiskIOStats(NamedTuple):
    """Disk throughput in bytes per second, over the last interval."""

    read_bytes_per_sec: float
    write_bytes_per_sec: float

    def total_bytes_per_sec(self) -> float:
        return self.read_bytes_per_sec + self.write_bytes_per_sec


class NetworkIOStats(NamedTuple):
    """Network throughput in bytes per second, over the last interval."""

    rx_bytes_per_sec: float
    tx_bytes_per_sec: float

    def total_bytes_per_sec(self) -> float:
        return self.rx_bytes_per_sec + self.tx_bytes_per_sec


class Sample(NamedTuple):
    """The four readings taken at one instant."""

    cpu_percent: float
    memory_percent: float
    disk: DiskIOStats
    network: NetworkIOStats


class Readings(NamedTuple):
    """The four readings taken at one instant, each None where it failed (see ``errors``)."""

    cpu_percent: Optional[float]
    memory_percent: Optional[float]
    disk: Optional[DiskIOStats]
    network: Optional[NetworkIOStats]
    errors: dict[str, DanubeMetricsError]


class ResourceMonitor(abc.ABC):
    """How loaded this machine (or container) is: CPU %, memory %, disk and network rates.

    Monitors are context managers and may be shared between threads. No method sleeps.
    Every getter raises :class:`~danube_metrics.errors.ReadingError` (an ``OSError``) when a
    file cannot be read, :class:`~danube_metrics.errors.ParseError` (a ``ValueError``) when
    its content is malformed, and :class:`~danube_metrics.errors.NotReadyError` when no rate
    can be given yet; the monitor stays usable after any of them.
    """

    #: Why the factory chose this monitor (set by :func:`create_resource_monitor`).
    selection_reason: str = "constructed directly"

    @abc.abstractmethod
    def get_cpu_usage(self) -> float:
        """CPU busy time as a percentage (0.0-100.0) of the capacity available."""

    @abc.abstractmethod
    def get_memory_usage(self) -> float:
        """Memory in use as a percentage (0.0-100.0) of the memory available."""

    @abc.abstractmethod
    def get_disk_io(self) -> DiskIOStats:
        """Disk read and write throughput in bytes per second."""

    @abc.abstractmethod
    def get_network_io(self) -> NetworkIOStats:
        """Network receive and transmit throughput in bytes per second."""

    @abc.abstractmethod
    def sample(self) -> Sample:
        """All four readings at one instant; raises the first reading's error if any fails."""

    @abc.abstractmethod
    def read_all(self) -> Readings:
        """All four readings at one instant; failures are reported in ``errors``, not raised."""

    @abc.abstractmethod
    def describe(self) -> str:
        """One line saying what this monitor measures."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the monitor's files; further readings raise MonitorClosedError."""

    def __enter__(self: _M) -> _M:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def _first_error(raw: RawSample) -> Optional[DanubeMetricsError]:
    return raw.cpu_error or raw.memory_error or raw.disk_error or raw.network_error


class _CoreMonitor(ResourceMonitor):
    """A monitor backed by a C core handle (shared by every backend)."""

    _handle: _binding.HostMonitorHandle

    def get_cpu_usage(self) -> float:
        raw = self._handle.sample(_binding.CPU)
        if raw.cpu_error is not None:
            raise raw.cpu_error
        return raw.cpu_percent

    def get_memory_usage(self) -> float:
        raw = self._handle.sample(_binding.MEMORY)
        if raw.memory_error is not None:
            raise raw.memory_error
        return raw.memory_percent

    def get_disk_io(self) -> DiskIOStats:
        raw = self._handle.sample(_binding.DISK)
        if raw.disk_error is not None:
            raise raw.disk_error
        return DiskIOStats(raw.disk_read_bytes_per_sec, raw.disk_write_bytes_per_sec)

    def get_network_io(self) -> NetworkIOStats:
        raw = self._handle.sample(_binding.NETWORK)
        if raw.network_error is not None:
            raise raw.network_error
        return NetworkIOStats(raw.net_rx_bytes_per_sec, raw.net_tx_bytes_per_sec)

    def sample(self) -> Sample:
        raw = self._handle.sample(_binding.ALL)
        error = _first_error(raw)
        if error is not None:
            raise error
        return Sample(
            raw.cpu_percent,
            raw.memory_percent,
            DiskIOStats(raw.disk_read_bytes_per_sec, raw.disk_write_bytes_per_sec),
            NetworkIOStats(raw.net_rx_bytes_per_sec, raw.net_tx_bytes_per_sec),
        )

    def read_all(self) -> Readings:
        raw = self._handle.sample(_binding.ALL)
        return _readings(raw)

    def _sample_at(self, now_ns: int) -> Readings:
        """Samples as if the monotonic clock read `now_ns` (for tests with fixture trees)."""
        return _readings(self._handle.sample(_binding.ALL, now_ns))

    def close(self) -> None:
        self._handle.close()

    @property
    def closed(self) -> bool:
        return self._handle.closed


def _readings(raw: RawSample) -> Readings:
    errors: dict[str, DanubeMetricsError] = {}
    for name, err in (
        ("cpu", raw.cpu_error),
        ("memory", raw.memory_error),
        ("disk", raw.disk_error),
        ("network", raw.network_error),
    ):
        if err is not None:
            errors[name] = err
    return Readings(
        None if raw.cpu_error else raw.cpu_percent,
        None if raw.memory_error else raw.memory_percent,
        None
        if raw.disk_error
        else DiskIOStats(raw.disk_read_bytes_per_sec, raw.disk_write_bytes_per_sec),
        None
        if raw.network_error
        else NetworkIOStats(raw.net_rx_bytes_per_sec, raw.net_tx_bytes_per_sec),
        errors,
    )


class NativeResourceMonitor(_CoreMonitor):
    """The whole machine, from /proc (Linux): /proc/stat, /proc/meminfo, /proc/diskstats and
    /proc/net/dev, read under ``root``.

    - CPU: busy / (busy + idle) ticks of the first ``cpu`` line, as psutil.cpu_percent.
    - Memory: (MemTotal - MemAvailable) / MemTotal.
    - Disk: whole disks only (no partitions, loop, ram, zram, dm-*, md*), chosen at creation.
    - Network: interfaces not under /sys/devices/virtual/net, chosen at creation (all but
      ``lo`` where there is none), or the ``interfaces`` given.

    :param root: prefix of every path read (a fixture tree in tests).
    :param min_interval: seconds; rate readings closer together return the last values.
    :param interfaces: network interfaces to count instead of the automatic choice.
    :raises ReadingError: when none of the four files can be read under ``root``.
    :raises ValueError: for a negative ``min_interval`` or a bad interface list.

    ``_start_ns`` (tests only) sets the monotonic time of the baseline, see ``_sample_at``.
    """

    def __init__(
        self,
        root: str = "/",
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        interfaces: Optional[Sequence[str]] = None,
        _start_ns: int = 0,
    ) -> None:
        if not sys.platform.startswith("linux"):
            raise DanubeMetricsError(f"no host monitor for {sys.platform} yet")
        if min_interval < 0:
            raise ValueError("min_interval must be >= 0 seconds")
        if interfaces is not None:
            if isinstance(interfaces, str):
                interfaces = [interfaces]
            if not interfaces or any(not n or "," in n or n.strip() != n for n in interfaces):
                raise ValueError(f"bad interface names: {list(interfaces)!r}")
        self.root = os.fspath(root)
        self.min_interval = float(min_interval)
        self._handle = _binding.HostMonitorHandle(
            self.root,
            round(min_interval * 1e9),
            ",".join(interfaces) if interfaces is not None else None,
            _start_ns,
        )

    @property
    def disks(self) -> list[str]:
        """The whole disks counted."""
        return self._handle.disks()

    @property
    def interfaces(self) -> list[str]:
        """The network interfaces counted ("all but lo" is reported as ["*"])."""
        mode, names = self._handle.interfaces()
        return ["*"] if mode == "all-but-lo" else names

    def describe(self) -> str:
        mode, names = self._handle.interfaces()
        nics = "all but lo" if mode == "all-but-lo" else ", ".join(names) or "none"
        disks = ", ".join(self.disks) or "none"
        root = "" if self.root in ("/", "") else f" under {self.root}"
        return f"host monitor (/proc{root}; disks: {disks}; interfaces: {nics})"


_CONTAINER_HINTS = ("/docker/", "/kubepods", "/containerd/", "/crio-", "/libpod-", "/lxc/")


def _container_signals(root: str) -> list[str]:
    """What suggests this process runs in a container (used to explain the choice)."""
    signals = []
    if os.path.exists(os.path.join(root, ".dockerenv")):
        signals.append("/.dockerenv exists")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        signals.append("KUBERNETES_SERVICE_HOST is set")
    try:
        with open(os.path.join(root, "proc/self/cgroup"), encoding="utf-8") as f:
            for line in f:
                path = line.rstrip("\n").split(":", 2)[-1]
                if any(h in path for h in _CONTAINER_HINTS):
                    signals.append(f"cgroup path {path}")
                    break
    except OSError:
        pass
    return signals


def create_resource_monitor(
    root: str = "/",
    mode: str = "auto",
    *,
    min_interval: float = DEFAULT_MIN_INTERVAL,
    interfaces: Optional[Sequence[str]] = None,
) -> ResourceMonitor:
    """Creates the monitor that fits where this process runs.

    ``mode`` is "auto" or "host". This release has the host monitor only, so both return a
    :class:`NativeResourceMonitor`; its ``selection_reason`` says what was seen (container
    signals such as /.dockerenv are reported: the figures are then the whole machine's).

    :raises ValueError: for an unknown mode.
    """
    if mode not in ("auto", "host"):
        raise ValueError(f"unknown mode {mode!r}: expected 'auto' or 'host'")
    mon = NativeResourceMonitor(root, min_interval=min_interval, interfaces=interfaces)
    if mode == "host":
        mon.selection_reason = "host monitor requested (mode='host')"
    else:
        signals = _container_signals(root)
        if signals:
            mon.selection_reason = (
                "host monitor: container signs seen ("
                + "; ".join(signals)
                + "), figures are machine-wide (no cgroup monitor in this release)"
            )
        else:
            mon.selection_reason = "host monitor: no container signs seen"
    return mon
