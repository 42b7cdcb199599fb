/* The Linux monitor of either kind: opens it (the host's files, and for the cgroup kind the
   process's cgroup), picks its readings (dm_host.c, dm_cgroup.c), and answers the backend's
   side of the public calls. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_linux.h"

/* A user's list names interfaces of /proc/net/dev as it is at open: an unknown name (a typo)
   fails the open, naming it, instead of reading 0 B/s forever. The message is written into the
   caller's error_path buffer, which outlives the monitor. */
static int check_interfaces(dm_monitor *m, const dm_options *opts, dm_error *e)
{
    size_t missing;
    int r = dm_netdev_find_missing(m->netdev.buf, m->netdev.len, &m->ifaces, &missing);
    if (r != DM_OK) {
        dm_set_error(e, DM_E_PARSE, 0, m->netdev.path, "malformed net/dev line");
        return DM_E_PARSE;
    }
    if (missing == m->ifaces.n) {
        m->ifaces_chosen = 1;
        return DM_OK;
    }
    if (opts->error_path != NULL && opts->error_path_len > 0) {
        snprintf(opts->error_path, opts->error_path_len, "interface \"%s\" is not in %s",
                 m->ifaces.name[missing], m->netdev.path);
        dm_set_error(e, DM_E_INVALID, 0, NULL, opts->error_path);
    } else {
        dm_set_error(e, DM_E_INVALID, 0, NULL, "an interface named is not in /proc/net/dev");
    }
    return DM_E_INVALID;
}

