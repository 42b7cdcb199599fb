/*
 * danube-metrics C core: public interface.
 *
 * A monitor is opened once (files opened, buffers sized, baseline counters taken), sampled many
 * times without allocating, and closed once. Every function returns DM_OK (0) or a negative
 * DM_E_* code; results go out through caller-provided structs.
 *
 * The parsers are pure functions over (buffer, length): they never read past `len` and return
 * DM_E_PARSE on malformed input, so they can be fuzzed directly.
 */
#ifndef DANUBE_METRICS_H
#define DANUBE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define DM_OK 0
#define DM_E_OS (-1)          /* a system call failed: dm_error.os_errno and .path say which */
#define DM_E_PARSE (-2)       /* a file's content is malformed: .path and .detail say how */
#define DM_E_BUFFER (-3)      /* a file outgrew its buffer: call dm_monitor_grow, then retry */
#define DM_E_AGAIN (-4)       /* no rate yet (no interval measured, or counters were reset) */
#define DM_E_INVALID (-5)     /* a bad argument */
#define DM_E_NOMEM (-6)       /* allocation failed (only at open or grow) */
#define DM_E_UNSUPPORTED (-7) /* not available on this platform */

/* Metric bits for dm_monitor_sample. */
#define DM_CPU 1u
#define DM_MEMORY 2u
#define DM_DISK 4u
#define DM_NETWORK 8u
#define DM_ALL 15u

/* Kinds of monitor. */
#define DM_KIND_HOST 1   /* the whole machine, from /proc */
#define DM_KIND_CGROUP 2 /* the process's own cgroup, against its limits (Linux) */

/* Interface selection modes (see semantics.md, "Network I/O"). */
#define DM_NET_PHYSICAL 1  /* interfaces not under /sys/devices/virtual/net */
#define DM_NET_ALL_BUT_LO 2 /* no physical interface exists (a container's veth) */
#define DM_NET_USER_LIST 3 /* the caller named the interfaces */

#define DM_MAX_DISKS 1024
#define DM_MAX_IFACES 64
#define DM_NAME_MAX 32

typedef struct dm_error {
    int code;           /* DM_OK or a DM_E_* code */
    int os_errno;       /* errno for DM_E_OS, else 0 */
    const char *path;   /* the file involved (owned by the monitor), or NULL */
    const char *detail; /* static text describing the failure, or NULL */
} dm_error;

typedef struct dm_sample {
    double cpu_percent;    /* 0..100 */
    double memory_percent; /* 0..100 */
    double disk_read_bytes_per_sec;
    double disk_write_bytes_per_sec;
    double net_rx_bytes_per_sec;
    double net_tx_bytes_per_sec;
    dm_error cpu;     /* status of each reading requested */
    dm_error memory;
    dm_error disk;
    dm_error network;
} dm_sample;

typedef struct dm_options {
    const char *root;        /* path prefix for every file read; NULL or "" means "/" */
    int64_t min_interval_ns; /* rates over a shorter interval return the last values */
    const char *interfaces;  /* comma-separated interface names to count, or NULL for automatic */
    int64_t start_ns;        /* monotonic time of the baseline; 0 means now (tests set it) */
    int kind;                /* DM_KIND_HOST (or 0) or DM_KIND_CGROUP */
    char *error_path;        /* if set, a failed open copies the failing file's path here */
    size_t error_path_len;
} dm_options;

/* What a monitor found at open (limits as last read). */
typedef struct dm_environment {
    int kind;                    /* DM_KIND_* */
    int cgroup_version;          /* 1 or 2; 0 for the host monitor */
    const char *cgroup_path;     /* as /proc/self/cgroup names it, or NULL */
    const char *cgroup_dir;      /* the directory read, or NULL */
    double cpu_limit_cores;      /* the capacity CPU % is taken against */
    double cpu_quota_cores;      /* quota / period, tightest along the path; 0 when none */
    uint32_t cpuset_cpus;        /* CPUs in the cgroup's cpuset; 0 when unknown */
    uint32_t online_cpus;        /* CPUs online on the machine */
    uint64_t memory_limit_bytes; /* tightest limit along the path; 0 when none */
    uint64_t memory_total_bytes; /* the capacity memory % is taken against */
} dm_environment;

