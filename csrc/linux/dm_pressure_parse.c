/* The pure parser of pressure stall information files (docs/semantics.md, "Pressure stalls
   and CPU throttling"). */
#include <string.h>

#include "dm_parse.h"
#include "dm_scan.h"

/* "KEY=" at line[*pos], then the kernel's %lu.%02lu: digits, a dot, two digits. */
static int average_field(const char *line, size_t len, size_t *pos, const char *key,
                         size_t klen)
{
    size_t i = *pos, digits = 0;
    if (len - i < klen || memcmp(line + i, key, klen) != 0)
        return -1;
    i += klen;
    while (i < len && dm_is_digit(line[i]) && digits < 20)
        i++, digits++;
    if (digits == 0 || i + 3 > len || line[i] != '.' || !dm_is_digit(line[i + 1]) ||
        !dm_is_digit(line[i + 2]))
        return -1;
    *pos = i + 3;
    return 0;
}

/* One line (without its newline): "some|full avg10=A avg60=A avg300=A total=N", fields split
   at single spaces as the kernel writes them. */
static int pressure_line(const char *line, size_t len, const char *kind, uint64_t *total)
{
    static const char *const averages[3] = {" avg10=", " avg60=", " avg300="};
    static const size_t average_len[3] = {7, 7, 8};
    size_t pos = 4;
    int k;
    if (len < 4 || memcmp(line, kind, 4) != 0)
        return -1;
    for (k = 0; k < 3; k++)
        if (average_field(line, len, &pos, averages[k], average_len[k]) != 0)
            return -1;
    if (len - pos < 7 || memcmp(line + pos, " total=", 7) != 0)
        return -1;
    pos += 7;
    if (pos >= len || !dm_is_digit(line[pos]) || dm_scan_u64(line, len, &pos, total) != 0)
        return -1;
    return pos == len ? 0 : -1;
}

int dm_parse_pressure(const char *buf, size_t len, dm_pressure_totals *out, const char **why)
{
    static const char *const kinds[2] = {"some", "full"};
    size_t start = 0;
    int k;
    const char *unused;
    if (why == NULL)
        why = &unused;
    *why = NULL;
    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    out->some_us = out->full_us = 0;
    out->has_full = 0;
    for (k = 0; k < 2 && start < len; k++) {
        int nl;
        size_t line_len = dm_line_len(buf, len, start, &nl);
        uint64_t total;
        if (!nl) {
            *why = "a line without its newline (a cut-off read)";
            return DM_E_PARSE;
        }
        if (pressure_line(buf + start, line_len, kinds[k], &total) != 0) {
            *why = k == 0 ? "first line is not \"some avg10=A avg60=A avg300=A total=N\""
                          : "second line is not \"full avg10=A avg60=A avg300=A total=N\"";
            return DM_E_PARSE;
        }
        if (k == 0)
            out->some_us = total;
        else
            out->full_us = total, out->has_full = 1;
        start += line_len + 1;
    }
    if (k == 0) {
        *why = "empty: no \"some\" line";
        return DM_E_PARSE;
    }
    if (start < len) {
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
