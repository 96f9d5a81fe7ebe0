/* The wire format the mpi target sends argument lists and results in: what goes in comes out, arrays arrive
 * as aligned views of the receive buffer, and no malformed buffer (cut short, bit-flipped, forged) is ever
 * read out of range: it decodes or gives INB_ECORRUPT with the offending byte offset in inb_errmsg(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpi/wire.h"

/* ASan and TSan abort on an impossible allocation unless told to return NULL as malloc does; the growth test
 * needs the NULL. (Merged with *SAN_OPTIONS from the environment; unused without a sanitizer.) */
const char *__asan_default_options(void);
const char *__tsan_default_options(void);
__attribute__((used)) const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
__attribute__((used)) const char *__tsan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---- Helpers ------------------------------------------------------------------------------------------- */

/* A malloc'd copy of exactly n bytes: the allocator aligns it like a receive buffer, and ASan sees a read one
 * byte past the end. */
static uint8_t *exact_copy(const uint8_t *src, size_t n) {
  if (n > ((size_t)1 << 40)) fail_msg("exact_copy of %zu bytes: a length computed wrong", n); /* and bounds
                                                                  malloc's argument for gcc -O3's checks */
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  if (n) memcpy(p, src, n);
  return p;
}

static bool value_eq(const inb_value *a, const inb_value *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case INB_NONE: return true;
  case INB_BOOL: return a->u.b == b->u.b;
  case INB_INT: return a->u.i == b->u.i;
  case INB_REAL: return memcmp(&a->u.r, &b->u.r, sizeof(double)) == 0;
  case INB_STR:
  case INB_BYTES: return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
  case INB_ARRAY: {
    const inb_array *x = &a->u.a, *y = &b->u.a;
    if (x->dtype != y->dtype || x->ndim != y->ndim) return false;
    for (int d = 0; d < x->ndim; d++)
      if (x->shape[d] != y->shape[d]) return false;
    size_t bytes = inb_array_count(x) * inb_dtype_size(x->dtype);
    return bytes == 0 || memcmp(x->data, y->data, bytes) == 0;
  }
  }
  return false;
}

static void assert_args_eq(const inb_args *a, const inb_args *b) {
  assert_int_equal(inb_args_npos(a), inb_args_npos(b));
  for (size_t i = 0; i < inb_args_npos(a); i++) assert_true(value_eq(inb_args_at(a, i), inb_args_at(b, i)));
  assert_int_equal(inb_args_nnamed(a), inb_args_nnamed(b));
  for (size_t i = 0; i < inb_args_nnamed(a); i++) {
    assert_string_equal(inb_args_name(a, i), inb_args_name(b, i)); /* order kept */
    assert_true(value_eq(inb_args_get(a, inb_args_name(a, i)), inb_args_get(b, inb_args_name(a, i))));
  }
}

static inb_array array_of(inb_dtype t, int ndim, const int64_t *shape, void *data) {
  inb_array a = {.dtype = t, .ndim = ndim, .data = data};
  for (int d = 0; d < ndim; d++) a.shape[d] = shape[d];
  return a;
}

/* Data the sample arrays view; filled with a pattern once. */
static double f64_data[24];
static uint8_t u8_data[5] = {7, 8, 9, 10, 11};
static int16_t i16_data[5] = {-1, 2, -3, 4, -5};
static float f32_scalar = 2.5f;

static void fill_data(void) {
  for (int i = 0; i < 24; i++) f64_data[i] = i * 0.5 - 3;
}

