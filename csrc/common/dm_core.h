/* Internal: what every platform's monitor shares. The common layer (dm_monitor.c, the public
   calls under the monitor's lock; dm_reading.c, the one routine every reading goes through)
   and the hooks each platform's backend provides. Not part of the public API. */
#ifndef DM_CORE_H
#define DM_CORE_H

#include "danube_metrics.h"
#include "dm_types.h"

#ifdef _WIN32
#include <windows.h>
typedef SRWLOCK dm_mutex;
#else
#include <pthread.h>
typedef pthread_mutex_t dm_mutex;
#endif

/* ---- Readings ------------------------------------------------------------------------------ */

/* What a reading's source gave: two cumulative counters for a rate (busy and idle for a busy
   percentage), or the figure itself for a level. */
struct dm_counters {
    uint64_t v[2];
    double level;
    int reset;          /* a counter went back though `v` did not (see dm_rate_update) */
    const char *source; /* named by an error of the rate (a file's path, an API's name) */
};

/* One reading of a backend: what kind of figure it gives and how its source is read. The
   common routine does the rest the same way for every reading: answer from the last value
   within the minimum interval, read, take the rate, record the error, write the figure. */
struct dm_reading {
    enum dm_figure figure;
    /* Reads the source into `c` (c->reset and c->source start cleared). On failure fills
       `err` (code, path, detail) and returns its code. No allocation, no sleep. */
    int (*read)(dm_monitor *mon, int64_t now_ns, struct dm_counters *c, dm_error *err);
    /* Optional, for DM_FIGURE_PER_SECOND: one figure from the per-second rate of v[0] (the
       cgroup's CPU-nanoseconds per second over its capacity); NULL gives both rates. */
    double (*scale)(const dm_monitor *mon, double per_second);
};

/* The readings in the order of the metric bits: DM_CPU, DM_MEMORY, DM_DISK, DM_NETWORK. */
#define DM_READINGS 4

/* The pressure readings (dm_monitor_pressure), each two per-second rates turned into figures
   by dm_sample_pressure: PSI stall microseconds (some, full), throttled and all CFS periods,
   throttled nanoseconds. A backend without a source leaves its slot NULL. */
#define DM_PRESSURE_CPU 0
#define DM_PRESSURE_MEMORY 1
#define DM_PRESSURE_IO 2
#define DM_PRESSURE_PERIODS 3
#define DM_PRESSURE_THROTTLED_TIME 4
#define DM_PRESSURE_READINGS 5

/* Every backend's struct dm_monitor begins with this head. The public calls hold its lock
   around the backend's work, so threads may share a monitor without a lock of their own (cffi
   releases the interpreter lock around each C call). */
struct dm_monitor_head {
    dm_mutex lock;
    int kind; /* DM_KIND_* */
    int64_t min_interval_ns;
    const struct dm_reading *reading[DM_READINGS]; /* chosen at open */
    dm_rate_state rate[DM_READINGS];
    dm_level_state level[DM_READINGS];
    const struct dm_reading *pressure[DM_PRESSURE_READINGS]; /* per-second rates, or NULL */
    dm_rate_state pressure_rate[DM_PRESSURE_READINGS];
};
/* The head of any backend's monitor (its first member). */
static inline struct dm_monitor_head *dm_head(const dm_monitor *mon)
{
    return (struct dm_monitor_head *)(void *)(uintptr_t)(const void *)mon;
}

/* A zeroed monitor of `size` bytes (the backend's struct) with its head set up: the lock, the
   kind, opts->min_interval_ns and the readings (which the backend may still change before its
   first sample). NULL, with err set, when out of memory. */
void *dm_monitor_new(size_t size, int kind, const dm_options *opts,
                     const struct dm_reading *const readings[DM_READINGS], dm_error *err);
void dm_head_destroy(dm_monitor *mon); /* in dm_monitor_close */

/* Samples the readings requested, without the lock (the public calls take it): clears only
   their errors, so that a caller can retry a subset. Returns DM_E_BUFFER if any reading hit it
   (the caller grows and retries that one), else the first failing code, else DM_OK. */
int dm_sample_metrics(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out);

/* Takes the pressure readings (without the lock), as dm_monitor_pressure describes. */
int dm_sample_pressure(dm_monitor *mon, int64_t now_ns, dm_pressure *out);

/* The baseline of every reading at open (opts->start_ns, or now). Returns how many readings
   work (a figure or DM_E_AGAIN), with the first failure in *first_failure. */
int dm_take_baseline(dm_monitor *mon, const dm_options *opts, dm_error *first_failure);

/* ---- Backend hooks ------------------------------------------------------------------------- */

/* The backend's side of the public calls of the same name (dm_monitor_*), made with the lock
   held. The common layer has already rejected NULL arguments, cleared grow's error and zeroed
   the environment. dm_monitor_open and dm_monitor_close are the backend's own. */
int dm_backend_grow(dm_monitor *mon, unsigned metrics, dm_error *err);
int dm_backend_environment(dm_monitor *mon, dm_environment *out);
size_t dm_backend_sample_files(const dm_monitor *mon, unsigned metrics, const char **paths,
                               size_t cap);
size_t dm_backend_disk_count(const dm_monitor *mon);
const char *dm_backend_disk_name(const dm_monitor *mon, size_t i);
int dm_backend_net_mode(const dm_monitor *mon);
size_t dm_backend_iface_count(const dm_monitor *mon);
const char *dm_backend_iface_name(const dm_monitor *mon, size_t i);

/* ---- Helpers for opening ------------------------------------------------------------------- */

void dm_set_error(dm_error *e, int code, int os_errno, const char *path, const char *detail);

/* Checks the options of dm_monitor_open (clearing err first). A backend that reads the
   kernel directly (no files) takes no root prefix and no cgroup kind: `files_and_cgroups` 0;
   `platform` names it in the message. Returns DM_OK or the code also put in err. */
int dm_check_options(const dm_options *opts, dm_monitor *const *out, int files_and_cgroups,
                     const char *platform_message, dm_error *err);

/* Closes a monitor that failed to open and hands its error to the caller, the failing path
   copied into opts->error_path first (the monitor's own copy dies with it; NULL without one). */
int dm_fail_open(dm_monitor *mon, const dm_options *opts, dm_error e, dm_error *err);

#endif
