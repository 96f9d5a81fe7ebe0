/* inb_h5_run: an action over an HDF5 dataset, batch after batch. Under mpi, indices travel and each rank reads
 * the rows of the tasks it runs and keeps the output rows it computed; every batch ends with one write per
 * output dataset (collective where compression demands it) and rank 0 writing the batch's results table rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"
#include "data/h5output.h"
#include "engine/call.h"
#include "run/run.h"
#include "run/validate.h"
#include "mpi/comm.h"

typedef struct {
  inb_h5_input *in;
  inb_h5_output *out;
  const inb_action *user;    /* the caller's action: its post runs after the table is filled */
  inb__h5_tablerow *rows;    /* rank 0: this batch's table rows */
  size_t nrows;
  size_t nfailed, ntotal;    /* over every batch */
  inb__h5_tablerow first;    /* the lowest failed item so far (code 0: none) */
  bool has_first;
} h5run;

/* inb_h5_run calls inb_run from the calling thread, and post runs on it: a thread-local finds the run. */
static _Thread_local h5run *current;

static int load_rows(void *ctx, const int64_t *index, size_t n, const bool *want, inb_array *comps) {
  return inb__h5_load(((h5run *)ctx)->in, index, n, want, comps, true); /* slab buffers, reused */
}

static int keep_rows(void *ctx, const int64_t *index, size_t n, uint8_t **bufs) {
  return inb__h5_keep(((h5run *)ctx)->out, index, n, bufs);
}

static double numeric(const inb_value *v) {
  switch (v->kind) {
  case INB_INT: return (double)v->u.i;
  case INB_REAL: return v->u.r;
  case INB_BOOL: return v->u.b;
  default: return NAN;
  }
}

/* The action's post, wrapped: the table rows first, then the caller's post. */
static int table_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  h5run *h = current;
  size_t n = inb_results_count(r);
  h->rows = inb__calloc(n + 1, sizeof *h->rows);
  if (!h->rows) return inb__err(INB_ENOMEM, "out of memory for the results table");
  h->nrows = n;
  for (size_t i = 0; i < n; i++) {
    inb__h5_tablerow *row = &h->rows[i];
    row->index = inb_batch_index(b, i);
    const inb_error *e = inb_result_error(r, i);
    row->ok = e == NULL;
    row->code = e ? e->code : 0;
    row->value = e ? NAN : numeric(inb_result_value(r, i));
    if (e) snprintf(row->message, sizeof row->message, "%s", e->message);
    if (e && (!h->has_first || row->index < h->first.index)) h->first = *row, h->has_first = true;
  }
  h->nfailed += inb_failed_count(r);
  h->ntotal += n;
  return h->user->post ? h->user->post(b, r, call, extra, out, data) : 0;
}

static int by_item(const void *a, const void *b) {
  int64_t x = ((const inb__h5_tablerow *)a)->index, y = ((const inb__h5_tablerow *)b)->index;
  return (x > y) - (x < y);
}

static int by_int64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The plan's items, checked: in range and, with outputs, each at most once. */
static int plan_items(const inb_h5_input *in, const inb_h5_plan *plan, bool unique, int64_t **items, size_t *n) {
  int64_t len = inb_h5_length(in);
  *n = plan && plan->index ? plan->nindex : (size_t)len;
  *items = inb__malloc((*n + 1) * sizeof **items);
  if (!*items) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t i = 0; i < *n; i++) {
    (*items)[i] = plan && plan->index ? plan->index[i] : (int64_t)i;
    if ((*items)[i] < 0 || (*items)[i] >= len)
      return inb__err(INB_EINVAL, "input '%s': plan item %lld is out of range (the file has %lld items)",
                      in->file_path, (long long)(*items)[i], (long long)len);
  }
  if (!unique || *n < 2) return 0;
  int64_t *sorted = inb__malloc(*n * sizeof *sorted);
  if (!sorted) return inb__err(INB_ENOMEM, "out of memory");
  memcpy(sorted, *items, *n * sizeof *sorted);
  int rc = 0;
  qsort(sorted, *n, sizeof *sorted, by_int64);
  for (size_t i = 1; !rc && i < *n; i++)
    if (sorted[i] == sorted[i - 1])
      rc = inb__err(INB_EINVAL, "input '%s': item %lld appears twice in the plan (an output row is written once)",
                    in->file_path, (long long)sorted[i]);
  inb__free(sorted);
  return rc;
}

static int check_run(const h5run *h, const inb_action *act, bool mpi) {
  if (!act) return inb__err(INB_EINVAL, "inb_h5_run: action is NULL");
  const char *name = act->name ? act->name : "(unnamed)";
  if (!mpi && h->in->hc.size > 1)
    return inb__err(INB_EINVAL, "action '%s': %d ranks share input '%s': use target mpi (with another target every "
                                "rank would process every item)", name, h->in->hc.size, h->in->file_path);
  if (h->out && (act->init_fn || (act->init && strcmp(act->init, "run_once") == 0)))
    return inb__err(INB_EINVAL, "action '%s': with outputs, init must be indices, items or a component (one task "
                                "per item, one output row per task)", name);
  if (h->out && inb_h5_length(h->in) != h->out->length)
    return inb__err(INB_EINVAL, "action '%s': input '%s' has %lld items but output '%s' has %lld", name,
                    h->in->file_path, (long long)inb_h5_length(h->in), h->out->final_path, (long long)h->out->length);
  return 0;
}

