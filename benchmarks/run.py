"""danube-metrics benchmarks: the cost of a sample against psutil and the kernel's floor.

    python benchmarks/run.py [--quick] [--scale-only | --reading-only | --cluster-only]
    python benchmarks/run.py --cluster-only --against REV   # the view of REV in the same run

Everything is measured in this one run on this machine and printed as ratios: the machine is
shared and noisy, so each figure is the best of several interleaved rounds, every case timed the
same way (one run of n calls per round). The floor is a C program (built here from
benchmarks/floor.c) that preads the same files the same way and does nothing else; the Python
floor is the same reads compiled into a cffi extension and called once per sample from Python,
the least any Python-called reader of these files can cost. Needs a C compiler, the Python
headers and psutil.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import json
import mmap
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Optional

import psutil
from cffi import FFI

from danube_metrics import (
    CgroupResourceMonitor,
    DanubeMetricsError,
    LoadReport,
    NativeResourceMonitor,
    NotReadyError,
    Pressure,
    ResourceType,
    SystemLoad,
    TopicLoad,
    _binding,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def load_build_description() -> ModuleType:
    """csrc/build.py, the one description of the C build (not part of the installed package)."""
    spec = importlib.util.spec_from_file_location("danube_metrics_cbuild", REPO / "csrc/build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build(tmp: Path) -> dict[str, Path]:
    """Builds the floor program, the C harness and the allocation counter."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("benchmarks: a C compiler (cc) is needed to build the floor program")
    out = {"floor": tmp / "floor", "harness": tmp / "sample_main", "counter": tmp / "count.so"}
    flags = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"]
    subprocess.run([cc, *flags, str(HERE / "floor.c"), "-o", str(out["floor"])], check=True)
    cbuild = load_build_description()
    sources = [str(p) for p in cbuild.sources("linux")]
    subprocess.run(
        [cc, *cbuild.cflags("linux"), str(REPO / "tests/c/sample_main.c"), *sources,
         *cbuild.libs("linux"), "-o", str(out["harness"])],
        check=True,
    )  # fmt: skip
    subprocess.run(
        [cc, "-O2", "-shared", "-fPIC", str(HERE / "alloc_count.c"), "-o", str(out["counter"]),
         "-ldl"],
        check=True,
    )  # fmt: skip
    return out


def build_python_floor(tmp: Path) -> Callable[[list[str]], Callable[[], object]]:
    """Compiles floor.c's read loop into a cffi extension; returns a maker of a no-argument
    callable (a functools.partial, no Python frame) that reads the given files once."""
    ffi = FFI()
    ffi.cdef("int floor_read_all(const int *fds, const int *first_only, int n);")
    ffi.set_source(
        "_dm_python_floor",
        '#define FLOOR_NO_MAIN\n#include "floor.c"',
        include_dirs=[str(HERE)],
        extra_compile_args=["-std=c11", "-O2"],
    )
    ffi.compile(tmpdir=str(tmp))
    sys.path.insert(0, str(tmp))
    module = importlib.import_module("_dm_python_floor")
    sys.path.remove(str(tmp))

    def reader(files: list[str]) -> Callable[[], object]:
        paths = [f.removesuffix(":first") for f in files]
        fds = module.ffi.new("int[]", [os.open(p, os.O_RDONLY | os.O_CLOEXEC) for p in paths])
        first = module.ffi.new("int[]", [int(f.endswith(":first")) for f in files])
        if module.lib.floor_read_all(fds, first, len(files)) != 0:
            sys.exit(f"benchmarks: cannot read {paths}")
        return functools.partial(module.lib.floor_read_all, fds, first, len(files))

    return reader


def raw_reader(paths: list[str]) -> Callable[[], object]:
    """What a monitor written in Python does: open, read and close each file."""

    def raw() -> None:
        for path in paths:
            with open(path, "rb") as f:
                f.read()

    return raw


