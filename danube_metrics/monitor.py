"""Resource monitors: the interface, the Linux host implementation and the factory.

Every reading is taken by the C core without sleeping. Rates (CPU %, disk and network bytes per
second) are measured over the interval since the previous reading of the same resource; the
first call measures since the monitor was created.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_MIN_INTERVAL",
    "MAX_INTERVAL",
    "MODES",
    "CgroupResourceMonitor",
    "DiskIOStats",
    "Environment",
    "NativeResourceMonitor",
    "NetworkIOStats",
    "Readings",
    "ResourceMonitor",
    "Sample",
    "container_kind",
    "container_signals",
    "create_resource_monitor",
]

import abc
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple, Optional, TypeVar

from danube_metrics import _binding
from danube_metrics._binding import RawSample
from danube_metrics.errors import DanubeMetricsError, NotSupportedError

# Re-exported: the value types were defined here first.
from danube_metrics.readings import DiskIOStats as DiskIOStats
from danube_metrics.readings import NetworkIOStats as NetworkIOStats
from danube_metrics.readings import Pressure as Pressure
from danube_metrics.readings import Sample as Sample

_M = TypeVar("_M", bound="ResourceMonitor")

DEFAULT_MIN_INTERVAL = 0.1
"""Seconds: rate readings closer together than this return the last values."""


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

    def get_pressure(self) -> Pressure:
        """Stalls and CPU throttling over the interval since the previous call (see
        :class:`~danube_metrics.readings.Pressure`); a figure this monitor cannot have is
        None, and :class:`~danube_metrics.errors.NotSupportedError` when it can have none.
        Read only when asked: ``sample()`` never reads it."""
        raise NotSupportedError("pressure", None, f"{type(self).__name__} reads no pressure")

    @abc.abstractmethod
    def describe(self) -> str:
        """One line saying what this monitor measures."""

    @property
    @abc.abstractmethod
    def environment(self) -> Environment:
        """Where the process runs and the capacity the percentages are taken against."""

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


class _CoreMonitor(ResourceMonitor):
    """A monitor backed by a C core handle (shared by every backend)."""

    _handle: _binding.MonitorHandle

    def _use(self, handle: _binding.MonitorHandle) -> None:
        """Takes the handle. The hot readings are the handle's own methods, bound on this
        instance: a call costs a few hundred nanoseconds, and a frame of this class in between
        would add a tenth of that."""
        self._handle = handle
        self.get_cpu_usage = handle.cpu_percent  # type: ignore[method-assign]
        self.get_memory_usage = handle.memory_percent  # type: ignore[method-assign]
        self.get_disk_io = handle.disk_io  # type: ignore[method-assign]
        self.get_network_io = handle.network_io  # type: ignore[method-assign]
        self.sample = handle.sample_all  # type: ignore[method-assign]
        self.get_pressure = handle.pressure  # type: ignore[method-assign]

    # The same readings through the class, for help() and for subclasses; instances use the
    # handle's methods bound in _use.
    def get_cpu_usage(self) -> float:
        return self._handle.cpu_percent()

    def get_memory_usage(self) -> float:
        return self._handle.memory_percent()

    def get_disk_io(self) -> DiskIOStats:
        return self._handle.disk_io()

    def get_network_io(self) -> NetworkIOStats:
        return self._handle.network_io()

    def sample(self) -> Sample:
        return self._handle.sample_all()

    def get_pressure(self) -> Pressure:
        return self._handle.pressure()

    def read_all(self) -> Readings:
        raw = self._handle.sample_raw(_binding.ALL)
        return _readings(raw)

    def _sample_at(self, now_ns: int) -> Readings:
        """Samples as if the monotonic clock read `now_ns` (for tests with fixture trees)."""
        return _readings(self._handle.sample_raw(_binding.ALL, now_ns))

    def _pressure_at(self, now_ns: int) -> Pressure:
        """get_pressure() as if the monotonic clock read `now_ns` (for tests)."""
        return self._handle.pressure_at(now_ns)

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
    f = raw.figures
    return Readings(
        None if raw.cpu_error else f.cpu_percent,
        None if raw.memory_error else f.memory_percent,
        None if raw.disk_error else f.disk,
        None if raw.network_error else f.network,
        errors,
    )


@dataclass(frozen=True)
class Environment:
    """Where the process runs and what a monitor measures against.

    :ivar kind: "host", "docker", "kubernetes" or "container" (what the signs say).
    :ivar cgroup_version: 1 or 2 for the cgroup monitor, None for the host monitor.
    :ivar cgroup_path: the process's cgroup as /proc/self/cgroup names it, or None.
    :ivar cpu_limit_cores: the CPU limit in cores (quota/period or cpuset, the tightest on the
        cgroup's path), or None where the cgroup may use every online CPU.
    :ivar memory_limit_bytes: the tightest memory limit on the path, or None.
    :ivar cpu_capacity_cores: what CPU % is taken against (the limit, else online CPUs).
    :ivar memory_capacity_bytes: what memory % is taken against (the limit, else MemTotal).
    :ivar signals: the container signs seen (/.dockerenv, environment variables, cgroup paths).
    :ivar disk_note: why the disk figure is not given, or not yet proven right (cgroup v1
        blkio, which the kernel does not always count), or None.
    :ivar pressure_note: why ``get_pressure()`` gives no stall figures (no PSI in the kernel,
        PSI disabled, cgroup v1), or None.
    :ivar throttling_note: why it gives no CPU throttling figures (the host monitor, no CPU
        quota), or None.
    """

    kind: str
    cgroup_version: Optional[int]
    cgroup_path: Optional[str]
    cpu_limit_cores: Optional[float]
    memory_limit_bytes: Optional[int]
    cpu_capacity_cores: float
    memory_capacity_bytes: int
    signals: tuple[str, ...] = ()
    disk_note: Optional[str] = None
    pressure_note: Optional[str] = None
    throttling_note: Optional[str] = None

    def describe(self) -> str:
        """One line: where, which cgroup, and the limits the percentages are taken against."""
        cg = (
            f"cgroup v{self.cgroup_version} {self.cgroup_path}"
            if self.cgroup_version
            else "no cgroup (machine-wide)"
        )
        if self.cpu_limit_cores is not None:
            cpu = f"CPU limit {self.cpu_limit_cores:g} cores"
        else:
            cpu = f"no CPU limit ({self.cpu_capacity_cores:g} CPUs)"
        if self.memory_limit_bytes is not None:
            mem = f"memory limit {_mib(self.memory_limit_bytes)}"
        else:
            mem = f"no memory limit ({_mib(self.memory_capacity_bytes)})"
        disk = f"; disk: {self.disk_note}" if self.disk_note else ""
        return f"{self.kind}, {cg}, {cpu}, {mem}{disk}"


def _mib(n: int) -> str:
    return f"{n / 2**20:.6g} MiB" if n < 2**30 else f"{n / 2**30:.3g} GiB"


MAX_INTERVAL = 1e9
"""Seconds: the longest interval taken (about 31 years; the C core counts int64 nanoseconds)."""


def _is_seconds(value: object) -> bool:
    """A real, finite number of seconds from 0 to MAX_INTERVAL (bool is not one)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_INTERVAL
    )


