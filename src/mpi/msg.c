/* Messages larger than an int can count: a first piece with the total, then continuation pieces. */
#include "mpi/msg.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "mpi/comm.h"

#define HEAD 16 /* the first piece starts with the total payload size (8 bytes, padded to keep alignment) */

size_t inb__msg_piece(void) {
  static size_t piece;
  if (!piece) {
    const char *env = getenv("INB_MPI_PIECE_BYTES");
    long long v = env ? atoll(env) : 0;
    piece = v >= 64 && v <= (1LL << 30) ? (size_t)v : (size_t)1 << 30;
  }
  return piece;
}

/* Starts the pieces of p[0..n): the first (a copy behind the header) and the continuations (from p itself). */
static int start(const void *p, size_t n, int dest, int tag, MPI_Comm comm, inb__msg_out *o) {
  size_t piece = inb__msg_piece();
  size_t first = n < piece - HEAD ? n : piece - HEAD;
  size_t npieces = 1 + (n - first + piece - 1) / piece;
  o->head = inb__malloc(HEAD + first);
  o->req = inb__malloc(npieces * sizeof *o->req);
  o->nreq = 0;
  if (!o->head || !o->req) return inb__err(INB_ENOMEM, "out of memory for a message of %zu bytes", n);
  uint64_t total = n;
  memset(o->head, 0, HEAD);
  memcpy(o->head, &total, sizeof total);
  if (first) memcpy(o->head + HEAD, p, first);
  int rc = MPI_Isend(o->head, (int)(HEAD + first), MPI_BYTE, dest, tag, comm, &o->req[o->nreq++]);
  for (size_t off = first; rc == MPI_SUCCESS && off < n; off += piece) {
    size_t len = n - off < piece ? n - off : piece;
    rc = MPI_Isend((const uint8_t *)p + off, (int)len, MPI_BYTE, dest, tag + 1, comm, &o->req[o->nreq++]);
  }
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Isend");
}

static void release_out(inb__msg_out *o) {
  inb__free(o->head);
  inb__free(o->req);
  inb__free(o->owned);
  *o = (inb__msg_out){0};
}

int inb__msg_isend(uint8_t *p, size_t n, int dest, int tag, MPI_Comm comm, inb__msg_out *o) {
  *o = (inb__msg_out){.owned = p};
  int rc = start(p, n, dest, tag, comm, o);
  if (rc) {
    if (o->nreq) MPI_Waitall(o->nreq, o->req, MPI_STATUSES_IGNORE); /* nothing may still read the buffers */
    release_out(o);
  }
  return rc;
}

int inb__msg_test(inb__msg_out *o, int *done) {
  *done = 0;
  int rc = MPI_Testall(o->nreq, o->req, done, MPI_STATUSES_IGNORE);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Testall");
  if (*done) release_out(o);
  return 0;
}

int inb__msg_wait(inb__msg_out *o) {
  int rc = o->nreq ? MPI_Waitall(o->nreq, o->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
  release_out(o);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Waitall");
}

int inb__msg_send(const void *p, size_t n, int dest, int tag, MPI_Comm comm) {
  inb__msg_out o = {0};
  int rc = start(p, n, dest, tag, comm, &o);
  int wrc = inb__msg_wait(&o);
  return rc ? rc : wrc;
}

/* Receives the matched first piece and the continuation pieces that follow it. */
static int recv_matched(MPI_Message *m, MPI_Status *st, int tag, MPI_Comm comm, uint8_t **out, size_t *n) {
  int count = 0;
  MPI_Get_count(st, MPI_BYTE, &count);
  uint8_t *first = inb__malloc(count > 0 ? (size_t)count : 1);
  if (!first) return inb__err(INB_ENOMEM, "out of memory for a message of %d bytes", count);
  int rc = MPI_Mrecv(first, count, MPI_BYTE, m, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS || count < HEAD) {
    inb__free(first);
    return rc != MPI_SUCCESS ? inb__mpi_fail(rc, "MPI_Mrecv") : inb__err(INB_ECORRUPT, "a message of %d bytes has no header", count);
  }
  uint64_t total;
  memcpy(&total, first, sizeof total);
  uint8_t *buf = inb__malloc(total ? total : 1);
  if (!buf) {
    inb__free(first);
    return inb__err(INB_ENOMEM, "out of memory for a message of %llu bytes", (unsigned long long)total);
  }
  size_t got = (size_t)count - HEAD;
  memcpy(buf, first + HEAD, got);
  inb__free(first);
  size_t piece = inb__msg_piece();
  for (; rc == MPI_SUCCESS && got < total; got += piece) {
    size_t len = total - got < piece ? total - got : piece;
    rc = MPI_Recv(buf + got, (int)len, MPI_BYTE, st->MPI_SOURCE, tag + 1, comm, MPI_STATUS_IGNORE);
  }
  if (rc != MPI_SUCCESS) {
    inb__free(buf);
    return inb__mpi_fail(rc, "MPI_Recv");
  }
  *out = buf;
  *n = total;
  return 0;
}

int inb__msg_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from) {
  MPI_Message m;
  MPI_Status st;
  *out = NULL;
  int rc = MPI_Mprobe(source, tag, comm, &m, &st);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Mprobe");
  if (from) *from = st.MPI_SOURCE;
  return recv_matched(&m, &st, tag, comm, out, n);
}

int inb__msg_try_recv(int source, int tag, MPI_Comm comm, uint8_t **out, size_t *n, int *from) {
  MPI_Message m;
  MPI_Status st;
  int flag = 0;
  *out = NULL;
  int rc = MPI_Improbe(source, tag, comm, &flag, &m, &st);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Improbe");
  if (!flag) return 1;
  if (from) *from = st.MPI_SOURCE;
  return recv_matched(&m, &st, tag, comm, out, n);
}

int inb__msg_bcast(uint8_t **p, size_t *n, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  uint64_t total = rank == 0 ? *n : 0;
  int rc = MPI_Bcast(&total, 1, MPI_UINT64_T, 0, comm);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Bcast");
  int ok = 1;
  if (rank != 0) {
    *p = inb__malloc(total ? total : 1);
    *n = total;
    ok = *p != NULL;
  }
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, comm);
  if (!ok) {
    if (rank != 0) inb__free(*p), *p = NULL;
    return inb__err(INB_ENOMEM, "out of memory for a broadcast of %llu bytes", (unsigned long long)total);
  }
  size_t piece = inb__msg_piece();
  for (size_t off = 0; rc == MPI_SUCCESS && off < total; off += piece) {
    size_t len = total - off < piece ? total - off : piece;
    rc = MPI_Bcast(*p + off, (int)len, MPI_BYTE, 0, comm);
  }
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Bcast");
}
