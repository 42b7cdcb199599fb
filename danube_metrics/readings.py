"""The value types of the readings: what the getters and sample() return."""

from __future__ import annotations

__all__ = ["DiskIOStats", "NetworkIOStats", "Sample"]

from typing import NamedTuple


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
