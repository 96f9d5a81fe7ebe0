/* The task runner: one task's program run to its end (see spawn.h). */
#define _GNU_SOURCE /* pipe2, ppoll, sigabbrev_np, posix_spawn_file_actions_addchdir_np and _addclosefrom_np */
#include "jobs/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "jobs/reaper.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same on every architecture; glibc wraps it from 2.36 only */
#endif

extern char **environ;

enum {
  BATCH_IOV = 64,                   /* iovecs in one write of several whole lines */
  DRAIN_AFTER_EXIT = 1 << 20,       /* read once the program ended (its own writes: at most a pipe's 64 KiB) */
  BACKOFF_MIN_NS = 100 * 1000,      /* without pidfds: the first and the longest wait between looks */
  BACKOFF_MAX_NS = 20 * 1000 * 1000
};

typedef enum { OFF, READY, STOPPING, CLOSED } run_state;

static struct {
  pthread_mutex_t lock;     /* state and running */
  pthread_cond_t changed;   /* running fell to 0, or a shutdown ended */
  pthread_mutex_t out_lock; /* TAGGED writes to fd 1 and 2: lines of one task at a time */
  run_state state;
  long running;             /* inb__spawn_run calls between enter and leave */
  _Atomic bool closing;     /* a shutdown began: a task that starts now is killed at once */
  _Atomic bool no_pidfd;    /* pidfd_open said ENOSYS, or a test asked */
  int null_r, null_w;       /* /dev/null, opened once */
  posix_spawnattr_t attr;   /* the same for every task (posix_spawn only reads it) */
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER,
       .out_lock = PTHREAD_MUTEX_INITIALIZER, .null_r = -1, .null_w = -1};

/* A TAGGED stream: our end of the task's pipe and the line being gathered. */
typedef struct {
  int fd;          /* -1 once at EOF */
  int dest;        /* 1 or 2 */
  char *buf;       /* the tag, '\t', then up to INB__SPAWN_LINE_MAX bytes of the line */
  size_t pre, len; /* the prefix's length; the line's bytes so far */
  int werr;        /* the first error writing to dest (then the rest of the output is read and dropped) */
} stream;

/* One inb__spawn_run. */
typedef struct {
  const inb__spawn_spec *s;
  char **env;
  const char *path_add;     /* env_add's PATH value, or NULL */
  const char *file;         /* what posix_spawn runs (NULL: argv[0] through posix_spawnp) */
  char found[PATH_MAX];
  int child[3];             /* what becomes the task's 0, 1, 2 */
  int owned[2];             /* of those, ours to close once it started (pipe ends, files) */
  stream st[2];
  int slot;                 /* in the reaper's table, -1 */
  pid_t pid;
  int64_t t0;
  bool sigkilled;           /* the timeout came to SIGKILL */
} task;

/* fd moved to a number >= 3 (close-on-exec kept): a task's dup2s onto 0, 1, 2 must not overwrite a source not
 * yet duplicated (a command started with stdout closed gets its pipes at 1). Returns the fd or -1. */
static int high(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  close(fd);
  return moved;
}

/* ---- the runner's life -------------------------------------------------------------------------------------- */

