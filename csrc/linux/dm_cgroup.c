/* The cgroup monitor: the process's own cgroup (v1, v2 or hybrid), measured against the
   tightest limits on its path (docs/semantics.md, "CPU in a container", "Memory in a
   container", "Finding the process's own cgroup"). Paths are resolved and files opened at
   open; a sample only preads. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dm_linux.h"

#define DM_LIMITS_REFRESH_NS (5 * (int64_t)1000000000)
#define LIMIT_BUFFER 128
#define NO_LIMIT_FROM ((uint64_t)1 << 62) /* v1 "unlimited" is PAGE_COUNTER_MAX * page size */

/* Reads a whole open-time file (/proc/self/cgroup, mountinfo) to its real end of file: its
   lines may be long (overlay mounts with many layers), so no short read is taken as the end
   (docs/semantics.md, "Reading files (Linux)"). */
static int read_small(const char *root, const char *rel, struct dm_file *f, dm_error *err)
{
    int r = dm_file_init_to_eof(f, root, rel);
    if (r != DM_OK) {
        dm_set_error(err, r, 0, rel, "out of memory");
        return r;
    }
    return dm_file_fit(f, err);
}

/* The directory of one controller's hierarchy for this process: mount point + (cgroup path
   with the mount's root stripped, docs/semantics.md, "Finding the process's own cgroup").
   Without a cgroup namespace (docker on v1, plain runc) the mount root is the container's own
   path and must not be added twice. DM_E_AGAIN: the controller is not in /proc/self/cgroup or
   not mounted; any other error (in err) fails the open: a cgroup outside the mount, or
   mountinfo's cgroup line malformed, would otherwise measure another directory. */
static int controller_dir(const char *root, const struct dm_file *cgroup_file,
                          const dm_proc_cgroup *pc, const struct dm_file *mountinfo,
                          int controller, char **dir_out, char **mount_dir, dm_error *err)
{
    dm_mountinfo_line mi;
    dm_mountinfo_scan scan;
    const char *path = cgroup_file->buf + pc->path[controller].off, *why = NULL;
    size_t path_len = pc->path[controller].len, root_len, mp_len, rel_off = 0, rel_len = 0;
    char *mount_point = NULL, *mount_root = NULL, *dir = NULL;
    size_t root_prefix = strlen(root);
    int r;

    *dir_out = *mount_dir = NULL;
    if (!pc->path[controller].found)
        return DM_E_AGAIN;
    r = dm_mountinfo_search(mountinfo->buf, mountinfo->len, controller, &mi, &scan);
    if (r == DM_E_AGAIN)
        return r;
    if (r != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, mountinfo->path,
                     "a malformed line that may be a cgroup mount (or holds a NUL): the "
                     "process's cgroup mount cannot be told");
        return DM_E_PARSE;
    }
    /* Unescaping never lengthens: buffers of the escaped length hold any path. */
    mount_point = malloc(mi.mount_point.len + 1);
    mount_root = malloc(mi.root.len + 1);
    if (mount_point == NULL || mount_root == NULL) {
        r = DM_E_NOMEM;
        dm_set_error(err, r, 0, NULL, "out of memory");
        goto out;
    }
    if (dm_unescape_mount_path(mountinfo->buf + mi.mount_point.off, mi.mount_point.len,
                               mount_point, mi.mount_point.len + 1, &mp_len) != DM_OK ||
        dm_unescape_mount_path(mountinfo->buf + mi.root.off, mi.root.len, mount_root,
                               mi.root.len + 1, &root_len) != DM_OK) {
        r = DM_E_PARSE;
        dm_set_error(err, r, 0, mountinfo->path, "a cgroup mount's path holds a NUL (\\000)");
        goto out;
    }
    r = dm_cgroup_subpath(path, path_len, mount_root, root_len, &rel_off, &rel_len, &why);
    if (r != DM_OK) {
        /* The file the sentence names: a path of /proc/self/cgroup, or mountinfo's root. */
        dm_set_error(err, r, 0,
                     strstr(why, "mountinfo") != NULL && strstr(why, "/proc/self/cgroup") == NULL
                         ? mountinfo->path
                         : cgroup_file->path,
                     why);
        goto out;
    }
    while (root_prefix > 0 && root[root_prefix - 1] == '/')
        root_prefix--;
    while (mp_len > 1 && mount_point[mp_len - 1] == '/')
        mp_len--;
    if (mp_len == 1 && mount_point[0] == '/')
        mp_len = 0; /* cgroupfs mounted on "/" itself */
    dir = malloc(root_prefix + mp_len + rel_len + 2);
    *mount_dir = malloc(root_prefix + mp_len + 2);
    if (dir == NULL || *mount_dir == NULL) {
        free(dir);
        free(*mount_dir);
        *mount_dir = NULL;
        r = DM_E_NOMEM;
        dm_set_error(err, r, 0, NULL, "out of memory");
        goto out;
    }
    memcpy(dir, root, root_prefix);
    memcpy(dir + root_prefix, mount_point, mp_len);
    if (root_prefix + mp_len == 0)
        dir[mp_len++] = '/';
    memcpy(*mount_dir, dir, root_prefix + mp_len);
    (*mount_dir)[root_prefix + mp_len] = '\0';
    /* rel is empty or starts with '/' */
    if (rel_len > 0 && root_prefix + mp_len == 1 && dir[0] == '/')
        mp_len--; /* "/" + "/a" */
    memcpy(dir + root_prefix + mp_len, path + rel_off, rel_len);
    dir[root_prefix + mp_len + rel_len] = '\0';
    *dir_out = dir;
    r = DM_OK;
