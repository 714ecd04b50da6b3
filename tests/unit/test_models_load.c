/*
 * Loading a model's weights: every tensor is checked finite where weights are read
 * (rk_model_read_weights: model folders, train --load_model_path, checkpoints), so a NaN or an
 * infinity is refused naming the tensor and the first bad index instead of giving "nan"
 * predictions or a silent AUC of 0.5; and `train --load_model_path` takes the architecture from
 * model.json.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reckon/models.h"
#include "support.h"

static void make_schema(rk_schema *s) {
  rk_schema_init(s);
  rk_schema_column *c;
  assert_rk_ok(rk_schema_add_column(s, "user_id", "int64", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "categorical"));
  assert_rk_ok(rk_schema_column_set_int_domain(c, 0, 19, true, "user_id"));
  assert_rk_ok(rk_schema_add_column(s, "click", "int8", &c));
  assert_rk_ok(rk_schema_column_add_tag(c, "target"));
  assert_rk_ok(rk_schema_column_add_tag(c, "binary_classification"));
}

static void build(rk_ranking_model *m, const rk_schema *s, const rk_ranking_config *c) {
  assert_rk_ok(rk_ranking_build(m, s, "click", false, c, 4));
}

/* Weights with `bad` at index 5 of the second parameter's value are refused by name and index. */
static void refused(float bad, const char *what) {
  rk_schema s;
  make_schema(&s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  const int64_t layers[] = {4};
  c.mlp_layers = layers;
  c.n_mlp_layers = 1;
  rk_ranking_model m;
  build(&m, &s, &c);
  char path[512];
  snprintf(path, sizeof path, "%s/weights.safetensors", rk_test_tmpdir("model_load"));
  rk_param *p = m.params[1];
  ((float *)p->value.data)[5] = bad;
  assert_rk_ok(rk_model_write_weights(path, &m.base, NULL, NULL, NULL, 0));
  ((float *)p->value.data)[5] = 0.0f;
  assert_int_equal(rk_model_read_weights(path, &m.base, NULL), RK_EFORMAT);
  char want[300];
  snprintf(want, sizeof want, "tensor '%s' holds %s at index 5", p->name, what);
  if (!strstr(rk_error_message(), want)) fail_msg("message '%s' lacks \"%s\"", rk_error_message(), want);
  rk_ranking_free(&m);
  rk_schema_free(&s);
}

static void test_weights_must_be_finite(void **state) {
  (void)state;
  refused(NAN, "NaN");
  refused(INFINITY, "+inf");
  refused(-INFINITY, "-inf");
}

/* model.json's architecture wins over the flags; the training choices stay the flags'. */
static void test_architecture_from_model_json(void **state) {
  (void)state;
  rk_schema s;
  make_schema(&s);
  rk_ranking_config c;
  rk_ranking_config_default(&c);
  c.kind = RK_MODEL_DCN;
  const int64_t layers[] = {6, 3};
  c.mlp_layers = layers;
  c.n_mlp_layers = 2;
  rk_ranking_model m;
  build(&m, &s, &c);
  const char *dir = rk_test_tmpdir("model_arch");
  char model[600];
  snprintf(model, sizeof model, "%s/model", dir);
  assert_rk_ok(rk_model_save(model, &m.base, &s, NULL, NULL));
  rk_ranking_free(&m);

  rk_ranking_config flags;
  rk_ranking_config_default(&flags);   /* mlp, 128,64,32 */
  flags.dropout = 0.25f;
  rk_ranking_config arch;
  char differ[256];
  assert_rk_ok(rk_model_read_architecture(model, &flags, &arch, differ, sizeof differ));
  assert_int_equal(arch.kind, RK_MODEL_DCN);
  assert_int_equal(arch.n_mlp_layers, 2);
  assert_int_equal(arch.mlp_layers[1], 3);
  assert_true(arch.dropout == 0.25f);
  assert_string_equal(differ, "model \"dcn\" (flags: \"mlp\"); mlp_layers [6,3] (flags: [128,64,32])");
  build(&m, &s, &arch);   /* the saved weights fit */
  snprintf(model, sizeof model, "%s/model/weights.safetensors", dir);
  assert_rk_ok(rk_model_read_weights(model, &m.base, NULL));
  rk_ranking_free(&m);
  rk_ranking_config_free_lists(&arch);
  /* No model there: an error naming the folder, and nothing to free. */
  snprintf(model, sizeof model, "%s/nothing", dir);
  assert_int_equal(rk_model_read_architecture(model, &flags, &arch, differ, sizeof differ), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "is not a reckon model folder"));
  rk_ranking_config_free_lists(&arch);
  rk_schema_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_weights_must_be_finite),
      cmocka_unit_test(test_architecture_from_model_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
