"""The one module that talks to the cffi extension: opens C monitors, samples them into a
preallocated struct, and turns C status codes into exceptions. Public modules never import cffi.
"""

from __future__ import annotations

import errno as errno_module
import os
import struct
import weakref
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from danube_metrics._source_tree import missing_extension_hint

try:
    from danube_metrics._native import ffi, lib
except ImportError as exc:
    hint = missing_extension_hint(exc)
    if hint is None:
        raise
    raise ImportError(hint, name=exc.name) from exc

from danube_metrics.errors import (
    DanubeMetricsError,
    MonitorClosedError,
    NotReadyError,
    NotSupportedError,
    ParseError,
    ReadingError,
)
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Pressure, Sample

CPU: int = lib.DM_CPU
MEMORY: int = lib.DM_MEMORY
DISK: int = lib.DM_DISK
NETWORK: int = lib.DM_NETWORK
ALL: int = lib.DM_ALL
PRESSURE: int = lib.DM_PRESSURE

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
    disk_note: Optional[str]
    pressure_note: Optional[str]
    throttling_note: Optional[str]


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

# dm_pressure: seven figures, then the mask of those this monitor cannot have (bit i: figure
# i); then each source's error. dm_call_pressure returns that mask when it succeeds.
_PRESSURE_FIGURES: int = lib.DM_PRESSURE_FIGURES
assert ffi.offsetof("dm_pressure", "unsupported") == _PRESSURE_FIGURES * 8
assert ffi.offsetof("dm_pressure_call", "out") == 0
_dm_call_pressure = lib.dm_call_pressure
_PRESSURE_SOURCES = (("cpu", "pressure"), ("memory", "pressure"), ("io", "pressure"),
                     ("throttling", "throttling"))  # fmt: skip

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


def _pressure_entry(mon: Any) -> tuple[Any, Any]:
    """A dm_pressure_call of `mon` and a view of its seven figures (the struct holds the
    monitor's cdata alive while a call is in flight, as _CallPool's do). The view is exactly
    the figures' size, so that Struct.unpack (one argument, no offset to parse) reads it."""
    call = ffi.new("dm_pressure_call *")
    call.mon = mon
    return call, memoryview(ffi.buffer(call))[: 8 * _PRESSURE_FIGURES]


def _pressure_pool(mon: Any) -> list[tuple[Any, Any]]:
    """Idle dm_pressure_call entries of one monitor."""
    return [_pressure_entry(mon)]


_Unpack = Callable[[Any], tuple[Any, ...]]


def _unpack_sparse(missing: int) -> _Unpack:
    """The seven figures with None for each bit of `missing` (any mask)."""
    unpack = struct.Struct(f"{_PRESSURE_FIGURES}d").unpack

    def figures(view: Any) -> tuple[Any, ...]:
        values = unpack(view)
        return tuple(None if missing >> i & 1 else v for i, v in enumerate(values))

    return figures


def _pressure_shape(missing: int) -> tuple[_Unpack, tuple[None, ...], tuple[None, ...]]:
    """How to read the figures of a monitor missing the figures of the mask `missing`: an
    unpack of the seven figures' view, and the Nones before and after what it gives. The masks
    monitors have (none missing; the host's throttling; a v1 cgroup's PSI) leave one run of
    figures, read in one unpack with no loop; any other mask takes the per-figure path."""
    present = [i for i in range(_PRESSURE_FIGURES) if not missing >> i & 1]
    first, end = present[0], present[-1] + 1
    if present != list(range(first, end)):
        return _unpack_sparse(missing), (), ()
    skipped_after = 8 * (_PRESSURE_FIGURES - end)
    unpack = struct.Struct(f"{8 * first}x{end - first}d{skipped_after}x").unpack
    return unpack, (None,) * first, (None,) * (_PRESSURE_FIGURES - end)


