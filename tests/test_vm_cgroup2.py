"""The cgroup monitor on a real cgroup v2 kernel, in a QEMU guest (issue 13; tests/vm.py).

This machine is a cgroup v1 host: tests/test_container.py proves v1 alone, and
tests/test_cgroup_fixtures.py proves the v2 parsers on fixture trees. Here Debian's stock
kernel boots with only the unified hierarchy, and tests/vm_cgroup2_cases.py runs every case in
one boot (each boot costs 10 to 20 s under software emulation): a child of this interpreter in
a cgroup with limits, loaded as the case says, reporting the monitor's figure and the ground
truth it read from the kernel's own files around the same calls. One test per case asserts on
its line; a failing case prints its figures and the truth.

Needs root and QEMU (installed by the helper if missing); skipped otherwise, except in CI
(CI=true), where they must run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional, Union

import pytest
from vm import VMBootError, VMResult, VMUnavailable, in_ci, run_in_vm, vm_unavailable

MiB = 1 << 20
CASES_SCRIPT = Path(__file__).with_name("vm_cgroup2_cases.py")
CPU_POINTS = 5.0  # the monitor's CPU % against the kernel's usage over the same interval
MEMORY_POINTS = 2.0  # the memory % against memory.current - inactive_file read beside it


class Boot:
    """The one boot of this module: the cases by name, or why there are none."""

    def __init__(self, result: Union[VMResult, str]) -> None:
        self.result = result if isinstance(result, VMResult) else None
        self.reason = result if isinstance(result, str) else None
        self.cases: dict[str, dict[str, Any]] = {}
        if self.result is not None:
            for line in self.result.stdout.splitlines():
                if line.startswith("CASE "):
                    case = json.loads(line[len("CASE ") :])
                    self.cases[case["case"]] = case


def _boot(args: list[str], **kwargs: Any) -> Union[VMResult, str]:
    """The run's result, or why it could not run (a reason to skip, or in CI to fail)."""
    reason = vm_unavailable()
    if reason is not None:
        return reason
    try:
        return run_in_vm(args, **kwargs)
    except (VMUnavailable, VMBootError) as exc:
        return str(exc)


def _require(boot: Boot) -> VMResult:
    """Skips when the VM cannot run here; in CI fails instead (from each test's body, so that
    it reports as a failure, not a setup error)."""
    if boot.result is not None:
        return boot.result
    if in_ci():
        pytest.fail(f"the VM must run in CI (.ci/run installs QEMU): {boot.reason}", pytrace=False)
    pytest.skip(f"no VM here: {boot.reason}")


@pytest.fixture(scope="module")
def cases() -> Boot:
    boot = Boot(_boot([sys.executable, str(CASES_SCRIPT)], cwd=str(CASES_SCRIPT.parent)))
    if boot.result is not None:
        r = boot.result
        print(
            f"\nVM: kernel {r.kernel}, {r.accelerator}, boot {r.boot_seconds:.1f} s, "
            f"total {r.total_seconds:.1f} s, {r.attempts} attempt(s), exit {r.returncode}"
        )
        if r.returncode != 0 or r.stderr:
            print(f"stderr:\n{r.stderr}")
        for case in boot.cases.values():
            print(_summary(case))
    return boot


