/* What the tests/mpi programs share (see mpitest.h). */
#include "mpitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int g_rank, g_size;

/* ---- deferred checks ------------------------------------------------------------------------------------ */

/* Kept until assert_checks: asserting at once could leave the other ranks in a collective. */
typedef struct {
  long got, want;
  char what[200];
  char msg[300];
} check_t;
static check_t g_checks[256];
static int g_nchecks;
static char g_verdict[1024]; /* rank 0: the first mismatch a post found in this test */

void reset_checks(void) {
  g_nchecks = 0;
  g_verdict[0] = '\0';
}

static void vexpect(long got, long want, const char *msg, const char *fmt, va_list ap) {
  if (g_nchecks == (int)(sizeof g_checks / sizeof g_checks[0])) return;
  check_t *c = &g_checks[g_nchecks++];
  c->got = got;
  c->want = want;
  vsnprintf(c->what, sizeof c->what, fmt, ap);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "");
}

void expect_eq(long got, long want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexpect(got, want, NULL, fmt, ap);
  va_end(ap);
}

void expect_rc(int rc, int want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vexpect(rc, want, rc != want ? inb_errmsg() : NULL, fmt, ap);
  va_end(ap);
}

void assert_checks(void) {
  int bad = 0;
  for (int k = 0; k < g_nchecks; k++) {
    const check_t *c = &g_checks[k];
    if (c->got == c->want) continue;
    print_error("rank %d: %s: got %ld, expected %ld%s%s\n", g_rank, c->what, c->got, c->want,
                c->msg[0] ? "; errmsg: " : "", c->msg);
    bad++;
  }
  if (g_rank == 0 && g_verdict[0]) {
    print_error("rank 0: post: %s\n", g_verdict);
    bad++;
  }
  reset_checks();
  assert_int_equal(bad, 0);
}

/* Post runs inside inb_run, a collective call: it must not assert, so it leaves its verdict here. */
int verdict(const char *fmt, ...) {
  if (!g_verdict[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_verdict, sizeof g_verdict, fmt, ap);
    va_end(ap);
  }
  return CHECK_FAILED;
}

/* ---- collective helpers --------------------------------------------------------------------------------- */

long sum_ranks(long v) {
  MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  return v;
}

char *rank0_string(const char *s) {
  unsigned long n = g_rank == 0 ? strlen(s) : 0;
  MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG, 0, MPI_COMM_WORLD);
  char *copy = malloc(n + 1);
  if (g_rank == 0) memcpy(copy, s, n + 1);
  MPI_Bcast(copy, (int)n + 1, MPI_CHAR, 0, MPI_COMM_WORLD);
  return copy;
}

long same_string_on_all_ranks(const char *s) {
  char *root = rank0_string(s);
  int same = strcmp(root, s) == 0;
  free(root);
  MPI_Allreduce(MPI_IN_PLACE, &same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return same;
}

/* ---- batches and schedules ------------------------------------------------------------------------------ */

/* Only rank 0's batch counts under target mpi: the other ranks pass an empty one. */
inb_batch *rank0_batch(const int64_t *index, size_t n) {
  return inb_batch_new(g_rank == 0 ? index : NULL, g_rank == 0 ? n : 0);
}

const char *sched_name(inb_schedule s) { return s == INB_STATIC ? "static" : "dynamic"; }

size_t block_first(int r, size_t n) {
  size_t base = n / (size_t)g_size, extra = n % (size_t)g_size, ur = (size_t)r;
  return ur * base + (ur < extra ? ur : extra);
}

size_t block_count(int r, size_t n) { return n / (size_t)g_size + ((size_t)r < n % (size_t)g_size); }

int static_owner(size_t i, size_t n) {
  for (int r = 0; r < g_size; r++)
    if (i >= block_first(r, n) && i < block_first(r, n) + block_count(r, n)) return r;
  return -1;
}

void sleep_us(long us) {
  struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- main: every rank runs the group; the exit status is the largest failure count of any rank ---------- */

/* Ranks other than 0 write their cmocka output to a scratch file, shown (prefixed) only when they failed:
 * N ranks printing the same passing group would bury rank 0's report. */
static FILE *quiet_rank(int *saved_stderr) {
  FILE *f = tmpfile();
  fflush(stdout), fflush(stderr);
  *saved_stderr = dup(2);
  if (f && *saved_stderr >= 0) dup2(fileno(f), 1), dup2(fileno(f), 2);
  return f;
}

static void replay_if_failed(FILE *f, int saved_stderr, int failed) {
  fflush(stdout), fflush(stderr);
  if (saved_stderr < 0) return;
  dup2(saved_stderr, 2);
  close(saved_stderr);
  if (!failed || !f) return;
  char line[1024];
  rewind(f);
  while (fgets(line, sizeof line, f)) fprintf(stderr, "[rank %d] %s", g_rank, line);
}

int mpitest_main(int *argc, char ***argv, const char *group, const struct CMUnitTest *tests, size_t n) {
  if (inb_mpi_init(argc, argv) != 0) {
    fprintf(stderr, "inb_mpi_init: %s\n", inb_errmsg());
    return 1;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  int saved_stderr = -1;
  FILE *quiet = g_rank != 0 ? quiet_rank(&saved_stderr) : NULL;
  /* what cmocka_run_group_tests_name expands to, for an array passed by pointer */
  int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
  if (g_rank != 0) replay_if_failed(quiet, saved_stderr, failed);
  if (quiet) fclose(quiet);
  /* every rank exits with the same status, so mpiexec fails whichever rank failed */
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  inb_mpi_finalize();
  return failed > 255 ? 255 : failed;
}
