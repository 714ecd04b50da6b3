/* The session model fixture of the serving tests: see session_serve.h. */
#include "session_serve.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/io.h"

#ifndef RECKON_BINARY_DIR
#define RECKON_BINARY_DIR "."
#endif

int session_serve_fixture(const char *dir, int k) {
  const char *R = RECKON_BINARY_DIR "/reckon";
  return rk_test_system(
      "cd '%s' && %s synth sessions --layout yoochoose --sessions 300 --days 3 --items 60 --seed 7 --output clicks.csv "
      "--quiet >/dev/null 2>&1 && "
      "%s preprocess --data_path clicks.csv --csv_header false --csv_column_names session_id,timestamp,item_id,category "
      "--session_id_feature session_id --timestamp_feature timestamp --item_id_feature item_id "
      "--categorical_features item_id,category --quiet --output_path days && "
      "%s sessions --threads 1 --output_dir w --do_train --data_path days --start_time_window_index 1 "
      "--per_device_train_batch_size 32 --d_model 16 --n_layer 1 --n_head 2 --max_steps 3 --eval_on_last_item_seq_only "
      "--quiet && head -250 clicks.csv | grep -v ',,' | grep -v ',$' > ev.csv && "
      "%s transform --workflow w/model/workflow --csv_header false --csv_column_names session_id,timestamp,item_id,category "
      "ev.csv ev_t --quiet && "
      "%s sessions --threads 1 --output_dir pred --do_predict --model_name_or_path w/model --data_path days "
      "--predict_data_path ev_t --predict_top_k %d --per_device_eval_batch_size 16 --quiet && "
      "%s export --model_path w/model --output_path repo --name t4r --top_k %d --quiet",
      dir, R, R, R, R, R, k, R, k);
}

void session_serve_read_table(const char *path, bool csv, rk_batch *out) {
  rk_source_options so;
  rk_source_options_default(&so);
  so.batch_rows = 1000000;
  static const char *names[] = {"session_id", "timestamp", "item_id", "category"};
  if (csv) {
    so.csv_no_header = true;
    so.csv_column_names = names;
    so.n_csv_column_names = 4;
  }
  rk_table_source *src = NULL;
  assert_rk_ok(rk_source_open(&src, path, &so));
  assert_rk_ok(src->next(src, out));
  src->close(src);
}

void *session_serve_tensor_bytes(const rk_column *col, rk_serve_dtype dt, int64_t first, int64_t n, int64_t *nbytes) {
  if (dt == RK_SERVE_DT_INT64) {
    int64_t *v = malloc((size_t)n * 8 + 8);
    for (int64_t r = 0; r < n; r++) v[r] = rk_column_get_int(col, first + r);
    *nbytes = n * 8;
    return v;
  }
  assert_int_equal(dt, RK_SERVE_DT_BYTES);
  int64_t bytes = col->offsets[first + n] - col->offsets[first];
  unsigned char *p = malloc((size_t)(bytes + 4 * n) + 1), *q = p;
  for (int64_t r = first; r < first + n; r++) {
    size_t len;
    const char *s = rk_column_get_string(col, r, &len);
    uint32_t u = (uint32_t)len;
    memcpy(q, &u, 4);   /* little-endian host */
    memcpy(q + 4, s, len);
    q += 4 + len;
  }
  *nbytes = q - p;
  return p;
}
