/* A job's pipeline, planned against its input and run as one per-item action (see pipeline.h). */
#include "jobs/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"
#include "core/value.h"
#include "data/h5codecs.h"
#include "engine/item.h"
#include "jobs/kernels.h"
#include "jobs/pipeline_resume.h"
#include "jobs/signals.h"
#include "mpi/comm.h"

/* Where an item's row of a component lives while the pipeline runs on it. A row kept in memory that a later
 * segment reads becomes a scratch dataset of the output (TO_SCRATCH), written like an output's. */
typedef enum { FROM_INPUT, TO_OUTPUT, IN_MEMORY, TO_SCRATCH } slot_kind;

typedef struct {
  const char *name;   /* the job's (no leading '/'); NULL: a reduction's partial, which no step reads */
  slot_kind kind;
  inb_array row;      /* dtype, ndim, shape of one item's row (data NULL) */
  size_t offset;      /* IN_MEMORY: where in a task's scratch */
  char path[256];     /* TO_OUTPUT, TO_SCRATCH: "/name", as inb_item_output wants it */
  size_t seg;         /* the segment that writes it (the input's: 0) */
  char alias[48];     /* read back by a later segment: its component name there; "" when not */
} slot;

typedef struct {
  const inb__job_step *step;
  const inb__action_spec *action;      /* the step's, or the kernel built for this call's source dtype */
  inb__argvals args;                   /* the step's, bound to that action */
  size_t step_index;                   /* keys the step's random draws */
  size_t src[INB__MAX_SRC], nsrc, dst; /* slots */
  char figure[300];                    /* a reduction's attribute name in the output ("summary_images") */
} call;

/* Steps run item by item together as long as they share their parallel options; a step with other options, or
 * one after a reduction, starts a new segment: a pass over the items after the previous one has finished. */
typedef struct {
  size_t first, end;                   /* its calls, calls[first..end) */
  const inb__job_step *opts;           /* its parallel options (its first step's) */
  size_t nreduce;                      /* reductions among its calls (the last step's, if any) */
  size_t partials;                     /* scratch offset where an item's partials are gathered as its result */
  size_t npartial;                     /* doubles of every reduction's partials */
} segment;

struct inb__pipeline {
  inb_h5_input *in;
  MPI_Comm comm;
  slot *slots;
  size_t nslots;
  call *calls;
  size_t ncalls;
  segment *segs;
  size_t nsegs;
  size_t scratch_bytes;         /* the rows one task keeps in memory */
  inb_h5_output_spec *specs;    /* one per output dataset of the job, then one per scratch dataset */
  size_t nspecs;
  inb__kernel **kernels;        /* built for the kernel steps' calls (one per call: the source dtypes may differ) */
  size_t nkernels;
  const inb__job *job;
};

static size_t row_bytes(const inb_array *row) { return inb__array_bytes(row); }

/* Room in a task's scratch, each piece on a cache line of its own. */
static size_t reserve_scratch(inb__pipeline *p, size_t bytes) {
  size_t at = p->scratch_bytes;
  p->scratch_bytes += (bytes + 63) & ~(size_t)63;
  return at;
}

static int add_slot(inb__pipeline *p, const char *name, slot_kind kind, inb_array row) {
  slot *s = realloc(p->slots, (p->nslots + 1) * sizeof *s);
  if (!s) return inb__err(INB_ENOMEM, "out of memory");
  p->slots = s;
  s = &p->slots[p->nslots++];
  *s = (slot){.name = name, .kind = kind, .row = row, .seg = p->nsegs ? p->nsegs - 1 : 0};
  if (kind == IN_MEMORY) s->offset = reserve_scratch(p, row_bytes(&row));
  if (kind == TO_OUTPUT) snprintf(s->path, sizeof s->path, "/%s", name);
  return 0;
}

/* The newest slot of a name (a step's destination shadows an earlier row of that name); -1 when none. */
static long latest(const inb__pipeline *p, const char *name) {
  for (size_t k = p->nslots; k-- > 0;)
    if (p->slots[k].name && strcmp(p->slots[k].name, name) == 0) return (long)k;
  return -1;
}

/* Slot s, written by an earlier segment, is read by the current one: it is read back from the output (a row kept
 * in memory is written to a scratch dataset for it), under a component name of its own. */
static void read_back(inb__pipeline *p, size_t s) {
  slot *sl = &p->slots[s];
  if (sl->kind == FROM_INPUT || sl->seg == p->nsegs - 1 || sl->alias[0]) return; /* read where it is */
  if (sl->kind == IN_MEMORY) {
    sl->kind = TO_SCRATCH;
    snprintf(sl->path, sizeof sl->path, "/inbatch_scratch_%zu", s);
  }
  snprintf(sl->alias, sizeof sl->alias, "inbatch_row_%zu", s);
}

static const inb__job_dataset *output_named(const inb__job *j, const char *name) {
  for (size_t k = 0; k < j->ndatasets; k++)
    if (strcmp(j->datasets[k].name, name) == 0) return &j->datasets[k];
  return NULL;
}

static void shape_text(const inb_array *a, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "%s [", inb__dtype_name(a->dtype));
  for (int d = 0; d < a->ndim && used < cap; d++) used += (size_t)snprintf(buf + used, cap - used, "%s%lld", d ? ", " : "", (long long)a->shape[d]);
  if (used < cap) snprintf(buf + used, cap - used, "]");
}

