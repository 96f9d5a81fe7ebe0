/* MPI tests of arguments: rank 0's call arguments reach every task
 * on every rank, whatever the other ranks pass; `extra` reaches init and post only; the "items" and
 * component-name inits hand remote tasks copies of their rows, aligned for the dtype; and inb_item_batch on a
 * rank is that rank's own batch.
 *
 * Every test is collective; the pattern (tasks report with inb_fail, post with verdict(), each test asserts
 * its checks at its end) and the harness it relies on are in mpitest.h. */
#include "mpitest.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_long g_ran; /* tasks run on this rank, all threads */

/* A task's complaint: fails the task with code 98 and a message naming the rank and task. */
#define WRONG(it, ...) wrong(it, __VA_ARGS__)
static int wrong(inb_item *it, const char *fmt, ...) {
  char why[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  return inb_fail(it, 98, "rank %d task %zu: %s", inb_item_rank(it), inb_item_task(it), why);
}

/* Post for tasks that return inb_int(their position) once their checks pass. */
static int post_positions(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                          inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (inb_any_failed(r)) { /* the first complaint, and which ranks complained */
    const inb_error *first = NULL;
    char ranks[128] = "";
    unsigned long mask = 0;
    for (size_t i = 0; i < n; i++) {
      const inb_error *e = inb_result_error(r, i);
      if (!e) continue;
      if (!first) first = e;
      if (e->rank >= 0 && e->rank < 64 && !(mask & (1ul << e->rank))) {
        mask |= 1ul << e->rank;
        snprintf(ranks + strlen(ranks), sizeof ranks - strlen(ranks), "%s%d", ranks[0] ? ", " : "", e->rank);
      }
    }
    return verdict("%zu of %zu tasks failed, on ranks {%s}; first: %s", inb_failed_count(r), n, ranks,
                   first ? first->message : "(no error record)");
  }
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (v->kind != INB_INT || v->u.i != (int64_t)i) return verdict("task %zu: wrong result", i);
  }
  return 0;
}

static bool aligned(const inb_array *a) { return (uintptr_t)a->data % inb_dtype_size(a->dtype) == 0; }

/* ---- call arguments from rank 0 reach every task --------------------------------------------------------- */

static const int32_t k_ivec[3] = {10, -20, 30};
static const double k_dvec[4] = {0.5, -1.5, 2.25, 1e-300};
static const unsigned char k_blob[4] = {0, 1, 2, 0xff};

/* Rank 0's call: 6 positional values of every kind and 3 named ones (a string and an array among them). */
static inb_args *rank0_call(void) {
  inb_args *a = inb_args_new();
  inb_array iv = {.dtype = INB_I32, .ndim = 1, .shape = {3}, .data = (void *)k_ivec};
  inb_array dv = {.dtype = INB_F64, .ndim = 2, .shape = {2, 2}, .data = (void *)k_dvec};
  inb_args_add(a, inb_int(7));
  inb_args_add(a, inb_real(2.5));
  inb_args_add(a, inb_str("hello, ranks"));
  inb_args_add(a, inb_arr(iv));
  inb_args_add(a, inb_bytes(k_blob, sizeof k_blob));
  inb_args_add(a, inb_bool(true));
  inb_args_put(a, "scale", inb_int(3));
  inb_args_put(a, "label", inb_str("L"));
  inb_args_put(a, "vec", inb_arr(dv));
  return a;
}

/* What another rank might pass, to be ignored. */
static inb_args *decoy_call(void) {
  inb_args *a = inb_args_new();
  inb_args_add(a, inb_int(-1));
  inb_args_put(a, "scale", inb_int(-1));
  inb_args_put(a, "decoy", inb_str("ignored"));
  return a;
}

