/*
 * `reckon export`: a trained model and its fitted workflow as a Triton model repository that
 * `reckon serve` (and Triton's layout readers) load, as seed 003 lays it out:
 *   <name>_nvt      backend "reckon": the workflow, raw columns in, the model's features out
 *   <name>_<model>  backend "reckon": the model folder, features in, `<target>/binary_output`
 *                   (a probability) or `<target>/regression_output` per task out, batched
 *                   dynamically
 *   <name>          platform "ensemble": the two in order
 * A session model (reckon sessions) the same way: raw events in, one row per session out with its
 * top-k items and scores (item_ids, item_id_scores; --top_k) or every item's score (next-item),
 * its model step batched dynamically too.
 * Every config.pbtxt is the text format of Triton's ModelConfig (proto/model_config.proto). Raw
 * columns keep their names, but a list column, which arrives as Merlin sends it: the pair
 * `<col>__values` / `<col>__offsets` (reckon/serve.h); the workflow's outputs travel inside the ensemble as
 * "<column>__transformed", since an ensemble tensor may be produced only once and a transformed
 * column often keeps its raw column's name.
 *
 * --format onnx writes the model step as ONNX instead (src/export/onnx/: `1/model.onnx`,
 * `platform: "onnxruntime_onnx"`), for a Triton with its ONNX Runtime backend: its inputs are the
 * ONNX graph's (int64 ids, float32 continuous values, a list's ids padded to dims [L]), and the
 * workflow step's outputs are typed and shaped to match, which the serving core casts and pads to.
 *
 * It is not: the ONNX writer itself, or a server.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/etl.h"
#include "reckon/models.h"
#include "reckon/serve.h"
#include "reckon/metrics.h"
#include "reckon/sessions.h"
#ifdef RECKON_HAVE_PROTOBUF_C
#include "export/onnx/onnx_export.h"
#endif

#define TRANSFORMED_SUFFIX "__transformed"

void rk_export_options_default(rk_export_options *o) {
  memset(o, 0, sizeof *o);
  o->format = "reckon";
  o->max_batch_size = 1024;
}

static char *path_join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", a, b);
  return s;
}

static char *str_printf2(const char *fmt, const char *a, const char *b) {
  size_t n = strlen(fmt) + strlen(a) + strlen(b) + 1;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, fmt, a, b);
  return s;
}

/* ---- building configs (strings borrowed: the caller's config is freed field by field) --------- */
static rk_status add_tensor(rk_model_config_tensor **t, int *n, const char *name, rk_serve_dtype dt) {
  rk_model_config_tensor *p = rk_realloc(*t, (size_t)(*n + 1) * sizeof *p);
  if (!p) return RK_ENOMEM;
  *t = p;
  memset(&p[*n], 0, sizeof p[*n]);
  if (!(p[*n].name = rk_strdup(name))) return RK_ENOMEM;
  p[*n].data_type = dt;
  p[*n].n_dims = 1;
  p[*n].dims[0] = 1;
  (*n)++;
  return RK_OK;
}

static rk_status add_pair(rk_config_pair **p, int *n, const char *key, const char *value) {
  rk_config_pair *q = rk_realloc(*p, (size_t)(*n + 1) * sizeof *q);
  if (!q) return RK_ENOMEM;
  *p = q;
  q[*n].key = rk_strdup(key);
  q[*n].value = rk_strdup(value);
  (*n)++;
  return q[*n - 1].key && q[*n - 1].value ? RK_OK : RK_ENOMEM;
}

static rk_status add_step(rk_model_config *c, const char *model) {
  rk_ensemble_step *s = rk_realloc(c->steps, (size_t)(c->n_steps + 1) * sizeof *s);
  if (!s) return RK_ENOMEM;
  c->steps = s;
  memset(&s[c->n_steps], 0, sizeof *s);
  s[c->n_steps].model_version = -1;
  c->n_steps++;
  return (s[c->n_steps - 1].model_name = rk_strdup(model)) ? RK_OK : RK_ENOMEM;
}

