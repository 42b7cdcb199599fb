/* macOS network I/O: sysctl NET_RT_IFLIST2 into a buffer sized at open, walked in place: each
   RTM_IFINFO2 message (if_msghdr2) carries the interface's if_data64 counters, its flags and
   type, and is followed by its link-level sockaddr_dl, which holds the name.

   Which interfaces count (docs/semantics.md, "Network I/O"): on a host, traffic of virtual
   interfaces is already counted on the physical one, so the automatic choice is the Ethernet
   interfaces (IFT_ETHER: wired and Wi-Fi en*, plus awdl0/llw0, which carry their own
   traffic), chosen at the first reading like Linux's physical set; utun* (VPN), bridge*,
   gif*, stf* repeat traffic and are left out. Where no such interface exists, every
   interface but loopback (IFF_LOOPBACK) counts. A user's list overrides both. */
#define _DARWIN_C_SOURCE 1

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysctl.h>
#include <sys/types.h>

#include <net/if.h>
#include <net/if_dl.h>
#include <net/if_types.h>
#include <net/route.h>

#include "dm_darwin_internal.h"

static const char SRC_NET[] = "sysctl NET_RT_IFLIST2";
#define NET_MIN_BUFFER 4096

/* One interface, as read from its RTM_IFINFO2 message (name points into the buffer). */
struct iface_msg {
    unsigned index;
    int flags;
    unsigned type;
    const char *name;
    size_t name_len;
    uint64_t rx, tx;
};

static int iflist(void *buf, size_t *len)
{
    int mib[6] = {CTL_NET, PF_ROUTE, 0, 0, NET_RT_IFLIST2, 0};
    return sysctl(mib, 6, buf, len, NULL, 0);
}

/* Reads the interface list into the monitor's buffer (the hot path: no allocation). */
static int net_read(dm_monitor *m, size_t *len, dm_error *err)
{
    *len = m->net_cap;
    if (iflist(m->net_buf, len) < 0) {
        if (errno == ENOMEM) {
            dm_set_error(err, DM_E_BUFFER, 0, SRC_NET, "interface list larger than its buffer");
            return DM_E_BUFFER;
        }
        dm_set_error(err, DM_E_OS, errno, SRC_NET, "sysctl failed");
        return DM_E_OS;
    }
    return DM_OK;
}

/* Enlarges the buffer until the list fits with room to grow (open and grow only). */
static int net_fit(dm_monitor *m, dm_error *err)
{
    int tries, r = DM_E_BUFFER;
    for (tries = 0; tries < 8 && r == DM_E_BUFFER; tries++) {
        size_t need = 0, len;
        if (iflist(NULL, &need) < 0) {
            dm_set_error(err, DM_E_OS, errno, SRC_NET, "sysctl failed");
            return DM_E_OS;
        }
        need = need * 2 > NET_MIN_BUFFER ? need * 2 : NET_MIN_BUFFER;
        if (need > m->net_cap) {
            char *bigger = realloc(m->net_buf, need);
            if (bigger == NULL) {
                dm_set_error(err, DM_E_NOMEM, 0, SRC_NET, "out of memory");
                return DM_E_NOMEM;
            }
            m->net_buf = bigger;
            m->net_cap = need;
        }
        r = net_read(m, &len, err);
    }
    return r;
}

/* The next RTM_IFINFO2 message from *off: 1 when one is found, 0 at the end of the list,
   DM_E_PARSE when the list is malformed. Messages are copied out with memcpy: the buffer
   promises no alignment. */
