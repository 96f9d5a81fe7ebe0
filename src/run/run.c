/* inb_run: validate, init, run the tasks on the target, then post (or judge the failures without one). */
#include "run/run.h"

#include <stdio.h>
#include <string.h>

#include "core/args.h"
#include "core/batch.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/outputs.h"
#include "engine/scratch.h"
#include "engine/taskgen.h"
#include "engine/worker.h"
#include "local/local.h"
#include "run/validate.h"

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
  inb__stop stop = {.max_failures = c->max_failures};
  c->stop = &stop;
  c->all_errors = c->io && c->io->nout; /* failed rows are zeroed: every failure must be known */
  rc = inb__outputs_begin(c) ? inb__err(INB_ENOMEM, "action '%s': out of memory for output rows", c->name) : 0;
  if (!rc) rc = inb__local_run(c);
  if (!rc && c->outrows.bufs) rc = inb__outputs_end(c, c->index ? c->index : inb__batch_indices(c->b));
  inb__outputs_release(c);
  if (!rc) rc = inb__finish(c, out);
  if (c->results) inb__results_close(c->results);
  c->stop = NULL;
  return rc;
}

int inb_run(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out) {
  return inb__run_io(b, act, call, opts, out, NULL);
}

int inb__run_io(inb_batch *b, const inb_action *act, const inb_args *call, const inb_opts *opts, inb_batch **out,
                const inb__io *io) {
  static const inb_args empty = {0};
  static const inb_opts no_opts = {0};
  if (out) *out = b;
  inb__call c = {.act = act, .b = b, .call = call ? call : &empty, .io = io};
  if (act && inb__target_of(act, opts) == INB_MPI && inb__task_depth() == 0)
    return inb__run_mpi(&c, opts ? opts : &no_opts, out);
  int rc = inb__validate(&c, b, act, opts ? opts : &no_opts);
  if (rc) return rc;
  c.extra = act->extra ? act->extra : &empty;
  rc = execute(&c, out);
  inb__taskgen_release(&c);
  inb__errlist_release(&c.first);
  inb__errlist_release(&c.errors);
  return rc;
}
