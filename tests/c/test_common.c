/* Plain C unit tests of the pure part of the core (csrc/build.py's "pure" sources): the
   parsers and the rate arithmetic. Built from those sources alone and run by
   tests/test_c_unit.py. Prints "N passed, N failed". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dm_parse.h"

static int passed, failed;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (cond) {                                                                          \
            passed++;                                                                        \
        } else {                                                                             \
            failed++;                                                                        \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond);                         \
        }                                                                                    \
    } while (0)

#define LEN(s) (sizeof(s) - 1)
/* A string literal and its length, as the parsers take them. */
#define STR(s) s, LEN(s)

#define MS(n) ((int64_t)(n) * 1000000)

static int near(double a, double b) { return fabs(a - b) < 1e-9 * (fabs(b) + 1.0); }

static void test_proc_stat(void)
{
    static const char ok[] = "cpu  100 5 50 800 20 1 2 3 40 0\ncpu0 1 2 3 4\n";
    static const char old[] = "cpu  1 2 3 4\n";
    static const char cut[] = "cpu  100 5 50";
    dm_cpu_times t;
    uint64_t busy, idle;
    CHECK(dm_parse_proc_stat(ok, LEN(ok), &t) == DM_OK && t.nfields == 10 && t.steal == 3);
    dm_cpu_busy_idle(&t, &busy, &idle);
    CHECK(busy == 100 + 5 + 50 + 1 + 2 + 3); /* guest (40) is inside user already */
    CHECK(idle == 800 + 20);
    CHECK(dm_parse_proc_stat(old, LEN(old), &t) == DM_OK && t.nfields == 4 && t.iowait == 0);
    CHECK(dm_parse_proc_stat(cut, LEN(cut), &t) == DM_E_PARSE);
    CHECK(dm_parse_proc_stat(STR(""), &t) == DM_E_PARSE);
    CHECK(dm_parse_proc_stat(STR("cpu0 1 2 3 4\n"), &t) == DM_E_PARSE);
}

static void test_meminfo(void)
{
    static const char with[] = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n";
    static const char without[] =
        "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 300 kB\n"
        "SReclaimable: 20 kB\nShmem: 70 kB\n";
    dm_meminfo mi;
    double pct;
    CHECK(dm_parse_meminfo(with, LEN(with), &mi) == DM_OK && mi.has_mem_available);
    CHECK(mi.total == 1000 * 1024 && mi.available == 250 * 1024);
    CHECK(dm_memory_percent(&mi, &pct) == DM_OK && near(pct, 75.0));
    CHECK(dm_parse_meminfo(without, LEN(without), &mi) == DM_OK && !mi.has_mem_available);
    CHECK(mi.available == (100 + 50 + 300 + 20 - 70) * 1024);
    CHECK(dm_parse_meminfo(STR("MemFree: 1 kB\n"), &mi) == DM_E_PARSE);
}

