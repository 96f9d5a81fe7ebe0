/* Batches: item indices plus named components, each an array whose first axis is the items. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/status.h"
#include "core/value.h"

typedef struct {
  char *name;
  inb_array a;
  bool taken; /* the batch frees a.data */
} component;

struct inb_batch {
  int64_t *index;
  size_t n;
  component *comps;
  size_t ncomps, cap;
};

inb_batch *inb_batch_new(const int64_t *index, size_t n) {
  inb_batch *b = inb__calloc(1, sizeof *b);
  if (!b) return NULL;
  b->index = inb__malloc((n ? n : 1) * sizeof *b->index);
  if (!b->index) {
    inb__free(b);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) b->index[i] = index ? index[i] : (int64_t)i;
  b->n = n;
  return b;
}

void inb_batch_free(inb_batch **bp) {
  if (!bp || !*bp) return;
  inb_batch *b = *bp;
  for (size_t i = 0; i < b->ncomps; i++) {
    if (b->comps[i].taken) free(b->comps[i].a.data); /* the caller's malloc */
    inb__free(b->comps[i].name);
  }
  inb__free(b->comps);
  inb__free(b->index);
  inb__free(b);
  *bp = NULL;
}

const int64_t *inb__batch_indices(const inb_batch *b) { return b->index; }

size_t inb_batch_size(const inb_batch *b) { return b ? b->n : 0; }

int64_t inb_batch_index(const inb_batch *b, size_t i) { return b && i < b->n ? b->index[i] : -1; }

static component *find(const inb_batch *b, const char *name) {
  for (size_t i = 0; b && name && i < b->ncomps; i++)
    if (strcmp(b->comps[i].name, name) == 0) return &b->comps[i];
  return NULL;
}

static int check_component(const inb_batch *b, const char *name, const inb_array *a) {
  if (!b || !name || !*name) return inb__err(INB_EINVAL, "inb_batch_set: batch is NULL or name is empty");
  if (!inb__dtype_valid(a->dtype))
    return inb__err(INB_EINVAL, "component '%s': unknown dtype %d", name, (int)a->dtype);
  if (a->ndim < 1 || a->ndim > INB_MAX_DIMS)
    return inb__err(INB_EINVAL, "component '%s': ndim must be 1..%d (the first axis is the items); found %d",
                    name, INB_MAX_DIMS, a->ndim);
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] < 0) return inb__err(INB_EINVAL, "component '%s': negative shape[%d]", name, d);
  if ((size_t)a->shape[0] != b->n)
    return inb__err(INB_EINVAL, "component '%s': shape[0] is %lld but the batch has %zu items", name,
                    (long long)a->shape[0], b->n);
  if (!a->data && inb_array_count(a) > 0) return inb__err(INB_EINVAL, "component '%s': data is NULL", name);
  return 0;
}

int inb_batch_set(inb_batch *b, const char *name, inb_array a, bool take) {
  int rc = check_component(b, name, &a);
  if (rc) return rc;
  component *c = find(b, name);
  if (c) {
    if (c->taken && c->a.data != a.data) free(c->a.data); /* the caller's malloc */
    c->a = a;
    c->taken = take;
    return 0;
  }
  if (b->ncomps == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4;
    component *p = inb__realloc(b->comps, cap * sizeof *p);
    if (!p) return inb__err(INB_ENOMEM, "inb_batch_set: out of memory");
    b->comps = p;
    b->cap = cap;
  }
  char *n = inb__strdup(name);
  if (!n) return inb__err(INB_ENOMEM, "inb_batch_set: out of memory");
  b->comps[b->ncomps++] = (component){n, a, take};
  return 0;
}

inb_array *inb_batch_get(inb_batch *b, const char *name) {
  component *c = find(b, name);
  return c ? &c->a : NULL;
}

size_t inb_batch_ncomponents(const inb_batch *b) { return b ? b->ncomps : 0; }

const char *inb_batch_component_name(const inb_batch *b, size_t i) {
  return b && i < b->ncomps ? b->comps[i].name : NULL;
}