static bool same_row(const inb_array *a, const inb_array *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  return true;
}

/* The declared row of an output dataset, where the job gives one (like: an input component's). */
static int declared_row(const inb__pipeline *p, const inb__job_dataset *ds, inb_array *row, bool *has) {
  *has = false;
  if (ds->like) {
    int rc = inb_h5_component(p->in, ds->like, row);
    if (rc) return inb__err(rc, "%s: 'like': %s", ds->where, inb_errmsg());
    *has = true;
  }
  if (ds->has_dtype) row->dtype = ds->dtype, *has = true;
  if (ds->has_shape) {
    row->ndim = ds->ndim;
    memcpy(row->shape, ds->shape, sizeof row->shape);
    *has = true;
  }
  return 0;
}

/* An output dataset's spec from its declaration and the row written into it; its compression checked now, so
 * that validate reports what the output's creation would refuse. */
static int output_spec(const inb__pipeline *p, const inb__job *j, const inb__job_dataset *ds, const inb_array *row,
                       inb_h5_output_spec *spec) {
  *spec = (inb_h5_output_spec){.name = ds->name, .dtype = row->dtype, .ndim = row->ndim,
                               .chunk_items = ds->chunk_items, .deflate = ds->deflate, .codec = ds->codec,
                               .level = ds->level, .shuffle = ds->shuffle, .blosc_compressor = ds->blosc_compressor};
  memcpy(spec->shape, row->shape, sizeof row->shape);
  if ((ds->deflate || ds->codec != INB_H5_NONE) && !ds->chunk_items) spec->chunk_items = 64;
  int64_t chunk = spec->chunk_items < inb_h5_length(p->in) ? spec->chunk_items : inb_h5_length(p->in);
  inb__h5codec resolved;
  int rc = inb__h5_codec_check(j->output, spec, chunk, inb__array_bytes(row), &resolved);
  spec->name = NULL; /* named "/name" when the output is made */
  return rc ? inb__err(rc, "%s: %s", ds->where, inb_errmsg()) : 0;
}

/* The action of a call: the step's; for a kernel step, its code built for the source's dtype (collective: every
 * rank plans the same calls in the same order). */
static int call_action(inb__pipeline *p, const inb__job *j, const inb__job_step *st, inb_dtype src, void *comm,
                       call *c) {
  c->action = st->action;
  c->args = st->args;
  const inb__job_kernel *k = st->kernel;
  if (!k) return 0;
  const char *names[INB__MAX_ARGS];
  for (size_t i = 0; i < st->args.n; i++) names[i] = k->args[i].name;
  inb__kernel_src ks = {.code = k->is_expr ? NULL : k->code, .expr = k->is_expr ? k->code : NULL,
                        .job_path = j->path, .line = k->line, .col = k->col, .src = src,
                        .dst = k->has_dtype ? k->dtype : src, .arg_names = names, .nargs = st->args.n};
  inb__kernel **slot = &p->kernels[p->nkernels]; /* room for every kernel call was made before any build */
  int rc = inb__kernel_build(&ks, comm, slot);
  if (rc == INB_EINVAL) return rc; /* the message names the job and the code's line */
  if (rc) return inb__err(rc, "%s: %s", st->where, inb_errmsg()); /* no compiler, no cache: where it was needed */
  p->nkernels++;
  c->action = inb__kernel_action(*slot);
  c->args.spec = c->action->args;
  c->args.ext = c->action->ext;
  return 0;
}

static int add_call(inb__pipeline *p, call *c) {
  c->dst = p->nslots - 1;
  call *v = realloc(p->calls, (p->ncalls + 1) * sizeof *v);
  if (!v) return inb__err(INB_ENOMEM, "out of memory");
  p->calls = v;
  p->calls[p->ncalls++] = *c;
  p->segs[p->nsegs - 1].end = p->ncalls;
  return 0;
}

/* A reduction's call: its partial is a row kept in memory that no step reads; its figure is named after the
 * action and the source (and the step, when that name is taken already). */
static int plan_reduction(inb__pipeline *p, size_t si, const inb__job_pair *pr, call *c, const inb_array *out) {
  if (out->dtype != INB_F64 || out->ndim != 1 || (size_t)out->shape[0] != c->action->partial)
    return inb__err(INB_EINVAL, "%s: reduction '%s' gives partials of another shape than it declares",
                    c->step->where, c->action->name);
  snprintf(c->figure, sizeof c->figure, "%s_%s", c->action->name, pr->src[0]);
  for (size_t k = 0; k < p->ncalls; k++)
    if (strcmp(p->calls[k].figure, c->figure) == 0) {
      snprintf(c->figure, sizeof c->figure, "%s_%s_step%zu", c->action->name, pr->src[0], si);
      break;
    }
  p->segs[p->nsegs - 1].nreduce++;
  int rc = add_slot(p, NULL, IN_MEMORY, *out);
  return rc ? rc : add_call(p, c);
}

