/* libFuzzer harness: the /proc and sysfs parsers of csrc/linux/dm_proc_parse.c and the
   interface list of csrc/common/dm_iface_list.c. The first byte picks the parser, the rest is
   its input, handed over in a heap copy of exactly its length (a read past it is an ASan
   report). Besides "no crash, no undefined behaviour", each accepted input is checked against
   what the parser promises (dm_parse.h): offsets inside the buffer, names that fit, totals that
   add up. Built and run by tools/fuzz. */
#include <math.h>

#include "dm_parse.h"
#include "fuzz_common.h"

enum {
    T_PROC_STAT,
    T_MEMINFO,
    T_DISKSTATS_LINE,
    T_DISKSTATS_SELECT_SUM,
    T_BLOCK_STAT,
    T_U64_FILE,
    T_NETDEV_LINE,
    T_NETDEV_SUM_ALL_BUT_LO,
    T_NETDEV_SUM_LIST, /* "LIST\0NETDEV": dm_iface_set_from_list, then dm_netdev_sum */
    T_COUNT
};

static dm_disk_set disks; /* its tables are sized by each choice (and freed by the next) */
static dm_iface_set ifaces;

static void proc_stat(const char *b, size_t n)
{
    dm_cpu_times t;
    uint64_t busy, idle;
    int rc = dm_parse_proc_stat(b, n, &t);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(t.nfields >= 4 && t.nfields <= 10);
    dm_cpu_busy_idle(&t, &busy, &idle);
}

static void meminfo(const char *b, size_t n)
{
    dm_meminfo m;
    double pct;
    int rc = dm_parse_meminfo(b, n, &m);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(m.total > 0 && m.available <= m.total);
    FUZZ_CHECK(dm_memory_percent(&m, &pct) == DM_OK);
    FUZZ_CHECK(pct >= 0.0 && pct <= 100.0);
}

static void diskstats_line(const char *b, size_t n)
{
    dm_diskstats_line d;
    int rc = dm_parse_diskstats_line(b, n, &d);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(FUZZ_SPAN_IN(d.name_off, d.name_len, n));
    FUZZ_CHECK(d.name_len > 0 && d.name_len < DM_NAME_MAX);
    FUZZ_CHECK(d.nfields == 7 || d.nfields == 14 || d.nfields == 15 || d.nfields == 18 ||
               d.nfields == 20);
}

static void diskstats_select_sum(const char *b, size_t n)
{
    uint64_t rd, wr;
    size_t i;
    int rc = dm_diskstats_select(b, n, &disks);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE || rc == DM_E_NOMEM);
    if (rc != DM_OK)
        return;
    for (i = 0; i < disks.n; i++) {
        const char *name = dm_disk_set_name(&disks, i);
        /* NUL-terminated inside its slot (a name holding a NUL is refused) */
        FUZZ_CHECK(name != NULL && memchr(name, '\0', DM_NAME_MAX) != NULL);
    }
    FUZZ_CHECK(dm_disk_set_name(&disks, disks.n) == NULL);
    /* The file the set was chosen from is the file summed at open: it must parse. */
    rc = dm_diskstats_sum(b, n, &disks, &rd, &wr);
    FUZZ_CHECK(rc == DM_OK);
}

static void block_stat(const char *b, size_t n)
{
    uint64_t r, w;
    int rc = dm_parse_block_stat(b, n, &r, &w);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
}

static void u64_file(const char *b, size_t n)
{
    uint64_t v;
    int rc = dm_parse_u64_file(b, n, &v);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
    if (rc == DM_OK) {
        /* The same number as strtoull reads: digits, one newline, nothing else. */
        char *text;
        size_t i;
        FUZZ_CHECK(n >= 2 && b[n - 1] == '\n');
        for (i = 0; i + 1 < n; i++)
            FUZZ_CHECK(b[i] >= '0' && b[i] <= '9');
        text = fuzz_copy((const uint8_t *)b, n);
        text[n - 1] = '\0';
        FUZZ_CHECK(strtoull(text, NULL, 10) == v);
        free(text);
    }
}

static void netdev_line(const char *b, size_t n)
{
    dm_netdev_line d;
    int rc = dm_parse_netdev_line(b, n, &d);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE || rc == DM_E_AGAIN);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(FUZZ_SPAN_IN(d.name_off, d.name_len, n));
    FUZZ_CHECK(d.name_len > 0 && d.name_len < DM_NAME_MAX);
}

static void netdev_sum(const char *b, size_t n, const dm_iface_set *set)
{
    uint64_t rx, tx;
    int rc = dm_netdev_sum(b, n, set, &rx, &tx);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_PARSE);
}

static void netdev_sum_list(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t list_len = nul != NULL ? (size_t)(nul - data) : size, i;
    char *list = malloc(list_len + 1), *rest;
    int rc;
    FUZZ_CHECK(list != NULL);
    memcpy(list, data, list_len);
    list[list_len] = '\0';
    rc = dm_iface_set_from_list(list, &ifaces);
    FUZZ_CHECK(rc == DM_OK || rc == DM_E_INVALID);
    free(list);
    if (rc != DM_OK)
        return;
    FUZZ_CHECK(ifaces.mode == DM_NET_USER_LIST && ifaces.n > 0 && ifaces.n <= DM_MAX_IFACES);
    for (i = 0; i < ifaces.n; i++) {
        FUZZ_CHECK(memchr(ifaces.name[i], '\0', DM_NAME_MAX) != NULL);
        FUZZ_CHECK(ifaces.name[i][0] != '\0');
    }
    if (nul == NULL)
        return;
    rest = fuzz_copy(nul + 1, size - list_len - 1);
    netdev_sum(rest, size - list_len - 1, &ifaces);
    free(rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *b;
    size_t n;
    if (size < 1)
        return 0;
    if (data[0] % T_COUNT == T_NETDEV_SUM_LIST) {
        netdev_sum_list(data + 1, size - 1);
        return 0;
    }
    n = size - 1;
    b = fuzz_copy(data + 1, n);
    switch (data[0] % T_COUNT) {
    case T_PROC_STAT: proc_stat(b, n); break;
    case T_MEMINFO: meminfo(b, n); break;
    case T_DISKSTATS_LINE: diskstats_line(b, n); break;
    case T_DISKSTATS_SELECT_SUM: diskstats_select_sum(b, n); break;
    case T_BLOCK_STAT: block_stat(b, n); break;
    case T_U64_FILE: u64_file(b, n); break;
    case T_NETDEV_LINE: netdev_line(b, n); break;
    case T_NETDEV_SUM_ALL_BUT_LO: {
        static dm_iface_set all;
        all.mode = DM_NET_ALL_BUT_LO;
        all.n = 0;
        netdev_sum(b, n, &all);
        break;
    }
    default: break;
    }
    free(b);
    return 0;
}
