/* Pure parsers for cgroup files, /proc/self/cgroup and /proc/self/mountinfo. */
#include <string.h>

#include "dm_parse.h"
#include "dm_scan.h"

static const char *const controller_names[DM_CG_COUNT] = {"", "cpu", "cpuacct", "cpuset",
                                                           "memory", "blkio"};

/* Whether the comma-separated list s[0..len) holds `name` as a whole item. */
static int list_has(const char *s, size_t len, const char *name)
{
    size_t n = strlen(name), i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        if (j - i == n && memcmp(s + i, name, n) == 0)
            return 1;
        i = j + 1;
    }
    return 0;
}

int dm_parse_proc_cgroup(const char *buf, size_t len, dm_proc_cgroup *out)
{
    size_t start = 0;
    int k, lines = 0;
    if (buf == NULL || out == NULL)
        return DM_E_INVALID;
    for (k = 0; k < DM_CG_COUNT; k++)
        out->path[k].found = 0, out->path[k].off = out->path[k].len = 0;
    while (start < len) {
        int nl;
        size_t line_len = dm_line_len(buf, len, start, &nl);
        const char *line = buf + start;
        size_t c1, c2;
        if (!nl)
            return DM_E_PARSE;
        if (line_len == 0)
            goto next;
        if (memchr(line, '\0', line_len) != NULL)
            return DM_E_PARSE; /* a NUL would cut the path short as a C string */
        for (c1 = 0; c1 < line_len && line[c1] != ':'; c1++)
            ;
        for (c2 = c1 + 1; c2 < line_len && line[c2] != ':'; c2++)
            ;
        if (c1 >= line_len || c2 >= line_len || c1 == 0)
            return DM_E_PARSE;
        {
            size_t i;
            for (i = 0; i < c1; i++)
                if (!dm_is_digit(line[i]))
                    return DM_E_PARSE;
        }
        lines++;
        if (c1 == 1 && line[0] == '0' && c2 == c1 + 1) {
            k = DM_CG_UNIFIED;
            out->path[k].off = start + c2 + 1, out->path[k].len = line_len - c2 - 1;
            out->path[k].found = 1;
            goto next;
        }
        for (k = 1; k < DM_CG_COUNT; k++) {
            if (list_has(line + c1 + 1, c2 - c1 - 1, controller_names[k])) {
                out->path[k].off = start + c2 + 1, out->path[k].len = line_len - c2 - 1;
                out->path[k].found = 1;
            }
        }
    next:
        start += line_len + 1;
    }
    return lines > 0 ? DM_OK : DM_E_PARSE;
}

/* Whether s[0..n) is digits (at least one). */
static int all_digits(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!dm_is_digit(s[i]))
            return 0;
    return n > 0;
}

int dm_parse_mountinfo_line(const char *line, size_t len, dm_mountinfo_line *out)
{
    /* The kernel's format (show_mountinfo, fs/proc_namespace.c): fields separated by single
       spaces, "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS", optional fields ("shared:N" ...),
       a "-" field, then FSTYPE SOURCE SUPEROPTIONS. Only SOURCE may be empty (mount -t tmpfs
       "" /x); a path's blanks and backslashes are escaped (\040), so none holds a space. */
    size_t pos = 0, field = 0;
    int after_dash = -1;
    if (line == NULL || out == NULL)
        return DM_E_INVALID;
    memset(out, 0, sizeof *out);
    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len == 0 || memchr(line, '\n', len) != NULL || memchr(line, '\0', len) != NULL)
        return DM_E_PARSE;
    for (;; field++) {
        size_t start = pos, n;
        const char *f = line + pos;
        while (pos < len && line[pos] != ' ')
            pos++;
        n = pos - start;
        if (after_dash < 0) {
            if (n == 0)
                return DM_E_PARSE;
            if (field == 0 || field == 1) {
                if (!all_digits(f, n))
                    return DM_E_PARSE;
            } else if (field == 2) {
                const char *colon = memchr(f, ':', n);
                if (colon == NULL || !all_digits(f, (size_t)(colon - f)) ||
                    !all_digits(colon + 1, n - (size_t)(colon - f) - 1))
                    return DM_E_PARSE;
            } else if (field == 3) {
                out->root.off = start, out->root.len = n, out->root.found = 1;
            } else if (field == 4) {
                out->mount_point.off = start, out->mount_point.len = n;
                out->mount_point.found = 1;
            } else if (field >= 6 && n == 1 && f[0] == '-') {
                after_dash = 0;
            }
        } else {
            if (after_dash == 0) {
                if (n == 0)
                    return DM_E_PARSE;
                out->fstype.off = start, out->fstype.len = n, out->fstype.found = 1;
            } else if (after_dash == 2) {
                if (n == 0)
                    return DM_E_PARSE;
                out->super_options.off = start, out->super_options.len = n;
                out->super_options.found = 1;
            } else if (after_dash > 2) {
                return DM_E_PARSE; /* a field more than the kernel writes */
            }
            after_dash++;
        }
        if (pos >= len)
            break;
        pos++; /* the one space */
    }
    return after_dash == 3 ? DM_OK : DM_E_PARSE;
}

