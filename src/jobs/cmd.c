/* The `inbatch` command's work (see cmd.h). */
#include "jobs/cmd.h"

#include <hdf5.h>
#include <inbatch.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/status.h"
#include "jobs/actions.h"
#include "jobs/farm.h"
#include "jobs/farm_shard.h"
#include "jobs/signals.h"
#include "jobs/job.h"
#include "jobs/pipeline.h"
#include "mpi/comm.h"

/* The rank the launcher gave this process, known before MPI starts (0 when run alone). */
static const char *const k_launcher_vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};

static int launcher_rank(void) {
  for (size_t k = 0; k < sizeof k_launcher_vars / sizeof k_launcher_vars[0]; k++)
    if (getenv(k_launcher_vars[k])) return atoi(getenv(k_launcher_vars[k]));
  return 0;
}

/* Run alone (no launcher), Open MPI starts a helper daemon for a singleton, for dynamic processes that inbatch
 * never uses: a third of a second at every start. Asked not to, unless the user says otherwise. */
static void alone_without_daemon(void) {
  for (size_t k = 0; k < sizeof k_launcher_vars / sizeof k_launcher_vars[0]; k++)
    if (getenv(k_launcher_vars[k])) return;
  setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
}

int inb__cmd_usage(const inb__cmd *cmd, const char *fmt, ...) {
  (void)cmd;
  if (launcher_rank() != 0) return INB__EXIT_USAGE;
  va_list ap;
  va_start(ap, fmt);
  fputs("inbatch: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("\nTry 'inbatch --help'.\n", stderr);
  return INB__EXIT_USAGE;
}

/* ---- actions and version: no MPI ------------------------------------------------------------------------- */

static const char *type_name(inb_argtype t) {
  static const char *const names[] = {"real", "int", "bool", "string", "dtype"};
  return names[t];
}

static void describe_action(const inb__action_spec *a, const char *origin) {
  printf("%s: %s\n", a->name, a->doc);
  if (origin) printf("from plugin: %s\n", origin);
  printf("sources per call: %zu\narguments:%s\n", a->nsrc, a->nargs ? "" : " none");
  for (size_t k = 0; k < a->nargs; k++)
    printf("  %-8s %-6s %s%s%s%s%s  %s\n", a->args[k].name, type_name(a->args[k].type),
           a->args[k].dflt ? "default " : "required", a->args[k].dflt ? a->args[k].dflt : "",
           a->args[k].choices ? " (one of: " : "", a->args[k].choices ? a->args[k].choices : "",
           a->args[k].choices ? ")" : "", a->args[k].doc ? a->args[k].doc : "");
}

/* inbatch actions exec: the fields of an exec step (bound in job.c, run in farm.c). */
static const char k_exec_doc[] =
    "exec: a program run once per task, n_workers at a time on each rank (command farming).\n"
    "Its job reads a task list: input: {tasks: FILE} (one task per line; blank lines and # comments skipped)\n"
    "or input: {count: N} (tasks 0..N-1), and writes output: {results: FILE, file: HDF5_FILE, logs: DIR}\n"
    "(a results file, an HDF5 output, or both; logs for log: files).\n"
    "\n"
    "  argv         list    the program and its arguments, run without a shell: [convert, \"{1}\", \"out/{index}.png\"]\n"
    "  shell        bool    default false; true: cmd is one command line for /bin/sh -c, every substituted\n"
    "                       value single-quoted\n"
    "  cmd          string  the command line (with shell: true)\n"
    "  cwd          word    where tasks run, relative to the job file; default: where inbatch was started\n"
    "  env          map     NAME: word, set for every task (besides INBATCH_INDEX, INBATCH_LINE, INBATCH_RANK\n"
    "                       and OMP_NUM_THREADS = the rank's cores / n_workers)\n"
    "  outputs      list    files a task writes: removed when it fails or is killed\n"
    "  timeout      real    default 0 (none); seconds, then SIGTERM to the task's process group\n"
    "  grace        real    default 5; seconds from SIGTERM to SIGKILL\n"
    "  retries      int     default 0; attempts after a failed one, retry_delay seconds apart (default 0)\n"
    "  log          choice  tagged (default: each line on the run's stdout/stderr as INDEX<TAB>line),\n"
    "                       files (output.logs/INDEX.out and .err) or discard\n"
    "  n_workers    int     programs at once per rank; default: the rank's cores\n"
    "  target, schedule, chunk, max_failures: as for any step\n"
    "\n"
    "Placeholders in any word: {} the task's line; {1} {2} ... its whitespace fields; {.} {/} {//} {/.} and\n"
    "{1.} {1/} {1//} {1/.} its extension, basename, dirname forms (GNU parallel's); {index} (from 0); {#}\n"
    "(from 1); {rank}; {line} (in the task file); {{ and }} for braces. Stdin is /dev/null.\n";

static int list_actions(const inb__cmd *cmd) {
  inb__plugins *set = NULL;
  int rc = 0;
  for (size_t k = 0; !rc && k < cmd->nplugins; k++) rc = inb__plugins_load(&set, cmd->plugins[k], "--plugin");
  if (rc) {
    fprintf(stderr, "inbatch: %s\n", inb_errmsg());
    inb__plugins_free(&set);
    return INB__EXIT_USAGE;
  }
  const char *name = cmd->action;
  int status = INB__EXIT_OK;
  if (name && strcmp(name, "exec") == 0) {
    fputs(k_exec_doc, stdout);
  } else if (!name) {
    for (size_t i = 0; i < inb__actions_count(); i++)
      printf("%-10s %s\n", inb__action_at(i)->name, inb__action_at(i)->doc);
    for (size_t i = 0; i < inb__plugins_count(set); i++)
      printf("%-10s %s  [%s]\n", inb__plugins_at(set, i)->name, inb__plugins_at(set, i)->doc,
             inb__plugins_origin(set, i));
    printf("%-10s %s\n", "exec", "a program run once per task of a task list (inbatch actions exec)");
  } else if (inb__action_find(name)) {
    describe_action(inb__action_find(name), NULL);
  } else if (inb__plugins_find(set, name)) {
    for (size_t i = 0; i < inb__plugins_count(set); i++)
      if (strcmp(inb__plugins_at(set, i)->name, name) == 0) describe_action(inb__plugins_at(set, i), inb__plugins_origin(set, i));
  } else {
    fprintf(stderr, "inbatch: no action '%s' (inbatch actions lists them%s)\n", name,
            cmd->nplugins ? "" : "; a plugin's: inbatch actions --plugin FILE");
    status = INB__EXIT_USAGE;
  }
  inb__plugins_free(&set);
  return status;
}

/* ---- status ---- */

/* inbatch status: the journal of an exec job, read without MPI (rank 0 of a launcher alone prints). */
static int status_command(const inb__cmd *cmd) {
  inb__job *j = NULL;
  int rc = inb__job_load(cmd->job, cmd->sets, cmd->nsets, &j);
  if (!rc && j->input)
    rc = inb__err(INB_EINVAL, "job '%s': status reads the journal of a job of action exec; a pipeline over HDF5 "
                  "records what it finished in its partial output, which status does not read yet (its output "
                  "appears when it finishes; a resumed run says how far the earlier ones got)", cmd->job);
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR, INBATCH_VERSION_PATCH);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = rc ? NULL : open_memstream(&text, &len);
  if (!rc && !mem) rc = inb__err(INB_ENOMEM, "out of memory");
  if (!rc) rc = inb__farm_status(j, version, mem);
  if (mem) fclose(mem);
  if (rc) fprintf(stderr, "inbatch: %s\n", inb_errmsg());
  else printf("job %s: %s", cmd->job, text);
  free(text);
  inb__job_free(&j);
  return rc ? INB__EXIT_USAGE : INB__EXIT_OK;
}

