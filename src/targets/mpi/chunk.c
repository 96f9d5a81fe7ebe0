/* Chunks of tasks: packed on rank 0, run on any rank with the local target, their outcomes packed back. */
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/taskgen.h"
#include "targets/mpi/mpirun.h"
#include "targets/targets.h"

int inb__chunk_pack(const inb__mpi *x, size_t first, size_t count, inb__buf *out) {
  inb_args view = {0};
  int rc = inb__buf_pad8(out); /* the message starts 8-aligned, so it can be cut out and sent alone */
  size_t at = out->n;
  if (!rc) rc = inb__wire_put_header(out, count);
  for (size_t i = first; !rc && i < first + count; i++) {
    const inb_args *a = inb__taskgen_item_args(x->c, i, &view);
    rc = a ? inb__wire_pack_args(out, a) : INB_ENOMEM;
  }
  if (!rc) inb__wire_seal(out, at, count);
  inb__args_view_release(&view);
  if (rc == INB_ENOMEM) inb__err(rc, "action '%s': out of memory packing tasks", x->c->name);
  return rc;
}

/* Decodes count argument lists; on failure frees what it made. */
static int unpack_lists(uint8_t *p, size_t n, uint64_t count, inb_args ***out) {
  uint64_t have = 0;
  size_t off = 0;
  int rc = inb__wire_get_header(p, n, &have, &off);
  if (!rc && have != count) rc = inb__err(INB_ECORRUPT, "a chunk announced %llu tasks but holds %llu",
                                          (unsigned long long)count, (unsigned long long)have);
  inb_args **lists = rc ? NULL : calloc(count ? count : 1, sizeof *lists);
  if (!rc && !lists) rc = inb__err(INB_ENOMEM, "out of memory for %llu task lists", (unsigned long long)count);
  for (uint64_t i = 0; !rc && i < count; i++) rc = inb__wire_unpack_args(p, n, &off, &lists[i]);
  if (!rc) rc = inb__wire_end(n, off);
  if (rc && lists) {
    for (uint64_t i = 0; i < count; i++) inb_args_free(&lists[i]);
    free(lists);
    lists = NULL;
  }
  *out = lists;
  return rc;
}

/* Packs the outcome of a chunk whose tasks could not even start: every task failed with rc and msg. */
static int pack_all_failed(const inb__mpi *x, uint64_t first, uint64_t count, int code, const char *msg,
                           inb__buf *out) {
  int rc = inb__wire_put_header(out, count);
  for (uint64_t i = 0; !rc && i < count; i++) {
    inb__wire_result r = {.task = first + i, .ok = false, .error = {.rank = x->rank, .code = code, .message = msg}};
    rc = inb__wire_pack_result(out, &r);
  }
  if (!rc) inb__wire_seal(out, 0, count);
  return rc;
}

static int pack_outcomes(const inb__mpi *x, const inb__call *in, uint64_t first, inb__buf *out) {
  const inb_results *res = in->results;
  uint64_t nrec = res ? in->ntasks : in->errors.n;
  int rc = inb__wire_put_header(out, nrec);
  for (uint64_t i = 0; !rc && res && i < in->ntasks; i++) {
    inb__wire_result r = {.task = first + i, .ok = inb_result_ok(res, i)};
    if (r.ok)
      r.value = *inb_result_value(res, i);
    else
      r.error = *inb_result_error(res, i);
    rc = inb__wire_pack_result(out, &r);
  }
  for (size_t k = 0; !rc && !res && k < in->errors.n; k++) {
    inb__wire_result r = {.task = first + in->errors.v[k].task, .ok = false, .error = in->errors.v[k]};
    rc = inb__wire_pack_result(out, &r);
  }
  if (!rc) inb__wire_seal(out, 0, nrec);
  (void)x;
  return rc;
}

int inb__chunk_run(const inb__mpi *x, uint8_t *p, size_t n, uint64_t first, uint64_t count, inb__buf *out) {
  inb_args **lists = NULL;
  int rc = unpack_lists(p, n, count, &lists);
  if (rc) return pack_all_failed(x, first, count, rc, inb_errmsg(), out);
  const inb__call *c = x->c;
  inb__call in = {.act = c->act, .name = c->name, .b = c->b, .call = c->call, .extra = c->extra,
                  .target = x->local, .n_workers = c->n_workers, .chunk = c->chunk, .deadline_ns = c->deadline_ns,
                  .timeout_ms = c->timeout_ms, .rank = x->rank, .gen = INB__GEN_LISTS, .ntasks = count,
                  .task_base = first, .lists = lists, .all_errors = true};
  inb_results results;
  if (x->keep_values) {
    if (inb__results_init(&results, count)) {
      rc = INB_ENOMEM;
      goto out;
    }
    in.results = &results;
  }
  rc = inb__targets_run(&in);
  if (!rc) rc = in.internal_rc;
  if (!rc && in.results) inb__results_set_errors(in.results, &in.errors);
  if (!rc) rc = pack_outcomes(x, &in, first, out);
  if (in.results) inb__results_release(in.results);
out:
  inb__taskgen_release(&in);
  inb__errlist_release(&in.first);
  inb__errlist_release(&in.errors);
  if (rc) { /* the tasks ran, but their outcomes cannot travel: report them failed rather than lose them */
    out->n = 0;
    return pack_all_failed(x, first, count, rc, "out of memory packing this task's result", out);
  }
  return 0;
}

/* Rank 0, under x->mu: one outcome into the call. */
static int absorb_one(inb__mpi *x, const inb__wire_result *r) {
  inb__call *c = x->c;
  if (r->task >= c->ntasks) return inb__err(INB_ECORRUPT, "a result names task %llu of %zu",
                                            (unsigned long long)r->task, c->ntasks);
  if (r->ok) return c->results ? inb__results_store(c->results, r->task, &r->value) : 0;
  c->nfailed++;
  if (c->results) return inb__errlist_add(&c->errors, r->task, r->error.rank, r->error.code, r->error.message);
  return inb__errlist_keep_first(&c->first, r->task, r->error.rank, r->error.code, r->error.message);
}

int inb__chunk_absorb(inb__mpi *x, uint8_t *p, size_t n) {
  uint64_t count = 0;
  size_t off = 0;
  int rc = inb__wire_get_header(p, n, &count, &off);
  pthread_mutex_lock(&x->mu);
  for (uint64_t k = 0; !rc && k < count; k++) {
    inb__wire_result r;
    rc = inb__wire_unpack_result(p, n, &off, &r);
    if (!rc) rc = absorb_one(x, &r);
    if (!rc && r.ok && inb__value_has_data(&r.value) && x->c->results) x->c->results->has_copies = true;
  }
  pthread_mutex_unlock(&x->mu);
  return rc;
}