/* One src/dst pair of a step: its sources found, its action ready, its destination's row computed and placed. */
static int plan_pair(inb__pipeline *p, const inb__job *j, const inb__job_step *st, size_t si, const inb__job_pair *pr,
                     void *comm, bool *written) {
  call c = {.step = st, .step_index = si, .nsrc = pr->nsrc};
  if (pr->nsrc != st->action->nsrc)
    return inb__err(INB_EINVAL, "%s: action '%s' reads %zu component%s a call; this src names %zu", st->where,
                    st->action->name, st->action->nsrc, st->action->nsrc == 1 ? "" : "s", pr->nsrc);
  for (size_t k = 0; k < pr->nsrc; k++) {
    long s = latest(p, pr->src[k]);
    if (s < 0)
      return inb__err(INB_EINVAL, "%s: src '%s' is neither a component of the input nor written by an earlier step",
                      st->where, pr->src[k]);
    c.src[k] = (size_t)s;
    read_back(p, c.src[k]);
  }
  int rc = call_action(p, j, st, p->slots[c.src[0]].row.dtype, comm, &c);
  if (rc) return rc;
  inb_array out = {0};
  rc = c.action->shape(&p->slots[c.src[0]].row, &c.args, &out);
  if (rc) return inb__err(rc, "%s: %s", st->where, inb_errmsg());
  if (c.action->partial) return plan_reduction(p, si, pr, &c, &out);
  if (st->p < 1 && (pr->nsrc != 1 || !same_row(&out, &p->slots[c.src[0]].row))) {
    char a[128], b[128];
    shape_text(&p->slots[c.src[0]].row, a, sizeof a);
    shape_text(&out, b, sizeof b);
    return inb__err(INB_EINVAL, "%s: with p below 1 the items the step skips pass through unchanged, so it must "
                                "write rows like the one it reads (%s); action '%s' writes %s", st->where, a,
                    st->action->name, b);
  }
  const inb__job_dataset *ds = output_named(j, pr->dst);
  if (ds) {
    size_t k = (size_t)(ds - j->datasets);
    if (written[k])
      return inb__err(INB_EINVAL, "%s: output dataset '%s' is written by an earlier step already: each is written "
                                  "once", st->where, pr->dst);
    inb_array want = out;
    bool has = false;
    if ((rc = declared_row(p, ds, &want, &has))) return rc;
    char a[128], b[128];
    shape_text(&out, a, sizeof a);
    shape_text(&want, b, sizeof b);
    if (has && !same_row(&want, &out))
      return inb__err(INB_EINVAL, "%s: step %zu (%s) writes rows of %s into dataset '%s', declared %s (a cast step, "
                                  "or the declaration, must change)", ds->where, si, st->action->name, a, pr->dst, b);
    written[k] = true;
    if ((rc = output_spec(p, j, ds, &out, &p->specs[k]))) return rc;
  }
  if ((rc = add_slot(p, pr->dst, ds ? TO_OUTPUT : IN_MEMORY, out))) return rc;
  return add_call(p, &c);
}

static bool same_options(const inb__job_step *a, const inb__job_step *b) {
  return a->target == b->target && a->local == b->local && a->n_workers == b->n_workers &&
         a->schedule == b->schedule && a->chunk == b->chunk && a->retries == b->retries &&
         a->max_failures == b->max_failures;
}

/* Whether step s starts a segment: the first, one with other parallel options, or one after a reduction. */
static bool starts_segment(const inb__job *j, size_t s) {
  return s == 0 || !same_options(&j->steps[s], &j->steps[s - 1]) || j->steps[s - 1].action->partial;
}

/* The scratch datasets (rows kept in memory that a later segment reads), as specs after the job's datasets, and
 * where each segment gathers its items' partials. Once every slot is planned (their paths no longer move). */
static int plan_scratch(inb__pipeline *p, const inb__job *j) {
  p->nspecs = j->ndatasets;
  for (size_t s = 0; s < p->nslots; s++) {
    const slot *sl = &p->slots[s];
    if (sl->kind != TO_SCRATCH) continue;
    inb_h5_output_spec *v = realloc(p->specs, (p->nspecs + 1) * sizeof *v);
    if (!v) return inb__err(INB_ENOMEM, "out of memory");
    p->specs = v;
    v[p->nspecs] = (inb_h5_output_spec){.name = sl->path, .dtype = sl->row.dtype, .ndim = sl->row.ndim,
                                        .scratch = true};
    memcpy(v[p->nspecs++].shape, sl->row.shape, sizeof sl->row.shape);
  }
  for (size_t g = 0; g < p->nsegs; g++) {
    segment *sg = &p->segs[g];
    for (size_t c = sg->first; c < sg->end; c++) sg->npartial += p->calls[c].action->partial;
    if (sg->npartial) sg->partials = reserve_scratch(p, sg->npartial * sizeof(double));
  }
  return 0;
}

