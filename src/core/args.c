/* Argument lists: positional values plus named values. Owned lists copy STR/BYTES and names;
 * ARRAY values stay views of the caller's data. */
#include "core/args.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/value.h"

inb_args *inb_args_new(void) { return inb__calloc(1, sizeof(inb_args)); }

static void free_value(inb_value *v) {
  if (v->kind == INB_STR || v->kind == INB_BYTES) inb__free((void *)v->u.s.p);
}

void inb_args_free(inb_args **ap) {
  if (!ap || !*ap) return;
  inb_args *a = *ap;
  if (!a->borrowed) {
    for (size_t i = 0; i < a->npos; i++) free_value(&a->pos[i]);
    for (size_t i = 0; i < a->nnamed; i++) {
      inb__free(a->named[i].name);
      free_value(&a->named[i].v);
    }
  }
  inb__free(a->pos);
  inb__free(a->named);
  inb__free(a);
  *ap = NULL;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap * 2 : 4;
  while (n < need) n *= 2;
  void *p = inb__realloc(*arr, n * elem);
  if (!p) return INB_ENOMEM;
  *arr = p;
  *cap = n;
  return 0;
}

int inb__args_reserve(inb_args *a, size_t n, size_t m) {
  if (grow((void **)&a->pos, &a->pos_cap, n, sizeof *a->pos)) return INB_ENOMEM;
  return grow((void **)&a->named, &a->named_cap, m, sizeof *a->named);
}

void inb__args_view_release(inb_args *a) {
  inb__free(a->pos);
  inb__free(a->named);
  *a = (inb_args){0};
}

/* The list's own copy of v: STR/BYTES bytes are duplicated (ARRAY stays a view). */
static int own_copy(inb_value *dst, inb_value v) {
  *dst = v;
  if (v.kind != INB_STR && v.kind != INB_BYTES) return 0;
  if (v.kind == INB_STR && !v.u.s.p) v = inb_str("");
  return inb__value_dup(dst, &v);
}

static int check_value(const char *what, inb_value v) {
  if (!inb__kind_valid(v.kind)) return inb__err(INB_EINVAL, "%s: unknown value kind %d", what, (int)v.kind);
  if (v.kind == INB_ARRAY && (!inb__dtype_valid(v.u.a.dtype) || v.u.a.ndim < 0 || v.u.a.ndim > INB_MAX_DIMS))
    return inb__err(INB_EINVAL, "%s: array with bad dtype %d or ndim %d", what, (int)v.u.a.dtype, v.u.a.ndim);
  return 0;
}

int inb_args_add(inb_args *a, inb_value v) {
  if (!a || a->borrowed) return inb__err(INB_EINVAL, "inb_args_add: list is NULL or read-only");
  int rc = check_value("inb_args_add", v);
  if (rc) return rc;
  if (grow((void **)&a->pos, &a->pos_cap, a->npos + 1, sizeof *a->pos))
    return inb__err(INB_ENOMEM, "inb_args_add: out of memory");
  if (own_copy(&a->pos[a->npos], v)) return inb__err(INB_ENOMEM, "inb_args_add: out of memory");
  a->npos++;
  return 0;
}

long inb__args_find(const inb_args *a, const char *name) {
  for (size_t i = 0; a && i < a->nnamed; i++)
    if (strcmp(a->named[i].name, name) == 0) return (long)i;
  return -1;
}

int inb_args_put(inb_args *a, const char *name, inb_value v) {
  if (!a || a->borrowed) return inb__err(INB_EINVAL, "inb_args_put: list is NULL or read-only");
  if (!name || !*name) return inb__err(INB_EINVAL, "inb_args_put: name is NULL or empty");
  int rc = check_value("inb_args_put", v);
  if (rc) return rc;
  inb_value copy;
  if (own_copy(&copy, v)) return inb__err(INB_ENOMEM, "inb_args_put: out of memory");
  long at = inb__args_find(a, name);
  if (at >= 0) {
    free_value(&a->named[at].v);
    a->named[at].v = copy;
    return 0;
  }
  char *n = inb__strdup(name);
  if (!n || grow((void **)&a->named, &a->named_cap, a->nnamed + 1, sizeof *a->named)) {
    inb__free(n);
    free_value(&copy);
    return inb__err(INB_ENOMEM, "inb_args_put: out of memory");
  }
  a->named[a->nnamed++] = (inb__named){n, copy};
  return 0;
}

size_t inb_args_npos(const inb_args *a) { return a ? a->npos : 0; }

const inb_value *inb_args_at(const inb_args *a, size_t i) { return a && i < a->npos ? &a->pos[i] : NULL; }

const inb_value *inb_args_get(const inb_args *a, const char *name) {
  if (!name) return NULL;
  long at = inb__args_find(a, name);
  return at >= 0 ? &a->named[at].v : NULL;
}

size_t inb_args_nnamed(const inb_args *a) { return a ? a->nnamed : 0; }

const char *inb_args_name(const inb_args *a, size_t i) { return a && i < a->nnamed ? a->named[i].name : NULL; }
