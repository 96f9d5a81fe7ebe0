/* Results of a call, read by post. */
#include "core/results.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/value.h"

_Static_assert(offsetof(inb__slot, u) == offsetof(inb_value, u), "a slot must read as an inb_value");
_Static_assert(offsetof(inb__slot, u.s.n) == offsetof(inb_value, u.s.n), "a slot must read as an inb_value");

size_t inb__results_slot_bytes(size_t n) { return n * sizeof(inb__slot) + sizeof(inb_value); }

void inb__results_init(inb_results *r, size_t n, void *slots) { *r = (inb_results){.n = n, .slots = slots}; }

int inb__ptrlist_add(inb__ptrlist *l, void *p) {
  if (!p) return 0;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    void **v = inb__realloc(l->v, cap * sizeof *v);
    if (!v) {
      inb__free(p);
      return INB_ENOMEM;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = p;
  return 0;
}

int inb__ptrlist_move(inb__ptrlist *dst, inb__ptrlist *src) {
  if (!dst->n && !dst->v) {
    *dst = *src;
    *src = (inb__ptrlist){0};
    return 0;
  }
  size_t need = dst->n + src->n;
  if (need > dst->cap) {
    void **v = inb__realloc(dst->v, need * sizeof *v);
    if (!v) return INB_ENOMEM;
    dst->v = v;
    dst->cap = need;
  }
  if (src->n) memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
  dst->n = need;
  src->n = 0;
  return 0;
}

void inb__ptrlist_release(inb__ptrlist *l) {
  for (size_t k = 0; k < l->n; k++) inb__free(l->v[k]);
  inb__free(l->v);
  *l = (inb__ptrlist){0};
}

/* An ARRAY result out of line: one block, the value and then its data (16-aligned for any dtype). */
static inb_value *array_block(const inb_value *v) {
  size_t bytes = inb__array_bytes(&v->u.a), head = (sizeof(inb_value) + 15) & ~(size_t)15;
  inb_value *out = inb__malloc(head + bytes + 1);
  if (!out) return NULL;
  *out = *v;
  out->u.a.data = (char *)out + head;
  if (bytes && v->u.a.data) memcpy(out->u.a.data, v->u.a.data, bytes);
  return out;
}

int inb__results_store(inb_results *r, size_t i, const inb_value *v, inb__ptrlist *owner) {
  inb__slot *s = &r->slots[i];
  s->kind = INB_NONE;
  if (v->kind == INB_ARRAY) {
    inb_value *out = array_block(v);
    if (!out || inb__ptrlist_add(owner, out)) return INB_ENOMEM;
    s->u.s.p = (const char *)out;
    s->kind = INB__ARRAY_OUT;
    return 0;
  }
  if (v->kind != INB_STR && v->kind != INB_BYTES) {
    memcpy(s, v, sizeof *s); /* the leading members, laid out alike */
    return 0;
  }
  inb_value copy;
  if (inb__value_dup(&copy, v) || inb__ptrlist_add(owner, (void *)copy.u.s.p)) return INB_ENOMEM;
  s->u.s.p = copy.u.s.p;
  s->u.s.n = v->u.s.n;
  s->kind = v->kind;
  return 0;
}

void *inb__results_release(inb_results *r) {
  void *slots = r->slots;
  inb__ptrlist_release(&r->copies);
  inb__errlist_release(&r->errors);
  *r = (inb_results){0};
  return slots;
}

static int errlist_grow(inb__errlist *l, size_t need) {
  if (need <= l->cap) return 0;
  size_t cap = l->cap ? l->cap * 2 : 8;
  while (cap < need) cap *= 2;
  inb_error *p = inb__realloc(l->v, cap * sizeof *p);
  if (!p) return INB_ENOMEM;
  l->v = p;
  l->cap = cap;
  return 0;
}

int inb__errlist_add(inb__errlist *l, const inb_error *e) {
  char *m = inb__strdup(e->message && *e->message ? e->message : inb_strerror(e->code));
  if (!m || errlist_grow(l, l->n + 1)) {
    inb__free(m);
    return INB_ENOMEM;
  }
  l->v[l->n] = *e;
  l->v[l->n++].message = m;
  return 0;
}

int inb__errlist_keep_first(inb__errlist *l, const inb_error *e) {
  if (l->n && l->v[0].task < e->task) return 0;
  inb__errlist_release(l);
  return inb__errlist_add(l, e);
}

int inb__errlist_move(inb__errlist *dst, inb__errlist *src) {
  if (!src->n) return 0;
  if (errlist_grow(dst, dst->n + src->n)) return INB_ENOMEM;
  memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
  dst->n += src->n;
  src->n = 0;
  return 0;
}

void inb__errlist_release(inb__errlist *l) {
  for (size_t i = 0; i < l->n; i++) inb__free((void *)l->v[i].message);
  inb__free(l->v);
  *l = (inb__errlist){0};
}

int inb__vallist_add(inb__vallist *l, size_t task, const inb_value *v) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    void *p = inb__realloc(l->v, cap * sizeof *l->v);
    if (!p) return INB_ENOMEM;
    l->v = p;
    l->cap = cap;
  }
  if (inb__value_dup(&l->v[l->n].v, v)) return INB_ENOMEM;
  l->v[l->n++].task = task;
  return 0;
}

