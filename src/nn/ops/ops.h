/*
 * The kernels, one stem per op (src/nn/ops/<stem>.c): every op's plain kernels and its
 * op-table adapters, declared in one place so the backends and the tests can call each kernel
 * by itself.
 *
 * Calling convention (STYLE.md habits 1 and 2):
 *   - <stem>_forward_<backend> / <stem>_backward_<backend>: pointers and sizes, outputs first,
 *     then inputs, then sizes and attributes; every pointer says its shape. Backward *adds*
 *     into gradients (fan-out is right), and the caller zeroes them first. A kernel returns
 *     rk_status only when its input can be wrong (ids outside the table); otherwise void.
 *   - <stem>_node_forward_<backend> / <stem>_node_backward_<backend>: unpack a node and call the
 *     kernel; these fill the backend's op table (src/nn/backend.h).
 * A CUDA twin takes the same arguments in the same order, with the suffix _cuda.
 * Not here: the builders rk_graph_<stem> (reckon/nn.h), which check shapes and add the node.
 */
#ifndef RECKON_NN_OPS_H
#define RECKON_NN_OPS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/graph_internal.h"

/* ---- the op-table adapters of the CPU backend ---------------------------------------------- */
#define RK_OP_DECLARE_CPU(name, stem, backends)                    \
  rk_status stem##_node_forward_cpu(rk_graph *g, const rk_node *n); \
  void stem##_node_backward_cpu(rk_graph *g, const rk_node *n);
RK_OP_LIST(RK_OP_DECLARE_CPU)
#undef RK_OP_DECLARE_CPU
/* batch_norm's running statistics start at (mean 0, var 1): the CPU table's init_state row. */
void batch_norm_node_init_state_cpu(rk_graph *g, const rk_node *n);
rk_status linear_node_freeze_cpu(rk_graph *g, rk_node *n);

/* ---- the CPU kernels ----------------------------------------------------------------------- */
/* mean scales sum's kernels; hash_cross has no backward (its output is ids). */

/* add */
void add_forward_cpu(float *out /* (R, I) */, const float *a /* (R, I) */, const float *b /* (I) */,
                     int64_t R, int64_t I);
void add_backward_cpu(float *da /* (R, I) */, float *db /* (I) */, const float *dout /* (R, I) */,
                      int64_t R, int64_t I);

/* batch_norm */
void batch_norm_forward_cpu(float *out /* (N, C) */, float *stats /* (C, 2) */, float *running /* (2, C) */,
                            const float *x /* (N, C) */, const float *gamma /* (C) */, const float *beta /* (C) */,
                            int64_t N, int64_t C, float eps, float momentum, bool train);
void batch_norm_backward_cpu(float *dx /* (N, C) */, float *dgamma /* (C) */, float *dbeta /* (C) */,
                             const float *dout /* (N, C) */, const float *x /* (N, C) */, const float *stats /* (C, 2) */,
                             const float *gamma /* (C) */, int64_t N, int64_t C);

/* bce_logits */
void bce_logits_forward_cpu(float *loss /* (1) */, const float *z /* (n) */, const float *y /* (n) */,
                            const float *w /* (n) or NULL */, int64_t n);
void bce_logits_backward_cpu(float *dz /* (n) */, const float *dloss /* (1) */, const float *z /* (n) */,
                             const float *y /* (n) */, const float *w /* (n) or NULL */, int64_t n);

/* catalog_ce: tiles of Rt rows (catalog_ce_tile_rows), blocks of Vb items; scratch:
 * catalog_ce_scratch_bytes(Rt, V, Vb). Forward makes the gradients for d loss = 1 into grads (train) or
 * not (NULL); backward adds d loss times them into dh, dw, db (each may be NULL). */
typedef struct {
  float *dh;   /* (R, D) */
  float *dw;   /* (V, D) */
  float *db;   /* (V) or NULL: no bias */
} catalog_ce_grads;
int64_t catalog_ce_tile_rows(int64_t V);
size_t catalog_ce_scratch_bytes(int64_t Rt, int64_t V, int64_t Vb);
rk_status catalog_ce_forward_cpu(float *loss /* (1) */, double *rows /* (R, 2) */, const catalog_ce_grads *grads,
                                 float *panel /* (Rt, V) */, void *scratch, const float *h /* (R, D) */,
                                 const int64_t *y /* (R) */, const float *w /* (V, D) */, const float *b /* (V) or NULL */,
                                 int64_t R, int64_t D, int64_t V, int64_t ignore, float eps, float tau, int64_t Rt,
                                 int64_t Vb);