out:
    free(mount_point);
    free(mount_root);
    return r;
}

/* Opens dir/name as f; returns DM_OK, or the error (file absent etc.). */
static int open_in(struct dm_file *f, const char *dir, const char *name, int whole, size_t cap,
                   dm_error *err)
{
    int r = dm_file_init(f, dir, name, whole);
    if (r != DM_OK) {
        dm_set_error(err, r, 0, NULL, "out of memory");
        return r;
    }
    if (cap > 0 && cap != f->cap) {
        char *b = realloc(f->buf, cap);
        if (b == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, f->path, "out of memory");
            return DM_E_NOMEM;
        }
        f->buf = b;
        f->cap = cap;
    }
    return whole ? dm_file_fit(f, err) : dm_file_read(f, err);
}

/* Limit files on every level from `dir` up to `mount_dir`, deepest first; a level without the
   file (the v2 root has no cpu.max) is skipped. A file that exists but cannot be read now is
   kept: its reading then fails naming it, as a malformed one does. More levels with the file
   than the table holds fail the open (an error naming the limit), never a limit dropped. */
static int open_levels(const char *dir, const char *mount_dir, const char *name,
                       struct dm_file *files, size_t *n, dm_error *err)
{
    size_t len = strlen(dir), mlen = strlen(mount_dir);
    char *level = malloc(len + 1), rel[64];
    int r = DM_OK;
    *n = 0;
    if (level == NULL) {
        dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        return DM_E_NOMEM;
    }
    memcpy(level, dir, len + 1);
    snprintf(rel, sizeof rel, "/%s", name);
    for (;;) {
        dm_error e;
        struct dm_file probe, *f = *n < DM_CG_MAX_DEPTH ? &files[*n] : &probe;
        int got;
        probe.fd = -1;
        got = open_in(f, level, rel, 1, LIMIT_BUFFER, &e);
        if (got == DM_E_NOMEM) {
            dm_file_free(f);
            dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
            r = DM_E_NOMEM;
            break;
        }
        if (got != DM_OK && e.code == DM_E_OS && (e.os_errno == ENOENT || e.os_errno == ENOTDIR)) {
            dm_file_free(f); /* no such file on this level */
        } else if (f == &probe) {
            dm_file_free(f);
            /* Named by a file the monitor owns, the deepest level's. */
            dm_set_error(err, DM_E_UNSUPPORTED, 0, files[0].path,
                         "more than 32 levels hold this limit file between the cgroup and its "
                         "mount: deeper than the monitor reads (DM_CG_MAX_DEPTH)");
            r = DM_E_UNSUPPORTED;
            break;
        } else {
            f->rel = NULL; /* `rel` is this stack buffer */
            (*n)++;
        }
        if (len <= mlen)
            break;
        while (len > mlen && level[len - 1] != '/')
            len--;
        if (len > mlen)
            len--; /* drop the slash */
        level[len] = '\0';
    }
    free(level);
    return r;
}

static int read_cpu_list(struct dm_file *f, uint32_t *count, dm_error *err)
{
    int r = dm_file_read(f, err);
    if (r != DM_OK)
        return r;
    if (dm_parse_cpu_list(f->buf, f->len, count) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, f->path, "malformed CPU list");
        return DM_E_PARSE;
    }
    return DM_OK;
}

