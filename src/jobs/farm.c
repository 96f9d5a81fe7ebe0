/* Command farming (see farm.h): the task list on every rank, one inb_run over its items whose task runs the step's
 * program through the spawner, the outcomes gathered to rank 0 and written as the results file. */
#define _GNU_SOURCE /* sigabbrev_np */
#include "jobs/farm.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/digest.h"
#include "core/sha256.h"
#include "core/status.h"
#include "local/local.h"
#include "mpi/comm.h"
#include "jobs/farm_h5.h"
#include "jobs/farm_journal.h"
#include "jobs/farm_retry.h"
#include "jobs/farm_shard.h"
#include "jobs/signals.h"
#include "jobs/spawn.h"
#include "jobs/tasks.h"
#include "jobs/template.h"

typedef inb__farm_record record;

struct inb__farm {
  const inb__job *j;
  const inb__job_exec *x;
  MPI_Comm comm;
  int rank, size;
  inb__tasks *tasks;
  inb__farm_shard shard;   /* in a job array: this run's shard (farm_shard.h) */
  int64_t first, end;      /* the tasks this run covers: its shard's, else all */
  inb__template **argv, **env, **outputs, *cwd; /* the step's words, compiled (cwd NULL: not given) */
  size_t nargv, nenv, noutputs;
  int workers, omp_threads;
  char jobdir[PATH_MAX];   /* the job file's folder: a relative cwd starts there, as the job's other paths do */
  /* the records of the tasks this rank ran; then, on rank 0, every task's by index (NULL: never ran) */
  pthread_mutex_t lock;
  record *mine;
  size_t nmine, capmine;
  bool lost;               /* a record could not be kept (out of memory): the run fails */
  inb__farm_journal *journal;
  int journal_rc;          /* the first failure to journal an outcome: the run fails (resume would miss it) */
  char journal_msg[256];
  int64_t *todo, ntodo;    /* the tasks this run runs (the others' outcomes came from the journal) */
  uint64_t digest;         /* of the task list: part of the job's identity */
  record *all;
  bool *ran;
};

/* ---- planning ------------------------------------------------------------------------------------------------- */

/* Compiles one word of the step (a shell command when shell); a fault names the job's line and the word. A range's
 * tasks have no line: {line} is refused for them here rather than failing every task. */
static int compile_word(const inb__job *j, const inb__job_word *w, bool shell, inb__template **out) {
  *out = NULL;
  if (!w->text) return 0;
  size_t bad = 0;
  int rc = inb__template_compile(w->text, shell ? INB__TEMPLATE_SHELL : 0, out, &bad);
  if (rc == INB_EINVAL)
    return inb__err(rc, "%s: %s, at character %zu of '%s'", w->where, inb_errmsg(), bad + 1, w->text);
  if (rc) return inb__err(rc, "%s: %s", w->where, inb_errmsg());
  if (!j->tasks && (inb__template_uses(*out) & INB__TEMPLATE_USES_LINE))
    return inb__err(INB_EINVAL, "%s: '{line}' is a task file's line number; the tasks of a range (input: count) have "
                    "none ({index} numbers them)", w->where);
  return 0;
}

static int compile_words(const inb__job *j, const inb__job_word *w, size_t n, bool shell, inb__template ***out) {
  *out = inb__calloc(n + 1, sizeof **out);
  if (!*out) return inb__err(INB_ENOMEM, "out of memory");
  int rc = 0;
  for (size_t k = 0; !rc && k < n; k++) rc = compile_word(j, &w[k], shell, &(*out)[k]);
  return rc;
}

/* Every rank read the same tasks: rank 0's count and digest, compared everywhere. */
static uint64_t tasks_digest(const inb__tasks *tasks) {
  uint64_t h = INB__DIGEST_START;
  for (int64_t i = 0; i < inb__tasks_count(tasks); i++) {
    size_t len;
    const char *t = inb__tasks_text(tasks, i, &len);
    if (t) h = inb__digest_bytes(h, t, len + 1);
  }
  return h;
}

static int same_tasks(inb__farm *f) {
  uint64_t mine[2] = {(uint64_t)inb__tasks_count(f->tasks), tasks_digest(f->tasks)}, root[2];
  memcpy(root, mine, sizeof root);
  f->digest = mine[1];
  if (f->size > 1 && MPI_Bcast(root, 2, MPI_UINT64_T, 0, f->comm) != MPI_SUCCESS)
    return inb__err(INB_EMPI, "the task list's check: MPI_Bcast failed");
  if (mine[0] != root[0] || mine[1] != root[1])
    return inb__err(INB_EINVAL, "rank %d read another task list than rank 0 (%llu tasks, rank 0 %llu): the ranks "
                    "must see the same file (a shared file system)", f->rank, (unsigned long long)mine[0],
                    (unsigned long long)root[0]);
  return 0;
}

static int load_tasks(inb__farm *f, const inb__job *j) {
  int rc = j->tasks ? inb__tasks_load(j->tasks, &f->tasks) : inb__tasks_range(j->count, &f->tasks);
  if (rc) return inb__err(rc, "%s: %s", j->where_input, inb_errmsg());
  return 0;
}

