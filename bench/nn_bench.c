/*
 * nn_bench: forward + backward + SGD update of reckon's compute graph, the reckon side of
 * bench/nn.sh (bench/peers/nn_torch.py is the PyTorch side and reads the same ids).
 *
 *   nn_bench --model a|b|c|d10m|d10k --batch 1024,4096 --threads N [--steps S] [--time T]
 *            [--warmup W] [--ids-dir DIR] [--gemm-ref]
 *
 * Models (bench/nn.sh documents them):
 *   a     TenRec-shaped: 4 single-valued fields (1M x 32, 500K x 16, 100K x 16, 1K x 8) and one
 *         multi-hot mean bag (50K x 8, 1..4 ids), concat, MLP 64-32-1, BCE with logits.
 *   b     embedding-heavy: 26 fields of 1M x 16, MLP 512-256-128-1.
 *   c     GEMM-bound: 1024 dense inputs, MLP 1024-1024-1024-1.
 *   d10m  a with the first table 10M x 64;  d10k  the same with 10K x 64.
 * Ids are Zipf-like (log-uniform: P(rank k) ~ 1/k), scrambled over the table by a bijection,
 * from a fixed seed; a pool of POOL batches is cycled. With --ids-dir the pool is written to
 * DIR/nn_<model>_<batch>.bin for the PyTorch peer (format in write_pool).
 * The update is an inline SGD (no src/optim): dense w -= lr g; tables only their grad_rows.
 * After --warmup steps, 3 timed rounds of --steps / 3 steps, or of --time / 3 seconds each; the
 * best round's samples/s is printed (the machine is shared), and the mean next to it.
 * --gemm-ref (model c): replay the step's rk_sgemm calls, and the same calls on cblas_sgemm with
 * OpenBLAS's own threads, to give the sgemm share of the step and both GFLOP/s.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "reckon/nn.h"

/* src/nn/gemm.c (internal): the gemm the graph's ops call. Declared here to time it alone. */
void rk_sgemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void openblas_set_num_threads(int num_threads);

#define POOL 8
#define ROUNDS 3
#define MAX_FIELDS 32
#define MAX_LAYERS 8
#define LR 0.05f

typedef struct {
  const char *name;
  int n_fields;                /* single-valued fields */
  int64_t V[MAX_FIELDS], D[MAX_FIELDS];
  bool bag;                    /* one multi-hot mean bag */
  int64_t bag_V, bag_D, bag_max;
  int64_t n_dense;             /* dense inputs */
  int n_layers;                /* hidden sizes, then the output 1 */
  int64_t hidden[MAX_LAYERS];
} spec;

static bool get_spec(const char *m, spec *s) {
  memset(s, 0, sizeof *s);
  s->name = m;
  if (!strcmp(m, "a") || !strcmp(m, "d10m") || !strcmp(m, "d10k")) {
    static const int64_t V[4] = {1000000, 500000, 100000, 1000}, D[4] = {32, 16, 16, 8};
    s->n_fields = 4;
    memcpy(s->V, V, sizeof V);
    memcpy(s->D, D, sizeof D);
    s->bag = true, s->bag_V = 50000, s->bag_D = 8, s->bag_max = 4;
    s->n_layers = 2, s->hidden[0] = 64, s->hidden[1] = 32;
    if (m[0] == 'd') s->V[0] = strcmp(m, "d10m") ? 10000 : 10000000, s->D[0] = 64;
  } else if (!strcmp(m, "b")) {
    s->n_fields = 26;
    for (int f = 0; f < 26; f++) s->V[f] = 1000000, s->D[f] = 16;
    s->n_layers = 3, s->hidden[0] = 512, s->hidden[1] = 256, s->hidden[2] = 128;
  } else if (!strcmp(m, "c")) {
    s->n_dense = 1024;
    s->n_layers = 3, s->hidden[0] = s->hidden[1] = s->hidden[2] = 1024;
  } else {
    return false;
  }
  return true;
}

/* ---- data: the pool of batches -------------------------------------------------------------- */

typedef struct {
  int64_t B;
  int64_t *ids[POOL];      /* (B, n_fields) */
  int64_t *offsets[POOL];  /* (B + 1) */
  int64_t *bag[POOL];      /* (B * bag_max) */
  float *labels[POOL];     /* (B) */
  float *dense;            /* (B, n_dense), one batch for all steps */
} pool;