/* CPU limits: the tightest quota on the path, the cpuset, the online CPUs. */
static int refresh_cpu_limits(dm_monitor *m, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    double cores = 0.0, limit;
    size_t i, level = DM_NO_LEVEL;
    int r;

    for (i = 0; i < cg->cpu_levels; i++) {
        uint64_t quota, period;
        if ((r = dm_file_read(&cg->cpu_quota[i], err)) != DM_OK)
            return r;
        if (cg->version == 2) {
            if (dm_parse_cpu_max(cg->cpu_quota[i].buf, cg->cpu_quota[i].len, &quota, &period) !=
                DM_OK)
                goto bad_quota;
        } else {
            if ((r = dm_file_read(&cg->cpu_period[i], err)) != DM_OK)
                return r;
            if (dm_parse_limit(cg->cpu_quota[i].buf, cg->cpu_quota[i].len, &quota) != DM_OK)
                goto bad_quota;
            if (dm_parse_limit(cg->cpu_period[i].buf, cg->cpu_period[i].len, &period) != DM_OK ||
                period == 0 || period == UINT64_MAX) {
                dm_set_error(err, DM_E_PARSE, 0, cg->cpu_period[i].path, "malformed CFS period");
                return DM_E_PARSE;
            }
        }
        if (quota != UINT64_MAX && (cores == 0.0 || (double)quota / (double)period < cores)) {
            cores = (double)quota / (double)period;
            level = i; /* the deepest of equal quotas: its cpu.stat counts the cgroup's own */
        }
        continue;
    bad_quota:
        dm_set_error(err, DM_E_PARSE, 0, cg->cpu_quota[i].path, "malformed CPU quota");
        return DM_E_PARSE;
    }
    cg->quota_cores = cores;
    cg->quota_level = level;
    /* A CPU list that cannot be read or parsed fails the reading: taking it for "no cpuset"
       or the machine's CPUs would measure against the wrong capacity. */
    cg->online_cpus = 0;
    if (cg->has_online && (r = read_cpu_list(&cg->online, &cg->online_cpus, err)) != DM_OK)
        return r;
    if (cg->online_cpus == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cg->online_cpus = n > 0 ? (uint32_t)n : 1;
    }
    cg->cpuset_cpus = 0;
    if (cg->has_cpuset && (r = read_cpu_list(&cg->cpuset, &cg->cpuset_cpus, err)) != DM_OK)
        return r;
    limit = (double)cg->online_cpus;
    if (cg->cpuset_cpus > 0 && (double)cg->cpuset_cpus < limit)
        limit = (double)cg->cpuset_cpus;
    if (cores > 0.0 && cores < limit)
        limit = cores;
    cg->cpu_limit_cores = limit;
    return DM_OK;
}

/* Memory limits: the tightest on the path, and the machine's MemTotal. */
static int refresh_memory_limits(dm_monitor *m, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    uint64_t mem = UINT64_MAX;
    dm_meminfo mi;
    size_t i;
    int r;

    for (i = 0; i < cg->mem_levels; i++) {
        uint64_t v;
        if ((r = dm_file_read(&cg->mem_limit[i], err)) != DM_OK)
            return r;
        if (dm_parse_limit(cg->mem_limit[i].buf, cg->mem_limit[i].len, &v) != DM_OK) {
            dm_set_error(err, DM_E_PARSE, 0, cg->mem_limit[i].path, "malformed memory limit");
            return DM_E_PARSE;
        }
        if (v < NO_LIMIT_FROM && v < mem)
            mem = v;
    }
    cg->memory_limit = mem;
    if ((r = dm_file_read(&m->meminfo, err)) != DM_OK)
        return r;
    if (dm_parse_meminfo(m->meminfo.buf, m->meminfo.len, &mi) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->meminfo.path, "no MemTotal");
        return DM_E_PARSE;
    }
    cg->host_mem_total = mi.total;
    return DM_OK;
}

/* Limits change (docker update, in-place pod resize): each reading re-reads its own limits
   when they are older than DM_LIMITS_REFRESH_NS, so one never disturbs the other. */
static int limits_current(int64_t *read_ns, int64_t now_ns, int (*refresh)(dm_monitor *,
                          dm_error *), dm_monitor *m, dm_error *err)
{
    int r;
    if (*read_ns != 0 && now_ns >= *read_ns &&
        dm_elapsed_ns(*read_ns, now_ns) < DM_LIMITS_REFRESH_NS)
        return DM_OK;
    if ((r = refresh(m, err)) == DM_OK)
        *read_ns = now_ns;
    return r;
}

void dm_cgroup_init(dm_monitor *m)
{
    struct dm_cgroup *cg = &m->cg;
    size_t i;
    cg->proc_cgroup.fd = cg->mountinfo.fd = -1;
    cg->cpu_usage.fd = cg->cpuset.fd = cg->online.fd = -1;
    cg->mem_usage.fd = cg->mem_stat.fd = cg->io.fd = cg->io_top.fd = -1;
    for (i = 0; i < DM_CG_MAX_DEPTH; i++)
        cg->cpu_quota[i].fd = cg->cpu_period[i].fd = cg->mem_limit[i].fd = cg->cpu_stat[i].fd =
            -1;
    cg->quota_level = cg->throttle_level[0] = cg->throttle_level[1] = DM_NO_LEVEL;
}

/* The cpu.stat beside each level's quota file: its bandwidth counters are that level's. */
static int open_cpu_stats(struct dm_cgroup *cg, dm_error *err)
{
    size_t i;
    for (i = 0; i < cg->cpu_levels; i++) {
        const char *quota = cg->cpu_quota[i].path;
        size_t dir_len = strrchr(quota, '/') - quota;
        char *dir = malloc(dir_len + 1);
        int r;
        if (dir == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
            return DM_E_NOMEM;
        }
        memcpy(dir, quota, dir_len);
        dir[dir_len] = '\0';
        /* Opened at its first read: one that cannot be read fails the throttling reading. */
        r = dm_file_init(&cg->cpu_stat[i], dir, "/cpu.stat", 1);
        free(dir);
        if (r != DM_OK) {
            dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
            return DM_E_NOMEM;
        }
    }
    return DM_OK;
}