typedef struct dm_monitor dm_monitor;

/* The host monitor fails only when no file at all can be read under the root; the cgroup
   monitor when the process's cgroup cannot be found or read. On failure err->path points into
   opts->error_path (NULL if that is not given), since the monitor's own copy is gone. */
int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err);
/* Threads may share a monitor: each call below takes the monitor's own lock. dm_monitor_close
   must be the last call, made when no other is running. */
/* Samples the metrics in `metrics` at the monotonic clock's current time. Returns DM_OK when
   every requested reading succeeded, else the first failing code; each reading's own status is
   in out->cpu, ->memory, ->disk, ->network. DM_E_BUFFER takes precedence: a file outgrew its
   buffer, so call dm_monitor_grow for the readings whose code is DM_E_BUFFER and sample those
   again (readings not requested keep their previous values in `out`). */
int dm_monitor_sample(dm_monitor *mon, unsigned metrics, dm_sample *out);
/* The same at an explicit monotonic time in nanoseconds (tests drive time with it). */
int dm_monitor_sample_at(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out);
/* One reading in a one-argument call, the cheapest call a binding such as cffi makes: the
   percentage, or NaN when the reading fails (dm_monitor_sample says why). */
double dm_monitor_cpu_percent(dm_monitor *mon);
double dm_monitor_memory_percent(dm_monitor *mon);
/* dm_monitor_sample with its arguments in one struct: a binding pays for each argument it
   converts, and cffi takes its fastest path for a call with one. The figures lead `out`. */
typedef struct dm_call {
    dm_sample out;
    dm_monitor *mon;
    unsigned metrics;
} dm_call;
int dm_call_sample(dm_call *call);
/* Enlarges the buffers of the metrics in `metrics` to fit their files as they are now. */
int dm_monitor_grow(dm_monitor *mon, unsigned metrics, dm_error *err);
void dm_monitor_close(dm_monitor *mon);

int dm_monitor_kind(const dm_monitor *mon);
int dm_monitor_environment(dm_monitor *mon, dm_environment *out);
int64_t dm_monitor_min_interval_ns(const dm_monitor *mon);
/* Whole disks counted, and network interfaces counted (empty in DM_NET_ALL_BUT_LO mode). */
size_t dm_monitor_disk_count(const dm_monitor *mon);
const char *dm_monitor_disk_name(const dm_monitor *mon, size_t i);
int dm_monitor_net_mode(const dm_monitor *mon);
size_t dm_monitor_iface_count(const dm_monitor *mon);
const char *dm_monitor_iface_name(const dm_monitor *mon, size_t i);

/* The files a sample of `metrics` reads, into paths[0..cap) (owned by the monitor); returns how
   many there are. Platforms that read no files return 0. */
size_t dm_monitor_sample_files(const dm_monitor *mon, unsigned metrics, const char **paths,
                               size_t cap);

int64_t dm_monotonic_ns(void);

/* ---- Pure parsers ---------------------------------------------------------------------- */

/* First "cpu " line of /proc/stat, in USER_HZ ticks. Fields a kernel lacks are 0. */
typedef struct dm_cpu_times {
    uint64_t user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice;
    int nfields;
} dm_cpu_times;
int dm_parse_proc_stat(const char *buf, size_t len, dm_cpu_times *out);
/* busy = user + nice + system + irq + softirq + steal (guest is inside user); idle = idle + iowait */
void dm_cpu_busy_idle(const dm_cpu_times *t, uint64_t *busy, uint64_t *idle);

/* /proc/meminfo, in bytes. available falls back to MemFree + Buffers + Cached + SReclaimable -
   Shmem on kernels without MemAvailable (has_mem_available then 0). */