/* Whether a line that does not parse could be a cgroup mount (or hides one behind a NUL): then
   skipping it might pick another mount, so the search must fail instead. */
static int could_be_cgroup(const char *line, size_t len)
{
    size_t i;
    if (memchr(line, '\0', len) != NULL)
        return 1;
    for (i = 0; i + 6 <= len; i++)
        if (memcmp(line + i, "cgroup", 6) == 0)
            return 1;
    return 0;
}

int dm_mountinfo_search(const char *buf, size_t len, int controller, dm_mountinfo_line *out,
                        dm_mountinfo_scan *scan)
{
    size_t start = 0, lineno = 0;
    dm_mountinfo_scan ignored;
    if (scan == NULL)
        scan = &ignored;
    scan->lines = scan->skipped = scan->bad_line = 0;
    if (buf == NULL || out == NULL || controller < 0 || controller >= DM_CG_COUNT)
        return DM_E_INVALID;
    while (start < len) {
        int nl;
        size_t line_len = dm_line_len(buf, len, start, &nl);
        dm_mountinfo_line m;
        lineno++;
        if (!nl) {
            scan->bad_line = lineno; /* a cut file: what follows is unknown */
            return DM_E_PARSE;
        }
        if (line_len > 0) {
            const char *line = buf + start;
            scan->lines++;
            if (dm_parse_mountinfo_line(line, line_len, &m) != DM_OK) {
                if (could_be_cgroup(line, line_len)) {
                    scan->bad_line = lineno;
                    return DM_E_PARSE;
                }
                scan->skipped++;
                goto next;
            }
            if (controller == DM_CG_UNIFIED
                    ? (m.fstype.len == 7 && memcmp(line + m.fstype.off, "cgroup2", 7) == 0)
                    : (m.fstype.len == 6 && memcmp(line + m.fstype.off, "cgroup", 6) == 0 &&
                       list_has(line + m.super_options.off, m.super_options.len,
                                controller_names[controller]))) {
                *out = m;
                out->root.off += start, out->mount_point.off += start;
                out->fstype.off += start, out->super_options.off += start;
                return DM_OK;
            }
        }
    next:
        start += line_len + 1;
    }
    return DM_E_AGAIN;
}

int dm_mountinfo_find(const char *buf, size_t len, int controller, dm_mountinfo_line *out)
{
    return dm_mountinfo_search(buf, len, controller, out, NULL);
}

int dm_unescape_mount_path(const char *src, size_t len, char *dst, size_t cap, size_t *out_len)
{
    size_t i = 0, n = 0;
    if (src == NULL || dst == NULL || cap == 0)
        return DM_E_INVALID;
    while (i < len) {
        char c = src[i];
        if (c == '\\' && i + 3 < len && src[i + 1] >= '0' && src[i + 1] <= '3' &&
            src[i + 2] >= '0' && src[i + 2] <= '7' && src[i + 3] >= '0' && src[i + 3] <= '7') {
            c = (char)((src[i + 1] - '0') * 64 + (src[i + 2] - '0') * 8 + (src[i + 3] - '0'));
            i += 4;
        } else {
            i++;
        }
        if (c == '\0')
            return DM_E_PARSE; /* no path holds a NUL: as a C string it would end there */
        if (n + 1 >= cap)
            return DM_E_BUFFER;
        dst[n++] = c;
    }
    dst[n] = '\0';
    if (out_len != NULL)
        *out_len = n;
    return DM_OK;
}

