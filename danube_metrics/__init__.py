"""danube-metrics: how loaded is this machine? CPU %, memory %, disk and network bytes/s.

>>> from danube_metrics import create_resource_monitor, generate_load_report
>>> with create_resource_monitor() as mon:
...     report = generate_load_report(0, [], monitor=mon)  # doctest: +SKIP

The reports and their rankings need no C extension; the monitors (and
:func:`generate_load_report`, which reads one) are imported on first use, with it. Every
exception the package raises is importable from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from danube_metrics.errors import (
    DanubeMetricsError,
    InputTooLargeError,
    LeaseLostError,
    MonitorClosedError,
    NotReadyError,
    NotSupportedError,
    ParseError,
    ReadingError,
    ReportFormatError,
    StoreUnavailableError,
)
from danube_metrics.rankings import NoEligibleBrokerError
from danube_metrics.readings import DiskIOStats, NetworkIOStats, Pressure, Sample
from danube_metrics.report import LoadReport, ResourceType, SystemLoad, TopicLoad

if TYPE_CHECKING:
    from danube_metrics.measure import generate_load_report
    from danube_metrics.monitor import (
        CgroupResourceMonitor,
        Environment,
        NativeResourceMonitor,
        Readings,
        ResourceMonitor,
        create_resource_monitor,
    )

__version__ = "0.1.0"

__all__ = [
    "CgroupResourceMonitor",
    "DanubeMetricsError",
    "DiskIOStats",
    "Environment",
    "InputTooLargeError",
    "LeaseLostError",
    "LoadReport",
    "MonitorClosedError",
    "NativeResourceMonitor",
    "NetworkIOStats",
    "NoEligibleBrokerError",
    "NotReadyError",
    "NotSupportedError",
    "ParseError",
    "Pressure",
    "ReadingError",
    "Readings",
    "ReportFormatError",
    "ResourceMonitor",
    "ResourceType",
    "Sample",
    "StoreUnavailableError",
    "SystemLoad",
    "TopicLoad",
    "create_resource_monitor",
    "generate_load_report",
]

# The measuring names, and the module each comes from: importing one loads the C extension.
_MEASURING = {
    "CgroupResourceMonitor": "danube_metrics.monitor",
    "Environment": "danube_metrics.monitor",
    "NativeResourceMonitor": "danube_metrics.monitor",
    "Readings": "danube_metrics.monitor",
    "ResourceMonitor": "danube_metrics.monitor",
    "create_resource_monitor": "danube_metrics.monitor",
    "generate_load_report": "danube_metrics.measure",
}


def __getattr__(name: str) -> Any:
    # PEP 562: a measuring name is imported when first asked for, so that `import
    # danube_metrics` works (and stays cheap) where only reports are read.
    module = _MEASURING.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MEASURING})
