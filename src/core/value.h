/* Internal: deep copies of values. */
#ifndef INB_CORE_VALUE_H
#define INB_CORE_VALUE_H

#include <inbatch/core.h>

/* True when v.kind is one of inb_kind's values. */
bool inb__kind_valid(inb_kind k);

/* True for a dtype inside the enum. */
bool inb__dtype_valid(inb_dtype t);

/* Bytes of an array's data (count * dtype size). */
size_t inb__array_bytes(const inb_array *a);

/* Copies what v points at (STR with its NUL, BYTES, ARRAY data) into one new heap block and points *dst at
 * it; scalars are copied as they are. The caller frees with inb__value_release(dst).
 * Returns 0 or INB_ENOMEM (then *dst is inb_none()). */
int inb__value_dup(inb_value *dst, const inb_value *src);

/* Frees the heap block of a value made by inb__value_dup; leaves inb_none(). */
void inb__value_release(inb_value *v);

/* True when the value points at memory (STR, BYTES, ARRAY), i.e. inb__value_dup allocates for it.
 * Inline: it sits on the per-task path. */
static inline bool inb__value_has_data(const inb_value *v) {
  return v->kind == INB_STR || v->kind == INB_BYTES || v->kind == INB_ARRAY;
}

#endif
