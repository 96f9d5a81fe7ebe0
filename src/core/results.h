/* Internal: the results of one call. Tasks write their values straight into their slot (no lock: each task
 * owns its position); error records are gathered per worker and merged, sorted by task, at the end. */
#ifndef INB_CORE_RESULTS_H
#define INB_CORE_RESULTS_H

#include <inbatch/run.h>

/* A slot whose task failed; u.i is the index of its record in errors[]. Never visible to users:
 * inb_result_value returns NULL for it. */
#define INB__FAILED ((inb_kind)0x7f)

/* A growable list of error records; messages are owned (malloc'd). */
typedef struct {
  inb_error *v;
  size_t n, cap;
} inb__errlist;

struct inb_results {
  size_t n;
  inb_value *slots;   /* n values (zero = INB_NONE); values with data point at copies owned here */
  size_t map_bytes;   /* > 0: slots were mmap'd (large calls), else malloc'd */
  bool has_copies;    /* some slot points at a copy: release must scan the slots */
  inb__errlist errors;
};

/* Prepares r for n results (all INB_NONE). Returns 0 or INB_ENOMEM. */
int inb__results_init(inb_results *r, size_t n);

/* Frees the slots, the copies they point at, and the error records. */
void inb__results_release(inb_results *r);

/* Appends a record; msg (NULL = inb_strerror(code)) is copied. Returns 0 or INB_ENOMEM. */
int inb__errlist_add(inb__errlist *l, size_t task, int rank, int code, const char *msg);

/* Moves every record of src to the end of dst (src becomes empty). Returns 0 or INB_ENOMEM. */
int inb__errlist_move(inb__errlist *dst, inb__errlist *src);

void inb__errlist_release(inb__errlist *l);

/* Takes the records of l (sorted here by task) into r and marks their slots failed. */
void inb__results_set_errors(inb_results *r, inb__errlist *l);

#endif