/* Rank 0: an output's folder exists and is writable, before any task runs. */
static int check_folder(const inb__job *j, const char *path, const char *what) {
  char copy[PATH_MAX];
  snprintf(copy, sizeof copy, "%s", path);
  const char *dir = dirname(copy);
  if (access(dir, W_OK) == 0) return 0;
  return inb__err(INB_EINVAL, "%s: the %s's folder '%s' %s", j->where_output, what, dir,
                  errno == ENOENT ? "does not exist" : "is not writable");
}

/* Rank 0: the outputs can be written; the logs folder is made. */
static int check_outputs(const inb__job *j) {
  int rc = j->results ? check_folder(j, j->results, "results file") : 0;
  if (!rc && j->output) rc = check_folder(j, j->output, "output");
  if (!rc && j->logs && mkdir(j->logs, 0777) != 0 && errno != EEXIST)
    rc = inb__err(INB_EIO, "%s: cannot make the logs folder '%s': %s", j->where_output, j->logs, strerror(errno));
  return rc;
}

/* Rank 0: a program named without placeholders exists and can be run, so that a typo fails before any task
 * (and in validate) rather than in every task. Searched as posix_spawnp does: a name with '/' from the tasks'
 * cwd, else in PATH. A shell command is the shell's business. */
static int check_program(const inb__farm *f) {
  const inb__job_word *w = &f->x->argv[0];
  if (f->x->shell || inb__template_uses(f->argv[0]) || (f->cwd && inb__template_uses(f->cwd))) return 0;
  const char *prog = w->text, *cwd = f->x->cwd.text;
  char path[2 * PATH_MAX + 2];
  if (strchr(prog, '/')) {
    if (prog[0] == '/' || !cwd) snprintf(path, sizeof path, "%s", prog);
    else if (cwd[0] == '/') snprintf(path, sizeof path, "%s/%s", cwd, prog);
    else snprintf(path, sizeof path, "%s/%s/%s", f->jobdir, cwd, prog);
    if (access(path, X_OK) == 0) return 0;
    return inb__err(INB_EINVAL, "%s: the program '%s' %s", w->where, path,
                    errno == ENOENT ? "does not exist" : "cannot be run (not executable)");
  }
  const char *dirs = getenv("PATH");
  for (const char *d = dirs ? dirs : "/usr/bin:/bin"; d; d = strchr(d, ':') ? strchr(d, ':') + 1 : NULL) {
    int len = (int)strcspn(d, ":");
    if (len) snprintf(path, sizeof path, "%.*s/%s", len, d, prog);
    else snprintf(path, sizeof path, "./%s", prog); /* an empty entry is the current folder */
    if (access(path, X_OK) == 0) return 0;
  }
  return inb__err(INB_EINVAL, "%s: the program '%s' is not found in PATH", w->where, prog);
}

static int agree(const inb__farm *f, int rc) { return f->size > 1 ? inb__mpi_agree(rc, f->comm) : rc; }

/* The tasks this run covers: a job array's shard of them (its environment read again: inb__farm_shard_job named
 * the shard's results file from the same), else all. */
static int shard_range(inb__farm *f) {
  int rc = inb__farm_shard_from_env(&f->shard);
  if (rc) f->shard.on = false;
  if (f->shard.on && f->j->output) /* inb__farm_shard_job refuses it first; here for callers that did not call it */
    rc = inb__err(INB_EINVAL, "%s: an HDF5 output (output.file) is not built yet for job arrays: use output.results",
                  f->j->where_output);
  inb__farm_shard_range(&f->shard, inb__tasks_count(f->tasks), &f->first, &f->end);
  return rc;
}

int inb__farm_plan(const inb__job *j, void *comm, inb__farm **out) {
  *out = NULL;
  inb__farm *f = inb__calloc(1, sizeof *f);
  if (!f) return agree(&(inb__farm){.size = 2, .comm = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD},
                       inb__err(INB_ENOMEM, "out of memory"));
  f->j = j;
  f->x = j->steps[0].exec;
  f->comm = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", j->path);
  snprintf(f->jobdir, sizeof f->jobdir, "%s", dirname(path));
  MPI_Comm_rank(f->comm, &f->rank);
  MPI_Comm_size(f->comm, &f->size);
  pthread_mutex_init(&f->lock, NULL);
  int rc = agree(f, load_tasks(f, j));
  if (!rc) rc = agree(f, same_tasks(f));
  if (!rc) rc = agree(f, shard_range(f));
  const inb__job_exec *x = f->x;
  f->nargv = x->nargv, f->nenv = x->nenv, f->noutputs = x->noutputs;
  if (!rc) { /* agreed only when the words were compiled: a failure above is every rank's already, and a rank
                whose calloc failed took part in one agreement only */
    rc = compile_words(j, x->argv, x->nargv, x->shell, &f->argv);
    if (!rc) rc = compile_words(j, x->env, x->nenv, false, &f->env);
    if (!rc) rc = compile_words(j, x->outputs, x->noutputs, false, &f->outputs);
    if (!rc) rc = compile_word(j, &x->cwd, false, &f->cwd);
    rc = agree(f, rc); /* the words are the same on every rank: so are their errors, but a rank may run out of memory */
  }
  if (!rc) rc = agree(f, f->rank == 0 ? check_outputs(j) : 0);
  if (!rc) rc = agree(f, f->rank == 0 ? check_program(f) : 0);
  if (!rc) rc = agree(f, inb__spawn_init());
  int cores = inb__cpus_available();
  f->workers = inb__job_workers(&j->steps[0]) ? inb__job_workers(&j->steps[0]) : cores;
  f->omp_threads = cores / f->workers > 1 ? cores / f->workers : 1;
  if (rc) {
    inb__farm_free(&f);
    return rc;
  }
  *out = f;
  return 0;
}