/* Why a task's arguments are not [index] + rank 0's call, or NULL. */
static const char *call_args_wrong(const inb_args *a, int64_t index, char *why, size_t cap) {
  const inb_value *v;
  if (inb_args_npos(a) != 7) return snprintf(why, cap, "%zu positional arguments, expected 7", inb_args_npos(a)), why;
  if ((v = inb_args_at(a, 0))->kind != INB_INT || v->u.i != index) return "argument 0 is not the item index";
  if ((v = inb_args_at(a, 1))->kind != INB_INT || v->u.i != 7) return "argument 1 is not int 7";
  if ((v = inb_args_at(a, 2))->kind != INB_REAL || v->u.r != 2.5) return "argument 2 is not real 2.5";
  if ((v = inb_args_at(a, 3))->kind != INB_STR || v->u.s.n != 12 || strcmp(v->u.s.p, "hello, ranks") != 0)
    return "argument 3 is not the string 'hello, ranks'";
  v = inb_args_at(a, 4);
  if (v->kind != INB_ARRAY || v->u.a.dtype != INB_I32 || v->u.a.ndim != 1 || v->u.a.shape[0] != 3)
    return "argument 4 is not an int32 array of 3";
  if (!aligned(&v->u.a)) return "argument 4's data is not aligned for int32";
  if (memcmp(v->u.a.data, k_ivec, sizeof k_ivec) != 0) return "argument 4 holds other values than {10, -20, 30}";
  if ((v = inb_args_at(a, 5))->kind != INB_BYTES || v->u.s.n != 4 || memcmp(v->u.s.p, k_blob, 4) != 0)
    return "argument 5 is not the 4 bytes 00 01 02 ff";
  if ((v = inb_args_at(a, 6))->kind != INB_BOOL || !v->u.b) return "argument 6 is not bool true";
  if (inb_args_nnamed(a) != 3) return snprintf(why, cap, "%zu named arguments, expected 3", inb_args_nnamed(a)), why;
  if (!(v = inb_args_get(a, "scale")) || v->kind != INB_INT || v->u.i != 3) return "named 'scale' is not int 3";
  if (!(v = inb_args_get(a, "label")) || v->kind != INB_STR || strcmp(v->u.s.p, "L") != 0)
    return "named 'label' is not the string 'L'";
  v = inb_args_get(a, "vec");
  if (!v || v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.ndim != 2 || v->u.a.shape[0] != 2 ||
      v->u.a.shape[1] != 2)
    return "named 'vec' is not a 2x2 float64 array";
  if (!aligned(&v->u.a)) return "named 'vec''s data is not aligned for float64";
  if (memcmp(v->u.a.data, k_dvec, sizeof k_dvec) != 0) return "named 'vec' holds other values";
  if (inb_args_get(a, "decoy")) return "another rank's call argument 'decoy' reached the task";
  return NULL;
}

static int check_call_args(inb_item *it, const inb_args *args, inb_value *result) {
  char why[128];
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  const char *w = call_args_wrong(args, (int64_t)inb_item_task(it), why, sizeof why);
  if (w) return WRONG(it, "%s", w);
  *result = inb_int((int64_t)inb_item_task(it));
  return 0;
}

static void test_call_arguments_from_rank0_reach_every_task_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  size_t n = 5 * (size_t)g_size + 2;
  inb_batch *b = inb_batch_new(NULL, g_rank == 0 ? n : 1);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "call args", .fn = check_call_args, .init = "indices", .post = post_positions,
                      .target = INB_MPI};
    inb_opts o = {.schedule = s, .n_workers = 2};
    inb_opts decoy_opts = {.schedule = s == INB_STATIC ? INB_DYNAMIC : INB_STATIC, .n_workers = 1, .chunk = 3};
    /* rank 0 passes its call; odd ranks a decoy call and options (ignored); even ranks NULL */
    inb_args *call = g_rank == 0 ? rank0_call() : g_rank % 2 ? decoy_call() : NULL;
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, call, g_rank == 0 ? &o : g_rank % 2 ? &decoy_opts : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run", sched_name(s));
    long ran = atomic_load(&g_ran);
    expect_eq(sum_ranks(ran), (long)n, "%s: tasks run on all ranks", sched_name(s));
    if (s == INB_STATIC) expect_eq(ran, (long)block_count(g_rank, n), "static: tasks run on this rank (its block)");
    inb_args_free(&call);
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- extra reaches init and post, never a task ----------------------------------------------------------- */

