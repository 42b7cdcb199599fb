/* The Linux host monitor: /proc/stat, /proc/meminfo, /proc/diskstats and /proc/net/dev under a
   root prefix, read with pread into buffers sized at open. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "danube_metrics.h"
#include "dm_backend.h"
#include "dm_linux_internal.h"

#define SEQ_PAGE 4096       /* the smallest page: procfs's seq_file buffer is at least this */
#define SEQ_RECORD_MAX 1024 /* longer than any diskstats or net/dev line */

int64_t dm_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *dm_join_path(const char *root, const char *rel)
{
    size_t rlen = strlen(root), qlen = strlen(rel);
    char *p;
    while (rlen > 0 && root[rlen - 1] == '/')
        rlen--;
    p = malloc(rlen + qlen + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, root, rlen);
    memcpy(p + rlen, rel, qlen + 1);
    return p;
}

int dm_file_init(struct dm_file *f, const char *root, const char *rel, int whole)
{
    f->rel = rel;
    f->fd = -1;
    f->whole = whole;
    f->len = 0;
    f->cap = whole ? MIN_BUFFER : STAT_BUFFER;
    f->path = dm_join_path(root, rel);
    f->buf = malloc(f->cap);
    return f->path != NULL && f->buf != NULL ? DM_OK : DM_E_NOMEM;
}

void dm_file_free(struct dm_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f->buf);
    f->fd = -1;
    f->path = f->buf = NULL;
}

/* Reads the file from offset 0 into its buffer: the hot path (no allocation). procfs hands out
   at most about a page per read, cut at a line boundary, so a whole file is read in a loop
   until end of file; a file that fills the buffer is reported as DM_E_BUFFER. The descriptor
   stays open across samples; after an error it is closed and reopened on the next read, so a
   file that reappears is picked up. */
int dm_file_read(struct dm_file *f, dm_error *err)
{
    size_t got = 0;
    if (f->fd < 0) {
        struct stat st;
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0) {
            dm_set_error(err, DM_E_OS, errno, f->path, "cannot open");
            return DM_E_OS;
        }
        f->sized = fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    }
    while (got < f->cap) {
        ssize_t n = pread(f->fd, f->buf + got, f->cap - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(f->fd);
            f->fd = -1;
            dm_set_error(err, DM_E_OS, e, f->path, "cannot read");
            return DM_E_OS;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (!f->whole)
            break; /* the first line of /proc/stat is in the first read */
        /* procfs fills each read from a page-sized buffer, one record (line) at a time, so a
           read that left more than a long line of that page unused has reached the end; a
           file with a size ends at its first short read. This saves a read per file. */
        if ((size_t)n < f->cap - (got - (size_t)n) &&
            (f->sized || (size_t)n <= SEQ_PAGE - SEQ_RECORD_MAX))
            break;
    }
    f->len = got;
    if (f->whole && f->len == f->cap) {
        dm_set_error(err, DM_E_BUFFER, 0, f->path, "file larger than its buffer");
        return DM_E_BUFFER;
    }
    return DM_OK;
}

/* Enlarges a whole-file buffer until the file fits with room to grow (open and grow only). */
int dm_file_fit(struct dm_file *f, dm_error *err)
{
    int r;
    while ((r = dm_file_read(f, err)) == DM_E_BUFFER) {
        char *bigger = realloc(f->buf, f->cap * 2);
        if (bigger == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, f->path, "out of memory");
            return DM_E_NOMEM;
        }
        f->buf = bigger;
        f->cap *= 2;
    }
    if (r == DM_OK && f->len * 2 > f->cap) {
        char *bigger = realloc(f->buf, f->cap * 2);
        if (bigger != NULL) {
            f->buf = bigger;
            f->cap *= 2;
        }
    }
    return r;
}

static int choose_disks(dm_monitor *m, dm_error *err)
{
    if (dm_diskstats_select(m->diskstats.buf, m->diskstats.len, &m->disks) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->diskstats.path, "malformed diskstats line");
        return DM_E_PARSE;
    }
    m->disks_chosen = 1;
    return DM_OK;
}

/* ---- Per-device sysfs sources ----------------------------------------------------------- */

static void free_files(struct dm_file **files, size_t n)
{
    size_t i;
    if (*files == NULL)
        return;
    for (i = 0; i < n; i++)
        dm_file_free(&(*files)[i]);
    free(*files);
    *files = NULL;
}

