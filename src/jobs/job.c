/* Job files: read with the YAML document module, checked field by field against what a job may say. Every
 * message names the file, line and column, the field, what was expected and what was found; unknown fields are
 * errors with a suggestion. */
#include "jobs/job.h"

#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "jobs/yamldoc.h"

typedef struct {
  const inb__ydoc *d;
  inb__job *j;
  char dir[PATH_MAX];     /* the job file's directory: relative paths start there */
} binder;

/* ---- small helpers ------------------------------------------------------------------------------------------ */

static char *dup(const char *s) { return s ? strdup(s) : NULL; }

/* "job 'PATH' line L col C" (or "(--set FIELD)") for a node, kept for messages found later. */
static void where_of(const binder *b, const inb__ynode *n, char *buf, size_t cap) {
  char path[128];
  inb__ynode_path(n, path, sizeof path);
  if (!n)
    snprintf(buf, cap, "job '%.400s'", inb__ydoc_name(b->d));
  else if (n->from_set)
    snprintf(buf, cap, "job '%.400s' (--set %s)", inb__ydoc_name(b->d), path);
  else
    snprintf(buf, cap, "job '%.400s' line %d col %d", inb__ydoc_name(b->d), n->line, n->col);
}

/* Every key of map must be one of known[0..n); the first that is not is an error with a suggestion. Fields
 * reserved for what is not built yet say so. */
static int check_keys(const binder *b, const inb__ynode *map, const char *const *known, size_t n,
                      const char *const *later, size_t nlater) {
  for (size_t i = 0; i < inb__ynode_len(map); i++) {
    const inb__ynode *key = inb__ymap_key(map, i);
    bool ok = false;
    for (size_t k = 0; k < n && !ok; k++) ok = strcmp(key->text, known[k]) == 0;
    if (ok) continue;
    for (size_t k = 0; k < nlater; k++)
      if (strcmp(key->text, later[k]) == 0)
        return inb__ynode_err(b->d, key, "", INB_EINVAL, "'%s' is not built yet in this version of inbatch",
                              key->text);
    const char *close = inb__did_you_mean(key->text, known, n);
    char expected[256] = "";
    for (size_t k = 0, used = 0; k < n && used < sizeof expected; k++)
      used += (size_t)snprintf(expected + used, sizeof expected - used, "%s%s", k ? ", " : "", known[k]);
    if (close)
      return inb__ynode_err(b->d, key, "", INB_EINVAL, "unknown field '%s' (did you mean '%s'?)", key->text, close);
    return inb__ynode_err(b->d, key, "", INB_EINVAL, "unknown field '%s' (expected one of: %s)", key->text, expected);
  }
  return 0;
}

static int need_map(const binder *b, const inb__ynode *n, const char *field) {
  char found[96];
  if (n && n->kind == INB__YMAP) return 0;
  return inb__ynode_err(b->d, n, field, INB_EINVAL, "expected a mapping (key: value lines); found %s",
                        inb__ynode_describe(n, found, sizeof found));
}

static int need_seq(const binder *b, const inb__ynode *n, const char *field) {
  char found[96];
  if (n && n->kind == INB__YSEQ) return 0;
  return inb__ynode_err(b->d, n, field, INB_EINVAL, "expected a list; found %s",
                        inb__ynode_describe(n, found, sizeof found));
}

/* A path of the job, made absolute against the job file's directory. */
static int resolve(const binder *b, const inb__ynode *n, const char *field, char **out) {
  const char *s;
  int rc = inb__ynode_str(b->d, n, field, &s);
  if (rc) return rc;
  if (!*s) return inb__ynode_err(b->d, n, field, INB_EINVAL, "expected a file name; found an empty string");
  char buf[PATH_MAX * 2];
  snprintf(buf, sizeof buf, "%s%s%s", s[0] == '/' ? "" : b->dir, s[0] == '/' ? "" : "/", s);
  return (*out = strdup(buf)) ? 0 : inb__err(INB_ENOMEM, "out of memory");
}

static int nonneg_int(const binder *b, const inb__ynode *n, const char *field, int64_t max, int64_t *out) {
  int64_t v;
  int rc = inb__ynode_int(b->d, n, field, &v);
  if (rc) return rc;
  if (v < 0 || v > max)
    return inb__ynode_err(b->d, n, field, INB_EINVAL, "expected an integer from 0 to %lld; found %lld", (long long)max,
                          (long long)v);
  *out = v;
  return 0;
}

/* A name of a component: text without a leading '/'. */
static int component_name(const binder *b, const inb__ynode *n, const char *field, char **out) {
  const char *s;
  int rc = inb__ynode_str(b->d, n, field, &s);
  if (rc) return rc;
  while (*s == '/') s++;
  if (!*s) return inb__ynode_err(b->d, n, field, INB_EINVAL, "expected a component's name; found an empty one");
  return (*out = strdup(s)) ? 0 : inb__err(INB_ENOMEM, "out of memory");
}

/* ---- input ------------------------------------------------------------------------------------------------------ */

/* input: a task list (tasks: FILE) or a range (count: N), for exec jobs. */
static int bind_task_input(binder *b, const inb__ynode *in, const inb__ynode *tasks, const inb__ynode *count) {
  const inb__ynode *comps = inb__ymap_get(in, "components");
  if (comps)
    return inb__ynode_err(b->d, inb__ymap_key(in, comps->index), "", INB_EINVAL, "'components' are the datasets of "
                          "an HDF5 input (input.file); a task list's items are its lines");
  if (tasks) return resolve(b, tasks, "input.tasks", &b->j->tasks);
  int rc = nonneg_int(b, count, "input.count", INT64_MAX, &b->j->count);
  if (!rc && b->j->count == 0)
    rc = inb__ynode_err(b->d, count, "input.count", INB_EINVAL, "expected at least 1 item; found 0");
  return rc;
}

