/*
 * JSON as text for the HTTP infer body (src/serve/http/json_text.c and the decoder over it in
 * kserve_tensor.c, infer_body.c): strings unescape and refuse what RFC 8259 / RFC 3629 refuse;
 * every number reads as the double strtod gives (the fast path and the slow one agree); every
 * float and double written reads back bit for bit; requests decode in any key order and nesting,
 * with the full 64-bit integer ranges, and refusals name the element.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef RECKON_HAVE_HTTP
#include "serve/http/infer_body.h"

static rk_json_cursor cursor(const char *text) { return (rk_json_cursor){text, text, text + strlen(text)}; }

static void test_strings_unescape_and_refuse_bad_text(void **state) {
  (void)state;
  const char *src = "\"a\\\"b\\\\c\\/\\n\\u00e9\\ud83d\\ude00 \xe2\x82\xac\"";
  char out[64];
  size_t len;
  rk_json_cursor c = cursor(src);
  assert_rk_ok(rk_json_string(&c, out, &len, "t"));
  const char want[] = "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80 \xe2\x82\xac";
  assert_int_equal(len, sizeof want - 1);
  assert_memory_equal(out, want, sizeof want);
  assert_ptr_equal(c.p, c.end);
  assert_true(len + 1 <= rk_json_string_bound(&(rk_json_cursor){src, src, src + strlen(src)}));

  static const struct {
    const char *text, *why;
  } bad[] = {
      {"\"\\x\"", "unknown escape"},
      {"\"\\u12\"", "4 hex digits"},
      {"\"\\u0000\"", "\\u0000"},
      {"\"\\udc00\"", "lone low surrogate"},
      {"\"\\ud800x\"", "without its low half"},
      {"\"a\x01\"", "control character"},
      {"\"\xc0\xaf\"", "invalid UTF-8"},           /* overlong '/' */
      {"\"\xed\xa0\x80\"", "invalid UTF-8"},       /* a surrogate as UTF-8 */
      {"\"\xf4\x90\x80\x80\"", "invalid UTF-8"},   /* past U+10FFFF */
      {"\"\xe2\x82\"", "invalid UTF-8"},           /* cut short */
      {"\"abc", "unterminated"},
      {"abc", "expected a string"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = cursor(bad[i].text);
    rk_status st = rk_json_string(&c, out, &len, "t");
    if (st != RK_EPARSE || !strstr(rk_error_message(), bad[i].why) || !strstr(rk_error_message(), "malformed JSON"))
      fail_msg("%s: expected '%s', got %d: %s", bad[i].text, bad[i].why, st, rk_error_message());
  }
}

static double strtod_of(const char *text) { return strtod(text, NULL); }

static void expect_number(const char *text) {
  rk_json_cursor c = cursor(text);
  rk_json_number n;
  if (rk_json_number_read(&c, &n, "t") != RK_OK) fail_msg("'%s' refused: %s", text, rk_error_message());
  double want = strtod_of(text);
  if (memcmp(&n.value, &want, sizeof want) != 0) fail_msg("'%s' read as %.17g, strtod says %.17g", text, n.value, want);
  assert_ptr_equal(c.p, c.end);
}

static void test_numbers_read_as_strtod_does(void **state) {
  (void)state;
  static const char *fixed[] = {"0",    "-0",   "1",     "-1.5", "0.1",  "3.4028234663852886e38", "1e-45",
                                "2.5e-324", "1e400", "123456789012345678901234567890", "0.000001234",
                                "9007199254740993", "1.7976931348623157e308", "4.9406564584124654e-324",
                                "1E5",  "1e+5", "2.2250738585072011e-308", "100000000000000000000000"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) expect_number(fixed[i]);
  /* random doubles and floats as printers write them, and random digit strings */
  uint64_t s = 0x9e3779b97f4a7c15ull;
  char text[64];
  for (int i = 0; i < 20000; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    double x;
    memcpy(&x, &s, 8);
    if (!isfinite(x)) continue;
    snprintf(text, sizeof text, i % 3 == 0 ? "%.17g" : i % 3 == 1 ? "%.9g" : "%.4e", i % 2 ? x : (double)(float)x);
    if (strchr(text, 'n') || strchr(text, 'i')) continue;   /* inf from (float) */
    expect_number(text);
    int digits = 1 + (int)(s % 24);
    int exp10 = (int)((s >> 8) % 60) - 30;
    char *p = text;
    for (int d = 0; d < digits; d++) *p++ = (char)('0' + (d == 0 ? 1 + (s >> (d + 16)) % 9 : (s >> (d + 16)) % 10));
    snprintf(p, sizeof text - (size_t)(p - text), "e%d", exp10);
    expect_number(text);
  }
  /* integers: the magnitude, to 2^64 - 1 and past */
  rk_json_cursor c = cursor("18446744073709551615");
  rk_json_number n;
  assert_rk_ok(rk_json_number_read(&c, &n, "t"));
  assert_true(n.integral && !n.overflow && n.magnitude == UINT64_MAX);
  c = cursor("-18446744073709551616");
  assert_rk_ok(rk_json_number_read(&c, &n, "t"));
  assert_true(n.integral && n.overflow && n.negative);
  c = cursor("1.0");
  assert_rk_ok(rk_json_number_read(&c, &n, "t"));
  assert_false(n.integral);

  static const char *bad[] = {"01", "1.", ".5", "-", "1e", "+1", "1e+", "-a"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = cursor(bad[i]);
    rk_status st = rk_json_number_read(&c, &n, "t");
    if (st == RK_OK && c.p == c.end) fail_msg("'%s' accepted as a whole number", bad[i]);
  }
}