/* Checks the components of an absolute path: 0 well-formed, 1 a ".." component, -1 not
   absolute, an empty or "." component, or a NUL. "/" alone is well-formed. */
static int path_components(const char *p, size_t n)
{
    size_t i = 1;
    int dotdot = 0;
    if (n == 0 || p[0] != '/' || memchr(p, '\0', n) != NULL)
        return -1;
    if (n == 1)
        return 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && p[j] != '/')
            j++;
        if (j == i || (j - i == 1 && p[i] == '.'))
            return -1;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
            dotdot = 1;
        i = j + 1;
    }
    return dotdot;
}

int dm_cgroup_subpath(const char *path, size_t path_len, const char *mount_root,
                      size_t root_len, size_t *rel_off, size_t *rel_len, const char **why)
{
    int pc, rc;
    const char *ignored;
    if (why == NULL)
        why = &ignored;
    *why = NULL;
    if (path == NULL || mount_root == NULL || rel_off == NULL || rel_len == NULL)
        return DM_E_INVALID;
    pc = path_components(path, path_len);
    rc = path_components(mount_root, root_len);
    if (pc < 0) {
        *why = "a cgroup path in /proc/self/cgroup that is not a plain absolute path";
        return DM_E_PARSE;
    }
    if (rc < 0) {
        *why = "a cgroup mount root in mountinfo that is not a plain absolute path";
        return DM_E_PARSE;
    }
    if (pc > 0) {
        *why = "the process's cgroup in /proc/self/cgroup has a \"..\" component: it lies "
               "outside this process's cgroup namespace, which cannot be measured";
        return DM_E_UNSUPPORTED;
    }
    if (rc > 0) {
        *why = "the cgroup mount's root in mountinfo lies outside this process's cgroup "
               "namespace (\"..\"): cgroupfs was mounted from another namespace and not again";
        return DM_E_UNSUPPORTED;
    }
    if (root_len == 1) { /* mounted at the hierarchy's (or the namespace's) root */
        *rel_off = path_len == 1 ? 1 : 0, *rel_len = path_len == 1 ? 0 : path_len;
        return DM_OK;
    }
    /* Without a cgroup namespace (docker on v1, plain runc) the mount root is the
       container's own path: the cgroup is at or below it. */
    if (path_len >= root_len && memcmp(path, mount_root, root_len) == 0 &&
        (path_len == root_len || path[root_len] == '/')) {
        *rel_off = root_len, *rel_len = path_len - root_len;
        return DM_OK;
    }
    *why = "the process's cgroup in /proc/self/cgroup is not under the cgroup mount's root in "
           "mountinfo: the mount shows another part of the hierarchy (another namespace's)";
    return DM_E_UNSUPPORTED;
}

/* The text of a one-value file without surrounding blanks and its trailing newline. */
static int single_value(const char *buf, size_t len, size_t *start, size_t *end)
{
    size_t s = 0, e = len;
    while (s < e && (dm_is_blank(buf[s])))
        s++;
    while (e > s && (dm_is_blank(buf[e - 1]) || buf[e - 1] == '\n'))
        e--;
    if (s == e || memchr(buf + s, '\n', e - s) != NULL)
        return DM_E_PARSE;
    *start = s, *end = e;
    return DM_OK;
}

static int parse_limit_token(const char *s, size_t n, uint64_t *value)
{
    size_t pos = 0;
    if (n == 3 && memcmp(s, "max", 3) == 0) {
        *value = UINT64_MAX;
        return DM_OK;
    }
    if (n >= 2 && s[0] == '-' && dm_is_digit(s[1])) {
        /* v1 writes -1 for "no quota"; any negative number means none. */
        uint64_t ignored;
        pos = 1;
        if (dm_scan_u64(s, n, &pos, &ignored) != 0 || pos != n)
            return DM_E_PARSE;
        *value = UINT64_MAX;
        return DM_OK;
    }
    if (dm_scan_u64(s, n, &pos, value) != 0 || pos != n)
        return DM_E_PARSE;
    return DM_OK;
}

int dm_parse_limit(const char *buf, size_t len, uint64_t *value)
{
    size_t s, e;
    if (buf == NULL || value == NULL)
        return DM_E_INVALID;
    if (single_value(buf, len, &s, &e) != DM_OK)
        return DM_E_PARSE;
    return parse_limit_token(buf + s, e - s, value);
}

