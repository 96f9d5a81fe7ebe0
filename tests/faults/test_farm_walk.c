/* The fault-injection walk of command farming (src/jobs/farm.h), as test_fault_walk.c walks the engine: every
 * allocation site and every collective MPI call site that a farming run on 2 ranks reaches is made to fail once,
 * on rank 0 and then on rank 1, in each of two jobs run the way the `inbatch` command runs them (cmd.c: the
 * engine's communicator, the job loaded and its status agreed, inb__farm_plan, inb__farm_run, the frees). The
 * results file's open, fsync and rename are sites too (farm.c's write_results).
 *
 *   range   input count: 6; sh -c "echo {index} > out.{index}; [ {index} != 4 ]" with outputs, cwd ., 2 workers
 *           a rank, log tagged: task 4 fails (exit status 1), so an error record travels too
 *   tasks   a task file (a comment, a blank line, 6 tasks of two fields), a shell command with {1} {2} {#} and an
 *           env entry, schedule static, retries 1, log files: the task on "delta" fails twice
 *
 * Each run, in a folder of its own, must give: the same status on every rank, with a message when it is not 0;
 * never 0 (a task always fails); when it is neither INB_EITEM nor 0, no results file and no results.tsv.partial-*
 * left; when it is INB_EITEM, a results file of exactly one line per task, in order, each task done (its output
 * there) or failed (its output removed), the failing task with "exit status 1", and any other failure saying
 * "out of memory" (an allocation of that task's own run failed: expanding its words, its environment, its output
 * streams; that is the task's failure, not the run's), with the same commands as the run without faults; the
 * library's allocations outstanding back to what they were before the run (after inb__farm_free, inb__job_free
 * and the communicator's free); all within 10 s (a watchdog names the site of a hang).
 *
 * The task runner is shut down after every run (inb__spawn_shutdown), so each run starts its own task reaper
 * (reaper.c: a helper process, whose start allocates in the rank) and its sites are walked every time.
 *
 * Not walked, as in test_fault_walk.c: the agreements' own MPI calls. farm.c's own MPI calls (the task list's
 * MPI_Bcast, the results' MPI_Gather and MPI_Gatherv) are plain calls, not INB__MPI sites. */
#define _GNU_SOURCE /* open_memstream */
#include <dirent.h>
#include <errno.h>
#include <inbatch.h>
#include <limits.h>
#include <mpi.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/scratch.h"
#include "jobs/farm.h"
#include "jobs/job.h"
#include "jobs/pipeline.h"
#include "jobs/spawn.h"
#include "mpi/comm.h"
#include "walk.h"

enum { NTASKS = 6, NSCEN = 2, WATCHDOG_S = 10, CMD = 160, MSG = 320 };

typedef struct {
  const char *name;
  const char *job;      /* job.yaml */
  const char *tasks;    /* tasks.txt; NULL: none */
  int failing;          /* the task that fails with exit status 1 ... */
  int attempts;         /* ... after this many attempts */
  int out_base;         /* a task that succeeded leaves out.N, N = its index + out_base */
  char commands[NTASKS][CMD]; /* the command column of the run without faults */
} scenario;

static scenario scenarios[NSCEN] = {
    {.name = "range",
     .job = "input:\n"
            "  count: 6\n"
            "output:\n"
            "  results: results.tsv\n"
            "pipeline:\n"
            "  - action: exec\n"
            "    argv: [sh, -c, \"echo {index} > out.{index}; [ {index} != 4 ]\"]\n"
            "    outputs: [\"out.{index}\"]\n"
            "    cwd: .\n"
            "    n_workers: 2\n"
            "    log: tagged\n",
     .failing = 4, .attempts = 1, .out_base = 0},
    {.name = "tasks",
     .job = "input:\n"
            "  tasks: tasks.txt\n"
            "output:\n"
            "  results: results.tsv\n"
            "  logs: logs\n"
            "pipeline:\n"
            "  - action: exec\n"
            "    shell: true\n"
            "    cmd: \"echo \\\"$WORD\\\" {2} > out.{#}; test {1} != delta\"\n"
            "    env: {WORD: \"{1}\"}\n"
            "    outputs: [\"out.{#}\"]\n"
            "    cwd: .\n"
            "    n_workers: 2\n"
            "    schedule: static\n"
            "    retries: 1\n"
            "    log: files\n",
     .tasks = "# a word and a number a line\nalpha 1\nbeta 2\n\ngamma 3\ndelta 4\nepsilon 5\nzeta 6\n",
     .failing = 3, .attempts = 2, .out_base = 1},
};

