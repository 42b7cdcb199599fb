/* The Linux host monitor's readings: /proc/stat, /proc/meminfo, /proc/diskstats (or each disk's
   /sys/block/<disk>/stat) and /proc/net/dev (or each interface's sysfs counters) under a root
   prefix. The cgroup monitor counts the network with dm_host_network too: a container's
   /proc/net/dev is its own network namespace. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_linux.h"

/* m->ifaces_chosen for a user's list that net/dev could not yet be read to check (dm_linux.c
   checks it at open when it can): 1 once checked. */
#define DM_IFACES_UNCHECKED 2

/* ---- Per-device sysfs sources ----------------------------------------------------------- */

/* The per-device files of one source are one allocation: the dm_file array, then each one's
   buffer, then each one's path (thousands of files on a large host: one malloc, and buffers
   side by side instead of a page each). */
static void free_files(struct dm_file **files, size_t n)
{
    size_t i;
    if (*files == NULL)
        return;
    for (i = 0; i < n; i++)
        dm_file_free(&(*files)[i]); /* closes it: the memory is the block's */
    free(*files);
    *files = NULL;
}

/* Buffers of the one-line sysfs files: /sys/block/<disk>/stat is at most 17 fields of 20
   digits (357 bytes); a counter at most 20 digits and its newline. A file that fills its
   buffer fails the read (DM_E_BUFFER): the /proc file is then used instead. */
#define DM_BLOCK_STAT_BUFFER 512
#define DM_COUNTER_BUFFER 32

/* Opens and reads `n` * `per_name` files named by fmt, names[i] and a leaf under the root;
   NULL unless every one reads. */
static struct dm_file *open_device_files(const dm_monitor *m, size_t n, const char *fmt,
                                         const char (*names)[DM_NAME_MAX], size_t per_name,
                                         const char *const *leaves, size_t cap)
{
    struct dm_file *files;
    char *bufs, *paths;
    size_t i, total = n * per_name, stride, leaf_max = 0;
    if (total == 0)
        return NULL;
    for (i = 0; i < per_name; i++)
        if (strlen(leaves[i]) > leaf_max)
            leaf_max = strlen(leaves[i]);
    stride = strlen(m->root) + strlen(fmt) + DM_NAME_MAX + leaf_max + 1; /* a path's bound */
    if (total > ((size_t)-1 / 2) / (sizeof *files + cap + stride))
        return NULL;
    files = malloc(total * (sizeof *files + cap + stride));
    if (files == NULL)
        return NULL;
    bufs = (char *)(files + total);
    paths = bufs + total * cap;
    for (i = 0; i < total; i++) {
        char name[DM_NAME_MAX], *path = paths + i * stride;
        dm_error e;
        size_t k;
        int len;
        /* /sys/block spells a '/' in a device name (cciss/c0d0) as '!'. */
        for (k = 0; names[i / per_name][k] != '\0'; k++)
            name[k] = names[i / per_name][k] == '/' ? '!' : names[i / per_name][k];
        name[k] = '\0';
        len = snprintf(path, stride, "%s", m->root);
        len += snprintf(path + len, stride - (size_t)len, fmt, name, leaves[i % per_name]);
        dm_file_init_at(&files[i], path, bufs + i * cap, cap);
        if ((size_t)len >= stride || dm_file_read(&files[i], &e) != DM_OK) {
            free_files(&files, i + 1);
            return NULL;
        }
    }
    return files;
}

/* Sums the per-disk stat files as last read (read = 0, just after opening them) or read now;
   on any failure falls back to /proc/diskstats for good. */
static int sum_disk_files(dm_monitor *m, int read, uint64_t now[2])
{
    size_t i;
    dm_error e;
    uint64_t rd_sum = 0, wr_sum = 0;
    for (i = 0; i < m->disks.n; i++) {
        struct dm_file *f = &m->disk_stat[i];
        uint64_t rd, wr;
        if ((read && dm_file_read(f, &e) != DM_OK) ||
            dm_parse_block_stat(f->buf, f->len, &rd, &wr) != DM_OK) {
            free_files(&m->disk_stat, m->disks.n);
            return -1;
        }
        rd_sum += rd;
        wr_sum += wr;
    }
    now[0] = rd_sum * 512u;
    now[1] = wr_sum * 512u;
    return 0;
}

