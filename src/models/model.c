/*
 * What every model family shares behind reckon/model.h: the task weights' defaults, the graph
 * rows a batch with in-batch negatives takes, and an inference graph sized to the data (for the
 * families with per-row tasks). The
 * families' tables are theirs (src/models/ranking_model.c).
 */
#include <string.h>

#include "reckon/model.h"
#include "reckon/parquet.h"

void rk_task_weights_default(rk_task_weights *w) {
  memset(w, 0, sizeof *w);
  for (int t = 0; t < RK_MAX_TASKS; t++) w->loss_weight[t] = w->positive_weight[t] = 1.0f;
}

rk_status rk_feed_graph_rows(int64_t *out, int64_t batch_rows, int64_t negatives, const char *flag) {
  *out = 0;
  if (batch_rows < 1) return rk_error(RK_EUSAGE, "invalid batch size %lld: expected at least 1", (long long)batch_rows);
  if (negatives < 0) return rk_error(RK_EUSAGE, "invalid value '%lld' for %s: expected 0 or more", (long long)negatives, flag);
  if (negatives > 0 && negatives >= batch_rows)
    return rk_error(RK_EUSAGE, "invalid value '%lld' for %s: expected at most %lld, the other rows of a %lld-row batch "
                    "(a row's negatives come from them)", (long long)negatives, flag, (long long)batch_rows - 1,
                    (long long)batch_rows);
  return rk_size_mul(out, batch_rows, 1 + negatives, "the graph's rows (batch size x (1 + in-batch negatives))");
}

rk_status rk_model_share_for_data(rk_model **out, const rk_model *m, const char *path, int64_t rows,
                                  int64_t negatives) {
  *out = NULL;
  /* Per-task outputs are what its callers (evaluate, predict) read: a family without tasks (the
   * session models, which rank a catalogue per session) has its own commands. */
  if (m->out.n_tasks < 1)
    return rk_error(RK_EUSAGE, "this is a %s model: it ranks the whole catalogue per session and has no per-row task "
                    "to evaluate or predict here; use reckon sessions (--model_name_or_path) for it", m->ops->family);
  int64_t graph_rows;   /* the flag's batch bounds the negatives, whatever the data's rows */
  RK_TRY(rk_feed_graph_rows(&graph_rows, rows, negatives, "--in_batch_negatives_eval"));
  rk_parquet_dataset *ds = NULL;   /* its rows are counted from the footers at open */
  if (rk_parquet_dataset_open(&ds, path, NULL) == RK_OK) {
    int64_t have = rk_parquet_dataset_num_rows(ds);
    if (have > 0 && have < rows) rows = have;
    rk_parquet_dataset_close(ds);
  }
  rk_error_clear();   /* an unreadable path is reported by the loader, with its context */
  graph_rows = rows * (1 + negatives);   /* at most the product checked above */
  return m->ops->share(out, m, graph_rows, false);
}
