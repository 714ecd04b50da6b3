/*
 * Training logs in the formats users' tools read: DLLogger lines shaped like a real log of the
 * session pipeline (tests/data/merlin/), and TensorBoard event files decoded by an independent
 * reader here (TFRecord framing, masked CRC32C, Event and Summary protocol buffers).
 */
#include <string.h>

#include "reckon/train.h"
#include "support.h"

static void test_crc32c(void **state) {
  (void)state;
  assert_int_equal(rk_crc32c("123456789", 9, 0), 0xE3069283u);   /* the CRC-32C check value */
  assert_int_equal(rk_crc32c("6789", 4, rk_crc32c("12345", 5, 0)), 0xE3069283u);
  assert_int_equal(rk_crc32c("", 0, 0), 0);
}

/* Key names and value kinds of a DLLogger line, e.g. "timestamp:s datetime:s ... step:a data:o". */
static void shape_of(const char *line, char *out, size_t size) {
  assert_true(strncmp(line, "DLLL {", 6) == 0);
  /* DLLogger is Python: it writes NaN for a missing metric, which JSON (and jansson) lack. */
  char *text = rk_strdup(line + 5);
  for (char *nan = strstr(text, "NaN"); nan; nan = strstr(nan, "NaN")) memcpy(nan, "0  ", 3);
  json_error_t err;
  json_t *j = json_loads(text, 0, &err);
  rk_free(text);
  if (!j) fail_msg("not JSON: %s (%s)", line, err.text);
  out[0] = '\0';
  const char *key;
  json_t *v;
  json_object_foreach(j, key, v) {
    char kind = json_is_string(v) ? 's' : json_is_array(v) ? 'a' : json_is_object(v) ? 'o' : 'n';
    size_t n = strlen(out);
    snprintf(out + n, size - n, "%s:%c ", key, kind);
  }
  json_decref(j);
}

static void test_dllogger(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("train_dllogger");
  char path[1024];
  snprintf(path, sizeof path, "%s/log.json", dir);
  rk_dllogger *l;
  assert_rk_ok(rk_dllogger_open(&l, path));
  json_t *params = json_pack("{sssfsi}", "model", "dlrm", "lr", 1e-4, "epochs", 1);
  assert_rk_ok(rk_dllogger_parameters(l, params));
  json_t *step = json_pack("[ii]", 0, 100), *data = json_pack("{sfsf}", "loss", 0.5, "auc", 0.75);
  assert_rk_ok(rk_dllogger_log(l, step, data));
  json_t *day = json_pack("[s]", "2019-10-02");
  assert_rk_ok(rk_dllogger_log(l, day, data));
  assert_rk_ok(rk_dllogger_close(l));
  json_decref(params), json_decref(step), json_decref(data), json_decref(day);

  char *ours, *real;
  size_t n;
  assert_rk_ok(rk_read_file(path, &ours, &n));
  assert_rk_ok(rk_read_file(rk_test_data("merlin/t4rec_recsys_main.dllogger.log.json"), &real, &n));
  char *a_save, *b_save;
  char *mine = strtok_r(ours, "\n", &a_save), *theirs = strtok_r(real, "\n", &b_save);
  char s1[512], s2[512];
  shape_of(mine, s1, sizeof s1);
  shape_of(theirs, s2, sizeof s2);
  assert_string_equal(s1, s2);   /* the PARAMETER line: same keys, order and kinds */
  assert_non_null(strstr(mine, "\"step\": \"PARAMETER\""));
  mine = strtok_r(NULL, "\n", &a_save);
  theirs = strtok_r(NULL, "\n", &b_save);
  theirs = strtok_r(NULL, "\n", &b_save);   /* the real file's first metric step */
  shape_of(mine, s1, sizeof s1);
  shape_of(theirs, s2, sizeof s2);
  assert_string_equal(s1, s2);
  assert_non_null(strstr(mine, "\"step\": [0, 100]"));
  assert_non_null(strstr(mine, "\"auc\": 0.75"));
  rk_free(ours);
  rk_free(real);
}

