"""cffi build script (out-of-line API mode): declares the ``danube_metrics._native`` module.

The C sources are picked per platform here and nowhere else; the declarations below are the
same on every platform.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"

CDEF = """
#define DM_OK 0
#define DM_E_OS -1
#define DM_E_PARSE -2
#define DM_E_BUFFER -3
#define DM_E_AGAIN -4
#define DM_E_INVALID -5
#define DM_E_NOMEM -6
#define DM_E_UNSUPPORTED -7

#define DM_CPU 1
#define DM_MEMORY 2
#define DM_DISK 4
#define DM_NETWORK 8
#define DM_ALL 15

#define DM_KIND_HOST 1
#define DM_NET_PHYSICAL 1
#define DM_NET_ALL_BUT_LO 2
#define DM_NET_USER_LIST 3

#define DM_MAX_DISKS ...
#define DM_MAX_IFACES ...
#define DM_NAME_MAX ...

typedef struct dm_error {
    int code;
    int os_errno;
    const char *path;
    const char *detail;
} dm_error;

typedef struct dm_sample {
    double cpu_percent;
    double memory_percent;
    double disk_read_bytes_per_sec;
    double disk_write_bytes_per_sec;
    double net_rx_bytes_per_sec;
    double net_tx_bytes_per_sec;
    dm_error cpu;
    dm_error memory;
    dm_error disk;
    dm_error network;
} dm_sample;

typedef struct dm_options {
    const char *root;
    int64_t min_interval_ns;
    const char *interfaces;
    int64_t start_ns;
} dm_options;

typedef struct dm_monitor dm_monitor;

int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err);
int dm_monitor_sample(dm_monitor *mon, unsigned metrics, dm_sample *out);
int dm_monitor_sample_at(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out);
int dm_monitor_grow(dm_monitor *mon, unsigned metrics, dm_error *err);
void dm_monitor_close(dm_monitor *mon);
int dm_monitor_kind(const dm_monitor *mon);
int64_t dm_monitor_min_interval_ns(const dm_monitor *mon);
size_t dm_monitor_disk_count(const dm_monitor *mon);
const char *dm_monitor_disk_name(const dm_monitor *mon, size_t i);
int dm_monitor_net_mode(const dm_monitor *mon);
size_t dm_monitor_iface_count(const dm_monitor *mon);
const char *dm_monitor_iface_name(const dm_monitor *mon, size_t i);
int64_t dm_monotonic_ns(void);

typedef struct dm_cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice;
    int nfields;
} dm_cpu_times;
int dm_parse_proc_stat(const char *buf, size_t len, dm_cpu_times *out);
void dm_cpu_busy_idle(const dm_cpu_times *t, uint64_t *busy, uint64_t *idle);

typedef struct dm_meminfo {
    uint64_t total;
    uint64_t available;
    int has_mem_available;
} dm_meminfo;
int dm_parse_meminfo(const char *buf, size_t len, dm_meminfo *out);
int dm_memory_percent(const dm_meminfo *m, double *out);

typedef struct dm_diskstats_line {
    uint32_t major, minor;
    size_t name_off, name_len;
    uint64_t sectors_read, sectors_written;
    int nfields;
} dm_diskstats_line;
int dm_parse_diskstats_line(const char *line, size_t len, dm_diskstats_line *out);

typedef struct dm_disk_set {
    size_t n;
    ...;
} dm_disk_set;
int dm_diskstats_select(const char *buf, size_t len, dm_disk_set *out);
int dm_diskstats_sum(const char *buf, size_t len, const dm_disk_set *set,
                     uint64_t *read_bytes, uint64_t *written_bytes);

typedef struct dm_netdev_line {
    size_t name_off, name_len;
    uint64_t rx_bytes, tx_bytes;
} dm_netdev_line;
int dm_parse_netdev_line(const char *line, size_t len, dm_netdev_line *out);

typedef struct dm_iface_set {
    int mode;
    size_t n;
    ...;
} dm_iface_set;
int dm_netdev_sum(const char *buf, size_t len, const dm_iface_set *set,
                  uint64_t *rx_bytes, uint64_t *tx_bytes);
int dm_iface_set_from_list(const char *list, dm_iface_set *set);

typedef struct dm_rate_state {
    uint64_t prev[2];
    int64_t prev_ns;
    double last[2];
    int has_prev;
    int has_last;
} dm_rate_state;
int dm_rate_per_second(dm_rate_state *st, const uint64_t now[2], int64_t now_ns,
                       int64_t min_interval_ns, double out[2], const char **detail);
int dm_rate_busy_percent(dm_rate_state *st, uint64_t busy, uint64_t idle, int64_t now_ns,
                         int64_t min_interval_ns, double *out, const char **detail);
double dm_clamp_percent(double v);
const char *dm_disk_set_name(const dm_disk_set *set, size_t i);
"""


def _platform_dir() -> str:
    if sys.platform.startswith("linux"):
        return "linux"
    raise RuntimeError(
        f"danube-metrics has no C backend for {sys.platform!r} yet (Linux only for now)"
    )


def _sources() -> list[str]:
    common = sorted(str(p.relative_to(ROOT)) for p in (CSRC / "common").glob("*.c"))
    platform = sorted(str(p.relative_to(ROOT)) for p in (CSRC / _platform_dir()).glob("*.c"))
    return common + platform


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "danube_metrics._native",
    '#include "danube_metrics.h"',
    sources=_sources(),
    include_dirs=[str((CSRC / "common").relative_to(ROOT))],
    extra_compile_args=["-std=c11", "-O2", "-Wall", "-Wextra"] if sys.platform != "win32" else [],
    libraries=["m"] if sys.platform.startswith("linux") else [],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
