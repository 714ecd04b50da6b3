/*
 * The UTF-8 check and repair (src/core/utf8.c) against the well-formed table of Unicode 15
 * section 3.9 (table 3-7) and its U+FFFD "maximal subparts" examples (table 3-8).
 */
#include "support.h"

#include <string.h>

#include "reckon/core.h"

typedef struct {
  const char *text;
  size_t valid;          /* the well-formed prefix */
  const char *repaired;  /* with U+FFFD written as "\xEF\xBF\xBD" */
} utf8_case;

#define R "\xEF\xBF\xBD"

static const utf8_case cases[] = {
    {"plain ascii, longer than eight bytes", 36, "plain ascii, longer than eight bytes"},
    {"\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14, "\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
    {"x\xFFy", 1, "x" R "y"},
    {"\xC0\xAF", 0, R R},                        /* overlong '/': C0 never starts a sequence */
    {"\xE0\x80\xAF", 0, R R R},                  /* overlong three-byte form */
    {"\xED\xA0\x80", 0, R R R},                  /* a surrogate */
    {"\xF4\x90\x80\x80", 0, R R R R},            /* above U+10FFFF */
    {"ab\xE2\x82", 2, "ab" R},                   /* cut short: one maximal subpart */
    {"\xF0\x9F\x98", 0, R},
    {"\xE2\x82x", 0, R "x"},
    {"\x80\x80", 0, R R},                        /* lone continuation bytes */
    /* Unicode 15 table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
    {"a\xF1\x80\x80\xE1\x80\xC2" "b\x80" "c\x80\xBF" "d", 1, "a" R R R "b" R "c" R R "d"},
};

static void test_cases(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const utf8_case *c = &cases[i];
    size_t n = strlen(c->text);
    if (rk_utf8_valid_prefix(c->text, n) != c->valid)
      fail_msg("case %zu: valid prefix %zu, want %zu", i, rk_utf8_valid_prefix(c->text, n), c->valid);
    char out[64];
    size_t m = rk_utf8_repair(out, c->text, n);
    if (m != rk_utf8_repair(NULL, c->text, n)) fail_msg("case %zu: counted and written lengths differ", i);
    if (m != strlen(c->repaired) || memcmp(out, c->repaired, m) != 0) fail_msg("case %zu: wrong repair", i);
    if (rk_utf8_valid_prefix(out, m) != m) fail_msg("case %zu: the repair is not valid UTF-8", i);
  }
}

/* A column of strings: the first bad one is found, including a sequence split across two
 * strings (valid when the bytes are joined, invalid in each string). */
static void test_first_invalid(void **state) {
  (void)state;
  const char values[] = "ok" "\xC3" "\xA9" "fine";
  const int64_t split[] = {0, 2, 3, 4, 8};
  size_t at = 99;
  assert_int_equal(rk_utf8_first_invalid(values, split, 4, &at), 1);
  assert_int_equal(at, 0);
  const int64_t joined[] = {0, 2, 4, 8};
  assert_int_equal(rk_utf8_first_invalid(values, joined, 3, &at), -1);
  const int64_t none[] = {0, 0, 0};
  assert_int_equal(rk_utf8_first_invalid(values, none, 2, &at), -1);
  const char bad[] = "abcdefghij\xFF";
  const int64_t one[] = {0, 4, 11};
  assert_int_equal(rk_utf8_first_invalid(bad, one, 2, &at), 1);
  assert_int_equal(at, 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases), cmocka_unit_test(test_first_invalid)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
