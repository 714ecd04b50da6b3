/*
 * The session family in the ONNX export (onnx_family.h), for causal GPT-2 models: each feature
 * column in as a padded (batch, T) tensor (the session's last T items, right-padded with the pad
 * token, as the workflow leaves them and Merlin's padded lists are), and out `next-item`
 * (batch, V): every item's score for the session's next item, (h . W_v + b_v) / temperature at
 * the session's last item, as `reckon sessions` ranks the catalogue in its predict phase.
 * The feed's other inputs are made in the graph from the item column: the attention's key ids
 * are the items themselves, the row read is the last item's (n - 1, n the non-padding count),
 * and PREDICT masks no row of a causal model.
 * Refused by name: masked-LM models (albert, bert, --mlm: their predict phase adds a [MASK] row),
 * the recurrent and avgseq bodies, session-aware models.
 */
#include <string.h>

#include "export/onnx/onnx_family.h"
#include "reckon/metrics.h"
#include "reckon/sessions.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64

static rk_status check(const rk_model *m) {
  const rk_session_config *c = rk_session_model_config(m);
  if (c->model_type != RK_SESSION_GPT2) {
    const char *word;
    int len = rk_setting_pick_word(RK_SESSION_MODEL_CHOICES, c->model_type, &word);
    return rk_error(RK_EUNSUPPORTED, "onnx export: session model type '%.*s' has no ONNX export (gpt2 has)", len, word);
  }
  if (c->session_aware)
    return rk_error(RK_EUNSUPPORTED, "onnx export: a session-aware model reads past sessions' columns before each "
                    "session; the ONNX export takes one (batch, T) tensor per feature");
  if (rk_session_config_mlm(c))
    return rk_error(RK_EUNSUPPORTED,
                    "onnx export: a session model trained with --mlm predicts through a [MASK] row; the ONNX export "
                    "takes causal models");
  return RK_OK;
}

static int roots(const rk_model *m, int *out, int cap) {
  if (cap < 1) return 0;
  out[0] = rk_session_model_outputs(m)->hidden;
  return 1;
}

/* The graph input named `name`, or -1. */
static int graph_input(const rk_graph *g, const char *name) {
  for (int v = 0; v < g->n_values; v++)
    if (g->values[v].producer < 0 && g->values[v].kind == RK_VAL_INPUT && strcmp(g->values[v].name, name) == 0)
      return v;
  return -1;
}

static rk_status inputs(rk_onnx_ctx *c, const rk_model *m, const rk_schema *schema, const bool *needed) {
  rk_onnx_builder *b = c->b;
  const rk_session_features *f = rk_session_model_features(m);
  const rk_session_config *cfg = rk_session_model_config(m);
  int64_t T = cfg->session_seq_length_max, pad = cfg->pad_token, zero = 0, one = 1;
  for (int i = 0; i < f->n; i++) {
    const rk_session_feature *ft = &f->features[i];
    const rk_schema_column *sc;
    RK_TRY(rk_onnx_schema_column(schema, ft->name, &sc));
    char doc[300];
    snprintf(doc, sizeof doc, "%s list column '%s' (%s in the data): the session's last %lld values, right-padded with %lld",
             ft->categorical ? "categorical" : "continuous", ft->name, sc->dtype_name, (long long)T, (long long)pad);
    int64_t dims[2] = {RK_ONNX_DIM_BATCH, T};
    rk_onnx_graph_input(b, ft->name, ft->categorical ? I64 : F32, 2, dims, doc);
    int v = graph_input(c->g, ft->name);
    if (v < 0 || !needed[v]) continue;
    /* a continuous feature is (B, T, 1) in the graph */
    c->names[v] = ft->categorical ? rk_onnx_strdup(b, ft->name)
                                  : rk_onnx_op2(b, "Unsqueeze", ft->name, rk_onnx_const_i64(b, 1, (const int64_t[]){-1}));
  }
  const char *items = f->features[f->item].name;
  int keys = graph_input(c->g, "[keys]"), mask = graph_input(c->g, "[mask]"), reads = graph_input(c->g, "[reads]");
  if (keys >= 0 && needed[keys]) c->names[keys] = rk_onnx_strdup(b, items);
  if (mask >= 0 && needed[mask])   /* no [MASK] row: zeros of the items' shape */
    c->names[mask] = rk_onnx_op2(b, "Mul", items, rk_onnx_const_i64(b, 1, &zero));
  if (reads >= 0 && needed[reads]) {   /* the last item's row: n - 1 (-1, a zero row, for an empty session) */
    const char *real = rk_onnx_op1(b, "Not", rk_onnx_op2(b, "Equal", items, rk_onnx_const_i64(b, 1, &pad)));
    const char *count = rk_onnx_op1(b, "Cast", real);
    rk_onnx_attr_int(b, rk_onnx_last(b), "to", I64);
    count = rk_onnx_op2(b, "ReduceSum", count, rk_onnx_const_i64(b, 1, &one));
    rk_onnx_attr_int(b, rk_onnx_last(b), "keepdims", 1);
    c->names[reads] = rk_onnx_op2(b, "Sub", count, rk_onnx_const_i64(b, 1, &one));
  }
  return b->status;
}

/* The parameter whose value is at `data` (the catalogue's matrix and bias). */
static const rk_param *param_at(const rk_model *m, const void *data) {
  for (int i = 0; i < m->n_params; i++)
    if (m->params[i]->value.data == data) return m->params[i];
  return NULL;
}

static rk_status outputs(rk_onnx_ctx *c, const rk_model *m) {
  rk_onnx_builder *b = c->b;
  rk_catalog cat;
  float temperature;
  rk_session_catalog(m, &cat, &temperature);
  const rk_param *w = param_at(m, cat.items), *bias = param_at(m, cat.bias);
  if (!w || !bias) return rk_error(RK_EINTERNAL, "onnx export: the session model's scoring matrix is not a parameter");
  const char *h = c->names[rk_session_model_outputs(m)->hidden];   /* (batch, 1, item_dim) */
  const char *wt = rk_onnx_op1(b, "Transpose", rk_onnx_param(c, w));
  rk_onnx_attr_ints(b, rk_onnx_last(b), "perm", 2, (const int64_t[]){1, 0});
  const char *scores = rk_onnx_op2(b, "Add", rk_onnx_op2(b, "MatMul", h, wt), rk_onnx_param(c, bias));
  if (temperature != 1.0f) scores = rk_onnx_op2(b, "Div", scores, rk_onnx_const_f32(b, 1, &temperature));
  rk_onnx_op2(b, "Reshape", scores, rk_onnx_const_i64(b, 2, (const int64_t[]){0, -1}));
  rk_onnx_name_last_output(b, "next-item");
  int64_t dims[2] = {RK_ONNX_DIM_BATCH, cat.V};
  rk_onnx_graph_output(b, "next-item", F32, 2, dims);
  return b->status;
}

/* The (B, T) body: a share of the model's parameters whose graph keeps the attention weights,
 * which keeps it unpacked (src/models/session_graph.c); the weights are not exported. */
static rk_status layout(const rk_model *m, rk_model **out) { return rk_session_share(out, m, m->g->batch, false, true); }

const rk_onnx_family rk_onnx_session_family = {"session", check, roots, inputs, outputs, layout};