int64_t inb__farm_items(const inb__farm *f) { return f->end - f->first; }

/* ---- one task ------------------------------------------------------------------------------------------------ */

static void sleep_s(double s) {
  if (s <= 0) return;
  struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

/* Keeps a task's outcome for the results. Out of memory here loses it: the run then fails as a whole (lost), for
 * a results file that called a task not run when it ran would be wrong. */
static void keep(inb__farm *f, const record *r) {
  pthread_mutex_lock(&f->lock);
  if (f->nmine == f->capmine) {
    size_t cap = f->capmine ? 2 * f->capmine : 256;
    record *p = inb__realloc(f->mine, cap * sizeof *p);
    if (p) f->mine = p, f->capmine = cap;
  }
  if (f->nmine < f->capmine) f->mine[f->nmine++] = *r;
  else f->lost = true;
  pthread_mutex_unlock(&f->lock);
  if (f->journal && inb__farm_journal_add(f->journal, r, 1) != 0) {
    pthread_mutex_lock(&f->lock);
    if (!f->journal_rc) f->journal_rc = INB_EIO, snprintf(f->journal_msg, sizeof f->journal_msg, "%s", inb_errmsg());
    pthread_mutex_unlock(&f->lock);
  }
}

/* Runs the spawn spec up to 1 + retries times; *r is the last attempt's outcome. */
static void attempts(const inb__farm *f, const inb__spawn_spec *spec, record *rec) {
  int most = 1 + f->j->steps[0].retries;
  inb__spawn_result res;
  for (int a = 1; a <= most; a++) {
    if (a > 1) sleep_s(f->x->retry_delay);
    memset(&res, 0, sizeof res);
    if (inb__spawn_run(spec, &res)) {
      res.ok = false;
      snprintf(res.msg, sizeof res.msg, "%s", inb_errmsg());
    }
    rec->attempts = a;
    if (res.ok || inb__signals_received()) break; /* stopping: no retry */
  }
  rec->start = res.start_s, rec->runtime = res.runtime_s;
  rec->started = res.started, rec->exit_status = res.exit_status, rec->signal = res.signal;
  rec->timed_out = res.timed_out;
  rec->failed = !res.ok;
  snprintf(rec->msg, sizeof rec->msg, "%.*s", (int)sizeof rec->msg - 1, res.msg);
}

/* Task i as the templates see it. */
static inb__task_view view(const inb__farm *f, int64_t i, int rank) {
  inb__task_view task = {.index = i, .line = inb__tasks_line(f->tasks, i), .rank = rank, .file = f->j->tasks};
  task.text = inb__tasks_text(f->tasks, i, &task.len);
  return task;
}

/* A task's words, expanded (each array from inb__template_argv: one block, inb__free). */
typedef struct {
  char **argv, **env, **outputs, **cwd;
} expanded;

static int expand(const inb__farm *f, const inb__task_view *task, expanded *e) {
  int rc = inb__template_argv(f->argv, f->nargv, task, &e->argv);
  if (!rc) rc = inb__template_argv(f->env, f->nenv, task, &e->env);
  if (!rc) rc = inb__template_argv(f->outputs, f->noutputs, task, &e->outputs);
  if (!rc && f->cwd) rc = inb__template_argv(&f->cwd, 1, task, &e->cwd);
  return rc;
}

static void free_outputs(char **outs, size_t n) {
  for (size_t k = 0; outs && k < n; k++) inb__free(outs[k]);
  inb__free(outs);
}

static void expanded_free(expanded *e) {
  inb__free(e->argv), inb__free(e->env), inb__free(e->outputs), inb__free(e->cwd);
}

/* The task's declared outputs as paths the runner can remove: a relative one is the task's, under its cwd.
 * Returns a new array (free_outputs), or NULL when out of memory. */
static char **output_paths(const inb__farm *f, const expanded *e, const char *cwd) {
  char **outs = inb__calloc(f->noutputs + 1, sizeof *outs);
  for (size_t k = 0; outs && k < f->noutputs; k++) {
    const char *o = e->outputs[k];
    bool rel = cwd && o[0] != '/';
    size_t need = (rel ? strlen(cwd) + 1 : 0) + strlen(o) + 1;
    if (!(outs[k] = inb__malloc(need))) {
      free_outputs(outs, f->noutputs);
      return NULL;
    }
    snprintf(outs[k], need, "%s%s%s", rel ? cwd : "", rel ? "/" : "", o);
  }
  return outs;
}

enum { FIXED_ENV = 4 }; /* INBATCH_INDEX, INBATCH_LINE, INBATCH_RANK, OMP_NUM_THREADS */

/* Runs task i's expanded command; *rec gets its outcome. */
static void launch(const inb__farm *f, const inb__task_view *task, const expanded *e, record *rec) {
  char fixed[FIXED_ENV][48], out_path[PATH_MAX], err_path[PATH_MAX], tag[24];
  snprintf(fixed[0], sizeof fixed[0], "INBATCH_INDEX=%lld", (long long)task->index);
  snprintf(fixed[1], sizeof fixed[1], "INBATCH_LINE=%lld", (long long)task->line);
  snprintf(fixed[2], sizeof fixed[2], "INBATCH_RANK=%d", task->rank);
  snprintf(fixed[3], sizeof fixed[3], "OMP_NUM_THREADS=%d", f->omp_threads);
  /* the job's own entries come after: a later entry of the same name wins (spawn.h) */
  char cwd[2 * PATH_MAX];
  if (e->cwd) snprintf(cwd, sizeof cwd, "%s%s%s", e->cwd[0][0] == '/' ? "" : f->jobdir, e->cwd[0][0] == '/' ? "" : "/",
                       e->cwd[0]);
  char **env = inb__calloc(FIXED_ENV + f->nenv + 1, sizeof *env), **outs = output_paths(f, e, e->cwd ? cwd : NULL);
  if (!env || !outs) {
    inb__free(env), free_outputs(outs, f->noutputs);
    rec->failed = 1;
    snprintf(rec->msg, sizeof rec->msg, "out of memory");
    return;
  }
  for (int k = 0; k < FIXED_ENV; k++) env[k] = fixed[k];
  for (size_t k = 0; k < f->nenv; k++) env[FIXED_ENV + k] = e->env[k];
  char *shell[] = {"/bin/sh", "-c", f->x->shell ? e->argv[0] : NULL, NULL};
  const char *logs = f->j->logs ? f->j->logs : ".";
  snprintf(out_path, sizeof out_path, "%s/%lld.out", logs, (long long)task->index);
  snprintf(err_path, sizeof err_path, "%s/%lld.err", logs, (long long)task->index);
  snprintf(tag, sizeof tag, "%lld", (long long)task->index);
  inb__spawn_spec spec = {.argv = f->x->shell ? shell : e->argv, .cwd = e->cwd ? cwd : NULL, .env_add = env,
                          .timeout_s = f->x->timeout, .grace_s = f->x->grace, .tag = tag,
                          .stdout_path = out_path, .stderr_path = err_path,
                          .outputs = (const char *const *)outs, .noutputs = f->noutputs,
                          .out = f->x->log == INB__LOG_FILES     ? INB__OUT_FILES
                                 : f->x->log == INB__LOG_DISCARD ? INB__OUT_DISCARD
                                                                 : INB__OUT_TAGGED};
  attempts(f, &spec, rec);
  inb__free(env), free_outputs(outs, f->noutputs);
}

static int run_task(inb_item *it, const inb_args *args, inb_value *result) {
  (void)args, (void)result;
  inb__farm *f = inb_item_data(it);
  inb__task_view task = view(f, f->todo[inb_item_index(it)], inb_item_rank(it));
  record rec = {.index = task.index, .rank = task.rank};
  if (inb__signals_received()) return 0; /* stopping: the task is not run (not kept: it shows as not run) */
  expanded e = {0};
  if (expand(f, &task, &e) == 0) {
    launch(f, &task, &e, &rec);
  } else {
    rec.failed = 1;
    snprintf(rec.msg, sizeof rec.msg, "%s", inb_errmsg());
  }
  expanded_free(&e);
  /* a task that failed once the run was stopping was abandoned (it got the signal too): not run, to redo. When a
   * stopping signal ended it, the rank's own may be a moment behind (a scheduler signals the whole step) */
  bool stopping = inb__signals_received() ||
                  (rec.failed && !rec.timed_out && inb__signals_stopping(rec.signal) && inb__signals_wait(2));
  if (rec.failed && stopping) return 0;
  keep(f, &rec);
  return rec.failed ? inb_fail(it, INB_EITEM, "%s", rec.msg) : 0;
}

/* ---- the results ------------------------------------------------------------------------------------------------ */

/* Every rank's records to rank 0, placed by index. Collective. */
static int gather(inb__farm *f) {
  int n = (int)(f->nmine * sizeof(record)), *counts = NULL, *displs = NULL;
  char *recv = NULL;
  int rc = f->nmine > INT_MAX / sizeof(record) ? inb__err(INB_EINVAL, "%zu tasks ran on rank %d: more than one gather of "
                                                           "their outcomes holds (%zu)", f->nmine, f->rank,
                                                           (size_t)INT_MAX / sizeof(record)) : 0;
  if (f->rank == 0) {
    counts = inb__calloc((size_t)f->size, sizeof *counts);
    displs = inb__calloc((size_t)f->size, sizeof *displs);
    if (!counts || !displs) rc = inb__err(INB_ENOMEM, "out of memory for the results");
  }
  rc = agree(f, rc); /* before the gather: rank 0 without counts has nowhere to receive them */
  if (!rc && MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, 0, f->comm) != MPI_SUCCESS)
    rc = inb__err(INB_EMPI, "the results' gather failed");
  size_t total = 0;
  for (int k = 0; f->rank == 0 && !rc && k < f->size; k++) displs[k] = (int)total, total += (size_t)counts[k];
  if (f->rank == 0 && !rc && !(recv = inb__malloc(total + 1))) rc = inb__err(INB_ENOMEM, "out of memory for the results");
  rc = agree(f, rc);
  if (!rc && MPI_Gatherv(f->mine, n, MPI_BYTE, recv, counts, displs, MPI_BYTE, 0, f->comm) != MPI_SUCCESS)
    rc = inb__err(INB_EMPI, "the results' gather failed");
  int64_t items = inb__tasks_count(f->tasks);
  if (!rc && f->rank == 0) {
    for (size_t k = 0; !rc && k < total / sizeof(record); k++) {
      record r;
      memcpy(&r, recv + k * sizeof r, sizeof r);
      if (r.index >= 0 && r.index < items) f->all[r.index] = r, f->ran[r.index] = true;
    }
  }
  inb__free(counts), inb__free(displs), inb__free(recv);
  return agree(f, rc);
}

