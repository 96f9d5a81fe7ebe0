/* What the tests/mpi programs share: ranks, deferred checks, post's verdict, a few collective helpers and
 * main().
 *
 * Every test is collective: all ranks call inb_run the same number of times with the same action. Nothing
 * asserts before a test's last collective call, because a failed cmocka assert on one rank would leave the
 * other ranks waiting inside a collective until the ctest timeout. So:
 *  - a test records its checks with expect_eq/expect_rc and asserts them all with assert_checks() at its end;
 *  - tasks (worker threads, any rank) report what is wrong with inb_fail, and the test checks the status;
 *  - post (rank 0 only) reports its first mismatch with verdict(), which returns CHECK_FAILED; assert_checks
 *    shows it on rank 0. Every rank checks its own status codes. */
#ifndef INB_TESTS_MPITEST_H
#define INB_TESTS_MPITEST_H

/* cmocka.h needs these first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>
#include <mpi.h>

#include <stdbool.h>

enum { CHECK_FAILED = 99 }; /* what a post returns when the results are not what the test expects */

extern int g_rank, g_size; /* MPI_COMM_WORLD's, set by mpitest_main before any test runs */

/* ---- deferred checks ------------------------------------------------------------------------------------ */

/* Forgets the recorded checks and post's verdict: the start of a test. */
void reset_checks(void);
/* Records got == want (the first 256 checks of a test are kept). */
void expect_eq(long got, long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a status check; keeps inb_errmsg() for the report when rc is not `want`. */
void expect_rc(int rc, int want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The end of a test, after its last collective call: asserts every recorded check of this rank and, on
 * rank 0, that post found nothing wrong. Resets the checks. */
void assert_checks(void);
/* Post's report of a mismatch: keeps the first one of the test for assert_checks; returns CHECK_FAILED. */
int verdict(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- collective helpers (every rank must call them) ----------------------------------------------------- */

/* The sum of v over all ranks. */
long sum_ranks(long v);
/* Rank 0's copy of s, on every rank (malloc'd; the caller frees it). */
char *rank0_string(const char *s);
/* 1 on every rank when every rank's s equals rank 0's. */
long same_string_on_all_ranks(const char *s);

/* ---- batches and schedules ------------------------------------------------------------------------------ */

/* Rank 0 holds a batch of n items (indices from `index`, or 0..n-1); the other ranks an empty one. */
inb_batch *rank0_batch(const int64_t *index, size_t n);
const char *sched_name(inb_schedule s);
/* The STATIC schedule's blocks: rank r runs tasks [r*base + min(r, extra), ...), base + (r < extra) of them,
 * with base = n / size and extra = n % size. static_owner is the rank that runs task i of n (-1 if i >= n). */
size_t block_first(int r, size_t n);
size_t block_count(int r, size_t n);
int static_owner(size_t i, size_t n);

void sleep_us(long us);

/* ---- main ----------------------------------------------------------------------------------------------- */

/* The whole main() of a test program: initialises MPI (inb_mpi_init), sets g_rank and g_size, runs the group
 * on every rank (the output of ranks other than 0 is shown, prefixed "[rank N]", only when they failed),
 * finalises. Returns the largest failure count of any rank (at most 255), or 1 when MPI does not start. */
int mpitest_main(int *argc, char ***argv, const char *group, const struct CMUnitTest *tests, size_t n);

#endif
