/* MPI tests of message framing (src/mpi/msg.c, layout in msg.h) against a sender that does not follow it: rank 1
 * sends hand-made first pieces and continuation pieces with raw MPI calls, rank 0 receives them with
 * inb__msg_recv, on a duplicate of MPI_COMM_WORLD whose MPI errors are fatal (so no receive may rely on one).
 * Two ranks, with INB_MPI_PIECE_BYTES=256 and INB_MPI_PIECE_TIMEOUT=2 (ctest sets them).
 *
 * Rank 0 only ever receives, and sends with inb__msg_send (which allocates nothing), so the one allocation site
 * of the library it reaches is the receive buffer's: the out-of-memory tests find it there and make it fail.
 *
 * The ranks stay in step: every exchange ends in barriers, checks are deferred (checks.h) and asserted at the
 * end of a test, rank 1's hand-made frames go out without blocking, and rank 0 drains whatever it did not take
 * before rank 1 waits for them. Every failing receive is followed by a good message in pieces that must arrive
 * intact: a piece of the failed message left behind would be taken for part of it. */
#include "mpitest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mpi/msg.h"

enum { TAG = 70, PIECE = 256, GOOD = 1000, BIG = 6000, MIB = 1 << 20 };

static MPI_Comm g_comm = MPI_COMM_NULL;

static void fill(uint8_t *p, size_t n, unsigned seed) {
  for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(k * 31 + seed * 7 + 1);
}

/* A header written byte by byte as msg.h lays it out: u64 total | u32 piece | "INBM". */
static void put_header(uint8_t *h, uint64_t total, uint32_t piece) {
  memcpy(h, &total, sizeof total);
  memcpy(h + 8, &piece, sizeof piece);
  memcpy(h + 12, "INBM", 4);
}

/* ---- rank 1: hand-made frames, sent without blocking and waited for at the end of the exchange ---------- */

static MPI_Request g_req[16];
static uint8_t *g_copy[16];
static int g_nput;

/* Sends n bytes: a first piece (header h, then `payload` bytes) when h is given, else a continuation piece. */
static void put(const uint8_t *h, size_t payload, int tag) {
  size_t n = (h ? 16 : 0) + payload;
  uint8_t *p = malloc(n ? n : 1);
  if (h) memcpy(p, h, 16);
  fill(p + (h ? 16 : 0), payload, (unsigned)g_nput);
  g_copy[g_nput] = p;
  MPI_Isend(p, (int)n, MPI_BYTE, 0, tag, g_comm, &g_req[g_nput++]);
}

static void put_first(uint64_t total, uint32_t piece, size_t payload) {
  uint8_t h[16];
  put_header(h, total, piece);
  put(h, payload, TAG);
}

static void put_piece(size_t n) { put(NULL, n, TAG + 1); }

static void finish_puts(void) {
  MPI_Waitall(g_nput, g_req, MPI_STATUSES_IGNORE);
  for (int k = 0; k < g_nput; k++) free(g_copy[k]);
  g_nput = 0;
}

/* ---- rank 0 ------------------------------------------------------------------------------------------- */

/* Receives what is waiting for rank 0 in the next 20 ms: nothing should be. Returns the number of messages. */
static long drain_leftovers(void) {
  long left = 0;
  for (int polls = 0; polls < 20; polls++) {
    int flag = 0;
    MPI_Message m;
    MPI_Status st;
    MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, g_comm, &flag, &m, &st);
    if (!flag) {
      sleep_us(1000);
      continue;
    }
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    uint8_t *p = malloc(count ? (size_t)count : 1);
    MPI_Mrecv(p, count, MPI_BYTE, &m, MPI_STATUS_IGNORE);
    free(p);
    left++;
  }
  return left;
}

/* Rank 0: one inb__msg_recv from rank 1 that must fail with `want`; *out must stay NULL. */
static void expect_refused(int want, const char *what) {
  uint8_t *p = (uint8_t *)&p; /* anything but NULL: the call must clear it */
  size_t n = 0;
  int rc = inb__msg_recv(1, TAG, g_comm, &p, &n, NULL);
  expect_rc(rc, want, "%s: inb__msg_recv", what);
  expect_eq(p == NULL, 1, "%s: no buffer is returned", what);
  if (rc == 0) inb__free(p);
}

/* The allocation sites rank 0 has reached in msg.c: their number in *in_msg, and the key of the last one found. */
static void sites_reached(char key[64], long *in_msg) {
  size_t n = inb__fault_nsites();
  *in_msg = 0;
  key[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    char k[64];
    if (inb__fault_site(i, k, sizeof k, NULL) && strncmp(k, "src/mpi/msg.c:", 14) == 0) {
      ++*in_msg;
      snprintf(key, 64, "%s", k);
    }
  }
}

/* ---- both ranks --------------------------------------------------------------------------------------- */

