/* Internal: SHA-256 (FIPS 180-4), for identities that must not collide by accident: a kernel's cache key (the
 * compiler, flags, target and source), a journal's job (what a run would compute). Not for secrets: nothing here
 * is constant-time. */
#ifndef INB_CORE_SHA256_H
#define INB_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t len;
  uint8_t buf[64];
  size_t nbuf;
} inb__sha256;

void inb__sha256_init(inb__sha256 *s);
void inb__sha256_add(inb__sha256 *s, const void *data, size_t n);

/* A string and its terminating NUL: "ab","c" and "a","bc" hash apart. */
void inb__sha256_str(inb__sha256 *s, const char *str);

/* Ends the hash: its first `digits` hex digits (at most 64) into hex, then a NUL (hex: digits + 1 bytes). */
void inb__sha256_hex(inb__sha256 *s, char *hex, size_t digits);

/* Ends the hash: its 32 bytes. */
void inb__sha256_bytes(inb__sha256 *s, uint8_t out[32]);

#endif
