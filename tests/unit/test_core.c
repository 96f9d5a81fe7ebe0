/* Unit tests of the core layer: status codes and messages, dtypes, array views, values, argument lists and
 * batches. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- status codes and messages ------------------------------------------------------------------- */

static void test_strerror_describes_every_code_and_never_returns_null(void **state) {
  (void)state;
  const int codes[] = {INB_OK,  INB_EINVAL,   INB_ENOMEM,    INB_EITEM,    INB_EIO,
                       INB_EMPI, INB_ECORRUPT, INB_ECANCELED, INB_ENOTFOUND};
  const size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    const char *s = inb_strerror(codes[i]);
    assert_non_null(s);
    assert_true(s[0] != '\0');
    for (size_t j = 0; j < i; j++) assert_string_not_equal(s, inb_strerror(codes[j]));
  }
  assert_non_null(strstr(inb_strerror(INB_EINVAL), "invalid"));
}

static void test_strerror_of_an_unknown_code_is_not_null(void **state) {
  (void)state;
  assert_non_null(inb_strerror(-12345));
  assert_non_null(inb_strerror(77));
}

/* Copies the thread's message: its buffer may die with the thread. */
static void *read_errmsg_in_thread(void *arg) {
  char *seen = arg;
  const char *m = inb_errmsg();
  snprintf(seen, 64, "%s", m ? m : "(null)");
  return NULL;
}

static void test_errmsg_is_empty_in_a_fresh_thread(void **state) {
  (void)state;
  char seen[64] = "not set";
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, read_errmsg_in_thread, seen), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_string_equal(seen, "");
}

/* A failing call in this thread: a component whose rows do not match the batch. */
static int fail_a_batch_set(const char *name) {
  inb_batch *b = inb_batch_new(NULL, 3);
  int32_t data[2] = {1, 2};
  inb_array a = {.dtype = INB_I32, .ndim = 1, .shape = {2}, .data = data};
  int rc = inb_batch_set(b, name, a, false);
  inb_batch_free(&b);
  return rc;
}

static void test_errmsg_is_set_by_a_failure_and_kept_by_successful_calls(void **state) {
  (void)state;
  assert_int_equal(fail_a_batch_set("wrong_rows"), INB_EINVAL);
  char before[1024];
  snprintf(before, sizeof before, "%s", inb_errmsg());
  assert_true(before[0] != '\0');

  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, inb_int(1)), 0);
  assert_int_equal(inb_args_put(a, "k", inb_str("v")), 0);
  inb_args_free(&a);
  inb_batch *b = inb_batch_new(NULL, 2);
  int32_t data[2] = {1, 2};
  assert_int_equal(inb_batch_set(b, "ok", (inb_array){.dtype = INB_I32, .ndim = 1, .shape = {2}, .data = data},
                                 false), 0);
  inb_batch_free(&b);

  assert_string_equal(inb_errmsg(), before);
}

static void *fail_in_thread(void *arg) {
  int *rc = arg;
  *rc = fail_a_batch_set("other_thread");
  return NULL;
}

static void test_errmsg_is_thread_local(void **state) {
  (void)state;
  assert_int_equal(fail_a_batch_set("main_thread"), INB_EINVAL);
  char before[1024];
  snprintf(before, sizeof before, "%s", inb_errmsg());

  int rc = 0;
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, fail_in_thread, &rc), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(rc, INB_EINVAL);
  assert_string_equal(inb_errmsg(), before);
}

/* ---- dtypes and arrays --------------------------------------------------------------------------- */

static void test_dtype_sizes_match_c_types(void **state) {
  (void)state;
  assert_int_equal(inb_dtype_size(INB_I8), 1);
  assert_int_equal(inb_dtype_size(INB_U8), 1);
  assert_int_equal(inb_dtype_size(INB_I16), 2);
  assert_int_equal(inb_dtype_size(INB_U16), 2);
  assert_int_equal(inb_dtype_size(INB_I32), 4);
  assert_int_equal(inb_dtype_size(INB_U32), 4);
  assert_int_equal(inb_dtype_size(INB_I64), 8);
  assert_int_equal(inb_dtype_size(INB_U64), 8);
  assert_int_equal(inb_dtype_size(INB_F32), sizeof(float));
  assert_int_equal(inb_dtype_size(INB_F64), sizeof(double));
}

