/* Internal to the Linux backend: the parsers of /proc, sysfs and cgroup files. Each is a pure
   function over (buffer, length): it never reads past `len` and returns DM_E_PARSE on
   malformed input, so it can be fuzzed directly (the test build declares this file to cffi as
   it is, with dm_types.h). */
#ifndef DM_PARSE_H
#define DM_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "dm_types.h"

/* ---- /proc ------------------------------------------------------------------------------ */

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
int dm_parse_meminfo(const char *buf, size_t len, dm_meminfo *out);

/* One /proc/diskstats line (without its newline). name is an offset into the line; a name
   holding a NUL byte, or "." or "..", is malformed (it would name another device's files). */
typedef struct dm_diskstats_line {
    uint32_t major, minor;
    size_t name_off, name_len;
    uint64_t sectors_read, sectors_written;
    int nfields;
} dm_diskstats_line;
int dm_parse_diskstats_line(const char *line, size_t len, dm_diskstats_line *out);

/* The whole disks chosen from a diskstats file, as many as it lists: dm_diskstats_select
   sizes the tables (the one allocation of the disk reading, at its choice), dm_disk_set_free
   frees them. */
typedef struct dm_disk_set {
    size_t n;
    uint64_t *dev;             /* n: major << 32 | minor, in file order */
    char (*name)[DM_NAME_MAX]; /* n */
    uint32_t *slot;            /* nslots: 1 + the index of the disk whose dev hashes there */
    size_t nslots;             /* 0, or a power of two above 2n */
} dm_disk_set;
/* Picks the whole disks of a diskstats file: no partitions, loop, ram, zram, dm-*, md*.
   Linear in the file's size. `out` is zeroed or a set filled before (its tables are freed
   first). DM_E_PARSE on a malformed line, DM_E_NOMEM. */
int dm_diskstats_select(const char *buf, size_t len, dm_disk_set *out);
void dm_disk_set_free(dm_disk_set *set);
/* Whether the set holds the device (major << 32 | minor). */
int dm_disk_set_has(const dm_disk_set *set, uint64_t dev);
/* The name of the i-th disk in the set, or NULL. */
const char *dm_disk_set_name(const dm_disk_set *set, size_t i);
/* Bytes read and written by the disks in `set` (512-byte sectors). */
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
/* DM_OK for an interface line, DM_E_AGAIN for a header line, DM_E_PARSE otherwise: a name
   holding a NUL byte or '/', or "." or "..", is malformed (no kernel makes one). */
int dm_parse_netdev_line(const char *line, size_t len, dm_netdev_line *out);

int dm_netdev_sum(const char *buf, size_t len, const dm_iface_set *set, uint64_t *rx_bytes,
                  uint64_t *tx_bytes);
/* The first name of `set` that the net/dev file does not list (*missing = its index), or
   *missing = set->n when it lists them all. DM_E_PARSE on a malformed line. */
int dm_netdev_find_missing(const char *buf, size_t len, const dm_iface_set *set,
                           size_t *missing);

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
   SOURCE SUPEROPTS", fields split at single spaces as the kernel writes them (SOURCE may be
   empty); a NUL or a field more or less is DM_E_PARSE. root and mount_point are still escaped
   (\040 etc.). */
typedef struct dm_mountinfo_line {
    dm_span root, mount_point, fstype, super_options;
} dm_mountinfo_line;
int dm_parse_mountinfo_line(const char *line, size_t len, dm_mountinfo_line *out);
/* The mount of a controller's hierarchy (cgroup2 for DM_CG_UNIFIED, else the v1 "cgroup"
   mount whose super options name the controller). Offsets are into buf. DM_E_AGAIN if none. */
int dm_mountinfo_find(const char *buf, size_t len, int controller, dm_mountinfo_line *out);
/* The same search, saying what it met. A line that does not parse is skipped and counted,
   unless it could be a cgroup mount (it holds "cgroup" or a NUL): then the search fails with
   DM_E_PARSE and bad_line says which (1-based), since skipping it might pick another mount. */
