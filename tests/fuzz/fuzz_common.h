/* Shared by the libFuzzer harnesses (tests/fuzz/README.md): a check that aborts with the
   harness's file:line, so that a broken promise ("a reading is right or an error that says
   why") is a crash libFuzzer keeps, just like an ASan or UBSan report. */
#ifndef DM_FUZZ_COMMON_H
#define DM_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);        \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* A heap copy of exactly n bytes (at least one allocated byte, never readable as data), so
   that ASan's redzone sits right after the last byte a parser may read. */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
    char *p = malloc(n ? n : 1);
    FUZZ_CHECK(p != NULL);
    if (n)
        memcpy(p, data, n);
    return p;
}

/* The status codes a C call may return. */
static inline int fuzz_known_code(int rc) { return rc <= 0 && rc >= -7; }

/* A span [off, off + len) inside a buffer of n bytes. */
#define FUZZ_SPAN_IN(off, len, n) ((off) <= (n) && (len) <= (n) - (off))

#endif
