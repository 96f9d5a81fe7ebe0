/* Deferred checks (see checks.h). */
#include "checks.h"

#include "collective.h"

/* cmocka.h needs these first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch.h>

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Kept until assert_checks: asserting at once could leave the other ranks in a collective. */
typedef struct {
  long got, want;
  char what[240];
  char msg[560];
} check_t;
static check_t g_checks[512];
static int g_nchecks;
static int g_dropped;        /* failed checks past the table: not shown, still failures */
static char g_verdict[1024]; /* rank 0: the first mismatch a post found in this test */

void reset_checks(void) {
  g_nchecks = g_dropped = 0;
  g_verdict[0] = '\0';
}

static void vrecord(long got, long want, const char *msg, const char *fmt, va_list ap) {
  if (g_nchecks == (int)(sizeof g_checks / sizeof g_checks[0])) {
    g_dropped += got != want;
    return;
  }
  check_t *c = &g_checks[g_nchecks++];
  c->got = got;
  c->want = want;
  vsnprintf(c->what, sizeof c->what, fmt, ap);
  snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "");
}

void expect_eq(long got, long want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vrecord(got, want, NULL, fmt, ap);
  va_end(ap);
}

void expect_rc(int rc, int want, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vrecord(rc, want, rc != want && rc != 0 ? inb_errmsg() : NULL, fmt, ap); /* after a success errmsg is stale */
  va_end(ap);
}

void expect_errmsg_has(const char *needle, const char *fmt, ...) {
  const char *m = inb_errmsg();
  bool has = strstr(m, needle) != NULL;
  char what[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  expect_eq(has, 1, "%s: the message names '%s'%s%s", what, needle, has ? "" : "; errmsg: ", has ? "" : m);
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

/* Prints this rank's failed checks; returns how many failed (the dropped ones included). */
static int report_failed_checks(void) {
  int bad = g_dropped;
  for (int k = 0; k < g_nchecks; k++) {
    const check_t *c = &g_checks[k];
    if (c->got == c->want) continue;
    print_error("rank %d: %s: got %ld, expected %ld%s%s\n", g_rank, c->what, c->got, c->want,
                c->msg[0] ? "; errmsg: " : "", c->msg);
    bad++;
  }
  if (g_dropped) print_error("rank %d: %d more failed checks (not kept)\n", g_rank, g_dropped);
  return bad;
}

void assert_checks(void) {
  int bad = report_failed_checks();
  if (g_rank == 0 && g_verdict[0]) {
    print_error("rank 0: post: %s\n", g_verdict);
    bad++;
  }
  reset_checks();
  assert_int_equal(bad, 0);
}

bool mentions_number(const char *s, long v) {
  char num[32];
  snprintf(num, sizeof num, "%ld", v);
  size_t len = strlen(num);
  for (const char *p = strstr(s, num); p; p = strstr(p + 1, num))
    if ((p == s || !isdigit((unsigned char)p[-1])) && !isdigit((unsigned char)p[len])) return true;
  return false;
}
