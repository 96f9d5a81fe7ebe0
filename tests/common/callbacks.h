/* Tasks, inits and posts that several test programs use as they are (tests/unit/test_features and the
 * tests/mpi programs), and the counts their tasks keep.
 *
 * Tasks may run on any thread of any rank: they count with atomics and never assert; a test reads the counts
 * once inb_run has returned. Inits and posts run on the calling thread (rank 0's under mpi); posts report a
 * mismatch with verdict() (checks.h). */
#ifndef INB_TESTS_CALLBACKS_H
#define INB_TESTS_CALLBACKS_H

#include <inbatch.h>

#include <stddef.h>

/* ---- counting runs (this process's tasks) ----------------------------------------------------------------- */

enum { COUNTED_TASKS = 4096 }; /* tasks counted one by one; count_run ignores the later ones */

/* Forgets every count: before a call, never while its tasks run. */
void reset_counts(void);
/* Counts one run of task i; returns which run of it this is (1 = its first; 0 when i >= COUNTED_TASKS). */
int count_run(size_t i);
/* How many times task i ran (every attempt). */
int runs_of(size_t i);
/* How many tasks ran at least once. */
long tasks_ran(void);

/* ---- tasks ------------------------------------------------------------------------------------------------ */

/* Counts its run and succeeds with its position as an INT. */
int fn_count(inb_item *it, const inb_args *args, inb_value *result);
/* The async form of a task that finishes inside start: runs fn and passes what it returned to inb_done (its
 * result only when it succeeded). Returns 0. */
int done_in_start(inb_item *it, const inb_args *args, inb_item_fn fn);

/* ---- inits and posts -------------------------------------------------------------------------------------- */

/* The action's data as the last init_index_lists and post_every_task_ok saw it (tests of inb_action.data). */
extern void *g_init_data, *g_post_data;

/* A custom init: one list per item of b holding the item's position as an INT; keeps `data` in g_init_data.
 * Returns 0, or INB_ENOMEM having freed what it made. */
int init_index_lists(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                     size_t *ntasks, void *data);
/* n task lists of one value each, arg(i) for task i, into *tasks and *ntasks as an init returns them (run.h:
 * inb_init_fn). Returns 0, or INB_ENOMEM having freed what it made. */
int one_value_lists(size_t n, inb_value (*arg)(size_t i), inb_args ***tasks, size_t *ntasks);

/* A post: every task of b is ok with its position as an INT, or post's verdict says which is not; keeps `data`
 * in g_post_data. */
int post_every_task_ok(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data);

/* An init and a post that fail the call with INB_EINVAL and the words "no column x" (inb_set_error). */
int init_no_column(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks, size_t *ntasks,
                   void *data);
int post_no_column(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                   inb_batch **out, void *data);
/* A post that fails the call with code 17 and no words of its own. */
int post_code_17(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra, inb_batch **out,
                 void *data);

#endif
