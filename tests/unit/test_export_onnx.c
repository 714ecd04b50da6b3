/*
 * The ONNX export (src/export/onnx/): for every ranking model kind, one task and several,
 *   - the file decodes (protobuf-c, proto/onnx.proto) as IR version 8 with opset 17, its inputs
 *     are the feed's columns (a list as (batch, L) ids right-padded with 0), its outputs the tasks' columns of
 *     `reckon predict`, and no training node (loss, label) is in it;
 *   - each initializer named for a parameter holds that parameter's bytes exactly;
 *   - ONNX Runtime (npm onnxruntime-node under build/peers, tests/e2e/onnx_check.js) computes the
 *     model's own eval-mode outputs to 1e-5; a 1e-3 change to the expected values is caught;
 *   - what ONNX cannot compute is refused by name, leaving no file: the hash_cross op (wide_n_deep's
 *     hashed crosses), a hashed column, an indicator column;
 *   - every allocation failure returns RK_ENOMEM and leaks nothing.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The exporter is built only with protobuf-c (cmake/Dependencies.cmake). */
#ifdef RECKON_HAVE_PROTOBUF_C
#include "export/onnx/onnx_export.h"
#include "onnx.pb-c.h"
#include "reckon/models.h"
#include "support.h"

enum { B = 24, LIST_MAX = 3 };

/* user_id (50 ids), item_id (30), tags (lists of up to 3 of 12 ids): categorical; age, price:
 * continuous; click, like: binary targets; watch: a regression target. hashed: a num_buckets
 * property on user_id; indicator: an indicator property on item_id. */
static void make_schema(rk_schema *s, bool hashed, bool indicator) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 49, true, "user_id"));
  if (hashed) assert_rk_ok(rk_schema_column_set_property_number(c, "num_buckets", 64));
  assert_rk_ok(rk_schema_add_column(s, "item_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 29, true, "item_id"));
  if (indicator) assert_rk_ok(rk_schema_column_set_property(c, "indicator", json_true()));
  assert_rk_ok(rk_schema_add_column(s, "tags", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 11, true, "tags"));
  assert_rk_ok(rk_schema_column_set_value_count(c, 0, LIST_MAX));
  const char *cont[] = {"age", "price"};
  for (int k = 0; k < 2; k++) {
    assert_rk_ok(rk_schema_add_column(s, cont[k], "float32", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "continuous"));
  }
  const char *targets[] = {"click", "like", "watch"};
  for (int k = 0; k < 3; k++) {
    assert_rk_ok(rk_schema_add_column(s, targets[k], k < 2 ? "int8" : "float32", &c));
    assert_rk_ok(rk_schema_column_add_tag(c, "target"));
    assert_rk_ok(rk_schema_column_add_tag(c, k < 2 ? "binary_classification" : "regression"));
  }
}

static const char *const targets[] = {"click", "like", "watch"};
static const bool regression[] = {false, false, true};

static rk_status build(rk_ranking_model *m, const rk_schema *s, rk_model_kind kind, int n_tasks) {
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  static const int64_t layers[] = {16, 8}, experts[] = {8}, towers[] = {4};
  static const char *const no_crosses[] = {"user_id:item_id"};
  c.kind = kind;
  c.mlp_layers = layers;
  c.n_mlp_layers = 2;
  c.embeddings_dim = 8;
  c.dropout = 0.1f;   /* the identity in the export, as in eval */
  c.dcn_layers = 2;
  c.expert_layers = experts;
  c.n_expert_layers = 1;
  c.tower_layers = towers;
  c.n_tower_layers = 1;
  c.gate_dim = 4;
  c.ple_layers = 2;
  if (kind == RK_MODEL_WIDE_N_DEEP) {
    c.wnd_ignore = no_crosses;
    c.n_wnd_ignore = 1;
  }
  return rk_ranking_build_tasks(m, s, n_tasks, targets, regression, &c, B);
}

/* Row r: user 1 + r % 49, item 1 + 7r % 29 (row 5: 0, a null), tags r % 4 ids (some 0: padding),
 * age (r % 7) / 7, price r / 10. The list's ids are also written as text for the CSV, right-padded
 * with 0 to LIST_MAX as the ONNX input takes them. */
static void fill(rk_ranking_model *m, char tag_text[B][32]) {
  rk_graph *g = m->g;
  int64_t *user = rk_graph_input_ids_data(g, m->cat_inputs[0]), *item = rk_graph_input_ids_data(g, m->cat_inputs[1]);
  int64_t *off = rk_graph_input_offsets(g, m->cat_inputs[2]), *tags = rk_graph_input_ids_data(g, m->cat_inputs[2]);
  float *dense = rk_graph_input_f32(g, m->dense_input);
  int64_t n = 0;
  off[0] = 0;
  for (int r = 0; r < B; r++) {
    user[r] = 1 + r % 49;
    item[r] = r == 5 ? 0 : 1 + (7 * r) % 29;
    tag_text[r][0] = '\0';
    for (int k = 0; k < r % 4; k++) {
      int64_t id = (k == 1 && r % 5 == 0) ? 0 : 1 + (3 * r + k) % 11;
      tags[n++] = id;
      snprintf(tag_text[r] + strlen(tag_text[r]), 32 - strlen(tag_text[r]), "%s%lld", k ? " " : "", (long long)id);
    }
    for (int k = r % 4; k < LIST_MAX; k++) snprintf(tag_text[r] + strlen(tag_text[r]), 32 - strlen(tag_text[r]), "%s0", k ? " " : "");
    off[r + 1] = n;
    dense[r * 2] = (float)(r % 7) / 7.0f;
    dense[r * 2 + 1] = (float)r / 10.0f;
  }
}

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open '%s'", path);
  fseek(f, 0, SEEK_END);
  *size = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(*size ? *size : 1);
  assert_int_equal(fread(buf, 1, *size, f), *size);
  fclose(f);
  return buf;
}