static int plan_steps(inb__pipeline *p, const inb__job *j, void *comm) {
  size_t nkernels = 0;
  for (size_t s = 0; s < j->nsteps; s++) nkernels += j->steps[s].kernel ? j->steps[s].npairs : 0;
  bool *written = calloc(j->ndatasets + 1, sizeof *written);
  p->specs = calloc(j->ndatasets + 1, sizeof *p->specs);
  p->kernels = calloc(nkernels + 1, sizeof *p->kernels);
  p->segs = calloc(j->nsteps, sizeof *p->segs);
  if (!written || !p->specs || !p->kernels || !p->segs) {
    free(written);
    return inb__err(INB_ENOMEM, "out of memory");
  }
  int rc = 0;
  for (size_t s = 0; !rc && s < j->nsteps; s++) {
    const inb__job_step *st = &j->steps[s];
    if (starts_segment(j, s)) p->segs[p->nsegs++] = (segment){.first = p->ncalls, .end = p->ncalls, .opts = st};
    for (size_t k = 0; !rc && k < st->npairs; k++) rc = plan_pair(p, j, st, s, &st->pairs[k], comm, written);
  }
  for (size_t k = 0; !rc && k < j->ndatasets; k++) {
    p->specs[k].name = j->datasets[k].name; /* made "/name" below */
    if (!written[k])
      rc = inb__err(INB_EINVAL, "%s: output dataset '%s' is written by no step (give a step dst: %s)",
                    j->datasets[k].where, j->datasets[k].name, j->datasets[k].name);
  }
  free(written);
  return rc ? rc : plan_scratch(p, j);
}

int inb__pipeline_plan(const inb__job *j, void *comm, inb__pipeline **out) {
  *out = NULL;
  inb__pipeline *p = calloc(1, sizeof *p);
  if (!p) return inb__err(INB_ENOMEM, "out of memory");
  p->job = j;
  p->comm = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD;
  int rc = inb_h5_open(j->input, (const char *const *)j->components, j->ncomponents, comm, &p->in);
  if (rc) {
    free(p);
    return inb__err(rc, "%s: %s", j->where_input, inb_errmsg());
  }
  for (size_t k = 0; !rc && k < j->ncomponents; k++) {
    const char *name = j->components[k][0] == '/' ? j->components[k] + 1 : j->components[k];
    inb_array row;
    rc = inb_h5_component(p->in, name, &row);
    if (!rc) rc = add_slot(p, name, FROM_INPUT, row);
  }
  if (!rc && inb_h5_length(p->in) == 0)
    rc = inb__err(INB_EINVAL, "%s: input '%s' has no items (its components are empty)", j->where_input, j->input);
  if (!rc) rc = plan_steps(p, j, comm);
  if (rc) {
    inb__pipeline_free(&p);
    return rc;
  }
  *out = p;
  return 0;
}

int64_t inb__pipeline_items(const inb__pipeline *p) { return inb_h5_length(p->in); }

void inb__pipeline_describe(const inb__pipeline *p, const inb__job *j, char *buf, size_t cap) {
  size_t used = (size_t)snprintf(buf, cap, "input %s: %lld items\n", j->input, (long long)inb_h5_length(p->in));
  for (size_t g = 0; g < p->nsegs && used < cap; g++) {
    if (p->nsegs > 1)
      used += (size_t)snprintf(buf + used, cap - used, " pass %zu of %zu%s:\n", g + 1, p->nsegs,
                               g ? " (after every item of the previous one)" : "");
    for (size_t c = p->segs[g].first; c < p->segs[g].end && used < cap; c++) {
      const call *k = &p->calls[c];
      const slot *d = &p->slots[k->dst];
      char row[128];
      shape_text(&d->row, row, sizeof row);
      if (k->action->partial)
        used += (size_t)snprintf(buf + used, cap - used, "  %s: %s -> attribute %s (over every item)\n",
                                 k->action->name, p->slots[k->src[0]].name, k->figure);
      else
        used += (size_t)snprintf(buf + used, cap - used, "  %s: %s -> %s (%s, %s)\n", k->action->name,
                                 p->slots[k->src[0]].name, d->name, row,
                                 d->kind == TO_OUTPUT ? "written" : d->kind == TO_SCRATCH ? "kept on disk for a "
                                 "later pass" : "kept");
    }
  }
  if (used < cap) snprintf(buf + used, cap - used, "output %s: %zu dataset%s\n", j->output, j->ndatasets,
                           j->ndatasets == 1 ? "" : "s");
}

/* ---- running ----------------------------------------------------------------------------------------------- */

/* A task's rows kept in memory: one buffer per thread, reused by every item that thread runs, freed when the
 * thread ends (the library's threads come and go: rank 0's compute thread lives for one call) or, for the
 * calling thread, when the run ends. */
typedef struct {
  size_t cap;
  unsigned char rows[]; /* 8-aligned after cap: enough for every dtype */
} scratch_block;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void make_scratch_key(void) { pthread_key_create(&scratch_key, free); }

static void *scratch(size_t n) {
  pthread_once(&scratch_once, make_scratch_key);
  scratch_block *b = pthread_getspecific(scratch_key);
  if (b && b->cap >= n) return b->rows;
  scratch_block *q = realloc(b, sizeof *q + n);
  if (!q) return NULL;
  q->cap = n;
  pthread_setspecific(scratch_key, q);
  return q->rows;
}

static void free_own_scratch(void) {
  pthread_once(&scratch_once, make_scratch_key);
  free(pthread_getspecific(scratch_key));
  pthread_setspecific(scratch_key, NULL);
}

/* What a task of segment `seg` works with: the plan, and which segment it runs. */
typedef struct {
  const inb__pipeline *p;
  size_t seg;
} pass;

/* The row of slot s for this task: the input's (or one an earlier segment wrote, read back) among its arguments,
 * an output's or scratch dataset's row to write, or one kept in memory. */