static rk_status set_name(rk_model_config *c, const char *name, const char *platform, const char *backend,
                          int64_t max_batch) {
  c->name = rk_strdup(name);
  c->platform = platform ? rk_strdup(platform) : NULL;
  c->backend = backend ? rk_strdup(backend) : NULL;
  c->max_batch_size = max_batch;
  c->version_policy.kind = RK_VERSION_POLICY_LATEST;
  c->version_policy.latest = 1;
  if (!c->name || (platform && !c->platform) || (backend && !c->backend)) return RK_ENOMEM;
  return RK_OK;
}

static const rk_wf_column *wf_output(const rk_workflow *wf, const char *name) {
  for (int i = 0; i < wf->n_cols; i++)
    if (!wf->cols[i].is_target && !strcmp(wf->cols[i].name, name)) return &wf->cols[i];
  return NULL;
}

static bool model_reads(const char *const *features, int n_features, const char *name) {
  for (int f = 0; f < n_features; f++)
    if (!strcmp(features[f], name)) return true;
  return false;
}

/* Requests meet in the model step's batches (the ensemble batches as it does): batches of 64 or
 * 256 rows (a session ensemble's rows are its events), waiting at most 100 us for them. */
static rk_status set_dynamic_batching(rk_model_config *model, int64_t mb) {
  model->dynamic_batching = true;
  model->max_queue_delay_microseconds = 100;
  int64_t pref[2] = {mb < 64 ? mb : 64, mb < 256 ? mb : 256};
  int np = pref[0] == pref[1] ? 1 : 2;
  if (!(model->preferred_batch_size = rk_malloc(2 * sizeof(int64_t)))) return RK_ENOMEM;
  for (int i = 0; i < np; i++) model->preferred_batch_size[model->n_preferred_batch_size++] = pref[i];
  return RK_OK;
}

/* The ONNX graph's type for a feature (src/export/onnx/onnx_ranking.c): int64 ids for a
 * categorical column, float32 otherwise; and its width: 1, or a list's value_count max L (the
 * graph takes a list as (batch, L) ids right-padded with 0, which the workflow step pads). */
static void onnx_dtype(const rk_saved_model *sm, const char *feature, rk_serve_dtype *dt, int64_t *width) {
  const rk_ranking_model *r = &sm->ranking;
  *dt = RK_SERVE_DT_FP32;
  *width = 1;
  for (int i = 0; i < r->n_cat; i++)
    if (!strcmp(r->cat_names[i], feature)) {
      *dt = RK_SERVE_DT_INT64;
      if (r->max_len && r->max_len[i] > 0) *width = r->max_len[i];
    }
}

/* A list column's raw input: the pair `<col>__values` (its values' type) and `<col>__offsets`
 * (INT32), dims [-1] each, as Merlin sends a ragged column (reckon/serve.h). */
static rk_status add_ragged_input(rk_model_config *nvt, rk_model_config *ens, const char *col, rk_serve_dtype dt) {
  const char *suffix[2] = {RK_SERVE_VALUES_SUFFIX, RK_SERVE_OFFSETS_SUFFIX};
  for (int k = 0; k < 2; k++) {
    char *name = str_printf2("%s%s", col, suffix[k]);
    rk_serve_dtype t = k ? RK_SERVE_DT_INT32 : dt;
    rk_status st = name ? add_tensor(&nvt->input, &nvt->n_input, name, t) : RK_ENOMEM;
    if (st == RK_OK) st = add_tensor(&ens->input, &ens->n_input, name, t);
    if (st == RK_OK) nvt->input[nvt->n_input - 1].dims[0] = ens->input[ens->n_input - 1].dims[0] = -1;
    if (st == RK_OK) st = add_pair(&ens->steps[0].input_map, &ens->steps[0].n_input_map, name, name);
    rk_free(name);
    RK_TRY(st);
  }
  return RK_OK;
}

