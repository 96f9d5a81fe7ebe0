/* Output I/O that fails (include/inbatch/h5.h, inb_h5_run and inb_h5_commit): whichever write, extension or close
 * of an output fails on whichever rank, the call that made it returns INB_EIO on every rank with a message that
 * names the file and the dataset, and the documented pattern
 *     rc == 0 || rc == INB_EITEM ? inb_h5_commit(&out) : inb_h5_abort(&out)
 * leaves neither an output nor a partial file behind. A read of the input that fails does the same, naming the
 * input and its dataset.
 *
 * The failures are injected (src/core/alloc.h): the data layer wraps its HDF5 call sites in INB__H5, which still
 * makes the call (collective calls stay paired) and then reports it failed when its site is armed. A warm-up run
 * lists the sites that a run reaches; each one is then armed in turn, on the last rank that reached it.
 *
 * The run: 40 items of "/idx" (int64, each item's index), plan = the items not of the form 7k+3 (so commit writes
 * not-run rows), items 5k+2 fail (failure records), output "/y" = 3i, contiguous or chunked and deflate (rows
 * written at once by the rank that computed them, or kept for the batch's collective write); target mpi, static
 * schedule (every rank computes), batches of 8. Runs on 1, 2 and 4 ranks. */
#include "h5test.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { N = 40, KEY_BYTES = 128 };

static int task(inb_item *it, const inb_args *a, inb_value *result) {
  const inb_value *v = inb_args_at(a, 0);
  int64_t i = v && v->kind == INB_ARRAY ? *(const int64_t *)v->u.a.data : -1;
  inb_array *y = inb_item_output(it, "/y");
  if (!y) return inb_fail(it, 90, "no output /y");
  *(int64_t *)y->data = 3 * i;
  if (i % 5 == 2) return inb_fail(it, 42, "item %lld fails on purpose", (long long)i);
  *result = inb_int(i);
  return 0;
}

static char g_input[PATH_MAX];

/* The input of N items every test reads: written by the first test that asks. */
static void ensure_input(void) { expect_eq(h5t_index_input(g_input, "in.h5", "/idx", N), 0, "writing the input"); }

typedef struct {
  int run_rc, commit_rc;     /* commit_rc 1: aborted */
  char run_msg[1024], commit_msg[1024];
} outcome;

/* Open, create, run, then the documented commit-or-abort, close. */
static outcome run_once(const char *output, bool compressed) {
  outcome oc = {.commit_rc = 1};
  static int64_t plan[N];
  size_t np = 0;
  for (int i = 0; i < N; i++)
    if (i % 7 != 3) plan[np++] = i;
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_I64, .ndim = 0};
  if (compressed) spec.chunk_items = 4, spec.deflate = 1;
  const char *comps[] = {"/idx"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(g_input, comps, 1, NULL, &in);
  if (!rc) rc = inb_h5_create(output, &spec, 1, N, true, NULL, &out);
  expect_rc(rc, 0, "open and create");
  if (rc) {
    inb_h5_close(&in);
    oc.run_rc = rc;
    return oc;
  }
  inb_action act = {.name = "thrice", .fn = task, .init = "idx", .target = INB_MPI, .local = INB_FOR};
  inb_opts o = {.schedule = INB_STATIC, .n_workers = 1};
  inb_h5_plan p = {.batch_size = 8, .index = plan, .nindex = np};
  oc.run_rc = inb_h5_run(in, &p, &act, NULL, &o, out);
  snprintf(oc.run_msg, sizeof oc.run_msg, "%s", inb_errmsg());
  if (oc.run_rc == 0 || oc.run_rc == INB_EITEM) {
    oc.commit_rc = inb_h5_commit(&out);
    snprintf(oc.commit_msg, sizeof oc.commit_msg, "%s", inb_errmsg());
  } else {
    inb_h5_abort(&out);
  }
  inb_h5_close(&in);
  return oc;
}

/* The sites of `file` (e.g. "src/data/h5output.c") that this rank reached, whose call text starts with one of
 * prefixes[], as "key\n" lines into buf. */
static void sites_reached(const char *file, const char *const *prefixes, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < inb__fault_nsites(); i++) {
    char key[KEY_BYTES];
    const char *what = NULL;
    if (!inb__fault_site(i, key, sizeof key, &what) || strncmp(key, file, strlen(file)) != 0 ||
        key[strlen(file)] != ':')
      continue;
    for (size_t k = 0; prefixes[k]; k++)
      if (strncmp(what, prefixes[k], strlen(prefixes[k])) == 0 && used < cap)
        used += (size_t)snprintf(buf + used, cap - used, "%s\n", key);
  }
}

static bool has_line(const char *lines, const char *key) {
  size_t n = strlen(key);
  for (const char *p = lines; (p = strstr(p, key)); p += n)
    if ((p == lines || p[-1] == '\n') && p[n] == '\n') return true;
  return false;
}

/* For every site of `file` (of rank 0's list: rank 0 computes too, so it reaches every site) armed in turn on
 * the last rank that reached it: the run or the commit returns INB_EIO on every rank, names `named` (the output,
 * or the input for a read) and a dataset (or the file, for a close), and nothing is left. Returns the number of
 * sites tried. */