static int view(const pass *ps, size_t s, inb_item *it, const inb_args *args, uint8_t *mem, inb_array *out) {
  const slot *sl = &ps->p->slots[s];
  bool earlier = sl->alias[0] && sl->seg < ps->seg;
  if (sl->kind == IN_MEMORY) {
    *out = sl->row;
    out->data = mem + sl->offset;
    return 0;
  }
  if (sl->kind != FROM_INPUT && !earlier) {
    inb_array *a = inb_item_output(it, sl->path);
    if (!a) return inb_fail(it, INB_ENOMEM, "no row of output '%s'", sl->path);
    *out = *a;
    return 0;
  }
  const char *name = earlier ? sl->alias : sl->name;
  const inb_value *v = inb_args_get(args, name);
  if (!v || v->kind != INB_ARRAY) return inb_fail(it, INB_EINVAL, "no row of component '%s'", name);
  *out = v->u.a;
  return 0;
}

/* A failed call of a pipeline of several steps: its message says which step ("step 1 (gamma): ..."). */
static int failed_in(inb_item *it, int rc, const call *k) {
  char was[INB__ERRMSG_MAX];
  snprintf(was, sizeof was, "%s", it->has_msg ? it->msg : inb_strerror(rc)); /* inb_fail writes over it->msg */
  return inb_fail(it, rc, "step %zu (%s): %s", k->step_index, k->action->name, was);
}

/* The item's partials of the segment's reductions, gathered as its result (a float64 array) for rank 0. */
static void gather_partials(const inb__pipeline *p, const segment *sg, uint8_t *mem, inb_value *result) {
  double *at = (double *)(mem + sg->partials);
  for (size_t c = sg->first; c < sg->end; c++) {
    const call *k = &p->calls[c];
    if (!k->action->partial) continue;
    memcpy(at, mem + p->slots[k->dst].offset, k->action->partial * sizeof *at);
    at += k->action->partial;
  }
  *result = inb_arr((inb_array){.dtype = INB_F64, .ndim = 1, .shape = {(int64_t)sg->npartial},
                                .data = mem + sg->partials});
}

/* The segment's calls on one item, in order. The item's result is the last call's (its partials, when the
 * segment ends with reductions). */
static int run_item(inb_item *it, const inb_args *args, inb_value *result) {
  const pass *ps = inb_item_data(it);
  const inb__pipeline *p = ps->p;
  const segment *sg = &p->segs[ps->seg];
  uint8_t *mem = p->scratch_bytes ? scratch(p->scratch_bytes) : NULL;
  if (p->scratch_bytes && !mem) return inb_fail(it, INB_ENOMEM, "out of memory for the rows kept between steps");
  for (size_t c = sg->first; c < sg->end; c++) {
    const call *k = &p->calls[c];
    inb_array src[INB__MAX_SRC], dst;
    int rc = 0;
    for (size_t s = 0; !rc && s < k->nsrc; s++) rc = view(ps, k->src[s], it, args, mem, &src[s]);
    if (!rc) rc = view(ps, k->dst, it, args, mem, &dst);
    if (rc) return rc;
    int64_t index = inb_item_index(it);
    if (k->step->p < 1 && !inb__rng_selected(p->job->seed, k->step_index, index, k->step->p)) {
      if (dst.data != src[0].data) memcpy(dst.data, src[0].data, inb__array_bytes(&src[0])); /* passes through */
      continue;
    }
    inb__rng stream = inb__rng_stream(p->job->seed, k->step_index, index);
    inb__rows rows = {.src = src, .nsrc = k->nsrc, .dst = &dst, .ndst = 1, .rng = k->step->rng ? &stream : NULL};
    *result = inb_none();
    rc = k->action->run(&rows, &k->args, it, result);
    if (rc) return p->job->nsteps > 1 ? failed_in(it, rc, k) : rc;
  }
  if (sg->npartial) gather_partials(p, sg, mem, result);
  return 0;
}

int inb__provenance_annotate(inb_h5_output *out, const inb__provenance *prov) {
  struct {
    const char *name, *value;
  } attrs[] = {{"inbatch_job", prov->job_text},  {"inbatch_job_path", prov->job_path},
               {"inbatch_set", prov->sets},      {"inbatch_version", prov->version},
               {"inbatch_hosts", prov->hosts},   {"inbatch_started", prov->started}};
  int rc = 0; /* every rank annotates every attribute (rank 0's value is written): the calls pair up */
  for (size_t k = 0; !rc && k < sizeof attrs / sizeof attrs[0]; k++)
    rc = inb_h5_annotate(out, attrs[k].name, attrs[k].value ? attrs[k].value : "");
  char ranks[32];
  snprintf(ranks, sizeof ranks, "%d", prov->ranks);
  return rc ? rc : inb_h5_annotate(out, "inbatch_ranks", ranks);
}

int inb__provenance_annotate_end(inb_h5_output *out) {
  char when[64];
  time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  return inb_h5_annotate(out, "inbatch_ended", when);
}

/* The async form of a task (target async): an action computes, so the task is done when it returns, on the
 * event loop's thread. */
static int start_item(inb_item *it, const inb_args *args) {
  inb_value result = inb_none();
  inb_done(it, run_item(it, args, &result), result);
  return 0;
}

