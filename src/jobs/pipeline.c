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

/* Where an item's row of a component lives while the pipeline runs on it. */
typedef enum { FROM_INPUT, TO_OUTPUT, IN_MEMORY } slot_kind;

typedef struct {
  const char *name;   /* the job's (no leading '/') */
  slot_kind kind;
  inb_array row;      /* dtype, ndim, shape of one item's row (data NULL) */
  size_t offset;      /* IN_MEMORY: where in a task's scratch */
  char path[256];     /* TO_OUTPUT: "/name", as inb_item_output wants it */
} slot;

typedef struct {
  const inb__job_step *step;
  const inb__action_spec *action;      /* the step's, or the kernel built for this call's source dtype */
  inb__argvals args;                   /* the step's, bound to that action */
  size_t step_index;                   /* keys the step's random draws */
  size_t src[INB__MAX_SRC], nsrc, dst; /* slots */
} call;

struct inb__pipeline {
  inb_h5_input *in;
  slot *slots;
  size_t nslots;
  call *calls;
  size_t ncalls;
  size_t scratch_bytes;         /* the rows one task keeps in memory */
  inb_h5_output_spec *specs;    /* one per output dataset of the job */
  inb__kernel **kernels;        /* built for the kernel steps' calls (one per call: the source dtypes may differ) */
  size_t nkernels;
  const inb__job *job;
};

static size_t row_bytes(const inb_array *row) { return inb__array_bytes(row); }

static int add_slot(inb__pipeline *p, const char *name, slot_kind kind, inb_array row) {
  slot *s = realloc(p->slots, (p->nslots + 1) * sizeof *s);
  if (!s) return inb__err(INB_ENOMEM, "out of memory");
  p->slots = s;
  s = &p->slots[p->nslots++];
  *s = (slot){.name = name, .kind = kind, .row = row};
  if (kind == IN_MEMORY) {
    s->offset = p->scratch_bytes;
    p->scratch_bytes += (row_bytes(&row) + 63) & ~(size_t)63; /* each row on a cache line of its own */
  }
  if (kind == TO_OUTPUT) snprintf(s->path, sizeof s->path, "/%s", name);
  return 0;
}

/* The newest slot of a name (a step's destination shadows an earlier row of that name); -1 when none. */
static long latest(const inb__pipeline *p, const char *name) {
  for (size_t k = p->nslots; k-- > 0;)
    if (strcmp(p->slots[k].name, name) == 0) return (long)k;
  return -1;
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
  }
  int rc = call_action(p, j, st, p->slots[c.src[0]].row.dtype, comm, &c);
  if (rc) return rc;
  inb_array out = {0};
  rc = c.action->shape(&p->slots[c.src[0]].row, &c.args, &out);
  if (rc) return inb__err(rc, "%s: %s", st->where, inb_errmsg());
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
  c.dst = p->nslots - 1;
  call *v = realloc(p->calls, (p->ncalls + 1) * sizeof *v);
  if (!v) return inb__err(INB_ENOMEM, "out of memory");
  p->calls = v;
  p->calls[p->ncalls++] = c;
  return 0;
}

static bool same_options(const inb__job_step *a, const inb__job_step *b) {
  return a->target == b->target && a->local == b->local && a->n_workers == b->n_workers &&
         a->schedule == b->schedule && a->chunk == b->chunk && a->retries == b->retries &&
         a->max_failures == b->max_failures;
}

static int plan_steps(inb__pipeline *p, const inb__job *j, void *comm) {
  size_t nkernels = 0;
  for (size_t s = 0; s < j->nsteps; s++) nkernels += j->steps[s].kernel ? j->steps[s].npairs : 0;
  bool *written = calloc(j->ndatasets + 1, sizeof *written);
  p->specs = calloc(j->ndatasets + 1, sizeof *p->specs);
  p->kernels = calloc(nkernels + 1, sizeof *p->kernels);
  if (!written || !p->specs || !p->kernels) {
    free(written);
    return inb__err(INB_ENOMEM, "out of memory");
  }
  int rc = 0;
  for (size_t s = 0; !rc && s < j->nsteps; s++) {
    const inb__job_step *st = &j->steps[s];
    if (s && !same_options(st, &j->steps[0]))
      rc = inb__err(INB_EINVAL, "%s: its parallel options (target, local, n_workers, schedule, chunk, retries, "
                                "max_failures) differ from step 0's: steps run together, item by item, so they "
                                "share them", st->where);
    for (size_t k = 0; !rc && k < st->npairs; k++) rc = plan_pair(p, j, st, s, &st->pairs[k], comm, written);
  }
  for (size_t k = 0; !rc && k < j->ndatasets; k++) {
    p->specs[k].name = j->datasets[k].name; /* made "/name" below */
    if (!written[k])
      rc = inb__err(INB_EINVAL, "%s: output dataset '%s' is written by no step (give a step dst: %s)",
                    j->datasets[k].where, j->datasets[k].name, j->datasets[k].name);
  }
  free(written);
  return rc;
}

