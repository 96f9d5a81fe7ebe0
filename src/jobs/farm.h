/* Internal: command farming, the run of an exec job. Every item is a task (a line of a task file, or a number of a
 * range) and runs the step's program once, n_workers at a time on each rank; with target mpi the items spread over
 * the ranks (either schedule). Each task's outcome (rank, start, runtime, exit status or signal, attempts) comes
 * back to rank 0, which writes the results file in item order, complete or not at all. */
#ifndef INB_JOBS_FARM_H
#define INB_JOBS_FARM_H

#include <stdio.h>

#include "jobs/job.h"
#include "jobs/pipeline.h"

typedef struct inb__farm inb__farm;

/* Loads the job's task list on every rank of *comm (an MPI_Comm*; NULL = MPI_COMM_WORLD), checks that every rank
 * read the same tasks, takes the job array's shard of them when run in one (farm_shard.h), compiles the step's placeholders (messages name the job's lines) and checks that the
 * results file's folder is writable. Collective: every rank returns the same status. On success *out is the
 * caller's (inb__farm_free). Returns 0, INB_EINVAL or INB_ENOTFOUND (the message names the job's file and line,
 * or the task file's), INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb__farm_plan(const inb__job *j, void *comm, inb__farm **out);

/* The number of tasks this run covers: all, or in a Slurm job array its shard's (farm_shard.h). */
int64_t inb__farm_items(const inb__farm *f);

/* For --dry-run and validate: the task list, and the first task's command as it would run. */
void inb__farm_describe(const inb__farm *f, const inb__job *j, char *buf, size_t cap);

/* How a run treats what is there already. */
typedef struct {
  bool overwrite;     /* replace outputs that exist */
  bool restart;       /* discard the journal: every task runs */
  bool retry_failed;  /* the results file exists: keep its done tasks, run the failed and not run ones again */
} inb__farm_mode;

/* Runs every task that no earlier run of the job finished (their outcomes are in the journal beside the main
 * output, RESULTS.journal or OUTPUT.journal: farm_journal.h; mode->restart discards it; mode->retry_failed also
 * keeps the done tasks of the committed results file: farm_retry.h), journaling each outcome as it comes; then
 * writes the results file (rank 0; under a temporary name renamed into place, so it is complete or absent) and
 * the HDF5 output when the job has one (farm_h5.h; an existing one is replaced only when mode->overwrite or
 * mode->retry_failed). Collective. Returns 0 (every task succeeded), INB_EITEM (some failed: the outputs list
 * them), INB_ECANCELED (a signal stopped it: resumable), or the failure of the run (nothing written). */
int inb__farm_run(inb__farm *f, const inb__job *j, const inb__farm_mode *mode, const inb__provenance *prov);

/* inbatch status: how far the job's runs got, from its journal alone (so it works while a run writes it): tasks
 * done, failed and left, when the last one ended, whether a run holds the journal now; or that the job finished
 * (its outputs exist, no journal) or never ran. Local: no MPI. Returns 0, or the failure (a task list that does
 * not load, a journal of another job or damaged: inb_errmsg() says what). */
int inb__farm_status(const inb__job *j, const char *version, FILE *to);

/* Rank 0, after inb__farm_run: the first `few` failures on `to`, one line each. */
void inb__farm_print_failures(const inb__farm *f, FILE *to, int few);

/* Frees the plan; sets *f = NULL. Local. NULL-safe. */
void inb__farm_free(inb__farm **f);

#endif
