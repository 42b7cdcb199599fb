"""The value types of the readings: what the getters and sample() return."""

from __future__ import annotations

__all__ = ["DiskIOStats", "NetworkIOStats", "Pressure", "Sample"]

from typing import NamedTuple, Optional


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
    """The four readings taken at one instant: six figures, flat (one object per sample on the
    hot path), with ``disk`` and ``network`` as the DiskIOStats and NetworkIOStats views."""

    cpu_percent: float
    memory_percent: float
    disk_read_bytes_per_sec: float
    disk_write_bytes_per_sec: float
    net_rx_bytes_per_sec: float
    net_tx_bytes_per_sec: float

    @property
    def disk(self) -> DiskIOStats:
        return DiskIOStats(self.disk_read_bytes_per_sec, self.disk_write_bytes_per_sec)

    @property
    def network(self) -> NetworkIOStats:
        return NetworkIOStats(self.net_rx_bytes_per_sec, self.net_tx_bytes_per_sec)


class Pressure(NamedTuple):
    """Saturation over the interval since the previous pressure reading: stalls (Linux PSI) as
    percentages of wall time, and CFS throttling of the cgroup's CPU quota. A figure this
    monitor cannot have is None; ``environment.pressure_note`` and ``throttling_note`` say why
    (docs/semantics.md, "Pressure stalls and CPU throttling")."""

    cpu_some_percent: Optional[float]
    """Share of the time at least one runnable task waited for a CPU."""
    memory_some_percent: Optional[float]
    """Share of the time at least one task stalled on memory (reclaim, refaults, swap-in)."""
    memory_full_percent: Optional[float]
    """Share of the time every non-idle task stalled on memory at once (thrashing)."""
    io_some_percent: Optional[float]
    """Share of the time at least one task waited for I/O."""
    io_full_percent: Optional[float]
    """Share of the time every non-idle task waited for I/O at once."""
    cpu_throttled_percent: Optional[float]
    """Share of the CFS periods in which the cgroup used up its quota and was throttled."""
    cpu_throttled_seconds_per_second: Optional[float]
    """Time the cgroup spent throttled, per second."""
