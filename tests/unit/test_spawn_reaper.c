/* Unit tests of the task reaper (src/jobs/reaper.h) through the task runner (src/jobs/spawn.h): the process that
 * runs the tasks ends while they run (SIGKILL, a normal exit without shutdown, a SIGTERM to its process group)
 * or shuts the runner down, and every task and every descendant of one is gone within seconds: those that left the
 * task's process group with setsid (found by the owner entry in their environment) and one that cleared its
 * environment but stayed in the group (found by the group) included; the reaper ignores the catchable termination
 * signals.
 *
 * Each test forks a "runner" process, which starts the runner, runs three tasks from three threads and tells
 * the test, through a pipe, that it is ready and who its reaper is; the tasks write their pids and those of their
 * children into files. The test checks that what the tasks started is where it should be (a descendant that
 * left its group really did), then ends the runner and polls, up to a few seconds, until every pid is gone.
 * The test process is a child subreaper: the tasks orphaned by the runner's end come to it, and it reaps them
 * (a zombie counts as gone). It never starts a thread, so that it forks single-threaded (the sanitizers need
 * it); the runner starts its threads after the fork. The teardown kills whatever is left, also after a failed
 * assertion: the runner, the pids in the files, then every descendant of the test process until it has no child.
 * Real processes throughout (sh, sleep, setsid, env). */
#define _GNU_SOURCE /* pipe2 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch/core.h>

#include "jobs/reaper.h"
#include "jobs/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SH(cmd) ((char *const[]){"sh", "-c", (char *)(cmd), NULL})

enum {
  START_MS = 15000, /* the runner starts its reaper and tasks (a sanitized build loads slowly) */
  GONE_MS = 5000,   /* after the runner's end, until every task and the reaper are gone */
  JOIN_MS = 10000,  /* the runner: after inb__spawn_shutdown, until every inb__spawn_run has returned */
  NJOBS = 3,
  NPIDS = 7
};

/* What the tasks start: each writes pids into files of its directory (cwd), whole (written, then renamed). */
static const char *const g_scripts[NJOBS] = {
    /* a: the task itself, a sleep */
    "echo $$ > a.tmp && mv a.tmp a.pid && exec sleep 60",
    /* b: a shell waiting for its children, which stay in the task's process group; one cleared its environment
     * (only the group's kill reaches it) */
    "sleep 60 & echo $! > b1.tmp && mv b1.tmp b1.pid; env -i sleep 60 & echo $! > b2.tmp && mv b2.tmp b2.pid; "
    "echo $$ > b.tmp && mv b.tmp b.pid && wait",
    /* c: a shell waiting for a child that left the group (setsid: a session of its own), and a grandchild that
     * left it too, orphaned when the subshell that started it ended (as a daemon does) */
    "setsid sleep 60 & echo $! > c1.tmp && mv c1.tmp c1.pid; "
    "(setsid sleep 60 & echo $! > c2.tmp && mv c2.tmp c2.pid); "
    "echo $$ > c.tmp && mv c.tmp c.pid && wait"};

static const struct {
  const char *file, *what;
} g_procs[NPIDS] = {
    {"a.pid", "task a (exec sleep)"},
    {"b.pid", "task b (sh waiting for its children)"},
    {"b1.pid", "task b's child (in the task's group)"},
    {"b2.pid", "task b's child without environment (env -i, in the task's group)"},
    {"c.pid", "task c (sh waiting for its child)"},
    {"c1.pid", "task c's child that left the group (setsid)"},
    {"c2.pid", "task c's orphaned grandchild that left the group (setsid)"},
};
enum { A, B, B1, B2, C, C1, C2 }; /* indices into g_procs and fixture.pids */

static char g_dir[] = "/tmp/test_spawn_reaper.XXXXXX"; /* the tests' directories; removed by main */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL); }

/* ---- processes, as /proc shows them (both sides) ------------------------------------------------------------ */

