/* Pure parsers for the Linux /proc files. Each one is bounded by its length argument; only
   dm_diskstats_select allocates (the disk set it fills). */
#include <stdlib.h>
#include <string.h>

#include "dm_parse.h"
#include "dm_scan.h"

int dm_parse_proc_stat(const char *buf, size_t len, dm_cpu_times *out)
{
    uint64_t v[10] = {0};
    size_t line_len;
    int n, has_newline;

    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    line_len = dm_line_len(buf, len, 0, &has_newline);
    /* The aggregate line comes first; a line cut short cannot be told from an old format. */
    if (!has_newline || line_len < 4 || !dm_starts_with(buf, line_len, "cpu") ||
        !dm_is_blank(buf[3]))
        return DM_E_PARSE;
    /* More than ten fields would be a future kernel: accepted, if they are numbers. */
    n = dm_scan_u64_line(buf + 3, line_len - 3, v, 10);
    if (n < 0)
        return DM_E_PARSE;
    if (n > 10)
        n = 10;
    if (n < 4) /* user nice system idle: every kernel since 2.4 */
        return DM_E_PARSE;
    out->user = v[0];
    out->nice = v[1];
    out->system = v[2];
    out->idle = v[3];
    out->iowait = v[4];
    out->irq = v[5];
    out->softirq = v[6];
    out->steal = v[7];
    out->guest = v[8];
    out->guest_nice = v[9];
    out->nfields = n;
    return DM_OK;
}

void dm_cpu_busy_idle(const dm_cpu_times *t, uint64_t *busy, uint64_t *idle)
{
    /* guest and guest_nice are already counted in user and nice. */
    *busy = t->user + t->nice + t->system + t->irq + t->softirq + t->steal;
    *idle = t->idle + t->iowait;
}

/* The value of a "Key:   123 kB" line, in bytes; `pos` is just past the colon. */
static int meminfo_value(const char *line, size_t len, size_t pos, uint64_t *out)
{
    uint64_t v;
    if (dm_scan_u64(line, len, &pos, &v) != 0)
        return -1;
    dm_skip_blanks(line, len, &pos);
    if (pos < len) {
        if (len - pos != 2 || line[pos] != 'k' || line[pos + 1] != 'B')
            return -1;
        if (v > UINT64_MAX / 1024)
            return -1;
        v *= 1024;
    }
    *out = v;
    return 0;
}

enum { MI_TOTAL, MI_AVAILABLE, MI_FREE, MI_BUFFERS, MI_CACHED, MI_SRECLAIMABLE, MI_SHMEM, MI_KEYS };

/* Which wanted key starts the line ("Key:"), or -1; *after is then just past the colon. The
   first byte picks the candidates: most lines are compared once, or not at all. */