/* A list with every kind, positional and named; arrays of odd sizes come before ones needing alignment. */
static inb_args *sample_args(void) {
  fill_data();
  inb_args *a = inb_args_new();
  assert_non_null(a);
  static const char bytes[] = {0, 1, 2, (char)0xff, 0};
  const int64_t s3[] = {3}, s234[] = {2, 3, 4}, s5[] = {5}, s0[] = {4, 0, 2};
  assert_int_equal(inb_args_add(a, inb_none()), 0);
  assert_int_equal(inb_args_add(a, inb_bool(true)), 0);
  assert_int_equal(inb_args_add(a, inb_bool(false)), 0);
  assert_int_equal(inb_args_add(a, inb_int(-1234567890123LL)), 0);
  assert_int_equal(inb_args_add(a, inb_real(-0.0)), 0);
  assert_int_equal(inb_args_add(a, inb_str("hello, wire")), 0);
  assert_int_equal(inb_args_add(a, inb_str("")), 0);
  assert_int_equal(inb_args_add(a, inb_bytes(bytes, sizeof bytes)), 0);
  assert_int_equal(inb_args_add(a, inb_bytes(NULL, 0)), 0);
  assert_int_equal(inb_args_add(a, inb_arr(array_of(INB_U8, 1, s3, u8_data))), 0);
  assert_int_equal(inb_args_add(a, inb_arr(array_of(INB_F64, 3, s234, f64_data))), 0);
  assert_int_equal(inb_args_put(a, "scale", inb_real(1.5)), 0);
  assert_int_equal(inb_args_put(a, "label", inb_str("x")), 0);
  assert_int_equal(inb_args_put(a, "nothing", inb_none()), 0);
  assert_int_equal(inb_args_put(a, "flag", inb_bool(true)), 0);
  assert_int_equal(inb_args_put(a, "n", inb_int(42)), 0);
  assert_int_equal(inb_args_put(a, "blob", inb_bytes(bytes, 3)), 0);
  assert_int_equal(inb_args_put(a, "row", inb_arr(array_of(INB_I16, 1, s5, i16_data))), 0);
  assert_int_equal(inb_args_put(a, "scalar", inb_arr(array_of(INB_F32, 0, NULL, &f32_scalar))), 0);
  assert_int_equal(inb_args_put(a, "empty", inb_arr(array_of(INB_I64, 3, s0, NULL))), 0);
  return a;
}

/* A message of one sample list, then results: ok with each kind, and failed ones. */
static void sample_message(inb__buf *b) {
  inb_args *a = sample_args();
  static const char blob[] = {1, 2, 3};
  const int64_t s2[] = {2};
  const inb__wire_result rs[] = {
      {.task = 0, .ok = true, .value = inb_none()},
      {.task = 1, .ok = true, .value = inb_int(-7)},
      {.task = 2, .ok = true, .value = inb_str("done")},
      {.task = 3, .ok = false, .error = {.rank = 3, .code = -6, .message = "NaN in input"}},
      {.task = 4, .ok = true, .value = inb_arr(array_of(INB_F64, 1, s2, f64_data))},
      {.task = 5, .ok = true, .value = inb_bytes(blob, 3)},
      {.task = 6, .ok = false, .error = {.rank = 0, .code = 17, .message = ""}},
      {.task = 7, .ok = true, .value = inb_bool(true)},
  };
  size_t n = sizeof rs / sizeof rs[0];
  assert_int_equal(inb__wire_put_header(b, 1 + n), 0);
  assert_int_equal(inb__wire_pack_args(b, a), 0);
  for (size_t i = 0; i < n; i++) assert_int_equal(inb__wire_pack_result(b, &rs[i]), 0);
  inb__wire_seal(b, 0, 1 + n);
  inb_args_free(&a);
}

/* Decodes a whole message (header, every record, nothing left over) from an exact-size copy of src.
 * Returns the first failure; every list is freed. */
static int decode_message(const uint8_t *src, size_t n) {
  uint8_t *p = exact_copy(src, n);
  uint64_t count = 0;
  size_t off = 0;
  int rc = inb__wire_get_header(p, n, &count, &off);
  for (uint64_t i = 0; rc == 0 && i < count; i++) {
    int type = 0;
    if ((rc = inb__wire_peek(p, n, off, &type))) break;
    if (type == INB__WIRE_ARGS) {
      inb_args *a = NULL;
      rc = inb__wire_unpack_args(p, n, &off, &a);
      assert_true(rc == 0 || a == NULL);
      inb_args_free(&a);
    } else {
      inb__wire_result r;
      rc = inb__wire_unpack_result(p, n, &off, &r);
    }
  }
  if (rc == 0) rc = inb__wire_end(n, off);
  free(p);
  return rc;
}

/* Decodes the records of a headerless p[0..n) until the end or the first failure. Sets bit k of ends (when
 * not NULL) for every record that ends at byte k. */
