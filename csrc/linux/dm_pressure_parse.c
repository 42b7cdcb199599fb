/* The pure parser of pressure stall information files (docs/semantics.md, "Pressure stalls
   and CPU throttling"). */
#include <string.h>

#include "dm_parse.h"
#include "dm_scan.h"

/* This runs on every pressure reading, six lines a call, so it is written for speed: one pass
   over the bytes, each literal of a constant length (the compiler compares it in a load or
   two, without calling memcmp). */

/* The literal lit[0..n) at *p, before end: moves *p past it. */
static inline int literal(const char **p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return -1;
    *p += n;
    return 0;
}

/* The kernel's %lu.%02lu: 1 to 20 digits, a dot, two digits. */
static inline int average(const char **p, const char *end)
{
    const char *q = *p, *start = q;
    while (q < end && dm_is_digit(*q))
        q++;
    if (q == start || q - start > 20 || end - q < 3 || q[0] != '.' || !dm_is_digit(q[1]) ||
        !dm_is_digit(q[2]))
        return -1;
    *p = q + 3;
    return 0;
}

/* One line at *p, before end: "some|full avg10=A avg60=A avg300=A total=N\n", fields split
   at single spaces as the kernel writes them. Moves *p past its newline. */
static int pressure_line(const char **p, const char *end, int full, uint64_t *total)
{
    const char *q = *p, *digits;
    uint64_t v = 0;
    if (literal(&q, end, full ? "full" : "some", 4) != 0 ||
        literal(&q, end, " avg10=", 7) != 0 || average(&q, end) != 0 ||
        literal(&q, end, " avg60=", 7) != 0 || average(&q, end) != 0 ||
        literal(&q, end, " avg300=", 8) != 0 || average(&q, end) != 0 ||
        literal(&q, end, " total=", 7) != 0)
        return -1;
    for (digits = q; q < end && dm_is_digit(*q); q++)
        v = v * 10 + (uint64_t)(*q - '0');
    if (q == digits || q == end || *q != '\n')
        return -1;
    if (q - digits > 19) { /* may have wrapped: read it again, checked */
        size_t at = 0;
        if (dm_scan_u64(digits, (size_t)(q - digits), &at, &v) != 0)
            return -1;
    }
    *total = v;
    *p = q + 1;
    return 0;
}

int dm_parse_pressure(const char *buf, size_t len, dm_pressure_totals *out, const char **why)
{
    const char *p = buf, *end = buf + len;
    int k;
    const char *unused;
    if (why == NULL)
        why = &unused;
    *why = NULL;
    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    out->some_us = out->full_us = 0;
    out->has_full = 0;
    for (k = 0; k < 2 && p < end; k++) {
        uint64_t total;
        if (pressure_line(&p, end, k, &total) != 0) {
            /* Only now is the newline looked for: which of the two faults it is. */
            if (memchr(p, '\n', (size_t)(end - p)) == NULL)
                *why = "a line without its newline (a cut-off read)";
            else
                *why = k == 0 ? "first line is not \"some avg10=A avg60=A avg300=A total=N\""
                              : "second line is not \"full avg10=A avg60=A avg300=A total=N\"";
            return DM_E_PARSE;
        }
        if (k == 0)
            out->some_us = total;
        else
            out->full_us = total, out->has_full = 1;
    }
    if (k == 0) {
        *why = "empty: no \"some\" line";
        return DM_E_PARSE;
    }
    if (p < end) {
        *why = "more than the \"some\" and \"full\" lines";
        return DM_E_PARSE;
    }
    return DM_OK;
}

int dm_parse_cpu_throttling(const char *buf, size_t len, int version, size_t *hints,
                            dm_throttling *out, const char **why)
{
    size_t spare[3] = {0, 0, 0};
    uint64_t time;
    const char *unused;
    if (why == NULL)
        why = &unused;
    *why = NULL;
    if (buf == NULL || out == NULL || (version != 1 && version != 2))
        return DM_E_INVALID;
    if (hints == NULL)
        hints = spare;
    if (dm_parse_keyed_u64(buf, len, "nr_periods", &hints[0], &out->periods) != DM_OK) {
        *why = "no nr_periods line (the cpu controller's bandwidth counters)";
        return DM_E_PARSE;
    }
    if (dm_parse_keyed_u64(buf, len, "nr_throttled", &hints[1], &out->throttled_periods) !=
        DM_OK) {
        *why = "no nr_throttled line";
        return DM_E_PARSE;
    }
    if (dm_parse_keyed_u64(buf, len, version == 2 ? "throttled_usec" : "throttled_time",
                           &hints[2], &time) != DM_OK) {
        *why = version == 2 ? "no throttled_usec line" : "no throttled_time line";
        return DM_E_PARSE;
    }
    if (version == 2 && time > UINT64_MAX / 1000u) {
        *why = "throttled_usec beyond 2^64 nanoseconds";
        return DM_E_PARSE;
    }
    out->throttled_ns = version == 2 ? time * 1000u : time;
    return DM_OK;
}
