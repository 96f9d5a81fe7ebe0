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
 * initialised then). Datasets compressed with deflate, LZ4, Zstd or Blosc read as any other (the codecs are
 * registered first). Collective. On success *out is owned by the caller (inb_h5_close); on failure *out is NULL.
 * Returns 0, INB_ENOTFOUND (file or dataset missing: the message names the file and lists its datasets),
 * INB_EINVAL (not an HDF5 file, unsupported dtype, lengths differ, n == 0), INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb_h5_open(const char *path, const char *const *components, size_t n, void *comm, inb_h5_input **out);

/* Closes the file and frees `*in`; sets *in = NULL. Collective. NULL-safe. When the ranks did not all close
 * it (inb_errmsg() says so), the input stays open: a collective close would wait for them forever. */
void inb_h5_close(inb_h5_input **in);

/* The number of items (the common first dimension). */
int64_t inb_h5_length(const inb_h5_input *in);

/* Reads the rows index[0..n) of every component into a new batch whose item indices are `index` and whose
 * components are named like the datasets without the leading '/' ("/images" -> "images"). index NULL means
 * items 0..n-1 (as inb_batch_new). Independent (not collective): any rank may call it alone. *out is owned by
 * the caller (inb_batch_free); NULL on failure.
 * Returns 0, INB_EINVAL (in NULL; an index out of range, or n past the end when index is NULL), INB_EIO,
 * INB_ENOMEM. */
int inb_h5_read(inb_h5_input *in, const int64_t *index, size_t n, inb_batch **out);

/* What one item of component `name` is, without reading a row: *item gets its dtype, ndim (the dataset's
 * dimensions after the first) and shape; item->data is NULL. `name` as in inb_h5_read ("images"; "/images" is
 * accepted too). Local: no I/O, no communication. Nothing is allocated.
 * Returns 0, INB_ENOTFOUND (no such component: the message lists the input's components), INB_EINVAL (in,
 * name or item NULL); on failure *item (when given) is zeroed. */
int inb_h5_component(const inb_h5_input *in, const char *name, inb_array *item);

/* ---- Outputs -------------------------------------------------------------------------------------------- */

/* How an output's chunks are compressed. Each codec is an HDF5 filter under its registered id, with the
 * parameters (cd_values) that the usual filter plugins (the HDF Group's, hdf5plugin's) write and read, so h5py with
 * hdf5plugin or those plugins, h5dump, and any HDF5 program with the plugins reads the files. The library
 * compresses in-process: no plugin is needed to write, nor to read back in a program that called
 * inb_h5_register_codecs (inb_h5_create calls it). */
typedef enum {
  INB_H5_NONE = 0,    /* no compression (unless `deflate` says otherwise) */
  INB_H5_DEFLATE = 1, /* zlib, HDF5's own filter (id 1): levels 1..9, 0 = 4 (h5py's gzip default) */
  INB_H5_LZ4 = 2,     /* LZ4 (id 32004, cd_values {0}: one LZ4 block per chunk up to 1 GiB): no levels, 0 only */
  INB_H5_ZSTD = 3,    /* Zstandard (id 32015, cd_values {level}): levels 1..22, 0 = 3 (zstd's default) */
  INB_H5_BLOSC = 4,   /* Blosc 1 (id 32001, cd_values {2, 2, type size, chunk bytes, level, shuffle, compressor}):
                         levels 1..9, 0 = 5 (hdf5plugin's default); chunks under 2 GiB */
} inb_h5_codec;

/* Reordering a chunk's bytes before it is compressed, so that the bytes of equal rank in neighbouring numbers
 * (the exponents of floats, the high bytes of small integers) sit together: better ratios for numeric data. */
typedef enum {
  INB_H5_SHUFFLE_DEFAULT = 0, /* Blosc: byte shuffle; the other codecs: none */
  INB_H5_SHUFFLE_NONE = 1,
  INB_H5_SHUFFLE_BYTE = 2,    /* Blosc: its own shuffle; deflate, LZ4, Zstd: HDF5's shuffle filter (id 2) first */
  INB_H5_SHUFFLE_BIT = 3,     /* Blosc only (its bit shuffle) */
} inb_h5_shuffle;

/* The compressor inside Blosc (recorded in its cd_values; any Blosc reader decodes all of them). */
typedef enum {
  INB_H5_BLOSC_LZ4 = 0,       /* the default, as hdf5plugin's */
  INB_H5_BLOSC_BLOSCLZ = 1,
  INB_H5_BLOSC_LZ4HC = 2,
  INB_H5_BLOSC_ZLIB = 3,
  INB_H5_BLOSC_ZSTD = 4,
} inb_h5_blosc_compressor;

