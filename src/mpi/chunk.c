/* Chunks of tasks: packed on rank 0, run on any rank with the local target, their outcomes packed back.
 *
 * Both directions are wire messages (wire.h), so the fuzzed decoder checks every byte, but they carry columns
 * rather than a record per task wherever they can, because a record per task costs more than a trivial task:
 *   tasks     record 0: an argument list [INT gen, INT first, INT count] + the item columns:
 *               indices     positional ARRAY int64[count] (the items' indices)
 *               component   the indices as above, and a named ARRAY (the component's rows first..first+count)
 *                           under the component's name (by reference: a STR naming the component instead)
 *               items       the indices, and one named ARRAY of rows per component (by reference: STR "")
 *               run_once    nothing
 *               custom      nothing; records 1..count are the tasks' own argument lists
 *   outcomes  record 0: an argument list [INT first, INT count] (+ with a post: ARRAY uint8 kinds[count] and
 *             ARRAY int64 scalars[count], the value of every NONE/BOOL/INT/REAL result), then a result record
 *             for every STR/BYTES/ARRAY value (kind DEFERRED in the column) and every failure.
 * The receiver's rows are views of its receive buffer: copies of rank 0's data, aligned for their dtype. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/args.h"
#include "core/status.h"
#include "core/value.h"
#include "local/slabs.h"
#include "mpi/chunk.h"

#define DEFERRED INB__DEFERRED /* a kinds column entry whose value (or failure) follows as a record */

/* ---- rank 0: packing tasks ------------------------------------------------------------------------------ */

/* Rows [first, first+count) of a component, as a view for packing (the wire copies them). */
static inb_array rows_of(const inb_array *a, size_t first, size_t count) {
  inb_array r = *a;
  r.shape[0] = (int64_t)count;
  size_t row = a->shape[0] ? inb__array_bytes(a) / (size_t)a->shape[0] : 0;
  r.data = (char *)a->data + first * row;
  return r;
}

static int put_descriptor(const inb__mpi *x, size_t first, size_t count, inb_args *d) {
  const inb__call *c = x->c;
  int rc = inb_args_add(d, inb_int(c->gen));
  if (!rc) rc = inb_args_add(d, inb_int((int64_t)first));
  if (!rc) rc = inb_args_add(d, inb_int((int64_t)count));
  bool rows = c->gen == INB__GEN_COMPONENT || c->gen == INB__GEN_ITEMS;
  if (!rc && (c->gen == INB__GEN_INDICES || rows)) { /* every per-item task knows its item (inb_item_index) */
    inb_array idx = {.dtype = INB_I64, .ndim = 1, .shape = {(int64_t)count}, .data = (void *)(c->index + first)};
    rc = inb_args_add(d, inb_arr(idx));
  }
  if (!rc && rows && c->by_ref) /* rows by reference: the receiver reads them; say which component, or "" */
    return inb_args_add(d, inb_str(c->gen == INB__GEN_COMPONENT ? c->comp_names[0] : ""));
  for (size_t j = 0; !rc && rows && j < c->ncomps; j++)
    rc = inb_args_put(d, c->comp_names[j], inb_arr(rows_of(c->comps[j], first, count)));
  return rc;
}

int inb__chunk_pack(const inb__mpi *x, size_t first, size_t count, inb__buf *out) {
  const inb__call *c = x->c;
  inb_args *d = inb_args_new();
  bool lists = c->gen == INB__GEN_LISTS;
  int rc = d ? inb__buf_pad8(out) : INB_ENOMEM; /* the message starts 8-aligned, so it can be sent alone */
  size_t at = out->n;
  uint64_t nrec = 1 + (lists ? count : 0);
  size_t dsize = 0;
  if (!rc) rc = put_descriptor(x, first, count, d);
  if (!rc) rc = inb__wire_args_size(d, &dsize);
  if (!rc) rc = inb__buf_reserve(out, INB__WIRE_HEADER_BYTES + 8 + dsize);
  if (!rc) rc = inb__wire_put_header(out, nrec);
  if (!rc) rc = inb__wire_pack_args(out, d);
  inb_args empty = {.borrowed = true};
  for (size_t i = first; !rc && lists && i < first + count; i++)
    rc = inb__wire_pack_args(out, c->lists[i] ? c->lists[i] : &empty);
  if (!rc) inb__wire_seal(out, at, nrec);
  inb_args_free(&d);
  if (rc) inb__err(rc, "action '%s': cannot pack tasks %zu..+%zu: %s", c->name, first, count, inb_errmsg());
  return rc;
}

/* ---- any rank: decoding and running a chunk ------------------------------------------------------------- */

