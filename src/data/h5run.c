/* inb_h5_run: an action over an HDF5 dataset, batch after batch. Under mpi, indices travel and each rank reads
 * the rows of the tasks it runs and writes (or, for compressed outputs, keeps until the batch's collective
 * write) the output rows it computed; every batch ends with rank 0 writing the batch's results.
 *
 * Memory stays flat however long the plan: a batch is a window onto the caller's plan (or a run of consecutive
 * items made for it), rank 0 holds one batch's results at a time, duplicates are found with one bit per item,
 * and the engine's cached blocks are released at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"
#include "data/h5output.h"
#include "engine/call.h"
#include "engine/scratch.h"
#include "run/run.h"
#include "run/validate.h"
#include "mpi/comm.h"

typedef struct {
  inb_h5_input *in;
  inb_h5_output *out;
  const inb_action *user;    /* the caller's action: its post runs after the results are taken */
  /* rank 0: this batch's table rows and failure records (buffers reused batch after batch) */
  inb__h5_tablerow *rows;
  size_t nrows, rows_cap;
  inb__h5_errrow *errs;
  size_t nerrs, errs_cap;
  size_t nfailed, ntotal;    /* over every batch */
  bool has_first;            /* the lowest failed item so far */
  int64_t first_index;
  char first_message[INB__H5_MESSAGE_BYTES];
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

static int reserve(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 0;
  void *q = inb__realloc(*p, need * size);
  if (!q) return INB_ENOMEM;
  *p = q;
  *cap = need;
  return 0;
}

/* The action's post, wrapped: the batch's results first (table rows and failure records when there is an
 * output, the count and the first failure always), then the caller's post. */
static int table_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  h5run *h = current;
  size_t n = inb_results_count(r), nf = inb_failed_count(r);
  if (h->out && (reserve((void **)&h->rows, &h->rows_cap, n + 1, sizeof *h->rows) ||
                 reserve((void **)&h->errs, &h->errs_cap, nf + 1, sizeof *h->errs)))
    return inb__err(INB_ENOMEM, "out of memory for the results of a batch of %zu items", n);
  h->nrows = h->out ? n : 0;
  h->nerrs = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t index = inb_batch_index(b, i);
    const inb_error *e = inb_result_error(r, i);
    if (h->out)
      h->rows[i] = (inb__h5_tablerow){.index = index, .value = e ? NAN : numeric(inb_result_value(r, i)),
                                      .code = e ? e->code : 0, .state = e ? INB_H5_FAILED : INB_H5_DONE};
    if (!e) continue;
    if (h->out) {
      inb__h5_errrow *er = &h->errs[h->nerrs++];
      *er = (inb__h5_errrow){.index = index, .code = e->code, .rank = e->rank};
      snprintf(er->message, sizeof er->message, "%s", e->message);
    }
    if (!h->has_first || index < h->first_index) {
      h->has_first = true;
      h->first_index = index;
      snprintf(h->first_message, sizeof h->first_message, "%s", e->message);
    }
  }
  h->nfailed += nf;
  h->ntotal += n;
  return h->user->post ? h->user->post(b, r, call, extra, out, data) : 0;
}

/* The plan checked: every item in range and, with outputs, none twice (one bit per item of the input; the
 * caller's index is only read). */
static int check_plan(const inb_h5_input *in, const inb_h5_plan *plan, bool unique) {
  if (!plan || !plan->index) return 0;
  int64_t len = inb_h5_length(in);
  uint64_t *seen = unique && plan->nindex > 1 ? inb__bits_new((size_t)len) : NULL;
  if (unique && plan->nindex > 1 && !seen)
    return inb__err(INB_ENOMEM, "input '%s': out of memory checking the plan", in->file_path);
  int rc = 0;
  for (size_t i = 0; !rc && i < plan->nindex; i++) {
    int64_t x = plan->index[i];
    if (x < 0 || x >= len)
      rc = inb__err(INB_EINVAL, "input '%s': plan item %lld (position %zu) is out of range (the file has %lld "
                                "items)", in->file_path, (long long)x, i, (long long)len);
    else if (seen && inb__bit(seen, (size_t)x))
      rc = inb__err(INB_EINVAL, "input '%s': item %lld appears twice in the plan (an output row is written once)",
                    in->file_path, (long long)x);
    else if (seen)
      inb__bit_set(seen, (size_t)x);
  }
  inb__free(seen);
  return rc;
}