void catalog_ce_backward_cpu(float *dh /* (R, D) or NULL */, float *dw /* (V, D) or NULL */, float *db /* (V) or NULL */,
                             const float *dloss /* (1) */, const catalog_ce_grads *saved, int64_t R, int64_t D,
                             int64_t V);

/* concat */
void concat_forward_cpu(float *out /* (R, sum I) */, const float *const *xs /* n x (R, I_k) */,
                        const int64_t *inner, int n, int64_t R);
void concat_backward_cpu(float *const *dxs /* n x (R, I_k), NULL entries skipped */,
                         const float *dout /* (R, sum I) */, const int64_t *inner, int n, int64_t R);

/* cross */
void cross_forward_cpu(float *out /* (B, D) */, float *h /* (B, D) */, float *t /* (B, R) */,
                       const float *x0 /* (B, D) */, const float *x /* (B, D) */, const float *w /* (D, D) */,
                       const float *u /* (D, R) */, const float *v /* (D, R) */, const float *b /* (D) */,
                       int64_t B, int64_t D, int64_t R);
void cross_backward_cpu(float *dx0, float *dx, float *dw, float *du, float *dv, float *db, float *dh, float *dt,
                        const float *dout /* (B, D) */, const float *h /* (B, D) */, const float *t /* (B, R) */,
                        const float *x0, const float *x, const float *w, const float *u, const float *v,
                        int64_t B, int64_t D, int64_t R);

/* dot_interaction */
void dot_interaction_forward_cpu(float *out /* (B, D + P) */, const float *dense /* (B, D) */,
                                 const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D);
void dot_interaction_backward_cpu(float *ddense /* (B, D) */, float *demb /* (B, F, D) */,
                                  const float *dout /* (B, D + P) */, const float *dense /* (B, D) */,
                                  const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D);

/* dropout */
void dropout_forward_cpu(float *out /* (n) */, uint8_t *keep /* (n) */, const float *x /* (n) */,
                         const int64_t *rows /* (n / W) or NULL */, int64_t n, int64_t W, float p, bool alpha,
                         uint64_t seed, uint64_t stream);
void dropout_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const uint8_t *keep /* (n) */, int64_t n,
                          float p, bool alpha);
/* Keep draws of the elements of one (seed, stream), as dropout and attention mask them: a group
 * of RK_DROPOUT_GROUP elements (RK_DROPOUT_WAYS Philox blocks) is drawn at a time and kept, so
 * consecutive calls over a range draw each group once. */
enum { RK_DROPOUT_WAYS = 8, RK_DROPOUT_GROUP = 8 * RK_DROPOUT_WAYS };
typedef struct {
  uint64_t seed, stream, group;   /* group: the one in keep, UINT64_MAX for none */
  uint32_t threshold;             /* kept when the 16-bit uniform is >= threshold = ceil(p 2^16) */
  uint8_t keep[RK_DROPOUT_GROUP];
} rk_dropout_draws;
void rk_dropout_draws_init(rk_dropout_draws *d, float p, uint64_t seed, uint64_t stream);
/* keep[k] = 1 when element first + k is kept, 0 when dropped. */
void rk_dropout_draws_at(rk_dropout_draws *d, uint8_t *keep /* (n) */, uint64_t first, int64_t n);

/* embedding */
rk_status embedding_forward_cpu(float *out /* (n, D) */, const int64_t *ids /* (n) */,
                                const float *table /* (V, D) */, int64_t n, int64_t V, int64_t D,
                                int64_t padding);
void embedding_backward_cpu(float *slot_grad /* (n, D) */, int64_t *slot_ids /* (n) */,
                            const float *dout /* (n, D) */, const int64_t *ids /* (n) */, int64_t n,
                            int64_t D, int64_t padding);
void embedding_backward_dense_cpu(float *dtable /* (V, D) */, const float *dout /* (n, D) */, const int64_t *ids /* (n) */,
                                  int64_t n, int64_t D, int64_t padding);
