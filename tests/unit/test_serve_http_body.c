/*
 * KServe v2 infer bodies over HTTP (src/serve/http/infer_body.c, kserve_tensor.c): JSON tensors
 * of every datatype, nested and flat, decode to the binary form and back; the binary extension
 * splits a body by Inference-Header-Content-Length and binary_data_size; every malformed request
 * is refused with a message naming the fault; allocation failures leak nothing.
 */
#include "support.h"

#include <string.h>

#ifdef RECKON_HAVE_HTTP
#include "serve/http/infer_body.h"

static rk_status parse_text(rk_http_infer_request *req, const char *json) {
  return rk_http_infer_parse(req, (const uint8_t *)json, strlen(json), -1, 1000);
}

static void test_json_tensors_every_datatype(void **state) {
  (void)state;
  static const struct {
    const char *datatype, *data;
    uint8_t bytes[16];
    size_t size;
  } cases[] = {
      {"BOOL", "[true, false]", {1, 0}, 2},
      {"UINT8", "[0, 255]", {0, 255}, 2},
      {"INT8", "[-128, 127]", {0x80, 0x7f}, 2},
      {"UINT16", "[[513], [2]]", {1, 2, 2, 0}, 4},
      {"INT16", "[-2, 3]", {0xfe, 0xff, 3, 0}, 4},
      {"INT32", "[-1, 16777216]", {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1}, 8},
      {"UINT32", "[4294967295, 0]", {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, 8},
      {"INT64", "[[-2], [1]]", {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0}, 16},
      {"UINT64", "[1, 256]", {1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}, 16},
      {"FP16", "[1.0, -2]", {0x00, 0x3c, 0x00, 0xc0}, 4},
      {"FP32", "[1.5, -0.25]", {0, 0, 0xc0, 0x3f, 0, 0, 0x80, 0xbe}, 8},
      {"FP64", "[[1.0, 2.0]]", {0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40}, 16},
      {"BYTES", "[\"ab\", \"\"]", {2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0}, 10},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char body[256];
    snprintf(body, sizeof body, "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"%s\", \"shape\": [2, 1], \"data\": %s}]}",
             cases[c].datatype, cases[c].data);
    rk_http_infer_request req;
    assert_rk_ok(parse_text(&req, body));
    assert_int_equal(req.ninputs, 1);
    assert_int_equal(req.inputs[0].numel, 2);
    assert_int_equal(req.inputs[0].size, cases[c].size);
    assert_memory_equal(req.inputs[0].data, cases[c].bytes, cases[c].size);
    /* and back: the response's JSON reads as the request's values */
    rk_http_infer_response res;
    assert_rk_ok(rk_http_infer_response_begin(&res, "m", "1", "req-7"));
    int64_t shape[2] = {2, 1};
    assert_rk_ok(rk_http_infer_response_add(&res, "y", req.inputs[0].datatype, 2, shape, req.inputs[0].data,
                                            req.inputs[0].size, false));
    char *out;
    size_t size, jsize;
    assert_rk_ok(rk_http_infer_response_finish(&res, &out, &size, &jsize));
    assert_int_equal(size, jsize);
    json_t *doc = json_loadb(out, size, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "id")), "req-7");
    json_t *o = json_array_get(json_object_get(doc, "outputs"), 0);
    assert_string_equal(json_string_value(json_object_get(o, "datatype")), cases[c].datatype);
    char *data_text = json_dumps(json_object_get(o, "data"), JSON_COMPACT);
    rk_json_cursor cur = {data_text, data_text, data_text + strlen(data_text)};
    uint8_t *bytes;
    size_t nbytes;
    assert_rk_ok(rk_kserve_json_decode(&bytes, &nbytes, &cur, req.inputs[0].datatype, 2, 2, "y"));
    assert_int_equal(nbytes, cases[c].size);
    assert_memory_equal(bytes, cases[c].bytes, nbytes);
    rk_free(bytes);
    free(data_text);
    json_decref(doc);
    rk_free(out);
    rk_http_infer_response_free(&res);
    rk_http_infer_request_free(&req);
  }
}

