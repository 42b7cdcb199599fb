/* The C core's smoke test: opens the host monitor, takes argv[1] samples argv[2] milliseconds
   apart and prints one JSON object per sample. A reading that failed prints as null, with its
   reason under "errors". Built from the public header and one platform's sources alone. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#include "danube_metrics.h"

static void sleep_ms(long ms)
{
#ifdef _WIN32
    Sleep((DWORD)ms);
#else
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
#endif
}

/* A string inside a JSON string: Windows device paths hold backslashes ("\\.\PhysicalDrive0"). */
static void print_escaped(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
}

static void print_value(const char *key, double v, const dm_error *e, int last)
{
    if (e->code == DM_OK)
        printf("\"%s\": %.3f%s", key, v, last ? "" : ", ");
    else
        printf("\"%s\": null%s", key, last ? "" : ", ");
}

static void print_error(const char *what, const dm_error *e, int *first)
{
    if (e->code == DM_OK)
        return;
    printf("%s\"%s\": \"code %d errno %d ", *first ? "" : ", ", what, e->code, e->os_errno);
    print_escaped(e->path ? e->path : "-");
    printf(": ");
    print_escaped(e->detail ? e->detail : "-");
    printf("\"");
    *first = 0;
}

int main(int argc, char **argv)
{
    dm_options opts = {"/", 0, NULL, 0, DM_KIND_HOST, NULL, 0};
    char error_path[4096];
    dm_monitor *mon = NULL;
    dm_error err;
    dm_sample s;
    long count, interval_ms, i;
    int r, first;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SAMPLES INTERVAL_MS\n", argv[0]);
        return 2;
    }
    count = strtol(argv[1], NULL, 10);
    interval_ms = strtol(argv[2], NULL, 10);
    if (getenv("DANUBE_METRICS_ROOT") != NULL)
        opts.root = getenv("DANUBE_METRICS_ROOT");
    if (getenv("DANUBE_METRICS_MODE") != NULL && strcmp(getenv("DANUBE_METRICS_MODE"), "cgroup") == 0)
        opts.kind = DM_KIND_CGROUP;
    opts.error_path = error_path; /* a failed open names its file here, as the binding's does */
    opts.error_path_len = sizeof error_path;
    r = dm_monitor_open(&opts, &mon, &err);
    if (r != DM_OK) {
        fprintf(stderr, "open failed: code %d errno %d %s: %s\n", r, err.os_errno,
                err.path ? err.path : "-", err.detail ? err.detail : "-");
        return 1;
    }
    for (i = 0; i < count; i++) {
        sleep_ms(interval_ms);
        r = dm_monitor_sample(mon, DM_ALL, &s);
        if (r == DM_E_BUFFER && dm_monitor_grow(mon, DM_ALL, &err) == DM_OK)
            r = dm_monitor_sample(mon, DM_ALL, &s);
        printf("{");
        print_value("cpu_percent", s.cpu_percent, &s.cpu, 0);
        print_value("memory_percent", s.memory_percent, &s.memory, 0);
        print_value("disk_read_bytes_per_sec", s.disk_read_bytes_per_sec, &s.disk, 0);
        print_value("disk_write_bytes_per_sec", s.disk_write_bytes_per_sec, &s.disk, 0);
        print_value("net_rx_bytes_per_sec", s.net_rx_bytes_per_sec, &s.network, 0);
        print_value("net_tx_bytes_per_sec", s.net_tx_bytes_per_sec, &s.network, 1);
        printf(", \"errors\": {");
        first = 1;
        print_error("cpu", &s.cpu, &first);
        print_error("memory", &s.memory, &first);
        print_error("disk", &s.disk, &first);
        print_error("network", &s.network, &first);
        printf("}}\n");
        fflush(stdout);
    }
    dm_monitor_close(mon);
    return 0;
}