static int bind_input(binder *b, const inb__ynode *in) {
  static const char *const keys[] = {"file", "components", "tasks", "count"};
  int rc = need_map(b, in, "input");
  if (!rc) rc = check_keys(b, in, keys, 4, NULL, 0);
  if (rc) return rc;
  where_of(b, in, b->j->where_input, sizeof b->j->where_input);
  const inb__ynode *file = inb__ymap_get(in, "file"), *comps = inb__ymap_get(in, "components"),
                   *tasks = inb__ymap_get(in, "tasks"), *count = inb__ymap_get(in, "count");
  int given = (file != NULL) + (tasks != NULL) + (count != NULL);
  if (given != 1)
    return inb__ynode_err(b->d, in, "input", INB_EINVAL, "expected one of 'file' (an HDF5 file), 'tasks' (a task "
                          "file, one task per line) and 'count' (items 0..N-1); found %d", given);
  if (!file) return bind_task_input(b, in, tasks, count);
  if ((rc = resolve(b, file, "input.file", &b->j->input))) return rc;
  if (!comps) return inb__ynode_err(b->d, in, "input.components", INB_EINVAL, "missing: the datasets to read (a list)");
  size_t n = comps->kind == INB__YSEQ ? inb__ynode_len(comps) : 1;
  if (comps->kind == INB__YSEQ && n == 0)
    return inb__ynode_err(b->d, comps, "input.components", INB_EINVAL, "expected at least one dataset; found none");
  b->j->components = calloc(n, sizeof *b->j->components);
  if (!b->j->components) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; !rc && k < n; k++) {
    const inb__ynode *c = comps->kind == INB__YSEQ ? inb__yseq_at(comps, k) : comps;
    char *name = NULL;
    rc = component_name(b, c, NULL, &name);
    char path[PATH_MAX];
    if (!rc) snprintf(path, sizeof path, "/%s", name);
    free(name);
    if (!rc && !(b->j->components[k] = strdup(path))) rc = inb__err(INB_ENOMEM, "out of memory");
    if (!rc) b->j->ncomponents++;
  }
  return rc;
}

/* ---- output ----------------------------------------------------------------------------------------------------- */

static int bind_shape(binder *b, const inb__ynode *n, inb__job_dataset *ds) {
  int rc = need_seq(b, n, NULL);
  if (!rc && inb__ynode_len(n) >= INB_MAX_DIMS)
    rc = inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected at most %d dimensions for an item; found %zu",
                        INB_MAX_DIMS - 1, inb__ynode_len(n));
  for (size_t k = 0; !rc && k < inb__ynode_len(n); k++) {
    int64_t v = 0;
    rc = nonneg_int(b, inb__yseq_at(n, k), NULL, INT64_MAX, &v);
    if (!rc && v == 0) rc = inb__ynode_err(b->d, inb__yseq_at(n, k), NULL, INB_EINVAL, "expected a size of 1 or more; found 0");
    ds->shape[k] = v;
  }
  ds->ndim = (int)inb__ynode_len(n);
  ds->has_shape = !rc;
  return rc;
}

static int bind_choice(binder *b, const inb__ynode *n, const char *what, const char *const *names, const int *values,
                       size_t count, int *out);

/* compression: a codec's name, or {codec, level, shuffle, blosc_compressor}; the library checks the levels and
 * combinations against the dataset when the plan is made. */
static int bind_compression(binder *b, const inb__ynode *n, inb__job_dataset *ds) {
  static const char *const codecs[] = {"none", "deflate", "lz4", "zstd", "blosc"};
  static const int codec_v[] = {INB_H5_NONE, INB_H5_DEFLATE, INB_H5_LZ4, INB_H5_ZSTD, INB_H5_BLOSC};
  static const char *const shuffles[] = {"default", "none", "byte", "bit"};
  static const int shuffle_v[] = {INB_H5_SHUFFLE_DEFAULT, INB_H5_SHUFFLE_NONE, INB_H5_SHUFFLE_BYTE, INB_H5_SHUFFLE_BIT};
  static const char *const inner[] = {"lz4", "blosclz", "lz4hc", "zlib", "zstd"};
  static const int inner_v[] = {INB_H5_BLOSC_LZ4, INB_H5_BLOSC_BLOSCLZ, INB_H5_BLOSC_LZ4HC, INB_H5_BLOSC_ZLIB,
                                INB_H5_BLOSC_ZSTD};
  static const char *const keys[] = {"codec", "level", "shuffle", "blosc_compressor"};
  int v = 0, rc = 0;
  if (n->kind != INB__YMAP) {
    rc = bind_choice(b, n, "codec", codecs, codec_v, 5, &v);
    ds->codec = (inb_h5_codec)v;
    return rc;
  }
  if ((rc = check_keys(b, n, keys, 4, NULL, 0))) return rc;
  const inb__ynode *x = inb__ymap_get(n, "codec");
  if (!x) return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "'codec': missing (none, deflate, lz4, zstd or blosc)");
  if ((rc = bind_choice(b, x, "codec", codecs, codec_v, 5, &v))) return rc;
  ds->codec = (inb_h5_codec)v;
  int64_t level = 0;
  if ((x = inb__ymap_get(n, "level")) && (rc = nonneg_int(b, x, NULL, 100, &level))) return rc;
  ds->level = (int)level;
  if ((x = inb__ymap_get(n, "shuffle")) && (rc = bind_choice(b, x, "shuffle", shuffles, shuffle_v, 4, &v))) return rc;
  ds->shuffle = x ? (inb_h5_shuffle)v : INB_H5_SHUFFLE_DEFAULT;
  if ((x = inb__ymap_get(n, "blosc_compressor")) &&
      (rc = bind_choice(b, x, "Blosc compressor", inner, inner_v, 5, &v)))
    return rc;
  ds->blosc_compressor = x ? (inb_h5_blosc_compressor)v : INB_H5_BLOSC_LZ4;
  return 0;
}

static int bind_dataset(binder *b, const inb__ynode *n, inb__job_dataset *ds) {
  static const char *const keys[] = {"name", "dtype", "shape", "like", "chunk_items", "deflate", "compression"};
  int rc = need_map(b, n, NULL);
  if (!rc) rc = check_keys(b, n, keys, sizeof keys / sizeof keys[0], NULL, 0);
  if (rc) return rc;
  where_of(b, n, ds->where, sizeof ds->where);
  const inb__ynode *v;
  if (!(v = inb__ymap_get(n, "name"))) return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "'name': missing");
  if ((rc = component_name(b, v, NULL, &ds->name))) return rc;
  if ((v = inb__ymap_get(n, "dtype"))) {
    const char *s;
    if ((rc = inb__ynode_str(b->d, v, NULL, &s))) return rc;
    if (inb__dtype_parse(s, &ds->dtype)) return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "%s", inb_errmsg());
    ds->has_dtype = true;
  }
  if ((v = inb__ymap_get(n, "shape")) && (rc = bind_shape(b, v, ds))) return rc;
  if ((v = inb__ymap_get(n, "like")) && (rc = component_name(b, v, NULL, &ds->like))) return rc;
  if (ds->like && ds->has_shape)
    return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "give 'shape' or 'like', not both");
  if ((v = inb__ymap_get(n, "chunk_items")) && (rc = nonneg_int(b, v, NULL, INT64_MAX, &ds->chunk_items))) return rc;
  int64_t level = 0;
  if ((v = inb__ymap_get(n, "deflate")) && (rc = nonneg_int(b, v, NULL, 9, &level))) return rc;
  ds->deflate = (int)level;
  const inb__ynode *c = inb__ymap_get(n, "compression");
  if (c && v)
    return inb__ynode_err(b->d, c, NULL, INB_EINVAL, "give 'deflate' or 'compression', not both (deflate: N is "
                                                     "compression: {codec: deflate, level: N})");
  return c ? bind_compression(b, c, ds) : 0;
}