/* ---- segments, one pass over the items each ------------------------------------------------------------- */

/* Items run by a later segment's pass are given in windows of at most this many (or a batch), so that a plan
 * that skips the items an earlier segment failed never holds an index per item of a huge input. */
enum { WINDOW_ITEMS = 1 << 20 };

/* What rank 0 learns from a segment's results: the items that failed (later segments skip them: every rank gets
 * rank 0's map after each segment), the first failure, and the reductions' totals. */
typedef struct {
  pass ps;
  uint64_t *failed;             /* a bit per item; NULL with one segment */
  size_t nfailed;               /* rank 0: over every segment */
  bool has_first;
  int64_t first_index;
  char first_message[INB__ERRMSG_MAX];
  double *totals;               /* rank 0: the current segment's reductions' totals */
  bool stoppable;               /* a signal stops the run at a batch's end (a resumable pipeline) */
} run_state;

static bool bit(const uint64_t *b, int64_t i) { return (b[i >> 6] >> (i & 63)) & 1; }

/* Rank 0, per batch of a segment's pass: its failures noted, its partials merged in item order. */
static int segment_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out;
  run_state *rs = data; /* ps is its first member: the action's data */
  const inb__pipeline *p = rs->ps.p;
  const segment *sg = &p->segs[rs->ps.seg];
  if (rs->stoppable && inb__signals_received()) /* rank 0's verdict reaches every rank: the batch is not recorded */
    return inb_set_error(INB_ECANCELED, "stopped by signal %d (the batch from item %lld on was not recorded: it "
                         "runs again)", inb__signals_received(), (long long)inb_batch_index(b, 0));
  for (size_t i = 0, n = inb_results_count(r); i < n; i++) {
    int64_t index = inb_batch_index(b, i);
    const inb_error *e = inb_result_error(r, i);
    if (e) {
      if (rs->failed) rs->failed[index >> 6] |= (uint64_t)1 << (index & 63);
      rs->nfailed++;
      if (!rs->has_first || index < rs->first_index) {
        rs->has_first = true;
        rs->first_index = index;
        snprintf(rs->first_message, sizeof rs->first_message, "%s", e->message);
      }
      continue;
    }
    const inb_value *v = inb_result_value(r, i);
    if (!sg->npartial || !v || v->kind != INB_ARRAY || inb_array_count(&v->u.a) != sg->npartial) continue;
    const double *part = v->u.a.data;
    double *total = rs->totals;
    for (size_t c = sg->first; c < sg->end; c++) {
      const inb__action_spec *a = p->calls[c].action;
      if (!a->partial) continue;
      a->merge(total, part);
      total += a->partial, part += a->partial;
    }
  }
  return 0;
}

/* The components a segment reads back (what earlier segments wrote), for its view of the output. */
static size_t read_backs(const inb__pipeline *p, size_t g, const char **names, const char **as) {
  size_t n = 0;
  for (size_t s = 0; s < p->nslots; s++) {
    const slot *sl = &p->slots[s];
    if (!sl->alias[0] || sl->seg >= g) continue;
    names[n] = sl->path, as[n] = sl->alias;
    n++;
  }
  return n;
}

/* The output and scratch datasets a segment writes. */
static size_t written_by(const inb__pipeline *p, size_t g, const char **names) {
  size_t n = 0;
  for (size_t s = 0; s < p->nslots; s++)
    if (p->slots[s].seg == g && (p->slots[s].kind == TO_OUTPUT || p->slots[s].kind == TO_SCRATCH))
      names[n++] = p->slots[s].path;
  return n;
}

/* A pass over the items no earlier segment failed (all of them, while none has): window by window when some
 * have. Returns 0, INB_EITEM, or the first other failure. */
static int run_pass(inb_h5_input *in, inb_h5_plan *plan, const inb_action *act, const inb_opts *o,
                    inb_h5_output *out, const run_state *rs) {
  int64_t n = inb_h5_length(in);
  bool any = false;
  for (int64_t w = 0; rs->failed && !any && w < (n + 63) / 64; w++) any = rs->failed[w] != 0;
  if (!any) return inb_h5_run(in, plan, act, NULL, o, out);
  int64_t window = plan->batch_size > WINDOW_ITEMS ? plan->batch_size : WINDOW_ITEMS;
  int64_t *index = malloc((size_t)window * sizeof *index);
  int rc = index ? 0 : inb__err(INB_ENOMEM, "out of memory"), verdict = 0;
  rc = inb__mpi_agree(rc, rs->ps.p->comm);
  for (int64_t w = 0; !rc && w < n; w += window) {
    size_t m = 0;
    for (int64_t i = w; i < n && i < w + window; i++)
      if (!bit(rs->failed, i)) index[m++] = i;
    if (!m) continue; /* the same on every rank: the map is */
    plan->index = index, plan->nindex = m;
    rc = inb_h5_run(in, plan, act, NULL, o, out);
    if (rc == INB_EITEM) verdict = rc, rc = 0;
  }
  plan->index = NULL, plan->nindex = 0;
  free(index);
  return rc ? rc : verdict;
}

