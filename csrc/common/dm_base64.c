/* Standard padded base64 (danube_metrics.h, dm_base64_decode): how etcd's JSON gateway writes
   a key's value, decoded once per watched change. Strict where binascii is lenient (it skips
   bytes outside the alphabet): a text this refuses is decoded by Python, which decides. */
#include "danube_metrics.h"

/* A character's six bits, or 64 for a character outside the alphabet ('=' included). */
static unsigned sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned)(c - 'a') + 26;
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0') + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return 64;
}

int64_t dm_base64_decode(const char *text, size_t length, char *out, size_t capacity)
{
    const unsigned char *in = (const unsigned char *)text;
    size_t quads, q, padding = 0, decoded;
    if (text == NULL || (out == NULL && capacity > 0))
        return DM_E_INVALID;
    if (length % 4 != 0)
        return DM_E_PARSE;
    if (length > 0 && in[length - 1] == '=')
        padding = length > 1 && in[length - 2] == '=' ? 2 : 1;
    quads = length / 4;
    decoded = quads * 3 - padding;
    if (decoded > capacity)
        return DM_E_BUFFER;
    for (q = 0; q < quads; q++) {
        const unsigned char *s = in + 4 * q;
        char *d = out + 3 * q;
        int last = q + 1 == quads;
        unsigned a = sextet(s[0]), b = sextet(s[1]);
        unsigned c = last && padding == 2 ? 0 : sextet(s[2]);
        unsigned e = last && padding >= 1 ? 0 : sextet(s[3]);
        if ((a | b | c | e) > 63)
            return DM_E_PARSE;
        d[0] = (char)(a << 2 | b >> 4);
        if (!last || padding < 2)
            d[1] = (char)((b & 15) << 4 | c >> 2);
        if (!last || padding < 1)
            d[2] = (char)((c & 3) << 6 | e);
    }
    return (int64_t)decoded;
}