/* A text for one column of the results file: tabs, newlines and backslashes escaped. */
static void put_field(FILE *to, const char *s) {
  for (; *s; s++) {
    if (*s == '\t') fputs("\\t", to);
    else if (*s == '\n') fputs("\\n", to);
    else if (*s == '\r') fputs("\\r", to);
    else if (*s == '\\') fputs("\\\\", to);
    else fputc(*s, to);
  }
}

/* The command task i ran (its words joined, quoted where a word needs it), as the results file shows it. */
static void put_command(const inb__farm *f, FILE *to, int64_t i, int rank) {
  inb__task_view task = view(f, i, rank);
  char **words = NULL;
  if (inb__template_argv(f->argv, f->nargv, &task, &words) != 0) {
    put_field(to, inb_errmsg());
    return;
  }
  for (size_t k = 0; k < f->nargv; k++) {
    if (k) fputc(' ', to);
    bool plain = f->x->shell || (words[k][0] && strspn(words[k], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                  "0123456789_-+=/.,:@%") == strlen(words[k]));
    if (!plain) fputc('\'', to);
    put_field(to, words[k]);
    if (!plain) fputc('\'', to);
  }
  inb__free(words);
}

/* To the nearest millisecond, so that a time read back (--retry-failed) is written the same again. */
static void put_time(FILE *to, double t) {
  long long ms = llround(t * 1000);
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", gmtime_r(&s, &tm));
  fprintf(to, "%s.%03dZ", buf, (int)(ms % 1000));
}