/* output of an exec job: its results file, its HDF5 output (the results table and the tasks' outcomes: farm_h5.h),
 * one or both, and its folder of logs. */
static int bind_exec_output(binder *b, const inb__ynode *out) {
  const inb__ynode *sets = inb__ymap_get(out, "datasets");
  if (sets)
    return inb__ynode_err(b->d, inb__ymap_key(out, sets->index), "", INB_EINVAL, "an exec job's tasks write their "
                          "own files; its HDF5 output (output.file) holds the results table and the tasks' "
                          "outcomes, not datasets");
  const inb__ynode *results = inb__ymap_get(out, "results"), *logs = inb__ymap_get(out, "logs"),
                   *file = inb__ymap_get(out, "file");
  if (!results && !file)
    return inb__ynode_err(b->d, out, "output.results", INB_EINVAL, "missing: the results file (one line per task: "
                          "index, rank, start, runtime, exit status, signal, attempts, command), or an HDF5 output "
                          "(output.file), or both");
  int rc = results ? resolve(b, results, "output.results", &b->j->results) : 0;
  if (!rc && file) rc = resolve(b, file, "output.file", &b->j->output);
  if (!rc && logs) rc = resolve(b, logs, "output.logs", &b->j->logs);
  return rc;
}

static int bind_output(binder *b, const inb__ynode *out) {
  static const char *const keys[] = {"file", "datasets", "results", "logs"};
  int rc = need_map(b, out, "output");
  if (!rc) rc = check_keys(b, out, keys, 4, NULL, 0);
  if (rc) return rc;
  where_of(b, out, b->j->where_output, sizeof b->j->where_output);
  if (!b->j->input) return bind_exec_output(b, out);
  const inb__ynode *file = inb__ymap_get(out, "file"), *sets = inb__ymap_get(out, "datasets"),
                   *exec_only = inb__ymap_get(out, "results") ? inb__ymap_get(out, "results") : inb__ymap_get(out, "logs");
  if (exec_only)
    return inb__ynode_err(b->d, inb__ymap_key(out, exec_only->index), "", INB_EINVAL, "'results' and 'logs' are an "
                          "exec job's (input: tasks or count); this job's results are its output's /inbatch_results");
  if (!file) return inb__ynode_err(b->d, out, "output.file", INB_EINVAL, "missing: the HDF5 file to write");
  if ((rc = resolve(b, file, "output.file", &b->j->output))) return rc;
  if (!sets) return inb__ynode_err(b->d, out, "output.datasets", INB_EINVAL, "missing: the datasets to write (a list)");
  if ((rc = need_seq(b, sets, "output.datasets"))) return rc;
  size_t n = inb__ynode_len(sets);
  b->j->datasets = calloc(n + 1, sizeof *b->j->datasets);
  if (!b->j->datasets) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; !rc && k < n; k++) {
    rc = bind_dataset(b, inb__yseq_at(sets, k), &b->j->datasets[k]);
    b->j->ndatasets = k + 1;
    for (size_t i = 0; !rc && i < k; i++)
      if (strcmp(b->j->datasets[i].name, b->j->datasets[k].name) == 0)
        rc = inb__ynode_err(b->d, inb__yseq_at(sets, k), NULL, INB_EINVAL, "dataset '%s' is named twice",
                            b->j->datasets[k].name);
  }
  return rc;
}

/* ---- steps ------------------------------------------------------------------------------------------------------- */

static int bind_arg(binder *b, const inb__ynode *n, const char *field, const inb__argspec *spec, size_t k,
                    inb__argvals *a) {
  char found[96];
  int rc = 0;
  switch (spec->type) {
  case INB_ARG_REAL: rc = inb__ynode_real(b->d, n, field, &a->v[k].r); break;
  case INB_ARG_INT: rc = inb__ynode_int(b->d, n, field, &a->v[k].i); break;
  case INB_ARG_BOOL: rc = inb__ynode_bool(b->d, n, field, &a->v[k].b); break;
  case INB_ARG_DTYPE:
    rc = inb__ynode_str(b->d, n, field, &a->v[k].s);
    if (!rc && inb__dtype_parse(a->v[k].s, &a->v[k].dtype)) rc = inb__ynode_err(b->d, n, field, INB_EINVAL, "%s", inb_errmsg());
    break;
  case INB_ARG_STR:
    rc = inb__ynode_str(b->d, n, field, &a->v[k].s);
    if (!rc && spec->choices) {
      char pad[160];
      snprintf(pad, sizeof pad, " %s ", spec->choices);
      char word[96];
      snprintf(word, sizeof word, " %s ", a->v[k].s);
      if (!strstr(pad, word))
        rc = inb__ynode_err(b->d, n, field, INB_EINVAL, "expected one of: %s; found %s", spec->choices,
                            inb__ynode_describe(n, found, sizeof found));
    }
    break;
  }
  return rc;
}

/* The default as the job would write it: a real like "-inf", a dtype, a string. */
static int default_arg(const inb__argspec *spec, size_t k, inb__argvals *a) {
  const char *s = spec->dflt;
  switch (spec->type) {
  case INB_ARG_REAL: a->v[k].r = strtod(s, NULL); break;
  case INB_ARG_INT: a->v[k].i = strtoll(s, NULL, 10); break;
  case INB_ARG_BOOL: a->v[k].b = strcmp(s, "true") == 0; break;
  case INB_ARG_STR: a->v[k].s = s; break;
  case INB_ARG_DTYPE: a->v[k].s = s; return inb__dtype_parse(s, &a->v[k].dtype);
  }
  return 0;
}

static int bind_args(binder *b, const inb__ynode *step, inb__job_step *st, size_t si) {
  const inb__action_spec *act = st->action;
  const inb__ynode *args = inb__ymap_get(step, "args");
  inb__argvals *a = &st->args;
  *a = (inb__argvals){.n = act->nargs, .spec = act->args};
  int rc = args && !inb__ynode_is_null(args) ? need_map(b, args, NULL) : 0;
  for (size_t i = 0; !rc && args && args->kind == INB__YMAP && i < inb__ynode_len(args); i++) {
    const inb__ynode *key = inb__ymap_key(args, i);
    size_t k = 0;
    while (k < act->nargs && strcmp(act->args[k].name, key->text) != 0) k++;
    if (k == act->nargs) {
      const char *names[INB__MAX_ARGS];
      for (size_t j = 0; j < act->nargs; j++) names[j] = act->args[j].name;
      const char *close = inb__did_you_mean(key->text, names, act->nargs);
      char list[160] = "";
      for (size_t j = 0, used = 0; j < act->nargs; j++)
        used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", names[j]);
      return inb__ynode_err(b->d, key, "", INB_EINVAL, "action '%s' has no argument '%s'%s%s%s (its arguments: %s)",
                            act->name, key->text, close ? " (did you mean '" : "", close ? close : "",
                            close ? "'?)" : "", act->nargs ? list : "none");
    }
    rc = bind_arg(b, inb__ymap_value(args, i), NULL, &act->args[k], k, a);
    a->v[k].given = true;
  }
  for (size_t k = 0; !rc && k < act->nargs; k++) {
    if (a->v[k].given) continue;
    if (!act->args[k].dflt)
      return inb__ynode_err(b->d, args ? args : step, NULL, INB_EINVAL, "step %zu: action '%s' needs argument '%s' (%s)",
                            si, act->name, act->args[k].name, act->args[k].doc);
    rc = default_arg(&act->args[k], k, a);
  }
  if (!rc && act->ext) rc = inb__plugin_bind(act, a);
  if (!rc && act->check && act->check(a))
    rc = inb__ynode_err(b->d, args ? args : step, NULL, INB_EINVAL, "%s", inb_errmsg());
  return rc;
}

