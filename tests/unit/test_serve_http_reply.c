/*
 * The body of an HTTP infer response (src/serve/http/infer_body.c, rk_http_infer_response_*):
 * written in one pass, the JSON then the binary tail into one growing buffer. A tail far larger
 * than the buffer's first block comes out byte for byte after JSON that reads back as what was
 * added, with a NUL after the body; every allocation failure of building one leaks nothing.
 */
#include "support.h"

#include <string.h>

#ifdef RECKON_HAVE_HTTP
#include "serve/http/infer_body.h"

enum { TAIL_FLOATS = 5000 };

/* A response of a JSON output (2 INT64) and a binary one (TAIL_FLOATS FP32), finished. */
static rk_status build(float *tail, char **body, size_t *size, size_t *json_size) {
  rk_http_infer_response res;
  rk_status st = rk_http_infer_response_begin(&res, "dlrm", "3", "id \"quoted\"");
  const int64_t ids[2] = {-7, 1LL << 40};
  const int64_t ids_shape[1] = {2}, tail_shape[2] = {TAIL_FLOATS, 1};
  if (st == RK_OK)
    st = rk_http_infer_response_add(&res, "ids", RK_SERVE_DT_INT64, 1, ids_shape, (const uint8_t *)ids, sizeof ids,
                                    false);
  if (st == RK_OK)
    st = rk_http_infer_response_add(&res, "scores", RK_SERVE_DT_FP32, 2, tail_shape, (const uint8_t *)tail,
                                    TAIL_FLOATS * sizeof *tail, true);
  if (st == RK_OK) st = rk_http_infer_response_finish(&res, body, size, json_size);
  rk_http_infer_response_free(&res);
  return st;
}

static void test_json_then_a_large_binary_tail(void **state) {
  (void)state;
  static float tail[TAIL_FLOATS];
  for (int i = 0; i < TAIL_FLOATS; i++) tail[i] = (float)i * 0.25f - 3.0f;
  char *body;
  size_t size, jsize;
  assert_rk_ok(build(tail, &body, &size, &jsize));
  assert_int_equal(size, jsize + sizeof tail);
  assert_memory_equal(body + jsize, tail, sizeof tail);
  assert_int_equal(body[size], '\0');
  json_error_t err;
  json_t *doc = json_loadb(body, jsize, 0, &err);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "model_name")), "dlrm");
  assert_string_equal(json_string_value(json_object_get(doc, "model_version")), "3");
  assert_string_equal(json_string_value(json_object_get(doc, "id")), "id \"quoted\"");
  const json_t *outs = json_object_get(doc, "outputs");
  assert_int_equal(json_array_size(outs), 2);
  const json_t *ids = json_object_get(json_array_get(outs, 0), "data");
  assert_int_equal(json_integer_value(json_array_get(ids, 0)), -7);
  assert_int_equal(json_integer_value(json_array_get(ids, 1)), 1LL << 40);
  const json_t *scores = json_array_get(outs, 1);
  assert_null(json_object_get(scores, "data"));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(scores, "parameters"), "binary_data_size")),
                   (json_int_t)sizeof tail);
  assert_int_equal(json_integer_value(json_array_get(json_object_get(scores, "shape"), 0)), TAIL_FLOATS);
  json_decref(doc);
  rk_free(body);
}

static rk_status build_once(void *ctx) {
  char *body = NULL;
  size_t size, jsize;
  rk_status st = build(ctx, &body, &size, &jsize);
  if (st == RK_OK) rk_free(body);
  return st;
}

static void test_allocation_failures_leak_nothing(void **state) {
  (void)state;
  static float tail[TAIL_FLOATS];
  assert_true(rk_test_walk_failures(build_once, tail) > 2);   /* the tail, and the body growing in steps */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_json_then_a_large_binary_tail),
      cmocka_unit_test(test_allocation_failures_leak_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) { return rk_test_not_built("HTTP serving (built without it)"); }
#endif
