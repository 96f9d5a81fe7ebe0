/* Unit tests of the task runner (src/jobs/spawn.h): how a task's end is told (exit status, signal, timeout, not
 * started), what it is given (stdin, descriptors, environment, directory, process group), where its output
 * goes (files, tagged lines that never mix), the files it declares, many threads at once, shutdown, and out of
 * memory at every allocation. Real processes throughout (sh, sleep, awk); tests/unit/test_spawn_reaper.c kills
 * the runner's own process. */
#define _GNU_SOURCE /* pipe2 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inbatch/core.h>

#include "core/alloc.h"
#include "jobs/spawn.h"
#include "oom_walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SH(cmd) ((char *const[]){"sh", "-c", (char *)(cmd), NULL})

static char g_dir[] = "/tmp/test_spawn.XXXXXX"; /* files of the tests; removed by main */

/* A path under g_dir (four at a time per thread: tasks' threads build paths too). */
static const char *in_dir(const char *name) {
  static _Thread_local char bufs[4][512];
  static _Thread_local int next;
  char *p = bufs[next++ % 4];
  snprintf(p, sizeof bufs[0], "%s/%s", g_dir, name);
  return p;
}

/* The file's contents (the caller frees), or NULL when it does not exist. */
static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += got;
    if (cap - n < 2) buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

static inb__spawn_result run(const inb__spawn_spec *s) {
  inb__spawn_result r;
  int rc = inb__spawn_run(s, &r);
  if (rc) fail_msg("inb__spawn_run: %d (%s)", rc, inb_errmsg());
  return r;
}

/* Whether pid is a live process (a zombie is not). */
static bool alive(pid_t pid) {
  char path[64], stat[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  size_t n = fread(stat, 1, sizeof stat - 1, f);
  fclose(f);
  stat[n] = '\0';
  const char *end = strrchr(stat, ')');
  return end && end[1] == ' ' && end[2] != 'Z' && end[2] != 'X';
}

/* The live processes of process group pgid. */
static int alive_in_group(pid_t pgid) {
  DIR *d = opendir("/proc");
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    char path[300], stat[512];
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t got = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[got] = '\0';
    const char *end = strrchr(stat, ')');
    char state;
    long ppid, pgrp;
    if (end && sscanf(end + 2, "%c %ld %ld", &state, &ppid, &pgrp) == 3 && pgrp == pgid && state != 'Z' &&
        state != 'X')
      n++;
  }
  closedir(d);
  return n;
}

static void pause_ms(long ms) { nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL); }

/* Polls (a condition, not a delay): true once pid and its group are gone, false after 5 s. */
static bool gone_soon(pid_t pid, pid_t pgid) {
  for (int i = 0; i < 500; i++) {
    if (!alive(pid) && (pgid <= 0 || alive_in_group(pgid) == 0)) return true;
    pause_ms(10);
  }
  return false;
}

/* The number read from a file a task wrote. */
static long read_number(const char *path) {
  char *text = slurp(path);
  assert_non_null(text);
  long v = strtol(text, NULL, 10);
  free(text);
  return v;
}

/* ---- capturing the process's own fd 1 or 2 (where TAGGED lines go) ------------------------------------------ */

typedef struct {
  int fd, saved, pipe_r;
  pthread_t reader;
  char *buf;
  size_t n, cap;
} capture;