static uint64_t mix64(uint64_t x) {   /* splitmix64's finaliser */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static double unit(uint64_t h) { return (double)(h >> 11) * (1.0 / 9007199254740992.0); }

/* Zipf-like id in [0, V): rank r = floor(V^u) - 1 (log-uniform), scrambled by r -> r * P mod V with
 * P = 2654435761 (prime, so a bijection for every V it does not divide). */
static int64_t zipf_id(uint64_t h, int64_t V) {
  int64_t r = (int64_t)floor(exp(unit(h) * log((double)V + 1.0))) - 1;
  if (r < 0) r = 0;
  if (r >= V) r = V - 1;
  return (int64_t)(((unsigned __int128)(uint64_t)r * 2654435761u) % (uint64_t)V);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "nn_bench: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

static void make_pool(const spec *s, int64_t B, pool *p) {
  memset(p, 0, sizeof *p);
  p->B = B;
  for (int k = 0; k < POOL; k++) {
    uint64_t base = mix64(0x5eed0000ull + (uint64_t)k * 0x10000ull + (uint64_t)B);
    p->ids[k] = xmalloc((size_t)(B * (s->n_fields ? s->n_fields : 1)) * sizeof(int64_t));
    for (int64_t b = 0; b < B; b++)
      for (int f = 0; f < s->n_fields; f++)
        p->ids[k][b * s->n_fields + f] = zipf_id(mix64(base ^ mix64((uint64_t)(b * 64 + f))), s->V[f]);
    p->offsets[k] = xmalloc((size_t)(B + 1) * sizeof(int64_t));
    p->bag[k] = xmalloc((size_t)(B * (s->bag_max ? s->bag_max : 1)) * sizeof(int64_t));
    p->offsets[k][0] = 0;
    for (int64_t b = 0; b < B; b++) {
      int64_t len = s->bag ? 1 + (int64_t)(mix64(base ^ mix64((uint64_t)b * 7 + 1)) % (uint64_t)s->bag_max) : 0;
      for (int64_t j = 0; j < len; j++)
        p->bag[k][p->offsets[k][b] + j] = zipf_id(mix64(base ^ mix64((uint64_t)(b * 64 + 40 + j))), s->bag_V);
      p->offsets[k][b + 1] = p->offsets[k][b] + len;
    }
    p->labels[k] = xmalloc((size_t)B * sizeof(float));
    for (int64_t b = 0; b < B; b++) p->labels[k][b] = (float)(mix64(base ^ mix64((uint64_t)b * 3 + 2)) & 1);
  }
  if (s->n_dense) {   /* the PyTorch peer computes the same integer formula */
    p->dense = xmalloc((size_t)(B * s->n_dense) * sizeof(float));
    for (int64_t i = 0; i < B * s->n_dense; i++)
      p->dense[i] = (float)((i * 2654435761ll) % 2001) / 1000.0f - 1.0f;
  }
}

static void free_pool(pool *p) {
  for (int k = 0; k < POOL; k++) free(p->ids[k]), free(p->offsets[k]), free(p->bag[k]), free(p->labels[k]);
  free(p->dense);
}

/* Little-endian: int64 magic "RKNNIDS1", POOL, B, n_fields, has_bag; then per batch:
 * ids (B * n_fields) int64, [offsets (B + 1) int64, bag ids (offsets[B]) int64], labels (B) f32. */
static int write_pool(const spec *s, const pool *p, const char *path) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%.4096s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (!f) return -1;
  int64_t hdr[5] = {0x3153444e4e4b52ll, POOL, p->B, s->n_fields, s->bag};
  fwrite(hdr, sizeof hdr, 1, f);
  for (int k = 0; k < POOL; k++) {
    fwrite(p->ids[k], sizeof(int64_t), (size_t)(p->B * s->n_fields), f);
    if (s->bag) {
      fwrite(p->offsets[k], sizeof(int64_t), (size_t)(p->B + 1), f);
      fwrite(p->bag[k], sizeof(int64_t), (size_t)p->offsets[k][p->B], f);
    }
    fwrite(p->labels[k], sizeof(float), (size_t)p->B, f);
  }
  if (fclose(f) != 0) return -1;
  return rename(tmp, path);
}

/* ---- the model ----------------------------------------------------------------------------- */

typedef struct {
  spec s;
  rk_param tables[MAX_FIELDS + 1];
  int n_tables;
  rk_param w[MAX_LAYERS + 1], b[MAX_LAYERS + 1];
  int n_linear;
} params;

typedef struct {
  rk_graph *g;
  int ids[MAX_FIELDS], bag, dense, label, loss;
} model;

typedef struct {
  float *w;
  uint64_t seed;
  float scale;
} fill_ctx;

static void fill_rows(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const fill_ctx *c = arg;
  for (int64_t i = begin; i < end; i++) c->w[i] = c->scale * (float)(unit(mix64(c->seed ^ (uint64_t)i)) * 2.0 - 1.0);
}

/* Tables: uniform(-0.05, 0.05), filled in parallel (every page touched, as PyTorch's init does). */
static rk_status table_init(rk_param *p, const char *name, int64_t V, int64_t D, uint64_t seed) {
  RK_TRY(rk_param_init_sparse(p, name, V, D));
  fill_ctx c = {p->value.data, mix64(seed), 0.05f};
  rk_parallel_for(V * D, 1 << 16, fill_rows, &c);
  return RK_OK;
}

static rk_status params_init(params *P, const spec *s) {
  memset(P, 0, sizeof *P);
  P->s = *s;
  char name[32];
  for (int f = 0; f < s->n_fields; f++) {
    snprintf(name, sizeof name, "table%d", f);
    RK_TRY(table_init(&P->tables[P->n_tables++], name, s->V[f], s->D[f], 100 + (uint64_t)f));
  }
  if (s->bag) RK_TRY(table_init(&P->tables[P->n_tables++], "bag", s->bag_V, s->bag_D, 99));
  int64_t in = s->n_dense;
  for (int f = 0; f < s->n_fields; f++) in += s->D[f];
  if (s->bag) in += s->bag_D;
  for (int l = 0; l <= s->n_layers; l++) {
    int64_t out = l < s->n_layers ? s->hidden[l] : 1, ws[2] = {out, in}, bs[1] = {out};
    snprintf(name, sizeof name, "fc%d.weight", l);
    RK_TRY(rk_param_init(&P->w[l], name, 2, ws));
    snprintf(name, sizeof name, "fc%d.bias", l);
    RK_TRY(rk_param_init(&P->b[l], name, 1, bs));
    float bound = 1.0f / sqrtf((float)in);   /* nn.Linear's default */
    rk_param_fill_uniform(&P->w[l], 7, 2 * (uint64_t)l, -bound, bound);
    rk_param_fill_uniform(&P->b[l], 7, 2 * (uint64_t)l + 1, -bound, bound);
    in = out;
  }
  P->n_linear = s->n_layers + 1;
  return RK_OK;
}

static void params_free(params *P) {
  for (int t = 0; t < P->n_tables; t++) rk_param_free(&P->tables[t]);
  for (int l = 0; l < P->n_linear; l++) rk_param_free(&P->w[l]), rk_param_free(&P->b[l]);
}

/* Concat along axis 2 of (B, 1, D_k) parts, in groups of at most 16 (a node's input limit). */
static rk_status concat_all(rk_graph *g, int *out, int n, const int *parts) {
  if (n == 1) {
    *out = parts[0];
    return RK_OK;
  }
  if (n <= 16) return rk_graph_concat(g, out, n, parts, 2);
  int groups[16], ng = 0;
  for (int i = 0; i < n; i += 16) {
    int m = n - i < 16 ? n - i : 16;
    RK_TRY(concat_all(g, &groups[ng++], m, parts + i));
  }
  return concat_all(g, out, ng, groups);
}

/* Every value is (B, 1, ...): embeddings of (B, 1) ids are (B, 1, D), so they concatenate without
 * a reshape and the MLP runs on (B, 1, C) (linear treats the leading axes as rows). */
static rk_status model_build(model *m, params *P, int64_t B) {
  memset(m, 0, sizeof *m);
  const spec *s = &P->s;
  RK_TRY(rk_graph_create(&m->g, B));
  rk_graph *g = m->g;
  int parts[MAX_FIELDS + 2], np = 0;
  char name[32];
  for (int f = 0; f < s->n_fields; f++) {
    snprintf(name, sizeof name, "ids%d", f);
    RK_TRY(rk_graph_input_ids(g, &m->ids[f], name, 1));
    RK_TRY(rk_graph_embedding(g, &parts[np++], &P->tables[f], m->ids[f], -1));
  }
  if (s->bag) {
    int e;
    int64_t shape[3] = {B, 1, s->bag_D};
    RK_TRY(rk_graph_input_ragged(g, &m->bag, "bag", B * s->bag_max));
    RK_TRY(rk_graph_embedding_bag(g, &e, &P->tables[s->n_fields], m->bag, RK_POOL_MEAN, -1));
    RK_TRY(rk_graph_reshape(g, &parts[np++], e, 3, shape));
  }
  if (s->n_dense) {
    int64_t shape[2] = {1, s->n_dense};
    RK_TRY(rk_graph_input(g, &m->dense, "dense", 2, shape));
    parts[np++] = m->dense;
  }
  int x;
  RK_TRY(concat_all(g, &x, np, parts));
  for (int l = 0; l < P->n_linear; l++)
    RK_TRY(rk_graph_linear(g, &x, x, &P->w[l], &P->b[l], l < s->n_layers ? RK_ACT_RELU : RK_ACT_NONE));
  int64_t one[2] = {1, 1};
  RK_TRY(rk_graph_input(g, &m->label, "label", 2, one));
  RK_TRY(rk_graph_bce_logits(g, &m->loss, x, m->label, RK_NO_VALUE));
  RK_TRY(rk_graph_output(g, m->loss));
  return rk_graph_build(g, m->loss);
}

static void model_fill(model *m, const spec *s, const pool *p, int k) {
  rk_graph *g = m->g;
  int64_t B = p->B;
  for (int f = 0; f < s->n_fields; f++) {
    int64_t *ids = rk_graph_input_ids_data(g, m->ids[f]);
    for (int64_t b = 0; b < B; b++) ids[b] = p->ids[k][b * s->n_fields + f];
  }
  if (s->bag) {
    memcpy(rk_graph_input_offsets(g, m->bag), p->offsets[k], (size_t)(B + 1) * sizeof(int64_t));
    memcpy(rk_graph_input_ids_data(g, m->bag), p->bag[k], (size_t)p->offsets[k][B] * sizeof(int64_t));
  }
  if (s->n_dense && k == 0)   /* one dense batch for every step: copied once */
    memcpy(rk_graph_input_f32(g, m->dense), p->dense, (size_t)(B * s->n_dense) * sizeof(float));
  memcpy(rk_graph_input_f32(g, m->label), p->labels[k], (size_t)B * sizeof(float));
}

typedef struct {
  rk_param *p;
  float lr;
} sgd_ctx;

static void sgd_dense(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sgd_ctx *c = arg;
  float *w = c->p->value.data;
  const float *gr = c->p->grad.data;
  for (int64_t i = begin; i < end; i++) w[i] -= c->lr * gr[i];
}

static void sgd_sparse(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const sgd_ctx *c = arg;
  int64_t D = c->p->value.shape[1];
  float *w = c->p->value.data;
  const float *gr = c->p->grad.data;
  for (int64_t k = begin; k < end; k++) {   /* grad_rows are unique: chunks never share a row */
    float *row = w + c->p->grad_rows[k] * D;
    for (int64_t d = 0; d < D; d++) row[d] -= c->lr * gr[k * D + d];
  }
}

/* plain SGD, as torch.optim.SGD without momentum does it: dense w -= lr g; tables their rows */
static void sgd(rk_graph *g, float lr) {
  for (int i = 0; i < rk_graph_param_count(g); i++) {
    sgd_ctx c = {rk_graph_param_at(g, i), lr};
    if (c.p->sparse) rk_parallel_for(c.p->n_grad_rows, 1024, sgd_sparse, &c);
    else rk_parallel_for(rk_tensor_numel(&c.p->value), 1 << 15, sgd_dense, &c);
  }
}

static int step(model *m, const spec *s, const pool *p, int k, float *loss) {
  model_fill(m, s, p, k);
  rk_graph_zero_grad(m->g);
  if (rk_graph_forward(m->g, RK_TRAIN) != RK_OK || rk_graph_backward(m->g) != RK_OK) {
    fprintf(stderr, "nn_bench: %s\n", rk_error_message());
    return -1;
  }
  *loss = rk_graph_value_f32(m->g, m->loss)[0];
  sgd(m->g, LR);
  return 0;
}

/* ---- the gemm reference (model c) ---------------------------------------------------------- */

typedef struct {
  bool ta, tb;
  int64_t M, N, K;
  float beta;
} gemm_call;

/* The rk_sgemm calls of one step of an MLP without input gradient (linear.c): forward
 * x w^T; backward dx = dpre w (not for the first layer) and dw += dpre^T x. */
static int step_gemms(const params *P, int64_t B, gemm_call *calls) {
  int n = 0;
  for (int l = 0; l < P->n_linear; l++) {
    int64_t OC = P->w[l].value.shape[0], C = P->w[l].value.shape[1];
    calls[n++] = (gemm_call){false, true, B, OC, C, 0.0f};
    if (l > 0) calls[n++] = (gemm_call){false, false, B, C, OC, 1.0f};
    calls[n++] = (gemm_call){true, false, OC, C, B, 1.0f};
  }
  return n;
}

static double run_gemms(const gemm_call *calls, int n, float *A, float *Bm, float *C, bool reckon, int reps) {
  double t0 = rk_now();
  for (int r = 0; r < reps; r++)
    for (int i = 0; i < n; i++) {
      const gemm_call *c = &calls[i];
      int64_t lda = c->ta ? c->M : c->K, ldb = c->tb ? c->K : c->N, ldc = c->N;
      if (reckon)
        rk_sgemm(c->ta, c->tb, c->M, c->N, c->K, 1.0f, A, lda, Bm, ldb, c->beta, C, ldc);
      else
        cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans,
                    (int)c->M, (int)c->N, (int)c->K, 1.0f, A, (int)lda, Bm, (int)ldb, c->beta, C, (int)ldc);
    }
  return (rk_now() - t0) / reps;
}

