/* libFuzzer target for message framing (src/mpi/msg.c): the input is a first piece as a receiver gets it, and
 * inb__msg_parse_first must accept it with a description that adds up, or refuse it with INB_ECORRUPT. Beyond
 * "no crash, no out-of-range read" (ASan, UBSan), what it accepts must be a frame the sender could make: the
 * header re-written from the description is the same 16 bytes, the payload is all or nothing of the first
 * piece, and the continuation pieces announced add up to the rest of the total. Built with -fsanitize=fuzzer
 * under clang; under any compiler, corpus_main.c runs it over tests/fuzz/frames_corpus as a regression test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <inbatch.h>

#include "mpi/msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding, not an error: stop where the debugger and the fuzzer's report can see it. */
static void check(int ok) {
  if (!ok) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A malloc'd copy of exactly the bytes received: ASan catches a read one byte past it. */
  uint8_t *p = malloc(size ? size : 1);
  if (!p) return 0;
  memcpy(p, data, size);
  inb__msg_frame f;
  memset(&f, 0xa5, sizeof f); /* the call must set every field, also when it refuses */
  int rc = inb__msg_parse_first(p, size, &f);
  if (rc != 0) {
    check(rc == INB_ECORRUPT);
    check(strncmp(inb_errmsg(), "message framing: ", 17) == 0);
    check(f.total == 0 && f.in_first == 0 && f.piece == 0 && f.pieces == 0);
    goto out;
  }
  check(size >= INB__MSG_HEAD && f.in_first == size - INB__MSG_HEAD);
  if (f.pieces == 0) {
    check(f.in_first == f.total && f.piece == 0);
  } else {
    check(f.in_first == 0 && f.piece >= INB__MSG_PIECE_MIN && f.piece <= INB__MSG_PIECE_MAX);
    size_t last = inb__msg_piece_len(&f, f.pieces - 1);
    check(last > 0 && last <= f.piece);
    check((f.pieces - 1) * f.piece == f.total - last); /* cannot overflow: at most total */
    check(inb__msg_piece_len(&f, 0) == (f.pieces == 1 ? last : f.piece));
  }
  uint8_t again[INB__MSG_HEAD];
  inb__msg_put_head(again, f.total, f.piece);
  check(memcmp(again, p, INB__MSG_HEAD) == 0);
out:
  free(p);
  return 0;
}
