/* The Windows host monitor (docs/semantics.md, "Windows").

   CPU     GetSystemTimes: kernel time includes idle, so busy = (kernel - idle) + user. It covers
           only the calling thread's processor group, so on a machine with more than one group
           (over 64 logical CPUs) every group's processors are summed from
           NtQuerySystemInformationEx(SystemProcessorPerformanceInformation, group) instead.
   Memory  GlobalMemoryStatusEx: used = ullTotalPhys - ullAvailPhys.
   Disk    IOCTL_DISK_PERFORMANCE on \\.\PhysicalDriveN handles opened at open: cumulative
           BytesRead / BytesWritten of whole disks, summed. Disks backed by a file (a mounted VHD
           or ISO) are skipped: their bytes are already counted on the disk holding the file.
           Chosen over PDH's PhysicalDisk counters because the ioctl hands back the cumulative
           bytes themselves into a buffer the monitor owns (PdhCollectQueryData re-reads the
           whole performance registry block into buffers of its own at every collect), needs
           neither the localized counter names nor a healthy performance-counter registry, and
           names each disk it counts. It needs no privilege (the handle is opened with no
           access rights; the ioctl is FILE_ANY_ACCESS).
   Network GetIfTable2 at open picks the interfaces and keeps their LUIDs (hardware interfaces
           that are not filters, no loopback; where there is none, every interface but loopback,
           filters and tunnels); each sample reads their 64-bit InOctets / OutOctets with
           GetIfEntry2 into a row on the stack.

   Disks and interfaces are chosen at open (ones added later are not counted), as the Linux
   monitor chooses them at its first read. Everything is sized and opened at open: a sample
   allocates nothing. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0601
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0601 /* Windows 7: GetIfTable2, processor groups */
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif

#include <winsock2.h>
#include <windows.h>
#include <winioctl.h>
#include <ws2ipdef.h>
#include <iphlpapi.h>
#include <netioapi.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm_core.h"

#ifdef _MSC_VER
#pragma comment(lib, "iphlpapi.lib")
#endif

#define DM_WIN_DISK_MISSES 32     /* consecutive absent PhysicalDriveN that end the probe */
#define DM_WIN_DISK_PATH 32       /* "\\.\PhysicalDrive4294967295" */
#define DM_WIN_PERF_MIN 256       /* first size tried for DISK_PERFORMANCE */
#define DM_WIN_PERF_MAX (1u << 16) /* largest buffer the ioctl is offered */
#define DM_WIN_NAME_MAX (3 * IF_MAX_STRING_SIZE + 1) /* an interface alias in UTF-8 */
#define DM_WIN_GROUP_CPUS 64     /* logical processors in one processor group, at most */
#define DM_SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION 8

/* SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION, times in 100 ns (kernel includes idle). */
typedef struct dm_sppi {
    LARGE_INTEGER idle, kernel, user, dpc, interrupt;
    ULONG interrupt_count;
} dm_sppi;

typedef LONG(NTAPI *dm_nt_query_ex_fn)(ULONG cls, PVOID in, ULONG in_len, PVOID out,
                                       ULONG out_len, PULONG ret_len);

struct dm_disk {
    HANDLE h; /* INVALID_HANDLE_VALUE once the disk is gone */
    char path[DM_WIN_DISK_PATH];
};

struct dm_iface {
    NET_LUID luid; /* stable while the adapter is installed, unlike its index */
    int present;   /* 0: a named interface that did not exist at open */
    char name[DM_WIN_NAME_MAX];
};

struct dm_monitor {
    struct dm_monitor_head head; /* first: the lock, the kind, the readings' states */

    /* CPU: GetSystemTimes, or every processor group when there are several. */
    dm_nt_query_ex_fn nt_query_ex; /* NULL: GetSystemTimes */
    dm_sppi cpu_buf[DM_WIN_GROUP_CPUS];

    /* Disks: every drive that answers, in an array grown at open (no fixed limit). */
    size_t ndisks, disk_cap;
    struct dm_disk *disks;
    unsigned char *perf_buf; /* DISK_PERFORMANCE out-buffer, perf_cap bytes */
    DWORD perf_cap;
    dm_error disk_status;    /* why disks cannot be read at all, or DM_OK */
    char disk_error_path[DM_WIN_DISK_PATH];

