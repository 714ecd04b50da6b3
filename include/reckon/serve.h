/*
 * reckon/serve.h: the serving core. A model repository laid out as Triton lays it out, its
 * models loaded and versioned, requests batched and run: everything `reckon serve` does except
 * speak a protocol. The HTTP frontend (src/serve/http/) and the gRPC one (src/serve/grpc/) are
 * thin translations of the KServe v2 protocol onto the calls below; neither knows about models.
 *
 *   REPO/<model>/config.pbtxt          text format of Triton's model_config.proto (proto/)
 *   REPO/<model>/<version>/...         version folders, positive whole numbers
 *
 * The models reckon runs (written by `reckon export`, docs/serving.md):
 *   backend "reckon", parameter "reckon_kind" = "workflow"   1/workflow/: a fitted workflow
 *   backend "reckon", parameter "reckon_kind" = "model"      1/model/:    a model folder
 *   platform "ensemble"                                       steps with input_map/output_map
 * An ensemble runs in one process: the workflow's output batch is the model's input, no copies.
 * A session workflow's rows are sessions, not the request's events: such a request runs alone and
 * its response has a row per session, sorted by session id.
 *
 * Threads: every rk_server_* call may come from any thread at once. Requests go through a queue
 * per model version with Triton's dynamic batching (max_queue_delay_microseconds,
 * preferred_batch_size) to a worker pool sized to the cores; a batch's outputs are split back
 * per request exactly (the same bits as each request alone).
 *
 * Errors: calls return rk_status and leave a message (rk_error_message) naming what was wrong:
 * the model, version, input, output or parameter, and what was expected. rk_serve_code tells a
 * frontend what to answer (HTTP 400/404/503/500, gRPC INVALID_ARGUMENT/NOT_FOUND/UNAVAILABLE/
 * INTERNAL).
 *
 * It is not: HTTP, JSON, protobuf or sockets. References: Triton's model_repository.md,
 * model_configuration.md, model_management.md (repository layout, version policy, control modes)
 * and statistics extension; KServe's predict protocol v2 (datatypes, tensors).
 */
#ifndef RECKON_SERVE_H
#define RECKON_SERVE_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Tensor datatypes as KServe names them, X(name, bytes per element; 0: variable), and the
 * TYPE_* of model_config.proto's DataType enum (its number and name).
 * ------------------------------------------------------------------------------------------- */
#define RK_SERVE_DTYPE_LIST(X)                         \
  X(BOOL,   1, 1,  "TYPE_BOOL")                          \
  X(UINT8,  1, 2,  "TYPE_UINT8")                         \
  X(UINT16, 2, 3,  "TYPE_UINT16")                        \
  X(UINT32, 4, 4,  "TYPE_UINT32")                        \
  X(UINT64, 8, 5,  "TYPE_UINT64")                        \
  X(INT8,   1, 6,  "TYPE_INT8")                          \
  X(INT16,  2, 7,  "TYPE_INT16")                         \
  X(INT32,  4, 8,  "TYPE_INT32")                         \
  X(INT64,  8, 9,  "TYPE_INT64")                         \
  X(FP16,   2, 10, "TYPE_FP16")                          \
  X(FP32,   4, 11, "TYPE_FP32")                          \
  X(FP64,   8, 12, "TYPE_FP64")                          \
  X(BYTES,  0, 13, "TYPE_STRING")

typedef enum {
  RK_SERVE_DT_INVALID = 0,
#define RK_SERVE_DTYPE_ENUM(name, size, proto, type) RK_SERVE_DT_##name,
  RK_SERVE_DTYPE_LIST(RK_SERVE_DTYPE_ENUM)
#undef RK_SERVE_DTYPE_ENUM
  RK_SERVE_DT_COUNT
} rk_serve_dtype;

const char *rk_serve_dtype_name(rk_serve_dtype dt);        /* "FP32"; "INVALID" */
size_t rk_serve_dtype_size(rk_serve_dtype dt);              /* 4; BYTES and INVALID: 0 */
rk_serve_dtype rk_serve_dtype_parse(const char *name);      /* "FP32" -> FP32; else INVALID */
const char *rk_serve_dtype_config_name(rk_serve_dtype dt);  /* "TYPE_FP32" */
rk_serve_dtype rk_serve_dtype_parse_config(const char *name);   /* "TYPE_FP32" -> FP32 */
/* The datatype a column of type t travels as (STRING: BYTES); INVALID for lists. */
rk_serve_dtype rk_serve_coltype_dtype(rk_coltype t);