static void *capture_read(void *arg) {
  capture *c = arg;
  char chunk[65536];
  for (ssize_t got; (got = read(c->pipe_r, chunk, sizeof chunk)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    while (c->n + (size_t)got + 1 > c->cap) c->buf = realloc(c->buf, c->cap = c->cap ? 2 * c->cap : 1 << 20);
    memcpy(c->buf + c->n, chunk, (size_t)got);
    c->n += (size_t)got;
  }
  return NULL;
}

/* From now on, fd writes into a pipe that a thread reads: a pipe, where a write longer than PIPE_BUF may be
 * split, not a file. No assertion until capture_end (cmocka would print into the pipe). */
static void capture_begin(capture *c, int fd) {
  int p[2];
  fflush(stdout);
  fflush(stderr);
  *c = (capture){.fd = fd};
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  c->pipe_r = p[0];
  c->saved = dup(fd);
  dup2(p[1], fd);
  close(p[1]);
  pthread_create(&c->reader, NULL, capture_read, c);
}

/* What was written (the caller frees; never NULL). */
static char *capture_end(capture *c) {
  fflush(stdout);
  fflush(stderr);
  dup2(c->saved, c->fd);
  close(c->saved);
  pthread_join(c->reader, NULL);
  close(c->pipe_r);
  if (!c->buf) c->buf = calloc(1, 1);
  c->buf[c->n] = '\0';
  return c->buf;
}

/* ---- how a task ended ----------------------------------------------------------------------------------------- */

static void test_a_program_that_exits_0_is_ok_with_its_pid_and_times(void **state) {
  (void)state;
  time_t before = time(NULL);
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}});
  assert_true(r.ok);
  assert_true(r.started);
  assert_int_equal(r.exit_status, 0);
  assert_int_equal(r.signal, 0);
  assert_false(r.timed_out);
  assert_string_equal(r.msg, "");
  assert_true(r.pid > 0);
  assert_true(r.start_s >= (double)before - 1 && r.start_s <= (double)time(NULL) + 1);
  assert_true(r.runtime_s > 0 && r.runtime_s < 5);
}

static void test_an_exit_status_is_told_apart(void **state) {
  (void)state;
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("exit 3")});
  assert_false(r.ok);
  assert_true(r.started);
  assert_int_equal(r.exit_status, 3);
  assert_int_equal(r.signal, 0);
  assert_false(r.timed_out);
  assert_string_equal(r.msg, "exit status 3");
}

static void test_a_signal_is_told_apart(void **state) {
  (void)state;
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("kill -9 $$")});
  assert_false(r.ok);
  assert_true(r.started);
  assert_int_equal(r.exit_status, -1);
  assert_int_equal(r.signal, SIGKILL);
  assert_false(r.timed_out);
  assert_string_equal(r.msg, "killed by signal 9 (SIGKILL)");
}

static void test_a_missing_program_is_not_started(void **state) {
  (void)state;
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = (char *const[]){"nosuch-inbatch-program", NULL}});
  assert_false(r.ok);
  assert_false(r.started);
  assert_int_equal(r.error, ENOENT);
  assert_int_equal(r.pid, 0);
  assert_string_equal(r.msg, "cannot run 'nosuch-inbatch-program': No such file or directory");

  r = run(&(inb__spawn_spec){.argv = (char *const[]){"/nonexistent/prog", NULL}});
  assert_false(r.started);
  assert_string_equal(r.msg, "cannot run '/nonexistent/prog': No such file or directory");

  r = run(&(inb__spawn_spec){.argv = (char *const[]){"/etc/passwd", NULL}}); /* not executable */
  assert_false(r.started);
  assert_int_equal(r.error, EACCES);
  assert_string_equal(r.msg, "cannot run '/etc/passwd': Permission denied");
}

static void test_a_timeout_sends_sigterm_to_the_group(void **state) {
  (void)state;
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("sleep 30"), .timeout_s = 0.3, .grace_s = 5});
  assert_false(r.ok);
  assert_true(r.started);
  assert_true(r.timed_out);
  assert_int_equal(r.signal, SIGTERM);
  assert_string_equal(r.msg, "timed out after 0.3 s (SIGTERM)");
  assert_true(r.runtime_s >= 0.3 && r.runtime_s < 3);
}

