/* Internal: the HDF5 output of an exec job (command farming), for users who keep their results with their data:
 * the library's results table and error records (include/inbatch/h5.h: "/inbatch_results", "/inbatch_errors"),
 * and one dataset per column of the tasks' outcomes. Written once, when every task has ended, and committed
 * under its final name only when whole (inb_h5_create's temporary file). */
#ifndef INB_JOBS_FARM_H5_H
#define INB_JOBS_FARM_H5_H

#include <mpi.h>
#include <stdbool.h>
#include <stdint.h>

#include "jobs/pipeline.h"

enum { INB__FARM_MSG = 112 };

/* One task's outcome, as it travels to rank 0 (bytes: the ranks of a job share one architecture). */
typedef struct {
  int64_t index;
  double start, runtime;       /* the last attempt's: wall clock at its start (s since the epoch), elapsed (s) */
  int32_t rank, exit_status, signal, attempts; /* exit_status -1: killed by a signal or not started */
  uint8_t failed, started;     /* started: the program ran (else it could not be started: msg says why) */
  uint8_t timed_out;           /* its timeout ended it (SIGTERM, then maybe SIGKILL) */
  char msg[INB__FARM_MSG];     /* the last attempt's failure, "" when done */
} inb__farm_record;

/* Writes `path` with, per task i (row i):
 *   /inbatch_results   state (done, failed, not_run), code (INB_EITEM when failed), value (the exit status;
 *                      NaN when a signal ended it or it did not start)
 *   /inbatch_errors    a record per failed task: its rank and message ("exit status 3", "timed out ...")
 *   /exec_rank /exec_exit /exec_signal /exec_attempts (int32; -1 where there is none) and /exec_start (s since
 *   the epoch) /exec_runtime (s) (float64; NaN for a task not run)
 * plus the provenance attributes. Collective over comm: rank 0 passes the n tasks' records (all[i] meaningful
 * when ran[i]); the other ranks pass all and ran NULL and n the same. An existing path is replaced only when
 * overwrite. Returns 0, or the failure with nothing committed: INB_EINVAL (path exists; message names it),
 * INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb__farm_h5_write(const char *path, bool overwrite, MPI_Comm comm, int64_t n, const inb__farm_record *all,
                       const bool *ran, const inb__provenance *prov);

#endif
