/* Internal: a job, as read from its file and checked: what it reads, what it writes, and its pipeline of steps.
 * Paths are already resolved against the job file's directory. Every position is kept as the words a message
 * starts with ("job 'clean.yaml' line 12 col 5"), so that errors found later (running) still say where. */
#ifndef INB_JOBS_JOB_H
#define INB_JOBS_JOB_H

#include <inbatch.h>

#include "jobs/actions.h"
#include "jobs/plugins.h"

enum { INB__WHERE = 600, INB__MAX_SRC = INB_PLUGIN_MAX_SRC };

typedef struct {
  char *name;                    /* without a leading '/' */
  bool has_dtype, has_shape;     /* else taken from the step that writes it */
  inb_dtype dtype;
  int ndim;
  int64_t shape[INB_MAX_DIMS];
  char *like;                    /* an input component whose dtype and item shape it has; NULL */
  int64_t chunk_items;           /* 0: the default (contiguous, or 64 items when compressed) */
  int deflate;                   /* 0..9 */
  inb_h5_codec codec;            /* compression: ... (or deflate: N, the same as codec deflate at level N) */
  int level;
  inb_h5_shuffle shuffle;
  inb_h5_blosc_compressor blosc_compressor;
  char where[INB__WHERE];
} inb__job_dataset;

typedef struct {
  char *src[INB__MAX_SRC];       /* component names, without '/' */
  size_t nsrc;
  char *dst;
} inb__job_pair;

/* A kernel step's own code (kernel: the body of a per-item function, or expr: an elementwise expression), built by
 * the plan (kernels.h) once the sources' dtypes are known. */
typedef struct {
  char *code;
  bool is_expr;
  int line, col;                 /* where the code starts in the job file (0: given by --set) */
  bool has_dtype;                /* else the destination's dtype is the source's */
  inb_dtype dtype;
  inb__argspec *args;            /* one REAL per argument, named as the job names them, in its order */
  inb__action_spec stand_in;     /* the step's action until the plan builds the kernel: "kernel" or "expr" */
} inb__job_kernel;

/* A word of an exec step that may hold placeholders ({}, {1}, {index}, ...: template.h), with where it is written
 * (the placeholders are compiled when the run is planned; their errors name this place). */
typedef struct {
  char *text;                    /* NULL: not given */
  char where[INB__WHERE];
} inb__job_word;

/* Where an exec step's tasks write their stdout and stderr. */
typedef enum {
  INB__LOG_TAGGED,               /* the run's stdout and stderr, each line prefixed by its task's index */
  INB__LOG_FILES,                /* output.logs/INDEX.out and INDEX.err */
  INB__LOG_DISCARD
} inb__job_log;

/* An exec step: a program run once per task (command farming), never through a shell unless it says so. */
typedef struct {
  inb__job_word *argv;           /* the program and its arguments; with shell, one word: the command for /bin/sh */
  size_t nargv;
  bool shell;
  inb__job_word cwd;             /* the tasks' working directory; text NULL: where the command was started */
  inb__job_word *env;            /* "NAME=VALUE" set for every task (the value may hold placeholders) */
  size_t nenv;
  inb__job_word *outputs;        /* files a task writes: removed when it fails, so none looks complete */
  size_t noutputs;
  double timeout, grace;         /* seconds; timeout 0: none; then SIGTERM, and SIGKILL `grace` later */
  double retry_delay;            /* seconds between a failed attempt and the next (retries: the step's) */
  inb__job_log log;
} inb__job_exec;

typedef struct {
  const inb__action_spec *action; /* a built-in, a plugin's, or a kernel's or exec's stand-in */
  inb__job_kernel *kernel;       /* a kernel step's code; NULL for an action */
  inb__job_exec *exec;           /* an exec step's program; NULL otherwise */
  inb__argvals args;             /* its strings are the job's own where owned_strings has their bit */
  unsigned owned_strings;
  inb__job_pair *pairs;
  size_t npairs;
  /* parallel options (a step that gives none takes the previous step's) */
  bool own_options;
  inb_target target, local;
  int n_workers, retries;
  inb_schedule schedule;
  int64_t chunk, max_failures;
  double p;                      /* the share of the items the step applies to (1: all); the others pass through */
  bool rng;                      /* every item gets its own random stream (implied by actions that draw) */
  char where[INB__WHERE];
} inb__job_step;

typedef struct {
  char *path, *text;             /* the job file and its text (the output records it) */
  char **sets;                   /* the --set overrides, as given */
  size_t nsets;
  char *input;                   /* an HDF5 input, resolved; NULL for a task list or a range */
  char *tasks;                   /* a task file (one task per line), resolved; NULL otherwise */
  int64_t count;                 /* a range of items 0..count-1 (count: N); 0 otherwise */
  char **components;             /* dataset paths in the input ("/images") */
  size_t ncomponents;
  int64_t batch_size;            /* 0: the library's bounded default */
  uint64_t seed;                 /* keys every random draw (rng.h) */
  inb__plugins *plugins;         /* the plugins the job loads (NULL: none); their actions live as long as it */
  char *output;                  /* the HDF5 output, resolved; NULL for an exec job */
  char *results;                 /* an exec job's results file (one line per task), resolved */
  char *logs;                    /* an exec job's folder of task logs (log: files), resolved; NULL: none */
  inb__job_dataset *datasets;
  size_t ndatasets;
  inb__job_step *steps;
  size_t nsteps;
  char where_input[INB__WHERE], where_output[INB__WHERE], where_pipeline[INB__WHERE];
} inb__job;

/* Reads and checks the job file at `path`, with the --set overrides sets[0..nsets) ("KEY=VALUE") applied first:
 * its fields and their types, the actions and their arguments (nothing is opened: inb__pipeline_plan checks the
 * files). Local: no MPI. On success *out is the caller's (inb__job_free). Returns 0, INB_EINVAL or INB_ENOTFOUND
 * (the message names the file, line and column, the field, what was expected and what was found), INB_ENOMEM. */
int inb__job_load(const char *path, const char *const *sets, size_t nsets, inb__job **out);

/* Frees the job and everything it owns; sets *j = NULL. NULL-safe. */
void inb__job_free(inb__job **j);

/* The workers a step runs with on each rank: its n_workers; else, inside a Slurm allocation that gives tasks
 * several CPUs, SLURM_CPUS_PER_TASK; else 0 (the library's default: the cores this rank may use). */
int inb__job_workers(const inb__job_step *st);

#endif