static int sum_net_files(dm_monitor *m, int read, uint64_t now[2])
{
    size_t i;
    dm_error e;
    uint64_t sum[2] = {0, 0};
    for (i = 0; i < 2 * m->ifaces.n; i++) {
        struct dm_file *f = &m->net_stat[i];
        uint64_t v;
        if ((read && dm_file_read(f, &e) != DM_OK) ||
            dm_parse_u64_file(f->buf, f->len, &v) != DM_OK) {
            free_files(&m->net_stat, 2 * m->ifaces.n);
            return -1;
        }
        sum[i % 2] += v;
    }
    now[0] = sum[0];
    now[1] = sum[1];
    return 0;
}

static void choose_disk_source(dm_monitor *m)
{
    static const char *const leaf[] = {"stat"};
    uint64_t now[2];
    m->disk_stat = open_device_files(m, m->disks.n, "/sys/block/%s/%s", m->disks.name, 1, leaf,
                                     DM_BLOCK_STAT_BUFFER);
    if (m->disk_stat != NULL)
        sum_disk_files(m, 0, now); /* drops them if one does not parse */
}

/* sysfs shows the interfaces of the namespace it was mounted in, which need not be this
   process's: use its counters only if they fall between two readings of /proc/net/dev. */
static void choose_net_source(dm_monitor *m)
{
    static const char *const leaves[] = {"rx_bytes", "tx_bytes"};
    uint64_t before[2], files[2], after[2];
    dm_error e;
    m->net_source_chosen = 1;
    if (m->ifaces.mode == DM_NET_ALL_BUT_LO)
        return; /* the set changes as interfaces come and go: net/dev sees them all */
    if (dm_netdev_sum(m->netdev.buf, m->netdev.len, &m->ifaces, &before[0], &before[1]) !=
        DM_OK)
        return;
    m->net_stat = open_device_files(m, m->ifaces.n, "/sys/class/net/%s/statistics/%s",
                                    m->ifaces.name, 2, leaves, DM_COUNTER_BUFFER);
    if (m->net_stat == NULL || sum_net_files(m, 0, files) != 0)
        return;
    if (dm_file_read(&m->netdev, &e) != DM_OK ||
        dm_netdev_sum(m->netdev.buf, m->netdev.len, &m->ifaces, &after[0], &after[1]) !=
            DM_OK ||
        files[0] < before[0] || files[1] < before[1] || files[0] > after[0] ||
        files[1] > after[1])
        free_files(&m->net_stat, 2 * m->ifaces.n);
}

/* On a host, count interfaces that are not virtual (bridges, veth, ifb repeat the traffic of
   the physical NIC); where there is none (a container's eth0 is a veth), count all but lo.
   More physical interfaces than a set holds is an error naming the limit, never a sum of the
   first ones. */
static int choose_ifaces(dm_monitor *m, dm_error *err)
{
    char path[4096];
    const char *buf = m->netdev.buf;
    size_t len = m->netdev.len, start = 0;
    int n, has_virtual_dir;

    n = snprintf(path, sizeof path, "%s/sys/devices/virtual/net", m->root);
    if (n < 0 || (size_t)n >= sizeof path)
        return DM_E_INVALID;
    has_virtual_dir = dm_is_dir(path);
    m->ifaces.mode = DM_NET_PHYSICAL;
    m->ifaces.n = 0;
    while (has_virtual_dir && start < len) {
        dm_netdev_line d;
        size_t line_len = 0;
        int r;
        while (start + line_len < len && buf[start + line_len] != '\n')
            line_len++;
        r = line_len == 0 ? DM_E_AGAIN : dm_parse_netdev_line(buf + start, line_len, &d);
        if (r == DM_E_PARSE) {
            m->ifaces.n = 0;
            dm_set_error(err, DM_E_PARSE, 0, m->netdev.path, "malformed net/dev line");
            return DM_E_PARSE;
        }
        if (r == DM_OK && !(d.name_len == 2 && memcmp(buf + start + d.name_off, "lo", 2) == 0)) {
            n = snprintf(path, sizeof path, "%s/sys/devices/virtual/net/%.*s", m->root,
                         (int)d.name_len, buf + start + d.name_off);
            if (n > 0 && (size_t)n < sizeof path && !dm_is_dir(path)) {
                if (m->ifaces.n == DM_MAX_IFACES) {
                    m->ifaces.n = 0;
                    dm_set_error(err, DM_E_UNSUPPORTED, 0, m->netdev.path,
                                 "more than 1024 physical interfaces (DM_MAX_IFACES): name "
                                 "the ones to count (interfaces=[...])");
                    return DM_E_UNSUPPORTED;
                }
                memcpy(m->ifaces.name[m->ifaces.n], buf + start + d.name_off, d.name_len);
                m->ifaces.name[m->ifaces.n][d.name_len] = '\0';
                m->ifaces.n++;
            }
        }
        start += line_len + 1;
    }
    if (m->ifaces.n == 0)
        m->ifaces.mode = DM_NET_ALL_BUT_LO;
    m->ifaces_chosen = 1;
    return DM_OK;
}

