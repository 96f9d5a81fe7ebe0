/* Internal: a worker runs ranges of a call's tasks in one thread. It owns the reusable state a task needs:
 * the merged argument view (no list per task), the inb_item, and its own failure records, so that tasks
 * never take a lock. Targets create one worker per participating thread and absorb it when done. */
#ifndef INB_ENGINE_WORKER_H
#define INB_ENGINE_WORKER_H

#include "core/args.h"
#include "engine/call.h"
#include "engine/item.h"

typedef struct inb__worker {
  inb__call *c;
  inb_args args;             /* borrowed view: item arguments, then the call's */
  size_t nitem_pos;          /* standard inits: item positional slots at the front of args.pos */
  struct inb_item item;
  inb_value scratch;         /* the result slot when results are not stored (no post) */
  size_t nfailed;
  inb__errlist first;        /* no post: lowest failure seen by this worker */
  inb__errlist errors;       /* post: every failure seen by this worker */
  inb__vallist deferred;     /* result columns: values with data */
  inb__ptrlist copies;       /* blocks its stored results point at, merged into the results when absorbed */
  int rc;                    /* internal failure (INB_ENOMEM) */
} inb__worker;

/* Prepares w for tasks of c. Returns 0 or INB_ENOMEM. Release with inb__worker_absorb. */
int inb__worker_init(inb__worker *w, inb__call *c, int rank);

/* Runs tasks [lo, hi) of w's call, in order, in the calling thread. Never fails: a task's failure is a record. */
void inb__worker_run(inb__worker *w, size_t lo, size_t hi);

/* The pieces of a task, for targets that run tasks their own way (async):
 * task i's merged arguments in w's view, valid until the next call (NULL: out of memory, failure recorded);
 * whether the call's deadline passed before task i started, or the call stopped taking work (then its
 * INB_ECANCELED record is made); task i's failure record (msg NULL = inb_strerror(code); copied; attempts 0 =
 * never started, else the times it ran: counted toward max_failures); task i's successful result (copied). */
const inb_args *inb__worker_args(inb__worker *w, size_t i);
bool inb__worker_late(inb__worker *w, size_t i);
void inb__worker_fail(inb__worker *w, size_t i, int code, const char *msg, int attempts);
bool inb__worker_stopped(inb__worker *w, size_t i);
void inb__worker_store(inb__worker *w, size_t i, const inb_value *v);

/* Moves w's failure records into its call and frees w's state. Call from one thread at a time per call. */
void inb__worker_absorb(inb__worker *w);

/* Brackets code that runs tasks outside inb__worker_run (async), so nested inb_run calls run inline. */
void inb__worker_task_enter(void);
void inb__worker_task_leave(void);

/* Depth of task execution in this thread: > 0 inside a task (nested inb_run then runs inline). */
int inb__task_depth(void);

#endif
