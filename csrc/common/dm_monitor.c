/* The public front of every platform's monitor: the dm_monitor_* calls, each under the
   monitor's own lock, and the option checks of opening (see dm_core.h). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dm_core.h"

void dm_set_error(dm_error *e, int code, int os_errno, const char *path, const char *detail)
{
    if (e == NULL)
        return;
    e->code = code;
    e->os_errno = os_errno;
    e->path = path;
    e->detail = detail;
}

int dm_check_options(const dm_options *opts, dm_monitor *const *out, int files_and_cgroups,
                     const char *platform_message, dm_error *err)
{
    dm_set_error(err, DM_OK, 0, NULL, NULL);
    if (opts == NULL || out == NULL || opts->min_interval_ns < 0 ||
        (opts->kind != 0 && opts->kind != DM_KIND_HOST && opts->kind != DM_KIND_CGROUP)) {
        dm_set_error(err, DM_E_INVALID, 0, NULL, "invalid options");
        return DM_E_INVALID;
    }
    if (files_and_cgroups)
        return DM_OK;
    if (opts->kind == DM_KIND_CGROUP) {
        dm_set_error(err, DM_E_UNSUPPORTED, 0, NULL, platform_message);
        return DM_E_UNSUPPORTED;
    }
    if (opts->root != NULL && opts->root[0] != '\0' && strcmp(opts->root, "/") != 0) {
        dm_set_error(err, DM_E_INVALID, 0, NULL, platform_message);
        return DM_E_INVALID;
    }
    return DM_OK;
}

int dm_fail_open(dm_monitor *mon, const dm_options *opts, dm_error e, dm_error *err)
{
    if (e.path != NULL && opts->error_path != NULL && opts->error_path_len > 0) {
        size_t n = strlen(e.path);
        if (n >= opts->error_path_len)
            n = opts->error_path_len - 1;
        memcpy(opts->error_path, e.path, n);
        opts->error_path[n] = '\0';
        e.path = opts->error_path;
    } else {
        e.path = NULL;
    }
    dm_monitor_close(mon);
    if (err != NULL)
        *err = e;
    return e.code;
}

/* ---- The public calls that read or change a monitor: each under the monitor's lock ---- */

static dm_mutex *lock_of(const dm_monitor *mon) { return &dm_head(mon)->lock; }

#ifdef _WIN32
static void lock_init(dm_mutex *m) { InitializeSRWLock(m); }
void dm_head_destroy(dm_monitor *mon) { (void)mon; /* an SRW lock holds no resources */ }
static void lock(const dm_monitor *mon) { AcquireSRWLockExclusive(lock_of(mon)); }
static void unlock(const dm_monitor *mon) { ReleaseSRWLockExclusive(lock_of(mon)); }
#else
static void lock_init(dm_mutex *m) { pthread_mutex_init(m, NULL); }
void dm_head_destroy(dm_monitor *mon) { pthread_mutex_destroy(lock_of(mon)); }
static void lock(const dm_monitor *mon) { pthread_mutex_lock(lock_of(mon)); }
static void unlock(const dm_monitor *mon) { pthread_mutex_unlock(lock_of(mon)); }
#endif

void *dm_monitor_new(size_t size, int kind, const dm_options *opts,
                     const struct dm_reading *const readings[DM_READINGS], dm_error *err)
{
    struct dm_monitor_head *h = calloc(1, size);
    int i;
    if (h == NULL) {
        dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        return NULL;
    }
    lock_init(&h->lock);
    h->kind = kind;
    h->min_interval_ns = opts->min_interval_ns;
    for (i = 0; i < DM_READINGS; i++)
        h->reading[i] = readings[i];
    return h;
}

void dm_monitor_before_fork(dm_monitor *mon)
{
    if (mon != NULL)
        lock(mon);
}

void dm_monitor_after_fork(dm_monitor *mon, int in_child)
{
    if (mon == NULL)
        return;
    if (in_child)
        lock_init(lock_of(mon)); /* the child's only thread: nobody else can hold it */
    else
        unlock(mon);
}

/* Set at open and never changed: no lock needed. */
int dm_monitor_kind(const dm_monitor *mon) { return mon != NULL ? dm_head(mon)->kind : 0; }
int64_t dm_monitor_min_interval_ns(const dm_monitor *mon)
{
    return mon != NULL ? dm_head(mon)->min_interval_ns : 0;
}

