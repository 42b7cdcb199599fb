/* The machine's whole disks, chosen once from /proc/diskstats: the host monitor sums their
   sectors, the cgroup monitor counts only their lines of io.stat and blkio (a stacked device
   and the disks under it list the same bytes). */
#include "dm_linux.h"

int dm_choose_disks(dm_monitor *m, dm_error *err)
{
    /* The disk set is sized here, once: as many whole disks as the file lists. */
    int r = dm_diskstats_select(m->diskstats.buf, m->diskstats.len, &m->disks);
    if (r == DM_E_NOMEM) {
        dm_set_error(err, DM_E_NOMEM, 0, m->diskstats.path, "out of memory");
        return r;
    }
    if (r != DM_OK) {
        dm_set_error(err, DM_E_PARSE, 0, m->diskstats.path, "malformed diskstats line");
        return DM_E_PARSE;
    }
    m->disks_chosen = 1;
    return DM_OK;
}