/* One src entry: a name, or a list of names handed to one call. */
static int bind_sources(binder *b, const inb__ynode *n, inb__job_pair *p) {
  if (n->kind != INB__YSEQ) {
    p->nsrc = 1;
    return component_name(b, n, NULL, &p->src[0]);
  }
  if (inb__ynode_len(n) == 0 || inb__ynode_len(n) > INB__MAX_SRC)
    return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected 1 to %d components for one call; found %zu",
                          INB__MAX_SRC, inb__ynode_len(n));
  int rc = 0;
  for (size_t k = 0; !rc && k < inb__ynode_len(n); k++) {
    rc = component_name(b, inb__yseq_at(n, k), NULL, &p->src[k]);
    if (!rc) p->nsrc = k + 1;
  }
  return rc;
}

/* src and dst: a name; a list of names (one call each); [[a, b]] (one call with both). dst defaults to src. */
static int bind_pairs(binder *b, const inb__ynode *step, inb__job_step *st) {
  const inb__ynode *src = inb__ymap_get(step, "src"), *dst = inb__ymap_get(step, "dst");
  if (!src) return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "'src': missing: the components the step reads");
  bool list = src->kind == INB__YSEQ;
  size_t n = list ? inb__ynode_len(src) : 1;
  if (n == 0) return inb__ynode_err(b->d, src, NULL, INB_EINVAL, "expected at least one component; found none");
  if (dst && (dst->kind == INB__YSEQ) != list)
    return inb__ynode_err(b->d, dst, NULL, INB_EINVAL, "expected %s, as src is; found %s", list ? "a list" : "a name",
                          list ? "a name" : "a list");
  if (dst && list && inb__ynode_len(dst) != n)
    return inb__ynode_err(b->d, dst, NULL, INB_EINVAL, "expected %zu names, one per src entry; found %zu", n,
                          inb__ynode_len(dst));
  st->pairs = calloc(n, sizeof *st->pairs);
  if (!st->pairs) return inb__err(INB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t k = 0; !rc && k < n; k++) {
    inb__job_pair *p = &st->pairs[k];
    st->npairs = k + 1;
    rc = list ? bind_sources(b, inb__yseq_at(src, k), p) : bind_sources(b, src, p);
    const inb__ynode *d = dst ? (list ? inb__yseq_at(dst, k) : dst) : NULL;
    if (!rc && d) rc = component_name(b, d, NULL, &p->dst);
    if (!rc && !d && p->nsrc > 1)
      rc = inb__ynode_err(b->d, src, NULL, INB_EINVAL, "a call reading %zu components needs a dst", p->nsrc);
    if (!rc && !d && !(p->dst = strdup(p->src[0]))) rc = inb__err(INB_ENOMEM, "out of memory");
  }
  return rc;
}

static int bind_choice(binder *b, const inb__ynode *n, const char *what, const char *const *names, const int *values,
                       size_t count, int *out) {
  const char *s;
  int rc = inb__ynode_str(b->d, n, NULL, &s);
  if (rc) return rc;
  for (size_t k = 0; k < count; k++)
    if (strcmp(s, names[k]) == 0) {
      *out = values[k];
      return 0;
    }
  char list[128] = "", found[96];
  for (size_t k = 0, used = 0; k < count; k++) used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", k ? ", " : "", names[k]);
  const char *close = inb__did_you_mean(s, names, count);
  return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected a %s (%s); found %s%s%s%s", what, list,
                        inb__ynode_describe(n, found, sizeof found), close ? " (did you mean '" : "", close ? close : "",
                        close ? "'?)" : "");
}

static int bind_options(binder *b, const inb__ynode *step, inb__job_step *st) {
  static const char *const targets[] = {"mpi", "mpc", "threads", "for", "async"};
  static const int target_v[] = {INB_MPI, INB_MPI, INB_THREADS, INB_FOR, INB_ASYNC};
  static const char *const locals[] = {"threads", "for"};
  static const int local_v[] = {INB_THREADS, INB_FOR};
  static const char *const schedules[] = {"static", "dynamic"};
  static const int schedule_v[] = {INB_STATIC, INB_DYNAMIC};
  static const char *const fields[] = {"target", "local", "schedule", "n_workers", "retries", "chunk",
                                       "max_failures"};
  const inb__ynode *v;
  int rc = 0, t = INB_MPI, l = INB_THREADS, s = INB_SCHED_DEFAULT;
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
    st->own_options |= inb__ymap_get(step, fields[k]) != NULL;
  if ((v = inb__ymap_get(step, "target")) && (rc = bind_choice(b, v, "target", targets, target_v, 5, &t))) return rc;
  if (t == INB_ASYNC && st->exec)
    return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "an exec step runs n_workers programs at once on any target: "
                                                     "use mpi, threads or for (async is for steps over HDF5 rows)");
  const inb__ynode *w = inb__ymap_get(step, "n_workers");
  if (t == INB_ASYNC && w)
    return inb__ynode_err(b->d, w, NULL, INB_EINVAL, "target async runs the step's tasks on one event loop thread, "
                                                     "one after another: n_workers does not apply (use threads, or "
                                                     "mpi with local: threads, for several workers)");
  if ((v = inb__ymap_get(step, "local")) && (rc = bind_choice(b, v, "local target", locals, local_v, 2, &l))) return rc;
  if ((v = inb__ymap_get(step, "schedule")) && (rc = bind_choice(b, v, "schedule", schedules, schedule_v, 2, &s))) return rc;
  st->target = (inb_target)t, st->local = (inb_target)l, st->schedule = (inb_schedule)s;
  int64_t x = 0;
  if ((v = inb__ymap_get(step, "n_workers")) && (rc = nonneg_int(b, v, NULL, 4096, &x))) return rc;
  st->n_workers = (int)x;
  x = 0;
  if ((v = inb__ymap_get(step, "retries")) && (rc = nonneg_int(b, v, NULL, 1000, &x))) return rc;
  st->retries = (int)x;
  if ((v = inb__ymap_get(step, "chunk")) && (rc = nonneg_int(b, v, NULL, INT64_MAX, &st->chunk))) return rc;
  if ((v = inb__ymap_get(step, "max_failures")) && (rc = nonneg_int(b, v, NULL, INT64_MAX, &st->max_failures))) return rc;
  if ((v = inb__ymap_get(step, "init"))) {
    const char *init;
    if ((rc = inb__ynode_str(b->d, v, NULL, &init))) return rc;
    if (strcmp(init, "run_once") == 0) /* items, indices and a component all give a task per item */
      return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "a step's tasks write one row each: init is items, indices "
                                                       "or a component the step reads (a task per item each); found "
                                                       "'run_once' (one task for a whole batch)");
  }
  return 0;
}