typedef struct {
  char state;
  long ppid, pgrp, session;
  char comm[32];
} proc_info;

/* Reads /proc/PID/stat. False when there is no such process. */
static bool proc_read(pid_t pid, proc_info *pi) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *open = strchr(stat, '('), *close = strrchr(stat, ')');
  if (!open || !close || close < open) return false;
  snprintf(pi->comm, sizeof pi->comm, "%.*s", (int)(close - open - 1), open + 1);
  return sscanf(close + 1, " %c %ld %ld %ld", &pi->state, &pi->ppid, &pi->pgrp, &pi->session) == 4;
}

/* Whether pid is a live process (a zombie is not). */
static bool alive(pid_t pid) {
  proc_info pi;
  return pid > 0 && proc_read(pid, &pi) && pi.state != 'Z' && pi.state != 'X';
}

/* Whether pid's environment carries an owner entry of the runner `runner` (INBATCH_SPAWN_OWNER=<runner>-...):
 * a task of that runner or a descendant of one. A zombie's environment reads empty. */
static bool marked_by(pid_t pid, pid_t runner) {
  static char buf[1 << 20]; /* the test's side is single-threaded */
  char path[64], prefix[64];
  snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
  int len = snprintf(prefix, sizeof prefix, "%s=%ld-", INB__REAPER_OWNER, (long)runner);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t n = 0;
  for (ssize_t got; n < sizeof buf && (got = read(fd, buf + n, sizeof buf - n)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    n += (size_t)got;
  }
  close(fd);
  for (size_t at = 0; at < n;) {
    const char *e = buf + at, *nul = memchr(e, '\0', n - at);
    size_t elen = nul ? (size_t)(nul - e) : n - at;
    if (elen > (size_t)len && memcmp(e, prefix, (size_t)len) == 0) return true;
    at += elen + 1;
  }
  return false;
}

/* ---- the runner (the forked child: no cmocka assertion here, it would jump into the test's frames) ------------ */

typedef struct {
  const char *script, *dir;
  inb__spawn_result r;
  int rc;
  char err[256];
  atomic_bool done;
} job;

static void *run_job(void *arg) {
  job *j = arg;
  j->rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH(j->script), .cwd = j->dir}, &j->r);
  if (j->rc) snprintf(j->err, sizeof j->err, "%s", inb_errmsg());
  atomic_store(&j->done, true);
  return NULL;
}

/* One line to the test, in one write. */
static void report(int fd, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  while (write(fd, line, (size_t)n) < 0 && errno == EINTR) {
  }
}

#define RUNNER_FAIL(fd, ...)                                                                                        \
  do {                                                                                                              \
    report(fd, "fail " __VA_ARGS__);                                                                                \
    _exit(1);                                                                                                       \
  } while (0)

/* The runner's side of test_shutdown_...: shuts down with the tasks running, checks that every run returned
 * with its task killed, that the reaper is gone, that init starts a new one and a task runs again. Reports
 * "ok OLD NEW" (the two reapers' pids) or "fail WHY". */
