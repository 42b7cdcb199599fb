"""The guest side of tests/vm.py: cgroups made, joined and namespaced inside the VM.

Runs in the guest as root, from the host's interpreter (standard library only). As a script
it runs one job (``vm_guest.py job.json``, written by tests/vm.py): makes the cgroups and
writes their files, moves itself into the job's cgroup, enters a cgroup namespace there if
asked, and execs the command. tests/vm_cgroup2_cases.py imports the same helpers to place
each of its cases.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Optional

CGROUP_MOUNT = "/sys/fs/cgroup"
CONTROLLERS = "+cpu +cpuset +io +memory +pids"

# Run in the new cgroup and mount namespaces: a fresh cgroup2 mount shows the namespace's
# root (the process's cgroup) at /sys/fs/cgroup, as a pod sees it. nsdelegate can only be
# given in the initial namespace.
_REMOUNT = f'umount {CGROUP_MOUNT} && mount -t cgroup2 cgroup2 {CGROUP_MOUNT} && exec "$@"'


def cgroup_dir(path: str) -> str:
    """The directory of the cgroup `path` ("/a/b") in the guest's initial cgroup2 mount."""
    return os.path.join(CGROUP_MOUNT, path.strip("/"))


def make_cgroup(path: str, files: Optional[Mapping[str, str]] = None) -> str:
    """Makes cgroup `path` and every level above it, each parent delegating the controllers
    to its children, then writes `files` (name to value) in the cgroup. Returns its directory."""
    current = CGROUP_MOUNT
    for part in [p for p in path.split("/") if p]:
        child = os.path.join(current, part)
        if not os.path.isdir(child):
            os.mkdir(child)
        # Only the root's subtree_control is set by /init; every level below delegates too.
        if current != CGROUP_MOUNT:
            write(os.path.join(current, "cgroup.subtree_control"), CONTROLLERS)
        current = child
    for name, value in (files or {}).items():
        write(os.path.join(current, name), value)
    return current


def write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def join_cgroup(path: str) -> None:
    """Moves the calling process into cgroup `path` ("0" in cgroup.procs means the writer)."""
    write(os.path.join(cgroup_dir(path), "cgroup.procs"), "0")


def namespaced(argv: Sequence[str]) -> list[str]:
    """`argv` wrapped to run in new cgroup and mount namespaces with their own cgroup2 mount
    (util-linux unshare; busybox's lacks --cgroup). Join the cgroup first: the namespace is
    rooted at the cgroup of the process that makes it."""
    return ["unshare", "--cgroup", "--mount", "sh", "-c", _REMOUNT, "sh", *argv]


def run_job(spec: Mapping[str, object]) -> None:
    """Places this process as the job says and execs its command (never returns)."""
    for path, files in spec["cgroup_files"]:  # type: ignore[attr-defined]
        make_cgroup(path, files)
    argv = list(spec["argv"])  # type: ignore[call-overload]
    cgroup_path = spec.get("cgroup_path")
    if cgroup_path:
        make_cgroup(str(cgroup_path))
        join_cgroup(str(cgroup_path))
    if spec.get("cgroupns"):
        argv = namespaced(argv)
    os.chdir(str(spec["cwd"]))
    env = dict(spec["env"])  # type: ignore[call-overload]
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        run_job(json.load(f))