static bool standard_init(const char *init) {
  return strcmp(init, "indices") == 0 || strcmp(init, "items") == 0 || strcmp(init, "run_once") == 0;
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
  if (act->init && !act->init_fn && !standard_init(act->init)) {
    int rc = inb__h5_check_init(h->in, name, act->init);
    if (rc) return rc;
  }
  if (h->out && inb_h5_length(h->in) != h->out->length)
    return inb__err(INB_EINVAL, "action '%s': input '%s' has %lld items but output '%s' has %lld", name,
                    h->in->file_path, (long long)inb_h5_length(h->in), h->out->final_path, (long long)h->out->length);
  return 0;
}

/* The input, the output and the engine (opts->comm, under mpi) must span the same ranks: checked by each rank
 * alone, before any collective call, since mismatched groups cannot agree on anything. */
static int check_groups(const inb_h5_input *in, const inb_h5_output *out, const inb_opts *opts, bool mpi) {
  char a[1200], b[1200];
  snprintf(a, sizeof a, "input '%s'", in->file_path);
  int rc = 0;
  if (out) {
    snprintf(b, sizeof b, "output '%s'", out->final_path);
    rc = inb__h5_same_group(in->hc.user, a, out->hc.user, b);
  }
  if (!rc && mpi) {
    MPI_Comm c = opts && opts->comm ? *(MPI_Comm *)opts->comm : MPI_COMM_WORLD;
    int inited = 0;
    MPI_Initialized(&inited);
    if (inited) rc = inb__h5_same_group(in->hc.user, a, c, opts && opts->comm ? "opts->comm" : "MPI_COMM_WORLD "
                                                                                              "(opts->comm NULL)");
  }
  return rc;
}

/* One batch: run, then every rank writes what it kept, then the batch's results. */
static int run_batch(h5run *h, const int64_t *items, size_t n, const inb_action *act, const inb_args *call,
                     const inb_opts *opts, const inb__io *io, bool mpi) {
  inb_batch *b = NULL;
  int rc = mpi ? (b = inb_batch_new(items, n)) ? 0 : inb__err(INB_ENOMEM, "out of memory")
               : inb_h5_read(h->in, items, n, &b);
  if (mpi) rc = inb__h5_agree(&h->in->hc, rc); /* a rank without its batch must not leave the others in the call */
  h->nrows = h->nerrs = 0;
  if (!rc) rc = inb__run_io(b, act, call, opts, NULL, io);
  inb_batch_free(&b);
  /* A post's INB_EITEM is a verdict on the items, not on the batch: its rows are still written. Any other
   * status is the same on every rank (inb_run agrees on it), so every rank skips the writes alike. */
  if ((rc && rc != INB_EITEM) || !h->out) return rc;
  int vrc = rc;
  rc = inb__h5_write_kept(h->out);
  if (!rc) rc = inb__h5_write_results(h->out, h->rows, h->nrows, h->errs, h->nerrs);
  return rc ? rc : vrc;
}

