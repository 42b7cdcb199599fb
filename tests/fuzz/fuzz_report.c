/* libFuzzer harness: the plain upstream report reader of csrc/common/dm_report_json.c
   (dm_read_plain_report). Byte 0 picks the topic capacity (0-15), the rest is the text, handed
   over in a heap copy of exactly its length, with topic arrays of exactly that capacity (NULL
   for none), so that a read past the text or a write past the arrays is an ASan report.
   Besides "no crash, no undefined behaviour", each answer is checked against the header's
   promise: a known status; for a plain report, resources distinct and known, usages, rates and
   figures finite and in range, topic names spans of the text that hold printable ASCII between
   its quotes; for DM_E_BUFFER, more topics than room, and the same report read whole once the
   room is given. Built and run by tools/fuzz. */
#include <math.h>

#include "danube_metrics.h"
#include "fuzz_common.h"

typedef struct room {
    uint64_t *counts;
    double *mbps;
    uint64_t *names;
} room;

/* Topic arrays of exactly `capacity` topics (none for 0). */
static void room_make(room *r, dm_plain_report *out, size_t capacity)
{
    r->counts = capacity ? malloc(capacity * DM_REPORT_TOPIC_COUNTS * sizeof *r->counts) : NULL;
    r->mbps = capacity ? malloc(capacity * sizeof *r->mbps) : NULL;
    r->names = capacity ? malloc(capacity * 2 * sizeof *r->names) : NULL;
    FUZZ_CHECK(capacity == 0 || (r->counts && r->mbps && r->names));
    out->topic_counts = r->counts;
    out->topic_mbps = r->mbps;
    out->topic_names = r->names;
    out->topic_capacity = capacity;
}

static void room_free(room *r)
{
    free(r->counts);
    free(r->mbps);
    free(r->names);
}

static int finite_rate(double v) { return isfinite(v) && v >= 0.0; }

static void check_plain(const char *text, size_t n, const dm_plain_report *out)
{
    unsigned seen = 0;
    int i;
    size_t t;
    FUZZ_CHECK(out->resource_count >= 0 && out->resource_count <= DM_REPORT_RESOURCES);
    for (i = 0; i < out->resource_count; i++) {
        int r = out->resources[i];
        FUZZ_CHECK(r >= 0 && r < DM_REPORT_RESOURCES);
        FUZZ_CHECK(!(seen & (1u << r)));
        seen |= 1u << r;
        FUZZ_CHECK(finite_rate(out->usage[i]));
        if (r == 0 || r == 1) /* CPU and Memory: percentages */
            FUZZ_CHECK(out->usage[i] <= 100.0);
    }
    FUZZ_CHECK(finite_rate(out->total_throughput_mbps));
    FUZZ_CHECK(out->topic_count <= out->topic_capacity);
    for (t = 0; t < out->topic_count; t++) {
        uint64_t start = out->topic_names[2 * t], end = out->topic_names[2 * t + 1], k;
        FUZZ_CHECK(start <= end && end <= n);
        /* Between the quotes of a string of the text. */
        FUZZ_CHECK(start >= 1 && text[start - 1] == '"' && end < n && text[end] == '"');
        for (k = start; k < end; k++) {
            unsigned char ch = (unsigned char)text[k];
            FUZZ_CHECK(ch >= 0x20 && ch <= 0x7e && ch != '"' && ch != '\\');
        }
        FUZZ_CHECK(finite_rate(out->topic_mbps[t]));
    }
    FUZZ_CHECK(out->pressure_given == 0 || out->pressure_given == 1);
    FUZZ_CHECK(out->pressure_figures < (1u << DM_PRESSURE_FIGURES));
    FUZZ_CHECK(out->pressure_given || out->pressure_figures == 0);
    for (i = 0; i < DM_PRESSURE_FIGURES; i++) {
        if (!(out->pressure_figures & (1u << i)))
            continue;
        FUZZ_CHECK(finite_rate(out->pressure[i]));
        if (i != 6) /* all but the throttled seconds per second are percentages */
            FUZZ_CHECK(out->pressure[i] <= 100.0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dm_plain_report out;
    room r;
    char *text;
    size_t n;
    int rc;
    if (size < 1)
        return 0;
    n = size - 1;
    text = fuzz_copy(data + 1, n);
    memset(&out, 0, sizeof out);
    room_make(&r, &out, data[0] % 16);
    rc = dm_read_plain_report(text, n, &out);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE || rc == DM_E_BUFFER);
    if (rc == DM_OK)
        check_plain(text, n, &out);
    if (rc == DM_E_BUFFER) {
        size_t count = out.topic_count;
        FUZZ_CHECK(count > out.topic_capacity);
        /* What the binding does: room for them all, and again. */
        room_free(&r);
        room_make(&r, &out, count);
        rc = dm_read_plain_report(text, n, &out);
        FUZZ_CHECK(rc == DM_OK);
        FUZZ_CHECK(out.topic_count == count);
        check_plain(text, n, &out);
    }
    room_free(&r);
    free(text);
    return 0;
}
