/* Dtypes, array views and value constructors. Values never own memory unless made by inb__value_dup. */
#define INB_NO_INLINE_VALUES /* the out-of-line definitions the library exports */
#include "core/value.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const size_t dtype_sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 4, 8};

bool inb__dtype_valid(inb_dtype t) { return (unsigned)t <= (unsigned)INB_F64; }
bool inb__kind_valid(inb_kind k) { return (unsigned)k <= (unsigned)INB_ARRAY; }

size_t inb_dtype_size(inb_dtype t) { return inb__dtype_valid(t) ? dtype_sizes[t] : 0; }

size_t inb_array_count(const inb_array *a) {
  if (!a) return 0;
  size_t n = 1;
  for (int d = 0; d < a->ndim && d < INB_MAX_DIMS; d++) n *= a->shape[d] > 0 ? (size_t)a->shape[d] : 0;
  return n;
}

size_t inb__array_bytes(const inb_array *a) { return inb_array_count(a) * inb_dtype_size(a->dtype); }

inb_array inb_array_row(const inb_array *a, int64_t i) {
  inb_array r = {0};
  if (!a || a->ndim < 1 || a->ndim > INB_MAX_DIMS || i < 0 || i >= a->shape[0]) return r;
  r.dtype = a->dtype;
  r.ndim = a->ndim - 1;
  for (int d = 1; d < a->ndim; d++) r.shape[d - 1] = a->shape[d];
  size_t row_bytes = inb_array_count(&r) * inb_dtype_size(a->dtype);
  r.data = a->data ? (char *)a->data + (size_t)i * row_bytes : NULL;
  return r;
}

inb_value inb_none(void) { return (inb_value){.kind = INB_NONE}; } /* zero-filled: the slow, tidy form */
inb_value inb_bool(bool b) { return (inb_value){.kind = INB_BOOL, .u.b = b}; }
inb_value inb_int(int64_t i) { return (inb_value){.kind = INB_INT, .u.i = i}; }
inb_value inb_real(double r) { return (inb_value){.kind = INB_REAL, .u.r = r}; }
inb_value inb_str(const char *s) {
  if (!s) s = "";
  return (inb_value){.kind = INB_STR, .u.s = {s, strlen(s)}};
}
inb_value inb_bytes(const void *p, size_t n) { return (inb_value){.kind = INB_BYTES, .u.s = {p, n}}; }
inb_value inb_arr(inb_array a) { return (inb_value){.kind = INB_ARRAY, .u.a = a}; }

int inb__value_dup(inb_value *dst, const inb_value *src) {
  *dst = *src;
  if (!inb__value_has_data(src)) return 0;
  bool is_str = src->kind == INB_STR;
  size_t n = src->kind == INB_ARRAY ? inb__array_bytes(&src->u.a) : src->u.s.n;
  char *copy = inb__malloc(n + (is_str ? 1 : 0) + (n == 0)); /* never inb__malloc(0): NULL would read as failure */
  if (!copy) {
    *dst = inb_none();
    return INB_ENOMEM;
  }
  const void *from = src->kind == INB_ARRAY ? src->u.a.data : (const void *)src->u.s.p;
  if (n && from) memcpy(copy, from, n);
  if (is_str) copy[n] = '\0';
  if (src->kind == INB_ARRAY)
    dst->u.a.data = copy;
  else
    dst->u.s.p = copy;
  return 0;
}

void inb__value_release(inb_value *v) {
  if (inb__value_has_data(v)) inb__free(v->kind == INB_ARRAY ? v->u.a.data : (void *)v->u.s.p);
  *v = inb_none();
}
