/* The one routine every reading of every backend goes through (see struct dm_reading). */
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

static int take_reading(dm_monitor *mon, int i, int64_t now_ns, double *figures, dm_error *err)
{
    struct dm_monitor_head *h = dm_head(mon);
    const struct dm_reading *rd = h->reading[i];
    struct dm_counters c;
    const char *detail = NULL;
    double rate[2];
    int r;

    /* Within the minimum interval the last figure is the answer: nothing is read. */
    if (rd->figure == DM_FIGURE_LEVEL) {
        if (dm_level_reuse(&h->level[i], now_ns, h->min_interval_ns, &figures[0]))
            return DM_OK;
    } else if (dm_rate_reuse(&h->rate[i], now_ns, h->min_interval_ns, rate)) {
        goto have_rate;
    }
    c.reset = 0;
    c.source = NULL;
    if ((r = rd->read(mon, now_ns, &c, err)) != DM_OK)
        return r;
    if (rd->figure == DM_FIGURE_LEVEL) {
        figures[0] = c.level;
        dm_level_keep(&h->level[i], now_ns, c.level);
        return DM_OK;
    }
    r = dm_rate_update(&h->rate[i], rd->figure, c.v, c.reset, now_ns, h->min_interval_ns, rate,
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
    int first = DM_OK, buffer = 0, i, r;
    for (i = 0; i < DM_READINGS; i++) {
        dm_error *err;
        if (!(metrics & (1u << i)))
            continue; /* left as it was, so that a caller can retry a subset */
        err = error_of(out, i);
        dm_set_error(err, DM_OK, 0, NULL, NULL);
        r = take_reading(mon, i, now_ns, figures_of(out, i), err);
        if (r != DM_OK && first == DM_OK)
            first = r;
        if (err->code == DM_E_BUFFER)
            buffer = 1;
    }
    return buffer ? DM_E_BUFFER : first;
}

int dm_take_baseline(dm_monitor *mon, const dm_options *opts, dm_error *first_failure)
{
    dm_sample baseline;
    int i, working = 0;
    memset(&baseline, 0, sizeof baseline);
    dm_sample_metrics(mon, DM_ALL, opts->start_ns != 0 ? opts->start_ns : dm_monotonic_ns(),
                      &baseline);
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
