/* Standard padded base64 (danube_metrics.h, dm_base64_decode): how etcd's JSON gateway writes
   a key's value, decoded once per watched change. Strict where binascii is lenient (it skips
   bytes outside the alphabet): a text this refuses is decoded by Python, which decides. */
#include "danube_metrics.h"

/* Each byte's six bits, or 64 for a byte outside the alphabet ('=' included): a table,
   since a branch per byte costs a kilobyte's value several times its copy. */
static const unsigned char sextets[256] = {
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
    64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
    64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

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
    /* Every quad but the last decodes to three bytes; the last to 3 - padding. */
    for (q = 0; q + 1 < quads; q++) {
        const unsigned char *s = in + 4 * q;
        char *d = out + 3 * q;
        unsigned a = sextets[s[0]], b = sextets[s[1]], c = sextets[s[2]], e = sextets[s[3]];
        if ((a | b | c | e) > 63)
            return DM_E_PARSE;
        d[0] = (char)(a << 2 | b >> 4);
        d[1] = (char)((b & 15) << 4 | c >> 2);
        d[2] = (char)((c & 3) << 6 | e);
    }
    if (quads > 0) {
        const unsigned char *s = in + 4 * q;
        char *d = out + 3 * q;
        unsigned a = sextets[s[0]], b = sextets[s[1]];
        unsigned c = padding == 2 ? 0 : sextets[s[2]], e = padding >= 1 ? 0 : sextets[s[3]];
        if ((a | b | c | e) > 63)
            return DM_E_PARSE;
        d[0] = (char)(a << 2 | b >> 4);
        if (padding < 2)
            d[1] = (char)((b & 15) << 4 | c >> 2);
        if (padding < 1)
            d[2] = (char)((c & 3) << 6 | e);
    }
    return (int64_t)decoded;
}