/* A decoded chunk: the inner call's task generator, pointing into the message. */
typedef struct {
  inb_args *desc;            /* record 0 (its ARRAY values view the message) */
  inb__gen gen;
  const int64_t *index;
  const inb_array **comps;
  const char **names;
  bool *fixed;
  size_t ncomps;
  inb_args **lists;          /* custom: count lists */
  uint64_t count;
  bool by_ref;               /* rows by reference: `only` names the component ("" = every one) */
  const char *only;
} decoded;

static void decoded_release(decoded *d) {
  for (uint64_t i = 0; d->lists && i < d->count; i++) inb_args_free(&d->lists[i]);
  inb__free(d->lists);
  inb__free(d->comps);
  inb__free(d->names);
  inb__free(d->fixed);
  inb_args_free(&d->desc);
}

static int64_t desc_int(const inb_args *d, size_t i) {
  const inb_value *v = inb_args_at(d, i);
  return v && v->kind == INB_INT ? v->u.i : -1;
}

/* Checks that the columns match the generator and the count: the decoder knows bytes, not meaning. */
static int check_columns(const inb__mpi *x, decoded *d) {
  const inb_args *a = d->desc;
  bool rows = d->gen == INB__GEN_ITEMS || d->gen == INB__GEN_COMPONENT;
  bool by_ref = rows && inb_args_npos(a) == 5;
  size_t want_pos = by_ref ? 5 : d->gen == INB__GEN_INDICES || rows ? 4 : 3;
  if (inb_args_npos(a) != want_pos) return inb__err(INB_ECORRUPT, "chunk: %zu descriptor values", inb_args_npos(a));
  if (d->gen == INB__GEN_INDICES || rows) {
    const inb_value *v = inb_args_at(a, 3);
    if (v->kind != INB_ARRAY || v->u.a.dtype != INB_I64 || v->u.a.ndim != 1 || (uint64_t)v->u.a.shape[0] != d->count)
      return inb__err(INB_ECORRUPT, "chunk: the index column does not hold %llu int64", (unsigned long long)d->count);
    d->index = v->u.a.data;
  }
  if (by_ref) {
    const inb_value *which = inb_args_at(a, 4);
    if (inb_args_nnamed(a) || which->kind != INB_STR)
      return inb__err(INB_ECORRUPT, "chunk: a bad reference to rows");
    d->by_ref = true;
    d->only = which->u.s.p;
    return 0;
  }
  d->ncomps = inb_args_nnamed(a);
  bool named = d->gen == INB__GEN_COMPONENT || d->gen == INB__GEN_ITEMS;
  if (named ? (d->gen == INB__GEN_COMPONENT && d->ncomps != 1) : d->ncomps != 0)
    return inb__err(INB_ECORRUPT, "chunk: %zu columns for its kind of init", d->ncomps);
  d->comps = inb__calloc(d->ncomps + 1, sizeof *d->comps);
  d->names = inb__calloc(d->ncomps + 1, sizeof *d->names);
  d->fixed = inb__calloc(d->ncomps + 1, sizeof *d->fixed);
  if (!d->comps || !d->names || !d->fixed) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t j = 0; j < d->ncomps; j++) {
    d->names[j] = inb_args_name(a, j);
    const inb_value *v = inb_args_get(a, d->names[j]);
    if (v->kind != INB_ARRAY || v->u.a.ndim < 1 || (uint64_t)v->u.a.shape[0] != d->count)
      return inb__err(INB_ECORRUPT, "chunk: column '%s' is not %llu rows", d->names[j], (unsigned long long)d->count);
    d->comps[j] = &v->u.a;
    d->fixed[j] = inb_args_get(x->c->call, d->names[j]) != NULL;
  }
  return 0;
}

static int decode(const inb__mpi *x, uint8_t *p, size_t n, uint64_t first, uint64_t count, decoded *d) {
  uint64_t nrec = 0;
  size_t off = 0;
  int rc = inb__wire_get_header(p, n, &nrec, &off);
  if (!rc) rc = inb__wire_unpack_args(p, n, &off, &d->desc);
  if (rc) return rc;
  int64_t gen = desc_int(d->desc, 0);
  d->gen = (inb__gen)gen;
  d->count = count;
  if (gen < INB__GEN_INDICES || gen > INB__GEN_LISTS || (uint64_t)desc_int(d->desc, 1) != first ||
      (uint64_t)desc_int(d->desc, 2) != count || nrec != 1 + (gen == INB__GEN_LISTS ? count : 0) ||
      (gen == INB__GEN_ONCE && count != 1))
    return inb__err(INB_ECORRUPT, "chunk: descriptor does not match tasks %llu..+%llu", (unsigned long long)first,
                    (unsigned long long)count);
  rc = check_columns(x, d);
  if (!rc && d->gen == INB__GEN_LISTS) {
    d->lists = inb__calloc(count ? count : 1, sizeof *d->lists);
    if (!d->lists) return inb__err(INB_ENOMEM, "out of memory for %llu task lists", (unsigned long long)count);
    for (uint64_t i = 0; !rc && i < count; i++) rc = inb__wire_unpack_args(p, n, &off, &d->lists[i]);
  }
  return rc ? rc : inb__wire_end(n, off);
}

