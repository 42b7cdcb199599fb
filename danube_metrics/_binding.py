"""The one module that talks to the cffi extension: opens C monitors, samples them into a
preallocated struct, and turns C status codes into exceptions. Public modules never import cffi.
"""

from __future__ import annotations

import errno as errno_module
import os
import struct
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from danube_metrics._native import ffi, lib
from danube_metrics.errors import (
    DanubeMetricsError,
    MonitorClosedError,
    NotReadyError,
    NotSupportedError,
    ParseError,
    ReadingError,
)
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Sample

CPU: int = lib.DM_CPU
MEMORY: int = lib.DM_MEMORY
DISK: int = lib.DM_DISK
NETWORK: int = lib.DM_NETWORK
ALL: int = lib.DM_ALL

_NET_MODES = {
    lib.DM_NET_PHYSICAL: "physical",
    lib.DM_NET_ALL_BUT_LO: "all-but-lo",
    lib.DM_NET_USER_LIST: "user-list",
}


def _text(ptr: Any) -> Optional[str]:
    if ptr == ffi.NULL:
        return None
    return ffi.string(ptr).decode("utf-8", "replace")  # type: ignore[no-any-return]


def error_from_c(resource: str, err: Any) -> DanubeMetricsError:
    """Turns a dm_error into the exception that names the file and the cause."""
    code = err.code
    path = _text(err.path)
    detail = _text(err.detail) or "no detail"
    if code == lib.DM_E_OS:
        eno = err.os_errno
        return ReadingError(resource, eno, f"{detail}: {os.strerror(eno)}", path)
    if code == lib.DM_E_PARSE:
        return ParseError(resource, path, detail)
    if code == lib.DM_E_AGAIN:
        return NotReadyError(resource, path, detail)
    if code == lib.DM_E_UNSUPPORTED:
        return NotSupportedError(resource, path, detail)
    if code == lib.DM_E_NOMEM:
        return ReadingError(resource, errno_module.ENOMEM, "out of memory", path)
    return DanubeMetricsError(f"{resource}: {path or ''}: {detail} (code {code})")


class RawSample(NamedTuple):
    """One C sample: the figures (a failed reading's are meaningless), and per resource
    either None or the error."""

    figures: Sample
    cpu_error: Optional[DanubeMetricsError]
    memory_error: Optional[DanubeMetricsError]
    disk_error: Optional[DanubeMetricsError]
    network_error: Optional[DanubeMetricsError]


class EnvironmentInfo(NamedTuple):
    """What the C monitor found: see dm_environment in danube_metrics.h."""

    kind: int
    cgroup_version: int
    cgroup_path: Optional[str]
    cgroup_dir: Optional[str]
    cpu_limit_cores: float
    cpu_quota_cores: float
    cpuset_cpus: int
    online_cpus: int
    memory_limit_bytes: int
    memory_total_bytes: int


# The six figures lead dm_sample, which leads dm_call: one unpack reads them (cheaper than six
# cdata lookups).
assert ffi.offsetof("dm_sample", "net_tx_bytes_per_sec") == 5 * 8
assert ffi.offsetof("dm_call", "out") == 0
_unpack_six = struct.Struct("6d").unpack_from
# Looked up once: attribute lookups on `lib` show in a call that costs a few microseconds.
_dm_call_sample = lib.dm_call_sample
_dm_monitor_cpu_percent = lib.dm_monitor_cpu_percent
_dm_monitor_memory_percent = lib.dm_monitor_memory_percent
_DM_E_BUFFER: int = lib.DM_E_BUFFER
_READINGS = ((CPU, "cpu"), (MEMORY, "memory"), (DISK, "disk"), (NETWORK, "network"))

KIND_HOST: int = lib.DM_KIND_HOST
KIND_CGROUP: int = lib.DM_KIND_CGROUP


_T = TypeVar("_T")