/* A model or version name that stays inside the repository: not empty, no '/', no leading '.'
 * (so not "." or ".."), no control characters, at most 255 bytes. RK_EINVAL naming `what`. */
rk_status rk_serve_check_name(const char *name, const char *what);

/* ---------------------------------------------------------------------------------------------
 * Error classes: what a frontend answers for a failed call.
 *   INVALID      400 / INVALID_ARGUMENT   bad request: shape, datatype, unknown input or output,
 *                                         a name that leaves the repository, load in mode none
 *   NOT_FOUND    404 / NOT_FOUND          no such model or version in the repository
 *   UNAVAILABLE  503 / UNAVAILABLE        the model exists but is not ready (loading, unloading,
 *                                         failed), or the server is shutting down
 *   INTERNAL     500 / INTERNAL           our bug, out of memory, a model file that broke
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RK_SERVE_OK = 0,
  RK_SERVE_INVALID,
  RK_SERVE_NOT_FOUND,
  RK_SERVE_UNAVAILABLE,
  RK_SERVE_INTERNAL
} rk_serve_code;

/* The class of `status` as the calling thread's last failing rk_server_* call left it (the
 * core marks "not ready" failures UNAVAILABLE); from the status alone otherwise
 * (RK_ENOTFOUND: NOT_FOUND; ENOMEM, EIO, EINTERNAL: INTERNAL; the rest: INVALID). */
rk_serve_code rk_serve_error_code(rk_status status);
int rk_serve_code_http(rk_serve_code code);            /* 200, 400, 404, 503, 500 */
const char *rk_serve_code_name(rk_serve_code code);    /* "OK", "INVALID_ARGUMENT", ... (gRPC's) */

/* ---------------------------------------------------------------------------------------------
 * Model configurations: the subset of model_config.proto's ModelConfig that reckon writes and
 * reads, as a structure (src/serve/model_config.c). Field names follow the proto's.
 * ------------------------------------------------------------------------------------------- */
#define RK_SERVE_MAX_DIMS 8

typedef struct {
  char *name;
  rk_serve_dtype data_type;
  int n_dims;
  int64_t dims[RK_SERVE_MAX_DIMS];  /* -1: any size; without the batch axis when max_batch_size > 0 */
  bool allow_ragged_batch;
  bool optional;
} rk_model_config_tensor;

typedef enum { RK_VERSION_POLICY_LATEST, RK_VERSION_POLICY_ALL, RK_VERSION_POLICY_SPECIFIC } rk_version_policy_kind;

typedef struct {
  rk_version_policy_kind kind;
  int64_t latest;                   /* LATEST: how many of the highest versions (default 1) */
  int64_t *specific;                /* SPECIFIC: the versions */
  int n_specific;
} rk_version_policy;

typedef struct {
  char *key, *value;                /* ensemble step maps: key = the step model's tensor name,
                                       value = the ensemble's tensor name (as Triton's) */
} rk_config_pair;

typedef struct {
  char *model_name;
  int64_t model_version;            /* -1: the latest ready */
  rk_config_pair *input_map;
  int n_input_map;
  rk_config_pair *output_map;
  int n_output_map;
} rk_ensemble_step;

typedef struct {
  char *name;
  char *platform;                   /* "ensemble", or NULL */
  char *backend;                    /* "reckon", or NULL */
  int64_t max_batch_size;           /* 0: no batch axis in dims */
  rk_version_policy version_policy;
  rk_model_config_tensor *input;
  int n_input;
  rk_model_config_tensor *output;
  int n_output;
  bool dynamic_batching;            /* the block is present */
  int64_t *preferred_batch_size;
  int n_preferred_batch_size;
  int64_t max_queue_delay_microseconds;
  int64_t instance_count;           /* instance_group's count (KIND_CPU), 0: unset */
  rk_ensemble_step *steps;          /* ensemble_scheduling.step */
  int n_steps;
  rk_config_pair *parameters;       /* parameters { key: value { string_value } } */
  int n_parameters;
} rk_model_config;

/* Parses config.pbtxt text; `path` names the file in messages (which field, what was expected).
 * Fields reckon does not use are refused by name, so a typo is not silently ignored. */