/* ---- merge ---- */

/* inbatch merge: the shards' results files of an exec job run in a job array, into its results file (no MPI). */
static int merge_command(const inb__cmd *cmd) {
  inb__job *j = NULL;
  int rc = inb__job_load(cmd->job, cmd->sets, cmd->nsets, &j);
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR, INBATCH_VERSION_PATCH);
  inb__farm_merged m = {0};
  if (!rc) rc = inb__farm_merge(j, version, cmd->overwrite, &m);
  if (rc && rc != INB_EITEM) {
    fprintf(stderr, "inbatch: %s\n", inb_errmsg());
  } else {
    fprintf(stderr, "inbatch: merged %lld shards: %lld tasks written to %s\n", (long long)m.shards, (long long)m.n,
            j->results);
    if (rc)
      fprintf(stderr, "inbatch: %lld of %lld tasks failed, %lld not run (the results file lists them; inbatch run "
              "--retry-failed runs them again)\n", (long long)m.failed, (long long)m.n, (long long)m.not_run);
  }
  inb__job_free(&j);
  if (rc == 0) return INB__EXIT_OK;
  if (rc == INB_EITEM) return INB__EXIT_ITEMS;
  return rc == INB_EINVAL || rc == INB_ENOTFOUND ? INB__EXIT_USAGE : INB__EXIT_RUNTIME;
}