static void test_diskstats(void)
{
    static const char file[] =
        "   7       0 loop0 1 0 800 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
        " 259       0 nvme0n1 1 0 100 0 1 0 200 0 0 0 0 0 0 0 0 0 0\n"
        " 259       1 nvme0n1p1 1 0 90 0 1 0 190 0 0 0 0 0 0 0 0 0 0\n"
        " 259       2 nvme0n10 1 0 10 0 1 0 20 0 0 0 0 0 0 0 0 0 0\n"
        "   8       0 sda 1 0 7 0 1 0 9 0 0 0 0\n"
        "   8       1 sda1 1 7 2 9\n"
        " 253       0 dm-0 1 0 555 0 1 0 555 0 0 0 0\n";
    dm_diskstats_line d;
    static dm_disk_set set; /* 36 KiB: not on the stack */
    uint64_t rd, wr;
    CHECK(dm_parse_diskstats_line(STR("8 0 sda 1 2 3 4 5 6 7 8 9 10 11"), &d) == DM_OK &&
          d.nfields == 14 && d.sectors_read == 3 && d.sectors_written == 7);
    CHECK(dm_parse_diskstats_line(STR("8 0 sda 1 2 3 4 5 6 7 8 9"), &d) == DM_E_PARSE);
    CHECK(dm_diskstats_select(file, LEN(file), &set) == DM_OK);
    /* nvme0n10 is a disk of its own: nvme0n1's partitions are spelled nvme0n1pN */
    CHECK(set.n == 3 && strcmp(dm_disk_set_name(&set, 0), "nvme0n1") == 0 &&
          strcmp(dm_disk_set_name(&set, 1), "nvme0n10") == 0 &&
          strcmp(dm_disk_set_name(&set, 2), "sda") == 0);
    CHECK(dm_diskstats_sum(file, LEN(file), &set, &rd, &wr) == DM_OK);
    CHECK(rd == (100 + 10 + 7) * 512u && wr == (200 + 20 + 9) * 512u);
    CHECK(dm_diskstats_sum(file, LEN(file) - 1, &set, &rd, &wr) == DM_E_PARSE); /* cut short */
    {
        /* The sum's one scan of a chosen disk's line agrees with the line parser on every
           format: 2.4's 15 fields (the name 4th), and a NUL in the name is malformed. */
        static const char two4[] = "   8     0   1000 sda 1 0 7 0 1 0 9 0 0 0 0\n";
        static const char nul[] = "   8     0 s\0a 1 0 7 0 1 0 9 0 0 0 0\n";
        CHECK(dm_diskstats_select(two4, LEN(two4), &set) == DM_OK && set.n == 1);
        CHECK(dm_diskstats_sum(two4, LEN(two4), &set, &rd, &wr) == DM_OK && rd == 7 * 512u &&
              wr == 9 * 512u);
        CHECK(dm_diskstats_sum(nul, sizeof nul - 1, &set, &rd, &wr) == DM_E_PARSE);
    }
    dm_disk_set_free(&set);
}

static void test_netdev_and_sysfs(void)
{
    static const char file[] =
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes packets\n"
        "    lo: 1000 1 0 0 0 0 0 0 1000 1 0 0 0 0 0 0\n"
        "  eth0:123 1 0 0 0 0 0 0 456 1 0 0 0 0 0 0\n";
    /* 32 KiB each (DM_MAX_IFACES names): static, not on the stack (1 MiB on Windows). */
    static dm_iface_set all, named;
    uint64_t rx, tx, v, r, w;
    all.mode = DM_NET_ALL_BUT_LO;
    all.n = 0;
    CHECK(dm_netdev_sum(file, LEN(file), &all, &rx, &tx) == DM_OK && rx == 123 && tx == 456);
    CHECK(dm_iface_set_from_list("lo", &named) == DM_OK);
    CHECK(dm_netdev_sum(file, LEN(file), &named, &rx, &tx) == DM_OK && rx == 1000 && tx == 1000);
    CHECK(dm_parse_u64_file(STR("42\n"), &v) == DM_OK && v == 42);
    CHECK(dm_parse_u64_file(STR("42"), &v) == DM_E_PARSE);
    CHECK(dm_parse_block_stat(STR("1 2 3 4 5 6 7 8 9 10 11\n"), &r, &w) == DM_OK && r == 3 &&
          w == 7);
    CHECK(dm_parse_block_stat(STR("1 2 3 4 5 6 7 8 9 10\n"), &r, &w) == DM_E_PARSE);
}

