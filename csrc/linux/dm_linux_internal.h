/* Internal to the Linux backend: the monitor struct and the file helpers shared by the host
   and the cgroup monitor. */
#ifndef DM_LINUX_INTERNAL_H
#define DM_LINUX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "danube_metrics.h"
#include "dm_backend.h"

#define MIN_BUFFER 4096
#define STAT_BUFFER 4096 /* only the first line of /proc/stat is needed */
#define DM_CG_MAX_DEPTH 32

struct dm_file {
    const char *rel; /* path under the root (a literal), named by open errors */
    int fd;
    int whole;   /* the whole file must fit (else only its first read is needed) */
    int sized;   /* a file with a size (not procfs): a short read is its end */
    char *path;
    char *buf;
    size_t cap;
    size_t len;
};

/* The cgroup monitor's files and limits, resolved at open. */
struct dm_cgroup {
    int version;
    char *path;       /* the process's cgroup as /proc/self/cgroup names it */
    char *dir;        /* the directory read for memory (v1) or everything (v2) */
    struct dm_file cpu_usage, cpuset, online, mem_usage, mem_stat, io;
    size_t mem_stat_hint; /* where the inactive-file line was last time */
    int has_cpuset, has_online, has_io;
    size_t cpu_levels, mem_levels;
    struct dm_file cpu_quota[DM_CG_MAX_DEPTH], cpu_period[DM_CG_MAX_DEPTH];
    struct dm_file mem_limit[DM_CG_MAX_DEPTH];
    /* Limits, read at open and again every DM_LIMITS_REFRESH_NS. */
    int64_t cpu_limits_ns, mem_limits_ns; /* when each was read; 0 = never */
    double quota_cores;       /* 0 when no quota */
    uint32_t cpuset_cpus, online_cpus;
    double cpu_limit_cores;   /* the capacity CPU % is taken against */
    uint64_t memory_limit;    /* UINT64_MAX when none */
    uint64_t host_mem_total;
};

struct dm_monitor {
    struct dm_monitor_head head; /* first: the lock of the public calls */
    int kind;
    int64_t min_interval_ns;
    char *root;
    struct dm_file stat, meminfo, diskstats, netdev;
    dm_rate_state cpu_rate, disk_rate, net_rate;
    dm_level_state memory_level;
    int disks_chosen;
    dm_disk_set disks;
    int ifaces_chosen;
    dm_iface_set ifaces;
    /* Cheaper per-device sources, chosen once the disks and interfaces are known: each
       /sys/block/<disk>/stat, and each interface's statistics/rx_bytes and tx_bytes. NULL
       where they are missing or disagree: /proc/diskstats and /proc/net/dev then. */
    struct dm_file *disk_stat;   /* disks.n files */
    int net_source_chosen;
    struct dm_file *net_stat;    /* 2 * ifaces.n files: rx, tx */
    struct dm_cgroup cg;
};

char *dm_join_path(const char *root, const char *rel);
int dm_file_init(struct dm_file *f, const char *root, const char *rel, int whole);
void dm_file_free(struct dm_file *f);
int dm_file_read(struct dm_file *f, dm_error *err);
int dm_file_fit(struct dm_file *f, dm_error *err);
int dm_is_dir(const char *path);


/* The cgroup monitor (dm_cgroup.c). */
void dm_cgroup_init(dm_monitor *m); /* every descriptor closed (-1) */
int dm_cgroup_open(dm_monitor *m, dm_error *err);
void dm_cgroup_close(dm_monitor *m);
int dm_cgroup_sample_cpu(dm_monitor *m, int64_t now_ns, dm_sample *out);
int dm_cgroup_sample_memory(dm_monitor *m, int64_t now_ns, dm_sample *out);
int dm_cgroup_sample_disk(dm_monitor *m, int64_t now_ns, dm_sample *out);
int dm_cgroup_grow(dm_monitor *m, unsigned metrics, dm_error *err);

#endif