    /* Network: the interfaces counted, sized at open (no fixed limit). */
    int net_mode;
    size_t nifaces;
    struct dm_iface *ifaces;
    dm_error net_status;     /* why interfaces cannot be read at all, or DM_OK */
};

static uint64_t filetime_u64(const FILETIME *ft)
{
    return (uint64_t)ft->dwHighDateTime << 32 | ft->dwLowDateTime;
}

int64_t dm_monotonic_ns(void)
{
    static volatile LONGLONG freq; /* fixed at boot; 0 until first read */
    LARGE_INTEGER now, f;
    LONGLONG hz = freq;
    if (hz == 0) {
        QueryPerformanceFrequency(&f);
        hz = f.QuadPart > 0 ? f.QuadPart : 1;
        freq = hz;
    }
    QueryPerformanceCounter(&now);
    /* Split so that counter * 1e9 cannot overflow. */
    return (int64_t)(now.QuadPart / hz) * 1000000000 +
           (int64_t)((now.QuadPart % hz) * 1000000000 / hz);
}

/* ---- CPU ------------------------------------------------------------------------------ */

/* Idle, kernel (idle included) and user time of every processor in every group. */
static int cpu_groups_read(dm_monitor *m, uint64_t *idle, uint64_t *kernel, uint64_t *user,
                           LONG *status)
{
    WORD groups = GetActiveProcessorGroupCount(), g;
    *idle = *kernel = *user = 0;
    if (groups == 0)
        groups = 1;
    for (g = 0; g < groups; g++) {
        USHORT group = g;
        ULONG got = 0, i, n;
        LONG st = m->nt_query_ex(DM_SYSTEM_PROCESSOR_PERFORMANCE_INFORMATION, &group,
                                 sizeof group, m->cpu_buf, (ULONG)sizeof m->cpu_buf, &got);
        if (st < 0) {
            *status = st;
            return DM_E_OS;
        }
        n = got / (ULONG)sizeof m->cpu_buf[0];
        if (n > DM_WIN_GROUP_CPUS)
            n = DM_WIN_GROUP_CPUS;
        for (i = 0; i < n; i++) {
            *idle += (uint64_t)m->cpu_buf[i].idle.QuadPart;
            *kernel += (uint64_t)m->cpu_buf[i].kernel.QuadPart;
            *user += (uint64_t)m->cpu_buf[i].user.QuadPart;
        }
    }
    return DM_OK;
}

/* Chooses how CPU time is read: GetSystemTimes on one processor group, else every group. */
static void cpu_open(dm_monitor *m)
{
    HMODULE ntdll;
    FARPROC p;
    uint64_t i, k, u;
    LONG st;
    if (GetActiveProcessorGroupCount() <= 1)
        return;
    ntdll = GetModuleHandleW(L"ntdll.dll");
    if (ntdll == NULL || (p = GetProcAddress(ntdll, "NtQuerySystemInformationEx")) == NULL)
        return; /* before Windows 7 there are no groups: GetSystemTimes sees every CPU */
    m->nt_query_ex = (dm_nt_query_ex_fn)(void (*)(void))p;
    if (cpu_groups_read(m, &i, &k, &u, &st) != DM_OK)
        m->nt_query_ex = NULL; /* not answered (wine 8 does not): the calling group only */
}

static int read_cpu(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    uint64_t idle, kernel, user;
    (void)now_ns;
    if (m->nt_query_ex != NULL) {
        LONG st = 0;
        if (cpu_groups_read(m, &idle, &kernel, &user, &st) != DM_OK) {
            dm_set_error(err, DM_E_OS, (int)st, "NtQuerySystemInformationEx",
                      "NtQuerySystemInformationEx(SystemProcessorPerformanceInformation) failed "
                      "(os_errno is the NTSTATUS)");
            return DM_E_OS;
        }
    } else {
        FILETIME fi, fk, fu;
        if (!GetSystemTimes(&fi, &fk, &fu)) {
            dm_set_error(err, DM_E_OS, (int)GetLastError(), "GetSystemTimes",
                      "GetSystemTimes failed");
            return DM_E_OS;
        }
        idle = filetime_u64(&fi);
        kernel = filetime_u64(&fk);
        user = filetime_u64(&fu);
    }
    c->v[0] = (kernel > idle ? kernel - idle : 0) + user; /* busy */
    c->v[1] = idle;
    c->source = m->nt_query_ex != NULL ? "NtQuerySystemInformationEx" : "GetSystemTimes";
    return DM_OK;
}