static Onnx__ModelProto *decode(const char *path) {
  size_t size;
  uint8_t *buf = read_file(path, &size);
  Onnx__ModelProto *model = onnx__model_proto__unpack(NULL, size, buf);
  free(buf);
  if (!model) fail_msg("'%s' does not decode as an ONNX ModelProto", path);
  return model;
}

static bool has_op(const Onnx__GraphProto *g, const char *op) {
  for (size_t i = 0; i < g->n_node; i++)
    if (strcmp(g->node[i]->op_type, op) == 0) return true;
  return false;
}

/* The file's structure and weights against the model. */
static void check_decoded(const Onnx__ModelProto *model, const rk_ranking_model *m, int n_tasks, const char *kind) {
  assert_true(model->has_ir_version && model->ir_version == 8);
  assert_int_equal(model->n_opset_import, 1);
  assert_string_equal(model->opset_import[0]->domain, "");
  assert_int_equal(model->opset_import[0]->version, 17);
  const Onnx__GraphProto *g = model->graph;
  const char *inputs[] = {"user_id", "item_id", "tags", "age", "price"};
  assert_int_equal(g->n_input, 5);
  for (int k = 0; k < 5; k++) {
    assert_string_equal(g->input[k]->name, inputs[k]);
    int elem = g->input[k]->type->tensor_type->elem_type;
    assert_int_equal(elem, k < 3 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64 : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
  }
  const Onnx__TensorShapeProto *tags = g->input[2]->type->tensor_type->shape;   /* (batch, LIST_MAX) */
  assert_int_equal(tags->n_dim, 2);
  assert_string_equal(tags->dim[0]->dim_param, "batch");
  assert_int_equal(tags->dim[1]->dim_value, LIST_MAX);
  assert_string_equal(g->input[0]->type->tensor_type->shape->dim[0]->dim_param, "batch");
  assert_int_equal(g->n_output, n_tasks);
  for (int t = 0; t < n_tasks; t++) {
    char name[64];
    snprintf(name, sizeof name, "%s/%s", targets[t], regression[t] ? "regression_output" : "binary_output");
    assert_string_equal(g->output[t]->name, name);
  }
  /* Every parameter the outputs read, byte for byte; nothing of the training graph. */
  int matched = 0;
  for (size_t i = 0; i < g->n_initializer; i++) {
    const Onnx__TensorProto *t = g->initializer[i];
    const rk_param *p = rk_ranking_param(m, t->name);
    if (!p) continue;
    matched++;
    assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    assert_int_equal((int)t->n_dims, p->value.ndim);
    for (int d = 0; d < p->value.ndim; d++) assert_int_equal(t->dims[d], p->value.shape[d]);
    assert_int_equal(t->raw_data.len, rk_tensor_numel(&p->value) * 4);
    if (memcmp(t->raw_data.data, p->value.data, t->raw_data.len) != 0) fail_msg("%s: initializer '%s' differs", kind, t->name);
  }
  if (matched < 3) fail_msg("%s: only %d initializers are parameters", kind, matched);
  for (size_t i = 0; i < g->n_node; i++)
    for (size_t k = 0; k < g->node[i]->n_input; k++)
      if (strstr(g->node[i]->input[k], "label") || strstr(g->node[i]->input[k], "weight/")) fail_msg("%s: reads %s", kind, g->node[i]->input[k]);
  assert_true(has_op(g, "Gather"));   /* the embeddings */
  assert_false(has_op(g, "Dropout"));
}

/* Expected outputs as `reckon predict` computes them: sigmoid of the logit, or the prediction. */
static void write_rows(const char *path, const rk_ranking_model *m, int n_tasks, char tag_text[B][32], double shift) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "user_id,item_id,tags,age,price");
  for (int t = 0; t < n_tasks; t++) fprintf(f, ",%s/%s", targets[t], regression[t] ? "regression_output" : "binary_output");
  fprintf(f, "\n");
  const int64_t *user = rk_graph_input_ids_data(m->g, m->cat_inputs[0]), *item = rk_graph_input_ids_data(m->g, m->cat_inputs[1]);
  const float *dense = rk_graph_input_f32(m->g, m->dense_input);
  for (int r = 0; r < B; r++) {
    fprintf(f, "%lld,%lld,%s,%.9g,%.9g", (long long)user[r], (long long)item[r], tag_text[r], dense[2 * r], dense[2 * r + 1]);
    for (int t = 0; t < n_tasks; t++) {
      double z = rk_graph_value_f32(m->g, m->logits[t])[r];
      fprintf(f, ",%.9g", (float)(regression[t] ? z : 1.0 / (1.0 + exp(-z))) + (r == B / 2 ? shift : 0.0));
    }
    fprintf(f, "\n");
  }
  fclose(f);
}