static bool g_with_extra; /* the current call has an extra and a call (the same on every rank) */
static int g_init_calls;

static int init_with_extra(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                           size_t *ntasks, void *data) {
  (void)b, (void)data;
  g_init_calls++;
  if (!call || !extra) return verdict("init got call %p extra %p; both must be non-NULL", (void *)call, (void *)extra), 55;
  const inb_value *secret = inb_args_get(extra, "secret"), *visible = inb_args_get(call, "visible");
  if (g_with_extra && (!secret || secret->u.i != 5 || !visible))
    return verdict("init: extra 'secret' or call 'visible' missing"), 55;
  if (!g_with_extra && (inb_args_nnamed(extra) || inb_args_npos(extra) || inb_args_nnamed(call) || inb_args_npos(call)))
    return verdict("init: extra and call should be empty"), 55;
  size_t n = 3 * (size_t)g_size + 2;
  inb_args **lists = calloc(n, sizeof *lists);
  if (!lists) return INB_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    if (i % 5 == 4) continue; /* a NULL entry is an empty list */
    lists[i] = inb_args_new();
    inb_args_add(lists[i], inb_int((int64_t)i));
    inb_args_put(lists[i], "item", inb_int((int64_t)i));
  }
  *tasks = lists;
  *ntasks = n;
  return 0;
}

static int check_no_extra(inb_item *it, const inb_args *args, inb_value *result) {
  size_t t = inb_item_task(it);
  bool empty = t % 5 == 4;
  size_t npos = (empty ? 0 : 1) + (g_with_extra ? 1 : 0), nnamed = (empty ? 0 : 1) + (g_with_extra ? 1 : 0);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_args_get(args, "secret")) return WRONG(it, "extra's 'secret' reached the task");
  const inb_value *scale = inb_args_get(args, "scale");
  if (scale) return WRONG(it, "extra's 'scale' reached the task");
  if (inb_args_npos(args) != npos || inb_args_nnamed(args) != nnamed)
    return WRONG(it, "%zu positional and %zu named arguments, expected %zu and %zu", inb_args_npos(args),
                 inb_args_nnamed(args), npos, nnamed);
  const inb_value *item = inb_args_get(args, "item"), *first = inb_args_at(args, 0);
  if (!empty && (!item || item->u.i != (int64_t)t || first->kind != INB_INT || first->u.i != (int64_t)t))
    return WRONG(it, "the init's list did not arrive");
  const inb_value *p = inb_args_at(args, empty ? 0 : 1), *visible = inb_args_get(args, "visible");
  if (g_with_extra && (!p || p->kind != INB_STR || strcmp(p->u.s.p, "p") != 0 || !visible ||
                       visible->kind != INB_STR || strcmp(visible->u.s.p, "yes") != 0))
    return WRONG(it, "the call's arguments did not arrive after the init's");
  *result = inb_int((int64_t)t);
  return 0;
}

static int post_with_extra(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                           inb_batch **out, void *data) {
  (void)data;
  if (!call || !extra) return verdict("post got call %p extra %p; both must be non-NULL", (void *)call, (void *)extra);
  const inb_value *secret = inb_args_get(extra, "secret");
  if (g_with_extra && (!secret || secret->u.i != 5)) return verdict("post: extra 'secret' missing");
  if (!g_with_extra && inb_args_nnamed(extra)) return verdict("post: extra should be empty");
  if (inb_results_count(r) != 3 * (size_t)g_size + 2) return verdict("post got %zu results", inb_results_count(r));
  return post_positions(b, r, call, extra, out, data);
}

