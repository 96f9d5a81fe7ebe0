/* Internal: the journal of an exec job (command farming), so that a run stopped by a signal, a time limit, a lost
 * rank or a failure resumes where it stopped: each task's outcome is journaled (journal.h) by the rank that ran
 * it as soon as it ends; the next run of the same job reads them, skips those tasks and runs the others; the
 * journal is discarded once the run's outputs are written. A task whose outcome was journaled never runs again
 * (a failed one included: its failure is its outcome); one that was running when the run stopped runs again. */
#ifndef INB_JOBS_FARM_JOURNAL_H
#define INB_JOBS_FARM_JOURNAL_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "jobs/farm_h5.h"

typedef struct inb__farm_journal inb__farm_journal;

/* What a run resumes from. */
typedef struct {
  int64_t *todo;   /* the tasks this run runs, in order (the same on every rank); inb__free */
  int64_t ntodo;
  int64_t resumed; /* tasks whose outcomes the journal held */
  bool took_stale; /* rank 0 took over the lock of a run that is gone */
} inb__farm_resume;

/* Opens the journal folder dir for a run of n tasks of the job identified by id (id_text describes it for
 * messages), collectively over comm: rank 0 takes the folder's lock (one run at a time), discards what is there
 * when restart, else reads it: the outcomes it holds go into all[index] and ran[index] (rank 0's arrays of n; the
 * other ranks pass NULL); every rank learns which tasks are left (*res, the caller's: inb__free(res->todo)): those
 * of first..end-1 (a job array's shard: farm_shard.h; else 0..n-1) not in the journal; and opens its own segment. A journal of another job or a damaged one is refused with what to do. Returns 0 with
 * *out the caller's (inb__farm_journal_close), or the agreed failure (*out NULL, nothing locked). */
int inb__farm_journal_open(const char *dir, const uint8_t id[32], const char *id_text, bool restart, MPI_Comm comm,
                           int64_t n, int64_t first, int64_t end, inb__farm_record *all, bool *ran,
                           inb__farm_resume *res, inb__farm_journal **out);

/* Journals n tasks' outcomes (r[0..n)) in one write: durable when it returns 0. Thread-safe; local. Returns 0 or
 * INB_EIO/INB_ENOMEM. */
int inb__farm_journal_add(inb__farm_journal *j, const inb__farm_record *r, size_t n);

/* Closes this rank's segment; then, when finished (the run's outputs are written, on every rank), discards the
 * journal; rank 0 releases the lock. Collective. Returns 0, or INB_EIO when the finished journal could not be
 * discarded (the outputs stand; the message says which folder to remove). Frees *j, sets it NULL; NULL-safe. */
int inb__farm_journal_close(inb__farm_journal **j, bool finished);

/* Prints how far the runs of a job of n tasks got, from its journal dir alone: done, failed, left, the last
 * outcome's time, and who holds the lock (a run now, or none: stopped); when there is no journal, whether `main`
 * (the job's results file or HDF5 output) exists (finished) or not (never ran, or a run that failed before its
 * first task). Local. Returns 0, or inb__journal_read's refusal (another job's or a damaged journal). */
int inb__farm_journal_status(const char *dir, const uint8_t id[32], const char *id_text, int64_t n, const char *main,
                             FILE *to);

#endif