static int init_locked(void) {
  int rc = INB_EIO;
  while (g.state == STOPPING) pthread_cond_wait(&g.changed, &g.lock);
  if (g.state == READY) return 0;
  g.null_r = high(open("/dev/null", O_RDONLY | O_CLOEXEC));
  g.null_w = high(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (g.null_r < 0 || g.null_w < 0) {
    rc = inb__err(INB_EIO, "cannot open /dev/null for the tasks: %s", strerror(errno));
    goto out;
  }
  /* Every task: a process group of its own, and signals as a shell would give them (the worker thread's mask
   * and what the rank ignores, SIGPIPE for one, are not passed on). glibc sets every signal in the child
   * anyway: the full default set costs nothing more. */
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  if (posix_spawnattr_init(&g.attr) != 0) {
    rc = inb__err(INB_ENOMEM, "out of memory for the task runner");
    goto out;
  }
  posix_spawnattr_setflags(&g.attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&g.attr, 0);
  posix_spawnattr_setsigmask(&g.attr, &none);
  posix_spawnattr_setsigdefault(&g.attr, &all);
  if ((rc = inb__reaper_start()) != 0) {
    posix_spawnattr_destroy(&g.attr);
    goto out;
  }
  atomic_store(&g.closing, false);
  g.state = READY;
out:
  if (rc != 0) {
    if (g.null_r >= 0) close(g.null_r);
    if (g.null_w >= 0) close(g.null_w);
    g.null_r = g.null_w = -1;
  }
  return rc;
}

int inb__spawn_init(void) {
  pthread_mutex_lock(&g.lock);
  int rc = init_locked();
  pthread_mutex_unlock(&g.lock);
  return rc;
}

/* Counts a run in; starts the runner on first use. */
static int enter(void) {
  pthread_mutex_lock(&g.lock);
  int rc = 0;
  if (g.state == OFF)
    rc = init_locked();
  else if (g.state != READY)
    rc = inb__err(INB_ECANCELED, "the task runner was shut down");
  if (rc == 0) g.running++;
  pthread_mutex_unlock(&g.lock);
  return rc;
}

static void leave(void) {
  pthread_mutex_lock(&g.lock);
  if (--g.running == 0) pthread_cond_broadcast(&g.changed);
  pthread_mutex_unlock(&g.lock);
}

void inb__spawn_shutdown(void) {
  pthread_mutex_lock(&g.lock);
  if (g.state != READY) {
    pthread_mutex_unlock(&g.lock);
    return;
  }
  g.state = STOPPING;
  atomic_store(&g.closing, true); /* a task started from now on is killed by its own run */
  inb__reaper_kill_all();         /* the running ones: their runs reap them and return */
  while (g.running > 0) pthread_cond_wait(&g.changed, &g.lock);
  inb__reaper_stop(); /* what escaped the tasks' groups */
  posix_spawnattr_destroy(&g.attr);
  close(g.null_r);
  close(g.null_w);
  g.null_r = g.null_w = -1;
  g.state = CLOSED;
  pthread_cond_broadcast(&g.changed);
  pthread_mutex_unlock(&g.lock);
}

void inb__spawn_test_no_pidfd(bool on) { atomic_store(&g.no_pidfd, on); }

pid_t inb__spawn_reaper_pid(void) {
  pthread_mutex_lock(&g.lock);
  pid_t pid = g.state == READY ? inb__reaper_pid() : 0;
  pthread_mutex_unlock(&g.lock);
  return pid;
}

/* ---- what the task is given --------------------------------------------------------------------------------- */

static int check_spec(const inb__spawn_spec *s) {
  if (!s || !s->argv || !s->argv[0] || !s->argv[0][0])
    return inb__err(INB_EINVAL, "cannot run a task: no program (argv or argv[0] missing or empty)");
  const char *prog = s->argv[0];
  if (!(s->timeout_s >= 0) || !(s->grace_s >= 0) || isinf(s->timeout_s) || isinf(s->grace_s))
    return inb__err(INB_EINVAL, "cannot run '%s': timeout_s and grace_s must be finite and >= 0 (found %g, %g)",
                    prog, s->timeout_s, s->grace_s);
  if (s->out != INB__OUT_DISCARD && s->out != INB__OUT_FILES && s->out != INB__OUT_TAGGED)
    return inb__err(INB_EINVAL, "cannot run '%s': unknown output mode %d", prog, (int)s->out);
  if (s->out == INB__OUT_TAGGED && (!s->tag || strchr(s->tag, '\n')))
    return inb__err(INB_EINVAL, "cannot run '%s': tagged output needs a tag without a newline", prog);
  for (size_t i = 0; s->env_add && s->env_add[i]; i++) {
    const char *eq = strchr(s->env_add[i], '=');
    if (!eq || eq == s->env_add[i])
      return inb__err(INB_EINVAL, "cannot run '%s': environment entry '%s' is not NAME=VALUE", prog, s->env_add[i]);
  }
  if (s->noutputs && !s->outputs) return inb__err(INB_EINVAL, "cannot run '%s': noutputs without outputs", prog);
  return 0;
}

/* Whether entry ("NAME=..." or "NAME") names `name` of length n (its '=' excluded). */
static bool same_name(const char *entry, const char *name, size_t n) {
  return strncmp(entry, name, n) == 0 && (entry[n] == '=' || entry[n] == '\0');
}

/* Whether env_add[i] is overridden by a later entry of the same name. */
static bool overridden(char *const *add, size_t i) {
  size_t n = (size_t)(strchr(add[i], '=') - add[i]);
  for (size_t j = i + 1; add[j]; j++)
    if (same_name(add[j], add[i], n)) return true;
  return false;
}

/* The task's environment: environ minus what env_add and the owner entry replace, then env_add's entries (the
 * last of each name), then the owner entry. The array is t's; the strings stay environ's and the caller's. */
static int build_env(task *t) {
  char *const *add = t->s->env_add;
  const char *owner = inb__reaper_owner_entry();
  size_t n = 0, m = 0, k = 0;
  while (environ && environ[n]) n++;
  while (add && add[m]) m++;
  if (!(t->env = inb__malloc((n + m + 2) * sizeof *t->env)))
    return inb__err(INB_ENOMEM, "out of memory for the environment of '%s'", t->s->argv[0]);
  size_t olen = strlen(INB__REAPER_OWNER);
  for (size_t i = 0; i < n; i++) {
    bool replaced = same_name(environ[i], INB__REAPER_OWNER, olen);
    for (size_t j = 0; j < m && !replaced; j++)
      replaced = same_name(environ[i], add[j], (size_t)(strchr(add[j], '=') - add[j]));
    if (!replaced) t->env[k++] = environ[i];
  }
  for (size_t j = 0; j < m; j++) {
    if (overridden(add, j) || same_name(add[j], INB__REAPER_OWNER, olen)) continue;
    t->env[k++] = add[j];
    if (same_name(add[j], "PATH", 4)) t->path_add = add[j] + 5;
  }
  t->env[k++] = (char *)owner;
  t->env[k] = NULL;
  return 0;
}

/* argv[0] looked up in env_add's PATH, as execvp does, into t->found. Returns 0 or the errno to report
 * (ENOENT, or EACCES when a match is not executable). */
static int search_path(task *t) {
  const char *name = t->s->argv[0], *p = t->path_add;
  int err = ENOENT;
  for (;;) {
    const char *end = strchrnul(p, ':');
    int dlen = (int)(end - p);
    struct stat st;
    if (snprintf(t->found, sizeof t->found, "%.*s/%s", dlen ? dlen : 1, dlen ? p : ".", name) <
            (int)sizeof t->found &&
        stat(t->found, &st) == 0 && S_ISREG(st.st_mode)) {
      if (access(t->found, X_OK) == 0) return 0;
      err = EACCES;
    }
    if (!*end) return err;
    p = end + 1;
  }
}

/* Creates path for the task's stream `what`. Returns the fd, or -1 with r set (the task does not start). */
static int create_output(const char *path, const char *what, inb__spawn_result *r) {
  int fd = high(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd < 0) {
    r->error = errno;
    snprintf(r->msg, sizeof r->msg, "cannot create '%s' for the task's %s: %s", path, what, strerror(r->error));
  }
  return fd;
}

static int open_tagged(task *t, int i) {
  int p[2];
  stream *st = &t->st[i];
  if (pipe2(p, O_CLOEXEC) != 0)
    return inb__err(INB_EIO, "cannot run '%s': cannot make a pipe: %s", t->s->argv[0], strerror(errno));
  st->fd = high(p[0]);
  t->owned[i] = t->child[i + 1] = high(p[1]);
  if (st->fd < 0 || t->owned[i] < 0)
    return inb__err(INB_EIO, "cannot run '%s': cannot make a pipe: %s", t->s->argv[0], strerror(errno));
  st->dest = i + 1;
  st->pre = strlen(t->s->tag) + 1;
  if (!(st->buf = inb__malloc(st->pre + INB__SPAWN_LINE_MAX)))
    return inb__err(INB_ENOMEM, "out of memory for the output of '%s'", t->s->argv[0]);
  memcpy(st->buf, t->s->tag, st->pre - 1);
  st->buf[st->pre - 1] = '\t';
  return 0;
}

/* The task's 0, 1, 2. Returns 0 (r->msg set when an output file cannot be created: the task does not start) or
 * an error of the runner. */
static int open_streams(task *t, inb__spawn_result *r) {
  const inb__spawn_spec *s = t->s;
  t->child[0] = g.null_r;
  t->child[1] = t->child[2] = g.null_w;
  if (s->out == INB__OUT_TAGGED) {
    int rc = open_tagged(t, 0);
    return rc ? rc : open_tagged(t, 1);
  }
  if (s->out != INB__OUT_FILES) return 0;
  if (s->stdout_path) {
    if ((t->owned[0] = t->child[1] = create_output(s->stdout_path, "stdout", r)) < 0) return 0;
  }
  if (s->stderr_path && s->stdout_path && strcmp(s->stderr_path, s->stdout_path) == 0) {
    t->child[2] = t->child[1]; /* one file: two opens would write over each other */
  } else if (s->stderr_path) {
    if ((t->owned[1] = t->child[2] = create_output(s->stderr_path, "stderr", r)) < 0) return 0;
  }
  return 0;
}

static void close_owned(task *t) {
  for (int i = 0; i < 2; i++) {
    if (t->owned[i] >= 0) close(t->owned[i]);
    t->owned[i] = -1;
  }
}

/* ---- starting it -------------------------------------------------------------------------------------------- */

/* Why posix_spawn failed, into r: the program, or the directory it was to run in. */
static void not_started(const task *t, int err, inb__spawn_result *r) {
  const char *prog = t->s->argv[0], *cwd = t->s->cwd;
  int cwd_err = 0;
  struct stat st;
  if (cwd && stat(cwd, &st) != 0)
    cwd_err = errno;
  else if (cwd && !S_ISDIR(st.st_mode))
    cwd_err = ENOTDIR;
  else if (cwd && access(cwd, X_OK) != 0)
    cwd_err = errno;
  r->error = cwd_err ? cwd_err : err;
  if (cwd_err)
    snprintf(r->msg, sizeof r->msg, "cannot run '%s': cannot enter '%s': %s", prog, cwd, strerror(cwd_err));
  else
    snprintf(r->msg, sizeof r->msg, "cannot run '%s': %s", prog, strerror(err));
}

/* Starts the task. Returns 0 (r->started says whether it started) or an error of the runner. */
static int start(task *t, inb__spawn_result *r) {
  const inb__spawn_spec *s = t->s;
  posix_spawn_file_actions_t fa;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return inb__err(INB_ENOMEM, "out of memory to run '%s'", s->argv[0]);
  int err = 0;
  for (int fd = 0; fd < 3 && !err; fd++) err = posix_spawn_file_actions_adddup2(&fa, t->child[fd], fd);
  if (!err && s->cwd) err = posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
  if (!err) err = posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* what others left without O_CLOEXEC */
  int rc = 0;
  if (err) {
    rc = inb__err(INB_ENOMEM, "out of memory to run '%s'", s->argv[0]);
    goto out;
  }
  if ((t->slot = inb__reaper_claim()) < 0) {
    rc = t->slot;
    goto out;
  }
  if (atomic_load(&g.closing)) {
    snprintf(r->msg, sizeof r->msg, "not run: the task runner is shutting down");
    rc = inb__err(INB_ECANCELED, "cannot run '%s': the task runner is shutting down", s->argv[0]);
    goto out;
  }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  r->start_s = (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
  t->t0 = inb__now_ns();
  err = t->file ? posix_spawn(&t->pid, t->file, &fa, &g.attr, s->argv, t->env)
                : posix_spawnp(&t->pid, s->argv[0], &fa, &g.attr, s->argv, t->env);
  close_owned(t); /* the task has its copies: the pipes see EOF when it (and what it started) is done */
  if (err) {
    not_started(t, err, r);
    goto out;
  }
  r->started = true;
  r->pid = t->pid;
  inb__reaper_set(t->slot, t->pid);
  if (atomic_load(&g.closing)) kill(-t->pid, SIGKILL); /* the shutdown's kill may have run before the listing */
out:
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

/* ---- TAGGED output ------------------------------------------------------------------------------------------ */

/* Writes iov[0..cnt) to st->dest in one writev when it can, under out_lock: lines of two tasks never mix. */
static void put(stream *st, struct iovec *iov, int cnt) {
  if (st->werr) return;
  pthread_mutex_lock(&g.out_lock);
  while (cnt > 0) {
    ssize_t w = writev(st->dest, iov, cnt);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) { /* a non-blocking stdout: wait for room */
      poll(&(struct pollfd){.fd = st->dest, .events = POLLOUT}, 1, -1);
      continue;
    }
    if (w <= 0) {
      st->werr = w < 0 ? errno : EIO;
      break;
    }
    for (size_t done = (size_t)w; cnt > 0 && done > 0;) {
      size_t take = done < iov->iov_len ? done : iov->iov_len;
      iov->iov_base = (char *)iov->iov_base + take;
      iov->iov_len -= take;
      done -= take;
      if (iov->iov_len == 0) iov++, cnt--;
    }
  }
  pthread_mutex_unlock(&g.out_lock);
}

/* The line gathered so far, as a line of its own (a last line without '\n', or a piece of a long line). */
static void put_partial(stream *st) {
  if (st->len == 0) return;
  struct iovec iov[2] = {{st->buf, st->pre + st->len}, {(char *)"\n", 1}};
  put(st, iov, 2);
  st->len = 0;
}

/* Writes the whole lines among the `got` bytes just read, several in one write while they fit in PIPE_BUF
 * (atomic on a pipe too), and keeps the rest of the last one. */
static void put_lines(stream *st, size_t got) {
  char *data = st->buf + st->pre;
  size_t from = st->len, start = 0, bytes = 0;
  struct iovec iov[BATCH_IOV];
  int cnt = 0;
  st->len += got;
  for (char *nl; (nl = memchr(data + from, '\n', st->len - from)); from = start) {
    size_t n = (size_t)(nl + 1 - (data + start)); /* the line and its '\n' */
    if (cnt > 0 && (bytes + st->pre + n > PIPE_BUF || cnt + 2 > BATCH_IOV)) {
      put(st, iov, cnt);
      cnt = 0, bytes = 0;
    }
    if (start == 0) { /* the first line follows the tag in the buffer */
      iov[cnt++] = (struct iovec){st->buf, st->pre + n};
    } else {
      iov[cnt++] = (struct iovec){st->buf, st->pre};
      iov[cnt++] = (struct iovec){data + start, n};
    }
    bytes += st->pre + n;
    start += n;
  }
  if (cnt > 0) put(st, iov, cnt);
  if (start > 0) {
    memmove(data, data + start, st->len - start);
    st->len -= start;
  }
  if (st->len == INB__SPAWN_LINE_MAX) put_partial(st);
}

/* Reads what the stream has (poll said so). Returns the bytes read; at EOF, writes the last line and closes. */
static size_t pump(stream *st) {
  ssize_t got = read(st->fd, st->buf + st->pre + st->len, INB__SPAWN_LINE_MAX - st->len);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (got <= 0) {
    put_partial(st);
    close(st->fd);
    st->fd = -1;
    return 0;
  }
  put_lines(st, (size_t)got);
  return (size_t)got;
}

/* What the task's streams still hold once it ended and its group was killed: what its program wrote before it
 * ended is there (at most a pipe's worth); a writer that escaped the group must not keep us here. */
static void drain(task *t) {
  size_t budget = DRAIN_AFTER_EXIT;
  while (budget > 0 && (t->st[0].fd >= 0 || t->st[1].fd >= 0)) {
    struct pollfd p[2] = {{.fd = t->st[0].fd, .events = POLLIN}, {.fd = t->st[1].fd, .events = POLLIN}};
    int n = poll(p, 2, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (int i = 0; i < 2; i++) {
      if (!p[i].revents || t->st[i].fd < 0) continue;
      size_t got = pump(&t->st[i]);
      budget -= got < budget ? got : budget;
    }
  }
  for (int i = 0; i < 2; i++) {
    if (t->st[i].fd < 0) continue;
    put_partial(&t->st[i]);
    close(t->st[i].fd);
    t->st[i].fd = -1;
  }
}

/* ---- waiting for it ----------------------------------------------------------------------------------------- */

/* Whether the task's program has ended, without reaping it (its pid, and so its group's id, stay ours). */
static bool ended(pid_t pid) {
  siginfo_t si = {0};
  return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == pid;
}

/* The timeout's next step: SIGTERM to the group, then SIGKILL grace_s later. Returns the next deadline or -1. */
static int64_t escalate(task *t, inb__spawn_result *r) {
  if (!r->timed_out) {
    r->timed_out = true;
    kill(-t->pid, SIGTERM);
    if (t->s->grace_s > 0) return inb__now_ns() + (int64_t)(t->s->grace_s * 1e9);
  }
  t->sigkilled = true;
  kill(-t->pid, SIGKILL);
  return -1;
}

/* Blocks until the program ended, reading TAGGED output and keeping the timeout meanwhile: on a pidfd when the
 * kernel has them, else looking with waitid at growing intervals. Returns 0, or INB_EIO (poll failed: the
 * group was killed). */
static int watch(task *t, inb__spawn_result *r) {
  int pidfd = -1;
  if (!atomic_load(&g.no_pidfd)) {
    pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0); /* close-on-exec by definition */
    if (pidfd < 0 && errno == ENOSYS) atomic_store(&g.no_pidfd, true);
  }
  int64_t deadline = t->s->timeout_s > 0 ? t->t0 + (int64_t)(t->s->timeout_s * 1e9) : -1;
  int64_t backoff = BACKOFF_MIN_NS;
  int rc = 0;
  for (;;) {
    struct pollfd p[3];
    int n = 0, at[2] = {-1, -1};
    for (int i = 0; i < 2; i++)
      if (t->st[i].fd >= 0) at[i] = n, p[n++] = (struct pollfd){.fd = t->st[i].fd, .events = POLLIN};
    if (pidfd >= 0) p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    int64_t wait = deadline < 0 ? -1 : deadline - inb__now_ns();
    if (wait < 0 && deadline >= 0) wait = 0;
    if (pidfd < 0 && (wait < 0 || wait > backoff)) wait = backoff;
    struct timespec ts = {wait / 1000000000, wait % 1000000000};
    int got = ppoll(p, (nfds_t)n, wait < 0 ? NULL : &ts, NULL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      rc = inb__err(INB_EIO, "cannot watch task '%s' (pid %ld): poll: %s", t->s->argv[0], (long)t->pid,
                    strerror(errno));
      kill(-t->pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; i++)
      if (at[i] >= 0 && p[at[i]].revents) pump(&t->st[i]);
    if (pidfd >= 0 ? p[n - 1].revents != 0 : ended(t->pid)) break;
    if (deadline >= 0 && inb__now_ns() >= deadline) deadline = escalate(t, r);
    backoff = backoff * 2 < BACKOFF_MAX_NS ? backoff * 2 : BACKOFF_MAX_NS;
  }
  if (pidfd >= 0) close(pidfd);
  return rc;
}

/* Blocks until the program ended (no timeout, no output to read): one waitid that leaves it unreaped. */
static void wait_plain(task *t) {
  siginfo_t si;
  while (waitid(P_PID, (id_t)t->pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
}

/* "SIGKILL" for 9. */
static const char *signame(int sig, char *buf, size_t cap) {
  const char *abbrev = sigabbrev_np(sig);
  if (abbrev)
    snprintf(buf, cap, "SIG%s", abbrev);
  else
    snprintf(buf, cap, "signal %d", sig);
  return buf;
}

static void describe(const task *t, int status, inb__spawn_result *r) {
  char name[32];
  if (WIFEXITED(status)) {
    r->exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r->signal = WTERMSIG(status);
    r->core_dumped = WCOREDUMP(status);
  }
  r->ok = !r->timed_out && r->exit_status == 0;
  if (r->timed_out && t->sigkilled)
    snprintf(r->msg, sizeof r->msg, "timed out after %g s (SIGTERM, then SIGKILL after %g s)", t->s->timeout_s,
             t->s->grace_s);
  else if (r->timed_out)
    snprintf(r->msg, sizeof r->msg, "timed out after %g s (SIGTERM)", t->s->timeout_s);
  else if (r->signal)
    snprintf(r->msg, sizeof r->msg, "killed by signal %d (%s)%s", r->signal, signame(r->signal, name, sizeof name),
             r->core_dumped ? ", core dumped" : "");
  else if (r->exit_status != 0)
    snprintf(r->msg, sizeof r->msg, "exit status %d", r->exit_status);
}

/* Follows the started task to its end: waits, kills what it left in its group, reads the rest of its output,
 * takes it off the reaper's table, reaps it, says how it ended. */
static int follow(task *t, inb__spawn_result *r) {
  int rc = 0;
  if (t->s->timeout_s > 0 || t->s->out == INB__OUT_TAGGED)
    rc = watch(t, r);
  else
    wait_plain(t);
  r->runtime_s = 1e-9 * (double)(inb__now_ns() - t->t0);
  kill(-t->pid, SIGKILL); /* what it left in its group: a task is over when its program is */
  drain(t);
  inb__reaper_release(t->slot); /* before the reap: after it, the group's id may be another's */
  t->slot = -1;
  int status = 0;
  pid_t got;
  while ((got = waitpid(t->pid, &status, 0)) < 0 && errno == EINTR) {
  }
  if (got != t->pid) {
    int err = errno;
    snprintf(r->msg, sizeof r->msg, "its end is unknown: waitpid: %s", strerror(err));
    return inb__err(INB_EIO, "cannot wait for task '%s' (pid %ld): %s (is SIGCHLD ignored in this process?)",
                    t->s->argv[0], (long)t->pid, strerror(err));
  }
  describe(t, status, r);
  for (int i = 0; i < 2 && rc == 0; i++)
    if (t->st[i].werr)
      rc = inb__err(INB_EIO, "cannot write the output of task '%s' to %s: %s", t->s->argv[0],
                    i ? "stderr" : "stdout", strerror(t->st[i].werr));
  return rc;
}

/* ---- one run ------------------------------------------------------------------------------------------------ */

static void remove_outputs(const inb__spawn_spec *s) {
  for (size_t i = 0; i < s->noutputs; i++)
    if (s->outputs[i]) unlink(s->outputs[i]); /* best effort: a file never made is fine */
}

int inb__spawn_run(const inb__spawn_spec *s, inb__spawn_result *r) {
  if (!r) return inb__err(INB_EINVAL, "cannot run a task: no result to fill");
  *r = (inb__spawn_result){.exit_status = -1};
  int rc = check_spec(s);
  if (rc != 0) return rc;
  if ((rc = enter()) != 0) return rc;
  task t = {.s = s, .slot = -1, .owned = {-1, -1}, .st = {{.fd = -1}, {.fd = -1}}};
  if ((rc = build_env(&t)) != 0) goto out;
  if (!strchr(s->argv[0], '/') && t.path_add) {
    int err = search_path(&t);
    if (err) {
      r->error = err;
      snprintf(r->msg, sizeof r->msg, "cannot run '%s': %s (searched PATH=%s)", s->argv[0], strerror(err),
               t.path_add);
      goto out;
    }
    t.file = t.found;
  } else if (strchr(s->argv[0], '/')) {
    t.file = s->argv[0];
  }
  if ((rc = open_streams(&t, r)) != 0 || r->msg[0]) goto out;
  if ((rc = start(&t, r)) != 0 || !r->started) goto out;
  rc = follow(&t, r);
out:
  if (t.pid > 0 && t.slot >= 0) { /* a runner failure after the start: nothing is left running */
    kill(-t.pid, SIGKILL);
    inb__reaper_release(t.slot);
    while (waitpid(t.pid, NULL, 0) < 0 && errno == EINTR) {
    }
  } else {
    inb__reaper_release(t.slot);
  }
  close_owned(&t);
  for (int i = 0; i < 2; i++) {
    if (t.st[i].fd >= 0) close(t.st[i].fd);
    inb__free(t.st[i].buf);
  }
  inb__free(t.env);
  if (!r->ok) remove_outputs(s);
  leave();
  return rc;
}