class _CallPool(list):  # type: ignore[type-arg]
    """Idle dm_call structs of one monitor and one set of metrics, each with a buffer view:
    (call, view) pairs. The pool holds the monitor's cdata, so that a call in flight (which
    holds its pool) keeps the monitor alive after close() has replaced the pools."""

    def __init__(self, mon: Any, metrics: int) -> None:
        super().__init__()
        self.mon = mon
        self.metrics = metrics

    def new_entry(self) -> tuple[Any, Any]:
        call = ffi.new("dm_call *")
        call.mon = self.mon
        call.metrics = self.metrics
        return call, ffi.buffer(call)


def _pools(mon: Any) -> list[_CallPool]:
    """One pool per metrics mask (0 to ALL), indexed by the mask."""
    return [_CallPool(mon, metrics) for metrics in range(ALL + 1)]


def _reader(metrics: int, first: int, count: int, cls: type[_T]) -> Callable[[MonitorHandle], _T]:
    """A MonitorHandle method that samples `metrics` and returns `count` figures from the
    `first` as a `cls` (a tuple type): the hot path, one frame and one one-argument C call.
    Each call takes a dm_call of its own from the pool: two threads never share one."""
    unpack = struct.Struct(f"{count}d").unpack_from
    offset = 8 * first

    def read(self: MonitorHandle) -> _T:
        calls = self._pools[metrics]
        try:
            entry = calls.pop()
        except IndexError:  # every struct is in use by another thread: one more
            entry = calls.new_entry()
        try:
            rc = _dm_call_sample(entry[0])
            if rc:
                self._raise_failure(metrics, rc, ffi.addressof(entry[0], "out"))
            # tuple.__new__ skips a NamedTuple constructor's keyword handling.
            return tuple.__new__(cls, unpack(entry[1], offset))  # type: ignore[type-var]
        finally:
            calls.append(entry)

    return read


