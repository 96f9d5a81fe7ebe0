/* Standard and custom inits. Standard inits copy nothing: task i's arguments are views made when it runs. */
#include "engine/taskgen.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/args.h"
#include "core/batch.h"
#include "core/status.h"

bool inb__taskgen_is_standard(const char *init) {
  return strcmp(init, "indices") == 0 || strcmp(init, "items") == 0 || strcmp(init, "run_once") == 0;
}

static int alloc_comps(inb__call *c, size_t n) {
  c->comps = inb__calloc(n ? n : 1, sizeof *c->comps);
  c->comp_names = inb__calloc(n ? n : 1, sizeof *c->comp_names);
  c->comp_fixed = inb__calloc(n ? n : 1, sizeof *c->comp_fixed);
  if (!c->comps || !c->comp_names || !c->comp_fixed) return inb__err(INB_ENOMEM, "action '%s': out of memory", c->name);
  c->ncomps = n;
  return 0;
}

/* Rows by reference (inb_h5_run under mpi): the components are the data layer's, read where tasks run. */
static int init_refs(inb__call *c, const char *only) {
  size_t n = only ? 1 : c->io->ncomps;
  int rc = alloc_comps(c, n);
  for (size_t j = 0; !rc && j < n; j++) {
    c->comp_names[j] = only ? only : c->io->names[j];
    c->comp_fixed[j] = inb_args_get(c->call, c->comp_names[j]) != NULL;
  }
  return rc;
}

static int init_items(inb__call *c) {
  if (c->by_ref) return init_refs(c, NULL);
  size_t n = inb_batch_ncomponents(c->b);
  int rc = alloc_comps(c, n);
  for (size_t j = 0; !rc && j < n; j++) {
    c->comp_names[j] = inb_batch_component_name(c->b, j);
    c->comps[j] = inb_batch_get(c->b, c->comp_names[j]);
    c->comp_fixed[j] = inb_args_get(c->call, c->comp_names[j]) != NULL;
  }
  return rc;
}

static int init_custom(inb__call *c) {
  inb_args **lists = NULL;
  size_t n = 0;
  inb__user_error_reset();
  int rc = c->act->init_fn(c->b, c->call, c->extra, &lists, &n, c->act->data);
  if (rc) return inb__user_failure(rc, "action '%s': init failed", c->name);
  if (!lists && n) return inb__err(INB_EINVAL, "action '%s': init returned %zu tasks but no array", c->name, n);
  c->lists = lists;
  c->ntasks = n;
  return 0;
}

int inb__taskgen_init(inb__call *c) {
  const inb_action *a = c->act;
  if (a->init_fn) {
    c->gen = INB__GEN_LISTS;
    return init_custom(c);
  }
  if (strcmp(a->init, "run_once") == 0) {
    c->gen = INB__GEN_ONCE;
    c->ntasks = 1;
    return 0;
  }
  c->ntasks = inb_batch_size(c->b);
  c->index = inb__batch_indices(c->b);
  if (strcmp(a->init, "indices") == 0) {
    c->gen = INB__GEN_INDICES;
    return 0;
  }
  if (strcmp(a->init, "items") == 0) {
    c->gen = INB__GEN_ITEMS;
    return init_items(c);
  }
  c->gen = INB__GEN_COMPONENT;
  if (c->by_ref) return init_refs(c, a->init);
  int rc = alloc_comps(c, 1);
  if (!rc) {
    c->comps[0] = inb_batch_get(c->b, a->init);
    c->comp_names[0] = a->init;
  }
  return rc;
}

void inb__taskgen_release(inb__call *c) {
  for (size_t i = 0; c->lists && i < c->ntasks; i++) inb_args_free(&c->lists[i]);
  free(c->lists); /* the init's array: the caller's malloc */
  inb__free(c->comps);
  inb__free(c->comp_names);
  inb__free(c->comp_fixed);
  c->lists = NULL;
  c->comps = NULL;
  c->comp_names = NULL;
  c->comp_fixed = NULL;
}

const inb_args *inb__taskgen_item_args(const inb__call *c, size_t i, inb_args *view) {
  view->borrowed = true;
  if (c->gen == INB__GEN_LISTS && c->lists[i]) return c->lists[i];
  size_t npos = (c->gen == INB__GEN_INDICES || c->gen == INB__GEN_COMPONENT) ? 1 : 0;
  size_t nnamed = c->gen == INB__GEN_ITEMS ? c->ncomps : 0;
  if (inb__args_reserve(view, npos, nnamed)) return NULL;
  view->npos = npos;
  view->nnamed = nnamed;
  if (c->gen == INB__GEN_INDICES) view->pos[0] = inb_int(c->index[i]);
  if (c->gen == INB__GEN_COMPONENT) view->pos[0] = inb_arr(inb_array_row(c->comps[0], (int64_t)i));
  for (size_t j = 0; j < nnamed; j++)
    view->named[j] = (inb__named){(char *)c->comp_names[j], inb_arr(inb_array_row(c->comps[j], (int64_t)i))};
  return view;
}
