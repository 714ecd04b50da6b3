/*
 * rk_onnx_export (onnx_export.h): a model's graph, from its family's outputs back to its inputs,
 * as an ONNX model. The walk keeps only the nodes the outputs read (a train graph's labels,
 * losses and regularisers drop out); the family (onnx_family.h) names the inputs and outputs;
 * each kept node becomes ONNX nodes (onnx_ops.c); the file is written atomically.
 */
#include <string.h>

#include "export/onnx/onnx_export.h"
#include "export/onnx/onnx_family.h"

/* Protobuf messages stop at 2 GiB; larger weights would need ONNX's external data. */
#define ONNX_MAX_BYTES ((size_t)INT32_MAX)

static const rk_onnx_family *const families[] = {&rk_onnx_ranking_family, &rk_onnx_session_family};

rk_status rk_onnx_schema_column(const rk_schema *schema, const char *name, const rk_schema_column **out) {
  for (int i = 0; i < schema->n_cols; i++)
    if (strcmp(schema->cols[i].name, name) == 0) return *out = &schema->cols[i], RK_OK;
  return rk_error(RK_ENOTFOUND, "onnx export: the model's column '%s' is not in its schema", name);
}

/* Which values the roots read: back through the nodes, in reverse order. */
static void mark_needed(bool *needed, const rk_graph *g, const int *roots, int n_roots) {
  for (int k = 0; k < n_roots; k++) needed[roots[k]] = true;
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

/* Leaves the family left unnamed: parameters used as values become initializers; anything
 * else is an input no feed column makes. */
static rk_status name_leaves(rk_onnx_ctx *c, const bool *needed) {
  if (c->b->status != RK_OK) return c->b->status;
  const rk_graph *g = c->g;
  for (int v = 0; v < g->n_values; v++) {
    const rk_value *x = &g->values[v];
    if (!needed[v] || x->producer >= 0 || c->names[v]) continue;
    if (x->kind == RK_VAL_PARAM) c->names[v] = rk_onnx_param(c, x->param);
    else return rk_error(RK_EUNSUPPORTED, "onnx export: the outputs read the graph input '%s', which no column makes", x->name);
  }
  return c->b->status;
}

static rk_status build(rk_onnx_ctx *c, const rk_onnx_family *fam, const rk_model *m, const rk_schema *schema,
                       bool *needed) {
  int roots[RK_MAX_TASKS];
  int n_roots = fam->roots(m, roots, RK_MAX_TASKS);
  mark_needed(needed, m->g, roots, n_roots);
  RK_TRY(fam->inputs(c, m, schema, needed));
  RK_TRY(name_leaves(c, needed));
  for (int i = 0; i < m->g->n_nodes; i++)
    if (node_needed(needed, &m->g->nodes[i])) RK_TRY(rk_onnx_emit_node(c, &m->g->nodes[i]));
  return fam->outputs(c, m);
}

static rk_status export_model(const rk_model *m, const rk_onnx_family *fam, const rk_schema *schema, const char *path) {
  const rk_graph *g = m->g;
  rk_onnx_builder b;
  rk_onnx_builder_init(&b, m->ops->family);
  bool *needed = rk_calloc((size_t)g->n_values, sizeof *needed);
  rk_onnx_ctx c = {.b = &b, .g = g};
  c.names = rk_calloc((size_t)g->n_values, sizeof *c.names);
  c.emitted = rk_calloc((size_t)g->n_params + (size_t)g->n_values + 1, sizeof *c.emitted);
  rk_status st = needed && c.names && c.emitted ? build(&c, fam, m, schema, needed) : RK_ENOMEM;
  if (st == RK_OK) st = b.status;
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
  rk_free(c.emitted);
  rk_onnx_builder_free(&b);
  return st;
}

rk_status rk_onnx_export(const rk_model *m, const rk_schema *schema, const char *path) {
  const rk_onnx_family *fam = NULL;
  for (size_t i = 0; i < sizeof families / sizeof *families; i++)
    if (strcmp(m->ops->family, families[i]->family) == 0) fam = families[i];
  if (!fam) return rk_error(RK_EUNSUPPORTED, "onnx export: %s models have no ONNX export", m->ops->family);
  RK_TRY(fam->check(m));
  if (!fam->layout) return export_model(m, fam, schema, path);
  rk_model *laid_out;
  RK_TRY(fam->layout(m, &laid_out));
  rk_status st = export_model(laid_out, fam, schema, path);
  laid_out->ops->free(laid_out);
  return st;
}