static int decode_records(const uint8_t *src, size_t n, uint8_t *ends) {
  uint8_t *p = exact_copy(src, n);
  size_t off = 0;
  int rc = 0;
  while (rc == 0 && off < n) {
    int type = 0;
    if ((rc = inb__wire_peek(p, n, off, &type))) break;
    if (type == INB__WIRE_ARGS) {
      inb_args *a = NULL;
      rc = inb__wire_unpack_args(p, n, &off, &a);
      inb_args_free(&a);
    } else {
      inb__wire_result r;
      rc = inb__wire_unpack_result(p, n, &off, &r);
    }
    if (rc == 0 && ends) ends[off / 8] |= (uint8_t)(1u << off % 8);
  }
  free(p);
  return rc;
}

static void assert_corrupt_at(int rc, const char *where) {
  assert_int_equal(rc, INB_ECORRUPT);
  if (!strstr(inb_errmsg(), where)) fail_msg("expected '%s' in: %s", where, inb_errmsg());
}

/* ---- Round trips --------------------------------------------------------------------------------------- */

static void test_every_kind_round_trips_positional_and_named(void **state) {
  (void)state;
  inb_args *in = sample_args(), *out = NULL;
  inb__buf b = {0};
  assert_int_equal(inb__wire_pack_args(&b, in), 0);
  size_t off = 0;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), 0);
  assert_int_equal(off, b.n);
  assert_args_eq(in, out);
  /* STR and BYTES are the list's own copies; ARRAY data views the buffer. */
  const inb_value *s = inb_args_at(out, 5);
  assert_true(s->u.s.p < (const char *)b.p || s->u.s.p >= (const char *)b.p + b.n);
  assert_int_equal(s->u.s.p[s->u.s.n], '\0');
  const inb_value *arr = inb_args_at(out, 10);
  assert_true((uint8_t *)arr->u.a.data >= b.p && (uint8_t *)arr->u.a.data < b.p + b.n);
  inb_args_free(&in);
  inb_args_free(&out);
  inb__buf_release(&b);
}

static void test_null_and_empty_lists_pack_as_empty(void **state) {
  (void)state;
  inb__buf b = {0};
  inb_args *empty = inb_args_new(), *out = NULL;
  assert_int_equal(inb__wire_pack_args(&b, NULL), 0);
  assert_int_equal(inb__wire_pack_args(&b, empty), 0);
  assert_int_equal(b.n, 48);
  size_t off = 0;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), 0);
    assert_int_equal(inb_args_npos(out) + inb_args_nnamed(out), 0);
    inb_args_free(&out);
  }
  assert_int_equal(off, b.n);
  inb_args_free(&empty);
  inb__buf_release(&b);
}

static void test_arrays_of_every_dtype_and_shape_arrive_as_aligned_views(void **state) {
  (void)state;
  static uint64_t data[64]; /* enough for every shape below, of every dtype */
  for (int i = 0; i < 64; i++) data[i] = 0x0102030405060708ull * (uint64_t)(i + 1);
  const int64_t shapes[][INB_MAX_DIMS] = {{0}, {1}, {3}, {0}, {2, 3}, {3, 0, 5}, {1, 2, 1, 2, 1, 2, 1, 2}, {7}};
  const int ndims[] = {0, 1, 1, 1, 2, 3, 8, 1};
  size_t nshapes = sizeof ndims / sizeof ndims[0];
  inb_args *in = inb_args_new(), *out = NULL;
  /* Every dtype with every shape, positional; a 1-byte array before each, so alignment needs padding. */
  for (int t = INB_I8; t <= INB_F64; t++)
    for (size_t s = 0; s < nshapes; s++) {
      const int64_t one[] = {1};
      assert_int_equal(inb_args_add(in, inb_arr(array_of(INB_U8, 1, one, data))), 0);
      assert_int_equal(inb_args_add(in, inb_arr(array_of((inb_dtype)t, ndims[s], shapes[s], data))), 0);
    }
  inb__buf b = {0};
  size_t size = 0;
  assert_int_equal(inb__wire_args_size(in, &size), 0);
  assert_int_equal(inb__wire_pack_args(&b, in), 0);
  assert_int_equal(b.n, size);
  size_t off = 0;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), 0);
  assert_args_eq(in, out);
  for (size_t i = 0; i < inb_args_npos(out); i++) {
    const inb_array *a = &inb_args_at(out, i)->u.a;
    assert_int_equal((uintptr_t)a->data % 8, 0); /* 8-aligned: every dtype's alignment */
    assert_int_equal((uintptr_t)a->data % inb_dtype_size(a->dtype), 0);
    assert_true((uint8_t *)a->data >= b.p && (uint8_t *)a->data <= b.p + b.n);
  }
  inb_args_free(&in);
  inb_args_free(&out);
  inb__buf_release(&b);
}

