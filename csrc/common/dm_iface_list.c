/* The interface list a caller names (dm_options.interfaces), and looking names up in a set. */
#include <string.h>

#include "dm_types.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

int dm_iface_name_valid(const char *name, size_t len, size_t max_len)
{
    size_t i;
    if (len == 0 || len > max_len || len >= DM_NAME_MAX)
        return 0;
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return 0; /* a path component, not a name: it would lead out of /sys/class/net */
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == ',' || c <= ' ' || c == 0x7f)
            return 0; /* NUL, blanks and control bytes, and the path separator */
    }
    return 1;
}

size_t dm_iface_set_find(const dm_iface_set *set, const char *name, size_t len, size_t *hint)
{
    size_t i, start = hint != NULL && *hint < set->n ? *hint : 0;
    if (len >= DM_NAME_MAX)
        return set->n;
    /* From the hint round to it: the names of a file read in the same order as before are
       each found at the first look. */
    for (i = start; i < set->n; i++)
        if (set->name[i][0] == name[0] && memcmp(set->name[i], name, len) == 0 &&
            set->name[i][len] == '\0')
            goto found;
    for (i = 0; i < start; i++)
        if (set->name[i][0] == name[0] && memcmp(set->name[i], name, len) == 0 &&
            set->name[i][len] == '\0')
            goto found;
    return set->n;
found:
    if (hint != NULL)
        *hint = i + 1;
    return i;
}

int dm_iface_set_from_list_max(const char *list, size_t max_len, dm_iface_set *set)
{
    size_t i = 0;
    if (list == NULL || set == NULL)
        return DM_E_INVALID;
    set->mode = DM_NET_USER_LIST;
    set->n = 0;
    while (list[i] != '\0') {
        size_t start, n;
        while (list[i] == ',' || is_blank(list[i]))
            i++;
        start = i;
        while (list[i] != '\0' && list[i] != ',' && !is_blank(list[i]))
            i++;
        n = i - start;
        if (n == 0)
            continue;
        if (!dm_iface_name_valid(list + start, n, max_len))
            return DM_E_INVALID;
        if (dm_iface_set_find(set, list + start, n, NULL) < set->n)
            continue; /* named twice: counted once */
        if (set->n == DM_MAX_IFACES)
            return DM_E_INVALID;
        memcpy(set->name[set->n], list + start, n);
        set->name[set->n][n] = '\0';
        set->n++;
    }
    return set->n > 0 ? DM_OK : DM_E_INVALID;
}

int dm_iface_set_from_list(const char *list, dm_iface_set *set)
{
    return dm_iface_set_from_list_max(list, DM_IFNAME_MAX, set);
}
