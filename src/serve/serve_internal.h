/*
 * serve_internal.h: what the serving core's files share (the files of src/serve/). Not a public interface;
 * the frontends see reckon/serve.h only.
 *
 *   names.c         datatypes, error classes, modes, states
 *   model_config.c  config.pbtxt <-> rk_model_config
 *   repository.c    the folder: model names, version folders, policies, paths kept inside
 *   tensors.c       request tensors <-> columns (the unit every step works in)
 *   backend.c       a loaded version: the workflow, model and ensemble steps, run on a batch
 *   scheduler.c     the queue per version, dynamic batching, the worker pool
 *   stats.c         per-version statistics and the Prometheus text
 *   server.c        the index, load/unload with atomic version switches, metadata, infer
 */
#ifndef RECKON_SERVE_INTERNAL_H
#define RECKON_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "reckon/etl.h"
#include "reckon/models.h"
#include "reckon/serve.h"

/* ---- error classes (names.c) ---------------------------------------------------------------- */
/* rk_error with a class the frontends answer with; returns status. */
rk_status rk_serve_fail(rk_serve_code code, rk_status status, const char *fmt, ...) RK_PRINTF(3, 4);
/* Give the failure already reported (rk_error's message) a class. */
rk_status rk_serve_mark(rk_serve_code code, rk_status status);
void rk_serve_clear_code(void);

/* ---- the repository (repository.c) ---------------------------------------------------------- */
/* <repo>/<name>, after checking the name and that its real path is inside the repository's
 * (a symlink out is refused). NOT_FOUND when there is no such folder. rk_free it. */
rk_status rk_repo_model_dir(const char *repo, const char *name, char **dir);
/* The model folders of the repository (those holding config.pbtxt), sorted. */
rk_status rk_repo_list(const char *repo, char ***names, int *n);
/* The version folders of dir (positive whole numbers, inside dir), ascending. */
rk_status rk_repo_versions(const char *dir, int64_t **versions, int *n);
/* The versions a policy serves out of those present (ascending). A specific version that is not
 * there is an error naming it. */
rk_status rk_repo_apply_policy(const rk_version_policy *p, const int64_t *present, int n_present, int64_t **out,
                               int *n_out, const char *model);
void rk_repo_free_names(char **names, int n);

/* ---- tensors and columns (tensors.c) -------------------------------------------------------- */
/* Whether a request's inputs fit the config: every required input once, known names, the
 * datatype, the shape (batch axis first when max_batch_size > 0, at most max_batch_size rows),
 * byte sizes and BYTES elements well formed, a ragged pair's offsets from 0, never decreasing, to
 * its values' count; *rows gets the batch. INVALID naming the input. */
rk_status rk_serve_check_inputs(const rk_model_config *c, const char *model, const rk_serve_request *req,
                                int64_t max_elements, int64_t *rows);
/* Whether every requested output is one of the config's. */
rk_status rk_serve_check_outputs(const rk_model_config *c, const char *model, const rk_serve_request *req);
/* Append a checked input tensor's rows to `col` (created on the first call with the right type). */
rk_status rk_serve_append_tensor(rk_column *col, const rk_serve_input *in);
/* Whether `name` is the offsets half of a ragged pair of c's inputs (reckon/serve.h): its rows
 * travel in its values' column. */
bool rk_serve_is_ragged_offsets(const rk_model_config *c, const char *name);
/* Append a checked ragged pair's rows to the list column `col` (created on the first call, named
 * as the values input). */
rk_status rk_serve_append_ragged(rk_column *col, const rk_serve_input *values, const rk_serve_input *offsets);
/* Rows [begin, end) of a column as an output tensor shaped (end - begin, dims...). */
rk_status rk_serve_column_tensor(rk_serve_output *out, const rk_column *col, int64_t begin, int64_t end,
                                 const rk_model_config_tensor *t, bool batched);
/* Convert a numeric column to the type datatype dt arrives as (a workflow step whose config
 * types its outputs as the next step reads them: int64 ids for an ONNX model). */
rk_status rk_serve_conform_column(rk_column *col, rk_serve_dtype dt);
/* A list column of ids as (rows, width): each row right-padded with 0, its ids of datatype dt (an
 * ONNX step's (rows, L) input); a longer row is RK_ERANGE naming the column. Other columns are
 * left as they are. */
rk_status rk_serve_pad_list(rk_column *col, int64_t width, rk_serve_dtype dt);
/* The column type a datatype arrives as. */
rk_coltype rk_serve_dtype_coltype(rk_serve_dtype dt);

/* ---- loaded versions (backend.c) ------------------------------------------------------------ */
typedef enum { RK_STEP_WORKFLOW, RK_STEP_MODEL, RK_STEP_ENSEMBLE } rk_step_kind;

typedef struct rk_server_model rk_server_model;   /* server.c: a model of the repository */
typedef struct rk_loaded rk_loaded;

/* Per worker: inference graphs of one model version, one per power-of-two batch, kept warm. */
#define RK_SERVE_BUCKETS 24
typedef struct rk_catalog_ranker rk_catalog_ranker;
typedef struct {
  rk_model *graph[RK_SERVE_BUCKETS];
  rk_model_feed *feed[RK_SERVE_BUCKETS];
  rk_catalog_ranker *ranker[RK_SERVE_BUCKETS];   /* session models with top_k: its top-k */
} rk_graph_cache;

typedef struct {
  pthread_mutex_t lock;
  rk_serve_model_stats s;        /* name/version point into the loaded version */
} rk_stats_cell;

