/* SHA-256 (src/core/sha256.h) against the FIPS 180-4 examples and a million 'a's, fed whole and byte by byte:
 * kernel cache keys and journal identities must be the real SHA-256, stable across releases. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/sha256.h"

static void check(const char *msg, size_t repeat, const char *want) {
  for (int piecewise = 0; piecewise < 2; piecewise++) {
    inb__sha256 s;
    inb__sha256_init(&s);
    for (size_t r = 0; r < repeat; r++) {
      if (piecewise)
        for (const char *p = msg; *p; p++) inb__sha256_add(&s, p, 1);
      else
        inb__sha256_add(&s, msg, strlen(msg));
    }
    char hex[65];
    inb__sha256 copy = s;
    inb__sha256_hex(&s, hex, 64);
    assert_string_equal(hex, want);
    uint8_t bytes[32];
    inb__sha256_bytes(&copy, bytes);
    for (int i = 0; i < 32; i++) {
      char two[3];
      snprintf(two, sizeof two, "%02x", bytes[i]);
      assert_memory_equal(two, want + 2 * i, 2);
    }
  }
}

static void test_fips_examples(void **state) {
  (void)state;
  check("", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check("abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_a_million_a(void **state) {
  (void)state;
  check("a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_a_string_ends_with_its_nul(void **state) {
  (void)state;
  inb__sha256 a, b;
  char x[65], y[65];
  inb__sha256_init(&a), inb__sha256_init(&b);
  inb__sha256_str(&a, "ab"), inb__sha256_str(&a, "c");
  inb__sha256_str(&b, "a"), inb__sha256_str(&b, "bc");
  inb__sha256_hex(&a, x, 64), inb__sha256_hex(&b, y, 64);
  assert_string_not_equal(x, y);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fips_examples),
      cmocka_unit_test(test_a_million_a),
      cmocka_unit_test(test_a_string_ends_with_its_nul),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
