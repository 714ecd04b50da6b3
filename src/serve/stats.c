/*
 * Statistics per model version, as Triton's statistics extension reports them (success and
 * failure counts with cumulative durations; queue, compute input, compute infer and compute
 * output per request; the same per batch size executed), and the Prometheus text of the metrics
 * port with Triton's nv_inference_* names. A cell lives as long as the server, so the counts
 * survive reloads of a version, as Triton's do.
 *
 * Reference: Triton's docs/protocol/extension_statistics.md and docs/user_guide/metrics.md.
 */
#include <string.h>
#include <time.h>

#include "io/schema_internal.h"
#include "serve/serve_internal.h"

uint64_t rk_serve_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rk_stats_add(rk_serve_duration *d, uint64_t ns) {
  d->count++;
  d->ns += ns;
}

void rk_stats_batch(rk_stats_cell *c, int64_t batch_rows, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns) {
  pthread_mutex_lock(&c->lock);
  rk_serve_model_stats *s = &c->s;
  s->execution_count++;
  int i = 0;
  while (i < s->n_batch && s->batch[i].batch_size < batch_rows) i++;
  if (i == s->n_batch || s->batch[i].batch_size != batch_rows) {
    rk_serve_batch_stats *b = rk_realloc(s->batch, (size_t)(s->n_batch + 1) * sizeof *b);
    if (b) {   /* out of memory: the per-size line is skipped, the totals still count */
      s->batch = b;
      memmove(&b[i + 1], &b[i], (size_t)(s->n_batch - i) * sizeof *b);
      memset(&b[i], 0, sizeof *b);
      b[i].batch_size = batch_rows;
      s->n_batch++;
    }
  }
  if (i < s->n_batch && s->batch[i].batch_size == batch_rows) {
    rk_stats_add(&s->batch[i].compute_input, input_ns);
    rk_stats_add(&s->batch[i].compute_infer, infer_ns);
    rk_stats_add(&s->batch[i].compute_output, output_ns);
  }
  pthread_mutex_unlock(&c->lock);
}

/* Per-request compute durations are their batch's, as Triton counts them: each request of a
 * batch is charged the batch's time. */
void rk_stats_request(rk_stats_cell *c, bool ok, int64_t rows, uint64_t queue_ns, uint64_t total_ns,
                      const uint64_t compute_ns[3]) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  pthread_mutex_lock(&c->lock);
  rk_serve_model_stats *s = &c->s;
  s->last_inference_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
  if (ok) {
    s->inference_count += (uint64_t)rows;
    rk_stats_add(&s->success, total_ns);
    rk_stats_add(&s->queue, queue_ns);
    rk_stats_add(&s->compute_input, compute_ns[0]);
    rk_stats_add(&s->compute_infer, compute_ns[1]);
    rk_stats_add(&s->compute_output, compute_ns[2]);
  } else {
    rk_stats_add(&s->fail, total_ns);
  }
  pthread_mutex_unlock(&c->lock);
}

void rk_stats_step(rk_stats_cell *c, bool ok, int requests, int64_t rows, uint64_t ns) {
  if (!ok && requests > 1) return;
  if (ok) rk_stats_batch(c, rows, 0, ns, 0);
  const uint64_t compute_ns[3] = {0, ns, 0};
  for (int k = 0; k < requests; k++) rk_stats_request(c, ok, k == 0 ? rows : 0, 0, ns, compute_ns);
}

rk_status rk_stats_copy(rk_serve_model_stats *dst, rk_stats_cell *src) {
  pthread_mutex_lock(&src->lock);
  *dst = src->s;
  dst->name = rk_strdup(src->s.name);
  dst->batch = src->s.n_batch ? rk_malloc((size_t)src->s.n_batch * sizeof *dst->batch) : NULL;
  bool ok = dst->name && (dst->batch || !src->s.n_batch);
  if (dst->batch) memcpy(dst->batch, src->s.batch, (size_t)src->s.n_batch * sizeof *dst->batch);
  pthread_mutex_unlock(&src->lock);
  if (!ok) {
    rk_serve_model_stats_clear(dst);
    return RK_ENOMEM;
  }
  return RK_OK;
}

void rk_serve_model_stats_clear(rk_serve_model_stats *m) {
  rk_free(m->name);
  rk_free(m->batch);
  memset(m, 0, sizeof *m);
}

void rk_serve_stats_free(rk_serve_stats *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) rk_serve_model_stats_clear(&st->models[i]);
  rk_free(st->models);
  st->models = NULL;
  st->n = 0;
}

rk_status rk_server_metrics_text(rk_server *s, char **text) {
  *text = NULL;
  rk_serve_stats st = {0};
  RK_TRY(rk_server_stats(s, NULL, 0, &st));
  static const struct {
    const char *name, *help, *type;
  } families[] = {
      {"nv_inference_request_success", "Number of successful inference requests, all batch sizes", "counter"},
      {"nv_inference_request_failure", "Number of failed inference requests, all batch sizes", "counter"},
      {"nv_inference_count", "Number of inferences performed (does not include cached requests)", "counter"},
      {"nv_inference_exec_count", "Number of model executions performed (does not include cached requests)", "counter"},
      {"nv_inference_request_duration_us", "Cumulative inference request duration in microseconds", "counter"},
      {"nv_inference_queue_duration_us", "Cumulative inference queuing duration in microseconds", "counter"},
      {"nv_inference_compute_input_duration_us", "Cumulative compute input duration in microseconds", "counter"},
      {"nv_inference_compute_infer_duration_us", "Cumulative compute inference duration in microseconds", "counter"},
      {"nv_inference_compute_output_duration_us", "Cumulative inference compute output duration in microseconds", "counter"},
  };
  rk_schema_buf b = {0};
  for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
    rk_schema_buf_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", families[f].name, families[f].help, families[f].name,
                         families[f].type);
    for (int i = 0; i < st.n; i++) {
      const rk_serve_model_stats *m = &st.models[i];
      uint64_t v = 0;
      switch (f) {
        case 0: v = m->success.count; break;
        case 1: v = m->fail.count; break;
        case 2: v = m->inference_count; break;
        case 3: v = m->execution_count; break;
        case 4: v = (m->success.ns + m->fail.ns) / 1000; break;
        case 5: v = m->queue.ns / 1000; break;
        case 6: v = m->compute_input.ns / 1000; break;
        case 7: v = m->compute_infer.ns / 1000; break;
        default: v = m->compute_output.ns / 1000; break;
      }
      rk_schema_buf_printf(&b, "%s{model=\"", families[f].name);
      for (const char *p = m->name; *p; p++) {   /* label values escape \ and " */
        if (*p == '\\' || *p == '"') rk_schema_buf_puts(&b, "\\");
        rk_schema_buf_put(&b, p, 1);
      }
      rk_schema_buf_printf(&b, "\",version=\"%lld\"} %llu\n", (long long)m->version, (unsigned long long)v);
    }
  }
  rk_serve_stats_free(&st);
  size_t len;
  return rk_schema_buf_finish(&b, text, &len);
}