static int next_iface(const char *buf, size_t len, size_t *off, struct iface_msg *out)
{
    while (*off < len) {
        unsigned short msglen;
        size_t start = *off;
        struct if_msghdr2 h;
        if (len - start < 4)
            return DM_E_PARSE;
        memcpy(&msglen, buf + start, sizeof msglen); /* every message starts with its length */
        if (msglen < 4 || msglen > len - start)
            return DM_E_PARSE;
        *off = start + msglen;
        if ((unsigned char)buf[start + 3] != RTM_IFINFO2) /* then version, then type */
            continue;
        if (msglen < sizeof h)
            return DM_E_PARSE;
        memcpy(&h, buf + start, sizeof h);
        out->index = h.ifm_index;
        out->flags = h.ifm_flags;
        out->type = h.ifm_data.ifi_type;
        out->rx = h.ifm_data.ifi_ibytes;
        out->tx = h.ifm_data.ifi_obytes;
        out->name = NULL;
        out->name_len = 0;
        if ((h.ifm_addrs & RTA_IFP) &&
            msglen >= sizeof h + offsetof(struct sockaddr_dl, sdl_data)) {
            struct sockaddr_dl sdl;
            memcpy(&sdl, buf + start + sizeof h, offsetof(struct sockaddr_dl, sdl_data));
            if (sdl.sdl_family == AF_LINK && sdl.sdl_nlen > 0 &&
                sizeof h + offsetof(struct sockaddr_dl, sdl_data) + sdl.sdl_nlen <= msglen) {
                out->name = buf + start + sizeof h + offsetof(struct sockaddr_dl, sdl_data);
                out->name_len = sdl.sdl_nlen;
            }
        }
        return 1;
    }
    return 0;
}

static int same_name(const char *stored, const char *name, size_t len)
{
    return len < DM_NAME_MAX && memcmp(stored, name, len) == 0 && stored[len] == '\0';
}

static void copy_name(char *dst, const struct iface_msg *i)
{
    size_t n = i->name_len < DM_NAME_MAX ? i->name_len : DM_NAME_MAX - 1;
    if (i->name != NULL)
        memcpy(dst, i->name, n);
    else
        n = 0;
    dst[n] = '\0';
}

/* The automatic choice, from the list as it is now (see the top of this file). */
static int choose_ifaces(dm_monitor *m, const char *buf, size_t len)
{
    size_t off = 0;
    struct iface_msg i;
    int r;
    m->ifaces.mode = DM_NET_PHYSICAL;
    m->ifaces.n = 0;
    while ((r = next_iface(buf, len, &off, &i)) == 1) {
        if ((i.flags & IFF_LOOPBACK) || i.type != IFT_ETHER || i.name == NULL ||
            i.name_len >= DM_NAME_MAX)
            continue;
        if (m->ifaces.n == DM_MAX_IFACES) {
            m->ifaces.n = 0;
            return DM_E_UNSUPPORTED; /* never a sum of the first ones */
        }
        copy_name(m->ifaces.name[m->ifaces.n++], &i);
    }
    if (r != 0)
        return r;
    if (m->ifaces.n == 0)
        m->ifaces.mode = DM_NET_ALL_BUT_LO;
    m->ifaces_chosen = 1;
    return DM_OK;
}

static int counted(const dm_monitor *m, const struct iface_msg *i)
{
    size_t k;
    if (m->ifaces.mode == DM_NET_ALL_BUT_LO)
        return !(i->flags & IFF_LOOPBACK);
    if (i->name == NULL)
        return 0;
    for (k = 0; k < m->ifaces.n; k++)
        if (same_name(m->ifaces.name[k], i->name, i->name_len))
            return 1;
    return 0;
}

/* The growth of an interface counter since `prev`. if_data64 counters are 64-bit, but some
   macOS versions hand out values truncated to 32 bits, which wrap. A drop from a value that
   fits in 32 bits by at least 2^31 (from the upper half of the range to far below) is taken
   as a wrap: the delta modulo 2^32. Any other drop is a reset: *reset is set and the delta is
   0. (A reset from the upper half to near 0 cannot be told from a wrap.) */
static uint64_t counter_delta(uint64_t prev, uint64_t now, int *reset)
{
    if (now >= prev)
        return now - prev;
    if (prev <= UINT32_MAX) {
        uint64_t wrapped = now + (UINT64_C(1) << 32) - prev; /* in (0, 2^32) */
        if (wrapped <= (UINT64_C(1) << 31))
            return wrapped;
    }
    *reset = 1;
    return 0;
}

