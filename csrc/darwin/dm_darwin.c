/* The macOS host monitor: CPU ticks and VM page counts from Mach host_statistics, total memory
   from sysctl hw.memsize, disk bytes from IOKit (dm_darwin_disk.c), network bytes from sysctl
   NET_RT_IFLIST2 (dm_darwin_net.c). docs/semantics.md, "macOS", is the contract.

   Allocation: everything is allocated at open (the monitor, the interface-list buffer, the
   disk handles and their CF key strings) and freed at close. A sample makes Mach and sysctl
   calls into the monitor's own buffers and mallocs nothing, except inside IOKit and
   CoreFoundation for the disk reading: see dm_darwin_disk.c. */
#define _DARWIN_C_SOURCE 1

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysctl.h>
#include <sys/types.h>

#include <mach/mach.h>
#include <mach/mach_time.h>
#include <mach/vm_page_size.h>

#include <unistd.h>

#include "dm_darwin_internal.h"

/* "Paths" named by errors: the source of each reading (there are no files on macOS). */
static const char SRC_CPU[] = "host_statistics(HOST_CPU_LOAD_INFO)";
static const char SRC_VM[] = "host_statistics64(HOST_VM_INFO64)";
static const char SRC_MEMSIZE[] = "sysctl hw.memsize";

/* mach_absolute_time in nanoseconds: the clock of CLOCK_UPTIME_RAW, which, like Linux's
   CLOCK_MONOTONIC, does not advance while the machine sleeps. Available on every macOS version
   (clock_gettime_nsec_np needs 10.12). */
int64_t dm_monotonic_ns(void)
{
    mach_timebase_info_data_t tb;
    uint64_t t = mach_absolute_time();
    if (mach_timebase_info(&tb) != KERN_SUCCESS || tb.denom == 0)
        return (int64_t)t;
    /* t * numer / denom without overflow (Apple silicon: 125/3). */
    return (int64_t)((t / tb.denom) * tb.numer + (t % tb.denom) * tb.numer / tb.denom);
}

static int read_cpu(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    static const int state[4] = {CPU_STATE_USER, CPU_STATE_SYSTEM, CPU_STATE_IDLE,
                                 CPU_STATE_NICE};
    host_cpu_load_info_data_t info;
    mach_msg_type_number_t count = HOST_CPU_LOAD_INFO_COUNT;
    kern_return_t kr;
    int i;

    (void)now_ns;
    kr = host_statistics(m->host, HOST_CPU_LOAD_INFO, (host_info_t)&info, &count);
    if (kr != KERN_SUCCESS) {
        dm_set_error(err, DM_E_OS, EIO, SRC_CPU, "the Mach call failed");
        return DM_E_OS;
    }
    /* The tick counters are 32-bit and wrap: each delta is taken modulo 2^32 into 64-bit
       totals, which never go down. */
    for (i = 0; i < 4; i++) {
        uint32_t raw = (uint32_t)info.cpu_ticks[state[i]];
        if (!m->cpu_seen)
            m->cpu_total[i] = raw;
        else
            m->cpu_total[i] += (uint32_t)(raw - m->cpu_raw[i]);
        m->cpu_raw[i] = raw;
    }
    m->cpu_seen = 1;
    c->v[0] = m->cpu_total[0] + m->cpu_total[1] + m->cpu_total[3]; /* user + system + nice */
    c->v[1] = m->cpu_total[2];                                     /* idle */
    c->source = SRC_CPU;
    return DM_OK;
}

static int read_memory(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    vm_statistics64_data_t vm;
    mach_msg_type_number_t count = HOST_VM_INFO64_COUNT;
    dm_meminfo mi;
    uint64_t free_pages;
    kern_return_t kr;

    (void)now_ns;
    if (m->mem_total == 0) {
        dm_set_error(err, DM_E_OS, EIO, SRC_MEMSIZE, "could not be read at open");
        return DM_E_OS;
    }
    kr = host_statistics64(m->host, HOST_VM_INFO64, (host_info64_t)&vm, &count);
    if (kr != KERN_SUCCESS) {
        dm_set_error(err, DM_E_OS, EIO, SRC_VM, "the Mach call failed");
        return DM_E_OS;
    }
    /* available = free + inactive, where free_count includes the speculative pages and free
       is free_count minus them (docs/semantics.md, "macOS"). Pages are vm_kernel_page_size. */
    free_pages = vm.free_count > vm.speculative_count
                     ? (uint64_t)vm.free_count - (uint64_t)vm.speculative_count
                     : 0;
    mi.total = m->mem_total;
    mi.available = (free_pages + (uint64_t)vm.inactive_count) * m->page_size;
    if (mi.available > mi.total)
        mi.available = mi.total;
    mi.has_mem_available = 1;
    if (dm_memory_percent(&mi, &c->level) != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, SRC_MEMSIZE, "total memory is 0");
        return DM_E_PARSE;
    }
    return DM_OK;
}

