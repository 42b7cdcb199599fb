/* libFuzzer harness: the cgroup parsers of csrc/linux/dm_cgroup_parse.c and
   dm_pressure_parse.c. The first byte picks
   the parser; some take a second byte (the controller, a buffer size, a key) and the keyed
   parser two more (a hint). The input is handed over in a heap copy of exactly its length.
   Besides "no crash, no undefined behaviour", accepted inputs are checked against dm_parse.h:
   spans inside the buffer, NUL-terminated output that fits, and the keyed parser giving the
   same answer with a hint as without one. Built and run by tools/fuzz. */
#include "dm_parse.h"
#include "fuzz_common.h"

enum {
    T_PROC_CGROUP,
    T_MOUNTINFO_LINE,
    T_MOUNTINFO_FIND, /* byte 1: controller */
    T_UNESCAPE,       /* byte 1: the destination's size */
    T_LIMIT,
    T_CPU_MAX,
    T_KEYED,          /* byte 1: key (a real one, or "KEY\0" from the input); bytes 2-3: hint */
    T_IO_STAT,
    T_BLKIO_BYTES,
    T_CPU_LIST,
    T_PRESSURE,   /* dm_pressure_parse.c: a PSI file */
    T_THROTTLING, /* dm_pressure_parse.c: cpu.stat's bandwidth counters; byte 1: version */
    T_COUNT
};

static const char *const keys[] = {"usage_usec", "user_usec", "system_usec", "inactive_file",
                                   "total_inactive_file", "nr_periods", "file", "anon"};
#define N_KEYS (sizeof keys / sizeof keys[0])

/* The whole disks sda (8:0) and nvme0n1 (259:0), chosen once as the monitor chooses them. */
static const dm_disk_set *whole_disks(void)
{
    static dm_disk_set set;
    static int chosen;
    static const char diskstats[] = "   8 0 sda 1 0 8 0 0 0 0 0 0 0 0\n"
                                    " 259 0 nvme0n1 1 0 8 0 0 0 0 0 0 0 0\n"
                                    " 253 0 dm-0 1 0 8 0 0 0 0 0 0 0 0\n";
    if (!chosen) {
        FUZZ_CHECK(dm_diskstats_select(diskstats, sizeof diskstats - 1, &set) == DM_OK &&
                   set.n == 2);
        chosen = 1;
    }
    return &set;
}

static void check_span(const dm_span *s, size_t n)
{
    if (s->found)
        FUZZ_CHECK(FUZZ_SPAN_IN(s->off, s->len, n));
}

static void unescape(const char *src, size_t len, size_t cap)
{
    char *dst = malloc(cap ? cap : 1);
    size_t out_len = (size_t)-1;
    int rc;
    FUZZ_CHECK(dst != NULL);
    rc = dm_unescape_mount_path(src, len, dst, cap, &out_len);
    /* DM_E_PARSE: a NUL, raw or escaped (\000): no path holds one. */
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_BUFFER || rc == DM_E_PARSE ||
               (rc == DM_E_INVALID && cap == 0));
    if (rc == DM_E_PARSE)
        FUZZ_CHECK(memchr(src, '\0', len) != NULL || len >= 4);
    if (rc == DM_OK) {
        FUZZ_CHECK(out_len < cap && out_len <= len && dst[out_len] == '\0');
    }
    free(dst);
}

static void mountinfo_line(const char *b, size_t n)
{
    dm_mountinfo_line m;
    int rc = dm_parse_mountinfo_line(b, n, &m);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(m.root.found && m.mount_point.found && m.fstype.found && m.super_options.found);
    check_span(&m.root, n), check_span(&m.mount_point, n);
    check_span(&m.fstype, n), check_span(&m.super_options, n);
}

static void mountinfo_find(const char *b, size_t n, int controller)
{
    dm_mountinfo_line m;
    int rc = dm_mountinfo_find(b, n, controller, &m);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE || rc == DM_E_AGAIN);
    if (rc != DM_OK)
        return;
    check_span(&m.root, n), check_span(&m.mount_point, n);
    check_span(&m.fstype, n), check_span(&m.super_options, n);
    /* What the cgroup open does next with the two paths. */
    unescape(b + m.root.off, m.root.len, 4096);
    unescape(b + m.mount_point.off, m.mount_point.len, 4096);
}

/* How many lines of b start with "key " (the keyed parser's notion of the key's line). */
static int key_lines(const char *b, size_t n, const char *key)
{
    size_t klen = strlen(key), start = 0;
    int count = 0;
    while (start < n) {
        const char *nl = memchr(b + start, '\n', n - start);
        size_t line_len = nl ? (size_t)(nl - (b + start)) : n - start;
        if (line_len > klen && memcmp(b + start, key, klen) == 0 && b[start + klen] == ' ')
            count++;
        start += line_len + 1;
    }
    return count;
}