static void test_a_timeout_ends_with_sigkill_when_sigterm_is_ignored(void **state) {
  (void)state;
  /* the trap is inherited by sleep: nothing in the group ends on SIGTERM */
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("trap '' TERM; sleep 30; exit 0"), .timeout_s = 0.2,
                                               .grace_s = 0.3});
  assert_true(r.timed_out);
  assert_int_equal(r.signal, SIGKILL);
  assert_string_equal(r.msg, "timed out after 0.2 s (SIGTERM, then SIGKILL after 0.3 s)");
  assert_true(r.runtime_s >= 0.5 && r.runtime_s < 3);

  r = run(&(inb__spawn_spec){.argv = SH("trap '' TERM; sleep 30"), .timeout_s = 0.2}); /* grace 0: at once */
  assert_int_equal(r.signal, SIGKILL);
  assert_string_equal(r.msg, "timed out after 0.2 s (SIGTERM, then SIGKILL after 0 s)");
}

static void test_a_timeout_ends_the_grandchildren_too(void **state) {
  (void)state;
  const char *pidfile = in_dir("grandchild.pid");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s; trap '' TERM; wait", pidfile);
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH(cmd), .timeout_s = 0.3, .grace_s = 0.2});
  assert_true(r.timed_out);
  pid_t grandchild = (pid_t)read_number(pidfile);
  assert_true(grandchild > 0);
  assert_true(gone_soon(grandchild, r.pid));
}

static void test_what_a_task_leaves_in_its_group_is_killed_when_it_ends(void **state) {
  (void)state;
  const char *pidfile = in_dir("left.pid");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > %s", pidfile);
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH(cmd)});
  assert_true(r.ok);
  assert_true(r.runtime_s < 5);
  assert_true(gone_soon((pid_t)read_number(pidfile), r.pid));
}

/* ---- what a task is given ------------------------------------------------------------------------------------- */

static void test_a_task_leads_its_own_process_group_and_reads_dev_null(void **state) {
  (void)state;
  const char *out = in_dir("ids.txt");
  /* field 5 of /proc/self/stat is the group; `cat` returns at once on /dev/null */
  inb__spawn_result r = run(&(inb__spawn_spec){
      .argv = SH("cut -d' ' -f5 /proc/$$/stat; echo $$; readlink /proc/$$/fd/0; cat"),
      .out = INB__OUT_FILES, .stdout_path = out, .timeout_s = 10});
  assert_true(r.ok);
  char *text = slurp(out), expect[128];
  snprintf(expect, sizeof expect, "%ld\n%ld\n/dev/null\n", (long)r.pid, (long)r.pid);
  assert_string_equal(text, expect);
  free(text);
}

static void test_a_task_sees_only_descriptors_0_1_2(void **state) {
  (void)state;
  int leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, as a careless library would open it */
  assert_true(leaky > 2);
  const char *out = in_dir("fds.txt");
  inb__spawn_result r =
      run(&(inb__spawn_spec){.argv = SH("ls /proc/$$/fd; :"), .out = INB__OUT_FILES, .stdout_path = out});
  assert_true(r.ok);
  char *text = slurp(out);
  assert_string_equal(text, "0\n1\n2\n");
  free(text);

  capture c;
  capture_begin(&c, 1);
  r = run(&(inb__spawn_spec){.argv = SH("ls /proc/$$/fd; :"), .out = INB__OUT_TAGGED, .tag = "t"});
  text = capture_end(&c);
  assert_true(r.ok);
  assert_string_equal(text, "t\t0\nt\t1\nt\t2\n");
  free(text);
  close(leaky);
}