def _bad_interface_name(name: object) -> Optional[str]:
    """Why `name` cannot name an interface, or None. Linux and macOS: at most IFNAMSIZ - 1
    bytes, no '/', NUL, blank or control byte, not "." or ".." (the kernel's own rules: such a
    name would also lead out of /sys/class/net). Windows names aliases, which may be longer
    and hold inner spaces."""
    if not isinstance(name, str) or not name:
        return "empty, or not a string"
    if name.strip() != name or "," in name:
        return "blanks around it, or a comma"
    if name in (".", ".."):
        return "a path component"
    if any(c == "/" or ord(c) < 32 or ord(c) == 127 for c in name):
        return "a '/', NUL or control character"
    if sys.platform == "win32":
        return None
    if any(c.isspace() for c in name):
        return "a blank"
    if len(name.encode()) > _IFNAME_MAX:
        return f"longer than {_IFNAME_MAX} bytes"
    return None


_IFNAME_MAX = 15  # IFNAMSIZ - 1 on Linux and macOS
_MAX_INTERFACES = 1024  # DM_MAX_IFACES


def _check_options(min_interval: float, interfaces: Optional[Sequence[str]]) -> Optional[str]:
    """Validates the common options; returns the interface list as the C core takes it."""
    if not sys.platform.startswith(("linux", "darwin", "win32")):
        raise NotSupportedError("monitor", None, f"no backend for {sys.platform}")
    if not _is_seconds(min_interval):
        raise ValueError(
            f"min_interval must be a finite number of seconds from 0 to {MAX_INTERVAL:g}; "
            f"got {min_interval!r}"
        )
    if interfaces is None:
        return None
    if isinstance(interfaces, str):
        interfaces = [interfaces]
    if not interfaces:
        raise ValueError("bad interface names: an empty list")
    if len(interfaces) > _MAX_INTERFACES:
        raise ValueError(f"bad interface names: more than {_MAX_INTERFACES}")
    for name in interfaces:
        why = _bad_interface_name(name)
        if why is not None:
            raise ValueError(f"bad interface name {name!r}: {why}")
    return ",".join(interfaces)


