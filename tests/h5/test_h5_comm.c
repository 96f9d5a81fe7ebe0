/* Communicators of the HDF5 layer (include/inbatch/h5.h):
 *  - the library's own agreements and barriers never run on the program's communicator (they run on the engine's
 *    duplicate of it), so they cannot mix with the program's own messages and collectives there: this program
 *    wraps MPI's collective and point-to-point calls (the profiling interface: its definitions replace MPI's for
 *    the statically linked library) and counts those made on the watched communicator while only library calls
 *    run;
 *  - inb_h5_run refuses, on every rank and without waiting for any, an input, output and opts->comm that are
 *    not the same group of ranks in the same order, and accepts congruent communicators (a duplicate).
 * Runs on 1, 2 and 4 ranks. */
#include "h5test.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the watch ------------------------------------------------------------------------------------------ */

static MPI_Comm g_watched = MPI_COMM_NULL; /* set by the test thread while only library calls run */
static atomic_long g_calls;
static char g_first[64];

static void seen(const char *name, MPI_Comm c) {
  if (g_watched == MPI_COMM_NULL || c != g_watched) return;
  if (atomic_fetch_add(&g_calls, 1) == 0) snprintf(g_first, sizeof g_first, "%s", name);
}

int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c) {
  seen("MPI_Allreduce", c);
  return PMPI_Allreduce(s, r, n, t, op, c);
}
int MPI_Bcast(void *b, int n, MPI_Datatype t, int root, MPI_Comm c) {
  seen("MPI_Bcast", c);
  return PMPI_Bcast(b, n, t, root, c);
}
int MPI_Barrier(MPI_Comm c) {
  seen("MPI_Barrier", c);
  return PMPI_Barrier(c);
}
int MPI_Reduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, int root, MPI_Comm c) {
  seen("MPI_Reduce", c);
  return PMPI_Reduce(s, r, n, t, op, root, c);
}
int MPI_Allgather(const void *s, int sn, MPI_Datatype st, void *r, int rn, MPI_Datatype rt, MPI_Comm c) {
  seen("MPI_Allgather", c);
  return PMPI_Allgather(s, sn, st, r, rn, rt, c);
}
int MPI_Gather(const void *s, int sn, MPI_Datatype st, void *r, int rn, MPI_Datatype rt, int root, MPI_Comm c) {
  seen("MPI_Gather", c);
  return PMPI_Gather(s, sn, st, r, rn, rt, root, c);
}
int MPI_Ibarrier(MPI_Comm c, MPI_Request *q) {
  seen("MPI_Ibarrier", c);
  return PMPI_Ibarrier(c, q);
}
int MPI_Send(const void *b, int n, MPI_Datatype t, int dest, int tag, MPI_Comm c) {
  seen("MPI_Send", c);
  return PMPI_Send(b, n, t, dest, tag, c);
}
int MPI_Isend(const void *b, int n, MPI_Datatype t, int dest, int tag, MPI_Comm c, MPI_Request *q) {
  seen("MPI_Isend", c);
  return PMPI_Isend(b, n, t, dest, tag, c, q);
}
int MPI_Recv(void *b, int n, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Status *st) {
  seen("MPI_Recv", c);
  return PMPI_Recv(b, n, t, src, tag, c, st);
}
int MPI_Irecv(void *b, int n, MPI_Datatype t, int src, int tag, MPI_Comm c, MPI_Request *q) {
  seen("MPI_Irecv", c);
  return PMPI_Irecv(b, n, t, src, tag, c, q);
}

/* ---- the run -------------------------------------------------------------------------------------------- */

enum { N = 23 };

static int triple(inb_item *it, const inb_args *a, inb_value *result) {
  const inb_value *v = inb_args_at(a, 0);
  inb_array *y = inb_item_output(it, "/y");
  if (!v || v->kind != INB_INT || !y) return inb_fail(it, 90, "no index or no output");
  *(int64_t *)y->data = 3 * v->u.i;
  if (v->u.i == 5) return inb_fail(it, 41, "item 5 fails on purpose");
  *result = inb_int(v->u.i);
  return 0;
}

static char g_input[PATH_MAX];

/* The input of N items every test reads: written by the first test that asks. */
static void ensure_input(void) { expect_eq(h5t_index_input(g_input, "in.h5", "/idx", N), 0, "writing the input"); }

/* Rank 0: the committed output holds 3i for every item. */
static void check_output(const char *path, const char *what) {
  if (g_rank != 0) return;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  int64_t y[N] = {0};
  hid_t d = f >= 0 ? H5Dopen2(f, "/y", H5P_DEFAULT) : -1;
  bool ok = d >= 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0;
  long bad = -1;
  for (int i = 0; ok && i < N && bad < 0; i++)
    if (i != 5 && y[i] != 3 * i) bad = i;
  expect_eq(ok, 1, "%s: the output's /y reads", what);
  expect_eq(bad, -1, "%s: /y holds 3i (first wrong item)", what);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
}

/* Open on in_comm, create on out_comm (NULL: WORLD), run with opts.comm = run_comm, the documented
 * commit-or-abort, close. The watch is on while only library calls run. Returns inb_h5_run's status. */
