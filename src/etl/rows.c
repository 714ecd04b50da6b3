/*
 * Which rows survive and where they go: the user and item frequency filters (in rounds, on
 * dictionary indices), and the split (random, random by user, temporal), all decided by pure
 * functions of a row's stage-1 values and the seed, so every pass agrees without storing a
 * decision per row.
 */
#include <math.h>
#include <string.h>

#include "etl/preprocess_internal.h"

#define SPLIT_STREAM 0x5e11ull

/* A row's split key: 64 random bits from (seed, the row's position in its input). */
static uint64_t split_key(uint64_t seed, int64_t row) {
  uint32_t out[4], ctr[4] = {(uint32_t)row, (uint32_t)((uint64_t)row >> 32), 0, (uint32_t)SPLIT_STREAM};
  uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  rk_philox4x32_10(out, ctr, key);
  return ((uint64_t)out[0] << 32) | out[1];
}

static bool user_rule(const rk_preprocess_config *c) { return c->min_user_freq >= 0 || c->max_user_freq >= 0; }
static bool item_rule(const rk_preprocess_config *c) { return c->min_item_freq >= 0 || c->max_item_freq >= 0; }

static bool passes(int64_t n, int64_t lo, int64_t hi) { return (lo < 0 || n >= lo) && (hi < 0 || n <= hi); }

/* Whether a data row survives the frequency filters. */
static bool alive(const pp_state *p, int32_t u, int32_t i) {
  if (p->keep_user && (u < 0 || !p->keep_user[u])) return false;
  if (p->keep_item && (i < 0 || !p->keep_item[i])) return false;
  return true;
}

/* ---- scanning a stage ---- */

int pp_assign_columns(const pp_state *p, int input, const char **names) {
  if (input != PP_DATA) return 0;
  static char user_idx[600], item_idx[600];
  int n = 0;
  names[n++] = "__row";
  if (p->user_col >= 0 && (p->keep_user || p->cfg->split == RK_SPLIT_RANDOM_BY_USER))
    names[n++] = pp_idx_name(p->cols[p->user_col].name, user_idx, sizeof user_idx);
  if (p->item_col >= 0 && p->keep_item) names[n++] = pp_idx_name(p->cols[p->item_col].name, item_idx, sizeof item_idx);
  if (p->cfg->split == RK_SPLIT_TEMPORAL) names[n++] = p->cols[p->ts_col].name;
  return n;
}

static const void *column_values(const rk_batch *b, const char *name) {
  int k = rk_batch_find(b, name);
  return k >= 0 ? b->cols[k].values : NULL;
}

void pp_assign(const pp_state *p, int input, const rk_batch *b, uint8_t *split) {
  if (input != PP_DATA) {
    memset(split, input == PP_EVAL ? SPLIT_EVAL : SPLIT_PREDICT, (size_t)b->nrows);
    return;
  }
  char name[600];
  const int64_t *row = column_values(b, "__row");
  const int32_t *u = p->user_col >= 0 ? column_values(b, pp_idx_name(p->cols[p->user_col].name, name, sizeof name)) : NULL;
  const int32_t *it = p->item_col >= 0 ? column_values(b, pp_idx_name(p->cols[p->item_col].name, name, sizeof name)) : NULL;
  const rk_column *ts = p->ts_col >= 0 ? &b->cols[rk_batch_find(b, p->cols[p->ts_col].name) >= 0
                                                      ? rk_batch_find(b, p->cols[p->ts_col].name) : 0]
                                       : NULL;
  const rk_preprocess_config *c = p->cfg;
  double perc = c->eval_perc;
  for (int64_t r = 0; r < b->nrows; r++) {
    if (!alive(p, u ? u[r] : 0, it ? it[r] : 0)) {
      split[r] = SPLIT_DROP;
      continue;
    }
    uint8_t s = SPLIT_TRAIN;
    switch (c->split) {
      case RK_SPLIT_RANDOM:
        if ((double)(split_key(c->seed, row[r]) >> 11) * 0x1p-53 < perc) s = SPLIT_EVAL;
        break;
      case RK_SPLIT_RANDOM_BY_USER:
        if (u[r] >= 0 && p->user_has_thr[u[r]] && split_key(c->seed, row[r]) <= p->user_thr[u[r]]) s = SPLIT_EVAL;
        break;
      case RK_SPLIT_TEMPORAL:
        if (rk_column_is_null(ts, r))
          s = SPLIT_DROP;
        else if (rk_coltype_is_float(ts->type) ? rk_column_get_double(ts, r) >= (double)c->temporal_timestamp
                                                : rk_column_get_int(ts, r) >= c->temporal_timestamp)
          s = SPLIT_EVAL;
        break;
      case RK_SPLIT_NONE: break;
    }
    split[r] = s;
  }
}