rk_status rk_model_config_parse(rk_model_config *out, const char *text, size_t len, const char *path);
rk_status rk_model_config_read(rk_model_config *out, const char *path);
/* The text format of `c`, NUL-terminated, rk_free it; parses back to an equal structure. */
rk_status rk_model_config_format(const rk_model_config *c, char **text);
/* A parameter's value, or NULL. */
const char *rk_model_config_parameter(const rk_model_config *c, const char *key);

/* List (multi-hot) columns cross the ensemble's edge as Merlin sends a ragged column to Triton:
 * two inputs, `<col>__values` (the rows' values one after another) and `<col>__offsets` (rows + 1
 * offsets from 0, INT32 or INT64), both dims [-1] and 1-D. Inside an ensemble a list travels as
 * one tensor of dims [-1] (a list per row). */
#define RK_SERVE_VALUES_SUFFIX "__values"
#define RK_SERVE_OFFSETS_SUFFIX "__offsets"
/* When `name` is one of a ragged pair among c's inputs (both names present, dims [-1]): its
 * partner (values <-> offsets); else NULL. */
const rk_model_config_tensor *rk_serve_ragged_partner(const rk_model_config *c, const char *name);
void rk_model_config_free(rk_model_config *c);

/* ---------------------------------------------------------------------------------------------
 * The server.
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  RK_SERVE_CONTROL_NONE,       /* every model loaded at open; the repository never changes */
  RK_SERVE_CONTROL_POLL,       /* every model at open; rescans add, reload and remove models */
  RK_SERVE_CONTROL_EXPLICIT    /* only load_models at open; rk_server_load / unload after */
} rk_serve_control;

const char *rk_serve_control_name(rk_serve_control mode);              /* "none", "poll", "explicit" */
rk_status rk_serve_control_parse(const char *name, rk_serve_control *out);   /* EUSAGE naming choices */

typedef struct {
  const char *repository;           /* the folder */
  rk_serve_control control;
  const char *const *load_models;   /* explicit mode: loaded at open ("*": all); others: ignored */
  int n_load_models;
  bool strict_readiness;            /* ready only when every model loaded is (default true) */
  int64_t poll_interval_ms;         /* poll mode: rescan period of the background thread
                                       (default 15000); 0: only when rk_server_poll is called */
  int workers;                      /* inference threads; 0: the cores (rk_num_threads) */
  int64_t max_request_elements;     /* a request's tensors together, elements (default 2^26) */
} rk_serve_options;

void rk_serve_options_default(rk_serve_options *o);

typedef struct rk_server rk_server;

/* Opens the repository and loads models as the mode says. A model that fails to load is
 * UNAVAILABLE with its reason (the server still opens; with strict readiness it is not ready);
 * a repository that cannot be read fails. */
rk_status rk_server_open(rk_server **out, const rk_serve_options *o);
/* Refuses new requests (UNAVAILABLE "shutting down"), waits up to timeout_ms (< 0: forever)
 * for queued and running ones, then stops the workers. RK_OK when drained in time; RK_EIO with
 * the count of requests abandoned otherwise. Safe to call once, before rk_server_close. */
rk_status rk_server_shutdown(rk_server *s, int64_t timeout_ms);
/* Shuts down (waiting forever) if not done, and frees. NULL is a no-op. */
void rk_server_close(rk_server *s);

bool rk_server_live(const rk_server *s);     /* true until shutdown */
/* Live, not shutting down, and (strict) every loaded model ready / (not strict) live. */
bool rk_server_ready(rk_server *s);
rk_serve_control rk_server_control(const rk_server *s);

/* Server metadata (KServe's /v2): name "reckon", rk_version(), and the extensions served. */
const char *rk_serve_server_name(void);
int rk_serve_server_extensions(const char *const **names);   /* "model_repository", "statistics", ... */

/* Poll mode: rescan now (new models load, changed config or versions reload, removed unload). */
rk_status rk_server_poll(rk_server *s);

/* ---- the repository index, load and unload -------------------------------------------------- */
typedef enum {
  RK_MODEL_STATE_UNKNOWN,       /* in the repository, never loaded */
  RK_MODEL_STATE_READY,
  RK_MODEL_STATE_UNAVAILABLE,   /* unloaded, or failed to load (reason says why) */
  RK_MODEL_STATE_LOADING,
  RK_MODEL_STATE_UNLOADING
} rk_model_state;

