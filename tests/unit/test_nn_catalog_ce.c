/*
 * catalog_ce (src/nn/ops/catalog_ce.c) against the path it replaces: linear (no activation)
 * storing the (R, V) logits, then softmax_ce. On random rows with ignored labels, label
 * smoothing and a temperature, tiles that do not divide R or V (and the node's own tile sizes),
 * the loss and the gradients of h, W and b agree to float rounding, and are the same bits on 1
 * and 2 threads. Bad labels and shapes are refused with a message. Finite differences of the
 * node are test_nn_gradcheck.c's.
 */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "reckon/nn.h"

typedef struct {
  int64_t R, D, V, Rt, Vb;
  float eps, tau;
  bool bias;
} shape_case;

typedef struct {
  float loss, *dh, *dw, *db;
} result;

typedef struct {
  float *h, *w, *b;
  int64_t *y;
} data;

static float *floats(int64_t n) {
  float *p = calloc((size_t)n, sizeof *p);
  assert_non_null(p);
  return p;
}

static void fill(float *x, int64_t n, rk_rng *rng, float scale) {
  for (int64_t i = 0; i < n; i++) x[i] = scale * (float)(2.0 * rk_rng_uniform(rng) - 1.0);
}

/* Labels over the catalogue, every fifth row ignored (the padding id 0), the ends of the catalogue
 * included so a target falls in the last, partial block. */
static data data_make(const shape_case *k) {
  rk_rng rng;
  rk_rng_init(&rng, 7, (uint64_t)k->V);
  data d = {floats(k->R * k->D), floats(k->V * k->D), k->bias ? floats(k->V) : NULL, calloc((size_t)k->R, sizeof(int64_t))};
  assert_non_null(d.y);
  fill(d.h, k->R * k->D, &rng, 1.5f);
  fill(d.w, k->V * k->D, &rng, 1.0f);
  if (d.b) fill(d.b, k->V, &rng, 0.5f);
  for (int64_t r = 0; r < k->R; r++)
    d.y[r] = r % 5 == 0 ? 0 : r % 7 == 1 ? k->V - 1 : 1 + (int64_t)rk_rng_below(&rng, (uint64_t)(k->V - 1));
  return d;
}

static void data_free(data *d) {
  free(d->h), free(d->w), free(d->b), free(d->y);
}

static result result_make(const shape_case *k) {
  return (result){0.0f, floats(k->R * k->D), floats(k->V * k->D), floats(k->V)};
}

static void result_free(result *r) {
  free(r->dh), free(r->dw), free(r->db);
}

/* The unfused path: logits stored whole. */
static result unfused(const shape_case *k, const data *d) {
  result out = result_make(k);
  float *z = floats(k->R * k->V), *dz = floats(k->R * k->V), one = 1.0f;
  double *rows = calloc((size_t)(2 * k->R), sizeof *rows);
  assert_non_null(rows);
  linear_forward_cpu(z, NULL, d->h, d->w, d->b, k->R, k->D, k->V, RK_ACT_NONE);
  assert_rk_ok(softmax_ce_forward_cpu(&out.loss, rows, z, d->y, k->R, k->V, 0, k->eps, k->tau));
  softmax_ce_backward_cpu(dz, &one, rows, z, d->y, k->R, k->V, 0, k->eps, k->tau, true);
  linear_backward_cpu(out.dh, out.dw, d->b ? out.db : NULL, NULL, dz, z, d->h, d->w, k->R, k->D, k->V, RK_ACT_NONE);
  free(z), free(dz), free(rows);
  return out;
}