static void test_binary_extension_both_ways(void **state) {
  (void)state;
  const char *json = "{\"id\": \"b\", \"inputs\": [{\"name\": \"a\", \"datatype\": \"INT32\", \"shape\": [2], "
                     "\"parameters\": {\"binary_data_size\": 8}}, {\"name\": \"s\", \"datatype\": \"BYTES\", "
                     "\"shape\": [1], \"parameters\": {\"binary_data_size\": 7}}, {\"name\": \"j\", \"datatype\": "
                     "\"FP32\", \"shape\": [1], \"data\": [2.5]}], \"outputs\": [{\"name\": \"p\", \"parameters\": "
                     "{\"binary_data\": true}}, {\"name\": \"q\"}]}";
  uint8_t body[512];
  size_t jlen = strlen(json);
  memcpy(body, json, jlen);
  const uint8_t tail[] = {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 'x', 'y', 'z'};
  memcpy(body + jlen, tail, sizeof tail);
  char header[32];
  snprintf(header, sizeof header, "%zu", jlen);
  int64_t json_size;
  assert_rk_ok(rk_http_parse_json_length(header, jlen + sizeof tail, &json_size));
  rk_http_infer_request req;
  assert_rk_ok(rk_http_infer_parse(&req, body, jlen + sizeof tail, json_size, 1000));
  assert_int_equal(req.ninputs, 3);
  assert_ptr_equal(req.inputs[0].data, body + jlen);
  assert_int_equal(req.inputs[1].size, 7);
  assert_memory_equal(req.inputs[1].data, tail + 8, 7);
  assert_true(rk_http_output_wants_binary(&req, "p"));
  assert_false(rk_http_output_wants_binary(&req, "q"));
  rk_http_infer_request_free(&req);

  /* a binary output: its bytes after the JSON, binary_data_size in its parameters */
  rk_http_infer_response res;
  assert_rk_ok(rk_http_infer_response_begin(&res, "m", "1", NULL));
  int64_t shape[1] = {2};
  const float scores[2] = {0.25f, 0.75f};
  assert_rk_ok(rk_http_infer_response_add(&res, "p", RK_SERVE_DT_FP32, 1, shape, (const uint8_t *)scores, 8, true));
  char *out;
  size_t size, jsize;
  assert_rk_ok(rk_http_infer_response_finish(&res, &out, &size, &jsize));
  assert_int_equal(size, jsize + 8);
  assert_memory_equal(out + jsize, scores, 8);
  json_t *doc = json_loadb(out, jsize, 0, NULL);
  json_t *o = json_array_get(json_object_get(doc, "outputs"), 0);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "parameters"), "binary_data_size")), 8);
  assert_null(json_object_get(o, "data"));
  json_decref(doc);
  rk_free(out);
  rk_http_infer_response_free(&res);
}

static void expect_refused(const uint8_t *body, size_t size, int64_t json_size, const char *needle) {
  rk_http_infer_request req;
  rk_status st = rk_http_infer_parse(&req, body, size, json_size, 1000);
  if (st == RK_OK) fail_msg("accepted, expected an error with '%s'", needle);
  if (!strstr(rk_error_message(), needle)) fail_msg("expected '%s' in: %s", needle, rk_error_message());
  rk_http_infer_request_free(&req);
}

static void expect_refused_text(const char *json, const char *needle) {
  expect_refused((const uint8_t *)json, strlen(json), -1, needle);
}

#define INPUT(dt, shape, data) "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"" dt "\", \"shape\": " shape ", \"data\": " data "}]}"