# By mask (dm_call_pressure's return). Every figure missing (the last mask) is
# DM_E_UNSUPPORTED instead.
_PRESSURE_SHAPES = [_pressure_shape(missing) for missing in range((1 << _PRESSURE_FIGURES) - 1)]
# Looked up once: tuple.__new__ is an attribute lookup on a type at each use.
_tuple_new = tuple.__new__


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
        self._pressure_calls = _pressure_pool(self._mon)
        _open_handles.add(self)

    def close(self) -> None:
        self._closed = True
        # C rejects NULL; the monitor is freed once no call (or pool in use) holds it.
        self._mon = ffi.NULL
        self._pools = _pools(ffi.NULL)
        self._pressure_calls = _pressure_pool(ffi.NULL)

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

    def pressure(self) -> Pressure:
        """The pressure readings (dm_monitor_pressure): None for a figure this monitor cannot
        have; raises NotSupportedError when it can have none, else any source's failure. The
        hot path, as _reader's: one one-argument C call into a struct of this thread's own,
        whose return (the mask of missing figures) picks how to read them."""
        calls = self._pressure_calls
        try:
            entry = calls.pop()
        except IndexError:  # every struct is in use by another thread: one more
            entry = _pressure_entry(self._mon)
        try:
            missing = _dm_call_pressure(entry[0])
            if missing < 0:
                missing = self._pressure_retry(missing, entry[0], None)
            unpack, before, after = _PRESSURE_SHAPES[missing]
            figures = unpack(entry[1])
        finally:
            calls.append(entry)
        # tuple.__new__ skips a NamedTuple constructor's keyword handling; an empty tuple
        # added costs nothing (the other tuple is returned as it is).
        return _tuple_new(Pressure, before + figures + after)

    def pressure_at(self, now_ns: int) -> Pressure:
        """pressure() as if the monotonic clock read `now_ns` (tests)."""
        call, view = _pressure_entry(self._check_open())
        rc = lib.dm_monitor_pressure_at(call.mon, now_ns, ffi.addressof(call[0], "out"))
        missing = self._pressure_retry(rc, call, now_ns) if rc else call.out.unsupported
        unpack, before, after = _PRESSURE_SHAPES[missing]
        return _tuple_new(Pressure, before + unpack(view) + after)

    def _pressure_retry(self, rc: int, call: Any, now_ns: Optional[int]) -> int:
        """A failed pressure call: grows a buffer a file outgrew and calls again, returning
        the mask of missing figures; raises the failure otherwise (or if it remains)."""
        if rc == _DM_E_BUFFER:
            err = ffi.new("dm_error *")
            if lib.dm_monitor_grow(self._check_open(), PRESSURE, err) != lib.DM_OK:
                raise error_from_c("grow", err)
            out = ffi.addressof(call[0], "out")
            if now_ns is None:
                rc = lib.dm_monitor_pressure(call.mon, out)
            else:
                rc = lib.dm_monitor_pressure_at(call.mon, now_ns, out)
        if rc:
            self._raise_pressure_failure(rc, call.out)
        missing: int = call.out.unsupported
        return missing

    def _raise_pressure_failure(self, rc: int, out: Any) -> None:
        self._check_open()
        errors = [(name, resource, getattr(out, name)) for name, resource in _PRESSURE_SOURCES]
        if rc == lib.DM_E_UNSUPPORTED:
            sources: dict[str, list[str]] = {}  # one reason, the sources it holds for
            for name, _, err in errors:
                sources.setdefault(_text(err.detail) or "no detail", []).append(name)
            why = "; ".join(f"{', '.join(names)}: {text}" for text, names in sources.items())
            raise NotSupportedError("pressure", None, why)
        for _name, resource, err in errors:
            if err.code not in (lib.DM_OK, lib.DM_E_UNSUPPORTED):
                raise error_from_c(resource, err)
        raise DanubeMetricsError(f"pressure reading failed with code {rc} and no source's error")

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
            _text(env.disk_note),
            _text(env.pressure_note),
            _text(env.throttling_note),
        )

    def sample_files(self, metrics: int) -> list[str]:
        """The files a sample of `metrics` reads."""
        mon = self._check_open()
        # Asked twice: how many (thousands with per-device files), then the names; no cap.
        n = lib.dm_monitor_sample_files(mon, metrics, ffi.NULL, 0)
        paths = ffi.new("const char *[]", max(n, 1))
        n = min(n, lib.dm_monitor_sample_files(mon, metrics, paths, n))
        return [_text(paths[i]) or "" for i in range(n)]

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


# ---- fork ---------------------------------------------------------------------------------------
#
# A child forked while another thread is inside a C call would inherit that monitor's lock held,
# with no thread left to release it: its first reading would wait forever. Around every fork,
# each open monitor's lock is taken (waiting for the call in progress; C calls never need the
# GIL, which the forking thread holds) and given back in the parent, or made anew in the child.

_open_handles: weakref.WeakSet[MonitorHandle] = weakref.WeakSet()
_held_for_fork: list[Any] = []  # the C monitors locked: kept alive until the fork is over


def _before_fork() -> None:
    for handle in list(_open_handles):
        mon = handle._mon
        if mon != ffi.NULL:
            lib.dm_monitor_before_fork(mon)
            _held_for_fork.append(mon)


def _after_fork(in_child: int) -> None:
    for mon in _held_for_fork:
        lib.dm_monitor_after_fork(mon, in_child)
    _held_for_fork.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=lambda: _after_fork(0),
        after_in_child=lambda: _after_fork(1),
    )


def monotonic_ns() -> int:
    """The C core's monotonic clock, in nanoseconds (the time base of every rate)."""
    return int(lib.dm_monotonic_ns())
