/* Internal: the plain types and pure functions every platform shares: limits, interface sets,
   and figures from counters (docs/semantics.md, "Rates in general"). No I/O, no allocation, no
   locks, no system headers: the test build declares this file to cffi as it is. */
#ifndef DM_TYPES_H
#define DM_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "danube_metrics.h"

/* The one fixed table, and what going past it does (never a silent drop: docs/semantics.md).
   Disks have none on any platform (each backend sizes its table at open or at the choice).
   DM_MAX_IFACES: the names of one interface set on Linux and macOS (a user list, or an
   automatic choice); past it the list is refused at open, or the network reading fails naming
   it. Windows sizes its interface table at open. */
#define DM_MAX_IFACES 1024
#define DM_NAME_MAX 32
/* The longest interface name a list may give on Linux and macOS (IFNAMSIZ - 1). */
#define DM_IFNAME_MAX 15

/* The interfaces a network reading counts. For DM_NET_PHYSICAL the names are in the order of
   the file they were chosen from, which a kernel keeps from one read to the next:
   dm_iface_set_find looks at `*hint` first. */
typedef struct dm_iface_set {
    int mode; /* DM_NET_* */
    size_t n;
    char name[DM_MAX_IFACES][DM_NAME_MAX];
} dm_iface_set;
/* Fills `set` from a list of names separated by commas or blanks (DM_NET_USER_LIST); a name
   given twice is kept once. DM_E_INVALID for an empty list, more than
   DM_MAX_IFACES names, or a name that is not a valid interface name: empty, longer than
   `max_len` bytes, holding '/', a blank or a control byte, or "." or "..". */
int dm_iface_set_from_list(const char *list, dm_iface_set *set);
int dm_iface_set_from_list_max(const char *list, size_t max_len, dm_iface_set *set);
/* Whether name[0..len) is a valid interface name of at most max_len bytes (see above). */
int dm_iface_name_valid(const char *name, size_t len, size_t max_len);
/* The index of name[0..len) in the set, or set->n. `hint` (may be NULL) is where to look
   first, and is left just past the name found. */
size_t dm_iface_set_find(const dm_iface_set *set, const char *name, size_t len, size_t *hint);

/* What kind of figure a reading gives. */
enum dm_figure {
    DM_FIGURE_LEVEL,        /* read as it is (memory %): kept for the minimum interval */
    DM_FIGURE_BUSY_PERCENT, /* busy / (busy + idle) * 100 of two cumulative counters */
    DM_FIGURE_PER_SECOND    /* per-second rates of two cumulative counters */
};

/* Previous counters of one rate, and its last computed values. */
typedef struct dm_rate_state {
    uint64_t prev[2];
    int64_t prev_ns;
    double last[2];
    int has_prev;
    int has_last;
} dm_rate_state;

/* The shortest interval a rate is taken over: the kernel's counters move in steps of a clock
   tick (USER_HZ is 100) or a completed request, so a shorter one gives 0 or a spike, which
   says nothing. A call sooner than this after the baseline reads its source but answers with
   the last value, or DM_E_AGAIN before there is one. */
#define DM_RATE_FLOOR_NS 10000000

/* to_ns - from_ns without overflow: INT64_MAX when it does not fit, -1 when to_ns is earlier
   (the clocks passed in through dm_monitor_sample_at are the caller's). */
int64_t dm_elapsed_ns(int64_t from_ns, int64_t to_ns);

/* One step of a rate (DM_FIGURE_BUSY_PERCENT or DM_FIGURE_PER_SECOND) at `now_ns`. `reset`
   says a counter went back this interval although the values in `now` did not (running
   totals kept across a wrap or a vanished device): like a counter that goes down, that
   interval gives no rate. DM_E_AGAIN (with *detail set) when no rate can be given. A busy
   percentage is out[0]. */
int dm_rate_update(dm_rate_state *st, enum dm_figure figure, const uint64_t now[2], int reset,
                   int64_t now_ns, int64_t min_interval_ns, double out[2], const char **detail);
/* dm_rate_update for per-second rates of two counters, with no reset. */
int dm_rate_per_second(dm_rate_state *st, const uint64_t now[2], int64_t now_ns,
                       int64_t min_interval_ns, double out[2], const char **detail);
/* dm_rate_update for busy / (busy + idle) * 100, with no reset. */
int dm_rate_busy_percent(dm_rate_state *st, uint64_t busy, uint64_t idle, int64_t now_ns,
                         int64_t min_interval_ns, double *out, const char **detail);
/* Whether a rate can be answered without reading anything: a last value exists and less than
   the minimum interval has passed since its interval ended. Copies it to out[0..1] if so. */
int dm_rate_reuse(const dm_rate_state *st, int64_t now_ns, int64_t min_interval_ns,
                  double out[2]);

/* The last value of a level and when it was read: within the minimum interval it is given
   again without reading, like the rates. */
typedef struct dm_level_state {
    double last;
    int64_t read_ns;
    int has_last;
} dm_level_state;
int dm_level_reuse(const dm_level_state *st, int64_t now_ns, int64_t min_interval_ns,
                   double *out);
void dm_level_keep(dm_level_state *st, int64_t now_ns, double value);

/* Clamps to 0..100, mapping NaN to 0. */
double dm_clamp_percent(double v);

/* Memory in bytes, as every platform reports it. */
typedef struct dm_meminfo {
    uint64_t total;
    uint64_t available;
    int has_mem_available; /* Linux: 0 when MemAvailable was absent (a fallback sum was used) */
} dm_meminfo;
/* (total - available) / total * 100, clamped to 0..100; DM_E_PARSE when total is 0. */
int dm_memory_percent(const dm_meminfo *m, double *out);

#endif
