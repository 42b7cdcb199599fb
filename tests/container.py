"""Real containers for the cgroup tests: an OCI bundle run by ``runc``, built from the host.

The root filesystem is an empty directory with read-only bind mounts of the host's system
directories, this interpreter (``sys.prefix``, ``sys.base_prefix``) and the installed
danube_metrics, all at their host paths, so ``[sys.executable, "-c", script]`` runs inside with
the package importable. The container gets its own pid, mount, ipc, uts and network namespaces
(plus a cgroup namespace on request), a tmpfs /tmp, proc, a read-only sysfs and runc's cgroup
mount at /sys/fs/cgroup, and a CPU quota and memory limit. Nothing from the host's container
markers (/.dockerenv, KUBERNETES_* variables) is carried in unless a test passes it.

Typical use::

    result = run_in_container("print('hi')", cpu_quota_cores=0.5, memory_limit_bytes=256 << 20)
    assert result.stdout == "hi\\n"
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import site
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

CPU_PERIOD_US = 100_000
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Host system directories shared with the container (read-only, same paths).
SYSTEM_DIRS = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc")

# Destinations a host bind must never cover: they are the container's own mounts.
_RESERVED = ("/", "/proc", "/sys", "/dev", "/tmp")

# runc's own defaults (from `runc spec`): the capabilities a plain container process gets.
_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def find_runc() -> Optional[str]:
    """The runc binary; Debian installs it in /usr/sbin, which a CI PATH may lack."""
    found = shutil.which("runc")
    if found:
        return found
    for candidate in ("/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _is_under(path: str, parent: str) -> bool:
    return parent == "/" or path == parent or path.startswith(parent.rstrip("/") + "/")


def _python_dirs() -> list[str]:
    """Directories the interpreter and the installed package need, at their host paths."""
    wanted: list[str] = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix]
    spec = importlib.util.find_spec("danube_metrics")
    if spec is None or spec.origin is None:
        raise RuntimeError("danube_metrics is not importable here")
    # The directory holding the package dir: site-packages, or the checkout for an editable
    # install (whose finder in site-packages points there).
    wanted.append(str(Path(spec.origin).parent.parent))
    site_dirs = list(site.getsitepackages())
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        site_dirs.append(user_site)
    site_dirs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    wanted += [d for d in site_dirs if os.path.isdir(d)]
    wanted += [d for d in os.environ.get("PYTHONPATH", "").split(os.pathsep) if os.path.isdir(d)]
    # A venv's python is a symlink into the base installation; symlinked prefixes resolve
    # elsewhere. Bind the resolved paths too, so every path the interpreter follows exists.
    wanted += [os.path.realpath(p) for p in list(wanted)]
    wanted.append(os.path.dirname(os.path.realpath(sys.executable)))
    return wanted


def host_binds(extra: Iterable[str] = ()) -> list[str]:
    """Host directories to bind, deduplicated (none inside another, none inside /usr...)."""
    candidates = [os.path.abspath(p) for p in (*_python_dirs(), *extra) if os.path.isdir(p)]
    chosen: list[str] = []
    covered = [d for d in SYSTEM_DIRS if os.path.isdir(d)]
    for path in sorted(set(candidates), key=lambda p: (p.count("/"), p)):
        if path in _RESERVED or any(_is_under(r, path) for r in _RESERVED if r != "/"):
            raise RuntimeError(f"refusing to bind {path}: it would hide a container mount")
        if any(_is_under(path, c) for c in covered + chosen):
            continue
        chosen.append(path)
    return chosen


def _bind(path: str) -> dict[str, Any]:
    return {
        "destination": path,
        "type": "bind",
        "source": path,
        "options": ["rbind", "ro", "nosuid", "nodev"],
    }


def build_config(
    args: list[str],
    *,
    cpu_quota_cores: Optional[float],
    memory_limit_bytes: Optional[int],
    cgroupns: bool,
    env: Mapping[str, str],
    binds: list[str],
    hostname: str = "danube-test",
) -> dict[str, Any]:
    """The OCI runtime config (config.json) of one test container."""
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            # runc turns this into one mount per hierarchy on v1, a cgroup2 mount on v2.
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
        {
            # Before the binds: a venv under the host's /tmp is bound on top of this.
            "destination": "/tmp",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=65536k"],
        },
        *(_bind(p) for p in binds),
    ]
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if cpu_quota_cores is not None:
        quota = round(cpu_quota_cores * CPU_PERIOD_US)
        resources["cpu"] = {"quota": quota, "period": CPU_PERIOD_US}
    if memory_limit_bytes is not None:
        resources["memory"] = {"limit": int(memory_limit_bytes)}
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    if cgroupns:
        namespaces.append({"type": "cgroup"})
    full_env = {"PATH": CONTAINER_PATH, "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"}
    if os.environ.get("PYTHONPATH"):
        # If the tests import the package through PYTHONPATH, so must the container (its
        # directories are among the binds, via find_spec).
        full_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    full_env.update(env)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [f"{k}={v}" for k, v in full_env.items()],
            "cwd": "/tmp",
            "capabilities": {k: _CAPS for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            # No cgroupsPath: runc then nests the container's cgroup under runc's own in each
            # hierarchy (named after the container id), as a child of whatever runs the tests.
            "resources": resources,
            "namespaces": namespaces,
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def _mounts_under(path: str) -> list[str]:
    """Mount points of this mount namespace at or below `path` (there should be none)."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            # Field 5 is the mount point, with spaces etc. as octal escapes.
            point = line.split()[4].encode().decode("unicode_escape")
            if _is_under(point, path):
                found.append(point)
    return found


