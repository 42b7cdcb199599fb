/* libFuzzer harness: the open path over a generated tree. The input is a list of records
   "PATH\0CONTENT\0": each is written as a file under a fresh temporary root (PATH relative,
   e.g. proc/self/cgroup, proc/self/mountinfo, sys/fs/cgroup/cpu.stat), and then a host monitor
   and a cgroup monitor are opened with dm_options.root at that root, sampled at explicit times,
   and closed. Records whose PATH starts with "later/" are written over their file (in place)
   after the first sample, "gone/PATH" removes PATH then, and a record "@interfaces" gives
   dm_options.interfaces. tools/fuzz turns each tests/fixtures tree into such a record list for
   the seed corpus.

   Checked besides crashes and undefined behaviour (docs/semantics.md; "a reading is right or
   an error that says why"): every status is a known code; a failed open or reading names its
   file or says why; a percentage is within 0..100 and a rate finite and at least 0; DM_E_BUFFER
   is cured by dm_monitor_grow. Built and run by tools/fuzz (the whole core, csrc/build.py). */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "danube_metrics.h"
#include "fuzz_common.h"

#define MAX_RECORDS 128
#define MAX_PATH_LEN 240
#define T0 1000000000000LL
#define SECOND 1000000000LL

static char base[4096];
static char root[4200];

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir) { nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A path the harness is willing to create: relative, [A-Za-z0-9._,:+@-] components separated
   by single slashes, none "." or "..". */
static int safe_path(const char *p, size_t n)
{
    size_t i, comp = 0;
    if (n == 0 || n > MAX_PATH_LEN || p[0] == '/' || p[n - 1] == '/')
        return 0;
    for (i = 0; i <= n; i++) {
        char c = i < n ? p[i] : '/';
        if (c == '/') {
            if (comp == 0 || (comp == 1 && p[i - 1] == '.') ||
                (comp == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
                return 0;
            comp = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ',' || c == ':' || c == '+' || c == '@' || c == '-'))
            return 0;
        comp++;
    }
    return 1;
}

static void full_path(char *out, size_t cap, const char *rel, size_t n)
{
    snprintf(out, cap, "%s/%.*s", root, (int)n, rel);
}

/* Writes content as the file rel (parents created); in place when it exists (same inode, as
   the kernel's files and the tests' advance() do: the monitor keeps its descriptors). */
static void write_file(const char *rel, size_t n, const uint8_t *content, size_t len)
{
    char path[4600];
    size_t i;
    int fd;
    full_path(path, sizeof path, rel, n);
    for (i = strlen(root) + 1; path[i] != '\0'; i++) {
        if (path[i] == '/') {
            path[i] = '\0';
            mkdir(path, 0755);
            path[i] = '/';
        }
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return; /* a directory of that name, say: the tree simply lacks that file */
    while (len > 0) {
        ssize_t w = write(fd, content, len);
        if (w <= 0)
            break;
        content += w, len -= (size_t)w;
    }
    close(fd);
}

struct record {
    const char *path;
    size_t path_len;
    const uint8_t *content;
    size_t len;
};

static void check_error(const dm_error *e, int rc)
{
    FUZZ_CHECK(fuzz_known_code(e->code));
    FUZZ_CHECK(e->code == rc || rc == DM_OK);
    if (e->code != DM_OK && e->code != DM_E_AGAIN)
        FUZZ_CHECK(e->path != NULL || e->detail != NULL); /* says why */
    if (e->code == DM_E_OS)
        FUZZ_CHECK(e->os_errno != 0 && e->path != NULL);
    if (e->path != NULL)
        FUZZ_CHECK(strlen(e->path) < 8192);
    if (e->detail != NULL)
        FUZZ_CHECK(strlen(e->detail) < 1024);
}

static void check_percent(double v, const dm_error *e)
{
    if (e->code == DM_OK)
        FUZZ_CHECK(v >= 0.0 && v <= 100.0);
}

static void check_rate(double v, const dm_error *e)
{
    if (e->code == DM_OK)
        FUZZ_CHECK(isfinite(v) && v >= 0.0);
}

static int sample(dm_monitor *mon, int64_t now_ns)
{
    dm_sample s;
    unsigned grow = 0;
    int rc, pass;
    memset(&s, 0, sizeof s);
    for (pass = 0; pass < 2; pass++) {
        rc = dm_monitor_sample_at(mon, DM_ALL, now_ns + pass, &s);
        FUZZ_CHECK(fuzz_known_code(rc));
        check_error(&s.cpu, DM_OK), check_error(&s.memory, DM_OK);
        check_error(&s.disk, DM_OK), check_error(&s.network, DM_OK);
        check_percent(s.cpu_percent, &s.cpu), check_percent(s.memory_percent, &s.memory);
        check_rate(s.disk_read_bytes_per_sec, &s.disk);
        check_rate(s.disk_write_bytes_per_sec, &s.disk);
        check_rate(s.net_rx_bytes_per_sec, &s.network);
        check_rate(s.net_tx_bytes_per_sec, &s.network);
        grow = (s.cpu.code == DM_E_BUFFER ? DM_CPU : 0) |
               (s.memory.code == DM_E_BUFFER ? DM_MEMORY : 0) |
               (s.disk.code == DM_E_BUFFER ? DM_DISK : 0) |
               (s.network.code == DM_E_BUFFER ? DM_NETWORK : 0);
        if (grow == 0)
            break;
        {
            dm_error err;
            int g = dm_monitor_grow(mon, grow, &err);
            FUZZ_CHECK(fuzz_known_code(g));
            if (g != DM_OK)
                break;
        }
    }
    /* Grown once, the same files fit (nothing changed them in between). */
    if (pass == 1 && grow != 0) {
        fprintf(stderr, "DM_E_BUFFER again after dm_monitor_grow (metrics %u)\n", grow);
        abort();
    }
    if (getenv("DM_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "  sample: %d (cpu %d %.2f, memory %d %.2f, disk %d, network %d)\n", rc,
                s.cpu.code, s.cpu_percent, s.memory.code, s.memory_percent, s.disk.code,
                s.network.code);
    (void)dm_monitor_cpu_percent(mon);
    (void)dm_monitor_memory_percent(mon);
    return rc;
}

/* The pressure readings: known codes, reasons, NaN exactly for the figures not supported,
   percentages in 0..100 and a finite time otherwise; a buffer outgrown is cured by a grow. */
static void pressure(dm_monitor *mon, int64_t now_ns)
{
    dm_pressure p;
    const dm_error *e[4];
    static const unsigned bits[4] = {1u, 6u, 24u, 96u};
    const double *f = &p.cpu_some_percent;
    int rc, k, i, pass;
    for (pass = 0; pass < 2; pass++) {
        rc = dm_monitor_pressure_at(mon, now_ns + pass, &p);
        FUZZ_CHECK(fuzz_known_code(rc));
        e[0] = &p.cpu, e[1] = &p.memory, e[2] = &p.io, e[3] = &p.throttling;
        for (i = 0; i < 4; i++) {
            check_error(e[i], DM_OK);
            FUZZ_CHECK((e[i]->code == DM_E_UNSUPPORTED) == ((p.unsupported & bits[i]) != 0));
            for (k = 0; k < DM_PRESSURE_FIGURES; k++) {
                if (!(bits[i] & (1u << k)))
                    continue;
                if (e[i]->code != DM_OK)
                    FUZZ_CHECK(isnan(f[k]));
                else if (k < 6)
                    FUZZ_CHECK(f[k] >= 0.0 && f[k] <= 100.0);
                else
                    FUZZ_CHECK(isfinite(f[k]) && f[k] >= 0.0);
            }
        }
        if (rc != DM_E_BUFFER)
            break;
        FUZZ_CHECK(pass == 0); /* grown once, the same files fit */
        {
            dm_error err;
            if (dm_monitor_grow(mon, DM_PRESSURE, &err) != DM_OK)
                break;
        }
    }
}

static void run_monitor(int kind, const char *interfaces, const struct record *rec, size_t n)
{
    dm_options opts;
    char error_path[4096];
    dm_monitor *mon = NULL;
    dm_error err;
    dm_environment env;
    const char *files[64];
    size_t i, nf;
    int rc;

    memset(&opts, 0, sizeof opts);
    memset(&err, 0, sizeof err);
    opts.root = root;
    opts.min_interval_ns = 0;
    opts.interfaces = interfaces;
    opts.start_ns = T0;
    opts.kind = kind;
    opts.error_path = error_path;
    opts.error_path_len = sizeof error_path;
    rc = dm_monitor_open(&opts, &mon, &err);
    FUZZ_CHECK(fuzz_known_code(rc));
    if (getenv("DM_FUZZ_VERBOSE") != NULL) /* to see what a seed reaches */
        fprintf(stderr, "open kind %d: %d %s: %s\n", kind, rc, err.path ? err.path : "-",
                rc != DM_OK && err.detail ? err.detail : "-");
    if (rc != DM_OK) {
        FUZZ_CHECK(mon == NULL || rc != DM_OK);
        check_error(&err, rc);
        FUZZ_CHECK(err.code == rc);
        /* The path named outlives the monitor: it is the caller's error_path. */
        if (err.path != NULL)
            FUZZ_CHECK(err.path == error_path);
        return;
    }
    FUZZ_CHECK(mon != NULL);
    FUZZ_CHECK(dm_monitor_kind(mon) == kind);
    FUZZ_CHECK(dm_monitor_environment(mon, &env) == DM_OK);
    FUZZ_CHECK(isfinite(env.cpu_limit_cores) && env.cpu_limit_cores >= 0.0);
    for (i = 0; i < dm_monitor_disk_count(mon); i++)
        FUZZ_CHECK(dm_monitor_disk_name(mon, i) != NULL);
    for (i = 0; i < dm_monitor_iface_count(mon); i++)
        FUZZ_CHECK(dm_monitor_iface_name(mon, i) != NULL);
    nf = dm_monitor_sample_files(mon, DM_ALL, files, 64);
    for (i = 0; i < nf && i < 64; i++)
        FUZZ_CHECK(files[i] != NULL);

    sample(mon, T0 + SECOND);
    pressure(mon, T0 + SECOND);
    for (i = 0; i < n; i++) { /* the later/ snapshot, and files that go away */
        if (rec[i].path_len > 6 && memcmp(rec[i].path, "later/", 6) == 0)
            write_file(rec[i].path + 6, rec[i].path_len - 6, rec[i].content, rec[i].len);
        else if (rec[i].path_len > 5 && memcmp(rec[i].path, "gone/", 5) == 0) {
            char path[4600];
            full_path(path, sizeof path, rec[i].path + 5, rec[i].path_len - 5);
            unlink(path);
        }
    }
    sample(mon, T0 + 2 * SECOND);
    pressure(mon, T0 + 2 * SECOND);
    sample(mon, T0 + 3 * SECOND);
    pressure(mon, T0 + 3 * SECOND);
    dm_monitor_close(mon);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    (void)argc, (void)argv;
    snprintf(base, sizeof base, "%s/dm-fuzz-open-XXXXXX", tmp != NULL ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(base) != NULL);
    snprintf(root, sizeof root, "%s/root", base);
    return 0;
}

static void cleanup(void) { remove_tree(base); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    struct record rec[MAX_RECORDS];
    size_t n = 0, at = 0, i;
    char *interfaces = NULL;

    if (!registered) {
        atexit(cleanup);
        registered = 1;
    }
    while (at < size && n < MAX_RECORDS) {
        const uint8_t *p = data + at, *nul1 = memchr(p, '\0', size - at), *nul2;
        if (nul1 == NULL)
            break;
        nul2 = memchr(nul1 + 1, '\0', (size_t)(data + size - (nul1 + 1)));
        rec[n].path = (const char *)p;
        rec[n].path_len = (size_t)(nul1 - p);
        rec[n].content = nul1 + 1;
        rec[n].len = nul2 != NULL ? (size_t)(nul2 - (nul1 + 1)) : (size_t)(data + size - (nul1 + 1));
        at = nul2 != NULL ? (size_t)(nul2 - data) + 1 : size;
        n++;
    }
    remove_tree(root);
    FUZZ_CHECK(mkdir(root, 0755) == 0);
    for (i = 0; i < n; i++) {
        if (rec[i].path_len == 11 && memcmp(rec[i].path, "@interfaces", 11) == 0) {
            free(interfaces);
            interfaces = fuzz_copy(rec[i].content, rec[i].len + 1);
            interfaces[rec[i].len] = '\0';
            continue;
        }
        if (!safe_path(rec[i].path, rec[i].path_len) ||
            (rec[i].path_len > 6 && memcmp(rec[i].path, "later/", 6) == 0) ||
            (rec[i].path_len > 5 && memcmp(rec[i].path, "gone/", 5) == 0))
            continue;
        write_file(rec[i].path, rec[i].path_len, rec[i].content, rec[i].len);
    }
    run_monitor(DM_KIND_HOST, interfaces, rec, n);
    /* the later/ records were applied to the tree: write the first snapshot again */
    for (i = 0; i < n; i++)
        if (safe_path(rec[i].path, rec[i].path_len) &&
            !(rec[i].path_len > 6 && memcmp(rec[i].path, "later/", 6) == 0) &&
            !(rec[i].path_len > 5 && memcmp(rec[i].path, "gone/", 5) == 0))
            write_file(rec[i].path, rec[i].path_len, rec[i].content, rec[i].len);
    run_monitor(DM_KIND_CGROUP, interfaces, rec, n);
    free(interfaces);
    return 0;
}