static void test_env_add_sets_and_replaces_variables_once(void **state) {
  (void)state;
  setenv("SPAWN_TEST_OLD", "command", 1);
  const char *out = in_dir("env.txt");
  inb__spawn_result r = run(&(inb__spawn_spec){
      .argv = (char *const[]){"env", NULL},
      .env_add = (char *const[]){"INBATCH_INDEX=7", "SPAWN_TEST_OLD=task", "TWICE=1", "TWICE=2", "EMPTY=", NULL},
      .out = INB__OUT_FILES, .stdout_path = out});
  assert_true(r.ok);
  char *text = slurp(out);
  int index = 0, old = 0, twice = 0, empty = 0, owner = 0, path = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    index += strcmp(line, "INBATCH_INDEX=7") == 0;
    old += strncmp(line, "SPAWN_TEST_OLD=", 15) == 0 && strcmp(line, "SPAWN_TEST_OLD=task") == 0 ? 1
           : strncmp(line, "SPAWN_TEST_OLD=", 15) == 0                                        ? 100
                                                                                              : 0;
    twice += strncmp(line, "TWICE=", 6) == 0 ? (strcmp(line, "TWICE=2") == 0 ? 1 : 100) : 0;
    empty += strcmp(line, "EMPTY=") == 0;
    owner += strncmp(line, "INBATCH_SPAWN_OWNER=", 20) == 0;
    path += strncmp(line, "PATH=", 5) == 0;
  }
  free(text);
  assert_int_equal(index, 1);
  assert_int_equal(old, 1); /* replaced, not added beside the command's */
  assert_int_equal(twice, 1);
  assert_int_equal(empty, 1);
  assert_int_equal(owner, 1);
  assert_int_equal(path, 1); /* the rest of the command's environment is there */
  unsetenv("SPAWN_TEST_OLD");
}

static void test_env_add_path_is_where_the_program_is_found(void **state) {
  (void)state;
  const char *tool = in_dir("bin/spawn-test-tool");
  mkdir(in_dir("bin"), 0755);
  FILE *f = fopen(tool, "w");
  assert_non_null(f);
  fputs("#!/bin/sh\necho found\n", f);
  fclose(f);
  chmod(tool, 0755);
  char path[600];
  snprintf(path, sizeof path, "PATH=/nonexistent:%s", in_dir("bin"));
  const char *out = in_dir("tool.txt");
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = (char *const[]){"spawn-test-tool", NULL},
                                               .env_add = (char *const[]){path, NULL},
                                               .out = INB__OUT_FILES, .stdout_path = out});
  assert_true(r.ok);
  char *text = slurp(out);
  assert_string_equal(text, "found\n");
  free(text);

  r = run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL},
                             .env_add = (char *const[]){"PATH=/nonexistent", NULL}});
  assert_false(r.started);
  assert_int_equal(r.error, ENOENT);
  assert_string_equal(r.msg, "cannot run 'true': No such file or directory (searched PATH=/nonexistent)");
}

static void test_cwd_is_where_the_task_runs_and_a_missing_one_is_named(void **state) {
  (void)state;
  const char *out = in_dir("pwd.txt");
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = (char *const[]){"pwd", NULL}, .cwd = g_dir,
                                               .out = INB__OUT_FILES, .stdout_path = out});
  assert_true(r.ok);
  char *text = slurp(out), expect[600];
  snprintf(expect, sizeof expect, "%s\n", g_dir);
  assert_string_equal(text, expect);
  free(text);

  r = run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}, .cwd = "/nonexistent-dir"});
  assert_false(r.started);
  assert_int_equal(r.error, ENOENT);
  assert_string_equal(r.msg, "cannot run 'true': cannot enter '/nonexistent-dir': No such file or directory");
}

/* ---- where output goes -------------------------------------------------------------------------------------- */

static void test_files_get_stdout_and_stderr_truncated_0644(void **state) {
  (void)state;
  const char *out = in_dir("o.txt"), *err = in_dir("e.txt"), *both = in_dir("both.txt");
  FILE *f = fopen(out, "w");
  fputs("an older and much longer content\n", f);
  fclose(f);
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("echo out; echo err >&2"), .out = INB__OUT_FILES,
                                               .stdout_path = out, .stderr_path = err});
  assert_true(r.ok);
  char *o = slurp(out), *e = slurp(err);
  assert_string_equal(o, "out\n");
  assert_string_equal(e, "err\n");
  free(o), free(e);
  struct stat st;
  assert_int_equal(stat(out, &st), 0);
  mode_t mask = umask(0);
  umask(mask);
  assert_int_equal(st.st_mode & 0777, 0644 & ~mask);

  r = run(&(inb__spawn_spec){.argv = SH("echo 1; echo 2 >&2; echo 3"), .out = INB__OUT_FILES, .stdout_path = both,
                             .stderr_path = both});
  char *b = slurp(both);
  assert_string_equal(b, "1\n2\n3\n");
  free(b);

  r = run(&(inb__spawn_spec){.argv = SH("echo lost"), .out = INB__OUT_FILES, .stdout_path = in_dir("no/dir.txt")});
  assert_false(r.started);
  assert_int_equal(r.error, ENOENT);
  char expect[700];
  snprintf(expect, sizeof expect, "cannot create '%s' for the task's stdout: No such file or directory",
           in_dir("no/dir.txt"));
  assert_string_equal(r.msg, expect);
}

