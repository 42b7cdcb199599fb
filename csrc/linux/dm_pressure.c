/* Pressure stall information (PSI) for both Linux monitors: the host's /proc/pressure files,
   a v2 cgroup's own *.pressure files (docs/semantics.md, "Pressure stalls and CPU
   throttling"). Opened at open, read only by dm_monitor_pressure. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <string.h>

#include "dm_linux.h"

static const char HOST_NO_PSI[] =
    "no /proc/pressure: a kernel without CONFIG_PSI, or one booted with psi=0";
static const char CGROUP_NO_PSI[] =
    "no cpu.pressure, memory.pressure or io.pressure in the cgroup: PSI is off for the kernel "
    "(no CONFIG_PSI, psi=0) or for this cgroup (cgroup.pressure 0)";
static const char PSI_DISABLED[] =
    "PSI is disabled: the kernel answers EOPNOTSUPP (booted with psi=0, or built with "
    "CONFIG_PSI_DEFAULT_DISABLED and booted without psi=1)";
static const char V1_NO_PSI[] =
    "cgroup v1 has no per-cgroup pressure files (PSI per cgroup is cgroup v2's); "
    "/proc/pressure would be the whole machine's";
static const char HOST_NO_THROTTLING[] =
    "the host monitor: CFS throttling is a cgroup's (its CPU quota); the cgroup monitor reads "
    "it";

static const char *const host_psi[3] = {"/proc/pressure/cpu", "/proc/pressure/memory",
                                        "/proc/pressure/io"};
static const char *const cgroup_psi[3] = {"/cpu.pressure", "/memory.pressure", "/io.pressure"};

void dm_pressure_init(dm_monitor *m)
{
    size_t i;
    for (i = 0; i < 3; i++)
        m->psi[i].fd = -1;
}

int dm_pressure_open(dm_monitor *m, dm_error *err)
{
    int cgroup = m->head.kind == DM_KIND_CGROUP;
    size_t i;
    if (cgroup && m->cg.version == 1) {
        m->psi_note = V1_NO_PSI;
        return DM_OK;
    }
    for (i = 0; i < 3; i++) {
        struct dm_file *f = &m->psi[i];
        dm_error e;
        int r = dm_file_init(f, cgroup ? m->cg.dir : m->root, cgroup ? cgroup_psi[i] : host_psi[i],
                             1);
        if (r != DM_OK) {
            dm_set_error(err, r, 0, NULL, "out of memory");
            return r;
        }
        r = dm_file_fit(f, &e);
        if (r == DM_E_NOMEM) {
            *err = e;
            return r;
        }
        if (r == DM_E_OS && (e.os_errno == ENOENT || e.os_errno == ENOTDIR)) {
            m->psi_note = cgroup ? CGROUP_NO_PSI : HOST_NO_PSI;
            continue;
        }
        if (r == DM_E_OS && e.os_errno == EOPNOTSUPP) {
            m->psi_note = PSI_DISABLED;
            continue;
        }
        m->has_psi[i] = 1; /* a file that fails now otherwise (EACCES) fails its reading */
    }
    return DM_OK;
}

void dm_pressure_close(dm_monitor *m)
{
    size_t i;
    for (i = 0; i < 3; i++)
        dm_file_free(&m->psi[i]);
}

int dm_pressure_grow(dm_monitor *m, dm_error *err)
{
    size_t i;
    int r = DM_OK;
    for (i = 0; i < 3 && r == DM_OK; i++)
        if (m->has_psi[i])
            r = dm_file_fit(&m->psi[i], err);
    return r;
}

size_t dm_pressure_files(const dm_monitor *m, const struct dm_file **files)
{
    size_t i, n = 0;
    for (i = 0; i < 3; i++)
        if (m->has_psi[i])
            files[n++] = &m->psi[i];
    return n;
}

const char *dm_pressure_note(const dm_monitor *m) { return m->psi_note; }
const char *dm_host_throttling_note(void) { return HOST_NO_THROTTLING; }

/* The stalled microseconds of one resource: some, and full (0 for cpu, whose full line the
   kernel writes as zeros for the whole machine and which this package does not offer). */
static int read_psi(dm_monitor *m, int which, struct dm_counters *c, dm_error *err)
{
    struct dm_file *f = &m->psi[which];
    dm_pressure_totals t;
    const char *why;
    int r;
    if (!m->has_psi[which]) {
        dm_set_error(err, DM_E_UNSUPPORTED, 0, f->path, m->psi_note);
        return DM_E_UNSUPPORTED;
    }
    if ((r = dm_file_read(f, err)) != DM_OK) {
        if (r == DM_E_OS && err->os_errno == EOPNOTSUPP) {
            m->psi_note = PSI_DISABLED;
            dm_set_error(err, DM_E_UNSUPPORTED, 0, f->path, PSI_DISABLED);
            return DM_E_UNSUPPORTED;
        }
        return r;
    }
    if (dm_parse_pressure(f->buf, f->len, &t, &why) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, f->path, why);
        return DM_E_PARSE;
    }
    if (which != DM_PRESSURE_CPU && !t.has_full) {
        dm_set_error(err, DM_E_PARSE, 0, f->path, "no \"full\" line");
        return DM_E_PARSE;
    }
    c->v[0] = t.some_us;
    c->v[1] = which == DM_PRESSURE_CPU ? 0 : t.full_us;
    c->source = f->path;
    return DM_OK;
}

static int read_cpu_psi(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    (void)now_ns;
    return read_psi(m, DM_PRESSURE_CPU, c, err);
}

static int read_memory_psi(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    (void)now_ns;
    return read_psi(m, DM_PRESSURE_MEMORY, c, err);
}

static int read_io_psi(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    (void)now_ns;
    return read_psi(m, DM_PRESSURE_IO, c, err);
}

static int no_throttling(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    (void)m, (void)now_ns, (void)c;
    dm_set_error(err, DM_E_UNSUPPORTED, 0, NULL, HOST_NO_THROTTLING);
    return DM_E_UNSUPPORTED;
}

const struct dm_reading dm_psi_cpu = {DM_FIGURE_PER_SECOND, read_cpu_psi, NULL};
const struct dm_reading dm_psi_memory = {DM_FIGURE_PER_SECOND, read_memory_psi, NULL};
const struct dm_reading dm_psi_io = {DM_FIGURE_PER_SECOND, read_io_psi, NULL};
const struct dm_reading dm_host_no_throttling = {DM_FIGURE_PER_SECOND, no_throttling, NULL};
