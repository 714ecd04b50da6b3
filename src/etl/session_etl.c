/*
 * `reckon preprocess` session mode: the Transformers4Rec ETL (NVTabular's 01-ETL-with-NVTabular
 * notebook) on a click log of any size, in memory bounded by one spill partition plus the
 * vocabularies.
 *
 *   pass 1   stream the input once: drop null sessions, number categorical values (rk_dict), an
 *            item's first-seen time, the first event time; spill each event as a fixed-size
 *            record to one of P files by a hash of its session.
 *   pass 2a  per partition (in parallel): sort by (session, time, input row), drop consecutive
 *            repeats, count values and accumulate the statistics of the z-scores and category
 *            mean prices; write the partition back sorted.
 *   fit      vocabularies (by descending count), means and standard deviations, combined in
 *            partition order so no result depends on the thread count.
 *   pass 2b  per partition (in parallel): group, slice, pad, filter, features, day_index ->
 *            <out>/sessions/part_<p>.parquet, sorted by session id.
 *   then     schema files, the workflow, the per-window split (session_split.c), and everything
 *            moved into place at once, as tabular preprocessing publishes (a failed run leaves
 *            the previous output as it was).
 * It is not: the tabular pipeline (preprocess.c) or the split itself.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "etl/session_internal.h"
#include "reckon/parquet.h"


char *se_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", dir, name);
  return s;
}

void se_timing(se_state *s, const char *stage, double t0) {
  json_object_set_new(s->timings, stage, json_real(rk_now() - t0));
  json_t *peaks = json_object_get(s->report, "peak_rss_bytes_after");
  if (!peaks) json_object_set_new(s->report, "peak_rss_bytes_after", peaks = json_object());
  json_object_set_new(peaks, stage, json_integer(rk_peak_rss_bytes()));
}

static char *dup_or_null(const char *s) { return s ? rk_strdup(s) : NULL; }

static rk_status dup_names(char ***out, int *n, const char *const *items, int count, const char *const *skip, int nskip) {
  *out = rk_calloc((size_t)(count ? count : 1), sizeof **out);
  if (!*out) return RK_ENOMEM;
  for (int i = 0; i < count; i++) {
    bool skipped = false;
    for (int j = 0; j < nskip; j++) skipped |= skip[j] && strcmp(skip[j], items[i]) == 0;
    for (int j = 0; j < *n; j++) skipped |= strcmp((*out)[j], items[i]) == 0;
    if (skipped) continue;
    if (!((*out)[(*n)++] = rk_strdup(items[i]))) return RK_ENOMEM;
  }
  return RK_OK;
}

/* ---- the configuration ---- */