/* One output dataset. Fields left zero take their defaults, so `{.name, .dtype, .ndim, .shape}` is a contiguous,
 * uncompressed dataset and `.chunk_items = 64, .codec = INB_H5_ZSTD` adds Zstd at its default level.
 * Compression needs chunks (chunk_items > 0). inb_h5_create refuses a spec it cannot honour with INB_EINVAL, the
 * message naming the output file, the dataset, the field and the values it accepts: a level outside the codec's
 * range, `deflate` together with `codec`, `level` or `shuffle` without compression, bit shuffle or
 * blosc_compressor without Blosc, a Blosc compressor this libblosc lacks, a Blosc chunk over Blosc's limit (2 GiB
 * less 17 bytes). */
typedef struct {
  const char *name;              /* dataset path in the output file, e.g. "/scaled" */
  inb_dtype dtype;
  int ndim;                      /* dims of one item (0 = a scalar per item) */
  int64_t shape[INB_MAX_DIMS];   /* the item's shape */
  int64_t chunk_items;           /* items per HDF5 chunk; 0 = contiguous (then no compression) */
  int deflate;                   /* 0 = none, 1..9 = zlib level: the same as codec INB_H5_DEFLATE at that level
                                    (kept for existing callers; set this or `codec`, not both) */
  inb_h5_codec codec;            /* the compression of the chunks; INB_H5_NONE = none (or `deflate`) */
  int level;                     /* the codec's level, 0 = its default: ranges at inb_h5_codec */
  inb_h5_shuffle shuffle;        /* before compressing; needs a codec (or `deflate`) unless DEFAULT or NONE */
  inb_h5_blosc_compressor blosc_compressor; /* Blosc's inner compressor; 0 (LZ4) unless codec is INB_H5_BLOSC */
  bool scratch;                  /* rows a run needs between passes (inb_h5_view) but the output does not keep: the
                                    dataset lives in a companion file beside the partial ("<dir>/.<name>.inbatch-
                                    scratch"), written like any other, deleted at commit and abort */
} inb_h5_output_spec;

typedef struct inb_h5_output inb_h5_output;

/* Registers the library's LZ4 (32004), Zstd (32015) and Blosc (32001) filters with the HDF5 library of this
 * process, so that the program's own HDF5 calls read (and write) datasets compressed with them, as plugins would
 * (plugins built for another HDF5, such as a distribution's serial ones, cannot be loaded into a parallel
 * HDF5). Registered filters replace plugins of the same ids in this process. inb_h5_create calls it for the
 * codecs it writes. Registers once per process; thread-safe; local (no MPI). Returns 0, or INB_EIO when HDF5
 * refuses (then a later call tries again). */
int inb_h5_register_codecs(void);

/* Creates the output file `path` with datasets `specs[0..n)` of `length` items each, plus the results (see
 * "The results of a run" below). Until inb_h5_commit the file lives under a temporary name next to the target
 * ("<dir>/.<name>.inbatch-partial"), so an output is never left looking complete when it is not.
 * An existing `path` is refused unless overwrite is true; a path that is the file of an input open in this
 * process (the same file, by device and inode, whatever the spelling) is always refused. Collective over *comm
 * (as inb_h5_open). On success *out is owned by the caller (inb_h5_commit or inb_h5_abort); on failure *out is
 * NULL and nothing is left behind. Returns 0, INB_EINVAL (a bad spec; path exists and !overwrite; path is an
 * open input: the message names both), INB_EIO (directory not writable: the message names it; HDF5 refused a
 * codec's filter), INB_ENOMEM, INB_EMPI. */
int inb_h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out);

/* Marks the table rows of items no run wrote as not run, closes the output and renames it to its final name
 * (replacing an older file only if overwrite was given, and never an input open in this process).
 * Collective. Frees *o and sets it to NULL whatever the outcome; on failure the temporary file is removed.
 * Returns 0, INB_EIO (a write, the close or the rename failed: the message names the file), INB_EINVAL (the
 * target is an open input; or the ranks did not all commit, e.g. one aborted: then nothing is committed and *o
 * stays the caller's, for an inb_h5_abort that every rank makes), INB_ENOMEM. */
int inb_h5_commit(inb_h5_output **o);

/* Writes a string attribute `name` on the output file's root group (replacing one of that name): where the output
 * came from, e.g. the job that made it. Collective: rank 0's name and value are written, the others' are
 * ignored. Returns 0, INB_EINVAL (o or name NULL), INB_EIO, INB_ENOMEM. */
int inb_h5_annotate(inb_h5_output *o, const char *name, const char *value);

/* Closes the output and removes the temporary file. Collective. Frees *o, sets it to NULL. NULL-safe.
 * When the ranks did not all abort (inb_errmsg() says so), it does nothing collective and *o stays. */
void inb_h5_abort(inb_h5_output **o);