/* A table held elsewhere (rk_param_init_sparse_fetched): RK_EINTERNAL naming the first id (not
 * padding) whose row the step did not fetch. */
rk_status embedding_check_fetched(const rk_param *t, const int64_t *ids, int64_t n, int64_t padding);

/* embedding_bag */
rk_status embedding_bag_forward_cpu(float *out /* (B, D) */, const int64_t *offsets /* (B + 1) */,
                                    const int64_t *ids /* (max_ids) */, const float *table /* (V, D) */,
                                    int64_t B, int64_t max_ids, int64_t V, int64_t D, rk_pool pool,
                                    int64_t padding);
void embedding_bag_backward_cpu(float *slot_grad /* (max_ids, D) */, int64_t *slot_ids /* (max_ids) */,
                                const float *dout /* (B, D) */, const int64_t *offsets /* (B + 1) */,
                                const int64_t *ids /* (max_ids) */, int64_t B, int64_t max_ids,
                                int64_t D, rk_pool pool, int64_t padding);

/* embedding_l2 */
void embedding_l2_forward_cpu(float *out /* (1) */, const int64_t *ids /* (n) */, const float *table /* (V, D) */,
                              uint32_t *seen, int64_t n, int64_t D, int64_t padding, float lambda);
void embedding_l2_backward_cpu(float *slot_grad /* (n, D) */, const float *dout /* (1) */,
                               const int64_t *ids /* (n) */, const float *table /* (V, D) */, uint32_t *seen,
                               int64_t n, int64_t D, int64_t padding, float lambda);

/* fm */
void fm_forward_cpu(float *out /* (B) */, const float *emb /* (B, F, D) */, const float *first /* (B, F) */,
                    int64_t B, int64_t F, int64_t D);
void fm_backward_cpu(float *demb /* (B, F, D) */, float *dfirst /* (B, F) */, const float *dout /* (B) */,
                     const float *emb /* (B, F, D) */, int64_t B, int64_t F, int64_t D);

/* gate */
void gate_forward_cpu(float *out /* (B, D) */, float *p /* (B, E) */, const float *experts /* (B, E, D) */,
                      const float *logits /* (B, E) */, int64_t B, int64_t E, int64_t D, float temperature);
void gate_backward_cpu(float *dexperts /* (B, E, D) */, float *dlogits /* (B, E) */, const float *dout /* (B, D) */,
                              const float *p /* (B, E) */, const float *experts /* (B, E, D) */, int64_t B, int64_t E,
                              int64_t D, float temperature);

/* gelu */
void gelu_forward_cpu(float *out /* (n) */, float *deriv /* (n) or NULL */, const float *x /* (n) */, int64_t n,
                      bool approximate);
void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *deriv /* (n) */, int64_t n);

/* hash_cross */
void hash_cross_forward_cpu(int64_t *out /* (B) */, const int64_t *a /* (B, Fa) */, const int64_t *b /* (B, Fb) */,
                            int64_t B, int64_t Fa, int64_t fa, int64_t Fb, int64_t fb, int64_t buckets);

/* l2 */
void l2_forward_cpu(float *out /* (1) */, const float *const *ps, const int64_t *sizes, int n, float lambda);
void l2_backward_cpu(float *const *dps, const float *dout /* (1) */, const float *const *ps,
                     const int64_t *sizes, int n, float lambda);

/* layer_norm */
void layer_norm_forward_cpu(float *out /* (R, D) */, float *stats /* (R, 2) */, const float *x /* (R, D) */,
                            const float *gamma /* (D) */, const float *beta /* (D) */, int64_t R, int64_t D, float eps);
void layer_norm_backward_cpu(float *dx /* (R, D) */, float *dgamma /* (D) */, float *dbeta /* (D) */,
                             const float *dout /* (R, D) */, const float *x /* (R, D) */, const float *stats /* (R, 2) */,
                             const float *gamma /* (D) */, int64_t R, int64_t D);

/* leaky_relu */
void leaky_relu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, float slope);
void leaky_relu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n,
                             float slope);

/* linear */
void linear_transpose_cpu(float *wt /* (C, OC) */, const float *w /* (OC, C) */, int64_t OC, int64_t C);
void linear_forward_cpu(float *out /* (N, OC) */, const float *wt /* (C, OC) or NULL */, const float *x /* (N, C) */,
                        const float *w /* (OC, C) */, const float *b /* (OC) or NULL */,
                        int64_t N, int64_t C, int64_t OC, rk_act act);