/* The three configs. features: the columns the model reads (its feed's). */
static rk_status build_configs(const rk_export_options *o, const rk_workflow *wf, const rk_saved_model *sm,
                               const char *const *features, int n_features, const char *nvt_name,
                               const char *model_name, rk_model_config *nvt, rk_model_config *model,
                               rk_model_config *ens) {
  rk_status st = RK_OK;
  int64_t mb = o->max_batch_size;
  bool onnx = o->format && !strcmp(o->format, "onnx");
  if (st == RK_OK) st = set_name(nvt, nvt_name, NULL, "reckon", mb);
  if (st == RK_OK) st = set_name(model, model_name, onnx ? "onnxruntime_onnx" : NULL, onnx ? NULL : "reckon", mb);
  if (st == RK_OK) st = set_name(ens, o->name, "ensemble", NULL, mb);
  if (st == RK_OK) st = add_pair(&nvt->parameters, &nvt->n_parameters, "reckon_kind", "workflow");
  if (st == RK_OK && !onnx) st = add_pair(&model->parameters, &model->n_parameters, "reckon_kind", "model");
  nvt->instance_count = model->instance_count = 1;
  if (st == RK_OK) st = add_step(ens, nvt_name);
  if (st == RK_OK) st = add_step(ens, model_name);
  /* Raw columns: every feature's source once, typed as the workflow read it. Targets and
   * controls are not asked of a client unless the model reads them. */
  for (int i = 0; st == RK_OK && i < wf->n_cols; i++) {
    const rk_wf_column *c = &wf->cols[i];
    if (rk_wf_column_optional(c) && !model_reads(features, n_features, c->name)) continue;
    bool seen = false;
    for (int k = 0; k < nvt->n_input && !seen; k++) seen = !strcmp(nvt->input[k].name, c->source);
    if (seen) continue;
    rk_serve_dtype dt = rk_serve_coltype_dtype(c->in_type);
    if (!dt)
      return rk_error(RK_EUNSUPPORTED, "--model_path '%s': the workflow reads column '%s' as %s, which reckon serve "
                      "does not take yet (numbers or strings)", o->model_path, c->source,
                      rk_coltype_name(c->in_type));
    if (c->is_list) {
      st = add_ragged_input(nvt, ens, c->source, dt);
      continue;
    }
    if ((st = add_tensor(&nvt->input, &nvt->n_input, c->source, dt)) != RK_OK) break;
    if ((st = add_tensor(&ens->input, &ens->n_input, c->source, dt)) != RK_OK) break;
    st = add_pair(&ens->steps[0].input_map, &ens->steps[0].n_input_map, c->source, c->source);
  }
  /* The workflow's outputs: every feature (typed as the ONNX step reads it, for --format onnx);
   * the model's inputs: those it reads. */
  for (int i = 0; st == RK_OK && i < wf->n_cols; i++) {
    const rk_wf_column *c = &wf->cols[i];
    if (rk_wf_column_optional(c) && !model_reads(features, n_features, c->name)) continue;
    rk_serve_dtype dt = rk_serve_coltype_dtype(c->out_type);
    if (!dt)
      return rk_error(RK_EUNSUPPORTED, "--model_path '%s': the workflow writes column '%s' as %s, which reckon serve "
                      "does not pass yet", o->model_path, c->name, rk_coltype_name(c->out_type));
    int64_t width = c->is_list ? -1 : 1;   /* a list per row, or padded to the ONNX graph's width */
    for (int f = 0; onnx && f < n_features; f++)
      if (!strcmp(features[f], c->name)) onnx_dtype(sm, c->name, &dt, &width);
    st = add_tensor(&nvt->output, &nvt->n_output, c->name, dt);
    if (st == RK_OK) nvt->output[nvt->n_output - 1].dims[0] = width;
  }
  for (int f = 0; st == RK_OK && f < n_features; f++) {
    const rk_wf_column *c = wf_output(wf, features[f]);
    if (!c)
      return rk_error(RK_EFORMAT, "--model_path '%s': the model reads column '%s', which its workflow does not write",
                      o->model_path, features[f]);
    rk_serve_dtype dt = rk_serve_coltype_dtype(c->out_type);
    int64_t width = c->is_list ? -1 : 1;
    if (onnx) onnx_dtype(sm, c->name, &dt, &width);
    char *inner = str_printf2("%s%s", c->name, TRANSFORMED_SUFFIX);
    if (!inner) st = RK_ENOMEM;
    if (st == RK_OK) st = add_tensor(&model->input, &model->n_input, c->name, dt);
    if (st == RK_OK) model->input[model->n_input - 1].dims[0] = width;
    if (st == RK_OK) st = add_pair(&ens->steps[0].output_map, &ens->steps[0].n_output_map, c->name, inner);
    if (st == RK_OK) st = add_pair(&ens->steps[1].input_map, &ens->steps[1].n_input_map, c->name, inner);
    rk_free(inner);
  }
  const rk_model *m = sm->model;
  for (int t = 0; st == RK_OK && t < m->out.n_tasks; t++) {
    char out[300];
    snprintf(out, sizeof out, "%s/%s", m->out.targets[t], m->out.regression[t] ? "regression_output" : "binary_output");
    st = add_tensor(&model->output, &model->n_output, out, RK_SERVE_DT_FP32);
    if (st == RK_OK) st = add_tensor(&ens->output, &ens->n_output, out, RK_SERVE_DT_FP32);
    if (st == RK_OK) st = add_pair(&ens->steps[1].output_map, &ens->steps[1].n_output_map, out, out);
  }
  if (st == RK_OK) st = set_dynamic_batching(model, mb);
  return st;
}

