/* Files under a root prefix, read with pread into buffers sized at open: see dm_file.h. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dm_core.h"
#include "dm_file.h"

#define SEQ_PAGE 4096       /* the smallest page: procfs's seq_file buffer is at least this */
#define SEQ_RECORD_MAX 1024 /* longer than any diskstats or net/dev line */

char *dm_join_path(const char *root, const char *rel)
{
    size_t rlen = strlen(root), qlen = strlen(rel);
    char *p;
    while (rlen > 0 && root[rlen - 1] == '/')
        rlen--;
    p = malloc(rlen + qlen + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, root, rlen);
    memcpy(p + rlen, rel, qlen + 1);
    return p;
}

int dm_file_init(struct dm_file *f, const char *root, const char *rel, int whole)
{
    f->rel = rel;
    f->fd = -1;
    f->whole = whole;
    f->to_eof = 0;
    f->borrowed = 0;
    f->len = 0;
    f->cap = whole ? DM_FILE_MIN_BUFFER : DM_FILE_STAT_BUFFER;
    f->path = dm_join_path(root, rel);
    f->buf = malloc(f->cap);
    return f->path != NULL && f->buf != NULL ? DM_OK : DM_E_NOMEM;
}

void dm_file_init_at(struct dm_file *f, char *path, char *buf, size_t cap)
{
    f->rel = NULL;
    f->fd = -1;
    f->whole = 1;
    f->to_eof = 0;
    f->borrowed = 1;
    f->sized = 1;
    f->len = 0;
    f->cap = cap;
    f->path = path;
    f->buf = buf;
}

int dm_file_init_to_eof(struct dm_file *f, const char *root, const char *rel)
{
    int r = dm_file_init(f, root, rel, 1);
    f->to_eof = 1;
    return r;
}

void dm_file_free(struct dm_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (!f->borrowed) {
        free(f->path);
        free(f->buf);
    }
    f->fd = -1;
    f->path = f->buf = NULL;
}

/* Reads the file from offset 0 into its buffer: the hot path (no allocation). procfs hands out
   at most about a page per read, cut at a line boundary, so a whole file is read in a loop
   until end of file; a file that fills the buffer is reported as DM_E_BUFFER. The descriptor
   stays open across samples; after an error it is closed and reopened on the next read, so a
   file that reappears is picked up. */
int dm_file_read(struct dm_file *f, dm_error *err)
{
    size_t got = 0;
    if (f->fd < 0) {
        struct stat st;
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0) {
            dm_set_error(err, DM_E_OS, errno, f->path, "cannot open");
            return DM_E_OS;
        }
        if (!f->borrowed)
            f->sized = fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    }
    while (got < f->cap) {
        ssize_t n = pread(f->fd, f->buf + got, f->cap - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(f->fd);
            f->fd = -1;
            dm_set_error(err, DM_E_OS, e, f->path, "cannot read");
            return DM_E_OS;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (!f->whole)
            break; /* the first line of /proc/stat is in the first read */
        if (f->to_eof)
            continue; /* seq_file reads short wherever the next line does not fit its page */
        /* procfs fills each read from a page-sized buffer, one record (line) at a time, so a
           read that left more than a long line of that page unused has reached the end; a
           file with a size ends at its first short read. This saves a read per file, and is
           right only for files whose lines are short (the hot-path files). */
        if ((size_t)n < f->cap - (got - (size_t)n) &&
            (f->sized || (size_t)n <= SEQ_PAGE - SEQ_RECORD_MAX))
            break;
    }
    f->len = got;
    if (f->whole && f->len == f->cap) {
        dm_set_error(err, DM_E_BUFFER, 0, f->path, "file larger than its buffer");
        return DM_E_BUFFER;
    }
    return DM_OK;
}

int dm_file_fit(struct dm_file *f, dm_error *err)
{
    int r;
    if (f->borrowed)
        return dm_file_read(f, err); /* the caller's buffer: its size is the caller's */
    while ((r = dm_file_read(f, err)) == DM_E_BUFFER) {
        char *bigger = realloc(f->buf, f->cap * 2);
        if (bigger == NULL) {
            dm_set_error(err, DM_E_NOMEM, 0, f->path, "out of memory");
            return DM_E_NOMEM;
        }
        f->buf = bigger;
        f->cap *= 2;
    }
    if (r == DM_OK && f->len * 2 > f->cap) {
        char *bigger = realloc(f->buf, f->cap * 2);
        if (bigger != NULL) {
            f->buf = bigger;
            f->cap *= 2;
        }
    }
    return r;
}

int dm_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}