static rk_status check_config(const rk_preprocess_config *c) {
  const rk_session_options *o = &c->session;
  if (!c->data_path || !*c->data_path) return rk_error(RK_EUSAGE, "--data_path (or --input_data_path) is required");
  if (!c->item_id) return rk_error(RK_EUSAGE, "session mode (--session_id_feature) needs --item_id_feature");
  if (!c->timestamp) return rk_error(RK_EUSAGE, "session mode (--session_id_feature) needs --timestamp_feature");
  struct { bool given; const char *flag; } unsupported[] = {
      {c->eval_data_path != NULL, "--eval_data_path"}, {c->predict_data_path != NULL, "--predict_data_path"},
      {c->filter_query != NULL, "--filter_query"}, {c->split != RK_SPLIT_NONE, "--dataset_split_strategy"},
      {c->te_features.n > 0 || c->te_targets.n > 0, "--target_encoding_features"},
      {c->min_user_freq >= 0 || c->max_user_freq >= 0 || c->min_item_freq >= 0 || c->max_item_freq >= 0,
       "the frequency filters (--min_user_freq ...)"},
      {c->to_int32.n + c->to_int16.n + c->to_int8.n + c->to_float32.n > 0, "the --to_* casts"},
      {c->control.n > 0, "--control_features"}, {c->persist_intermediate, "--persist_intermediate_files"}};
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (unsupported[i].given)
      return rk_error(RK_EUSAGE, "%s does not apply in session mode (--session_id_feature): sessions are split per "
                      "%s with --session_split_fracs", unsupported[i].flag, o->window_s == 3600 ? "hour" : "day");
  double sum = 0;
  for (int i = 0; i < 3; i++) {
    if (!(o->split_fracs[i] >= 0 && o->split_fracs[i] <= 1))
      return rk_error(RK_EUSAGE, "--session_split_fracs must be three numbers in [0, 1], got %g", o->split_fracs[i]);
    sum += o->split_fracs[i];
  }
  if (fabs(sum - 1) > 1e-9)
    return rk_error(RK_EUSAGE, "--session_split_fracs must add up to 1, got %g + %g + %g = %g", o->split_fracs[0],
                    o->split_fracs[1], o->split_fracs[2], sum);
  if (o->window_s != 86400 && o->window_s != 3600)
    return rk_error(RK_EUSAGE, "--session_window must be day or hour");
  if (o->max_length < 1) return rk_error(RK_EUSAGE, "--session_max_length must be at least 1, got %lld", (long long)o->max_length);
  if (o->min_length < 0) return rk_error(RK_EUSAGE, "--session_min_length must be 0 or more, got %lld", (long long)o->min_length);
  if ((o->price == NULL) != (o->price_category == NULL))
    return rk_error(RK_EUSAGE, "--relative_price_feature takes two columns: PRICE,CATEGORY");
  if (o->price_category && strcmp(o->price_category, c->item_id) == 0)
    return rk_error(RK_EUSAGE, "--relative_price_feature: the category column must not be the item column '%s'", c->item_id);
  return RK_OK;
}

/* The session workflow's names and options, and its (unfitted) columns. */
static rk_status plan_workflow(se_state *s) {
  const rk_preprocess_config *c = s->cfg;
  const rk_session_options *o = &c->session;
  rk_session_workflow *sw = rk_calloc(1, sizeof *sw);
  if (!sw) return RK_ENOMEM;
  s->wf.session = s->sw = sw;
  sw->timestamp_format = o->timestamp_format;
  sw->dedup_consecutive = o->dedup_consecutive;
  sw->pad = o->pad;
  sw->max_length = o->max_length;
  sw->min_length = o->min_length;
  sw->window_s = o->window_s;
  if (!(sw->session_id = rk_strdup(c->session_id)) || !(sw->timestamp = rk_strdup(c->timestamp)) ||
      !(sw->item_id = rk_strdup(c->item_id)) || (c->user_id && !(sw->user_id = rk_strdup(c->user_id))) ||
      !(sw->list_suffix = rk_strdup(o->list_suffix ? o->list_suffix : "")) ||
      (o->price && (!(sw->price = dup_or_null(o->price)) || !(sw->price_category = dup_or_null(o->price_category)))))
    return RK_ENOMEM;
  const char *const skip[] = {c->item_id, c->user_id, c->session_id, c->timestamp};
  RK_TRY(dup_names(&sw->categorical, &sw->n_categorical, c->categorical.items, c->categorical.n, skip, 4));
  /* a context column is categorified once, as context */
  for (int i = 0; i < o->context.n; i++)
    for (int j = 0; j < sw->n_categorical; j++)
      if (strcmp(sw->categorical[j], o->context.items[i]) == 0) {
        rk_free(sw->categorical[j]);
        memmove(&sw->categorical[j], &sw->categorical[j + 1], (size_t)(sw->n_categorical - j - 1) * sizeof *sw->categorical);
        sw->n_categorical--;
        break;
      }
  RK_TRY(dup_names(&sw->context, &sw->n_context, o->context.items, o->context.n, skip, 4));
  RK_TRY(dup_names(&sw->continuous, &sw->n_continuous, c->continuous.items, c->continuous.n, skip, 4));
  RK_TRY(dup_names(&sw->time_features, &sw->n_time_features, o->time_features, o->n_time_features, NULL, 0));
  RK_TRY(ss_plan_init(&s->plan, sw));
  /* Columns: categorify per dictionary column, normalize per statistic. */
  for (int k = 0; k < s->plan.n_idx; k++) {
    rk_wf_column *w;
    RK_TRY(rk_workflow_add(&s->wf, s->plan.idx_name[k], s->plan.idx_name[k], RK_WF_CATEGORIFY, &w));
    w->out_type = RK_COL_INT64;
    w->min_freq = c->categ_min_freq_capping;
    bool item = k == 0, user = k == s->plan.first_user;
    if (item) RK_TRY(rk_wf_column_add_tag(w, "item_id"));
    if (user) RK_TRY(rk_wf_column_add_tag(w, "user_id"));
    RK_TRY(rk_wf_column_add_tag(w, "categorical"));
    if (item || (k >= s->plan.first_categorical && k < s->plan.first_categorical + sw->n_categorical))
      RK_TRY(rk_wf_column_add_tag(w, "item"));
    if (user) RK_TRY(rk_wf_column_add_tag(w, "user"));
  }
  if (s->plan.recency) {
    rk_wf_column *w;
    RK_TRY(rk_workflow_add(&s->wf, "product_recency_days_log_norm", c->timestamp, RK_WF_NORMALIZE, &w));
    w->in_type = RK_COL_FLOAT64;
    w->out_type = RK_COL_FLOAT32;
    RK_TRY(rk_wf_column_add_tag(w, "continuous"));
  }
  for (int v = 0; v < sw->n_continuous; v++) {
    char name[600];
    snprintf(name, sizeof name, "%s_log_norm", sw->continuous[v]);
    rk_wf_column *w;
    RK_TRY(rk_workflow_add(&s->wf, name, sw->continuous[v], RK_WF_NORMALIZE, &w));
    w->in_type = RK_COL_FLOAT64;
    w->out_type = RK_COL_FLOAT32;
    RK_TRY(rk_wf_column_add_tag(w, "continuous"));
  }
  return RK_OK;
}