static void put_record(const inb__farm *f, FILE *to, int64_t i) {
  const record *r = &f->all[i];
  fprintf(to, "%lld\t", (long long)i);
  if (!f->ran[i]) {
    fputs("-\t-\t-\t-\t-\t0\tnot_run\t", to);
    put_command(f, to, i, 0);
    fputs("\tnot started (the run stopped: max_failures)\n", to);
    return;
  }
  fprintf(to, "%d\t", r->rank);
  put_time(to, r->start);
  fprintf(to, "\t%.3f\t", r->runtime);
  if (r->started && !r->signal) fprintf(to, "%d\t", r->exit_status);
  else fputs("-\t", to);
  if (r->signal) fprintf(to, "SIG%s\t", sigabbrev_np(r->signal) ? sigabbrev_np(r->signal) : "?");
  else fputs("-\t", to);
  fprintf(to, "%d\t%s\t", r->attempts, r->failed ? "failed" : "done");
  put_command(f, to, i, r->rank);
  fputc('\t', to);
  put_field(to, r->failed ? r->msg : "-");
  fputc('\n', to);
}

/* Rank 0: the results file written whole under a temporary name (tmp), flushed to disk; publish renames it. */
static int write_results(const inb__farm *f, const inb__job *j, const inb__provenance *prov, const char *tmp) {
  FILE *to = inb__fault(INB__SITE("fopen")) ? (errno = EIO, NULL) : fopen(tmp, "w");
  if (!to) return inb__err(INB_EIO, "%s: cannot write '%s': %s", j->where_output, tmp, strerror(errno));
  int64_t n = inb__tasks_count(f->tasks);
  fprintf(to, "# inbatch %s: job %s, %lld tasks, ", prov->version, prov->job_path, (long long)n);
  if (f->shard.on)
    fprintf(to, "array shard %lld of %lld: tasks %lld..%lld, ", (long long)f->shard.k, (long long)f->shard.K,
            (long long)f->first, (long long)f->end - 1);
  fprintf(to, "%d rank%s (%s), started %s\n", prov->ranks, prov->ranks == 1 ? "" : "s", prov->hosts ? prov->hosts : "",
          prov->started);
  fputs("# index\trank\tstart\truntime\texit\tsignal\tattempts\tstate\tcommand\tmessage\n", to);
  for (int64_t i = f->first; i < f->end; i++) put_record(f, to, i);
  /* durable before it is renamed into place: a crash leaves the old file or the whole new one */
  int e = 0;
  if (fflush(to) != 0 || ferror(to)) e = errno ? errno : EIO;
  else if (inb__fault(INB__SITE("fsync"))) e = EIO;
  else if (fsync(fileno(to)) != 0) e = errno;
  if (fclose(to) != 0 && !e) e = errno ? errno : EIO;
  if (!e) return 0;
  unlink(tmp);
  return inb__err(INB_EIO, "%s: cannot write the results file '%s': %s", j->where_output, j->results, strerror(e));
}

