/*
 * Transforming the stages and writing the output: each stage-1 batch becomes the workflow's
 * columns (ids from the fitted remap arrays, normalised values, out-of-fold target encodings on
 * train), its rows are routed to their split, and each split is cut into
 * --output_num_partitions files of consecutive rows (part_0.parquet, ...), in input order.
 *
 * With several ranks each writes a contiguous block of every split's parts (all ranks hold the
 * same fitted workflow and scan the same merged stage): a rank transforms only the batches
 * holding rows of its parts and hands a part's writer exactly the slices one process would, so
 * every file has the single-process bytes. The per-split counts of the report are summed over
 * the ranks; rank 0 writes the schema files.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "etl/preprocess_internal.h"

static const char *const split_names[4] = {"dropped", "train", "eval", "predict"};   /* in the report */
/* Their folders: the quick-start's preprocessing.py writes --test_data_path's rows to test/
 * (preprocess.c links predict/, reckon's earlier name, to it). */
static const char *const split_dirs[4] = {"dropped", "train", "eval", "test"};

/* ---- a split's partitioned writer ---- */

typedef struct {
  char *dir;
  int64_t total;           /* rows this split will get */
  int64_t written;         /* rows passed so far, this rank's parts' or not */
  int parts, part;
  int mine_begin, mine_end;   /* the parts this rank writes: [mine_begin, mine_end) */
  rk_parquet_writer *w;
  rk_batch slice;
  bool with_targets;
  int64_t *oov, *nulls;    /* per workflow column: rows written with id 2 / id 1 */
} split_writer;

static rk_status open_part(pp_state *p, split_writer *s) {
  char name[64];
  snprintf(name, sizeof name, "part_%d.parquet", s->part);
  char *path = pp_path(s->dir, name);
  if (!path) return RK_ENOMEM;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = p->cfg->compression ? p->cfg->compression : "snappy";
  rk_status st = rk_parquet_writer_open(&s->w, path, &o);
  rk_free(path);
  return st;
}

static rk_status empty_batch(const pp_state *p, bool with_targets, rk_batch *b) {
  int n = 0;
  for (int i = 0; i < p->wf.n_cols; i++) n += with_targets || !p->wf.cols[i].is_target;
  RK_TRY(rk_batch_init(b, n));
  for (int i = 0, k = 0; i < p->wf.n_cols; i++) {
    const rk_wf_column *c = &p->wf.cols[i];
    if (!with_targets && c->is_target) continue;
    RK_TRY(rk_column_init(&b->cols[k++], c->name, c->is_list ? RK_COL_LIST : c->out_type, c->out_type));
  }
  return RK_OK;
}

static bool mine(const split_writer *s, int part) { return part >= s->mine_begin && part < s->mine_end; }

static rk_status close_part(pp_state *p, split_writer *s) {
  if (!mine(s, s->part)) return RK_OK;
  if (!s->w) {
    /* A partition without rows is still a file, with the columns. */
    RK_TRY(open_part(p, s));
    rk_batch e = {0};
    rk_status st = empty_batch(p, s->with_targets, &e);
    if (st == RK_OK) st = rk_parquet_writer_write(s->w, &e);
    rk_batch_free(&e);
    if (st != RK_OK) {
      rk_parquet_writer_abort(s->w);
      s->w = NULL;
      return st;
    }
  }
  rk_status st = rk_parquet_writer_close(s->w);
  s->w = NULL;
  return st;
}

static int64_t part_end(const split_writer *s, int part) {
  return (int64_t)((__int128)s->total * (part + 1) / s->parts);
}

static rk_status write_slice(pp_state *p, split_writer *s, const rk_batch *b, int64_t begin, int64_t end) {
  if (!s->w) RK_TRY(open_part(p, s));
  if (begin == 0 && end == b->nrows) return rk_parquet_writer_write(s->w, b);
  rk_batch_free(&s->slice);
  RK_TRY(rk_batch_init(&s->slice, b->ncols));
  for (int c = 0; c < b->ncols; c++) {
    const rk_column *from = &b->cols[c];
    RK_TRY(rk_column_init(&s->slice.cols[c], from->name, from->type, from->child ? from->child->type : RK_COL_INT64));
    RK_TRY(rk_column_append_column(&s->slice.cols[c], &b->cols[c], begin, end));
  }
  s->slice.nrows = end - begin;
  return rk_parquet_writer_write(s->w, &s->slice);
}

