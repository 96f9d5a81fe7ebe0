/* Internal: what the HDF5 input, output and run share: dtype mapping, file access over MPI-IO or POSIX,
 * error messages that name the file and dataset, status agreement when a communicator is in use, and the
 * fault-injection wrapper of HDF5 calls. */
#ifndef INB_DATA_H5COMMON_H
#define INB_DATA_H5COMMON_H

#include <hdf5.h>
#include <mpi.h>

#include <inbatch/h5.h>

#include "core/alloc.h"
#include "core/digest.h"
#include "mpi/comm.h"

/* An HDF5 call whose herr_t a test can make fail (core/alloc.h, site kind = the call's text). The call is
 * always made, so a collective call stays paired across ranks; only its result is then reported as failed. */
#define INB__H5(call)                                                                                              \
  ({                                                                                                               \
    herr_t inb__h5r_ = (call);                                                                                     \
    inb__fault(INB__SITE(#call)) ? (herr_t)-1 : inb__h5r_;                                                         \
  })

/* The communicators a data object works over. MPI-IO opens the file on the caller's communicator; the data
 * layer's own agreements and barriers run on the engine's duplicate of it, so they never mix with messages
 * the program itself has in flight on its communicator. */
typedef struct {
  MPI_Comm user;  /* the caller's (or WORLD); MPI_COMM_NULL when MPI is not running */
  MPI_Comm comm;  /* the engine's duplicate of user when it has more than one rank, else MPI_COMM_NULL */
  int rank, size;
} inb__h5comm;

/* Resolves `comm` (an MPI_Comm* or NULL) as above, but for hc->comm, which inb__h5_enter sets. Local. */
void inb__h5comm_resolve(inb__h5comm *hc, void *comm);

/* The start of every collective call of the data layer. When hc has more than one rank: enters the engine's
 * communicator (made on first use; its lock held until inb__h5_leave, so that calls of several threads never run
 * their collectives at once), sets hc->comm, then agrees at once on every rank's local status `rc` (an
 * allocation that failed, an argument that is wrong) and on a digest of the arguments that must be the same on
 * every rank (what names the call for the message), waiting at most INB_ARRIVAL_TIMEOUT_MS for every rank.
 * Alone, it returns rc. Returns the agreed status (INB_EINVAL when the calls differ); on failure nothing is
 * held, and the caller must make no collective call on the call's files: the other ranks may be elsewhere. */
int inb__h5_enter(inb__h5comm *hc, int rc, uint64_t digest, const char *what, inb__ecomm **held);

/* Releases what inb__h5_enter holds. NULL-safe. */
void inb__h5_leave(inb__ecomm *held);

/* Agrees on rc across hc's ranks (inb__mpi_agree); returns rc alone. Collective when there is a comm. */
int inb__h5_agree(const inb__h5comm *hc, int rc);

/* Rank 0's rc (and message) on every rank (inb__mpi_share_status). Collective when there is a comm. */
int inb__h5_share(const inb__h5comm *hc, int rc);

/* A barrier over hc's ranks, when there are several. */
void inb__h5_barrier(const inb__h5comm *hc);

/* 0 when a and b are the same group of processes in the same order (MPI_IDENT or MPI_CONGRUENT); otherwise
 * INB_EINVAL with a message naming what_a and what_b and their sizes. Local (not collective). */
int inb__h5_same_group(MPI_Comm a, const char *what_a, MPI_Comm b, const char *what_b);

/* A file access property list: MPI-IO over hc->user, or the default POSIX driver. Caller closes it. */
hid_t inb__h5_fapl(const inb__h5comm *hc);

/* Silences HDF5's own error printing (our messages say what failed, once, in inb_errmsg()). */
void inb__h5_quiet(void);

/* The HDF5 native type of a dtype (not to be closed), and the dtype of an HDF5 type: 0 or INB_EINVAL with
 * a message naming `what` (file and dataset) and the type's class. */
hid_t inb__h5_native(inb_dtype t);
int inb__h5_dtype_of(hid_t type, const char *what, inb_dtype *out);

/* The datasets of a file, as ", "-separated paths in buf (for "not found" messages). */
void inb__h5_list_datasets(hid_t file, char *buf, size_t cap);

/* "images" for "/images": the component name of a dataset path (a pointer into path). */
const char *inb__h5_component_name(const char *path);

/* A bitmap of n bits, all clear (inb__free it); NULL when out of memory. Bit i: i / 64, i % 64. */
uint64_t *inb__bits_new(size_t n);
static inline bool inb__bit(const uint64_t *b, size_t i) { return (b[i >> 6] >> (i & 63)) & 1; }
static inline void inb__bit_set(uint64_t *b, size_t i) { b[i >> 6] |= (uint64_t)1 << (i & 63); }
static inline void inb__bit_clear(uint64_t *b, size_t i) { b[i >> 6] &= ~((uint64_t)1 << (i & 63)); }

#endif
