/* Internal: `inbatch run --retry-failed` for an exec job: the outcomes of the tasks that a committed results file
 * lists as done are kept, and only the others (failed, not run) run again; the results are then written whole
 * again under the same rules (a temporary file renamed into place). Also the one reader of results files (merge
 * reads the shards' with it: farm_shard.h). */
#ifndef INB_JOBS_FARM_RETRY_H
#define INB_JOBS_FARM_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "jobs/farm_h5.h"

enum { INB__FARM_FIELDS = 10 }; /* index rank start runtime exit signal attempts state command message */

/* Takes one line of a results file, split into its INB__FARM_FIELDS columns (as written: escaped); returns false
 * when the line is not one of the job's (the reader then refuses the file, naming the line). */
typedef bool (*inb__farm_line_fn)(int64_t index, char **fields, void *ctx);

/* Reads the results file `path`, which must list the tasks first..end-1 of a job of n tasks, one line each, in
 * order, each of state done, failed or not_run, and hands every line to fn. who starts the messages
 * ("--retry-failed", "merge"). Refused with INB_EINVAL and the file and line when it is not such a file: a header
 * that is not inbatch's, a line that does not parse, another task than the next expected, too few or too many
 * lines. Local. Returns 0, INB_EINVAL, INB_ENOTFOUND (no such file), INB_EIO. */
int inb__farm_read_results(const char *path, const char *who, int64_t first, int64_t end, int64_t n,
                           inb__farm_line_fn fn, void *ctx);

/* Reads the results file `path` of tasks first..end-1 of a job of n tasks (local: rank 0; inb__farm_read_results
 * checks it): every line of state done becomes all[index] with ran[index] set (the caller's arrays of n, zeroed);
 * *kept counts them. Returns 0, INB_EINVAL, INB_ENOTFOUND (no such file: nothing to retry), INB_EIO. */
int inb__farm_read_done(const char *path, int64_t first, int64_t end, int64_t n, inb__farm_record *all, bool *ran,
                        int64_t *kept);

#endif