int dm_monitor_sample_at(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out)
{
    int r;
    if (mon == NULL || out == NULL)
        return DM_E_INVALID;
    lock(mon);
    r = dm_sample_metrics(mon, metrics, now_ns, out);
    unlock(mon);
    return r;
}

int dm_monitor_sample(dm_monitor *mon, unsigned metrics, dm_sample *out)
{
    return dm_monitor_sample_at(mon, metrics, dm_monotonic_ns(), out);
}

int dm_call_sample(dm_call *call)
{
    return call != NULL ? dm_monitor_sample(call->mon, call->metrics, &call->out) : DM_E_INVALID;
}

int dm_monitor_pressure_at(dm_monitor *mon, int64_t now_ns, dm_pressure *out)
{
    int r;
    if (mon == NULL || out == NULL)
        return DM_E_INVALID;
    lock(mon);
    r = dm_sample_pressure(mon, now_ns, out);
    unlock(mon);
    return r;
}

int dm_monitor_pressure(dm_monitor *mon, dm_pressure *out)
{
    return dm_monitor_pressure_at(mon, dm_monotonic_ns(), out);
}

int dm_call_pressure(dm_pressure_call *call)
{
    int r;
    if (call == NULL)
        return DM_E_INVALID;
    r = dm_monitor_pressure(call->mon, &call->out);
    return r == DM_OK ? (int)call->out.unsupported : r;
}

/* One figure through a one-argument call: the cheapest call a binding like cffi makes. */
static double one_figure(dm_monitor *mon, unsigned metric)
{
    dm_sample out;
    if (dm_monitor_sample(mon, metric, &out) != DM_OK)
        return NAN;
    return metric == DM_CPU ? out.cpu_percent : out.memory_percent;
}

double dm_monitor_cpu_percent(dm_monitor *mon) { return one_figure(mon, DM_CPU); }
double dm_monitor_memory_percent(dm_monitor *mon) { return one_figure(mon, DM_MEMORY); }

int dm_monitor_grow(dm_monitor *mon, unsigned metrics, dm_error *err)
{
    int r;
    dm_set_error(err, DM_OK, 0, NULL, NULL);
    if (mon == NULL)
        return DM_E_INVALID;
    lock(mon);
    r = dm_backend_grow(mon, metrics, err);
    unlock(mon);
    return r;
}

int dm_monitor_environment(dm_monitor *mon, dm_environment *out)
{
    int r;
    if (mon == NULL || out == NULL)
        return DM_E_INVALID;
    memset(out, 0, sizeof *out);
    lock(mon);
    r = dm_backend_environment(mon, out);
    if (dm_head(mon)->pressure[DM_PRESSURE_CPU] == NULL && out->pressure_note == NULL)
        out->pressure_note = "no pressure stall source on this platform (Linux only)";
    if (dm_head(mon)->pressure[DM_PRESSURE_PERIODS] == NULL && out->throttling_note == NULL)
        out->throttling_note = "no CPU throttling source on this platform (Linux only)";
    unlock(mon);
    return r;
}

size_t dm_monitor_sample_files(const dm_monitor *mon, unsigned metrics, const char **paths,
                               size_t cap)
{
    size_t n;
    if (mon == NULL)
        return 0;
    lock(mon);
    n = dm_backend_sample_files(mon, metrics, paths, cap);
    unlock(mon);
    return n;
}

/* The counts and the mode are settled by the first sample, which may be running now. */
#define DM_LOCKED_QUERY(type, name, backend, zero)                                             \
    type name(const dm_monitor *mon)                                                          \
    {                                                                                          \
        type v;                                                                                \
        if (mon == NULL)                                                                       \
            return zero;                                                                       \
        lock(mon);                                                                             \
        v = backend(mon);                                                                      \
        unlock(mon);                                                                           \
        return v;                                                                              \
    }
DM_LOCKED_QUERY(size_t, dm_monitor_disk_count, dm_backend_disk_count, 0)
DM_LOCKED_QUERY(size_t, dm_monitor_iface_count, dm_backend_iface_count, 0)
DM_LOCKED_QUERY(int, dm_monitor_net_mode, dm_backend_net_mode, 0)

/* Names, once counted, stay put until the monitor is closed. */
const char *dm_monitor_disk_name(const dm_monitor *mon, size_t i)
{
    return i < dm_monitor_disk_count(mon) ? dm_backend_disk_name(mon, i) : NULL;
}

const char *dm_monitor_iface_name(const dm_monitor *mon, size_t i)
{
    return i < dm_monitor_iface_count(mon) ? dm_backend_iface_name(mon, i) : NULL;
}