int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err)
{
    static const struct dm_reading *const host_readings[DM_READINGS] = {
        &dm_host_cpu, &dm_host_memory, &dm_host_disk, &dm_host_network};
    dm_monitor *m;
    const char *root;
    int r, readable = 0;
    dm_error first = {DM_OK, 0, NULL, NULL}, e;

    if ((r = dm_check_options(opts, (dm_monitor *const *)out, 1, NULL, err)) != DM_OK)
        return r;
    root = opts->root != NULL ? opts->root : "";
    m = dm_monitor_new(sizeof *m, opts->kind == DM_KIND_CGROUP ? DM_KIND_CGROUP : DM_KIND_HOST,
                       opts, host_readings, err);
    if (m == NULL)
        return DM_E_NOMEM;
    m->stat.fd = m->meminfo.fd = m->diskstats.fd = m->netdev.fd = -1;
    dm_cgroup_init(m);
    dm_pressure_init(m);
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
                         "bad interface list (comma-separated names, at most 1024, each of "
                         "1 to 15 bytes without '/', blanks or control bytes, not . or ..)");
            return DM_E_INVALID;
        }
        m->ifaces_chosen = 2; /* checked against net/dev below, or at its first good read */
    }
    /* Size the whole-file buffers, then take the baseline of every metric. A file that cannot
       be read now is retried at each sample; only a root where nothing is readable fails. */
    {
        struct dm_file *files[] = {&m->stat, &m->meminfo, &m->diskstats, &m->netdev};
        size_t i;
        for (i = 0; i < sizeof files / sizeof files[0]; i++) {
            /* The cgroup's own files replace /proc/stat; /proc/diskstats still tells which of
               its devices are whole disks. */
            if (m->head.kind == DM_KIND_CGROUP && files[i] == &m->stat)
                continue;
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
    if (m->ifaces_chosen == 2 && m->netdev.len > 0 &&
        (r = check_interfaces(m, opts, &e)) != DM_OK)
        return dm_fail_open(m, opts, e, err);
    if (m->head.kind == DM_KIND_CGROUP) {
        if ((r = dm_cgroup_open(m, &e)) != DM_OK)
            return dm_fail_open(m, opts, e, err);
        /* The network stays the host's: a container's net/dev is its own namespace's. */
        m->head.reading[0] = &dm_cgroup_cpu;
        m->head.reading[1] = &dm_cgroup_memory;
        m->head.reading[2] = &dm_cgroup_disk;
        m->head.pressure[DM_PRESSURE_PERIODS] = &dm_cgroup_throttled_periods;
        m->head.pressure[DM_PRESSURE_THROTTLED_TIME] = &dm_cgroup_throttled_time;
    } else {
        m->head.pressure[DM_PRESSURE_PERIODS] = &dm_host_no_throttling;
        m->head.pressure[DM_PRESSURE_THROTTLED_TIME] = &dm_host_no_throttling;
    }
    if ((r = dm_pressure_open(m, &e)) != DM_OK)
        return dm_fail_open(m, opts, e, err);
    m->head.pressure[DM_PRESSURE_CPU] = &dm_psi_cpu;
    m->head.pressure[DM_PRESSURE_MEMORY] = &dm_psi_memory;
    m->head.pressure[DM_PRESSURE_IO] = &dm_psi_io;
    dm_take_baseline(m, opts, &e); /* a reading that fails now is retried at each sample */
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
    dm_host_close(m);
    dm_cgroup_close(m);
    dm_pressure_close(m);
    free(m->root);
    dm_head_destroy(m);
    free(m);
}

int dm_backend_grow(dm_monitor *m, unsigned metrics, dm_error *err)
{
    int r = DM_OK;
    if (metrics & DM_PRESSURE) {
        r = dm_pressure_grow(m, err);
        metrics &= ~(unsigned)DM_PRESSURE;
        if (r == DM_OK && m->head.kind == DM_KIND_CGROUP)
            r = dm_cgroup_grow(m, DM_PRESSURE, err);
        if (r != DM_OK)
            return r;
    }
    if (m->head.kind == DM_KIND_CGROUP) {
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

int dm_backend_environment(dm_monitor *m, dm_environment *out)
{
    const struct dm_cgroup *cg;
    out->kind = m->head.kind;
    if (m->head.kind != DM_KIND_CGROUP) {
        /* The whole machine: every online CPU and MemTotal (as last read). */
        dm_meminfo mi;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        out->online_cpus = n > 0 ? (uint32_t)n : 1;
        out->cpu_limit_cores = (double)out->online_cpus;
        if (dm_parse_meminfo(m->meminfo.buf, m->meminfo.len, &mi) == DM_OK)
            out->memory_total_bytes = mi.total;
        out->pressure_note = dm_pressure_note(m);
        out->throttling_note = dm_host_throttling_note();
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
    out->disk_note = dm_cgroup_disk_note(m);
    out->pressure_note = dm_pressure_note(m);
    out->throttling_note = dm_cgroup_throttling_note(m);
    return DM_OK;
}
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
    const struct dm_file *files[16];
    size_t n = 0, i, j;
    if (metrics & DM_PRESSURE) {
        n = dm_pressure_files(m, files);
        if (m->head.kind == DM_KIND_CGROUP && dm_cgroup_throttling_file(m) != NULL)
            files[n++] = dm_cgroup_throttling_file(m);
    }
    if (m->head.kind == DM_KIND_CGROUP) {
        if (metrics & DM_CPU)
            files[n++] = &m->cg.cpu_usage;
        if (metrics & DM_MEMORY) {
            files[n++] = &m->cg.mem_usage;
            files[n++] = &m->cg.mem_stat;
        }
        if ((metrics & DM_DISK) && m->cg.has_io) {
            files[n++] = &m->cg.io;
            if (m->cg.version == 1 && m->cg.io_verdict != DM_IO_COUNTING) {
                if (m->cg.has_io_top)
                    files[n++] = &m->cg.io_top; /* read until blkio is seen to count */
                files[n++] = &m->diskstats;
            }
        }
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
    if ((metrics & DM_DISK) && m->head.kind != DM_KIND_CGROUP && m->disk_stat != NULL)
        for (j = 0; j < m->disks.n; j++, n++)
            if (n < cap)
                paths[n] = m->disk_stat[j].path;
    if ((metrics & DM_NETWORK) && m->net_stat != NULL)
        for (j = 0; j < 2 * m->ifaces.n; j++, n++)
            if (n < cap)
                paths[n] = m->net_stat[j].path;
    return n;
}