static void shutdown_and_report(job *jobs, pthread_t *th, int out) {
  pid_t old = inb__spawn_reaper_pid();
  inb__spawn_shutdown();
  int64_t deadline = now_ms() + JOIN_MS;
  for (int i = 0; i < NJOBS; i++) {
    while (!atomic_load(&jobs[i].done) && now_ms() < deadline) pause_ms(5);
    if (!atomic_load(&jobs[i].done))
      RUNNER_FAIL(out, "inb__spawn_run of task %c has not returned %d s after inb__spawn_shutdown", 'a' + i,
                  JOIN_MS / 1000);
  }
  for (int i = 0; i < NJOBS; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < NJOBS; i++) {
    const job *j = &jobs[i];
    if (j->rc != 0) RUNNER_FAIL(out, "inb__spawn_run of task %c returned %d (%s)", 'a' + i, j->rc, j->err);
    if (!j->r.started || j->r.signal != SIGKILL)
      RUNNER_FAIL(out, "task %c: started %d, ended with '%s' instead of SIGKILL", 'a' + i, j->r.started, j->r.msg);
  }
  if (inb__spawn_reaper_pid() != 0)
    RUNNER_FAIL(out, "inb__spawn_reaper_pid() is %ld after inb__spawn_shutdown", (long)inb__spawn_reaper_pid());
  if (kill(old, 0) == 0 || errno != ESRCH)
    RUNNER_FAIL(out, "the reaper (pid %ld) is still there after inb__spawn_shutdown", (long)old);
  if (inb__spawn_init() != 0) RUNNER_FAIL(out, "inb__spawn_init after shutdown: %s", inb_errmsg());
  pid_t fresh = inb__spawn_reaper_pid();
  if (fresh <= 0 || fresh == old)
    RUNNER_FAIL(out, "after init again the reaper is pid %ld (the old one was %ld)", (long)fresh, (long)old);
  inb__spawn_result r;
  int rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH("exit 0")}, &r);
  if (rc != 0 || !r.ok) RUNNER_FAIL(out, "a task after init again: rc %d, '%s' (%s)", rc, r.msg, rc ? inb_errmsg() : "");
  report(out, "ok %ld %ld", (long)old, (long)fresh);
}

/* The runner process: a process group of its own (as a rank under a launcher), the runner started, three tasks
 * from three threads, "ready REAPER" to the test; then it obeys one byte from the test: 's' shuts down (then
 * waits for another byte), 'x' or EOF (the test ended) exits normally, tasks running. The test SIGKILLs it
 * while it waits. */
static void __attribute__((noreturn)) runner_main(const char *dir, int in, int out) {
  setpgid(0, 0);
  if (inb__spawn_init() != 0) RUNNER_FAIL(out, "inb__spawn_init: %s", inb_errmsg());
  static job jobs[NJOBS];
  pthread_t th[NJOBS];
  for (int i = 0; i < NJOBS; i++) {
    jobs[i] = (job){.script = g_scripts[i], .dir = dir};
    int err = pthread_create(&th[i], NULL, run_job, &jobs[i]);
    if (err) RUNNER_FAIL(out, "pthread_create: %s", strerror(err));
  }
  report(out, "ready %ld", (long)inb__spawn_reaper_pid());
  for (;;) {
    char cmd = 0;
    ssize_t got;
    while ((got = read(in, &cmd, 1)) < 0 && errno == EINTR) {
    }
    if (got == 1 && cmd == 's') {
      shutdown_and_report(jobs, th, out);
      continue;
    }
    exit(0); /* a normal end, atexit and all, while the tasks run and without inb__spawn_shutdown */
  }
}

/* ---- the test's side -------------------------------------------------------------------------------------------- */

typedef struct {
  char dir[256];
  pid_t runner;
  bool runner_reaped;
  int runner_status;
  int to_runner, from_runner; /* the runner's commands; its reports */
  pid_t reaper, old_reaper;   /* old_reaper: before a shutdown and init again */
  bool reaper_reaped;
  int reaper_status;          /* when the reaper, orphaned, was reaped here */
  pid_t pids[NPIDS];          /* read from the tasks' files; 0 when not known */
} fixture;

static fixture g_fx;

/* Reaps every child that ended: the runner, and the orphans (tasks, reaper) that came to this subreaper. */
static void reap(fixture *fx) {
  int status;
  for (pid_t p; (p = waitpid(-1, &status, WNOHANG)) > 0;) {
    if (p == fx->runner) fx->runner_reaped = true, fx->runner_status = status;
    if (p == fx->reaper) fx->reaper_reaped = true, fx->reaper_status = status;
  }
}

static const char *describe_status(int status, char *buf, size_t cap) {
  if (WIFEXITED(status))
    snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, cap, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else
    snprintf(buf, cap, "status %#x", status);
  return buf;
}