/* ---- Memory --------------------------------------------------------------------------- */

static int read_memory(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    MEMORYSTATUSEX ms;
    dm_meminfo mi;
    (void)m, (void)now_ns;
    ms.dwLength = sizeof ms;
    if (!GlobalMemoryStatusEx(&ms)) {
        dm_set_error(err, DM_E_OS, (int)GetLastError(), "GlobalMemoryStatusEx",
                  "GlobalMemoryStatusEx failed");
        return DM_E_OS;
    }
    mi.total = ms.ullTotalPhys;
    mi.available = ms.ullAvailPhys;
    mi.has_mem_available = 1;
    if (dm_memory_percent(&mi, &c->level) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, "GlobalMemoryStatusEx",
                  "GlobalMemoryStatusEx reported no physical memory");
        return DM_E_PARSE;
    }
    return DM_OK;
}

/* ---- Disks ---------------------------------------------------------------------------- */

static int is_gone_error(DWORD e)
{
    return e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND ||
           e == ERROR_DEVICE_NOT_CONNECTED || e == ERROR_DEV_NOT_EXIST ||
           e == ERROR_NO_SUCH_DEVICE || e == ERROR_DEVICE_REMOVED || e == ERROR_NOT_READY;
}

static int is_unsupported_error(DWORD e)
{
    return e == ERROR_INVALID_FUNCTION || e == ERROR_NOT_SUPPORTED ||
           e == ERROR_INVALID_PARAMETER || e == ERROR_CALL_NOT_IMPLEMENTED;
}

/* A disk whose bytes are those of a file on another disk (a mounted VHD, VHDX or ISO). */
static int is_file_backed(HANDLE h)
{
    STORAGE_PROPERTY_QUERY q;
    union {
        STORAGE_DEVICE_DESCRIPTOR d;
        unsigned char raw[1024];
    } desc;
    DWORD got = 0;
    memset(&q, 0, sizeof q);
    q.PropertyId = StorageDeviceProperty;
    q.QueryType = PropertyStandardQuery;
    if (!DeviceIoControl(h, IOCTL_STORAGE_QUERY_PROPERTY, &q, sizeof q, &desc, sizeof desc, &got,
                         NULL) ||
        got < offsetof(STORAGE_DEVICE_DESCRIPTOR, BusType) + sizeof desc.d.BusType)
        return 0; /* not known: count it */
    return desc.d.BusType == BusTypeFileBackedVirtual;
}

/* IOCTL_DISK_PERFORMANCE into the monitor's buffer (enlarged here at open, never in a sample
   unless `may_grow`). */
static BOOL disk_perf(dm_monitor *m, HANDLE h, int may_grow, DWORD *error)
{
    for (;;) {
        DWORD got = 0;
        if (DeviceIoControl(h, IOCTL_DISK_PERFORMANCE, NULL, 0, m->perf_buf, m->perf_cap, &got,
                            NULL) &&
            got >= offsetof(DISK_PERFORMANCE, BytesWritten) + sizeof(LARGE_INTEGER))
            return TRUE;
        *error = GetLastError();
        if (*error == ERROR_SUCCESS)
            *error = ERROR_INSUFFICIENT_BUFFER; /* answered short */
        if (!may_grow || (*error != ERROR_INSUFFICIENT_BUFFER && *error != ERROR_MORE_DATA) ||
            m->perf_cap >= DM_WIN_PERF_MAX)
            return FALSE;
        {
            unsigned char *bigger = realloc(m->perf_buf, (size_t)m->perf_cap * 2);
            if (bigger == NULL) {
                *error = ERROR_NOT_ENOUGH_MEMORY;
                return FALSE;
            }
            m->perf_buf = bigger;
            m->perf_cap *= 2;
        }
    }
}

