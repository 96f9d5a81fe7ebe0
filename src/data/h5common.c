/* Shared pieces of the HDF5 data layer. */
#include "data/h5common.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "mpi/comm.h"

void inb__h5comm_resolve(inb__h5comm *hc, void *comm) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  *hc = (inb__h5comm){.user = MPI_COMM_NULL, .comm = MPI_COMM_NULL, .rank = 0, .size = 1};
  if (!inited || finalized) return;
  hc->user = comm ? *(MPI_Comm *)comm : MPI_COMM_WORLD;
  MPI_Comm_size(hc->user, &hc->size);
  MPI_Comm_rank(hc->user, &hc->rank);
}

int inb__h5_enter(inb__h5comm *hc, int rc, uint64_t digest, const char *what, inb__ecomm **held) {
  *held = NULL;
  if (hc->size < 2) return rc;
  int erc = inb__mpi_enter(hc->user, INB_ARRIVAL_TIMEOUT_MS, held, &hc->comm);
  if (erc) return erc;
  rc = inb__mpi_agree_entry(*held, rc, digest, INB_ARRIVAL_TIMEOUT_MS, what);
  if (rc) {
    inb__mpi_leave(*held);
    *held = NULL;
  }
  return rc;
}

void inb__h5_leave(inb__ecomm *held) { inb__mpi_leave(held); }

int inb__h5_agree(const inb__h5comm *hc, int rc) {
  return hc->comm == MPI_COMM_NULL ? rc : inb__mpi_agree(rc, hc->comm);
}

int inb__h5_share(const inb__h5comm *hc, int rc) {
  return hc->comm == MPI_COMM_NULL ? rc : inb__mpi_share_status(rc, hc->comm);
}

void inb__h5_barrier(const inb__h5comm *hc) {
  if (hc->comm != MPI_COMM_NULL) MPI_Barrier(hc->comm);
}

/* A communicator's size; 1 for MPI_COMM_NULL (an object made while MPI was not running: this process alone). */
static int comm_size(MPI_Comm c) {
  int size = 1;
  if (c != MPI_COMM_NULL) MPI_Comm_size(c, &size);
  return size;
}

int inb__h5_same_group(MPI_Comm a, const char *what_a, MPI_Comm b, const char *what_b) {
  int na = comm_size(a), nb = comm_size(b), cmp = MPI_UNEQUAL;
  if (na == 1 && nb == 1) return 0; /* this process alone, either way */
  if (a != MPI_COMM_NULL && b != MPI_COMM_NULL) MPI_Comm_compare(a, b, &cmp);
  if (cmp == MPI_IDENT || cmp == MPI_CONGRUENT) return 0;
  return inb__err(INB_EINVAL, "%s is on a communicator of %d rank%s and %s on one of %d rank%s%s: they must be the "
                              "same group of ranks, in the same order (their collective calls would not match)",
                  what_a, na, na == 1 ? "" : "s", what_b, nb, nb == 1 ? "" : "s",
                  na == nb ? " (other ranks, or in another order)" : "");
}

hid_t inb__h5_fapl(const inb__h5comm *hc) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl >= 0 && hc->comm != MPI_COMM_NULL) H5Pset_fapl_mpio(fapl, hc->user, MPI_INFO_NULL);
  return fapl;
}

void inb__h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

hid_t inb__h5_native(inb_dtype t) {
  switch (t) {
  case INB_I8: return H5T_NATIVE_INT8;
  case INB_U8: return H5T_NATIVE_UINT8;
  case INB_I16: return H5T_NATIVE_INT16;
  case INB_U16: return H5T_NATIVE_UINT16;
  case INB_I32: return H5T_NATIVE_INT32;
  case INB_U32: return H5T_NATIVE_UINT32;
  case INB_I64: return H5T_NATIVE_INT64;
  case INB_U64: return H5T_NATIVE_UINT64;
  case INB_F32: return H5T_NATIVE_FLOAT;
  case INB_F64: return H5T_NATIVE_DOUBLE;
  }
  return H5I_INVALID_HID;
}

static const char *class_name(H5T_class_t c) {
  switch (c) {
  case H5T_STRING: return "string";
  case H5T_COMPOUND: return "compound";
  case H5T_ENUM: return "enum";
  case H5T_VLEN: return "variable-length";
  case H5T_ARRAY: return "array";
  case H5T_OPAQUE: return "opaque";
  case H5T_REFERENCE: return "reference";
  case H5T_BITFIELD: return "bitfield";
  case H5T_TIME: return "time";
  default: return "unknown";
  }
}

int inb__h5_dtype_of(hid_t type, const char *what, inb_dtype *out) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    static const inb_dtype s[] = {INB_I8, INB_I16, 0, INB_I32, 0, 0, 0, INB_I64};
    static const inb_dtype u[] = {INB_U8, INB_U16, 0, INB_U32, 0, 0, 0, INB_U64};
    if (size == 1 || size == 2 || size == 4 || size == 8) {
      *out = is_signed ? s[size - 1] : u[size - 1];
      return 0;
    }
  } else if (cls == H5T_FLOAT && (size == 4 || size == 8)) {
    *out = size == 4 ? INB_F32 : INB_F64;
    return 0;
  }
  if (cls == H5T_STRING && H5Tis_variable_str(type) > 0) /* its size is a pointer's, which says nothing */
    return inb__err(INB_EINVAL, "%s: unsupported dtype (variable-length string; expected integers of 1-8 bytes, "
                                "float32 or float64)", what);
  return inb__err(INB_EINVAL, "%s: unsupported dtype (%s of %zu bytes; expected integers of 1-8 bytes, float32 or "
                              "float64)", what, class_name(cls), size);
}

typedef struct {
  char *buf;
  size_t cap, used;
} listing;

static herr_t add_dataset(hid_t obj, const char *name, const H5O_info_t *info, void *op_data) {
  (void)obj;
  listing *l = op_data;
  if (info->type != H5O_TYPE_DATASET || l->used >= l->cap) return 0;
  l->used += (size_t)snprintf(l->buf + l->used, l->cap - l->used, "%s/%s", l->used ? ", " : "", name);
  return 0;
}

void inb__h5_list_datasets(hid_t file, char *buf, size_t cap) {
  listing l = {buf, cap, 0};
  buf[0] = '\0';
  H5Ovisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, add_dataset, &l);
  if (!l.used) snprintf(buf, cap, "no datasets");
}

const char *inb__h5_component_name(const char *path) {
  while (*path == '/') path++;
  return path;
}

uint64_t *inb__bits_new(size_t n) { return inb__calloc(n / 64 + 1, sizeof(uint64_t)); }