/* Opens `n` files named by fmt and names[i] under the root; NULL unless every one reads. */
static struct dm_file *open_device_files(const dm_monitor *m, size_t n, const char *fmt,
                                         const char (*names)[DM_NAME_MAX], size_t per_name,
                                         const char *const *leaves)
{
    struct dm_file *files;
    size_t i, total = n * per_name;
    if (total == 0 || (files = calloc(total, sizeof *files)) == NULL)
        return NULL;
    for (i = 0; i < total; i++)
        files[i].fd = -1;
    for (i = 0; i < total; i++) {
        char rel[160], name[DM_NAME_MAX];
        dm_error e;
        size_t k;
        /* /sys/block spells a '/' in a device name (cciss/c0d0) as '!'. */
        for (k = 0; names[i / per_name][k] != '\0'; k++)
            name[k] = names[i / per_name][k] == '/' ? '!' : names[i / per_name][k];
        name[k] = '\0';
        snprintf(rel, sizeof rel, fmt, name, leaves[i % per_name]);
        if (dm_file_init(&files[i], m->root, rel, 1) != DM_OK ||
            dm_file_read(&files[i], &e) != DM_OK) {
            free_files(&files, total);
            return NULL;
        }
        files[i].rel = NULL; /* `rel` is this stack buffer */
    }
    return files;
}

/* Sums the per-disk stat files; on any failure falls back to /proc/diskstats for good. */
static int sum_disk_files(dm_monitor *m, uint64_t now[2])
{
    size_t i;
    dm_error e;
    now[0] = now[1] = 0;
    for (i = 0; i < m->disks.n; i++) {
        uint64_t rd, wr;
        if (dm_file_read(&m->disk_stat[i], &e) != DM_OK ||
            dm_parse_block_stat(m->disk_stat[i].buf, m->disk_stat[i].len, &rd, &wr) != DM_OK) {
            free_files(&m->disk_stat, m->disks.n);
            return -1;
        }
        now[0] += rd * 512u;
        now[1] += wr * 512u;
    }
    return 0;
}

static int sum_net_files(dm_monitor *m, uint64_t now[2])
{
    size_t i;
    dm_error e;
    now[0] = now[1] = 0;
    for (i = 0; i < 2 * m->ifaces.n; i++) {
        uint64_t v;
        if (dm_file_read(&m->net_stat[i], &e) != DM_OK ||
            dm_parse_u64_file(m->net_stat[i].buf, m->net_stat[i].len, &v) != DM_OK) {
            free_files(&m->net_stat, 2 * m->ifaces.n);
            return -1;
        }
        now[i % 2] += v;
    }
    return 0;
}

static void choose_disk_source(dm_monitor *m)
{
    static const char *const leaf[] = {"stat"};
    uint64_t now[2];
    m->disk_stat =
        open_device_files(m, m->disks.n, "/sys/block/%s/%s", m->disks.name, 1, leaf);
    if (m->disk_stat != NULL)
        sum_disk_files(m, now); /* drops them if one does not parse */
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
                                    m->ifaces.name, 2, leaves);
    if (m->net_stat == NULL || sum_net_files(m, files) != 0)
        return;
    if (dm_file_read(&m->netdev, &e) != DM_OK ||
        dm_netdev_sum(m->netdev.buf, m->netdev.len, &m->ifaces, &after[0], &after[1]) !=
            DM_OK ||
        files[0] < before[0] || files[1] < before[1] || files[0] > after[0] ||
        files[1] > after[1])
        free_files(&m->net_stat, 2 * m->ifaces.n);
}