/* The kernels: the gradients made in forward (d loss = 1), backward adding d loss times them. */
static result fused(const shape_case *k, const data *d, int64_t threads) {
  assert_rk_ok(rk_set_num_threads(threads));
  result out = result_make(k), saved = result_make(k);
  float *panel = floats(k->Rt * k->V), dloss = 0.5f;
  void *state = calloc(1, catalog_ce_scratch_bytes(k->Rt, k->V, k->Vb));
  double *rows = calloc((size_t)(2 * k->R), sizeof *rows);
  assert_non_null(state);
  assert_non_null(rows);
  catalog_ce_grads grads = {saved.dh, saved.dw, d->b ? saved.db : NULL};
  assert_rk_ok(catalog_ce_forward_cpu(&out.loss, rows, &grads, panel, state, d->h, d->y, d->w, d->b, k->R, k->D, k->V,
                                      0, k->eps, k->tau, k->Rt, k->Vb));
  /* twice at half: backward adds */
  for (int i = 0; i < 2; i++) catalog_ce_backward_cpu(out.dh, out.dw, out.db, &dloss, &grads, k->R, k->D, k->V);
  free(panel), free(state), free(rows);
  result_free(&saved);
  assert_rk_ok(rk_set_num_threads(1));
  return out;
}

/* |a - b| <= tol max|b| over the array: float rounding of sums of V terms, not of one element. */
static void assert_close(const char *what, const float *a, const float *b, int64_t n, double tol) {
  double big = 0.0, worst = 0.0;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(b[i]));
  for (int64_t i = 0; i < n; i++)
    if (fabs((double)a[i] - b[i]) > worst) worst = fabs((double)a[i] - b[i]), at = i;
  if (!(worst <= tol * big))
    fail_msg("%s: element %lld is %.9g, unfused %.9g (largest %.3g, difference %.3g > %.1g of it)", what, (long long)at,
             a[at], b[at], big, worst, tol);
}

static void check_case(const shape_case *k) {
  data d = data_make(k);
  result ref = unfused(k, &d), one = fused(k, &d, 1), two = fused(k, &d, 2);
  if (!(fabs((double)one.loss - ref.loss) <= 2e-6 * fabs(ref.loss)))
    fail_msg("loss %.9g, unfused %.9g (R %lld, V %lld)", one.loss, ref.loss, (long long)k->R, (long long)k->V);
  assert_close("dh", one.dh, ref.dh, k->R * k->D, 2e-6);
  assert_close("dW", one.dw, ref.dw, k->V * k->D, 2e-6);
  if (k->bias) assert_close("db", one.db, ref.db, k->V, 2e-6);
  assert_memory_equal(&one.loss, &two.loss, sizeof one.loss);
  assert_memory_equal(one.dh, two.dh, (size_t)(k->R * k->D) * sizeof(float));
  assert_memory_equal(one.dw, two.dw, (size_t)(k->V * k->D) * sizeof(float));
  assert_memory_equal(one.db, two.db, (size_t)k->V * sizeof(float));
  result_free(&ref), result_free(&one), result_free(&two);
  data_free(&d);
}

/* Small tiles: 37 rows in tiles of 8, 53 items in blocks of 16 (both partial at the end). */
static void test_small_tiles_match_the_unfused_path(void **state) {
  (void)state;
  check_case(&(shape_case){.R = 37, .D = 5, .V = 53, .Rt = 8, .Vb = 16, .eps = 0.1f, .tau = 0.7f, .bias = true});
  check_case(&(shape_case){.R = 9, .D = 3, .V = 20, .Rt = 4, .Vb = 7, .eps = 0.0f, .tau = 1.0f, .bias = false});
  check_case(&(shape_case){.R = 1, .D = 4, .V = 2, .Rt = 1, .Vb = 1, .eps = 1.0f, .tau = 2.5f, .bias = true});
}

/* The node's tiles for a catalogue of 20,000 (128 rows, blocks of 256 items) over 300 rows. */
static void test_node_tiles_match_the_unfused_path(void **state) {
  (void)state;
  assert_int_equal(catalog_ce_tile_rows(20000), 128);
  assert_int_equal(catalog_ce_tile_rows(100000), 32);
  assert_int_equal(catalog_ce_tile_rows(10000000), 16);
  check_case(&(shape_case){.R = 300, .D = 8, .V = 20000, .Rt = 128, .Vb = 256, .eps = 0.2f, .tau = 0.5f, .bias = true});
}