int inb__vallist_move(inb__vallist *dst, inb__vallist *src) {
  for (size_t k = 0; k < src->n; k++) {
    if (dst->n == dst->cap) {
      size_t cap = dst->cap ? dst->cap * 2 : 8;
      while (cap < dst->n + src->n - k) cap *= 2;
      void *p = inb__realloc(dst->v, cap * sizeof *dst->v);
      if (!p) return INB_ENOMEM;
      dst->v = p;
      dst->cap = cap;
    }
    dst->v[dst->n++] = src->v[k];
  }
  src->n = 0;
  return 0;
}

void inb__vallist_release(inb__vallist *l) {
  for (size_t k = 0; k < l->n; k++) inb__value_release(&l->v[k].v);
  inb__free(l->v);
  *l = (inb__vallist){0};
}

static int by_task(const void *a, const void *b) {
  size_t x = ((const inb_error *)a)->task, y = ((const inb_error *)b)->task;
  return (x > y) - (x < y);
}

void inb__results_set_errors(inb_results *r, inb__errlist *l) {
  if (l->n) qsort(l->v, l->n, sizeof *l->v, by_task); /* qsort(NULL, 0) is undefined */
  r->errors = *l;
  *l = (inb__errlist){0};
  for (size_t k = 0; k < r->errors.n; k++) {
    inb__slot *s = &r->slots[r->errors.v[k].task];
    s->kind = INB__FAILED; /* a copy it pointed at stays in r->copies, freed with r */
    s->u.i = (int64_t)k;
  }
}

size_t inb_results_count(const inb_results *r) { return r ? r->n : 0; }

bool inb_result_ok(const inb_results *r, size_t i) { return r && i < r->n && r->slots[i].kind != INB__FAILED; }

const inb_value *inb_result_value(const inb_results *r, size_t i) {
  if (!r || i >= r->n) return NULL;
  const inb__slot *s = &r->slots[i];
  if (s->kind == INB__FAILED) return NULL;
  return s->kind == INB__ARRAY_OUT ? (const inb_value *)s->u.s.p : (const inb_value *)s;
}

const inb_error *inb_result_error(const inb_results *r, size_t i) {
  if (!r || i >= r->n || r->slots[i].kind != INB__FAILED) return NULL;
  return &r->errors.v[r->slots[i].u.i];
}

bool inb_any_failed(const inb_results *r) { return r && r->errors.n > 0; }

size_t inb_failed_count(const inb_results *r) { return r ? r->errors.n : 0; }