def per_call_us(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def floor_us(floor: Path, files: list[str], n: int) -> float:
    if len(files) > 64:  # thousands of per-device files: a list file, not arguments
        listing = floor.parent / "floor-files.txt"
        listing.write_text("\n".join(files) + "\n")
        files = [f"@{listing}"]
    out = subprocess.run([str(floor), str(n), *files], capture_output=True, text=True, check=True)
    return int(out.stdout) / 1000


def scale_rows(built: dict[str, Path], tmp: Path, rounds: int, n: int) -> dict[str, object]:
    """Issue 11, fault 5: a generated host tree of 4,000 block devices (1,100 whole disks),
    256 CPUs and 256 interfaces (200 physical), with the per-device sysfs files (the source a
    real host's monitor uses) and without them (/proc/diskstats and /proc/net/dev only). Open
    is timed whole (the disk and interface choice, every file opened); a sample against the
    floor's preads of the same files."""
    sys.path.insert(0, str(REPO / "tests"))
    import scale_tree

    sys.path.remove(str(REPO / "tests"))
    out: dict[str, object] = {}
    for sysfs in (True, False):
        label = "sysfs" if sysfs else "proc only"
        tree = scale_tree.make(tmp / f"scale-{label.replace(' ', '-')}", sysfs=sysfs)
        opens = []
        for _ in range(max(5, rounds // 3)):
            t = time.perf_counter()
            mon = NativeResourceMonitor(str(tree.root), min_interval=0)
            opens.append((time.perf_counter() - t) * 1e3)
            mon.close()
        mon = NativeResourceMonitor(str(tree.root), min_interval=0)
        files = files_of(mon, _binding.ALL)
        k = max(20, n // 50)
        best = interleaved(
            {
                # read_all: the tree stands still, so CPU is never ready (every file still read)
                "ours": lambda mon=mon, k=k: per_call_us(mon.read_all, k),
                "floor": lambda files=files, k=k: floor_us(built["floor"], files, k),
            },
            rounds,
        )
        mon.close()
        ratio = best["ours"] / best["floor"]
        print(
            f"scale ({label}: {len(files)} files): open {min(opens):.2f} ms (best of "
            f"{len(opens)}), sample {best['ours']:.1f} us, floor {best['floor']:.1f} us: "
            f"{ratio:.2f}x"
        )
        out[f"scale_{label.replace(' ', '_')}"] = {
            "open_ms": min(opens), "sample_us": best["ours"], "floor_us": best["floor"],
            "files": len(files),
        }  # fmt: skip
    return out


def report_text(topics: int, schema: str) -> str:
    """A report of `topics` topics in `schema`, as a broker writes it: in the upstream schema
    one object of eight fields per topic, in the seed's the names alone (one in a thousand
    not ASCII)."""
    names = [
        f"/default/caf\u00e9-{i}" if i % 1000 == 0 else f"/default/topic-{i}" for i in range(topics)
    ]
    loads = [SystemLoad(ResourceType.CPU, 12.5), SystemLoad(ResourceType.Memory, 40.0)]
    if schema == "seed":
        return LoadReport(loads, topics, names, 1700000000).to_json()
    per_topic = [
        TopicLoad(name, i % 5000, i % 5000 * 1250, i % 5000 * 0.00125, i % 4, i % 7, i % 3, i)
        for i, name in enumerate(names)
    ]
    report = LoadReport(loads, topics, names, 1700000000, broker_id=7, topics=per_topic)
    return report.to_json(schema="upstream")


def report_reading_rows(quick: bool) -> dict[str, object]:
    """Issue 12: LoadReport.from_json against json.loads of the same text (the least a reader
    of that text can cost), both schemas, 10,000 topics and a million (100,000 with --quick).
    Best of interleaved rounds: many for 10,000 topics, three for a million (a round of the
    upstream million takes seconds)."""
    out: dict[str, object] = {}
    large = 100_000 if quick else 1_000_000
    for topics, rounds, calls in ((10_000, 5 if quick else 15, 5), (large, 3, 1)):
        for schema in ("seed", "upstream"):
            text = report_text(topics, schema)
            best = interleaved(
                {
                    "loads": lambda text=text, calls=calls: per_call_us(
                        lambda: json.loads(text), calls
                    ),
                    "from_json": lambda text=text, calls=calls: per_call_us(
                        lambda: LoadReport.from_json(text), calls
                    ),
                },
                rounds,
            )
            ratio = best["from_json"] / best["loads"]
            print(
                f"LoadReport.from_json, {topics:,} topics, {schema} ({len(text) / 1e6:.1f} MB): "
                f"{best['from_json'] / 1e3:.1f} ms, json.loads {best['loads'] / 1e3:.1f} ms: "
                f"{ratio:.2f}x",
                flush=True,
            )
            out[f"from_json_{schema}_{topics}"] = {
                "from_json_ms": best["from_json"] / 1e3, "json_loads_ms": best["loads"] / 1e3,
                "ratio": ratio,
            }  # fmt: skip
            del text
    return out


def pressure_rows(
    built: dict[str, Path],
    python_floor: Callable[[list[str]], Callable[[], object]],
    rounds: int,
    n: int,
) -> dict[str, object]:
    """Issue 14: get_pressure() (PSI and throttling, a call of its own) against the floor's
    preads of the same files; target 1.3x. The cgroup row only where it reads something."""
    out: dict[str, object] = {}
    monitors: list[tuple[str, NativeResourceMonitor | CgroupResourceMonitor]] = [
        ("host", NativeResourceMonitor(min_interval=0))
    ]
    with contextlib.suppress(DanubeMetricsError):
        monitors.append(("cgroup", CgroupResourceMonitor(min_interval=0)))
    for label, mon in monitors:
        files = mon._handle.sample_files(_binding.PRESSURE)
        try:
            time.sleep(0.02)  # past the 10 ms floor: a figure, not NotReadyError
            mon.get_pressure()
        except DanubeMetricsError as exc:
            print(f"({label} get_pressure: {exc})")
            mon.close()
            continue
        reads = python_floor(files)
        bound = pressure_bound(reads, mon.get_pressure())
        best = interleaved(
            {
                "ours": lambda mon=mon: per_call_us(mon.get_pressure, n),
                "floor": lambda files=files: floor_us(built["floor"], files, n),
                "py": lambda reads=reads: per_call_us(reads, n),
                "bound": lambda bound=bound: per_call_us(bound, n),
            },
            rounds,
        )
        mon.close()
        ratio = best["ours"] / best["floor"]
        print(
            f"{label} get_pressure ({len(files)} files): {best['ours']:.2f} us, floor "
            f"{best['floor']:.2f} us, py floor {best['py']:.2f} us: {ratio:.2f}x (target 1.3x)"
        )
        print(
            f"{label} get_pressure bound (py floor + a Pressure built, nothing parsed): "
            f"{best['bound']:.2f} us, {best['bound'] / best['floor']:.2f}x the floor; ours "
            f"{best['ours'] / best['bound']:.2f}x the bound"
        )
        out[f"pressure_{label}"] = {
            "ours_us": best["ours"], "floor_us": best["floor"], "python_floor_us": best["py"],
            "bound_us": best["bound"], "files": len(files),
        }  # fmt: skip
    return out


def pressure_bound(reads: Callable[[], object], example: Pressure) -> Callable[[], object]:
    """The least any Python-called reader of the PSI files that returns a Pressure can cost:
    the py floor's reads (no parsing, no rates), then a Pressure of `example`'s shape built
    from a struct of doubles the way the binding builds it, in one Python frame as
    get_pressure has."""
    missing = sum(1 << i for i, figure in enumerate(example) if figure is None)
    unpack, before, after = _binding._PRESSURE_SHAPES[missing]
    view = memoryview(bytearray(8 * len(example)))
    new = tuple.__new__

    def read_and_build() -> Pressure:
        reads()
        return new(Pressure, before + unpack(view) + after)

    return read_and_build


def interleaved(cases: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Best of `rounds` for each case, the cases taking turns so noise hits all alike."""
    best = {k: float("inf") for k in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            best[name] = min(best[name], fn())
    return best


def files_of(mon: NativeResourceMonitor | CgroupResourceMonitor, metrics: int) -> list[str]:
    """The monitor's own files, as the floor reads them."""
    paths = mon._handle.sample_files(metrics)
    return [p + ":first" if p.endswith("/proc/stat") else p for p in paths]


def ready(mon: NativeResourceMonitor | CgroupResourceMonitor) -> None:
    """Waits for a first CPU value (a clock tick since the baseline)."""
    for _ in range(100):
        with contextlib.suppress(NotReadyError):
            mon.sample()
            return
        time.sleep(0.01)


def allocations(built: dict[str, Path], samples: int, mode: str) -> int:
    env = {**os.environ, "LD_PRELOAD": str(built["counter"]), "DANUBE_METRICS_MODE": mode}
    out = subprocess.run(
        [str(built["harness"]), str(samples), "0"], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return int(re.findall(r"^allocations (\d+)$", out.stderr, re.M)[-1])


def cgroup_disk_works(cg: CgroupResourceMonitor, tmp: Path) -> bool:
    """Whether the cgroup monitor gives a disk figure here. A v1 blkio file is watched until it
    is seen to count, or the disks move 1 MiB without it: 2 MiB written straight to the disk
    settles that now, rather than in the middle of a timed loop."""
    buf = mmap.mmap(-1, 1 << 20)
    buf.write(b"\x5a" * (1 << 20))
    try:
        fd = os.open(tmp / "settle", os.O_WRONLY | os.O_CREAT | getattr(os, "O_DIRECT", 0), 0o600)
    except OSError:
        fd = os.open(tmp / "settle", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for _ in range(2):
            os.write(fd, buf)
        os.fsync(fd)
    finally:
        os.close(fd)
        buf.close()
    time.sleep(0.05)
    try:
        cg.get_disk_io()
    except DanubeMetricsError as exc:
        print(f"(cgroup disk reading: {exc})")
        return False
    return True


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--scale-only", action="store_true", help="only the scale rows (fault 5)")
    ap.add_argument(
        "--reading-only", action="store_true", help="only the LoadReport reading rows (issue 12)"
    )
    ap.add_argument("--pressure-only", action="store_true", help="only the pressure rows")
    ap.add_argument(
        "--cluster-only", action="store_true", help="only the etcd cluster rows (issue 15)"
    )
    ap.add_argument(
        "--against",
        action="append",
        default=[],
        help="with --cluster-only: also the view of this revision (git rev), in the same run",
    )
    args = ap.parse_args()
    if args.cluster_only:  # benchmarks/cluster.py: a three-member etcd cluster of its own
        sys.path.insert(0, str(HERE))
        from cluster import cluster_rows

        figures = cluster_rows(args.quick, args.against)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=1))
        return
    if args.reading_only:  # pure Python: nothing to build
        reading = report_reading_rows(args.quick)
        if args.json:
            Path(args.json).write_text(json.dumps(reading, indent=1))
        return
    # Many short rounds: on a shared machine each case then gets as many chances at a quiet
    # moment, and the best of each is steadier than from a few long rounds.
    n = 1000 if args.quick else 5000
    rounds = 5 if args.quick else 31
    results: dict[str, object] = {}

    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp))
        if args.scale_only:
            results.update(scale_rows(built, Path(tmp), rounds, n))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
            return
        python_floor = build_python_floor(Path(tmp))
        if args.pressure_only:
            results.update(pressure_rows(built, python_floor, rounds, n))
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
            return
        host = NativeResourceMonitor(min_interval=0)  # never cached: every call reads
        try:
            cg: Optional[CgroupResourceMonitor] = CgroupResourceMonitor(min_interval=0)
        except DanubeMetricsError as exc:
            print(f"(no cgroup monitor here: {exc})")
            cg = None
        ready(host)
        if cg is not None:
            ready(cg)
        psutil.cpu_percent(None)

        def psutil_all() -> None:
            psutil.cpu_percent(None)
            psutil.virtual_memory()
            psutil.disk_io_counters()
            psutil.net_io_counters()

        rows: list[tuple[str, float, float, float, float]] = []
        C, M, D, N, A = _binding.CPU, _binding.MEMORY, _binding.DISK, _binding.NETWORK, _binding.ALL
        host_ops = [
            ("host sample() vs 4 psutil calls", host.sample, psutil_all, A),
            ("host get_cpu_usage vs cpu_percent", host.get_cpu_usage,
             lambda: psutil.cpu_percent(None), C),
            ("host get_memory_usage vs virtual_memory", host.get_memory_usage,
             psutil.virtual_memory, M),
            ("host get_disk_io vs disk_io_counters", host.get_disk_io,
             psutil.disk_io_counters, D),
            ("host get_network_io vs net_io_counters", host.get_network_io,
             psutil.net_io_counters, N),
        ]  # fmt: skip
        # Each operation: ours, the other (psutil, or the cgroup files read raw), and the files
        # both floors read.
        ops: list[tuple[str, Callable[[], object], Callable[[], object], list[str]]] = [
            (name, ours, theirs, files_of(host, bits)) for name, ours, theirs, bits in host_ops
        ]
        if cg is not None:
            cg_ops = [
                ("cgroup sample() vs its files read raw", cg.sample, A),
                ("cgroup get_cpu_usage vs raw", cg.get_cpu_usage, C),
                ("cgroup get_memory_usage vs raw", cg.get_memory_usage, M),
                ("cgroup get_network_io vs raw", cg.get_network_io, N),
            ]
            if cgroup_disk_works(cg, Path(tmp)):
                cg_ops.insert(3, ("cgroup get_disk_io vs raw", cg.get_disk_io, D))
            else:
                # v1 blkio that this kernel does not count: the sample of the other three.
                sample_three = functools.partial(
                    _binding._reader(C | M | N, 0, 6, tuple), cg._handle
                )
                cg_ops[0] = ("cgroup sample() (no disk here) vs raw", sample_three, C | M | N)
            for name, ours, bits in cg_ops:
                ops.append(
                    (name, ours, raw_reader(cg._handle.sample_files(bits)), files_of(cg, bits))
                )
        for name, ours, other, files in ops:
            reads = python_floor(files)
            best = interleaved(
                {
                    "ours": lambda ours=ours: per_call_us(ours, n),
                    "other": lambda other=other: per_call_us(other, n // 4),
                    "floor": lambda files=files: floor_us(built["floor"], files, n),
                    "py": lambda reads=reads: per_call_us(reads, n),
                },
                rounds,
            )
            rows.append((name, best["ours"], best["other"], best["floor"], best["py"]))

        print(
            f"# {platform.machine()}, {psutil.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {platform.python_version()}, psutil {psutil.__version__}; best of {rounds} "
            f"interleaved rounds of {n} calls"
        )
        print(
            f"{'operation':<42} {'ours us':>8} {'other us':>9} {'floor us':>9} {'py floor':>9} "
            f"{'ours/floor':>11} {'other/ours':>11} {'other/py floor':>15}"
        )
        for name, ours_us, other_us, floor, py in rows:
            print(
                f"{name:<42} {ours_us:8.2f} {other_us:9.2f} {floor:9.2f} {py:9.2f} "
                f"{ours_us / floor:10.2f}x {other_us / ours_us:10.1f}x {other_us / py:14.1f}x"
            )
        print(
            "other: psutil's matching calls (host rows); for the cgroup rows, the same files\n"
            "opened, read and closed from Python (no parsing). floor: the same reads in a C\n"
            "loop. py floor: the same reads in one C call from Python (nothing parsed, nothing\n"
            "returned): other/py floor is the most any Python-called reader of them can reach."
        )
        print()
        results.update(pressure_rows(built, python_floor, rounds, n))
        results["rows"] = [
            {"operation": r[0], "ours_us": r[1], "other_us": r[2], "floor_us": r[3],
             "python_floor_us": r[4]}
            for r in rows
        ]  # fmt: skip

        # The hot loop as a broker runs it: the default minimum interval, so that most calls
        # are answered with the last values and read nothing.
        hot = NativeResourceMonitor()
        ready(hot)
        time.sleep(0.15)
        hot.sample()  # a value measured over a full interval, then calls within 0.1 s of it
        hot_us = min(per_call_us(hot.sample, n) for _ in range(rounds))
        hot.close()
        print(
            f"\nsample() in a hot loop at the default min_interval (0.1 s): {hot_us:.2f} us a "
            f"call (last values, nothing read)"
        )
        results["hot_loop_sample_us"] = hot_us

        print()
        results.update(scale_rows(built, Path(tmp), rounds, n))

        # Allocations per sample in the C core, from the LD_PRELOAD counter.
        print()
        for mode in ("host", "cgroup") if cg is not None else ("host",):
            few, many = allocations(built, 10, mode), allocations(built, 10000, mode)
            per = (many - few) / 9990
            print(
                f"allocations per sample ({mode}): {per:g}  ({few} for 10 samples, "
                f"{many} for 10,000; all at open)"
            )
            results[f"allocations_per_sample_{mode}"] = per

        # CPU overhead of sampling, from getrusage over many samples.
        count = 20000 if args.quick else 200000
        t = cpu_seconds()
        for _ in range(count):
            host.sample()
        cpu_per_sample = (cpu_seconds() - t) / count
        for label, hz in (("once a second", 1), ("every 10 ms", 100)):
            print(f"CPU overhead sampling {label}: {cpu_per_sample * hz * 100:.4f} % of one core")
        results["cpu_seconds_per_sample"] = cpu_per_sample

        # LoadReport with 10,000 topics: build + to_json against json.dumps of a plain dict.
        topics = [f"/default/topic-{i}" for i in range(10_000)]
        loads = [SystemLoad(ResourceType.CPU, 12.5), SystemLoad(ResourceType.Memory, 40.0)]
        plain = {
            "resources_usage": [{"resource": "CPU", "usage": 12.5},
                                {"resource": "Memory", "usage": 40.0}],
            "topics_len": len(topics), "topic_list": topics, "timestamp": 1700000000,
        }  # fmt: skip
        best = interleaved(
            {
                "report": lambda: per_call_us(
                    lambda: LoadReport(loads, len(topics), topics, 1700000000).to_json(), 50
                ),
                "dumps": lambda: per_call_us(lambda: json.dumps(plain), 50),
            },
            rounds,
        )
        print(
            f"LoadReport, 10,000 topics: build + to_json {best['report']:.0f} us, json.dumps of "
            f"the plain dict {best['dumps']:.0f} us: {best['report'] / best['dumps']:.2f}x"
        )
        results["report_ratio"] = best["report"] / best["dumps"]
        results.update(report_reading_rows(args.quick))

        # Memory growth over a million samples (RSS after a warm-up, then after).
        million = 100_000 if args.quick else 1_000_000
        before = rss_bytes()
        for _ in range(million):
            host.sample()
        growth = rss_bytes() - before
        print(f"RSS growth over {million:,} samples: {growth / 1024:.0f} KiB")
        results["rss_growth_bytes"] = growth
        host.close()
        if cg is not None:
            cg.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