/* ---- folders ---- */

static rk_status setup_dirs(se_state *s) {
  const char *path = s->cfg->output_path;
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  if (!(s->out_dir = rk_strndup(path, n))) return RK_ENOMEM;
  s->made_out_dir = access(s->out_dir, F_OK) != 0;
  RK_TRY(rk_output_claim(&s->out, s->out_dir, "preprocess", s->cfg->overwrite));
  rk_output_run_id(s->run_id);
  char name[64];
  snprintf(name, sizeof name, ".reckon-tmp-%ld", (long)getpid());
  if (!(s->tmp_dir = se_path(s->out_dir, name))) return RK_ENOMEM;
  RK_TRY(rk_remove_tree(s->tmp_dir));
  if (!(s->sessions_dir = se_path(s->tmp_dir, "sessions"))) return RK_ENOMEM;
  RK_TRY(rk_mkdir_p(s->sessions_dir));
  char *spill = se_path(s->tmp_dir, "spill"), *split = se_path(s->tmp_dir, "split");
  rk_status st = spill && split ? rk_mkdir_p(spill) : RK_ENOMEM;
  if (st == RK_OK) st = rk_mkdir_p(split);
  rk_free(spill);
  rk_free(split);
  return st;
}

/* ---- pass 2b: session rows ---- */

static void maps_of(const se_state *s, ss_maps *m) {
  memset(m, 0, sizeof *m);
  for (int k = 0; k < s->plan.n_idx; k++) m->remap[k] = s->remap[k];
  m->first_seen_us = s->sw->first_seen_us;
  m->category_mean = s->sw->category_mean_price;
  int w = s->plan.n_idx;
  if (s->plan.recency) m->recency_norm = &s->wf.cols[w++];
  for (int v = 0; v < s->sw->n_continuous; v++) m->value_norm[v] = &s->wf.cols[w++];
}