typedef struct dm_meminfo {
    uint64_t total;
    uint64_t available;
    int has_mem_available;
} dm_meminfo;
int dm_parse_meminfo(const char *buf, size_t len, dm_meminfo *out);
/* used / total * 100, clamped to 0..100; DM_E_PARSE when total is 0 */
int dm_memory_percent(const dm_meminfo *m, double *out);

/* One /proc/diskstats line (without its newline). name is an offset into the line. */
typedef struct dm_diskstats_line {
    uint32_t major, minor;
    size_t name_off, name_len;
    uint64_t sectors_read, sectors_written;
    int nfields;
} dm_diskstats_line;
int dm_parse_diskstats_line(const char *line, size_t len, dm_diskstats_line *out);

typedef struct dm_disk_set {
    size_t n;
    uint64_t dev[DM_MAX_DISKS]; /* major << 32 | minor */
    char name[DM_MAX_DISKS][DM_NAME_MAX];
} dm_disk_set;
/* Picks the whole disks of a diskstats file: no partitions, loop, ram, zram, dm-*, md*. */
int dm_diskstats_select(const char *buf, size_t len, dm_disk_set *out);
/* Bytes read and written by the disks in `set` (512-byte sectors). */
/* The name of the i-th disk in the set, or NULL. */
const char *dm_disk_set_name(const dm_disk_set *set, size_t i);
int dm_diskstats_sum(const char *buf, size_t len, const dm_disk_set *set, uint64_t *read_bytes,
                     uint64_t *written_bytes);

/* /sys/block/<disk>/stat (11, 15 or 17 fields): sectors read and written (512 bytes each). */
int dm_parse_block_stat(const char *buf, size_t len, uint64_t *sectors_read,
                        uint64_t *sectors_written);
/* A file holding one unsigned decimal (a sysfs counter such as statistics/rx_bytes). */
int dm_parse_u64_file(const char *buf, size_t len, uint64_t *value);

/* One /proc/net/dev interface line. */
typedef struct dm_netdev_line {
    size_t name_off, name_len;
    uint64_t rx_bytes, tx_bytes;
} dm_netdev_line;
/* DM_OK for an interface line, DM_E_AGAIN for a header line, DM_E_PARSE otherwise. */
int dm_parse_netdev_line(const char *line, size_t len, dm_netdev_line *out);

typedef struct dm_iface_set {
    int mode; /* DM_NET_* */
    size_t n;
    char name[DM_MAX_IFACES][DM_NAME_MAX];
} dm_iface_set;
int dm_netdev_sum(const char *buf, size_t len, const dm_iface_set *set, uint64_t *rx_bytes,
                  uint64_t *tx_bytes);
/* Fills `set` from a comma-separated list of names (DM_NET_USER_LIST). */
int dm_iface_set_from_list(const char *list, dm_iface_set *set);

/* ---- cgroup files ----------------------------------------------------------------------- */

/* A part of a buffer: offset and length (found is 0 where absent). */
typedef struct dm_span {
    size_t off, len;
    int found;
} dm_span;

/* Controllers of /proc/self/cgroup; DM_CG_UNIFIED is the v2 "0::PATH" line. */
#define DM_CG_UNIFIED 0
#define DM_CG_CPU 1
#define DM_CG_CPUACCT 2
#define DM_CG_CPUSET 3
#define DM_CG_MEMORY 4
#define DM_CG_BLKIO 5
#define DM_CG_COUNT 6

typedef struct dm_proc_cgroup {
    dm_span path[DM_CG_COUNT]; /* the cgroup path of each controller, as an offset into buf */
} dm_proc_cgroup;
/* Lines "ID:CONTROLLERS:PATH", split on the first two colons only (a path may hold ':'). */
int dm_parse_proc_cgroup(const char *buf, size_t len, dm_proc_cgroup *out);

