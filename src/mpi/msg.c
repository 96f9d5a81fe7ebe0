/* Messages larger than an int can count: a first piece with a header, then continuation pieces (the framing is
 * documented in msg.h). The receiver checks every size before it receives a byte, and never waits forever for
 * a piece that was announced. */
#include "mpi/msg.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "mpi/comm.h"

#define HEAD INB__MSG_HEAD
static const uint8_t MAGIC[4] = {'I', 'N', 'B', 'M'};

typedef unsigned long long ull; /* for printing u64 fields portably */

size_t inb__msg_piece(void) {
  static _Atomic size_t piece;
  size_t v = atomic_load_explicit(&piece, memory_order_relaxed);
  if (!v) {
    const char *env = getenv("INB_MPI_PIECE_BYTES");
    long long e = env ? atoll(env) : 0;
    v = e >= INB__MSG_PIECE_MIN && e <= INB__MSG_PIECE_MAX ? (size_t)e : (size_t)INB__MSG_PIECE_MAX;
    atomic_store_explicit(&piece, v, memory_order_relaxed);
  }
  return v;
}

int64_t inb__msg_timeout_ns(void) {
  static _Atomic int64_t timeout;
  int64_t v = atomic_load_explicit(&timeout, memory_order_relaxed);
  if (!v) {
    const char *env = getenv("INB_MPI_PIECE_TIMEOUT");
    double s = env ? strtod(env, NULL) : 0;
    if (!(s > 0) || !isfinite(s) || s > 1e9) s = INB__MSG_TIMEOUT_DEFAULT_S; /* also NaN and garbage (0) */
    v = (int64_t)(s * 1e9);
    if (v < 1) v = 1;
    atomic_store_explicit(&timeout, v, memory_order_relaxed);
  }
  return v;
}

/* ---- the framing ----------------------------------------------------------------------------------------- */

void inb__msg_put_head(uint8_t head[INB__MSG_HEAD], uint64_t total, size_t piece) {
  uint32_t p32 = (uint32_t)piece;
  memcpy(head, &total, sizeof total);
  memcpy(head + 8, &p32, sizeof p32);
  memcpy(head + 12, MAGIC, sizeof MAGIC);
}

