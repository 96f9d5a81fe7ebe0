/* inbatch parallel actions: batchflow's @inbatch_parallel decorator, in C.
 * An action names a per-task function, an init that turns a call into per-task argument lists, an optional
 * post that receives every task's result (or error record) in task order, and the target the tasks run on. */
#ifndef INBATCH_RUN_H
#define INBATCH_RUN_H

#include <inbatch/core.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default) /* the library exports exactly what its headers declare */
#endif

typedef struct inb_item inb_item;        /* one task's context; valid only while the task runs */
typedef struct inb_results inb_results;  /* every task's result or error record, in task order */

/* A task. `args` is never NULL and is valid only during the call: the task's item arguments, then the call's.
 * Its ARRAY values are views, on every target: an item's row views the batch (under mpi, a copy of its rows on
 * the rank that runs it), and a call argument views the caller's memory on the calling rank (rank 0 under mpi)
 * and a received copy on the other ranks, shared by every task of that rank. Treat them as read-only: a task
 * that writes through them races with the other tasks; its own output goes to `*result` or inb_item_output.
 * A task's cost never depends on the size of the call's arrays. `*result` starts as inb_none(); a value
 * set there is copied when fn returns, so it may point at batch data, static/_Thread_local buffers or heap
 * the task keeps, never at fn's locals. The engine never frees what a returned value points at.
 * Returns 0, or non-zero when the task failed (use inb_fail to say why). */
typedef int (*inb_item_fn)(inb_item *it, const inb_args *args, inb_value *result);

/* The async form of a task: start work on inb_item_loop(it) and finish it, now or later, with inb_done.
 * Returning non-zero without calling inb_done means the task failed to start. */
typedef int (*inb_start_fn)(inb_item *it, const inb_args *args);

/* A custom init. On success *tasks is a malloc'd array of *ntasks lists from inb_args_new (NULL entries are
 * empty lists); the engine owns them afterwards and frees each list (inb_args_free) and the array (free).
 * On failure (non-zero return) the engine frees nothing: init cleans up after itself, and may say why with
 * inb_set_error. `call` and `extra` are never NULL; `data` is the action's. */
typedef int (*inb_init_fn)(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                           size_t *ntasks, void *data);

/* A post. `r` and everything it points at are valid until post returns. *out starts as b; post may set it
 * to another batch, which then belongs to inb_run's caller (or is freed after post when inb_run's out is
 * NULL). Returns 0 or a non-zero code that inb_run returns unchanged (with inb_set_error's message, if post
 * set one). `data` is the action's. */
typedef int (*inb_post_fn)(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                           inb_batch **out, void *data);

/* Where tasks run. DEFAULT = THREADS, or ASYNC when the action has only .start. */
typedef enum { INB_DEFAULT = 0, INB_THREADS, INB_FOR, INB_ASYNC, INB_MPI } inb_target;
typedef enum { INB_SCHED_DEFAULT = 0, INB_STATIC, INB_DYNAMIC } inb_schedule;

typedef struct {
  const char *name;          /* shown in errors, logs, progress and traces */
  inb_item_fn fn;            /* per-task function, or ... */
  inb_start_fn start;        /* ... its async form */
  const char *init;          /* "indices" | "items" | "run_once" | a component name */
  inb_init_fn init_fn;       /* or a custom init; exactly one of init / init_fn */
  inb_post_fn post;          /* optional */
  inb_target target;         /* where tasks run */
  inb_target local;          /* with INB_MPI: how each rank runs its share (THREADS or FOR) */
  const inb_args *extra;     /* the decorator's additional named arguments, for init and post only */
  void *data;                /* the caller's: passed to init and post, and inb_item_data(it) in fn and start */
} inb_action;

typedef struct {
  inb_target target;         /* per-call override; DEFAULT keeps the action's */
  int n_workers;             /* 0 = the cores this rank may use; > 0 with ASYNC is INB_EINVAL */
  inb_schedule schedule;     /* MPI: STATIC = one scatter, DYNAMIC = chunks on demand (default) */
  size_t chunk;              /* tasks handed out at once; 0 = automatic (guided: shrinking as work runs out) */
  void *comm;                /* MPI: pointer to an MPI_Comm; NULL = MPI_COMM_WORLD */
  int64_t timeout_ms;        /* 0 = none. Tasks not started by then become INB_ECANCELED records; running ones
                                may ask inb_item_expired (a C function cannot be stopped from outside, only a
                                process can). Under mpi it also bounds how long the call waits at its start for
                                every rank to arrive (without it: INB_ARRIVAL_TIMEOUT_MS). */
  int retries;               /* a failed task runs again up to this many times (its record counts attempts) */
  int64_t max_failures;      /* > 0: after this many failed tasks (across every rank) no new task starts; the
                                tasks never started become INB_ECANCELED records. 0 = no limit */
  int max_in_flight;         /* async: tasks started and not yet done at once; 0 = INB_ASYNC_IN_FLIGHT */
} inb_opts;