static void test_malformed_requests_name_the_fault(void **state) {
  (void)state;
  expect_refused_text("{\"inputs\": [", "malformed JSON");
  expect_refused_text("[1, 2]", "must be a JSON object");
  expect_refused_text("{}", "'inputs' must be a non-empty array");
  expect_refused_text("{\"inputs\": [{\"datatype\": \"FP32\"}]}", "inputs[0] has no 'name'");
  expect_refused_text(INPUT("FP33", "[1]", "[1]"), "datatype 'FP33'");
  expect_refused_text(INPUT("FP32", "[2]", "[1]"), "has 1 data elements, its shape says 2");
  expect_refused_text(INPUT("FP32", "[1]", "[1, 2]"), "more data elements");
  expect_refused_text(INPUT("FP32", "[-1]", "[]"), "dimension 0 is -1");
  expect_refused_text(INPUT("FP32", "\"2\"", "[1]"), "'shape' must be an array");
  expect_refused_text(INPUT("UINT8", "[1]", "[256]"), "element 0: expected an integer in range");
  expect_refused_text(INPUT("INT8", "[1]", "[-129]"), "in range");
  expect_refused_text(INPUT("INT32", "[1]", "[1.5]"), "expected an integer");
  expect_refused_text(INPUT("FP32", "[1]", "[\"a\"]"), "expected a number");
  expect_refused_text(INPUT("FP32", "[1]", "[1e300]"), "within the datatype's range");
  expect_refused_text(INPUT("FP16", "[1]", "[70000]"), "FP16's range");
  expect_refused_text(INPUT("BOOL", "[1]", "[1]"), "true or false");
  expect_refused_text(INPUT("BYTES", "[1]", "[3]"), "a string");
  expect_refused_text(INPUT("FP32", "[1]", "[[[1]]]"), "nests deeper");
  expect_refused_text(INPUT("FP32", "[1000, 1000]", "[]"), "--max-tensor-elements");
  expect_refused_text(INPUT("FP32", "[1]", "{}"), "'data' must be an array");
  expect_refused_text("{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]},"
                      " {\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}]}",
                      "input 'x' is given twice");
  expect_refused_text("{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1]}]}",
                      "no 'data' and no parameters.binary_data_size");
  expect_refused_text("{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], \"data\": [1]}], "
                      "\"outputs\": [{}]}", "outputs[0] has no 'name'");

  /* binary: sizes that do not add up */
  const char *json = "{\"inputs\": [{\"name\": \"a\", \"datatype\": \"INT32\", \"shape\": [2], \"parameters\": "
                     "{\"binary_data_size\": 8}}]}";
  uint8_t body[256];
  size_t jlen = strlen(json);
  memcpy(body, json, jlen);
  memset(body + jlen, 0, 16);
  expect_refused(body, jlen + 4, (int64_t)jlen, "runs past the body's binary part");
  expect_refused(body, jlen + 12, (int64_t)jlen, "4 bytes of binary data that no input");
  const char *json6 = "{\"inputs\": [{\"name\": \"a\", \"datatype\": \"INT32\", \"shape\": [2], \"parameters\": "
                      "{\"binary_data_size\": 6}}]}";
  size_t j6 = strlen(json6);
  memcpy(body, json6, j6);
  expect_refused(body, j6 + 6, (int64_t)j6, "binary data is 6 bytes");
  const char *jb = "{\"inputs\": [{\"name\": \"s\", \"datatype\": \"BYTES\", \"shape\": [1], \"parameters\": "
                   "{\"binary_data_size\": 6}}]}";
  size_t jbl = strlen(jb);
  memcpy(body, jb, jbl);
  const uint8_t bad_len[] = {9, 0, 0, 0, 'a', 'b'};
  memcpy(body + jbl, bad_len, sizeof bad_len);
  expect_refused(body, jbl + 6, (int64_t)jbl, "past the data's end");

  int64_t n;
  assert_int_not_equal(rk_http_parse_json_length("12x", 100, &n), RK_OK);
  assert_int_not_equal(rk_http_parse_json_length("-1", 100, &n), RK_OK);
  assert_int_not_equal(rk_http_parse_json_length("101", 100, &n), RK_OK);
  assert_true(strstr(rk_error_message(), "Inference-Header-Content-Length") != NULL);
}

static rk_status parse_once(void *ctx) {
  (void)ctx;
  rk_http_infer_request req;
  rk_status st = parse_text(&req, "{\"id\": \"z\", \"inputs\": [{\"name\": \"x\", \"datatype\": \"BYTES\", \"shape\": [2],"
                                  " \"data\": [\"a\", \"bc\"]}, {\"name\": \"y\", \"datatype\": \"FP32\", \"shape\": [1],"
                                  " \"data\": [1]}], \"outputs\": [{\"name\": \"p\"}]}");
  rk_http_infer_request_free(&req);
  return st;
}

static void test_allocation_failures_leak_nothing(void **state) {
  (void)state;
  assert_true(rk_test_walk_failures(parse_once, NULL) > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_tensors_every_datatype),
      cmocka_unit_test(test_binary_extension_both_ways),
      cmocka_unit_test(test_malformed_requests_name_the_fault),
      cmocka_unit_test(test_allocation_failures_leak_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) { return rk_test_not_built("HTTP serving (built without it)"); }
#endif