static void test_dtype_size_outside_the_enum_is_zero(void **state) {
  (void)state;
  assert_int_equal(inb_dtype_size((inb_dtype)99), 0);
  assert_int_equal(inb_dtype_size((inb_dtype)-1), 0);
}

static void test_array_count_is_the_product_of_the_shape(void **state) {
  (void)state;
  inb_array a = {.dtype = INB_F32, .ndim = 3, .shape = {2, 3, 4}};
  assert_int_equal(inb_array_count(&a), 24);
  inb_array one_d = {.dtype = INB_F32, .ndim = 1, .shape = {7}};
  assert_int_equal(inb_array_count(&one_d), 7);
  inb_array empty = {.dtype = INB_F32, .ndim = 2, .shape = {5, 0}};
  assert_int_equal(inb_array_count(&empty), 0);
}

static void test_array_count_of_a_0dim_array_is_one(void **state) {
  (void)state;
  double x = 1.5;
  inb_array a = {.dtype = INB_F64, .ndim = 0, .data = &x};
  assert_int_equal(inb_array_count(&a), 1);
}

static void test_array_row_of_a_2d_array_views_that_row(void **state) {
  (void)state;
  int32_t data[3][4];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) data[i][j] = 10 * i + j;
  inb_array a = {.dtype = INB_I32, .ndim = 2, .shape = {3, 4}, .data = data};

  inb_array r = inb_array_row(&a, 1);
  assert_int_equal(r.dtype, INB_I32);
  assert_int_equal(r.ndim, 1);
  assert_int_equal(r.shape[0], 4);
  assert_ptr_equal(r.data, &data[1][0]);
  assert_int_equal(((int32_t *)r.data)[3], 13);
}

static void test_array_row_of_a_3d_array_keeps_the_trailing_dims(void **state) {
  (void)state;
  uint16_t data[2][3][4];
  for (int i = 0; i < 24; i++) (&data[0][0][0])[i] = (uint16_t)i;
  inb_array a = {.dtype = INB_U16, .ndim = 3, .shape = {2, 3, 4}, .data = data};

  inb_array r = inb_array_row(&a, 1);
  assert_int_equal(r.ndim, 2);
  assert_int_equal(r.shape[0], 3);
  assert_int_equal(r.shape[1], 4);
  assert_int_equal(inb_array_count(&r), 12);
  assert_ptr_equal(r.data, &data[1][0][0]);
  assert_int_equal(((uint16_t *)r.data)[0], 12);
}

static void test_array_row_of_a_1d_array_is_a_0dim_scalar_view(void **state) {
  (void)state;
  double data[5] = {0.5, 1.5, 2.5, 3.5, 4.5};
  inb_array a = {.dtype = INB_F64, .ndim = 1, .shape = {5}, .data = data};

  inb_array r = inb_array_row(&a, 3);
  assert_int_equal(r.dtype, INB_F64);
  assert_int_equal(r.ndim, 0);
  assert_int_equal(inb_array_count(&r), 1);
  assert_ptr_equal(r.data, &data[3]);
  assert_true(*(double *)r.data == 3.5);
}

static void test_array_row_out_of_range_or_of_a_0dim_array_has_null_data(void **state) {
  (void)state;
  int8_t data[4] = {1, 2, 3, 4};
  inb_array a = {.dtype = INB_I8, .ndim = 1, .shape = {4}, .data = data};
  assert_null(inb_array_row(&a, -1).data);
  assert_null(inb_array_row(&a, 4).data);
  inb_array scalar = {.dtype = INB_I8, .ndim = 0, .data = data};
  assert_null(inb_array_row(&scalar, 0).data);
}