int dm_cgroup_open(dm_monitor *m, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    struct dm_file *cgroup_file = &cg->proc_cgroup, *mountinfo = &cg->mountinfo;
    dm_proc_cgroup pc;
    char *cpu_dir = NULL, *cpu_mount = NULL, *acct_dir = NULL, *acct_mount = NULL;
    char *set_dir = NULL, *set_mount = NULL, *mem_dir = NULL, *mem_mount = NULL;
    char *io_dir = NULL, *io_mount = NULL;
    int r, v1_cpu, v1_mem;
    dm_error e;

    if ((r = read_small(m->root, "/proc/self/cgroup", cgroup_file, err)) != DM_OK ||
        (r = read_small(m->root, "/proc/self/mountinfo", mountinfo, err)) != DM_OK)
        goto done;
    if (dm_parse_proc_cgroup(cgroup_file->buf, cgroup_file->len, &pc) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, cgroup_file->path,
                     "malformed line (not ID:CONTROLLERS:PATH, or a NUL in it)");
        r = DM_E_PARSE;
        goto done;
    }
    /* A hybrid host mounts v1 controllers beside an empty v2 hierarchy: v1 wins where mounted. */
    if ((r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_MEMORY, &mem_dir,
                            &mem_mount, err)) != DM_OK && r != DM_E_AGAIN)
        goto done;
    v1_mem = mem_dir != NULL;
    if ((r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_CPU, &cpu_dir,
                            &cpu_mount, err)) != DM_OK && r != DM_E_AGAIN)
        goto done;
    v1_cpu = cpu_dir != NULL;
    if (v1_mem || v1_cpu) {
        cg->version = 1;
        if (((r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_CPUACCT, &acct_dir,
                                 &acct_mount, err)) != DM_OK && r != DM_E_AGAIN) ||
            ((r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_CPUSET, &set_dir,
                                 &set_mount, err)) != DM_OK && r != DM_E_AGAIN) ||
            ((r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_BLKIO, &io_dir,
                                 &io_mount, err)) != DM_OK && r != DM_E_AGAIN))
            goto done;
        if (!v1_mem || !v1_cpu || acct_dir == NULL) {
            dm_set_error(err, DM_E_UNSUPPORTED, 0, mountinfo->path,
                         "cgroup v1 without the cpu, cpuacct and memory controllers mounted");
            r = DM_E_UNSUPPORTED;
            goto done;
        }
        cg->path = malloc(pc.path[DM_CG_MEMORY].len + 1);
        if (cg->path != NULL) {
            memcpy(cg->path, cgroup_file->buf + pc.path[DM_CG_MEMORY].off,
                   pc.path[DM_CG_MEMORY].len);
            cg->path[pc.path[DM_CG_MEMORY].len] = '\0';
        }
    } else {
        r = controller_dir(m->root, cgroup_file, &pc, mountinfo, DM_CG_UNIFIED, &mem_dir,
                           &mem_mount, err);
        if (r == DM_E_AGAIN) {
            dm_mountinfo_scan scan;
            dm_mountinfo_line ignored;
            dm_mountinfo_search(mountinfo->buf, mountinfo->len, DM_CG_UNIFIED, &ignored, &scan);
            dm_set_error(err, DM_E_UNSUPPORTED, 0, mountinfo->path,
                         scan.skipped > 0
                             ? "no cgroup hierarchy of this process is mounted (lines of "
                               "mountinfo that do not parse, none a cgroup mount, were skipped)"
                             : "no cgroup hierarchy of this process is mounted");
            r = DM_E_UNSUPPORTED;
        }
        if (r != DM_OK)
            goto done;
        cg->version = 2;
        cg->path = malloc(pc.path[DM_CG_UNIFIED].len + 1);
        if (cg->path != NULL) {
            memcpy(cg->path, cgroup_file->buf + pc.path[DM_CG_UNIFIED].off,
                   pc.path[DM_CG_UNIFIED].len);
            cg->path[pc.path[DM_CG_UNIFIED].len] = '\0';
        }
    }
    cg->dir = mem_dir;
    mem_dir = NULL;
    if (cg->path == NULL) {
        r = DM_E_NOMEM;
        dm_set_error(err, r, 0, NULL, "out of memory");
        goto done;
    }

    if (cg->version == 2) {
        const char *d = cg->dir;
        if ((r = open_in(&cg->mem_usage, d, "/memory.current", 1, LIMIT_BUFFER, err)) != DM_OK) {
            if (err->code == DM_E_OS && err->os_errno == ENOENT)
                dm_set_error(err, DM_E_UNSUPPORTED, 0, cg->mem_usage.path,
                             "no memory.current: the process is in the v2 root cgroup (a "
                             "host), or the memory controller is not enabled for its cgroup");
            r = err->code;
            goto done;
        }
        if ((r = open_in(&cg->mem_stat, d, "/memory.stat", 1, 0, err)) != DM_OK ||
            (r = open_in(&cg->cpu_usage, d, "/cpu.stat", 1, 0, err)) != DM_OK)
            goto done;
        cg->has_cpuset = open_in(&cg->cpuset, d, "/cpuset.cpus.effective", 1, 0, &e) == DM_OK;
        cg->has_io = open_in(&cg->io, d, "/io.stat", 1, 0, &e) == DM_OK;
        if ((r = open_levels(d, mem_mount, "cpu.max", cg->cpu_quota, &cg->cpu_levels, err)) !=
                DM_OK ||
            (r = open_levels(d, mem_mount, "memory.max", cg->mem_limit, &cg->mem_levels, err)) !=
                DM_OK)
            goto done;
    } else {
        size_t i, n_period = 0;
        if ((r = open_in(&cg->mem_usage, cg->dir, "/memory.usage_in_bytes", 1, LIMIT_BUFFER,
                         err)) != DM_OK ||
            (r = open_in(&cg->mem_stat, cg->dir, "/memory.stat", 1, 0, err)) != DM_OK ||
            (r = open_in(&cg->cpu_usage, acct_dir, "/cpuacct.usage", 1, LIMIT_BUFFER, err)) !=
                DM_OK)
            goto done;
        cg->has_cpuset =
            set_dir != NULL && open_in(&cg->cpuset, set_dir, "/cpuset.cpus", 1, 0, &e) == DM_OK;
        if (io_dir != NULL) {
            static const char *const blkio_files[] = {
                "/blkio.throttle.io_service_bytes_recursive",
                "/blkio.io_service_bytes_recursive",
                "/blkio.bfq.io_service_bytes_recursive"};
            for (i = 0; i < 3 && !cg->has_io; i++) {
                cg->has_io = open_in(&cg->io, io_dir, blkio_files[i], 1, 0, &e) == DM_OK;
                if (!cg->has_io)
                    dm_file_free(&cg->io);
            }
            /* The same file at the top of the hierarchy we see, to tell whether it counts. */
            if (cg->has_io && strcmp(io_dir, io_mount) != 0) {
                cg->has_io_top =
                    open_in(&cg->io_top, io_mount, blkio_files[i - 1], 1, 0, &e) == DM_OK;
                if (!cg->has_io_top)
                    dm_file_free(&cg->io_top);
            }
        }
        if ((r = open_levels(cpu_dir, cpu_mount, "cpu.cfs_quota_us", cg->cpu_quota,
                             &cg->cpu_levels, err)) != DM_OK ||
            (r = open_levels(cpu_dir, cpu_mount, "cpu.cfs_period_us", cg->cpu_period, &n_period,
                             err)) != DM_OK)
            goto done;
        if (n_period != cg->cpu_levels) {
            /* Named by a file the monitor owns: cpu_dir is freed before the error is read. */
            dm_set_error(err, DM_E_PARSE, 0,
                         n_period > cg->cpu_levels ? cg->cpu_period[0].path
                                                   : cg->cpu_quota[0].path,
                         "cpu.cfs_quota_us and cpu.cfs_period_us not on the same levels");
            r = DM_E_PARSE;
            goto done;
        }
        if ((r = open_levels(cg->dir, mem_mount, "memory.limit_in_bytes", cg->mem_limit,
                             &cg->mem_levels, err)) != DM_OK)
            goto done;
    }
    if ((r = open_cpu_stats(cg, err)) != DM_OK)
        goto done;
    if (!cg->has_cpuset)
        dm_file_free(&cg->cpuset);
    if (!cg->has_io)
        dm_file_free(&cg->io);
    cg->has_online =
        open_in(&cg->online, m->root, "/sys/devices/system/cpu/online", 1, 0, &e) == DM_OK;
    if (!cg->has_online)
        dm_file_free(&cg->online);
    {
        /* A limit that cannot be read or parsed now fails only its own reading, at each call
           until it can (as a limit broken later does): the monitor opens. Until then its
           capacity reads 0 (docs/semantics.md, "CPU in a container"). */
        int64_t now = dm_monotonic_ns();
        dm_error ignored;
        r = limits_current(&cg->cpu_limits_ns, now, refresh_cpu_limits, m, &ignored);
        if (r != DM_OK)
            cg->cpu_limit_cores = cg->quota_cores = 0.0, cg->cpuset_cpus = cg->online_cpus = 0;
        if (r != DM_E_NOMEM)
            r = limits_current(&cg->mem_limits_ns, now, refresh_memory_limits, m, &ignored);
        if (r != DM_OK && cg->mem_limits_ns == 0)
            cg->memory_limit = cg->host_mem_total = 0;
        if (r == DM_E_NOMEM) {
            *err = ignored;
            goto done;
        }
        r = DM_OK;
    }