static int arm_each(const char *output, bool compressed, const char *file, const char *const *prefixes,
                    const char *named, const char *what) {
  char mine[4096];
  sites_reached(file, prefixes, mine, sizeof mine);
  char *all = rank0_string(mine);
  char partial[PATH_MAX];
  h5t_partial(partial, output);
  int tried = 0;
  for (char *line = all, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    *next++ = '\0';
    long arm_rank = max_ranks(has_line(mine, line) ? g_rank : -1);
    inb__fault_arm(g_rank == arm_rank ? line : NULL, 1);
    outcome oc = run_once(output, compressed);
    bool fired = max_ranks(g_rank == arm_rank && inb__fault_fired()) == 1;
    inb__fault_arm(NULL, 0);
    tried++;
    if (g_rank == 0)
      print_message("  %s: %s armed on rank %ld: %s %d: %.150s\n", what, line, arm_rank,
                    oc.run_rc != 0 && oc.run_rc != INB_EITEM ? "inb_h5_run" : "inb_h5_commit",
                    oc.run_rc != 0 && oc.run_rc != INB_EITEM ? oc.run_rc : oc.commit_rc,
                    oc.run_rc != 0 && oc.run_rc != INB_EITEM ? oc.run_msg : oc.commit_msg);
    expect_eq(fired, 1, "%s: site %s (armed on rank %ld) failed", what, line, arm_rank);
    /* the write fails in the run, or (the rows of items not run, the closes) in the commit */
    bool in_run = oc.run_rc != 0 && oc.run_rc != INB_EITEM;
    int status = in_run ? oc.run_rc : oc.commit_rc;
    const char *msg = in_run ? oc.run_msg : oc.commit_msg;
    expect_eq(status, INB_EIO, "%s: site %s: INB_EIO from %s (run %d: '%s'; commit %d: '%s')", what, line,
              in_run ? "inb_h5_run" : "inb_h5_commit", oc.run_rc, oc.run_msg, oc.commit_rc, oc.commit_msg);
    expect_eq(max_ranks(status) == status && -max_ranks(-status) == status, 1,
              "%s: site %s: the same status on every rank", what, line);
    expect_eq(strstr(msg, named) != NULL, 1, "%s: site %s: the message names '%s': '%s'", what, line, named, msg);
    bool closing = strstr(msg, "closing") != NULL;
    expect_eq(strstr(msg, "dataset '") != NULL || (closing && strstr(msg, partial) != NULL), 1,
              "%s: site %s: the message names the dataset (or, closing the file, the file written): '%s'", what, line,
              msg);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_eq(h5t_exists(output), 0, "%s: site %s: no output '%s' after commit-or-abort", what, line, output);
    expect_eq(h5t_exists(partial), 0, "%s: site %s: no partial file", what, line);
  }
  free(all);
  return tried;
}

static void test_every_failed_output_write_is_eio_on_every_rank_and_leaves_no_output(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  char output[PATH_MAX];
  h5t_path(output, "out.h5");
  static const char *const writes[] = {"H5Dwrite", "H5Dset_extent", NULL};
  for (int compressed = 0; compressed < 2; compressed++) {
    const char *what = compressed ? "deflate output" : "contiguous output";
    outcome warm = run_once(output, compressed);
    expect_rc(warm.run_rc, INB_EITEM, "%s: the warm-up run", what);
    expect_rc(warm.commit_rc, 0, "%s: the warm-up commit", what);
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) remove(output);
    /* the output's rows, the table's rows, the records, their extension, the not-run rows at commit */
    int tried = arm_each(output, compressed, "src/data/h5output.c", writes, output, what);
    expect_eq(tried >= 5, 1, "%s: write sites reached and tried: %d (at least rows, table, records, extension, "
              "not-run rows)", what, tried);
  }
  assert_checks();
}

static void test_a_failed_close_at_commit_is_eio_on_every_rank_and_leaves_no_output(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  char output[PATH_MAX];
  h5t_path(output, "closed.h5");
  static const char *const closes[] = {"H5Dclose", "H5Fclose", NULL};
  outcome warm = run_once(output, false);
  expect_rc(warm.commit_rc, 0, "the warm-up commit");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(output);
  int tried = arm_each(output, false, "src/data/h5output.c", closes, output, "close");
  expect_eq(tried >= 2, 1, "close sites reached and tried: %d (at least a dataset's and the file's)", tried);
  assert_checks();
}

static void test_a_failed_input_read_is_eio_on_every_rank_naming_the_input_and_leaves_no_output(void **state) {
  (void)state;
  reset_checks();
  ensure_input();
  char output[PATH_MAX];
  h5t_path(output, "read.h5");
  static const char *const reads[] = {"H5Dread", NULL};
  outcome warm = run_once(output, false);
  expect_rc(warm.commit_rc, 0, "the warm-up commit");
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(output);
  int tried = arm_each(output, false, "src/data/h5input.c", reads, g_input, "read");
  expect_eq(tried >= 1, 1, "read sites reached and tried: %d", tried);
  assert_checks();
}

int main(int argc, char **argv) {
  inb__fault_enable(); /* before any other library call: sites can be armed from here on */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_failed_output_write_is_eio_on_every_rank_and_leaves_no_output),
      cmocka_unit_test(test_a_failed_close_at_commit_is_eio_on_every_rank_and_leaves_no_output),
      cmocka_unit_test(test_a_failed_input_read_is_eio_on_every_rank_naming_the_input_and_leaves_no_output),
  };
  return h5t_main(argc, argv, "h5.test_h5_faults", tests, sizeof tests / sizeof tests[0]);
}