def _summary(case: dict[str, Any]) -> str:
    """One line: the case's figures beside the kernel's (for the log and the issue)."""
    c = case.get("child")
    if c is None:
        return f"{case['case']}: error"
    parts = []
    for key in ("cpu", "cpu_after_rewrite"):
        if key in c:
            x = c[key]
            cores = f", {x['usage_cores']:.3f} cores" if "usage_cores" in x else ""
            parts.append(f"{key} {x['figure']:.1f} % (kernel {x['truth_percent']:.1f} %{cores})")
            if "pressure" in x:
                f, t = x["pressure"]["figures"], x["pressure"]["truth"]
                parts.append(
                    f"throttled {f['cpu_throttled_percent']:.1f} % of periods (kernel "
                    f"{t['cpu_throttled_percent']:.1f} %), "
                    f"{f['cpu_throttled_seconds_per_second']:.3f} s/s (kernel "
                    f"{t['cpu_throttled_seconds_per_second']:.3f}), cpu some "
                    f"{f['cpu_some_percent']:.1f} % (kernel {t['cpu_some_percent']:.1f} %)"
                )
    if "memory" in c:
        m = c["memory"]
        parts.append(f"memory {m['figure']:.2f} % (kernel {m['truth']['percent']:.2f} %)")
        if "figure_after_page_cache" in m:
            a = m["truth_after_page_cache"]
            parts.append(
                f"after the page cache {m['figure_after_page_cache']:.2f} % (kernel "
                f"{a['percent']:.2f} %, raw usage {a['raw_usage_percent']:.1f} %)"
            )
    if "disk" in c:
        d = c["disk"]
        parts.append(
            f"disk {d['figure_bytes_low']:.0f}..{d['figure_bytes_high']:.0f} B (kernel "
            f"{d['truth_written_bytes']} B, written {d['written_bytes']} B)"
        )
    for key in ("environment", "environment_after_rewrite"):
        if key in c:
            e = c[key]
            parts.append(
                f"{key} {e['kind']}, v{e['cgroup_version']}, {e['cgroup_path']}, cpu limit "
                f"{e['cpu_limit_cores']}, memory limit {e['memory_limit_bytes']}"
            )
    for key in ("open_cgroup", "open_None"):
        if key in c:
            parts.append(f"{key}: {c[key].get('error') or c[key].get('type')}")
    return f"{case['case']} ({case['seconds']} s): " + "; ".join(parts)


def _case(boot: Boot, name: str) -> dict[str, Any]:
    """The case's child output, printed (shown when the test fails)."""
    result = _require(boot)
    case = boot.cases.get(name)
    if case is None:
        pytest.fail(
            f"no line for case {name} (exit {result.returncode}):\n{result.stdout[-2000:]}\n"
            f"{result.stderr[-3000:]}\nconsole:\n{result.console[-2000:]}"
        )
    print(f"\n{name} ({case['seconds']} s in the guest, kernel {case['kernel']}):")
    print(json.dumps(case, indent=1))
    if "error" in case:
        pytest.fail(f"case {name} raised in the guest:\n{case['error']}", pytrace=False)
    child: dict[str, Any] = case["child"]
    child["setup"] = case["setup"]
    return child


def _check_cpu(cpu: dict[str, Any], limit_cores: float, label: str) -> None:
    """The kernel held the load at the limit, and the monitor read it as ~100 % of it."""
    msg = f"{label}: {json.dumps(cpu)}"
    # The kernel's own figure (else "100 %" would prove nothing): a period's quota either way.
    assert cpu["usage_cores"] == pytest.approx(limit_cores, rel=0.12), f"not at its limit: {msg}"
    assert cpu["figure"] == pytest.approx(min(cpu["truth_percent"], 100.0), abs=CPU_POINTS), msg
    assert cpu["figure"] >= 90.0, msg


def _check_memory(mem: dict[str, Any], limit_bytes: int, label: str) -> None:
    truth = mem["truth"]
    msg = f"{label}: {json.dumps(mem)}"
    assert truth["limit"] == limit_bytes, msg
    assert mem["figure"] == pytest.approx(truth["percent"], abs=MEMORY_POINTS), msg


def _environment(child: dict[str, Any], **expected: Any) -> None:
    env = child["environment"]
    for key, value in expected.items():
        assert env[key] == (pytest.approx(value) if isinstance(value, float) else value), (
            f"environment.{key} is {env[key]!r}, not {value!r}: {json.dumps(env)}"
        )


def test_cpu_max_half_a_core_reads_its_limit_full(cases: Boot) -> None:
    c = _case(cases, "cpu_quota")
    assert c["setup"]["files"]["cpu.max"] == "50000 100000"
    assert c["type"] == "CgroupResourceMonitor"
    _environment(c, cgroup_version=2, cgroup_path="/danube/cpu-quota", cpu_limit_cores=0.5)
    _check_cpu(c["cpu"], 0.5, "cpu.max 0.5")