/* The first row of `part` in the split. */
static int64_t part_begin(const split_writer *s, int part) { return part == 0 ? 0 : part_end(s, part - 1); }

/* Whether rows [written, written + n) of the split touch this rank's parts. */
static bool touches_mine(const split_writer *s, int64_t n) {
  if (n == 0 || s->mine_begin >= s->mine_end) return false;
  return s->written < part_begin(s, s->mine_end) && s->written + n > part_begin(s, s->mine_begin);
}

/* Pass the split's next n rows: written to their part when it is this rank's, else only counted
 * (b may then be NULL). */
static rk_status split_write(pp_state *p, split_writer *s, const rk_batch *b, int64_t n) {
  int64_t off = 0;
  while (off < n) {
    if (s->part >= s->parts) return rk_error(RK_EINTERNAL, "more rows than counted for %s", s->dir);
    int64_t room = part_end(s, s->part) - s->written;
    if (room <= 0) {
      RK_TRY(close_part(p, s));
      s->part++;
      continue;
    }
    int64_t take = n - off < room ? n - off : room;
    if (mine(s, s->part)) {
      if (!b) return rk_error(RK_EINTERNAL, "%s: rows of this rank's part %d were skipped", s->dir, s->part);
      RK_TRY(write_slice(p, s, b, off, off + take));
    }
    off += take;
    s->written += take;
  }
  return RK_OK;
}

static rk_status split_finish(pp_state *p, split_writer *s) {
  for (; s->part < s->parts; s->part++) RK_TRY(close_part(p, s));
  return RK_OK;
}

/* ---- transforming one stage batch ---- */

typedef struct {
  pp_state *p;
  const rk_batch *in;      /* the scanned stage batch */
  const int *in_col;       /* per workflow column: its input column in `in` */
  int row_col;
  bool train_folds;        /* data stage: train rows get out-of-fold encodings */
  const uint8_t *split;
  rk_batch *out;           /* every row, every workflow column present */
  const int *out_col;      /* per workflow column: its column in out, or -1 */
} emit_ctx;

/* Ids from the stage's dictionary indices; a list column's values one by one, into lists of the
 * same lengths. */
static rk_status emit_categorify(emit_ctx *e, const rk_wf_column *wc, const rk_column *in, rk_column *out) {
  pp_column *pc = &e->p->cols[pp_find(e->p, wc->source)];
  if (wc->is_list) {
    int64_t rows = in->length, n = in->offsets[rows] - in->offsets[0];
    RK_TRY(rk_column_reserve(out, rows, n));
    for (int64_t r = 0; r <= rows; r++) out->offsets[r] = in->offsets[r] - in->offsets[0];
    out->length = rows;
    out->child->length = n;
    rk_column values = *in->child;   /* a view of this batch's values */
    values.values = (int32_t *)in->child->values + in->offsets[0];
    values.length = n;
    rk_wf_column flat = *wc;
    flat.is_list = false;
    return emit_categorify(e, &flat, &values, out->child);
  }
  const int32_t *idx = in->values;
  for (int64_t r = 0; r < in->length; r++) {
    int64_t id = idx[r] >= 0 ? pc->remap[idx[r]] : 1;
    switch (out->type) {
      case RK_COL_INT8: ((int8_t *)out->values)[r] = (int8_t)id; break;
      case RK_COL_INT16: ((int16_t *)out->values)[r] = (int16_t)id; break;
      case RK_COL_INT32: ((int32_t *)out->values)[r] = (int32_t)id; break;
      default: ((int64_t *)out->values)[r] = id; break;
    }
  }
  return RK_OK;
}