const char *rk_model_state_name(rk_model_state st);   /* "READY", "UNAVAILABLE", "LOADING", ... */

typedef struct {
  char *name;
  int64_t version;              /* 0: the model as a whole (never loaded, or no version) */
  rk_model_state state;
  char *reason;                 /* "" when none */
} rk_serve_index_entry;

typedef struct {
  rk_serve_index_entry *entries;   /* by name, then version */
  int n;
} rk_serve_index;

/* Every model folder of the repository with its versions' states; ready_only: READY ones. */
rk_status rk_server_index(rk_server *s, bool ready_only, rk_serve_index *out);
void rk_serve_index_free(rk_serve_index *ix);

/* Explicit mode only (INVALID otherwise). Loads (or reloads) `name` from the repository with its
 * version policy; an ensemble loads its steps' models too. A reload switches versions
 * atomically: requests in flight finish on the old ones, new requests see only the new set; a
 * version kept by both is not reloaded. */
rk_status rk_server_load(rk_server *s, const char *name);
/* Explicit mode only. New requests get UNAVAILABLE at once; returns when the ones in flight have
 * finished and the model's memory is freed. unload_dependents: also unload the models of an
 * ensemble's steps (if no other loaded ensemble uses them). */
rk_status rk_server_unload(rk_server *s, const char *name, bool unload_dependents);

/* version 0: any ready version. A model not in the repository is NOT_FOUND. */
rk_status rk_server_model_ready(rk_server *s, const char *name, int64_t version, bool *ready);

/* ---- metadata and config --------------------------------------------------------------------- */
typedef struct {
  char *name;
  rk_serve_dtype datatype;
  int ndim;
  int64_t shape[RK_SERVE_MAX_DIMS];   /* with the batch axis (-1) first when the model batches */
} rk_serve_tensor_meta;

typedef struct {
  char *name;
  char *platform;               /* "ensemble" or "reckon" */
  int64_t *versions;            /* the ready versions, ascending */
  int n_versions;
  rk_serve_tensor_meta *inputs;
  int n_inputs;
  rk_serve_tensor_meta *outputs;
  int n_outputs;
} rk_serve_model_meta;

/* version 0: the latest ready. A model not ready is UNAVAILABLE. */
rk_status rk_server_model_metadata(rk_server *s, const char *name, int64_t version, rk_serve_model_meta *out);
void rk_serve_model_meta_free(rk_serve_model_meta *m);
/* The loaded config of `name` (as a structure, and as config.pbtxt text when text is not NULL:
 * the file as read; rk_free it). Either out may be NULL. */
rk_status rk_server_model_config(rk_server *s, const char *name, int64_t version, rk_model_config *config,
                                 char **text);

/* ---- inference -------------------------------------------------------------------------------- */
/* A tensor's data: raw little-endian elements, row-major; BYTES: each element a 4-byte
 * little-endian length then its bytes (Triton's binary extension). */
typedef struct {
  const char *name;
  rk_serve_dtype datatype;
  int ndim;
  int64_t shape[RK_SERVE_MAX_DIMS];
  const void *data;             /* borrowed until the call returns (async: until done runs) */
  int64_t nbytes;
} rk_serve_input;

typedef enum { RK_SERVE_PARAM_STRING, RK_SERVE_PARAM_INT, RK_SERVE_PARAM_BOOL, RK_SERVE_PARAM_DOUBLE } rk_serve_param_kind;

typedef struct {
  const char *key;
  rk_serve_param_kind kind;
  const char *string_value;
  int64_t int_value;
  bool bool_value;
  double double_value;
} rk_serve_param;

typedef struct {
  const char *model;
  int64_t version;              /* 0: the latest ready */
  const char *id;               /* echoed in the response; may be NULL */
  const rk_serve_input *inputs;
  int n_inputs;
  const char *const *outputs;   /* the outputs wanted; NULL / 0: all of the model's */
  int n_outputs;
  const rk_serve_param *params; /* none is defined yet: each is INVALID, naming it */
  int n_params;
} rk_serve_request;

typedef struct {
  char *name;
  rk_serve_dtype datatype;
  int ndim;
  int64_t shape[RK_SERVE_MAX_DIMS];
  void *data;                   /* owned, as rk_serve_input lays it out */
  int64_t nbytes;
} rk_serve_output;