static void test_floats_written_read_back_bit_for_bit(void **state) {
  (void)state;
  static const struct {
    float v;
    const char *text;
  } known[] = {{0.25f, "0.25"},        {100.0f, "100"},      {-3.0f, "-3"},
               {1.5e10f, "1.50000005e+10"},  {0.1f, "0.100000001"}, {1e-5f, "9.99999975e-6"},
               {123456789.0f, "123456792"}, {1234.5f, "1234.5"}, {0.001f, "0.00100000005"}, {0.0001f, "9.99999975e-5"}, {-0.0f, "-0"},
               {3.40282347e38f, "3.40282347e+38"}, {1.40129846e-45f, "1.40129846e-45"}, {NAN, "null"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
    rk_json_writer w = {0};
    rk_json_put_float(&w, known[i].v);
    rk_json_put(&w, "", 1);
    if (strcmp(w.buf, known[i].text) != 0) fail_msg("%a written as '%s', expected '%s'", (double)known[i].v, w.buf, known[i].text);
    rk_free(w.buf);
  }
  uint64_t s = 88172645463325252ull;
  for (int i = 0; i < 50000; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    uint32_t bits = (uint32_t)(s >> 11);
    float f;
    memcpy(&f, &bits, 4);
    double x;
    memcpy(&x, &s, 8);
    rk_json_writer w = {0};
    rk_json_put_float(&w, f);
    rk_json_put(&w, " ", 1);
    rk_json_put_double(&w, x);
    rk_json_put(&w, "", 1);
    assert_false(w.failed);
    rk_json_cursor c = cursor(w.buf);
    rk_json_number n;
    if (isfinite(f)) {
      assert_rk_ok(rk_json_number_read(&c, &n, "t"));
      float back = (float)n.value;
      if (memcmp(&back, &f, 4) != 0) fail_msg("float %a written as '%s' reads back as %a", (double)f, w.buf, (double)back);
    } else {
      assert_memory_equal(w.buf, "null", 4);
      c.p += 4;
    }
    if (isfinite(x)) {
      assert_rk_ok(rk_json_number_read(&c, &n, "t"));
      if (memcmp(&n.value, &x, 8) != 0) fail_msg("double %a written as '%s' reads back as %a", x, w.buf, n.value);
    } else {
      assert_non_null(strstr(w.buf, " null"));
    }
    rk_free(w.buf);
  }
}

static rk_status parse_text(rk_http_infer_request *req, const char *json) {
  return rk_http_infer_parse(req, (const uint8_t *)json, strlen(json), -1, 1000);
}

static void test_requests_decode_in_any_order_and_nesting(void **state) {
  (void)state;
  /* data before datatype and shape, unknown keys (nested) skipped, whitespace anywhere */
  const char *body = " {\n\t\"extra\": {\"a\": [1, {\"b\": null}], \"c\": \"\\u00e9\"},\r\n \"inputs\" : [ {\"data\" : "
                     "[ [ 18446744073709551615 ] , [ 0 ] ], \"shape\": [2, 1], \"name\": \"u\\u0031\", \"datatype\": "
                     "\"UINT64\", \"parameters\": {\"other\": true}}, {\"name\": \"i\", \"datatype\": \"INT64\", "
                     "\"shape\": [2], \"data\": [-9223372036854775808, 9223372036854775807]}, {\"name\": \"s\", "
                     "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"tab\\there \\\"q\\\"\"]}], \"id\": \"r\\n1\","
                     " \"parameters\": {\"binary_data_output\": true, \"x\": [1]} } ";
  rk_http_infer_request req;
  assert_rk_ok(parse_text(&req, body));
  assert_int_equal(req.ninputs, 3);
  assert_string_equal(req.inputs[0].name, "u1");
  assert_string_equal(req.id, "r\n1");
  assert_true(req.binary_output);
  uint64_t u[2];
  memcpy(u, req.inputs[0].data, 16);
  assert_true(u[0] == UINT64_MAX && u[1] == 0);
  int64_t i64[2];
  memcpy(i64, req.inputs[1].data, 16);
  assert_true(i64[0] == INT64_MIN && i64[1] == INT64_MAX);
  const char want[] = "\x0c\0\0\0tab\there \"q\"";
  assert_int_equal(req.inputs[2].size, sizeof want - 1);
  assert_memory_equal(req.inputs[2].data, want, sizeof want - 1);
  rk_http_infer_request_free(&req);

  static const struct {
    const char *json, *needle;
  } bad[] = {
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2, 2], \"data\": [[1, 2], [3, \"x\"]]}]}",
       "tensor 'x' element 3: expected a number"},
      {"{\"inputs\": [{\"data\": [[1, 2], [3, true]], \"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2, 2]}]}",
       "tensor 'x' element 3: expected a number"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"INT64\", \"shape\": [1], \"data\": [9223372036854775808]}]}",
       "in range"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"UINT64\", \"shape\": [1], \"data\": [18446744073709551616]}]}",
       "in range"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"INT32\", \"shape\": [1], \"data\": [1e2]}]}",
       "expected an integer"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"UINT8\", \"shape\": [1], \"data\": [-1]}]}", ">= 0"},
      {"{\"inputs\": [{\"name\": \"x\", \"name\": \"y\"}]}", "key 'name' is given twice"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}]} x",
       "text after the JSON object"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1,]}]}", "malformed JSON"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [01]}]}", "leading zero"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1, 1.5], \"data\": [1]}]}",
       "shape sizes must be integers"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data\": [1]}]}",
       "9 dimensions"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1], "
       "\"parameters\": {\"binary_data_size\": -4}}]}", "has both 'data'"},
      {"{\"inputs\": []}", "'inputs' must be a non-empty array"},
      {"{\"inputs\": 3}", "'inputs' must be a non-empty array"},
      {"{\"inputs\": [1], \"id\": 4}", "inputs[0] must be an object"},
      {"{\"id\": 4, \"inputs\": [1]}", "'id' must be a string"},
      {"{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}], \"outputs\": {}}",
       "'outputs' must be an array"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rk_status st = parse_text(&req, bad[i].json);
    if (st == RK_OK || !strstr(rk_error_message(), bad[i].needle))
      fail_msg("case %zu: expected '%s', got %d: %s", i, bad[i].needle, st, rk_error_message());
    rk_http_infer_request_free(&req);
  }
  /* nesting past RK_JSON_MAX_DEPTH in a skipped value */
  char deep[2 * RK_JSON_MAX_DEPTH + 64];
  int n = snprintf(deep, sizeof deep, "{\"a\": ");
  for (int d = 0; d < RK_JSON_MAX_DEPTH; d++) deep[n++] = '[';
  for (int d = 0; d < RK_JSON_MAX_DEPTH; d++) deep[n++] = ']';
  snprintf(deep + n, sizeof deep - (size_t)n, "}");
  assert_int_equal(parse_text(&req, deep), RK_EPARSE);
  assert_non_null(strstr(rk_error_message(), "nested too deep"));
  rk_http_infer_request_free(&req);
}