/* After a receive that failed: a good message in pieces sent with inb__msg_send arrives intact, and nothing else
 * is left on the communicator. Collective; ends the exchange. */
static void then_a_good_message_arrives_intact(const char *after) {
  uint8_t want[GOOD];
  fill(want, GOOD, 77);
  MPI_Barrier(MPI_COMM_WORLD); /* rank 0 is done with the failed receive: nothing of this can be taken for it */
  if (g_rank == 1) expect_rc(inb__msg_send(want, GOOD, 0, TAG, g_comm), 0, "%s: rank 1 sends a good message", after);
  if (g_rank == 0) {
    uint8_t *p = NULL;
    size_t n = 0;
    int from = -1;
    int rc = inb__msg_recv(MPI_ANY_SOURCE, TAG, g_comm, &p, &n, &from);
    expect_rc(rc, 0, "%s: the next good message is received", after);
    expect_eq((long)n, GOOD, "%s: the good message's size", after);
    expect_eq(from, 1, "%s: the good message's sender", after);
    expect_eq(p && n == GOOD && memcmp(p, want, GOOD) == 0, 1, "%s: the good message arrives intact", after);
    inb__free(p);
    expect_eq(drain_leftovers(), 0, "%s: messages left over on the communicator", after);
  }
  MPI_Barrier(MPI_COMM_WORLD); /* rank 0 has drained whatever it left: rank 1's sends can complete */
  if (g_rank == 1) finish_puts();
}

/* ---- the tests ---------------------------------------------------------------------------------------- */

static void test_sending_makes_no_heap_allocation(void **state) {
  (void)state;
  reset_checks();
  uint8_t small[100], large[3000];
  fill(small, sizeof small, 1);
  fill(large, sizeof large, 2);
  if (g_rank == 0) {
    expect_rc(inb__msg_send(small, sizeof small, 1, TAG, g_comm), 0, "send 100 bytes");
    expect_rc(inb__msg_send(large, sizeof large, 1, TAG, g_comm), 0, "send 3000 bytes in pieces");
    expect_rc(inb__msg_send(NULL, 0, 1, TAG, g_comm), 0, "send 0 bytes");
  } else {
    const uint8_t *want[] = {small, large, NULL};
    const size_t len[] = {sizeof small, sizeof large, 0};
    for (int k = 0; k < 3; k++) {
      uint8_t *p = NULL;
      size_t n = 0;
      expect_rc(inb__msg_recv(0, TAG, g_comm, &p, &n, NULL), 0, "receive message %d", k);
      expect_eq(p && n == len[k] && (!n || memcmp(p, want[k], n) == 0), 1, "message %d arrives intact", k);
      inb__free(p);
    }
    expect_rc(inb__msg_send(small, sizeof small, 0, TAG, g_comm), 0, "send 100 bytes back");
  }
  if (g_rank == 0) { /* one receive, so that the receive buffer's site is reached too */
    uint8_t *p = NULL;
    size_t n = 0;
    expect_rc(inb__msg_recv(1, TAG, g_comm, &p, &n, NULL), 0, "receive 100 bytes");
    inb__free(p);
    char key[64];
    long in_msg = 0;
    sites_reached(key, &in_msg);
    expect_eq(in_msg, 1, "allocation sites of src/mpi/msg.c rank 0 reached by sending and receiving (only the "
              "receive buffer's may be; last: %s)", key);
    expect_eq(inb__fault_live(), 0, "allocations outstanding on rank 0");
  }
  MPI_Barrier(MPI_COMM_WORLD);
  assert_checks();
}

static void test_a_first_piece_longer_than_its_declared_total_is_refused(void **state) {
  (void)state;
  reset_checks();
  if (g_rank == 1) {
    put_first(10, 0, 100); /* small: received on the stack */
    put_first(10, 0, BIG); /* large: received into the heap */
  } else if (g_rank == 0) {
    expect_refused(INB_ECORRUPT, "100 payload bytes declaring 10");
    expect_errmsg_has("100 payload bytes, more than the 10 its header declares", "100 declaring 10");
    expect_errmsg_has("from rank 1", "100 declaring 10");
    expect_refused(INB_ECORRUPT, "6000 payload bytes declaring 10");
    expect_errmsg_has("6000 payload bytes, more than the 10 its header declares", "6000 declaring 10");
  }
  then_a_good_message_arrives_intact("after first pieces longer than declared");
  assert_checks();
}