class _LinuxMonitor(_CoreMonitor):
    """What the host and the cgroup monitor share: options, disks, interfaces."""

    _kind = _binding.KIND_HOST

    def __init__(
        self,
        root: str = "/",
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        interfaces: Optional[Sequence[str]] = None,
        _start_ns: int = 0,
    ) -> None:
        ifaces = _check_options(min_interval, interfaces)
        if self._kind == _binding.KIND_CGROUP and not sys.platform.startswith("linux"):
            raise NotSupportedError("monitor", None, "cgroups exist on Linux only")
        self.root = os.fspath(root)
        self.min_interval = float(min_interval)
        self._use(
            _binding.MonitorHandle(
                self.root, round(min_interval * 1e9), ifaces, _start_ns, self._kind
            )
        )
        self._signals = tuple(container_signals(self.root))

    @property
    def interfaces(self) -> list[str]:
        """The network interfaces counted ("all but lo" is reported as ["*"])."""
        mode, names = self._handle.interfaces()
        return ["*"] if mode == "all-but-lo" else names

    def _nics(self) -> str:
        mode, names = self._handle.interfaces()
        return "all but lo" if mode == "all-but-lo" else ", ".join(names) or "none"

    def _where(self) -> str:
        return "" if self.root in ("/", "") else f" under {self.root}"


class NativeResourceMonitor(_LinuxMonitor):
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

    @property
    def disks(self) -> list[str]:
        """The whole disks counted."""
        return self._handle.disks()

    @property
    def environment(self) -> Environment:
        """Where the process runs; the host monitor measures the whole machine."""
        info = self._handle.environment()
        return Environment(
            kind=container_kind(self._signals),
            cgroup_version=None,
            cgroup_path=None,
            cpu_limit_cores=None,
            memory_limit_bytes=None,
            cpu_capacity_cores=info.cpu_limit_cores,
            memory_capacity_bytes=info.memory_total_bytes,
            signals=self._signals,
            pressure_note=info.pressure_note,
            throttling_note=info.throttling_note,
        )

    def describe(self) -> str:
        disks = ", ".join(self.disks) or "none"
        return f"host monitor (/proc{self._where()}; disks: {disks}; interfaces: {self._nics()})"


