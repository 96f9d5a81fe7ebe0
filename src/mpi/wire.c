/* The wire format of argument lists and task results (the layout is documented in wire.h).
 * Packing computes a record's exact size first, so it validates everything and allocates once before it
 * writes a byte; unpacking reads through a cursor whose every step is checked against the bytes left. */
#include "mpi/wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/args.h"
#include "core/status.h"
#include "core/value.h"

static const uint8_t MAGIC[4] = {'I', 'N', 'B', 'W'};
#define BYTE_ORDER_MARK 0x0102u
#define SWAPPED_MARK 0x0201u
#define MIN_RECORD 24 /* the smallest record: an empty list, or an ok result holding NONE */
#define MAX_PADDED (SIZE_MAX - 8) /* longer strings/data would overflow when padded */

typedef unsigned long long ull; /* for printing u64 fields portably */

/* Zero bytes that bring n to a multiple of 8. */
static size_t pad8(size_t n) { return (8 - (n & 7)) & 7; }

/* acc += k; false when that overflows (acc is then unspecified). */
static bool add(size_t *acc, size_t k) { return !__builtin_add_overflow(*acc, k, acc); }

/* ---- The buffer ---------------------------------------------------------------------------------------- */

int inb__buf_reserve(inb__buf *b, size_t more) {
  if (more <= b->cap - b->n) return 0;
  size_t need;
  if (__builtin_add_overflow(b->n, more, &need))
    return inb__err(INB_ENOMEM, "wire: a buffer of %zu + %zu bytes exceeds the address space", b->n, more);
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p = inb__realloc(b->p, cap);
  if (!p) return inb__err(INB_ENOMEM, "wire: cannot allocate a buffer of %zu bytes", cap);
  b->p = p;
  b->cap = cap;
  return 0;
}

/* The writers below run after the record's room was reserved, so they cannot fail. */
static void put(inb__buf *b, const void *src, size_t len) {
  if (len) memcpy(b->p + b->n, src, len); /* len 0 may come with src NULL */
  b->n += len;
}

static void put_zeros(inb__buf *b, size_t len) {
  if (len) memset(b->p + b->n, 0, len); /* an empty buffer has p == NULL */
  b->n += len;
}

static void put_u64(inb__buf *b, uint64_t v) { put(b, &v, sizeof v); }

int inb__buf_append(inb__buf *b, const void *src, size_t len) {
  int rc = inb__buf_reserve(b, len);
  if (rc == 0) put(b, src, len);
  return rc;
}

int inb__buf_pad8(inb__buf *b) {
  size_t pad = pad8(b->n);
  int rc = inb__buf_reserve(b, pad);
  if (rc == 0) put_zeros(b, pad);
  return rc;
}

void inb__buf_release(inb__buf *b) {
  if (!b) return;
  inb__free(b->p);
  *b = (inb__buf){0};
}

/* ---- Sizes and validation for packing ------------------------------------------------------------------ */

/* Bytes of the data of an array with this dtype and shape, or a reason why it has none. Arrays with a zero
 * dimension hold no bytes whatever the other dimensions are (inb_array_count agrees). */
static const char *array_extent(inb_dtype dtype, int ndim, const int64_t *shape, size_t *bytes) {
  if (!inb__dtype_valid(dtype)) return "unknown dtype";
  if (ndim < 0 || ndim > INB_MAX_DIMS) return "ndim outside 0..8";
  size_t count = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0) return "negative dimension";
    if (shape[d] == 0) count = 0;
  }
  for (int d = 0; d < ndim && count; d++)
    if ((uint64_t)shape[d] > SIZE_MAX || __builtin_mul_overflow(count, (size_t)shape[d], &count))
      return "element count overflows";
  if (__builtin_mul_overflow(count, inb_dtype_size(dtype), bytes) || *bytes > MAX_PADDED)
    return "data size overflows";
  return NULL;
}

