/* Internal: where a pipeline's output starts, so that a run that stops (a signal, a time limit, a killed rank)
 * resumes where it stopped. A resumable output (h5.h: contiguous datasets, failure records in a side file) keeps
 * its partial when a run stops; the next run of the same job reopens it and runs only the items its results table
 * does not list as finished. The partial records the job's identity (a hash of what the run computes: the input
 * file and its components, the output's datasets, the steps, their arguments, the seed, the inbatch version;
 * not the ranks, workers, schedule or batch size), so that another job's partial is refused, never trusted. A
 * lock in the folder "<output>.journal" (host, pid, start time; stale locks taken over) keeps two runs off one
 * partial. */
#ifndef INB_JOBS_PIPELINE_RESUME_H
#define INB_JOBS_PIPELINE_RESUME_H

#include <inbatch/h5.h>
#include <mpi.h>

#include "jobs/job.h"
#include "jobs/journal.h"

/* Whether an output of these datasets can resume: none compressed, none scratch (a pipeline of one pass). */
bool inb__resumable_specs(const inb_h5_output_spec *specs, size_t n);

/* The job's identity as 64 hex digits and a NUL: what the run computes (see above). Reads the input file's size
 * and modification time. Local. */
void inb__pipeline_identity(const inb__job *j, const inb_h5_output_spec *specs, size_t n, char hex[65]);

/* An output started: new, or the partial of an earlier run of the same job. */
typedef struct {
  inb_h5_output *out;
  bool resumed;
  uint64_t *finished;          /* resumed: bit i set when item i is finished (done or failed); owned; else NULL */
  int64_t nfinished;
  inb__journal_lock_t *lock;   /* rank 0's */
} inb__started;

/* Starts the output of a resumable job over comm: takes the lock (rank 0), reopens the partial of this job unless
 * restart (then, or when there is none, creates a new resumable output and records the identity), and reads
 * which items are finished. Says "resuming: X of N items done" (rank 0, stderr). Collective; every rank returns
 * the same status. On failure nothing is started and an existing partial is left as it was. Returns 0, INB_EINVAL
 * (another run holds the lock; the partial is another job's or does not open: the message says to run with
 * --restart), INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb__output_start(const inb__job *j, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                      bool restart, MPI_Comm comm, inb__started *s);

/* Ends what inb__output_start began, after the output was committed, aborted or kept (s->out NULL): frees the map
 * and releases the lock. Local. */
void inb__output_end(inb__started *s);

#endif
