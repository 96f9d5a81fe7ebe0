/* Internal: what the HDF5 input, output and run share: dtype mapping, file access over MPI-IO or POSIX,
 * error messages that name the file and dataset, and status agreement when a communicator is in use. */
#ifndef INB_DATA_H5COMMON_H
#define INB_DATA_H5COMMON_H

#include <hdf5.h>
#include <mpi.h>

#include <inbatch/h5.h>

/* The communicator a data object works over: the caller's (or WORLD) when MPI is running and it has more than
 * one rank, else none (size 1, POSIX files, no collectives). */
typedef struct {
  MPI_Comm comm;  /* MPI_COMM_NULL when alone */
  int rank, size;
} inb__h5comm;

/* Resolves `comm` (an MPI_Comm* or NULL) as above. Never fails. */
void inb__h5comm_init(inb__h5comm *hc, void *comm);

/* Agrees on rc across hc's ranks (inb__mpi_agree); returns rc alone. Collective when there is a comm. */
int inb__h5_agree(const inb__h5comm *hc, int rc);

/* A file access property list: MPI-IO over hc->comm, or the default POSIX driver. Caller closes it. */
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

#endif