class MonitorHandle:
    """An open C monitor (host or cgroup), shared safely between threads.

    The C core serialises calls on the monitor's own lock (cffi releases the GIL around C
    calls), so this class holds no lock on the hot path. Each call samples into a dm_call of
    its own, taken from a pool (list.pop and list.append are atomic), so that two threads never
    read one struct while the other fills it. close() drops the references to the C monitor
    (its own and the pools'): it is freed as soon as no call is using it.
    """

    def __init__(
        self,
        root: str = "/",
        min_interval_ns: int = 100_000_000,
        interfaces: Optional[str] = None,
        start_ns: int = 0,
        kind: int = KIND_HOST,
    ) -> None:
        self._root = ffi.new("char[]", os.fsencode(root))
        self._ifaces = ffi.new("char[]", interfaces.encode()) if interfaces else ffi.NULL
        opts = ffi.new(
            "dm_options *",
            {"min_interval_ns": min_interval_ns, "start_ns": start_ns, "kind": kind},
        )
        opts.root = self._root
        opts.interfaces = self._ifaces
        error_path = ffi.new("char[]", 4096)
        opts.error_path = error_path
        opts.error_path_len = 4096
        out = ffi.new("dm_monitor **")
        err = ffi.new("dm_error *")
        rc = lib.dm_monitor_open(opts, out, err)
        if rc == lib.DM_E_INVALID:
            raise ValueError(f"cannot open monitor: {_text(err.detail)}")
        if rc != lib.DM_OK:
            raise error_from_c("open", err)
        self._mon: Any = ffi.gc(out[0], lib.dm_monitor_close)
        self._closed = False
        self._pools = _pools(self._mon)

    def close(self) -> None:
        self._closed = True
        # C rejects NULL; the monitor is freed once no call (or pool in use) holds it.
        self._mon = ffi.NULL
        self._pools = _pools(ffi.NULL)

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> Any:
        mon = self._mon
        if self._closed:
            raise MonitorClosedError("the monitor is closed")
        return mon

    def sample_raw(self, metrics: int, now_ns: Optional[int] = None) -> RawSample:
        """Samples the metrics in the bit mask; errors are returned per resource, not raised."""
        mon = self._check_open()
        out = ffi.new("dm_sample *")
        if now_ns is None:
            rc = lib.dm_monitor_sample(mon, metrics, out)
        else:
            rc = lib.dm_monitor_sample_at(mon, metrics, now_ns, out)
        if rc == lib.DM_E_BUFFER:
            rc = self._grow_and_retry(mon, metrics, now_ns, out)
        return RawSample(
            tuple.__new__(Sample, _unpack_six(ffi.buffer(out))),
            *(error_from_c(name, getattr(out, name)) if rc and getattr(out, name).code else None
              for _, name in _READINGS),
        )  # fmt: skip

    # The hot readings (see _reader). The figures lead dm_sample in this order: cpu, memory,
    # disk read, disk write, net rx, net tx.
    sample_all = _reader(ALL, 0, 6, Sample)
    disk_io = _reader(DISK, 2, 2, DiskIOStats)
    network_io = _reader(NETWORK, 4, 2, NetworkIOStats)
    _cpu_figures = _reader(CPU, 0, 1, tuple)
    _memory_figures = _reader(MEMORY, 1, 1, tuple)

    def cpu_percent(self) -> float:
        v: float = _dm_monitor_cpu_percent(self._mon)
        if v >= 0.0:  # NaN when the reading failed
            return v
        v = self._cpu_figures()[0]  # raises why (or returns a value taken since)
        return v

    def memory_percent(self) -> float:
        v: float = _dm_monitor_memory_percent(self._mon)
        if v >= 0.0:
            return v
        v = self._memory_figures()[0]
        return v

    def _raise_failure(self, metrics: int, rc: int, out: Any) -> None:
        """Raises the error of a failed sample, after growing a buffer a file outgrew."""
        mon = self._check_open()
        if rc == _DM_E_BUFFER and self._grow_and_retry(mon, metrics, None, out) == lib.DM_OK:
            return
        for bit, name in _READINGS:
            err = getattr(out, name)
            if metrics & bit and err.code != lib.DM_OK:
                raise error_from_c(name, err)
        raise DanubeMetricsError(f"sample failed with code {rc} and no reading's error")

    def _grow_and_retry(self, mon: Any, metrics: int, now_ns: Optional[int], out: Any) -> int:
        """A file outgrew its buffer: enlarge that buffer (this allocates, so it is kept off
        the normal path) and sample again the readings that hit it."""
        again = 0
        for bit, name in _READINGS:
            if metrics & bit and getattr(out, name).code == lib.DM_E_BUFFER:
                again |= bit
        err = ffi.new("dm_error *")
        if lib.dm_monitor_grow(mon, again, err) != lib.DM_OK:
            raise error_from_c("grow", err)
        if now_ns is None:
            lib.dm_monitor_sample(mon, again, out)
        else:
            lib.dm_monitor_sample_at(mon, again, now_ns, out)
        codes = [getattr(out, name).code for bit, name in _READINGS if metrics & bit]
        return next((c for c in codes if c != lib.DM_OK), lib.DM_OK)  # type: ignore[no-any-return]

    def environment(self) -> EnvironmentInfo:
        env = ffi.new("dm_environment *")
        lib.dm_monitor_environment(self._check_open(), env)
        return EnvironmentInfo(
            env.kind,
            env.cgroup_version,
            _text(env.cgroup_path),
            _text(env.cgroup_dir),
            env.cpu_limit_cores,
            env.cpu_quota_cores,
            env.cpuset_cpus,
            env.online_cpus,
            env.memory_limit_bytes,
            env.memory_total_bytes,
        )

    def sample_files(self, metrics: int) -> list[str]:
        """The files a sample of `metrics` reads."""
        cap = 1024
        paths = ffi.new("const char *[]", cap)
        n = lib.dm_monitor_sample_files(self._check_open(), metrics, paths, cap)
        return [_text(paths[i]) or "" for i in range(min(n, cap))]

    def disks(self) -> list[str]:
        mon = self._check_open()
        return [
            _text(lib.dm_monitor_disk_name(mon, i)) or ""
            for i in range(lib.dm_monitor_disk_count(mon))
        ]

    def interfaces(self) -> tuple[str, list[str]]:
        """The interface selection mode and the names counted (empty for all-but-lo)."""
        mon = self._check_open()
        mode = _NET_MODES.get(lib.dm_monitor_net_mode(mon), "not chosen yet")
        names = [
            _text(lib.dm_monitor_iface_name(mon, i)) or ""
            for i in range(lib.dm_monitor_iface_count(mon))
        ]
        return mode, names