static void test_tagged_lines_go_to_stdout_and_stderr_each_tagged(void **state) {
  (void)state;
  capture out, err;
  capture_begin(&out, 1);
  capture_begin(&err, 2);
  inb__spawn_result r = run(&(inb__spawn_spec){.argv = SH("echo a; echo b >&2; echo; printf 'no newline'"),
                                               .out = INB__OUT_TAGGED, .tag = "task 7"});
  char *e = capture_end(&err), *o = capture_end(&out);
  assert_true(r.ok);
  assert_string_equal(o, "task 7\ta\ntask 7\t\ntask 7\tno newline\n");
  assert_string_equal(e, "task 7\tb\n");
  free(o), free(e);
}

static void test_tagged_megabytes_on_both_streams_do_not_deadlock(void **state) {
  (void)state;
  capture out, err;
  capture_begin(&out, 1);
  capture_begin(&err, 2);
  /* 1.1 MB on each stream at once: a runner that read one stream to its end first would wait forever */
  inb__spawn_result r = run(&(inb__spawn_spec){
      .argv = SH("yes 0123456789 | head -n 100000 >&2 & yes abcdefghij | head -n 100000; wait"),
      .out = INB__OUT_TAGGED, .tag = "T", .timeout_s = 15});
  char *e = capture_end(&err), *o = capture_end(&out);
  assert_true(r.ok);
  assert_int_equal(strlen(o), 100000 * strlen("T\tabcdefghij\n"));
  assert_int_equal(strlen(e), 100000 * strlen("T\t0123456789\n"));
  for (size_t i = 0; i < 100000; i++) {
    assert_memory_equal(o + 13 * i, "T\tabcdefghij\n", 13);
    assert_memory_equal(e + 13 * i, "T\t0123456789\n", 13);
  }
  free(o), free(e);
}

static void test_tagged_long_lines_are_cut_into_tagged_pieces(void **state) {
  (void)state;
  capture out;
  capture_begin(&out, 1);
  inb__spawn_result r = run(&(inb__spawn_spec){
      .argv = SH("head -c 150000 /dev/zero | tr '\\0' y; echo; head -c 65536 /dev/zero | tr '\\0' z; echo"),
      .out = INB__OUT_TAGGED, .tag = "L"});
  char *o = capture_end(&out);
  assert_true(r.ok);
  size_t lens[] = {65536, 65536, 150000 - 2 * 65536, 65536, 0}; /* 64 KiB of z: one piece, then its '\n' */
  char chars[] = {'y', 'y', 'y', 'z', 0};
  const char *p = o;
  for (size_t i = 0; i < 5; i++) {
    assert_memory_equal(p, "L\t", 2);
    p += 2;
    for (size_t k = 0; k < lens[i]; k++) assert_true(p[k] == chars[i]);
    p += lens[i];
    assert_int_equal(*p, '\n');
    p++;
  }
  assert_int_equal(*p, '\0');
  free(o);
}

typedef struct {
  const char *tag;
  inb__spawn_result r;
  int rc;
} tagged_job;

/* Lines "i:xxx..." of lengths that vary, up to 9000 bytes (longer than PIPE_BUF), 3000 of them. */
#define LINES_AWK                                                                                                  \
  "awk 'BEGIN { x = \"x\"; while (length(x) < 9000) x = x x;"                                                     \
  " for (i = 0; i < 3000; i++) print i \":\" substr(x, 1, (i % 50 == 0) ? 9000 : (i * 37) % 700) }'"