/* A request with data after its datatype and one with data before, each with every
 * allocation failing in turn. */
static rk_status parse_orders(void *ctx) {
  (void)ctx;
  rk_http_infer_request req;
  rk_status st = parse_text(&req, "{\"inputs\": [{\"data\": [[\"a\\u00e9\"], [\"b\"]], \"name\": \"s\", \"shape\": [2, 1],"
                                  " \"datatype\": \"BYTES\"}, {\"name\": \"a\", \"datatype\": \"FP64\", \"shape\": [1],"
                                  " \"data\": [0.1]}, {\"name\": \"b\", \"datatype\": \"FP64\", \"shape\": [1], \"data\": [2]},"
                                  " {\"name\": \"c\", \"datatype\": \"FP64\", \"shape\": [1], \"data\": [3]},"
                                  " {\"name\": \"d\", \"datatype\": \"FP64\", \"shape\": [1], \"data\": [4]}],"
                                  " \"outputs\": [{\"name\": \"p\", \"parameters\": {\"binary_data\": true}}]}");
  if (st == RK_OK && (req.ninputs != 5 || req.noutputs != 1 || !req.outputs[0].binary)) st = RK_EINVAL;
  rk_http_infer_request_free(&req);
  return st;
}

static void test_allocation_failures_leak_nothing(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(parse_orders, NULL) > 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_strings_unescape_and_refuse_bad_text),
      cmocka_unit_test(test_numbers_read_as_strtod_does),
      cmocka_unit_test(test_floats_written_read_back_bit_for_bit),
      cmocka_unit_test(test_requests_decode_in_any_order_and_nesting),
      cmocka_unit_test(test_allocation_failures_leak_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) { return rk_test_not_built("HTTP serving (built without it)"); }
#endif
