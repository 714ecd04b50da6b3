/* Comparing a model against PyTorch fixtures: see model_fixture.h. */
#include "model_fixture.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support.h"

const char *const fx_kind_label[N_KINDS] = {"forward", "gradients", "after steps"};

json_t *fx_tensor(fixture *f, const char *name, int64_t *numel) {
  json_t *t = json_object_get(f->tensors, name);
  if (!t) fail_msg("model %s: the fixture has no tensor '%s'", f->model, name);
  json_t *data = json_object_get(t, "data");
  *numel = (int64_t)json_array_size(data);
  return data;
}

double fx_num(json_t *data, int64_t i) { return json_number_value(json_array_get(data, (size_t)i)); }

/* Element i of a tensor as "index (r, c)" for messages. */
static void where(char *buf, size_t n, fixture *f, const char *name, int64_t i) {
  json_t *shape = json_object_get(json_object_get(f->tensors, name), "shape");
  if (json_array_size(shape) == 2) {
    int64_t cols = json_integer_value(json_array_get(shape, 1));
    snprintf(buf, n, "%lld (row %lld, column %lld)", (long long)i, (long long)(i / cols), (long long)(i % cols));
  } else {
    snprintf(buf, n, "%lld", (long long)i);
  }
}

void fx_compare(fixture *f, int kind, const char *what, const char *name, int64_t i, double got, double want) {
  static const double atol[N_KINDS] = {FWD_ATOL, GRAD_ATOL, STEP_ATOL};
  static const double rtol[N_KINDS] = {FWD_RTOL, GRAD_RTOL, STEP_RTOL};
  double diff = fabs(got - want), tol = atol[kind] + rtol[kind] * fabs(want);
  if (diff > f->worst_abs[kind]) f->worst_abs[kind] = diff;
  if (diff / tol > f->worst_ratio[kind]) f->worst_ratio[kind] = diff / tol;
  if (!(diff <= tol)) {
    char at[96];
    where(at, sizeof at, f, name, i);
    fail_msg("model %s, %s: tensor '%s' index %s: reckon %.9g, PyTorch %.9g (|diff| %.3g > tolerance %.3g)", f->model,
             what, name, at, got, want, diff, tol);
  }
}

/* n floats against a fixture tensor of exactly n elements. */
void fx_compare_all(fixture *f, int kind, const char *what, const char *name, const float *got, int64_t n) {
  int64_t m;
  json_t *d = fx_tensor(f, name, &m);
  if (m != n)
    fail_msg("model %s: tensor '%s' has %lld elements, reckon %lld", f->model, name, (long long)m, (long long)n);
  for (int64_t i = 0; i < n; i++) fx_compare(f, kind, what, name, i, got[i], fx_num(d, i));
}

/* A parameter's value or gradient: dense as it is; a table's compact gradient rows against the
 * fixture's dense (V, D) gradient (rows the same, untouched rows zero there). */
void fx_compare_grad(fixture *f, const rk_param *p) {
  char name[160], rows_name[160];
  snprintf(name, sizeof name, "grad:%s", p->name);
  if (!p->sparse) {
    fx_compare_all(f, GRAD, "gradient", name, p->grad.data, rk_tensor_numel(&p->value));
    return;
  }
  int64_t V = p->value.shape[0], D = p->value.shape[1], n, nrows;
  json_t *d = fx_tensor(f, name, &n);
  assert_int_equal(n, V * D);
  snprintf(rows_name, sizeof rows_name, "rows:%s", p->name);
  json_t *rows = fx_tensor(f, rows_name, &nrows);
  if (nrows != p->n_grad_rows)
    fail_msg("model %s: table '%s' has %lld gradient rows, PyTorch %lld", f->model, p->name, (long long)p->n_grad_rows,
             (long long)nrows);
  const float *g = p->grad.data;
  int64_t k = 0;
  for (int64_t r = 0; r < V; r++) {
    bool touched = k < p->n_grad_rows && p->grad_rows[k] == r;
    if (touched && json_integer_value(json_array_get(rows, (size_t)k)) != r)
      fail_msg("model %s: table '%s' gradient row %lld is table row %lld, PyTorch's %lld", f->model, p->name,
               (long long)k, (long long)r, (long long)json_integer_value(json_array_get(rows, (size_t)k)));
    for (int64_t c = 0; c < D; c++) {
      double want = fx_num(d, r * D + c);
      if (touched) fx_compare(f, GRAD, "gradient", name, r * D + c, g[k * D + c], want);
      else if (want != 0.0)
        fail_msg("model %s: table '%s' row %lld has no gradient in reckon, PyTorch's element %lld is %.9g", f->model,
                 p->name, (long long)r, (long long)c, want);
    }
    if (touched) k++;
  }
  if (k != p->n_grad_rows) fail_msg("model %s: table '%s' gradient rows are not ascending", f->model, p->name);
}