/* The next stage batch: PP_STAGE_ROWS rows (fewer only at the end; 0 rows there), taken from the
 * files' row groups as they come, so a batch may join the end of one rank's file to the start of
 * the next. One process's stage has row groups of that size already: they pass without a copy. */
typedef struct {
  rk_parquet_dataset *ds;
  rk_batch group;          /* the current row group */
  int64_t used;            /* its rows already handed out */
} stage_reader;

static rk_status stage_next(stage_reader *s, rk_batch *out) {
  rk_batch_clear(out);
  while (out->nrows < PP_STAGE_ROWS) {
    if (s->used == s->group.nrows) {
      RK_TRY(rk_parquet_dataset_next(s->ds, &s->group));
      s->used = 0;
      if (s->group.nrows == 0) break;
    }
    if (out->nrows == 0 && s->used == 0 && s->group.nrows == PP_STAGE_ROWS) {
      rk_batch t = *out;   /* a whole group: hand its buffers over */
      *out = s->group;
      s->group = t;
      s->group.nrows = 0;
      return RK_OK;
    }
    if (out->ncols != s->group.ncols) {
      rk_batch_free(out);
      RK_TRY(rk_batch_init(out, s->group.ncols));
      for (int c = 0; c < s->group.ncols; c++) {
        const rk_column *g = &s->group.cols[c];
        RK_TRY(rk_column_init(&out->cols[c], g->name, g->type, g->child ? g->child->type : RK_COL_INT64));
      }
    }
    int64_t take = s->group.nrows - s->used, room = PP_STAGE_ROWS - out->nrows;
    if (take > room) take = room;
    for (int c = 0; c < out->ncols; c++)
      RK_TRY(rk_column_append_column(&out->cols[c], &s->group.cols[c], s->used, s->used + take));
    s->used += take;
    out->nrows += take;
  }
  return RK_OK;
}

rk_status pp_scan(pp_state *p, int input, const char *const *cols, int ncols, const char *label, pp_batch_fn fn,
                  void *ctx) {
  bool assign = input >= 0;
  int which = assign ? input : -1 - input;
  const char *names[64 + 8];
  const char **all = ncols + 8 <= 72 ? names : rk_malloc((size_t)(ncols + 8) * sizeof *all);
  if (!all) return RK_ENOMEM;
  int n = 0;
  for (int i = 0; i < ncols; i++) all[n++] = cols[i];
  if (assign) {
    const char *extra[8];
    int ne = pp_assign_columns(p, input, extra);
    for (int e = 0; e < ne; e++) {
      bool seen = false;
      for (int i = 0; i < n; i++) seen |= strcmp(all[i], extra[e]) == 0;
      if (!seen) all[n++] = extra[e];
    }
  }
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  o.columns = all;
  o.ncolumns = n;
  stage_reader sr = {NULL, {0}, 0};
  rk_status st = rk_parquet_dataset_open(&sr.ds, p->stage[which], &o);
  rk_batch b = {0};
  uint8_t *split = NULL;
  int64_t split_cap = 0, done = 0, total = sr.ds ? rk_parquet_dataset_num_rows(sr.ds) : 0;
  rk_progress progress;
  rk_progress_begin(&progress, label, (double)total, "rows");
  while (st == RK_OK && (st = stage_next(&sr, &b)) == RK_OK && b.nrows > 0) {
    if (assign && b.nrows > split_cap) {
      rk_free(split);
      split_cap = b.nrows;
      if (!(split = rk_malloc((size_t)split_cap))) st = RK_ENOMEM;
    }
    if (st == RK_OK && assign) pp_assign(p, input, &b, split);
    if (st == RK_OK) st = fn(p, &b, split, ctx);
    done += b.nrows;
    rk_progress_update(&progress, (double)done);
  }
  rk_progress_end(&progress);
  rk_batch_free(&b);
  rk_batch_free(&sr.group);
  rk_free(split);
  if (sr.ds) rk_parquet_dataset_close(sr.ds);
  if (all != names) rk_free(all);
  return st;
}

/* ---- frequency filters ---- */

typedef struct {
  int64_t *count;          /* per user or per item */
  bool of_users;
  int ucol, icol;          /* their index columns in the scanned batch, or -1 */
} count_ctx;

static rk_status count_batch(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  (void)split;
  count_ctx *c = arg;
  const int32_t *u = c->ucol >= 0 ? b->cols[c->ucol].values : NULL;
  const int32_t *it = c->icol >= 0 ? b->cols[c->icol].values : NULL;
  for (int64_t r = 0; r < b->nrows; r++) {
    int32_t uu = u ? u[r] : 0, ii = it ? it[r] : 0;
    if (!alive(p, uu, ii)) continue;
    int32_t k = c->of_users ? uu : ii;
    if (k >= 0) c->count[k]++;
  }
  return RK_OK;
}