/* INB_EITEM when items failed, with the same words on every rank. */
static int judge(const h5run *h, const inb_action *act, bool mpi) {
  int rc = 0;
  if (h->has_first)
    rc = inb__err(INB_EITEM, "action '%s': %zu of %zu items failed (listed in %s); first: item %lld: %s",
                  act->name ? act->name : "(unnamed)", h->nfailed, h->ntotal,
                  h->out ? "the output's /inbatch_errors" : "no output", (long long)h->first_index,
                  h->first_message);
  return mpi ? inb__h5_share(&h->in->hc, rc) : rc;
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

/* plan.batch_size, or the bounded default (h5.h): every component's and output's rows count, since targets
 * other than mpi read every component of the batch at once and compressed outputs are kept for the batch. */
static size_t batch_items(const inb_h5_plan *plan, const inb_h5_input *in, const inb_h5_output *out) {
  if (plan && plan->batch_size > 0) return (size_t)plan->batch_size;
  size_t row = item_bytes(in, out, NULL), bs = INB_H5_BATCH_ITEMS;
  if (row && (size_t)INB_H5_BATCH_BYTES / row < bs) bs = (size_t)INB_H5_BATCH_BYTES / row;
  return bs ? bs : 1;
}

static bool any_compressed(const inb_h5_output *o) {
  for (size_t k = 0; k < o->n; k++)
    if (o->outs[k].compressed) return true;
  return false;
}

/* What must be the same on every rank: the files, the plan (its batches and every item of it) and the action's
 * name and target (the action itself is compared again by every batch's inb_run). */
static uint64_t run_digest(const inb_h5_input *in, const inb_h5_output *out, const inb_h5_plan *plan, size_t n,
                           size_t bs, const inb_action *act, bool mpi) {
  uint64_t h = inb__digest_str(INB__DIGEST_START, "inb_h5_run");
  h = inb__digest_str(h, in->file_path);
  h = inb__digest_str(h, out ? out->final_path : NULL);
  h = inb__digest_i64(h, (int64_t)n);
  h = inb__digest_i64(h, (int64_t)bs);
  if (plan && plan->index) h = inb__digest_bytes(h, plan->index, plan->nindex * sizeof *plan->index);
  h = inb__digest_i64(h, plan && plan->outputs ? (int64_t)plan->noutputs : -1);
  for (size_t k = 0; plan && plan->outputs && k < plan->noutputs; k++) h = inb__digest_str(h, plan->outputs[k]);
  h = inb__digest_str(h, act ? act->name : NULL);
  return inb__digest_i64(h, mpi);
}

int inb_h5_run(inb_h5_input *in, const inb_h5_plan *plan, const inb_action *act, const inb_args *call,
               const inb_opts *opts, inb_h5_output *out) {
  if (!in) return inb__err(INB_EINVAL, "inb_h5_run: input is NULL");
  h5run h = {.in = in, .out = out, .user = act};
  bool mpi = act && inb__target_of(act, opts) == INB_MPI;
  int rc = check_groups(in, out, opts, mpi);
  if (rc) return rc; /* no agreement: the ranks of mismatched groups have no communicator in common */
  rc = check_run(&h, act, mpi);
  if (!rc) rc = check_plan(in, plan, out != NULL);
  if (!rc && out) rc = inb__h5_activate(out, plan ? plan->outputs : NULL, plan ? plan->noutputs : 0);
  size_t n = plan && plan->index ? plan->nindex : (size_t)inb_h5_length(in), bs = batch_items(plan, in, out);
  /* with no plan index, a batch's items are made here: consecutive, one batch's worth at a time */
  int64_t *seq = NULL;
  if (!rc && !(plan && plan->index) && n && !(seq = inb__malloc((bs < n ? bs : n) * sizeof *seq)))
    rc = inb__err(INB_ENOMEM, "out of memory");
  inb_array *rows = out ? inb__calloc(out->n + 1, sizeof *rows) : NULL;
  const char **names = out ? inb__calloc(out->n + 1, sizeof *names) : NULL;
  if (!rc && out && (!rows || !names)) rc = inb__err(INB_ENOMEM, "out of memory");
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_run over '%s' (rank 0's)", in->file_path);
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&in->hc, rc, run_digest(in, out, plan, n, bs, act, mpi), what, &held);
  inb_action wrapped = act ? *act : (inb_action){0};
  wrapped.post = table_post;
  size_t nout = rows && names ? inb__h5_active(out, names, rows) : 0; /* the datasets this run writes */
  inb__io io = {.ctx = &h, .ncomps = in->n, .names = in->names, .load = load_rows, .nout = nout,
                .out_names = names, .out_rows = rows, .keep = keep_rows,
                .item_bytes = item_bytes(in, out, act)};
  /* Compressed outputs are written (and compressed) by each rank at the batch's end: equal shares of rows keep
   * the ranks from waiting for each other there, so the default schedule becomes STATIC for them. */
  inb_opts o = opts ? *opts : (inb_opts){0};
  if (o.schedule == INB_SCHED_DEFAULT && out && any_compressed(out)) o.schedule = INB_STATIC;
  h5run *outer = current;
  current = &h;
  int first_rc = 0;
  for (size_t p = 0; !rc && p < n; p += bs) {
    size_t count = n - p < bs ? n - p : bs;
    const int64_t *items = plan && plan->index ? plan->index + p : seq;
    for (size_t i = 0; seq && i < count; i++) seq[i] = (int64_t)(p + i);
    rc = run_batch(&h, items, count, &wrapped, call, &o, &io, mpi);
    if (rc == INB_EITEM) { /* a post's verdict on its batch: the other batches go on */
      if (!first_rc) first_rc = rc;
      rc = 0;
    }
  }
  current = outer;
  if (out) inb__h5_activate(out, NULL, 0); /* between runs every dataset is the output's again */
  inb__free(rows);
  inb__free(names);
  inb__free(seq);
  inb__free(h.rows);
  inb__free(h.errs);
  inb__scratch_trim(); /* a run's slabs and result slots are not kept for a program that may not run again */
  if (!rc) rc = first_rc ? first_rc : judge(&h, act, mpi);
  inb__h5_leave(held);
  return rc;
}
