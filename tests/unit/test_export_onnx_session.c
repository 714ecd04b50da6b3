/*
 * The ONNX export of session models (src/export/onnx/onnx_session.c): a causal GPT-2 (gelu and
 * gelu_new, with and without the key-padding mask, a featurewise LayerNorm, a temperature)
 *   - decodes as IR 8 / opset 17 with each feature a padded (batch, T) input and `next-item`
 *     (batch, V) out, every parameter initializer holding the parameter's bytes;
 *   - in ONNX Runtime (tests/e2e/onnx_check.js) scores every item as reckon's predict phase does,
 *     (h . W_v + b_v) / temperature at the session's last item, to 1e-5, on sessions shorter than
 *     T, of exactly T and longer (the feed keeps the last T);
 *   - the masked-LM and recurrent types are refused naming the type; every allocation failure
 *     returns RK_ENOMEM and leaks nothing.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The exporter is built only with protobuf-c (cmake/Dependencies.cmake). */
#ifdef RECKON_HAVE_PROTOBUF_C
#include "export/onnx/onnx_export.h"
#include "onnx.pb-c.h"
#include "models/session_internal.h"
#include "reckon/metrics.h"
#include "reckon/sessions.h"
#include "support.h"

#define N_ITEMS 20
enum { B = 6, T = 5 };

static void features(rk_session_features *f) {
  static rk_session_feature x[3] = {
      {.name = "category-list", .categorical = true, .cardinality = 6, .table = "category-list"},
      {.name = "item_id-list", .categorical = true, .cardinality = N_ITEMS, .table = "item_id-list", .is_item = true},
      {.name = "price-list", .categorical = false}};
  f->features = x;
  f->n = 3;
  f->item = 1;
}

static void schema(rk_schema *s) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "category-list", "int64", &c));
  assert_rk_ok(rk_schema_add_column(s, "item_id-list", "int64", &c));
  assert_rk_ok(rk_schema_add_column(s, "price-list", "float32", &c));
}

static void config(rk_session_config *c, rk_session_model_kind kind) {
  rk_session_config_default(c);
  c->model_type = kind;
  c->d_model = 8;
  c->n_layer = 2;
  c->n_head = 2;
  c->session_seq_length_max = T;
  c->item_embedding_dim = 6;
  c->dropout = 0.1f;   /* the identity in the export, as in eval */
  c->initializer_range = 0.4f;   /* sharp attention: a wrong mask shows */
  c->seed = 7;
}

static const int lens[B] = {1, 3, 5, 7, 2, 4};

static void list_column(rk_column *col, const char *name, bool ints, double base) {
  assert_rk_ok(rk_column_init(col, name, RK_COL_LIST, ints ? RK_COL_INT64 : RK_COL_FLOAT32));
  for (int r = 0; r < B; r++) {
    for (int t = 0; t < lens[r]; t++) {
      if (ints) assert_rk_ok(rk_column_append_int(col->child, 1 + (int64_t)(3 * r + 2 * t + 5 * (t % 2)) % ((int64_t)base)));
      else assert_rk_ok(rk_column_append_double(col->child, 0.25 * r - 0.1 * t));
    }
    assert_rk_ok(rk_column_finish_list_row(col));
  }
}

/* A forward in the predict phase; the CSV of the graph's padded inputs and the scores reckon
 * gives every item: (h . W_v + b_v) / temperature. */
