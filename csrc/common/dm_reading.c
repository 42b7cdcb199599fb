/* The one routine every reading of every backend goes through (see struct dm_reading). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "dm_core.h"

/* Where each reading's figures and status go in a dm_sample, in the order of the metric bits. */
static const size_t figures_at[DM_READINGS] = {
    offsetof(dm_sample, cpu_percent), offsetof(dm_sample, memory_percent),
    offsetof(dm_sample, disk_read_bytes_per_sec), offsetof(dm_sample, net_rx_bytes_per_sec)};
static const size_t error_at[DM_READINGS] = {offsetof(dm_sample, cpu), offsetof(dm_sample, memory),
                                             offsetof(dm_sample, disk),
                                             offsetof(dm_sample, network)};

static double *figures_of(dm_sample *out, int i)
{
    return (double *)(void *)((char *)out + figures_at[i]);
}

static dm_error *error_of(dm_sample *out, int i)
{
    return (dm_error *)(void *)((char *)out + error_at[i]);
}

/* One reading with its own rate and level states: the readings of dm_monitor_sample and the
   pressure readings go through the same steps. */
static int take_reading(dm_monitor *mon, const struct dm_reading *rd, dm_rate_state *rate_st,
                        dm_level_state *level_st, int64_t now_ns, double *figures, dm_error *err)
{
    struct dm_monitor_head *h = dm_head(mon);
    struct dm_counters c;
    const char *detail = NULL;
    double rate[2];
    int r;

    /* Within the minimum interval the last figure is the answer: nothing is read. */
    if (rd->figure == DM_FIGURE_LEVEL) {
        if (dm_level_reuse(level_st, now_ns, h->min_interval_ns, &figures[0]))
            return DM_OK;
    } else if (dm_rate_reuse(rate_st, now_ns, h->min_interval_ns, rate)) {
        goto have_rate;
    }
    c.reset = 0;
    c.source = NULL;
    if ((r = rd->read(mon, now_ns, &c, err)) != DM_OK)
        return r;
    if (rd->figure == DM_FIGURE_LEVEL) {
        figures[0] = c.level;
        dm_level_keep(level_st, now_ns, c.level);
        return DM_OK;
    }
    r = dm_rate_update(rate_st, rd->figure, c.v, c.reset, now_ns, h->min_interval_ns, rate,
                       &detail);
    if (r != DM_OK) {
        dm_set_error(err, r, 0, c.source, detail);
        return r;
    }
have_rate:
    if (rd->figure == DM_FIGURE_BUSY_PERCENT) {
        figures[0] = rate[0];
    } else if (rd->scale != NULL) {
        figures[0] = rd->scale(mon, rate[0]);
    } else {
        figures[0] = rate[0];
        figures[1] = rate[1];
    }
    return DM_OK;
}

int dm_sample_metrics(dm_monitor *mon, unsigned metrics, int64_t now_ns, dm_sample *out)
{
    struct dm_monitor_head *h = dm_head(mon);
    int first = DM_OK, buffer = 0, i, r;
    for (i = 0; i < DM_READINGS; i++) {
        dm_error *err;
        if (!(metrics & (1u << i)))
            continue; /* left as it was, so that a caller can retry a subset */
        err = error_of(out, i);
        dm_set_error(err, DM_OK, 0, NULL, NULL);
        r = take_reading(mon, h->reading[i], &h->rate[i], &h->level[i], now_ns,
                         figures_of(out, i), err);
        if (r != DM_OK && first == DM_OK)
            first = r;
        if (err->code == DM_E_BUFFER)
            buffer = 1;
    }
    return buffer ? DM_E_BUFFER : first;
}

/* ---- Pressure -------------------------------------------------------------------------- */

static const char NO_PRESSURE_SOURCE[] =
    "no pressure stall or CPU throttling source on this platform (Linux only)";

/* PSI counts stalled microseconds: per second of wall time, a share of it. The kernel's total
   cannot outgrow wall time; our clock and its are read a few microseconds apart, hence the
   clamp. */
static double stall_percent(double us_per_second)
{
    return dm_clamp_percent(us_per_second / 1e4);
}