static int meminfo_key(const char *line, size_t len, size_t *after)
{
#define DM_KEY(text, id)                                                                         \
    if (len >= sizeof text - 1 && memcmp(line, text, sizeof text - 1) == 0) {                  \
        *after = sizeof text - 1;                                                              \
        return id;                                                                             \
    }
    if (len == 0)
        return -1;
    switch (line[0]) {
    case 'M':
        DM_KEY("MemTotal:", MI_TOTAL)
        DM_KEY("MemAvailable:", MI_AVAILABLE)
        DM_KEY("MemFree:", MI_FREE)
        break;
    case 'B':
        DM_KEY("Buffers:", MI_BUFFERS)
        break;
    case 'C':
        DM_KEY("Cached:", MI_CACHED)
        break;
    case 'S':
        DM_KEY("SReclaimable:", MI_SRECLAIMABLE)
        DM_KEY("Shmem:", MI_SHMEM)
        break;
    default:
        break;
    }
    return -1;
#undef DM_KEY
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

int dm_parse_meminfo(const char *buf, size_t len, dm_meminfo *out)
{
    uint64_t val[MI_KEYS] = {0};
    int seen[MI_KEYS] = {0};
    size_t start = 0;

    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    while (start < len) {
        int has_newline, k;
        size_t after, line_len = dm_line_len(buf, len, start, &has_newline);
        const char *line = buf + start;
        if (!has_newline)
            return DM_E_PARSE; /* a cut-off last line */
        k = meminfo_key(line, line_len, &after);
        if (k >= 0) {
            if (meminfo_value(line, line_len, after, &val[k]) != 0)
                return DM_E_PARSE;
            seen[k] = 1;
        }
        start += line_len + 1;
        if (seen[MI_TOTAL] && seen[MI_AVAILABLE])
            break; /* lines 1 and 3 on every kernel that has MemAvailable: the rest is unused */
    }
    if (!seen[MI_TOTAL] || val[MI_TOTAL] == 0)
        return DM_E_PARSE;
    out->total = val[MI_TOTAL];
    out->has_mem_available = seen[MI_AVAILABLE];
    if (seen[MI_AVAILABLE]) {
        out->available = val[MI_AVAILABLE];
    } else {
        /* Kernels before 3.14: free memory plus reclaimable caches, less shared memory which
           sits in Cached but cannot be dropped. */
        uint64_t avail;
        if (!seen[MI_FREE] || !seen[MI_CACHED])
            return DM_E_PARSE;
        avail = sat_add(sat_add(val[MI_FREE], val[MI_BUFFERS]),
                        sat_add(val[MI_CACHED], val[MI_SRECLAIMABLE]));
        avail = avail > val[MI_SHMEM] ? avail - val[MI_SHMEM] : 0;
        out->available = avail;
    }
    if (out->available > out->total)
        out->available = out->total;
    return DM_OK;
}

/* Splits a line into blank-separated tokens; returns the count, or -1 if there are more than
   `cap`. */
static int split_tokens(const char *line, size_t len, size_t *off, size_t *tlen, int cap)
{
    size_t pos = 0;
    int n = 0;
    while (dm_skip_blanks(line, len, &pos)) {
        if (n == cap)
            return -1;
        off[n] = pos;
        while (pos < len && !dm_is_blank(line[pos]) && line[pos] != '\n')
            pos++;
        tlen[n] = pos - off[n];
        n++;
    }
    return n;
}

static int token_u64(const char *line, size_t off, size_t tlen, uint64_t *out)
{
    size_t pos = 0;
    if (dm_scan_u64(line + off, tlen, &pos, out) != 0 || pos != tlen)
        return -1;
    return 0;
}

#define DISKSTATS_MAX_TOKENS 24

/* A device name that C can hold and a path can use: no NUL (a shorter name in C, another
   device's files), not "." or "..". */
static int name_ok(const char *name, size_t len)
{
    if (memchr(name, '\0', len) != NULL)
        return 0;
    return !((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'));
}

int dm_parse_diskstats_line(const char *line, size_t len, dm_diskstats_line *out)
{
    size_t off[DISKSTATS_MAX_TOKENS], tlen[DISKSTATS_MAX_TOKENS];
    uint64_t major = 0, minor = 0, v;
    int n, name_tok, read_tok, write_tok, i;

    if (line == NULL || out == NULL)
        return DM_E_INVALID;
    n = split_tokens(line, len, off, tlen, DISKSTATS_MAX_TOKENS);
    if (n == 7) {
        /* 2.6 partition lines: major minor name reads sectors_read writes sectors_written */
        name_tok = 2, read_tok = 4, write_tok = 6;
    } else if (n == 15) {
        /* 2.4 /proc/partitions: major minor #blocks name rio rmerge rsect ruse wio wmerge wsect
           wuse running use aveq */
        name_tok = 3, read_tok = 6, write_tok = 10;
    } else if (n == 14 || n == 18 || n == 20) {
        /* 2.6+: major minor name reads merged sectors ms writes merged sectors ms ...
           (18 fields add discards, 20 add flushes) */
        name_tok = 2, read_tok = 5, write_tok = 9;
    } else {
        return DM_E_PARSE;
    }
    for (i = 0; i < n; i++) {
        if (i == name_tok)
            continue;
        if (token_u64(line, off[i], tlen[i], &v) != 0)
            return DM_E_PARSE;
        if (i == 0)
            major = v;
        else if (i == 1)
            minor = v;
        else if (i == read_tok)
            out->sectors_read = v;
        else if (i == write_tok)
            out->sectors_written = v;
    }
    if (major > UINT32_MAX || minor > UINT32_MAX)
        return DM_E_PARSE;
    if (tlen[name_tok] >= DM_NAME_MAX || !name_ok(line + off[name_tok], tlen[name_tok]))
        return DM_E_PARSE;
    out->major = (uint32_t)major;
    out->minor = (uint32_t)minor;
    out->name_off = off[name_tok];
    out->name_len = tlen[name_tok];
    out->nfields = n;
    return DM_OK;
}

/* Devices whose bytes are counted elsewhere (stacked: dm, md) or are not disks (loop, ram). */
static int is_skipped_device(const char *name, size_t len)
{
    return dm_starts_with(name, len, "loop") || dm_starts_with(name, len, "ram") ||
           dm_starts_with(name, len, "zram") || dm_starts_with(name, len, "dm-") ||
           dm_starts_with(name, len, "md");
}

/* Runs the body (the variadic part, so that it may hold commas) for every line of buf, with
   `line` and `line_len` set. A last line without its newline means the file was cut short. */
#define FOR_EACH_LINE(buf, len, line, line_len, ...)                                         \
    do {                                                                                     \
        size_t start_ = 0;                                                                   \
        while (start_ < (len)) {                                                             \
            int nl_;                                                                         \
            size_t line_len = dm_line_len((buf), (len), start_, &nl_);                       \
            const char *line = (buf) + start_;                                               \
            if (!nl_)                                                                        \
                return DM_E_PARSE;                                                           \
            __VA_ARGS__;                                                                     \
            start_ += line_len + 1;                                                          \
        }                                                                                    \
    } while (0)

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;
    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static uint32_t hash_dev(uint64_t dev)
{
    dev ^= dev >> 33;
    dev *= 0xff51afd7ed558ccdu;
    dev ^= dev >> 33;
    return (uint32_t)dev;
}

/* A power of two above 2n (at least 16): open addressing stays short. */
static size_t table_size(size_t n)
{
    size_t s = 16;
    while (s <= 2 * n)
        s *= 2;
    return s;
}

/* One line of the file, as the selection sees it. */
struct disk_line {
    const char *name;
    size_t name_len;
    uint64_t dev;
    int candidate; /* a whole disk unless a partition of a listed device */
};

/* Whether the file lists a device of this name (the table holds 1 + a line's index). */
static int listed(const struct disk_line *lines, const uint32_t *slot, size_t mask,
                  const char *name, size_t len)
{
    size_t h = hash_bytes(name, len) & mask;
    for (; slot[h] != 0; h = (h + 1) & mask) {
        const struct disk_line *l = &lines[slot[h] - 1];
        if (l->name_len == len && memcmp(l->name, name, len) == 0)
            return 1;
    }
    return 0;
}

/* The kernel names partition N of disk D "D" N, or "D" "p" N when D ends in a digit
   (nvme0n1p1, mmcblk0p2). So a name has at most two possible parents: itself less its
   trailing digits (a D not ending in a digit), and, when that ends in a 'p' after a digit,
   itself less the 'p' too. */
static int is_partition(const struct disk_line *lines, const uint32_t *slot, size_t mask,
                        const char *name, size_t len)
{
    size_t k = len;
    while (k > 0 && dm_is_digit(name[k - 1]))
        k--;
    if (k == len || k == 0)
        return 0;
    if (listed(lines, slot, mask, name, k))
        return 1;
    return name[k - 1] == 'p' && k >= 2 && dm_is_digit(name[k - 2]) &&
           listed(lines, slot, mask, name, k - 1);
}

void dm_disk_set_free(dm_disk_set *set)
{
    if (set == NULL)
        return;
    free(set->dev);
    free(set->name);
    free(set->slot);
    set->dev = NULL;
    set->name = NULL;
    set->slot = NULL;
    set->n = set->nslots = 0;
}

static size_t find_dev(const dm_disk_set *set, uint64_t dev)
{
    size_t mask, h;
    if (set->nslots == 0)
        return set->n;
    mask = set->nslots - 1;
    for (h = hash_dev(dev) & mask; set->slot[h] != 0; h = (h + 1) & mask)
        if (set->dev[set->slot[h] - 1] == dev)
            return set->slot[h] - 1;
    return set->n;
}

/* Fills `out` from the lines marked as candidates (allocating its tables). */
static int fill_disk_set(const struct disk_line *lines, size_t nlines, size_t ndisks,
                         dm_disk_set *out)
{
    size_t i, k = 0, mask;
    out->nslots = table_size(ndisks);
    out->dev = malloc((ndisks ? ndisks : 1) * sizeof *out->dev);
    out->name = malloc((ndisks ? ndisks : 1) * sizeof *out->name);
    out->slot = calloc(out->nslots, sizeof *out->slot);
    if (out->dev == NULL || out->name == NULL || out->slot == NULL) {
        dm_disk_set_free(out);
        return DM_E_NOMEM;
    }
    mask = out->nslots - 1;
    for (i = 0; i < nlines; i++) {
        size_t h;
        if (!lines[i].candidate)
            continue;
        out->dev[k] = lines[i].dev;
        memcpy(out->name[k], lines[i].name, lines[i].name_len);
        out->name[k][lines[i].name_len] = '\0';
        for (h = hash_dev(lines[i].dev) & mask; out->slot[h] != 0; h = (h + 1) & mask)
            if (out->dev[out->slot[h] - 1] == lines[i].dev)
                break; /* a device listed twice: the sum finds the first */
        if (out->slot[h] == 0)
            out->slot[h] = (uint32_t)(k + 1);
        k++;
    }
    out->n = k;
    return DM_OK;
}

int dm_diskstats_select(const char *buf, size_t len, dm_disk_set *out)
{
    struct disk_line *lines;
    uint32_t *slot;
    size_t nlines = 0, ndisks = 0, mask, i, pos;
    int r = DM_OK;

    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    dm_disk_set_free(out);
    /* Lines first (an upper bound of the devices), then every device into a table of names,
       then each whole disk is one that is not a partition of a listed name: linear, where
       comparing each name with every other line is quadratic (seconds at 4,000 devices). */
    for (pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (nl == NULL)
            return DM_E_PARSE;
        nlines++;
        pos = (size_t)(nl - buf) + 1;
    }
    if (nlines >= UINT32_MAX / 4)
        return DM_E_PARSE;
    mask = table_size(nlines) - 1;
    lines = malloc((nlines ? nlines : 1) * sizeof *lines);
    slot = calloc(mask + 1, sizeof *slot);
    if (lines == NULL || slot == NULL) {
        free(lines);
        free(slot);
        return DM_E_NOMEM;
    }
    nlines = 0;
    for (pos = 0; pos < len && r == DM_OK;) {
        int nl;
        size_t line_len = dm_line_len(buf, len, pos, &nl), h;
        dm_diskstats_line d;
        struct disk_line *l = &lines[nlines];
        const char *line = buf + pos;
        pos += line_len + 1;
        if (line_len == 0)
            continue;
        if (dm_parse_diskstats_line(line, line_len, &d) != DM_OK) {
            r = DM_E_PARSE;
            break;
        }
        l->name = line + d.name_off;
        l->name_len = d.name_len;
        l->dev = (uint64_t)d.major << 32 | d.minor;
        l->candidate = d.nfields != 7 && !is_skipped_device(l->name, l->name_len);
        for (h = hash_bytes(l->name, l->name_len) & mask; slot[h] != 0; h = (h + 1) & mask)
            ;
        slot[h] = (uint32_t)(nlines + 1);
        nlines++;
    }
    if (r == DM_OK) {
        for (i = 0; i < nlines; i++) {
            if (lines[i].candidate &&
                is_partition(lines, slot, mask, lines[i].name, lines[i].name_len))
                lines[i].candidate = 0;
            ndisks += (size_t)lines[i].candidate;
        }
        r = fill_disk_set(lines, nlines, ndisks, out);
    }
    free(lines);
    free(slot);
    return r;
}

/* dm_scan_u64_line's contract (s[len] is the line's '\n'; the first `max` fields into v[];
   the count, or -1 when a field is not a number or overflows), in two tighter loops: the
   fields converted, then the fields only counted (checked to be digits). The per-sample sums
   spend their time here. */
static int scan_fields(const char *s, size_t len, uint64_t *v, int max)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *start;
    int n = 0;
    if (*end != '\n')
        return -1;
    for (;;) {
        uint64_t x = 0;
        unsigned d;
        while (*p == ' ' || *p == '\t')
            p++;
        if (p == end)
            return n;
        if (n == max)
            break;
        start = p;
        while ((d = (unsigned)(*p - '0')) < 10) {
            x = x * 10 + d;
            p++;
        }
        if (p == start || (*p != ' ' && *p != '\t' && p != end))
            return -1;
        if (p - start > 19) { /* may have wrapped: scan it again, checked */
            size_t at = 0;
            if (dm_scan_u64((const char *)start, (size_t)(p - start), &at, &x) != 0)
                return -1;
        }
        v[n++] = x;
    }
    for (;;) { /* at a field's first byte */
        start = p;
        while ((unsigned char)(*p - '0') < 10)
            p++;
        if (p == start)
            return -1;
        n++;
        if (p == end)
            return n;
        if (*p != ' ' && *p != '\t')
            return -1;
        do
            p++;
        while (*p == ' ' || *p == '\t');
        if (p == end)
            return n;
    }
}

/* An unsigned decimal at p (blanks before it skipped), in a buffer whose bytes up to the next
   '\n' are readable: the tight loop of the sums, with dm_scan_u64's checks (a number runs into
   a blank or the newline; more than 19 digits are scanned again, checked). NULL when it is not
   a number; else just past it. */
static const char *scan_number(const char *s, const char *line_end, uint64_t *out)
{
    const unsigned char *p = (const unsigned char *)s, *start;
    uint64_t x = 0;
    unsigned d;
    while (*p == ' ' || *p == '\t')
        p++;
    start = p;
    while ((d = (unsigned)(*p - '0')) < 10) {
        x = x * 10 + d;
        p++;
    }
    if (p == start || (*p != ' ' && *p != '\t' && (const char *)p != line_end))
        return NULL;
    if (p - start > 19) {
        size_t at = 0;
        if (dm_scan_u64((const char *)start, (size_t)(p - start), &at, &x) != 0)
            return NULL;
    }
    *out = x;
    return (const char *)p;
}

int dm_diskstats_sum(const char *buf, size_t len, const dm_disk_set *set, uint64_t *read_bytes,
                     uint64_t *written_bytes)
{
    const char *p = buf, *end = buf + len;
    uint64_t rd = 0, wr = 0;
    if (buf == NULL || set == NULL || read_bytes == NULL || written_bytes == NULL)
        return DM_E_INVALID;
    if (len > 0 && buf[len - 1] != '\n')
        return DM_E_PARSE; /* a last line cut short */
    /* Each line is looked at once: its device numbers, then, only for a chosen disk, its
       name and counters in one scan (the others, partitions and loop devices, are skipped
       after their device numbers). The file ends in '\n': no scan runs past it. */
    while (p < end) {
        const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p)), *q, *name;
        uint64_t major, minor, v[7];
        size_t line_len = (size_t)(nl - line), name_len;
        int n;
        p = nl + 1;
        if (line_len == 0)
            continue;
        if ((q = scan_number(line, nl, &major)) == NULL || q == nl ||
            (q = scan_number(q, nl, &minor)) == NULL)
            return DM_E_PARSE;
        if (major > UINT32_MAX || minor > UINT32_MAX ||
            find_dev(set, major << 32 | minor) == set->n)
            continue;
        while (*q == ' ' || *q == '\t')
            q++;
        for (name = q; *q != ' ' && *q != '\t' && q != nl; q++)
            ;
        name_len = (size_t)(q - name);
        n = name_len == 0 ? -1 : scan_fields(q, (size_t)(nl - q), v, 7);
        if (n == 11 || n == 15 || n == 17) { /* 14, 18 or 20 fields: the 2.6+ lines */
            if (name_len >= DM_NAME_MAX || !name_ok(name, name_len))
                return DM_E_PARSE;
            rd += v[2];
            wr += v[6];
        } else if (n == 4) { /* 7 fields: a 2.6 partition line */
            if (name_len >= DM_NAME_MAX || !name_ok(name, name_len))
                return DM_E_PARSE;
            rd += v[1];
            wr += v[3];
        } else { /* 2.4's 15 fields (the name is the 4th), or malformed: the full parser */
            dm_diskstats_line d;
            if (dm_parse_diskstats_line(line, line_len, &d) != DM_OK)
                return DM_E_PARSE;
            rd += d.sectors_read;
            wr += d.sectors_written;
        }
    }
    /* Sectors in diskstats are 512 bytes whatever the device's sector size. */
    *read_bytes = rd * 512u;
    *written_bytes = wr * 512u;
    return DM_OK;
}