static void gemm_reference(const params *P, int64_t B, int threads, double step_s) {
  gemm_call calls[3 * (MAX_LAYERS + 1)];
  int n = step_gemms(P, B, calls);
  double flops = 0;
  size_t big = 0;
  for (int i = 0; i < n; i++) {
    flops += 2.0 * (double)calls[i].M * (double)calls[i].N * (double)calls[i].K;
    size_t a = (size_t)(calls[i].M * calls[i].K), b = (size_t)(calls[i].K * calls[i].N), c = (size_t)(calls[i].M * calls[i].N);
    big = a > big ? a : big, big = b > big ? b : big, big = c > big ? c : big;
  }
  float *A = xmalloc(big * sizeof(float)), *Bm = xmalloc(big * sizeof(float)), *C = xmalloc(big * sizeof(float));
  for (size_t i = 0; i < big; i++) A[i] = Bm[i] = (float)(i % 17) * 0.01f, C[i] = 0.0f;
  int reps = 2;
  run_gemms(calls, n, A, Bm, C, true, 1);   /* warm */
  double t_rk = run_gemms(calls, n, A, Bm, C, true, reps);
  for (int r = 0; r < 2; r++) {   /* best of 3 */
    double t = run_gemms(calls, n, A, Bm, C, true, reps);
    t_rk = t < t_rk ? t : t_rk;
  }
  openblas_set_num_threads(threads);        /* OpenBLAS's own threading, for the reference */
  run_gemms(calls, n, A, Bm, C, false, 1);
  double t_ob = run_gemms(calls, n, A, Bm, C, false, reps);
  for (int r = 0; r < 2; r++) {
    double t = run_gemms(calls, n, A, Bm, C, false, reps);
    t_ob = t < t_ob ? t : t_ob;
  }
  openblas_set_num_threads(1);              /* back to what rk_sgemm expects */
  printf("gemm model=c batch=%lld threads=%d calls=%d gflop_per_step=%.2f rk_sgemm_s=%.4f rk_sgemm_gflops=%.1f "
         "openblas_s=%.4f openblas_gflops=%.1f step_s=%.4f sgemm_share=%.3f\n",
         (long long)B, threads, n, flops / 1e9, t_rk, flops / t_rk / 1e9, t_ob, flops / t_ob / 1e9, step_s,
         t_rk / step_s);
  free(A), free(Bm), free(C);
}