class CgroupResourceMonitor(_LinuxMonitor):
    """The process's own cgroup (v1, v2 or hybrid), against its own limits (Linux).

    - CPU: cgroup CPU time (v2 ``cpu.stat`` usage_usec, v1 ``cpuacct.usage``) as a percentage
      of the limit in cores: the smallest of quota/period along the path up to the mount root,
      the cpuset's CPUs and the online CPUs. A cgroup limited to 2 cores burning 2 cores is at
      100 %.
    - Memory: working set (usage - inactive_file, at least 0) as a percentage of the tightest
      limit on the path, or of MemTotal where there is none.
    - Disk: the cgroup's own bytes (v2 ``io.stat``, v1 blkio ``io_service_bytes`` files).
    - Network: the process's network namespace, as the host monitor.

    Limits are read at creation and again every 5 seconds (``docker update`` and in-place pod
    resizes change them). Parameters as :class:`NativeResourceMonitor`.

    :raises NotSupportedError: where the process's cgroup cannot be measured (no cgroup
        filesystem mounted, a v2 root cgroup, missing controllers).
    """

    _kind = _binding.KIND_CGROUP

    @property
    def environment(self) -> Environment:
        """Where the process runs, its cgroup and the limits read last."""
        info = self._handle.environment()
        limited = info.cpu_limit_cores < info.online_cpus
        return Environment(
            kind=container_kind(self._signals),
            cgroup_version=info.cgroup_version,
            cgroup_path=info.cgroup_path,
            cpu_limit_cores=info.cpu_limit_cores if limited else None,
            memory_limit_bytes=info.memory_limit_bytes or None,
            cpu_capacity_cores=info.cpu_limit_cores,
            memory_capacity_bytes=info.memory_total_bytes,
            signals=self._signals,
            disk_note=info.disk_note,
            pressure_note=info.pressure_note,
            throttling_note=info.throttling_note,
        )

    @property
    def cgroup_dir(self) -> Optional[str]:
        """The directory read for memory (v1) or for everything (v2)."""
        return self._handle.environment().cgroup_dir

    def describe(self) -> str:
        info = self._handle.environment()
        disk = f"; disk: {info.disk_note}" if info.disk_note else ""
        return (
            f"cgroup v{info.cgroup_version} monitor ({info.cgroup_dir}; interfaces: "
            f"{self._nics()}{disk})"
        )


_RUNTIME_HINTS = (
    ("kubepods", "kubernetes"),
    ("/docker/", "docker"),
    ("/docker-", "docker"),
    ("/containerd/", "container"),
    ("/crio-", "container"),
    ("/libpod-", "container"),
    ("/lxc/", "container"),
    ("/lxc.payload", "container"),
)


def container_signals(root: str = "/") -> list[str]:
    """The signs that this process runs in a container, as short phrases (kind first)."""
    signals = []
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        signals.append("kubernetes: KUBERNETES_SERVICE_HOST is set")
    if os.path.isdir(os.path.join(root, "var/run/secrets/kubernetes.io")):
        signals.append("kubernetes: /var/run/secrets/kubernetes.io exists")
    if os.path.exists(os.path.join(root, ".dockerenv")):
        signals.append("docker: /.dockerenv exists")
    if os.path.exists(os.path.join(root, "run/.containerenv")):
        signals.append("container: /run/.containerenv exists")
    try:
        with open(os.path.join(root, "proc/self/cgroup"), encoding="utf-8") as f:
            paths = [line.rstrip("\n").split(":", 2)[-1] for line in f]
    except (OSError, UnicodeDecodeError):
        paths = []
    for path in paths:
        hit = next((kind for hint, kind in _RUNTIME_HINTS if hint in path), None)
        if hit:
            signals.append(f"{hit}: cgroup path {path}")
            break
    rootfs = _root_filesystem(root)
    if rootfs:
        signals.append(f"container: {rootfs}")
    if root in ("/", ""):
        try:
            if os.readlink("/proc/self/ns/cgroup") != os.readlink("/proc/1/ns/cgroup"):
                signals.append("container: a cgroup namespace of its own")
        except OSError:
            pass
    return signals


def _root_filesystem(root: str) -> Optional[str]:
    """Describes "/" when it looks like a container's: an overlay, or a bind mount of some
    directory (a btrfs subvolume such as /@ is a host's root, not a container's)."""
    try:
        with open(os.path.join(root, "proc/self/mountinfo"), encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) < 7 or fields[4] != "/" or "-" not in fields[6:]:
                    continue
                fstype = fields[fields.index("-", 6) + 1]
                if fstype in ("overlay", "aufs", "fuse-overlayfs"):
                    return f"the root filesystem is {fstype}"
                if fields[3] != "/" and fstype != "btrfs":
                    return f"the root filesystem is a bind mount of {fields[3]}"
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    return None