/* How many interfaces of the list as read now are counted (before a choice: all of them). */
static int count_counted(const dm_monitor *m, const char *buf, size_t len, size_t *n)
{
    size_t off = 0;
    struct iface_msg i;
    int r;
    *n = 0;
    while ((r = next_iface(buf, len, &off, &i)) == 1)
        *n += !m->ifaces_chosen || counted(m, &i);
    return r;
}

/* Sizes the table of followed interfaces for the list as read now (open and grow only). */
static int fit_tracked(dm_monitor *m, size_t len, dm_error *err)
{
    size_t n, need;
    struct dm_iface_track *bigger;
    if (count_counted(m, m->net_buf, len, &n) != 0)
        return DM_OK; /* a malformed list: the reading says so */
    need = 2 * (m->ntracked + n) > DM_DARWIN_TRACKED_MIN ? 2 * (m->ntracked + n)
                                                           : DM_DARWIN_TRACKED_MIN;
    if (need <= m->tracked_cap)
        return DM_OK;
    if ((bigger = realloc(m->tracked, need * sizeof *bigger)) == NULL) {
        dm_set_error(err, DM_E_NOMEM, 0, SRC_NET, "out of memory");
        return DM_E_NOMEM;
    }
    m->tracked = bigger;
    m->tracked_cap = need;
    return DM_OK;
}

/* A user's list names interfaces as they are at open: one the list does not hold (a typo) fails
   the open, naming it, instead of reading 0 B/s forever. */
static int check_user_list(dm_monitor *m, size_t len, dm_error *err)
{
    unsigned char seen[DM_MAX_IFACES] = {0};
    size_t off = 0, k;
    struct iface_msg i;
    int r;
    while ((r = next_iface(m->net_buf, len, &off, &i)) == 1)
        for (k = 0; i.name != NULL && k < m->ifaces.n; k++)
            if (same_name(m->ifaces.name[k], i.name, i.name_len))
                seen[k] = 1;
    if (r != 0)
        return DM_OK; /* a malformed list: the reading says so */
    for (k = 0; k < m->ifaces.n; k++)
        if (!seen[k]) {
            dm_set_error(err, DM_E_INVALID, 0, m->ifaces.name[k],
                         "interface named in the list is not in sysctl NET_RT_IFLIST2");
            return DM_E_INVALID;
        }
    return DM_OK;
}

int dm_darwin_net_open(dm_monitor *m, const char *interfaces, dm_error *err)
{
    dm_error ignored;
    int r;
    if (interfaces != NULL && interfaces[0] != '\0') {
        if (dm_iface_set_from_list(interfaces, &m->ifaces) != DM_OK) {
            dm_set_error(err, DM_E_INVALID, 0, NULL,
                         "bad interface list (comma-separated names, at most 1024, each of 1 "
                         "to 15 bytes without '/', blanks or control bytes, not . or ..)");
            return DM_E_INVALID;
        }
        m->ifaces_chosen = 1;
    }
    m->net_buf = malloc(NET_MIN_BUFFER);
    if (m->net_buf == NULL) {
        dm_set_error(err, DM_E_NOMEM, 0, SRC_NET, "out of memory");
        return DM_E_NOMEM;
    }
    m->net_cap = NET_MIN_BUFFER;
    /* A list that cannot be read now is retried at each sample (the baseline reports it). */
    r = net_fit(m, &ignored);
    if (r == DM_E_NOMEM) {
        *err = ignored;
        return r;
    }
    if (r == DM_OK) {
        size_t len = m->net_cap;
        if (iflist(m->net_buf, &len) == 0) {
            if (m->ifaces_chosen && (r = check_user_list(m, len, err)) != DM_OK)
                return r;
            if ((r = fit_tracked(m, len, err)) != DM_OK)
                return r;
        }
    }
    if (m->tracked == NULL) {
        m->tracked = malloc(DM_DARWIN_TRACKED_MIN * sizeof *m->tracked);
        if (m->tracked == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, SRC_NET, "out of memory");
            return DM_E_NOMEM;
        }
        m->tracked_cap = DM_DARWIN_TRACKED_MIN;
    }
    return DM_OK;
}

