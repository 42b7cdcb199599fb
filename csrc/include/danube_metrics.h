/*
 * danube-metrics C core: public interface.
 *
 * A monitor is opened once (files opened, buffers sized, baseline counters taken), sampled many
 * times without allocating, and closed once. Every function returns DM_OK (0) or a negative
 * DM_E_* code; results go out through caller-provided structs.
 *
 * This header is the whole public API: the monitor, and at its end the readers the cluster
 * path uses (plain reports, base64).
 * The parsers and the rate arithmetic behind the monitor are internal (csrc/linux/dm_parse.h,
 * csrc/common/dm_rate.h); docs/architecture.md maps the sources and docs/semantics.md says what
 * each figure means.
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
/* The pressure readings' bit for dm_monitor_grow and dm_monitor_sample_files: only
   dm_monitor_pressure reads them, never dm_monitor_sample (DM_ALL leaves them out). */
#define DM_PRESSURE 16u

/* Kinds of monitor. */
#define DM_KIND_HOST 1   /* the whole machine, from /proc */
#define DM_KIND_CGROUP 2 /* the process's own cgroup, against its limits (Linux) */

/* Interface selection modes (docs/semantics.md, "Network I/O"). */
#define DM_NET_PHYSICAL 1  /* interfaces not under /sys/devices/virtual/net */
#define DM_NET_ALL_BUT_LO 2 /* no physical interface exists (a container's veth) */
#define DM_NET_USER_LIST 3 /* the caller named the interfaces */

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
    const char *disk_note;       /* why the disk figure is not given (or not yet proven), or NULL */
    const char *pressure_note;   /* why the stall figures (PSI) are not given, or NULL */
    const char *throttling_note; /* why the CPU throttling figures are not given, or NULL */
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
/* Pressure stalls and CPU throttling (docs/semantics.md, "Pressure stalls and CPU
   throttling"): each figure over the interval since the previous pressure reading, with the
   same minimum interval, 10 ms floor and reset rules as the rates of dm_monitor_sample, and
   read only by this call. The figures lead the struct, in this order. */
#define DM_PRESSURE_FIGURES 7
typedef struct dm_pressure {
    double cpu_some_percent;    /* share of wall time some runnable task waited for a CPU */
    double memory_some_percent; /* ... some task stalled on memory (reclaim, refaults, swap-in) */
    double memory_full_percent; /* ... every non-idle task stalled on memory at once */
    double io_some_percent;
    double io_full_percent;
    double cpu_throttled_percent;            /* CFS periods in which the cgroup was throttled */
    double cpu_throttled_seconds_per_second; /* time throttled per second */
    unsigned unsupported; /* bit i: figure i cannot be had on this monitor (NaN; the source's
                             error, DM_E_UNSUPPORTED, and dm_environment say why) */
    dm_error cpu;        /* the source of cpu_some_percent */
    dm_error memory;     /* memory_some_percent, memory_full_percent */
    dm_error io;         /* io_some_percent, io_full_percent */
    dm_error throttling; /* cpu_throttled_percent, cpu_throttled_seconds_per_second */
} dm_pressure;
/* DM_OK when every source gave its figures or cannot be had on this monitor (those figures
   are NaN, their bits set in out->unsupported); DM_E_UNSUPPORTED when none can be had; else
   the first failing code (DM_E_BUFFER first: call dm_monitor_grow with DM_PRESSURE, then
   again). */
int dm_monitor_pressure(dm_monitor *mon, dm_pressure *out);
int dm_monitor_pressure_at(dm_monitor *mon, int64_t now_ns, dm_pressure *out);
/* dm_monitor_pressure in a one-argument call (see dm_call). On success it returns
   out.unsupported (0 or more) instead of DM_OK, so that a binding knows the shape of the
   figures without reading the struct; a failure is a negative DM_E_* code, as ever. */