static void test_extra_reaches_init_and_post_but_never_a_task_on_any_rank(void **state) {
  (void)state;
  reset_checks();
  inb_batch *b = inb_batch_new(NULL, 2);
  g_init_calls = 0;
  inb_args *extra = inb_args_new();
  inb_args_put(extra, "secret", inb_int(5));
  inb_args_put(extra, "scale", inb_int(99));
  for (int with = 1; with >= 0; with--) {
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      g_with_extra = with;
      inb_action act = {.name = "extra", .fn = check_no_extra, .init_fn = init_with_extra, .post = post_with_extra,
                        .target = INB_MPI, .extra = with ? extra : NULL}; /* every rank's action has the extra */
      inb_args *call = NULL;
      if (g_rank == 0 && with) {
        call = inb_args_new();
        inb_args_add(call, inb_str("p"));
        inb_args_put(call, "visible", inb_str("yes"));
      }
      inb_opts o = {.schedule = s};
      atomic_store(&g_ran, 0);
      int rc = inb_run(b, &act, call, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "%s %s: inb_run", sched_name(s), with ? "with extra and call" : "without extra and call");
      expect_eq(sum_ranks(atomic_load(&g_ran)), 3 * g_size + 2, "%s: tasks run on all ranks", sched_name(s));
      inb_args_free(&call);
    }
  }
  expect_eq(g_init_calls, g_rank == 0 ? 4 : 0, "inits run on this rank (rank 0 only, once per call)");
  inb_args_free(&extra);
  inb_batch_free(&b);
  assert_checks();
}

/* ---- "items" and component inits: remote tasks get aligned copies; each rank its own batch ------------ */

typedef struct {
  const char *name;
  inb_dtype dtype;
  int ndim;           /* of a row */
  int64_t shape[2];   /* of a row */
} comp_t;

/* Rows of odd byte sizes between wider ones, so that each array's alignment depends on the packing. */
static const comp_t k_comps[] = {
    {"h", INB_I16, 1, {5}},     {"img", INB_U8, 1, {3}},  {"lab", INB_I64, 0, {0}}, {"w", INB_F64, 1, {3}},
    {"f", INB_F32, 2, {1, 3}},  {"u", INB_U64, 1, {2}},   {"s", INB_I8, 1, {7}},    {"q", INB_U16, 2, {3, 1}},
    {"r", INB_U32, 1, {1}},     {"i32", INB_I32, 1, {3}},
};
#define NCOMPS (sizeof k_comps / sizeof k_comps[0])

static size_t row_count(const comp_t *c) {
  size_t n = 1;
  for (int d = 0; d < c->ndim; d++) n *= (size_t)c->shape[d];
  return n;
}

/* Element k of item i's row of component c: exact in every dtype. */
static double elem(size_t c, size_t i, size_t k) {
  inb_dtype t = k_comps[c].dtype;
  bool is_signed = t == INB_I8 || t == INB_I16 || t == INB_I32 || t == INB_I64 || t == INB_F32 || t == INB_F64;
  double v = (double)((i * 7 + k * 3 + c) % 100) - (is_signed ? 50 : 0);
  if (t == INB_F32 || t == INB_F64) v += 0.25 * (double)(k % 4);
  if (t == INB_I64 || t == INB_U64) v += (double)(i + 1) * 1e12;
  return v;
}

static void store(inb_dtype t, void *data, size_t k, double v) {
  switch (t) {
  case INB_I8: ((int8_t *)data)[k] = (int8_t)v; break;
  case INB_U8: ((uint8_t *)data)[k] = (uint8_t)v; break;
  case INB_I16: ((int16_t *)data)[k] = (int16_t)v; break;
  case INB_U16: ((uint16_t *)data)[k] = (uint16_t)v; break;
  case INB_I32: ((int32_t *)data)[k] = (int32_t)v; break;
  case INB_U32: ((uint32_t *)data)[k] = (uint32_t)v; break;
  case INB_I64: ((int64_t *)data)[k] = (int64_t)v; break;
  case INB_U64: ((uint64_t *)data)[k] = (uint64_t)v; break;
  case INB_F32: ((float *)data)[k] = (float)v; break;
  case INB_F64: ((double *)data)[k] = v; break;
  }
}

