/* What the seed generators (gen_seeds.c, gen_frame_seeds.c) do with the seeds they make: write each into a
 * corpus directory, or check that the directory holds exactly those bytes, so that a change of a format must
 * come with new seeds. Their command line:
 *   PROG DIR          (re)writes DIR/<name>.bin
 *   PROG --check DIR  fails unless DIR holds exactly these bytes */
#ifndef INB_TESTS_SEED_CORPUS_H
#define INB_TESTS_SEED_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  const char *prog;  /* the generator, as its messages name it: set by the caller */
  const char *maker; /* what makes the seeds' bytes ("the packer"), named when a file differs: set by the caller */
  const char *dir;   /* from the command line */
  bool check;        /* --check */
  size_t count;      /* seeds put so far */
  int failed;        /* 1 once a seed could not be written or differs; the caller may set it too */
} seed_corpus;

/* Reads the command line into c. Returns 0, or 2 (the exit status) after printing the usage on stderr. */
int seed_corpus_open(seed_corpus *c, int argc, char **argv);
/* Writes seed `name` (bytes[0..n)) to DIR/<name>.bin, or with --check compares that file with them; a failure
 * is said on stderr and sets c->failed. */
void seed_corpus_put(seed_corpus *c, const char *name, const uint8_t *bytes, size_t n);
/* Says on stdout what was done, when nothing failed. Returns the exit status: 0, or 1 when something failed. */
int seed_corpus_close(const seed_corpus *c);

#endif
