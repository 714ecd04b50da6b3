/*
 * The ranking family behind the model interface (reckon/model.h): every rk_ranking_model carries
 * an rk_model view of itself (`base`, filled when its graph is built), whose table calls the
 * family's own functions: rk_ranking_share, the ranking feed (src/models/ranking_feed.c), the
 * model.json keys of src/models/model_dir.c, the wide part's optimizer.
 */
#include "ranking_internal.h"

static const rk_ranking_model *ranking(const rk_model *m) { return (const rk_ranking_model *)m->self; }

/* The ranking feed is an rk_feed; the interface sees it as the family's opaque feed. */
static rk_feed *feed(rk_model_feed *f) { return (rk_feed *)f; }
static const rk_feed *const_feed(const rk_model_feed *f) { return (const rk_feed *)f; }

static void free_shared(rk_model *m) {
  rk_ranking_model *r = m->self;
  rk_ranking_free(r);
  rk_free(r);
}

static rk_status share(rk_model **out, const rk_model *m, int64_t batch, bool train) {
  *out = NULL;
  rk_ranking_model *r = rk_calloc(1, sizeof *r);
  if (!r) return RK_ENOMEM;
  rk_status st = rk_ranking_share(r, ranking(m), batch, train);
  if (st != RK_OK) {
    rk_free(r);
    return st;
  }
  *out = &r->base;
  return RK_OK;
}

static rk_status feed_init(rk_model_feed **out, const rk_model *m, const rk_schema *schema, int64_t negatives,
                           const rk_task_weights *tw, uint64_t seed) {
  *out = NULL;
  rk_feed *f = rk_calloc(1, sizeof *f);
  if (!f) return RK_ENOMEM;
  rk_status st = rk_feed_init(f, ranking(m), schema, negatives, tw, seed);
  if (st != RK_OK) {
    rk_free(f);
    return st;
  }
  *out = (rk_model_feed *)f;
  return RK_OK;
}

static int feed_max_columns(const rk_model *m) { return rk_feed_max_columns(ranking(m)); }

static int feed_columns(const rk_model_feed *f, bool with_targets, const char **names) {
  return rk_feed_columns(const_feed(f), with_targets, names);
}

static int64_t feed_batch_rows(const rk_model_feed *f) { return rk_feed_batch_rows(const_feed(f)); }

static rk_status feed_fill(rk_model_feed *f, const rk_batch *batch, uint64_t step) {
  return rk_feed_fill(feed(f), batch, step);
}

static const int64_t *feed_sources(const rk_model_feed *f) { return const_feed(f)->src; }

static const rk_task_weights *feed_weights(const rk_model_feed *f) { return &const_feed(f)->tw; }

static void feed_free(rk_model_feed *f) {
  if (!f) return;
  rk_feed_free(feed(f));
  rk_free(f);
}

static json_t *describe(const rk_model *m) { return rk_ranking_describe(ranking(m)); }

static int param_group(const rk_model *m, int i) { return rk_ranking_param_is_wide(m->params[i]) ? 1 : 0; }

static const rk_model_ops ranking_ops = {
    .family = "ranking",
    .share = share,
    .feed_init = feed_init,
    .feed_max_columns = feed_max_columns,
    .feed_columns = feed_columns,
    .feed_batch_rows = feed_batch_rows,
    .feed_fill = feed_fill,
    .feed_sources = feed_sources,
    .feed_weights = feed_weights,
    .feed_free = feed_free,
    .describe = describe,
    .param_group = param_group,
    .free = free_shared,
};

void rk_ranking_fill_base(rk_ranking_model *m) {
  m->base = (rk_model){
      .ops = &ranking_ops,
      .self = m,
      .g = m->g,
      .params = m->params,
      .n_params = m->n_params,
      .out = {.n_tasks = m->n_tasks,
              .targets = m->targets,
              .regression = m->task_regression,
              .logits = m->logits,
              .labels = m->labels,
              .weights = m->weights,
              .task_losses = m->task_losses,
              .gate_probs = m->gate_probs,
              .loss = m->loss,
              .reg = m->reg},
  };
}