struct rk_loaded {
  char *name;
  int64_t version;
  rk_step_kind kind;
  rk_model_config config;
  char *config_text;
  rk_workflow wf;                /* RK_STEP_WORKFLOW */
  rk_saved_model sm;             /* RK_STEP_MODEL */
  rk_schema no_schema;           /* RK_STEP_MODEL: the feed's (inference reads no targets) */
  rk_graph_cache *caches;        /* RK_STEP_MODEL: per worker */
  int n_caches;
  /* batching: the config's, or (ensemble) its model step's */
  int64_t max_batch, preferred, delay_us;
  /* the scheduler's, under its lock: the last request's arrival and the mean gap between
   * arrivals (each new gap weighs 1/8), which says whether waiting for company can pay */
  uint64_t last_arrival_ns, arrival_gap_ns;
  /* RK_STEP_MODEL: a session model; RK_STEP_WORKFLOW: a session workflow, whose rows out are
   * sessions, not the request's events (a batch's requests are transformed one by one) */
  bool session;
  int64_t top_k;                 /* session model: item_ids/item_id_scores of this many; 0: next-item */
  float *items_t;                /* top_k: its catalogue transposed for one-row scoring, or NULL
                                    (rk_catalog_transpose), shared by the workers' rankers */
  atomic_int refs;               /* the server's hold + requests in flight */
  pthread_mutex_t ref_lock;
  pthread_cond_t released;
  rk_stats_cell *stats;          /* shared by every load of name/version, owned by the server */
};

/* Loads version `version` of the model in `dir` with config `c` (moved into the result: c is
 * zeroed) and its text. */
rk_status rk_loaded_open(rk_loaded **out, const char *name, int64_t version, const char *dir, rk_model_config *c,
                         char *config_text, int workers);
/* Runs a whole batch of `requests` requests: `in` holds the config's inputs as columns (request
 * rows one after another, rows[k] of request k); `out` gets every output as a column, the
 * requests' rows one after another, rows[k] of request k (in's counts, or a session workflow's
 * sessions per request). worker selects the graph cache; s resolves an ensemble's steps, whose
 * statistics count the batch's requests. */
rk_status rk_loaded_run(rk_server *s, rk_loaded *l, int worker, int requests, int64_t *rows, const rk_batch *in,
                        rk_batch *out);
void rk_loaded_free(rk_loaded *l);
/* Hold and release a version; release of the last hold wakes a waiting unload. */
void rk_loaded_hold(rk_loaded *l);
void rk_loaded_release(rk_loaded *l);
/* Wait until only `keep` holds remain. */
void rk_loaded_wait(rk_loaded *l, int keep);

/* ---- server lookups for ensembles (server.c) --------------------------------------------------- */
/* The ready version `version` (-1 or 0: the latest ready) of `name`, held: release it after.
 * UNAVAILABLE when the model is not ready, NOT_FOUND when unknown. */
rk_status rk_server_acquire(rk_server *s, const char *name, int64_t version, rk_loaded **out);
int rk_server_workers(const rk_server *s);

/* ---- scheduling (scheduler.c) --------------------------------------------------------------- */
typedef struct rk_scheduler rk_scheduler;
typedef struct rk_job rk_job;

rk_status rk_scheduler_open(rk_scheduler **out, rk_server *s, int workers);
/* Queue a checked request for `l` (held by the job until it is answered). */
rk_status rk_scheduler_submit(rk_scheduler *q, rk_loaded *l, const rk_serve_request *req, int64_t rows,
                              rk_serve_done_fn done, void *ctx);
/* Dynamic batching's wait, under the scheduler's lock: a request for l arrived at now_ns; how
 * long a batch of l may wait for more requests (max_queue_delay_microseconds while l's requests
 * arrive closer together than that on average, else 0). */
void rk_scheduler_note_arrival(rk_loaded *l, uint64_t now_ns);
uint64_t rk_scheduler_batch_wait_ns(const rk_loaded *l);
/* Stop taking jobs; wait up to timeout_ms (< 0: forever) for the queue to empty; *left gets the
 * jobs still queued or running. */
void rk_scheduler_drain(rk_scheduler *q, int64_t timeout_ms, int64_t *left);
void rk_scheduler_close(rk_scheduler *q);

/* ---- statistics (stats.c) ------------------------------------------------------------------- */
uint64_t rk_serve_now_ns(void);
void rk_stats_add(rk_serve_duration *d, uint64_t ns);
/* A batch's timings and its requests' outcomes. */
void rk_stats_batch(rk_stats_cell *c, int64_t batch_rows, uint64_t input_ns, uint64_t infer_ns, uint64_t output_ns);
/* compute_ns: the request's batch's input, infer and output durations. */
void rk_stats_request(rk_stats_cell *c, bool ok, int64_t rows, uint64_t queue_ns, uint64_t total_ns,
                      const uint64_t compute_ns[3]);
/* An ensemble step's run of a batch of `requests` requests and `rows` rows taking ns: one
 * execution; each request a success charged ns, as compute infer (no queue of its own). A step
 * failing a batch of several requests counts nothing: the scheduler reruns them one by one, and
 * those runs count (steps before it that succeeded on the batch count both). */
void rk_stats_step(rk_stats_cell *c, bool ok, int requests, int64_t rows, uint64_t ns);
rk_status rk_stats_copy(rk_serve_model_stats *dst, rk_stats_cell *src);
void rk_serve_model_stats_clear(rk_serve_model_stats *m);
#endif
