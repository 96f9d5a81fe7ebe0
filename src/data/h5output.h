/* Internal: HDF5 outputs: datasets created collectively under a temporary name, rows written by the ranks that
 * computed them, and the results: the table "/inbatch_results" (one small row per item) and the failures'
 * records "/inbatch_errors" (layouts in include/inbatch/h5.h). Resumable outputs (h5resume.c) keep their failure
 * records in a side file until commit and can be opened again (inb_h5_reopen). */
#ifndef INB_DATA_H5OUTPUT_H
#define INB_DATA_H5OUTPUT_H

#include "data/h5input.h"

/* One row of the results table, in memory (the file's rows are packed: 21 bytes). */
typedef struct {
  int64_t index;     /* the item */
  double value;      /* a numeric scalar result, else NaN */
  int32_t code;      /* the failure's code; 0 when done or not run */
  int8_t state;      /* inb_h5_state */
} inb__h5_tablerow;

/* One failure's record in "/inbatch_errors". */
enum { INB__H5_MESSAGE_BYTES = 256 };
typedef struct {
  int64_t index;
  int32_t code;
  int32_t rank;      /* the rank the task ran on */
  char message[INB__H5_MESSAGE_BYTES]; /* cut to 255 bytes */
} inb__h5_errrow;

typedef struct {
  inb__h5comp c;          /* shape[0] = length */
  bool compressed;        /* any codec (deflate, LZ4, Zstd, Blosc): writes must be collective (HDF5 1.10) */
  inb_array row;          /* dtype and shape of one item's row */
  uint8_t *kept;          /* rows kept for the current batch, in the order of kept_index */
  size_t kept_cap;
} inb__h5out;

struct inb_h5_output {
  inb__h5comm hc;
  char *final_path, *tmp_path;
  char *errors_path;      /* a resumable output's side file of failure records ("<dir>/.<name>.inbatch-errors") */
  bool resumable;         /* inb_h5_create_resumable or inb_h5_reopen: no "/inbatch_errors" until commit */
  char *scratch_path;     /* the companion file of the specs' scratch datasets; NULL when none is scratch */
  bool overwrite;
  hid_t file, table, errors;
  hid_t scratch;          /* that file, open while the output is */
  inb__h5out *outs;
  bool *active;           /* the datasets the current run writes (inb_h5_plan.outputs); all, between runs */
  size_t n;
  const char **names;     /* the specs' names (dataset paths), as tasks ask for them */
  int64_t length;
  int64_t *kept_index;    /* items whose rows this rank keeps for the current batch */
  size_t nkept, kept_cap;
  uint64_t *written;      /* rank 0: the table rows some batch wrote (the others are "not run" at commit) */
  uint64_t *failed;       /* rank 0, resumable: the table rows that say failed (whose records commit keeps) */
  int64_t flushed_ns;     /* rank 0, resumable: when the file was last flushed (inb__now_ns) */
  int64_t nerrors;        /* rows of "/inbatch_errors" (the same on every rank) */
};

/* Sets which datasets the next run writes: names[0..n) (NULL: every one). Local. Returns 0, or INB_EINVAL (a name
 * the output does not have: the message lists them); then every dataset is active. */
int inb__h5_activate(inb_h5_output *o, const char *const *names, size_t n);

/* The active datasets' names and rows, in dataset order, into names[] and rows[] (room for o->n); returns how many. */
size_t inb__h5_active(const inb_h5_output *o, const char **names, inb_array *rows);

/* Keeps rows bufs[k] (n items index[0..n)) of every active output (bufs in inb__h5_active's order) for the batch's
 * write, or writes them at once when the outputs allow independent writes; frees bufs[k]. Called from the thread
 * that ran the chunk. Returns 0, INB_ENOMEM or INB_EIO (the message names the file and dataset). */
int inb__h5_keep(inb_h5_output *o, const int64_t *index, size_t n, uint8_t **bufs);

/* Writes every kept row (sorted by item) and forgets them: one transfer per output dataset, collective for
 * compressed ones (ranks without rows join with an empty selection). Collective. Agreed status. */
int inb__h5_write_kept(inb_h5_output *o);

/* A batch's results: rank 0 (or a rank alone) passes the batch's table rows (any order: they are sorted here)
 * and its failures' records; the other ranks pass none. Rank 0 writes the rows, every rank extends
 * "/inbatch_errors" by rank 0's count (collective), rank 0 writes the records. Collective. Agreed status:
 * 0, INB_EIO (the message names the file and dataset), INB_ENOMEM. */