/* Where a kernel's code starts in the job file, for the compiler's messages: a block scalar's (|) first line is
 * the one after the |, its column the block's indentation (YAML strips it); a scalar on its key's line starts at
 * its node (past a quote). 0, 0 for code given by --set. */
static void code_position(const binder *b, const inb__ynode *n, int *line, int *col) {
  *line = *col = 0;
  if (n->from_set || n->line <= 0) return;
  if (!n->block) {
    *line = n->line;
    *col = n->col + (n->quoted ? 1 : 0);
    return;
  }
  *line = n->line + 1;
  const char *t = b->j->text;
  for (int l = 1; t && *t && l < *line; t++)
    if (*t == '\n') l++;
  while (t && *t) { /* the first line with text gives the indentation */
    size_t sp = strspn(t, " ");
    if (t[sp] != '\n' && t[sp] != '\r' && t[sp] != '\0') {
      *col = (int)sp + 1;
      return;
    }
    t = strchr(t, '\n');
    if (t) t++;
  }
}

/* A kernel step: its code, its output dtype, and its arguments' names (every one a number); the action it runs is
 * a stand-in until the plan builds the kernel for its sources' dtype. */
static int bind_kernel(binder *b, const inb__ynode *step, const inb__ynode *code, bool is_expr, inb__job_step *st) {
  const char *text;
  int rc = inb__ynode_str(b->d, code, NULL, &text);
  if (rc) return rc;
  inb__job_kernel *k = st->kernel = calloc(1, sizeof *k);
  if (!k || !(k->code = strdup(text))) return inb__err(INB_ENOMEM, "out of memory");
  k->is_expr = is_expr;
  code_position(b, code, &k->line, &k->col);
  const inb__ynode *v = inb__ymap_get(step, "dtype");
  if (v) {
    if ((rc = inb__ynode_str(b->d, v, NULL, &text))) return rc;
    if (inb__dtype_parse(text, &k->dtype)) return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "%s", inb_errmsg());
    k->has_dtype = true;
  }
  const inb__ynode *args = inb__ymap_get(step, "args");
  if (args && !inb__ynode_is_null(args) && (rc = need_map(b, args, NULL))) return rc;
  size_t n = args && args->kind == INB__YMAP ? inb__ynode_len(args) : 0;
  if (n > INB__MAX_ARGS)
    return inb__ynode_err(b->d, args, NULL, INB_EINVAL, "a kernel takes at most %d arguments; found %zu",
                          INB__MAX_ARGS, n);
  if (!(k->args = calloc(n + 1, sizeof *k->args))) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    k->args[i] = (inb__argspec){.type = INB_ARG_REAL, .doc = "a number the kernel's code reads by this name"};
    if (!(k->args[i].name = strdup(inb__ymap_key(args, i)->text))) return inb__err(INB_ENOMEM, "out of memory");
  }
  k->stand_in = (inb__action_spec){.name = is_expr ? "expr" : "kernel", .doc = "the step's own code",
                                   .args = k->args, .nargs = n, .nsrc = 1};
  st->action = &k->stand_in;
  return 0;
}

static int bind_action(binder *b, const inb__ynode *action, inb__job_step *st) {
  const char *name;
  int rc = inb__ynode_str(b->d, action, NULL, &name);
  if (rc) return rc;
  if ((st->action = inb__action_find(name)) || (st->action = inb__plugins_find(b->j->plugins, name))) return 0;
  const char *names[64];
  size_t n = 0;
  for (size_t k = 0; k < inb__actions_count() && n < 64; k++) names[n++] = inb__action_at(k)->name;
  for (size_t k = 0; k < inb__plugins_count(b->j->plugins) && n < 64; k++)
    names[n++] = inb__plugins_at(b->j->plugins, k)->name;
  const char *close = inb__did_you_mean(name, names, n);
  return inb__ynode_err(b->d, action, NULL, INB_EINVAL, "unknown action '%s'%s%s%s (inbatch actions lists them%s)",
                        name, close ? " (did you mean '" : "", close ? close : "", close ? "'?)" : "",
                        b->j->plugins ? "; with --plugin FILE, a plugin's" : "");
}

/* ---- exec steps ----------------------------------------------------------------------------------------------- */

/* The fields only an exec step has. */
static const char *const k_exec_keys[] = {"argv", "cmd", "shell", "cwd", "env", "timeout", "grace", "retry_delay",
                                          "outputs", "log"};
enum { N_EXEC_KEYS = sizeof k_exec_keys / sizeof k_exec_keys[0] };

static const inb__action_spec k_exec_stand_in = {.name = "exec", .doc = "a program run once per task", .nsrc = 1};

/* A word that may hold placeholders: a scalar's text (numbers too: `argv: [sleep, 1]`). */
static int bind_word(binder *b, const inb__ynode *n, inb__job_word *w) {
  char found[96];
  if (!n || n->kind != INB__YSCALAR || inb__ynode_is_null(n))
    return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected a word (text); found %s",
                          inb__ynode_describe(n, found, sizeof found));
  where_of(b, n, w->where, sizeof w->where);
  return (w->text = strdup(n->text)) ? 0 : inb__err(INB_ENOMEM, "out of memory");
}

/* A list of words (or one word); *out is the caller's, *count its length. */
static int bind_words(binder *b, const inb__ynode *n, bool one_allowed, inb__job_word **out, size_t *count) {
  bool list = n->kind == INB__YSEQ;
  if (!list && !one_allowed) return need_seq(b, n, NULL);
  size_t len = list ? inb__ynode_len(n) : 1;
  if (len == 0) return inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected at least one word; found an empty list");
  if (!(*out = calloc(len, sizeof **out))) return inb__err(INB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t k = 0; !rc && k < len; k++) {
    rc = bind_word(b, list ? inb__yseq_at(n, k) : n, &(*out)[k]);
    *count = k + 1;
  }
  return rc;
}

