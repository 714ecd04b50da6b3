/*
 * The ranking family in the ONNX export (onnx_family.h): the feed's columns in, per task the
 * column `reckon predict` writes out: "<target>/binary_output" = sigmoid(logit) for a binary
 * target, "<target>/regression_output" for a regression one. The feed's own work that ONNX cannot
 * repeat is refused by name: hashed columns (reckon's hash) and indicator columns (their one-hot).
 */
#include <stdio.h>
#include <string.h>

#include "export/onnx/onnx_family.h"
#include "reckon/models.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64

static rk_status check(const rk_model *m) {
  (void)m;
  return RK_OK;
}

static int roots(const rk_model *m, int *out, int cap) {
  int n = 0;
  for (int t = 0; t < m->out.n_tasks && n < cap; t++) out[n++] = m->out.logits[t];
  return n;
}

/* A categorical column's ids (batch, 1), or a list's (batch, L) right-padded with 0. */
static rk_status categorical(rk_onnx_ctx *c, const rk_ranking_model *r, const rk_schema *schema, int i) {
  rk_onnx_builder *b = c->b;
  const char *col = r->cat_names[i];
  int v = r->cat_inputs[i];
  if (r->hash_buckets[i])
    return rk_error(RK_EUNSUPPORTED,
                    "onnx export: column '%s' is hashed by the model (the schema's num_buckets); ONNX cannot repeat "
                    "reckon's hash: hash it in the workflow instead",
                    col);
  const rk_schema_column *sc;
  RK_TRY(rk_onnx_schema_column(schema, col, &sc));
  char doc[400];
  snprintf(doc, sizeof doc, "categorical column '%s' (%s in the data): ids", col, sc->dtype_name);
  if (r->max_len[i]) {
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, r->max_len[i]};
    snprintf(doc, sizeof doc, "list column '%s' (%s in the data): a row's ids right-padded with 0 to %lld (the "
             "schema's value_count max)", col, sc->dtype_name, (long long)r->max_len[i]);
    rk_onnx_graph_input(b, col, I64, 2, dims, doc);
    c->names[v] = rk_onnx_strdup(b, col);
  } else {
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
    rk_onnx_graph_input(b, col, I64, 2, dims, doc);
    c->names[v] = rk_onnx_strdup(b, col);
  }
  return b->status;
}

/* The continuous columns (batch, 1) each, side by side: the graph's dense input. */
static rk_status continuous(rk_onnx_ctx *c, const rk_ranking_model *r, const rk_schema *schema) {
  rk_onnx_builder *b = c->b;
  const char **cols = rk_calloc((size_t)r->n_cont, sizeof *cols);
  if (!cols) return rk_onnx_fail(b, RK_ENOMEM);
  rk_status st = RK_OK;
  for (int i = 0; st == RK_OK && i < r->n_cont; i++) {
    const rk_schema_column *sc;
    st = rk_onnx_schema_column(schema, r->cont_names[i], &sc);
    if (st != RK_OK) break;
    char doc[300];
    snprintf(doc, sizeof doc, "continuous column '%s' (%s in the data)", r->cont_names[i], sc->dtype_name);
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
    rk_onnx_graph_input(b, r->cont_names[i], F32, 2, dims, doc);
    cols[i] = rk_onnx_strdup(b, r->cont_names[i]);
  }
  if (st == RK_OK) {
    c->names[r->dense_input] = r->n_cont == 1 ? cols[0] : rk_onnx_op(b, "Concat", r->n_cont, cols);
    if (r->n_cont > 1) rk_onnx_attr_int(b, rk_onnx_last(b), "axis", 1);
    st = b->status;
  }
  rk_free(cols);
  return st;
}

static rk_status inputs(rk_onnx_ctx *c, const rk_model *m, const rk_schema *schema, const bool *needed) {
  const rk_ranking_model *r = m->self;
  for (int i = 0; i < r->n_cat; i++)
    if (r->cat_inputs[i] != RK_NO_VALUE && needed[r->cat_inputs[i]]) RK_TRY(categorical(c, r, schema, i));
  if (r->indicator_input != RK_NO_VALUE && needed[r->indicator_input])
    for (int i = 0; i < r->n_cat; i++)
      if (r->indicator[i])
        return rk_error(RK_EUNSUPPORTED,
                        "onnx export: column '%s' is an indicator feature (a one-hot the feed builds); the ONNX "
                        "export takes embedded categorical columns only",
                        r->cat_names[i]);
  if (r->dense_input != RK_NO_VALUE && needed[r->dense_input]) RK_TRY(continuous(c, r, schema));
  return c->b->status;
}

static rk_status outputs(rk_onnx_ctx *c, const rk_model *m) {
  rk_onnx_builder *b = c->b;
  char name[300];
  for (int t = 0; t < m->out.n_tasks; t++) {
    bool reg = m->out.regression[t];
    const rk_value *v = rk_val(c->g, m->out.logits[t]);
    if (v->ndim != 2 || v->shape[1] != 1)
      return rk_error(RK_EINTERNAL, "onnx export: task '%s' has a logit of %d axes; expected (batch, 1)",
                      m->out.targets[t], v->ndim);
    snprintf(name, sizeof name, "%s/%s", m->out.targets[t], reg ? "regression_output" : "binary_output");
    rk_onnx_op1(b, reg ? "Identity" : "Sigmoid", c->names[m->out.logits[t]]);
    rk_onnx_name_last_output(b, name);
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
    rk_onnx_graph_output(b, name, F32, 2, dims);
  }
  return b->status;
}

const rk_onnx_family rk_onnx_ranking_family = {"ranking", check, roots, inputs, outputs, NULL};
