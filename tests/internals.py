"""The C core's internals, callable from the tests: the parsers and the rate arithmetic.

They are not part of the runtime extension (its header declares the monitor alone). This module
builds a test extension of its own with cffi from the one build description (csrc/build.py):
the pure sources, and the internal headers declared as they are. The build is cached in the
temporary folder under a hash of its inputs, so a child interpreter imports it at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, Optional

from cbuild import cbuild
from cffi import FFI

from danube_metrics.errors import NotReadyError, ParseError

_MODULE = "_dm_internals"


def _build() -> ModuleType:
    platform = "linux"  # the parsers are Linux's; the rate arithmetic is everyone's
    sources = cbuild.sources(platform, "pure")
    # The public header's constants (DM_OK, DM_NET_*, ...): its functions are the monitor's,
    # which the pure part does not hold.
    cdef = cbuild.cdef_from_headers(cbuild.PUBLIC_HEADER, constants_only=True)
    cdef += "\n" + cbuild.cdef_from_headers(*cbuild.INTERNAL_HEADERS)
    digest = hashlib.sha256(cdef.encode())
    for path in (*sources, Path(__file__), Path(cbuild.__file__)):
        digest.update(path.read_bytes())
    digest.update(sys.version.encode() + (sysconfig.get_config_var("EXT_SUFFIX") or "").encode())
    cache = Path(tempfile.gettempdir()) / "danube-metrics-tests"
    where = cache / digest.hexdigest()[:16]
    if not where.is_dir():
        ffi = FFI()
        ffi.cdef(cdef)
        ffi.set_source(
            _MODULE,
            "\n".join(f'#include "{h.name}"' for h in cbuild.INTERNAL_HEADERS),
            sources=[str(p) for p in sources],
            include_dirs=[str(d) for d in cbuild.include_dirs(platform)],
            extra_compile_args=cbuild.compile_args(platform, strict=True),
            libraries=cbuild.libraries(platform),
        )
        cache.mkdir(parents=True, exist_ok=True)
        # Built aside and renamed whole: another interpreter never imports half a build.
        scratch = tempfile.mkdtemp(prefix="building-", dir=cache)
        ffi.compile(tmpdir=scratch)
        try:
            os.rename(scratch, where)
        except OSError:  # another process finished first: use its build
            shutil.rmtree(scratch, ignore_errors=True)
    (found,) = where.glob(f"{_MODULE}.*.so")
    spec = importlib.util.spec_from_file_location(_MODULE, found)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ext = _build()
ffi: Any = _ext.ffi
lib: Any = _ext.lib


def _text(ptr: Any) -> Optional[str]:
    if ptr == ffi.NULL:
        return None
    return ffi.string(ptr).decode("utf-8", "replace")  # type: ignore[no-any-return]


# ---- /proc parsers and the rate arithmetic ----------------------------------------------------


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
    try:
        rd = ffi.new("uint64_t *")
        wr = ffi.new("uint64_t *")
        rc = lib.dm_diskstats_sum(ptr, n, disks, rd, wr)
        if rc != lib.DM_OK:
            raise _parse_failed("diskstats", rc)
        names = [_text(lib.dm_disk_set_name(disks, i)) or "" for i in range(disks.n)]
        return names, rd[0], wr[0]
    finally:
        lib.dm_disk_set_free(disks)  # the tables dm_diskstats_select allocated


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


class DiskSet:
    """A dm_disk_set of the given (major, minor) devices, built the way the monitor builds one:
    dm_diskstats_select over a diskstats file listing them as whole disks."""

    def __init__(self, devices: Sequence[tuple[int, int]]) -> None:
        def name(i: int) -> str:  # letters only: no name is another's partition
            return "wd" + "".join(chr(97 + int(d)) for d in str(i))

        text = "".join(f"{ma} {mi} {name(i)} 0 0 0 0 0 0 0 0 0 0 0\n" for i, (ma, mi) in
                       enumerate(devices))  # fmt: skip
        buf = text.encode()
        self.c: Any = ffi.gc(ffi.new("dm_disk_set *"), lib.dm_disk_set_free)
        if lib.dm_diskstats_select(buf, len(buf), self.c) != lib.DM_OK:
            raise ValueError(f"devices {devices!r}")
        assert self.c.n == len(devices)


def parse_io_stat(data: bytes, disks: Optional[DiskSet] = None) -> tuple[int, int]:
    """v2 io.stat: (rbytes, wbytes) summed over the devices of `disks` (all if None)."""
    keep = disks.c if disks is not None else ffi.NULL
    rbytes, wbytes = _numbers("io.stat", lib.dm_parse_io_stat, data, 2, keep)
    return rbytes, wbytes


def parse_blkio_bytes(data: bytes, disks: Optional[DiskSet] = None) -> tuple[int, int]:
    """v1 blkio io_service_bytes: (read, write) summed over the devices of `disks` (all if
    None)."""
    keep = disks.c if disks is not None else ffi.NULL
    read, write = _numbers("blkio", lib.dm_parse_blkio_bytes, data, 2, keep)
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


# ---- Pressure stall information and CFS throttling ----------------------------------------------


class PressureTotals(NamedTuple):
    some_us: int
    full_us: Optional[int]  # None without a "full" line


def parse_pressure(data: bytes) -> PressureTotals:
    """A PSI file's totals; ParseError with the C parser's reason."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_pressure_totals *")
    why = ffi.new("const char **")
    rc = lib.dm_parse_pressure(ptr, n, out, why)
    if rc != lib.DM_OK:
        raise ParseError("pressure", None, _text(why[0]) or f"parser returned {rc}")
    return PressureTotals(out.some_us, out.full_us if out.has_full else None)


class Throttling(NamedTuple):
    periods: int
    throttled_periods: int
    throttled_ns: int


def parse_cpu_throttling(
    data: bytes, version: int, hints: Optional[list[int]] = None
) -> Throttling:
    """cpu.stat's bandwidth counters (v1 or v2); `hints`, a three-item list, the C parser's
    remembered line offsets, read before the call and updated after."""
    ptr, n, _keep = _as_c(data)
    out = ffi.new("dm_throttling *")
    why = ffi.new("const char **")
    c_hints = ffi.new("size_t[3]", hints or [0, 0, 0])
    rc = lib.dm_parse_cpu_throttling(ptr, n, version, c_hints, out, why)
    if hints is not None:
        hints[:] = [int(c_hints[i]) for i in range(3)]
    if rc != lib.DM_OK:
        raise ParseError("cpu.stat", None, _text(why[0]) or f"parser returned {rc}")
    return Throttling(out.periods, out.throttled_periods, out.throttled_ns)