static double load(inb_dtype t, const void *data, size_t k) {
  switch (t) {
  case INB_I8: return ((const int8_t *)data)[k];
  case INB_U8: return ((const uint8_t *)data)[k];
  case INB_I16: return ((const int16_t *)data)[k];
  case INB_U16: return ((const uint16_t *)data)[k];
  case INB_I32: return ((const int32_t *)data)[k];
  case INB_U32: return ((const uint32_t *)data)[k];
  case INB_I64: return (double)((const int64_t *)data)[k];
  case INB_U64: return (double)((const uint64_t *)data)[k];
  case INB_F32: return ((const float *)data)[k];
  case INB_F64: return ((const double *)data)[k];
  }
  return 0;
}

/* Rank 0: n items with every component of k_comps and "owner" = 0. Rank r > 0: 5 + r items with only
 * "owner" = r, so a task can tell whose batch inb_item_batch gives it. */
static inb_batch *ranks_batch(size_t n) {
  size_t size = g_rank == 0 ? n : 5 + (size_t)g_rank;
  inb_batch *b = inb_batch_new(NULL, size);
  for (size_t c = 0; g_rank == 0 && c < NCOMPS; c++) {
    const comp_t *cp = &k_comps[c];
    inb_array a = {.dtype = cp->dtype, .ndim = cp->ndim + 1, .shape = {(int64_t)n, cp->shape[0], cp->shape[1]}};
    size_t per = row_count(cp);
    a.data = malloc(n * per * inb_dtype_size(cp->dtype) + 1);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < per; k++) store(cp->dtype, a.data, i * per + k, elem(c, i, k));
    inb_batch_set(b, cp->name, a, true);
  }
  inb_array owner = {.dtype = INB_I32, .ndim = 1, .shape = {(int64_t)size}, .data = malloc(size * 4 + 1)};
  for (size_t i = 0; i < size; i++) ((int32_t *)owner.data)[i] = g_rank;
  inb_batch_set(b, "owner", owner, true);
  return b;
}

/* Whether this rank's batch still holds what ranks_batch put there (tasks mutate their argument copies). */
static bool batch_intact(inb_batch *b, size_t n) {
  for (size_t c = 0; g_rank == 0 && c < NCOMPS; c++) {
    const inb_array *a = inb_batch_get(b, k_comps[c].name);
    size_t per = row_count(&k_comps[c]);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < per; k++)
        if (load(a->dtype, a->data, i * per + k) != elem(c, i, k)) return false;
  }
  const inb_array *owner = inb_batch_get(b, "owner");
  for (size_t i = 0; i < inb_batch_size(b); i++)
    if (((const int32_t *)owner->data)[i] != g_rank) return false;
  return true;
}

/* Why v is not row i of component c (an aligned array of the row's dtype and shape), or NULL. */
static const char *row_wrong(const inb_value *v, size_t c, size_t i, char *why, size_t cap) {
  const comp_t *cp = &k_comps[c];
  if (!v) return snprintf(why, cap, "component '%s' missing", cp->name), why;
  const inb_array *a = &v->u.a;
  if (v->kind != INB_ARRAY || a->dtype != cp->dtype || a->ndim != cp->ndim)
    return snprintf(why, cap, "'%s' is kind %d dtype %d ndim %d, expected an array of dtype %d ndim %d", cp->name,
                    v->kind, a->dtype, a->ndim, cp->dtype, cp->ndim), why;
  for (int d = 0; d < cp->ndim; d++)
    if (a->shape[d] != cp->shape[d]) return snprintf(why, cap, "'%s' has another shape", cp->name), why;
  if (!aligned(a))
    return snprintf(why, cap, "'%s' data at %p is not aligned for its %zu-byte dtype", cp->name, a->data,
                    inb_dtype_size(a->dtype)), why;
  for (size_t k = 0; k < row_count(cp); k++)
    if (load(a->dtype, a->data, k) != elem(c, i, k))
      return snprintf(why, cap, "'%s' element %zu is %g, expected %g", cp->name, k, load(a->dtype, a->data, k),
                      elem(c, i, k)), why;
  return NULL;
}

