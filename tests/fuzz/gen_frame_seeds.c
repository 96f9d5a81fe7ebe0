/* Writes the seed corpus of the framing fuzzer (fuzz_frames.c): first pieces a sender makes (empty, small,
 * header-only announcing pieces) and ones a receiver must refuse (each broken in one way, named bad_*), so that
 * mutation starts from both sides of every check. Either way, each seed must parse as its name says.
 *   gen_frame_seeds DIR          (re)writes DIR/<name>.bin
 *   gen_frame_seeds --check DIR  fails unless DIR holds exactly these bytes (ctest fuzz.frame_seeds: a change of
 *                                the framing must come with new seeds) */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <inbatch.h>

#include "mpi/msg.h"
#include "seed_corpus.h"

enum { MAX_SEED = 256 };

typedef struct {
  const char *name;
  uint64_t total;
  uint32_t piece;
  size_t payload;  /* bytes after the header */
  int broken;      /* 0, or which header byte to flip */
} seed;

static const seed seeds[] = {
    {"empty", 0, 0, 0, 0},
    {"whole_small", 40, 0, 40, 0},
    {"pieces_exact", 1024, 256, 0, 0},      /* four full pieces */
    {"pieces_last_short", 1000, 256, 0, 0}, /* three full pieces and 232 bytes */
    {"pieces_one", 10, 64, 0, 0},
    {"pieces_huge", (uint64_t)5 << 30, 1u << 30, 0, 0},
    {"bad_longer_than_total", 10, 0, 100, 0},
    {"bad_partial_payload", 100, 256, 40, 0},
    {"bad_piece_too_small", 1000, 63, 0, 0},
    {"bad_piece_too_large", 1000, (1u << 30) + 1, 0, 0},
    {"bad_whole_with_piece", 8, 64, 8, 0},
    {"bad_magic", 40, 0, 40, 12},
    {"bad_short_header", 0, 0, 0, -1},
};

/* The bytes of seed s into buf; returns their number. */
static size_t make(const seed *s, uint8_t *buf) {
  inb__msg_put_head(buf, s->total, s->piece);
  for (size_t k = 0; k < s->payload; k++) buf[INB__MSG_HEAD + k] = (uint8_t)(k * 13 + 5);
  if (s->broken > 0) buf[s->broken] ^= 0x20;
  return s->broken < 0 ? INB__MSG_HEAD - 5 : INB__MSG_HEAD + s->payload;
}

int main(int argc, char **argv) {
  seed_corpus c = {.prog = "gen_frame_seeds", .maker = "this program"};
  int usage = seed_corpus_open(&c, argc, argv);
  if (usage) return usage;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    uint8_t buf[MAX_SEED];
    size_t n = make(&seeds[s], buf);
    inb__msg_frame f;
    bool bad = strncmp(seeds[s].name, "bad_", 4) == 0;
    int rc = inb__msg_parse_first(buf, n, &f);
    if (rc != (bad ? INB_ECORRUPT : 0)) {
      fprintf(stderr, "gen_frame_seeds: seed %s %s (%s)\n", seeds[s].name, bad ? "is accepted" : "is refused",
              rc ? inb_errmsg() : "no error");
      c.failed = 1;
    }
    seed_corpus_put(&c, seeds[s].name, buf, n);
  }
  return seed_corpus_close(&c);
}
