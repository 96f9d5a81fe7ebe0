/* Internal: the results of one call. Tasks write their values straight into their slot (no lock: each task
 * owns its position); error records are gathered per worker and merged, sorted by task, at the end. */
#ifndef INB_CORE_RESULTS_H
#define INB_CORE_RESULTS_H

#include <inbatch/run.h>

/* A stored result is compact: the leading members of inb_value (kind, then the union without its 72-byte
 * array member), 24 bytes instead of 88, because a million results would otherwise cost more memory traffic
 * than the tasks themselves. A pointer to a slot reads as an inb_value for every kind but ARRAY (the slot
 * array is padded so that even copying the last slot whole stays inside it); ARRAY results live out of line
 * (kind INB__ARRAY_OUT, u.s.p -> a heap inb_value owning a copy of the data). */
typedef struct {
  inb_kind kind;
  union {
    bool b;
    int64_t i;
    double r;
    struct { const char *p; size_t n; } s;
  } u;
} inb__slot;

#define INB__FAILED ((inb_kind)0x7f)    /* the task failed; u.i indexes errors.v */
#define INB__DEFERRED 0xff              /* a result column entry whose value (with data) or failure is elsewhere */
#define INB__ARRAY_OUT ((inb_kind)0x7e) /* an ARRAY result stored out of line */

/* A growable list of error records; messages are owned (malloc'd). */
typedef struct {
  inb_error *v;
  size_t n, cap;
} inb__errlist;

/* A growable list of results with data (STR, BYTES, ARRAY), each an owned copy (inb__value_dup). */
typedef struct {
  struct inb__task_value { size_t task; inb_value v; } *v;
  size_t n, cap;
} inb__vallist;

/* Appends a copy of v for task. Returns 0 or INB_ENOMEM. */
int inb__vallist_add(inb__vallist *l, size_t task, const inb_value *v);
/* Moves every entry of src to the end of dst. Returns 0 or INB_ENOMEM. */
int inb__vallist_move(inb__vallist *dst, inb__vallist *src);
void inb__vallist_release(inb__vallist *l);

/* Heap blocks to free together: the copies a call's results point at. */
typedef struct {
  void **v;
  size_t n, cap;
} inb__ptrlist;

/* Appends p (NULL-safe). Returns 0 or INB_ENOMEM (then p is freed: the caller must not keep it). */
int inb__ptrlist_add(inb__ptrlist *l, void *p);
/* Moves every pointer of src to dst. Returns 0 or INB_ENOMEM (src keeps what did not move). */
int inb__ptrlist_move(inb__ptrlist *dst, inb__ptrlist *src);
/* Frees every pointer and the list. */
void inb__ptrlist_release(inb__ptrlist *l);

struct inb_results {
  size_t n;
  inb__slot *slots;   /* n results, in the caller's block (see inb__results_init); results with data point at
                         copies owned here */
  inb__ptrlist copies; /* what the slots point at (STR/BYTES bytes, ARRAY_OUT blocks): freed with r, so
                          release never reads slots, and slots need no zeroing before a call writes them */
  inb__errlist errors;
};

/* The bytes of the slots of n results (padded: see inb__slot). */
size_t inb__results_slot_bytes(size_t n);

/* Prepares r for n results in `slots`, a block of inb__results_slot_bytes(n) bytes that stays the caller's
 * (the engine hands out reused blocks: see engine/scratch.h). The slots are NOT cleared: every path writes each
 * slot before post reads it (a result, a failure, or NONE for a value that arrives later). */
void inb__results_init(inb_results *r, size_t n, void *slots);

/* Stores task i's successful result: scalars as they are, STR/BYTES/ARRAY as copies whose block is added to
 * `owner` (a worker's list, merged into r->copies later, or r->copies itself under the caller's lock).
 * Tasks store into distinct slots concurrently without locks. Returns 0 or INB_ENOMEM (slot left NONE). */
int inb__results_store(inb_results *r, size_t i, const inb_value *v, inb__ptrlist *owner);

/* The common case of inb__results_store, inline: a value without data (NONE, BOOL, INT, REAL). */
static inline void inb__results_store_scalar(inb_results *r, size_t i, const inb_value *v) {
  inb__slot *s = &r->slots[i];
  s->kind = v->kind;
  s->u.i = v->u.i; /* the 8 bytes of b, i or r, whichever the kind names */
}

/* Frees the copies the slots point at and the error records; returns the slots' block, for the caller to
 * release. */
void *inb__results_release(inb_results *r);

/* Appends a copy of e; its message (NULL = inb_strerror(code)) is copied. Returns 0 or INB_ENOMEM. */
int inb__errlist_add(inb__errlist *l, const inb_error *e);

/* Keeps in l only the failure with the lowest task: adds a copy of e if l is empty or e's task is lower.
 * Returns 0 or INB_ENOMEM. */
int inb__errlist_keep_first(inb__errlist *l, const inb_error *e);

/* Moves every record of src to the end of dst (src becomes empty). Returns 0 or INB_ENOMEM. */
int inb__errlist_move(inb__errlist *dst, inb__errlist *src);

void inb__errlist_release(inb__errlist *l);

/* Takes the records of l (sorted here by task) into r and marks their slots failed. */
void inb__results_set_errors(inb_results *r, inb__errlist *l);

#endif