static void keyed(const uint8_t *data, size_t size)
{
    const char *key;
    char *owned_key = NULL, *b;
    size_t n, hint, hint2;
    uint64_t v0 = 0, v1 = 0, v2 = 0;
    int r0, r1, r2;
    if (size < 3)
        return;
    hint = (size_t)data[1] | (size_t)data[2] << 8;
    if (data[0] < N_KEYS) {
        key = keys[data[0]];
        data += 3, size -= 3;
    } else {
        const uint8_t *nul = memchr(data + 3, '\0', size - 3);
        size_t klen;
        if (nul == NULL)
            return;
        klen = (size_t)(nul - (data + 3));
        owned_key = fuzz_copy(data + 3, klen + 1);
        key = owned_key;
        size -= 3 + klen + 1, data = nul + 1;
    }
    n = size;
    b = fuzz_copy(data, n);
    r0 = dm_parse_keyed_u64(b, n, key, NULL, &v0);
    r1 = dm_parse_keyed_u64(b, n, key, &hint, &v1);
    hint2 = hint;
    r2 = dm_parse_keyed_u64(b, n, key, &hint2, &v2); /* the hint the first call left */
    FUZZ_CHECK(r0 == DM_OK || r0 == DM_E_PARSE);
    FUZZ_CHECK(r1 == r0 || key_lines(b, n, key) > 1);
    FUZZ_CHECK(r1 != DM_OK || r0 != DM_OK || v1 == v0 || key_lines(b, n, key) > 1);
    FUZZ_CHECK(r2 == r1 && (r2 != DM_OK || v2 == v1) && hint2 == hint);
    if (r1 == DM_OK)
        FUZZ_CHECK(hint < n);
    free(b);
    free(owned_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int t;
    char *b;
    size_t n;
    uint64_t a, c;
    uint32_t count;
    int rc;
    if (size < 1)
        return 0;
    t = data[0] % T_COUNT;
    if (t == T_KEYED) {
        keyed(data + 1, size - 1);
        return 0;
    }
    if ((t == T_MOUNTINFO_FIND || t == T_UNESCAPE || t == T_THROTTLING) && size < 2)
        return 0;
    n = t == T_MOUNTINFO_FIND || t == T_UNESCAPE || t == T_THROTTLING ? size - 2 : size - 1;
    b = fuzz_copy(data + (size - n), n);
    switch (t) {
    case T_PROC_CGROUP: {
        dm_proc_cgroup pc;
        int k;
        rc = dm_parse_proc_cgroup(b, n, &pc);
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
        if (rc == DM_OK)
            for (k = 0; k < DM_CG_COUNT; k++)
                check_span(&pc.path[k], n);
        break;
    }
    case T_MOUNTINFO_LINE: mountinfo_line(b, n); break;
    case T_MOUNTINFO_FIND: mountinfo_find(b, n, data[1] % DM_CG_COUNT); break;
    case T_UNESCAPE: unescape(b, n, data[1]); break;
    case T_LIMIT:
        rc = dm_parse_limit(b, n, &a);
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
        break;
    case T_CPU_MAX:
        rc = dm_parse_cpu_max(b, n, &a, &c);
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
        if (rc == DM_OK)
            FUZZ_CHECK(c > 0);
        break;
    case T_IO_STAT:
    case T_BLKIO_BYTES: {
        /* Every device, then only whole disks: the same verdict, never more bytes. */
        uint64_t a2 = 0, c2 = 0;
        int rc2;
        if (t == T_IO_STAT) {
            rc = dm_parse_io_stat(b, n, NULL, &a, &c);
            rc2 = dm_parse_io_stat(b, n, whole_disks(), &a2, &c2);
        } else {
            rc = dm_parse_blkio_bytes(b, n, NULL, &a, &c);
            rc2 = dm_parse_blkio_bytes(b, n, whole_disks(), &a2, &c2);
        }
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
        FUZZ_CHECK(rc2 == rc);
        if (rc == DM_OK)
            FUZZ_CHECK(a2 <= a && c2 <= c);
        break;
    }
    case T_CPU_LIST:
        rc = dm_parse_cpu_list(b, n, &count);
        FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
        if (rc == DM_OK)
            FUZZ_CHECK(count >= 1);
        break;
    case T_PRESSURE: {
        dm_pressure_totals pt;
        const char *why;
        rc = dm_parse_pressure(b, n, &pt, &why);
        FUZZ_CHECK((rc == DM_OK && why == NULL) || (rc == DM_E_PARSE && why != NULL));
        if (rc == DM_OK)
            FUZZ_CHECK(pt.has_full || pt.full_us == 0);
        break;
    }
    case T_THROTTLING: {
        /* With the hints it left, the same answer again. */
        dm_throttling t0, t1;
        size_t hints[3] = {0, 0, 0};
        const char *why;
        int version = data[1] % 2 + 1, rc2;
        rc = dm_parse_cpu_throttling(b, n, version, hints, &t0, &why);
        FUZZ_CHECK((rc == DM_OK && why == NULL) || (rc == DM_E_PARSE && why != NULL));
        rc2 = dm_parse_cpu_throttling(b, n, version, hints, &t1, &why);
        FUZZ_CHECK(rc2 == rc);
        if (rc == DM_OK)
            FUZZ_CHECK(t0.periods == t1.periods && t0.throttled_periods == t1.throttled_periods &&
                       t0.throttled_ns == t1.throttled_ns);
        break;
    }
    default: break;
    }
    free(b);
    return 0;
}