/* Sets inb_errmsg() to "message framing: <detail>" and returns INB_ECORRUPT. */
__attribute__((format(printf, 1, 2))) static int corrupt(const char *fmt, ...) {
  char detail[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return inb__err(INB_ECORRUPT, "message framing: %s", detail);
}

int inb__msg_parse_first(const uint8_t *p, size_t n, inb__msg_frame *f) {
  *f = (inb__msg_frame){0};
  if (n < HEAD) return corrupt("a first piece of %zu bytes is shorter than its %d-byte header", n, HEAD);
  if (memcmp(p + 12, MAGIC, sizeof MAGIC) != 0)
    return corrupt("a first piece of %zu bytes has %02x %02x %02x %02x where its header ends with \"INBM\": "
                   "not a framed message", n, p[12], p[13], p[14], p[15]);
  uint64_t total;
  uint32_t piece;
  memcpy(&total, p, sizeof total);
  memcpy(&piece, p + 8, sizeof piece);
  size_t payload = n - HEAD;
  if (payload > total)
    return corrupt("a first piece carries %zu payload bytes, more than the %llu its header declares", payload,
                   (ull)total);
#if SIZE_MAX < UINT64_MAX
  if (total > SIZE_MAX) return corrupt("a header declares %llu bytes, more than this machine can address", (ull)total);
#endif
  if (payload == total) { /* the whole message (or an empty one) */
    if (piece)
      return corrupt("a first piece holding all %llu payload bytes declares continuation pieces of %u bytes",
                     (ull)total, (unsigned)piece);
    f->total = total;
    f->in_first = payload;
    return 0;
  }
  if (payload)
    return corrupt("a first piece carries %zu of the %llu payload bytes its header declares: it must hold all of "
                   "them or none", payload, (ull)total);
  if (piece < INB__MSG_PIECE_MIN || piece > INB__MSG_PIECE_MAX)
    return corrupt("a header declares %llu bytes in continuation pieces of %u bytes (a piece size is %d to %d)",
                   (ull)total, (unsigned)piece, INB__MSG_PIECE_MIN, INB__MSG_PIECE_MAX);
  f->total = total;
  f->piece = piece;
  f->pieces = total / piece + (total % piece != 0);
  return 0;
}

size_t inb__msg_piece_len(const inb__msg_frame *f, uint64_t i) {
  uint64_t rest = f->total - f->in_first - i * f->piece;
  return rest < f->piece ? (size_t)rest : f->piece;
}

/* ---- sending --------------------------------------------------------------------------------------------- */

/* Whether a payload of n bytes travels inside its first piece (a copy, so only a small one), else after it. */
static bool whole(size_t n, size_t piece) {
  size_t most = piece < INB__MSG_INLINE ? piece : INB__MSG_INLINE;
  return n <= most - HEAD;
}

static size_t npieces(size_t n, size_t piece) { return whole(n, piece) ? 0 : n / piece + (n % piece != 0); }

int inb__msg_send(const void *p, size_t n, int dest, int tag, MPI_Comm comm) {
  _Alignas(16) uint8_t first[INB__MSG_INLINE];
  size_t piece = inb__msg_piece();
  bool in_first = whole(n, piece);
  size_t len = in_first ? n : 0;
  inb__msg_put_head(first, n, in_first ? 0 : piece);
  if (len) memcpy(first + HEAD, p, len);
  /* One piece after the other: the receiver takes them in this order, so each blocking send is matched. */
  int rc = MPI_Send(first, (int)(HEAD + len), MPI_BYTE, dest, tag, comm);
  for (size_t off = len; rc == MPI_SUCCESS && off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    rc = MPI_Send((const uint8_t *)p + off, (int)k, MPI_BYTE, dest, tag + 1, comm);
  }
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Send");
}

static void release_out(inb__msg_out *o) {
  inb__free(o->req); /* head lives in the same block */
  inb__free(o->owned);
  *o = (inb__msg_out){0};
}

int inb__msg_isend(uint8_t *p, size_t n, int dest, int tag, MPI_Comm comm, inb__msg_out *o) {
  *o = (inb__msg_out){.owned = p};
  size_t piece = inb__msg_piece(), more = npieces(n, piece), len = more ? 0 : n;
  /* The first piece must stay where MPI reads it until the send completes, and callers move *o (a queue of
   * them grows and is compacted): so it goes on the heap, with the requests, not inside *o. */
  o->req = inb__malloc((1 + more) * sizeof *o->req + HEAD + len);
  if (!o->req) {
    release_out(o);
    return inb__err(INB_ENOMEM, "out of memory for sending a message of %zu bytes", n);
  }
  o->head = (uint8_t *)(o->req + 1 + more);
  inb__msg_put_head(o->head, n, more ? piece : 0);
  if (len) memcpy(o->head + HEAD, p, len);
  int rc = MPI_Isend(o->head, (int)(HEAD + len), MPI_BYTE, dest, tag, comm, &o->req[o->nreq++]);
  for (size_t off = len; rc == MPI_SUCCESS && off < n; off += piece) {
    size_t k = n - off < piece ? n - off : piece;
    rc = MPI_Isend(p + off, (int)k, MPI_BYTE, dest, tag + 1, comm, &o->req[o->nreq++]);
  }
  if (rc == MPI_SUCCESS) return 0;
  rc = inb__mpi_fail(rc, "MPI_Isend");
  o->nreq--; /* the failed call made no request */
  if (o->nreq) MPI_Waitall(o->nreq, o->req, MPI_STATUSES_IGNORE); /* nothing may still read the buffers */
  release_out(o);
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

/* ---- receiving ------------------------------------------------------------------------------------------- */

/* Where every received payload is allocated: one site, so that a test can make exactly this allocation fail. */
static uint8_t *new_buffer(size_t n) { return inb__malloc(n ? n : 1); }

/* Prefixes inb_errmsg() with the message it is about; returns rc. */
static int about(int rc, int source, int tag) {
  return inb__err(rc, "a message from rank %d (tag %d): %s", source, tag, inb_errmsg());
}

/* Takes the matched message *m of `count` bytes off the communicator without a buffer of its size: it lands in a
 * small scratch buffer, block after block at the same address, through a receive datatype whose blocks all start
 * there. MPI calls overlapping receive entries erroneous, but each byte is written inside the scratch and
 * nowhere else. A receive of 0 bytes (a truncation) would be the other way, and it is not safe: Open MPI 4.1
 * writes a truncated message over its eager limit (4 KiB in shared memory) past the end of the buffer. */
static int drop(MPI_Message *m, int count) {
  enum { SCRATCH = 4096 };
  _Alignas(16) uint8_t scratch[SCRATCH];
  if (count <= SCRATCH) {
    int rc = MPI_Mrecv(scratch, count, MPI_BYTE, m, MPI_STATUS_IGNORE);
    return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Mrecv of a message to drop");
  }
  MPI_Datatype blocks = MPI_DATATYPE_NULL, all = MPI_DATATYPE_NULL;
  int lens[2] = {1, count % SCRATCH};
  MPI_Aint at[2] = {0, 0};
  int rc = MPI_Type_create_hvector(count / SCRATCH, SCRATCH, 0, MPI_BYTE, &blocks);
  if (rc == MPI_SUCCESS) rc = MPI_Type_create_struct(2, lens, at, (MPI_Datatype[]){blocks, MPI_BYTE}, &all);
  if (rc == MPI_SUCCESS) rc = MPI_Type_commit(&all);
  if (rc == MPI_SUCCESS) rc = MPI_Mrecv(scratch, 1, all, m, MPI_STATUS_IGNORE);
  if (all != MPI_DATATYPE_NULL) MPI_Type_free(&all);
  if (blocks != MPI_DATATYPE_NULL) MPI_Type_free(&blocks);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Mrecv of a message to drop");
}

/* Waits until the next piece from `source` on `tag` is there or `deadline` (inb__now_ns) passes; *found says
 * which, and *m and *count are the piece when found. Polls: a blocking probe could wait forever. */
static int await_piece(int source, int tag, MPI_Comm comm, int64_t deadline, MPI_Message *m, int *count,
                       int *found) {
  long sleep_ns = 1000;
  for (int polls = 0;; polls++) {
    MPI_Status st;
    int rc = MPI_Improbe(source, tag, comm, found, m, &st);
    if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Improbe");
    if (*found) {
      rc = MPI_Get_count(&st, MPI_BYTE, count);
      if (rc == MPI_SUCCESS && *count != MPI_UNDEFINED) return 0;
      return inb__err(INB_EMPI, "MPI_Get_count of a piece from rank %d failed", source);
    }
    int64_t left = deadline - inb__now_ns();
    if (left <= 0) return 0;
    /* Pieces are sent back to back, so the next one is nearly always there at once; when it is not, the
     * sender is slow or gone, and growing sleeps (to 1 ms) leave the core to the rest of the rank. */
    if (polls < 64) continue;
    struct timespec ts = {0, sleep_ns < left ? sleep_ns : (long)left};
    nanosleep(&ts, NULL);
    if (sleep_ns < 1000000) sleep_ns *= 2;
  }
}

/* Receives the continuation pieces of f from `source` on tag+1 into buf + f->in_first, or drops them when buf
 * is NULL. Each piece's size is checked before it is received; the first one that is wrong is dropped and ends
 * the message. */
static int recv_pieces(const inb__msg_frame *f, uint8_t *buf, int source, int tag, MPI_Comm comm) {
  uint64_t got = f->in_first;
  int64_t wait = inb__msg_timeout_ns();
  for (uint64_t i = 0; i < f->pieces; i++) {
    size_t want = inb__msg_piece_len(f, i);
    MPI_Message m;
    int count = 0, found = 0;
    int rc = await_piece(source, tag + 1, comm, inb__now_ns() + wait, &m, &count, &found);
    if (rc) return rc;
    if (!found)
      return inb__err(INB_ECORRUPT, "a message from rank %d (tag %d) announced %llu bytes but %llu arrived: no "
                      "piece came within %g s (INB_MPI_PIECE_TIMEOUT)", source, tag, (ull)f->total, (ull)got,
                      (double)wait / 1e9);
    if ((size_t)count != want) {
      rc = drop(&m, count);
      return rc ? rc : inb__err(INB_ECORRUPT, "a message from rank %d (tag %d): continuation piece %llu of %llu has "
                                "%d bytes where its header says %zu", source, tag, (ull)i + 1, (ull)f->pieces,
                                count, want);
    }
    if (!buf) rc = drop(&m, count);
    else if ((rc = MPI_Mrecv(buf + got, count, MPI_BYTE, &m, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
      rc = inb__mpi_fail(rc, "MPI_Mrecv");
    if (rc) return rc;
    got += want;
  }
  return 0;
}

/* Receives the matched first piece *m (described by *st) and the continuation pieces that follow it. */
static int recv_matched(MPI_Message *m, const MPI_Status *st, int tag, MPI_Comm comm, uint8_t **out, size_t *n) {
  int source = st->MPI_SOURCE, count = 0;
  int rc = MPI_Get_count(st, MPI_BYTE, &count);
  if (rc != MPI_SUCCESS || count == MPI_UNDEFINED)
    return inb__err(INB_EMPI, "MPI_Get_count of a message from rank %d failed", source);
  inb__msg_frame f;
  uint8_t *buf = NULL;
  if (count <= INB__MSG_INLINE) { /* a small first piece, or a header: parsed before anything is allocated */
    _Alignas(16) uint8_t first[INB__MSG_INLINE];
    rc = MPI_Mrecv(first, count, MPI_BYTE, m, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Mrecv");
    if ((rc = inb__msg_parse_first(first, (size_t)count, &f))) return about(rc, source, tag);
    if (!(buf = new_buffer(f.total))) {
      *n = (size_t)f.total; /* what was lost: a caller's protocol may tell a stop from a chunk by it */
      rc = recv_pieces(&f, NULL, source, tag, comm); /* nothing of it may be left for the next receive */
      return rc ? rc : inb__err(INB_ENOMEM, "out of memory for a message of %llu bytes from rank %d (tag %d): "
                                "its pieces were received and dropped", (ull)f.total, source, tag);
    }
    memcpy(buf, first + HEAD, f.in_first);
  } else { /* a large first piece: it must hold its whole message (parse checks), so it is the buffer */
    if (!(buf = new_buffer((size_t)count))) {
      *n = (size_t)count - HEAD; /* such a first piece holds its whole message */
      rc = drop(m, count);
      return rc ? rc : inb__err(INB_ENOMEM, "out of memory for a first piece of %d bytes from rank %d (tag %d): it "
                                "was received and dropped", count, source, tag);
    }
    rc = MPI_Mrecv(buf, count, MPI_BYTE, m, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) rc = inb__mpi_fail(rc, "MPI_Mrecv");
    else if ((rc = inb__msg_parse_first(buf, (size_t)count, &f))) rc = about(rc, source, tag);
    if (rc) goto out;
    memmove(buf, buf + HEAD, f.in_first);
  }
  rc = recv_pieces(&f, buf, source, tag, comm);
out:
  if (rc) {
    inb__free(buf);
    return rc;
  }
  *out = buf;
  *n = (size_t)f.total;
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
  int mrc = INB__MPI(MPI_Bcast(&total, 1, MPI_UINT64_T, 0, comm));
  int ok = mrc == MPI_SUCCESS;
  if (ok && rank != 0) {
    *p = inb__malloc(total ? total : 1);
    *n = total;
    ok = *p != NULL;
  }
  int arc = MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, comm); /* no rank is left in a piece */
  if (arc != MPI_SUCCESS) ok = 0;
  if (!ok) {
    if (rank != 0) inb__free(*p), *p = NULL;
    if (mrc != MPI_SUCCESS || arc != MPI_SUCCESS) return inb__mpi_fail(mrc != MPI_SUCCESS ? mrc : arc, "MPI_Bcast");
    return inb__err(INB_ENOMEM, "out of memory for a broadcast of %llu bytes", (unsigned long long)total);
  }
  size_t piece = inb__msg_piece();
  for (size_t off = 0; off < total; off += piece) { /* every piece, even after a failure: the ranks stay in step */
    size_t len = total - off < piece ? total - off : piece;
    int prc = INB__MPI(MPI_Bcast(*p + off, (int)len, MPI_BYTE, 0, comm));
    if (mrc == MPI_SUCCESS) mrc = prc;
  }
  return mrc == MPI_SUCCESS ? 0 : inb__mpi_fail(mrc, "MPI_Bcast");
}