int dm_parse_cpu_max(const char *buf, size_t len, uint64_t *quota, uint64_t *period)
{
    size_t s, e, sp;
    uint64_t p;
    if (buf == NULL || quota == NULL || period == NULL)
        return DM_E_INVALID;
    if (single_value(buf, len, &s, &e) != DM_OK)
        return DM_E_PARSE;
    for (sp = s; sp < e && buf[sp] != ' '; sp++)
        ;
    if (sp == e)
        return DM_E_PARSE;
    if (parse_limit_token(buf + s, sp - s, quota) != DM_OK)
        return DM_E_PARSE;
    while (sp < e && buf[sp] == ' ')
        sp++;
    {
        size_t pos = 0;
        if (dm_scan_u64(buf + sp, e - sp, &pos, &p) != 0 || pos != e - sp || p == 0)
            return DM_E_PARSE;
    }
    *period = p;
    return DM_OK;
}

/* The value on the line at `start` if it is `key`'s: 1 found (DM_OK or DM_E_PARSE in *rc),
   0 another key's line. *line_len is the line's length (without its newline) either way. */
static int keyed_line(const char *buf, size_t len, size_t start, const char *key, size_t klen,
                      uint64_t *value, int *rc, size_t *line_len)
{
    int nl;
    size_t pos = klen;
    const char *line = buf + start;
    *line_len = dm_line_len(buf, len, start, &nl);
    if (*line_len <= klen || memcmp(line, key, klen) != 0 || line[klen] != ' ')
        return 0;
    *rc = !nl || dm_scan_u64(line, *line_len, &pos, value) != 0 ||
                  dm_skip_blanks(line, *line_len, &pos)
              ? DM_E_PARSE
              : DM_OK;
    return 1;
}

int dm_parse_keyed_u64(const char *buf, size_t len, const char *key, size_t *hint,
                       uint64_t *value)
{
    size_t start = 0, klen, line_len;
    int rc = DM_E_PARSE;
    if (buf == NULL || key == NULL || value == NULL)
        return DM_E_INVALID;
    klen = strlen(key);
    if (hint != NULL && *hint < len && (*hint == 0 || buf[*hint - 1] == '\n') &&
        keyed_line(buf, len, *hint, key, klen, value, &rc, &line_len))
        return rc;
    while (start < len) {
        if (keyed_line(buf, len, start, key, klen, value, &rc, &line_len)) {
            if (hint != NULL)
                *hint = start;
            return rc;
        }
        start += line_len + 1;
    }
    return DM_E_PARSE;
}

/* The "MAJ:MIN" that starts a line of io.stat or blkio, line[0..end) (end at its first
   blank): 1, or 0 if it is not two decimals of at most 32 bits around a colon. */
static int device_of(const char *line, size_t end, uint64_t *dev)
{
    uint64_t part[2] = {0, 0};
    size_t pos = 0;
    int k;
    for (k = 0; k < 2; k++) {
        size_t start = pos;
        while (pos < end && dm_is_digit(line[pos]) && pos - start < 10)
            part[k] = part[k] * 10 + (uint64_t)(line[pos++] - '0');
        if (pos == start || part[k] > UINT32_MAX)
            return 0;
        if (k == 0 && (pos >= end || line[pos++] != ':'))
            return 0;
    }
    if (pos != end)
        return 0;
    *dev = part[0] << 32 | part[1];
    return 1;
}

