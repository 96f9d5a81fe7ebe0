/* Output rows of inb_h5_run: allocated per call (or MPI chunk), written by tasks through inb_item_output,
 * handed to the data layer, which writes them with the batch. */
#include <inbatch/h5.h>

#include <stdlib.h>
#include <string.h>

#include "core/scratch.h"
#include "core/status.h"
#include "core/value.h"
#include "engine/call.h"
#include "engine/item.h"

static size_t row_bytes(const inb_array *row) { return inb__array_bytes(row); }

int inb__outputs_begin(inb__call *c) {
  if (!c->io || !c->io->nout) return 0;
  c->outrows.bufs = calloc(c->io->nout, sizeof *c->outrows.bufs);
  if (!c->outrows.bufs) return INB_ENOMEM;
  c->outrows.nout = c->io->nout;
  for (size_t k = 0; k < c->io->nout; k++) {
    c->outrows.bufs[k] = inb__scratch_get((c->ntasks ? c->ntasks : 1) * row_bytes(&c->io->out_rows[k]) + 1, 1);
    if (!c->outrows.bufs[k]) return INB_ENOMEM;
  }
  return 0;
}

static void zero_row(inb__call *c, size_t i) {
  for (size_t k = 0; k < c->outrows.nout; k++) {
    size_t rb = row_bytes(&c->io->out_rows[k]);
    memset(c->outrows.bufs[k] + i * rb, 0, rb);
  }
}

int inb__outputs_end(inb__call *c, const int64_t *index) {
  if (!c->outrows.bufs) return 0;
  /* a failed task's row is written as zeros, never as what it left half-done; the table says it failed */
  for (size_t k = 0; k < c->errors.n; k++) zero_row(c, c->errors.v[k].task);
  for (size_t k = 0; k < c->first.n; k++) zero_row(c, c->first.v[k].task);
  int rc = c->io->keep(c->io->ctx, index, c->ntasks, c->outrows.bufs); /* takes the row buffers */
  free(c->outrows.bufs);
  c->outrows = (inb__outrows){0};
  return rc;
}

/* Frees rows never handed over (a failed run). */
void inb__outputs_release(inb__call *c) {
  for (size_t k = 0; c->outrows.bufs && k < c->outrows.nout; k++) inb__scratch_put(c->outrows.bufs[k]);
  free(c->outrows.bufs);
  c->outrows = (inb__outrows){0};
}

inb_array *inb_item_output(inb_item *it, const char *name) {
  if (!it || !it->io || !it->outrows || !it->outrows->bufs || !name) return NULL;
  if (!it->out_views && !(it->out_views = malloc(it->io->nout * sizeof *it->out_views))) return NULL;
  for (size_t k = 0; k < it->io->nout; k++) {
    if (strcmp(it->io->out_names[k], name) != 0) continue;
    inb_array *v = &it->out_views[k];
    *v = it->io->out_rows[k];
    v->data = it->outrows->bufs[k] + (it->task - it->task_base) * row_bytes(&it->io->out_rows[k]);
    return v;
  }
  return NULL;
}