def test_pressure_and_throttling_at_the_quota(cases: Boot) -> None:
    """PSI and CFS throttling of a cgroup, which this v1 host cannot show: the monitor's
    figures over its interval against cpu.stat and cpu.pressure read beside its calls."""
    p = _case(cases, "cpu_quota")["cpu"]["pressure"]
    figures, truth = p["figures"], p["truth"]
    msg = json.dumps(p)
    # Two busy loops against half a core: the kernel throttles nearly every period.
    assert truth["periods"] >= 20 and truth["cpu_throttled_percent"] >= 80.0, msg
    for key in ("cpu_throttled_percent", "cpu_some_percent"):
        assert figures[key] == pytest.approx(truth[key], abs=CPU_POINTS), f"{key}: {msg}"
    # Summed over the CPUs (up to 2 s/s here), and the kernel adds a CPU's throttled time only
    # as it unthrottles, so either end of the interval may miss up to a period per CPU.
    assert figures["cpu_throttled_seconds_per_second"] == pytest.approx(
        truth["cpu_throttled_seconds_per_second"], rel=0.1
    ), msg
    assert truth["cpu_throttled_seconds_per_second"] > 0.5, msg
    # psi=1 on a v2 kernel: every stall figure is there (a real 0 at most, never None).
    assert all(figures[k] is not None for k in figures), msg


def test_a_parent_tighter_than_the_leaf_wins(cases: Boot) -> None:
    c = _case(cases, "cpu_parent_tighter")
    assert c["setup"]["parent_files"]["cpu.max"] == "30000 100000"
    assert c["setup"]["files"]["cpu.max"] == "80000 100000"
    _environment(c, cpu_limit_cores=0.3, cpu_capacity_cores=0.3)
    _check_cpu(c["cpu"], 0.3, "parent 0.3, leaf 0.8")


def test_a_cpuset_of_one_cpu_limits_without_a_quota(cases: Boot) -> None:
    c = _case(cases, "cpuset_one_cpu")
    assert c["setup"]["files"]["cpu.max"].startswith("max")
    assert c["setup"]["files"]["cpuset.cpus.effective"] == "1"
    _environment(c, cpu_limit_cores=1.0)
    _check_cpu(c["cpu"], 1.0, "cpuset 1 of 2 CPUs")


def test_memory_is_the_working_set_and_page_cache_does_not_inflate_it(cases: Boot) -> None:
    c = _case(cases, "memory_working_set")
    mem = c["memory"]
    _environment(c, memory_limit_bytes=256 * MiB)
    _check_memory(mem, 256 * MiB, "128 MiB touched in 256 MiB")
    # 128 MiB touched plus the interpreter and the package.
    assert 45.0 <= mem["figure"] <= 65.0, json.dumps(mem)
    after = mem["truth_after_page_cache"]
    cache = c["setup"]["page_cache_bytes"]
    # The file's pages were charged to the cgroup (memory.current grew by the file)...
    assert after["file"] - mem["truth"]["file"] >= 0.9 * cache, json.dumps(mem)
    assert after["raw_usage_percent"] - mem["truth"]["raw_usage_percent"] >= 20.0
    # ...yet the working set, and the figure, stayed where they were.
    assert mem["figure_after_page_cache"] == pytest.approx(after["percent"], abs=MEMORY_POINTS)
    assert mem["figure_after_page_cache"] - mem["figure"] < 3.0, json.dumps(mem)


def test_the_tightest_memory_max_on_the_path_wins(cases: Boot) -> None:
    c = _case(cases, "memory_tightest")
    assert c["setup"]["parent_files"]["memory.max"] == str(192 * MiB)
    assert c["setup"]["files"]["memory.max"] == str(512 * MiB)
    _environment(c, memory_limit_bytes=192 * MiB, memory_capacity_bytes=192 * MiB)
    _check_memory(c["memory"], 192 * MiB, "parent 192 MiB, leaf 512 MiB")
    assert 30.0 <= c["memory"]["figure"] <= 50.0  # 64 MiB touched and the interpreter