static void test_results_ok_and_failed_round_trip(void **state) {
  (void)state;
  inb__buf b = {0};
  sample_message(&b);
  uint64_t count = 0;
  size_t off = 0;
  assert_int_equal(inb__wire_get_header(b.p, b.n, &count, &off), 0);
  assert_int_equal(count, 9);
  inb_args *a = NULL;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &a), 0);
  inb_args_free(&a);
  inb__wire_result r[8];
  for (int i = 0; i < 8; i++) {
    int type = 0;
    assert_int_equal(inb__wire_peek(b.p, b.n, off, &type), 0);
    assert_int_equal(type, INB__WIRE_RESULT);
    assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &r[i]), 0);
    assert_int_equal(r[i].task, (uint64_t)i);
  }
  assert_int_equal(inb__wire_end(b.n, off), 0);
  assert_true(r[1].ok && r[1].value.kind == INB_INT && r[1].value.u.i == -7);
  assert_true(r[2].ok && r[2].value.kind == INB_STR);
  assert_string_equal(r[2].value.u.s.p, "done"); /* NUL-terminated in the buffer */
  assert_false(r[3].ok);
  assert_int_equal(r[3].value.kind, INB_NONE);
  assert_int_equal(r[3].error.task, 3);
  assert_int_equal(r[3].error.rank, 3);
  assert_int_equal(r[3].error.code, -6);
  assert_string_equal(r[3].error.message, "NaN in input");
  assert_true(r[4].ok && r[4].value.kind == INB_ARRAY && r[4].value.u.a.shape[0] == 2);
  assert_int_equal((uintptr_t)r[4].value.u.a.data % 8, 0);
  assert_memory_equal(r[4].value.u.a.data, f64_data, 2 * sizeof(double));
  assert_true(r[5].ok && r[5].value.kind == INB_BYTES && r[5].value.u.s.n == 3);
  assert_int_equal(r[6].error.code, 17);
  assert_string_equal(r[6].error.message, "");
  assert_true(r[7].ok && r[7].value.kind == INB_BOOL && r[7].value.u.b);
  inb__buf_release(&b);
}

static void test_failed_record_without_message_carries_the_code_description(void **state) {
  (void)state;
  inb__buf b = {0};
  inb__wire_result in = {.task = 9, .error = {.task = 123, .rank = 2, .code = INB_ECANCELED}}, out;
  assert_int_equal(inb__wire_pack_result(&b, &in), 0);
  size_t off = 0;
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &out), 0);
  assert_string_equal(out.error.message, inb_strerror(INB_ECANCELED));
  assert_int_equal(out.error.task, 9); /* the record's task wins */
  inb__buf_release(&b);
}

static void test_many_records_share_one_message(void **state) {
  (void)state;
  enum { N = 2000 };
  inb__buf b = {0};
  assert_int_equal(inb__wire_put_header(&b, 0), 0);
  for (int i = 0; i < N; i++) {
    if (i % 2) {
      inb__wire_result r = {.task = (uint64_t)i, .ok = true, .value = inb_int(i * 3)};
      assert_int_equal(inb__wire_pack_result(&b, &r), 0);
    } else {
      inb_args *a = inb_args_new();
      const int64_t shape[] = {i % 5};
      assert_int_equal(inb_args_add(a, inb_int(i)), 0);
      assert_int_equal(inb_args_add(a, inb_arr(array_of(INB_U8, 1, shape, u8_data))), 0);
      assert_int_equal(inb_args_put(a, "k", inb_str(i % 3 ? "abc" : "")), 0);
      assert_int_equal(inb__wire_pack_args(&b, a), 0);
      inb_args_free(&a);
    }
  }
  inb__wire_seal(&b, 0, N);
  uint64_t count = 0;
  size_t off = 0;
  assert_int_equal(inb__wire_get_header(b.p, b.n, &count, &off), 0);
  assert_int_equal(count, N);
  for (int i = 0; i < N; i++) {
    int type = 0;
    assert_int_equal(inb__wire_peek(b.p, b.n, off, &type), 0);
    if (i % 2) {
      inb__wire_result r;
      assert_int_equal(type, INB__WIRE_RESULT);
      assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &r), 0);
      assert_int_equal(r.value.u.i, i * 3);
    } else {
      inb_args *a = NULL;
      assert_int_equal(type, INB__WIRE_ARGS);
      assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &a), 0);
      assert_int_equal(inb_args_at(a, 0)->u.i, i);
      assert_int_equal(inb_args_at(a, 1)->u.a.shape[0], i % 5);
      assert_string_equal(inb_args_get(a, "k")->u.s.p, i % 3 ? "abc" : "");
      inb_args_free(&a);
    }
  }
  assert_int_equal(inb__wire_end(b.n, off), 0);
  inb__buf_release(&b);
}