static int run_on(void *in_comm, void *out_comm, void *run_comm, const char *output, const int64_t *plan,
                  size_t nplan, MPI_Comm watch) {
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I64, .ndim = 0};
  const char *comps[] = {"/idx"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  inb_action act = {.name = "triple", .fn = triple, .init = "indices", .target = INB_MPI};
  inb_opts o = {.comm = run_comm};
  inb_h5_plan p = {.batch_size = 5, .index = plan, .nindex = nplan};
  g_watched = watch;
  int rc = inb_h5_open(g_input, comps, 1, in_comm, &in);
  int crc = rc ? rc : inb_h5_create(output, &spec, 1, N, true, out_comm, &out);
  if (!crc) rc = inb_h5_run(in, &p, &act, NULL, &o, out);
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", inb_errmsg());
  int commit = 1;
  if (!crc && (rc == 0 || rc == INB_EITEM)) commit = inb_h5_commit(&out);
  else inb_h5_abort(&out);
  inb_h5_close(&in);
  g_watched = MPI_COMM_NULL;
  expect_rc(crc, 0, "open and create (%s)", output);
  if (commit != 1) expect_rc(commit, 0, "commit (%s)", output);
  if (rc) inb_set_error(rc, "%s", msg); /* what the run said, not what commit or close said after it */
  return crc ? crc : rc;
}

static void test_the_library_makes_no_call_on_the_programs_communicator(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  char output[PATH_MAX];
  h5t_path(output, "watched.h5");
  MPI_Comm mine;
  MPI_Comm_dup(MPI_COMM_WORLD, &mine);
  const int64_t dup_plan[] = {1, 2, 1};
  const struct {
    const char *what;
    void *comm;
    MPI_Comm watch;
    const int64_t *plan;
    size_t nplan;
    int want;
  } cases[] = {
      {"MPI_COMM_WORLD (comm NULL)", NULL, MPI_COMM_WORLD, NULL, 0, INB_EITEM},
      {"the program's own communicator", &mine, mine, NULL, 0, INB_EITEM},
      {"a plan refused (an agreement on the failure)", &mine, mine, dup_plan, 3, INB_EINVAL},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    atomic_store(&g_calls, 0);
    g_first[0] = '\0';
    int rc = run_on(cases[k].comm, cases[k].comm, cases[k].comm, output, cases[k].plan, cases[k].nplan, cases[k].watch);
    long calls = atomic_load(&g_calls);
    expect_rc(rc, cases[k].want, "%s: inb_h5_run", cases[k].what);
    expect_eq(calls, 0, "%s: MPI calls of the library on the program's communicator (the first: %s)", cases[k].what,
              g_first);
    if (rc == INB_EITEM) check_output(output, cases[k].what);
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) remove(output);
    MPI_Barrier(MPI_COMM_WORLD);
  }
  MPI_Comm_free(&mine);
  assert_checks();
}

static void test_congruent_communicators_are_accepted(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  char output[PATH_MAX];
  h5t_path(output, "congruent.h5");
  MPI_Comm a, b;
  MPI_Comm_dup(MPI_COMM_WORLD, &a);
  MPI_Comm_dup(MPI_COMM_WORLD, &b);
  int rc = run_on(NULL, &a, &b, output, NULL, 0, MPI_COMM_NULL);
  expect_rc(rc, INB_EITEM, "input on WORLD, output and opts->comm on two duplicates of it");
  if (rc == INB_EITEM) check_output(output, "congruent");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(output);
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Comm_free(&a);
  MPI_Comm_free(&b);
  assert_checks();
}

/* Every rank refuses alike, names what differs, and leaves no output. */
static void expect_refused(int rc, const char *output, const char *what, const char *const *needles) {
  expect_rc(rc, INB_EINVAL, "%s: inb_h5_run", what);
  expect_eq(max_ranks(rc), -max_ranks(-rc), "%s: the same status on every rank", what);
  for (size_t k = 0; rc && needles[k]; k++) expect_errmsg_has(needles[k], "%s", what);
  char partial[PATH_MAX];
  h5t_partial(partial, output);
  MPI_Barrier(MPI_COMM_WORLD);
  expect_eq(h5t_exists(output) || h5t_exists(partial), 0, "%s: no output and no partial file", what);
}

static void test_input_output_and_opts_comm_of_other_groups_are_einval_on_every_rank(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  if (g_size == 1) {
    print_message("  skipped: one rank has no other group\n");
    skip();
  }
  MPI_Comm half, reversed;
  MPI_Comm_split(MPI_COMM_WORLD, g_rank % 2, g_rank, &half);
  MPI_Comm_split(MPI_COMM_WORLD, 0, g_size - g_rank, &reversed); /* the same ranks, in the other order */
  char output[PATH_MAX], name[32];
  snprintf(name, sizeof name, "half%d.h5", g_rank % 2); /* each half creates its own */
  h5t_path(output, name);
  const char *out_needles[] = {g_input, output, NULL};
  expect_refused(run_on(NULL, &half, NULL, output, NULL, 0, MPI_COMM_NULL), output, "output on half the ranks",
                 out_needles);
  h5t_path(output, "reversed.h5");
  const char *rev_needles[] = {g_input, output, "order", NULL};
  expect_refused(run_on(NULL, &reversed, NULL, output, NULL, 0, MPI_COMM_NULL), output,
                 "output on the ranks in reverse order", rev_needles);
  h5t_path(output, "opts.h5");
  const char *opts_needles[] = {g_input, "opts->comm", NULL};
  expect_refused(run_on(NULL, NULL, &half, output, NULL, 0, MPI_COMM_NULL), output, "opts->comm on half the ranks",
                 opts_needles);
  MPI_Comm_free(&half);
  MPI_Comm_free(&reversed);
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_library_makes_no_call_on_the_programs_communicator),
      cmocka_unit_test(test_congruent_communicators_are_accepted),
      cmocka_unit_test(test_input_output_and_opts_comm_of_other_groups_are_einval_on_every_rank),
  };
  return h5t_main(argc, argv, "h5.test_h5_comm", tests, sizeof tests / sizeof tests[0]);
}