static void *run_tagged(void *arg) {
  tagged_job *j = arg;
  j->rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH(LINES_AWK), .out = INB__OUT_TAGGED, .tag = j->tag}, &j->r);
  return NULL;
}

static void test_tagged_lines_of_two_tasks_at_once_never_mix(void **state) {
  (void)state;
  tagged_job jobs[2] = {{.tag = "A"}, {.tag = "B"}};
  pthread_t th[2];
  capture out;
  capture_begin(&out, 1);
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, run_tagged, &jobs[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  char *o = capture_end(&out);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(jobs[i].rc, 0);
    assert_true(jobs[i].r.ok);
  }
  long next[2] = {0, 0};
  for (char *line = o, *nl; *line; line = nl + 1) {
    nl = strchr(line, '\n');
    assert_non_null(nl);
    assert_true((line[0] == 'A' || line[0] == 'B') && line[1] == '\t');
    int who = line[0] - 'A';
    char *colon;
    long i = strtol(line + 2, &colon, 10);
    assert_int_equal(i, next[who]); /* each task's lines whole and in order */
    assert_int_equal(*colon, ':');
    size_t expect = i % 50 == 0 ? 9000 : (size_t)(i * 37) % 700;
    assert_int_equal((size_t)(nl - colon - 1), expect);
    for (char *x = colon + 1; x < nl; x++) assert_int_equal(*x, 'x');
    next[who]++;
  }
  assert_int_equal(next[0], 3000);
  assert_int_equal(next[1], 3000);
  free(o);
}

static void test_without_pidfds_tagged_output_and_timeouts_still_work(void **state) {
  (void)state;
  inb__spawn_test_no_pidfd(true);
  capture out;
  capture_begin(&out, 1);
  inb__spawn_result a = run(&(inb__spawn_spec){.argv = SH("echo one; exit 4"), .out = INB__OUT_TAGGED, .tag = "n"});
  inb__spawn_result b = run(&(inb__spawn_spec){.argv = SH("sleep 30"), .timeout_s = 0.2, .grace_s = 1});
  char *o = capture_end(&out);
  inb__spawn_test_no_pidfd(false);
  assert_string_equal(o, "n\tone\n");
  assert_string_equal(a.msg, "exit status 4");
  assert_true(b.timed_out);
  assert_string_equal(b.msg, "timed out after 0.2 s (SIGTERM)");
  assert_true(b.runtime_s < 3);
  free(o);
}

/* ---- the files a task declares -------------------------------------------------------------------------------- */

/* Runs `cmd` (which writes $OUT) with OUT declared as its output; returns whether the file is left. */
static bool output_left(const char *cmd, double timeout_s) {
  const char *file = in_dir("declared.out");
  char env[600];
  snprintf(env, sizeof env, "OUT=%s", file);
  FILE *f = fopen(file, "w"); /* a stale one from an earlier attempt */
  fclose(f);
  const char *outputs[] = {file};
  run(&(inb__spawn_spec){.argv = SH(cmd), .env_add = (char *const[]){env, NULL}, .timeout_s = timeout_s,
                         .outputs = outputs, .noutputs = 1});
  return exists(file);
}

static void test_declared_outputs_are_kept_on_success_and_removed_otherwise(void **state) {
  (void)state;
  assert_true(output_left("echo done > \"$OUT\"", 0));
  assert_false(output_left("echo half > \"$OUT\"; exit 1", 0));
  assert_false(output_left("echo half > \"$OUT\"; kill -KILL $$", 0));
  assert_false(output_left("echo half > \"$OUT\"; sleep 30", 0.2));
  const char *file = in_dir("declared.out"), *outputs[] = {file};
  FILE *f = fopen(file, "w");
  fclose(f);
  inb__spawn_result r =
      run(&(inb__spawn_spec){.argv = (char *const[]){"nosuch-inbatch-program", NULL}, .outputs = outputs,
                             .noutputs = 1});
  assert_false(r.started);
  assert_false(exists(file));
}