static rk_status emit_partition(void *ctx, int worker, int64_t item) {
  (void)worker;
  se_state *s = ctx;
  se_part *r = &s->parts[item];
  void *data;
  int64_t n;
  RK_TRY(se_read_spill(s->spill[item], s->plan.size, &data, &n));
  ss_maps maps;
  maps_of(s, &maps);
  rk_batch out = {0};
  r->min_len = INT64_MAX;
  r->max_len = 0;
  rk_status st = ss_output_init(&s->plan, &s->wf, &out);
  if (st == RK_OK) st = ss_emit_sessions(&s->plan, &maps, data, n, &out, &r->min_len, &r->max_len, &r->dropped_short);
  rk_free(data);
  r->sessions = out.nrows;
  char name[64];
  snprintf(name, sizeof name, "part_%lld.parquet", (long long)item);
  char *path = st == RK_OK ? se_path(s->sessions_dir, name) : NULL;
  if (st == RK_OK && !path) st = RK_ENOMEM;
  rk_parquet_write_options o;
  rk_parquet_write_options_default(&o);
  o.compression = s->cfg->compression;
  if (st == RK_OK) st = rk_parquet_write(path, &out, &o);
  rk_free(path);
  rk_batch_free(&out);
  remove(s->spill[item]);   /* its disk space is not needed any more */
  return st;
}

static rk_status pass2b(se_state *s, int64_t *min_len, int64_t *max_len) {
  double t0 = rk_now();
  RK_TRY(rk_parallel_items(s->n_parts, s->n_workers, emit_partition, s));
  *min_len = INT64_MAX;
  *max_len = 0;
  int64_t sessions = 0, dropped = 0, kept = 0;
  for (int p = 0; p < s->n_parts; p++) {
    if (s->parts[p].sessions && s->parts[p].min_len < *min_len) *min_len = s->parts[p].min_len;
    if (s->parts[p].max_len > *max_len) *max_len = s->parts[p].max_len;
    sessions += s->parts[p].sessions;
    dropped += s->parts[p].dropped_short;
    kept += s->parts[p].events_kept;
  }
  json_object_set_new(s->report, "events",
                      json_pack("{sIsIsIsI}", "read", (json_int_t)s->events_read, "null_sessions",
                                (json_int_t)s->null_sessions, "after_dedup", (json_int_t)kept, "repeats_dropped",
                                (json_int_t)(s->events_read - s->null_sessions - kept)));
  json_object_set_new(s->report, "sessions",
                      json_pack("{sIsIsI}", "written", (json_int_t)sessions, "dropped_short", (json_int_t)dropped,
                                "spill_partitions", (json_int_t)s->n_parts));
  if (sessions == 0)
    return rk_error(RK_EINVAL, "no session of '%s' has --session_min_length %lld events or more (after dropping "
                    "repeats): nothing to write", s->cfg->data_path, (long long)s->sw->min_length);
  se_timing(s, "group_and_write", t0);
  return RK_OK;
}

/* ---- the split, the workflow and publishing ---- */

static rk_status split(se_state *s, int64_t *windows) {
  double t0 = rk_now();
  rk_session_split_options o = {0};
  char *dir = se_path(s->tmp_dir, "split"), time_col[600];
  if (!dir) return RK_ENOMEM;
  snprintf(time_col, sizeof time_col, "%s-first", s->sw->timestamp);
  o.sessions_path = s->sessions_dir;
  o.output_dir = dir;
  o.window_column = "day_index";
  o.time_column = time_col;
  o.origin_s = s->sw->origin_s;
  o.window_s = s->sw->window_s;
  memcpy(o.fracs, s->cfg->session.split_fracs, sizeof o.fracs);
  o.seed = s->cfg->seed;
  o.threads = rk_num_threads();
  o.compression = s->cfg->compression;
  rk_status st = rk_session_layout_parse(s->cfg->session.layout, &o.layout);
  if (st == RK_OK) st = rk_session_split_write(&o, windows);
  rk_free(dir);
  se_timing(s, "split", t0);
  return st;
}

/* Entries of a folder, reckon's bookkeeping and temporaries left out; NULL-terminated. */
static rk_status list_entries(const char *dir, char ***out, int *n) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return rk_error(RK_EIO, "cannot list '%s': %s", dir, strerror(errno));
  int cap = 0;
  rk_status st = RK_OK;
  for (struct dirent *e; st == RK_OK && (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || rk_output_is_bookkeeping(e->d_name) ||
        rk_output_temp_pid(e->d_name))
      continue;
    if (*n + 1 >= cap) {
      cap = cap ? 2 * cap : 16;
      char **g = rk_realloc(*out, (size_t)cap * sizeof *g);
      if (!g) {
        st = RK_ENOMEM;
        break;
      }
      *out = g;
    }
    if (!((*out)[(*n)++] = rk_strdup(e->d_name))) st = RK_ENOMEM;
  }
  closedir(d);
  return st;
}