int dm_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* On a host, count interfaces that are not virtual (bridges, veth, ifb repeat the traffic of
   the physical NIC); where there is none (a container's eth0 is a veth), count all but lo. */
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
        while (start + line_len < len && buf[start + line_len] != '\n')
            line_len++;
        if (dm_parse_netdev_line(buf + start, line_len, &d) == DM_OK &&
            !(d.name_len == 2 && memcmp(buf + start + d.name_off, "lo", 2) == 0)) {
            n = snprintf(path, sizeof path, "%s/sys/devices/virtual/net/%.*s", m->root,
                         (int)d.name_len, buf + start + d.name_off);
            if (n > 0 && (size_t)n < sizeof path && !dm_is_dir(path) &&
                m->ifaces.n < DM_MAX_IFACES) {
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
    (void)err;
    return DM_OK;
}

int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err)
{
    dm_monitor *m;
    const char *root;
    int r, readable = 0;
    dm_error first = {DM_OK, 0, NULL, NULL}, e;
    dm_sample baseline;

    if ((r = dm_check_options(opts, (dm_monitor *const *)out, 1, NULL, err)) != DM_OK)
        return r;
    root = opts->root != NULL ? opts->root : "";
    m = calloc(1, sizeof *m);
    if (m == NULL) {
        dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        return DM_E_NOMEM;
    }
    dm_head_init(m);
    m->kind = opts->kind == DM_KIND_CGROUP ? DM_KIND_CGROUP : DM_KIND_HOST;
    m->min_interval_ns = opts->min_interval_ns;
    m->stat.fd = m->meminfo.fd = m->diskstats.fd = m->netdev.fd = -1;
    dm_cgroup_init(m);
    m->root = dm_join_path(root, "");
    if (m->root == NULL || dm_file_init(&m->stat, root, "/proc/stat", 0) != DM_OK ||
        dm_file_init(&m->meminfo, root, "/proc/meminfo", 1) != DM_OK ||
        dm_file_init(&m->diskstats, root, "/proc/diskstats", 1) != DM_OK ||
        dm_file_init(&m->netdev, root, "/proc/net/dev", 1) != DM_OK) {
        dm_monitor_close(m);
        dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        return DM_E_NOMEM;
    }
    if (opts->interfaces != NULL && opts->interfaces[0] != '\0') {
        if (dm_iface_set_from_list(opts->interfaces, &m->ifaces) != DM_OK) {
            dm_monitor_close(m);
            dm_set_error(err, DM_E_INVALID, 0, NULL,
                      "bad interface list (comma-separated names, at most 64, each < 32 bytes)");
            return DM_E_INVALID;
        }
        m->ifaces_chosen = 1;
    }
    /* Size the whole-file buffers, then take the baseline of every metric. A file that cannot
       be read now is retried at each sample; only a root where nothing is readable fails. */
    {
        struct dm_file *files[] = {&m->stat, &m->meminfo, &m->diskstats, &m->netdev};
        size_t i;
        for (i = 0; i < sizeof files / sizeof files[0]; i++) {
            if (m->kind == DM_KIND_CGROUP && (files[i] == &m->stat || files[i] == &m->diskstats))
                continue; /* the cgroup's own files replace these */
            r = files[i]->whole ? dm_file_fit(files[i], &e) : dm_file_read(files[i], &e);
            if (r == DM_E_NOMEM)
                return dm_fail_open(m, opts, e, err);
            if (r == DM_OK)
                readable++;
            else if (first.code == DM_OK)
                first = e;
        }
    }
    if (readable == 0)
        return dm_fail_open(m, opts, first, err);
    if (m->kind == DM_KIND_CGROUP && (r = dm_cgroup_open(m, &e)) != DM_OK)
        return dm_fail_open(m, opts, e, err);
    dm_backend_sample_at(m, DM_ALL, opts->start_ns != 0 ? opts->start_ns : dm_monotonic_ns(),
                         &baseline);
    *out = m;
    return DM_OK;
}

void dm_monitor_close(dm_monitor *m)
{
    if (m == NULL)
        return;
    dm_file_free(&m->stat);
    dm_file_free(&m->meminfo);
    dm_file_free(&m->diskstats);
    dm_file_free(&m->netdev);
    free_files(&m->disk_stat, m->disks.n);
    free_files(&m->net_stat, 2 * m->ifaces.n);
    dm_cgroup_close(m);
    free(m->root);
    dm_head_destroy(m);
    free(m);
}

int dm_backend_grow(dm_monitor *m, unsigned metrics, dm_error *err)
{
    int r = DM_OK;
    if (m->kind == DM_KIND_CGROUP) {
        r = dm_cgroup_grow(m, metrics & ~(unsigned)DM_NETWORK, err);
        metrics &= DM_NETWORK; /* the cgroup monitor shares only net/dev with the host's */
    }
    if ((metrics & DM_CPU) && r == DM_OK)
        r = dm_file_fit(&m->stat, err);
    if ((metrics & DM_MEMORY) && r == DM_OK)
        r = dm_file_fit(&m->meminfo, err);
    if ((metrics & DM_DISK) && r == DM_OK)
        r = dm_file_fit(&m->diskstats, err);
    if ((metrics & DM_NETWORK) && r == DM_OK)
        r = dm_file_fit(&m->netdev, err);
    return r;
}

static int sample_cpu(dm_monitor *m, int64_t now_ns, dm_sample *out)
{
    dm_cpu_times t;
    uint64_t busy, idle;
    const char *detail = NULL;
    double last[2];
    int r;
    if (dm_rate_reuse(&m->cpu_rate, now_ns, m->min_interval_ns, last)) {
        out->cpu_percent = last[0]; /* within the minimum interval: nothing to read */
        return DM_OK;
    }
    r = dm_file_read(&m->stat, &out->cpu);
    if (r != DM_OK)
        return r;
    if (dm_parse_proc_stat(m->stat.buf, m->stat.len, &t) != DM_OK) {
        dm_set_error(&out->cpu, DM_E_PARSE, 0, m->stat.path,
                  "first line is not \"cpu\" followed by at least 4 counters");
        return DM_E_PARSE;
    }
    dm_cpu_busy_idle(&t, &busy, &idle);
    r = dm_rate_busy_percent(&m->cpu_rate, busy, idle, now_ns, m->min_interval_ns,
                             &out->cpu_percent, &detail);
    if (r != DM_OK)
        dm_set_error(&out->cpu, r, 0, m->stat.path, detail);
    return r;
}

static int sample_memory(dm_monitor *m, int64_t now_ns, dm_sample *out)
{
    if (dm_level_reuse(&m->memory_level, now_ns, m->min_interval_ns, &out->memory_percent))
        return DM_OK;
    dm_meminfo mi;
    int r = dm_file_read(&m->meminfo, &out->memory);
    if (r != DM_OK)
        return r;
    if (dm_parse_meminfo(m->meminfo.buf, m->meminfo.len, &mi) != DM_OK ||
        dm_memory_percent(&mi, &out->memory_percent) != DM_OK) {
        dm_set_error(&out->memory, DM_E_PARSE, 0, m->meminfo.path,
                  "malformed line, or no MemTotal (or no MemAvailable/MemFree/Cached)");
        return DM_E_PARSE;
    }
    dm_level_keep(&m->memory_level, now_ns, out->memory_percent);
    return DM_OK;
}

static int sample_disk(dm_monitor *m, int64_t now_ns, dm_sample *out)
{
    uint64_t now[2];
    double rate[2];
    const char *detail = NULL, *path = m->diskstats.path;
    int r;
    if (dm_rate_reuse(&m->disk_rate, now_ns, m->min_interval_ns, rate))
        goto have_rate;
    if (m->disk_stat == NULL || sum_disk_files(m, now) != 0) {
        /* Both sources count the same sectors: switching never makes a jump. */
        if ((r = dm_file_read(&m->diskstats, &out->disk)) != DM_OK)
            return r;
        if (!m->disks_chosen) {
            if ((r = choose_disks(m, &out->disk)) != DM_OK)
                return r;
            choose_disk_source(m);
        }
        if (dm_diskstats_sum(m->diskstats.buf, m->diskstats.len, &m->disks, &now[0],
                             &now[1]) != DM_OK) {
            dm_set_error(&out->disk, DM_E_PARSE, 0, path, "malformed diskstats line");
            return DM_E_PARSE;
        }
    }
    r = dm_rate_per_second(&m->disk_rate, now, now_ns, m->min_interval_ns, rate, &detail);
    if (r != DM_OK) {
        dm_set_error(&out->disk, r, 0, path, detail);
        return r;
    }
have_rate:
    out->disk_read_bytes_per_sec = rate[0];
    out->disk_write_bytes_per_sec = rate[1];
    return DM_OK;
}

static int sample_network(dm_monitor *m, int64_t now_ns, dm_sample *out)
{
    uint64_t now[2];
    double rate[2];
    const char *detail = NULL, *path = m->netdev.path;
    int r;
    if (dm_rate_reuse(&m->net_rate, now_ns, m->min_interval_ns, rate))
        goto have_rate;
    if (m->net_stat == NULL || sum_net_files(m, now) != 0) {
        if ((r = dm_file_read(&m->netdev, &out->network)) != DM_OK)
            return r;
        if (!m->ifaces_chosen && (r = choose_ifaces(m, &out->network)) != DM_OK)
            return r;
        if (!m->net_source_chosen) {
            choose_net_source(m);
            if (m->net_stat != NULL && sum_net_files(m, now) == 0)
                goto have_counters;
        }
        if (dm_netdev_sum(m->netdev.buf, m->netdev.len, &m->ifaces, &now[0], &now[1]) !=
            DM_OK) {
            dm_set_error(&out->network, DM_E_PARSE, 0, path, "malformed net/dev line");
            return DM_E_PARSE;
        }
    }
have_counters:
    r = dm_rate_per_second(&m->net_rate, now, now_ns, m->min_interval_ns, rate, &detail);
    if (r != DM_OK) {
        dm_set_error(&out->network, r, 0, path, detail);
        return r;
    }
have_rate:
    out->net_rx_bytes_per_sec = rate[0];
    out->net_tx_bytes_per_sec = rate[1];
    return DM_OK;
}

int dm_backend_sample_at(dm_monitor *m, unsigned metrics, int64_t now_ns, dm_sample *out)
{
    static const dm_metric_sampler host[4] = {sample_cpu, sample_memory, sample_disk,
                                              sample_network};
    static const dm_metric_sampler cgroup[4] = {dm_cgroup_sample_cpu, dm_cgroup_sample_memory,
                                                dm_cgroup_sample_disk, sample_network};
    return dm_sample_metrics(m, metrics, now_ns, out, m->kind == DM_KIND_CGROUP ? cgroup : host);
}

int dm_monitor_kind(const dm_monitor *m) { return m != NULL ? m->kind : 0; }

int dm_backend_environment(dm_monitor *m, dm_environment *out)
{
    const struct dm_cgroup *cg;
    out->kind = m->kind;
    if (m->kind != DM_KIND_CGROUP) {
        /* The whole machine: every online CPU and MemTotal (as last read). */
        dm_meminfo mi;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        out->online_cpus = n > 0 ? (uint32_t)n : 1;
        out->cpu_limit_cores = (double)out->online_cpus;
        if (dm_parse_meminfo(m->meminfo.buf, m->meminfo.len, &mi) == DM_OK)
            out->memory_total_bytes = mi.total;
        return DM_OK;
    }
    cg = &m->cg;
    out->cgroup_version = cg->version;
    out->cgroup_path = cg->path;
    out->cgroup_dir = cg->dir;
    out->cpu_limit_cores = cg->cpu_limit_cores;
    out->cpu_quota_cores = cg->quota_cores;
    out->cpuset_cpus = cg->cpuset_cpus;
    out->online_cpus = cg->online_cpus;
    out->memory_limit_bytes = cg->memory_limit == UINT64_MAX ? 0 : cg->memory_limit;
    out->memory_total_bytes =
        cg->memory_limit < cg->host_mem_total ? cg->memory_limit : cg->host_mem_total;
    return DM_OK;
}
int64_t dm_monitor_min_interval_ns(const dm_monitor *m) { return m->min_interval_ns; }
size_t dm_backend_disk_count(const dm_monitor *m) { return m->disks_chosen ? m->disks.n : 0; }
const char *dm_backend_disk_name(const dm_monitor *m, size_t i)
{
    return m->disks_chosen && i < m->disks.n ? m->disks.name[i] : NULL;
}
int dm_backend_net_mode(const dm_monitor *m) { return m->ifaces_chosen ? m->ifaces.mode : 0; }
size_t dm_backend_iface_count(const dm_monitor *m) { return m->ifaces_chosen ? m->ifaces.n : 0; }
const char *dm_backend_iface_name(const dm_monitor *m, size_t i)
{
    return m->ifaces_chosen && i < m->ifaces.n ? m->ifaces.name[i] : NULL;
}

size_t dm_backend_sample_files(const dm_monitor *m, unsigned metrics, const char **paths,
                               size_t cap)
{
    const struct dm_file *files[8];
    size_t n = 0, i, j;
    if (m->kind == DM_KIND_CGROUP) {
        if (metrics & DM_CPU)
            files[n++] = &m->cg.cpu_usage;
        if (metrics & DM_MEMORY) {
            files[n++] = &m->cg.mem_usage;
            files[n++] = &m->cg.mem_stat;
        }
        if ((metrics & DM_DISK) && m->cg.has_io)
            files[n++] = &m->cg.io;
    } else {
        if (metrics & DM_CPU)
            files[n++] = &m->stat;
        if (metrics & DM_MEMORY)
            files[n++] = &m->meminfo;
        if ((metrics & DM_DISK) && m->disk_stat == NULL)
            files[n++] = &m->diskstats;
    }
    if ((metrics & DM_NETWORK) && m->net_stat == NULL)
        files[n++] = &m->netdev;
    for (i = 0; i < n && i < cap; i++)
        paths[i] = files[i]->path;
    /* The per-device files, where they are in use. */
    if ((metrics & DM_DISK) && m->kind != DM_KIND_CGROUP && m->disk_stat != NULL)
        for (j = 0; j < m->disks.n; j++, n++)
            if (n < cap)
                paths[n] = m->disk_stat[j].path;
    if ((metrics & DM_NETWORK) && m->net_stat != NULL)
        for (j = 0; j < 2 * m->ifaces.n; j++, n++)
            if (n < cap)
                paths[n] = m->net_stat[j].path;
    return n;
}