/* ---- threads, shutdown, errors -------------------------------------------------------------------------------- */

typedef struct {
  int id, failures;
} worker;

static void *mixed_tasks(void *arg) {
  worker *w = arg;
  char tag[16], out[600];
  snprintf(tag, sizeof tag, "w%d", w->id);
  snprintf(out, sizeof out, "%s/w%d.txt", g_dir, w->id);
  for (int i = 0; i < 40; i++) {
    inb__spawn_result r;
    int rc;
    switch (i % 4) {
    case 0:
      rc = inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}}, &r);
      w->failures += rc != 0 || !r.ok;
      break;
    case 1:
      rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH("exit 5")}, &r);
      w->failures += rc != 0 || r.exit_status != 5;
      break;
    case 2:
      rc = inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"false", NULL}, .out = INB__OUT_FILES,
                                             .stdout_path = out, .timeout_s = 10}, &r);
      w->failures += rc != 0 || r.exit_status != 1;
      break;
    default:
      rc = inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"nosuch-inbatch-program", NULL}}, &r);
      w->failures += rc != 0 || r.started;
    }
  }
  return NULL;
}

static void test_four_threads_run_tasks_at_once(void **state) {
  (void)state;
  worker w[4];
  pthread_t th[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){.id = i};
    pthread_create(&th[i], NULL, mixed_tasks, &w[i]);
  }
  for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < 4; i++) assert_int_equal(w[i].failures, 0);
}

static void *run_sleeper(void *arg) {
  tagged_job *j = arg;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "echo > %s; exec sleep 30", in_dir("sleeper.started"));
  j->rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH(cmd)}, &j->r);
  return NULL;
}

static void test_shutdown_kills_what_runs_and_refuses_more_until_init(void **state) {
  (void)state;
  assert_int_equal(inb__spawn_init(), 0);
  pid_t reaper = inb__spawn_reaper_pid();
  assert_true(reaper > 0);
  char comm[64] = "", path[64];
  snprintf(path, sizeof path, "/proc/%ld/comm", (long)reaper);
  char *text = slurp(path);
  assert_non_null(text);
  snprintf(comm, sizeof comm, "%s", text);
  free(text);
  assert_string_equal(comm, "inbatch-reaper\n");

  tagged_job j = {0};
  pthread_t th;
  unlink(in_dir("sleeper.started"));
  pthread_create(&th, NULL, run_sleeper, &j);
  for (int i = 0; i < 1000 && !exists(in_dir("sleeper.started")); i++) pause_ms(10);
  inb__spawn_shutdown();
  pthread_join(th, NULL);
  assert_int_equal(j.rc, 0);
  assert_int_equal(j.r.signal, SIGKILL);
  assert_true(j.r.runtime_s < 10);
  assert_false(alive(reaper));

  inb__spawn_result r;
  assert_int_equal(inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}}, &r), INB_ECANCELED);
  assert_string_equal(inb_errmsg(), "the task runner was shut down");
  assert_int_equal(inb__spawn_init(), 0);
  assert_int_equal(inb__spawn_init(), 0); /* idempotent */
  assert_true(run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}}).ok);
}

static void test_bad_specs_are_refused_with_a_message(void **state) {
  (void)state;
  inb__spawn_result r;
  assert_int_equal(inb__spawn_run(NULL, &r), INB_EINVAL);
  assert_int_equal(inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"", NULL}}, &r), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "cannot run a task: no program (argv or argv[0] missing or empty)");
  assert_int_equal(inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}, .timeout_s = -1}, &r),
                   INB_EINVAL);
  assert_string_equal(inb_errmsg(), "cannot run 'true': timeout_s and grace_s must be finite and >= 0 (found -1, 0)");
  assert_int_equal(inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL}, .out = INB__OUT_TAGGED},
                                  &r),
                   INB_EINVAL);
  assert_string_equal(inb_errmsg(), "cannot run 'true': tagged output needs a tag without a newline");
  assert_int_equal(inb__spawn_run(&(inb__spawn_spec){.argv = (char *const[]){"true", NULL},
                                                     .env_add = (char *const[]){"NOVALUE", NULL}},
                                  &r),
                   INB_EINVAL);
  assert_string_equal(inb_errmsg(), "cannot run 'true': environment entry 'NOVALUE' is not NAME=VALUE");
}

