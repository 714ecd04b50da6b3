/*
 * The session family behind the model interface (reckon/model.h): build (parameters and a graph),
 * share (another graph over the same parameters), free, model.json's keys, and what a forward
 * leaves for ranking (reckon/sessions.h). The parameters are session_params.c's, the graph
 * session_graph.c's, the feed session_feed.c's.
 */
#include <string.h>

#include "session_internal.h"

const rk_session_model *rk_session_of(const rk_model *m) { return (const rk_session_model *)m->self; }

bool rk_model_is_session(const rk_model *m) { return m && m->ops && strcmp(m->ops->family, "session") == 0; }
const rk_session_config *rk_session_model_config(const rk_model *m) { return &rk_session_of(m)->cfg; }
const rk_session_features *rk_session_model_features(const rk_model *m) { return &rk_session_of(m)->features; }
const rk_session_outputs *rk_session_model_outputs(const rk_model *m) { return &rk_session_of(m)->sg.out; }

void rk_session_catalog(const rk_model *m, rk_catalog *cat, float *temperature) {
  const rk_session_model *sm = rk_session_of(m);
  const rk_param *w = rk_session_scoring_matrix(sm->params, &sm->features, &sm->cfg);
  *cat = (rk_catalog){.items = w->value.data, .bias = sm->params->out_b.value.data, .V = w->value.shape[0],
                      .D = w->value.shape[1], .first_item = 0, .block = 0};
  if (temperature) *temperature = sm->cfg.softmax_temperature;
}

static void free_model(rk_model *m) {
  if (!m) return;
  rk_session_model *sm = m->self;
  rk_session_graph_free(&sm->sg);
  if (sm->owner) {
    rk_session_params_free(&sm->own);
    rk_session_features_free(&sm->features);
  }
  rk_free(sm);
}

static json_t *describe(const rk_model *m) {
  const rk_session_model *sm = rk_session_of(m);
  return json_pack("{so so}", "model", rk_session_config_to_json(&sm->cfg), "features",
                   rk_session_features_to_json(&sm->features));
}

static int param_group(const rk_model *m, int i) {
  (void)m, (void)i;
  return 0;
}

static rk_status share_table(rk_model **out, const rk_model *m, int64_t batch, bool train) {
  return rk_session_share(out, m, batch, train, false);
}

static const rk_model_ops session_ops = {
    .family = "session",
    .share = share_table,
    .feed_init = rk_session_feed_init,
    .feed_max_columns = rk_session_feed_max_columns,
    .feed_columns = rk_session_feed_columns,
    .feed_batch_rows = rk_session_feed_batch_rows,
    .feed_fill = rk_session_feed_fill,
    .feed_sources = rk_session_feed_sources,
    .feed_weights = rk_session_feed_weights,
    .feed_free = rk_session_feed_free,
    .describe = describe,
    .param_group = param_group,
    .free = free_model,
};

static void fill_base(rk_session_model *sm) {
  sm->base = (rk_model){.ops = &session_ops,
                        .self = sm,
                        .g = sm->sg.g,
                        .params = sm->params->list,
                        .n_params = sm->params->n,
                        .out = {.loss = sm->sg.out.loss, .reg = RK_NO_VALUE}};
}

static rk_status check_batch(int64_t batch) {
  if (batch < 1 || batch > (INT64_C(1) << 28))
    return rk_error(RK_EUSAGE, "invalid batch size %lld: expected 1 to 2^28 sessions", (long long)batch);
  return RK_OK;
}

rk_status rk_session_build(rk_model **out, const rk_session_features *features, const rk_session_config *c,
                           int64_t batch, bool train) {
  *out = NULL;
  RK_TRY(check_batch(batch));
  rk_session_model *sm = rk_calloc(1, sizeof *sm);
  if (!sm) return RK_ENOMEM;
  sm->cfg = *c;
  sm->owner = true;
  sm->params = &sm->own;
  rk_status st = rk_session_features_copy(&sm->features, features);
  if (st == RK_OK) st = rk_session_params_create(&sm->own, &sm->features, &sm->cfg);
  if (st == RK_OK) st = rk_session_graph_build(&sm->sg, &sm->own, &sm->features, &sm->cfg, batch, train, false);
  if (st != RK_OK) {
    rk_session_params_free(&sm->own);
    rk_session_features_free(&sm->features);
    rk_free(sm);
    return st;
  }
  fill_base(sm);
  *out = &sm->base;
  return RK_OK;
}

rk_status rk_session_share(rk_model **out, const rk_model *m, int64_t batch, bool train, bool attention_weights) {
  *out = NULL;
  RK_TRY(check_batch(batch));
  const rk_session_model *from = rk_session_of(m);
  rk_session_model *sm = rk_calloc(1, sizeof *sm);
  if (!sm) return RK_ENOMEM;
  sm->cfg = from->cfg;
  sm->features = from->features;   /* the owner's: a share never frees them */
  sm->params = from->params;
  rk_status st = rk_session_graph_build(&sm->sg, sm->params, &sm->features, &sm->cfg, batch, train, attention_weights);
  if (st != RK_OK) {
    rk_free(sm);
    return st;
  }
  fill_base(sm);
  *out = &sm->base;
  return RK_OK;
}
