/* What every platform backend shares: see dm_backend.h. */
#include <string.h>

#include "dm_backend.h"

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

int dm_sample_metrics(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out,
                      const dm_metric_sampler samplers[4])
{
    static const unsigned bits[4] = {DM_CPU, DM_MEMORY, DM_DISK, DM_NETWORK};
    dm_error *errors[4];
    int first = DM_OK, buffer = 0, i, r;
    errors[0] = &out->cpu, errors[1] = &out->memory;
    errors[2] = &out->disk, errors[3] = &out->network;
    for (i = 0; i < 4; i++) {
        if (!(metrics & bits[i]))
            continue; /* left as it was, so that a caller can retry a subset */
        dm_set_error(errors[i], DM_OK, 0, NULL, NULL);
        r = samplers[i](mon, now_ns, out);
        if (r != DM_OK && first == DM_OK)
            first = r;
        if (errors[i]->code == DM_E_BUFFER)
            buffer = 1;
    }
    return buffer ? DM_E_BUFFER : first;
}

/* The public entry point, on every platform: a sample at the monotonic clock's time. */
int dm_monitor_sample(dm_monitor *mon, unsigned metrics, dm_sample *out)
{
    return dm_monitor_sample_at(mon, metrics, dm_monotonic_ns(), out);
}