static rk_status emit_normalize(const rk_wf_column *wc, const rk_column *in, rk_column *out) {
  float *y = out->values;
  for (int64_t r = 0; r < in->length; r++) {
    double x = rk_etl_value_double(in, r);
    if (isnan(x) && wc->fill != RK_FILL_NONE) x = wc->fill_value;
    if (isnan(x)) {
      y[r] = 0.0f;
      RK_TRY(rk_column_set_null(out, r));
    } else {
      y[r] = rk_wf_normalize_value(wc, x);
    }
  }
  return RK_OK;
}

static rk_status emit_target_encoding(emit_ctx *e, const rk_wf_column *wc, int wf_index, const rk_column *in,
                                      rk_column *out) {
  const pp_te *te = NULL;
  for (int k = 0; k < e->p->n_te; k++)
    if (e->p->te[k].wf_col == wf_index) te = &e->p->te[k];
  const int32_t *idx = in->values;
  const int64_t *row = e->in->cols[e->row_col].values;
  float *y = out->values;
  for (int64_t r = 0; r < in->length; r++) {
    int32_t v = idx[r];
    double sum = 0;
    int64_t cnt = 0;
    if (v >= 0) {
      sum = te->tot_sum[v];
      cnt = te->tot_cnt[v];
      if (e->train_folds && e->split[r] == SPLIT_TRAIN && te->folds > 1) {
        int64_t k = pp_te_fold(e->p->cfg->seed, row[r], te->folds);
        sum -= te->sum[k * te->nvals + v];
        cnt -= te->cnt[k * te->nvals + v];
      }
    }
    y[r] = (float)rk_wf_target_encode(sum, cnt, wc->te_prior, wc->te_smoothing);
  }
  return RK_OK;
}

static rk_status emit_column(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  (void)end;
  emit_ctx *e = arg;
  int i = (int)begin;
  if (e->out_col[i] < 0) return RK_OK;
  const rk_wf_column *wc = &e->p->wf.cols[i];
  const rk_column *in = &e->in->cols[e->in_col[i]];
  rk_column *out = &e->out->cols[e->out_col[i]];
  if (wc->op == RK_WF_PASSTHROUGH) return rk_etl_cast_take(out, in, wc->out_type, NULL, 0, "stage", RK_NON_FINITE_ERROR);
  if (wc->is_list) {
    rk_column_clear(out);   /* made a list of out_type by emit_stage */
    return emit_categorify(e, wc, in, out);
  }
  RK_TRY(rk_etl_column_reset(out, wc->name, wc->out_type));
  RK_TRY(rk_column_reserve(out, in->length, in->length));
  out->length = in->length;
  if (wc->op == RK_WF_CATEGORIFY) return emit_categorify(e, wc, in, out);
  if (wc->op == RK_WF_NORMALIZE) return emit_normalize(wc, in, out);
  return emit_target_encoding(e, wc, i, in, out);
}

/* ---- one input stage -> its splits ---- */

typedef struct {
  int input;
  int *in_col, *out_col;
  int row_col;
  rk_batch out, part;
  uint8_t *mask;
  int64_t mask_cap;
  split_writer *writers;   /* by SPLIT_* */
} stage_ctx;

/* Rows with the out-of-vocabulary id 2 and the null id 1, for the report. */
#define COUNT_IDS(T)                                 \
  do {                                               \
    const T *v = c->values;                          \
    for (int64_t r = 0; r < c->length; r++) {        \
      *oov += v[r] == 2;                             \
      *nulls += v[r] == 1;                           \
    }                                                \
  } while (0)

/* A list column's are counted per value. */
static void count_special_ids(const rk_column *c, int64_t *oov, int64_t *nulls) {
  if (c->type == RK_COL_LIST) {
    rk_column values = *c->child;
    values.length = c->offsets[c->length];
    count_special_ids(&values, oov, nulls);
    return;
  }
  switch (c->type) {
    case RK_COL_INT8: COUNT_IDS(int8_t); break;
    case RK_COL_INT16: COUNT_IDS(int16_t); break;
    case RK_COL_INT32: COUNT_IDS(int32_t); break;
    default: COUNT_IDS(int64_t); break;
  }
}

/* The fewest and most values of a written row per list column (the schema's value_count), from
 * every row a split gets, whichever rank writes it. */
