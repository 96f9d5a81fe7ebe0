/* Internal: `inbatch run --retry-failed` for an exec job: the outcomes of the tasks that a committed results file
 * lists as done are kept, and only the others (failed, not run) run again; the results are then written whole
 * again under the same rules (a temporary file renamed into place). */
#ifndef INB_JOBS_FARM_RETRY_H
#define INB_JOBS_FARM_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "jobs/farm_h5.h"

/* Reads the results file `path` of a job of n tasks (local: rank 0): every line of state done becomes all[index]
 * with ran[index] set (the caller's arrays of n, zeroed); *kept counts them. Refused with INB_EINVAL and the file
 * and line when it is not such a file: a header that is not inbatch's, a line that does not parse, an index out
 * of 0..n-1 or listed twice, or not every task listed (another job's file). Returns 0, INB_EINVAL, INB_ENOTFOUND
 * (no such file: nothing to retry), INB_EIO. */
int inb__farm_read_done(const char *path, int64_t n, inb__farm_record *all, bool *ran, int64_t *kept);

#endif