/* ---- an independent TensorBoard reader ---- */

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint64_t varint(const uint8_t **p) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
}

typedef struct {
  int64_t step;
  double wall;
  char version[32];
  char tag[64];
  float value;
} event;

/* Decodes Event {1 wall_time, 2 step, 3 file_version, 5 summary {1 value {1 tag, 2 simple_value}}}. */
static void decode(const uint8_t *p, const uint8_t *end, int depth, event *e) {
  while (p < end) {
    uint64_t key = varint(&p);
    int field = (int)(key >> 3), wire = (int)(key & 7);
    if (wire == 1) {
      uint64_t bits = get_le(p, 8);
      if (depth == 0 && field == 1) memcpy(&e->wall, &bits, 8);
      p += 8;
    } else if (wire == 5) {
      uint32_t bits = (uint32_t)get_le(p, 4);
      if (depth == 2 && field == 2) memcpy(&e->value, &bits, 4);
      p += 4;
    } else if (wire == 0) {
      uint64_t v = varint(&p);
      if (depth == 0 && field == 2) e->step = (int64_t)v;
    } else if (wire == 2) {
      uint64_t len = varint(&p);
      if (depth == 0 && field == 3) snprintf(e->version, sizeof e->version, "%.*s", (int)len, (const char *)p);
      else if (depth == 2 && field == 1) snprintf(e->tag, sizeof e->tag, "%.*s", (int)len, (const char *)p);
      else if ((depth == 0 && field == 5) || (depth == 1 && field == 1)) decode(p, p + len, depth + 1, e);
      p += len;
    } else {
      fail_msg("unexpected wire type %d", wire);
    }
  }
}

static void test_tensorboard(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("train_tensorboard");
  rk_tb_writer *w;
  assert_rk_ok(rk_tb_open(&w, dir));
  assert_non_null(strstr(rk_tb_path(w), "/events.out.tfevents."));
  assert_rk_ok(rk_tb_scalar(w, "train/loss", 1, 0.6931f));
  assert_rk_ok(rk_tb_scalar(w, "click/binary_output/auc", 200, 0.75f));
  assert_rk_ok(rk_tb_scalar(w, "lr", 300, 1e-4f));
  char path[1024];
  snprintf(path, sizeof path, "%s", rk_tb_path(w));
  assert_rk_ok(rk_tb_close(w));
  char *bytes;
  size_t size;
  assert_rk_ok(rk_read_file(path, &bytes, &size));
  const uint8_t *p = (const uint8_t *)bytes, *end = p + size;
  event ev[4];
  int n = 0;
  while (p < end) {
    assert_true(end - p >= 12);
    uint64_t len = get_le(p, 8);
    assert_int_equal(get_le(p + 8, 4), rk_crc32c_mask(rk_crc32c(p, 8, 0)));
    assert_true((uint64_t)(end - p) >= 16 + len);
    assert_int_equal(get_le(p + 12 + len, 4), rk_crc32c_mask(rk_crc32c(p + 12, len, 0)));
    assert_true(n < 4);
    memset(&ev[n], 0, sizeof ev[n]);
    decode(p + 12, p + 12 + len, 0, &ev[n]);
    n++;
    p += 16 + len;
  }
  assert_int_equal(n, 4);
  assert_string_equal(ev[0].version, "brain.Event:2");
  assert_true(ev[0].wall > 1.6e9);
  assert_string_equal(ev[1].tag, "train/loss");
  assert_int_equal(ev[1].step, 1);
  assert_true(ev[1].value == 0.6931f);
  assert_string_equal(ev[2].tag, "click/binary_output/auc");
  assert_int_equal(ev[2].step, 200);
  assert_true(ev[3].value == 1e-4f);
  rk_free(bytes);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c),
      cmocka_unit_test(test_dllogger),
      cmocka_unit_test(test_tensorboard),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