static char g_dir[256];
static long g_runs; /* numbers the runs' folders */

typedef struct {
  int rc;
  char msg[MSG];
} outcome;

/* ---- one farming run, as cmd.c makes it ---------------------------------------------------------------------- */

static void farm(MPI_Comm *user, const char *dir, outcome *o) {
  char path[PATH_MAX + 64], host[64] = "", started[32], version[32];
  snprintf(path, sizeof path, "%s/job.yaml", dir);
  gethostname(host, sizeof host - 1);
  time_t t0 = time(NULL);
  struct tm tm;
  strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
  snprintf(version, sizeof version, "%d.%d.%d", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR, INBATCH_VERSION_PATCH);
  MPI_Comm comm = MPI_COMM_NULL;
  inb__job *j = NULL;
  inb__farm *f = NULL;
  int rc = inb__mpi_engine_comm(*user, &comm);
  if (!rc) rc = inb__mpi_agree(inb__job_load(path, NULL, 0, &j), comm);
  if (!rc) rc = inb__farm_plan(j, &comm, &f);
  if (!rc) {
    inb__provenance prov = {.job_text = j->text, .job_path = j->path, .version = version, .hosts = host,
                            .started = started, .ranks = walk_size};
    rc = inb__farm_run(f, j, &(inb__farm_mode){0}, &prov);
  }
  o->rc = rc;
  snprintf(o->msg, sizeof o->msg, "%s", rc ? inb_errmsg() : "");
  inb__farm_free(&f);
  inb__job_free(&j);
}

/* ---- the checks --------------------------------------------------------------------------------------------- */

static bool exists(const char *dir, const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* A results.tsv.partial-* in dir. */
static bool partial_left(const char *dir) {
  DIR *d = opendir(dir);
  bool found = false;
  for (struct dirent *e; d && !found && (e = readdir(d));) found = strncmp(e->d_name, "results.tsv.partial-", 20) == 0;
  if (d) closedir(d);
  return found;
}

/* Splits line at tabs into at most n fields; returns their number. */
static int fields(char *line, char **field, int n) {
  int k = 0;
  for (char *p = line; k < n;) {
    field[k++] = p;
    char *tab = strchr(p, '\t');
    if (!tab) break;
    *tab = '\0';
    p = tab + 1;
  }
  return k;
}

/* The results file of a run that returned INB_EITEM (or 0). warm: the run without faults, whose commands are
 * kept; else one task may have failed "out of memory" and the commands must be the warm run's. Rank 0. Returns
 * the problems, each printed. */
static int check_results(scenario *sc, const char *dir, bool warm, int *oom_tasks) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/results.tsv", dir);
  FILE *in = fopen(path, "r");
  if (!in) {
    fprintf(stderr, "  %s: no results file: %s\n", walk_current(), strerror(errno));
    return 1;
  }
  int problems = 0, lines = 0, failed = 0, oom = 0;
  char line[1024];
  while (fgets(line, sizeof line, in)) {
    if (line[0] == '#') continue;
    line[strcspn(line, "\n")] = '\0';
    char *f[10], out[32];
    int nf = fields(line, f, 10), i = lines++;
    if (nf != 10 || i >= NTASKS || atoi(f[0]) != i) {
      fprintf(stderr, "  %s: results line %d is not task %d's (%d fields): %s\n", walk_current(), i + 1, i, nf, f[0]);
      problems++;
      continue;
    }
    snprintf(out, sizeof out, "out.%d", i + sc->out_base);
    const char *state = f[7], *msg = f[9];
    bool is_oom = strstr(msg, "out of memory") != NULL;
    if (strcmp(state, "done") == 0) {
      if (i == sc->failing || strcmp(msg, "-") != 0 || strcmp(f[4], "0") != 0 || !exists(dir, out)) {
        fprintf(stderr, "  %s: task %d done (exit %s, %s) but %s; output %s\n", walk_current(), i, f[4], msg,
                i == sc->failing ? "it must fail" : "so it says", exists(dir, out) ? "there" : "missing");
        problems++;
      }
    } else if (strcmp(state, "failed") == 0) {
      failed++, oom += is_oom;
      bool expected = i == sc->failing && strcmp(msg, "exit status 1") == 0 && strcmp(f[4], "1") == 0 &&
                      (!warm || atoi(f[6]) == sc->attempts);
      if (!expected && !(is_oom && !warm)) {
        fprintf(stderr, "  %s: task %d failed (exit %s, %s attempts): %s\n", walk_current(), i, f[4], f[6], msg);
        problems++;
      }
      if (exists(dir, out)) {
        fprintf(stderr, "  %s: task %d failed but its output %s is left\n", walk_current(), i, out);
        problems++;
      }
    } else {
      fprintf(stderr, "  %s: task %d is %s: %s\n", walk_current(), i, state, msg);
      problems++;
    }
    if (warm) snprintf(sc->commands[i], sizeof sc->commands[i], "%s", f[8]);
    else if (strcmp(f[8], sc->commands[i]) != 0) {
      fprintf(stderr, "  %s: task %d's command reads '%s', not '%s'\n", walk_current(), i, f[8], sc->commands[i]);
      problems++;
    }
  }
  fclose(in);
  *oom_tasks = oom;
  if (lines != NTASKS) {
    fprintf(stderr, "  %s: the results file has %d task lines, not %d\n", walk_current(), lines, NTASKS);
    problems++;
  }
  if (failed == 0 || oom > (warm ? 0 : 1)) {
    fprintf(stderr, "  %s: %d tasks failed, %d of them out of memory\n", walk_current(), failed, oom);
    problems++;
  }
  return problems;
}