static void count_list_lengths(pp_state *p, const stage_ctx *s, const rk_batch *b, const uint8_t *split) {
  for (int i = 0; i < p->wf.n_cols; i++) {
    rk_wf_column *wc = &p->wf.cols[i];
    if (!wc->is_list || s->in_col[i] < 0) continue;
    const int64_t *off = b->cols[s->in_col[i]].offsets;
    for (int64_t r = 0; r < b->nrows; r++) {
      if (split[r] == SPLIT_DROP) continue;
      int64_t n = off[r + 1] - off[r];
      if (n < wc->list_min) wc->list_min = n;
      if (n > wc->list_max) wc->list_max = n;
    }
  }
}

static rk_status emit_batch(pp_state *p, const rk_batch *b, const uint8_t *split, void *arg) {
  stage_ctx *s = arg;
  count_list_lengths(p, s, b, split);
  int64_t count[SPLIT_PREDICT + 1] = {0};
  for (int64_t r = 0; r < b->nrows; r++) count[split[r]]++;
  bool wanted = false;
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT; sp++)
    wanted |= s->writers[sp].dir && touches_mine(&s->writers[sp], count[sp]);
  if (!wanted) {   /* another rank's rows: count them past */
    for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT; sp++)
      if (s->writers[sp].dir) RK_TRY(split_write(p, &s->writers[sp], NULL, count[sp]));
    return RK_OK;
  }
  emit_ctx e = {p, b, s->in_col, s->row_col, s->input == PP_DATA, split, &s->out, s->out_col};
  RK_TRY(rk_parallel_try(p->wf.n_cols, 1, emit_column, &e));
  s->out.nrows = b->nrows;
  if (b->nrows > s->mask_cap) {
    rk_free(s->mask);
    s->mask_cap = b->nrows;
    if (!(s->mask = rk_malloc((size_t)s->mask_cap))) return RK_ENOMEM;
  }
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT; sp++) {
    split_writer *w = &s->writers[sp];
    if (!w->dir) continue;
    int64_t n = 0;
    for (int64_t r = 0; r < b->nrows; r++) n += (s->mask[r] = split[r] == sp);
    if (n == 0) continue;
    const rk_batch *src = &s->out;
    if (n != b->nrows) {
      if (s->part.ncols != s->out.ncols) {
        rk_batch_free(&s->part);
        RK_TRY(rk_batch_init(&s->part, s->out.ncols));
      }
      for (int c = 0; c < s->out.ncols; c++)
        RK_TRY(rk_etl_cast_take(&s->part.cols[c], &s->out.cols[c], s->out.cols[c].type, s->mask, 0, "stage", RK_NON_FINITE_ERROR));
      s->part.nrows = n;
      src = &s->part;
    }
    /* Counted by the rank that writes the batch's first row of the split (rows are the ranks'
     * own, so the sums over ranks count each row once). */
    bool counts = mine(w, w->part < w->parts && part_end(w, w->part) - w->written > 0 ? w->part : w->part + 1);
    for (int i = 0; counts && i < p->wf.n_cols; i++) {
      if (p->wf.cols[i].op != RK_WF_CATEGORIFY || s->out_col[i] < 0) continue;
      count_special_ids(&src->cols[s->out_col[i]], &w->oov[i], &w->nulls[i]);
    }
    RK_TRY(split_write(p, w, src, src->nrows));
  }
  return RK_OK;
}

