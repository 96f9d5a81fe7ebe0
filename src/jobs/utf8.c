/* UTF-8 sequences (see utf8.h). */
#include "jobs/utf8.h"

#include <stdint.h>

size_t inb__utf8_len(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  size_t k;
  uint32_t cp, min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    k = 2, cp = c & 0x1Fu, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    k = 3, cp = c & 0x0Fu, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    k = 4, cp = c & 0x07u, min = 0x10000;
  else
    return 0;
  if (n < k) return 0;
  for (size_t i = 1; i < k; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3Fu);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return k;
}