/* ---- main ---------------------------------------------------------------------------------- */

static long peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

int main(int argc, char **argv) {
  rk_blas_choose_kernels(argv);   /* the kernels the reckon command gets too */
  const char *model_name = "a", *batches = "1024,4096", *ids_dir = NULL;
  int threads = 1, steps = 0, warmup = 3;
  double target_s = 2.0;
  bool gemm_ref = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--gemm-ref")) { gemm_ref = true; continue; }
    if (!v) { fprintf(stderr, "nn_bench: %s needs a value\n", a); return 2; }
    if (!strcmp(a, "--model")) model_name = v;
    else if (!strcmp(a, "--batch")) batches = v;
    else if (!strcmp(a, "--threads")) threads = atoi(v);
    else if (!strcmp(a, "--steps")) steps = atoi(v);
    else if (!strcmp(a, "--warmup")) warmup = atoi(v);
    else if (!strcmp(a, "--time")) target_s = atof(v);
    else if (!strcmp(a, "--ids-dir")) ids_dir = v;
    else { fprintf(stderr, "nn_bench: unknown option %s\n", a); return 2; }
    i++;
  }
  spec s;
  if (!get_spec(model_name, &s)) {
    fprintf(stderr, "nn_bench: unknown model '%s' (a, b, c, d10m, d10k)\n", model_name);
    return 2;
  }
  rk_set_num_threads(threads);
  params P;
  double t0 = rk_now();
  if (params_init(&P, &s) != RK_OK) {
    fprintf(stderr, "nn_bench: %s\n", rk_error_message());
    return 1;
  }
  double init_s = rk_now() - t0;
  char *list = strdup(batches);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    int64_t B = atoll(tok);
    pool p;
    make_pool(&s, B, &p);
    if (ids_dir) {
      char path[4096];
      snprintf(path, sizeof path, "%s/nn_%s_%lld.bin", ids_dir, s.name, (long long)B);
      if (write_pool(&s, &p, path) != 0) {
        fprintf(stderr, "nn_bench: cannot write %s\n", path);
        return 1;
      }
    }
    model m;
    if (model_build(&m, &P, B) != RK_OK) {
      fprintf(stderr, "nn_bench: %s\n", rk_error_message());
      return 1;
    }
    float loss0 = 0, loss = 0;
    int k = 0;
    for (int i = 0; i < warmup; i++, k++)
      if (step(&m, &s, &p, k % POOL, i ? &loss : &loss0)) return 1;
    /* ROUNDS rounds, each of a fixed --steps / ROUNDS, else of steps until --time / ROUNDS seconds
     * have passed (at least 1); the best round's rate is the figure (the machine is shared) */
    int n = 0;
    double secs = 0, best = 0;
    for (int r = 0; r < ROUNDS; r++) {
      int nr = 0;
      double t1 = rk_now(), sr = 0;
      while (steps > 0 ? nr < (steps + ROUNDS - 1) / ROUNDS : (nr < 1 || sr < target_s / ROUNDS)) {
        if (step(&m, &s, &p, k++ % POOL, &loss)) return 1;
        nr++;
        sr = rk_now() - t1;
      }
      n += nr, secs += sr;
      if ((double)nr * (double)B / sr > best) best = (double)nr * (double)B / sr;
    }
    printf("reckon model=%s batch=%lld threads=%d steps=%d secs=%.4f samples_per_s=%.0f mean_samples_per_s=%.0f "
           "loss_first=%.4f loss_last=%.4f init_s=%.2f arena_mb=%.1f peak_rss_mb=%ld\n",
           s.name, (long long)B, threads, n, secs, best, (double)n * (double)B / secs, loss0, loss, init_s,
           (double)rk_graph_arena_bytes(m.g) / 1e6, peak_rss_mb());
    fflush(stdout);
    if (gemm_ref && s.n_dense) gemm_reference(&P, B, threads, (double)B / best);   /* the best round's step */
    fflush(stdout);
    rk_graph_free(m.g);
    free_pool(&p);
  }
  free(list);
  params_free(&P);
  return 0;
}
