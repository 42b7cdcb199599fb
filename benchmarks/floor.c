/* The kernel's floor for a sample: pread the same files into a buffer, the way the monitor
   reads them, and nothing else (no parsing, no Python).
   usage: floor ITERATIONS FILE[:first]...  -> the best mean nanoseconds per iteration over
   five rounds. ":first" reads one page only (the monitor needs the first line of /proc/stat);
   other files are read whole, stopping at procfs's end of file as the monitor does. */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define RECORD_MAX 1024

static char buf[1 << 20];

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iterations, i;
    int fds[64], first_only[64], n = 0, k, round;
    long long best = -1;
    if (argc < 3) {
        fprintf(stderr, "usage: %s ITERATIONS FILE[:first]...\n", argv[0]);
        return 2;
    }
    iterations = strtol(argv[1], NULL, 10);
    for (k = 2; k < argc && n < 64; k++) {
        char *colon = strrchr(argv[k], ':');
        first_only[n] = colon != NULL && strcmp(colon, ":first") == 0;
        if (first_only[n])
            *colon = '\0';
        fds[n] = open(argv[k], O_RDONLY | O_CLOEXEC);
        if (fds[n] < 0) {
            perror(argv[k]);
            return 1;
        }
        n++;
    }
    for (round = 0; round < 5; round++) {
        long long t0 = now_ns(), per;
        for (i = 0; i < iterations; i++) {
            for (k = 0; k < n; k++) {
                size_t got = 0;
                ssize_t r;
                if (first_only[k]) {
                    if (pread(fds[k], buf, PAGE, 0) < 0)
                        return 1;
                    continue;
                }
                while ((r = pread(fds[k], buf + got, sizeof buf - got, (off_t)got)) > 0) {
                    got += (size_t)r;
                    if (r <= PAGE - RECORD_MAX)
                        break;
                }
            }
        }
        per = (now_ns() - t0) / iterations;
        if (best < 0 || per < best)
            best = per;
    }
    printf("%lld\n", best);
    return 0;
}
