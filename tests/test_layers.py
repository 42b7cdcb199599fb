"""The package's layers: the model (reading, writing and ranking reports) imports without the
C extension, and measuring without it fails with an ImportError that names it.

A load manager that ranks other brokers' reports measures nothing, so it must not need
danube_metrics._native. Each check runs in a fresh interpreter, since this one has long
imported the extension.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import run_python

import danube_metrics
import danube_metrics.measure
import danube_metrics.monitor
import danube_metrics.report

GOLDEN = Path(__file__).parent / "golden"

# The model layer: none of these may import the extension, directly or not.
MODEL_MODULES = (
    "danube_metrics",
    "danube_metrics.errors",
    "danube_metrics.readings",
    "danube_metrics.loads",
    "danube_metrics.serde_json",
    "danube_metrics.schemas",
    "danube_metrics.report",
    "danube_metrics.rankings",
    "danube_metrics.cluster",
)

# Run first in a child: makes the extension unimportable, as where it was never built. The
# finder goes first on sys.meta_path so that no other finder (an editable install's) gets to
# find the module.
BLOCK_NATIVE = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoNativeExtension(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "danube_metrics._native" or name.startswith("danube_metrics._native."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoNativeExtension())
    """
)


def run_child(code: str, *args: str, block_native: bool) -> None:
    """Runs `code` in a fresh interpreter (with the extension unimportable if asked) and
    fails with its output unless it exits 0."""
    prelude = BLOCK_NATIVE if block_native else ""
    r = run_python("-c", prelude + textwrap.dedent(code), *args)
    assert r.returncode == 0, f"child failed:\n{r.stdout}{r.stderr}"


def test_reports_are_read_written_and_ranked_without_the_extension() -> None:
    run_child(
        """
        import importlib, sys
        from pathlib import Path

        modules = sys.argv[2].split(",")
        for name in modules:
            importlib.import_module(name)

        import danube_metrics
        from danube_metrics.rankings import rank_brokers, select_broker
        from danube_metrics.report import SEED, UPSTREAM, LoadReport, ResourceType, serde_f64

        golden = Path(sys.argv[1])
        seed_text = (golden / "seed.json").read_text(encoding="utf-8").rstrip("\\n")
        upstream_text = (golden / "upstream.json").read_text(encoding="utf-8").rstrip("\\n")
        seed = LoadReport.from_json(seed_text)
        upstream = LoadReport.from_json(upstream_text)
        assert seed.to_json(schema=SEED) == seed_text
        assert upstream.to_json(schema=UPSTREAM) == upstream_text
        assert upstream.broker_id == 7 and seed.usage(ResourceType.CPU) == 12.5
        assert serde_f64(1e16) == "1e16"

        ranking = rank_brokers({"seed": seed, "upstream": upstream}, now=seed.timestamp)
        assert [broker for broker, _ in ranking] == ["seed", "upstream"], ranking
        assert select_broker(ranking) == "seed"

        # The package's model names are its report's, imported with it.
        assert danube_metrics.LoadReport is LoadReport
        assert danube_metrics.SystemLoad(danube_metrics.ResourceType.Memory, 1.0).usage == 1.0

        for measuring in ("danube_metrics._native", "danube_metrics._binding",
                          "danube_metrics.monitor", "danube_metrics.measure"):
            assert measuring not in sys.modules, f"{measuring} was imported"
        """,
        str(GOLDEN),
        ",".join(MODEL_MODULES),
        block_native=True,
    )


def test_the_cluster_path_reads_without_the_extension() -> None:
    # Its C readers (plain reports, base64) are shortcuts: without them the model's reader and
    # binascii give the same.
    run_child(
        """
        import base64, json, sys, threading
        from danube_metrics import cluster, schemas
        from danube_metrics.report import UPSTREAM, LoadReport, ResourceType, SystemLoad

        report = LoadReport([SystemLoad(ResourceType.CPU, 12.5)], 1, ["/t"], 1700000000,
                            broker_id=3)
        text = report.to_json(schema=UPSTREAM).encode()
        assert LoadReport.from_json(text).to_json(schema=UPSTREAM).encode() == text
        assert schemas._read_plain is schemas._no_plain_reader
        assert cluster._base64_decoder() is cluster._decode_base64

        kv = {"key": base64.b64encode(b"/cluster/load/3").decode(), "create_revision": "5",
              "mod_revision": "9", "version": "2", "value": base64.b64encode(text).decode()}
        line = json.dumps({"result": {"header": {"revision": "9"}, "events": [{"kv": kv}]}},
                          separators=(",", ":")).encode()
        changes = list(cluster.EtcdStore(["127.0.0.1:1"])._changes(
            iter([line + b"\\n"]), cluster._WatchPosition(0), threading.Event()))
        assert changes == [cluster.Change("load", "3", text)], changes
        assert "danube_metrics._native" not in sys.modules
        """,
        block_native=True,
    )


