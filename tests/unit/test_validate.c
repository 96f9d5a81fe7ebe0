/* Unit tests of inb_run's validation: an invalid action or opts is INB_EINVAL, inb_errmsg()
 * names the action and the problem, *out is b, and nothing (init, tasks, post) runs.
 * Messages are checked by the action's name and a key word, never as whole strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int g_fn_calls, g_start_calls, g_init_calls, g_post_calls;

static int fn_count(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it, (void)args, (void)result;
  atomic_fetch_add(&g_fn_calls, 1);
  return 0;
}

static int start_count(inb_item *it, const inb_args *args) {
  (void)args;
  atomic_fetch_add(&g_start_calls, 1);
  inb_done(it, 0, inb_none());
  return 0;
}

static int init_count(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks,
                      size_t *ntasks, void *data) {
  (void)b, (void)call, (void)extra, (void)data;
  atomic_fetch_add(&g_init_calls, 1);
  *tasks = NULL;
  *ntasks = 0;
  return 0;
}

static int post_count(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  (void)b, (void)r, (void)call, (void)extra, (void)out, (void)data;
  atomic_fetch_add(&g_post_calls, 1);
  return 0;
}

static bool contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle);
  for (; *hay; hay++) {
    size_t k = 0;
    while (k < n && hay[k] && tolower((unsigned char)hay[k]) == tolower((unsigned char)needle[k])) k++;
    if (k == n) return true;
  }
  return n == 0;
}

/* inb_run on a 3-item batch with a component "x" must be INB_EINVAL with *out == b, run nothing, and say
 * `keyword` (case-insensitive) and, when name_in_message, the action's name. */
static void expect_einval(const inb_action *act, const inb_opts *o, const char *keyword, bool name_in_message) {
  atomic_store(&g_fn_calls, 0);
  atomic_store(&g_start_calls, 0);
  atomic_store(&g_init_calls, 0);
  atomic_store(&g_post_calls, 0);
  inb_batch *b = inb_batch_new(NULL, 3);
  int32_t x[3] = {1, 2, 3};
  assert_int_equal(inb_batch_set(b, "x", (inb_array){.dtype = INB_I32, .ndim = 1, .shape = {3}, .data = x}, false),
                   0);
  inb_batch *out = NULL;
  int rc = inb_run(b, act, NULL, o, &out);
  const char *msg = inb_errmsg();
  print_message("  errmsg: %s\n", msg);

  assert_int_equal(rc, INB_EINVAL);
  assert_ptr_equal(out, b);
  assert_non_null(msg);
  assert_true(msg[0] != '\0');
  if (name_in_message && act && act->name) assert_non_null(strstr(msg, act->name));
  if (keyword) assert_true(contains_ci(msg, keyword));
  assert_int_equal(atomic_load(&g_fn_calls), 0);
  assert_int_equal(atomic_load(&g_start_calls), 0);
  assert_int_equal(atomic_load(&g_init_calls), 0);
  assert_int_equal(atomic_load(&g_post_calls), 0);
  inb_batch_free(&b);
}

/* ---- the action ----------------------------------------------------------------------------------- */

/* The action names below avoid the key words, so a match comes from the message, not from the name. */
static void test_action_without_fn_or_start_is_einval_naming_the_action(void **state) {
  (void)state;
  inb_action act = {.name = "act_missing_task", .init = "indices", .post = post_count};
  expect_einval(&act, NULL, "fn", true);
  act.target = INB_FOR;
  expect_einval(&act, NULL, "fn", true);
}

static void test_action_with_both_init_and_init_fn_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_both_ways", .fn = fn_count, .init = "indices", .init_fn = init_count,
                    .post = post_count, .target = INB_FOR};
  expect_einval(&act, NULL, "init", true);
}

static void test_action_with_neither_init_nor_init_fn_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_no_split", .fn = fn_count, .post = post_count, .target = INB_THREADS};
  expect_einval(&act, NULL, "init", true);
}

