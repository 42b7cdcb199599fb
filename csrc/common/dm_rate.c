/* Rates from cumulative counters: intervals, resets and clamping (semantics.md, "Rates"). */
#include <math.h>

#include "danube_metrics.h"

double dm_clamp_percent(double v)
{
    if (isnan(v) || v < 0.0)
        return 0.0;
    if (v > 100.0)
        return 100.0;
    return v;
}

enum rate_kind { PER_SECOND, BUSY_PERCENT };

/* A first CPU value before the minimum interval has passed needs this many clock ticks
   (across all CPUs): fewer give 0 % or 100 % from a tick or two, which says nothing. */
#define PROVISIONAL_MIN_TICKS 20

/* One step of a metric's rate state. The first value is computed over whatever interval has
   passed since the baseline, without moving the baseline, until `min_interval_ns` has passed;
   after that, calls closer than the minimum return the last values. */
static int rate_step(dm_rate_state *st, enum rate_kind kind, const uint64_t now[2],
                     int64_t now_ns, int64_t min_interval_ns, double out[2],
                     const char **detail)
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
    if (now[0] < st->prev[0] || now[1] < st->prev[1]) {
        /* A counter went down: reset (device re-added, cgroup recreated). No rate for this
           interval; start again from here. */
        st->prev[0] = now[0], st->prev[1] = now[1];
        st->prev_ns = now_ns;
        if (st->has_last)
            goto use_last;
        *detail = "counters went backwards (reset); no rate for this interval";
        return DM_E_AGAIN;
    }
    dt = now_ns - st->prev_ns;
    if (dt < min_interval_ns && st->has_last)
        goto use_last;
    if (dt <= 0) {
        if (st->has_last)
            goto use_last;
        *detail = "no time has passed since the baseline";
        return DM_E_AGAIN;
    }
    d0 = now[0] - st->prev[0];
    d1 = now[1] - st->prev[1];
    if (kind == PER_SECOND) {
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
    return rate_step(st, PER_SECOND, now, now_ns, min_interval_ns, out, detail);
}

int dm_rate_busy_percent(dm_rate_state *st, uint64_t busy, uint64_t idle, int64_t now_ns,
                         int64_t min_interval_ns, double *out, const char **detail)
{
    uint64_t now[2];
    double v[2];
    int r;
    now[0] = busy, now[1] = idle;
    r = rate_step(st, BUSY_PERCENT, now, now_ns, min_interval_ns, v, detail);
    if (r == DM_OK)
        *out = v[0];
    return r;
}

int dm_rate_reuse(const dm_rate_state *st, int64_t now_ns, int64_t min_interval_ns,
                  double out[2])
{
    if (!st->has_last || now_ns - st->prev_ns >= min_interval_ns)
        return 0;
    out[0] = st->last[0], out[1] = st->last[1];
    return 1;
}

int dm_level_reuse(const dm_level_state *st, int64_t now_ns, int64_t min_interval_ns,
                   double *out)
{
    if (!st->has_last || now_ns - st->read_ns >= min_interval_ns)
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