int inb__h5_write_results(inb_h5_output *o, inb__h5_tablerow *rows, size_t nrows, inb__h5_errrow *errs,
                          size_t nerrs);

/* ---- Shared by h5output.c and h5resume.c -------------------------------------------------------------- */

#define INB__H5_TABLE "/inbatch_results"
#define INB__H5_ERRORS "/inbatch_errors"

/* How an output comes to be: which checks and layout apply. */
typedef enum { INB__H5_NEW, INB__H5_NEW_RESUMABLE, INB__H5_REOPEN } inb__h5_mode;

/* inb_h5_create, inb_h5_create_resumable (mode NEW or NEW_RESUMABLE): the arguments and statuses of h5.h. */
int inb__h5_create(const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                   void *comm, inb__h5_mode mode, inb_h5_output **out);

/* The output's own memory and checks, before anything collective (o->hc resolved). Rank 0 checks the target
 * (and, to reopen, that the partial exists: INB_ENOTFOUND). Local. */
int inb__h5_prepare(inb_h5_output *o, const char *path, const inb_h5_output_spec *specs, size_t n, int64_t length,
                    bool overwrite, inb__h5_mode mode);

/* What must be the same on every rank for the call `call` (its name) of these arguments. */
uint64_t inb__h5_create_digest(const char *call, const char *path, const inb_h5_output_spec *specs, size_t n,
                               int64_t length, bool overwrite);

/* The file access list of o's files: MPI-IO or POSIX (inb__h5_fapl); for a resumable output without HDF5's sieve
 * buffer, so that every row goes to the file when it is written (a killed process loses none that its table row
 * says done). Caller closes it. */
hid_t inb__h5_output_fapl(const inb_h5_output *o);

/* Closes every dataset and the files (collective): the first failure, or 0. Then frees o (local). */
int inb__h5_close_all(inb_h5_output *o);
void inb__h5_output_free(inb_h5_output *o);

/* Rank 0, when the output ends (commit, abort, keep): removes the scratch file, if any. */
void inb__h5_remove_scratch(const inb_h5_output *o);

/* Writes the string attribute `name` = value on the root group of o's file, replacing one of that name.
 * Collective (every rank the same name and value). Returns 0 or INB_EIO (not agreed). */
int inb__h5_put_string(inb_h5_output *o, const char *name, const char *value);

/* The entry of a call that ends an output (commit, abort, keep): a rank that commits while another aborts is a
 * mismatch every rank learns of (inb__h5_enter). */
int inb__h5_enter_end(inb_h5_output *o, const char *call, inb__ecomm **held);

/* The results table's row type in memory or in the file (the caller closes it). */
hid_t inb__h5_table_type(bool file);

/* Creates "/inbatch_errors" with `n` records (collective; n the same on every rank), and writes records
 * errs[0..n) at rows [at, at + n) (rank 0, independent; in the order given). Return 0 or INB_EIO. */
int inb__h5_create_errors(inb_h5_output *o, int64_t n);
int inb__h5_write_errors(inb_h5_output *o, const inb__h5_errrow *errs, size_t n, int64_t at);

/* ---- Resumable outputs (h5resume.c) ---------------------------------------------------------------------- */

/* At create, after the datasets: the mark that says the file is a resumable output's, then its metadata flushed to
 * the file. Collective. Returns 0 or INB_EIO. */
int inb__h5_resume_mark(inb_h5_output *o);

/* Rank 0: appends a batch's failure records errs[0..n) to the side file (one write). Returns 0 or INB_EIO. */
int inb__h5_resume_append(inb_h5_output *o, const inb__h5_errrow *errs, size_t n);

/* The file flushed (collective; after create, an annotation, reopen). Returns rc, or INB_EIO when the flush
 * failed (not agreed: the caller agrees). */
int inb__h5_resume_flush(inb_h5_output *o, int rc);

/* A batch's end: the file flushed when rank 0 last flushed it INB_H5_FLUSH_MS ago or more (its decision, on every
 * rank). Collective. Returns rc, or INB_EIO (not agreed). */
int inb__h5_resume_batch_end(inb_h5_output *o, int rc);

/* At commit, rank 0's table rows written: "/inbatch_errors" made from the side file (each failed item's last
 * record, in the side file's order) and the mark removed. Collective; agreed status. */
int inb__h5_resume_commit(inb_h5_output *o);

#endif