void linear_backward_cpu(float *dx /* (N, C) */, float *dw /* (OC, C) */, float *db /* (OC) */,
                         float *dpre /* (N, OC) */, const float *dout /* (N, OC) */,
                         const float *out /* (N, OC) */, const float *x /* (N, C) */,
                         const float *w /* (OC, C) */, int64_t N, int64_t C, int64_t OC, rk_act act);

/* log_softmax */
void log_softmax_forward_cpu(float *out /* (R, C) */, const float *x /* (R, C) */, int64_t R, int64_t C);
void log_softmax_backward_cpu(float *dx /* (R, C) */, const float *dout /* (R, C) */, const float *out /* (R, C) */,
                              int64_t R, int64_t C);

/* mask_fill */
void mask_fill_forward_cpu(float *out /* (R, D) */, const float *x /* (R, D) */, const int64_t *mask /* (N) */,
                           const int64_t *rows /* (R) or NULL */, const float *value /* (D) */, int64_t R, int64_t D);
void mask_fill_backward_cpu(float *dx /* (R, D) or NULL */, float *dvalue /* (D) or NULL */, const float *dout /* (R, D) */,
                            const int64_t *mask /* (N) */, const int64_t *rows /* (R) or NULL */, int64_t R, int64_t D);

/* matmul */
void matmul_forward_cpu(float *out /* (S, M, N) */, const float *a /* (S, M, K) */,
                        const float *b /* (S, K, N) or (K, N) */, int64_t S, int64_t M, int64_t K, int64_t N,
                        bool b_batched);
void matmul_backward_cpu(float *da /* (S, M, K) */, float *db /* (S, K, N) or (K, N) */,
                         const float *dout /* (S, M, N) */, const float *a, const float *b, int64_t S, int64_t M,
                         int64_t K, int64_t N, bool b_batched);

/* mean */
void mean_forward_cpu(float *out /* (O, I) */, const float *x /* (O, L, I) */, int64_t O, int64_t L,
                      int64_t I);
void mean_backward_cpu(float *dx /* (O, L, I) */, const float *dout /* (O, I) */, int64_t O, int64_t L,
                       int64_t I);

/* mse */
void mse_forward_cpu(float *loss /* (1) */, const float *p /* (n) */, const float *t /* (n) */,
                     const float *w /* (n) or NULL */, int64_t n);
void mse_backward_cpu(float *dp /* (n) */, float *dt /* (n) */, const float *dloss /* (1) */,
                      const float *p /* (n) */, const float *t /* (n) */, const float *w /* (n) or NULL */,
                      int64_t n);

/* mul */
void mul_forward_cpu(float *out /* (R, I) */, const float *a /* (R, I) */, const float *b /* (I) */,
                     int64_t R, int64_t I);
void mul_backward_cpu(float *da /* (R, I) */, float *db /* (I) */, const float *dout /* (R, I) */,
                      const float *a /* (R, I) */, const float *b /* (I) */, int64_t R, int64_t I);

/* rel_attention: K = mem + T key slots, P relative distances; R rows: B T, or packed rows in S
 * sessions (orig: each row's original row b T + t; starts: each session's first row), unpacked
 * when orig and starts are NULL (S = B). E and kr are saved for backward; forward's scratch
 * (B H (2 dh + K)), backward's (B H (K + (P + 4) dh)) then dkr (P, D). See the file. */
void rel_attention_sinusoid_cpu(float *E /* (P, D) */, int64_t P, int64_t D, int64_t d_max);
void rel_attention_forward_cpu(float *out /* (R, D) */, float *probs /* (R H K) */, float *dropped /* (R H K) or NULL */,
                               float *E /* (P, D) */, float *kr /* (P, D) */, float *scratch /* (B H (2 dh + K)) */,
                               const float *q_src /* (R, 3D) */, const float *kv_src /* (R, 3D) */,
                               const float *r /* (D, D) */, const float *rw /* (D) */, const float *rr /* (D) */,
                               const int64_t *key_ids /* (B, T) or NULL */, const int64_t *hidden /* (B, T, T) or NULL */,
                               const int64_t *orig /* (R) or NULL */, const int64_t *starts /* (S + 1) or NULL */,
                               int64_t S, int64_t B, int64_t T, int64_t H, int64_t D, int64_t mem, int64_t padding,
                               bool causal, bool self_visible, float p, float pos_p, uint64_t seed, uint64_t stream);
