/* inbatch core: status codes, values, arrays, argument lists and batches.
 * Nothing here uses MPI or threads; every function is safe to call from any thread on distinct objects. */
#ifndef INBATCH_CORE_H
#define INBATCH_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default) /* the library exports exactly what its headers declare */
#endif

/* ---- 1. Status codes and errors ------------------------------------------------------------------ */

/* Every int-returning call returns 0 or one of these negatives. */
enum {
  INB_OK = 0,
  INB_EINVAL = -1,      /* invalid argument, action, option or input */
  INB_ENOMEM = -2,      /* out of memory */
  INB_EITEM = -3,       /* one or more tasks failed (no post to judge them) */
  INB_EIO = -4,         /* a file could not be read or written */
  INB_EMPI = -5,        /* an MPI call failed */
  INB_ECORRUPT = -6,    /* malformed bytes (wire format, file) */
  INB_ECANCELED = -7,   /* a task did not finish: timeout, or its loop ran dry */
  INB_ENOTFOUND = -8    /* a named thing (file, dataset, component) does not exist */
};

/* A short static description of `code` ("invalid argument", ...); never NULL, also for unknown codes. */
const char *inb_strerror(int code);

/* The detail of the last failure in the calling thread, e.g.
 * "action 'scale': n_workers cannot be used with target async". Never NULL ("" before any failure).
 * Thread-local; valid until the next failing inb_ call in this thread. Successful calls leave it as it was. */
const char *inb_errmsg(void);

/* ---- 2. Values, arrays, argument lists ----------------------------------------------------------- */

typedef enum { INB_I8, INB_U8, INB_I16, INB_U16, INB_I32, INB_U32, INB_I64, INB_U64, INB_F32, INB_F64 } inb_dtype;

#define INB_MAX_DIMS 8

/* A view of C-ordered contiguous data; the array never owns `data`. */
typedef struct {
  inb_dtype dtype;
  int ndim;
  int64_t shape[INB_MAX_DIMS];
  void *data;
} inb_array;

/* Bytes of one element of `t`; 0 for a value outside the enum. */
size_t inb_dtype_size(inb_dtype t);

/* Number of elements: the product of shape (1 for a 0-dim array). */
size_t inb_array_count(const inb_array *a);

/* A view of a[i]: ndim-1 dims sharing a's data (a 0-dim result is a scalar view).
 * The caller checks 0 <= i < shape[0]; out of range, or ndim < 1, gives a view with data == NULL. */
inb_array inb_array_row(const inb_array *a, int64_t i);

typedef enum { INB_NONE, INB_BOOL, INB_INT, INB_REAL, INB_STR, INB_BYTES, INB_ARRAY } inb_kind;

typedef struct inb_value {
  inb_kind kind;
  union {
    bool b;
    int64_t i;
    double r;
    struct { const char *p; size_t n; } s;  /* STR (NUL-terminated too; n excludes the NUL) and BYTES */
    inb_array a;
  } u;
} inb_value;

/* Value constructors. They copy nothing: STR, BYTES and ARRAY values point at the caller's memory.
 * inb_str(NULL) is an empty string. */
inb_value inb_none(void);
inb_value inb_bool(bool b);
inb_value inb_int(int64_t i);
inb_value inb_real(double r);
inb_value inb_str(const char *s);
inb_value inb_bytes(const void *p, size_t n);
inb_value inb_arr(inb_array a);

/* With GCC and clang the scalar constructors are also inline (the library still exports them): a task that
 * returns `*result = inb_int(i)` then writes 16 bytes instead of calling out and filling all 88 of a value.
 * Only the member of the union that the kind names is set; the others are unspecified. */
#if defined(__GNUC__) && !defined(INB_NO_INLINE_VALUES)
#define INB__INLINE extern inline __attribute__((gnu_inline))
INB__INLINE inb_value inb_none(void) { inb_value v; v.kind = INB_NONE; v.u.i = 0; return v; }
INB__INLINE inb_value inb_bool(bool b) { inb_value v; v.kind = INB_BOOL; v.u.i = 0; v.u.b = b; return v; }
INB__INLINE inb_value inb_int(int64_t i) { inb_value v; v.kind = INB_INT; v.u.i = i; return v; }
INB__INLINE inb_value inb_real(double r) { inb_value v; v.kind = INB_REAL; v.u.r = r; return v; }
#undef INB__INLINE
#endif

/* An argument list: positional values plus named values. Not thread-safe for writes; concurrent reads are fine. */
typedef struct inb_args inb_args;

/* A new empty list owned by the caller (inb_args_free); NULL when out of memory. */
inb_args *inb_args_new(void);

/* Frees the list and the STR/BYTES copies it holds; sets *a = NULL. NULL-safe (a or *a). */
void inb_args_free(inb_args **a);

/* Appends a positional value. STR and BYTES are copied into the list; ARRAY stays a view (its data must
 * outlive the list). Returns 0, INB_EINVAL (a == NULL or a bad kind), INB_ENOMEM. */
int inb_args_add(inb_args *a, inb_value v);

/* Sets the named value `name` (copied), replacing an earlier one of that name; values are copied as in
 * inb_args_add. Returns 0, INB_EINVAL (a or name NULL/empty, bad kind), INB_ENOMEM. */
int inb_args_put(inb_args *a, const char *name, inb_value v);

/* Number of positional values; 0 for NULL. */
size_t inb_args_npos(const inb_args *a);

/* The i-th positional value, owned by the list; NULL when out of range or a == NULL. */
const inb_value *inb_args_at(const inb_args *a, size_t i);

/* The named value, owned by the list; NULL when absent or a == NULL. */
const inb_value *inb_args_get(const inb_args *a, const char *name);

/* Number of named values, and the i-th one's name (owned by the list; NULL out of range). Named values keep
 * the order in which they were first put, so that post can list them. */
size_t inb_args_nnamed(const inb_args *a);
const char *inb_args_name(const inb_args *a, size_t i);

/* ---- 3. Batches ---------------------------------------------------------------------------------- */

typedef struct inb_batch inb_batch;

/* A new batch of n items whose indices are copied from index (index may be NULL: items 0..n-1).
 * Owned by the caller (inb_batch_free); NULL when out of memory. */
inb_batch *inb_batch_new(const int64_t *index, size_t n);

/* Frees the batch, the component data it took, and sets *b = NULL. NULL-safe. */
void inb_batch_free(inb_batch **b);

/* Number of items; 0 for NULL. */
size_t inb_batch_size(const inb_batch *b);

/* The index of item i (its position in the dataset); -1 when i is out of range. */
int64_t inb_batch_index(const inb_batch *b, size_t i);

/* Sets component `name` to `a` (ndim >= 1, shape[0] == size). take=true: the batch frees a.data with free().
 * Replacing a component frees the old data if it was taken. On failure the caller keeps a.data.
 * Returns 0, INB_EINVAL (shape, name or dtype wrong; see inb_errmsg()), INB_ENOMEM. */
int inb_batch_set(inb_batch *b, const char *name, inb_array a, bool take);

/* The component, owned by the batch; valid until the next set or free of this batch. NULL when absent. */
inb_array *inb_batch_get(inb_batch *b, const char *name);

/* Number of components and the i-th one's name (owned by the batch; NULL out of range), in the order they were
 * first set (the order of the "items" init's named values). */
size_t inb_batch_ncomponents(const inb_batch *b);
const char *inb_batch_component_name(const inb_batch *b, size_t i);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
