"""The C core under the address and undefined-behaviour sanitizers, on fixture trees: the C
harness (tests/c/sample_main.c) opened where opening must fail, and where it works. A read of
freed or out-of-bounds memory aborts the harness with a report instead of printing garbage."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cbuild import CC, SANITIZE, core_command
from conftest import REPO, FixtureTree


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if CC is None:
        pytest.skip("no C compiler")
    exe = tmp_path_factory.mktemp("asan") / "sample_main"
    cmd = core_command(*SANITIZE, str(REPO / "tests/c/sample_main.c"), "-o", str(exe))
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"no sanitizer runtime here: {built.stderr[-300:]}")
    return exe


def run(harness: Path, root: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DANUBE_METRICS_ROOT": str(root), "DANUBE_METRICS_MODE": mode}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
    return subprocess.run(
        [str(harness), "2", "0"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("case", "remove", "named"),
    [
        # The open-time files of the cgroup search: the error names them after they are gone.
        ("cgroup-k8s-v2-ns", "proc/self/cgroup", "proc/self/cgroup"),
        ("cgroup-k8s-v2-ns", "proc/self/mountinfo", "proc/self/mountinfo"),
        ("cgroup-docker-v1", "proc/self/cgroup", "proc/self/cgroup"),
        ("cgroup-k8s-v2-ns", "sys/fs/cgroup/memory.stat", "sys/fs/cgroup/memory.stat"),
        # A long mountinfo, then a cgroup the search must refuse.
        ("cgroup-overlay-layers", "proc/self/cgroup", "proc/self/cgroup"),
        ("cgroup-overlay-layers", "proc/self/mountinfo", "proc/self/mountinfo"),
        # unshare -C without a remount (mount root /../..): refused, naming mountinfo.
        ("cgroup-v2-unshared", "sys/fs/cgroup/io.stat", "proc/self/mountinfo"),
    ],
)
def test_a_failed_open_names_its_file_from_storage_that_outlives_it(
    harness: Path, tmp_path: Path, case: str, remove: str, named: str
) -> None:
    tree = FixtureTree(case, tmp_path)
    (tree.root / remove).unlink()
    proc = run(harness, tree.root, "cgroup")
    assert "Sanitizer" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stderr
    assert f" {tree.root}/{named}: " in proc.stderr, proc.stderr


@pytest.mark.parametrize(("case", "mode"), [("cgroup-k8s-v2-ns", "cgroup"),
                                            ("cgroup-docker-v1", "cgroup"),
                                            ("cgroup-overlay-layers", "cgroup"),
                                            # v1 with the hierarchy's root file watched too
                                            ("cgroup-hybrid-host", "cgroup"),
                                            ("linux-6.1", "host")])  # fmt: skip
def test_sampling_a_fixture_tree_is_clean(
    harness: Path, tmp_path: Path, case: str, mode: str
) -> None:
    tree = FixtureTree(case, tmp_path)
    proc = run(harness, tree.root, mode)
    assert "Sanitizer" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 2
