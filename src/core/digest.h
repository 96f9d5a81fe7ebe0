/* Internal: digests of a collective call's arguments (FNV-1a, 64 bits), compared across ranks at the call's
 * entry so that ranks called differently fail together instead of hanging or computing garbage. */
#ifndef INB_CORE_DIGEST_H
#define INB_CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

enum { INB__DIGEST_START = 0 }; /* any start works: the value only has to be the same on every rank */

uint64_t inb__digest_bytes(uint64_t h, const void *p, size_t n);
uint64_t inb__digest_str(uint64_t h, const char *s);   /* NULL and "" differ */
uint64_t inb__digest_i64(uint64_t h, int64_t v);

/* A function's identity as every rank can compare it: the name of the object (executable or library) that
 * holds it, without its directory, and its offset there. NULL hashes as a distinct value. */
uint64_t inb__digest_fn(uint64_t h, void (*fn)(void));

#endif
