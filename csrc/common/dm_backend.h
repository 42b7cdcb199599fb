/* Internal: what every platform backend shares (errors, a failed open, the per-metric
   dispatch of a sample). Not part of the public API. */
#ifndef DM_BACKEND_H
#define DM_BACKEND_H

#include "danube_metrics.h"

#ifdef _WIN32
#include <windows.h>
typedef SRWLOCK dm_mutex;
#else
#include <pthread.h>
typedef pthread_mutex_t dm_mutex;
#endif

/* Every backend's struct dm_monitor begins with this head. The public calls below hold its lock
   around the backend's work, so threads may share a monitor without a lock of their own (cffi
   releases the interpreter lock around each C call). */
struct dm_monitor_head {
    dm_mutex lock;
};
void dm_head_init(dm_monitor *mon);    /* right after the monitor is allocated */
void dm_head_destroy(dm_monitor *mon); /* in dm_monitor_close */

/* The backend's side of the public calls of the same name (dm_monitor_*), made with the lock
   held. The common layer has already rejected NULL arguments, cleared grow's error and zeroed
   the environment. */
int dm_backend_sample_at(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out);
int dm_backend_grow(dm_monitor *mon, unsigned metrics, dm_error *err);
int dm_backend_environment(dm_monitor *mon, dm_environment *out);
size_t dm_backend_sample_files(const dm_monitor *mon, unsigned metrics, const char **paths,
                               size_t cap);
size_t dm_backend_disk_count(const dm_monitor *mon);
const char *dm_backend_disk_name(const dm_monitor *mon, size_t i);
int dm_backend_net_mode(const dm_monitor *mon);
size_t dm_backend_iface_count(const dm_monitor *mon);
const char *dm_backend_iface_name(const dm_monitor *mon, size_t i);

void dm_set_error(dm_error *e, int code, int os_errno, const char *path, const char *detail);

/* Checks the options of dm_monitor_open (clearing err first). A backend that reads the
   kernel directly (no files) takes no root prefix and no cgroup kind: `files_and_cgroups` 0;
   `platform` names it in the message. Returns DM_OK or the code also put in err. */
int dm_check_options(const dm_options *opts, dm_monitor *const *out, int files_and_cgroups,
                     const char *platform_message, dm_error *err);

/* Closes a monitor that failed to open and hands its error to the caller, the failing path
   copied into opts->error_path first (the monitor's own copy dies with it; NULL without one). */
int dm_fail_open(dm_monitor *mon, const dm_options *opts, dm_error e, dm_error *err);

/* One reading of a backend: fills its figures and its dm_error in `out`. */
typedef int (*dm_metric_sampler)(dm_monitor *mon, int64_t now_ns, dm_sample *out);

/* Runs the samplers (cpu, memory, disk, network) of the metrics requested, clearing only
   their errors. Returns DM_E_BUFFER if any reading hit it (the caller grows and retries that
   one), else the first failing code, else DM_OK. */
int dm_sample_metrics(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out,
                      const dm_metric_sampler samplers[4]);

#endif
