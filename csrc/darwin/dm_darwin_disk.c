/* macOS disk I/O: the "Statistics" of each IOBlockStorageDriver ("Bytes (Read)",
   "Bytes (Write)"), one driver per whole disk (partitions and APFS volumes are IOMedia below
   it and have no driver of their own), summed into running totals.

   Allocation, honestly: the drivers are found once, at open, and their registry handles kept
   (iterating the registry creates CF objects). The C core mallocs nothing per sample, but
   IOKit has no allocation-free way to read the statistics: IORegistryEntryGetProperty copies
   only scalar properties into a caller's buffer, and "Statistics" is a dictionary. So each
   sample calls IORegistryEntryCreateCFProperty once per disk, and IOKit and CoreFoundation
   allocate (and we release) one small CFDictionary and its CFNumbers each time. The CF key
   strings are made once, at open. */
#define _DARWIN_C_SOURCE 1

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dm_darwin_internal.h"

static const char SRC_DISK[] = "IOKit IOBlockStorageDriver Statistics";

static CFStringRef make_key(const char *s)
{
    return CFStringCreateWithCString(NULL, s, kCFStringEncodingUTF8);
}

/* The BSD name ("disk0") of the driver's media, or "" when it has none (an empty card reader
   or optical drive). */
static void media_name(dm_monitor *m, io_registry_entry_t driver, char *name)
{
    io_registry_entry_t media = 0;
    CFTypeRef v;
    name[0] = '\0';
    if (IORegistryEntryGetChildEntry(driver, kIOServicePlane, &media) != KERN_SUCCESS ||
        media == 0)
        return;
    v = IORegistryEntryCreateCFProperty(media, m->key_bsd_name, NULL, 0);
    if (v != NULL) {
        if (CFGetTypeID(v) != CFStringGetTypeID() ||
            !CFStringGetCString((CFStringRef)v, name, DM_NAME_MAX, kCFStringEncodingUTF8))
            name[0] = '\0';
        CFRelease(v);
    }
    IOObjectRelease(media);
}

int dm_darwin_disk_open(dm_monitor *m)
{
    io_iterator_t it = 0;
    io_registry_entry_t e;
    CFMutableDictionaryRef matching;

    m->disk_status = DM_OK;
    m->key_statistics = make_key("Statistics");
    m->key_bytes_read = make_key("Bytes (Read)");
    m->key_bytes_written = make_key("Bytes (Write)");
    m->key_bsd_name = make_key("BSD Name");
    if (m->key_statistics == NULL || m->key_bytes_read == NULL || m->key_bytes_written == NULL ||
        m->key_bsd_name == NULL)
        return DM_E_NOMEM;
    matching = IOServiceMatching("IOBlockStorageDriver");
    if (matching == NULL ||
        IOServiceGetMatchingServices(DM_IO_MAIN_PORT, (CFDictionaryRef)matching, &it) !=
            KERN_SUCCESS) {
        /* IOServiceGetMatchingServices consumed `matching`, whatever it returned. */
        m->disk_status = DM_E_OS;
        m->disk_errno = matching == NULL ? ENOMEM : EIO;
        return DM_OK; /* the disk reading reports it; the other metrics still work */
    }
    /* Every driver is kept, however many: the table grows here, at open. */
    while ((e = IOIteratorNext(it)) != 0) {
        struct dm_darwin_disk *d;
        if (m->ndisks == m->disk_cap) {
            size_t cap = m->disk_cap ? 2 * m->disk_cap : 16;
            struct dm_darwin_disk *bigger = realloc(m->disks, cap * sizeof *bigger);
            if (bigger == NULL) {
                IOObjectRelease(e);
                IOObjectRelease(it);
                return DM_E_NOMEM;
            }
            m->disks = bigger;
            m->disk_cap = cap;
        }
        d = &m->disks[m->ndisks];
        memset(d, 0, sizeof *d);
        media_name(m, e, d->name);
        if (d->name[0] == '\0') {
            IOObjectRelease(e); /* no media: nothing to count */
            continue;
        }
        d->entry = e;
        m->ndisks++;
    }
    IOObjectRelease(it);
    return DM_OK;
}

void dm_darwin_disk_close(dm_monitor *m)
{
    size_t i;
    for (i = 0; i < m->ndisks; i++)
        IOObjectRelease(m->disks[i].entry);
    free(m->disks);
    m->disks = NULL;
    m->ndisks = m->disk_cap = 0;
    if (m->key_statistics != NULL)
        CFRelease(m->key_statistics);
    if (m->key_bytes_read != NULL)
        CFRelease(m->key_bytes_read);
    if (m->key_bytes_written != NULL)
        CFRelease(m->key_bytes_written);
    if (m->key_bsd_name != NULL)
        CFRelease(m->key_bsd_name);
    m->key_statistics = m->key_bytes_read = m->key_bytes_written = m->key_bsd_name = NULL;
}

static int number_value(const void *v, uint64_t *out)
{
    int64_t x = 0;
    if (v == NULL || CFGetTypeID((CFTypeRef)v) != CFNumberGetTypeID() ||
        !CFNumberGetValue((CFNumberRef)v, kCFNumberSInt64Type, &x) || x < 0)
        return 0;
    *out = (uint64_t)x;
    return 1;
}

/* Bytes read and written by one driver since it was instantiated; 0 if it has no statistics
   (a disk ejected since open: its entry stays, terminated, until close). */
static int read_statistics(dm_monitor *m, io_registry_entry_t driver, uint64_t now[2])
{
    int ok = 0;
    CFTypeRef stats = IORegistryEntryCreateCFProperty(driver, m->key_statistics, NULL, 0);
    if (stats == NULL)
        return 0;
    if (CFGetTypeID(stats) == CFDictionaryGetTypeID())
        ok = number_value(CFDictionaryGetValue((CFDictionaryRef)stats, m->key_bytes_read),
                          &now[0]) &&
             number_value(CFDictionaryGetValue((CFDictionaryRef)stats, m->key_bytes_written),
                          &now[1]);
    CFRelease(stats);
    return ok;
}

static int read_disks(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    size_t i, readable = 0;
    int reset = 0;

    (void)now_ns;
    if (m->disk_status != DM_OK) {
        dm_set_error(err, m->disk_status, m->disk_errno, SRC_DISK,
                     "IOServiceGetMatchingServices failed at open");
        return m->disk_status;
    }
    for (i = 0; i < m->ndisks; i++) {
        uint64_t now[2];
        int k;
        struct dm_darwin_disk *d = &m->disks[i];
        if (!read_statistics(m, d->entry, now))
            continue;
        readable++;
        if (!d->seen) {
            /* First reading of this disk: it counts from here. */
            d->prev[0] = now[0], d->prev[1] = now[1];
            d->seen = 1;
            continue;
        }
        /* 64-bit counters: one that goes down was reset (the driver was re-instantiated). */
        for (k = 0; k < 2; k++) {
            if (now[k] >= d->prev[k])
                m->disk_total[k] += now[k] - d->prev[k];
            else
                reset = 1;
            d->prev[k] = now[k];
        }
    }
    if (m->ndisks > 0 && readable == 0) {
        dm_set_error(err, DM_E_OS, EIO, SRC_DISK, "no disk's statistics could be read");
        return DM_E_OS;
    }
    c->v[0] = m->disk_total[0], c->v[1] = m->disk_total[1];
    c->reset = reset; /* the totals never go down: a reset is said, not seen */
    c->source = SRC_DISK;
    return DM_OK;
}

const struct dm_reading dm_darwin_disk = {DM_FIGURE_PER_SECOND, read_disks, NULL};
