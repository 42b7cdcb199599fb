/* The plain upstream load report reader (danube_metrics.h, dm_read_plain_report).

   A recursive-descent scan of the one shape a broker writes, bounded by the text's length at
   every byte. It never decides that a text is malformed: whatever falls outside the plain
   shape, valid JSON or not, is "not plain" and left to the Python reader, which accepts or
   refuses it with a reason. So each rule here may be stricter than the Python reader's (a
   negative zero, an escaped string, an integer where a float is kept, a key not known: all
   left to it), never looser. */
#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "danube_metrics.h"

typedef struct cursor {
    const char *at;
    const char *end;
} cursor;

typedef struct name {
    const char *text;
    size_t length;
} name;

#define NAME(s) {s, sizeof(s) - 1}

enum report_field {
    F_RESOURCES,
    F_TOPICS,
    F_THROUGHPUT,
    F_MESSAGE_RATE,
    F_LAG,
    F_TIMESTAMP,
    F_BROKER_ID,
    F_PRESSURE,
    REPORT_FIELDS
};
static const name report_fields[REPORT_FIELDS] = {
    NAME("resources_usage"),    NAME("topics"),    NAME("total_throughput_mbps"),
    NAME("total_message_rate"), NAME("total_lag_messages"), NAME("timestamp"),
    NAME("broker_id"),          NAME("pressure"),
};
#define REQUIRED_FIELDS ((1u << F_RESOURCES) | (1u << F_TIMESTAMP) | (1u << F_BROKER_ID))

static const name resource_names[DM_REPORT_RESOURCES] = {
    NAME("CPU"), NAME("Memory"), NAME("DiskIO"), NAME("NetworkIO"),
};
/* CPU and Memory are percentages; disk and network I/O any finite rate. */
static const double usage_limit[DM_REPORT_RESOURCES] = {100.0, 100.0, DBL_MAX, DBL_MAX};

/* TopicLoad's fields; the counts go to their slot among DM_REPORT_TOPIC_COUNTS. */
enum topic_field { T_NAME, T_MESSAGE_RATE, T_BYTE_RATE, T_MBPS, T_PRODUCERS, T_CONSUMERS,
                   T_SUBSCRIPTIONS, T_BACKLOG, TOPIC_FIELDS };
static const name topic_fields[TOPIC_FIELDS] = {
    NAME("topic_name"),     NAME("message_rate"),   NAME("byte_rate"),
    NAME("byte_rate_mbps"), NAME("producer_count"), NAME("consumer_count"),
    NAME("subscription_count"), NAME("backlog_messages"),
};
static const int count_slot[TOPIC_FIELDS] = {-1, 0, 1, -1, 2, 3, 4, 5};

static const name pressure_fields[DM_PRESSURE_FIGURES] = {
    NAME("cpu_some_percent"),      NAME("memory_some_percent"), NAME("memory_full_percent"),
    NAME("io_some_percent"),       NAME("io_full_percent"),     NAME("cpu_throttled_percent"),
    NAME("cpu_throttled_seconds_per_second"),
};
/* Every figure but the throttled seconds per second is a percentage. */
#define PRESSURE_RATE_FIGURE 6

static void skip_space(cursor *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\n' || *c->at == '\r' || *c->at == '\t'))
        c->at++;
}

/* Takes `ch` after any whitespace: 1 if it was there. */
static int take(cursor *c, char ch)
{
    skip_space(c);
    if (c->at < c->end && *c->at == ch) {
        c->at++;
        return 1;
    }
    return 0;
}

