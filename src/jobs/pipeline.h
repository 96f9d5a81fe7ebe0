/* Internal: a job's pipeline made runnable. Every step works on one item at a time, so consecutive steps with the
 * same parallel options run as one action: for each item, on the rank (and thread) that read its rows, every
 * step in order, each reading the rows of its sources (the input's, an earlier step's, an output's) and writing
 * its destination (an output dataset's row, or a row kept in memory for later steps): no row is read twice or
 * moved between ranks. A step with other parallel options, or one after a reduction (summary: figures over every
 * item, merged on rank 0), starts a segment: a second pass over the items once the first has ended, which reads
 * back what earlier passes wrote (rows kept in memory go to a scratch dataset beside the output for it) and skips
 * the items that failed in them. */
#ifndef INB_JOBS_PIPELINE_H
#define INB_JOBS_PIPELINE_H

#include <inbatch/h5.h>

#include "jobs/job.h"

typedef struct inb__pipeline inb__pipeline;

/* Opens the job's input over *comm (an MPI_Comm*, NULL = WORLD: collective) and checks the pipeline against it:
 * every source exists when its step runs, dtypes and shapes flow from step to step, every output dataset is
 * written once and matches what writes it. On success *out is the
 * caller's (inb__pipeline_free). Returns 0, INB_EINVAL or INB_ENOTFOUND (the message names the job's file,
 * line and column, or the input), INB_EIO, INB_ENOMEM. */
int inb__pipeline_plan(const inb__job *j, void *comm, inb__pipeline **out);

/* What the output records of where it came from (strings the caller owns; rank 0's are written, NULL as ""). */
typedef struct {
  const char *job_text, *job_path, *sets, *version, *hosts, *started;
  int ranks;
} inb__provenance;

/* Writes the provenance as attributes of the output's root group (inbatch_job, inbatch_job_path, inbatch_set,
 * inbatch_version, inbatch_hosts, inbatch_started, inbatch_ranks). Collective. Returns 0 or inb_h5_annotate's
 * failure. */
int inb__provenance_annotate(inb_h5_output *out, const inb__provenance *prov);

/* The end time (inbatch_ended), the last thing written before the commit. Collective. */
int inb__provenance_annotate_end(inb_h5_output *out);

/* Whether the pipeline's output can resume (pipeline_resume.h): one pass, no reduction, no compressed dataset.
 * A run of such a pipeline stops at a signal (SIGTERM, SIGINT, SIGUSR1) at the end of a batch. */
bool inb__pipeline_resumable(const inb__pipeline *p);

typedef struct {
  bool overwrite;               /* an existing output is replaced at commit */
  bool restart;                 /* a resumable pipeline's partial from an earlier run is discarded */
} inb__pipeline_mode;

/* Creates the output (refused when it exists, unless overwrite) or, for a resumable pipeline, reopens the partial
 * of an earlier run of the job (unless restart) and runs only the items it has not finished; runs the pipeline,
 * records the provenance, and commits the output. When the run fails or stops, a resumable pipeline's partial is
 * kept for the next run; another's is removed. Collective. Returns 0, INB_EITEM (some items failed, in this run
 * or an earlier one: the output is committed and lists them), INB_ECANCELED (stopped by a signal: resumable, the
 * partial kept), or the failure (nothing committed). */
int inb__pipeline_run(inb__pipeline *p, const inb__job *j, const inb__pipeline_mode *mode,
                      const inb__provenance *prov);

/* The number of items of the input. */
int64_t inb__pipeline_items(const inb__pipeline *p);

/* One line per step and output, for --dry-run: what reads what and writes where, with dtypes and shapes. */
void inb__pipeline_describe(const inb__pipeline *p, const inb__job *j, char *buf, size_t cap);

/* Closes the input and frees the plan; sets *p = NULL. Collective (the input's close). NULL-safe. */
void inb__pipeline_free(inb__pipeline **p);

#endif