/* Waits up to ms for the runner to end and be reaped. */
static void expect_runner_end(fixture *fx, int ms, const char *after) {
  for (int64_t end = now_ms() + ms; !fx->runner_reaped && now_ms() < end;) {
    reap(fx);
    if (!fx->runner_reaped) pause_ms(5);
  }
  if (!fx->runner_reaped) fail_msg("the runner (pid %ld) is still running %d s after %s", (long)fx->runner, ms / 1000, after);
}

/* One line from the runner (without its '\n'), within ms. Fails the test, saying how the runner ended, on EOF
 * or timeout, and on a "fail ..." line. */
static void read_report(fixture *fx, char *line, size_t cap, int ms, const char *what) {
  size_t n = 0;
  int64_t end = now_ms() + ms;
  while (n < cap - 1) {
    int64_t left = end - now_ms();
    struct pollfd p = {.fd = fx->from_runner, .events = POLLIN};
    int got = left > 0 ? poll(&p, 1, (int)left) : 0;
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      line[n] = '\0';
      fail_msg("the runner said nothing about %s within %d s (got '%s')", what, ms / 1000, line);
    }
    ssize_t r = read(fx->from_runner, line + n, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      line[n] = '\0';
      expect_runner_end(fx, GONE_MS, "closing its report pipe");
      char how[64];
      fail_msg("the runner ended (%s) before it told %s (got '%s')",
               describe_status(fx->runner_status, how, sizeof how), what, line);
    }
    if (line[n] == '\n') break;
    n++;
  }
  line[n] = '\0';
  if (strncmp(line, "fail ", 5) == 0) fail_msg("the runner: %s", line + 5);
}

/* The pid in the file `name` of the fixture's directory; 0 when the file is not there (yet). */
static pid_t read_pid(const fixture *fx, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", fx->dir, name);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  long v = 0;
  if (fscanf(f, "%ld", &v) != 1) v = 0;
  fclose(f);
  return (pid_t)v;
}

/* Forks the runner, waits until it is ready and every task wrote its pids, and checks that the processes are where
 * the test needs them: the reaper in a session of its own, each task leading its group, b's children in b's group
 * (b2 without the owner entry), c's child and grandchild in sessions of their own (they left the group) yet marked
 * with the owner entry. */
static void start_runner(fixture *fx) {
  int cmd[2], rep[2];
  assert_int_equal(pipe2(cmd, O_CLOEXEC), 0);
  assert_int_equal(pipe2(rep, O_CLOEXEC), 0);
  fflush(stdout); /* cmocka's buffered lines must not be written twice */
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(cmd[1]);
    close(rep[0]);
    runner_main(fx->dir, cmd[0], rep[1]);
  }
  setpgid(pid, pid); /* as the runner does: whichever runs first */
  fx->runner = pid;
  close(cmd[0]);
  close(rep[1]);
  fx->to_runner = cmd[1];
  fx->from_runner = rep[0];

  char line[512];
  long reaper = 0;
  read_report(fx, line, sizeof line, START_MS, "its start");
  if (sscanf(line, "ready %ld", &reaper) != 1 || reaper <= 0) fail_msg("the runner said '%s', not 'ready PID'", line);
  fx->reaper = (pid_t)reaper;
  proc_info pi;
  assert_true(proc_read(fx->reaper, &pi));
  assert_string_equal(pi.comm, "inbatch-reaper");
  assert_int_equal(pi.session, fx->reaper); /* a session of its own: not in the runner's process group */

  int64_t end = now_ms() + START_MS;
  for (int i = 0; i < NPIDS; i++) {
    while (!(fx->pids[i] = read_pid(fx, g_procs[i].file)) && now_ms() < end) {
      reap(fx);
      if (fx->runner_reaped) fail_msg("the runner ended before %s wrote its pid", g_procs[i].what);
      pause_ms(5);
    }
    if (!fx->pids[i]) fail_msg("%s did not write its pid within %d s", g_procs[i].what, START_MS / 1000);
  }
  /* setsid and env run a moment after the pid was written: wait for them to exec sleep (after setsid) */
  for (int i = B2; i < NPIDS; i++) {
    if (i == C) continue;
    while (now_ms() < end && !(proc_read(fx->pids[i], &pi) && !strcmp(pi.comm, "sleep") &&
                               (i == B2 || pi.session == fx->pids[i])))
      pause_ms(5);
  }
  for (int i = 0; i < NPIDS; i++) {
    pid_t p = fx->pids[i];
    if (!alive(p)) fail_msg("%s (pid %ld) is not running before the test acts", g_procs[i].what, (long)p);
    if (marked_by(p, fx->runner) != (i != B2))
      fail_msg("%s (pid %ld) %s %s=%ld-...", g_procs[i].what, (long)p, i == B2 ? "carries" : "does not carry",
               INB__REAPER_OWNER, (long)fx->runner);
    assert_true(proc_read(p, &pi));
    if (strcmp(pi.comm, "sleep") != 0 && i != B && i != C)
      fail_msg("%s (pid %ld) runs %s, not sleep", g_procs[i].what, (long)p, pi.comm);
    long want = i == B1 || i == B2 ? fx->pids[B] : p; /* c1 and c2: their own group, and session */
    if (pi.pgrp != want)
      fail_msg("%s (pid %ld) is in process group %ld, not %ld", g_procs[i].what, (long)p, pi.pgrp, want);
    if ((i == C1 || i == C2) && pi.session != p)
      fail_msg("%s (pid %ld) is in session %ld: it did not leave the task's group", g_procs[i].what, (long)p,
               pi.session);
  }
}