def _check_disk(disk: dict[str, Any], label: str) -> None:
    msg = f"{label}: {json.dumps(disk)}"
    written = disk["written_bytes"]
    # The kernel counted the writes (io.stat, diskstats), within a few percent...
    assert disk["truth_written_bytes"] == pytest.approx(written, rel=0.03), msg
    # ...and the monitor's rate over its interval gives the same bytes.
    assert disk["figure_bytes_low"] <= disk["truth_written_bytes"] * 1.03, msg
    assert disk["figure_bytes_high"] >= disk["truth_written_bytes"] * 0.97, msg
    assert disk["figure_bytes_high"] - disk["figure_bytes_low"] <= 0.05 * written, msg


def test_io_stat_counts_direct_writes_of_a_known_size(cases: Boot) -> None:
    c = _case(cases, "disk_io_stat")
    _environment(c, cgroup_version=2, cgroup_path="/danube/disk")
    _check_disk(c["disk"], "32 MiB O_DIRECT in a cgroup")


def _check_container(c: dict[str, Any]) -> None:
    assert c["type"] == "CgroupResourceMonitor", c["selection_reason"]
    _environment(c, cgroup_version=2, cpu_limit_cores=0.5, memory_limit_bytes=256 * MiB)
    _check_cpu(c["cpu"], 0.5, "0.5 cores")
    _check_memory(c["memory"], 256 * MiB, "128 MiB touched in 256 MiB")
    assert 45.0 <= c["memory"]["figure"] <= 65.0


def test_the_pod_case_with_a_cgroup_namespace(cases: Boot) -> None:
    c = _case(cases, "pod_namespace")
    # The kernel's view first: the namespace's root is the container's cgroup.
    assert c["proc_self_cgroup"] == "0::/\n"
    assert c["cgroup_dir"] == "/sys/fs/cgroup"
    _environment(c, kind="kubernetes", cgroup_path="/")
    assert c["selection_reason"].startswith("cgroup monitor (kubernetes)"), c["selection_reason"]
    assert "a cgroup namespace of its own" in c["selection_reason"]
    _check_container(c)


def test_a_docker_like_path_without_a_namespace(cases: Boot) -> None:
    c = _case(cases, "docker_path")
    path = c["setup"]["path"]
    assert c["proc_self_cgroup"] == f"0::{path}\n"
    _environment(c, kind="docker", cgroup_path=path)
    assert c["selection_reason"].startswith("cgroup monitor (docker)"), c["selection_reason"]
    _check_container(c)


def test_a_cgroup_without_limits_measures_against_the_machine(cases: Boot) -> None:
    c = _case(cases, "no_limits")
    assert c["setup"]["online"] == "0-1"
    _environment(
        c,
        cgroup_path="/danube/unlimited",
        cpu_limit_cores=None,
        memory_limit_bytes=None,
        cpu_capacity_cores=2.0,
        memory_capacity_bytes=c["setup"]["mem_total"],
    )
    cpu = c["cpu"]  # one busy loop of two CPUs
    assert cpu["usage_cores"] == pytest.approx(1.0, rel=0.1), json.dumps(cpu)
    assert cpu["figure"] == pytest.approx(cpu["truth_percent"], abs=CPU_POINTS), json.dumps(cpu)
    _check_memory(c["memory"], c["setup"]["mem_total"], "64 MiB touched, no limit")


def test_the_v2_root_cgroup_is_measured_as_a_host(cases: Boot) -> None:
    c = _case(cases, "v2_root")
    assert c["proc_self_cgroup"] == "0::/\n"
    refused = c["open_cgroup"]
    assert refused.get("error") == "NotSupportedError", refused
    assert "v2 root cgroup" in refused["message"], refused
    auto = c["open_None"]
    assert auto.get("type") == "NativeResourceMonitor", auto
    assert auto["selection_reason"].startswith("host monitor: no cgroup to measure"), auto
    assert auto["environment"]["cgroup_version"] is None


