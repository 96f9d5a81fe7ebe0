/* Unit tests of plugins (src/jobs/plugins.h) with the example plugin (jobs/plugins/example_plugin.c) loaded for
 * real: its actions found by name and described, their arguments handed over as a named list, their check and
 * shape reached through the action spec with the plugin's messages, a second load of the same actions refused
 * leaving the set as it was, and out of memory at every allocation of loading and binding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "jobs/plugins.h"
#include "oom_walk.h"

#include <stdlib.h>
#include <string.h>

static inb__plugins *load_ok(void) {
  inb__plugins *set = NULL;
  if (inb__plugins_load(&set, EXAMPLE_PLUGIN, "test")) fail_msg("load: %s", inb_errmsg());
  return set;
}

/* a's values for act: every argument at its default, then `name` = r. */
static void bind_real(const inb__action_spec *act, inb__argvals *a, const char *name, double r) {
  *a = (inb__argvals){.n = act->nargs, .spec = act->args};
  for (size_t k = 0; k < act->nargs; k++)
    a->v[k].r = strcmp(act->args[k].name, name) == 0 ? r : (act->args[k].dflt ? strtod(act->args[k].dflt, NULL) : 0);
  assert_int_equal(inb__plugin_bind(act, a), 0);
}

static void test_the_example_plugins_actions_are_found_by_name_with_their_origin(void **state) {
  (void)state;
  inb__plugins *set = load_ok();
  assert_int_equal(inb__plugins_count(set), 3);
  const inb__action_spec *t = inb__plugins_find(set, "threshold"), *g = inb__plugins_find(set, "gamma"),
                         *r = inb__plugins_find(set, "share_above");
  assert_non_null(t);
  assert_non_null(g);
  assert_non_null(r); /* a reduction: its post's functions reach the pipeline */
  assert_int_equal(r->partial, 3);
  assert_non_null(r->merge);
  assert_non_null(r->describe);
  assert_int_equal(t->partial, 0);
  assert_ptr_equal(inb__plugins_at(set, 0), t);
  assert_null(inb__plugins_find(set, "scale")); /* the built-ins are not the set's */
  assert_int_equal(t->nargs, 1);
  assert_string_equal(t->args[0].name, "level");
  assert_null(t->args[0].dflt); /* required */
  assert_string_equal(inb__plugins_origin(set, 1), "example 1.1 (" EXAMPLE_PLUGIN ")");
  inb__plugins_free(&set);
  assert_null(set);
  assert_int_equal(inb__plugins_count(NULL), 0);
  assert_null(inb__plugins_find(NULL, "gamma"));
}

static void test_arguments_reach_the_plugin_as_a_named_list(void **state) {
  (void)state;
  inb__plugins *set = load_ok();
  const inb__action_spec *g = inb__plugins_find(set, "gamma");
  inb__argvals a;
  bind_real(g, &a, "gamma", 0.25);
  const inb_value *v = inb_args_get(a.list, "gamma");
  assert_non_null(v);
  assert_int_equal(v->kind, INB_REAL);
  assert_true(v->u.r == 0.25);
  assert_int_equal(g->check(&a), 0);
  inb_args_free(&a.list);
  inb__plugins_free(&set);
}

static void test_the_plugins_check_and_shape_refuse_with_its_own_words(void **state) {
  (void)state;
  inb__plugins *set = load_ok();
  const inb__action_spec *g = inb__plugins_find(set, "gamma");
  inb__argvals a;
  bind_real(g, &a, "gamma", -1);
  assert_int_equal(g->check(&a), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "plugin action 'gamma': gamma must be above 0 and finite; found -1");
  inb_array u8 = {.dtype = INB_U8, .ndim = 2, .shape = {4, 4}}, out;
  assert_int_equal(g->shape(&u8, &a, &out), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "plugin action 'gamma': gamma works on float32 or float64 rows (cast them first)");
  inb_array f32 = {.dtype = INB_F32, .ndim = 2, .shape = {4, 4}};
  assert_int_equal(g->shape(&f32, &a, &out), 0);
  assert_int_equal(out.dtype, INB_F32);
  assert_int_equal(out.shape[1], 4);
  inb_args_free(&a.list);
  inb__plugins_free(&set);
}

static void test_the_same_actions_twice_are_refused_and_the_set_is_unchanged(void **state) {
  (void)state;
  inb__plugins *set = load_ok();
  assert_int_equal(inb__plugins_load(&set, EXAMPLE_PLUGIN, "job 'j.yaml' line 1 col 11"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 'j.yaml' line 1 col 11: action 'threshold' is already loaded, from "
                                    "example 1.1 (" EXAMPLE_PLUGIN ")");
  assert_int_equal(inb__plugins_count(set), 3);
  assert_non_null(inb__plugins_find(set, "gamma"));
  inb__plugins_free(&set);
}

static void test_a_missing_file_is_not_found(void **state) {
  (void)state;
  inb__plugins *set = NULL;
  assert_int_equal(inb__plugins_load(&set, "/nonexistent/libx.so", "w"), INB_ENOTFOUND);
  assert_string_equal(inb_errmsg(), "w: plugin '/nonexistent/libx.so': No such file or directory");
  assert_null(set);
}

static int load_and_bind(void *ctx) {
  (void)ctx;
  inb__plugins *set = NULL;
  int rc = inb__plugins_load(&set, EXAMPLE_PLUGIN, "test");
  if (rc) assert_null(set); /* a failed first load leaves no set behind */
  if (!rc) {
    const inb__action_spec *t = inb__plugins_find(set, "threshold");
    inb__argvals a = {.n = t->nargs, .spec = t->args};
    rc = inb__plugin_bind(t, &a);
    inb_args_free(&a.list);
  }
  inb__plugins_free(&set);
  return rc;
}

static void test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated(void **state) {
  (void)state;
  static const char *const files[] = {"src/jobs/plugins.c:", "src/core/args.c:"};
  assert_true(inb_test_oom_walk(load_and_bind, NULL, files, 2) >= 5);
}

int main(void) {
  inb__fault_enable(); /* before any allocation, so that the out-of-memory test can count them */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_example_plugins_actions_are_found_by_name_with_their_origin),
      cmocka_unit_test(test_arguments_reach_the_plugin_as_a_named_list),
      cmocka_unit_test(test_the_plugins_check_and_shape_refuse_with_its_own_words),
      cmocka_unit_test(test_the_same_actions_twice_are_refused_and_the_set_is_unchanged),
      cmocka_unit_test(test_a_missing_file_is_not_found),
      cmocka_unit_test(test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