/* env: NAME: value (a word), each set for every task as NAME=value. */
static int bind_env(binder *b, const inb__ynode *n, inb__job_exec *x) {
  int rc = need_map(b, n, NULL);
  if (rc) return rc;
  size_t len = inb__ynode_len(n);
  if (!(x->env = calloc(len + 1, sizeof *x->env))) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; !rc && k < len; k++) {
    const char *name = inb__ymap_key(n, k)->text;
    if (!*name || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
        (name[0] >= '0' && name[0] <= '9'))
      return inb__ynode_err(b->d, inb__ymap_key(n, k), "", INB_EINVAL, "'%s' is not an environment variable's name "
                            "(letters, digits and _, not first a digit)", name);
    inb__job_word *w = &x->env[k];
    x->nenv = k + 1;
    if ((rc = bind_word(b, inb__ymap_value(n, k), w))) return rc;
    size_t need = strlen(name) + 1 + strlen(w->text) + 1;
    char *pair = malloc(need);
    if (!pair) return inb__err(INB_ENOMEM, "out of memory");
    snprintf(pair, need, "%s=%s", name, w->text);
    free(w->text);
    w->text = pair;
  }
  return rc;
}

static int nonneg_real(binder *b, const inb__ynode *n, double *out) {
  int rc = inb__ynode_real(b->d, n, NULL, out);
  if (!rc && !(*out >= 0 && *out < 1e9))
    rc = inb__ynode_err(b->d, n, NULL, INB_EINVAL, "expected seconds, 0 or more; found %g", *out);
  return rc;
}

/* Fields that are not an exec step's (it has no rows, arguments or random streams). */
static int refuse_row_fields(binder *b, const inb__ynode *step) {
  static const char *const rows[] = {"src", "dst", "args", "p", "rng", "dtype"};
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
    const inb__ynode *v = inb__ymap_get(step, rows[k]);
    if (v)
      return inb__ynode_err(b->d, inb__ymap_key(step, v->index), "", INB_EINVAL, "an exec step runs a program per "
                            "task: it has no '%s' (its words take the task's text through placeholders: {}, {1}, "
                            "{index})", rows[k]);
  }
  return 0;
}

/* The program: argv (a list of words, run as they are) or, with shell: true, cmd (one command line for /bin/sh). */
static int bind_program(binder *b, const inb__ynode *step, inb__job_exec *x) {
  const inb__ynode *argv = inb__ymap_get(step, "argv"), *cmd = inb__ymap_get(step, "cmd"), *v;
  int rc = (v = inb__ymap_get(step, "shell")) ? inb__ynode_bool(b->d, v, NULL, &x->shell) : 0;
  if (rc) return rc;
  if (x->shell && argv)
    return inb__ynode_err(b->d, inb__ymap_key(step, argv->index), "", INB_EINVAL, "with shell: true the program is "
                          "cmd: (one command line for /bin/sh -c); argv: is a list of words run without a shell");
  if (!x->shell && cmd)
    return inb__ynode_err(b->d, inb__ymap_key(step, cmd->index), "", INB_EINVAL, "cmd: is a command line for "
                          "/bin/sh: it needs shell: true; without a shell, give argv: [program, arg, ...]");
  if (!argv && !cmd)
    return inb__ynode_err(b->d, step, x->shell ? "cmd" : "argv", INB_EINVAL, "missing: %s", x->shell ?
                          "the command line for /bin/sh -c" : "the program and its arguments (a list of words)");
  if (cmd && cmd->kind != INB__YSCALAR)
    return inb__ynode_err(b->d, cmd, NULL, INB_EINVAL, "expected one command line (a string)");
  return argv ? bind_words(b, argv, false, &x->argv, &x->nargv) : bind_words(b, cmd, true, &x->argv, &x->nargv);
}

static int bind_exec(binder *b, const inb__ynode *step, inb__job_step *st) {
  static const char *const logs[] = {"tagged", "files", "discard"};
  static const int log_v[] = {INB__LOG_TAGGED, INB__LOG_FILES, INB__LOG_DISCARD};
  int rc = refuse_row_fields(b, step);
  inb__job_exec *x = rc ? NULL : (st->exec = calloc(1, sizeof *st->exec));
  if (!rc && !x) return inb__err(INB_ENOMEM, "out of memory");
  if (rc) return rc;
  st->action = &k_exec_stand_in;
  x->grace = 5;
  const inb__ynode *v;
  if ((rc = bind_program(b, step, x))) return rc;
  if ((v = inb__ymap_get(step, "cwd")) && (rc = bind_word(b, v, &x->cwd))) return rc;
  if ((v = inb__ymap_get(step, "env")) && (rc = bind_env(b, v, x))) return rc;
  if ((v = inb__ymap_get(step, "outputs")) && (rc = bind_words(b, v, false, &x->outputs, &x->noutputs))) return rc;
  if ((v = inb__ymap_get(step, "timeout")) && (rc = nonneg_real(b, v, &x->timeout))) return rc;
  if ((v = inb__ymap_get(step, "grace")) && (rc = nonneg_real(b, v, &x->grace))) return rc;
  if ((v = inb__ymap_get(step, "retry_delay")) && (rc = nonneg_real(b, v, &x->retry_delay))) return rc;
  int log = INB__LOG_TAGGED;
  if ((v = inb__ymap_get(step, "log")) && (rc = bind_choice(b, v, "log", logs, log_v, 3, &log))) return rc;
  x->log = (inb__job_log)log;
  if (x->log == INB__LOG_FILES && !b->j->logs)
    return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "log: files writes each task's stdout and stderr into the "
                          "folder output.logs: name it");
  return bind_options(b, step, st);
}

/* An exec job is one exec step over a task list; a job over HDF5 has no exec step. Checked before the step is bound,
 * so that the message says what is wrong with the job rather than with the step's fields. */
static int check_kind(binder *b, const inb__ynode *step, size_t si, bool exec) {
  bool farm = b->j->tasks || b->j->count;
  if (farm && !exec)
    return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "a job over a task list (input: tasks or count) runs one "
                          "exec step (action: exec): its items are lines, not rows of an HDF5 input");
  if (farm && si > 0)
    return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "a job over a task list runs one exec step; found %zu "
                          "steps (one command line can chain programs, with shell: true)", si + 1);
  if (!farm && exec)
    return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "exec runs a program per task of a task list (input: "
                          "tasks or count); this job's input is an HDF5 file");
  return 0;
}

/* init: items and indices, or (as batchflow's init by a component, a task per element of it) a component the
 * step reads: each gives a task per item. */
static int check_init(binder *b, const inb__ynode *step, const inb__job_step *st) {
  const inb__ynode *v = inb__ymap_get(step, "init");
  if (!v || strcmp(v->text, "items") == 0 || strcmp(v->text, "indices") == 0) return 0;
  char srcs[256] = "";
  for (size_t p = 0, used = 0; p < st->npairs; p++)
    for (size_t k = 0; k < st->pairs[p].nsrc && used < sizeof srcs; k++) {
      if (strcmp(st->pairs[p].src[k], v->text) == 0) return 0;
      used += (size_t)snprintf(srcs + used, sizeof srcs - used, "%s%s", used ? ", " : "", st->pairs[p].src[k]);
    }
  return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "expected items, indices or a component the step reads (%s); "
                        "found '%s'", srcs, v->text);
}

