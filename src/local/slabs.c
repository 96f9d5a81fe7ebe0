/* Rows by reference, a slab at a time (see slabs.h). */
#include "local/slabs.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "engine/outputs.h"
#include "engine/scratch.h"
#include "local/local.h"

/* Rows by reference go through the cache in slabs of at most this many bytes of input and output rows: small
 * enough that a slab read from the file is still in the cache when its tasks and its write touch it. */
enum { SLAB_BYTES = 4 << 20 };

/* SLAB_BYTES, or INB_H5_SLAB_BYTES when set (tests make slabs of a task or two with it). */
static size_t slab_bytes(void) {
  static size_t bytes;
  if (!bytes) {
    const char *env = getenv("INB_H5_SLAB_BYTES");
    long long v = env ? atoll(env) : 0;
    bytes = v >= 1 && v <= (1LL << 40) ? (size_t)v : SLAB_BYTES;
  }
  return bytes;
}

int inb__rowref_init(inb__call *c, const char *only, inb__rowref *r) {
  const inb__io *io = c->io;
  *r = (inb__rowref){0};
  if (!io) return inb__err(INB_EINVAL, "action '%s': rows by reference, but this rank has no dataset", c->name);
  r->loaded = inb__calloc(io->ncomps + 1, sizeof *r->loaded);
  r->comps = inb__calloc(io->ncomps + 1, sizeof *r->comps);
  r->names = inb__calloc(io->ncomps + 1, sizeof *r->names);
  r->fixed = inb__calloc(io->ncomps + 1, sizeof *r->fixed);
  r->want = inb__calloc(io->ncomps + 1, sizeof *r->want);
  if (!r->loaded || !r->comps || !r->names || !r->fixed || !r->want)
    return inb__err(INB_ENOMEM, "action '%s': out of memory", c->name);
  r->nloaded = io->ncomps;
  for (size_t j = 0; j < io->ncomps; j++) {
    if (only && strcmp(only, io->names[j]) != 0) continue;
    r->want[j] = true;
    r->comps[r->ncomps] = &r->loaded[j];
    r->names[r->ncomps] = io->names[j];
    r->fixed[r->ncomps++] = inb_args_get(c->call, io->names[j]) != NULL;
  }
  if (r->ncomps == 0 || (only && r->ncomps != 1))
    return inb__err(INB_EINVAL, "action '%s': component '%s' is not in this rank's dataset", c->name,
                    only ? only : "(any)");
  c->comps = r->comps;
  c->comp_names = r->names;
  c->comp_fixed = r->fixed;
  c->ncomps = r->ncomps;
  return 0;
}

static void release_rows(inb__rowref *r) {
  for (size_t j = 0; r->loaded && j < r->nloaded; j++) {
    inb__scratch_put(r->loaded[j].data);
    r->loaded[j].data = NULL;
  }
}

void inb__rowref_release(inb__rowref *r) {
  release_rows(r);
  inb__free(r->loaded);
  inb__free(r->want);
  inb__free(r->comps);
  inb__free(r->names);
  inb__free(r->fixed);
  *r = (inb__rowref){0};
}

static size_t slab_tasks(const inb__call *c, const inb__rowref *r) {
  size_t per = c->io ? c->io->item_bytes : 0, bytes = slab_bytes();
  if (!r || !per) return c->ntasks ? c->ntasks : 1;
  return per < bytes ? bytes / per : 1;
}

/* The tasks of one slab (c describes it): rows read, tasks run, output rows handed to the data layer. A read
 * that fails fails the call (an I/O error is the run's, not the items'). */
static int run_slab(inb__call *c, inb__rowref *r) {
  if (r) {
    release_rows(r);
    int rc = c->io->load(c->io->ctx, c->index, c->ntasks, r->want, r->loaded);
    if (rc) return rc; /* the hook's message names the file and dataset */
  }
  int rc = inb__outputs_begin(c) ? inb__err(INB_ENOMEM, "action '%s': out of memory for output rows", c->name) : 0;
  if (!rc) rc = inb__local_run(c);
  if (!rc && c->internal_rc) rc = inb__err(c->internal_rc, "action '%s': %s while recording results", c->name,
                                           inb_strerror(c->internal_rc));
  if (!rc && c->outrows.bufs) rc = inb__outputs_end(c, c->index);
  inb__outputs_release(c);
  return rc;
}

/* Each slab's records are its own while it runs (the output rows' zeroing reads them), then renumbered from
 * the call's first task and collected. */
int inb__local_run_slabs(inb__call *c, inb__rowref *r) {
  const inb__call whole = *c;
  size_t step = slab_tasks(c, r), count = whole.ntasks;
  inb__errlist errors = {0};
  inb__vallist deferred = {0};
  int rc = 0;
  if (step >= count) return run_slab(c, r);
  for (size_t s = 0; !rc && s < count; s += step) {
    c->ntasks = count - s < step ? count - s : step;
    c->task_base = whole.task_base + s;
    c->index = whole.index ? whole.index + s : NULL;
    c->col_kinds = whole.col_kinds ? whole.col_kinds + s : NULL;
    c->col_scalars = whole.col_scalars ? whole.col_scalars + s : NULL;
    rc = run_slab(c, r);
    for (size_t k = 0; k < c->errors.n; k++) c->errors.v[k].task += s;
    for (size_t k = 0; k < c->deferred.n; k++) c->deferred.v[k].task += s;
    if ((inb__errlist_move(&errors, &c->errors) || inb__vallist_move(&deferred, &c->deferred)) && !rc)
      rc = inb__err(INB_ENOMEM, "action '%s': out of memory collecting results", c->name);
  }
  c->ntasks = whole.ntasks;
  c->task_base = whole.task_base;
  c->index = whole.index;
  c->col_kinds = whole.col_kinds;
  c->col_scalars = whole.col_scalars;
  if ((inb__errlist_move(&c->errors, &errors) || inb__vallist_move(&c->deferred, &deferred)) && !rc)
    rc = inb__err(INB_ENOMEM, "action '%s': out of memory collecting results", c->name);
  inb__errlist_release(&errors);
  inb__vallist_release(&deferred);
  return rc;
}