typedef struct dm_mountinfo_scan {
    size_t lines;    /* non-empty lines looked at */
    size_t skipped;  /* malformed lines skipped */
    size_t bad_line; /* the line that failed the search, or 0 */
} dm_mountinfo_scan;
int dm_mountinfo_search(const char *buf, size_t len, int controller, dm_mountinfo_line *out,
                        dm_mountinfo_scan *scan);
/* Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash)
   into dst (NUL-terminated). DM_E_BUFFER if dst is too small; DM_E_PARSE for a NUL, raw or
   escaped (\000): no path holds one. */
int dm_unescape_mount_path(const char *src, size_t len, char *dst, size_t cap, size_t *out_len);
/* Where the process's cgroup `path` (from /proc/self/cgroup) lies under a cgroup mount whose
   root is `mount_root` (mountinfo's 4th field, unescaped): DM_OK with path[*rel_off, +*rel_len)
   the part below the mount root (length 0: the mount itself). A mount root of "/" takes any
   path; another root R takes R itself or a path below R (no cgroup namespace: docker on v1,
   plain runc). A ".." component in either, or a path outside R, is DM_E_UNSUPPORTED (the
   cgroup is outside this process's cgroup namespace: another directory would be measured);
   a path that is not absolute or has empty or "." components is DM_E_PARSE. *why (may be
   NULL) is then a static sentence naming the file. */
int dm_cgroup_subpath(const char *path, size_t path_len, const char *mount_root,
                      size_t root_len, size_t *rel_off, size_t *rel_len, const char **why);

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
/* v2 io.stat: rbytes and wbytes summed over the devices in `disks` (every device if NULL). A
   stacked device (dm, md) and the disks under it are each listed with the same bytes: summing
   only the whole disks of /proc/diskstats counts each byte once, as the host monitor does. */
int dm_parse_io_stat(const char *buf, size_t len, const dm_disk_set *disks, uint64_t *rbytes,
                     uint64_t *wbytes);
/* v1 blkio *io_service_bytes*: "MAJ:MIN Read N" and "MAJ:MIN Write N" summed over the devices in
   `disks` (every device if NULL). */
int dm_parse_blkio_bytes(const char *buf, size_t len, const dm_disk_set *disks,
                         uint64_t *read_bytes, uint64_t *write_bytes);
/* A CPU list ("0-3,8,10-11"): how many CPUs it names. */
int dm_parse_cpu_list(const char *buf, size_t len, uint32_t *count);

/* ---- Pressure stall information and CFS throttling (dm_pressure_parse.c) ---------------- */

/* The cumulative stall times of a PSI file, in microseconds. */
typedef struct dm_pressure_totals {
    uint64_t some_us, full_us;
    int has_full; /* the "full" line was there (cpu's since Linux 5.13, memory's and io's always) */
} dm_pressure_totals;
/* A PSI file (/proc/pressure/RES, a v2 cgroup's RES.pressure), as the kernel writes it: a line
   "some avg10=A avg60=A avg300=A total=N", optionally a line "full" with the same fields, each
   ending in a newline, nothing else; fields split at single spaces, each A digits, a dot and
   two digits (%lu.%02lu), N a decimal. DM_E_PARSE otherwise, with *why (may be NULL) a static
   sentence saying what is wrong. */
int dm_parse_pressure(const char *buf, size_t len, dm_pressure_totals *out, const char **why);

/* The CFS bandwidth counters of cpu.stat: periods that had runtime to hand out, periods in
   which the cgroup was throttled, and the time it spent throttled in nanoseconds (v2
   throttled_usec, v1 throttled_time, both given in ns). */
typedef struct dm_throttling {
    uint64_t periods, throttled_periods, throttled_ns;
} dm_throttling;
/* cpu.stat of cgroup `version` (1 or 2): nr_periods, nr_throttled and throttled_usec (v2) or
   throttled_time (v1), found with dm_parse_keyed_u64. `hints` (may be NULL) holds 3 offsets
   kept between calls. DM_E_PARSE (with *why, may be NULL) when one is missing or malformed. */
int dm_parse_cpu_throttling(const char *buf, size_t len, int version, size_t *hints,
                            dm_throttling *out, const char **why);

#endif