static rk_status emit_stage(pp_state *p, int input, split_writer *writers) {
  stage_ctx s = {input, NULL, NULL, 0, {0}, {0}, NULL, 0, writers};
  int n = p->wf.n_cols;
  const char **names = rk_malloc((size_t)(n + 2) * sizeof *names);
  char **owned = rk_calloc((size_t)n + 1, sizeof *owned);
  s.in_col = rk_malloc((size_t)(n + 1) * sizeof *s.in_col);
  s.out_col = rk_malloc((size_t)(n + 1) * sizeof *s.out_col);
  rk_status st = names && owned && s.in_col && s.out_col ? RK_OK : RK_ENOMEM;
  int k = 0, nout = 0;
  rk_name_index read;   /* names[] by name: one lookup per workflow column, not a scan */
  rk_name_index_init(&read);
  if (st == RK_OK) st = rk_name_index_put(&read, "__row", k, NULL);
  if (st == RK_OK) names[k++] = "__row";
  char buf[600];
  for (int i = 0; i < n && st == RK_OK; i++) {
    const rk_wf_column *c = &p->wf.cols[i];
    s.out_col[i] = s.in_col[i] = -1;
    if (input == PP_PREDICT && c->is_target) continue;
    const char *want = c->source;
    if (c->op == RK_WF_CATEGORIFY || c->op == RK_WF_TARGET_ENCODE) {
      if (!(owned[i] = rk_strdup(pp_idx_name(c->source, buf, sizeof buf)))) st = RK_ENOMEM;
      want = owned[i];
    }
    int found = -1;
    if (want && st == RK_OK && (st = rk_name_index_put(&read, want, k, &found)) == RK_OK && found < 0) {
      found = k;
      names[k++] = want;
    }
    s.in_col[i] = found;
    s.out_col[i] = nout++;
  }
  if (st == RK_OK) st = rk_batch_init(&s.out, nout);
  for (int i = 0, j = 0; i < n && st == RK_OK; i++)
    if (s.out_col[i] >= 0)
      st = rk_column_init(&s.out.cols[j++], p->wf.cols[i].name, p->wf.cols[i].is_list ? RK_COL_LIST : p->wf.cols[i].out_type,
                          p->wf.cols[i].out_type);
  const char *label = input == PP_DATA ? "write train/eval" : input == PP_EVAL ? "write eval" : "write predict";
  if (st == RK_OK) st = pp_scan(p, input, names, k, label, emit_batch, &s);
  for (int i = 0; i <= n && owned; i++) rk_free(owned[i]);
  rk_free(owned);
  rk_free(names);
  rk_name_index_free(&read);
  rk_free(s.in_col);
  rk_free(s.out_col);
  rk_free(s.mask);
  rk_batch_free(&s.out);
  rk_batch_free(&s.part);
  return st;
}

/* ---- schema files and the whole emit step ---- */

static rk_status write_schema(pp_state *p, const char *dir, bool with_targets) {
  rk_schema schema;
  RK_TRY(rk_workflow_schema(&p->wf, with_targets, &schema));
  rk_status st = rk_schema_write_dataset(&schema, dir);
  rk_schema_free(&schema);
  return st;
}

static int64_t stage_rows(pp_state *p, int input) {
  rk_parquet_dataset *ds = NULL;
  rk_parquet_read_options o;
  rk_parquet_read_options_default(&o);
  o.columns = (const char *const[]){"__row"};
  o.ncolumns = 1;
  if (rk_parquet_dataset_open(&ds, p->stage[input], &o) != RK_OK) return -1;
  int64_t n = rk_parquet_dataset_num_rows(ds);
  rk_parquet_dataset_close(ds);
  return n;
}