int dm_parse_io_stat(const char *buf, size_t len, const dm_disk_set *disks, uint64_t *rbytes,
                     uint64_t *wbytes)
{
    size_t start = 0;
    uint64_t r = 0, w = 0;
    if (buf == NULL || rbytes == NULL || wbytes == NULL)
        return DM_E_INVALID;
    while (start < len) {
        int nl;
        size_t line_len = dm_line_len(buf, len, start, &nl);
        const char *line = buf + start;
        size_t pos = 0;
        if (!nl)
            return DM_E_PARSE;
        uint64_t dev = 0;
        int counted;
        /* "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" */
        while (pos < line_len && line[pos] != ' ')
            pos++;
        if (line_len > 0 && !device_of(line, pos, &dev))
            return DM_E_PARSE;
        counted = disks == NULL || dm_disk_set_has(disks, dev);
        while (dm_skip_blanks(line, line_len, &pos)) {
            size_t key = pos, eq;
            uint64_t v;
            while (pos < line_len && line[pos] != '=' && line[pos] != ' ')
                pos++;
            if (pos >= line_len || line[pos] != '=')
                return DM_E_PARSE;
            eq = pos++;
            if (eq - key == 6 && (memcmp(line + key, "rbytes", 6) == 0 ||
                                  memcmp(line + key, "wbytes", 6) == 0)) {
                if (dm_scan_u64(line, line_len, &pos, &v) != 0)
                    return DM_E_PARSE;
                if (!counted)
                    continue; /* a stacked device or a partition: its disk has the bytes */
                if (line[key] == 'r')
                    r += v;
                else
                    w += v;
            } else {
                /* Other policies' values need not be integers (iocost's cost.vrate=135.29,
                   iolatency's depth=max): skip them. */
                if (pos >= line_len || line[pos] == ' ')
                    return DM_E_PARSE;
                while (pos < line_len && line[pos] != ' ')
                    pos++;
            }
        }
        start += line_len + 1;
    }
    *rbytes = r, *wbytes = w;
    return DM_OK;
}

int dm_parse_blkio_bytes(const char *buf, size_t len, const dm_disk_set *disks,
                         uint64_t *read_bytes, uint64_t *write_bytes)
{
    size_t start = 0;
    uint64_t r = 0, w = 0;
    if (buf == NULL || read_bytes == NULL || write_bytes == NULL)
        return DM_E_INVALID;
    while (start < len) {
        int nl;
        size_t line_len = dm_line_len(buf, len, start, &nl);
        const char *line = buf + start;
        size_t pos = 0, op;
        uint64_t v, dev = 0;
        if (!nl)
            return DM_E_PARSE;
        if (line_len == 0)
            goto next;
        /* "Total N" closes the file; device lines are "MAJ:MIN Op N". */
        if (dm_starts_with(line, line_len, "Total ")) {
            pos = 5;
            if (dm_scan_u64(line, line_len, &pos, &v) != 0 || dm_skip_blanks(line, line_len, &pos))
                return DM_E_PARSE;
            goto next;
        }
        while (pos < line_len && line[pos] != ' ')
            pos++;
        if (!device_of(line, pos, &dev) || !dm_skip_blanks(line, line_len, &pos))
            return DM_E_PARSE;
        op = pos;
        while (pos < line_len && line[pos] != ' ')
            pos++;
        if (dm_scan_u64(line, line_len, &pos, &v) != 0 || dm_skip_blanks(line, line_len, &pos))
            return DM_E_PARSE;
        if (disks != NULL && !dm_disk_set_has(disks, dev))
            goto next; /* a stacked device or a partition: its disk has the bytes */
        if (pos - op >= 4 && dm_starts_with(line + op, line_len - op, "Read "))
            r += v;
        else if (dm_starts_with(line + op, line_len - op, "Write "))
            w += v;
    next:
        start += line_len + 1;
    }
    *read_bytes = r, *write_bytes = w;
    return DM_OK;
}

/* Digits at *pos as a CPU number (bounded: no machine has a million CPUs). */
static int scan_cpu_number(const char *s, size_t n, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = *pos;
    while (*pos < n && dm_is_digit(s[*pos])) {
        v = v * 10 + (uint64_t)(s[*pos] - '0');
        if (v >= (1u << 20))
            return -1;
        (*pos)++;
    }
    *out = v;
    return *pos > start ? 0 : -1;
}

int dm_parse_cpu_list(const char *buf, size_t len, uint32_t *count)
{
    size_t s, e, pos;
    uint64_t total = 0;
    if (buf == NULL || count == NULL)
        return DM_E_INVALID;
    if (single_value(buf, len, &s, &e) != DM_OK)
        return DM_E_PARSE;
    pos = s;
    for (;;) {
        uint64_t a, b;
        if (scan_cpu_number(buf, e, &pos, &a) != 0)
            return DM_E_PARSE;
        b = a;
        if (pos < e && buf[pos] == '-') {
            pos++;
            if (scan_cpu_number(buf, e, &pos, &b) != 0 || b < a)
                return DM_E_PARSE;
        }
        total += b - a + 1;
        if (pos == e)
            break;
        if (buf[pos] != ',')
            return DM_E_PARSE;
        pos++;
    }
    if (total > UINT32_MAX)
        return DM_E_PARSE;
    *count = (uint32_t)total;
    return DM_OK;
}