/* One /proc/self/mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE
   SOURCE SUPEROPTS". root and mount_point are still escaped (\040 etc.). */
typedef struct dm_mountinfo_line {
    dm_span root, mount_point, fstype, super_options;
} dm_mountinfo_line;
int dm_parse_mountinfo_line(const char *line, size_t len, dm_mountinfo_line *out);
/* The mount of a controller's hierarchy (cgroup2 for DM_CG_UNIFIED, else the v1 "cgroup"
   mount whose super options name the controller). Offsets are into buf. DM_E_AGAIN if none. */
int dm_mountinfo_find(const char *buf, size_t len, int controller, dm_mountinfo_line *out);
/* Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash)
   into dst (NUL-terminated). DM_E_BUFFER if dst is too small. */
int dm_unescape_mount_path(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);

/* A limit file: a decimal, "max" (v2) or a negative number (v1 cfs_quota_us -1): the last two
   give UINT64_MAX, meaning no limit. */
int dm_parse_limit(const char *buf, size_t len, uint64_t *value);
/* v2 cpu.max "QUOTA PERIOD" (QUOTA may be "max": UINT64_MAX). */
int dm_parse_cpu_max(const char *buf, size_t len, uint64_t *quota, uint64_t *period);
/* The value of `key` in a flat keyed file ("key value" lines: cpu.stat, memory.stat). `hint`
   (may be NULL) keeps the offset of the key's line between calls: a kernel writes its keys in
   the same order every time, so the line is looked at there first, and the file is scanned
   only when it is not (a number before it changed length). */
int dm_parse_keyed_u64(const char *buf, size_t len, const char *key, size_t *hint,
                       uint64_t *value);
/* v2 io.stat: rbytes and wbytes summed over the devices. */
int dm_parse_io_stat(const char *buf, size_t len, uint64_t *rbytes, uint64_t *wbytes);
/* v1 blkio *io_service_bytes*: "MAJ:MIN Read N" and "MAJ:MIN Write N" summed over devices. */
int dm_parse_blkio_bytes(const char *buf, size_t len, uint64_t *read_bytes, uint64_t *write_bytes);
/* A CPU list ("0-3,8,10-11"): how many CPUs it names. */
int dm_parse_cpu_list(const char *buf, size_t len, uint32_t *count);

/* ---- Rates ------------------------------------------------------------------------------ */

/* Previous counters of one metric, and its last computed values. */
typedef struct dm_rate_state {
    uint64_t prev[2];
    int64_t prev_ns;
    double last[2];
    int has_prev;
    int has_last;
} dm_rate_state;
/* Per-second rates of two counters. DM_E_AGAIN (with *detail set) when no rate can be given. */
int dm_rate_per_second(dm_rate_state *st, const uint64_t now[2], int64_t now_ns,
                       int64_t min_interval_ns, double out[2], const char **detail);
/* busy / (busy + idle) * 100 over the interval, from cumulative busy and idle counters. */
int dm_rate_busy_percent(dm_rate_state *st, uint64_t busy, uint64_t idle, int64_t now_ns,
                         int64_t min_interval_ns, double *out, const char **detail);
/* Whether a rate can be answered without reading anything: a last value exists and less than
   the minimum interval has passed since its interval ended. Copies it to out[0..1] if so. */
int dm_rate_reuse(const dm_rate_state *st, int64_t now_ns, int64_t min_interval_ns,
                  double out[2]);
/* The last value of a level (memory %) and when it was read: within the minimum interval it is
   given again without reading, like the rates. */
typedef struct dm_level_state {
    double last;
    int64_t read_ns;
    int has_last;
} dm_level_state;
int dm_level_reuse(const dm_level_state *st, int64_t now_ns, int64_t min_interval_ns,
                   double *out);
void dm_level_keep(dm_level_state *st, int64_t now_ns, double value);
/* Clamps to 0..100, mapping NaN to 0. */
double dm_clamp_percent(double v);

#ifdef __cplusplus
}
#endif
#endif