/* A string of printable ASCII without escapes: its span. */
static int string_span(cursor *c, const char **start, size_t *length)
{
    const char *s;
    if (!take(c, '"'))
        return 0;
    for (s = c->at; c->at < c->end; c->at++) {
        unsigned char ch = (unsigned char)*c->at;
        if (ch == '"') {
            *start = s;
            *length = (size_t)(c->at - s);
            c->at++;
            return 1;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return 0;
    }
    return 0;
}

/* The index in names[0..count) of the string at the cursor, or -1. */
static int name_index(cursor *c, const name *names, int count)
{
    const char *s;
    size_t n;
    int i;
    if (!string_span(c, &s, &n))
        return -1;
    for (i = 0; i < count; i++)
        if (names[i].length == n && memcmp(names[i].text, s, n) == 0)
            return i;
    return -1;
}

/* A key of names[0..count) not in *seen (added to it), and its colon: the key's index, or -1. */
static int key(cursor *c, const name *names, int count, unsigned *seen)
{
    int i = name_index(c, names, count);
    if (i < 0 || (*seen & (1u << i)) || !take(c, ':'))
        return -1;
    *seen |= 1u << i;
    return i;
}

static int is_digit(const cursor *c, const char *p)
{
    return p < c->end && *p >= '0' && *p <= '9';
}

/* A JSON number without a sign: its span, and whether it has a fraction or an exponent. */
static int number_span(cursor *c, const char **start, size_t *length, int *fractional)
{
    const char *p;
    skip_space(c);
    p = c->at;
    *fractional = 0;
    if (!is_digit(c, p))
        return 0;
    if (*p == '0')
        p++;
    else
        while (is_digit(c, p))
            p++;
    if (p < c->end && *p == '.') {
        p++;
        if (!is_digit(c, p))
            return 0;
        while (is_digit(c, p))
            p++;
        *fractional = 1;
    }
    if (p < c->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < c->end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(c, p))
            return 0;
        while (is_digit(c, p))
            p++;
        *fractional = 1;
    }
    *start = c->at;
    *length = (size_t)(p - c->at);
    c->at = p;
    return 1;
}

/* An integer literal that fits 64 bits unsigned. */
static int read_count(cursor *c, uint64_t *out)
{
    const char *s;
    size_t n, i;
    int fractional;
    uint64_t value = 0;
    if (!number_span(c, &s, &n, &fractional) || fractional)
        return 0;
    for (i = 0; i < n; i++) {
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return 0;
        value = value * 10 + digit;
    }
    *out = value;
    return 1;
}

/* A number with a fraction or an exponent, at most `limit`: strtod's correctly rounded value,
   as Python's float() gives. strtod reads a NUL-terminated copy (nothing past the text), and
   a value it did not read whole (a locale whose decimal point is not '.') or out of range
   (overflow, or an underflow to zero) is not plain. A subnormal result also sets ERANGE, but
   it is the correctly rounded value, and one the package writes (ryu's "5e-324"). */
static int read_rate(cursor *c, double limit, double *out)
{
    char copy[64];
    char *stop;
    const char *s;
    size_t n;
    int fractional, saved_errno;
    double value;
    if (!number_span(c, &s, &n, &fractional) || !fractional || n >= sizeof copy)
        return 0;
    memcpy(copy, s, n);
    copy[n] = '\0';
    saved_errno = errno;
    errno = 0;
    value = strtod(copy, &stop);
    if (stop != copy + n || (errno == ERANGE && value == 0.0) || !(value <= limit)) {
        errno = saved_errno;
        return 0;
    }
    errno = saved_errno;
    *out = value;
    return 1;
}

static int take_null(cursor *c)
{
    skip_space(c);
    if (c->end - c->at >= 4 && memcmp(c->at, "null", 4) == 0) {
        c->at += 4;
        return 1;
    }
    return 0;
}

/* A list's opening `open` (an object's '{', an array's '['): 1 when an item follows, 0 when
   the list is empty, -1 when the list is not there. */
static int list_open(cursor *c, char open, char close)
{
    if (!take(c, open))
        return -1;
    return take(c, close) ? 0 : 1;
}

/* After an item: 1 when another follows, 0 when the list closes, -1 when neither. */
static int list_next(cursor *c, char close)
{
    if (take(c, ','))
        return 1;
    return take(c, close) ? 0 : -1;
}

static const name resource_fields[2] = {NAME("resource"), NAME("usage")};

static int read_resource(cursor *c, dm_plain_report *out, unsigned *resources_seen)
{
    unsigned seen = 0;
    int resource = -1, more = list_open(c, '{', '}');
    cursor usage = {NULL, c->end};
    while (more > 0) {
        int field = key(c, resource_fields, 2, &seen);
        if (field == 0) {
            resource = name_index(c, resource_names, DM_REPORT_RESOURCES);
            if (resource < 0 || (*resources_seen & (1u << resource)))
                return 0;
            *resources_seen |= 1u << resource;
        } else if (field == 1) {
            /* Read once the resource, which may come after it, gives its limit. */
            const char *s;
            size_t n;
            int fractional;
            skip_space(c);
            usage.at = c->at;
            if (!number_span(c, &s, &n, &fractional))
                return 0;
        } else {
            return 0;
        }
        more = list_next(c, '}');
    }
    if (more < 0 || seen != 3u)
        return 0;
    if (!read_rate(&usage, usage_limit[resource], &out->usage[out->resource_count]))
        return 0;
    out->resources[out->resource_count++] = resource;
    return 1;
}