static int publish(const inb__job *j, const char *tmp) {
  int e = inb__fault(INB__SITE("rename")) ? EIO : rename(tmp, j->results) != 0 ? errno : 0;
  if (!e) return 0;
  unlink(tmp);
  return inb__err(INB_EIO, "%s: cannot write the results file '%s': %s", j->where_output, j->results, strerror(e));
}

/* The outputs of the run, whole or not at all: the results file written aside, the HDF5 output committed, then
 * the results file renamed into place. Collective. */
static int write_outputs(inb__farm *f, const inb__job *j, bool overwrite, const inb__provenance *prov) {
  char tmp[PATH_MAX + 32] = "";
  if (j->results) snprintf(tmp, sizeof tmp, "%s.partial-%ld", j->results, (long)getpid());
  int rc = agree(f, f->rank == 0 && j->results ? write_results(f, j, prov, tmp) : 0);
  if (!rc && j->output) {
    rc = inb__farm_h5_write(j->output, overwrite, f->comm, inb__tasks_count(f->tasks), f->all, f->ran, prov);
    if (rc) rc = inb__err(rc, "%s: %s", j->where_output, inb_errmsg());
    if (rc && f->rank == 0 && j->results) unlink(tmp);
  }
  if (!rc) rc = agree(f, f->rank == 0 && j->results ? publish(j, tmp) : 0);
  return rc;
}

/* Whether a rank was stopped by a signal (the launchers forward one to every rank; one rank's is enough): then the
 * run ends without its outputs, which would list tasks not run as if the run were over. Collective. Returns 0 or
 * INB_ECANCELED with a message saying how far it got. */
static int stopped(inb__farm *f) {
  int sig = inb__signals_received(), any = sig;
  if (f->size > 1 && MPI_Allreduce(&sig, &any, 1, MPI_INT, MPI_MAX, f->comm) != MPI_SUCCESS)
    return inb__err(INB_EMPI, "the stop's agreement failed");
  if (!any) return 0;
  long long mine = (long long)f->nmine, done = mine;
  if (f->size > 1) MPI_Allreduce(&mine, &done, 1, MPI_LONG_LONG, MPI_SUM, f->comm);
  return inb__err(INB_ECANCELED, "stopped by SIG%s: %lld of %lld tasks ended, the others not run",
                  sigabbrev_np(any) ? sigabbrev_np(any) : "?", done, (long long)(f->end - f->first));
}

/* The job's identity for its journal: what decides the tasks' outcomes (the task list, the program, its words,
 * cwd, environment, declared outputs and time limits) and the inbatch version; not what may change between
 * allocations (ranks, n_workers, schedule, chunk, retries, logs). text describes it for messages. */
static void identity(const inb__job *j, int64_t n, uint64_t digest, const char *version, uint8_t id[32], char *text,
                     size_t cap) {
  inb__sha256 s;
  inb__sha256_init(&s);
  inb__sha256_str(&s, "inbatch exec journal 1");
  inb__sha256_str(&s, version);
  inb__sha256_add(&s, &n, sizeof n);
  inb__sha256_add(&s, &digest, sizeof digest);
  const inb__job_exec *x = j->steps[0].exec;
  inb__sha256_add(&s, &x->shell, sizeof x->shell);
  for (size_t k = 0; k < x->nargv; k++) inb__sha256_str(&s, x->argv[k].text);
  inb__sha256_str(&s, x->cwd.text ? x->cwd.text : "");
  for (size_t k = 0; k < x->nenv; k++) inb__sha256_str(&s, x->env[k].text);
  for (size_t k = 0; k < x->noutputs; k++) inb__sha256_str(&s, x->outputs[k].text);
  double times[2] = {x->timeout, x->grace};
  inb__sha256_add(&s, times, sizeof times);
  inb__sha256_bytes(&s, id);
  snprintf(text, cap, "job %s, %s %s (%lld tasks), inbatch %s", j->path, j->tasks ? "tasks" : "count",
           j->tasks ? j->tasks : "", (long long)n, version);
}

static void journal_dir(const inb__job *j, char *dir, size_t cap) {
  snprintf(dir, cap, "%s.journal", j->results ? j->results : j->output);
}

/* Rank 0's arrays of every task's outcome (filled from the journal, then by the gather). */
static int outcomes(inb__farm *f) {
  int64_t n = inb__tasks_count(f->tasks);
  if (f->rank == 0) {
    f->all = inb__calloc((size_t)n + 1, sizeof *f->all);
    f->ran = inb__calloc((size_t)n + 1, sizeof *f->ran);
  }
  return agree(f, f->rank == 0 && (!f->all || !f->ran) ? inb__err(INB_ENOMEM, "out of memory for the results") : 0);
}

/* --retry-failed, rank 0: the done tasks of the committed results file, into all/ran; *kept of them. */
static int keep_done(inb__farm *f, const inb__job *j, int64_t *kept) {
  if (!j->results)
    return inb__err(INB_EINVAL, "%s: --retry-failed reads the results file (output.results), which this job does "
                    "not write; reading an HDF5 output back is not built yet", j->where_output);
  return inb__farm_read_done(j->results, f->first, f->end, inb__tasks_count(f->tasks), f->all, f->ran, kept);
}

