/* Internal to the macOS backend: the monitor struct, the helpers its files share, and the few
   IOKit and CoreFoundation declarations the disk reading needs.

   Framework declarations: a real macOS SDK has <IOKit/IOKitLib.h> and
   <CoreFoundation/CoreFoundation.h>, and they are used when present. zig's macOS target ships
   libc and Mach headers only (no frameworks), so where they are absent the handful of
   functions, types and constants used here are declared below, with the same signatures and
   values as the SDK's (IOKitLib.h, IOTypes.h, CFBase.h, CFString.h, CFNumber.h,
   CFDictionary.h). They are only declarations: the symbols come from the IOKit and
   CoreFoundation frameworks at link time. Keep this list to what the .c files use. */
#ifndef DM_DARWIN_INTERNAL_H
#define DM_DARWIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <mach/mach.h>

#include "dm_core.h"

#if defined(__has_include)
#if __has_include(<IOKit/IOKitLib.h>) && __has_include(<CoreFoundation/CoreFoundation.h>)
#define DM_HAVE_FRAMEWORK_HEADERS 1
#endif
#endif

#ifdef DM_HAVE_FRAMEWORK_HEADERS
#include <CoreFoundation/CoreFoundation.h>
#include <IOKit/IOKitLib.h>
#else
/* CoreFoundation (CFBase.h and friends). */
typedef const void *CFTypeRef;
typedef const struct __CFAllocator *CFAllocatorRef;
typedef const struct __CFString *CFStringRef;
typedef const struct __CFDictionary *CFDictionaryRef;
typedef struct __CFDictionary *CFMutableDictionaryRef;
typedef const struct __CFNumber *CFNumberRef;
typedef unsigned long CFTypeID;
typedef signed long CFIndex;
typedef CFIndex CFNumberType;
typedef uint32_t CFStringEncoding;
typedef unsigned char Boolean;
#define kCFStringEncodingUTF8 ((CFStringEncoding)0x08000100)
#define kCFNumberSInt64Type ((CFNumberType)4)

extern void CFRelease(CFTypeRef cf);
extern CFTypeID CFGetTypeID(CFTypeRef cf);
extern CFTypeID CFDictionaryGetTypeID(void);
extern CFTypeID CFNumberGetTypeID(void);
extern CFTypeID CFStringGetTypeID(void);
extern const void *CFDictionaryGetValue(CFDictionaryRef dict, const void *key);
extern Boolean CFNumberGetValue(CFNumberRef number, CFNumberType type, void *value);
extern CFStringRef CFStringCreateWithCString(CFAllocatorRef alloc, const char *cstr,
                                             CFStringEncoding encoding);
extern Boolean CFStringGetCString(CFStringRef string, char *buffer, CFIndex size,
                                  CFStringEncoding encoding);

/* IOKit (IOTypes.h, IOKitLib.h). io_object_t and io_name_t are Mach's, as in the SDK. */
#include <device/device_types.h>
typedef io_object_t io_iterator_t;
typedef io_object_t io_registry_entry_t;
typedef io_object_t io_service_t;
typedef uint32_t IOOptionBits;
#define kIOServicePlane "IOService"

extern CFMutableDictionaryRef IOServiceMatching(const char *name);
/* Consumes one reference to `matching`. */
extern kern_return_t IOServiceGetMatchingServices(mach_port_t main_port, CFDictionaryRef matching,
                                                  io_iterator_t *existing);
extern io_object_t IOIteratorNext(io_iterator_t iterator);
extern kern_return_t IOObjectRelease(io_object_t object);
extern kern_return_t IORegistryEntryGetChildEntry(io_registry_entry_t entry,
                                                  const io_name_t plane,
                                                  io_registry_entry_t *child);
extern CFTypeRef IORegistryEntryCreateCFProperty(io_registry_entry_t entry, CFStringRef key,
                                                 CFAllocatorRef allocator, IOOptionBits options);
#endif

/* kIOMainPortDefault (macOS 12) and kIOMasterPortDefault (older, deprecated) are both
   MACH_PORT_NULL: passing it directly works on every version without either symbol. */
#define DM_IO_MAIN_PORT ((mach_port_t)MACH_PORT_NULL)

/* Interfaces whose counters are followed at once (DM_NET_ALL_BUT_LO counts them all; a Mac
   has a few dozen: en*, awdl0, llw0, utun*, bridge*, anpi*, ...): the first size of the
   table, which grows (at open and in dm_monitor_grow, never while sampling) to fit. */
#define DM_DARWIN_TRACKED_MIN 64

/* One whole disk found at open: its driver's registry entry and last counters. */
struct dm_darwin_disk {
    io_registry_entry_t entry;
    uint64_t prev[2];
    int seen;
    char name[DM_NAME_MAX];
};

/* One interface's last raw counters (rx, tx), to take wrap-safe deltas. */
struct dm_iface_track {
    unsigned index;         /* ifm_index */
    char name[DM_NAME_MAX]; /* "" when the message carried none */
    uint64_t prev[2];
    uint32_t gen;           /* the sample that last saw it */
};

struct dm_monitor {
    struct dm_monitor_head head; /* first: the lock, the kind, the readings' states */
    mach_port_t host; /* mach_host_self(), taken once: each call adds a port reference */

    /* CPU: the 32-bit tick counters (user, system, idle, nice) as last read, and their 64-bit
       running totals (each delta taken modulo 2^32). */
    int cpu_seen;
    uint32_t cpu_raw[4];
    uint64_t cpu_total[4];

    /* Memory. */
    uint64_t mem_total;  /* hw.memsize, read at open; 0 if it could not be read */
    uint64_t page_size;  /* vm_kernel_page_size */

    /* Disk: whole-disk IOBlockStorageDriver entries found at open, their last counters, and
       the running totals (read, written) the rate is taken from. */
    int disk_status;        /* DM_OK, or why the disks could not be listed at open */
    int disk_errno;
    size_t ndisks, disk_cap;
    struct dm_darwin_disk *disks; /* as many as the registry lists: no fixed limit */
    uint64_t disk_total[2];
    CFStringRef key_statistics, key_bytes_read, key_bytes_written, key_bsd_name;

    /* Network: the NET_RT_IFLIST2 buffer (sized at open, grown only by dm_monitor_grow), the
       interfaces counted, their last counters, and the running totals (rx, tx). */
    char *net_buf;
    size_t net_cap;
    int ifaces_chosen;
    dm_iface_set ifaces;
    size_t ntracked, tracked_cap;
    struct dm_iface_track *tracked;
    uint32_t net_gen;
    uint64_t net_total[2];
};


/* Disks (dm_darwin_disk.c): listed at open (allocates: IOKit iteration creates CF objects),
   released at close. */
int dm_darwin_disk_open(dm_monitor *m);
void dm_darwin_disk_close(dm_monitor *m);
extern const struct dm_reading dm_darwin_disk;

/* Network (dm_darwin_net.c). */
int dm_darwin_net_open(dm_monitor *m, const char *interfaces, dm_error *err);
int dm_darwin_net_grow(dm_monitor *m, dm_error *err);
void dm_darwin_net_close(dm_monitor *m);
extern const struct dm_reading dm_darwin_network;

#endif