/* What inb_opts' zeros mean for these two. */
#define INB_ARRIVAL_TIMEOUT_MS 600000   /* a collective call waits 10 minutes at its start for the other ranks */
#define INB_ASYNC_IN_FLIGHT 256         /* well under the usual limit of 1,024 open descriptors */

/* Runs `act` on batch `b`: init, the tasks on the target, then post. `call`, `opts` and `out` may be NULL.
 * On return *out (when out != NULL) is the batch post chose, owned by the caller if it is not b; when the
 * run fails *out is b. Several threads may call inb_run at once. A task may call inb_run: the nested call
 * runs inline in that task's thread (target `for`), so it never waits for pool threads and never deadlocks.
 * Returns 0; init's or post's own non-zero code; INB_EITEM (no post and some task failed: inb_errmsg()
 * names how many and the first failure); INB_EINVAL (invalid action or opts; inb_errmsg() says which). */
int inb_run(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out);

/* Records why the task fails and returns code (INB_EITEM when code is 0), so a task can
 * `return inb_fail(it, INB_EINVAL, "NaN at %d", k);`. The message is copied. */
int inb_fail(inb_item *it, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Init or post: records why the call fails and returns code, so they can `return inb_set_error(INB_EINVAL,
 * "no column %s", name);`; inb_run then fails with code and this message (on every rank under mpi). Also a
 * task's way to say why outside inb_fail's reach is inb_fail itself; elsewhere it only sets inb_errmsg(). */
int inb_set_error(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Async: finishes this task with `code` (0 = success) and `result` (copied now). Call it on the loop's
 * thread, once; a second call turns the task into an error record ("done twice"). */
void inb_done(inb_item *it, int code, inb_value result);

/* The batch the task works on (on a remote MPI rank: that rank's own batch). Not owned by the caller. */
inb_batch *inb_item_batch(inb_item *it);

/* The task's position in the call (0-based). */
size_t inb_item_task(const inb_item *it);

/* The index of the task's item (inb_batch_index of its position; in inb_h5_run, its row in the file), on every
 * target and rank; -1 for tasks that are not one item each (run_once, custom inits). */
int64_t inb_item_index(const inb_item *it);

/* The MPI rank the task runs on; 0 outside INB_MPI. */
int inb_item_rank(const inb_item *it);

/* Async: the uv_loop_t* of the call; NULL on other targets. Valid only during the call. */
void *inb_item_loop(inb_item *it);

/* The action's data pointer (inb_action.data). */
void *inb_item_data(const inb_item *it);

/* True once the call's timeout (inb_opts.timeout_ms) has passed: a long task checks it now and then and gives
 * up (e.g. return inb_fail(it, INB_ECANCELED, "timed out")). Always false without a timeout. */
bool inb_item_expired(const inb_item *it);

/* Results, for post. Everything returned is owned by `r` and valid until post returns. */
size_t inb_results_count(const inb_results *r);
bool inb_result_ok(const inb_results *r, size_t i);                   /* false when failed or out of range */
const inb_value *inb_result_value(const inb_results *r, size_t i);   /* NULL when failed or out of range */

typedef struct {
  size_t task;          /* the task's position */
  int rank;             /* the rank it ran on (0 outside INB_MPI) */
  int code;             /* the task's non-zero code */
  const char *message;  /* inb_fail's message, else inb_strerror(code); never NULL */
  int attempts;         /* times the task ran (1 + retries used); 0 when it never started (INB_ECANCELED) */
} inb_error;

const inb_error *inb_result_error(const inb_results *r, size_t i);  /* NULL when ok or out of range */
bool inb_any_failed(const inb_results *r);                           /* batchflow's any_action_failed */
size_t inb_failed_count(const inb_results *r);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