/* --retry-failed, rank 0: the kept tasks' outcomes go into the journal too, so that a stopped retry resumes
 * without running them. */
static int journal_kept(inb__farm *f) {
  int64_t n = inb__tasks_count(f->tasks), k = 0;
  record *kept = inb__malloc(((size_t)n + 1) * sizeof *kept);
  if (!kept) return inb__err(INB_ENOMEM, "out of memory");
  for (int64_t i = 0; i < n; i++)
    if (f->ran[i]) kept[k++] = f->all[i];
  int rc = k ? inb__farm_journal_add(f->journal, kept, (size_t)k) : 0;
  inb__free(kept);
  return rc;
}

/* "array shard 3 of 4: tasks 750..999", after prefix. */
static void put_shard(const inb__farm *f, FILE *to, const char *prefix) {
  fprintf(to, "%sarray shard %lld of %lld: ", prefix, (long long)f->shard.k, (long long)f->shard.K);
  if (f->end > f->first) fprintf(to, "tasks %lld..%lld\n", (long long)f->first, (long long)f->end - 1);
  else fprintf(to, "no tasks (%lld tasks over %lld shards)\n", (long long)inb__tasks_count(f->tasks),
               (long long)f->shard.K);
}

/* The journal of this run: what earlier runs finished is skipped. Collective. */
static int resume(inb__farm *f, const inb__job *j, const inb__farm_mode *mode, const inb__provenance *prov) {
  uint8_t id[32];
  char text[PATH_MAX * 2 + 128], dir[PATH_MAX + 16];
  identity(j, inb__tasks_count(f->tasks), f->digest, prov->version, id, text, sizeof text);
  journal_dir(j, dir, sizeof dir);
  int64_t kept = 0;
  int rc = mode->retry_failed ? agree(f, f->rank == 0 ? keep_done(f, j, &kept) : 0) : 0;
  inb__farm_resume res = {0};
  if (!rc)
    rc = inb__farm_journal_open(dir, id, text, mode->restart, f->comm, inb__tasks_count(f->tasks), f->first, f->end,
                                f->all, f->ran, &res, &f->journal);
  if (!rc && mode->retry_failed) rc = agree(f, f->rank == 0 ? journal_kept(f) : 0);
  if (rc) return inb__err(rc, "%s: %s", j->where_output, inb_errmsg());
  f->todo = res.todo, f->ntodo = res.ntodo;
  int64_t n = f->end - f->first;
  if (f->rank == 0 && f->shard.on) put_shard(f, stderr, "inbatch: ");
  if (f->rank == 0 && res.took_stale) fprintf(stderr, "inbatch: took over the journal '%s' of a run that is gone\n", dir);
  if (f->rank == 0 && mode->retry_failed)
    fprintf(stderr, "inbatch: retrying %lld of %lld tasks (failed or not run in %s)\n", (long long)res.ntodo,
            (long long)n, j->results);
  else if (f->rank == 0 && res.resumed)
    fprintf(stderr, "inbatch: resuming: %lld of %lld tasks done (journal %s)\n", (long long)res.resumed, (long long)n,
            dir);
  return 0;
}

/* The tasks left, n_workers at a time on each rank. Collective. Returns 0, INB_EITEM or the run's failure. */
static int run_left(inb__farm *f, const inb__job *j) {
  if (f->ntodo == 0) return 0;
  inb_batch *b = inb_batch_new(NULL, (size_t)f->ntodo);
  const inb__job_step *st = &j->steps[0];
  inb_action act = {.name = "exec", .fn = run_task, .init = "items", .target = st->target, .local = st->local,
                    .data = f};
  /* A rank runs what it is handed on its workers and takes more only when all of it is done. So by default the
   * tasks are split in equal blocks over the ranks at once (static), and in its block every worker of a rank
   * takes the next task as soon as it is free (chunk 1): no worker waits while another runs a long program.
   * schedule: dynamic hands out n_workers tasks at a time to the ranks that ask, for task lists whose slow part
   * is bunched; each rank's workers then wait for the longest task of each handout. */
  bool dynamic = st->schedule == INB_DYNAMIC;
  size_t chunk = st->chunk ? (size_t)st->chunk : dynamic ? (size_t)f->workers : 1;
  inb_opts o = {.n_workers = f->workers, .schedule = dynamic ? INB_DYNAMIC : INB_STATIC, .chunk = chunk,
                .max_failures = st->max_failures, .comm = &f->comm};
  int rc = agree(f, b ? 0 : inb__err(INB_ENOMEM, "out of memory"));
  if (!rc) rc = inb_run(b, &act, NULL, &o, NULL);
  inb_batch_free(&b);
  return rc;
}

/* After the tasks: whether every outcome is kept and journaled, and no signal stopped the run. Collective. */
static int complete(inb__farm *f) {
  int rc = agree(f, f->lost ? inb__err(INB_ENOMEM, "out of memory keeping the tasks' outcomes") : 0);
  if (!rc) rc = agree(f, f->journal_rc ? inb__err(f->journal_rc, "%s", f->journal_msg) : 0);
  return rc ? rc : stopped(f);
}

/* A resumed run whose tasks all succeeded still failed when an earlier run's failures are in its outputs.
 * Collective. Returns 0 or INB_EITEM. */
