/* inb_run: validate, init, run the tasks on the target, then post (or judge the failures without one). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/args.h"
#include "core/batch.h"
#include "core/status.h"
#include "engine/call.h"
#include "engine/scratch.h"
#include "engine/taskgen.h"
#include "engine/validate.h"
#include "engine/worker.h"

int64_t inb__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Without post: INB_EITEM naming how many failed and the lowest-position failure. */
static int judge_failures(const inb__call *c) {
  if (!c->nfailed) return 0;
  const inb_error *e = c->first.n ? &c->first.v[0] : &c->errors.v[0]; /* all_errors keeps them all */
  for (size_t k = 1; !c->first.n && k < c->errors.n; k++)
    if (c->errors.v[k].task < e->task) e = &c->errors.v[k];
  return inb__err(INB_EITEM, "action '%s': %zu of %zu tasks failed; first: task %zu (item %lld): %s", c->name,
                  c->nfailed, c->ntasks, e->task, (long long)inb_batch_index(c->b, e->task), e->message);
}

static int run_post(inb__call *c, inb_batch **out) {
  inb__results_set_errors(c->results, &c->errors);
  inb_batch *chosen = c->b;
  int rc = c->act->post(c->b, c->results, c->call, c->extra, &chosen);
  if (rc) {
    if (chosen != c->b) inb_batch_free(&chosen); /* the run failed: the caller gets b, never sees this one */
    return inb__err(rc, "action '%s': post failed with code %d (%s)", c->name, rc, inb_strerror(rc));
  }
  if (out)
    *out = chosen;
  else if (chosen != c->b)
    inb_batch_free(&chosen);
  return 0;
}

int inb__finish(inb__call *c, inb_batch **out) {
  if (c->internal_rc)
    return inb__err(c->internal_rc, "action '%s': %s while recording results", c->name, inb_strerror(c->internal_rc));
  return c->act->post ? run_post(c, out) : judge_failures(c);
}

static int execute(inb__call *c, inb_batch **out) {
  int rc = inb__taskgen_init(c);
  if (rc) return rc;
  inb_results results;
  if (c->act->post) {
    if (inb__results_open(&results, c->ntasks))
      return inb__err(INB_ENOMEM, "action '%s': out of memory for %zu results", c->name, c->ntasks);
    c->results = &results;
  }
  if (c->timeout_ms) c->deadline_ns = inb__now_ns() + c->timeout_ms * 1000000;
  c->all_errors = c->io && c->io->nout; /* failed rows are zeroed: every failure must be known */
  rc = inb__outputs_begin(c) ? inb__err(INB_ENOMEM, "action '%s': out of memory for output rows", c->name) : 0;
  if (!rc) rc = inb__targets_run(c);
  if (!rc && c->outrows.bufs) rc = inb__outputs_end(c, c->index ? c->index : inb__batch_indices(c->b));
  inb__outputs_release(c);
  if (!rc) rc = inb__finish(c, out);
  if (c->results) inb__results_close(c->results);
  return rc;
}

int inb__results_open(inb_results *r, size_t n) {
  void *slots = inb__scratch_get(inb__results_slot_bytes(n), 0);
  if (!slots) return INB_ENOMEM;
  inb__results_init(r, n, slots);
  return 0;
}

void inb__results_close(inb_results *r) { inb__scratch_put(inb__results_release(r)); }

int inb_run(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out) {
  return inb__run_io(b, act, call, opts, out, NULL);
}

int inb__run_io(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out,
                const inb__io *io) {
  static const inb_args empty = {0};
  static const inb_opts no_opts = {0};
  if (out) *out = b;
  inb__call c = {.act = act, .b = b, .call = call ? call : &empty, .io = io};
  if (act && inb__target_of(act, opts) == INB_MPI && inb__task_depth() == 0) return inb__mpi_run(&c, opts, out);
  int rc = inb__validate(&c, b, act, opts ? opts : &no_opts);
  if (rc) return rc;
  c.extra = act->extra ? act->extra : &empty;
  rc = execute(&c, out);
  inb__taskgen_release(&c);
  inb__errlist_release(&c.first);
  inb__errlist_release(&c.errors);
  return rc;
}