/* A later pass over an output being written: a new input with every component of `in` and the datasets
 * names[0..n) of `out` (as its specs name them, scratch ones included), read as components named as[k] (NULL: the
 * dataset's name without the leading '/'), so that a second inb_h5_run reads the rows the first one wrote (and
 * writes more rows of `out`). `in` and `out` must have the same length and ranks. What earlier runs wrote is made
 * visible to every rank first (the files flushed). Each run writes the table rows of its own items: a later
 * pass's plan should leave out the items an earlier one failed (their rows were never written), as the inbatch
 * command's pipelines do. Collective. *view is the caller's: inb_h5_close it before closing `in` or ending `out`
 * (it opens no file of its own). Returns 0, INB_EINVAL (a name `out` does not have, two components of one name,
 * lengths differ, `in` is a view itself), INB_EIO, INB_ENOMEM. */
int inb_h5_view(inb_h5_input *in, inb_h5_output *out, const char *const *names, const char *const *as, size_t n,
                inb_h5_input **view);

/* ---- Resumable outputs: a run that stops (a signal, a time limit, a killed rank) keeps its partial ---------- *
 *
 * A resumable output is laid out so that its partial file stays readable whatever kills the processes writing it:
 * every dataset is contiguous and allocated at create (chunk_items without compression is ignored), its metadata
 * written then (H5Fflush), so that the rows written later change no metadata; rows go to the file when they are
 * written (HDF5's sieve buffer is off). The failure records go to a side file beside the partial
 * ("<dir>/.<name>.inbatch-errors", appended by rank 0 at each batch's end, before its table rows) instead of
 * "/inbatch_errors", which commit creates from them. So a table row that says done or failed is in the file after
 * the item's output rows (and, failed, its record in the side file): the table is the record of what is finished,
 * and a process that is killed loses none of it. The file is also flushed (H5Fflush: with MPI-IO, a sync to disk)
 * at the end of a batch at most once every INB_H5_FLUSH_MS milliseconds (a flush at every batch's end doubled the
 * time of a 1 GiB run written to a disk), and at inb_h5_keep; a machine that crashes may lose what its kernel had
 * not written back since. Compressed datasets are refused (their chunk index changes with every write), and
 * scratch ones (their rows would not outlive the run). An output resumed, committed, is the file an uninterrupted
 * run makes: each failed item's last record, no mark of its resumption. */

/* The least time between two flushes of a resumable output at a batch's end (rank 0's clock decides for every
 * rank). The variable INB_H5_FLUSH_MS, when set, replaces it (0: every batch's end). */
#define INB_H5_FLUSH_MS 1000

/* As inb_h5_create (same arguments, statuses and partial name), for a resumable output. An existing partial (and
 * side file) of the same name is replaced: to go on with one, inb_h5_reopen it. A compressed or scratch spec:
 * INB_EINVAL, the message naming the dataset. */
int inb_h5_create_resumable(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length,
                            bool overwrite, void *comm, inb_h5_output **out);

/* Opens the partial that a resumable output of `path` left (inb_h5_keep, or processes that were killed) to write
 * more rows, checking that it has exactly the datasets `specs[0..n)` (names, dtypes, item shapes) and `length`
 * items; a side file cut short by a kill is cut to its whole records. Then inb_h5_run, inb_h5_view, annotate,
 * commit, abort and keep work as for a new output; rank 0 knows from the table which rows are written (commit
 * marks the others not run). Collective. On failure *out is NULL and the partial stays as it was. Returns 0;
 * INB_ENOTFOUND when there is no partial of `path` (the message names it); INB_EINVAL when the partial does not
 * match (the message says what differs and to start over), when it is not a resumable output's, when it does not
 * open as HDF5 (a run killed while committing), for a spec inb_h5_create_resumable refuses, and as inb_h5_create
 * for the target (it exists and !overwrite, it is an open input); INB_EIO, INB_ENOMEM, INB_EMPI. */
int inb_h5_reopen(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                  void *comm, inb_h5_output **out);

/* Closes the output without committing it: the partial and its side file stay for inb_h5_reopen (an output of
 * inb_h5_create keeps its partial too, which inb_h5_reopen refuses; its scratch file goes). Collective. Frees *o
 * and sets it to NULL. Returns 0, INB_EIO (a close failed: the last rows may be lost, the partial is kept
 * anyway), INB_EINVAL (o NULL; or the ranks did not all keep it, e.g. one aborted: then nothing is done and *o
 * stays the caller's, as for inb_h5_commit). */
int inb_h5_keep(inb_h5_output **o);