class Container:
    """One OCI bundle in a temporary directory; ``run`` starts a container from it.

    Used as a context manager: the bundle is built on entry and removed on exit. Each ``run``
    uses a fresh container id and always ends with ``runc delete --force``.
    """

    def __init__(
        self,
        *,
        cpu_quota_cores: Optional[float] = None,
        memory_limit_bytes: Optional[int] = None,
        cgroupns: bool = False,
        env: Optional[Mapping[str, str]] = None,
        extra_binds: Iterable[str] = (),
    ) -> None:
        runc = find_runc()
        if runc is None:
            raise RuntimeError("runc is not installed")
        self.runc = runc
        self.cpu_quota_cores = cpu_quota_cores
        self.memory_limit_bytes = memory_limit_bytes
        self.cgroupns = cgroupns
        self.env = dict(env or {})
        self.binds = host_binds(extra_binds)
        self.bundle: Optional[Path] = None

    def __enter__(self) -> Container:
        self.bundle = Path(tempfile.mkdtemp(prefix="danube-oci-"))
        rootfs = self.bundle / "rootfs"
        rootfs.mkdir()
        for name in SYSTEM_DIRS:
            if os.path.islink(name):
                # Merged /usr: /bin -> usr/bin and so on; the same link inside resolves to the
                # bound /usr (binding the link would give a directory, not a link).
                os.symlink(os.readlink(name), rootfs / name.lstrip("/"))
            elif os.path.isdir(name):
                self.binds.insert(0, name)
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        bundle, self.bundle = self.bundle, None
        if bundle is None:
            return
        # The binds live in the container's mount namespace only; if anything is mounted here
        # (a runc bug, propagation), deleting would walk into the host's /usr: refuse.
        leftover = _mounts_under(str(bundle))
        if leftover:
            raise RuntimeError(f"mounts left under {bundle}, not removing it: {leftover}")
        shutil.rmtree(bundle)

    def config(self, args: list[str]) -> dict[str, Any]:
        return build_config(
            args,
            cpu_quota_cores=self.cpu_quota_cores,
            memory_limit_bytes=self.memory_limit_bytes,
            cgroupns=self.cgroupns,
            env=self.env,
            binds=self.binds,
        )

    def run(self, args: list[str], *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Runs `args` in a new container and returns its exit code and captured output.

        :raises subprocess.TimeoutExpired: after `timeout` seconds (the container is killed).
        """
        if self.bundle is None:
            raise RuntimeError("use Container as a context manager")
        (self.bundle / "config.json").write_text(json.dumps(self.config(args), indent=1))
        cid = f"danube-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            # No TTY, stdin from /dev/null: runc passes our pipes straight to the process.
            return subprocess.run(
                [self.runc, "run", "--bundle", str(self.bundle), cid],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        finally:
            # Also after a timeout, when the killed `runc run` left the container running.
            subprocess.run(
                [self.runc, "delete", "--force", cid],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
                check=False,
            )

    def run_python(self, script: str, *, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Runs ``[sys.executable, "-c", script]`` in a new container."""
        return self.run([sys.executable, "-c", script], timeout=timeout)


def run_in_container(
    script: str,
    *,
    cpu_quota_cores: Optional[float] = None,
    memory_limit_bytes: Optional[int] = None,
    cgroupns: bool = False,
    env: Optional[Mapping[str, str]] = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Runs the Python `script` in a fresh container with these limits and namespaces."""
    with Container(
        cpu_quota_cores=cpu_quota_cores,
        memory_limit_bytes=memory_limit_bytes,
        cgroupns=cgroupns,
        env=env,
    ) as box:
        return box.run_python(script, timeout=timeout)


@functools.cache
def runc_available() -> Optional[str]:
    """None when containers can be run here, else why not (a reason to skip)."""
    if not sys.platform.startswith("linux"):
        return f"containers need Linux, not {sys.platform}"
    if os.geteuid() != 0:
        return "running containers with runc needs root"
    if find_runc() is None:
        return "runc is not installed (apt-get install runc)"
    try:
        result = run_in_container(
            "print('ok')", cpu_quota_cores=0.5, memory_limit_bytes=64 << 20, timeout=30
        )
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return f"runc cannot start a container here: {exc}"
    if result.returncode != 0 or result.stdout != "ok\n":
        detail = (result.stderr or result.stdout).strip()[-800:]
        return f"runc cannot start a container here (exit {result.returncode}): {detail}"
    return None