done:
    if (r == DM_OK) { /* else an error may name them: dm_cgroup_close frees them */
        dm_file_free(cgroup_file);
        dm_file_free(mountinfo);
    }
    free(mem_dir), free(mem_mount), free(cpu_dir), free(cpu_mount), free(acct_dir);
    free(acct_mount), free(set_dir), free(set_mount), free(io_dir), free(io_mount);
    return r;
}

void dm_cgroup_close(dm_monitor *m)
{
    struct dm_cgroup *cg = &m->cg;
    size_t i;
    dm_file_free(&cg->proc_cgroup);
    dm_file_free(&cg->mountinfo);
    dm_file_free(&cg->cpu_usage);
    dm_file_free(&cg->cpuset);
    dm_file_free(&cg->online);
    dm_file_free(&cg->mem_usage);
    dm_file_free(&cg->mem_stat);
    dm_file_free(&cg->io);
    dm_file_free(&cg->io_top);
    for (i = 0; i < DM_CG_MAX_DEPTH; i++) {
        dm_file_free(&cg->cpu_quota[i]);
        dm_file_free(&cg->cpu_period[i]);
        dm_file_free(&cg->mem_limit[i]);
        dm_file_free(&cg->cpu_stat[i]);
    }
    free(cg->path);
    free(cg->dir);
    cg->path = cg->dir = NULL;
}