static const struct dm_reading darwin_cpu = {DM_FIGURE_BUSY_PERCENT, read_cpu, NULL};
static const struct dm_reading darwin_memory = {DM_FIGURE_LEVEL, read_memory, NULL};

int dm_monitor_open(const dm_options *opts, dm_monitor **out, dm_error *err)
{
    dm_monitor *m;
    dm_error first;
    uint64_t memsize = 0;
    size_t len = sizeof memsize;
    int mib[2] = {CTL_HW, HW_MEMSIZE};
    int r;
    static const struct dm_reading *const readings[DM_READINGS] = {
        &darwin_cpu, &darwin_memory, &dm_darwin_disk, &dm_darwin_network};

    r = dm_check_options(opts, (dm_monitor *const *)out, 0,
                         "macOS has only the host monitor, read from the kernel directly: no "
                         "cgroup monitor and no root prefix (root must be \"/\")",
                         err);
    if (r != DM_OK)
        return r;
    if ((m = dm_monitor_new(sizeof *m, DM_KIND_HOST, opts, readings, err)) == NULL)
        return DM_E_NOMEM;
    m->host = mach_host_self();
    m->page_size = (uint64_t)vm_kernel_page_size;
    if (m->page_size == 0) {
        vm_size_t ps = 0;
        m->page_size = host_page_size(m->host, &ps) == KERN_SUCCESS && ps != 0 ? ps : 4096;
    }
    if (sysctl(mib, 2, &memsize, &len, NULL, 0) == 0 && len == sizeof memsize)
        m->mem_total = memsize;
    r = dm_darwin_disk_open(m);
    if (r == DM_E_NOMEM) {
        dm_error e = {DM_E_NOMEM, 0, NULL, "out of memory"};
        return dm_fail_open(m, opts, e, err);
    }
    {
        dm_error e = {DM_OK, 0, NULL, NULL};
        r = dm_darwin_net_open(m, opts->interfaces, &e);
        if (r == DM_E_INVALID || r == DM_E_NOMEM)
            return dm_fail_open(m, opts, e, err);
    }
    /* The baseline of every metric. A reading that fails now is retried at each sample; only a
       machine where none works fails to open. */
    if (dm_take_baseline(m, opts, &first) == 0)
        return dm_fail_open(m, opts, first, err);
    *out = m;
    return DM_OK;
}

void dm_monitor_close(dm_monitor *m)
{
    if (m == NULL)
        return;
    dm_darwin_disk_close(m);
    dm_darwin_net_close(m);
    if (m->host != MACH_PORT_NULL)
        mach_port_deallocate(mach_task_self(), m->host);
    dm_head_destroy(m);
    free(m);
}

int dm_backend_grow(dm_monitor *m, unsigned metrics, dm_error *err)
{
    /* CPU, memory and disk read into fixed structs: only the interface list has a buffer. */
    if (metrics & DM_NETWORK)
        return dm_darwin_net_grow(m, err);
    return DM_OK;
}

int dm_backend_environment(dm_monitor *m, dm_environment *out)
{
    out->kind = DM_KIND_HOST; /* as on Linux, the host monitor reports no limits */
    {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        out->online_cpus = n > 0 ? (uint32_t)n : 1;
    }
    out->cpu_limit_cores = (double)out->online_cpus;
    out->memory_total_bytes = m->mem_total;
    return DM_OK;
}

size_t dm_backend_sample_files(const dm_monitor *m, unsigned metrics, const char **paths,
                               size_t cap)
{
    (void)m, (void)metrics, (void)paths, (void)cap;
    return 0; /* macOS samples through Mach, IOKit and sysctl, not files */
}

size_t dm_backend_disk_count(const dm_monitor *m) { return m->ndisks; }
const char *dm_backend_disk_name(const dm_monitor *m, size_t i)
{
    return i < m->ndisks ? m->disks[i].name : NULL;
}
int dm_backend_net_mode(const dm_monitor *m) { return m->ifaces_chosen ? m->ifaces.mode : 0; }
size_t dm_backend_iface_count(const dm_monitor *m) { return m->ifaces_chosen ? m->ifaces.n : 0; }
const char *dm_backend_iface_name(const dm_monitor *m, size_t i)
{
    return m->ifaces_chosen && i < m->ifaces.n ? m->ifaces.name[i] : NULL;
}