/* ---- run and validate ------------------------------------------------------------------------------------- */

typedef struct {
  int rank, size;
  MPI_Comm comm;       /* the engine's, for agreements */
} ranks;

/* Agrees on rc over every rank (the lowest failing rank's message), so that every rank exits alike. */
static int agree(const ranks *r, int rc) { return r->size > 1 ? inb__mpi_agree(rc, r->comm) : rc; }

static void say(const ranks *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const ranks *r, const char *fmt, ...) {
  if (r->rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("inbatch: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* The job's output (or an exec job's results file) is new (or --overwrite) and is not its input. Rank 0 looks;
 * the caller agrees. */
/* One output path of the job (what: "output" or "results file"): not a directory, not the job's input, and not
 * there already unless overwrite. */
static int check_path(const inb__job *j, const char *path, const char *what, bool overwrite) {
  struct stat in, out;
  const char *input = j->input ? j->input : j->tasks;
  if (!path || stat(path, &out) != 0) return 0;
  if (input && stat(input, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
    return inb__err(INB_EINVAL, "%s: the %s '%s' is the %s itself", j->where_output, what, path,
                    j->input ? "input file" : "task file");
  if (S_ISDIR(out.st_mode)) return inb__err(INB_EINVAL, "%s: the %s '%s' is a directory", j->where_output, what, path);
  if (!overwrite)
    return inb__err(INB_EINVAL, "%s: the %s '%s' exists (run with --overwrite to replace it)", j->where_output, what,
                    path);
  return 0;
}

static int check_output(const inb__job *j, bool overwrite) {
  int rc = check_path(j, j->output, "output", overwrite);
  return rc ? rc : check_path(j, j->results, "results file", overwrite);
}

/* --retry-failed: a job of action exec whose results file is there. */
static int check_retry(const inb__job *j) {
  struct stat st;
  if (j->input)
    return inb__err(INB_EINVAL, "--retry-failed: job '%s' runs over HDF5; retrying its failed items is not built "
                    "yet (run it again with --overwrite)", j->path);
  if (j->results && stat(j->results, &st) != 0)
    return inb__err(INB_EINVAL, "%s: --retry-failed: no results file '%s' to retry from (run the job first)",
                    j->where_output, j->results);
  return 0;
}

/* The hosts of every rank, distinct, comma-separated (rank 0's copy; "" elsewhere). */
static char *hosts(const ranks *r) {
  enum { NAME = 64 };
  char mine[NAME] = "";
  gethostname(mine, sizeof mine - 1);
  char *all = r->rank == 0 ? calloc((size_t)r->size, NAME) : NULL;
  if (r->size > 1)
    MPI_Gather(mine, NAME, MPI_CHAR, all, NAME, MPI_CHAR, 0, r->comm);
  else if (all)
    memcpy(all, mine, NAME);
  char *list = r->rank == 0 ? calloc((size_t)r->size, NAME + 1) : NULL;
  for (int k = 0; list && k < r->size; k++) {
    const char *h = all + (size_t)k * NAME;
    bool seen = false;
    for (int j = 0; j < k && !seen; j++) seen = strcmp(h, all + (size_t)j * NAME) == 0;
    if (!seen) strcat(strcat(list, *list ? "," : ""), h);
  }
  free(all);
  return list;
}

/* The --set overrides as one line (NULL when none). */
static char *joined_sets(const inb__cmd *cmd) {
  size_t n = 1;
  for (size_t k = 0; k < cmd->nsets; k++) n += strlen(cmd->sets[k]) + 1;
  char *s = cmd->nsets ? calloc(1, n) : NULL;
  for (size_t k = 0; s && k < cmd->nsets; k++) strcat(strcat(s, k ? " " : ""), cmd->sets[k]);
  return s;
}

/* The first few failures, from the committed output's /inbatch_errors (rank 0). */
static void print_failures(const char *path, int few) {
  typedef struct {
    int64_t index;
    int32_t code, rank;
    char message[256];
  } rec;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f < 0 ? -1 : H5Dopen2(f, "/inbatch_errors", H5P_DEFAULT);
  hid_t space = d < 0 ? -1 : H5Dget_space(d);
  hssize_t n = space < 0 ? 0 : H5Sget_simple_extent_npoints(space);
  if (n > 0) {
    hsize_t count[1] = {(hsize_t)(n < few ? n : few)}, start[1] = {0};
    hid_t msg = H5Tcopy(H5T_C_S1), type = H5Tcreate(H5T_COMPOUND, sizeof(rec));
    H5Tset_size(msg, 256);
    H5Tinsert(type, "index", HOFFSET(rec, index), H5T_NATIVE_INT64);
    H5Tinsert(type, "code", HOFFSET(rec, code), H5T_NATIVE_INT32);
    H5Tinsert(type, "rank", HOFFSET(rec, rank), H5T_NATIVE_INT32);
    H5Tinsert(type, "message", HOFFSET(rec, message), msg);
    rec r[8];
    hid_t mem = H5Screate_simple(1, count, NULL);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
    if (H5Dread(d, type, mem, space, H5P_DEFAULT, r) >= 0)
      for (hsize_t k = 0; k < count[0]; k++)
        fprintf(stderr, "inbatch: item %lld failed on rank %d: %s\n", (long long)r[k].index, r[k].rank, r[k].message);
    if (n > few) fprintf(stderr, "inbatch: ... and %lld more (h5dump -d /inbatch_errors %s)\n", (long long)(n - few), path);
    H5Sclose(mem), H5Tclose(type), H5Tclose(msg);
  }
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
}

static int exit_status_of(int rc) {
  if (rc == 0) return INB__EXIT_OK;
  if (rc == INB_EITEM) return INB__EXIT_ITEMS;
  return rc == INB_EINVAL || rc == INB_ENOTFOUND ? INB__EXIT_USAGE : INB__EXIT_RUNTIME;
}

/* What a job runs: the pipeline of a job over HDF5, or the tasks of an exec job. */
typedef struct {
  inb__pipeline *p;
  inb__farm *f;
} work;

static int plan(const ranks *r, const inb__job *j, work *w) {
  if (j->input) return inb__pipeline_plan(j, NULL, &w->p);
  MPI_Comm comm = r->size > 1 ? r->comm : MPI_COMM_WORLD;
  return inb__farm_plan(j, &comm, &w->f);
}

static int64_t items(const work *w) { return w->p ? inb__pipeline_items(w->p) : inb__farm_items(w->f); }

static void describe(const work *w, const inb__job *j, char *buf, size_t cap) {
  if (w->p) inb__pipeline_describe(w->p, j, buf, cap);
  else inb__farm_describe(w->f, j, buf, cap);
}

static void free_work(work *w) {
  inb__pipeline_free(&w->p);
  inb__farm_free(&w->f);
}

/* run: the pipeline or the tasks, the summary, the first failures. */
static int run_job(const ranks *r, const inb__cmd *cmd, const inb__job *j, work *w) {
  char started[64];
  time_t t0 = time(NULL);
  struct tm tm;
  strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t0, &tm));
  char *host_list = hosts(r), *sets = joined_sets(cmd), version[32];
  snprintf(version, sizeof version, "%d.%d.%d", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR, INBATCH_VERSION_PATCH);
  inb__provenance prov = {.job_text = j->text, .job_path = j->path, .sets = sets, .version = version,
                          .hosts = host_list, .started = started, .ranks = r->size};
  /* a farm and a resumable pipeline stop at a signal and resume; another pipeline lets the scheduler's warning
   * pass, and goes on to the time limit */
  bool stops = w->f || inb__pipeline_resumable(w->p);
  if (stops) inb__signals_install(r->rank != 0);
  else inb__signals_ignore_warning(r->rank != 0);
  double w0 = MPI_Wtime();
  inb__farm_mode mode = {.overwrite = cmd->overwrite, .restart = cmd->restart, .retry_failed = cmd->retry_failed};
  inb__pipeline_mode pmode = {.overwrite = cmd->overwrite, .restart = cmd->restart};
  int rc = w->p ? inb__pipeline_run(w->p, j, &pmode, &prov) : inb__farm_run(w->f, j, &mode, &prov);
  bool stopped = rc == INB_ECANCELED && stops && inb__signals_received();
  double wall = MPI_Wtime() - w0;
  int64_t n = items(w);
  if (rc == 0 || rc == INB_EITEM) {
    bool both = !w->p && j->output && j->results;
    say(r, "%lld %s in %.3f s (%.0f/s) on %d rank%s: %s%s%s written", (long long)n, w->p ? "items" : "tasks", wall,
        wall > 0 ? (double)n / wall : 0.0, r->size, r->size == 1 ? "" : "s", j->results && !w->p ? j->results : "",
        both ? " and " : "", w->p || j->output ? j->output : "");
    if (rc && w->p) say(r, "%s", inb_errmsg());
    if (rc && r->rank == 0 && w->p) print_failures(j->output, 5);
    if (rc && r->rank == 0 && w->f) inb__farm_print_failures(w->f, stderr, 5);
  } else if (stopped || (w->p && inb__pipeline_resumable(w->p))) {
    say(r, "%s", inb_errmsg()); /* the partial is kept: the message says so */
  } else {
    say(r, "%s (nothing was written)", inb_errmsg());
  }
  free(host_list);
  free(sets);
  return stopped ? INB__EXIT_STOPPED : exit_status_of(rc);
}

static int job_command(const ranks *r, const inb__cmd *cmd) {
  inb__job *j = NULL;
  int rc = agree(r, inb__job_load(cmd->job, cmd->sets, cmd->nsets, &j));
  if (!rc && !j->input) rc = agree(r, inb__farm_shard_job(j)); /* in a job array: the shard's results file */
  if (!rc && cmd->verb == INB__CMD_RUN && !cmd->dry_run)
    rc = agree(r, r->rank == 0 ? check_output(j, cmd->overwrite || cmd->retry_failed) : 0);
  if (!rc && cmd->retry_failed) rc = agree(r, r->rank == 0 ? check_retry(j) : 0);
  work w = {0};
  if (!rc) rc = plan(r, j, &w); /* collective: every rank has the same status */
  int status;
  if (rc) {
    say(r, "%s", inb_errmsg());
    status = exit_status_of(rc) == INB__EXIT_ITEMS ? INB__EXIT_USAGE : exit_status_of(rc);
  } else if (cmd->verb == INB__CMD_VALIDATE || cmd->dry_run) {
    if (r->rank == 0) {
      char text[4096];
      describe(&w, j, text, sizeof text);
      fputs(text, stdout);
    }
    say(r, "job '%s' is valid: %lld items, %zu step%s", cmd->job, (long long)items(&w), j->nsteps,
        j->nsteps == 1 ? "" : "s");
    status = INB__EXIT_OK;
  } else {
    status = run_job(r, cmd, j, &w);
  }
  free_work(&w);
  inb__job_free(&j);
  return status;
}

int inb__cmd_main(const inb__cmd *cmd, int *argc, char ***argv) {
  if (cmd->verb == INB__CMD_VERSION) {
    printf("inbatch %d.%d.%d\n", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR, INBATCH_VERSION_PATCH);
    return INB__EXIT_OK;
  }
  if (cmd->verb == INB__CMD_ACTIONS) return launcher_rank() == 0 ? list_actions(cmd) : INB__EXIT_OK;
  if (cmd->verb == INB__CMD_STATUS) return launcher_rank() == 0 ? status_command(cmd) : INB__EXIT_OK;
  if (cmd->verb == INB__CMD_MERGE) return launcher_rank() == 0 ? merge_command(cmd) : INB__EXIT_OK;
  alone_without_daemon();
  if (inb_mpi_init(argc, argv)) {
    fprintf(stderr, "inbatch: MPI does not start: %s\n", inb_errmsg());
    return INB__EXIT_RUNTIME;
  }
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  ranks r = {0, 1, MPI_COMM_NULL};
  MPI_Comm_rank(MPI_COMM_WORLD, &r.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &r.size);
  int status = INB__EXIT_RUNTIME;
  if (r.size == 1 || inb__mpi_engine_comm(MPI_COMM_WORLD, &r.comm) == 0) status = job_command(&r, cmd);
  else say(&r, "%s", inb_errmsg());
  inb_mpi_finalize();
  return status;
}