/* CPU-nanoseconds used, the counter of the CPU rate. */
static int read_cpu(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    uint64_t usage_ns;
    int r;
    if ((r = limits_current(&cg->cpu_limits_ns, now_ns, refresh_cpu_limits, m, err)) != DM_OK)
        return r;
    if ((r = dm_file_read(&cg->cpu_usage, err)) != DM_OK)
        return r;
    if (cg->version == 2) {
        uint64_t usec;
        if (dm_parse_keyed_u64(cg->cpu_usage.buf, cg->cpu_usage.len, "usage_usec", NULL,
                               &usec) != DM_OK)
            goto bad;
        usage_ns = usec * 1000u;
    } else if (dm_parse_limit(cg->cpu_usage.buf, cg->cpu_usage.len, &usage_ns) != DM_OK ||
               usage_ns == UINT64_MAX) {
        goto bad;
    }
    c->v[0] = usage_ns, c->v[1] = 0;
    c->source = cg->cpu_usage.path;
    return DM_OK;
bad:
    dm_set_error(err, DM_E_PARSE, 0, cg->cpu_usage.path,
                 cg->version == 2 ? "no usage_usec line" : "not a number of nanoseconds");
    return DM_E_PARSE;
}

/* CPU-nanoseconds per second over the capacity the cgroup may use. */
static double cpu_percent(const dm_monitor *m, double ns_per_second)
{
    return dm_clamp_percent(ns_per_second / 1e9 / m->cg.cpu_limit_cores * 100.0);
}

static int read_memory(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    uint64_t usage, inactive, capacity, working_set;
    int r;
    if ((r = limits_current(&cg->mem_limits_ns, now_ns, refresh_memory_limits, m, err)) != DM_OK)
        return r;
    if ((r = dm_file_read(&cg->mem_usage, err)) != DM_OK)
        return r;
    if (dm_parse_limit(cg->mem_usage.buf, cg->mem_usage.len, &usage) != DM_OK ||
        usage == UINT64_MAX) {
        dm_set_error(err, DM_E_PARSE, 0, cg->mem_usage.path, "not a number of bytes");
        return DM_E_PARSE;
    }
    if ((r = dm_file_read(&cg->mem_stat, err)) != DM_OK)
        return r;
    if (dm_parse_keyed_u64(cg->mem_stat.buf, cg->mem_stat.len,
                           cg->version == 2 ? "inactive_file" : "total_inactive_file",
                           &cg->mem_stat_hint, &inactive) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, cg->mem_stat.path,
                     cg->version == 2 ? "no inactive_file line" : "no total_inactive_file line");
        return DM_E_PARSE;
    }
    /* The working set (kubelet, cAdvisor): page cache that can be dropped does not count. */
    working_set = usage > inactive ? usage - inactive : 0;
    capacity = cg->host_mem_total;
    if (cg->memory_limit < capacity)
        capacity = cg->memory_limit;
    if (capacity == 0) {
        dm_set_error(err, DM_E_PARSE, 0, m->meminfo.path, "memory capacity is 0");
        return DM_E_PARSE;
    }
    c->level = dm_clamp_percent((double)working_set / (double)capacity * 100.0);
    return DM_OK;
}

/* Bytes read and written by the machine's whole disks (/proc/diskstats), choosing them at the
   first good read: the devices whose lines of io.stat or blkio count. */