/* Polls, up to GONE_MS, until every task's process and the reaper `reaper` are gone (reaping what comes here);
 * fails naming the first one still alive. */
static void expect_all_gone(fixture *fx, pid_t reaper, const char *after) {
  int64_t end = now_ms() + GONE_MS;
  for (;;) {
    reap(fx);
    int left = -1; /* index of one still alive; NPIDS: the reaper */
    for (int i = 0; i < NPIDS && left < 0; i++)
      if (alive(fx->pids[i])) left = i;
    if (left < 0 && alive(reaper)) left = NPIDS;
    if (left < 0) return;
    if (now_ms() >= end) {
      pid_t p = left < NPIDS ? fx->pids[left] : reaper;
      proc_info pi = {.comm = "?"};
      proc_read(p, &pi);
      fail_msg("%s (pid %ld, %s, state %c) is still alive %d s after %s",
               left < NPIDS ? g_procs[left].what : "the reaper", (long)p, pi.comm, pi.state, GONE_MS / 1000, after);
    }
    pause_ms(5);
  }
}

/* The reaper, orphaned by the runner's end and reaped here, exited by itself with status 0 (it acted, nobody
 * killed it). */
static void expect_reaper_exited_0(fixture *fx) {
  for (int64_t end = now_ms() + GONE_MS; !fx->reaper_reaped && now_ms() < end; pause_ms(5)) reap(fx);
  if (!fx->reaper_reaped) fail_msg("the reaper (pid %ld) was not reaped here: not orphaned to the test?", (long)fx->reaper);
  char how[64];
  if (!WIFEXITED(fx->reaper_status) || WEXITSTATUS(fx->reaper_status) != 0)
    fail_msg("the reaper ended with %s, not exit status 0", describe_status(fx->reaper_status, how, sizeof how));
}

static void send_byte(fixture *fx, char c) {
  ssize_t w;
  while ((w = write(fx->to_runner, &c, 1)) < 0 && errno == EINTR) {
  }
  assert_int_equal(w, 1);
}

/* ---- fixtures --------------------------------------------------------------------------------------------------- */

static int setup(void **state) {
  static int count;
  fixture *fx = &g_fx;
  *fx = (fixture){.to_runner = -1, .from_runner = -1};
  snprintf(fx->dir, sizeof fx->dir, "%s/%d", g_dir, ++count);
  if (mkdir(fx->dir, 0700) != 0) return -1;
  *state = fx;
  return 0;
}