typedef struct {
  char *model_name;
  int64_t model_version;
  char *id;                     /* the request's, or NULL */
  rk_serve_output *outputs;     /* in the order asked (all: the config's order) */
  int n_outputs;
} rk_serve_response;

/* Runs one request (blocking; batched with others per the model's dynamic_batching). On failure
 * resp holds nothing and rk_serve_error_code(status) gives the class. */
rk_status rk_server_infer(rk_server *s, const rk_serve_request *req, rk_serve_response *resp);

/* The same, without blocking: RK_OK when queued, and then `done` runs once, on a worker thread,
 * with the status and (RK_OK) the response, whose contents it takes over (copy *resp and free
 * that with rk_serve_response_free; the struct itself goes when done returns); the request and
 * its data must stay valid until then. The message of a failure is rk_error_message() there. A
 * request refused before queueing returns its failure here, and done never runs. */
typedef void (*rk_serve_done_fn)(void *ctx, rk_status status, rk_serve_code code, rk_serve_response *resp);
rk_status rk_server_infer_async(rk_server *s, const rk_serve_request *req, rk_serve_done_fn done, void *ctx);

void rk_serve_response_free(rk_serve_response *resp);

/* ---- statistics (Triton's statistics extension and nv_inference_* metrics) ------------------ */
typedef struct {
  uint64_t count;
  uint64_t ns;                  /* cumulative nanoseconds */
} rk_serve_duration;

typedef struct {
  int64_t batch_size;
  rk_serve_duration compute_input, compute_infer, compute_output;
} rk_serve_batch_stats;

typedef struct {
  char *name;
  int64_t version;
  uint64_t last_inference_ms;   /* unix milliseconds of the last request, 0: none */
  uint64_t inference_count;     /* requests' batch rows that succeeded (Triton's inference_count) */
  uint64_t execution_count;     /* batches run */
  rk_serve_duration success;    /* request durations, arrival to response */
  rk_serve_duration fail;
  rk_serve_duration queue;
  rk_serve_duration compute_input, compute_infer, compute_output;
  rk_serve_batch_stats *batch;  /* per batch size executed, ascending */
  int n_batch;
} rk_serve_model_stats;

typedef struct {
  rk_serve_model_stats *models;
  int n;
} rk_serve_stats;

/* name NULL: every model version ever loaded; version 0: every version of name. */
rk_status rk_server_stats(rk_server *s, const char *name, int64_t version, rk_serve_stats *out);
void rk_serve_stats_free(rk_serve_stats *st);
/* Prometheus text exposition (rk_free it): nv_inference_request_success, _request_failure,
 * nv_inference_count, _exec_count, _request_duration_us, _queue_duration_us,
 * _compute_input_duration_us, _compute_infer_duration_us, _compute_output_duration_us, each
 * with model and version labels, as Triton names them. */
rk_status rk_server_metrics_text(rk_server *s, char **text);

/* ---------------------------------------------------------------------------------------------
 * Export (src/export/export.c): a model folder (reckon train, reckon widedeep, reckon sessions)
 * and the workflow it was trained after (its workflow/ copy) as a Triton model repository:
 *   REPO/<name>_nvt/config.pbtxt, 1/workflow/     the workflow step: raw columns in
 *   REPO/<name>_<model>/config.pbtxt, 1/model/    the model step: `<target>/binary_output` or
 *                                                 `<target>/regression_output` per task; a
 *                                                 session model's item_ids and item_id_scores
 *                                                 (top_k) or next-item, one row per session
 *   REPO/<name>/config.pbtxt                      the ensemble of the two
 * Each folder is written beside the repository's models under a hidden temporary name and
 * renamed into place, the ensemble last, so a polling server never sees half of one. Other
 * models in REPO stay; REPO is claimed as every command claims its output (src/core/output.c).
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const char *model_path;       /* --model_path */
  const char *output_path;      /* --output_path: the repository */
  const char *name;             /* --name */
  const char *format;           /* "reckon" (default) or "onnx" */
  int64_t top_k;                /* session models' item_ids/item_id_scores; 0: not given */
  int64_t max_batch_size;       /* default 1024 */
  bool overwrite;               /* --overwrite */
} rk_export_options;

void rk_export_options_default(rk_export_options *o);
/* The names of the three models written go to `written` (3 entries, rk_free each) when not NULL. */
rk_status rk_export(const rk_export_options *o, char *written[3]);

#ifdef __cplusplus
}
#endif
#endif /* RECKON_SERVE_H */