/* Room for one more disk (open only). */
static int disks_reserve(dm_monitor *m)
{
    struct dm_disk *bigger;
    size_t cap = m->disk_cap ? m->disk_cap * 2 : 16;
    if (m->ndisks < m->disk_cap)
        return DM_OK;
    if ((bigger = realloc(m->disks, cap * sizeof *bigger)) == NULL)
        return DM_E_NOMEM;
    m->disks = bigger;
    m->disk_cap = cap;
    return DM_OK;
}

/* Opens every \\.\PhysicalDriveN that answers IOCTL_DISK_PERFORMANCE: the probe goes on
   until DM_WIN_DISK_MISSES numbers in a row do not exist, however many drives there are. */
static int disks_open(dm_monitor *m)
{
    unsigned n, misses = 0;
    size_t unsupported = 0, found = 0;
    DWORD first_error = ERROR_SUCCESS, unsupported_error = ERROR_SUCCESS;
    m->perf_cap = DM_WIN_PERF_MIN;
    m->perf_buf = malloc(m->perf_cap);
    if (m->perf_buf == NULL)
        return DM_E_NOMEM;
    for (n = 0; n < UINT_MAX && misses < DM_WIN_DISK_MISSES; n++) {
        struct dm_disk *d;
        DWORD e = ERROR_SUCCESS;
        HANDLE h;
        if (disks_reserve(m) != DM_OK)
            return DM_E_NOMEM;
        d = &m->disks[m->ndisks];
        d->h = INVALID_HANDLE_VALUE;
        snprintf(d->path, sizeof d->path, "\\\\.\\PhysicalDrive%u", n);
        h = CreateFileA(d->path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_EXISTING, 0,
                        NULL);
        if (h == INVALID_HANDLE_VALUE) {
            e = GetLastError();
            if (e == ERROR_FILE_NOT_FOUND || e == ERROR_PATH_NOT_FOUND) {
                misses++;
            } else if (first_error == ERROR_SUCCESS) {
                first_error = e;
                memcpy(m->disk_error_path, d->path, sizeof d->path);
            }
            continue;
        }
        misses = 0;
        found++;
        if (is_file_backed(h)) {
            CloseHandle(h);
            continue;
        }
        if (!disk_perf(m, h, 1, &e)) {
            CloseHandle(h);
            if (e == ERROR_NOT_ENOUGH_MEMORY)
                return DM_E_NOMEM;
            if (is_unsupported_error(e)) {
                unsupported++; /* no performance counters on this disk */
                unsupported_error = e;
            } else if (first_error == ERROR_SUCCESS) {
                first_error = e;
                memcpy(m->disk_error_path, d->path, sizeof d->path);
            }
            continue;
        }
        d->h = h;
        m->ndisks++;
    }
    if (m->ndisks > 0)
        return DM_OK;
    if (first_error != ERROR_SUCCESS)
        dm_set_error(&m->disk_status, DM_E_OS, (int)first_error, m->disk_error_path,
                  "CreateFile or DeviceIoControl(IOCTL_DISK_PERFORMANCE) failed on every "
                  "\\\\.\\PhysicalDriveN");
    else if (unsupported > 0)
        dm_set_error(&m->disk_status, DM_E_UNSUPPORTED, 0, "IOCTL_DISK_PERFORMANCE",
                  unsupported_error == ERROR_INVALID_PARAMETER
                      ? "no physical drive answers IOCTL_DISK_PERFORMANCE (invalid parameter)"
                      : "no physical drive answers IOCTL_DISK_PERFORMANCE (not supported)");
    else if (found == 0)
        dm_set_error(&m->disk_status, DM_E_UNSUPPORTED, 0, "\\\\.\\PhysicalDrive0",
                  "no \\\\.\\PhysicalDriveN device exists");
    /* else only file-backed disks: nothing to count, 0 B/s */
    return DM_OK;
}