static void test_cgroup_parsers(void)
{
    static const char cg[] = "4:memory:/docker/abc\n1:cpu,cpuacct:/a:b\n0::/pod\n";
    static const char mi[] =
        "30 25 0:26 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "31 25 0:27 / /sys/fs/cgroup rw shared:1 - cgroup2 cgroup2 rw\n";
    dm_proc_cgroup pc;
    dm_mountinfo_line line;
    uint64_t q, p, v, r, w;
    uint32_t n;
    char path[32];
    size_t len;
    CHECK(dm_parse_proc_cgroup(cg, LEN(cg), &pc) == DM_OK);
    CHECK(pc.path[DM_CG_CPU].found && pc.path[DM_CG_CPU].len == 4 &&
          memcmp(cg + pc.path[DM_CG_CPU].off, "/a:b", 4) == 0);
    CHECK(pc.path[DM_CG_UNIFIED].found && !pc.path[DM_CG_BLKIO].found);
    CHECK(dm_mountinfo_find(mi, LEN(mi), DM_CG_MEMORY, &line) == DM_OK &&
          line.root.len == 11 && memcmp(mi + line.root.off, "/docker/abc", 11) == 0);
    CHECK(dm_mountinfo_find(mi, LEN(mi), DM_CG_UNIFIED, &line) == DM_OK);
    CHECK(dm_mountinfo_find(mi, LEN(mi), DM_CG_BLKIO, &line) == DM_E_AGAIN);
    CHECK(dm_unescape_mount_path(STR("/a\\040b"), path, sizeof path, &len) == DM_OK &&
          strcmp(path, "/a b") == 0);
    CHECK(dm_parse_cpu_max(STR("max 100000\n"), &q, &p) == DM_OK && q == UINT64_MAX &&
          p == 100000);
    CHECK(dm_parse_limit(STR("-1\n"), &v) == DM_OK && v == UINT64_MAX);
    CHECK(dm_parse_limit(STR("9223372036854771712\n"), &v) == DM_OK &&
          v == 9223372036854771712u);
    CHECK(dm_parse_keyed_u64(STR("total_inactive_file 5\ninactive_file 7\n"), "inactive_file",
                             NULL, &v) == DM_OK && v == 7);
    {
        size_t hint = 0;
        CHECK(dm_parse_keyed_u64(STR("a 1\nkey 2\n"), "key", &hint, &v) == DM_OK && v == 2 &&
              hint == 4);
        CHECK(dm_parse_keyed_u64(STR("a 1\nkey 3\n"), "key", &hint, &v) == DM_OK && v == 3);
        /* the line moved: found by the scan, and the hint follows it */
        CHECK(dm_parse_keyed_u64(STR("a 10\nkey 4\n"), "key", &hint, &v) == DM_OK && v == 4 &&
              hint == 5);
        hint = 1000; /* past the end: ignored */
        CHECK(dm_parse_keyed_u64(STR("key 5\n"), "key", &hint, &v) == DM_OK && v == 5 &&
              hint == 0);
    }
    CHECK(dm_parse_io_stat(STR("8:0 rbytes=10 wbytes=20 cost.vrate=1.5\n"), NULL, &r, &w) ==
              DM_OK &&
          r == 10 && w == 20);
    CHECK(dm_parse_blkio_bytes(STR("8:0 Read 3\n8:0 Write 4\n8:0 Total 7\nTotal 7\n"), NULL, &r,
                               &w) == DM_OK &&
          r == 3 && w == 4);
    CHECK(dm_parse_cpu_list(STR("0-3,8,10-11\n"), &n) == DM_OK && n == 7);
    CHECK(dm_parse_cpu_list(STR("3-1\n"), &n) == DM_E_PARSE);
}