/* ---- values -------------------------------------------------------------------------------------- */

static void test_value_constructors_set_kind_and_payload(void **state) {
  (void)state;
  assert_int_equal(inb_none().kind, INB_NONE);

  inb_value b = inb_bool(true);
  assert_int_equal(b.kind, INB_BOOL);
  assert_true(b.u.b);

  inb_value i = inb_int(-1234567890123LL);
  assert_int_equal(i.kind, INB_INT);
  assert_true(i.u.i == -1234567890123LL);

  inb_value r = inb_real(2.25);
  assert_int_equal(r.kind, INB_REAL);
  assert_true(r.u.r == 2.25);

  const char *text = "hello";
  inb_value s = inb_str(text);
  assert_int_equal(s.kind, INB_STR);
  assert_ptr_equal(s.u.s.p, text);  /* constructors copy nothing */
  assert_int_equal(s.u.s.n, 5);

  const unsigned char raw[3] = {0, 1, 2};
  inb_value y = inb_bytes(raw, sizeof raw);
  assert_int_equal(y.kind, INB_BYTES);
  assert_ptr_equal(y.u.s.p, raw);
  assert_int_equal(y.u.s.n, 3);

  float f[2] = {1, 2};
  inb_value a = inb_arr((inb_array){.dtype = INB_F32, .ndim = 1, .shape = {2}, .data = f});
  assert_int_equal(a.kind, INB_ARRAY);
  assert_int_equal(a.u.a.dtype, INB_F32);
  assert_int_equal(a.u.a.ndim, 1);
  assert_int_equal(a.u.a.shape[0], 2);
  assert_ptr_equal(a.u.a.data, f);
}

static void test_str_of_null_is_an_empty_string(void **state) {
  (void)state;
  inb_value s = inb_str(NULL);
  assert_int_equal(s.kind, INB_STR);
  assert_int_equal(s.u.s.n, 0);
  assert_non_null(s.u.s.p);
  assert_string_equal(s.u.s.p, "");
}

/* ---- argument lists ------------------------------------------------------------------------------ */

static void test_args_add_appends_positional_values_in_order(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_non_null(a);
  assert_int_equal(inb_args_npos(a), 0);
  assert_int_equal(inb_args_add(a, inb_int(7)), 0);
  assert_int_equal(inb_args_add(a, inb_real(0.5)), 0);
  assert_int_equal(inb_args_add(a, inb_bool(false)), 0);
  assert_int_equal(inb_args_add(a, inb_none()), 0);

  assert_int_equal(inb_args_npos(a), 4);
  assert_int_equal(inb_args_at(a, 0)->kind, INB_INT);
  assert_int_equal(inb_args_at(a, 0)->u.i, 7);
  assert_int_equal(inb_args_at(a, 1)->kind, INB_REAL);
  assert_true(inb_args_at(a, 1)->u.r == 0.5);
  assert_int_equal(inb_args_at(a, 2)->kind, INB_BOOL);
  assert_false(inb_args_at(a, 2)->u.b);
  assert_int_equal(inb_args_at(a, 3)->kind, INB_NONE);
  assert_null(inb_args_at(a, 4));
  assert_int_equal(inb_args_nnamed(a), 0);
  inb_args_free(&a);
}

static void test_args_add_copies_strings(void **state) {
  (void)state;
  char buf[16] = "hello";
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, inb_str(buf)), 0);
  strcpy(buf, "XXXXX");

  const inb_value *v = inb_args_at(a, 0);
  assert_int_equal(v->kind, INB_STR);
  assert_true(v->u.s.p != buf);
  assert_int_equal(v->u.s.n, 5);
  assert_string_equal(v->u.s.p, "hello");  /* also NUL-terminated */
  inb_args_free(&a);
}