typedef struct dm_pressure_call {
    dm_pressure out;
    dm_monitor *mon;
} dm_pressure_call;
int dm_call_pressure(dm_pressure_call *call);
/* Enlarges the buffers of the metrics in `metrics` (DM_PRESSURE included) to fit their files
   as they are now. */
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

/* fork() while another thread is inside a call would leave the child a monitor whose lock no
   thread of the child will ever release. Around a fork, call dm_monitor_before_fork on every
   open monitor (it waits for the call in progress and keeps the lock), then
   dm_monitor_after_fork in the parent (releases it) and in the child (`in_child` 1: the lock
   starts anew). pthread_atfork handlers, or Python's os.register_at_fork, are the place: the
   Python binding does this for every monitor it has open. */
void dm_monitor_before_fork(dm_monitor *mon);
void dm_monitor_after_fork(dm_monitor *mon, int in_child);

/* The plain upstream load report reader (the cluster view reads one per change; docs/
   architecture.md, "Reading reports"). Plain is what a broker writes: JSON of one object with
   only upstream's fields (resources_usage, timestamp and broker_id required; topics,
   total_throughput_mbps, total_message_rate, total_lag_messages and pressure optional), each
   at most once and of the type the report keeps: counts and ids unsigned integer literals
   that fit 64 bits, rates and usages non-negative numbers with a fraction or an exponent,
   strings printable ASCII without escapes, each resource known and given once (CPU and Memory
   at most 100), each topic exactly TopicLoad's eight fields, pressure null or an object of
   known figures each null or a number (percentages at most 100). Anything else, valid JSON or
   not, is not plain: the Python reader then reads the text and decides. So this reader only
   accepts what that one accepts, and gives the same figures. It allocates nothing and reads
   nothing past text[length). */
#define DM_REPORT_RESOURCES 4    /* CPU, Memory, DiskIO, NetworkIO: ResourceType's order */
#define DM_REPORT_TOPIC_COUNTS 6 /* message_rate, byte_rate, producer_count, consumer_count,
                                    subscription_count, backlog_messages */
typedef struct dm_plain_report {
    uint64_t timestamp;
    uint64_t broker_id;
    uint64_t total_message_rate; /* 0 when absent, as the other totals */
    uint64_t total_lag_messages;
    double total_throughput_mbps;
    int resource_count;
    int resources[DM_REPORT_RESOURCES]; /* each resource's index in the order given */
    double usage[DM_REPORT_RESOURCES];
    int pressure_given;         /* 1: a pressure object (0: absent or null) */
    unsigned pressure_figures;  /* bit i: figure i given as a number (else null or absent) */
    double pressure[DM_PRESSURE_FIGURES]; /* dm_pressure's order */
    size_t topic_count;
    /* The caller's arrays, room for topic_capacity topics: DM_REPORT_TOPIC_COUNTS counts per
       topic, one byte_rate_mbps, and where the name starts and ends in the text (offsets). */
    uint64_t *topic_counts;
    double *topic_mbps;
    uint64_t *topic_names;
    size_t topic_capacity;
} dm_plain_report;
/* DM_OK and `out` filled for a plain report; DM_E_PARSE for a text that is not plain;
   DM_E_BUFFER for a plain report of more topics than topic_capacity (out->topic_count says
   how many: give room for them and call again); DM_E_INVALID for a NULL argument. */
int dm_read_plain_report(const char *text, size_t length, dm_plain_report *out);

/* Standard base64 with padding (RFC 4648, section 4), as etcd's JSON gateway writes a value:
   text[0..length) decoded into out[0..capacity). Returns the decoded length (at most
   length / 4 * 3); DM_E_PARSE for a text that is not padded standard base64 (a length not a
   multiple of 4, a byte outside the alphabet, '=' anywhere but the last two places);
   DM_E_BUFFER when capacity is short; DM_E_INVALID for a NULL argument. */
int64_t dm_base64_decode(const char *text, size_t length, char *out, size_t capacity);

#ifdef __cplusplus
}
#endif
#endif