int dm_darwin_net_grow(dm_monitor *m, dm_error *err)
{
    size_t len;
    int r = net_fit(m, err);
    if (r != DM_OK)
        return r;
    len = m->net_cap;
    if (iflist(m->net_buf, &len) != 0)
        return DM_OK; /* the reading says why */
    return fit_tracked(m, len, err);
}

void dm_darwin_net_close(dm_monitor *m)
{
    free(m->net_buf);
    free(m->tracked);
    m->net_buf = NULL;
    m->tracked = NULL;
    m->net_cap = m->tracked_cap = m->ntracked = 0;
}

static int read_network(dm_monitor *m, int64_t now_ns, struct dm_counters *c, dm_error *err)
{
    size_t len, off = 0, j, kept;
    struct iface_msg i;
    int r, reset = 0;

    (void)now_ns;
    if ((r = net_read(m, &len, err)) != DM_OK)
        return r;
    if (!m->ifaces_chosen && (r = choose_ifaces(m, m->net_buf, len)) != DM_OK) {
        if (r == DM_E_UNSUPPORTED) {
            dm_set_error(err, DM_E_UNSUPPORTED, 0, SRC_NET,
                         "more than 1024 Ethernet interfaces (DM_MAX_IFACES): name the ones "
                         "to count (interfaces=[...])");
            return DM_E_UNSUPPORTED;
        }
        dm_set_error(err, DM_E_PARSE, 0, SRC_NET, "malformed interface list");
        return DM_E_PARSE;
    }
    /* Every counted interface must fit the table before any counter moves: more than it
       holds is DM_E_BUFFER (dm_monitor_grow enlarges it), never a sum of the first ones. */
    {
        size_t n;
        if (count_counted(m, m->net_buf, len, &n) != 0) {
            dm_set_error(err, DM_E_PARSE, 0, SRC_NET, "malformed interface list");
            return DM_E_PARSE;
        }
        if (m->ntracked + n > m->tracked_cap) {
            dm_set_error(err, DM_E_BUFFER, 0, SRC_NET,
                         "more interfaces than the table of followed interfaces holds");
            return DM_E_BUFFER;
        }
    }
    if (++m->net_gen == 0)
        m->net_gen = 1;
    while ((r = next_iface(m->net_buf, len, &off, &i)) == 1) {
        struct dm_iface_track *t = NULL;
        if (!counted(m, &i))
            continue;
        for (j = 0; j < m->ntracked; j++) {
            struct dm_iface_track *c = &m->tracked[j];
            if (c->index == i.index &&
                (i.name != NULL ? same_name(c->name, i.name, i.name_len) : c->name[0] == '\0')) {
                t = c;
                break;
            }
        }
        if (t == NULL) {
            /* First seen (at open, or appeared since): it counts from here. */
            t = &m->tracked[m->ntracked++]; /* room checked above */
            t->index = i.index;
            copy_name(t->name, &i);
        } else {
            m->net_total[0] += counter_delta(t->prev[0], i.rx, &reset);
            m->net_total[1] += counter_delta(t->prev[1], i.tx, &reset);
        }
        t->prev[0] = i.rx, t->prev[1] = i.tx;
        t->gen = m->net_gen;
    }
    if (r != 0) {
        dm_set_error(err, DM_E_PARSE, 0, SRC_NET, "malformed interface list");
        return DM_E_PARSE;
    }
    /* Interfaces gone since the last reading are forgotten; their traffic so far is in the
       totals, which never go down. */
    for (j = 0, kept = 0; j < m->ntracked; j++)
        if (m->tracked[j].gen == m->net_gen)
            m->tracked[kept++] = m->tracked[j];
    m->ntracked = kept;
    c->v[0] = m->net_total[0], c->v[1] = m->net_total[1];
    c->reset = reset; /* the totals never go down: a reset is said, not seen */
    c->source = SRC_NET;
    return DM_OK;
}

const struct dm_reading dm_darwin_network = {DM_FIGURE_PER_SECOND, read_network, NULL};