/* A reduction (summary) reads every item and writes no rows. */
static int refuse_reduction_fields(binder *b, const inb__ynode *step, const inb__job_step *st) {
  if (!st->action->partial) return 0;
  const inb__ynode *v;
  if ((v = inb__ymap_get(step, "dst")))
    return inb__ynode_err(b->d, inb__ymap_key(step, v->index), "", INB_EINVAL, "'%s' is a reduction over every "
                          "item: it writes no rows (its figures go to the output's attribute %s_SRC)",
                          st->action->name, st->action->name);
  if ((v = inb__ymap_get(step, "p")))
    return inb__ynode_err(b->d, inb__ymap_key(step, v->index), "", INB_EINVAL, "'%s' is a reduction over every "
                          "item: it takes no share of them (p)", st->action->name);
  return 0;
}

static int bind_step(binder *b, const inb__ynode *step, size_t si, inb__job_step *st) {
  static const char *const keys[] = {"action", "kernel", "expr", "dtype", "src", "dst", "args", "init",
                                     "target", "local", "n_workers", "schedule", "chunk", "retries", "max_failures",
                                     "p", "rng", "argv", "cmd", "shell", "cwd", "env", "timeout", "grace",
                                     "retry_delay", "outputs", "log"};
  int rc = need_map(b, step, NULL);
  if (!rc) rc = check_keys(b, step, keys, sizeof keys / sizeof keys[0], NULL, 0);
  if (rc) return rc;
  where_of(b, step, st->where, sizeof st->where);
  char tail[32];
  snprintf(tail, sizeof tail, " (step %zu)", si);
  strncat(st->where, tail, sizeof st->where - strlen(st->where) - 1);
  const inb__ynode *action = inb__ymap_get(step, "action"), *kernel = inb__ymap_get(step, "kernel"),
                   *expr = inb__ymap_get(step, "expr"), *dtype = inb__ymap_get(step, "dtype");
  int given = (action != NULL) + (kernel != NULL) + (expr != NULL);
  if (given == 0)
    return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "'action' (inbatch actions lists them; exec runs a program), "
                                                        "'kernel' (C code) or 'expr' (an elementwise expression): "
                                                        "missing");
  if (given > 1)
    return inb__ynode_err(b->d, step, NULL, INB_EINVAL, "a step runs one of 'action', 'kernel' and 'expr'; found %d",
                          given);
  bool exec = action && action->kind == INB__YSCALAR && strcmp(action->text, "exec") == 0;
  if ((rc = check_kind(b, step, si, exec))) return rc;
  if (exec) return bind_exec(b, step, st);
  for (size_t k = 0; k < N_EXEC_KEYS; k++)
    if ((dtype = inb__ymap_get(step, k_exec_keys[k])))
      return inb__ynode_err(b->d, inb__ymap_key(step, dtype->index), "", INB_EINVAL, "'%s' is an exec step's (action: "
                            "exec, a program run per task)", k_exec_keys[k]);
  dtype = inb__ymap_get(step, "dtype");
  if (action && dtype)
    return inb__ynode_err(b->d, dtype, NULL, INB_EINVAL, "'dtype' is a kernel's output dtype; an action's follows "
                                                         "from its inputs (the cast action changes it)");
  rc = action ? bind_action(b, action, st) : bind_kernel(b, step, kernel ? kernel : expr, expr != NULL, st);
  if (rc) return rc;
  if ((rc = bind_options(b, step, st))) return rc;
  const inb__ynode *v;
  st->p = 1;
  if ((v = inb__ymap_get(step, "p"))) {
    if ((rc = inb__ynode_real(b->d, v, NULL, &st->p))) return rc;
    if (!(st->p > 0 && st->p <= 1))
      return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "expected a share of the items, above 0 and at most 1; found %g",
                            st->p);
  }
  if ((v = inb__ymap_get(step, "rng")) && (rc = inb__ynode_bool(b->d, v, NULL, &st->rng))) return rc;
  if (st->rng && st->kernel)
    return inb__ynode_err(b->d, v, NULL, INB_EINVAL, "a kernel has no random stream in this version of inbatch "
                                                     "(the noise action draws from one; p selects without one)");
  st->rng = st->rng || st->action->needs_rng;
  if ((rc = refuse_reduction_fields(b, step, st))) return rc;
  if ((rc = bind_args(b, step, st, si))) return rc;
  if ((rc = bind_pairs(b, step, st))) return rc;
  return check_init(b, step, st);
}

/* A step that gives no parallel option runs as the step before it (and so in the same pass over the items). */
static void inherit_options(inb__job_step *st, const inb__job_step *prev) {
  st->target = prev->target, st->local = prev->local, st->n_workers = prev->n_workers;
  st->schedule = prev->schedule, st->chunk = prev->chunk, st->retries = prev->retries;
  st->max_failures = prev->max_failures;
}

static int bind_pipeline(binder *b, const inb__ynode *p) {
  int rc = need_seq(b, p, "pipeline");
  if (rc) return rc;
  where_of(b, p, b->j->where_pipeline, sizeof b->j->where_pipeline);
  size_t n = inb__ynode_len(p);
  if (!n) return inb__ynode_err(b->d, p, "pipeline", INB_EINVAL, "expected at least one step; found none");
  b->j->steps = calloc(n, sizeof *b->j->steps);
  if (!b->j->steps) return inb__err(INB_ENOMEM, "out of memory");
  for (size_t k = 0; !rc && k < n; k++) {
    rc = bind_step(b, inb__yseq_at(p, k), k, &b->j->steps[k]);
    b->j->nsteps = k + 1;
    if (!rc && k && !b->j->steps[k].own_options) inherit_options(&b->j->steps[k], &b->j->steps[k - 1]);
  }
  return rc;
}

/* ---- plugins ---------------------------------------------------------------------------------------------------- */

/* plugins: a shared object's path, or a list of them, relative to the job file. Loaded now: the steps name their
 * actions. */
static int bind_plugins(binder *b, const inb__ynode *n) {
  size_t count = n->kind == INB__YSEQ ? inb__ynode_len(n) : 1;
  int rc = 0;
  for (size_t k = 0; !rc && k < count; k++) {
    const inb__ynode *item = n->kind == INB__YSEQ ? inb__yseq_at(n, k) : n;
    char *path = NULL, where[INB__WHERE];
    rc = resolve(b, item, "plugins", &path);
    where_of(b, item, where, sizeof where);
    if (!rc) rc = inb__plugins_load(&b->j->plugins, path, where);
    free(path);
  }
  return rc;
}