static bool have_onnxruntime(void) {
  char path[1024];
  snprintf(path, sizeof path, "%s/build/peers/node_modules/onnxruntime-node/package.json", RECKON_SOURCE_DIR);
  struct stat st;
  bool present = stat(path, &st) == 0 && rk_test_system("command -v node > /dev/null") == 0;
  return rk_test_have_peer("onnxruntime-node", present);
}

static int onnx_check(const char *model, const char *rows) {
  return rk_test_system("NODE_PATH='%s/build/peers/node_modules' node '%s/tests/e2e/onnx_check.js' '%s' '%s' 1e-5",
                        RECKON_SOURCE_DIR, RECKON_SOURCE_DIR, model, rows);
}

static void export_and_check(rk_model_kind kind, int n_tasks, bool ort) {
  const char *dir = rk_test_tmpdir("export_onnx");
  rk_schema s;
  make_schema(&s, false, false);
  rk_ranking_model m;
  assert_rk_ok(build(&m, &s, kind, n_tasks));
  char tag_text[B][32];
  fill(&m, tag_text);
  assert_rk_ok(rk_graph_forward(m.g, RK_EVAL));
  char model_path[512], rows_path[512];
  snprintf(model_path, sizeof model_path, "%s", rk_test_path(dir, "model.onnx"));
  snprintf(rows_path, sizeof rows_path, "%s", rk_test_path(dir, "rows.csv"));
  assert_rk_ok(rk_onnx_export(&m.base, &s, model_path));
  Onnx__ModelProto *model = decode(model_path);
  check_decoded(model, &m, n_tasks, rk_model_kind_name(kind));
  onnx__model_proto__free_unpacked(model, NULL);
  if (ort) {
    write_rows(rows_path, &m, n_tasks, tag_text, 0.0);
    int rc = onnx_check(model_path, rows_path);
    if (rc != 0) fail_msg("%s with %d task(s): ONNX Runtime differs from reckon (exit %d)", rk_model_kind_name(kind), n_tasks, rc);
    if (kind == RK_MODEL_MLP) {   /* the check can fail: one expected value moved by 1e-3 */
      write_rows(rows_path, &m, n_tasks, tag_text, 1e-3);
      assert_int_not_equal(onnx_check(model_path, rows_path), 0);
    }
  }
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_every_kind_decodes_and_runs(void **state) {
  (void)state;
  bool ort = have_onnxruntime();
  rk_model_kind single[] = {RK_MODEL_MLP, RK_MODEL_DCN, RK_MODEL_DLRM, RK_MODEL_WIDE_N_DEEP, RK_MODEL_DEEPFM};
  for (int k = 0; k < 5; k++) export_and_check(single[k], 1, ort);
  rk_model_kind multi[] = {RK_MODEL_MLP, RK_MODEL_MMOE, RK_MODEL_CGC, RK_MODEL_PLE};
  for (int k = 0; k < 4; k++) export_and_check(multi[k], 3, ort);
  if (!ort) skip();   /* the structure was checked; ONNX Runtime was not there to run it */
}

static void expect_refused(rk_model_kind kind, bool hashed, bool indicator, const char *named) {
  const char *dir = rk_test_tmpdir("export_onnx_refused");
  rk_schema s;
  make_schema(&s, hashed, indicator);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = kind;
  static const int64_t layers[] = {4};
  c.mlp_layers = layers;
  c.n_mlp_layers = 1;
  rk_ranking_model m;
  assert_rk_ok(rk_ranking_build_tasks(&m, &s, 1, targets, regression, &c, 4));
  const char *path = rk_test_path(dir, "model.onnx");
  assert_int_equal(rk_onnx_export(&m.base, &s, path), RK_EUNSUPPORTED);
  if (!strstr(rk_error_message(), named)) fail_msg("the message does not name '%s': %s", named, rk_error_message());
  struct stat st;
  assert_int_not_equal(stat(path, &st), 0);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_what_onnx_cannot_compute_is_refused(void **state) {
  (void)state;
  expect_refused(RK_MODEL_WIDE_N_DEEP, false, false, "hash_cross");   /* the hashed crosses */
  expect_refused(RK_MODEL_MLP, true, false, "user_id");
  expect_refused(RK_MODEL_MLP, false, true, "item_id");
}

typedef struct {
  rk_ranking_model *m;
  const rk_schema *s;
  const char *path;
} export_ctx;

static rk_status run_export(void *arg) {
  export_ctx *x = arg;
  return rk_onnx_export(&x->m->base, x->s, x->path);
}

static void test_allocation_failures(void **state) {
  (void)state;
  const char *dir = rk_test_tmpdir("export_onnx_alloc");
  rk_schema s;
  make_schema(&s, false, false);
  rk_ranking_model m;
  assert_rk_ok(build(&m, &s, RK_MODEL_DLRM, 1));
  export_ctx x = {&m, &s, rk_test_path(dir, "model.onnx")};
  assert_true(rk_test_walk_failures(run_export, &x) > 10);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind_decodes_and_runs),
      cmocka_unit_test(test_what_onnx_cannot_compute_is_refused),
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