/* Starts and shuts down the runner around a tagged run with an environment: every allocation of the runner. */
static int start_run_stop(void *ctx) {
  (void)ctx;
  int rc = inb__spawn_init();
  inb__spawn_result r;
  capture out;
  capture_begin(&out, 1);
  if (!rc)
    rc = inb__spawn_run(&(inb__spawn_spec){.argv = SH("echo x"), .out = INB__OUT_TAGGED, .tag = "m",
                                           .env_add = (char *const[]){"A=1", NULL}},
                        &r);
  free(capture_end(&out));
  if (!rc && !r.ok) fail_msg("the task failed: %s", r.msg);
  inb__spawn_shutdown();
  return rc;
}

static void test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated(void **state) {
  (void)state;
  inb__spawn_shutdown();
  static const char *const files[] = {"src/jobs/spawn.c:", "src/jobs/reaper.c:"};
  assert_true(inb_test_oom_walk(start_run_stop, NULL, files, 2) >= 3);
  assert_int_equal(inb__spawn_init(), 0);
}

static int remove_dir(void) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd);
}

int main(void) {
  inb__fault_enable(); /* before any allocation, so that the out-of-memory test can count them */
  if (!mkdtemp(g_dir)) return 1;
  if (inb__spawn_init() != 0) {
    fprintf(stderr, "inb__spawn_init: %s\n", inb_errmsg());
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_program_that_exits_0_is_ok_with_its_pid_and_times),
      cmocka_unit_test(test_an_exit_status_is_told_apart),
      cmocka_unit_test(test_a_signal_is_told_apart),
      cmocka_unit_test(test_a_missing_program_is_not_started),
      cmocka_unit_test(test_a_timeout_sends_sigterm_to_the_group),
      cmocka_unit_test(test_a_timeout_ends_with_sigkill_when_sigterm_is_ignored),
      cmocka_unit_test(test_a_timeout_ends_the_grandchildren_too),
      cmocka_unit_test(test_what_a_task_leaves_in_its_group_is_killed_when_it_ends),
      cmocka_unit_test(test_a_task_leads_its_own_process_group_and_reads_dev_null),
      cmocka_unit_test(test_a_task_sees_only_descriptors_0_1_2),
      cmocka_unit_test(test_env_add_sets_and_replaces_variables_once),
      cmocka_unit_test(test_env_add_path_is_where_the_program_is_found),
      cmocka_unit_test(test_cwd_is_where_the_task_runs_and_a_missing_one_is_named),
      cmocka_unit_test(test_files_get_stdout_and_stderr_truncated_0644),
      cmocka_unit_test(test_tagged_lines_go_to_stdout_and_stderr_each_tagged),
      cmocka_unit_test(test_tagged_megabytes_on_both_streams_do_not_deadlock),
      cmocka_unit_test(test_tagged_long_lines_are_cut_into_tagged_pieces),
      cmocka_unit_test(test_tagged_lines_of_two_tasks_at_once_never_mix),
      cmocka_unit_test(test_without_pidfds_tagged_output_and_timeouts_still_work),
      cmocka_unit_test(test_declared_outputs_are_kept_on_success_and_removed_otherwise),
      cmocka_unit_test(test_four_threads_run_tasks_at_once),
      cmocka_unit_test(test_bad_specs_are_refused_with_a_message),
      cmocka_unit_test(test_shutdown_kills_what_runs_and_refuses_more_until_init),
      cmocka_unit_test(test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  inb__spawn_shutdown();
  remove_dir();
  return failed;
}
