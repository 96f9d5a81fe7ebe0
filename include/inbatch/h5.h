/* inbatch and HDF5: items are rows along the first axis of one or more HDF5 datasets (the batch's components),
 * and an action's outputs are new datasets of the same length, written in parallel by the ranks that computed
 * them. Every function here that takes a communicator is collective over it; "collective" means every rank
 * calls it, with the same arguments unless a prototype says otherwise, and every rank returns the same status.
 * HDF5 is called from one thread of each rank at a time (the library is not thread-safe here): worker threads
 * of the threads target only compute. */
#ifndef INBATCH_H5_H
#define INBATCH_H5_H

#include <inbatch/run.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default) /* the library exports exactly what its headers declare */
#endif

/* ---- Inputs --------------------------------------------------------------------------------------------- */

typedef struct inb_h5_input inb_h5_input;

/* Opens `path` read-only with the datasets `components[0..n)` (HDF5 paths, e.g. "/images"); each must have a
 * numeric dtype of inb_dtype and the same first dimension, the item count. File access goes through MPI-IO
 * when *comm (an MPI_Comm*; NULL = MPI_COMM_WORLD) has more than one rank, POSIX otherwise (MPI need not be
 * initialised then). Collective. On success *out is owned by the caller (inb_h5_close); on failure *out is NULL.
 * Returns 0, INB_ENOTFOUND (file or dataset missing: the message names the file and lists its datasets),
 * INB_EINVAL (not an HDF5 file, unsupported dtype, lengths differ, n == 0), INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb_h5_open(const char *path, const char *const *components, size_t n, void *comm, inb_h5_input **out);

/* Closes the file and frees `*in`; sets *in = NULL. Collective. NULL-safe. */
void inb_h5_close(inb_h5_input **in);

/* The number of items (the common first dimension). */
int64_t inb_h5_length(const inb_h5_input *in);

/* Reads the rows index[0..n) of every component into a new batch whose item indices are `index` and whose
 * components are named like the datasets without the leading '/' ("/images" -> "images"). Independent
 * (not collective): any rank may call it alone. *out is owned by the caller (inb_batch_free); NULL on failure.
 * Returns 0, INB_EINVAL (an index out of range), INB_EIO, INB_ENOMEM. */
int inb_h5_read(inb_h5_input *in, const int64_t *index, size_t n, inb_batch **out);

/* ---- Outputs -------------------------------------------------------------------------------------------- */

typedef struct {
  const char *name;              /* dataset path in the output file, e.g. "/scaled" */
  inb_dtype dtype;
  int ndim;                      /* dims of one item (0 = a scalar per item) */
  int64_t shape[INB_MAX_DIMS];   /* the item's shape */
  int64_t chunk_items;           /* items per HDF5 chunk; 0 = contiguous (then deflate must be 0) */
  int deflate;                   /* 0 = none, 1..9 = zlib level */
} inb_h5_output_spec;

typedef struct inb_h5_output inb_h5_output;

/* Creates the output file `path` with datasets `specs[0..n)` of `length` items each, plus the results table
 * "/inbatch_results" (see inb_h5_run). Until inb_h5_commit the file lives under a temporary name next to the
 * target ("<dir>/.<name>.inbatch-partial"), so an output is never left looking complete when it is not.
 * An existing `path` is refused unless overwrite is true. Collective over *comm (as inb_h5_open).
 * On success *out is owned by the caller (inb_h5_commit or inb_h5_abort); on failure *out is NULL and nothing
 * is left behind. Returns 0, INB_EINVAL (a bad spec; path exists and !overwrite), INB_EIO (directory not
 * writable: the message names it), INB_ENOMEM, INB_EMPI. */
int inb_h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out);

/* Closes the output and renames it to its final name (replacing an older file only if overwrite was given).
 * Collective. Frees *o and sets it to NULL whatever the outcome; on failure the temporary file is removed.
 * Returns 0, INB_EIO. */
int inb_h5_commit(inb_h5_output **o);

/* Closes the output and removes the temporary file. Collective. Frees *o, sets it to NULL. NULL-safe. */
void inb_h5_abort(inb_h5_output **o);

/* ---- Running an action over a dataset ---------------------------------------------------------------- */

typedef struct {
  int64_t batch_size;            /* items per batch; 0 = all in one batch */
  const int64_t *index;          /* the items to process, in order; NULL = every item, 0..length-1 */
  size_t nindex;
} inb_h5_plan;

/* Runs `act` over the items of `in` in batches of plan->batch_size consecutive positions of the plan, writing
 * outputs into `out` (may be NULL: no outputs, no table). The action's init must be "items", "indices",
 * "run_once" is refused, or a component name (components are named as in inb_h5_read). With target mpi the
 * rows of a task are read from the file by the rank that runs it (indices travel, not data) and its output
 * rows are written by that rank: each batch ends with one collective write per output dataset. With the
 * other targets every rank (usually one) reads and writes alone.
 * A task writes its output rows through inb_item_output. Each item's outcome goes to the results table:
 * index, ok, code, message (truncated to 255 bytes) and value (a numeric scalar result as a double, else NaN),
 * so failures are listed in the output itself. The action's post, if any, runs per batch on rank 0 as usual.
 * Collective. Returns 0; INB_EITEM (some tasks failed; the rest of their batch and every other batch was still
 * written, and the table lists them); or the first batch's other error (then outputs are incomplete: the
 * caller should inb_h5_abort). */
int inb_h5_run(inb_h5_input *in, const inb_h5_plan *plan, const inb_action *act, const inb_args *call,
               const inb_opts *opts, inb_h5_output *out);

/* Inside a task of inb_h5_run: this item's row of output `name` (as in its spec), a writable view valid until
 * the task returns; its data starts zeroed. NULL when there is no such output or outside inb_h5_run. */
inb_array *inb_item_output(inb_item *it, const char *name);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