/* Rank 0's totals written as the output's attributes (JSON), and printed. Collective. */
static int record_figures(const inb__pipeline *p, size_t g, const run_state *rs, inb_h5_output *out) {
  const segment *sg = &p->segs[g];
  const double *total = rs->totals;
  int rc = 0, rank = 0;
  MPI_Comm_rank(p->comm, &rank);
  for (size_t c = sg->first; !rc && c < sg->end; c++) {
    const call *k = &p->calls[c];
    if (!k->action->partial) continue;
    char text[1024] = "";
    if (rank == 0) {
      k->action->describe(total, text, sizeof text);
      printf("%s: %s\n", k->figure, text);
      fflush(stdout);
    }
    total += k->action->partial;
    rc = inb_h5_annotate(out, k->figure, text);
  }
  return rc;
}

/* Segment g's pass: its view of what earlier segments wrote, its action, its reductions recorded. Collective. */
static int run_segment(inb__pipeline *p, const inb__job *j, size_t g, inb_h5_output *out, run_state *rs) {
  const segment *sg = &p->segs[g];
  const char **names = calloc(2 * p->nslots + 1, sizeof *names), **as = names ? names + p->nslots : NULL;
  double *totals = calloc(sg->npartial + 1, sizeof *totals);
  int rc = inb__mpi_agree(names && totals ? 0 : inb__err(INB_ENOMEM, "out of memory"), p->comm);
  inb_h5_input *view = NULL;
  size_t nback = rc ? 0 : read_backs(p, g, names, as);
  if (!rc && nback) rc = inb_h5_view(p->in, out, names, as, nback, &view);
  if (!rc) {
    const char **wrote = names + nback; /* after the read-backs: room for every slot */
    size_t nwrote = written_by(p, g, wrote);
    char name[160] = ""; /* what the run's messages call it: "normalize > gamma > threshold" */
    for (size_t c = sg->first, used = 0; c < sg->end && used < sizeof name; c++)
      if (c == sg->first || p->calls[c].step != p->calls[c - 1].step)
        used += (size_t)snprintf(name + used, sizeof name - used, "%s%s", c > sg->first ? " > " : "",
                                 p->calls[c].action->name);
    rs->ps = (pass){.p = p, .seg = g};
    rs->totals = totals;
    bool async = sg->opts->target == INB_ASYNC;
    inb_action act = {.name = name, .fn = async ? NULL : run_item, .start = async ? start_item : NULL,
                      .init = "items", .post = segment_post, .target = sg->opts->target, .local = sg->opts->local,
                      .data = rs};
    inb_opts o = {.n_workers = async ? 0 : inb__job_workers(sg->opts), .schedule = sg->opts->schedule,
                  .chunk = (size_t)sg->opts->chunk, .retries = sg->opts->retries,
                  .max_failures = sg->opts->max_failures};
    inb_h5_plan plan = {.batch_size = j->batch_size, .outputs = wrote, .noutputs = nwrote};
    rc = run_pass(view ? view : p->in, &plan, &act, &o, out, rs);
  }
  inb_h5_close(&view);
  if ((!rc || rc == INB_EITEM) && sg->npartial) {
    int frc = record_figures(p, g, rs, out);
    if (frc) rc = frc;
  }
  rs->totals = NULL;
  free(totals);
  free(names);
  return rc;
}

/* Every rank gets rank 0's map of failed items, for the next segment's plan. */
static int share_failed(const inb__pipeline *p, run_state *rs) {
  int size = 1;
  MPI_Comm_size(p->comm, &size);
  int64_t words = (inb_h5_length(p->in) + 63) / 64;
  if (size == 1 || !rs->failed) return 0;
  for (int64_t w = 0; w < words; w += INT32_MAX / 8) {
    int count = (int)(words - w < INT32_MAX / 8 ? words - w : INT32_MAX / 8);
    if (MPI_Bcast(rs->failed + w, count, MPI_UINT64_T, 0, p->comm) != MPI_SUCCESS)
      return inb__err(INB_EMPI, "sharing the failed items between segments: MPI_Bcast failed");
  }
  return 0;
}

/* The segments one after another. With several, items that fail in one are skipped by the later ones, and the
 * verdict counts every failed item once. `finished`: the items an earlier run finished (a resumed run), skipped
 * like failed ones; NULL for none. */
static int run_segments(inb__pipeline *p, const inb__job *j, inb_h5_output *out, const uint64_t *finished) {
  run_state rs = {.stoppable = inb__pipeline_resumable(p)};
  int64_t n = inb_h5_length(p->in);
  size_t words = (size_t)(n + 63) / 64;
  bool map = p->nsegs > 1 || finished;
  if (map && !(rs.failed = calloc(words + 1, sizeof *rs.failed)))
    return inb__mpi_agree(inb__err(INB_ENOMEM, "out of memory for the map of failed items"), p->comm);
  if (map && inb__mpi_agree(0, p->comm)) {
    free(rs.failed);
    return INB_ENOMEM;
  }
  if (finished) memcpy(rs.failed, finished, words * sizeof *rs.failed);
  int rc = 0, verdict = 0;
  for (size_t g = 0; !rc && g < p->nsegs; g++) {
    rc = run_segment(p, j, g, out, &rs);
    if (rc == INB_EITEM) verdict = rc, rc = 0;
    if (!rc && g + 1 < p->nsegs) rc = share_failed(p, &rs);
  }
  free(rs.failed);
  if (rc || !verdict || p->nsegs == 1) return rc ? rc : verdict; /* one segment: inb_h5_run's own words */
  char steps[160] = "";
  for (size_t k = 0, used = 0; k < j->nsteps && used < sizeof steps; k++)
    used += (size_t)snprintf(steps + used, sizeof steps - used, "%s%s", k ? " > " : "", j->steps[k].action->name);
  return inb__err(INB_EITEM, "pipeline '%s': %zu of %lld items failed (listed in the output's /inbatch_errors); "
                             "first: item %lld: %s", steps, rs.nfailed, (long long)n, (long long)rs.first_index,
                  rs.first_message);
}