void rel_attention_backward_cpu(float *dq_src /* (R, 3D) or NULL */, float *dkv_src /* (R, 3D) or NULL */,
                                float *dr /* (D, D) or NULL */, float *drw /* (D) or NULL */, float *drr /* (D) or NULL */,
                                float *scratch, const float *dout /* (R, D) */,
                                const float *dweights /* (B, H, T, T) or NULL */, const float *probs /* (R H K) */,
                                const float *dropped /* (R H K) or NULL */, const float *E /* (P, D) */,
                                const float *kr /* (P, D) */, const float *q_src, const float *kv_src,
                                const float *rw /* (D) */, const float *rr /* (D) */, const int64_t *orig /* (R) or NULL */,
                                const int64_t *starts /* (S + 1) or NULL */, int64_t S, int64_t B, int64_t T, int64_t H,
                                int64_t D, int64_t mem, bool causal);

/* relu */
void relu_forward_cpu(float *out /* (n) */, const float *in /* (n) */, int64_t n);
void relu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *out /* (n) */,
                     int64_t n);

/* reshape */
void reshape_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n);
void reshape_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, int64_t n);

/* prefix_mean: sum (B, D) is scratch */
void prefix_mean_rows_forward_cpu(float *out /* (n, D) */, float *sum /* (D) scratch */, const float *x /* (n, D) */,
                                  const int64_t *rows /* (n) */, int64_t n, int64_t T, int64_t D);
void prefix_mean_rows_backward_cpu(float *dx /* (n, D) */, float *sum /* (D) scratch */, const float *dout /* (n, D) */,
                                   const int64_t *rows /* (n) */, int64_t n, int64_t T, int64_t D);
void prefix_mean_forward_cpu(float *out /* (B, T, D) */, float *sum /* (B, D) */, const float *x /* (B, T, D) */,
                             int64_t B, int64_t T, int64_t D);
void prefix_mean_backward_cpu(float *dx /* (B, T, D) */, float *sum /* (B, D) */, const float *dout /* (B, T, D) */,
                              int64_t B, int64_t T, int64_t D);

/* selu */
void selu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n);
void selu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n);

/* sigmoid */
void sigmoid_forward_cpu(float *out /* (n) */, const float *in /* (n) */, int64_t n);
void sigmoid_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *out /* (n) */,
                     int64_t n);

/* softmax */
void softmax_forward_cpu(float *out /* (R, C) */, const float *x /* (R, C) */, int64_t R, int64_t C, float temperature);
void softmax_backward_cpu(float *dx /* (R, C) */, const float *dout /* (R, C) */, const float *out /* (R, C) */,
                          int64_t R, int64_t C, float temperature);

/* sampled_logits */
rk_status sampled_logits_forward_cpu(float *out /* (R, C) */, float *wc /* (M, D) */, float *bc /* (M) */,
                                     float *lq /* (M) */, const float *h /* (R, D) */, const int64_t *y /* (R) */,
                                     const int64_t *sessions /* (R) or NULL */,
                                     const int64_t *cand /* (M), -1 none */, const float *w /* (V, D) */,
                                     const float *b /* (V) or NULL */, int64_t R, int64_t T, int64_t D, int64_t V,
                                     int64_t M, int64_t C, int64_t in_batch, int64_t tries, const rk_sampled_spec *s);
void sampled_logits_backward_cpu(float *dh /* (R, D) or NULL */, float *dw /* (V, D) */, float *db /* (V) or NULL */,
                                 float *dz /* (R, M) scratch */, float *gc /* (M, D) scratch */,
                                 const float *dout /* (R, C) */, const float *h /* (R, D) */,
                                 const int64_t *y /* (R) */, const int64_t *sessions /* (R) or NULL */,
                                 const int64_t *cand /* (M) */, const float *wc /* (M, D) */,
                                 const float *w /* (V, D) */, int64_t R, int64_t T, int64_t D, int64_t M, int64_t C,
                                 int64_t in_batch, const rk_sampled_spec *s);