/* Every row ignored: loss 0, no gradient. */
static void test_all_ignored_is_zero(void **state) {
  (void)state;
  shape_case k = {.R = 6, .D = 3, .V = 10, .Rt = 4, .Vb = 4, .eps = 0.1f, .tau = 1.0f, .bias = true};
  data d = data_make(&k);
  memset(d.y, 0, (size_t)k.R * sizeof *d.y);
  result out = fused(&k, &d, 1);
  assert_true(out.loss == 0.0f);
  for (int64_t i = 0; i < k.R * k.D; i++) assert_true(out.dh[i] == 0.0f);
  for (int64_t i = 0; i < k.V * k.D; i++) assert_true(out.dw[i] == 0.0f);
  result_free(&out);
  data_free(&d);
}

static void test_label_outside_the_catalogue_is_refused(void **state) {
  (void)state;
  shape_case k = {.R = 6, .D = 3, .V = 10, .Rt = 4, .Vb = 4, .eps = 0.0f, .tau = 1.0f, .bias = false};
  data d = data_make(&k);
  d.y[4] = 10;
  float loss, panel[40];
  double rows[12];
  void *scratch = calloc(1, catalog_ce_scratch_bytes(k.Rt, k.V, k.Vb));
  assert_non_null(scratch);
  assert_int_equal(catalog_ce_forward_cpu(&loss, rows, NULL, panel, scratch, d.h, d.y, d.w, NULL, k.R, k.D, k.V, 0, 0.0f,
                                          1.0f, k.Rt, k.Vb),
                   RK_ERANGE);
  assert_non_null(strstr(rk_error_message(), "label 10 of row 4 is outside the catalogue [0, 10)"));
  free(scratch);
  data_free(&d);
}

static void test_builder_checks_shapes(void **state) {
  (void)state;
  rk_graph *g;
  assert_rk_ok(rk_graph_create(&g, 2));
  rk_param w, b;
  int64_t ws[2] = {7, 4}, bs[1] = {6}, hs[2] = {3, 5};
  assert_rk_ok(rk_param_init(&w, "items", 2, ws));
  assert_rk_ok(rk_param_init(&b, "item_bias", 1, bs));
  int h, y, out;
  assert_rk_ok(rk_graph_input(g, &h, "h", 2, hs));
  assert_rk_ok(rk_graph_input_ids(g, &y, "labels", 3));
  assert_int_equal(rk_graph_catalog_ce(g, &out, h, y, &w, NULL, 0, 0.0f, 1.0f), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "'items' must be a dense (V, 5) parameter"));
  int64_t ws5[2] = {7, 5};
  rk_param_free(&w);
  assert_rk_ok(rk_param_init(&w, "items", 2, ws5));
  assert_int_equal(rk_graph_catalog_ce(g, &out, h, y, &w, &b, 0, 0.0f, 1.0f), RK_ESHAPE);
  assert_non_null(strstr(rk_error_message(), "'item_bias' must have shape (7)"));
  assert_int_equal(rk_graph_catalog_ce(g, &out, h, y, &w, NULL, 0, 0.0f, 0.0f), RK_EINVAL);
  assert_non_null(strstr(rk_error_message(), "temperature 0 must be positive"));
  assert_int_equal(rk_graph_catalog_ce(g, &out, h, y, &w, NULL, 0, 1.5f, 1.0f), RK_EINVAL);
  assert_rk_ok(rk_graph_catalog_ce(g, &out, h, y, &w, NULL, 0, 0.1f, 1.0f));
  rk_graph_free(g);
  rk_param_free(&w);
  rk_param_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_tiles_match_the_unfused_path),
      cmocka_unit_test(test_node_tiles_match_the_unfused_path),
      cmocka_unit_test(test_all_ignored_is_zero),
      cmocka_unit_test(test_label_outside_the_catalogue_is_refused),
      cmocka_unit_test(test_builder_checks_shapes),
  };
  return cmocka_run_group_tests_name("nn_catalog_ce", tests, NULL, NULL);
}