/* SIGKILL to pid when it is still one of the runner's (marked) or, given `comm`, that program. */
static void kill_if_ours(pid_t pid, pid_t runner, const char *comm) {
  proc_info pi;
  if (pid > 0 && alive(pid) && (marked_by(pid, runner) || (comm && proc_read(pid, &pi) && !strcmp(pi.comm, comm))))
    kill(pid, SIGKILL);
}

/* SIGKILL to every live child of this process. Returns how many. */
static int kill_children(void) {
  int n = 0;
  DIR *d = opendir("/proc");
  for (struct dirent *e; d && (e = readdir(d));) {
    char *endp;
    long p = strtol(e->d_name, &endp, 10);
    proc_info pi;
    if (!*endp && p > 0 && proc_read((pid_t)p, &pi) && pi.ppid == (long)getpid() && pi.state != 'Z')
      n += kill((pid_t)p, SIGKILL) == 0;
  }
  if (d) closedir(d);
  return n;
}

/* Whatever a test left, even after a failed assertion: the runner, the pids in the files (when still marked, or
 * sleep), then this process's whole tree: what the runner left comes here (a subreaper), round after round, until
 * this process has no child left (up to GONE_MS). */
static int teardown(void **state) {
  fixture *fx = *state;
  if (fx->runner > 0) {
    if (!fx->runner_reaped) kill(fx->runner, SIGKILL);
    for (int i = 0; i < NPIDS; i++) {
      if (!fx->pids[i]) fx->pids[i] = read_pid(fx, g_procs[i].file);
      kill_if_ours(fx->pids[i], fx->runner, "sleep"); /* b2 has no owner entry */
    }
    for (int64_t end = now_ms() + GONE_MS; now_ms() < end; pause_ms(5)) {
      reap(fx);
      if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) break;
      kill_children();
    }
  }
  if (fx->to_runner >= 0) close(fx->to_runner);
  if (fx->from_runner >= 0) close(fx->from_runner);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---- the tests -------------------------------------------------------------------------------------------------- */

static void test_tasks_and_their_descendants_die_when_the_runner_is_sigkilled(void **state) {
  fixture *fx = *state;
  start_runner(fx);
  assert_int_equal(kill(fx->runner, SIGKILL), 0);
  expect_runner_end(fx, GONE_MS, "SIGKILL");
  assert_true(WIFSIGNALED(fx->runner_status) && WTERMSIG(fx->runner_status) == SIGKILL);
  expect_all_gone(fx, fx->reaper, "the runner was SIGKILLed");
  expect_reaper_exited_0(fx);
}

static void test_tasks_and_their_descendants_die_when_the_runner_exits_without_shutdown(void **state) {
  fixture *fx = *state;
  start_runner(fx);
  send_byte(fx, 'x');
  expect_runner_end(fx, GONE_MS, "it was told to exit");
  char how[64];
  if (!WIFEXITED(fx->runner_status) || WEXITSTATUS(fx->runner_status) != 0)
    fail_msg("the runner ended with %s, not exit(0)", describe_status(fx->runner_status, how, sizeof how));
  expect_all_gone(fx, fx->reaper, "the runner called exit(0)");
  expect_reaper_exited_0(fx);
}

/* Whether signal sig is in the SigIgn mask of /proc/PID/status. */
static bool ignores(pid_t pid, int sig) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  unsigned long long mask = 0;
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) found = sscanf(line, "SigIgn: %llx", &mask) == 1;
  fclose(f);
  assert_true(found);
  return (mask >> (sig - 1)) & 1;
}