/* The outcomes of a chunk that ran, appended to out as a message of its own (at the next multiple of 8): the
 * columns (with a post), then a record per value with data and per failure (every failure is DEFERRED in the
 * kinds column). */
static int pack_outcomes(const inb__call *in, uint64_t first, inb__buf *out) {
  inb_args *d = inb_args_new();
  int rc = d ? inb_args_add(d, inb_int((int64_t)first)) : INB_ENOMEM;
  if (!rc) rc = inb_args_add(d, inb_int((int64_t)in->ntasks));
  if (!rc && in->col_kinds) {
    inb_array k = {.dtype = INB_U8, .ndim = 1, .shape = {(int64_t)in->ntasks}, .data = in->col_kinds};
    inb_array v = {.dtype = INB_I64, .ndim = 1, .shape = {(int64_t)in->ntasks}, .data = in->col_scalars};
    rc = inb_args_add(d, inb_arr(k));
    if (!rc) rc = inb_args_add(d, inb_arr(v));
  }
  uint64_t nrec = 1 + in->deferred.n + in->errors.n;
  size_t dsize = 0;
  if (!rc) rc = inb__wire_args_size(d, &dsize);
  if (!rc) rc = inb__buf_reserve(out, INB__WIRE_HEADER_BYTES + dsize + 64 * (nrec - 1)); /* one allocation, no
                                                                 doubling copies of the columns */
  size_t at = (out->n + 7) & ~(size_t)7; /* where put_header starts the message */
  if (!rc) rc = inb__wire_put_header(out, nrec);
  if (!rc) rc = inb__wire_pack_args(out, d);
  for (size_t k = 0; !rc && k < in->deferred.n; k++) {
    inb__wire_result r = {.task = first + in->deferred.v[k].task, .ok = true, .value = in->deferred.v[k].v};
    rc = inb__wire_pack_result(out, &r);
  }
  for (size_t k = 0; !rc && k < in->errors.n; k++) {
    inb__wire_result r = {.task = first + in->errors.v[k].task, .ok = false, .error = in->errors.v[k]};
    rc = inb__wire_pack_result(out, &r);
  }
  if (!rc) inb__wire_seal(out, at, nrec);
  inb_args_free(&d);
  return rc;
}

int inb__chunk_run(const inb__mpi *x, uint8_t *p, size_t n, uint64_t first, uint64_t count, inb__buf *out) {
  decoded d = {0};
  int rc = decode(x, p, n, first, count, &d);
  if (rc) {
    inb__err(rc, "action '%s': rank %d could not decode tasks %llu..+%llu: %s", x->c->name, x->rank,
             (unsigned long long)first, (unsigned long long)count, inb_errmsg());
    decoded_release(&d);
    return rc;
  }
  const inb__call *c = x->c;
  inb__call in = {.act = c->act, .name = c->name, .b = c->b, .call = c->call, .extra = c->extra,
                  .target = x->local, .n_workers = c->n_workers, .chunk = c->chunk, .deadline_ns = c->deadline_ns,
                  .timeout_ms = c->timeout_ms, .rank = x->rank, .gen = d.gen, .ntasks = count, .task_base = first,
                  .index = d.index, .comps = d.comps, .comp_names = d.names, .comp_fixed = d.fixed,
                  .ncomps = d.ncomps, .lists = d.lists, .all_errors = true, .io = c->io, .by_ref = c->by_ref,
                  .retries = c->retries, .max_in_flight = c->max_in_flight, .max_failures = c->max_failures,
                  .stop = c->stop};
  if (x->keep_values) {
    in.col_kinds = inb__malloc(count ? count : 1);
    in.col_scalars = inb__malloc((count ? count : 1) * sizeof *in.col_scalars);
    if (!in.col_kinds || !in.col_scalars) {
      rc = inb__err(INB_ENOMEM, "action '%s': out of memory for the results of %llu tasks", c->name,
                    (unsigned long long)count);
      goto out;
    }
  }
  inb__rowref rows = {0};
  if (d.by_ref) rc = inb__rowref_init(&in, *d.only ? d.only : NULL, &rows);
  if (!rc) rc = inb__local_run_slabs(&in, d.by_ref ? &rows : NULL);
  inb__rowref_release(&rows);
  if (!rc && (rc = pack_outcomes(&in, first, out)))
    inb__err(rc, "action '%s': cannot pack the outcomes of tasks %llu..+%llu (%s)", c->name,
             (unsigned long long)first, (unsigned long long)count, inb_strerror(rc));
out:
  inb__free(in.col_kinds);
  inb__free(in.col_scalars);
  inb__vallist_release(&in.deferred);
  inb__errlist_release(&in.first);
  inb__errlist_release(&in.errors);
  decoded_release(&d);
  return rc; /* the run itself failed (memory, the output's I/O): the whole call fails, never a task */
}

