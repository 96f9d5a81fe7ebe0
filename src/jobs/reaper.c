/* The reaper: one helper process per rank that kills the rank's tasks when the rank dies (see reaper.h). */
#define _GNU_SOURCE /* memfd_create, posix_spawn_file_actions_addclosefrom_np, POSIX_SPAWN_SETSID */
#include "jobs/reaper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"

extern char **environ;

/* argv[1] of the helper. The number changes with the table's layout, so that a helper of another build of the
 * program (a binary replaced while it runs) refuses instead of misreading the table. */
#define MARK "--inbatch-task-reaper-1"
#define SELF "/proc/self/exe"

enum {
  FD_PIPE = 0,               /* the helper's descriptors: the pipe whose closing wakes it, ... */
  FD_READY = 1,              /* ... where it says it is ready, ... */
  FD_TABLE = 3,              /* ... the table (a memfd) */
  READY_TIMEOUT_MS = 10000,  /* a sanitized build of a large program needs a while to load */
  SCAN_ROUNDS = 50,          /* of the /proc walk, 5 ms apart, until no marked process is left */
  TABLE_BYTES = INB__REAPER_SLOTS * sizeof(_Atomic int)
};

/* The rank's side. */
static struct {
  pthread_mutex_t lock;        /* the free list, and a slot's release against kill_all */
  pid_t pid;                   /* the helper; 0 when not started */
  int pipe_w;                  /* the pipe's only write end */
  _Atomic int *table;          /* shared with the helper: 0 free or claimed, > 0 a listed process group */
  int free_slots[INB__REAPER_SLOTS];
  int nfree;
  char owner[sizeof INB__REAPER_OWNER + 40]; /* "INBATCH_SPAWN_OWNER=<pid>-<16 hex>" */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe_w = -1};

/* ---- the helper ---------------------------------------------------------------------------------------------- */

/* Whether /proc/PID/environ holds `entry` as a whole entry. *buf (of *cap bytes) is reused from call to call. */
static bool environ_has(long pid, const char *entry, char **buf, size_t *cap) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/environ", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false; /* gone, or another user's */
  size_t n = 0;
  for (;;) {
    if (n == *cap) {
      char *bigger = realloc(*buf, *cap * 2);
      if (!bigger) break; /* judge what was read */
      *buf = bigger, *cap *= 2;
    }
    ssize_t got = read(fd, *buf + n, *cap - n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    n += (size_t)got;
  }
  close(fd);
  size_t len = strlen(entry);
  for (size_t at = 0; at < n;) {
    const char *e = *buf + at;
    const char *nul = memchr(e, '\0', n - at);
    size_t elen = nul ? (size_t)(nul - e) : n - at;
    if (elen == len && memcmp(e, entry, len) == 0) return true;
    at += elen + 1;
  }
  return false;
}

/* SIGKILL to every process that carries `entry`, again until a walk of /proc finds none: one killed while its
 * parent was forking may have left a child that the next walk finds. */
static void kill_marked(const char *entry) {
  size_t cap = 64 * 1024;
  char *buf = malloc(cap);
  if (!buf) return;
  for (int round = 0; round < SCAN_ROUNDS; round++) {
    DIR *d = opendir("/proc");
    if (!d) break;
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
      char *end;
      long pid = strtol(e->d_name, &end, 10);
      if (*end || pid <= 0 || pid == (long)getpid()) continue;
      if (environ_has(pid, entry, &buf, &cap)) found += kill((pid_t)pid, SIGKILL) == 0;
    }
    closedir(d);
    if (!found) break;
    nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
  }
  free(buf);
}

/* Blocks until every write end of the pipe is closed: the rank ended, or stopped the helper. */
static void wait_for_hangup(void) {
  for (;;) {
    struct pollfd p = {.fd = FD_PIPE, .events = POLLIN};
    if (poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return;
    char junk[64]; /* nobody writes; should someone, read it away */
    if (read(FD_PIPE, junk, sizeof junk) <= 0) return;
  }
}

static void __attribute__((noreturn)) helper_main(const char *entry) {
  /* Only the rank's end, or SIGKILL, may end the helper: a Ctrl-C or a SIGTERM to everything must not leave the
   * tasks behind it. */
  static const int quiet[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM,
                              SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF};
  for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) signal(quiet[i], SIG_IGN);
  prctl(PR_SET_NAME, "inbatch-reaper", 0, 0, 0);
  struct stat st;
  if (fstat(FD_TABLE, &st) != 0 || st.st_size < (off_t)TABLE_BYTES) _exit(3);
  _Atomic int *table = mmap(NULL, TABLE_BYTES, PROT_READ, MAP_SHARED, FD_TABLE, 0);
  if (table == MAP_FAILED) _exit(4);
  close(FD_TABLE);
  if (write(FD_READY, "R", 1) != 1) _exit(5);
  close(FD_READY);
  wait_for_hangup();
  for (int i = 0; i < INB__REAPER_SLOTS; i++) {
    int pgid = atomic_load_explicit(&table[i], memory_order_relaxed);
    if (pgid > 0) kill(-pgid, SIGKILL);
  }
  kill_marked(entry);
  _exit(0);
}

