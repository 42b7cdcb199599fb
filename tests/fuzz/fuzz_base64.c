/* libFuzzer harness: the strict base64 decoder of csrc/common/dm_base64.c (dm_base64_decode)
   against a reference written here the slow way, a bit at a time from RFC 4648's definition.
   Byte 0 picks how much output room is short of what the text needs (0-3 bytes), the rest is
   the text, in a heap copy of exactly its length with an output buffer of exactly the room
   given, so that a read or write past either is an ASan report. Checked: both refuse the same
   texts; for the rest the same bytes, and DM_E_BUFFER exactly when the room is short. Built
   and run by tools/fuzz. */
#include "danube_metrics.h"
#include "fuzz_common.h"

static int value_of(unsigned char c)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int i;
    for (i = 0; i < 64; i++)
        if (alphabet[i] == (char)c)
            return i;
    return -1;
}

/* The decoded length, or -1 for a text that is not padded standard base64. */
static long reference(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t i, padding = 0, bits = 0;
    unsigned long acc = 0;
    long produced = 0;
    if (n % 4 != 0)
        return -1;
    while (padding < 2 && padding < n && in[n - 1 - padding] == '=')
        padding++;
    for (i = 0; i < n - padding; i++) {
        int v = value_of(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[produced++] = (unsigned char)(acc >> bits);
        }
    }
    return produced;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n, shortfall, needed, room;
    unsigned char *expected;
    char *text, *out;
    long want;
    int64_t got;
    if (size < 1)
        return 0;
    shortfall = data[0] & 3;
    n = size - 1;
    text = fuzz_copy(data + 1, n);
    expected = malloc(n / 4 * 3 + 1);
    FUZZ_CHECK(expected != NULL);
    want = reference((const unsigned char *)text, n, expected);
    needed = want < 0 ? n / 4 * 3 : (size_t)want;
    room = needed > shortfall ? needed - shortfall : 0;
    out = malloc(room ? room : 1);
    FUZZ_CHECK(out != NULL);
    got = dm_base64_decode(text, n, room ? out : NULL, room);
    if (want < 0) {
        /* Refused, whatever the room: a length not a multiple of 4 is refused first; else
           the room may be found short before the bytes are looked at. */
        FUZZ_CHECK(got == DM_E_PARSE || (got == DM_E_BUFFER && room < needed));
    } else if (room < (size_t)want) {
        FUZZ_CHECK(got == DM_E_BUFFER);
    } else {
        FUZZ_CHECK(got == want);
        FUZZ_CHECK(memcmp(out, expected, (size_t)want) == 0);
    }
    free(out);
    free(expected);
    free(text);
    return 0;
}
