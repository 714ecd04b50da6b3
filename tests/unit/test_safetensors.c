/*
 * safetensors: exact bytes of a small file (as the format's README lays it out), round trips of
 * every dtype including scalars and empty tensors, metadata, and every malformed header the
 * reader must refuse.
 */
#include <string.h>

#include "reckon/io.h"
#include "support.h"

static void test_exact_bytes(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("safetensors_bytes");
  char path[1024];
  snprintf(path, sizeof path, "%s/a.safetensors", dir);
  const float a[2] = {1.0f, -2.0f};
  rk_st_tensor t = {"a", RK_DT_F32, 1, (const int64_t[]){2}, a, NULL, NULL};
  assert_rk_ok(rk_safetensors_write(path, &t, 1, NULL, NULL, 0));
  char *bytes;
  size_t size;
  assert_rk_ok(rk_read_file(path, &bytes, &size));
  const char header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  size_t padded = (strlen(header) + 7) / 8 * 8;
  assert_int_equal(size, 8 + padded + 8);
  assert_int_equal((uint8_t)bytes[0], padded);
  for (int i = 1; i < 8; i++) assert_int_equal(bytes[i], 0);
  assert_memory_equal(bytes + 8, header, strlen(header));
  for (size_t i = strlen(header); i < padded; i++) assert_int_equal(bytes[8 + i], ' ');
  assert_memory_equal(bytes + 8 + padded, a, sizeof a);
  rk_free(bytes);
}

static void test_round_trip(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("safetensors_round");
  char path[1024];
  snprintf(path, sizeof path, "%s/m.safetensors", dir);
  float w[6] = {1, 2, 3, 4, 5, 6};
  int64_t ids[4] = {-1, 0, 1, INT64_MAX};
  uint16_t half = rk_f32_to_bf16(0.5f);
  int8_t tiny[3] = {-128, 0, 127};
  rk_st_tensor t[] = {
      {"dense.weight", RK_DT_F32, 2, (const int64_t[]){2, 3}, w, NULL, NULL},
      {"ids", RK_DT_I64, 1, (const int64_t[]){4}, ids, NULL, NULL},
      {"scale", RK_DT_BF16, 0, NULL, &half, NULL, NULL},
      {"empty", RK_DT_U8, 1, (const int64_t[]){0}, NULL, NULL, NULL},
      {"q", RK_DT_I8, 1, (const int64_t[]){3}, tiny, NULL, NULL},
  };
  const char *keys[] = {"format", "model"}, *values[] = {"pt", "dlrm"};
  assert_rk_ok(rk_safetensors_write(path, t, 5, keys, values, 2));
  rk_safetensors *f;
  assert_rk_ok(rk_safetensors_read(&f, path));
  assert_int_equal(rk_safetensors_count(f), 5);
  rk_st_tensor got;
  assert_rk_ok(rk_safetensors_find(f, "dense.weight", &got));
  assert_int_equal(got.dtype, RK_DT_F32);
  assert_int_equal(got.ndim, 2);
  assert_int_equal(got.shape[1], 3);
  assert_memory_equal(got.data, w, sizeof w);
  assert_rk_ok(rk_safetensors_find(f, "ids", &got));
  assert_memory_equal(got.data, ids, sizeof ids);
  assert_rk_ok(rk_safetensors_find(f, "scale", &got));
  assert_int_equal(got.ndim, 0);
  assert_memory_equal(got.data, &half, 2);
  assert_rk_ok(rk_safetensors_find(f, "empty", &got));
  assert_int_equal(got.shape[0], 0);
  assert_string_equal(rk_safetensors_metadata(f, "model"), "dlrm");
  assert_null(rk_safetensors_metadata(f, "nope"));
  assert_int_equal(rk_safetensors_find(f, "nope", &got), RK_ENOTFOUND);
  rk_safetensors_free(f);
}

static void expect_bad(const char *dir, const char *header, size_t data_len, const char *needle) {
  char path[1024];
  snprintf(path, sizeof path, "%s/bad.safetensors", dir);
  size_t h = strlen(header), total = 8 + h + data_len;
  char *buf = rk_calloc(total, 1);
  buf[0] = (char)(h & 0xff);
  buf[1] = (char)(h >> 8);
  memcpy(buf + 8, header, h);
  assert_rk_ok(rk_write_file_atomic(path, buf, total));
  rk_free(buf);
  rk_safetensors *f;
  assert_int_equal(rk_safetensors_read(&f, path), RK_EFORMAT);
  if (!strstr(rk_error_message(), needle)) fail_msg("'%s': message '%s' lacks '%s'", header, rk_error_message(), needle);
}

static void test_bad_files(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("safetensors_bad");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown or missing dtype in tensor a");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "disagree");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "a hole before");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             8, "overlap");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "past the end");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 9, "bytes after the last tensor");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", 4, "header");
  expect_bad(dir, "[1, 2]", 0, "header");
  expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape");
  char path[1024];
  snprintf(path, sizeof path, "%s/short.safetensors", dir);
  assert_rk_ok(rk_write_file_atomic(path, "\x40\0\0\0\0\0\0\0{}", 10));
  rk_safetensors *f;
  assert_int_equal(rk_safetensors_read(&f, path), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "runs past the end"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_bytes),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_files),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