/* Packed bytes of v in *size, or a reason why v cannot be packed. */
static const char *value_size(const inb_value *v, size_t *size) {
  size_t len = 0;
  const char *why = NULL;
  switch (v->kind) {
  case INB_NONE:
  case INB_BOOL: *size = 8; return NULL;
  case INB_INT:
  case INB_REAL: *size = 16; return NULL;
  case INB_STR:
  case INB_BYTES:
    len = v->u.s.n;
    if (len && !v->u.s.p) return "NULL data with a non-zero length";
    if (len > MAX_PADDED - 32) return "length overflows";
    len += v->kind == INB_STR; /* the NUL */
    *size = 16 + len + pad8(len);
    return NULL;
  case INB_ARRAY:
    why = array_extent(v->u.a.dtype, v->u.a.ndim, v->u.a.shape, &len);
    if (why) return why;
    if (len && !v->u.a.data) return "NULL data with a non-zero size";
    if (len > MAX_PADDED - 8 * (INB_MAX_DIMS + 2)) return "data size overflows";
    *size = 8 + 8 * (size_t)v->u.a.ndim + len + pad8(len);
    return NULL;
  }
  return "unknown value kind";
}

/* Packed bytes of a name; 0 when it cannot be packed (NULL or empty, or absurdly long). */
static size_t name_size(const char *name) {
  size_t len = name ? strlen(name) : 0;
  if (len == 0 || len > MAX_PADDED - 16) return 0;
  return 8 + len + 1 + pad8(len + 1);
}

int inb__wire_args_size(const inb_args *a, size_t *size) {
  size_t total = 24, vs = 0;
  const char *why = NULL;
  for (size_t i = 0; a && i < a->npos; i++) {
    if ((why = value_size(&a->pos[i], &vs)))
      return inb__err(INB_EINVAL, "wire: cannot pack positional value %zu: %s", i, why);
    if (!add(&total, vs)) return inb__err(INB_EINVAL, "wire: argument list size overflows");
  }
  for (size_t i = 0; a && i < a->nnamed; i++) {
    const char *name = a->named[i].name;
    size_t ns = name_size(name);
    if (!ns) return inb__err(INB_EINVAL, "wire: cannot pack named value %zu: NULL, empty or huge name", i);
    if ((why = value_size(&a->named[i].v, &vs)))
      return inb__err(INB_EINVAL, "wire: cannot pack named value '%s': %s", name, why);
    if (!add(&total, ns) || !add(&total, vs)) return inb__err(INB_EINVAL, "wire: argument list size overflows");
  }
  *size = total;
  return 0;
}

/* The message a failed record carries: NULL means the code's own description. */
static const char *error_message(const inb_error *e) { return e->message ? e->message : inb_strerror(e->code); }

int inb__wire_result_size(const inb__wire_result *r, size_t *size) {
  if (r->ok) {
    size_t vs = 0;
    const char *why = value_size(&r->value, &vs);
    if (why) return inb__err(INB_EINVAL, "wire: cannot pack the result of task %llu: %s", (ull)r->task, why);
    *size = 16 + vs;
    return 0;
  }
  if (r->error.code == 0 || r->error.rank < 0 || r->error.attempts < 0)
    return inb__err(INB_EINVAL, "wire: cannot pack the error record of task %llu: code %d, rank %d, attempts %d",
                    (ull)r->task, r->error.code, r->error.rank, r->error.attempts);
  size_t len = strlen(error_message(&r->error)) + 1;
  if (len > MAX_PADDED - 40) return inb__err(INB_EINVAL, "wire: error message of task %llu too long", (ull)r->task);
  *size = 40 + len + pad8(len);
  return 0;
}

/* ---- Packing ------------------------------------------------------------------------------------------- */

/* Bytes (and a NUL when asked), then zeros up to a multiple of 8: every field after starts aligned. */
static void put_padded(inb__buf *b, const void *src, size_t len, bool nul) {
  put(b, src, len);
  if (nul) put_zeros(b, 1);
  put_zeros(b, pad8(len + nul));
}