static int whole_disks(dm_monitor *m, uint64_t *read_bytes, uint64_t *written_bytes,
                       dm_error *err)
{
    int r;
    if ((r = dm_file_read(&m->diskstats, err)) != DM_OK)
        return r;
    if (!m->disks_chosen && (r = dm_choose_disks(m, err)) != DM_OK)
        return r;
    if (read_bytes == NULL)
        return DM_OK;
    if (dm_diskstats_sum(m->diskstats.buf, m->diskstats.len, &m->disks, read_bytes,
                         written_bytes) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->diskstats.path, "malformed diskstats line");
        return DM_E_PARSE;
    }
    return DM_OK;
}

static int parse_io(const dm_monitor *m, const struct dm_file *f, uint64_t v[2], dm_error *err)
{
    int r = m->cg.version == 2 ? dm_parse_io_stat(f->buf, f->len, &m->disks, &v[0], &v[1])
                               : dm_parse_blkio_bytes(f->buf, f->len, &m->disks, &v[0], &v[1]);
    if (r != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, f->path, "malformed line");
        return DM_E_PARSE;
    }
    return DM_OK;
}

/* v1: whether the blkio file counts. The kernel counts blkio.throttle.* only where throttling is
   active for the device (a rule set on it), and the CFQ/BFQ files only under those schedulers:
   otherwise they stay at 0 while the disks work. The top of the hierarchy we see moving proves
   it counts; the disks moving DM_IO_PROOF_BYTES while it stays still says it does not (or that
   none of that I/O was ours, which cannot be told apart: no figure is given then either). */
static int check_io_counts(dm_monitor *m, const uint64_t own[2], dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    uint64_t top[2], disk[2];
    int r;
    if (cg->has_io_top) {
        if ((r = dm_file_read(&cg->io_top, err)) != DM_OK || (r = parse_io(m, &cg->io_top, top,
                                                                            err)) != DM_OK)
            return r;
    } else {
        top[0] = own[0], top[1] = own[1];
    }
    if ((r = whole_disks(m, &disk[0], &disk[1], err)) != DM_OK)
        return r;
    if (!cg->io_based) {
        cg->io_top_base = top[0] + top[1];
        cg->disk_base = disk[0] + disk[1];
        cg->io_based = 1;
    }
    if (top[0] + top[1] != cg->io_top_base) {
        cg->io_verdict = DM_IO_COUNTING;
        dm_file_free(&cg->io_top); /* no longer needed */
        cg->has_io_top = 0;
    } else if (disk[0] + disk[1] - cg->disk_base >= DM_IO_PROOF_BYTES) {
        cg->io_verdict = DM_IO_UNCOUNTED; /* until the file is seen to move */
    }
    return DM_OK;
}

static const char IO_UNCOUNTED[] =
    "cgroup v1 blkio does not count this I/O: the disks moved 1 MiB or more while this "
    "hierarchy's blkio file stayed still (the kernel counts blkio.throttle.* only where "
    "throttling rules are set on the device); no per-cgroup disk figure";

static int read_disk(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    int r;
    (void)now_ns;
    if (!cg->has_io) {
        dm_set_error(err, DM_E_UNSUPPORTED, 0, cg->dir,
                     cg->version == 2 ? "no io.stat: the io controller is not enabled here"
                                      : "no blkio io_service_bytes file for this cgroup");
        return DM_E_UNSUPPORTED;
    }
    /* Only whole disks count: a dm or md device and the disks under it list the same bytes. */
    if (!m->disks_chosen && (r = whole_disks(m, NULL, NULL, err)) != DM_OK)
        return r;
    if ((r = dm_file_read(&cg->io, err)) != DM_OK || (r = parse_io(m, &cg->io, c->v, err)) != DM_OK)
        return r;
    if (cg->version == 1 && cg->io_verdict != DM_IO_COUNTING) {
        if ((r = check_io_counts(m, c->v, err)) != DM_OK)
            return r;
        if (cg->io_verdict == DM_IO_UNCOUNTED) {
            dm_set_error(err, DM_E_UNSUPPORTED, 0,
                         cg->has_io_top ? cg->io_top.path : cg->io.path, IO_UNCOUNTED);
            return DM_E_UNSUPPORTED;
        }
    }
    c->source = cg->io.path;
    return DM_OK;
}

const char *dm_cgroup_disk_note(const dm_monitor *m)
{
    const struct dm_cgroup *cg = &m->cg;
    if (!cg->has_io)
        return cg->version == 2 ? "no io.stat: the io controller is not enabled here"
                                : "no blkio io_service_bytes file for this cgroup";
    if (cg->version == 1 && cg->io_verdict == DM_IO_UNCOUNTED)
        return IO_UNCOUNTED;
    if (cg->version == 1 && cg->io_verdict == DM_IO_QUIET)
        return "cgroup v1 blkio not yet seen to count: the disks have moved less than 1 MiB "
               "since the monitor opened";
    return NULL;
}

/* ---- CFS throttling ------------------------------------------------------------------ */

static const char NO_QUOTA[] =
    "no CPU quota on the cgroup's path (cpu.max \"max\", cpu.cfs_quota_us -1 on every level): "
    "only a quota throttles (a cpuset limit never does)";
