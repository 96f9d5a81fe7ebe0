/* Output rows of inb_h5_run: allocated per call (or MPI chunk), written by tasks through inb_item_output,
 * handed to the data layer, which writes them with the batch. */
#include "engine/outputs.h"

#include <inbatch/h5.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/item.h"
#include "engine/scratch.h"

static size_t row_bytes(const inb_array *row) { return inb__array_bytes(row); }

/* Rows are not zeroed here but when a task first asks for one (inb_item_output): the memset then warms the
 * cache for the task's own writes, where zeroing the whole buffer up front is one more pass over memory (a
 * tenth of an uncompressed run's time). Rows no task asked for are zeroed at the end. */
int inb__outputs_begin(inb__call *c) {
  if (!c->io || !c->io->nout) return 0;
  inb__outrows *o = &c->outrows;
  o->nout = c->io->nout;
  o->ntasks = c->ntasks;
  o->bufs = inb__calloc(o->nout, sizeof *o->bufs);
  o->given = inb__calloc(o->nout * o->ntasks + 1, 1);
  if (!o->bufs || !o->given) return INB_ENOMEM;
  for (size_t k = 0; k < o->nout; k++) {
    o->bufs[k] = inb__scratch_get((o->ntasks ? o->ntasks : 1) * row_bytes(&c->io->out_rows[k]) + 1, 0);
    if (!o->bufs[k]) return INB_ENOMEM;
  }
  return 0;
}

static uint8_t *row_of(const inb__call *c, size_t k, size_t i) {
  return c->outrows.bufs[k] + i * row_bytes(&c->io->out_rows[k]);
}

static void zero_row(inb__call *c, size_t i) {
  for (size_t k = 0; k < c->outrows.nout; k++) memset(row_of(c, k, i), 0, row_bytes(&c->io->out_rows[k]));
}

int inb__outputs_end(inb__call *c, const int64_t *index) {
  inb__outrows *o = &c->outrows;
  if (!o->bufs) return 0;
  for (size_t k = 0; k < o->nout; k++)
    for (size_t i = 0; i < o->ntasks; i++)
      if (!o->given[k * o->ntasks + i]) memset(row_of(c, k, i), 0, row_bytes(&c->io->out_rows[k]));
  /* a failed task's row is written as zeros, never as what it left half-done; the table says it failed */
  for (size_t k = 0; k < c->errors.n; k++) zero_row(c, c->errors.v[k].task);
  for (size_t k = 0; k < c->first.n; k++) zero_row(c, c->first.v[k].task);
  int rc = c->io->keep(c->io->ctx, index, o->ntasks, o->bufs); /* takes the row buffers */
  inb__free(o->bufs);
  inb__free(o->given);
  *o = (inb__outrows){0};
  return rc;
}

/* Frees rows never handed over (a failed run). */
void inb__outputs_release(inb__call *c) {
  for (size_t k = 0; c->outrows.bufs && k < c->outrows.nout; k++) inb__scratch_put(c->outrows.bufs[k]);
  inb__free(c->outrows.bufs);
  inb__free(c->outrows.given);
  c->outrows = (inb__outrows){0};
}

inb_array *inb_item_output(inb_item *it, const char *name) {
  if (!it || !it->io || !it->outrows || !it->outrows->bufs || !name) return NULL;
  if (!it->out_views && !(it->out_views = inb__malloc(it->io->nout * sizeof *it->out_views))) {
    it->oom = true; /* the library's failure, not the task's: the call fails, whatever the task does next */
    return NULL;
  }
  for (size_t k = 0; k < it->io->nout; k++) {
    if (strcmp(it->io->out_names[k], name) != 0) continue;
    const inb__outrows *o = it->outrows;
    size_t i = it->task - it->task_base, rb = row_bytes(&it->io->out_rows[k]);
    inb_array *v = &it->out_views[k];
    *v = it->io->out_rows[k];
    v->data = o->bufs[k] + i * rb;
    if (!o->given[k * o->ntasks + i]) { /* this task's byte alone: no other worker touches it */
      memset(v->data, 0, rb);
      o->given[k * o->ntasks + i] = 1;
    }
    return v;
  }
  return NULL;
}