/* rtd_replace (no backward: its outputs are draws and labels); body_rows NULL: every row */
typedef struct {
  int64_t padding;         /* the pad item: its rows weigh 0 */
  float temperature;       /* the softmax's */
  bool from_batch;         /* candidates: the labelled rows' targets, else the catalogue */
  const int64_t *given;    /* (R) fixed draws at the labelled rows (tests), or NULL */
  uint64_t seed, step;     /* row r's uniform: the (seed, step, r) stream */
} rk_rtd_draw;
rk_status rtd_replace_forward_cpu(int64_t *fake /* (R) */, int64_t *source /* (R) */, float *replaced /* (R) */,
                                  float *weight /* (R) */, const float *z /* (R, V) packed */,
                                  const int64_t *rows /* (R) */, const int64_t *packed /* (R) */,
                                  const int64_t *items /* (R) */, const int64_t *body_rows /* (R) or NULL */,
                                  int64_t R, int64_t V, const rk_rtd_draw *d);

/* rtd_interaction (no backward: the reference detaches the rows) */
rk_status rtd_interaction_forward_cpu(float *out /* (R, D) */, const float *x /* (R, D) */, const int64_t *source /* (R) */,
                                      int64_t R, int64_t D);

/* sampled_loss */
void sampled_loss_forward_cpu(float *loss /* (1) */, double *rows /* (R) */, const float *z /* (R, C) */,
                              const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, rk_sampled_loss kind,
                              float lambda);
void sampled_loss_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const float *z /* (R, C) */,
                               const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, rk_sampled_loss kind,
                               float lambda);

/* weighted_sum */
void weighted_sum_forward_cpu(float *out /* (1) */, const float *a /* (1) */, const float *b /* (1) */, float wa,
                              float wb);
void weighted_sum_backward_cpu(float *da /* (1) or NULL */, float *db /* (1) or NULL */, const float *dout /* (1) */,
                               float wa, float wb);

/* softmax_ce */
rk_status softmax_ce_forward_cpu(float *loss /* (1) */, double *rows /* (R, 2) */, const float *z /* (R, C) */,
                                 const int64_t *y /* (R) */, int64_t R, int64_t C, int64_t ignore, float eps, float tau);
void softmax_ce_backward_cpu(float *dz /* (R, C) */, const float *dloss /* (1) */, const double *rows /* (R, 2) */,
                             const float *z /* (R, C) */, const int64_t *y /* (R) */, int64_t R, int64_t C,
                             int64_t ignore, float eps, float tau, bool overwrite);

/* split */
void split_forward_cpu(float *const *outs /* n x (R, I_k) */, const float *x /* (R, sum I) */,
                       const int64_t *inner, int n, int64_t R);
void split_backward_cpu(float *dx /* (R, sum I) */, const float *const *douts /* NULL: no gradient */,
                        const int64_t *inner, int n, int64_t R);

/* sum */
void sum_forward_cpu(float *out /* (O, I) */, const float *x /* (O, L, I) */, int64_t O, int64_t L,
                     int64_t I, float scale);
void sum_backward_cpu(float *dx /* (O, L, I) */, const float *dout /* (O, I) */, int64_t O, int64_t L,
                      int64_t I, float scale);

/* tanh */
void tanh_forward_cpu(float *out /* (n) */, const float *in /* (n) */, int64_t n);
void tanh_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *out /* (n) */,
                     int64_t n);

/* attention */
/* Packed session rows (attention, rel_attention): the runs of rows orig (n) with one orig / T
 * (their session), which must increase; fills start (runs + 1) and returns the runs, or -1 with
 * an error naming `op` and the first row out of order. */
int64_t rk_packed_sessions(int64_t *start /* (n + 1) */, const int64_t *orig /* (n) */, int64_t n, int64_t T,
                           const char *op);
void attention_forward_cpu(float *out /* (B, T, D) */, float *probs /* (B, H, T, T) */,
                           float *dropped /* (B, H, T, T) or NULL: no dropout */, float *keys_t /* (B, T, D) */,
                           const float *qkv /* (B, T, 3D) */, const int64_t *key_ids /* (B, T) or NULL */, int64_t B,
                           int64_t T, int64_t H, int64_t D, int64_t padding, bool causal, float p, uint64_t seed,
                           uint64_t stream);