static void test_args_add_copies_bytes_including_zeros(void **state) {
  (void)state;
  unsigned char buf[6] = {1, 0, 2, 0, 3, 0};
  const unsigned char expect[6] = {1, 0, 2, 0, 3, 0};
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, inb_bytes(buf, sizeof buf)), 0);
  memset(buf, 0xff, sizeof buf);

  const inb_value *v = inb_args_at(a, 0);
  assert_int_equal(v->kind, INB_BYTES);
  assert_true((const void *)v->u.s.p != (const void *)buf);
  assert_int_equal(v->u.s.n, 6);
  assert_memory_equal(v->u.s.p, expect, 6);
  inb_args_free(&a);
}

static void test_args_keep_arrays_as_views(void **state) {
  (void)state;
  int64_t data[3] = {1, 2, 3};
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, inb_arr((inb_array){.dtype = INB_I64, .ndim = 1, .shape = {3}, .data = data})),
                   0);
  const inb_value *v = inb_args_at(a, 0);
  assert_int_equal(v->kind, INB_ARRAY);
  assert_ptr_equal(v->u.a.data, data);
  assert_int_equal(v->u.a.shape[0], 3);
  inb_args_free(&a);
}

static void test_args_put_sets_a_named_value_and_get_finds_it(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, "alpha", inb_int(1)), 0);
  assert_int_equal(inb_args_put(a, "beta", inb_real(2.5)), 0);

  assert_int_equal(inb_args_npos(a), 0);
  assert_int_equal(inb_args_nnamed(a), 2);
  const inb_value *v = inb_args_get(a, "alpha");
  assert_non_null(v);
  assert_int_equal(v->kind, INB_INT);
  assert_int_equal(v->u.i, 1);
  assert_true(inb_args_get(a, "beta")->u.r == 2.5);
  assert_null(inb_args_get(a, "gamma"));
  inb_args_free(&a);
}

static void test_args_put_replaces_an_earlier_value_of_that_name(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, "x", inb_int(1)), 0);
  assert_int_equal(inb_args_put(a, "x", inb_str("two")), 0);

  assert_int_equal(inb_args_nnamed(a), 1);
  const inb_value *v = inb_args_get(a, "x");
  assert_int_equal(v->kind, INB_STR);
  assert_string_equal(v->u.s.p, "two");
  inb_args_free(&a);
}

static void test_args_put_copies_the_name_and_the_string(void **state) {
  (void)state;
  char name[16] = "key";
  char text[16] = "value";
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, name, inb_str(text)), 0);
  strcpy(name, "zzz");
  strcpy(text, "ZZZZZ");

  const inb_value *v = inb_args_get(a, "key");
  assert_non_null(v);
  assert_string_equal(v->u.s.p, "value");
  assert_null(inb_args_get(a, "zzz"));
  inb_args_free(&a);
}

static void test_args_put_copies_bytes(void **state) {
  (void)state;
  unsigned char buf[4] = {9, 0, 8, 0};
  const unsigned char expect[4] = {9, 0, 8, 0};
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, "raw", inb_bytes(buf, sizeof buf)), 0);
  memset(buf, 0, sizeof buf);
  const inb_value *v = inb_args_get(a, "raw");
  assert_int_equal(v->kind, INB_BYTES);
  assert_int_equal(v->u.s.n, 4);
  assert_memory_equal(v->u.s.p, expect, 4);
  inb_args_free(&a);
}

static void test_args_named_values_keep_their_first_put_order(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, "c", inb_int(1)), 0);
  assert_int_equal(inb_args_put(a, "a", inb_int(2)), 0);
  assert_int_equal(inb_args_put(a, "b", inb_int(3)), 0);
  assert_int_equal(inb_args_put(a, "c", inb_int(4)), 0);

  assert_int_equal(inb_args_nnamed(a), 3);
  assert_string_equal(inb_args_name(a, 0), "c");
  assert_string_equal(inb_args_name(a, 1), "a");
  assert_string_equal(inb_args_name(a, 2), "b");
  assert_null(inb_args_name(a, 3));
  assert_int_equal(inb_args_get(a, "c")->u.i, 4);
  inb_args_free(&a);
}

