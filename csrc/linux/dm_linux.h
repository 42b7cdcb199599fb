/* Internal to the Linux backend: the monitor struct shared by its three files. dm_linux.c opens
   and closes a monitor of either kind and picks its readings; dm_host.c holds the readings of
   the whole machine (/proc), dm_cgroup.c those of the process's cgroup. Both read files
   through dm_file.c and parse them with dm_parse.h; neither calls the other. */
#ifndef DM_LINUX_H
#define DM_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "dm_core.h"
#include "dm_file.h"
#include "dm_parse.h"

#define DM_CG_MAX_DEPTH 32

/* Whether the v1 blkio file counts, as seen so far. */
#define DM_IO_QUIET 0      /* not known: the disks have moved less than DM_IO_PROOF_BYTES */
#define DM_IO_COUNTING 1   /* the hierarchy's file moved: it counts */
#define DM_IO_UNCOUNTED 2  /* the disks moved DM_IO_PROOF_BYTES, the hierarchy's file did not */
#define DM_IO_PROOF_BYTES ((uint64_t)1 << 20)

/* The cgroup monitor's files and limits, resolved at open. */
struct dm_cgroup {
    /* Read to find the cgroup at open, and freed once it opens: until then an error of the
       open may name them (dm_fail_open copies the name before the monitor goes). */
    struct dm_file proc_cgroup, mountinfo;
    int version;
    char *path;       /* the process's cgroup as /proc/self/cgroup names it */
    char *dir;        /* the directory read for memory (v1) or everything (v2) */
    struct dm_file cpu_usage, cpuset, online, mem_usage, mem_stat, io;
    /* v1 blkio counts only where the kernel's throttling is active for the device: the file
       of the top of the hierarchy visible (`io_top`; our own file when we are the top) is
       watched against /proc/diskstats until it is seen to count (docs/semantics.md, "Disk
       I/O in a container"). */
    struct dm_file io_top;
    int has_io_top;
    int io_verdict;                 /* DM_IO_* */
    uint64_t io_top_base, disk_base; /* bytes at the first look (top's file, whole disks) */
    int io_based;
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
    /* CFS throttling: the cpu.stat beside each level's quota file (cpu_quota[i]), and the
       level of the tightest quota, which throttles first (DM_NO_LEVEL: no quota). */
    struct dm_file cpu_stat[DM_CG_MAX_DEPTH];
    size_t quota_level;
    /* The two throttling readings (periods, time) share one read of cpu.stat per call: the
       first keeps its counters for the second at the same time. */
    size_t throttle_level[2]; /* the level each reading read last (DM_NO_LEVEL: none yet) */
    size_t throttle_hints[3];
    dm_throttling throttle_kept;
    int64_t throttle_kept_ns;
    int throttle_kept_valid;
};
#define DM_NO_LEVEL ((size_t)-1)

struct dm_monitor {
    struct dm_monitor_head head; /* first: the lock, the kind, the readings' states */
    char *root;
    struct dm_file stat, meminfo, diskstats, netdev;
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
    /* Pressure stall files (cpu, memory, io): /proc/pressure/{cpu,memory,io} for the host,
       a v2 cgroup's {cpu,memory,io}.pressure; opened at open, read only by
       dm_monitor_pressure (dm_pressure.c). */
    struct dm_file psi[3];
    int has_psi[3];
    const char *psi_note; /* why a PSI figure is not given, or NULL */
};

/* The machine's whole disks from m->diskstats as last read, chosen once (dm_disks.c). */
int dm_choose_disks(dm_monitor *m, dm_error *err);

/* The host's readings (dm_host.c); the cgroup monitor counts the network this way too. */
extern const struct dm_reading dm_host_cpu, dm_host_memory, dm_host_disk, dm_host_network;
/* Per-device files chosen by the first disk and network readings (dm_host.c). */
void dm_host_close(dm_monitor *m);

/* Pressure stall information for either monitor (dm_pressure.c). */
extern const struct dm_reading dm_psi_cpu, dm_psi_memory, dm_psi_io, dm_host_no_throttling;
void dm_pressure_init(dm_monitor *m);          /* every descriptor closed (-1) */
int dm_pressure_open(dm_monitor *m, dm_error *err); /* after the cgroup's open; NOMEM only */
void dm_pressure_close(dm_monitor *m);
int dm_pressure_grow(dm_monitor *m, dm_error *err);
/* The PSI files in use, into files[0..3); returns how many. */
size_t dm_pressure_files(const dm_monitor *m, const struct dm_file **files);
const char *dm_pressure_note(const dm_monitor *m);
const char *dm_host_throttling_note(void);

/* The cgroup monitor (dm_cgroup.c). */
extern const struct dm_reading dm_cgroup_cpu, dm_cgroup_memory, dm_cgroup_disk;
/* CFS throttling: (throttled periods, periods) and (throttled nanoseconds, 0). */
extern const struct dm_reading dm_cgroup_throttled_periods, dm_cgroup_throttled_time;
void dm_cgroup_init(dm_monitor *m); /* every descriptor closed (-1) */
int dm_cgroup_open(dm_monitor *m, dm_error *err);
void dm_cgroup_close(dm_monitor *m);
int dm_cgroup_grow(dm_monitor *m, unsigned metrics, dm_error *err);
/* Why the cgroup's disk figure is not given (or not yet proven), or NULL. */
const char *dm_cgroup_disk_note(const dm_monitor *m);
/* Why the cgroup's throttling figures are not given, or NULL; and its cpu.stat in use. */
const char *dm_cgroup_throttling_note(const dm_monitor *m);
const struct dm_file *dm_cgroup_throttling_file(const dm_monitor *m);

#endif
