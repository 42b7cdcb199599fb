/* Internal to the Linux backend: a file read with pread into a buffer sized at open (no
   allocation when sampling). Both monitors, host and cgroup, read through it
   (docs/semantics.md, "Reading files (Linux)"). */
#ifndef DM_FILE_H
#define DM_FILE_H

#include <stddef.h>

#include "danube_metrics.h"

#define DM_FILE_MIN_BUFFER 4096
#define DM_FILE_STAT_BUFFER 4096 /* only the first line of /proc/stat is needed */

struct dm_file {
    const char *rel; /* path under the root (a literal), named by open errors */
    int fd;
    int whole;   /* the whole file must fit (else only its first read is needed) */
    int sized;   /* a file with a size (not procfs): a short read is its end */
    int to_eof;  /* read until a read returns 0: lines may be long (mountinfo; open time) */
    int borrowed; /* path and buf belong to the caller (dm_file_init_at): not freed here */
    char *path;
    char *buf;
    size_t cap;
    size_t len;
};

/* root + rel in a new string (NULL when out of memory); trailing slashes of root dropped. */
char *dm_join_path(const char *root, const char *rel);
/* Names the file and allocates its buffer; it is opened at its first read. */
int dm_file_init(struct dm_file *f, const char *root, const char *rel, int whole);
/* A one-line attribute file (a sysfs counter) in the caller's memory: `path` and `buf` (of
   `cap` bytes) stay the caller's, who may give thousands of files one block each of paths
   and buffers; dm_file_free then only closes. Read whole, its end at the first short read
   (an attribute file has a size: no fstat at open). */
void dm_file_init_at(struct dm_file *f, char *path, char *buf, size_t cap);
/* The same, for a whole file read to its real end of file (a read of 0 bytes), whatever its
   short reads: procfs files whose lines may be longer than SEQ_RECORD_MAX (mountinfo). */
int dm_file_init_to_eof(struct dm_file *f, const char *root, const char *rel);
void dm_file_free(struct dm_file *f);
/* Reads the file from offset 0 into its buffer: DM_E_BUFFER when a whole file does not fit. */
int dm_file_read(struct dm_file *f, dm_error *err);
/* Enlarges a whole-file buffer until the file fits with room to grow (open and grow only). */
int dm_file_fit(struct dm_file *f, dm_error *err);
int dm_is_dir(const char *path);

#endif