/* Why inb_item_batch is not this rank's own batch, or NULL. */
static const char *own_batch_wrong(inb_item *it, size_t n) {
  inb_batch *own = inb_item_batch(it);
  int rank = inb_item_rank(it);
  if (!own) return "inb_item_batch is NULL";
  if (inb_batch_size(own) != (rank == 0 ? n : 5 + (size_t)rank)) return "inb_item_batch has another rank's size";
  const inb_array *owner = inb_batch_get(own, "owner");
  if (!owner || ((const int32_t *)owner->data)[0] != rank) return "inb_item_batch is another rank's batch";
  return NULL;
}

/* Scribbles over an argument array: it is the task's copy, so nothing else may change. */
static void scribble(const inb_value *v) {
  if (v && v->kind == INB_ARRAY) memset(v->u.a.data, 0xa5, inb_array_count(&v->u.a) * inb_dtype_size(v->u.a.dtype));
}

static size_t g_n;    /* rank 0's batch size in the current call, the same on every rank */
static size_t g_comp; /* the component-name init's component in the current call */

static int check_items(inb_item *it, const inb_args *args, inb_value *result) {
  char why[256];
  size_t i = inb_item_task(it);
  const char *w;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_args_npos(args) != 0 || inb_args_nnamed(args) != NCOMPS + 1)
    return WRONG(it, "%zu positional and %zu named arguments, expected 0 and %zu", inb_args_npos(args),
                 inb_args_nnamed(args), NCOMPS + 1);
  for (size_t c = 0; c < NCOMPS; c++)
    if ((w = row_wrong(inb_args_get(args, k_comps[c].name), c, i, why, sizeof why))) return WRONG(it, "%s", w);
  const inb_value *owner = inb_args_get(args, "owner");
  if (!owner || owner->kind != INB_ARRAY || owner->u.a.ndim != 0 || *(const int32_t *)owner->u.a.data != 0)
    return WRONG(it, "named 'owner' is not rank 0's row (0)");
  if ((w = own_batch_wrong(it, g_n))) return WRONG(it, "%s", w);
  for (size_t k = 0; k < inb_args_nnamed(args); k++) scribble(inb_args_get(args, inb_args_name(args, k)));
  *result = inb_int((int64_t)i);
  return 0;
}

static void test_items_init_gives_every_rank_aligned_copies_of_the_rows(void **state) {
  (void)state;
  reset_checks();
  g_n = 4 * (size_t)g_size + 1;
  inb_batch *b = ranks_batch(g_n);
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    inb_action act = {.name = "items", .fn = check_items, .init = "items", .post = post_positions, .target = INB_MPI};
    inb_opts o = {.schedule = s, .n_workers = 2};
    atomic_store(&g_ran, 0);
    int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run", sched_name(s));
    long ran = atomic_load(&g_ran);
    expect_eq(sum_ranks(ran), (long)g_n, "%s: tasks run on all ranks", sched_name(s));
    if (s == INB_STATIC) expect_eq(ran, (long)block_count(g_rank, g_n), "static: tasks run on this rank (its block)");
    expect_eq(batch_intact(b, g_n), 1, "%s: this rank's batch is unchanged by tasks writing to their copies",
              sched_name(s));
  }
  inb_batch_free(&b);
  assert_checks();
}

static const double k_callvec[3] = {1.5, -2.5, 3.5};

static int check_component(inb_item *it, const inb_args *args, inb_value *result) {
  char why[256];
  size_t i = inb_item_task(it);
  const char *w;
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_args_npos(args) != 3 || inb_args_nnamed(args) != 0)
    return WRONG(it, "%zu positional and %zu named arguments, expected 3 and 0", inb_args_npos(args),
                 inb_args_nnamed(args));
  if ((w = row_wrong(inb_args_at(args, 0), g_comp, i, why, sizeof why))) return WRONG(it, "%s", w);
  const inb_value *v = inb_args_at(args, 1);
  if (v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.ndim != 1 || v->u.a.shape[0] != 3)
    return WRONG(it, "argument 1 is not the call's float64 array of 3");
  if (!aligned(&v->u.a)) return WRONG(it, "the call's float64 array at %p is not aligned", v->u.a.data);
  if (memcmp(v->u.a.data, k_callvec, sizeof k_callvec) != 0) return WRONG(it, "the call's array holds other values");
  if ((v = inb_args_at(args, 2))->kind != INB_INT || v->u.i != 5) return WRONG(it, "argument 2 is not int 5");
  if ((w = own_batch_wrong(it, g_n))) return WRONG(it, "%s", w);
  scribble(inb_args_at(args, 0)); /* the row only: call arguments have a test of their own */
  *result = inb_int((int64_t)i);
  return 0;
}