static void put_value(inb__buf *b, const inb_value *v) {
  uint8_t word[8] = {(uint8_t)v->kind};
  if (v->kind == INB_BOOL) word[3] = v->u.b ? 1 : 0;
  if (v->kind == INB_ARRAY) {
    word[1] = (uint8_t)v->u.a.dtype;
    word[2] = (uint8_t)v->u.a.ndim;
  }
  put(b, word, sizeof word);
  switch (v->kind) {
  case INB_INT: put(b, &v->u.i, 8); break;
  case INB_REAL: put(b, &v->u.r, 8); break;
  case INB_STR:
  case INB_BYTES:
    put_u64(b, v->u.s.n);
    put_padded(b, v->u.s.p, v->u.s.n, v->kind == INB_STR);
    break;
  case INB_ARRAY:
    put(b, v->u.a.shape, 8 * (size_t)v->u.a.ndim);
    put_padded(b, v->u.a.data, inb__array_bytes(&v->u.a), false);
    break;
  default: break; /* NONE, BOOL: the word says it all */
  }
}

static void put_record_word(inb__buf *b, uint8_t type, uint8_t status) {
  uint8_t word[8] = {type, status};
  put(b, word, sizeof word);
}

/* Reserves padding plus `size` bytes and writes the padding, so the record starts 8-aligned in b. */
static int begin_record(inb__buf *b, size_t size) {
  size_t pad = pad8(b->n);
  if (size > SIZE_MAX - pad) return inb__err(INB_ENOMEM, "wire: record of %zu bytes exceeds the address space", size);
  int rc = inb__buf_reserve(b, pad + size);
  if (rc == 0) put_zeros(b, pad);
  return rc;
}

int inb__wire_pack_args(inb__buf *b, const inb_args *a) {
  size_t size = 0;
  int rc = inb__wire_args_size(a, &size);
  if (rc == 0) rc = begin_record(b, size);
  if (rc) return rc;
  put_record_word(b, INB__WIRE_ARGS, 0);
  put_u64(b, a ? a->npos : 0);
  put_u64(b, a ? a->nnamed : 0);
  for (size_t i = 0; a && i < a->npos; i++) put_value(b, &a->pos[i]);
  for (size_t i = 0; a && i < a->nnamed; i++) {
    size_t len = strlen(a->named[i].name);
    put_u64(b, len);
    put_padded(b, a->named[i].name, len, true);
    put_value(b, &a->named[i].v);
  }
  return 0;
}

int inb__wire_pack_result(inb__buf *b, const inb__wire_result *r) {
  size_t size = 0;
  int rc = inb__wire_result_size(r, &size);
  if (rc == 0) rc = begin_record(b, size);
  if (rc) return rc;
  put_record_word(b, INB__WIRE_RESULT, r->ok ? 0 : 1);
  put_u64(b, r->task);
  if (r->ok) {
    put_value(b, &r->value);
    return 0;
  }
  int32_t rank_code[4] = {r->error.rank, r->error.code, r->error.attempts, 0};
  put(b, rank_code, sizeof rank_code);
  const char *msg = error_message(&r->error);
  size_t len = strlen(msg);
  put_u64(b, len);
  put_padded(b, msg, len, true);
  return 0;
}

/* ---- Headers ------------------------------------------------------------------------------------------- */

int inb__wire_put_header(inb__buf *b, uint64_t count) {
  int rc = begin_record(b, INB__WIRE_HEADER_BYTES);
  if (rc) return rc;
  uint16_t version_mark[2] = {INB__WIRE_VERSION, BYTE_ORDER_MARK};
  put(b, MAGIC, sizeof MAGIC);
  put(b, version_mark, sizeof version_mark);
  put_u64(b, count);
  put_u64(b, 0); /* the size, known at inb__wire_seal */
  return 0;
}

void inb__wire_seal(inb__buf *b, size_t at, uint64_t count) {
  uint64_t size = b->n - at;
  memcpy(b->p + at + 8, &count, 8);
  memcpy(b->p + at + 16, &size, 8);
}

/* ---- The checked reader -------------------------------------------------------------------------------- */

/* A cursor over p[0..n); off <= n always holds, so n - off never wraps. */
typedef struct {
  uint8_t *p;
  size_t n, off;
} rd;