static int read_resources(cursor *c, dm_plain_report *out)
{
    unsigned seen = 0;
    int more = list_open(c, '[', ']');
    while (more > 0) {
        /* A fifth resource gives a known one twice, which read_resource refuses. */
        if (!read_resource(c, out, &seen))
            return 0;
        more = list_next(c, ']');
    }
    return more == 0;
}

static int read_topic(cursor *c, const char *text, dm_plain_report *out)
{
    unsigned seen = 0;
    size_t i = out->topic_count;
    int room = i < out->topic_capacity, more = list_open(c, '{', '}');
    while (more > 0) {
        int field = key(c, topic_fields, TOPIC_FIELDS, &seen);
        uint64_t count;
        double mbps;
        const char *s;
        size_t n;
        if (field == T_NAME) {
            if (!string_span(c, &s, &n))
                return 0;
            if (room) {
                out->topic_names[2 * i] = (uint64_t)(s - text);
                out->topic_names[2 * i + 1] = (uint64_t)(s - text) + n;
            }
        } else if (field == T_MBPS) {
            if (!read_rate(c, DBL_MAX, &mbps))
                return 0;
            if (room)
                out->topic_mbps[i] = mbps;
        } else if (field > 0) {
            if (!read_count(c, &count))
                return 0;
            if (room)
                out->topic_counts[DM_REPORT_TOPIC_COUNTS * i + (size_t)count_slot[field]] = count;
        } else {
            return 0;
        }
        more = list_next(c, '}');
    }
    if (more < 0 || seen != (1u << TOPIC_FIELDS) - 1)
        return 0;
    out->topic_count = i + 1;
    return 1;
}

static int read_topics(cursor *c, const char *text, dm_plain_report *out)
{
    int more = list_open(c, '[', ']');
    while (more > 0) {
        if (!read_topic(c, text, out))
            return 0;
        more = list_next(c, ']');
    }
    return more == 0;
}

static int read_pressure(cursor *c, dm_plain_report *out)
{
    unsigned seen = 0;
    int more;
    if (take_null(c))
        return 1;
    out->pressure_given = 1;
    more = list_open(c, '{', '}');
    while (more > 0) {
        int figure = key(c, pressure_fields, DM_PRESSURE_FIGURES, &seen);
        if (figure < 0)
            return 0;
        if (!take_null(c)) {
            double limit = figure == PRESSURE_RATE_FIGURE ? DBL_MAX : 100.0;
            if (!read_rate(c, limit, &out->pressure[figure]))
                return 0;
            out->pressure_figures |= 1u << figure;
        }
        more = list_next(c, '}');
    }
    return more == 0;
}

static int read_report(cursor *c, const char *text, dm_plain_report *out)
{
    unsigned seen = 0;
    int more = list_open(c, '{', '}');
    while (more > 0) {
        int ok;
        switch (key(c, report_fields, REPORT_FIELDS, &seen)) {
        case F_RESOURCES: ok = read_resources(c, out); break;
        case F_TOPICS: ok = read_topics(c, text, out); break;
        case F_THROUGHPUT: ok = read_rate(c, DBL_MAX, &out->total_throughput_mbps); break;
        case F_MESSAGE_RATE: ok = read_count(c, &out->total_message_rate); break;
        case F_LAG: ok = read_count(c, &out->total_lag_messages); break;
        case F_TIMESTAMP: ok = read_count(c, &out->timestamp); break;
        case F_BROKER_ID: ok = read_count(c, &out->broker_id); break;
        case F_PRESSURE: ok = read_pressure(c, out); break;
        default: ok = 0;
        }
        if (!ok)
            return 0;
        more = list_next(c, '}');
    }
    return more == 0 && (seen & REQUIRED_FIELDS) == REQUIRED_FIELDS;
}

int dm_read_plain_report(const char *text, size_t length, dm_plain_report *out)
{
    cursor c;
    if (text == NULL || out == NULL ||
        (out->topic_capacity > 0 &&
         (out->topic_counts == NULL || out->topic_mbps == NULL || out->topic_names == NULL)))
        return DM_E_INVALID;
    out->timestamp = out->broker_id = 0;
    out->total_message_rate = out->total_lag_messages = 0;
    out->total_throughput_mbps = 0.0;
    out->resource_count = 0;
    out->pressure_given = 0;
    out->pressure_figures = 0;
    out->topic_count = 0;
    c.at = text;
    c.end = text + length;
    if (!read_report(&c, text, out))
        return DM_E_PARSE;
    skip_space(&c);
    if (c.at != c.end)
        return DM_E_PARSE;
    return out->topic_count > out->topic_capacity ? DM_E_BUFFER : DM_OK;
}