static void predict_rows(rk_model *m, const char *csv) {
  rk_batch batch;
  assert_rk_ok(rk_batch_init(&batch, 3));
  list_column(&batch.cols[0], "category-list", true, 5);
  list_column(&batch.cols[1], "item_id-list", true, N_ITEMS - 1);
  list_column(&batch.cols[2], "price-list", false, 0);
  batch.nrows = B;
  rk_model_feed *feed;
  assert_rk_ok(m->ops->feed_init(&feed, m, NULL, 0, NULL, 1));
  assert_rk_ok(rk_session_feed_set_phase(feed, RK_SESSION_PHASE_PREDICT));
  assert_rk_ok(m->ops->feed_fill(feed, &batch, 0));
  assert_rk_ok(rk_graph_forward(m->g, RK_EVAL));
  const rk_session_outputs *out = rk_session_model_outputs(m);
  const rk_session_graph *sg = &rk_session_of(m)->sg;
  const int64_t *reads = rk_session_feed_read_rows(feed);
  rk_catalog cat;
  float temperature;
  rk_session_catalog(m, &cat, &temperature);
  const float *hidden = rk_graph_value_f32(m->g, out->hidden);
  FILE *f = fopen(csv, "w");
  assert_non_null(f);
  fprintf(f, "category-list,item_id-list,price-list,next-item\n");
  for (int b = 0; b < B; b++) {
    /* the row the export reads is the last item's: what the feed reads */
    assert_int_equal(reads[b * out->reads], (lens[b] < T ? lens[b] : T) - 1);
    for (int i = 0; i < 3; i++) {
      for (int t = 0; t < T; t++) {
        if (i < 2) fprintf(f, "%s%lld", t ? " " : "", (long long)rk_graph_input_ids_data(m->g, sg->inputs[i])[b * T + t]);
        else fprintf(f, "%s%.9g", t ? " " : "", rk_graph_input_f32(m->g, sg->inputs[i])[b * T + t]);
      }
      fprintf(f, ",");
    }
    const float *h = hidden + (int64_t)b * out->reads * cat.D;
    for (int64_t v = 0; v < cat.V; v++) {
      double s = cat.bias[v];
      for (int64_t d = 0; d < cat.D; d++) s += (double)h[d] * cat.items[v * cat.D + d];
      fprintf(f, "%s%.9g", v ? " " : "", s / temperature);
    }
    fprintf(f, "\n");
  }
  fclose(f);
  m->ops->feed_free(feed);
  rk_batch_free(&batch);
}

static Onnx__ModelProto *decode(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  size_t size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(size);
  assert_int_equal(fread(buf, 1, size, f), size);
  fclose(f);
  Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, buf);
  free(buf);
  if (!model) fail_msg("'%s' does not decode as an ONNX ModelProto", path);
  return model;
}

static void check_decoded(const Onnx__ModelProto *model, const rk_model *m) {
  assert_int_equal(model->ir_version, 8);
  assert_int_equal(model->opset_import[0]->version, 17);
  const Onnx__GraphProto *g = model->graph;
  const char *names[] = {"category-list", "item_id-list", "price-list"};
  assert_int_equal(g->n_input, 3);
  for (int k = 0; k < 3; k++) {
    assert_string_equal(g->input[k]->name, names[k]);
    const Onnx__TensorShapeProto *shape = g->input[k]->type->tensor_type->shape;
    assert_string_equal(shape->dim[0]->dim_param, "batch");
    assert_int_equal(shape->dim[1]->dim_value, T);
  }
  assert_int_equal(g->n_output, 1);
  assert_string_equal(g->output[0]->name, "next-item");
  assert_int_equal(g->output[0]->type->tensor_type->shape->dim[1]->dim_value, N_ITEMS);
  int matched = 0;
  for (size_t i = 0; i < g->n_initializer; i++)
    for (int p = 0; p < m->n_params; p++) {
      const rk_param *q = m->params[p];
      if (strcmp(q->name, g->initializer[i]->name) != 0) continue;
      matched++;
      assert_int_equal(g->initializer[i]->raw_data.len, rk_tensor_numel(&q->value) * 4);
      assert_memory_equal(g->initializer[i]->raw_data.data, q->value.data, g->initializer[i]->raw_data.len);
    }
  if (matched < 20) fail_msg("only %d initializers are parameters", matched);
}

static bool have_onnxruntime(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/build/peers/node_modules/onnxruntime-node/package.json", RECKON_SOURCE_DIR);
  struct stat st;
  bool present = stat(path, &st) == 0 && rk_test_system("command -v node > /dev/null") == 0;
  return rk_test_have_peer("onnxruntime-node", present);
}

