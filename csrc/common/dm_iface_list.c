/* The interface list a caller names (dm_options.interfaces). */
#include <string.h>

#include "dm_types.h"

static int is_blank(char c) { return c == ' ' || c == '\t'; }

int dm_iface_set_from_list(const char *list, dm_iface_set *set)
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
        if (n >= DM_NAME_MAX || set->n == DM_MAX_IFACES)
            return DM_E_INVALID;
        memcpy(set->name[set->n], list + start, n);
        set->name[set->n][n] = '\0';
        set->n++;
    }
    return set->n > 0 ? DM_OK : DM_E_INVALID;
}
