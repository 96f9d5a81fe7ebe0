/* Internal: Slurm job arrays for exec jobs (command farming). Inside an array (SLURM_ARRAY_TASK_ID set, and not
 * INBATCH_NO_ARRAY=1) a run takes one shard of the task list: shard k = (ID - MIN) / STEP of K = COUNT is the
 * contiguous block of tasks [k*n/K, (k+1)*n/K). It writes its own results file, the shard in its name
 * (results.tsv -> results.shard-3-of-4.tsv), with its journal beside it, so shards never share one.
 * `inbatch merge` puts the shards' results files together into the job's results file. */
#ifndef INB_JOBS_FARM_SHARD_H
#define INB_JOBS_FARM_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs/job.h"

typedef struct {
  bool on;       /* inside a job array: a shard of the tasks runs */
  int64_t k, K;  /* shard k (from 0) of K */
} inb__farm_shard;

/* Reads the job array's environment (SLURM_ARRAY_TASK_ID, _MIN, _STEP (default 1), _COUNT; INBATCH_NO_ARRAY=1:
 * none) into *s (s->on false outside an array). Local. Returns 0, or INB_EINVAL when a variable is missing or not
 * a number, or the ID is not one of the array's (the message names the variables and their values). */
int inb__farm_shard_from_env(inb__farm_shard *s);

/* The tasks [*first, *end) of shard s of a list of n tasks; [0, n) when s is off. */
void inb__farm_shard_range(const inb__farm_shard *s, int64_t n, int64_t *first, int64_t *end);

/* The results file of shard k of K: "results.tsv" -> "results.shard-3-of-4.tsv" (the shard before the last
 * extension of the file's name; appended when it has none). Returns 0, or INB_EINVAL when it does not fit cap. */
int inb__farm_shard_name(const char *results, int64_t k, int64_t K, char *buf, size_t cap);

/* A job of action exec run inside an array: its results file becomes the shard's (j->results replaced), and an
 * HDF5 output (output.file) is refused (not built yet for arrays). Local; the same on every rank of a run (they
 * share the array's environment). Returns 0 (also outside an array: nothing changed), INB_EINVAL (a bad array
 * environment, an HDF5 output; the message says which), INB_ENOMEM. */
int inb__farm_shard_job(inb__job *j);

/* What a merge found. */
typedef struct {
  int64_t n, shards, failed, not_run;
} inb__farm_merged;

/* inbatch merge: the shards' results files of the job (RESULTS.shard-K-of-N.EXT, one N) put together into its
 * results file, lines in task order, written under a temporary name, flushed and renamed into place. Refused when
 * the results file exists (unless overwrite), when a shard's file is missing, or when a shard's file does not
 * list exactly the tasks of its block. Local: no MPI. Returns 0 (every task done), INB_EITEM (written; m says how
 * many failed or were not run), INB_ENOTFOUND (no shards, or some missing: the message names them), INB_EINVAL
 * (not such a job, the results file exists, shards of different arrays, a shard's file that does not fit), INB_EIO,
 * INB_ENOMEM. */
int inb__farm_merge(const inb__job *j, const char *version, bool overwrite, inb__farm_merged *m);

#endif