/* Before main: the helper is this program run with the marker (glibc passes argc and argv to constructors). */
__attribute__((constructor)) static void helper_entry(int argc, char **argv, char **envp) {
  (void)envp;
  if (argc == 3 && argv && argv[1] && strcmp(argv[1], MARK) == 0) helper_main(argv[2]);
}

/* ---- the rank's side -------------------------------------------------------------------------------------- */

/* fd moved to a number >= min (close-on-exec kept), so that the helper's dup2s onto 0..3 never overwrite a
 * source not yet duplicated (a program started with stdin closed gets pipes at 0). Returns the fd or -1. */
static int at_least(int fd, int min) {
  if (fd < 0 || fd >= min) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, min);
  close(fd);
  return moved;
}

static void make_owner(void) {
  uint64_t rnd = 0;
  if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
    rnd = (uint64_t)inb__now_ns() * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
  snprintf(g.owner, sizeof g.owner, "%s=%ld-%016llx", INB__REAPER_OWNER, (long)getpid(), (unsigned long long)rnd);
}

/* environ without any owner entry: a reaper started by a task of another inbatch (nested runs) must not be
 * killed by the outer reaper before it has killed its own rank's tasks. The array is the caller's
 * (inb__free); the strings are environ's. */
static char **helper_env(void) {
  size_t n = 0, m = 0, plen = strlen(INB__REAPER_OWNER);
  while (environ && environ[n]) n++;
  char **env = inb__calloc(n + 1, sizeof *env);
  if (!env) return NULL;
  for (size_t i = 0; i < n; i++)
    if (!(strncmp(environ[i], INB__REAPER_OWNER, plen) == 0 && environ[i][plen] == '=')) env[m++] = environ[i];
  return env;
}

/* Waits for the helper's ready byte. Returns 0, or INB_EIO after the helper was killed and reaped. */
static int await_ready(int fd) {
  int64_t deadline = inb__now_ns() + (int64_t)READY_TIMEOUT_MS * 1000000;
  bool timed_out = false;
  for (;;) {
    int64_t left_ms = (deadline - inb__now_ns()) / 1000000;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = left_ms > 0 ? poll(&p, 1, (int)left_ms) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) timed_out = true;
    if (n <= 0) break;
    char byte = 0;
    ssize_t got = read(fd, &byte, 1);
    if (got < 0 && errno == EINTR) continue;
    if (got == 1 && byte == 'R') return 0;
    break; /* EOF: it ended, or runs something that is not the helper */
  }
  pid_t pid = g.pid;
  int status = 0;
  kill(pid, SIGKILL); /* harmless when it already ended: its status is kept */
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  g.pid = 0;
  if (timed_out)
    return inb__err(INB_EIO, "the task reaper (%s %s) did not answer within %d s", SELF, MARK,
                    READY_TIMEOUT_MS / 1000);
  char how[48] = "";
  if (WIFEXITED(status)) snprintf(how, sizeof how, " with exit status %d", WEXITSTATUS(status));
  return inb__err(INB_EIO, "the task reaper (%s %s) ended before it was ready%s: this program does not carry "
                  "inbatch's task runner, or cannot be run again", SELF, MARK, how);
}

/* Spawns the helper onto its descriptors 0 (pipe), 1 (ready), 2 (/dev/null) and 3 (table), nothing else. */
static int spawn_helper(int pipe_r, int ready_w, int table_fd, char **env) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  if (posix_spawn_file_actions_init(&fa) != 0) return inb__err(INB_ENOMEM, "out of memory to start the task reaper");
  if (posix_spawnattr_init(&attr) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return inb__err(INB_ENOMEM, "out of memory to start the task reaper");
  }
  sigset_t none, deflt;
  sigemptyset(&none);
  sigfillset(&deflt);
  int err = posix_spawn_file_actions_adddup2(&fa, pipe_r, FD_PIPE);
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, ready_w, FD_READY);
  if (!err) err = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  if (!err) err = posix_spawn_file_actions_adddup2(&fa, table_fd, FD_TABLE);
  if (!err) err = posix_spawn_file_actions_addclosefrom_np(&fa, FD_TABLE + 1);
  /* a session of its own: not in the rank's process group, which a launcher may signal as a whole */
  if (!err) err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (!err) err = posix_spawnattr_setsigmask(&attr, &none);
  if (!err) err = posix_spawnattr_setsigdefault(&attr, &deflt);
  char *argv[] = {(char *)"inbatch-reaper", (char *)MARK, g.owner, NULL};
  if (!err) err = posix_spawn(&g.pid, SELF, &fa, &attr, argv, env);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (err == ENOMEM) return inb__err(INB_ENOMEM, "out of memory to start the task reaper");
  if (err) {
    g.pid = 0;
    return inb__err(INB_EIO, "cannot start the task reaper (%s %s): %s", SELF, MARK, strerror(err));
  }
  return 0;
}

