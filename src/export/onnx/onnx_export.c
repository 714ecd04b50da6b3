/*
 * rk_onnx_export (onnx_export.h): a ranking model's graph, from its task outputs back to its
 * inputs, as an ONNX model. The walk keeps only the nodes the outputs read (a train graph's
 * labels, losses and regularisers drop out), names the inputs as the feed's columns, and ends
 * each task in the output `reckon predict` writes: the sigmoid of the logit for a binary target,
 * the prediction itself for a regression one.
 * The feed's own work that ONNX cannot repeat is refused by name: hashed columns (reckon's hash)
 * and indicator columns (their one-hot input).
 */
#include <stdio.h>
#include <string.h>

#include "export/onnx/onnx_export.h"
#include "export/onnx/onnx_ops.h"
#include "reckon/models.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64

/* Protobuf messages stop at 2 GiB; larger weights would need ONNX's external data. */
#define ONNX_MAX_BYTES ((size_t)INT32_MAX)

static const rk_schema_column *schema_column(const rk_schema *schema, const char *name) {
  for (int i = 0; i < schema->n_cols; i++)
    if (strcmp(schema->cols[i].name, name) == 0) return &schema->cols[i];
  return NULL;
}

/* Which values the task outputs read: back from the logits through the nodes, in reverse order. */
static void mark_needed(bool *needed, const rk_model *m) {
  const rk_graph *g = m->g;
  for (int t = 0; t < m->out.n_tasks; t++) needed[m->out.logits[t]] = true;
  for (int i = g->n_nodes - 1; i >= 0; i--) {
    const rk_node *n = &g->nodes[i];
    bool used = false;
    for (int k = 0; k < n->n_out; k++) used |= needed[n->out[k]];
    for (int k = 0; used && k < n->n_in; k++) needed[n->in[k]] = true;
  }
}

static bool node_needed(const bool *needed, const rk_node *n) {
  for (int k = 0; k < n->n_out; k++)
    if (needed[n->out[k]]) return true;
  return false;
}

/* The graph's inputs as the feed's columns: a categorical column's ids (batch, 1), a list's
 * values and offsets, the continuous columns (batch, 1) each, side by side as the graph's dense
 * input. Parameters used as values become initializers. */
static rk_status name_inputs(rk_onnx_ctx *c, const rk_ranking_model *r, const rk_schema *schema, const bool *needed) {
  rk_onnx_builder *b = c->b;
  char name[300], doc[300];
  for (int i = 0; i < r->n_cat; i++) {
    int v = r->cat_inputs[i];
    const char *col = r->cat_names[i];
    if (v == RK_NO_VALUE || !needed[v]) continue;
    if (r->hash_buckets[i])
      return rk_error(RK_EUNSUPPORTED,
                      "onnx export: column '%s' is hashed by the model (the schema's num_buckets); ONNX cannot repeat "
                      "reckon's hash: hash it in the workflow instead (Categorify or HashBucket)",
                      col);
    const rk_schema_column *sc = schema_column(schema, col);
    if (!sc) return rk_error(RK_ENOTFOUND, "onnx export: the model's column '%s' is not in its schema", col);
    snprintf(doc, sizeof doc, "categorical column '%s' (%s in the data): ids", col, sc->dtype_name);
    if (r->max_len[i]) {
      int64_t any[1] = {RK_ONNX_DIM_ANY};
      snprintf(name, sizeof name, "%s__values", col);
      rk_onnx_graph_input(b, name, I64, 1, any, doc);
      c->names[v] = rk_onnx_strdup(b, name);
      snprintf(name, sizeof name, "%s__offsets", col);
      rk_onnx_graph_input(b, name, I64, 1, any, "the list's offsets (batch + 1): row b holds values[offsets[b]:offsets[b+1]]");
      c->offsets[v] = rk_onnx_strdup(b, name);
    } else {
      int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
      rk_onnx_graph_input(b, col, I64, 2, dims, doc);
      c->names[v] = rk_onnx_strdup(b, col);
    }
  }
  if (r->indicator_input != RK_NO_VALUE && needed[r->indicator_input]) {
    for (int i = 0; i < r->n_cat; i++)
      if (r->indicator[i])
        return rk_error(RK_EUNSUPPORTED,
                        "onnx export: column '%s' is an indicator feature (a one-hot the feed builds); the ONNX "
                        "export takes embedded categorical columns only",
                        r->cat_names[i]);
  }
  if (r->dense_input != RK_NO_VALUE && needed[r->dense_input]) {
    const char *cols[64];
    if (r->n_cont > 64)
      return rk_error(RK_EUNSUPPORTED, "onnx export: %d continuous columns; at most 64", r->n_cont);
    for (int i = 0; i < r->n_cont; i++) {
      const char *col = r->cont_names[i];
      const rk_schema_column *sc = schema_column(schema, col);
      if (!sc) return rk_error(RK_ENOTFOUND, "onnx export: the model's column '%s' is not in its schema", col);
      snprintf(doc, sizeof doc, "continuous column '%s' (%s in the data)", col, sc->dtype_name);
      int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
      rk_onnx_graph_input(b, col, F32, 2, dims, doc);
      cols[i] = rk_onnx_strdup(b, col);
    }
    c->names[r->dense_input] = r->n_cont == 1 ? cols[0] : rk_onnx_op(b, "Concat", r->n_cont, cols);
    if (r->n_cont > 1) rk_onnx_attr_int(b, rk_onnx_last(b), "axis", 1);
  }
  if (b->status != RK_OK) return b->status;
  const rk_graph *g = c->g;
  for (int v = 0; v < g->n_values; v++) {
    const rk_value *x = &g->values[v];
    if (!needed[v] || x->producer >= 0 || c->names[v]) continue;
    if (x->kind == RK_VAL_PARAM) c->names[v] = rk_onnx_param(c, x->param);
    else return rk_error(RK_EINTERNAL, "onnx export: the outputs read input '%s', which is no feature column", x->name);
  }
  return b->status;
}