static void test_init_naming_no_component_is_einval_naming_the_init(void **state) {
  (void)state;
  inb_action act = {.name = "act_bad_comp", .fn = fn_count, .init = "no_such_component", .post = post_count,
                    .target = INB_FOR};
  expect_einval(&act, NULL, "no_such_component", true);
  act.target = INB_THREADS;
  expect_einval(&act, NULL, "no_such_component", true);
}

static void test_unknown_action_target_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_where_42", .fn = fn_count, .init = "indices", .post = post_count,
                    .target = (inb_target)42};
  expect_einval(&act, NULL, "target", true);
}

static void test_unknown_per_call_target_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_call_where_42", .fn = fn_count, .init = "indices", .post = post_count,
                    .target = INB_FOR};
  inb_opts o = {.target = (inb_target)42};
  expect_einval(&act, &o, "target", true);
}

static void test_null_action_is_einval(void **state) {
  (void)state;
  expect_einval(NULL, NULL, NULL, false);
}

/* ---- the opts ------------------------------------------------------------------------------------- */

static void test_negative_n_workers_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_minus_one", .fn = fn_count, .init = "indices", .post = post_count,
                    .target = INB_THREADS};
  inb_opts o = {.n_workers = -1};
  expect_einval(&act, &o, "n_workers", true);
  act.target = INB_FOR;
  expect_einval(&act, &o, "n_workers", true);
}

static void test_n_workers_with_target_async_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_bg_pool", .start = start_count, .init = "indices", .post = post_count,
                    .target = INB_ASYNC};
  inb_opts o = {.n_workers = 2};
  expect_einval(&act, &o, "async", false);
}

/* ---- async needs .start ------------------------------------------------------------------------- */

static void test_async_target_without_start_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_later_no_start", .fn = fn_count, .init = "indices", .post = post_count,
                    .target = INB_ASYNC};
  expect_einval(&act, NULL, "async", false);
}

static void test_per_call_async_target_without_start_is_einval(void **state) {
  (void)state;
  inb_action act = {.name = "act_call_later", .fn = fn_count, .init = "indices", .post = post_count,
                    .target = INB_THREADS};
  inb_opts o = {.target = INB_ASYNC};
  expect_einval(&act, &o, "async", false);
}

/* ---- a valid action after invalid ones ------------------------------------------------------------ */

static void test_a_valid_action_still_runs_after_rejected_ones(void **state) {
  (void)state;
  inb_action bad = {.name = "act_bad", .fn = fn_count, .init = "indices", .target = (inb_target)42};
  expect_einval(&bad, NULL, "target", true);

  atomic_store(&g_fn_calls, 0);
  atomic_store(&g_post_calls, 0);
  inb_batch *b = inb_batch_new(NULL, 3);
  inb_action good = {.name = "act_good", .fn = fn_count, .init = "indices", .post = post_count};
  assert_int_equal(inb_run(b, &good, NULL, NULL, NULL), 0);
  assert_int_equal(atomic_load(&g_fn_calls), 3);
  assert_int_equal(atomic_load(&g_post_calls), 1);
  inb_batch_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_action_without_fn_or_start_is_einval_naming_the_action),
      cmocka_unit_test(test_action_with_both_init_and_init_fn_is_einval),
      cmocka_unit_test(test_action_with_neither_init_nor_init_fn_is_einval),
      cmocka_unit_test(test_init_naming_no_component_is_einval_naming_the_init),
      cmocka_unit_test(test_unknown_action_target_is_einval),
      cmocka_unit_test(test_unknown_per_call_target_is_einval),
      cmocka_unit_test(test_null_action_is_einval),
      cmocka_unit_test(test_negative_n_workers_is_einval),
      cmocka_unit_test(test_n_workers_with_target_async_is_einval),
      cmocka_unit_test(test_async_target_without_start_is_einval),
      cmocka_unit_test(test_per_call_async_target_without_start_is_einval),
      cmocka_unit_test(test_a_valid_action_still_runs_after_rejected_ones),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
