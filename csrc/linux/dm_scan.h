/* Bounded scanning helpers shared by the parsers (internal). */
#ifndef DM_SCAN_H
#define DM_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int dm_is_blank(char c) { return c == ' ' || c == '\t'; }
static inline int dm_is_digit(char c) { return (unsigned char)(c - '0') < 10; }

/* Skips blanks from *pos; returns 1 if a non-blank, non-newline byte follows. */
static inline int dm_skip_blanks(const char *s, size_t len, size_t *pos)
{
    while (*pos < len && dm_is_blank(s[*pos]))
        (*pos)++;
    return *pos < len && s[*pos] != '\n';
}

/* Reads an unsigned decimal at *pos (after blanks). Returns 0 on success, -1 when there is no
   number, it overflows, or it runs straight into a non-separator byte. */
static inline int dm_scan_u64(const char *s, size_t len, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    size_t i, unchecked_end;
    dm_skip_blanks(s, len, pos);
    i = *pos;
    if (i >= len || !dm_is_digit(s[i]))
        return -1;
    /* 19 digits cannot overflow (10^19 - 1 < 2^64): only the digits after them are checked. */
    unchecked_end = len - i > 19 ? i + 19 : len;
    for (; i < unchecked_end && dm_is_digit(s[i]); i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    for (; i < len && dm_is_digit(s[i]); i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        /* UINT64_MAX is 18446744073709551615: no division needed to see an overflow. */
        if (v >= 1844674407370955161u && (v > 1844674407370955161u || d > 5))
            return -1;
        v = v * 10 + d;
    }
    if (i < len && !dm_is_blank(s[i]) && s[i] != '\n')
        return -1;
    *pos = i;
    *out = v;
    return 0;
}

/* Scans one line s[0..len) of blank-separated unsigned decimals, where s[len] is the line's
   newline (so it must be readable: it ends both inner loops, which then need no bounds check).
   Stores the first `max` fields in v[] and returns how many there are, or -1 when a field is
   not a number or overflows. The per-sample parsers spend most of their time in this loop. */
static inline int dm_scan_u64_line(const char *s, size_t len, uint64_t *v, int max)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    int n = 0;
    if (*end != '\n')
        return -1;
    for (;;) {
        const unsigned char *start;
        uint64_t x = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (p == end)
            return n;
        start = p;
        if (n < max) {
            while ((unsigned char)(*p - '0') < 10)
                x = x * 10 + (uint64_t)(*p++ - '0');
        } else { /* a field only counted: checked to be digits, not converted */
            while ((unsigned char)(*p - '0') < 10)
                p++;
        }
        if (p == start || (*p != ' ' && *p != '\t' && p != end))
            return -1;
        if (p - start > 19 && n < max) { /* may have wrapped: scan it again, checked */
            size_t at = 0;
            if (dm_scan_u64((const char *)start, (size_t)(p - start), &at, &x) != 0)
                return -1;
        }
        if (n < max)
            v[n] = x;
        n++;
    }
}

/* Length of the line starting at `start` (excluding its newline), and whether it ended in one. */
static inline size_t dm_line_len(const char *s, size_t len, size_t start, int *has_newline)
{
    const char *nl = start < len ? memchr(s + start, '\n', len - start) : NULL;
    *has_newline = nl != NULL;
    return nl != NULL ? (size_t)(nl - (s + start)) : len - start;
}

/* The last occurrence of c in s[0..len), or len if there is none. */
static inline size_t dm_last_index(const char *s, size_t len, char c)
{
    size_t last = len, from = 0;
    const char *hit;
    while (from < len && (hit = memchr(s + from, c, len - from)) != NULL) {
        last = (size_t)(hit - s);
        from = last + 1;
    }
    return last;
}

static inline int dm_starts_with(const char *s, size_t len, const char *prefix)
{
    size_t i;
    for (i = 0; prefix[i] != '\0'; i++)
        if (i >= len || s[i] != prefix[i])
            return 0;
    return 1;
}

#endif