/* A raw event column once, as the session ETL reads it. */
static rk_status add_raw(rk_model_config *nvt, rk_model_config *ens, const char *col, rk_serve_dtype dt) {
  if (!col) return RK_OK;
  for (int k = 0; k < nvt->n_input; k++)
    if (!strcmp(nvt->input[k].name, col)) return RK_OK;
  RK_TRY(add_tensor(&nvt->input, &nvt->n_input, col, dt));
  RK_TRY(add_tensor(&ens->input, &ens->n_input, col, dt));
  return add_pair(&ens->steps[0].input_map, &ens->steps[0].n_input_map, col, col);
}

/* A session model: raw events in (one row each); the workflow groups them into sessions (list
 * columns, dims [-1]); the model gives per session item_ids and item_id_scores (dims [top_k]) or
 * next-item (dims [V]). Rows out are sessions, sorted by session id, request by request; the
 * model step batches requests as a ranking model's does (rows counted in events). */
static rk_status build_session_configs(const rk_export_options *o, const rk_workflow *wf, const rk_saved_model *sm,
                                       const char *const *features, int n_features, const char *nvt_name,
                                       const char *model_name, rk_model_config *nvt, rk_model_config *model,
                                       rk_model_config *ens) {
  const rk_session_workflow *sw = wf->session;
  int64_t mb = o->max_batch_size;
  RK_TRY(set_name(nvt, nvt_name, NULL, "reckon", mb));
  RK_TRY(set_name(model, model_name, NULL, "reckon", mb));
  RK_TRY(set_name(ens, o->name, "ensemble", NULL, mb));
  RK_TRY(add_pair(&nvt->parameters, &nvt->n_parameters, "reckon_kind", "workflow"));
  RK_TRY(add_pair(&model->parameters, &model->n_parameters, "reckon_kind", "model"));
  nvt->instance_count = model->instance_count = 1;
  RK_TRY(add_step(ens, nvt_name));
  RK_TRY(add_step(ens, model_name));
  /* The event columns: ids as int64 (BYTES when the ETL hashed string session ids), ISO 8601
   * times as BYTES, continuous values as float64. */
  RK_TRY(add_raw(nvt, ens, sw->session_id, sw->hashed_session_ids ? RK_SERVE_DT_BYTES : RK_SERVE_DT_INT64));
  RK_TRY(add_raw(nvt, ens, sw->timestamp, sw->timestamp_format == RK_TS_ISO8601 ? RK_SERVE_DT_BYTES : RK_SERVE_DT_INT64));
  RK_TRY(add_raw(nvt, ens, sw->item_id, RK_SERVE_DT_INT64));
  RK_TRY(add_raw(nvt, ens, sw->user_id, RK_SERVE_DT_INT64));
  for (int i = 0; i < sw->n_categorical; i++) RK_TRY(add_raw(nvt, ens, sw->categorical[i], RK_SERVE_DT_INT64));
  for (int i = 0; i < sw->n_continuous; i++) RK_TRY(add_raw(nvt, ens, sw->continuous[i], RK_SERVE_DT_FP64));
  for (int i = 0; i < sw->n_context; i++) RK_TRY(add_raw(nvt, ens, sw->context[i], RK_SERVE_DT_INT64));
  RK_TRY(add_raw(nvt, ens, sw->price, RK_SERVE_DT_FP64));
  RK_TRY(add_raw(nvt, ens, sw->price_category, RK_SERVE_DT_INT64));
  /* The session columns the model reads, lists of their schema's type. */
  for (int f = 0; f < n_features; f++) {
    const rk_schema_column *sc = rk_schema_find(&sm->schema, features[f]);
    rk_serve_dtype dt = sc ? rk_serve_coltype_dtype(sc->dtype) : RK_SERVE_DT_INVALID;
    if (!dt)
      return rk_error(RK_EFORMAT, "--model_path '%s': the model reads column '%s', which its schema does not type",
                      o->model_path, features[f]);
    char *inner = str_printf2("%s%s", features[f], TRANSFORMED_SUFFIX);
    if (!inner) return RK_ENOMEM;
    rk_status st = add_tensor(&nvt->output, &nvt->n_output, features[f], dt);
    if (st == RK_OK) st = add_tensor(&model->input, &model->n_input, features[f], dt);
    if (st == RK_OK) nvt->output[nvt->n_output - 1].dims[0] = model->input[model->n_input - 1].dims[0] = -1;
    if (st == RK_OK) st = add_pair(&ens->steps[0].output_map, &ens->steps[0].n_output_map, features[f], inner);
    if (st == RK_OK) st = add_pair(&ens->steps[1].input_map, &ens->steps[1].n_input_map, features[f], inner);
    rk_free(inner);
    RK_TRY(st);
  }
  rk_catalog cat;
  float temperature;
  rk_session_catalog(sm->model, &cat, &temperature);
  static const char *const top[] = {"item_ids", "item_id_scores"};
  static const rk_serve_dtype top_types[] = {RK_SERVE_DT_INT64, RK_SERVE_DT_FP32};
  int n_out = o->top_k > 0 ? 2 : 1;
  for (int i = 0; i < n_out; i++) {
    const char *name = o->top_k > 0 ? top[i] : "next-item";
    rk_serve_dtype dt = o->top_k > 0 ? top_types[i] : RK_SERVE_DT_FP32;
    int64_t dim = o->top_k > 0 ? o->top_k : cat.V;
    RK_TRY(add_tensor(&model->output, &model->n_output, name, dt));
    RK_TRY(add_tensor(&ens->output, &ens->n_output, name, dt));
    model->output[model->n_output - 1].dims[0] = ens->output[ens->n_output - 1].dims[0] = dim;
    RK_TRY(add_pair(&ens->steps[1].output_map, &ens->steps[1].n_output_map, name, name));
  }
  return set_dynamic_batching(model, mb);
}