static void test_args_put_rejects_a_null_or_empty_name(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_put(a, NULL, inb_int(1)), INB_EINVAL);
  assert_int_equal(inb_args_put(a, "", inb_int(1)), INB_EINVAL);
  assert_int_equal(inb_args_nnamed(a), 0);
  inb_args_free(&a);
}

static void test_args_writers_reject_a_null_list_or_a_bad_kind(void **state) {
  (void)state;
  assert_int_equal(inb_args_add(NULL, inb_int(1)), INB_EINVAL);
  assert_int_equal(inb_args_put(NULL, "x", inb_int(1)), INB_EINVAL);
  inb_args *a = inb_args_new();
  inb_value bad = {.kind = (inb_kind)99};
  assert_int_equal(inb_args_add(a, bad), INB_EINVAL);
  assert_int_equal(inb_args_put(a, "x", bad), INB_EINVAL);
  assert_int_equal(inb_args_npos(a), 0);
  assert_int_equal(inb_args_nnamed(a), 0);
  inb_args_free(&a);
}

static void test_args_readers_accept_null_lists(void **state) {
  (void)state;
  assert_int_equal(inb_args_npos(NULL), 0);
  assert_null(inb_args_at(NULL, 0));
  assert_null(inb_args_get(NULL, "x"));
  assert_int_equal(inb_args_nnamed(NULL), 0);
  assert_null(inb_args_name(NULL, 0));
}

static void test_args_free_nulls_the_pointer_and_is_null_safe(void **state) {
  (void)state;
  inb_args *a = inb_args_new();
  assert_int_equal(inb_args_add(a, inb_str("held")), 0);
  inb_args_free(&a);
  assert_null(a);
  inb_args_free(&a);
  inb_args_free(NULL);
}

/* ---- batches ------------------------------------------------------------------------------------- */

static void test_batch_new_copies_the_index(void **state) {
  (void)state;
  int64_t index[3] = {40, 10, 30};
  inb_batch *b = inb_batch_new(index, 3);
  assert_non_null(b);
  index[0] = -5;
  assert_int_equal(inb_batch_size(b), 3);
  assert_int_equal(inb_batch_index(b, 0), 40);
  assert_int_equal(inb_batch_index(b, 1), 10);
  assert_int_equal(inb_batch_index(b, 2), 30);
  assert_int_equal(inb_batch_ncomponents(b), 0);
  inb_batch_free(&b);
}

static void test_batch_new_without_index_numbers_items_from_zero(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 4);
  assert_int_equal(inb_batch_size(b), 4);
  for (size_t i = 0; i < 4; i++) assert_int_equal(inb_batch_index(b, i), (int64_t)i);
  inb_batch_free(&b);
}

static void test_batch_index_out_of_range_is_minus_one(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 2);
  assert_int_equal(inb_batch_index(b, 2), -1);
  inb_batch_free(&b);
}

static void test_batch_free_nulls_the_pointer_and_is_null_safe(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 1);
  inb_batch_free(&b);
  assert_null(b);
  inb_batch_free(&b);
  inb_batch_free(NULL);
  assert_int_equal(inb_batch_size(NULL), 0);
}

static void test_batch_set_then_get_returns_a_view_of_the_data(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 3);
  double data[3][2] = {{1, 2}, {3, 4}, {5, 6}};
  inb_array a = {.dtype = INB_F64, .ndim = 2, .shape = {3, 2}, .data = data};
  assert_int_equal(inb_batch_set(b, "pos", a, false), 0);

  inb_array *got = inb_batch_get(b, "pos");
  assert_non_null(got);
  assert_int_equal(got->dtype, INB_F64);
  assert_int_equal(got->ndim, 2);
  assert_int_equal(got->shape[0], 3);
  assert_int_equal(got->shape[1], 2);
  assert_ptr_equal(got->data, data);
  assert_null(inb_batch_get(b, "absent"));
  inb_batch_free(&b);
  assert_true(data[2][1] == 6);  /* not taken: the batch left it alone */
}