static bool write_file(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  if (!f) return false;
  bool ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok;
}

/* Runs scenario sc in a new folder with `key` armed on rank `victim` (key NULL: the run without faults), checks
 * it, and removes the folder. Returns the problems (the same on every rank); *fired: the fault was injected. */
static int run_checked(scenario *sc, const char *key, const char *what, int victim, int *fired, int *oom_tasks) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/run%ld-%s", g_dir, g_runs++, sc->name);
  int ready = 1;
  if (walk_rank == 0)
    ready = mkdir(dir, 0777) == 0 && write_file(dir, "job.yaml", sc->job) &&
            (!sc->tasks || write_file(dir, "tasks.txt", sc->tasks));
  MPI_Bcast(&ready, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (!ready) {
    if (walk_rank == 0) fprintf(stderr, "cannot write the job in %s: %s\n", dir, strerror(errno));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Comm user;
  MPI_Comm_dup(MPI_COMM_WORLD, &user);
  MPI_Barrier(MPI_COMM_WORLD);
  if (key) walk_watchdog(WATCHDOG_S, "job '%s' with site %s (%s) failed on rank %d", sc->name, key, what, victim);
  else walk_watchdog(WATCHDOG_S * 3, "job '%s' without faults", sc->name);
  long live = inb__fault_live();
  if (key && walk_rank == victim) inb__fault_arm(key, 1);
  outcome o;
  farm(&user, dir, &o);
  int mine_fired = key && walk_rank == victim && inb__fault_fired();
  inb__fault_arm(NULL, 0);
  inb__spawn_shutdown(); /* the next run starts its own reaper */
  MPI_Comm_free(&user);  /* and with it the engine's communicators made on it */
  inb__scratch_trim();
  long leaked = inb__fault_live() - live;
  MPI_Allreduce(&mine_fired, fired, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int problems = 0, rcs[2], v[2] = {o.rc, -o.rc};
  *oom_tasks = 0;
  MPI_Allreduce(v, rcs, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rcs[0] != -rcs[1]) {
    fprintf(stderr, "  %s: the ranks returned different statuses (rank %d: %d %s)\n", walk_current(), walk_rank, o.rc,
            o.msg);
    problems++;
  } else if (o.rc && !o.msg[0]) {
    fprintf(stderr, "  %s: status %d without a message on rank %d\n", walk_current(), o.rc, walk_rank);
    problems++;
  }
  if (walk_rank == 0) {
    if (o.rc == 0) {
      fprintf(stderr, "  %s: status 0, but task %d fails\n", walk_current(), sc->failing);
      problems++;
    } else if (!key && o.rc != INB_EITEM) {
      fprintf(stderr, "  %s: status %d (%s), not INB_EITEM\n", walk_current(), o.rc, o.msg);
      problems++;
    }
    if (o.rc == 0 || o.rc == INB_EITEM) {
      problems += check_results(sc, dir, !key, oom_tasks);
    } else if (exists(dir, "results.tsv")) {
      fprintf(stderr, "  %s: the run failed (%d: %s) but the results file was written\n", walk_current(), o.rc, o.msg);
      problems++;
    }
    if (partial_left(dir)) {
      fprintf(stderr, "  %s: a results.tsv.partial-* file was left behind\n", walk_current());
      problems++;
    }
    if (walk_remove_tree(dir) != 0) fprintf(stderr, "  could not remove %s\n", dir);
  }
  if (leaked) {
    fprintf(stderr, "  %s: rank %d has %ld of the library's allocations outstanding\n", walk_current(), walk_rank,
            leaked);
    problems++;
  }
  walk_watchdog_stop();
  int all = 0;
  MPI_Allreduce(&problems, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Bcast(oom_tasks, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return all;
}

/* ---- the walk ------------------------------------------------------------------------------------------------ */

typedef struct {
  int results_sites_fired; /* runs where the results file's open, fsync or rename failed */
  int oom_task_runs;       /* runs where a task failed out of memory (its own allocation) */
} tally;

static bool results_site(const char *key, const char *what) {
  return strncmp(key, "src/jobs/farm.c:", 16) == 0 &&
         (strcmp(what, "fopen") == 0 || strcmp(what, "fsync") == 0 || strcmp(what, "rename") == 0);
}

/* Both jobs with the site armed anew for each. */
static int walk_one(const char *key, const char *what, int victim, int *fired, void *data) {
  tally *t = data;
  int problems = 0;
  *fired = 0;
  for (int s = 0; s < NSCEN; s++) {
    int f = 0, oom = 0;
    problems += run_checked(&scenarios[s], key, what, victim, &f, &oom);
    *fired |= f;
    t->oom_task_runs += oom > 0;
    if (results_site(key, what) && victim == 0) {
      t->results_sites_fired += f;
      if (!f && walk_rank == 0) fprintf(stderr, "  the results file's site %s (%s) did not fail in job '%s'\n", key,
                                        what, scenarios[s].name), problems++;
    }
  }
  return problems;
}

int main(int argc, char **argv) {
  inb__fault_enable(); /* before the library allocates anything */
  if (inb_mpi_init(&argc, &argv)) return 1;
  walk_start("inb-farm-faults", g_dir, sizeof g_dir);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  /* the runs without faults: they list the sites and keep the commands the results file shows */
  int bad = 0, fired = 0, oom = 0;
  for (int s = 0; s < NSCEN; s++) bad += run_checked(&scenarios[s], NULL, NULL, 0, &fired, &oom);
  if (bad) {
    if (walk_rank == 0) fprintf(stderr, "the runs without faults failed\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  size_t nsites = 0;
  char *sites = walk_merged_sites(&nsites);
  int problems = 0, listed = 0;
  for (const char *l = sites; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    char key[300], what[64];
    if (sscanf(l, "%299[^\t]\t%63[^\n]", key, what) == 2) listed += results_site(key, what);
  }
  if (listed != 3) { /* the same list on every rank */
    if (walk_rank == 0) fprintf(stderr, "the results file's open, fsync, rename: %d of the 3 sites reached\n", listed);
    problems++;
  }
  tally t = {0};
  int runs = 0, fired_runs = 0;
  problems += walk_sites(sites, walk_one, &t, &runs, &fired_runs);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (walk_rank == 0) {
    printf("farm fault walk: %zu sites reached (allocations, MPI collectives, the results file's open, fsync and "
           "rename) x %d ranks = %d runs of %d jobs (%d runs of a job), %d with the fault injected, %d of them on "
           "the results file, %d where a task failed out of memory (status INB_EITEM); %.1f s; problems: %d\n",
           nsites, walk_size < 2 ? walk_size : 2, runs, NSCEN, runs * NSCEN, fired_runs, t.results_sites_fired,
           t.oom_task_runs,
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec), problems);
    if (walk_remove_tree(g_dir) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  }
  free(sites);
  inb_mpi_finalize();
  return problems ? 1 : 0;
}