/* Writes config.pbtxt and copies `content` into <stage>/<name>/1/<sub>; an ensemble (content
 * NULL) gets an empty 1/, as Triton wants a version folder for it too. */
static rk_status stage_model(const char *stage, const rk_model_config *c, const char *content, const char *sub) {
  char *dir = path_join(stage, c->name), *v = dir ? path_join(dir, "1") : NULL;
  char *dst = v && content && sub ? path_join(v, sub) : NULL;
  char *cfg = dir ? path_join(dir, "config.pbtxt") : NULL, *text = NULL;
  rk_status st = dir && v && (dst || !content) && cfg ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_mkdir_p(v);
  if (st == RK_OK && content) st = rk_copy_tree(content, dst);
  if (st == RK_OK) st = rk_model_config_format(c, &text);
  if (st == RK_OK) st = rk_write_file_atomic(cfg, text, strlen(text));
  rk_free(text), rk_free(cfg), rk_free(dst), rk_free(v), rk_free(dir);
  return st;
}

/* <stage>/<model>/1/model.onnx, Triton's onnxruntime backend's default file name. */
static rk_status stage_onnx(const char *stage, const rk_model_config *c, const rk_saved_model *sm) {
#ifdef RECKON_HAVE_PROTOBUF_C
  char *dir = path_join(stage, c->name), *v = dir ? path_join(dir, "1") : NULL;
  char *file = v ? path_join(v, "model.onnx") : NULL;
  rk_status st = file ? rk_onnx_export(sm->model, &sm->schema, file) : RK_ENOMEM;
  rk_free(file), rk_free(v), rk_free(dir);
  return st;
#else
  (void)stage, (void)c, (void)sm;
  return rk_error(RK_EUNSUPPORTED, "--format onnx: this build has no ONNX export");
#endif
}