int dm_parse_netdev_line(const char *line, size_t len, dm_netdev_line *out)
{
    size_t colon, start = 0, pos;
    uint64_t v[9];
    int n;

    if (line == NULL || out == NULL)
        return DM_E_INVALID;
    if (memchr(line, '|', len) != NULL)
        return DM_E_AGAIN; /* one of the two header lines */
    colon = dm_last_index(line, len, ':');
    if (colon == len)
        return DM_E_PARSE;
    while (start < colon && dm_is_blank(line[start]))
        start++;
    if (start == colon || colon - start >= DM_NAME_MAX || !name_ok(line + start, colon - start) ||
        memchr(line + start, '/', colon - start) != NULL)
        return DM_E_PARSE;
    /* The counters may follow the colon without a space ("eth0:1234 ..."). */
    pos = colon + 1;
    for (n = 0; n < 9; n++)
        if (dm_scan_u64(line, len, &pos, &v[n]) != 0)
            return DM_E_PARSE;
    while (dm_skip_blanks(line, len, &pos)) {
        uint64_t rest;
        if (dm_scan_u64(line, len, &pos, &rest) != 0)
            return DM_E_PARSE;
    }
    out->name_off = start;
    out->name_len = colon - start;
    out->rx_bytes = v[0];
    out->tx_bytes = v[8];
    return DM_OK;
}