/* Per task: "<target>/binary_output" = sigmoid(logit), or "<target>/regression_output". */
static rk_status name_outputs(rk_onnx_ctx *c, const rk_model *m) {
  rk_onnx_builder *b = c->b;
  char name[300];
  for (int t = 0; t < m->out.n_tasks; t++) {
    bool reg = m->out.regression[t];
    snprintf(name, sizeof name, "%s/%s", m->out.targets[t], reg ? "regression_output" : "binary_output");
    const char *logit = c->names[m->out.logits[t]];
    const rk_value *v = rk_val(c->g, m->out.logits[t]);
    if (v->ndim != 2 || v->shape[1] != 1)
      return rk_error(RK_EINTERNAL, "onnx export: task '%s' has a logit of %d axes; expected (batch, 1)", m->out.targets[t],
                      v->ndim);
    rk_onnx_op1(b, reg ? "Identity" : "Sigmoid", logit);
    rk_onnx_name_last_output(b, name);
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, 1};
    rk_onnx_graph_output(b, name, F32, 2, dims);
  }
  return b->status;
}

static rk_status build(rk_onnx_builder *b, const rk_model *m, const rk_schema *schema, bool *needed,
                       rk_onnx_ctx *c) {
  const rk_ranking_model *r = m->self;
  mark_needed(needed, m);
  RK_TRY(name_inputs(c, r, schema, needed));
  for (int i = 0; i < m->g->n_nodes; i++)
    if (node_needed(needed, &m->g->nodes[i])) RK_TRY(rk_onnx_emit_node(c, &m->g->nodes[i]));
  RK_TRY(name_outputs(c, m));
  return b->status;
}

rk_status rk_onnx_export(const rk_model *m, const rk_schema *schema, const char *path) {
  if (strcmp(m->ops->family, "ranking") != 0)
    return rk_error(RK_EUNSUPPORTED, "onnx export: %s models have no ONNX export yet (ranking models do)",
                    m->ops->family);
  const rk_graph *g = m->g;
  rk_onnx_builder b;
  rk_onnx_builder_init(&b, rk_model_kind_name(((const rk_ranking_model *)m->self)->cfg.kind));
  bool *needed = rk_calloc((size_t)g->n_values, sizeof *needed);
  rk_onnx_ctx c = {.b = &b, .g = g};
  c.names = rk_calloc((size_t)g->n_values, sizeof *c.names);
  c.offsets = rk_calloc((size_t)g->n_values, sizeof *c.offsets);
  c.emitted = rk_calloc((size_t)g->n_params + (size_t)g->n_values + 1, sizeof *c.emitted);
  rk_status st = needed && c.names && c.offsets && c.emitted ? build(&b, m, schema, needed, &c) : RK_ENOMEM;
  uint8_t *buf = NULL;
  size_t size = 0;
  if (st == RK_OK) st = rk_onnx_builder_pack(&b, &buf, &size);
  if (st == RK_OK && size > ONNX_MAX_BYTES)
    st = rk_error(RK_EUNSUPPORTED, "onnx export: the model is %zu bytes; one ONNX file holds at most 2 GiB", size);
  if (st == RK_OK) st = rk_write_file_atomic(path, buf, size);
  if (st != RK_OK) rk_error_context(st, "writing ONNX model '%s'", path);
  rk_free(buf);
  rk_free(needed);
  rk_free(c.names);
  rk_free(c.offsets);
  rk_free(c.emitted);
  rk_onnx_builder_free(&b);
  return st;
}