/* Which of the items first..first+n-1 are finished (their table row says done or failed): bit i of bits
 * (bits[i / 64] >> (i % 64) & 1) for item first + i, the same on every rank; (n + 63) / 64 words are written, the
 * bits past n clear. Rank 0 knows it without reading the file (from the table at inb_h5_reopen, and from every
 * batch since). Collective. Returns 0, INB_EINVAL (o NULL; the range is outside the output), INB_EMPI. */
int inb_h5_finished(inb_h5_output *o, int64_t first, size_t n, uint64_t *bits);

/* The string attribute `name` of the output's root group (inb_h5_annotate's, or a variable-length string of
 * another writer), rank 0's copy on every rank, into buf (cap bytes, cut to fit; cap 0: nothing is copied).
 * Collective. Returns 0, INB_ENOTFOUND (no such attribute), INB_EINVAL (o or name NULL; the attribute is not a
 * string), INB_EIO, INB_ENOMEM. */
int inb_h5_annotation(inb_h5_output *o, const char *name, char *buf, size_t cap);

/* ---- The results of a run ---------------------------------------------------------------------------- *
 *
 * Every output file holds two datasets besides the specs', so that the file itself says what happened:
 *
 * "/inbatch_results": one row per item (row i is item i), 21 bytes a row, a packed compound of
 *     index  int64   the item (i)
 *     state  enum int8 {not_run = 0, done = 1, failed = 2}   (h5dump shows the names)
 *     code   int32   the failure's code; 0 when done or not run
 *     value  float64 the task's result when it is a numeric scalar (int, real, bool), else NaN
 *   Items of no plan, and those of runs that stopped before their batch, are not_run: at commit rank 0 writes
 *   those rows (the dataset's fill value is a not_run row of index -1, for readers of unwritten rows).
 * "/inbatch_errors": one record per failed item, in the order of the batches (by index within a batch), a
 *   packed compound of
 *     index  int64,  code int32,  rank int32 (where the task ran),  message string of 256 bytes (NUL-terminated,
 *     cut to 255)
 *   extensible along its one dimension (chunks of 64 records): done items cost nothing there.
 */
typedef enum { INB_H5_NOT_RUN = 0, INB_H5_DONE = 1, INB_H5_FAILED = 2 } inb_h5_state;

/* ---- Running an action over a dataset ---------------------------------------------------------------- */

/* plan.batch_size 0: batches of INB_H5_BATCH_ITEMS items, fewer when an item's rows (every input component's
 * and every output's) are larger than INB_H5_BATCH_BYTES / INB_H5_BATCH_ITEMS bytes, so that a batch's rows
 * stay within INB_H5_BATCH_BYTES (at least one item a batch). */
#define INB_H5_BATCH_ITEMS 65536
#define INB_H5_BATCH_BYTES ((int64_t)64 << 20)

typedef struct {
  int64_t batch_size;            /* items per batch; 0 = the bounded default above */
  const int64_t *index;          /* the items to process, in order (the caller's memory, read during the run;
                                    never copied whole); NULL = every item, 0..length-1 */
  size_t nindex;
  const char *const *outputs;    /* the output datasets this run writes (as their specs name them); NULL = every
                                    one. The others keep what earlier runs wrote: a run in several passes writes
                                    each dataset in the pass that computes it (inb_item_output gives NULL for the
                                    others) */
  size_t noutputs;
} inb_h5_plan;

/* Runs `act` over the items of `in` in batches of plan->batch_size consecutive positions of the plan, writing
 * outputs into `out` (may be NULL: no outputs, no table). The action's init must be "items", "indices",
 * "run_once" (refused with outputs), or a component name (components are named as in inb_h5_read). With
 * target mpi the rows of a task are read from the file by the rank that runs it (indices travel, not data) and
 * its output rows are written by that rank (compressed outputs: one collective write per dataset at the end of
 * each batch). With the other targets every rank (usually one) reads and writes alone.
 * `in`, `out` and (target mpi) opts->comm must be on the same group of ranks in the same order (the same
 * communicator, or one congruent with it), else INB_EINVAL on every rank, before any communication.
 * A task writes its output rows through inb_item_output. Each batch's outcomes are written when the batch
 * ends: its rows of "/inbatch_results" (done or failed) and its failures' records in "/inbatch_errors".
 * Memory does not grow with the plan: rank 0 holds one batch's results at a time, and the engine's cached
 * blocks are released when the call returns. The action's post, if any, runs per batch on rank 0 as usual.
 * Collective. Returns 0; INB_EITEM (some tasks failed; the rest of their batch and every other batch was still
 * written, and the results list them); INB_EIO (a read of the input or a write of the output failed: the
 * message names the file and the dataset; rows are missing, so the caller should inb_h5_abort); or the first
 * batch's other error (then outputs are incomplete: the caller should inb_h5_abort). INB_EINVAL also for a plan
 * item out of range or, with outputs, named twice, and for an init that names no component (the message lists
 * the components). */
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