static void test_batch_set_with_take_frees_the_data_with_the_batch(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 4);
  int32_t *data = malloc(4 * sizeof *data);
  assert_non_null(data);
  for (int i = 0; i < 4; i++) data[i] = i;
  assert_int_equal(inb_batch_set(b, "taken", (inb_array){.dtype = INB_I32, .ndim = 1, .shape = {4}, .data = data},
                                 true), 0);
  assert_ptr_equal(inb_batch_get(b, "taken")->data, data);
  inb_batch_free(&b);  /* LeakSanitizer reports `data` if the batch did not free it */
}

static void test_batch_set_replaces_a_component_and_frees_its_taken_data(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 2);
  int32_t *first = calloc(2, sizeof *first);
  int32_t *second = calloc(2, sizeof *second);
  assert_non_null(first);
  assert_non_null(second);
  second[1] = 99;
  inb_array a = {.dtype = INB_I32, .ndim = 1, .shape = {2}, .data = first};
  assert_int_equal(inb_batch_set(b, "c", a, true), 0);
  a.data = second;
  assert_int_equal(inb_batch_set(b, "c", a, true), 0);  /* frees `first` (LeakSanitizer checks) */

  assert_int_equal(inb_batch_ncomponents(b), 1);
  inb_array *got = inb_batch_get(b, "c");
  assert_ptr_equal(got->data, second);
  assert_int_equal(((int32_t *)got->data)[1], 99);
  inb_batch_free(&b);
}

static void test_batch_set_replacing_with_a_view_keeps_the_caller_data(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 2);
  int16_t one[2] = {1, 1};
  int16_t two[2] = {2, 2};
  inb_array a = {.dtype = INB_I16, .ndim = 1, .shape = {2}, .data = one};
  assert_int_equal(inb_batch_set(b, "v", a, false), 0);
  a.data = two;
  assert_int_equal(inb_batch_set(b, "v", a, false), 0);
  assert_ptr_equal(inb_batch_get(b, "v")->data, two);
  inb_batch_free(&b);
}

static void test_batch_set_with_wrong_rows_is_einval_and_the_caller_keeps_the_data(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 3);
  int32_t *data = malloc(4 * sizeof *data);
  assert_non_null(data);
  inb_array a = {.dtype = INB_I32, .ndim = 1, .shape = {4}, .data = data};
  assert_int_equal(inb_batch_set(b, "mismatch", a, true), INB_EINVAL);
  assert_non_null(strstr(inb_errmsg(), "mismatch"));
  assert_null(inb_batch_get(b, "mismatch"));
  assert_int_equal(inb_batch_ncomponents(b), 0);
  inb_batch_free(&b);
  free(data);  /* still ours: AddressSanitizer reports a double free if the batch freed it */
}

static void test_batch_set_rejects_0dim_arrays_bad_dtypes_and_bad_names(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 2);
  int32_t data[2] = {0, 0};
  inb_array scalar = {.dtype = INB_I32, .ndim = 0, .data = data};
  assert_int_equal(inb_batch_set(b, "s", scalar, false), INB_EINVAL);
  inb_array bad_dtype = {.dtype = (inb_dtype)99, .ndim = 1, .shape = {2}, .data = data};
  assert_int_equal(inb_batch_set(b, "d", bad_dtype, false), INB_EINVAL);
  inb_array good = {.dtype = INB_I32, .ndim = 1, .shape = {2}, .data = data};
  assert_int_equal(inb_batch_set(b, NULL, good, false), INB_EINVAL);
  assert_int_equal(inb_batch_set(b, "", good, false), INB_EINVAL);
  assert_int_equal(inb_batch_ncomponents(b), 0);
  inb_batch_free(&b);
}