static void test_a_message_announcing_more_than_arrives_fails_within_the_timeout(void **state) {
  (void)state;
  reset_checks();
  const char *env = getenv("INB_MPI_PIECE_TIMEOUT");
  double timeout = inb__msg_timeout_ns() / 1e9;
  expect_eq(env && strcmp(env, "2") == 0 && timeout == 2.0, 1, "INB_MPI_PIECE_TIMEOUT is 2 (found %s)",
            env ? env : "nothing");
  if (g_rank == 1) {
    put_first(1000, PIECE, 0); /* four pieces announced, two sent */
    put_piece(PIECE);
    put_piece(PIECE);
  } else if (g_rank == 0) {
    double t0 = MPI_Wtime();
    expect_refused(INB_ECORRUPT, "1000 bytes announced, 512 sent");
    double waited = MPI_Wtime() - t0;
    expect_errmsg_has("announced 1000 bytes but 512 arrived", "1000 announced");
    expect_eq(waited >= timeout, 1, "the receive waited the timeout (%.3f s of %.3f s)", waited, timeout);
    expect_eq(waited < timeout + 5, 1, "the receive failed soon after the timeout (%.3f s of %.3f s)", waited, timeout);
  }
  then_a_good_message_arrives_intact("after a message announcing more than arrived");
  assert_checks();
}

static void test_a_continuation_piece_of_another_size_than_announced_is_refused(void **state) {
  (void)state;
  reset_checks();
  if (g_rank == 1) {
    put_first(600, PIECE, 0); /* pieces of 256, 256, 88 announced */
    put_piece(PIECE);
    put_piece(300); /* longer: would overflow the buffer's end if received */
    put_first(600, PIECE, 0);
    put_piece(100); /* shorter: would leave the receiver waiting for bytes that never come */
  } else if (g_rank == 0) {
    expect_refused(INB_ECORRUPT, "a piece of 300 bytes for 256");
    expect_errmsg_has("continuation piece 2 of 3 has 300 bytes where its header says 256", "300 for 256");
    expect_refused(INB_ECORRUPT, "a piece of 100 bytes for 256");
    expect_errmsg_has("continuation piece 1 of 3 has 100 bytes where its header says 256", "100 for 256");
  }
  then_a_good_message_arrives_intact("after continuation pieces of the wrong size");
  assert_checks();
}

/* Rank 0: the receive buffer's allocation site (a good message received first, so that it has been reached). */
static void find_receive_site(char key[64]) {
  uint8_t one[8] = {0};
  if (g_rank == 1) expect_rc(inb__msg_send(one, sizeof one, 0, TAG, g_comm), 0, "send a warm-up message");
  if (g_rank == 0) {
    uint8_t *p = NULL;
    size_t n = 0;
    long in_msg = 0;
    expect_rc(inb__msg_recv(1, TAG, g_comm, &p, &n, NULL), 0, "receive a warm-up message");
    inb__free(p);
    sites_reached(key, &in_msg);
    expect_eq(in_msg, 1, "allocation sites of src/mpi/msg.c reached by rank 0 (last: %s)", key);
  }
}

static void test_out_of_memory_takes_every_piece_of_the_message_off_the_communicator(void **state) {
  (void)state;
  reset_checks();
  char key[64] = "";
  uint8_t big[5000];
  fill(big, sizeof big, 3);
  find_receive_site(key);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 1) { /* a header and 20 pieces, sent without blocking: rank 0 must take them all */
    uint8_t *p = inb__malloc(sizeof big);
    inb__msg_out o;
    memcpy(p, big, sizeof big);
    expect_rc(inb__msg_isend(p, sizeof big, 0, TAG, g_comm, &o), 0, "isend 5000 bytes");
    MPI_Barrier(MPI_COMM_WORLD);
    expect_rc(inb__msg_wait(&o), 0, "the 5000 bytes are sent");
  } else if (g_rank == 0) {
    long live = inb__fault_live();
    inb__fault_arm(key, 1);
    expect_refused(INB_ENOMEM, "5000 bytes with the receive buffer's allocation failing");
    expect_eq(inb__fault_fired(), 1, "the receive buffer's allocation (%s) failed", key);
    expect_errmsg_has("out of memory for a message of 5000 bytes from rank 1", "5000 bytes");
    inb__fault_arm(NULL, 0);
    expect_eq(inb__fault_live(), live, "allocations outstanding after the failed receive");
    MPI_Barrier(MPI_COMM_WORLD);
  }
  then_a_good_message_arrives_intact("after running out of memory for a message in pieces");
  assert_checks();
}

static void test_out_of_memory_takes_a_large_first_piece_off_the_communicator(void **state) {
  (void)state;
  reset_checks();
  char key[64] = "";
  find_receive_site(key);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 1) {
    put_first(BIG, 0, BIG); /* a whole message in a first piece too large to be received on the stack */
  } else if (g_rank == 0) {
    long live = inb__fault_live();
    inb__fault_arm(key, 1);
    expect_refused(INB_ENOMEM, "a first piece of 6000 bytes with the receive buffer's allocation failing");
    expect_eq(inb__fault_fired(), 1, "the receive buffer's allocation (%s) failed", key);
    expect_errmsg_has("out of memory for a first piece of 6016 bytes from rank 1", "6000 bytes");
    inb__fault_arm(NULL, 0);
    expect_eq(inb__fault_live(), live, "allocations outstanding after the failed receive");
  }
  then_a_good_message_arrives_intact("after running out of memory for a large first piece");
  assert_checks();
}