def monotonic_ns() -> int:
    """The C core's monotonic clock, in nanoseconds (the time base of every rate)."""
    return int(lib.dm_monotonic_ns())


# ---- Pure parsers, exposed for tests and fuzzing ---------------------------------------------


def _as_c(data: bytes) -> tuple[Any, int, Any]:
    """A C copy of `data` of exactly its length (tests swap in a guard-page buffer)."""
    buf = ffi.new("char[]", len(data) or 1)
    ffi.memmove(buf, data, len(data))
    return buf, len(data), buf


def _parse_failed(what: str, rc: int) -> ParseError:
    return ParseError(what, None, f"parser returned {rc}")


class CpuTimes(NamedTuple):
    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int
    guest: int
    guest_nice: int
    nfields: int
    busy: int
    idle_total: int


def parse_proc_stat(data: bytes) -> CpuTimes:
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_cpu_times *")
    rc = lib.dm_parse_proc_stat(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("proc_stat", rc)
    busy = ffi.new("uint64_t *")
    idle = ffi.new("uint64_t *")
    lib.dm_cpu_busy_idle(out, busy, idle)
    return CpuTimes(
        out.user,
        out.nice,
        out.system,
        out.idle,
        out.iowait,
        out.irq,
        out.softirq,
        out.steal,
        out.guest,
        out.guest_nice,
        out.nfields,
        busy[0],
        idle[0],
    )


class MemInfo(NamedTuple):
    total: int
    available: int
    has_mem_available: bool
    percent: float


def parse_meminfo(data: bytes) -> MemInfo:
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_meminfo *")
    rc = lib.dm_parse_meminfo(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("meminfo", rc)
    pct = ffi.new("double *")
    if lib.dm_memory_percent(out, pct) != lib.DM_OK:
        raise _parse_failed("meminfo", lib.DM_E_PARSE)
    return MemInfo(out.total, out.available, bool(out.has_mem_available), pct[0])


class DiskstatsLine(NamedTuple):
    major: int
    minor: int
    name: str
    sectors_read: int
    sectors_written: int
    nfields: int


def parse_diskstats_line(data: bytes) -> DiskstatsLine:
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_diskstats_line *")
    rc = lib.dm_parse_diskstats_line(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("diskstats", rc)
    name = data[out.name_off : out.name_off + out.name_len].decode("utf-8", "replace")
    return DiskstatsLine(
        out.major, out.minor, name, out.sectors_read, out.sectors_written, out.nfields
    )


def diskstats_totals(data: bytes) -> tuple[list[str], int, int]:
    """Whole disks chosen from a diskstats file, and their bytes read and written."""
    ptr, n, _keep = _as_c(data)
    disks = ffi.new("dm_disk_set *")
    rc = lib.dm_diskstats_select(ptr, n, disks)
    if rc != lib.DM_OK:
        raise _parse_failed("diskstats", rc)
    rd = ffi.new("uint64_t *")
    wr = ffi.new("uint64_t *")
    rc = lib.dm_diskstats_sum(ptr, n, disks, rd, wr)
    if rc != lib.DM_OK:
        raise _parse_failed("diskstats", rc)
    names = [_text(lib.dm_disk_set_name(disks, i)) or "" for i in range(disks.n)]
    return names, rd[0], wr[0]


class NetdevLine(NamedTuple):
    name: str
    rx_bytes: int
    tx_bytes: int


def parse_netdev_line(data: bytes) -> Optional[NetdevLine]:
    """One net/dev line; None for a header line."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_netdev_line *")
    rc = lib.dm_parse_netdev_line(ptr, n, out)
    if rc == lib.DM_E_AGAIN:
        return None
    if rc != lib.DM_OK:
        raise _parse_failed("net/dev", rc)
    name = data[out.name_off : out.name_off + out.name_len].decode("utf-8", "replace")
    return NetdevLine(name, out.rx_bytes, out.tx_bytes)


def netdev_totals(data: bytes, interfaces: Optional[str] = None) -> tuple[int, int]:
    """rx and tx bytes of a net/dev file: the named interfaces, or all but lo."""
    ptr, n, _keep = _as_c(data)
    ifaces = ffi.new("dm_iface_set *")
    if interfaces is None:
        ifaces.mode = lib.DM_NET_ALL_BUT_LO
    elif lib.dm_iface_set_from_list(interfaces.encode(), ifaces) != lib.DM_OK:
        raise ValueError(f"bad interface list {interfaces!r}")
    rx = ffi.new("uint64_t *")
    tx = ffi.new("uint64_t *")
    rc = lib.dm_netdev_sum(ptr, n, ifaces, rx, tx)
    if rc != lib.DM_OK:
        raise _parse_failed("net/dev", rc)
    return rx[0], tx[0]


class RateState:
    """The C rate arithmetic over a pair of counters (for tests of resets and intervals)."""

    def __init__(self, min_interval_ns: int) -> None:
        self._st = ffi.new("dm_rate_state *")
        self._min = min_interval_ns
        self._detail = ffi.new("const char **")

    def per_second(self, a: int, b: int, now_ns: int) -> tuple[float, float]:
        now = ffi.new("uint64_t[2]", [a, b])
        out = ffi.new("double[2]")
        rc = lib.dm_rate_per_second(self._st, now, now_ns, self._min, out, self._detail)
        if rc != lib.DM_OK:
            raise NotReadyError("rate", None, _text(self._detail[0]) or "")
        return out[0], out[1]

    def busy_percent(self, busy: int, idle: int, now_ns: int) -> float:
        out = ffi.new("double *")
        rc = lib.dm_rate_busy_percent(self._st, busy, idle, now_ns, self._min, out, self._detail)
        if rc != lib.DM_OK:
            raise NotReadyError("rate", None, _text(self._detail[0]) or "")
        return float(out[0])


# ---- cgroup parsers ----------------------------------------------------------------------------

CGROUP_CONTROLLERS = ("unified", "cpu", "cpuacct", "cpuset", "memory", "blkio")


def parse_proc_cgroup(data: bytes) -> dict[str, str]:
    """/proc/self/cgroup: the path of each controller found ("unified" for the v2 line)."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_proc_cgroup *")
    rc = lib.dm_parse_proc_cgroup(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("proc/self/cgroup", rc)
    found = {}
    for i, name in enumerate(CGROUP_CONTROLLERS):
        span = out.path[i]
        if span.found:
            found[name] = data[span.off : span.off + span.len].decode("utf-8", "replace")
    return found


class MountinfoLine(NamedTuple):
    root: str
    mount_point: str
    fstype: str
    super_options: str


def _span_text(data: bytes, span: Any) -> str:
    return data[span.off : span.off + span.len].decode("utf-8", "replace")


def _mountinfo_line(data: bytes, out: Any) -> MountinfoLine:
    return MountinfoLine(
        _span_text(data, out.root),
        _span_text(data, out.mount_point),
        _span_text(data, out.fstype),
        _span_text(data, out.super_options),
    )


def parse_mountinfo_line(data: bytes) -> MountinfoLine:
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_mountinfo_line *")
    rc = lib.dm_parse_mountinfo_line(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("mountinfo", rc)
    return _mountinfo_line(data, out)


def mountinfo_find(data: bytes, controller: str) -> Optional[MountinfoLine]:
    """The mount of a controller's hierarchy in a mountinfo file, or None."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_mountinfo_line *")
    rc = lib.dm_mountinfo_find(ptr, n, CGROUP_CONTROLLERS.index(controller), out)
    if rc == lib.DM_E_AGAIN:
        return None
    if rc != lib.DM_OK:
        raise _parse_failed("mountinfo", rc)
    return _mountinfo_line(data, out)


def unescape_mount_path(data: bytes, cap: int = 4096) -> bytes:
    ptr, n, _keep = _as_c(data)
    dst = ffi.new("char[]", cap)
    out_len = ffi.new("size_t *")
    rc = lib.dm_unescape_mount_path(ptr, n, dst, cap, out_len)
    if rc != lib.DM_OK:
        raise _parse_failed("mountinfo path", rc)
    return bytes(ffi.buffer(dst, out_len[0]))


NO_LIMIT = 2**64 - 1


def _numbers(what: str, parser: Any, data: bytes, count: int, *args: Any) -> list[int]:
    """Runs a C parser that writes `count` uint64_t results after its (buffer, length) and
    `args`, raising ParseError naming `what` when it refuses the input."""
    ptr, n, _keep = _as_c(data)
    outs = [ffi.new("uint64_t *") for _ in range(count)]
    rc = parser(ptr, n, *args, *outs)
    if rc != lib.DM_OK:
        raise _parse_failed(what, rc)
    return [int(o[0]) for o in outs]


def parse_limit(data: bytes) -> int:
    """A limit file; NO_LIMIT for "max" or a negative value."""
    return _numbers("limit", lib.dm_parse_limit, data, 1)[0]


def parse_cpu_max(data: bytes) -> tuple[int, int]:
    """v2 cpu.max: (quota, period), quota NO_LIMIT for "max"."""
    quota, period = _numbers("cpu.max", lib.dm_parse_cpu_max, data, 2)
    return quota, period


def parse_keyed(data: bytes, key: str, hint: Optional[list[int]] = None) -> int:
    """The value of `key` in a flat keyed file (cpu.stat, memory.stat). `hint`, a one-item
    list, is the C parser's remembered line offset: read before the call, updated after."""
    c_hint = ffi.new("size_t *", hint[0]) if hint is not None else ffi.NULL
    try:
        return _numbers("keyed file", lib.dm_parse_keyed_u64, data, 1, key.encode(), c_hint)[0]
    finally:
        if hint is not None:
            hint[0] = int(c_hint[0])


def parse_io_stat(data: bytes) -> tuple[int, int]:
    """v2 io.stat: (rbytes, wbytes) summed over devices."""
    rbytes, wbytes = _numbers("io.stat", lib.dm_parse_io_stat, data, 2)
    return rbytes, wbytes


def parse_blkio_bytes(data: bytes) -> tuple[int, int]:
    """v1 blkio io_service_bytes: (read, write) summed over devices."""
    read, write = _numbers("blkio", lib.dm_parse_blkio_bytes, data, 2)
    return read, write


def parse_cpu_list(data: bytes) -> int:
    """A CPU list such as "0-3,8": how many CPUs it names."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("uint32_t *")
    rc = lib.dm_parse_cpu_list(ptr, n, out)
    if rc != lib.DM_OK:
        raise _parse_failed("cpu list", rc)
    return int(out[0])


def parse_block_stat(data: bytes) -> tuple[int, int]:
    """/sys/block/<disk>/stat: sectors read and written."""
    read, written = _numbers("block stat", lib.dm_parse_block_stat, data, 2)
    return read, written


def parse_u64_file(data: bytes) -> int:
    """A sysfs counter file: one decimal and a newline."""
    return _numbers("counter", lib.dm_parse_u64_file, data, 1)[0]
