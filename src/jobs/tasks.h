/* Internal: task lists, the items of a job that runs one program per task. A list is either a task file, one
 * task per line, or a plain count of tasks.
 *
 * A task file is UTF-8 text. Its lines end with \n or \r\n (the \r is not part of the task; a lone \r inside a
 * line is); the last line needs no \n; a UTF-8 byte-order mark at the start is skipped. Lines that are blank
 * (spaces, tabs, \r, \v and \f only) and lines whose first character that is not blank is `#` are skipped: a
 * task that starts with `#` cannot be written in a task file. Every other line is a task, kept exactly as
 * written (blanks at its ends included), numbered from 0 in file order: its item index. Each task also keeps its
 * 1-based line number in the file, for messages.
 *
 * Refused, because tasks become argv strings: a NUL byte anywhere in the file, and text that is not UTF-8
 * (anywhere: comment lines too). The messages name the file, the line and the column (in characters):
 * `task file 'list.txt' line 7 col 12: not UTF-8 text (byte 0xff)`.
 *
 * Every rank loads the list itself (there is no MPI here): the file is read once into one buffer, in which each
 * task becomes a NUL-terminated string in place, and an array of (offset, length, line) records, 24 bytes a
 * task. A count is a single small record whatever the count.
 *
 * A list is immutable once made: any number of threads may read one at once. Messages go to the calling
 * thread's inb_errmsg(). */
#ifndef INB_JOBS_TASKS_H
#define INB_JOBS_TASKS_H

#include <inbatch/core.h>
#include <stddef.h>
#include <stdint.h>

typedef struct inb__tasks inb__tasks;

/* Reads the task file at path (a regular file or a pipe). Local: no other rank is involved.
 * On success *out is a new list owned by the caller (inb__tasks_free); on failure *out is NULL.
 * Returns 0; INB_ENOTFOUND (no such file); INB_EINVAL (a directory, a NUL byte, text that is not UTF-8, or no
 * task at all: "task file 'F': no tasks: its 3 lines are blank or comments"); INB_EIO (the file cannot be
 * opened or read: the system's reason); INB_ENOMEM. inb_errmsg() names the file as `path`, and the line and
 * column where they apply. */
int inb__tasks_load(const char *path, inb__tasks **out);

/* A list of `count` tasks without text: items 0 .. count-1 (a job's `count: N`). On success *out is a new list
 * owned by the caller (inb__tasks_free); on failure *out is NULL. Returns 0, INB_EINVAL (count < 1: "expected 1
 * task or more; found N") or INB_ENOMEM. */
int inb__tasks_range(int64_t count, inb__tasks **out);

/* The number of tasks (>= 1). */
int64_t inb__tasks_count(const inb__tasks *t);

/* Task i's text: its line without the line ending, NUL-terminated, with no NUL inside, valid UTF-8; *len (when
 * not NULL) is its length in bytes. Owned by t, valid until inb__tasks_free. NULL (and *len 0) for a count's task,
 * which has no text: a template then uses its index (template.h). 0 <= i < inb__tasks_count(t). */
const char *inb__tasks_text(const inb__tasks *t, int64_t i, size_t *len);

/* Task i's line number in its file (1-based, blank lines and comments counted); 0 for a count's task. */
int64_t inb__tasks_line(const inb__tasks *t, int64_t i);

/* The file as it was given to inb__tasks_load (a copy owned by t); NULL for a count. */
const char *inb__tasks_path(const inb__tasks *t);

/* Frees the list and sets *t to NULL. NULL-safe (t and *t). The texts it gave out are gone with it. */
void inb__tasks_free(inb__tasks **t);

#endif