static int failed_before(inb__farm *f) {
  long long failed = 0, n = (long long)(f->end - f->first);
  for (long long i = f->first; f->rank == 0 && i < f->end; i++) failed += f->ran[i] && f->all[i].failed;
  if (f->size > 1) MPI_Bcast(&failed, 1, MPI_LONG_LONG, 0, f->comm);
  return failed ? inb__err(INB_EITEM, "%lld of %lld tasks failed (in an earlier run of the job)", failed, n) : 0;
}

int inb__farm_run(inb__farm *f, const inb__job *j, const inb__farm_mode *mode, const inb__provenance *prov) {
  int rc = outcomes(f);
  if (!rc) rc = resume(f, j, mode, prov);
  if (rc) return rc;
  rc = run_left(f, j);
  int end = rc && rc != INB_EITEM ? rc : complete(f);
  char verdict[INB__ERRMSG_MAX];
  snprintf(verdict, sizeof verdict, "%s", inb_errmsg()); /* the engine's words on the failed tasks */
  if (!end) end = gather(f);
  if (!end) end = write_outputs(f, j, mode->overwrite || mode->retry_failed, prov);
  int closed = inb__farm_journal_close(&f->journal, end == 0);
  if (end == INB_ECANCELED) inb__err(end, "%s; run the same command again to resume", verdict);
  if (end) return end;
  if (closed) return closed;
  if (rc) inb__err_set(rc, verdict);
  return rc ? rc : failed_before(f);
}

int inb__farm_status(const inb__job *j, const char *version, FILE *to) {
  inb__tasks *tasks = NULL;
  int rc = j->tasks ? inb__tasks_load(j->tasks, &tasks) : inb__tasks_range(j->count, &tasks);
  if (rc) return inb__err(rc, "%s: %s", j->where_input, inb_errmsg());
  uint8_t id[32];
  char text[PATH_MAX * 2 + 128], dir[PATH_MAX + 16];
  identity(j, inb__tasks_count(tasks), tasks_digest(tasks), version, id, text, sizeof text);
  journal_dir(j, dir, sizeof dir);
  rc = inb__farm_journal_status(dir, id, text, inb__tasks_count(tasks), j->results ? j->results : j->output, to);
  inb__tasks_free(&tasks);
  return rc;
}

void inb__farm_print_failures(const inb__farm *f, FILE *to, int few) {
  int64_t n = f->all ? f->end - f->first : 0, end = f->all ? f->end : f->first, failed = 0, not_run = 0, shown = 0;
  for (int64_t i = f->first; i < end; i++) failed += f->ran[i] && f->all[i].failed, not_run += !f->ran[i];
  fprintf(to, "inbatch: %lld of %lld tasks failed", (long long)failed, (long long)n);
  if (not_run) fprintf(to, ", %lld not run (the run stopped at max_failures)", (long long)not_run);
  fputs(failed ? ":\n" : "\n", to);
  for (int64_t i = f->first; i < end && shown < few; i++) {
    if (!f->ran[i] || !f->all[i].failed) continue;
    shown++;
    fprintf(to, "inbatch: task %lld", (long long)i);
    if (inb__tasks_line(f->tasks, i)) fprintf(to, " (line %lld)", (long long)inb__tasks_line(f->tasks, i));
    fprintf(to, " failed on rank %d: %s\n", f->all[i].rank, f->all[i].msg);
  }
  if (failed > few) fprintf(to, "inbatch: ... and %lld more (the results file lists them)\n", (long long)(failed - few));
}

void inb__farm_describe(const inb__farm *f, const inb__job *j, char *buf, size_t cap) {
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  if (!mem) {
    snprintf(buf, cap, "out of memory\n");
    return;
  }
  if (j->tasks) fprintf(mem, "tasks %s: %lld lines\n", j->tasks, (long long)inb__tasks_count(f->tasks));
  else fprintf(mem, "range: %lld items\n", (long long)inb__tasks_count(f->tasks));
  if (f->shard.on) put_shard(f, mem, "  ");
  fprintf(mem, "  exec, %d at a time on each rank: task 0 runs ", f->workers);
  put_command(f, mem, 0, 0);
  fputc('\n', mem);
  if (j->results) fprintf(mem, "results %s\n", j->results);
  if (j->output) fprintf(mem, "output %s (HDF5: /inbatch_results, /inbatch_errors, /exec_*)\n", j->output);
  fclose(mem);
  snprintf(buf, cap, "%s", text ? text : "");
  free(text);
}

static void free_words(inb__template **w, size_t n) {
  for (size_t k = 0; w && k < n; k++) inb__template_free(&w[k]);
  inb__free(w);
}

void inb__farm_free(inb__farm **fp) {
  if (!fp || !*fp) return;
  inb__farm *f = *fp;
  inb__tasks_free(&f->tasks);
  free_words(f->argv, f->nargv);
  free_words(f->env, f->nenv);
  free_words(f->outputs, f->noutputs);
  inb__template_free(&f->cwd);
  pthread_mutex_destroy(&f->lock);
  inb__farm_journal_close(&f->journal, false);
  inb__free(f->todo);
  inb__free(f->mine);
  inb__free(f->all);
  inb__free(f->ran);
  inb__free(f);
  *fp = NULL;
}