static void test_component_init_gives_every_rank_aligned_copies_of_its_rows(void **state) {
  (void)state;
  reset_checks();
  g_n = 4 * (size_t)g_size + 1;
  inb_batch *b = ranks_batch(g_n);
  double callvec[3];
  memcpy(callvec, k_callvec, sizeof callvec);
  for (size_t c = 0; c < NCOMPS; c++) {
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      g_comp = c;
      inb_action act = {.name = "component", .fn = check_component, .init = k_comps[c].name, .post = post_positions,
                        .target = INB_MPI};
      inb_opts o = {.schedule = s, .n_workers = 2};
      inb_args *call = NULL;
      if (g_rank == 0) {
        call = inb_args_new();
        inb_args_add(call, inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {3}, .data = callvec}));
        inb_args_add(call, inb_int(5));
      }
      atomic_store(&g_ran, 0);
      int rc = inb_run(b, &act, call, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "init '%s' %s: inb_run", k_comps[c].name, sched_name(s));
      expect_eq(sum_ranks(atomic_load(&g_ran)), (long)g_n, "init '%s' %s: tasks run on all ranks", k_comps[c].name,
                sched_name(s));
      expect_eq(batch_intact(b, g_n), 1, "init '%s' %s: this rank's batch is unchanged by tasks writing to their "
                "copies", k_comps[c].name, sched_name(s));
      inb_args_free(&call);
    }
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- call arrays are read-only views, on every target ------------------------------------------------ */

static _Atomic(const void *) g_seen_call_data; /* the call array's address the first task of this rank saw */
static const double *g_callvec_addr;           /* rank 0: the caller's array */

/* Checks the call's array and where it lives: the caller's own memory on rank 0, and one copy shared by every
 * task elsewhere (a task's cost must not grow with the call's arrays). */
static int check_call_view(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_value *v = inb_args_at(args, 1);
  atomic_fetch_add_explicit(&g_ran, 1, memory_order_relaxed);
  if (inb_args_npos(args) != 2 || v->kind != INB_ARRAY || v->u.a.dtype != INB_F64 || v->u.a.shape[0] != 3)
    return WRONG(it, "argument 1 is not the call's float64 array of 3");
  if (memcmp(v->u.a.data, k_callvec, sizeof k_callvec) != 0) return WRONG(it, "the call's array holds other values");
  if (inb_item_rank(it) == 0 && v->u.a.data != (const void *)g_callvec_addr)
    return WRONG(it, "rank 0's task sees a copy (%p) of the caller's array (%p)", v->u.a.data, (void *)g_callvec_addr);
  const void *expect = NULL;
  if (!atomic_compare_exchange_strong(&g_seen_call_data, &expect, v->u.a.data) && expect != v->u.a.data)
    return WRONG(it, "tasks of rank %d see different copies of the call's array (%p, %p)", inb_item_rank(it), expect,
                 v->u.a.data);
  *result = inb_int((int64_t)inb_item_task(it));
  return 0;
}

/* Post runs on rank 0 with the caller's arguments: writing through the call's array reaches the caller, as it
 * does on every local target. */
static int post_writes_call_array(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                                  inb_batch **out, void *data) {
  int rc = post_positions(b, r, call, extra, out, data);
  ((double *)inb_args_at(call, 0)->u.a.data)[0] = -1.0; /* a task's argument 1 is the call's 0 */
  return rc;
}