int dm_sample_pressure(dm_monitor *mon, int64_t now_ns, dm_pressure *out)
{
    struct dm_monitor_head *h = dm_head(mon);
    double rate[DM_PRESSURE_READINGS][2];
    dm_error err[DM_PRESSURE_READINGS], *source[4];
    /* The figures of each source (bits of `unsupported`), in the order of source[]. */
    static const unsigned source_bits[4] = {1u, 6u, 24u, 96u};
    int i, first = DM_OK, buffer = 0, unsupported = 0;
    double *f = &out->cpu_some_percent;

    for (i = 0; i < DM_PRESSURE_READINGS; i++) {
        rate[i][0] = rate[i][1] = 0.0;
        dm_set_error(&err[i], DM_OK, 0, NULL, NULL);
        if (h->pressure[i] == NULL)
            dm_set_error(&err[i], DM_E_UNSUPPORTED, 0, NULL, NO_PRESSURE_SOURCE);
        else
            take_reading(mon, h->pressure[i], &h->pressure_rate[i], NULL, now_ns, rate[i],
                         &err[i]);
    }
    f[0] = stall_percent(rate[DM_PRESSURE_CPU][0]);
    f[1] = stall_percent(rate[DM_PRESSURE_MEMORY][0]);
    f[2] = stall_percent(rate[DM_PRESSURE_MEMORY][1]);
    f[3] = stall_percent(rate[DM_PRESSURE_IO][0]);
    f[4] = stall_percent(rate[DM_PRESSURE_IO][1]);
    /* No period at all in the interval: the cgroup ran nothing under its quota, so nothing was
       throttled (the kernel's period timer stops while the cgroup is idle). */
    f[5] = rate[DM_PRESSURE_PERIODS][1] > 0.0
               ? dm_clamp_percent(rate[DM_PRESSURE_PERIODS][0] / rate[DM_PRESSURE_PERIODS][1] *
                                  100.0)
               : 0.0;
    f[6] = rate[DM_PRESSURE_THROTTLED_TIME][0] / 1e9;
    out->cpu = err[DM_PRESSURE_CPU];
    out->memory = err[DM_PRESSURE_MEMORY];
    out->io = err[DM_PRESSURE_IO];
    out->throttling = err[DM_PRESSURE_PERIODS].code != DM_OK ? err[DM_PRESSURE_PERIODS]
                                                             : err[DM_PRESSURE_THROTTLED_TIME];
    source[0] = &out->cpu, source[1] = &out->memory, source[2] = &out->io;
    source[3] = &out->throttling;
    out->unsupported = 0;
    for (i = 0; i < 4; i++) {
        int code = source[i]->code, k;
        if (code == DM_OK)
            continue;
        for (k = 0; k < DM_PRESSURE_FIGURES; k++)
            if (source_bits[i] & (1u << k))
                f[k] = NAN;
        if (code == DM_E_UNSUPPORTED) {
            out->unsupported |= source_bits[i];
            unsupported++;
        } else if (code == DM_E_BUFFER) {
            buffer = 1;
        } else if (first == DM_OK) {
            first = code;
        }
    }
    if (buffer)
        return DM_E_BUFFER;
    if (first != DM_OK)
        return first;
    return unsupported == 4 ? DM_E_UNSUPPORTED : DM_OK;
}

int dm_take_baseline(dm_monitor *mon, const dm_options *opts, dm_error *first_failure)
{
    dm_sample baseline;
    int i, working = 0;
    memset(&baseline, 0, sizeof baseline);
    dm_sample_metrics(mon, DM_ALL, opts->start_ns != 0 ? opts->start_ns : dm_monotonic_ns(),
                      &baseline);
    {
        /* Pressure is not a reading of dm_monitor_sample: its baseline counts for nothing. */
        dm_pressure pressure;
        dm_sample_pressure(mon, opts->start_ns != 0 ? opts->start_ns : dm_monotonic_ns(),
                           &pressure);
    }
    dm_set_error(first_failure, DM_OK, 0, NULL, NULL);
    for (i = 0; i < DM_READINGS; i++) {
        const dm_error *e = error_of(&baseline, i);
        if (e->code == DM_OK || e->code == DM_E_AGAIN)
            working++;
        else if (first_failure->code == DM_OK)
            *first_failure = *e;
    }
    return working;
}