static const char LIMITS_UNREAD[] =
    "the CPU limits could not be read yet: the CPU reading says why";

/* The counters of the level with the tightest quota. `which` 0 (the periods) reads cpu.stat
   and keeps what it found for `which` 1 (the time) at the same time; a change of level (the
   limits were re-read) is a reset for each. */
static int read_throttling(dm_monitor *m, int64_t now_ns, int which, struct dm_counters *c,
                           dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    struct dm_file *f;
    dm_throttling t;
    size_t level;
    int r, kept = which == 1 && cg->throttle_kept_valid && cg->throttle_kept_ns == now_ns;
    cg->throttle_kept_valid = 0;
    if ((r = limits_current(&cg->cpu_limits_ns, now_ns, refresh_cpu_limits, m, err)) != DM_OK)
        return r;
    level = cg->quota_level;
    if (level == DM_NO_LEVEL) {
        dm_set_error(err, DM_E_UNSUPPORTED, 0, cg->cpu_levels > 0 ? cg->cpu_quota[0].path : cg->dir,
                     NO_QUOTA);
        return DM_E_UNSUPPORTED;
    }
    f = &cg->cpu_stat[level];
    if (kept && cg->throttle_level[0] == level) {
        t = cg->throttle_kept;
    } else {
        const char *why;
        if ((r = dm_file_read(f, err)) != DM_OK)
            return r;
        if (dm_parse_cpu_throttling(f->buf, f->len, cg->version, cg->throttle_hints, &t, &why) !=
            DM_OK) {
            dm_set_error(err, DM_E_PARSE, 0, f->path, why);
            return DM_E_PARSE;
        }
    }
    if (which == 0) {
        cg->throttle_kept = t;
        cg->throttle_kept_ns = now_ns;
        cg->throttle_kept_valid = 1;
        c->v[0] = t.throttled_periods, c->v[1] = t.periods;
    } else {
        c->v[0] = t.throttled_ns, c->v[1] = 0;
    }
    c->reset = cg->throttle_level[which] != DM_NO_LEVEL && cg->throttle_level[which] != level;
    cg->throttle_level[which] = level;
    c->source = f->path;
    return DM_OK;
}

static int read_throttled_periods(dm_monitor *m, int64_t now_ns, struct dm_counters *c,
                                  dm_error *err)
{
    return read_throttling(m, now_ns, 0, c, err);
}

static int read_throttled_time(dm_monitor *m, int64_t now_ns, struct dm_counters *c,
                               dm_error *err)
{
    return read_throttling(m, now_ns, 1, c, err);
}

const struct dm_reading dm_cgroup_throttled_periods = {DM_FIGURE_PER_SECOND,
                                                       read_throttled_periods, NULL};
const struct dm_reading dm_cgroup_throttled_time = {DM_FIGURE_PER_SECOND, read_throttled_time,
                                                    NULL};

const char *dm_cgroup_throttling_note(const dm_monitor *m)
{
    if (m->cg.cpu_limits_ns == 0)
        return LIMITS_UNREAD;
    return m->cg.quota_level == DM_NO_LEVEL ? NO_QUOTA : NULL;
}

const struct dm_file *dm_cgroup_throttling_file(const dm_monitor *m)
{
    return m->cg.quota_level == DM_NO_LEVEL ? NULL : &m->cg.cpu_stat[m->cg.quota_level];
}

const struct dm_reading dm_cgroup_cpu = {DM_FIGURE_PER_SECOND, read_cpu, cpu_percent};
const struct dm_reading dm_cgroup_memory = {DM_FIGURE_LEVEL, read_memory, NULL};
const struct dm_reading dm_cgroup_disk = {DM_FIGURE_PER_SECOND, read_disk, NULL};

int dm_cgroup_grow(dm_monitor *m, unsigned metrics, dm_error *err)
{
    struct dm_cgroup *cg = &m->cg;
    int r = DM_OK;
    if ((metrics & DM_PRESSURE) && cg->quota_level != DM_NO_LEVEL)
        r = dm_file_fit(&cg->cpu_stat[cg->quota_level], err);
    if ((metrics & DM_CPU) && r == DM_OK)
        r = dm_file_fit(&cg->cpu_usage, err);
    if ((metrics & DM_MEMORY) && r == DM_OK)
        r = dm_file_fit(&cg->mem_stat, err);
    if ((metrics & DM_MEMORY) && r == DM_OK)
        r = dm_file_fit(&m->meminfo, err);
    if ((metrics & DM_DISK) && cg->has_io && r == DM_OK)
        r = dm_file_fit(&cg->io, err);
    if ((metrics & DM_DISK) && cg->has_io_top && r == DM_OK)
        r = dm_file_fit(&cg->io_top, err);
    if ((metrics & DM_DISK) && r == DM_OK)
        r = dm_file_fit(&m->diskstats, err);
    return r;
}