static void test_out_of_memory_takes_pieces_of_a_mebibyte_off_the_communicator(void **state) {
  (void)state;
  reset_checks();
  char key[64] = "";
  find_receive_site(key);
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 1) { /* pieces far over MPI's eager limits: MPI writes them straight into the receive buffer */
    put_first(MIB * 5 / 2, MIB, 0);
    put_piece(MIB);
    put_piece(MIB);
    put_piece(MIB / 2);
  } else if (g_rank == 0) {
    long live = inb__fault_live();
    inb__fault_arm(key, 1);
    expect_refused(INB_ENOMEM, "2.5 MiB in pieces of 1 MiB with the receive buffer's allocation failing");
    expect_eq(inb__fault_fired(), 1, "the receive buffer's allocation (%s) failed", key);
    expect_errmsg_has("out of memory for a message of 2621440 bytes from rank 1", "2.5 MiB");
    inb__fault_arm(NULL, 0);
    expect_eq(inb__fault_live(), live, "allocations outstanding after the failed receive");
  }
  then_a_good_message_arrives_intact("after running out of memory for pieces of 1 MiB");
  assert_checks();
}

static void test_messages_in_pieces_round_trip(void **state) {
  (void)state;
  reset_checks();
  /* around the largest payload a first piece holds (256 - 16), one piece, and many */
  const size_t sizes[] = {0, 1, 239, 240, 241, 256, 257, 511, 512, 513, 10000};
  static uint8_t want[10000];
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t len = sizes[s];
    fill(want, len, (unsigned)s);
    if (g_rank == 1) { /* there without blocking, back with a blocking send */
      uint8_t *p = inb__malloc(len ? len : 1), *back = NULL;
      size_t n = 0;
      inb__msg_out o;
      memcpy(p, want, len);
      expect_rc(inb__msg_isend(p, len, 0, TAG, g_comm, &o), 0, "%zu bytes: isend", len);
      expect_rc(inb__msg_wait(&o), 0, "%zu bytes: wait", len);
      expect_rc(inb__msg_recv(0, TAG, g_comm, &back, &n, NULL), 0, "%zu bytes: receive them back", len);
      expect_eq(back && n == len && memcmp(back, want, len) == 0, 1, "%zu bytes: back intact", len);
      inb__free(back);
    } else if (g_rank == 0) {
      uint8_t *p = NULL;
      size_t n = 0;
      int from = -1;
      expect_rc(inb__msg_recv(1, TAG, g_comm, &p, &n, &from), 0, "%zu bytes: receive", len);
      expect_eq(p && n == len && memcmp(p, want, len) == 0, 1, "%zu bytes: intact (got %zu)", len, n);
      expect_eq((uintptr_t)p % 8, 0, "%zu bytes: the buffer is 8-byte aligned", len);
      expect_rc(inb__msg_send(p, n, 1, TAG, g_comm), 0, "%zu bytes: send them back", len);
      inb__free(p);
    }
  }
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) expect_eq(drain_leftovers(), 0, "messages left over on the communicator");
  assert_checks();
}

int main(int argc, char **argv) {
  inb__fault_enable(); /* before any other library call: allocations are counted from the start */
  if (start_ranks(&argc, &argv) != 0) return 1;
  MPI_Comm_dup(MPI_COMM_WORLD, &g_comm);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sending_makes_no_heap_allocation),
      cmocka_unit_test(test_a_first_piece_longer_than_its_declared_total_is_refused),
      cmocka_unit_test(test_a_message_announcing_more_than_arrives_fails_within_the_timeout),
      cmocka_unit_test(test_a_continuation_piece_of_another_size_than_announced_is_refused),
      cmocka_unit_test(test_out_of_memory_takes_every_piece_of_the_message_off_the_communicator),
      cmocka_unit_test(test_out_of_memory_takes_a_large_first_piece_off_the_communicator),
      cmocka_unit_test(test_out_of_memory_takes_pieces_of_a_mebibyte_off_the_communicator),
      cmocka_unit_test(test_messages_in_pieces_round_trip),
  };
  int status = 1;
  if (g_size != 2) {
    if (g_rank == 0) fprintf(stderr, "mpi.test_frames: run on 2 ranks (found %d)\n", g_size);
  } else {
    status = run_group("mpi.test_frames", tests, sizeof tests / sizeof tests[0], QUIET_STDOUT | QUIET_STDERR);
  }
  MPI_Comm_free(&g_comm);
  inb_mpi_finalize();
  return status;
}
