/* libFuzzer target for the wire format: the input is decoded as a message (header, then argument-list and
 * result records), or, when its header does not check out, as bare records after it, so that mutations which
 * change the length still reach the record decoders. Everything decoded is freed. Beyond "no crash, no
 * out-of-range read, no leak" (ASan, UBSan, LSan), every record that decodes must re-pack to exactly the
 * bytes it came from: the encoding is canonical, so a difference means the decoder accepted something the
 * encoder cannot say, or lost something on the way. Built with -fsanitize=fuzzer under clang; under any
 * compiler, corpus_main.c runs it over a corpus directory as a regression test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The record p[start..end) re-packed must be the same bytes. Traps otherwise (a finding, not an error). */
static void check_canonical(const uint8_t *p, size_t start, size_t end, const inb_args *a, const inb__wire_result *r) {
  inb__buf again = {0};
  int rc = a ? inb__wire_pack_args(&again, a) : inb__wire_pack_result(&again, r);
  if (rc == INB_ENOMEM) goto out; /* says nothing about the format */
  if (rc != 0 || again.n != end - start || memcmp(again.p, p + start, again.n) != 0) __builtin_trap();
out:
  inb__buf_release(&again);
}

/* Decodes one record at *off. Returns 0 or the decoder's failure. */
static int decode_record(uint8_t *p, size_t n, size_t *off) {
  int type = 0;
  size_t start = *off;
  int rc = inb__wire_peek(p, n, start, &type);
  if (rc) return rc;
  if (type == INB__WIRE_ARGS) {
    inb_args *a = NULL;
    if ((rc = inb__wire_unpack_args(p, n, off, &a)) == 0) check_canonical(p, start, *off, a, NULL);
    inb_args_free(&a);
  } else {
    inb__wire_result r;
    if ((rc = inb__wire_unpack_result(p, n, off, &r)) == 0) check_canonical(p, start, *off, NULL, &r);
  }
  /* A failed decode must say it was the bytes, and must not move the cursor. */
  if (rc != 0 && (rc != INB_ECORRUPT || *off != start) && rc != INB_ENOMEM) __builtin_trap();
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A malloc'd copy, as a receive buffer is: 8-aligned, and ASan catches a read one byte past it. */
  uint8_t *p = malloc(size ? size : 1);
  if (!p) return 0;
  memcpy(p, data, size); /* libFuzzer's data is never NULL, even when size is 0 */
  uint64_t count = 0;
  size_t off = 0;
  if (inb__wire_get_header(p, size, &count, &off) == 0) {
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < count; i++) rc = decode_record(p, size, &off);
    if (rc == 0) inb__wire_end(size, off);
  } else {
    off = size >= INB__WIRE_HEADER_BYTES && memcmp(p, "INBW", 4) == 0 ? INB__WIRE_HEADER_BYTES : 0;
    while (off < size && decode_record(p, size, &off) == 0) continue;
  }
  free(p);
  return 0;
}