static int iface_counted(const dm_iface_set *set, const char *name, size_t len, size_t *hint)
{
    if (set->mode == DM_NET_ALL_BUT_LO)
        return !(len == 2 && name[0] == 'l' && name[1] == 'o');
    return len > 0 && dm_iface_set_find(set, name, len, hint) < set->n;
}

/* Whether an interface name (blanks before it dropped) is one a kernel could make. */
static int netdev_name_ok(const char *name, size_t len)
{
    return len > 0 && len < DM_NAME_MAX && name_ok(name, len) && memchr(name, '/', len) == NULL;
}

int dm_netdev_sum(const char *buf, size_t len, const dm_iface_set *set, uint64_t *rx_bytes,
                  uint64_t *tx_bytes)
{
    const char *p = buf, *end = buf + len;
    uint64_t rx = 0, tx = 0;
    size_t hint = 0;
    int lines = 0;
    if (buf == NULL || set == NULL || rx_bytes == NULL || tx_bytes == NULL)
        return DM_E_INVALID;
    if (len > 0 && buf[len - 1] != '\n')
        return DM_E_PARSE; /* a last line cut short */
    /* As dm_parse_netdev_line, with each line scanned once: the name, and only for a counted
       interface its counters, in one tight scan (the file ends in '\n'). */
    while (p < end) {
        const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line_len = (size_t)(nl - line), colon, b = 0;
        uint64_t v[9];
        p = nl + 1;
        if (line_len == 0)
            continue;
        if (++lines <= 2) { /* the two header lines (or interfaces, in a file without them) */
            dm_netdev_line d;
            int r = dm_parse_netdev_line(line, line_len, &d);
            if (r == DM_E_AGAIN)
                continue;
            if (r != DM_OK)
                return DM_E_PARSE;
            if (iface_counted(set, line + d.name_off, d.name_len, NULL)) {
                rx += d.rx_bytes;
                tx += d.tx_bytes;
            }
            continue;
        }
        colon = dm_last_index(line, line_len, ':');
        if (colon == line_len)
            return DM_E_PARSE;
        while (b < colon && dm_is_blank(line[b]))
            b++;
        if (set->mode != DM_NET_ALL_BUT_LO) {
            if (!iface_counted(set, line + b, colon - b, &hint))
                continue; /* not counted: skipped after its name (a set's names are valid) */
        } else if (!netdev_name_ok(line + b, colon - b)) {
            return DM_E_PARSE;
        }
        /* A header past the headers; then at least 9 counters, every field a number. */
        if (memchr(line, '|', line_len) != NULL ||
            scan_fields(line + colon + 1, line_len - colon - 1, v, 9) < 9)
            return DM_E_PARSE;
        if (set->mode != DM_NET_ALL_BUT_LO || iface_counted(set, line + b, colon - b, NULL)) {
            rx += v[0];
            tx += v[8];
        }
    }
    if (lines < 2)
        return DM_E_PARSE; /* not even the header: not a net/dev file */
    *rx_bytes = rx;
    *tx_bytes = tx;
    return DM_OK;
}