def test_the_host_monitor_on_a_v2_host(cases: Boot) -> None:
    c = _case(cases, "host_monitor")
    assert c["type"] == "NativeResourceMonitor"
    _environment(c, cgroup_version=None, cpu_capacity_cores=2.0)
    cpu = c["cpu"]  # one busy loop of two CPUs, from /proc/stat
    assert 40.0 <= cpu["truth_percent"] <= 65.0, json.dumps(cpu)
    assert cpu["figure"] == pytest.approx(cpu["truth_percent"], abs=CPU_POINTS), json.dumps(cpu)
    mem = c["memory"]  # against /proc/meminfo read beside it
    assert mem["truth"]["mem_total"] == c["setup"]["mem_total"]
    assert mem["figure"] == pytest.approx(mem["truth"]["percent"], abs=MEMORY_POINTS)
    _check_disk(c["disk"], "16 MiB O_DIRECT, /proc/diskstats")


def test_a_cpu_max_rewritten_at_run_time_is_picked_up(cases: Boot) -> None:
    c = _case(cases, "limit_rewritten")
    _environment(c, cpu_limit_cores=0.5)
    _check_cpu(c["cpu"], 0.5, "before: 0.5 cores")
    assert c["cpu_max_rewritten"] == "25000 100000\n"
    after = c["environment_after_rewrite"]
    assert after["cpu_limit_cores"] == pytest.approx(0.25), after
    _check_cpu(c["cpu_after_rewrite"], 0.25, "after the rewrite: 0.25 cores")


def test_every_case_ran_and_the_guest_finished(cases: Boot) -> None:
    result = _require(cases)
    from vm_cgroup2_cases import CASES

    assert sorted(cases.cases) == sorted(CASES), result.stdout[-2000:]
    assert result.returncode == 0, result.stderr
    assert all(
        case["kernel"] == cases.cases["cpu_quota"]["kernel"] for case in cases.cases.values()
    )


# ---- the helper itself: a command placed in a namespaced cgroup, its output and status -------


@pytest.fixture(scope="module")
def helper_run() -> Boot:
    script = (
        "cat /proc/self/cgroup; cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max; "
        'echo "$DANUBE_VM_PROBE"; echo to-stderr >&2; exit 3'
    )
    return Boot(
        _boot(
            ["sh", "-c", script],
            env={"DANUBE_VM_PROBE": "carried"},
            cgroup_path="/pod/app",
            cgroup_files={
                "/pod": {"memory.max": str(64 * MiB)},
                "/pod/app": {"cpu.max": "20000 100000"},
            },
            cgroupns=True,
        )
    )


def test_the_helper_runs_a_command_in_a_namespaced_cgroup_with_limits(helper_run: Boot) -> None:
    result: Optional[VMResult] = _require(helper_run)
    assert result is not None
    print(f"\nhelper run: boot {result.boot_seconds:.1f} s, total {result.total_seconds:.1f} s")
    assert result.returncode == 3, result
    # The namespace's root is /pod/app: its own cpu.max; memory.max lives on the parent.
    assert result.stdout == "0::/\n20000 100000\nmax\ncarried\n", result
    assert result.stderr == "to-stderr\n", result
    assert "danube-vm: done" in result.console


def test_the_boot_watchdog_kills_a_boot_that_is_late_and_retries() -> None:
    reason = vm_unavailable()
    if reason is not None:
        _require(Boot(reason))
    # No boot reaches its job in 0.2 s (8 s is the fastest measured here): each attempt is
    # killed by the watchdog, and the error tells every attempt's story.
    with pytest.raises(VMBootError) as caught:
        run_in_vm(["true"], boot_timeout=0.2, attempts=2)
    message = str(caught.value)
    assert "attempt 1: the job did not start within 0 s" in message, message
    assert "attempt 2: " in message and "attempt 3" not in message, message