static void free_entries(char **e, int n) {
  for (int i = 0; i < n; i++) rk_free(e[i]);
  rk_free(e);
}

/* Move <tmp>/sessions, <tmp>/workflow, the report and every window of <tmp>/split into the output
 * folder, replacing what an earlier run left there; the markers make the moves one step (see
 * preprocess.c's publish). */
static rk_status publish(se_state *s) {
  char *split_dir = se_path(s->tmp_dir, "split");
  if (!split_dir) return RK_ENOMEM;
  char **windows = NULL, **old = NULL;
  int n_windows = 0, n_old = 0;
  rk_status st = list_entries(split_dir, &windows, &n_windows);
  for (int i = 0; i < n_windows && st == RK_OK; i++) {
    char *p = se_path(split_dir, windows[i]);
    struct stat sb;
    if (!p) st = RK_ENOMEM;
    else if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) st = rk_output_mark(p, "dataset", s->run_id);
    rk_free(p);
  }
  static const char *const mine[] = {"sessions", "workflow"};
  static const char *const kinds[] = {"dataset", "workflow"};
  for (int i = 0; i < 2 && st == RK_OK; i++) {
    char *p = se_path(s->tmp_dir, mine[i]);
    st = p ? rk_output_mark(p, kinds[i], s->run_id) : RK_ENOMEM;
    rk_free(p);
  }
  rk_output_marker whole;
  bool marked;
  if (st == RK_OK) st = rk_output_read_marker(s->out_dir, &whole, &marked);
  if (st == RK_OK) {
    snprintf(whole.publishing, sizeof whole.publishing, "%s", s->run_id);
    st = rk_output_write_marker(s->out_dir, &whole);
  }
  /* What an earlier run wrote here (days this run has not, train/ of a tabular run) goes. */
  if (st == RK_OK) st = list_entries(s->out_dir, &old, &n_old);
  for (int i = 0; i < n_old && st == RK_OK; i++) {
    char *p = se_path(s->out_dir, old[i]);
    struct stat sb;
    if (!p) st = RK_ENOMEM;
    else if (lstat(p, &sb) == 0 && S_ISLNK(sb.st_mode)) unlink(p);
    else st = rk_remove_tree(p);
    rk_free(p);
  }
  const char *const top[] = {"sessions", "workflow", "preprocess_report.json"};
  for (int i = 0; i < 3 && st == RK_OK; i++) {
    char *from = se_path(s->tmp_dir, top[i]), *to = se_path(s->out_dir, top[i]);
    st = from && to ? rk_replace_dir(from, to) : RK_ENOMEM;
    rk_free(from);
    rk_free(to);
  }
  for (int i = 0; i < n_windows && st == RK_OK; i++) {
    char *from = se_path(split_dir, windows[i]), *to = se_path(s->out_dir, windows[i]);
    st = from && to ? rk_replace_dir(from, to) : RK_ENOMEM;
    rk_free(from);
    rk_free(to);
  }
  if (st == RK_OK) st = rk_output_mark(s->out_dir, "preprocess", s->run_id);
  free_entries(windows, n_windows);
  free_entries(old, n_old);
  rk_free(split_dir);
  return st;
}

