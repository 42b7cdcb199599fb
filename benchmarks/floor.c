/* The kernel's floor for a sample: pread the same files into a buffer, the way the monitor
   reads them, and nothing else (no parsing, no Python).
   usage: floor ITERATIONS FILE[:first]...  -> the mean nanoseconds per iteration of one timed
   (or: floor ITERATIONS @LIST, LIST holding one FILE[:first] a line: thousands of files)
   run (the benchmark takes the best of several runs, as it does for every other figure).
   ":first" reads one page only (the monitor needs the first line of /proc/stat); other files
   are read whole, stopping at procfs's end of file as the monitor does.
   Built with FLOOR_NO_MAIN, floor_read_all alone is compiled into a Python extension: the same
   reads in one call from Python, the least any Python-called reader can cost. */
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

/* One sample's reads: returns 0, or -1 when a read fails. */
int floor_read_all(const int *fds, const int *first_only, int n)
{
    int k;
    for (k = 0; k < n; k++) {
        size_t got = 0;
        ssize_t r;
        if (first_only[k]) {
            if (pread(fds[k], buf, PAGE, 0) < 0)
                return -1;
            continue;
        }
        while ((r = pread(fds[k], buf + got, sizeof buf - got, (off_t)got)) > 0) {
            got += (size_t)r;
            if (r <= PAGE - RECORD_MAX)
                break;
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

#ifndef FLOOR_NO_MAIN
static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iterations, i;
    static int fds[65536], first_only[65536];
    static char line[4096];
    int n = 0, k;
    long long t0;
    FILE *list = NULL;
    if (argc < 3) {
        fprintf(stderr, "usage: %s ITERATIONS FILE[:first]... | @LIST\n", argv[0]);
        return 2;
    }
    iterations = strtol(argv[1], NULL, 10);
    if (argv[2][0] == '@' && (list = fopen(argv[2] + 1, "r")) == NULL) {
        perror(argv[2] + 1);
        return 1;
    }
    for (k = 2; n < 65536; k++) {
        char *path, *colon;
        if (list != NULL) {
            if (fgets(line, sizeof line, list) == NULL)
                break;
            line[strcspn(line, "\n")] = '\0';
            path = line;
        } else if (k < argc) {
            path = argv[k];
        } else {
            break;
        }
        colon = strrchr(path, ':');
        first_only[n] = colon != NULL && strcmp(colon, ":first") == 0;
        if (first_only[n])
            *colon = '\0';
        fds[n] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[n] < 0) {
            perror(path);
            return 1;
        }
        n++;
    }
    if (list != NULL)
        fclose(list);
    if (floor_read_all(fds, first_only, n) != 0) /* warm: the first read allocates in the kernel */
        return 1;
    t0 = now_ns();
    for (i = 0; i < iterations; i++)
        if (floor_read_all(fds, first_only, n) != 0)
            return 1;
    printf("%lld\n", (now_ns() - t0) / iterations);
    return 0;
}
#endif
