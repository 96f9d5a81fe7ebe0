/* Internal: one inb_run call as its workers see it (read-only while tasks run). Every layer above the engine
 * fills or reads it: the run layer validates into it, local targets run its tasks, the MPI layer runs a share
 * of them, the data layer hands it hooks (inb__io). */
#ifndef INB_ENGINE_CALL_H
#define INB_ENGINE_CALL_H

#include <inbatch/run.h>
#include <stdatomic.h>

#include "core/results.h"

/* Output rows a call's tasks write through inb_item_output: row i of output k is bufs[k] + i * row_bytes[k]. */
typedef struct inb__outrows {
  size_t nout, ntasks;
  uint8_t **bufs;            /* nout buffers of ntasks rows, owned until handed to io->keep */
  uint8_t *given;            /* given[k * ntasks + i]: row i of output k was zeroed and handed to its task */
} inb__outrows;

/* The data layer's hooks (inb_h5_run): item rows read by the rank that runs the task, outputs written by it.
 * Every function is called from the one thread of the rank that runs the chunk, never from task threads. */
typedef struct inb__io {
  void *ctx;
  size_t ncomps;
  const char *const *names;  /* the input components, named as in a batch */
  /* Reads rows index[0..n) of every component j with want[j] (every one when want is NULL) into comps[j]
   * (data from inb__scratch_get, owned by the caller: release with inb__scratch_put); the others stay empty. */
  int (*load)(void *ctx, const int64_t *index, size_t n, const bool *want, inb_array *comps);
  size_t nout;
  const char *const *out_names;
  const inb_array *out_rows; /* dtype, ndim and shape of one row of each output */
  /* Takes bufs[0..nout) (from inb__scratch_get; rows for items index[0..n), failed items' rows zeroed). */
  int (*keep)(void *ctx, const int64_t *index, size_t n, uint8_t **bufs);
  size_t item_bytes;         /* the bytes of one item's input and output rows: sizes the slabs (chunk.c) */
} inb__io;

/* "Stop taking work": a flag every worker checks before it starts a task, and the count of failed tasks that
 * raises it at max_failures. One per call, shared by its workers; under mpi one per rank for the whole call,
 * which the MPI layer raises when another rank asks (see mpi/stop.c). */
typedef struct inb__stop {
  _Atomic int stopped;
  _Atomic int64_t failures;  /* tasks that ran and failed (attempts > 0) */
  int64_t max_failures;      /* 0 = no limit */
  char why[160];             /* the INB_ECANCELED message of the tasks not started; written before stopped */
  void (*notify)(struct inb__stop *s); /* optional, after each failure counted (any worker thread) */
  void *ctx;                 /* notify's */
} inb__stop;

/* Raises s (once; later calls keep the first reason). */
void inb__stop_raise(inb__stop *s, const char *why);

/* How task i's item arguments are made: standard inits build them on the fly, custom inits hand lists. */
typedef enum { INB__GEN_INDICES, INB__GEN_ITEMS, INB__GEN_COMPONENT, INB__GEN_ONCE, INB__GEN_LISTS } inb__gen;

typedef struct inb__call {
  const inb_action *act;
  const char *name;          /* the action's name, or "(unnamed)" */
  inb_batch *b;
  const inb_args *call;      /* never NULL */
  const inb_args *extra;     /* never NULL */
  inb_target target;         /* resolved: FOR, THREADS or MPI */
  inb_target local;          /* MPI: how each rank runs its share (FOR or THREADS) */
  bool remote;               /* MPI: this rank is not rank 0 (it runs no init and no post) */
  int n_workers;             /* resolved: >= 1 */
  size_t chunk;              /* 0 = guided */
  int64_t deadline_ns;       /* CLOCK_MONOTONIC; 0 = none */
  int64_t timeout_ms;
  int retries;               /* a failed task runs again up to this many times */
  int max_in_flight;         /* async: tasks started and not done at once (0 = the default) */
  int64_t max_failures;      /* 0 = no limit (c->stop counts) */
  inb__stop *stop;           /* never NULL once the call runs */
  int rank;

  inb__gen gen;
  size_t ntasks;
  size_t task_base;          /* the position of task 0 in the whole run (an MPI chunk's first task); records
                                and result slots stay indexed from 0 */
  const int64_t *index;      /* the batch's item indices (GEN_INDICES reads them per task) */
  const inb_array **comps;   /* GEN_ITEMS: every component; GEN_COMPONENT: comps[0] */
  const char **comp_names;
  bool *comp_fixed;          /* GEN_ITEMS: a call named value of the same name overrides the row */
  size_t ncomps;
  inb_args **lists;          /* GEN_LISTS: ntasks lists (NULL = empty), owned by the call */

  const inb__io *io;         /* inb_h5_run: rows and outputs through the data layer; NULL otherwise */
  bool by_ref;               /* with io: items travel as indices and each rank reads its rows (mpi) */
  inb__outrows outrows;      /* with io outputs: this call's (or chunk's) output rows */

  inb_results *results;      /* NULL without post: then only failures are kept */
  uint8_t *col_kinds;        /* MPI chunks: results as columns instead of slots: kinds[i] (INB__DEFERRED when */
  int64_t *col_scalars;      /* the value has data, kept in `deferred`, or the task failed), scalars[i] */
  inb__vallist deferred;     /* with columns: copies of the values that have data */
  bool all_errors;           /* without results, keep every failure record anyway (an MPI chunk sends them) */
  /* Failures, gathered from the workers when they finish. */
  size_t nfailed;
  inb__errlist first;        /* without post: the lowest-position failure (0 or 1 record) */
  inb__errlist errors;       /* with post: every failure */
  int internal_rc;           /* INB_ENOMEM met by a worker: the run fails with it */
} inb__call;

#endif