static void test_packed_size_is_exactly_what_pack_appends(void **state) {
  (void)state;
  inb_args *a = sample_args();
  inb__buf b = {0};
  assert_int_equal(inb__buf_append(&b, "x", 1), 0); /* an unaligned start: padding is not in the size */
  size_t size = 0;
  assert_int_equal(inb__wire_args_size(a, &size), 0);
  assert_int_equal(inb__wire_pack_args(&b, a), 0);
  assert_int_equal(b.n, 8 + size);
  inb__wire_result r = {.task = 1, .error = {.rank = 1, .code = 5, .message = "seven"}};
  assert_int_equal(inb__wire_result_size(&r, &size), 0);
  size_t before = b.n;
  assert_int_equal(inb__wire_pack_result(&b, &r), 0);
  assert_int_equal(b.n - before, size);
  assert_int_equal(size % 8, 0);
  inb_args_free(&a);
  inb__buf_release(&b);
}

static void test_repacking_an_unpacked_message_gives_the_same_bytes(void **state) {
  (void)state;
  inb__buf b = {0}, again = {0};
  sample_message(&b);
  uint64_t count = 0;
  size_t off = 0;
  assert_int_equal(inb__wire_get_header(b.p, b.n, &count, &off), 0);
  assert_int_equal(inb__wire_put_header(&again, count), 0);
  for (uint64_t i = 0; i < count; i++) {
    int type = 0;
    assert_int_equal(inb__wire_peek(b.p, b.n, off, &type), 0);
    if (type == INB__WIRE_ARGS) {
      inb_args *a = NULL;
      assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &a), 0);
      assert_int_equal(inb__wire_pack_args(&again, a), 0);
      inb_args_free(&a);
    } else {
      inb__wire_result r;
      assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &r), 0);
      assert_int_equal(inb__wire_pack_result(&again, &r), 0);
    }
  }
  inb__wire_seal(&again, 0, count);
  assert_int_equal(again.n, b.n);
  assert_memory_equal(again.p, b.p, b.n);
  inb__buf_release(&b);
  inb__buf_release(&again);
}

/* ---- Malformed input ----------------------------------------------------------------------------------- */

static void test_every_truncation_is_corrupt(void **state) {
  (void)state;
  inb__buf b = {0};
  sample_message(&b);
  assert_int_equal(decode_message(b.p, b.n), 0);
  for (size_t k = 0; k < b.n; k++) assert_int_equal(decode_message(b.p, k), INB_ECORRUPT);
  /* The header's size catches the above at once; cut the records alone too, so that every bounds check in
   * the record decoders meets the end of the buffer. */
  const uint8_t *records = b.p + INB__WIRE_HEADER_BYTES;
  size_t n = b.n - INB__WIRE_HEADER_BYTES;
  uint8_t *ends = calloc(n / 8 + 1, 1);
  assert_int_equal(decode_records(records, n, ends), 0);
  size_t cuts = 0;
  for (size_t k = 1; k < n; k++) {
    if (ends[k / 8] & (1u << k % 8)) continue; /* a cut between records leaves whole records: valid */
    if (decode_records(records, k, NULL) != INB_ECORRUPT) fail_msg("records cut at %zu bytes were not corrupt", k);
    cuts++;
  }
  assert_true(cuts > n - 16);
  free(ends);
  inb__buf_release(&b);
}