static void export_and_check(const rk_session_config *c, bool ort) {
  const char *dir = rk_test_tmpdir("export_onnx_session");
  rk_session_features f;
  features(&f);
  rk_schema s;
  schema(&s);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, c, B, false));
  char model_path[512], rows_path[512];
  snprintf(model_path, sizeof model_path, "%s", rk_test_path(dir, "model.onnx"));
  snprintf(rows_path, sizeof rows_path, "%s", rk_test_path(dir, "rows.csv"));
  assert_rk_ok(rk_onnx_export(m, &s, model_path));
  Onnx__ModelProto *model = decode(model_path);
  check_decoded(model, m);
  onnx__model_proto__free_unpacked(model, NULL);
  if (ort) {
    predict_rows(m, rows_path);
    int rc = rk_test_system("NODE_PATH='%s/build/peers/node_modules' node '%s/tests/e2e/onnx_check.js' '%s' '%s' 1e-5",
                            RECKON_SOURCE_DIR, RECKON_SOURCE_DIR, model_path, rows_path);
    if (rc != 0) fail_msg("ONNX Runtime differs from reckon (exit %d)", rc);
  }
  m->ops->free(m);
  rk_schema_free(&s);
}

static void test_gpt2_decodes_and_scores_the_catalogue(void **state) {
  (void)state;
  bool ort = have_onnxruntime();
  rk_session_config c;
  config(&c, RK_SESSION_GPT2);
  export_and_check(&c, ort);
  c.hidden_act = RK_SESSION_GELU_NEW;
  c.key_padding_mask = false;
  c.layer_norm_featurewise = true;
  c.softmax_temperature = 2.0f;
  c.mf_constrained_embeddings = true;
  export_and_check(&c, ort);
  if (!ort) skip();
}

static void test_other_types_refused(void **state) {
  (void)state;
  rk_session_model_kind kinds[] = {RK_SESSION_BERT, RK_SESSION_GRU};
  const char *named[] = {"'bert'", "'gru'"};
  rk_session_features f;
  features(&f);
  rk_schema s;
  schema(&s);
  const char *dir = rk_test_tmpdir("export_onnx_session_refused");
  for (int k = 0; k < 2; k++) {
    rk_session_config c;
    config(&c, kinds[k]);
    rk_model *m;
    assert_rk_ok(rk_session_build(&m, &f, &c, 2, false));
    assert_int_equal(rk_onnx_export(m, &s, rk_test_path(dir, "model.onnx")), RK_EUNSUPPORTED);
    if (!strstr(rk_error_message(), named[k])) fail_msg("the message does not name %s: %s", named[k], rk_error_message());
    struct stat st;
    assert_int_not_equal(stat(rk_test_path(dir, "model.onnx"), &st), 0);
    m->ops->free(m);
  }
  rk_schema_free(&s);
}

typedef struct {
  rk_model *m;
  const rk_schema *s;
  const char *path;
} export_ctx;

static rk_status run_export(void *arg) {
  export_ctx *x = arg;
  return rk_onnx_export(x->m, x->s, x->path);
}

static void test_allocation_failures(void **state) {
  (void)state;
  rk_session_features f;
  features(&f);
  rk_schema s;
  schema(&s);
  rk_session_config c;
  config(&c, RK_SESSION_GPT2);
  rk_model *m;
  assert_rk_ok(rk_session_build(&m, &f, &c, 2, false));
  export_ctx x = {m, &s, rk_test_path(rk_test_tmpdir("export_onnx_session_alloc"), "model.onnx")};
  assert_true(rk_test_walk_failures(run_export, &x) > 10);
  m->ops->free(m);
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gpt2_decodes_and_scores_the_catalogue),
      cmocka_unit_test(test_other_types_refused),
      cmocka_unit_test(test_allocation_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else
int main(void) {
  printf("skipping: built without protobuf-c, so without the ONNX export\n");
  return 0;
}
#endif