void fx_load_params(fixture *f, rk_param *const *params, int n_params) {
  json_t *names = json_object_get(f->root, "params");
  int n_py = (int)json_array_size(names);
  for (int k = 0; k < n_params && k < n_py; k++) {
    const char *name = json_string_value(json_array_get(names, (size_t)k));
    if (strcmp(params[k]->name, name) != 0)
      fail_msg("model %s: parameter %d is '%s' in reckon, '%s' in PyTorch", f->model, k, params[k]->name, name);
  }
  if (n_py != n_params)
    fail_msg("model %s: reckon has %d parameters, PyTorch %d (the first %d agree)", f->model, n_params, n_py,
             n_params < n_py ? n_params : n_py);
  for (int k = 0; k < n_params; k++) {
    rk_param *p = params[k];
    json_t *shape = json_object_get(json_object_get(f->tensors, p->name), "shape");
    if ((int)json_array_size(shape) != p->value.ndim)
      fail_msg("model %s: parameter '%s' has %d dimensions, PyTorch %d", f->model, p->name, p->value.ndim,
               (int)json_array_size(shape));
    for (int d = 0; d < p->value.ndim; d++)
      if (json_integer_value(json_array_get(shape, (size_t)d)) != p->value.shape[d])
        fail_msg("model %s: parameter '%s' dimension %d is %lld, PyTorch %lld", f->model, p->name, d,
                 (long long)p->value.shape[d], (long long)json_integer_value(json_array_get(shape, (size_t)d)));
    int64_t n;
    json_t *data = fx_tensor(f, p->name, &n);
    assert_int_equal(n, rk_tensor_numel(&p->value));
    float *v = p->value.data;
    for (int64_t i = 0; i < n; i++) v[i] = (float)fx_num(data, i);
  }
}

void fx_adam_config(fixture *f, rk_optim_config *oc) {
  json_t *adam = json_object_get(f->root, "adam");
  if (!adam) fail_msg("model %s: the fixture has no 'adam' settings", f->model);
  rk_optim_config_default(oc, RK_OPTIM_ADAM, (float)json_number_value(json_object_get(adam, "lr")));
  oc->beta1 = (float)json_number_value(json_object_get(adam, "beta1"));
  oc->beta2 = (float)json_number_value(json_object_get(adam, "beta2"));
  oc->eps = (float)json_number_value(json_object_get(adam, "eps"));
  oc->eps_mode = RK_ADAM_EPS_HAT;
  oc->sparse_as_dense = false;
}

void fx_check_steps(fixture *f, rk_graph *g, int loss, rk_param *const *params, int n_params, int steps,
                    fx_step_fn step, void *opt, const char *what) {
  char label[96], name[160];
  for (int st = 1; st <= steps; st++) {
    assert_rk_ok(step(opt));
    rk_graph_zero_grad(g);
    assert_rk_ok(rk_graph_forward(g, RK_TRAIN));
    snprintf(name, sizeof name, "out:loss@%d", st);
    snprintf(label, sizeof label, "forward after %s steps", what);
    fx_compare_all(f, STEP, label, name, rk_graph_value_f32(g, loss), 1);
    if (st < steps) assert_rk_ok(rk_graph_backward(g));
  }
  snprintf(label, sizeof label, "value after %s steps", what);
  for (int k = 0; k < n_params; k++) {
    const rk_param *p = params[k];
    snprintf(name, sizeof name, "step%d:%s", steps, p->name);
    fx_compare_all(f, STEP, label, name, p->value.data, rk_tensor_numel(&p->value));
  }
}

void fx_report(const fixture *f) {
  for (int k = 0; k < N_KINDS; k++)
    print_message("%-18s %-12s worst |diff| %.3g (%.2f of the tolerance)\n", f->model, fx_kind_label[k],
                  f->worst_abs[k], f->worst_ratio[k]);
}

void fx_session_batch(fixture *f, const rk_session_features *fs, rk_batch *b) {
  int64_t n_rows, n, n_past;
  json_t *lengths = fx_tensor(f, "lengths", &n_rows);
  json_t *past_lengths = json_object_get(f->tensors, "past_lengths") ? fx_tensor(f, "past_lengths", &n_past) : NULL;
  assert_rk_ok(rk_batch_init(b, fs->n));
  for (int i = 0; i < fs->n; i++) {
    const rk_session_feature *ft = &fs->features[i];
    json_t *len = ft->is_past ? past_lengths : lengths;
    char name[96];
    snprintf(name, sizeof name, "list:%s", ft->name);
    json_t *d = fx_tensor(f, name, &n);
    rk_column *col = &b->cols[i];
    assert_rk_ok(rk_column_init(col, ft->name, RK_COL_LIST, ft->categorical ? RK_COL_INT64 : RK_COL_FLOAT32));
    int64_t k = 0;
    for (int64_t r = 0; r < n_rows; r++) {
      for (int64_t t = 0; t < json_integer_value(json_array_get(len, (size_t)r)); t++, k++) {
        if (ft->categorical) assert_rk_ok(rk_column_append_int(col->child, json_integer_value(json_array_get(d, (size_t)k))));
        else assert_rk_ok(rk_column_append_double(col->child, fx_num(d, k)));
      }
      assert_rk_ok(rk_column_finish_list_row(col));
    }
    assert_int_equal(k, n);
  }
  b->nrows = n_rows;
}

void fx_ids_input(fixture *f, rk_graph *g, int v, const char *name, int64_t count, bool check) {
  int64_t n;
  json_t *d = fx_tensor(f, name, &n);
  assert_int_equal(n, count);
  int64_t *x = rk_graph_input_ids_data(g, v);
  for (int64_t i = 0; i < n; i++) {
    int64_t want = json_integer_value(json_array_get(d, (size_t)i));
    if (check && x[i] != want) fail_msg("model %s: the feed's '%s' element %lld is %lld, PyTorch's %lld", f->model, name,
                                        (long long)i, (long long)x[i], (long long)want);
    x[i] = want;
  }
}
