/* HDF5 calls made differently on different ranks: every collective call of the data layer checks at its start
 * that every rank made the same call (the files, the lengths and specs, the plan), so a rank with another
 * plan, another length or another ending fails with every other rank, with a message, instead of hanging in an
 * HDF5 collective or writing a wrong file.
 *
 * Every test is collective; the pattern (deferred checks, asserted at each test's end) is in checks.h. */
#include "h5test.h"

#include <stdio.h>
#include <string.h>

enum { N = 40 };

static int twice(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  *result = inb_int(2 * inb_args_at(args, 0)->u.i);
  return 0;
}

/* An input of N items (an int64 index component), opened on every rank. */
static inb_h5_input *open_input(const char *name) {
  char path[PATH_MAX];
  expect_eq(h5t_index_input(path, name, "/i", N), 0, "writing %s", name);
  const char *comps[] = {"/i"};
  inb_h5_input *in = NULL;
  int rc = inb_h5_open(path, comps, 1, NULL, &in);
  expect_rc(rc, 0, "inb_h5_open");
  return in;
}

static void test_a_rank_with_another_plan_fails_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  if (g_size < 2) return;
  inb_h5_input *in = open_input("plan.h5");
  inb_action act = {.name = "twice", .fn = twice, .init = "indices", .target = INB_MPI};
  /* another batch size on the last rank */
  inb_h5_plan plan = {.batch_size = g_rank == g_size - 1 ? 7 : 8};
  int rc = inb_h5_run(in, &plan, &act, NULL, NULL, NULL);
  expect_rc(rc, INB_EINVAL, "the last rank runs batches of 7, the others of 8");
  expect_errmsg_has("different arguments", "the message says the calls differ");
  expect_eq(same_string_on_all_ranks(inb_errmsg()), 1, "the same message on every rank (here: '%s')", inb_errmsg());
  /* another item in the plan's index on the last rank */
  int64_t index[3] = {1, 2, g_rank == g_size - 1 ? 4 : 3};
  inb_h5_plan by_index = {.index = index, .nindex = 3};
  rc = inb_h5_run(in, &by_index, &act, NULL, NULL, NULL);
  expect_rc(rc, INB_EINVAL, "the last rank's plan names item 4 where the others name 3");
  /* and the same plan everywhere works afterwards */
  inb_h5_plan same = {.batch_size = 8};
  rc = inb_h5_run(in, &same, &act, NULL, NULL, NULL);
  expect_rc(rc, 0, "the same plan on every rank, after the mismatches");
  inb_h5_close(&in);
  assert_checks();
}

static void test_a_rank_creating_another_length_fails_on_every_rank_and_leaves_nothing(void **state) {
  (void)state;
  reset_checks();
  if (g_size < 2) return;
  char path[PATH_MAX], partial[PATH_MAX];
  h5t_path(path, "length.h5");
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I64, .ndim = 0};
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(path, &spec, 1, g_rank == g_size - 1 ? N + 1 : N, false, NULL, &out);
  expect_rc(rc, INB_EINVAL, "the last rank creates %d items, the others %d", N + 1, N);
  expect_errmsg_has("different arguments", "the message says the calls differ");
  expect_eq(out == NULL, 1, "no output object");
  inb_h5_abort(&out); /* NULL: nothing to do, and no rank waits */
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(path), 0, "no output file");
  expect_eq(h5t_exists(h5t_partial(partial, path)), 0, "no temporary file");
  assert_checks();
}

static void test_a_rank_that_aborts_while_the_others_commit_commits_nothing(void **state) {
  (void)state;
  reset_checks();
  if (g_size < 2) return;
  char path[PATH_MAX];
  h5t_path(path, "ending.h5");
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I64, .ndim = 0};
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(path, &spec, 1, N, false, NULL, &out);
  expect_rc(rc, 0, "inb_h5_create");
  if (g_rank == g_size - 1) {
    inb_h5_abort(&out);
    expect_eq(out != NULL, 1, "the aborting rank keeps its output: the others were not aborting");
  } else {
    rc = inb_h5_commit(&out);
    expect_rc(rc, INB_EINVAL, "the committing ranks, while the last rank aborts");
    expect_errmsg_has("different arguments", "the message says the calls differ");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(path), 0, "nothing was committed");
  /* the output object is still everyone's: ending it the same way everywhere works */
  inb_h5_abort(&out);
  expect_eq(out == NULL, 1, "aborting together ends it");
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_count_entries(), 1, "only the input remains in the scratch directory");
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_rank_with_another_plan_fails_on_every_rank),
      cmocka_unit_test(test_a_rank_creating_another_length_fails_on_every_rank_and_leaves_nothing),
      cmocka_unit_test(test_a_rank_that_aborts_while_the_others_commit_commits_nothing),
  };
  return h5t_main(argc, argv, "h5.test_h5_collective", tests, sizeof tests / sizeof tests[0]);
}