static void test_bit_flips_decode_or_are_corrupt(void **state) {
  (void)state;
  inb__buf b = {0};
  sample_message(&b);
  size_t decoded = 0, corrupt = 0;
  for (size_t i = 0; i < b.n; i++)
    for (int bit = 0; bit < 8; bit++) {
      b.p[i] ^= (uint8_t)(1u << bit);
      int rc = decode_message(b.p, b.n);
      if (rc != 0 && rc != INB_ECORRUPT) fail_msg("flip of bit %d at byte %zu gave %d", bit, i, rc);
      rc == 0 ? decoded++ : corrupt++;
      b.p[i] ^= (uint8_t)(1u << bit);
    }
  /* Flips inside numbers and data decode; flips in structure are caught. Both must happen. */
  assert_true(decoded > 0 && corrupt > 0);
  print_message("bit flips: %zu decoded, %zu corrupt\n", decoded, corrupt);
  inb__buf_release(&b);
}

/* Writes a u64 at byte `at` of b (for forging fields). */
static void poke_u64(inb__buf *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }

static void test_huge_declared_lengths_are_corrupt(void **state) {
  (void)state;
  const uint64_t huge[] = {UINT64_MAX, (uint64_t)1 << 62, (uint64_t)1 << 31, 4096};
  for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
    inb__buf b = {0};
    inb_args *a = inb_args_new();
    assert_int_equal(inb_args_add(a, inb_str("abc")), 0);
    assert_int_equal(inb__wire_pack_args(&b, a), 0); /* word 0, npos 8, nnamed 16, value 24, str len 32 */
    inb_args_free(&a);
    inb__buf forged = {0};
    const size_t fields[] = {8, 16, 32};
    for (size_t f = 0; f < 3; f++) {
      forged.n = 0;
      assert_int_equal(inb__buf_append(&forged, b.p, b.n), 0);
      poke_u64(&forged, fields[f], huge[h]);
      size_t off = 0;
      assert_int_equal(inb__wire_unpack_args(forged.p, forged.n, &off, &a), INB_ECORRUPT);
      assert_null(a);
      assert_int_equal(off, 0);
    }
    /* A huge array dimension, and dimensions whose product overflows. */
    inb__buf_release(&b);
    const int64_t shape[] = {2, 2};
    inb__wire_result r = {.ok = true, .value = inb_arr(array_of(INB_F64, 2, shape, f64_data))}, out;
    assert_int_equal(inb__wire_pack_result(&b, &r), 0); /* word 0, task 8, value 16, shape 24 and 32 */
    poke_u64(&b, 24, huge[h] >> 1);
    size_t off = 0;
    assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &out), INB_ECORRUPT);
    poke_u64(&b, 32, huge[h] >> 1);
    assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &out), INB_ECORRUPT);
    inb__buf_release(&b);
    /* A huge message size or record count in the header. */
    sample_message(&b);
    poke_u64(&b, 16, huge[h]);
    assert_corrupt_at(decode_message(b.p, b.n), "at byte 16");
    poke_u64(&b, 16, b.n);
    poke_u64(&b, 8, huge[h]);
    assert_corrupt_at(decode_message(b.p, b.n), "at byte 8");
    inb__buf_release(&b);
    inb__buf_release(&forged);
  }
}

/* A message with one argument-list record holding `v` positionally: its value word is at byte 48. */
static void one_value_message(inb__buf *b, inb_value v) {
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, v), 0);
  assert_int_equal(inb__wire_put_header(b, 1), 0);
  assert_int_equal(inb__wire_pack_args(b, a), 0);
  inb__wire_seal(b, 0, 1);
  inb_args_free(&a);
}