static int read_disks(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    size_t i;
    (void)now_ns;
    if (m->disk_status.code != DM_OK) {
        *err = m->disk_status;
        return m->disk_status.code;
    }
    c->v[0] = c->v[1] = 0;
    for (i = 0; i < m->ndisks; i++) {
        struct dm_disk *d = &m->disks[i];
        const DISK_PERFORMANCE *p = (const DISK_PERFORMANCE *)(const void *)m->perf_buf;
        DWORD e = ERROR_SUCCESS;
        if (d->h == INVALID_HANDLE_VALUE)
            continue;
        if (!disk_perf(m, d->h, 0, &e)) {
            if (e == ERROR_INSUFFICIENT_BUFFER || e == ERROR_MORE_DATA) {
                dm_set_error(err, DM_E_BUFFER, 0, d->path,
                          "DISK_PERFORMANCE larger than its buffer");
                return DM_E_BUFFER;
            }
            if (is_gone_error(e)) {
                /* Removed (or its media taken out): its bytes leave the sum, which the rate
                   code takes as a reset. It is not looked for again. */
                CloseHandle(d->h);
                d->h = INVALID_HANDLE_VALUE;
                continue;
            }
            dm_set_error(err, DM_E_OS, (int)e, d->path,
                      "DeviceIoControl(IOCTL_DISK_PERFORMANCE) failed");
            return DM_E_OS;
        }
        c->v[0] += (uint64_t)p->BytesRead.QuadPart;
        c->v[1] += (uint64_t)p->BytesWritten.QuadPart;
    }
    c->source = "IOCTL_DISK_PERFORMANCE";
    return DM_OK;
}

/* ---- Network -------------------------------------------------------------------------- */

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* opts->interfaces: comma-separated aliases; blanks around a name are dropped, blanks inside
   kept ("Ethernet 2"). */
static int ifaces_from_list(dm_monitor *m, const char *list)
{
    size_t i = 0, most = 1;
    m->net_mode = DM_NET_USER_LIST;
    m->nifaces = 0;
    for (i = 0; list[i] != '\0'; i++)
        most += list[i] == ',';
    if ((m->ifaces = calloc(most, sizeof *m->ifaces)) == NULL)
        return DM_E_NOMEM;
    i = 0;
    while (list[i] != '\0') {
        size_t start, end;
        while (list[i] == ',' || is_blank(list[i]))
            i++;
        start = i;
        while (list[i] != '\0' && list[i] != ',')
            i++;
        end = i;
        while (end > start && is_blank(list[end - 1]))
            end--;
        if (end == start)
            continue;
        if (end - start >= DM_WIN_NAME_MAX || memchr(list + start, '\0', end - start) != NULL)
            return DM_E_INVALID;
        memcpy(m->ifaces[m->nifaces].name, list + start, end - start);
        m->ifaces[m->nifaces].name[end - start] = '\0';
        m->nifaces++;
    }
    return m->nifaces > 0 ? DM_OK : DM_E_INVALID;
}

static int alias_utf8(const MIB_IF_ROW2 *row, char *dst, size_t cap)
{
    int n = WideCharToMultiByte(CP_UTF8, 0, row->Alias, -1, dst, (int)cap, NULL, NULL);
    if (n <= 0) {
        dst[0] = '\0';
        return 0;
    }
    return 1;
}

static int counted_automatically(const MIB_IF_ROW2 *row, int mode)
{
    if (row->Type == IF_TYPE_SOFTWARE_LOOPBACK || row->InterfaceAndOperStatusFlags.FilterInterface)
        return 0;
    if (mode == DM_NET_PHYSICAL)
        return row->InterfaceAndOperStatusFlags.HardwareInterface != 0;
    return row->Type != IF_TYPE_TUNNEL; /* a tunnel's bytes travel on another interface too */
}

/* The interfaces counted, from GetIfTable2 at open. A user's alias that names no interface
   is an error (in *bad, DM_E_INVALID), not one that reads 0 B/s forever; a table that cannot
   be read now fails the network reading (net_status). DM_E_NOMEM is returned. */