/* Counts per user or item over the rows alive now. */
static rk_status count_alive(pp_state *p, bool of_users, int64_t *count, int64_t n) {
  memset(count, 0, (size_t)n * sizeof *count);
  char a[600], b[600];
  const char *cols[2];
  count_ctx c = {count, of_users, -1, -1};
  int nc = 0;
  if (p->user_col >= 0) {
    c.ucol = nc;
    cols[nc++] = pp_idx_name(p->cols[p->user_col].name, a, sizeof a);
  }
  if (p->item_col >= 0) {
    c.icol = nc;
    cols[nc++] = pp_idx_name(p->cols[p->item_col].name, b, sizeof b);
  }
  return pp_scan(p, -1 - PP_DATA, cols, nc, of_users ? "filter users" : "filter items", count_batch, &c);
}

static int64_t apply_rule(uint8_t *keep, const int64_t *count, int64_t n, int64_t lo, int64_t hi, int64_t *rows_left) {
  int64_t removed = 0;
  *rows_left = 0;
  for (int64_t k = 0; k < n; k++) {
    if (!keep[k]) continue;
    if (!passes(count[k], lo, hi)) {
      keep[k] = 0;
      removed++;
    } else {
      *rows_left += count[k];
    }
  }
  return removed;
}

rk_status pp_frequency_filter(pp_state *p) {
  const rk_preprocess_config *c = p->cfg;
  bool ur = user_rule(c), ir = item_rule(c);
  if (!ur && !ir) return RK_OK;
  double t0 = rk_now();
  pp_column *uc = p->user_col >= 0 ? &p->cols[p->user_col] : NULL, *ic = p->item_col >= 0 ? &p->cols[p->item_col] : NULL;
  int64_t nu = uc ? rk_dict_size(uc->dict) : 0, ni = ic ? rk_dict_size(ic->dict) : 0;
  int64_t *count = rk_malloc((size_t)((nu > ni ? nu : ni) + 1) * sizeof *count);
  if (!count) return RK_ENOMEM;
  rk_status st = RK_OK;
  if (ur && !(p->keep_user = rk_malloc((size_t)nu + 1))) st = RK_ENOMEM;
  if (st == RK_OK && ir && !(p->keep_item = rk_malloc((size_t)ni + 1))) st = RK_ENOMEM;
  if (p->keep_user) memset(p->keep_user, 1, (size_t)nu + 1);
  if (p->keep_item) memset(p->keep_item, 1, (size_t)ni + 1);
  json_t *rounds = json_array();
  int64_t rows_left = 0;
  for (int round = 1; st == RK_OK && round <= c->num_max_rounds_filtering; round++) {
    bool changed = false;
    json_t *rr = json_object();
    json_object_set_new(rr, "round", json_integer(round));
    if (ur) {
      /* Round 1 sees every row, which ingest has already counted. */
      if (round == 1) {
        memcpy(count, uc->count, (size_t)nu * sizeof *count);
      } else {
        st = count_alive(p, true, count, nu);
      }
      if (st != RK_OK) break;
      int64_t removed = apply_rule(p->keep_user, count, nu, c->min_user_freq, c->max_user_freq, &rows_left);
      changed |= removed > 0;
      json_object_set_new(rr, "users_removed", json_integer(removed));
      json_object_set_new(rr, "rows_after_users", json_integer(rows_left));
      rk_debug("filter round %d: %lld users removed, %lld rows left", round, (long long)removed, (long long)rows_left);
    }
    if (ir) {
      if (round == 1 && !ur) {
        memcpy(count, ic->count, (size_t)ni * sizeof *count);
      } else {
        st = count_alive(p, false, count, ni);
      }
      if (st != RK_OK) break;
      int64_t removed = apply_rule(p->keep_item, count, ni, c->min_item_freq, c->max_item_freq, &rows_left);
      changed |= removed > 0;
      json_object_set_new(rr, "items_removed", json_integer(removed));
      json_object_set_new(rr, "rows_after_items", json_integer(rows_left));
      rk_debug("filter round %d: %lld items removed, %lld rows left", round, (long long)removed, (long long)rows_left);
    }
    json_array_append_new(rounds, rr);
    /* One rule alone is stable after one round: the rows it keeps keep their counts. */
    if (!changed || !(ur && ir)) break;
  }
  rk_free(count);
  json_object_set_new(p->report, "frequency_filter",
                      json_pack("{soss}", "rounds", rounds, "note",
                                "rows with a null user (item) id are removed by the user (item) rule"));
  pp_time(p, "frequency_filter", t0);
  return st;
}

/* ---- random_by_user: per user, the floor(p * n_u) rows with the smallest split keys ---- */