/* ---- rank 0: absorbing outcomes ------------------------------------------------------------------------ */

/* Rank 0, under x->mu: one record into the call. */
static int absorb_record(inb__mpi *x, const inb__wire_result *r, uint64_t first, uint64_t count) {
  inb__call *c = x->c;
  if (r->task < first || r->task - first >= count)
    return inb__err(INB_ECORRUPT, "outcomes: a record names task %llu outside %llu..+%llu",
                    (unsigned long long)r->task, (unsigned long long)first, (unsigned long long)count);
  if (r->ok) {
    if (!c->results) return 0;
    return inb__results_store(c->results, r->task, &r->value, &c->results->copies); /* under x->mu */
  }
  c->nfailed++;
  if (c->results) return inb__errlist_add(&c->errors, &r->error);
  return inb__errlist_keep_first(&c->first, &r->error);
}

/* The kinds/scalars columns straight into the result slots. */
static int absorb_columns(inb__mpi *x, const inb_args *d, uint64_t first, uint64_t count) {
  inb_results *res = x->c->results;
  if (!res) return inb_args_npos(d) == 2 ? 0 : inb__err(INB_ECORRUPT, "outcomes: unexpected value columns");
  const inb_value *k = inb_args_at(d, 2), *v = inb_args_at(d, 3);
  if (inb_args_npos(d) != 4 || k->kind != INB_ARRAY || v->kind != INB_ARRAY || k->u.a.dtype != INB_U8 ||
      v->u.a.dtype != INB_I64 || k->u.a.ndim != 1 || v->u.a.ndim != 1 || (uint64_t)k->u.a.shape[0] != count ||
      (uint64_t)v->u.a.shape[0] != count)
    return inb__err(INB_ECORRUPT, "outcomes: the value columns do not hold %llu results", (unsigned long long)count);
  const uint8_t *kinds = k->u.a.data;
  const int64_t *vals = v->u.a.data;
  for (uint64_t i = 0; i < count; i++) {
    inb__slot *s = &res->slots[first + i];
    uint8_t kind = kinds[i];
    if (kind == DEFERRED) { /* its record follows; until then the slot reads as NONE (slots are not cleared) */
      s->kind = INB_NONE;
      continue;
    }
    if (kind > INB_REAL) return inb__err(INB_ECORRUPT, "outcomes: result kind %u", kind);
    s->kind = (inb_kind)kind;
    if (kind == INB_BOOL)
      s->u.b = vals[i] != 0;
    else
      s->u.i = vals[i];
  }
  return 0;
}

int inb__chunk_absorb(inb__mpi *x, uint8_t *p, size_t n) {
  uint64_t nrec = 0;
  size_t off = 0;
  inb_args *d = NULL;
  int rc = inb__wire_get_header(p, n, &nrec, &off);
  if (!rc && nrec == 0) return inb__wire_end(n, off); /* a first request: nothing done yet */
  if (!rc) rc = inb__wire_unpack_args(p, n, &off, &d);
  int64_t first = rc ? 0 : desc_int(d, 0), count = rc ? 0 : desc_int(d, 1);
  if (!rc && (first < 0 || count < 0 || (uint64_t)first > x->c->ntasks || (uint64_t)count > x->c->ntasks - (uint64_t)first))
    rc = inb__err(INB_ECORRUPT, "outcomes: tasks %lld..+%lld of %zu", (long long)first, (long long)count, x->c->ntasks);
  pthread_mutex_lock(&x->mu);
  if (!rc) rc = absorb_columns(x, d, (uint64_t)first, (uint64_t)count);
  for (uint64_t k = 1; !rc && k < nrec; k++) {
    inb__wire_result r;
    rc = inb__wire_unpack_result(p, n, &off, &r);
    if (!rc) rc = absorb_record(x, &r, (uint64_t)first, (uint64_t)count);
  }
  pthread_mutex_unlock(&x->mu);
  if (!rc) rc = inb__wire_end(n, off);
  inb_args_free(&d);
  return rc;
}