/* ---- the job ------------------------------------------------------------------------------------------------------ */

static int bind(binder *b, const inb__ynode *root) {
  static const char *const keys[] = {"input", "batch_size", "output", "pipeline", "seed", "plugins"};
  static const char *const later[] = {"kernels", "slurm", "journal"};
  int rc = need_map(b, root, "");
  if (!rc) rc = check_keys(b, root, keys, sizeof keys / sizeof keys[0], later, sizeof later / sizeof later[0]);
  const char *const need[] = {"input", "output", "pipeline"};
  for (size_t k = 0; !rc && k < 3; k++)
    if (!inb__ymap_get(root, need[k])) rc = inb__ynode_err(b->d, NULL, need[k], INB_EINVAL, "missing");
  if (!rc) rc = bind_input(b, inb__ymap_get(root, "input"));
  const inb__ynode *bs = inb__ymap_get(root, "batch_size");
  if (!rc && bs) {
    rc = inb__ynode_int(b->d, bs, NULL, &b->j->batch_size);
    if (!rc && b->j->batch_size <= 0)
      rc = inb__ynode_err(b->d, bs, NULL, INB_EINVAL, "expected a positive number of items; found %lld",
                          (long long)b->j->batch_size);
  }
  const inb__ynode *seed = inb__ymap_get(root, "seed");
  int64_t s = 0;
  if (!rc && seed) rc = nonneg_int(b, seed, NULL, INT64_MAX, &s);
  b->j->seed = (uint64_t)s;
  if (!rc) rc = bind_output(b, inb__ymap_get(root, "output"));
  const inb__ynode *plugins = inb__ymap_get(root, "plugins");
  if (!rc && plugins) rc = bind_plugins(b, plugins);
  if (!rc) rc = bind_pipeline(b, inb__ymap_get(root, "pipeline"));
  return rc;
}

/* The job file's text, kept for the output's provenance. */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      char *p = realloc(buf, cap = 2 * cap + 8192);
      if (!p) break;
      buf = p;
    }
    size_t got = fread(buf + n, 1, 4096, f);
    n += got;
    if (got < 4096) break;
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

static int apply_sets(inb__ydoc *d, const char *const *sets, size_t nsets) {
  for (size_t k = 0; k < nsets; k++) {
    const char *eq = strchr(sets[k], '=');
    if (!eq) return inb__err(INB_EINVAL, "--set takes KEY=VALUE; found '%s'", sets[k]);
    char key[512];
    snprintf(key, sizeof key, "%.*s", (int)(eq - sets[k]), sets[k]);
    int rc = inb__ydoc_set(d, key, eq + 1);
    if (rc) return inb__err(rc, "job '%s': --set %s: %s", inb__ydoc_name(d), sets[k], inb_errmsg());
  }
  return 0;
}

int inb__job_load(const char *path, const char *const *sets, size_t nsets, inb__job **out) {
  *out = NULL;
  inb__ydoc *d = NULL;
  int rc = inb__ydoc_load(path, &d);
  if (!rc) rc = apply_sets(d, sets, nsets);
  inb__job *j = rc ? NULL : calloc(1, sizeof *j);
  if (!rc && !j) rc = inb__err(INB_ENOMEM, "out of memory");
  binder b = {.d = d, .j = j};
  if (!rc) {
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(b.dir, sizeof b.dir, "%s", dirname(copy));
    j->path = dup(path);
    j->text = read_text(path);
    j->sets = calloc(nsets + 1, sizeof *j->sets);
    for (size_t k = 0; j->sets && k < nsets; k++) j->sets[j->nsets++] = dup(sets[k]);
    rc = !j->path || !j->text || !j->sets ? inb__err(INB_ENOMEM, "out of memory") : bind(&b, inb__ydoc_root(d));
  }
  /* the argument strings point into the document: keep their own copies, the document goes */
  for (size_t s = 0; !rc && s < j->nsteps; s++)
    for (size_t k = 0; k < j->steps[s].args.n; k++)
      if (j->steps[s].args.v[k].s && !(j->steps[s].args.v[k].s = dup(j->steps[s].args.v[k].s)))
        rc = inb__err(INB_ENOMEM, "out of memory");
      else if (j->steps[s].args.v[k].s)
        j->steps[s].owned_strings |= 1u << k;
  inb__ydoc_free(&d);
  if (rc) {
    inb__job_free(&j);
    return rc;
  }
  *out = j;
  return 0;
}

static void free_words(inb__job_word *w, size_t n) {
  for (size_t k = 0; w && k < n; k++) free(w[k].text);
  free(w);
}

static void free_exec(inb__job_exec *x) {
  if (!x) return;
  free_words(x->argv, x->nargv);
  free(x->cwd.text);
  free_words(x->env, x->nenv);
  free_words(x->outputs, x->noutputs);
  free(x);
}

static void free_kernel(inb__job_kernel *k) {
  if (!k) return;
  for (size_t i = 0; k->args && k->args[i].name; i++) free((char *)k->args[i].name);
  free(k->args);
  free(k->code);
  free(k);
}

int inb__job_workers(const inb__job_step *st) {
  if (st->n_workers > 0) return st->n_workers;
  const char *cpus = getenv("SLURM_CPUS_PER_TASK");
  char *end;
  long n = cpus ? strtol(cpus, &end, 10) : 0;
  return cpus && *cpus && !*end && n > 0 && n <= 4096 ? (int)n : 0;
}

void inb__job_free(inb__job **jp) {
  if (!jp || !*jp) return;
  inb__job *j = *jp;
  free(j->path);
  free(j->text);
  for (size_t k = 0; k < j->nsets; k++) free(j->sets[k]);
  free(j->sets);
  free(j->input);
  free(j->tasks);
  free(j->results);
  free(j->logs);
  for (size_t k = 0; k < j->ncomponents; k++) free(j->components[k]);
  free(j->components);
  free(j->output);
  for (size_t k = 0; k < j->ndatasets; k++) free(j->datasets[k].name), free(j->datasets[k].like);
  free(j->datasets);
  for (size_t s = 0; s < j->nsteps; s++) {
    inb__job_step *st = &j->steps[s];
    for (size_t k = 0; k < st->args.n; k++)
      if (st->owned_strings & (1u << k)) free((char *)st->args.v[k].s);
    inb_args_free(&st->args.list);
    free_kernel(st->kernel);
    free_exec(st->exec);
    for (size_t p = 0; p < st->npairs; p++) {
      for (size_t k = 0; k < st->pairs[p].nsrc; k++) free(st->pairs[p].src[k]);
      free(st->pairs[p].dst);
    }
    free(st->pairs);
  }
  free(j->steps);
  inb__plugins_free(&j->plugins); /* after the steps: their actions are the plugins' */
  free(j);
  *jp = NULL;
}