static rk_status publish(const char *stage, const char *repo, const char *name) {
  char *from = path_join(stage, name), *to = path_join(repo, name);
  rk_status st = from && to ? rk_replace_dir(from, to) : RK_ENOMEM;
  rk_free(from), rk_free(to);
  return st;
}

rk_status rk_export(const rk_export_options *o, char *written[3]) {
  if (written) written[0] = written[1] = written[2] = NULL;
  if (!o->model_path) return rk_error(RK_EUSAGE, "--model_path is required (a model folder from reckon train)");
  if (!o->output_path) return rk_error(RK_EUSAGE, "--output_path is required (the model repository to write)");
  if (!o->name) return rk_error(RK_EUSAGE, "--name is required (the ensemble's name; its steps are <name>_nvt and "
                                           "<name>_<model>)");
  if (rk_serve_check_name(o->name, "--name") != RK_OK) {   /* a usage error: the flag's value */
    char why[RK_ERROR_MAX];
    snprintf(why, sizeof why, "%s", rk_error_message());
    return rk_error(RK_EUSAGE, "%s", why);
  }
#ifndef RECKON_HAVE_PROTOBUF_C
  if (o->format && !strcmp(o->format, "onnx"))
    return rk_error(RK_EUNSUPPORTED, "--format onnx: this build has no ONNX export (it needs protobuf-c: Debian's "
                    "libprotobuf-c-dev and protobuf-c-compiler); use --format reckon");
#endif
  if (o->format && strcmp(o->format, "reckon") && strcmp(o->format, "onnx"))
    return rk_error(RK_EUSAGE, "invalid value '%s' for --format: expected reckon or onnx", o->format);
  if (o->max_batch_size < 1 || o->max_batch_size > (INT64_C(1) << 23))
    return rk_error(RK_EUSAGE, "--max_batch_size %lld is out of range: expected N in [1, 2^23]",
                    (long long)o->max_batch_size);
  char *wfdir = path_join(o->model_path, "workflow");
  if (!wfdir) return RK_ENOMEM;
  struct stat sb;
  if (stat(o->model_path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    rk_free(wfdir);
    return rk_error(RK_ENOTFOUND, "--model_path '%s' is not a folder (a model folder from reckon train or reckon "
                    "widedeep)", o->model_path);
  }
  if (stat(wfdir, &sb) != 0) {
    rk_free(wfdir);
    return rk_error(RK_ENOTFOUND, "--model_path '%s' has no workflow/ folder: the ensemble needs the workflow the "
                    "model's data was preprocessed with (train on data `reckon preprocess` wrote)", o->model_path);
  }
  rk_saved_model sm;
  memset(&sm, 0, sizeof sm);
  rk_workflow wf;
  rk_workflow_init(&wf);
  rk_status st = rk_model_load(&sm, o->model_path);
  bool loaded = st == RK_OK;
  if (st != RK_OK) st = rk_error_context(st, "--model_path '%s'", o->model_path);
  bool session = st == RK_OK && rk_model_is_session(sm.model);
  if (st == RK_OK) st = rk_workflow_load(&wf, wfdir);
  if (st == RK_OK && session && !wf.session)
    st = rk_error(RK_EFORMAT, "--model_path '%s' is a session model, but its workflow/ is not a session workflow",
                  o->model_path);
  if (st == RK_OK && !session && wf.session)
    st = rk_error(RK_EFORMAT, "--model_path '%s' is a ranking model, but its workflow/ is a session workflow",
                  o->model_path);
  if (st == RK_OK && session && o->format && !strcmp(o->format, "onnx"))
    st = rk_error(RK_EUNSUPPORTED, "--format onnx: the ensemble of a session model is written by --format reckon "
                  "(the ONNX export of the model alone: docs/serving_onnx.md)");
  if (st == RK_OK && o->top_k > 0 && !session)
    st = rk_error(RK_EUSAGE, "--top_k applies to session models; '%s' is a ranking model (its outputs are one score "
                  "per task)", o->model_path);
  /* The columns the model reads, from its own feed. */
  rk_model_feed *feed = NULL;
  const char **features = NULL;
  int n_features = 0;
  if (st == RK_OK) st = sm.model->ops->feed_init(&feed, sm.model, &sm.schema, 0, NULL, 0);
  if (st == RK_OK && !(features = rk_calloc((size_t)sm.model->ops->feed_max_columns(sm.model) + 1, sizeof *features)))
    st = RK_ENOMEM;
  if (st == RK_OK) n_features = sm.model->ops->feed_columns(feed, false, features);
  char *nvt_name = NULL, *model_name = NULL;
  const char *kind = loaded && !session ? rk_model_kind_name(sm.ranking.cfg.kind) : "model";
  char session_kind[32] = "";
  if (session) {   /* NAME_gpt2, NAME_bert, ...: --model_type's word */
    const char *word;
    int n = rk_setting_pick_word(RK_SESSION_MODEL_CHOICES, rk_session_model_config(sm.model)->model_type, &word);
    snprintf(session_kind, sizeof session_kind, "%.*s", n, word);
    kind = session_kind;
  }
  if (st == RK_OK && (!(nvt_name = str_printf2("%s%s", o->name, "_nvt")) ||
                      !(model_name = str_printf2("%s_%s", o->name, kind))))
    st = RK_ENOMEM;
  rk_model_config nvt = {0}, model = {0}, ens = {0};
  if (st == RK_OK)
    st = (session ? build_session_configs : build_configs)(o, &wf, &sm, features, n_features, nvt_name, model_name,
                                                           &nvt, &model, &ens);
  /* Claim the repository for these three names (others' models stay), stage, publish. */
  rk_output claim = {0};
  char *stage = NULL;
  const char *names[] = {nvt_name, model_name, o->name, NULL};
  if (st == RK_OK) st = rk_output_claim_names(&claim, o->output_path, "model-repository", names, o->overwrite);
  if (st == RK_OK) {
    char tail[64];
    snprintf(tail, sizeof tail, ".reckon-tmp-%ld", (long)getpid());
    if (!(stage = path_join(o->output_path, tail))) st = RK_ENOMEM;
  }
  if (st == RK_OK) st = rk_remove_tree(stage);
  if (st == RK_OK) st = stage_model(stage, &nvt, wfdir, "workflow");
  bool onnx = o->format && !strcmp(o->format, "onnx");
  if (st == RK_OK) st = stage_model(stage, &model, onnx ? NULL : o->model_path, "model");
  if (st == RK_OK && onnx) st = stage_onnx(stage, &model, &sm);
  if (st == RK_OK) st = stage_model(stage, &ens, NULL, NULL);
  if (st == RK_OK) st = publish(stage, o->output_path, nvt_name);
  if (st == RK_OK) st = publish(stage, o->output_path, model_name);
  if (st == RK_OK) st = publish(stage, o->output_path, o->name);   /* last: the steps are there */
  if (stage) rk_remove_tree(stage);
  rk_output_release(&claim);
  if (st == RK_OK && written) {
    written[0] = rk_strdup(nvt_name);
    written[1] = rk_strdup(model_name);
    written[2] = rk_strdup(o->name);
  }
  rk_free(stage);
  rk_model_config_free(&nvt);
  rk_model_config_free(&model);
  rk_model_config_free(&ens);
  rk_free(nvt_name);
  rk_free(model_name);
  rk_free(features);
  if (feed) sm.model->ops->feed_free(feed);
  rk_workflow_free(&wf);
  if (loaded) rk_saved_model_free(&sm);
  rk_free(wfdir);
  return st;
}