bool inb__pipeline_resumable(const inb__pipeline *p) {
  return p->nsegs == 1 && !p->segs[0].npartial && inb__resumable_specs(p->specs, p->nspecs);
}

/* Rank 0: the failure records of a committed output (those of earlier runs included); every rank gets the count. */
static int64_t failures_in(const inb__pipeline *p, const char *path) {
  int rank = 0, size = 1;
  MPI_Comm_rank(p->comm, &rank);
  MPI_Comm_size(p->comm, &size);
  int64_t n = 0;
  if (rank == 0) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, "/inbatch_errors", H5P_DEFAULT);
    hid_t space = d < 0 ? -1 : H5Dget_space(d);
    n = space < 0 ? 0 : (int64_t)H5Sget_simple_extent_npoints(space);
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
  }
  if (size > 1) MPI_Bcast(&n, 1, MPI_INT64_T, 0, p->comm);
  return n;
}

/* The output: new, or (resumable) the partial of an earlier run reopened. */
static int start_output(inb__pipeline *p, const inb__job *j, const inb__pipeline_mode *mode, inb__started *st) {
  *st = (inb__started){0};
  if (inb__pipeline_resumable(p))
    return inb__output_start(j, p->specs, p->nspecs, inb_h5_length(p->in), mode->overwrite, mode->restart, p->comm,
                             st);
  int rc = inb_h5_create(j->output, p->specs, p->nspecs, inb_h5_length(p->in), mode->overwrite, NULL, &st->out);
  return rc ? inb__err(rc, "%s: %s", j->where_output, inb_errmsg()) : 0;
}

/* A run that did not finish: a resumable pipeline keeps its partial for the next run (and says so), another's
 * partial goes. */
static int end_unfinished(inb__pipeline *p, inb__started *st, int rc) {
  if (!inb__pipeline_resumable(p)) {
    inb_h5_abort(&st->out);
    return rc;
  }
  char why[INB__ERRMSG_MAX];
  snprintf(why, sizeof why, "%s", inb_errmsg());
  int krc = inb_h5_keep(&st->out);
  return inb__err(rc, "%s; the partial output is kept%s: run the same command again to resume (--restart to start "
                  "over)", why, krc ? " (its last rows may be lost)" : "");
}

/* A finished run: the end time recorded, then the commit; the verdict on the items (this run's, or earlier runs'
 * failures too when it resumed) outlives it. */
static int end_finished(inb__pipeline *p, const inb__job *j, inb__started *st, int rc) {
  char keep[INB__ERRMSG_MAX];
  snprintf(keep, sizeof keep, "%s", inb_errmsg());
  int crc = inb__provenance_annotate_end(st->out);
  if (crc) return end_unfinished(p, st, crc);
  crc = inb_h5_commit(&st->out);
  if (crc) return crc;
  if (rc) return inb__err_set(rc, keep);
  int64_t failed = st->resumed ? failures_in(p, j->output) : 0;
  if (failed)
    return inb__err(INB_EITEM, "%lld of %lld items failed, in this run or an earlier one (listed in the output's "
                    "/inbatch_errors)", (long long)failed, (long long)inb_h5_length(p->in));
  return 0;
}

int inb__pipeline_run(inb__pipeline *p, const inb__job *j, const inb__pipeline_mode *mode,
                      const inb__provenance *prov) {
  char (*names)[260] = calloc(j->ndatasets + 1, sizeof *names);
  if (!names) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; k < j->ndatasets; k++) {
    snprintf(names[k], sizeof names[k], "/%s", j->datasets[k].name);
    p->specs[k].name = names[k];
  }
  inb__started st;
  int rc = start_output(p, j, mode, &st);
  if (!rc) rc = inb__provenance_annotate(st.out, prov);
  if (!rc) rc = run_segments(p, j, st.out, st.finished);
  if (st.out && (rc == 0 || rc == INB_EITEM)) rc = end_finished(p, j, &st, rc);
  else if (st.out) rc = end_unfinished(p, &st, rc);
  inb__output_end(&st);
  for (size_t k = 0; k < j->ndatasets; k++) p->specs[k].name = NULL;
  free(names);
  free_own_scratch();
  return rc;
}

void inb__pipeline_free(inb__pipeline **pp) {
  if (!pp || !*pp) return;
  inb__pipeline *p = *pp;
  inb_h5_close(&p->in);
  free(p->slots);
  free(p->calls);
  free(p->segs);
  free(p->specs);
  for (size_t k = 0; k < p->nkernels; k++) inb__kernel_free(&p->kernels[k]);
  free(p->kernels);
  free(p);
  *pp = NULL;
}