int dm_netdev_find_missing(const char *buf, size_t len, const dm_iface_set *set,
                           size_t *missing)
{
    unsigned char seen[DM_MAX_IFACES] = {0};
    size_t hint = 0, i;
    if (buf == NULL || set == NULL || missing == NULL || set->n > DM_MAX_IFACES)
        return DM_E_INVALID;
    FOR_EACH_LINE(buf, len, line, line_len, {
        dm_netdev_line d;
        int r;
        if (line_len == 0)
            goto next_line;
        r = dm_parse_netdev_line(line, line_len, &d);
        if (r == DM_E_AGAIN)
            goto next_line;
        if (r != DM_OK)
            return DM_E_PARSE;
        i = dm_iface_set_find(set, line + d.name_off, d.name_len, &hint);
        if (i < set->n)
            seen[i] = 1;
    next_line:;
    });
    for (i = 0; i < set->n && seen[i]; i++)
        ;
    *missing = i;
    return DM_OK;
}

const char *dm_disk_set_name(const dm_disk_set *set, size_t i)
{
    return set != NULL && i < set->n ? set->name[i] : NULL;
}

int dm_parse_block_stat(const char *buf, size_t len, uint64_t *sectors_read,
                        uint64_t *sectors_written)
{
    size_t line_len;
    uint64_t v[7];
    int n;
    if (buf == NULL || sectors_read == NULL || sectors_written == NULL)
        return DM_E_INVALID;
    if (len == 0 || buf[len - 1] != '\n')
        return DM_E_PARSE;
    line_len = len - 1;
    /* One line, ended by its newline: the scan stops at the first '\n', which must be the
       last byte. The 3rd and 7th fields are the sectors; the others need only be numbers. */
    n = scan_fields(buf, line_len, v, 7);
    if (n != 11 && n != 15 && n != 17) /* 17 since 5.5 (flushes), 15 since 4.18 (discards) */
        return DM_E_PARSE;
    *sectors_read = v[2];
    *sectors_written = v[6];
    return DM_OK;
}

int dm_parse_u64_file(const char *buf, size_t len, uint64_t *value)
{
    size_t pos = 0;
    if (buf == NULL || value == NULL)
        return DM_E_INVALID;
    if (len < 2 || buf[len - 1] != '\n' || dm_scan_u64(buf, len - 1, &pos, value) != 0 ||
        pos != len - 1 || dm_is_blank(buf[0]))
        return DM_E_PARSE;
    return DM_OK;
}

int dm_disk_set_has(const dm_disk_set *set, uint64_t dev)
{
    return set != NULL && find_dev(set, dev) < set->n;
}
