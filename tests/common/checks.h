/* Deferred checks: how a collective test asserts (tests/mpi and tests/h5; tests/unit/test_async uses post's
 * verdict, for a reason of its own: an assert in post would longjmp out of the libuv loop).
 *
 * Every test is collective: all ranks make the same inbatch calls (inb_run, inb_h5_*), the same number of
 * times. Nothing asserts before a test's last collective call, because a failed cmocka assert on one rank would
 * leave the other ranks waiting inside a collective until the ctest timeout. So:
 *  - a test records its checks with expect_* and asserts them all with assert_checks() at its end;
 *  - tasks (worker threads, any rank) never record checks: they report what is wrong with inb_fail, and the
 *    test checks the status;
 *  - post (rank 0 only, inside inb_run) reports its first mismatch with verdict(), which returns CHECK_FAILED;
 *    assert_checks shows it on rank 0. Every rank checks its own status codes.
 * The checks are the test thread's alone (no locking): never call these from a task. */
#ifndef INB_TESTS_CHECKS_H
#define INB_TESTS_CHECKS_H

#include <stdbool.h>

enum { CHECK_FAILED = 99 }; /* what a post returns when the results are not what the test expects */

/* Forgets the recorded checks and post's verdict: the start of a test. */
void reset_checks(void);
/* Records got == want. The description is formatted and copied at once: nothing of the caller's is kept. */
void expect_eq(long got, long want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records a status check; keeps a copy of inb_errmsg() for the report when rc is not `want` (and not 0: after
 * a success the message is stale). */
void expect_rc(int rc, int want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Records that inb_errmsg() contains `needle` (case-sensitive); the report shows the message. */
void expect_errmsg_has(const char *needle, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Post's report of a mismatch: keeps a copy of the first one of the test for assert_checks; returns
 * CHECK_FAILED. */
int verdict(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The end of a test, after its last collective call: asserts every recorded check of this rank (the first 512
 * are kept; failed ones past them still count) and, on rank 0, that post found nothing wrong. Resets the
 * checks. */
void assert_checks(void);

/* Whether s mentions the number v on its own (not as part of a longer number): what a message says of a count
 * or a code. */
bool mentions_number(const char *s, long v);

#endif