/* A user's list not yet checked against net/dev (it could not be read at open): a name it
   does not list is an error, not an interface that reads 0 B/s forever. */
static int check_user_list(dm_monitor *m, dm_error *err)
{
    size_t missing;
    if (dm_netdev_find_missing(m->netdev.buf, m->netdev.len, &m->ifaces, &missing) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->netdev.path, "malformed net/dev line");
        return DM_E_PARSE;
    }
    if (missing < m->ifaces.n) {
        dm_set_error(err, DM_E_UNSUPPORTED, 0, m->ifaces.name[missing],
                     "interface named in the list is not in /proc/net/dev");
        return DM_E_UNSUPPORTED;
    }
    m->ifaces_chosen = 1;
    return DM_OK;
}

/* ---- The readings ---------------------------------------------------------------------- */

static int read_cpu(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    dm_cpu_times t;
    int r;
    (void)now_ns;
    if ((r = dm_file_read(&m->stat, err)) != DM_OK)
        return r;
    if (dm_parse_proc_stat(m->stat.buf, m->stat.len, &t) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->stat.path,
                     "first line is not \"cpu\" followed by at least 4 counters");
        return DM_E_PARSE;
    }
    dm_cpu_busy_idle(&t, &c->v[0], &c->v[1]);
    c->source = m->stat.path;
    return DM_OK;
}

static int read_memory(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    dm_meminfo mi;
    int r;
    (void)now_ns;
    if ((r = dm_file_read(&m->meminfo, err)) != DM_OK)
        return r;
    if (dm_parse_meminfo(m->meminfo.buf, m->meminfo.len, &mi) != DM_OK ||
        dm_memory_percent(&mi, &c->level) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->meminfo.path,
                     "malformed line, or no MemTotal (or no MemAvailable/MemFree/Cached)");
        return DM_E_PARSE;
    }
    return DM_OK;
}

static int read_disk(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    int r;
    (void)now_ns;
    c->source = m->diskstats.path;
    if (m->disk_stat != NULL && sum_disk_files(m, 1, c->v) == 0)
        return DM_OK;
    /* Both sources count the same sectors: switching never makes a jump. */
    if ((r = dm_file_read(&m->diskstats, err)) != DM_OK)
        return r;
    if (!m->disks_chosen) {
        if ((r = dm_choose_disks(m, err)) != DM_OK)
            return r;
        choose_disk_source(m);
    }
    if (dm_diskstats_sum(m->diskstats.buf, m->diskstats.len, &m->disks, &c->v[0], &c->v[1]) !=
        DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->diskstats.path, "malformed diskstats line");
        return DM_E_PARSE;
    }
    return DM_OK;
}

static int read_network(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    int r;
    (void)now_ns;
    c->source = m->netdev.path;
    if (m->net_stat != NULL && sum_net_files(m, 1, c->v) == 0)
        return DM_OK;
    if ((r = dm_file_read(&m->netdev, err)) != DM_OK)
        return r;
    if (!m->ifaces_chosen && (r = choose_ifaces(m, err)) != DM_OK)
        return r;
    if (m->ifaces_chosen == DM_IFACES_UNCHECKED && (r = check_user_list(m, err)) != DM_OK)
        return r;
    if (!m->net_source_chosen) {
        choose_net_source(m);
        if (m->net_stat != NULL && sum_net_files(m, 0, c->v) == 0)
            return DM_OK;
    }
    if (dm_netdev_sum(m->netdev.buf, m->netdev.len, &m->ifaces, &c->v[0], &c->v[1]) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->netdev.path, "malformed net/dev line");
        return DM_E_PARSE;
    }
    return DM_OK;
}

const struct dm_reading dm_host_cpu = {DM_FIGURE_BUSY_PERCENT, read_cpu, NULL};
const struct dm_reading dm_host_memory = {DM_FIGURE_LEVEL, read_memory, NULL};
const struct dm_reading dm_host_disk = {DM_FIGURE_PER_SECOND, read_disk, NULL};
const struct dm_reading dm_host_network = {DM_FIGURE_PER_SECOND, read_network, NULL};

void dm_host_close(dm_monitor *m)
{
    free_files(&m->disk_stat, m->disks.n);
    free_files(&m->net_stat, 2 * m->ifaces.n);
    dm_disk_set_free(&m->disks);
}