static int ifaces_open(dm_monitor *m, dm_error *bad)
{
    MIB_IF_TABLE2 *table = NULL;
    NETIO_STATUS st = GetIfTable2(&table);
    ULONG i;
    if (st != NO_ERROR) {
        dm_set_error(&m->net_status, DM_E_OS, (int)st, "GetIfTable2", "GetIfTable2 failed");
        return DM_OK;
    }
    if (m->net_mode == DM_NET_USER_LIST) {
        size_t k;
        for (k = 0; k < m->nifaces; k++) {
            WCHAR want[IF_MAX_STRING_SIZE + 1];
            int n = MultiByteToWideChar(CP_UTF8, 0, m->ifaces[k].name, -1, want,
                                        IF_MAX_STRING_SIZE + 1);
            for (i = 0; n > 1 && i < table->NumEntries; i++) { /* n <= 1: no alias */
                if (CompareStringOrdinal(want, -1, table->Table[i].Alias, -1, TRUE) ==
                    CSTR_EQUAL) {
                    size_t j;
                    m->ifaces[k].luid = table->Table[i].InterfaceLuid;
                    m->ifaces[k].present = 1;
                    /* Named twice (aliases compare without case): counted once. */
                    for (j = 0; j < k; j++)
                        if (m->ifaces[j].present &&
                            m->ifaces[j].luid.Value == m->ifaces[k].luid.Value)
                            m->ifaces[k].present = 2;
                    break;
                }
            }
            if (!m->ifaces[k].present) {
                FreeMibTable(table);
                dm_set_error(bad, DM_E_INVALID, 0, m->ifaces[k].name,
                             "interface alias in the list is not an interface of this machine "
                             "(GetIfTable2)");
                return DM_E_INVALID;
            }
        }
        for (k = 0; k < m->nifaces; k++)
            if (m->ifaces[k].present == 2)
                m->ifaces[k].present = 0; /* a duplicate: skipped */
    } else {
        int pass;
        if ((m->ifaces = calloc(table->NumEntries ? table->NumEntries : 1,
                                sizeof *m->ifaces)) == NULL) {
            FreeMibTable(table);
            return DM_E_NOMEM;
        }
        /* Hardware interfaces first; where there is none (a VM's or container's virtual NIC),
           every interface but loopback, filters and tunnels. */
        for (pass = DM_NET_PHYSICAL; pass <= DM_NET_ALL_BUT_LO && m->nifaces == 0; pass++) {
            m->net_mode = pass;
            for (i = 0; i < table->NumEntries; i++) {
                const MIB_IF_ROW2 *row = &table->Table[i];
                struct dm_iface *f = &m->ifaces[m->nifaces];
                if (!counted_automatically(row, pass))
                    continue;
                f->luid = row->InterfaceLuid;
                f->present = 1;
                if (!alias_utf8(row, f->name, sizeof f->name))
                    snprintf(f->name, sizeof f->name, "if%lu", (unsigned long)row->InterfaceIndex);
                m->nifaces++;
            }
        }
    }
    FreeMibTable(table);
    return DM_OK;
}

static int read_network(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    size_t i;
    (void)now_ns;
    if (m->net_status.code != DM_OK) {
        *err = m->net_status;
        return m->net_status.code;
    }
    c->v[0] = c->v[1] = 0;
    for (i = 0; i < m->nifaces; i++) {
        MIB_IF_ROW2 row;
        NETIO_STATUS st;
        if (!m->ifaces[i].present)
            continue; /* named twice */
        memset(&row, 0, sizeof row);
        row.InterfaceLuid = m->ifaces[i].luid;
        st = GetIfEntry2(&row);
        if (st == ERROR_FILE_NOT_FOUND || st == ERROR_NOT_FOUND)
            continue; /* gone for now: its bytes leave the sum (a reset); asked again next time */
        if (st != NO_ERROR) {
            dm_set_error(err, DM_E_OS, (int)st, "GetIfEntry2", "GetIfEntry2 failed");
            return DM_E_OS;
        }
        c->v[0] += row.InOctets;
        c->v[1] += row.OutOctets;
    }
    c->source = "GetIfEntry2";
    return DM_OK;
}

static const struct dm_reading windows_cpu = {DM_FIGURE_BUSY_PERCENT, read_cpu, NULL};
static const struct dm_reading windows_memory = {DM_FIGURE_LEVEL, read_memory, NULL};
static const struct dm_reading windows_disk = {DM_FIGURE_PER_SECOND, read_disks, NULL};
static const struct dm_reading windows_network = {DM_FIGURE_PER_SECOND, read_network, NULL};

/* ---- The monitor ---------------------------------------------------------------------- */