void attention_backward_cpu(float *dqkv /* (B, T, 3D) */, float *scratch /* (B, H, T) */,
                            float *values_t /* (B, T, D) */, const float *dout /* (B, T, D) */,
                            const float *dweights /* (B, H, T, T) or NULL */, const float *probs /* (B, H, T, T) */,
                            const float *dropped /* (B, H, T, T) or NULL */, const float *qkv /* (B, T, 3D) */,
                            int64_t B, int64_t T, int64_t H, int64_t D);

/* gather */
rk_status gather_forward_cpu(float *out /* (B, K, D) */, const float *x /* (B, T, D) */, const int64_t *index /* (B, K) */,
                             int64_t B, int64_t T, int64_t K, int64_t D);
void gather_backward_cpu(float *dx /* (B, T, D) */, const float *dout /* (B, K, D) */, const int64_t *index /* (B, K) */,
                         int64_t B, int64_t T, int64_t K, int64_t D);

/* gather_rows: *n_used = the entries before the first -1 */
rk_status gather_rows_forward_cpu(float *out /* (R, D) */, int64_t *n_used, const float *x /* (N, D) */,
                                  const int64_t *index /* (R) */, int64_t N, int64_t R, int64_t D);
void gather_rows_backward_cpu(float *dx /* (N, D) */, const float *dout /* (R, D) */, const int64_t *index /* (R) */,
                              int64_t n, int64_t D);

/* transpose */
void transpose_forward_cpu(float *out /* (P, C, M, A, Q) */, const float *x /* (P, A, M, C, Q) */, int64_t P,
                           int64_t A, int64_t M, int64_t C, int64_t Q);
void transpose_backward_cpu(float *dx /* (P, A, M, C, Q) */, const float *dout /* (P, C, M, A, Q) */, int64_t P,
                            int64_t A, int64_t M, int64_t C, int64_t Q);

/* ---- math the compiler can vectorise --------------------------------------------------------- */
/* libm's tanhf and expf are scalar calls: in a GRU step or gelu they were 20-40% of the time. These
 * have no branch (a float compare keeps a loop scalar under -ftrapping-math), so loops calling
 * them vectorise; within 1e-7 of libm's, no NaN at either end. */

/* For the few hot loops (softmax_ce and catalog_ce over the catalogue, the recurrent cells,
 * linear's tanh): one copy per vector width, picked when the program loads, since the default
 * build targets plain x86-64 (SSE2, 4 floats a vector). A clone may contract a * b + c into one
 * FMA, so the last bit can differ between machines, never between runs or thread counts on one
 * machine. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define RK_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef RK_VECTOR_CLONES
#define RK_VECTOR_CLONES
#endif

/* e^x for x in [-80, 0]: 2^k e^r, k = round(x / ln 2) (by adding 1.5 2^23), r = x - k ln 2 in two
 * parts, e^r by Cephes' expf polynomial. */
static inline float rk_exp_neg_fast(float x) {
  float kf = (x * 1.44269504088896341f - 12582912.0f) + 12582912.0f;
  float r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  uint32_t bits = (uint32_t)((int32_t)kf + 127) << 23;
  float two_k;
  memcpy(&two_k, &bits, sizeof two_k);
  return (p * r * r + r + 1.0f) * two_k;
}

/* e^x for any x <= 0 (and a rounding above it), as a softmax over max-shifted logits needs: below
 * -80 (by its bits) it gives e^-80 < 2e-35, which no sum that holds a 1 can see. */
static inline float rk_exp_nonpos_fast(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  bits = bits < 0xC2A00000u ? bits : 0xC2A00000u;   /* -80.0f; negative floats order as their bits */
  memcpy(&x, &bits, sizeof x);
  return rk_exp_neg_fast(x);
}

/* tanh(u) = sign(u) (1 - e) / (1 + e), e = exp(-2 |u|), |u| capped at 40 by its bits. */
static inline float rk_tanhf_fast(float u) {
  float a = fabsf(u);
  uint32_t bits;
  memcpy(&bits, &a, sizeof bits);
  bits = bits < 0x42200000u ? bits : 0x42200000u;   /* 40.0f */
  memcpy(&a, &bits, sizeof a);
  float e = rk_exp_neg_fast(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), u);
}