def test_measuring_without_the_extension_is_an_import_error_naming_it() -> None:
    run_child(
        """
        import sys
        import danube_metrics

        def from_report():
            from danube_metrics.report import generate_load_report
            return generate_load_report(0, [])

        def from_package():
            from danube_metrics import NativeResourceMonitor
            return NativeResourceMonitor()

        def monitor_module():
            import danube_metrics.monitor

        attempts = {
            "danube_metrics.create_resource_monitor": lambda: (
                danube_metrics.create_resource_monitor()
            ),
            "danube_metrics.generate_load_report": lambda: (
                danube_metrics.generate_load_report(0, [])
            ),
            "from danube_metrics.report import generate_load_report": from_report,
            "from danube_metrics import NativeResourceMonitor": from_package,
            "import danube_metrics.monitor": monitor_module,
        }
        for what, attempt in attempts.items():
            try:
                attempt()
            except ImportError as exc:
                assert "danube_metrics._native" in str(exc), f"{what}: {exc!r}"
            else:
                raise AssertionError(f"{what} worked without the extension")

        # A failed measuring import leaves the model usable.
        report = danube_metrics.LoadReport([], 0, [], 1700000000)
        assert danube_metrics.LoadReport.from_json(report.to_json()) == report
        """,
        block_native=True,
    )


def test_importing_the_package_does_not_load_the_extension() -> None:
    run_child(
        """
        import sys
        import danube_metrics, danube_metrics.report, danube_metrics.rankings

        assert "danube_metrics._native" not in sys.modules, "import danube_metrics loaded it"
        assert "danube_metrics._binding" not in sys.modules
        # A measuring name loads it when first used.
        monitor_class = danube_metrics.NativeResourceMonitor
        assert monitor_class.__module__ == "danube_metrics.monitor"
        assert "danube_metrics._native" in sys.modules
        """,
        block_native=False,
    )


# The package's measuring names and where each is defined; every other public name is the
# model's, imported with the package.
MEASURING_HOMES = {
    "CgroupResourceMonitor": danube_metrics.monitor,
    "Environment": danube_metrics.monitor,
    "NativeResourceMonitor": danube_metrics.monitor,
    "Readings": danube_metrics.monitor,
    "ResourceMonitor": danube_metrics.monitor,
    "create_resource_monitor": danube_metrics.monitor,
    "generate_load_report": danube_metrics.measure,
}


@pytest.mark.parametrize("name", danube_metrics.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(danube_metrics, name)
    home = MEASURING_HOMES.get(name)
    if home is not None:
        assert value is getattr(home, name)
    else:
        assert name in vars(danube_metrics), f"{name} is not imported with the package"
    assert name in dir(danube_metrics)


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from danube_metrics import *", namespace)
    assert set(danube_metrics.__all__) <= set(namespace)


def test_an_unknown_package_attribute_is_an_attribute_error() -> None:
    # AttributeError (not ImportError) is what lets `from danube_metrics import _binding`
    # fall back to importing the submodule.
    with pytest.raises(AttributeError, match="no_such_name"):
        danube_metrics.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        danube_metrics.report.no_such_name  # noqa: B018
    from danube_metrics import _binding

    assert _binding.__name__ == "danube_metrics._binding"


# Every name imported from danube_metrics.report by the tests, README, benchmarks and the
# package before the split, and the names it defined: all still importable from there.
REPORT_NAMES = (
    "LoadReport",
    "ResourceType",
    "SystemLoad",
    "TopicLoad",
    "SEED",
    "UPSTREAM",
    "SCHEMAS",
    "UPSTREAM_VERSION",
    "detect_schema",
    "serde_f64",
    "generate_load_report",
)


@pytest.mark.parametrize("name", REPORT_NAMES)
def test_report_names_still_import_from_report(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from danube_metrics.report import {name}", namespace)
    assert namespace[name] is getattr(danube_metrics.report, name)
    if name == "generate_load_report":
        assert namespace[name] is danube_metrics.measure.generate_load_report
