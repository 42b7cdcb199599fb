"""danube-metrics: how loaded is this machine? CPU %, memory %, disk and network bytes/s.

>>> from danube_metrics import create_resource_monitor
>>> with create_resource_monitor() as mon:
...     report = generate_load_report(0, [], monitor=mon)  # doctest: +SKIP
"""

from danube_metrics.errors import (
    DanubeMetricsError,
    MonitorClosedError,
    NotReadyError,
    NotSupportedError,
    ParseError,
    ReadingError,
    ReportFormatError,
)
from danube_metrics.monitor import (
    CgroupResourceMonitor,
    Environment,
    NativeResourceMonitor,
    Readings,
    ResourceMonitor,
    create_resource_monitor,
)
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Sample
from danube_metrics.report import (
    LoadReport,
    ResourceType,
    SystemLoad,
    TopicLoad,
    generate_load_report,
)

__version__ = "0.1.0"

__all__ = [
    "CgroupResourceMonitor",
    "DanubeMetricsError",
    "DiskIOStats",
    "Environment",
    "LoadReport",
    "MonitorClosedError",
    "NativeResourceMonitor",
    "NetworkIOStats",
    "NotReadyError",
    "NotSupportedError",
    "ParseError",
    "ReadingError",
    "Readings",
    "ReportFormatError",
    "ResourceMonitor",
    "ResourceType",
    "Sample",
    "SystemLoad",
    "TopicLoad",
    "create_resource_monitor",
    "generate_load_report",
]