/* One batch: run, then every rank writes what it kept, then rank 0 its table rows. */
static int run_batch(h5run *h, const int64_t *items, size_t n, const inb_action *act, const inb_args *call,
                     const inb_opts *opts, const inb__io *io, bool mpi) {
  inb_batch *b = NULL;
  int rc = mpi ? (b = inb_batch_new(items, n)) ? 0 : inb__err(INB_ENOMEM, "out of memory")
               : inb_h5_read(h->in, items, n, &b);
  if (!rc) rc = inb__run_io(b, act, call, opts, NULL, io);
  inb_batch_free(&b);
  /* A post's INB_EITEM is a verdict on the items, not on the batch: its rows are still written. Any other
   * status is the same on every rank (inb_run agrees on it), so every rank skips the writes alike. */
  if ((rc && rc != INB_EITEM) || !h->out) {
    inb__free(h->rows); /* this batch's table rows: nothing to write them to */
    h->rows = NULL;
    return rc;
  }
  int vrc = rc;
  rc = inb__h5_write_kept(h->out);
  int trc = 0;
  if (h->rows) {
    qsort(h->rows, h->nrows, sizeof *h->rows, by_item);
    trc = inb__h5_write_table(h->out, h->rows, h->nrows);
  }
  inb__free(h->rows);
  h->rows = NULL;
  trc = h->in->hc.comm != MPI_COMM_NULL && mpi ? inb__h5_agree(&h->in->hc, trc) : trc;
  return rc ? rc : trc ? trc : vrc;
}

/* INB_EITEM when items failed, with the same words on every rank. */
static int judge(const h5run *h, const inb_action *act, bool mpi) {
  int rc = 0;
  if (h->has_first)
    rc = inb__err(INB_EITEM, "action '%s': %zu of %zu items failed (listed in %s); first: item %lld: %s",
                  act->name ? act->name : "(unnamed)", h->nfailed, h->ntotal, h->out ? "the results table" : "no table",
                  (long long)h->first.index, h->first.message);
  return mpi && h->in->hc.comm != MPI_COMM_NULL ? inb__mpi_share_status(rc, h->in->hc.comm) : rc;
}

/* The bytes one item reads and writes (only its component's rows when init names one): a slab's size per task. */
static size_t item_bytes(const inb_h5_input *in, const inb_h5_output *out, const inb_action *act) {
  size_t b = 0;
  for (size_t j = 0; j < in->n; j++)
    if (!act || !act->init || strcmp(act->init, "items") == 0 || strcmp(act->init, in->names[j]) == 0)
      b += inb__h5_row_bytes(&in->comps[j]);
  for (size_t k = 0; out && k < out->n; k++) b += inb__array_bytes(&out->outs[k].row);
  return b;
}

static bool any_deflate(const inb_h5_output *o) {
  for (size_t k = 0; k < o->n; k++)
    if (o->outs[k].compressed) return true;
  return false;
}

int inb_h5_run(inb_h5_input *in, const inb_h5_plan *plan, const inb_action *act, const inb_args *call,
               const inb_opts *opts, inb_h5_output *out) {
  if (!in) return inb__err(INB_EINVAL, "inb_h5_run: input is NULL");
  h5run h = {.in = in, .out = out, .user = act};
  bool mpi = act && inb__target_of(act, opts) == INB_MPI;
  int64_t *items = NULL;
  size_t n = 0;
  int rc = check_run(&h, act, mpi);
  if (!rc) rc = plan_items(in, plan, out != NULL, &items, &n);
  rc = inb__h5_agree(&in->hc, rc);
  inb_action wrapped = act ? *act : (inb_action){0};
  wrapped.post = table_post;
  inb__io io = {.ctx = &h, .ncomps = in->n, .names = in->names, .load = load_rows, .nout = out ? out->n : 0,
                .out_names = out ? out->names : NULL, .keep = keep_rows,
                .item_bytes = item_bytes(in, out, act)};
  inb_array *rows = out ? inb__calloc(out->n + 1, sizeof *rows) : NULL;
  for (size_t k = 0; rows && k < out->n; k++) rows[k] = out->outs[k].row;
  io.out_rows = rows;
  int64_t bs = plan && plan->batch_size > 0 ? plan->batch_size : (int64_t)(n ? n : 1);
  /* Compressed outputs are written (and compressed) by each rank at the batch's end: equal shares of rows keep
   * the ranks from waiting for each other there, so the default schedule becomes STATIC for them. */
  inb_opts o = opts ? *opts : (inb_opts){0};
  if (o.schedule == INB_SCHED_DEFAULT && out && any_deflate(out)) o.schedule = INB_STATIC;
  opts = &o;
  h5run *outer = current;
  current = &h;
  int first_rc = 0;
  for (size_t p = 0; !rc && p < n; p += (size_t)bs) {
    size_t count = n - p < (size_t)bs ? n - p : (size_t)bs;
    rc = run_batch(&h, items + p, count, &wrapped, call, opts, &io, mpi);
    if (rc == INB_EITEM) { /* a post's verdict on its batch: the other batches go on */
      if (!first_rc) first_rc = rc;
      rc = 0;
    }
  }
  current = outer;
  inb__free(rows);
  inb__free(items);
  inb__free(h.rows);
  if (rc) return rc;
  return first_rc ? first_rc : judge(&h, act, mpi);
}
