/* The mpi target from the run layer's side: every rank of the communicator calls inb_run; rank 0 runs init,
 * the tasks are spread over every rank (rank 0 included) and run there with the local target, the outcomes
 * come back to rank 0 in task order, post runs on rank 0, and every rank returns the same status and message.
 *
 * Phases (mpi/session.h), each closed by an agreement so that a failing rank never leaves the others waiting:
 *   1. local validation, the same action everywhere                    -> agree
 *   2. rank 0's settings and call arguments                           -> broadcast
 *   3. init on rank 0                                                  -> rank 0's status and task count
 *   4. the schedule (static or dynamic)                                -> agree
 *   5. post on rank 0                                                  -> rank 0's status */
#include "run/run.h"

#include "core/args.h"
#include "core/clock.h"
#include "core/digest.h"
#include "core/status.h"
#include "engine/scratch.h"
#include "engine/taskgen.h"
#include "mpi/session.h"
#include "run/validate.h"

/* Init on rank 0, and the result slots post will read. */
static int init_rank0(inb__call *c, inb_results *results) {
  int rc = inb__taskgen_init(c);
  if (!rc && c->act->post) {
    if (inb__results_open(results, c->ntasks))
      return inb__err(INB_ENOMEM, "action '%s': out of memory for %zu results", c->name, c->ntasks);
    c->results = results;
  }
  return rc;
}

/* What must be the same on every rank for a call to pair up: the entry point, and the action as far as it can
 * be compared (its name, where its functions are, its init, its local target), and whether rows come from a
 * file. (The target is mpi on every rank that gets here.) */
static uint64_t call_digest(const inb__call *c) {
  const inb_action *a = c->act;
  uint64_t h = inb__digest_str(INB__DIGEST_START, "inb_run");
  h = inb__digest_str(h, a ? a->name : NULL);
  if (!a) return h;
  h = inb__digest_fn(h, (void (*)(void))a->fn);
  h = inb__digest_fn(h, (void (*)(void))a->start);
  h = inb__digest_fn(h, (void (*)(void))a->init_fn);
  h = inb__digest_fn(h, (void (*)(void))a->post);
  h = inb__digest_str(h, a->init);
  /* the local target as validation resolves it (not c->local: a rank whose validation failed has none) */
  h = inb__digest_i64(h, a->local == INB_DEFAULT ? ((!a->fn && a->start) ? INB_ASYNC : INB_THREADS) : a->local);
  return inb__digest_i64(h, c->io != NULL);
}

static int phases(inb__mpi *x, const inb_opts *o, inb_batch **out, inb_results *results) {
  inb__call *c = x->c;
  int rc = inb__validate(c, c->b, c->act, o);
  rc = inb__mpi_check_same(x, rc, call_digest(c));
  if (!rc) rc = inb__mpi_share_settings(x, o);
  if (!rc) rc = inb__mpi_share_tasks(x, x->rank == 0 ? init_rank0(c, results) : 0);
  if (rc) return rc;
  if (c->timeout_ms) c->deadline_ns = inb__now_ns() + c->timeout_ms * 1000000;
  rc = inb__mpi_schedule(x);
  if (rc) return rc;
  return inb__mpi_share_status(x->rank == 0 ? inb__finish(c, out) : 0, x->comm);
}

int inb__run_mpi(inb__call *c, const inb_opts *o, inb_batch **out) {
  static const inb_args empty = {0};
  inb__mpi x;
  int rc = inb__mpi_open(&x, c, o->comm, o->timeout_ms > 0 ? o->timeout_ms : INB_ARRIVAL_TIMEOUT_MS);
  if (rc) return rc;
  c->by_ref = c->io != NULL; /* inb_h5_run: each rank reads the rows of the tasks it runs */
  c->extra = c->act && c->act->extra ? c->act->extra : &empty;
  inb_results results = {0};
  rc = phases(&x, o, out, &results);
  if (c->results) inb__results_close(c->results);
  inb__taskgen_release(c);
  inb__errlist_release(&c->first);
  inb__errlist_release(&c->errors);
  inb__mpi_close(&x);
  return rc;
}
