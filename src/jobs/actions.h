/* Internal: the actions a job's steps name. A built-in action works on one item at a time: it reads the rows of
 * its source components and writes the rows of its destinations, for every dtype; its arguments have a schema
 * (name, type, default) that the job is checked against before anything runs, and its output row's dtype and
 * shape follow from its inputs (so a job's datasets are checked too). */
#ifndef INB_JOBS_ACTIONS_H
#define INB_JOBS_ACTIONS_H

#include <inbatch/plugin.h>
#include <inbatch/run.h>
#include <stdbool.h>
#include <stddef.h>

#include "jobs/rng.h"

/* The argument schema is the plugin ABI's (inbatch/plugin.h): built-in actions, kernels and plugins share it. */
typedef inb_argspec inb__argspec;

enum { INB__MAX_ARGS = INB_PLUGIN_MAX_ARGS };

/* An action's argument values, resolved (defaults applied, types checked): read by name. */
typedef struct {
  size_t n;
  const inb__argspec *spec;
  struct {
    double r;
    int64_t i;
    bool b;
    const char *s;        /* owned by the job */
    inb_dtype dtype;
    bool given;           /* written in the job (or by --set), not the default */
  } v[INB__MAX_ARGS];
  const void *ext;        /* the action's ext (a plugin's table entry), for its run to find */
  inb_args *list;         /* a plugin's action: the values as a named list (owned by the step); else NULL */
} inb__argvals;

/* One item's rows for an action: src[0..nsrc) to read, dst[0..ndst) to write (ndst is 1 for every built-in),
 * and the item's random stream for this step (NULL unless the action needs one or the step asks, rng: true). */
typedef struct {
  const inb_array *src;
  size_t nsrc;
  inb_array *dst;
  size_t ndst;
  inb__rng *rng;
} inb__rows;

typedef struct inb__action_spec {
  const char *name;
  const char *doc;
  const inb__argspec *args;
  size_t nargs;
  size_t nsrc;            /* sources per call (every built-in: 1) */
  bool needs_rng;         /* run draws from rows->rng: every item gets its stream */
  /* The destination row of one item: dtype, ndim and shape from the sources' (src rows with data NULL). Returns
   * 0, or INB_EINVAL with inb_errmsg() saying why (the caller adds where). */
  int (*shape)(const inb_array *src, const inb__argvals *a, inb_array *dst);
  /* Checks the arguments together (e.g. clip's lo <= hi). Returns 0 or INB_EINVAL with inb_errmsg(). NULL: none. */
  int (*check)(const inb__argvals *a);
  /* The work on one item. Returns 0, or a failure of the item through inb_fail(it, ...). */
  int (*run)(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result);
  const void *ext;        /* what an action that is not built in carries (a plugin's entry); NULL */
  /* A reduction (a figure over every item, e.g. summary's mean): run writes the item's partial as its destination
   * row, a float64 row of `partial` values that no later step reads; rank 0 merges the partials in item order
   * (so the figure is the same whatever the ranks or schedule) into a total of `partial` values, zeroed first,
   * and describe writes the total as a JSON object. partial 0: an action per item. */
  size_t partial;
  void (*merge)(double *total, const double *part);
  void (*describe)(const double *total, char *buf, size_t cap);
} inb__action_spec;

/* The built-in actions, in the order `inbatch actions` lists them, and one by name (NULL when none). */
size_t inb__actions_count(void);
const inb__action_spec *inb__action_at(size_t i);
const inb__action_spec *inb__action_find(const char *name);

/* The value of argument `name` (which the action's schema must have). */
double inb__arg_real(const inb__argvals *a, const char *name);
int64_t inb__arg_int(const inb__argvals *a, const char *name);
bool inb__arg_bool(const inb__argvals *a, const char *name);
const char *inb__arg_str(const inb__argvals *a, const char *name);
inb_dtype inb__arg_dtype(const inb__argvals *a, const char *name);
bool inb__arg_given(const inb__argvals *a, const char *name);

/* The dtype of a name as jobs write it ("float32", "f4", "uint8", ...): 0 or INB_EINVAL. */
int inb__dtype_parse(const char *s, inb_dtype *out);
const char *inb__dtype_name(inb_dtype t);

#endif