int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err)
{
    static const struct dm_reading *const readings[DM_READINGS] = {
        &windows_cpu, &windows_memory, &windows_disk, &windows_network};
    dm_monitor *m;
    dm_error first;

    int r = dm_check_options(opts, (dm_monitor *const *)out, 0,
                             "Windows has only the host monitor: no cgroup monitor and no root "
                             "prefix (only NULL, \"\" or \"/\")",
                             err);
    if (r != DM_OK)
        return r;
    if ((m = dm_monitor_new(sizeof *m, DM_KIND_HOST, opts, readings, err)) == NULL)
        return DM_E_NOMEM;
    if (opts->interfaces != NULL && opts->interfaces[0] != '\0' &&
        (r = ifaces_from_list(m, opts->interfaces)) != DM_OK) {
        dm_monitor_close(m);
        if (r == DM_E_NOMEM)
            dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        else
            dm_set_error(err, DM_E_INVALID, 0, NULL,
                         "bad interface list (comma-separated aliases, each shorter than "
                         "769 bytes of UTF-8)");
        return r;
    }
    cpu_open(m);
    if (disks_open(m) == DM_E_NOMEM) {
        dm_monitor_close(m);
        dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
        return DM_E_NOMEM;
    }
    if ((r = ifaces_open(m, &first)) != DM_OK) {
        if (r == DM_E_NOMEM)
            dm_set_error(&first, DM_E_NOMEM, 0, NULL, "out of memory");
        return dm_fail_open(m, opts, first, err);
    }
    /* The baseline of every metric. Only a monitor that can read nothing at all fails. */
    if (dm_take_baseline(m, opts, &first) == 0)
        return dm_fail_open(m, opts, first, err);
    *out = m;
    return DM_OK;
}

void dm_monitor_close(dm_monitor *m)
{
    size_t i;
    if (m == NULL)
        return;
    for (i = 0; i < m->ndisks; i++)
        if (m->disks[i].h != INVALID_HANDLE_VALUE)
            CloseHandle(m->disks[i].h);
    free(m->disks);
    free(m->ifaces);
    free(m->perf_buf);
    dm_head_destroy(m);
    free(m);
}

int dm_backend_grow(dm_monitor *m, unsigned metrics, dm_error *err)
{
    if ((metrics & DM_DISK) && m->perf_cap < DM_WIN_PERF_MAX) {
        unsigned char *bigger = realloc(m->perf_buf, (size_t)m->perf_cap * 2);
        if (bigger == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, NULL, "out of memory");
            return DM_E_NOMEM;
        }
        m->perf_buf = bigger;
        m->perf_cap *= 2;
    }
    return DM_OK; /* nothing else is read into a buffer that can be outgrown */
}


int dm_backend_environment(dm_monitor *m, dm_environment *out)
{
    (void)m; /* the machine's figures, asked of Windows each time */
    out->kind = DM_KIND_HOST; /* as on Linux, the host monitor reports no limits */
    {
        SYSTEM_INFO si;
        MEMORYSTATUSEX ms;
        GetSystemInfo(&si);
        out->online_cpus = si.dwNumberOfProcessors > 0 ? (uint32_t)si.dwNumberOfProcessors : 1;
        out->cpu_limit_cores = (double)out->online_cpus;
        ms.dwLength = sizeof ms;
        if (GlobalMemoryStatusEx(&ms))
            out->memory_total_bytes = ms.ullTotalPhys;
    }
    return DM_OK;
}

size_t dm_backend_sample_files(const dm_monitor *m, unsigned metrics, const char **paths,
                               size_t cap)
{
    (void)m, (void)metrics, (void)paths, (void)cap;
    return 0; /* Windows samples through system calls and device ioctls, not files */
}

size_t dm_backend_disk_count(const dm_monitor *m) { return m->ndisks; }

const char *dm_backend_disk_name(const dm_monitor *m, size_t i)
{
    return i < m->ndisks ? m->disks[i].path + 4 : NULL; /* "PhysicalDriveN" */
}

int dm_backend_net_mode(const dm_monitor *m)
{
    return m->net_status.code == DM_OK ? m->net_mode : 0;
}

/* As on Linux, the list is empty in DM_NET_ALL_BUT_LO mode. */
size_t dm_backend_iface_count(const dm_monitor *m)
{
    return m->net_status.code == DM_OK && m->net_mode != DM_NET_ALL_BUT_LO ? m->nifaces : 0;
}

const char *dm_backend_iface_name(const dm_monitor *m, size_t i)
{
    return i < dm_backend_iface_count(m) ? m->ifaces[i].name : NULL;
}