typedef struct {
  int64_t *n;              /* rows per user, then heap offsets */
  int64_t *fill;           /* values in each user's heap */
  int64_t *cap;
  uint64_t *heap;
} by_user_ctx;

static rk_status count_users(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  by_user_ctx *c = arg;
  const int32_t *u = b->cols[0].values;
  for (int64_t r = 0; r < b->nrows; r++)
    if (split[r] != SPLIT_DROP && u[r] >= 0) c->n[u[r]]++;
  (void)p;
  return RK_OK;
}

/* Keep the `cap` smallest keys in a max-heap. */
static void heap_offer(uint64_t *h, int64_t *fill, int64_t cap, uint64_t key) {
  if (cap == 0) return;
  int64_t n = *fill;
  if (n < cap) {
    int64_t i = n;
    h[i] = key;
    while (i > 0 && h[(i - 1) / 2] < h[i]) {
      uint64_t t = h[i];
      h[i] = h[(i - 1) / 2];
      h[(i - 1) / 2] = t;
      i = (i - 1) / 2;
    }
    *fill = n + 1;
    return;
  }
  if (key >= h[0]) return;
  h[0] = key;
  for (int64_t i = 0;;) {
    int64_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && h[l] > h[m]) m = l;
    if (r < n && h[r] > h[m]) m = r;
    if (m == i) break;
    uint64_t t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static rk_status offer_users(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  by_user_ctx *c = arg;
  const int32_t *u = b->cols[0].values;
  const int64_t *row = column_values(b, "__row");
  for (int64_t r = 0; r < b->nrows; r++) {
    if (split[r] == SPLIT_DROP || u[r] < 0) continue;
    int32_t k = u[r];
    heap_offer(c->heap + c->n[k], &c->fill[k], c->cap[k], split_key(p->cfg->seed, row[r]));
  }
  return RK_OK;
}

static rk_status prepare_by_user(pp_state *p) {
  int64_t nu = rk_dict_size(p->cols[p->user_col].dict);
  by_user_ctx c = {rk_calloc((size_t)nu + 1, sizeof(int64_t)), rk_calloc((size_t)nu + 1, sizeof(int64_t)),
                   rk_calloc((size_t)nu + 1, sizeof(int64_t)), NULL};
  p->user_thr = rk_calloc((size_t)nu + 1, sizeof *p->user_thr);
  p->user_has_thr = rk_calloc((size_t)nu + 1, 1);
  rk_status st = c.n && c.fill && c.cap && p->user_thr && p->user_has_thr ? RK_OK : RK_ENOMEM;
  char name[600];
  const char *col = pp_idx_name(p->cols[p->user_col].name, name, sizeof name);
  /* The split is not known yet: assign with "no split" sees only the filters. */
  rk_preprocess_config plain = *p->cfg;
  plain.split = RK_SPLIT_NONE;
  const rk_preprocess_config *saved = p->cfg;
  p->cfg = &plain;
  if (st == RK_OK) st = pp_scan(p, PP_DATA, &col, 1, "split by user", count_users, &c);
  p->cfg = saved;
  int64_t total = 0;
  for (int64_t k = 0; st == RK_OK && k < nu; k++) {
    c.cap[k] = (int64_t)floor(p->cfg->eval_perc * (double)c.n[k]);
    int64_t off = total;
    total += c.cap[k];
    c.n[k] = off;   /* from here on: the heap's offset */
  }
  if (st == RK_OK && !(c.heap = rk_malloc((size_t)(total ? total : 1) * sizeof *c.heap))) st = RK_ENOMEM;
  p->cfg = &plain;
  if (st == RK_OK) st = pp_scan(p, PP_DATA, &col, 1, "split by user", offer_users, &c);
  p->cfg = saved;
  for (int64_t k = 0; st == RK_OK && k < nu; k++) {
    if (c.cap[k] == 0) continue;
    p->user_has_thr[k] = 1;
    p->user_thr[k] = c.heap[c.n[k]];
  }
  rk_free(c.n);
  rk_free(c.fill);
  rk_free(c.cap);
  rk_free(c.heap);
  return st;
}

rk_status pp_prepare_split(pp_state *p) {
  const rk_preprocess_config *c = p->cfg;
  if (c->split == RK_SPLIT_TEMPORAL) {
    rk_coltype t = p->cols[p->ts_col].type;
    if (!rk_coltype_is_int(t) && !rk_coltype_is_float(t))
      return rk_error(RK_EUSAGE, "--timestamp_feature '%s' is %s; the temporal split compares numbers",
                      p->cols[p->ts_col].name, rk_coltype_name(t));
  }
  if (c->split != RK_SPLIT_RANDOM_BY_USER) return RK_OK;
  double t0 = rk_now();
  rk_status st = prepare_by_user(p);
  pp_time(p, "split_by_user", t0);
  return st;
}