static void test_rates(void)
{
    dm_rate_state st;
    dm_level_state level;
    const char *detail = NULL;
    uint64_t c[2];
    double out[2], pct, v;
    memset(&st, 0, sizeof st);
    c[0] = 1000, c[1] = 0;
    CHECK(dm_rate_per_second(&st, c, 0, 0, out, &detail) == DM_E_AGAIN); /* the baseline */
    c[0] = 3000, c[1] = 500;
    CHECK(dm_rate_per_second(&st, c, 500000000, 0, out, &detail) == DM_OK &&
          near(out[0], 4000.0) && near(out[1], 1000.0));
    c[0] = 10; /* went down: a reset, the last value stands for this interval */
    CHECK(dm_rate_per_second(&st, c, 1000000000, 0, out, &detail) == DM_OK &&
          near(out[0], 4000.0));
    CHECK(dm_rate_reuse(&st, 1000000000 + 5, 100, out) == 1);
    CHECK(dm_rate_reuse(&st, 1000000000 + 500, 100, out) == 0);

    memset(&st, 0, sizeof st);
    CHECK(dm_rate_busy_percent(&st, 100, 900, 0, 0, &pct, &detail) == DM_E_AGAIN);
    CHECK(dm_rate_busy_percent(&st, 100, 900, MS(10), 0, &pct, &detail) == DM_E_AGAIN); /* tick */
    CHECK(dm_rate_busy_percent(&st, 130, 960, MS(20), 0, &pct, &detail) == DM_OK &&
          near(pct, 100.0 * 30 / 90));
    /* Before the minimum interval, a first value needs 20 ticks: 2 ticks say nothing. */
    memset(&st, 0, sizeof st);
    CHECK(dm_rate_busy_percent(&st, 100, 900, 0, MS(1000), &pct, &detail) == DM_E_AGAIN);
    CHECK(dm_rate_busy_percent(&st, 102, 900, MS(10), MS(1000), &pct, &detail) == DM_E_AGAIN);
    CHECK(dm_rate_busy_percent(&st, 105, 915, MS(20), MS(1000), &pct, &detail) == DM_OK &&
          near(pct, 25.0));

    /* No rate over less than DM_RATE_FLOOR_NS, whatever the minimum interval: the interval
       goes on until it is long enough. */
    memset(&st, 0, sizeof st);
    c[0] = 0, c[1] = 0;
    CHECK(dm_rate_per_second(&st, c, 0, 0, out, &detail) == DM_E_AGAIN);
    c[0] = 5;
    CHECK(dm_rate_per_second(&st, c, MS(1), 0, out, &detail) == DM_E_AGAIN);
    c[0] = 1000;
    CHECK(dm_rate_per_second(&st, c, MS(10), 0, out, &detail) == DM_OK &&
          near(out[0], 1000.0 / 0.010));
    c[0] = 1001; /* 1 ms later: the last value, and the interval still runs from 10 ms */
    CHECK(dm_rate_per_second(&st, c, MS(11), 0, out, &detail) == DM_OK &&
          near(out[0], 1000.0 / 0.010));
    c[0] = 3000;
    CHECK(dm_rate_per_second(&st, c, MS(30), 0, out, &detail) == DM_OK &&
          near(out[0], 2000.0 / 0.020));

    /* Times more than 2^63 ns apart: no overflow (UBSan would stop here), no figure from it. */
    memset(&st, 0, sizeof st);
    c[0] = 0, c[1] = 0;
    CHECK(dm_rate_per_second(&st, c, INT64_MIN, 0, out, &detail) == DM_E_AGAIN);
    c[0] = 1;
    CHECK(dm_rate_per_second(&st, c, INT64_MAX, INT64_MAX, out, &detail) == DM_OK &&
          out[0] >= 0.0 && out[0] < 1e-9);
    CHECK(dm_rate_reuse(&st, INT64_MIN, INT64_MAX, out) == 1);
    CHECK(dm_elapsed_ns(INT64_MIN, INT64_MAX) == INT64_MAX && dm_elapsed_ns(5, 3) == -1 &&
          dm_elapsed_ns(3, 5) == 2);
    dm_level_keep(&level, INT64_MAX, 1.0);
    CHECK(dm_level_reuse(&level, INT64_MIN, 1, &v) == 1);
    CHECK(dm_clamp_percent(NAN) == 0.0 && dm_clamp_percent(150.0) == 100.0 &&
          dm_clamp_percent(-1.0) == 0.0);

    memset(&level, 0, sizeof level);
    CHECK(dm_level_reuse(&level, 0, 100, &v) == 0);
    dm_level_keep(&level, 1000, 42.0);
    CHECK(dm_level_reuse(&level, 1050, 100, &v) == 1 && v == 42.0);
    CHECK(dm_level_reuse(&level, 1100, 100, &v) == 0);
}

int main(void)
{
    test_proc_stat();
    test_meminfo();
    test_diskstats();
    test_netdev_and_sysfs();
    test_cgroup_parsers();
    test_rates();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