/* Sets inb_errmsg() to "wire: corrupt message at byte <at>: <detail>" and returns INB_ECORRUPT. */
__attribute__((format(printf, 2, 3))) static int corrupt(size_t at, const char *fmt, ...) {
  char detail[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return inb__err(INB_ECORRUPT, "wire: corrupt message at byte %zu: %s", at, detail);
}

static size_t left(const rd *r) { return r->n - r->off; }

/* Points *at at the next len bytes and steps over them, or fails naming `what` was cut short. */
static int take(rd *r, size_t len, const char *what, uint8_t **at) {
  if (len > left(r))
    return corrupt(r->off, "%s needs %zu bytes but only %zu are left", what, len, left(r));
  *at = r->p + r->off;
  r->off += len;
  return 0;
}

static int get_u64(rd *r, const char *what, uint64_t *v) {
  uint8_t *at = NULL;
  int rc = take(r, 8, what, &at);
  if (rc == 0) memcpy(v, at, 8);
  return rc;
}

/* A length field: it must fit in the bytes that are left, which also bounds every later size computation. */
static int get_len(rd *r, const char *what, size_t *len) {
  uint64_t v = 0;
  size_t at = r->off;
  int rc = get_u64(r, what, &v);
  if (rc) return rc;
  if (v > left(r)) return corrupt(at, "%s of %llu bytes but only %zu are left", what, (ull)v, left(r));
  *len = (size_t)v;
  return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

/* len bytes (plus a NUL that must be there, when asked) and their zero padding. */
static int get_padded(rd *r, size_t len, bool nul, const char *what, uint8_t **at) {
  size_t start = r->off;
  int rc = take(r, len, what, at);
  if (rc) return rc;
  uint8_t *tail = NULL;
  size_t tail_len = nul + pad8(len + nul);
  if ((rc = take(r, tail_len, what, &tail))) return rc;
  if (nul && tail[0] != 0) return corrupt(start + len, "%s is not NUL-terminated", what);
  if (!all_zero(tail, tail_len)) return corrupt(start + len, "non-zero padding after %s", what);
  return 0;
}

/* A name or message: a C string whose length is stated, so it must hold no NUL of its own. */
static int get_cstr(rd *r, const char *what, bool nonempty, const char **s) {
  size_t at = r->off, len = 0;
  uint8_t *p = NULL;
  int rc = get_len(r, what, &len);
  if (rc == 0 && nonempty && len == 0) rc = corrupt(at, "empty %s", what);
  if (rc == 0) rc = get_padded(r, len, true, what, &p);
  if (rc == 0 && memchr(p, 0, len)) rc = corrupt(at + 8, "%s contains a NUL byte", what);
  if (rc == 0) *s = (const char *)p;
  return rc;
}

static int get_array(rd *r, const uint8_t *word, inb_value *v) {
  size_t at = r->off - 8;
  uint8_t *p = NULL;
  inb_array a = {.dtype = (inb_dtype)word[1], .ndim = word[2]};
  if (!inb__dtype_valid(a.dtype)) return corrupt(at + 1, "unknown array dtype %u", word[1]);
  if (a.ndim > INB_MAX_DIMS) return corrupt(at + 2, "array ndim %u exceeds %d", word[2], INB_MAX_DIMS);
  int rc = take(r, 8 * (size_t)a.ndim, "array shape", &p);
  if (rc) return rc;
  memcpy(a.shape, p, 8 * (size_t)a.ndim);
  for (int d = 0; d < a.ndim; d++)
    if (a.shape[d] < 0)
      return corrupt(at + 8 + 8 * (size_t)d, "array dimension %d is negative (%lld)", d, (long long)a.shape[d]);
  size_t bytes = 0;
  const char *why = array_extent(a.dtype, a.ndim, a.shape, &bytes);
  if (why) return corrupt(at + 8, "array shape: %s", why);
  if ((rc = get_padded(r, bytes, false, "array data", &p))) return rc;
  a.data = p;
  *v = inb_arr(a);
  return 0;
}

/* One value; STR, BYTES and ARRAY point into r->p. */
static int get_value(rd *r, inb_value *v) {
  size_t at = r->off, len = 0;
  uint8_t *word = NULL, *p = NULL;
  int rc = take(r, 8, "value", &word);
  if (rc) return rc;
  unsigned kind = word[0];
  if (kind > INB_ARRAY) return corrupt(at, "unknown value kind %u", kind);
  if (kind != INB_ARRAY && (word[1] || word[2])) return corrupt(at + 1, "dtype/ndim set on a non-array value");
  if (word[3] > (kind == INB_BOOL)) return corrupt(at + 3, "bad boolean byte %u", word[3]);
  if (!all_zero(word + 4, 4)) return corrupt(at + 4, "non-zero reserved bytes in a value");
  switch ((inb_kind)kind) {
  case INB_NONE: *v = inb_none(); return 0;
  case INB_BOOL: *v = inb_bool(word[3]); return 0;
  case INB_INT:
  case INB_REAL:
    if ((rc = take(r, 8, "number", &p))) return rc;
    *v = (inb_value){.kind = (inb_kind)kind};
    memcpy(&v->u, p, 8); /* i and r share the union's first 8 bytes */
    return 0;
  case INB_STR:
  case INB_BYTES:
    if ((rc = get_len(r, kind == INB_STR ? "string" : "bytes", &len))) return rc;
    if ((rc = get_padded(r, len, kind == INB_STR, kind == INB_STR ? "string" : "bytes", &p))) return rc;
    *v = kind == INB_STR ? (inb_value){.kind = INB_STR, .u.s = {(const char *)p, len}} : inb_bytes(p, len);
    return 0;
  case INB_ARRAY: return get_array(r, word, v);
  }
  return corrupt(at, "unknown value kind %u", kind); /* unreachable: kind was range-checked */
}

/* The record word: the type must be `type` and the status at most max_status. */
static int get_record_word(rd *r, int type, unsigned max_status, unsigned *status) {
  size_t at = r->off;
  uint8_t *word = NULL;
  int rc = take(r, 8, "record", &word);
  if (rc) return rc;
  if (word[0] != type)
    return corrupt(at, "expected %s record, found type %u", type == INB__WIRE_ARGS ? "an argument-list" : "a result",
                   word[0]);
  if (word[1] > max_status) return corrupt(at + 1, "bad record status %u", word[1]);
  if (!all_zero(word + 2, 6)) return corrupt(at + 2, "non-zero reserved bytes in a record");
  *status = word[1];
  return 0;
}

/* Unpacking starts on an 8-aligned record of an 8-aligned buffer, or array views would be misaligned. */
static int check_start(const uint8_t *p, size_t n, size_t off) {
  if (!p || ((uintptr_t)p & 7) || (off & 7) || off > n)
    return inb__err(INB_EINVAL, "wire: buffer %p (%zu bytes) not 8-byte aligned, or record offset %zu misaligned or "
                                "past its end", (const void *)p, n, off);
  return 0;
}

/* ---- Unpacking ----------------------------------------------------------------------------------------- */

int inb__wire_get_header(const uint8_t *p, size_t n, uint64_t *count, size_t *off) {
  if (!p || n < INB__WIRE_HEADER_BYTES)
    return corrupt(0, "%zu bytes cannot hold the %d-byte header", n, INB__WIRE_HEADER_BYTES);
  if (memcmp(p, MAGIC, sizeof MAGIC) != 0)
    return corrupt(0, "not an inbatch message (magic %02x %02x %02x %02x, expected \"INBW\")", p[0], p[1], p[2], p[3]);
  uint16_t version = 0, mark = 0;
  uint64_t records = 0, size = 0;
  memcpy(&version, p + 4, 2);
  memcpy(&mark, p + 6, 2);
  memcpy(&records, p + 8, 8);
  memcpy(&size, p + 16, 8);
  if (mark == SWAPPED_MARK) return corrupt(6, "sent by a host of the other byte order (mixed architectures)");
  if (mark != BYTE_ORDER_MARK) return corrupt(6, "bad byte-order mark 0x%04x", mark);
  if (version != INB__WIRE_VERSION)
    return corrupt(4, "wire format version %u, this build reads version %d", version, INB__WIRE_VERSION);
  if (size != n) return corrupt(16, "the header says %llu bytes but %zu arrived", (ull)size, n);
  if (records > (n - INB__WIRE_HEADER_BYTES) / MIN_RECORD)
    return corrupt(8, "%llu records cannot fit in the %zu bytes after the header", (ull)records,
                   n - INB__WIRE_HEADER_BYTES);
  *count = records;
  *off = INB__WIRE_HEADER_BYTES;
  return 0;
}

int inb__wire_peek(const uint8_t *p, size_t n, size_t off, int *type) {
  if (off > n || n - off < 8) return corrupt(off, "expected a record, found the end of the message");
  if (p[off] != INB__WIRE_ARGS && p[off] != INB__WIRE_RESULT) return corrupt(off, "unknown record type %u", p[off]);
  *type = p[off];
  return 0;
}

int inb__wire_end(size_t n, size_t off) {
  if (off != n) return corrupt(off, "%zu bytes left over after the last record", off < n ? n - off : 0);
  return 0;
}

/* A list's counts, checked against the smallest room they need (a value takes 8 bytes; a name and its value
 * 24), so a forged count fails here rather than after a long decode. */
static int get_counts(rd *r, uint64_t *npos, uint64_t *nnamed) {
  size_t at = r->off;
  int rc = get_u64(r, "positional count", npos);
  if (rc == 0) rc = get_u64(r, "named count", nnamed);
  if (rc) return rc;
  size_t room = left(r);
  if (*npos > room / 8 || *nnamed > (room - 8 * (size_t)*npos) / 24)
    return corrupt(at, "%llu positional and %llu named values cannot fit in %zu bytes", (ull)*npos,
                   (ull)*nnamed, room);
  return 0;
}

int inb__wire_unpack_args(uint8_t *p, size_t n, size_t *off, inb_args **out) {
  *out = NULL;
  int rc = check_start(p, n, *off);
  if (rc) return rc;
  rd r = {p, n, *off};
  inb_args *a = NULL;
  unsigned status = 0;
  uint64_t npos = 0, nnamed = 0;
  inb_value v;
  if ((rc = get_record_word(&r, INB__WIRE_ARGS, 0, &status)) || (rc = get_counts(&r, &npos, &nnamed))) goto out;
  if (!(a = inb_args_new())) {
    rc = inb__err(INB_ENOMEM, "wire: out of memory for an argument list");
    goto out;
  }
  for (uint64_t i = 0; i < npos; i++)
    if ((rc = get_value(&r, &v)) || (rc = inb_args_add(a, v))) goto out;
  for (uint64_t i = 0; i < nnamed; i++) {
    size_t at = r.off;
    const char *name = NULL;
    if ((rc = get_cstr(&r, "name", true, &name))) goto out;
    if (inb_args_get(a, name)) {
      rc = corrupt(at, "duplicate name '%.64s'", name);
      goto out;
    }
    if ((rc = get_value(&r, &v)) || (rc = inb_args_put(a, name, v))) goto out;
  }
  *off = r.off;
  *out = a;
  a = NULL; /* handed to the caller */
out:
  inb_args_free(&a);
  return rc;
}

int inb__wire_unpack_result(uint8_t *p, size_t n, size_t *off, inb__wire_result *out) {
  int rc = check_start(p, n, *off);
  if (rc) return rc;
  rd r = {p, n, *off};
  unsigned status = 0;
  uint64_t task = 0;
  if ((rc = get_record_word(&r, INB__WIRE_RESULT, 1, &status)) || (rc = get_u64(&r, "task", &task))) return rc;
  if (task > SIZE_MAX) return corrupt(r.off - 8, "task %llu exceeds this host's size_t", (ull)task);
  *out = (inb__wire_result){.task = task, .ok = status == 0, .value = inb_none(), .error.task = (size_t)task};
  if (out->ok) {
    rc = get_value(&r, &out->value);
  } else {
    size_t at = r.off;
    uint8_t *q = NULL;
    int32_t rank_code[4];
    if ((rc = take(&r, 16, "rank, code and attempts", &q))) return rc;
    memcpy(rank_code, q, 16);
    out->error.rank = rank_code[0];
    out->error.code = rank_code[1];
    out->error.attempts = rank_code[2];
    if (out->error.rank < 0) return corrupt(at, "negative rank %d in an error record", out->error.rank);
    if (out->error.code == 0) return corrupt(at + 4, "error record with code 0");
    if (out->error.attempts < 0) return corrupt(at + 8, "negative attempts %d in an error record", out->error.attempts);
    if (rank_code[3] != 0) return corrupt(at + 12, "a reserved field is not zero");
    rc = get_cstr(&r, "error message", false, &out->error.message);
  }
  if (rc == 0) *off = r.off;
  return rc;
}