/* sigmoid(u) = (1 + tanh(u / 2)) / 2 (absolute error ~1e-7, also where it is tiny). */
static inline float rk_sigmoidf_fast(float u) { return 0.5f + 0.5f * rk_tanhf_fast(0.5f * u); }

/* ---- shared by the builders ---------------------------------------------------------------- */
/* The Philox stream of an op's dropout draws at a step (dropout, attention): masks are a pure
 * function of (seed, op, step, element). */
static inline uint64_t rk_dropout_stream(int op_id, uint64_t step) { return ((uint64_t)(uint32_t)op_id << 40) ^ step; }
/* One f32 input, an output of its shape (the elementwise ops; src/nn/unary.c). */
rk_status rk_graph_unary(rk_graph *g, int *out, int x, rk_op op, rk_node **node);
/* b has a's shape or a trailing part of it (add, mul). */
rk_status rk_graph_broadcast_check(const rk_graph *g, int a, int b, const char *op);
/* Loss inputs: f32, all of one element count (bce_logits, mse). */
rk_status rk_graph_loss_check(const rk_graph *g, int n, const int *in, const char *op);
/* sum and mean over one axis or all: the builder, and the node's (O, L, I) view of its input. */
rk_status rk_graph_reduce(rk_graph *g, int *out, int x, int axis, rk_op op);
void rk_reduce_dims(const rk_graph *g, const rk_node *n, int64_t *O, int64_t *L, int64_t *I);

/* A recurrent cell (gru, lstm, rnn) for the shared time loop (src/nn/recurrent.c): G gate blocks
 * of H units, S saved floats per unit and step, and whether it has a cell state c. step writes
 * one row's new h (and c) and its saved values from the input-side (gx) and hidden-side (gh,
 * bias included) pre-activations; step_back writes that row's pre-activation gradients (dgx, dgh),
 * the part of d h_prev that bypasses w_hh, and d c_prev, from the step's total dh and dc. */
typedef struct {
  int gates, saved;
  bool has_cell;
  void (*step)(float *h, float *c, float *saved, const float *gx, const float *gh, const float *h_prev,
               const float *c_prev, int64_t H);
  void (*step_back)(float *dgx, float *dgh, float *dh_prev, float *dc_prev, const float *dh, const float *dc,
                    const float *saved, const float *h, const float *h_prev, const float *c, const float *c_prev,
                    int64_t H);
} rk_recurrent_cell;
/* saved: the cell's values and the states of each real step, B T rows of S H + 2 H (+ 2 H with a
 * cell state) floats; scratch: the packing and the gemms' buffers (rk_graph_recurrent sizes both). */
void recurrent_forward_cpu(const rk_recurrent_cell *cell, float *out /* (B, T, H) */, float *saved, void *scratch,
                           const float *x /* (B, T, I) */, const int64_t *ids /* (B, T) or NULL */,
                           const float *w_ih /* (G H, I) */, const float *w_hh /* (G H, H) */,
                           const float *b_ih /* (G H) or NULL */, const float *b_hh /* (G H) or NULL */, int64_t B,
                           int64_t T, int64_t I, int64_t H, int64_t padding);
void recurrent_backward_cpu(const rk_recurrent_cell *cell, float *dx /* (B, T, I) or NULL */, float *dw_ih,
                            float *dw_hh, float *db_ih /* or NULL */, float *db_hh /* or NULL */, void *scratch,
                            const float *dout /* (B, T, H) */, float *saved, const float *x /* (B, T, I) */,
                            const int64_t *ids /* (B, T) or NULL */, const float *w_ih /* (G H, I) */,
                            const float *w_hh /* (G H, H) */, int64_t B, int64_t T, int64_t I, int64_t H,
                            int64_t padding);
rk_status recurrent_node_forward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n);
void recurrent_node_backward_cpu(const rk_recurrent_cell *cell, rk_graph *g, const rk_node *n);
rk_status rk_graph_recurrent(rk_graph *g, int *out, const rk_recurrent_cell *cell, rk_op op, int x, int step_ids,
                             int64_t padding, rk_param *w_ih, rk_param *w_hh, rk_param *b_ih, rk_param *b_hh);

#endif