static void test_call_arrays_are_views_of_the_callers_memory_on_rank0_and_one_copy_per_rank(void **state) {
  (void)state;
  reset_checks();
  size_t n = 3 * (size_t)g_size + 1;
  inb_batch *b = inb_batch_new(NULL, g_rank == 0 ? n : 1);
  double callvec[3];
  g_callvec_addr = callvec;
  for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
    memcpy(callvec, k_callvec, sizeof callvec);
    inb_action act = {.name = "call views", .fn = check_call_view, .init = "indices",
                      .post = post_writes_call_array, .target = INB_MPI, .local = INB_THREADS};
    inb_opts o = {.schedule = s, .n_workers = 2};
    inb_args *call = NULL;
    if (g_rank == 0) {
      call = inb_args_new();
      inb_args_add(call, inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {3}, .data = callvec}));
    }
    atomic_store(&g_ran, 0);
    atomic_store(&g_seen_call_data, NULL);
    int rc = inb_run(b, &act, call, g_rank == 0 ? &o : NULL, NULL);
    expect_rc(rc, 0, "%s: inb_run (rank 0's tasks see the caller's array, the others one copy per rank)",
              sched_name(s));
    expect_eq(sum_ranks(atomic_load(&g_ran)), (long)n, "%s: tasks run on all ranks", sched_name(s));
    if (g_rank == 0) expect_eq(callvec[0] == -1.0, 1, "%s: post's write through the call's array reached the caller",
                               sched_name(s));
    inb_args_free(&call);
  }
  inb_batch_free(&b);
  assert_checks();
}

/* ---- every task knows its item ----------------------------------------------------------------------------- */

static int return_index(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args;
  *result = inb_int(inb_item_index(it));
  return 0;
}

/* The batch's indices are 7*i + 3: each task's result must be its own item's. */
static int post_indices(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  for (size_t i = 0; i < inb_results_count(r); i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v) return verdict("task %zu failed: %s", i, inb_result_error(r, i)->message);
    if (v->u.i != inb_batch_index(b, i)) return verdict("task %zu saw item %lld, not %lld", i, (long long)v->u.i,
                                                        (long long)inb_batch_index(b, i));
  }
  return 0;
}

static void test_every_task_knows_its_item_index_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  size_t n = 5 * (size_t)g_size + 3;
  int64_t *index = malloc(n * sizeof *index);
  for (size_t i = 0; i < n; i++) index[i] = 7 * (int64_t)i + 3;
  inb_batch *b = inb_batch_new(g_rank == 0 ? index : NULL, g_rank == 0 ? n : 0);
  float *rows = calloc(n, sizeof *rows);
  if (g_rank == 0) inb_batch_set(b, "v", (inb_array){.dtype = INB_F32, .ndim = 1, .shape = {(int64_t)n}, .data = rows}, false);
  const char *inits[] = {"indices", "items", "v"};
  for (size_t k = 0; k < 3; k++)
    for (inb_schedule s = INB_STATIC; s <= INB_DYNAMIC; s++) {
      inb_action act = {.name = "index", .fn = return_index, .init = inits[k], .post = post_indices,
                        .target = INB_MPI};
      inb_opts o = {.schedule = s};
      int rc = inb_run(b, &act, NULL, g_rank == 0 ? &o : NULL, NULL);
      expect_rc(rc, 0, "init %s, %s: every task's inb_item_index is its item's", inits[k], sched_name(s));
    }
  inb_batch_free(&b);
  free(rows);
  free(index);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_call_arguments_from_rank0_reach_every_task_on_every_rank),
      cmocka_unit_test(test_extra_reaches_init_and_post_but_never_a_task_on_any_rank),
      cmocka_unit_test(test_items_init_gives_every_rank_aligned_copies_of_the_rows),
      cmocka_unit_test(test_component_init_gives_every_rank_aligned_copies_of_its_rows),
      cmocka_unit_test(test_call_arrays_are_views_of_the_callers_memory_on_rank0_and_one_copy_per_rank),
      cmocka_unit_test(test_every_task_knows_its_item_index_on_every_rank),
  };
  return mpitest_main(&argc, &argv, "mpi.test_args", tests, sizeof tests / sizeof tests[0]);
}