static void test_malformed_fields_are_named_with_their_offset(void **state) {
  (void)state;
  const int64_t shape[] = {2};
  struct {
    inb_value v;
    size_t at;
    uint8_t byte;
    const char *where, *what;
  } cases[] = {
      {inb_int(1), 48, 9, "at byte 48", "value kind 9"},
      {inb_int(1), 49, 1, "at byte 49", "non-array"},
      {inb_bool(true), 51, 2, "at byte 51", "boolean"},
      {inb_int(1), 52, 1, "at byte 52", "reserved"},
      {inb_arr(array_of(INB_I16, 1, shape, i16_data)), 49, 10, "at byte 49", "dtype 10"},
      {inb_arr(array_of(INB_I16, 1, shape, i16_data)), 50, 9, "at byte 50", "ndim 9"},
      {inb_arr(array_of(INB_I16, 1, shape, i16_data)), 63, 0x80, "at byte 56", "negative"},
      {inb_arr(array_of(INB_I16, 1, shape, i16_data)), 68, 1, "at byte 68", "padding"},
      {inb_str("ab"), 66, 'c', "at byte 66", "NUL-terminated"},
      {inb_str("ab"), 67, 1, "at byte 66", "padding"},
      {inb_int(1), 24, 3, "at byte 24", "record"},
      {inb_int(1), 25, 1, "at byte 25", "status"},
      {inb_int(1), 0, 'X', "at byte 0", "magic"},
      {inb_int(1), 4, 3, "at byte 4", "version 3"},
      {inb_int(1), 6, 0x01, "at byte 6", "byte-order"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    inb__buf b = {0};
    one_value_message(&b, cases[c].v);
    assert_int_equal(decode_message(b.p, b.n), 0);
    b.p[cases[c].at] = cases[c].byte;
    assert_corrupt_at(decode_message(b.p, b.n), cases[c].where);
    if (!strstr(inb_errmsg(), cases[c].what))
      fail_msg("case %zu: expected '%s' in: %s", c, cases[c].what, inb_errmsg());
    inb__buf_release(&b);
  }
  /* A message from a host of the other byte order: the mark reads swapped. */
  inb__buf b = {0};
  one_value_message(&b, inb_none());
  b.p[6] = 0x01;
  b.p[7] = 0x02;
  assert_corrupt_at(decode_message(b.p, b.n), "other byte order");
  /* Bytes after the last record. */
  b.p[6] = 0x02;
  b.p[7] = 0x01;
  b.p[8] = 0; /* zero records */
  assert_corrupt_at(decode_message(b.p, b.n), "left over");
  inb__buf_release(&b);
}

static void test_bad_names_and_error_records_are_corrupt(void **state) {
  (void)state;
  inb__buf b = {0};
  inb_args *a = inb_args_new(), *out = NULL;
  assert_int_equal(inb_args_put(a, "ab", inb_none()), 0);
  assert_int_equal(inb_args_put(a, "cd", inb_none()), 0);
  assert_int_equal(inb__wire_pack_args(&b, a), 0); /* names at 24 ("ab" at 32) and 48 ("cd" at 56) */
  inb_args_free(&a);
  size_t off = 0;
  b.p[56] = 'a', b.p[57] = 'b';
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "duplicate name 'ab'"));
  b.p[33] = 0;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "NUL byte"));
  poke_u64(&b, 24, 0);
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "empty name"));
  assert_null(out);
  inb__buf_release(&b);

  inb__wire_result r = {.task = 1, .error = {.rank = 1, .code = 5, .message = "m", .attempts = 3}}, got;
  assert_int_equal(inb__wire_pack_result(&b, &r), 0); /* rank 16, code 20, attempts 24, reserved 28 */
  off = 0;
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &got), 0);
  assert_int_equal(got.error.attempts, 3); /* a retried task's record says how often it ran */
  off = 0;
  b.p[28] = 1;
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &got), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "reserved"));
  b.p[28] = 0;
  memset(b.p + 24, 0xff, 4);
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &got), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "negative attempts"));
  memset(b.p + 24, 0, 4);
  memset(b.p + 20, 0, 4);
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &got), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "code 0"));
  memset(b.p + 16, 0xff, 4);
  assert_int_equal(inb__wire_unpack_result(b.p, b.n, &off, &got), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "negative rank"));
  /* An ok record read as an argument list, and the other way round. */
  b.p[1] = 0;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &out), INB_ECORRUPT);
  assert_non_null(strstr(inb_errmsg(), "expected an argument-list record"));
  inb__buf_release(&b);
}

/* ---- Packing errors and the buffer --------------------------------------------------------------------- */