static rk_status write_report(se_state *s) {
  json_object_set_new(s->report, "timings_s", json_incref(s->timings));
  json_object_set_new(s->report, "total_s", json_real(rk_now() - s->t_start));
  json_object_set_new(s->report, "peak_rss_bytes", json_integer(rk_peak_rss_bytes()));
  json_object_set_new(s->report, "threads", json_integer(rk_num_threads()));
  char *text = json_dumps(s->report, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  char *path = se_path(s->tmp_dir, "preprocess_report.json");
  rk_status st = text && path ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  rk_free(path);
  return st;
}

static rk_status write_outputs(se_state *s, int64_t min_len, int64_t max_len) {
  rk_schema schema;
  RK_TRY(ss_schema(&s->plan, &s->wf, min_len, max_len, &schema));
  rk_status st = rk_schema_write_dataset(&schema, s->sessions_dir);
  rk_schema_free(&schema);
  char *wf_dir = se_path(s->tmp_dir, "workflow");
  if (st == RK_OK && !wf_dir) st = RK_ENOMEM;
  if (st == RK_OK) st = rk_workflow_save(&s->wf, wf_dir);
  char fp[RK_WORKFLOW_FINGERPRINT_SIZE];
  if (st == RK_OK) st = rk_workflow_fingerprint(wf_dir, fp);
  if (st == RK_OK) st = rk_dataset_stamp_workflow_fingerprint(s->sessions_dir, fp);
  if (st == RK_OK) json_object_set_new(s->report, "workflow_fingerprint", json_string(fp));
  rk_free(wf_dir);
  return st;
}

static rk_status run(se_state *s) {
  RK_TRY(plan_workflow(s));
  RK_TRY(setup_dirs(s));
  RK_TRY(se_pass1(s));
  RK_TRY(se_pass2a(s));
  RK_TRY(se_fit(s));
  int64_t min_len, max_len, windows = 0;
  RK_TRY(pass2b(s, &min_len, &max_len));
  RK_TRY(write_outputs(s, min_len, max_len));
  RK_TRY(split(s, &windows));
  json_object_set_new(s->report, "windows", json_integer(windows));
  char origin[32];
  int64_t y;
  int m, d;
  rk_civil_from_days(s->sw->origin_s / 86400, &y, &m, &d);
  snprintf(origin, sizeof origin, "%04lld-%02d-%02d", (long long)y, m, d);
  json_object_set_new(s->report, "first_day", json_string(origin));
  RK_TRY(write_report(s));
  return publish(s);
}

static void free_state(se_state *s) {
  for (int k = 0; k < SS_MAX_COLUMNS; k++) {
    rk_dict_free(s->dicts[k]);
    rk_free(s->remap[k]);
  }
  rk_free(s->first_seen);
  for (int p = 0; s->spill && p < s->n_parts; p++) rk_free(s->spill[p]);
  rk_free(s->spill);
  for (int p = 0; s->parts && p < s->n_parts; p++) {
    rk_free(s->parts[p].price_cat);
    rk_free(s->parts[p].price_sum);
    rk_free(s->parts[p].price_cnt);
  }
  rk_free(s->parts);
  for (int i = 0; s->counts && i < s->n_workers * s->plan.n_idx; i++) rk_free(s->counts[i]);
  rk_free(s->counts);
  rk_free(s->nulls);
  for (int w = 0; s->price && w < s->n_workers; w++) {
    rk_free(s->price[w].sum);
    rk_free(s->price[w].cnt);
    rk_free(s->price[w].touched);
  }
  rk_free(s->price);
  rk_workflow_free(&s->wf);
  rk_free(s->out_dir);
  rk_free(s->tmp_dir);
  rk_free(s->sessions_dir);
  json_decref(s->report);
  json_decref(s->timings);
}

rk_status rk_session_preprocess(const rk_preprocess_config *cfg, json_t **report) {
  if (report) *report = NULL;
  RK_TRY(check_config(cfg));
  rk_session_layout layout;
  RK_TRY(rk_session_layout_parse(cfg->session.layout, &layout));
  se_state s;
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  s.t_start = rk_now();
  rk_workflow_init(&s.wf);
  s.report = json_object();
  s.timings = json_object();
  if (!s.report || !s.timings) {
    free_state(&s);
    return RK_ENOMEM;
  }
  json_object_set_new(s.report, "reckon_version", json_string(rk_version()));
  json_object_set_new(s.report, "mode", json_string("sessions"));
  json_object_set_new(s.report, "output_path", json_string(cfg->output_path));
  rk_status st = run(&s);
  if (s.tmp_dir) rk_remove_tree(s.tmp_dir);
  if (st != RK_OK && s.made_out_dir && s.out_dir && s.out.held) rk_output_unclaim(&s.out, s.out_dir);
  rk_output_release(&s.out);
  if (st == RK_OK && report) *report = json_incref(s.report);
  free_state(&s);
  return st;
}
