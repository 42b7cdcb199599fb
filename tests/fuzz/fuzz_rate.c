/* libFuzzer harness: the rate arithmetic of csrc/common/dm_rate.c over arbitrary counters and
   times. Input: byte 0 picks the figure (busy percentage or per-second) for the whole run,
   bytes 1-8 the minimum interval (int64, ns), then steps of 25 bytes: a flags byte (bit 0:
   reset), two uint64 counters and an int64 monotonic time. Each step checks the promise of
   docs/semantics.md ("Rates in general"): a figure that is finite (a percentage within
   0..100, a rate at least 0), or DM_E_AGAIN with a reason, never anything else. Built and run
   by tools/fuzz.

   Built with -DFUZZ_RATE_BOUNDED_TIMES, times and the interval are kept below 2^61 ns (73
   years), so that a run looks past the signed overflow of times more than 2^63 ns apart (the
   known fault tests/fuzz/crashes/rate-* reproduces) for other faults. tools/fuzz never sets it. */
#include <math.h>

#include "dm_types.h"
#include "fuzz_common.h"

static uint64_t u64_at(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_rate_state st;
    dm_level_state lv;
    enum dm_figure figure;
    int64_t min_ns;
    size_t at;
    if (size < 9)
        return 0;
    memset(&st, 0, sizeof st);
    memset(&lv, 0, sizeof lv);
    figure = data[0] & 1 ? DM_FIGURE_PER_SECOND : DM_FIGURE_BUSY_PERCENT;
    min_ns = (int64_t)u64_at(data + 1);
#ifdef FUZZ_RATE_BOUNDED_TIMES
    min_ns &= ((int64_t)1 << 61) - 1;
#endif
    for (at = 9; at + 25 <= size; at += 25) {
        uint64_t now[2];
        int64_t now_ns = (int64_t)u64_at(data + at + 17);
        double out[2] = {-1.0, -1.0}, reused[2], level;
        const char *detail = NULL;
        int reset = data[at] & 1, rc, was_reusable;
#ifdef FUZZ_RATE_BOUNDED_TIMES
        now_ns &= ((int64_t)1 << 61) - 1;
#endif
        now[0] = u64_at(data + at + 1);
        now[1] = u64_at(data + at + 9);
        was_reusable = dm_rate_reuse(&st, now_ns, min_ns, reused);
        rc = dm_rate_update(&st, figure, now, reset, now_ns, min_ns, out, &detail);
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_AGAIN);
        if (rc == DM_E_AGAIN) {
            FUZZ_CHECK(detail != NULL && detail[0] != '\0');
        } else {
            FUZZ_CHECK(isfinite(out[0]) && isfinite(out[1]));
            FUZZ_CHECK(out[0] >= 0.0 && out[1] >= 0.0);
            if (figure == DM_FIGURE_BUSY_PERCENT)
                FUZZ_CHECK(out[0] <= 100.0);
            if (was_reusable && !reset)
                FUZZ_CHECK(out[0] == reused[0] && out[1] == reused[1]);
        }
        /* A level (memory %) kept and reused at the same times. */
        if (dm_level_reuse(&lv, now_ns, min_ns, &level))
            FUZZ_CHECK(level == lv.last);
        else
            dm_level_keep(&lv, now_ns, dm_clamp_percent((double)now[0] / 1e3));
    }
    return 0;
}