int inb__reaper_start(void) {
  int rc = INB_EIO, table_fd = -1, pipe_fds[2] = {-1, -1}, ready[2] = {-1, -1};
  char **env = NULL;
  if (g.pid > 0) return 0;
  make_owner();
  table_fd = at_least(memfd_create("inbatch-tasks", MFD_CLOEXEC), FD_TABLE + 1);
  if (table_fd < 0 || ftruncate(table_fd, TABLE_BYTES) != 0) {
    rc = inb__err(INB_EIO, "cannot make the table of tasks for the task reaper: %s", strerror(errno));
    goto out;
  }
  g.table = mmap(NULL, TABLE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, table_fd, 0);
  if (g.table == MAP_FAILED) {
    g.table = NULL;
    rc = inb__err(errno == ENOMEM ? INB_ENOMEM : INB_EIO, "cannot map the table of tasks: %s", strerror(errno));
    goto out;
  }
  if (pipe2(pipe_fds, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0) {
    rc = inb__err(INB_EIO, "cannot make the task reaper's pipes: %s", strerror(errno));
    goto out;
  }
  for (int i = 0; i < 2; i++) {
    pipe_fds[i] = at_least(pipe_fds[i], FD_TABLE + 1);
    ready[i] = at_least(ready[i], FD_TABLE + 1);
  }
  if (pipe_fds[0] < 0 || pipe_fds[1] < 0 || ready[0] < 0 || ready[1] < 0) {
    rc = inb__err(INB_EIO, "cannot make the task reaper's pipes: %s", strerror(errno));
    goto out;
  }
  if (!(env = helper_env())) {
    rc = inb__err(INB_ENOMEM, "out of memory to start the task reaper");
    goto out;
  }
  if ((rc = spawn_helper(pipe_fds[0], ready[1], table_fd, env)) != 0) goto out;
  close(ready[1]); /* now only the helper holds it: its end reads as EOF here */
  ready[1] = -1;
  if ((rc = await_ready(ready[0])) != 0) goto out;
  g.pipe_w = pipe_fds[1];
  pipe_fds[1] = -1;
  g.nfree = 0;
  for (int i = INB__REAPER_SLOTS - 1; i >= 0; i--) g.free_slots[g.nfree++] = i; /* slot 0 first: fewer pages */
out:
  for (int i = 0; i < 2; i++) {
    if (pipe_fds[i] >= 0) close(pipe_fds[i]);
    if (ready[i] >= 0) close(ready[i]);
  }
  if (table_fd >= 0) close(table_fd); /* the mapping stays */
  if (rc != 0 && g.table) {
    munmap((void *)g.table, TABLE_BYTES);
    g.table = NULL;
  }
  inb__free(env);
  return rc;
}

const char *inb__reaper_owner_entry(void) { return g.owner; }

pid_t inb__reaper_pid(void) { return g.pid; }

int inb__reaper_claim(void) {
  pthread_mutex_lock(&g.lock);
  int slot = g.nfree > 0 ? g.free_slots[--g.nfree] : -1;
  pthread_mutex_unlock(&g.lock);
  if (slot < 0) return inb__err(INB_EIO, "more than %d tasks at once in one process", INB__REAPER_SLOTS);
  return slot;
}

void inb__reaper_set(int slot, pid_t pgid) {
  atomic_store_explicit(&g.table[slot], (int)pgid, memory_order_relaxed);
}

void inb__reaper_release(int slot) {
  if (slot < 0) return;
  pthread_mutex_lock(&g.lock);
  atomic_store_explicit(&g.table[slot], 0, memory_order_relaxed);
  g.free_slots[g.nfree++] = slot;
  pthread_mutex_unlock(&g.lock);
}

void inb__reaper_kill_all(void) {
  pthread_mutex_lock(&g.lock); /* a listed group is not reaped (its id not reused) while we hold it */
  for (int i = 0; g.table && i < INB__REAPER_SLOTS; i++) {
    int pgid = atomic_load_explicit(&g.table[i], memory_order_relaxed);
    if (pgid > 0) kill(-pgid, SIGKILL);
  }
  pthread_mutex_unlock(&g.lock);
}

void inb__reaper_signal_all(int sig) {
  /* no lock (a signal handler calls this): a slot is released before its leader is reaped, so a listed group
   * is alive or a zombie's; its id can be reused only after the release, between the load and the kill */
  for (int i = 0; g.table && i < INB__REAPER_SLOTS; i++) {
    int pgid = atomic_load_explicit(&g.table[i], memory_order_relaxed);
    if (pgid > 0) kill(-pgid, sig);
  }
}

void inb__reaper_stop(void) {
  if (g.pid <= 0) return;
  close(g.pipe_w);
  g.pipe_w = -1;
  while (waitpid(g.pid, NULL, 0) < 0 && errno == EINTR) {
  }
  g.pid = 0;
  munmap((void *)g.table, TABLE_BYTES);
  g.table = NULL;
}