static void test_the_reaper_ignores_sigterm_sigint_sighup_and_acts_when_the_runners_group_gets_sigterm(void **state) {
  fixture *fx = *state;
  start_runner(fx);
  static const struct {
    int sig;
    const char *name;
  } sigs[] = {{SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"}, {SIGHUP, "SIGHUP"}};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    if (!ignores(fx->reaper, sigs[i].sig)) fail_msg("the reaper does not ignore %s", sigs[i].name);
    assert_int_equal(kill(fx->reaper, sigs[i].sig), 0);
    assert_int_equal(kill(-fx->reaper, sigs[i].sig), 0); /* its process group too, as a terminal or launcher does */
  }
  /* An ignored signal is dropped when sent; a fatal one would end it within this window. */
  for (int i = 0; i < 20; i++) {
    reap(fx);
    if (!alive(fx->reaper)) fail_msg("the reaper ended on SIGTERM, SIGINT or SIGHUP");
    pause_ms(5);
  }
  for (int i = 0; i < NPIDS; i++)
    if (!alive(fx->pids[i])) fail_msg("%s ended when the reaper got signals, the runner alive", g_procs[i].what);
  assert_int_equal(fx->runner_reaped, false);

  /* The launcher's SIGTERM to the rank's group: the runner dies, its tasks (groups of their own) and reaper (a
   * session of its own) do not get it. */
  assert_int_equal(kill(-fx->runner, SIGTERM), 0);
  expect_runner_end(fx, GONE_MS, "SIGTERM to its process group");
  assert_true(WIFSIGNALED(fx->runner_status) && WTERMSIG(fx->runner_status) == SIGTERM);
  expect_all_gone(fx, fx->reaper, "SIGTERM to the runner's process group");
  expect_reaper_exited_0(fx);
}

static void test_shutdown_kills_the_tasks_returns_every_run_and_stops_the_reaper_until_init(void **state) {
  fixture *fx = *state;
  start_runner(fx);
  send_byte(fx, 's');
  char line[512];
  long old = 0, fresh = 0;
  read_report(fx, line, sizeof line, JOIN_MS + START_MS, "its shutdown");
  if (sscanf(line, "ok %ld %ld", &old, &fresh) != 2) fail_msg("the runner said '%s', not 'ok OLD NEW'", line);
  assert_int_equal(old, fx->reaper);
  fx->old_reaper = fx->reaper;
  fx->reaper = (pid_t)fresh;
  /* the shutdown's reaper killed what left the groups (c1, c2) before it exited */
  expect_all_gone(fx, fx->old_reaper, "inb__spawn_shutdown returned");
  proc_info pi;
  assert_true(proc_read(fx->reaper, &pi));
  assert_string_equal(pi.comm, "inbatch-reaper");

  /* the new reaper is armed: it ends with its runner */
  assert_int_equal(kill(fx->runner, SIGKILL), 0);
  expect_runner_end(fx, GONE_MS, "SIGKILL");
  expect_all_gone(fx, fx->reaper, "the runner was SIGKILLed after init again");
  expect_reaper_exited_0(fx);
}

/* The documented limit (reaper.h): a descendant that left its task's process group AND cleared its environment
 * (setsid env -i prog) carries neither the group nor the owner entry, and nothing finds it when the runner dies.
 * Not tested: it would be left running. */
static void test_a_descendant_that_leaves_the_group_and_clears_its_environment_is_the_documented_limit(void **state) {
  (void)state;
  skip();
}

int main(void) {
  /* orphans of the runners come here, to be reaped: no zombie is left behind and none is taken for alive */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    perror("prctl(PR_SET_CHILD_SUBREAPER)");
    return 1;
  }
  if (!mkdtemp(g_dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tasks_and_their_descendants_die_when_the_runner_is_sigkilled, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tasks_and_their_descendants_die_when_the_runner_exits_without_shutdown,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_the_reaper_ignores_sigterm_sigint_sighup_and_acts_when_the_runners_group_gets_sigterm, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_shutdown_kills_the_tasks_returns_every_run_and_stops_the_reaper_until_init, setup, teardown),
      cmocka_unit_test(test_a_descendant_that_leaves_the_group_and_clears_its_environment_is_the_documented_limit),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", g_dir);
  return failed;
}
