/* LD_PRELOAD allocation counter: counts malloc, calloc and realloc calls in the process and
   prints "allocations N" on stderr at exit. Used to prove that a sample allocates nothing: the
   count for 10 samples must equal the count for 10,000. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static unsigned long count;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);

/* dlsym may itself calloc before real_calloc is known: serve it from a static arena. */
static char arena[4096];
static size_t arena_used;

static void *arena_alloc(size_t n)
{
    void *p;
    n = (n + 15) & ~(size_t)15;
    if (arena_used + n > sizeof arena)
        return NULL;
    p = arena + arena_used;
    arena_used += n;
    return p;
}

static void resolve(void)
{
    if (real_malloc == NULL) {
        real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
        real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
        real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    }
}

void *malloc(size_t n)
{
    resolve();
    __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    static int resolving;
    if (real_calloc == NULL) {
        void *p;
        if (resolving)
            return arena_alloc(a * b);
        resolving = 1;
        resolve();
        resolving = 0;
        if (real_calloc == NULL) {
            p = arena_alloc(a * b);
            return p;
        }
    }
    __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    resolve();
    __atomic_add_fetch(&count, 1, __ATOMIC_RELAXED);
    return real_realloc(p, n);
}

void free(void *p)
{
    static void (*real_free)(void *);
    if ((char *)p >= arena && (char *)p < arena + sizeof arena)
        return;
    if (real_free == NULL)
        real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    real_free(p);
}

__attribute__((destructor)) static void report(void)
{
    char line[64];
    int n = snprintf(line, sizeof line, "allocations %lu\n", count);
    if (n > 0)
        (void)!write(2, line, (size_t)n);
}