int inb__pipeline_plan(const inb__job *j, void *comm, inb__pipeline **out) {
  *out = NULL;
  inb__pipeline *p = calloc(1, sizeof *p);
  if (!p) return inb__err(INB_ENOMEM, "out of memory");
  p->job = j;
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
  for (size_t c = 0; c < p->ncalls && used < cap; c++) {
    const call *k = &p->calls[c];
    const slot *d = &p->slots[k->dst];
    char row[128];
    shape_text(&d->row, row, sizeof row);
    used += (size_t)snprintf(buf + used, cap - used, "  %s: %s -> %s (%s, %s)\n", k->action->name,
                             p->slots[k->src[0]].name, d->name, row, d->kind == TO_OUTPUT ? "written" : "kept");
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

/* The row of slot s for this task. */
static int view(const inb__pipeline *p, size_t s, inb_item *it, const inb_args *args, uint8_t *mem, inb_array *out) {
  const slot *sl = &p->slots[s];
  if (sl->kind == IN_MEMORY) {
    *out = sl->row;
    out->data = mem + sl->offset;
    return 0;
  }
  if (sl->kind == TO_OUTPUT) {
    inb_array *a = inb_item_output(it, sl->path);
    if (!a) return inb_fail(it, INB_ENOMEM, "no row of output '%s'", sl->path);
    *out = *a;
    return 0;
  }
  const inb_value *v = inb_args_get(args, sl->name);
  if (!v || v->kind != INB_ARRAY) return inb_fail(it, INB_EINVAL, "no row of input component '%s'", sl->name);
  *out = v->u.a;
  return 0;
}

/* A failed call of a pipeline of several steps: its message says which step ("step 1 (gamma): ..."). */
static int failed_in(inb_item *it, int rc, const call *k) {
  char was[INB__ERRMSG_MAX];
  snprintf(was, sizeof was, "%s", it->has_msg ? it->msg : inb_strerror(rc)); /* inb_fail writes over it->msg */
  return inb_fail(it, rc, "step %zu (%s): %s", k->step_index, k->action->name, was);
}

/* The pipeline on one item: every call in order. The item's result is the last call's. */
static int run_item(inb_item *it, const inb_args *args, inb_value *result) {
  const inb__pipeline *p = inb_item_data(it);
  uint8_t *mem = p->scratch_bytes ? scratch(p->scratch_bytes) : NULL;
  if (p->scratch_bytes && !mem) return inb_fail(it, INB_ENOMEM, "out of memory for the rows kept between steps");
  for (size_t c = 0; c < p->ncalls; c++) {
    const call *k = &p->calls[c];
    inb_array src[INB__MAX_SRC], dst;
    int rc = 0;
    for (size_t s = 0; !rc && s < k->nsrc; s++) rc = view(p, k->src[s], it, args, mem, &src[s]);
    if (!rc) rc = view(p, k->dst, it, args, mem, &dst);
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

int inb__pipeline_run(inb__pipeline *p, const inb__job *j, bool overwrite, const inb__provenance *prov) {
  char (*names)[260] = calloc(j->ndatasets + 1, sizeof *names);
  if (!names) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; k < j->ndatasets; k++) {
    snprintf(names[k], sizeof names[k], "/%s", j->datasets[k].name);
    p->specs[k].name = names[k];
  }
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(j->output, p->specs, j->ndatasets, inb_h5_length(p->in), overwrite, NULL, &out);
  if (rc) rc = inb__err(rc, "%s: %s", j->where_output, inb_errmsg());
  if (!rc) rc = inb__provenance_annotate(out, prov);
  if (!rc) {
    const inb__job_step *s0 = &j->steps[0];
    char name[160] = ""; /* what the run's messages call it: "normalize > gamma > threshold" */
    for (size_t k = 0, used = 0; k < j->nsteps && used < sizeof name; k++)
      used += (size_t)snprintf(name + used, sizeof name - used, "%s%s", k ? " > " : "", j->steps[k].action->name);
    inb_action act = {.name = name, .fn = run_item, .init = "items", .target = s0->target,
                      .local = s0->local, .data = p};
    inb_opts o = {.n_workers = inb__job_workers(s0), .schedule = s0->schedule, .chunk = (size_t)s0->chunk,
                  .retries = s0->retries, .max_failures = s0->max_failures};
    inb_h5_plan plan = {.batch_size = j->batch_size};
    rc = inb_h5_run(p->in, &plan, &act, NULL, &o, out);
  }
  if (out && (rc == 0 || rc == INB_EITEM)) {
    char keep[INB__ERRMSG_MAX];
    snprintf(keep, sizeof keep, "%s", inb_errmsg()); /* the verdict on the items outlives the commit */
    int crc = inb__provenance_annotate_end(out);
    crc = crc ? (inb_h5_abort(&out), crc) : inb_h5_commit(&out);
    if (crc) rc = crc;
    else if (rc) inb__err_set(rc, keep);
  } else if (out) {
    inb_h5_abort(&out);
  }
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
  free(p->specs);
  for (size_t k = 0; k < p->nkernels; k++) inb__kernel_free(&p->kernels[k]);
  free(p->kernels);
  free(p);
  *pp = NULL;
}
