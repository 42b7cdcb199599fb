/* Figures from counters: intervals, resets and clamping (docs/semantics.md, "Rates in
   general"). */
#include <math.h>

#include "dm_types.h"

double dm_clamp_percent(double v)
{
    if (isnan(v) || v < 0.0)
        return 0.0;
    if (v > 100.0)
        return 100.0;
    return v;
}

/* A first CPU value before the minimum interval has passed needs this many clock ticks
   (across all CPUs): fewer give 0 % or 100 % from a tick or two, which says nothing. */
#define PROVISIONAL_MIN_TICKS 20

int64_t dm_elapsed_ns(int64_t from_ns, int64_t to_ns)
{
    uint64_t d;
    if (to_ns < from_ns)
        return -1;
    /* In unsigned arithmetic: the difference of two int64_t may not fit one. */
    d = (uint64_t)to_ns - (uint64_t)from_ns;
    return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

/* The first value is computed over whatever interval has passed since the baseline, without
   moving the baseline, until `min_interval_ns` has passed; after that, calls closer than the
   minimum return the last values. No figure is ever taken over less than DM_RATE_FLOOR_NS. */
int dm_rate_update(dm_rate_state *st, enum dm_figure figure, const uint64_t now[2], int reset,
                   int64_t now_ns, int64_t min_interval_ns, double out[2], const char **detail)
{
    uint64_t d0, d1;
    int64_t dt;
    double v[2];

    if (!st->has_prev) {
        st->prev[0] = now[0], st->prev[1] = now[1];
        st->prev_ns = now_ns;
        st->has_prev = 1;
        *detail = "baseline taken now; no interval measured yet";
        return DM_E_AGAIN;
    }
    if (reset || now[0] < st->prev[0] || now[1] < st->prev[1]) {
        /* A counter went down: reset (device re-added, cgroup recreated). No rate for this
           interval; start again from here. */
        st->prev[0] = now[0], st->prev[1] = now[1];
        st->prev_ns = now_ns;
        if (st->has_last)
            goto use_last;
        *detail = "counters went backwards (reset); no rate for this interval";
        return DM_E_AGAIN;
    }
    dt = dm_elapsed_ns(st->prev_ns, now_ns);
    if (dt < min_interval_ns && st->has_last)
        goto use_last;
    if (dt < DM_RATE_FLOOR_NS) {
        /* The interval goes on (the baseline stays) until it is long enough. */
        if (st->has_last)
            goto use_last;
        *detail = dt <= 0 ? "no time has passed since the baseline"
                          : "less than 10 ms since the baseline: too short an interval for a "
                            "rate; call again later";
        return DM_E_AGAIN;
    }
    d0 = now[0] - st->prev[0];
    d1 = now[1] - st->prev[1];
    if (figure == DM_FIGURE_PER_SECOND) {
        v[0] = (double)d0 * 1e9 / (double)dt;
        v[1] = (double)d1 * 1e9 / (double)dt;
    } else {
        if (d0 == 0 && d1 == 0) {
            if (st->has_last)
                goto use_last;
            *detail = "no CPU time accounted since the baseline (interval shorter than a tick)";
            return DM_E_AGAIN;
        }
        if (dt < min_interval_ns && d0 + d1 < PROVISIONAL_MIN_TICKS) {
            *detail = "too few clock ticks since the baseline for a first CPU value; call "
                      "again after the minimum interval";
            return DM_E_AGAIN;
        }
        v[0] = dm_clamp_percent((double)d0 / ((double)d0 + (double)d1) * 100.0);
        v[1] = 0.0;
    }
    if (dt >= min_interval_ns) {
        st->last[0] = v[0], st->last[1] = v[1];
        st->has_last = 1;
        st->prev[0] = now[0], st->prev[1] = now[1];
        st->prev_ns = now_ns;
    }
    out[0] = v[0], out[1] = v[1];
    return DM_OK;

use_last:
    out[0] = st->last[0], out[1] = st->last[1];
    return DM_OK;
}

int dm_rate_per_second(dm_rate_state *st, const uint64_t now[2], int64_t now_ns,
                       int64_t min_interval_ns, double out[2], const char **detail)
{
    return dm_rate_update(st, DM_FIGURE_PER_SECOND, now, 0, now_ns, min_interval_ns, out,
                          detail);
}

int dm_rate_busy_percent(dm_rate_state *st, uint64_t busy, uint64_t idle, int64_t now_ns,
                         int64_t min_interval_ns, double *out, const char **detail)
{
    uint64_t now[2];
    double v[2];
    int r;
    now[0] = busy, now[1] = idle;
    r = dm_rate_update(st, DM_FIGURE_BUSY_PERCENT, now, 0, now_ns, min_interval_ns, v, detail);
    if (r == DM_OK)
        *out = v[0];
    return r;
}

int dm_rate_reuse(const dm_rate_state *st, int64_t now_ns, int64_t min_interval_ns,
                  double out[2])
{
    if (!st->has_last || dm_elapsed_ns(st->prev_ns, now_ns) >= min_interval_ns)
        return 0;
    out[0] = st->last[0], out[1] = st->last[1];
    return 1;
}

int dm_level_reuse(const dm_level_state *st, int64_t now_ns, int64_t min_interval_ns,
                   double *out)
{
    if (!st->has_last || dm_elapsed_ns(st->read_ns, now_ns) >= min_interval_ns)
        return 0;
    *out = st->last;
    return 1;
}

void dm_level_keep(dm_level_state *st, int64_t now_ns, double value)
{
    st->last = value;
    st->read_ns = now_ns;
    st->has_last = 1;
}

int dm_memory_percent(const dm_meminfo *m, double *out)
{
    if (m->total == 0)
        return DM_E_PARSE;
    *out = dm_clamp_percent((double)(m->total - m->available) / (double)m->total * 100.0);
    return DM_OK;
}