static void test_batch_lists_components_in_first_set_order(void **state) {
  (void)state;
  inb_batch *b = inb_batch_new(NULL, 1);
  uint8_t x[1] = {0}, y[1] = {0};
  inb_array a = {.dtype = INB_U8, .ndim = 1, .shape = {1}, .data = x};
  assert_int_equal(inb_batch_set(b, "zeta", a, false), 0);
  assert_int_equal(inb_batch_set(b, "alpha", a, false), 0);
  a.data = y;
  assert_int_equal(inb_batch_set(b, "zeta", a, false), 0);

  assert_int_equal(inb_batch_ncomponents(b), 2);
  assert_string_equal(inb_batch_component_name(b, 0), "zeta");
  assert_string_equal(inb_batch_component_name(b, 1), "alpha");
  assert_null(inb_batch_component_name(b, 2));
  inb_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strerror_describes_every_code_and_never_returns_null),
      cmocka_unit_test(test_strerror_of_an_unknown_code_is_not_null),
      cmocka_unit_test(test_errmsg_is_empty_in_a_fresh_thread),
      cmocka_unit_test(test_errmsg_is_set_by_a_failure_and_kept_by_successful_calls),
      cmocka_unit_test(test_errmsg_is_thread_local),
      cmocka_unit_test(test_dtype_sizes_match_c_types),
      cmocka_unit_test(test_dtype_size_outside_the_enum_is_zero),
      cmocka_unit_test(test_array_count_is_the_product_of_the_shape),
      cmocka_unit_test(test_array_count_of_a_0dim_array_is_one),
      cmocka_unit_test(test_array_row_of_a_2d_array_views_that_row),
      cmocka_unit_test(test_array_row_of_a_3d_array_keeps_the_trailing_dims),
      cmocka_unit_test(test_array_row_of_a_1d_array_is_a_0dim_scalar_view),
      cmocka_unit_test(test_array_row_out_of_range_or_of_a_0dim_array_has_null_data),
      cmocka_unit_test(test_value_constructors_set_kind_and_payload),
      cmocka_unit_test(test_str_of_null_is_an_empty_string),
      cmocka_unit_test(test_args_add_appends_positional_values_in_order),
      cmocka_unit_test(test_args_add_copies_strings),
      cmocka_unit_test(test_args_add_copies_bytes_including_zeros),
      cmocka_unit_test(test_args_keep_arrays_as_views),
      cmocka_unit_test(test_args_put_sets_a_named_value_and_get_finds_it),
      cmocka_unit_test(test_args_put_replaces_an_earlier_value_of_that_name),
      cmocka_unit_test(test_args_put_copies_the_name_and_the_string),
      cmocka_unit_test(test_args_put_copies_bytes),
      cmocka_unit_test(test_args_named_values_keep_their_first_put_order),
      cmocka_unit_test(test_args_put_rejects_a_null_or_empty_name),
      cmocka_unit_test(test_args_writers_reject_a_null_list_or_a_bad_kind),
      cmocka_unit_test(test_args_readers_accept_null_lists),
      cmocka_unit_test(test_args_free_nulls_the_pointer_and_is_null_safe),
      cmocka_unit_test(test_batch_new_copies_the_index),
      cmocka_unit_test(test_batch_new_without_index_numbers_items_from_zero),
      cmocka_unit_test(test_batch_index_out_of_range_is_minus_one),
      cmocka_unit_test(test_batch_free_nulls_the_pointer_and_is_null_safe),
      cmocka_unit_test(test_batch_set_then_get_returns_a_view_of_the_data),
      cmocka_unit_test(test_batch_set_with_take_frees_the_data_with_the_batch),
      cmocka_unit_test(test_batch_set_replaces_a_component_and_frees_its_taken_data),
      cmocka_unit_test(test_batch_set_replacing_with_a_view_keeps_the_caller_data),
      cmocka_unit_test(test_batch_set_with_wrong_rows_is_einval_and_the_caller_keeps_the_data),
      cmocka_unit_test(test_batch_set_rejects_0dim_arrays_bad_dtypes_and_bad_names),
      cmocka_unit_test(test_batch_lists_components_in_first_set_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
