/* The thread level MPI gives each rank, and the schedule: rank 0 runs inb_h5_run's dynamic schedule with a second
 * thread reading rows (MPI-IO), which needs MPI_THREAD_MULTIPLE; below it rank 0 chooses the static schedule,
 * and every rank follows rank 0's choice. Here rank 0 asks MPI for MPI_THREAD_FUNNELED and the other ranks for
 * MPI_THREAD_MULTIPLE: a rank deciding from its own level would run the dynamic protocol against rank 0's static
 * one and wait forever. (Each rank initialises MPI itself, before the harness, with its own level.) */
#include "h5test.h"

#include <stdlib.h>

enum { N = 300 };

static int provided_level;

static int plus_one(inb_item *it, const inb_args *args, inb_value *result) {
  inb_array *y = inb_item_output(it, "/y");
  const inb_value *x = inb_args_get(args, "i");
  if (!y || !x) return inb_fail(it, INB_EINVAL, "no output row or no input row");
  *(int64_t *)y->data = *(const int64_t *)x->u.a.data + 1;
  *result = inb_int(inb_item_rank(it));
  return 0;
}

static void test_rank0s_thread_level_chooses_the_schedule_for_every_rank(void **state) {
  (void)state;
  reset_checks();
  expect_eq(provided_level == MPI_THREAD_FUNNELED, g_rank == 0, "rank %d runs at MPI's level %d", g_rank,
            provided_level);
  char in_path[PATH_MAX], out_path[PATH_MAX];
  expect_eq(h5t_index_input(in_path, "in.h5", "/i", N), 0, "writing the input");
  h5t_path(out_path, "out.h5");
  const char *comps[] = {"/i"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I64, .ndim = 0};
  int rc = inb_h5_open(in_path, comps, 1, NULL, &in);
  if (!rc) rc = inb_h5_create(out_path, &spec, 1, N, false, NULL, &out);
  if (!rc) {
    inb_action act = {.name = "plus_one", .fn = plus_one, .init = "items", .target = INB_MPI,
                      .local = INB_THREADS};
    inb_opts o = {.schedule = INB_DYNAMIC, .n_workers = 2};
    inb_h5_plan plan = {.batch_size = 64};
    rc = inb_h5_run(in, &plan, &act, NULL, &o, out);
    expect_rc(rc, 0, "inb_h5_run asked for dynamic, rank 0 below MPI_THREAD_MULTIPLE");
    rc = rc ? (inb_h5_abort(&out), rc) : inb_h5_commit(&out);
  }
  expect_rc(rc, 0, "open, create, run and commit");
  inb_h5_close(&in);
  if (g_rank == 0 && !rc) { /* every row is its item's index + 1 */
    hid_t f = H5Fopen(out_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    int64_t y[N];
    hid_t d = H5Dopen2(f, "/y", H5P_DEFAULT);
    herr_t r = H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y);
    H5Dclose(d), H5Fclose(f);
    long wrong = r < 0 ? N : 0;
    for (int i = 0; r >= 0 && i < N; i++) wrong += y[i] != i + 1;
    expect_eq(wrong, 0, "rows of /y that are not their index + 1");
  }
  assert_checks();
}

int main(int argc, char **argv) {
  const char *rank = getenv("OMPI_COMM_WORLD_RANK"); /* known before MPI starts: mpiexec sets it */
  int want = rank && atoi(rank) == 0 ? MPI_THREAD_FUNNELED : MPI_THREAD_MULTIPLE;
  if (MPI_Init_thread(&argc, &argv, want, &provided_level) != MPI_SUCCESS) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rank0s_thread_level_chooses_the_schedule_for_every_rank),
  };
  return h5t_main(argc, argv, "h5.test_h5_thread_levels", tests, sizeof tests / sizeof tests[0]);
}