rk_status pp_emit(pp_state *p) {
  double t0 = rk_now();
  const rk_preprocess_config *c = p->cfg;
  split_writer w[4];
  memset(w, 0, sizeof w);
  bool has_eval = c->split != RK_SPLIT_NONE || p->stage[PP_EVAL];
  rk_status st = RK_OK;
  for (int i = 0; i < p->wf.n_cols; i++) p->wf.cols[i].list_min = INT64_MAX, p->wf.cols[i].list_max = 0;
  if (p->stage[PP_EVAL]) p->rows[SPLIT_EVAL] = stage_rows(p, PP_EVAL);
  if (p->stage[PP_PREDICT]) p->rows[SPLIT_PREDICT] = stage_rows(p, PP_PREDICT);
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT && st == RK_OK; sp++) {
    if ((sp == SPLIT_EVAL && !has_eval) || (sp == SPLIT_PREDICT && !p->stage[PP_PREDICT])) continue;
    if (p->rows[sp] < 0) st = rk_error(RK_EIO, "cannot read the %s stage back", split_names[sp]);
    w[sp].dir = pp_path(p->tmp_dir, split_dirs[sp]);
    w[sp].total = p->rows[sp];
    /* No empty parts: more partitions than rows would only write empty files (100000 of them
     * for a small split took minutes). One part at least, so an empty split is still a dataset. */
    w[sp].parts = c->output_num_partitions < p->rows[sp] ? c->output_num_partitions : (int)(p->rows[sp] > 1 ? p->rows[sp] : 1);
    w[sp].with_targets = sp != SPLIT_PREDICT;
    /* this rank's block of the parts: all of them for one process */
    w[sp].mine_begin = (int)((int64_t)w[sp].parts * pp_dist_rank(p) / pp_dist_size(p));
    w[sp].mine_end = (int)((int64_t)w[sp].parts * (pp_dist_rank(p) + 1) / pp_dist_size(p));
    w[sp].oov = rk_calloc((size_t)p->wf.n_cols + 1, sizeof *w[sp].oov);
    w[sp].nulls = rk_calloc((size_t)p->wf.n_cols + 1, sizeof *w[sp].nulls);
    if (!w[sp].dir || !w[sp].oov || !w[sp].nulls) st = RK_ENOMEM;
    if (st == RK_OK) st = rk_mkdir_p(w[sp].dir);
  }
  /* Data rows go to train and eval; an eval (predict) input's rows all go to eval (predict). */
  for (int input = PP_DATA; input < PP_INPUTS && st == RK_OK; input++)
    if (p->stage[input]) st = emit_stage(p, input, w);
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT; sp++) {
    if (w[sp].dir && st == RK_OK) st = split_finish(p, &w[sp]);
    if (w[sp].dir && st == RK_OK && w[sp].written != w[sp].total)
      st = rk_error(RK_EINTERNAL, "%s: wrote %lld rows, counted %lld", split_names[sp], (long long)w[sp].written,
                    (long long)w[sp].total);
  }
  for (int i = 0; i < p->wf.n_cols; i++)   /* no rows: no lengths */
    if (p->wf.cols[i].list_min > p->wf.cols[i].list_max) p->wf.cols[i].list_min = p->wf.cols[i].list_max;
  /* Every rank's parts are written (or one failed): the counts summed, rank 0 the schemas. */
  if (pp_dist_size(p) > 1) st = pp_dist_agree(p, st);
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT && st == RK_OK; sp++) {
    if (w[sp].dir) st = pp_dist_sum(p, w[sp].oov, p->wf.n_cols);
    if (w[sp].dir && st == RK_OK) st = pp_dist_sum(p, w[sp].nulls, p->wf.n_cols);
  }
  json_t *splits = json_object(), *cols = json_object_get(p->report, "columns");
  for (int sp = SPLIT_TRAIN; sp <= SPLIT_PREDICT; sp++) {
    if (!w[sp].dir) continue;
    if (st == RK_OK && pp_dist_rank(p) == 0) st = write_schema(p, w[sp].dir, w[sp].with_targets);
    if (w[sp].w) rk_parquet_writer_abort(w[sp].w);
    json_object_set_new(splits, split_names[sp], json_integer(w[sp].written));
    for (int i = 0; i < p->wf.n_cols; i++) {
      json_t *cj = json_object_get(cols, p->wf.cols[i].name);
      if (p->wf.cols[i].op != RK_WF_CATEGORIFY || !cj) continue;
      char key[64];
      snprintf(key, sizeof key, "%s_oov", split_names[sp]);
      json_object_set_new(cj, key, json_integer(w[sp].oov[i]));
      snprintf(key, sizeof key, "%s_nulls", split_names[sp]);
      json_object_set_new(cj, key, json_integer(w[sp].nulls[i]));
    }
    rk_free(w[sp].dir);
    rk_free(w[sp].oov);
    rk_free(w[sp].nulls);
    rk_batch_free(&w[sp].slice);
  }
  json_object_set_new(splits, "dropped_by_filters", json_integer(p->rows[SPLIT_DROP]));
  json_object_set_new(p->report, "rows", splits);
  pp_time(p, "transform_and_write", t0);
  return st;
}