def container_kind(signals: Sequence[str]) -> str:
    """ "kubernetes", "docker" or "container" from the signals, else "host"."""
    kinds = {s.split(":", 1)[0] for s in signals}
    for kind in ("kubernetes", "docker", "container"):
        if kind in kinds:
            return kind
    return "host"


MODES = ("auto", "host", "cgroup")


def create_resource_monitor(
    root: str = "/",
    mode: Optional[str] = None,
    *,
    min_interval: float = DEFAULT_MIN_INTERVAL,
    interfaces: Optional[Sequence[str]] = None,
) -> ResourceMonitor:
    """Creates the monitor that fits where this process runs.

    ``mode`` "auto" (the default) picks :class:`CgroupResourceMonitor` when the process runs
    under a CPU or memory limit or shows container signs (a cgroup namespace, /.dockerenv,
    KUBERNETES_SERVICE_HOST, a container runtime's cgroup path), else
    :class:`NativeResourceMonitor`. "host" and "cgroup" force one. When ``mode`` is not given,
    the environment variable ``DANUBE_METRICS_MODE`` chooses (operators' override). The
    monitor's ``selection_reason`` says what was seen and why.

    :raises ValueError: for an unknown mode.
    :raises NotSupportedError: for mode "cgroup" where no cgroup can be measured.
    """
    source = "mode"
    if mode is None:
        mode = os.environ.get("DANUBE_METRICS_MODE") or "auto"
        source = "DANUBE_METRICS_MODE" if os.environ.get("DANUBE_METRICS_MODE") else "default"
    if mode not in MODES:
        raise ValueError(f"unknown {source} {mode!r}: expected one of {', '.join(MODES)}")
    opts = {"min_interval": min_interval, "interfaces": interfaces}
    mon: _LinuxMonitor
    if mode == "host":
        mon = NativeResourceMonitor(root, **opts)  # type: ignore[arg-type]
        mon.selection_reason = f"host monitor requested ({source}={mode!r})"
        return mon
    if mode == "cgroup":
        mon = CgroupResourceMonitor(root, **opts)  # type: ignore[arg-type]
        mon.selection_reason = f"cgroup monitor requested ({source}={mode!r})"
        return mon

    signals = container_signals(root)
    try:
        cg = CgroupResourceMonitor(root, **opts)  # type: ignore[arg-type]
    except DanubeMetricsError as exc:
        mon = NativeResourceMonitor(root, **opts)  # type: ignore[arg-type]
        seen = f"; container signs: {', '.join(signals)}" if signals else ""
        mon.selection_reason = f"host monitor: no cgroup to measure ({exc}){seen}"
        return mon
    env = cg.environment
    limits = [
        f"CPU limit {env.cpu_limit_cores:g} cores" if env.cpu_limit_cores is not None else "",
        f"memory limit {_mib(env.memory_limit_bytes)}" if env.memory_limit_bytes else "",
    ]
    limits = [x for x in limits if x]
    if not env.cpu_capacity_cores or not env.memory_capacity_bytes:
        # A capacity of 0: a limit file that exists could not be read or parsed at creation
        # (its reading raises naming it). It may be a limit: the host's figures would be the
        # node's.
        limits.append("a limit file that could not be read")
    if limits or signals:
        why = []
        if signals:
            why.append("container signs: " + ", ".join(s.split(": ", 1)[1] for s in signals))
        if limits:
            why.append(" and ".join(limits))
        else:
            why.append(
                "no CPU or memory limit, so its figures are measured against the whole machine"
            )
        cg.selection_reason = f"cgroup monitor ({env.kind}): " + "; ".join(why)
        return cg
    cg.close()
    mon = NativeResourceMonitor(root, **opts)  # type: ignore[arg-type]
    mon.selection_reason = "host monitor: no container signs and no CPU or memory limit"
    return mon