static void test_pack_rejects_unpackable_values_and_leaves_the_buffer_alone(void **state) {
  (void)state;
  const int64_t neg[] = {2, -1}, big[] = {INT64_MAX, INT64_MAX};
  inb_value bad[] = {
      inb_arr(array_of(INB_F64, 2, neg, f64_data)),
      inb_arr(array_of(INB_F64, 2, big, f64_data)),
      inb_arr(array_of(INB_F64, 1, (const int64_t[]){3}, NULL)),
      inb_bytes(NULL, 5),
  };
  inb__buf b = {0};
  assert_int_equal(inb__buf_append(&b, "abc", 3), 0);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    inb__wire_result r = {.ok = true, .value = bad[i]};
    assert_int_equal(inb__wire_pack_result(&b, &r), INB_EINVAL);
    assert_int_equal(b.n, 3);
    assert_non_null(strstr(inb_errmsg(), "cannot pack"));
  }
  inb_value v = inb_int(1);
  v.kind = (inb_kind)42;
  inb__wire_result r = {.ok = true, .value = v};
  assert_int_equal(inb__wire_pack_result(&b, &r), INB_EINVAL);
  inb__wire_result e = {.error = {.code = 0}};
  assert_int_equal(inb__wire_pack_result(&b, &e), INB_EINVAL);
  e.error = (inb_error){.code = 1, .rank = -1};
  assert_int_equal(inb__wire_pack_result(&b, &e), INB_EINVAL);
  assert_int_equal(b.n, 3);
  inb__buf_release(&b);
}

static void test_buffer_growth_failure_is_enomem_and_keeps_the_bytes(void **state) {
  (void)state;
  inb__buf b = {0};
  assert_int_equal(inb__buf_append(&b, "abcdefgh", 8), 0);
  assert_int_equal(inb__buf_reserve(&b, SIZE_MAX), INB_ENOMEM);
  assert_int_equal(inb__buf_reserve(&b, SIZE_MAX - 8), INB_ENOMEM); /* fits size_t, not memory */
  assert_int_equal(b.n, 8);
  assert_memory_equal(b.p, "abcdefgh", 8);
  assert_int_equal(inb__buf_pad8(&b), 0);
  assert_int_equal(b.n, 8);
  assert_int_equal(inb__buf_append(&b, "z", 1), 0);
  assert_int_equal(inb__buf_pad8(&b), 0);
  assert_int_equal(b.n, 16);
  inb__buf_release(&b);
  assert_null(b.p);
  inb__buf_release(NULL);
}

static void test_unpack_refuses_misaligned_buffers(void **state) {
  (void)state;
  inb__buf b = {0};
  assert_int_equal(inb__wire_pack_args(&b, NULL), 0);
  uint8_t *shifted = malloc(b.n + 1);
  memcpy(shifted + 1, b.p, b.n);
  inb_args *a = NULL;
  size_t off = 0;
  assert_int_equal(inb__wire_unpack_args(shifted + 1, b.n, &off, &a), INB_EINVAL);
  off = 4;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &a), INB_EINVAL);
  off = b.n + 8;
  assert_int_equal(inb__wire_unpack_args(b.p, b.n, &off, &a), INB_EINVAL);
  free(shifted);
  inb__buf_release(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind_round_trips_positional_and_named),
      cmocka_unit_test(test_null_and_empty_lists_pack_as_empty),
      cmocka_unit_test(test_arrays_of_every_dtype_and_shape_arrive_as_aligned_views),
      cmocka_unit_test(test_results_ok_and_failed_round_trip),
      cmocka_unit_test(test_failed_record_without_message_carries_the_code_description),
      cmocka_unit_test(test_many_records_share_one_message),
      cmocka_unit_test(test_packed_size_is_exactly_what_pack_appends),
      cmocka_unit_test(test_repacking_an_unpacked_message_gives_the_same_bytes),
      cmocka_unit_test(test_every_truncation_is_corrupt),
      cmocka_unit_test(test_bit_flips_decode_or_are_corrupt),
      cmocka_unit_test(test_huge_declared_lengths_are_corrupt),
      cmocka_unit_test(test_malformed_fields_are_named_with_their_offset),
      cmocka_unit_test(test_bad_names_and_error_records_are_corrupt),
      cmocka_unit_test(test_pack_rejects_unpackable_values_and_leaves_the_buffer_alone),
      cmocka_unit_test(test_buffer_growth_failure_is_enomem_and_keeps_the_bytes),
      cmocka_unit_test(test_unpack_refuses_misaligned_buffers),
  };
  return cmocka_run_group_tests_name("wire", tests, NULL, NULL);
}
