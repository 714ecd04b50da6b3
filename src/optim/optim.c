/*
 * The optimizer frame: registration (configuration and shape checks, all state in one
 * allocation), and the step that walks every parameter in pieces and hands each piece to its
 * optimizer's span kernel (sgd.c, adam.c, adagrad.c, proximal_adagrad.c, ftrl.c).
 *
 * It is not an update rule: those live one per file. Nor is it a gradient zeroer or a scheduler.
 *
 * Sparse parameters follow torch.optim.SparseAdam and TensorFlow's SparseApply* kernels: only the
 * rows listed in grad_rows move (lazy); sparse_as_dense steps every row, as Keras' optimizers do
 * on a dense embedding gradient. docs/optim.md compares the two. A dense parameter marked
 * lazy_rows is stepped the lazy way too, its touched rows being those with a non-zero gradient.
 */
#include <math.h>
#include <string.h>

#include "optim/optim_internal.h"

struct rk_optim_entry {
  rk_param *param;
  int64_t numel;
  int64_t rows;      /* sparse and lazy_rows: V; dense: 1 */
  int64_t dim;       /* sparse and lazy_rows: numel / V; dense: numel */
  float *slot[2];
};

static const char *const kind_names[] = {
#define RK_OPTIM_NAME(name, text, slots) text,
    RK_OPTIM_LIST(RK_OPTIM_NAME)
#undef RK_OPTIM_NAME
};
static const int kind_slots[] = {
#define RK_OPTIM_SLOTS(name, text, slots) slots,
    RK_OPTIM_LIST(RK_OPTIM_SLOTS)
#undef RK_OPTIM_SLOTS
};
static const rk_optim_span_fn kind_span[RK_OPTIM_COUNT] = {
    [RK_OPTIM_SGD] = rk_optim_sgd_span,
    [RK_OPTIM_ADAM] = rk_optim_adam_span,
    [RK_OPTIM_ADAMW] = rk_optim_adam_span,
    [RK_OPTIM_ADAGRAD] = rk_optim_adagrad_span,
    [RK_OPTIM_PROXIMAL_ADAGRAD] = rk_optim_proximal_adagrad_span,
    [RK_OPTIM_FTRL] = rk_optim_ftrl_span,
};

const char *rk_optim_kind_name(rk_optim_kind kind) {
  return (unsigned)kind < RK_OPTIM_COUNT ? kind_names[kind] : "unknown";
}

rk_status rk_optim_kind_parse(const char *name, rk_optim_kind *out) {
  for (int k = 0; k < RK_OPTIM_COUNT; k++) {
    if (strcmp(name, kind_names[k]) == 0) {
      *out = (rk_optim_kind)k;
      return RK_OK;
    }
  }
  return rk_error(RK_EINVAL, "unknown optimizer '%s' (sgd, adam, adamw, adagrad, proximal_adagrad, ftrl)", name);
}

void rk_optim_config_default(rk_optim_config *cfg, rk_optim_kind kind, float lr) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  cfg->n_groups = 1;
  cfg->groups[0].lr = lr;
  cfg->beta1 = RK_ADAM_BETA1_KERAS;
  cfg->beta2 = RK_ADAM_BETA2_KERAS;
  cfg->eps_mode = RK_ADAM_EPS_HAT;
  cfg->lr_power = -0.5f;
  switch (kind) {
  case RK_OPTIM_ADAM:
    cfg->eps = RK_ADAM_EPS_KERAS;
    break;
  case RK_OPTIM_ADAMW:
    cfg->eps = RK_ADAM_EPS_KERAS;
    cfg->groups[0].weight_decay = 0.004f;   /* Keras AdamW; PyTorch's default is 0.01 */
    break;
  case RK_OPTIM_ADAGRAD:
    cfg->eps = RK_ADAM_EPS_KERAS;           /* Keras Adagrad's epsilon is the same 1e-7 */
    cfg->initial_accumulator = RK_ADAGRAD_INIT_KERAS;
    break;
  case RK_OPTIM_PROXIMAL_ADAGRAD:
  case RK_OPTIM_FTRL:
    cfg->initial_accumulator = RK_ADAGRAD_INIT_KERAS;
    break;
  default:
    break;
  }
}

/* ---------------------------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------------------------- */
static bool finite_nonneg(float x) { return isfinite(x) && x >= 0.0f; }

static rk_status check_group(const rk_optim_config *cfg, int i) {
  const rk_optim_group *g = &cfg->groups[i];
  const char *kind = rk_optim_kind_name(cfg->kind);
  if (!finite_nonneg(g->lr)) return rk_error(RK_EINVAL, "learning rate %g of group %d is not a finite number >= 0", g->lr, i);
  if (!finite_nonneg(g->weight_decay) || !finite_nonneg(g->l1) || !finite_nonneg(g->l2) || !finite_nonneg(g->l2_shrinkage))
    return rk_error(RK_EINVAL, "regularisation of group %d must be finite and >= 0", i);
  bool proximal = cfg->kind == RK_OPTIM_FTRL || cfg->kind == RK_OPTIM_PROXIMAL_ADAGRAD;
  if (proximal && g->weight_decay != 0.0f)
    return rk_error(RK_EINVAL, "weight_decay %g in group %d is not used by %s (it takes l1, l2%s)", g->weight_decay, i,
                    kind, cfg->kind == RK_OPTIM_FTRL ? " and l2_shrinkage" : "");
  if (!proximal && (g->l1 != 0.0f || g->l2 != 0.0f))
    return rk_error(RK_EINVAL, "l1/l2 in group %d are not used by %s (it takes weight_decay)", i, kind);
  if (cfg->kind != RK_OPTIM_FTRL && g->l2_shrinkage != 0.0f)
    return rk_error(RK_EINVAL, "l2_shrinkage in group %d is used only by ftrl, not %s", i, kind);
  return RK_OK;
}

static rk_status check_config(const rk_optim_config *cfg) {
  if ((unsigned)cfg->kind >= RK_OPTIM_COUNT) return rk_error(RK_EINVAL, "unknown optimizer kind %d", (int)cfg->kind);
  if (cfg->n_groups < 1 || cfg->n_groups > RK_OPTIM_MAX_GROUPS)
    return rk_error(RK_EINVAL, "%d parameter groups: need 1 to %d", cfg->n_groups, RK_OPTIM_MAX_GROUPS);
  for (int i = 0; i < cfg->n_groups; i++) RK_TRY(check_group(cfg, i));
  if (cfg->decay_after_update && cfg->kind != RK_OPTIM_ADAMW)
    return rk_error(RK_EINVAL, "decay_after_update is an AdamW setting, not %s's", rk_optim_kind_name(cfg->kind));
  switch (cfg->kind) {
  case RK_OPTIM_SGD:
    if (!finite_nonneg(cfg->momentum)) return rk_error(RK_EINVAL, "momentum %g is not a finite number >= 0", cfg->momentum);
    if (cfg->nesterov && cfg->momentum == 0.0f) return rk_error(RK_EINVAL, "nesterov needs a momentum > 0");
    break;
  case RK_OPTIM_ADAM:
  case RK_OPTIM_ADAMW:
    if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f) || !(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
      return rk_error(RK_EINVAL, "adam betas (%g, %g) must lie in [0, 1)", cfg->beta1, cfg->beta2);
    if (!finite_nonneg(cfg->eps)) return rk_error(RK_EINVAL, "epsilon %g is not a finite number >= 0", cfg->eps);
    if (cfg->eps_mode != RK_ADAM_EPS_HAT && cfg->eps_mode != RK_ADAM_EPS_CORRECTED)
      return rk_error(RK_EINVAL, "unknown adam epsilon mode %d", (int)cfg->eps_mode);
    break;
  case RK_OPTIM_ADAGRAD:
    if (!finite_nonneg(cfg->eps) || !finite_nonneg(cfg->initial_accumulator))
      return rk_error(RK_EINVAL, "adagrad epsilon %g and initial accumulator %g must be finite and >= 0", cfg->eps,
                      cfg->initial_accumulator);
    /* with both zero a row's first zero gradient divides 0 by 0 */
    if (cfg->eps == 0.0f && cfg->initial_accumulator == 0.0f)
      return rk_error(RK_EINVAL, "adagrad needs an initial accumulator > 0 or an epsilon > 0");
    break;
  case RK_OPTIM_PROXIMAL_ADAGRAD:
    if (!(isfinite(cfg->initial_accumulator) && cfg->initial_accumulator > 0.0f))
      return rk_error(RK_EINVAL, "proximal adagrad initial accumulator %g must be > 0", cfg->initial_accumulator);
    break;
  case RK_OPTIM_FTRL:
    if (!finite_nonneg(cfg->initial_accumulator))
      return rk_error(RK_EINVAL, "ftrl initial accumulator %g must be >= 0", cfg->initial_accumulator);
    if (!(isfinite(cfg->lr_power) && cfg->lr_power <= 0.0f))
      return rk_error(RK_EINVAL, "ftrl learning rate power %g must be <= 0", cfg->lr_power);
    if (!finite_nonneg(cfg->ftrl_beta)) return rk_error(RK_EINVAL, "ftrl beta %g must be >= 0", cfg->ftrl_beta);
    for (int i = 0; i < cfg->n_groups; i++) {
      if (cfg->groups[i].lr == 0.0f) return rk_error(RK_EINVAL, "ftrl divides by the learning rate: group %d has 0", i);
    }
    break;
  default:
    break;
  }
  return RK_OK;
}

static bool is_f32_cpu(const rk_tensor *t) { return t->dtype == RK_DT_F32 && t->device == RK_DEVICE_CPU; }
static bool has_memory(const rk_tensor *t) { return t->data != NULL || rk_tensor_numel(t) == 0; }

static rk_status check_param(const rk_param *p, int i, int n_groups) {
  if (p == NULL) return rk_error(RK_EINVAL, "parameter %d is NULL", i);
  if (p->group < 0 || p->group >= n_groups)
    return rk_error(RK_EINVAL, "parameter '%s' is in group %d, but the optimizer has %d group(s)", p->name, p->group, n_groups);
  if (!is_f32_cpu(&p->value) || !is_f32_cpu(&p->grad))
    return rk_error(RK_EUNSUPPORTED, "parameter '%s': optimizers take f32 CPU values and gradients", p->name);
  if (!has_memory(&p->value) || !has_memory(&p->grad))
    return rk_error(RK_EINVAL, "parameter '%s' has no memory for its value or gradient", p->name);
  char a[64], b[64];
  if (!p->sparse) {
    if (rk_tensor_numel(&p->grad) != rk_tensor_numel(&p->value))
      return rk_error(RK_ESHAPE, "parameter '%s': gradient %s does not match value %s", p->name,
                      rk_tensor_describe(&p->grad, a, sizeof a), rk_tensor_describe(&p->value, b, sizeof b));
    return RK_OK;
  }
  if (p->value.ndim != 2 || p->grad.ndim != 2 || p->grad.shape[1] != p->value.shape[1])
    return rk_error(RK_ESHAPE, "sparse parameter '%s': value %s and gradient %s must be (V, D) and (max_rows, D)", p->name,
                    rk_tensor_describe(&p->value, b, sizeof b), rk_tensor_describe(&p->grad, a, sizeof a));
  if (p->grad_rows == NULL && p->grad.shape[0] > 0)
    return rk_error(RK_EINVAL, "sparse parameter '%s' has no grad_rows", p->name);
  return RK_OK;
}

rk_status rk_optim_init(rk_optim *opt, const rk_optim_config *cfg, rk_param *const *params, int n_params) {
  memset(opt, 0, sizeof *opt);
  RK_TRY(check_config(cfg));
  if (n_params < 0) return rk_error(RK_EINVAL, "%d parameters", n_params);
  for (int i = 0; i < n_params; i++) RK_TRY(check_param(params[i], i, cfg->n_groups));

  int n_slots = kind_slots[cfg->kind];
  if (cfg->kind == RK_OPTIM_SGD && cfg->momentum == 0.0f) n_slots = 0;   /* plain SGD keeps nothing */
  /* Each slot kind is one run of `total` floats. When the optimizer holds a whole parameter
   * arena, the run starts with a mirror of it (a dense parameter's slot at its arena offset, so
   * one span could step them all, and a device copy is one call); the others follow, packed. */
  const rk_param_arena *mirror = rk_param_arena_whole(params, n_params);
  int64_t total = mirror ? rk_param_arena_numel(mirror) : 0, state_bytes;
  for (int i = 0; i < n_params; i++)
    if (!mirror || params[i]->arena != mirror)
      RK_TRY(rk_size_add(&total, total, rk_tensor_numel(&params[i]->value), "the optimizer's parameters"));
  RK_TRY(rk_size_mul(&state_bytes, total, n_slots * (int64_t)sizeof(float), "the optimizer's state"));
  char what[96];
  snprintf(what, sizeof what, "the %s optimizer's state (%d per weight)", kind_names[cfg->kind], n_slots);
  RK_TRY(rk_memory_check(state_bytes, what));

  rk_optim_entry *entries = NULL;
  float *state = NULL;
  if (n_params > 0) {
    entries = rk_calloc((size_t)n_params, sizeof *entries);
    if (entries == NULL) return rk_error_context(RK_ENOMEM, "optimizer for %d parameters", n_params);
  }
  if (total > 0 && n_slots > 0) {
    /* zeroed by calloc: a large block is fresh zero pages, taken up only as steps touch them */
    state = rk_aligned_calloc(64, (size_t)total * (size_t)n_slots * sizeof(float));
    if (state == NULL) {
      rk_free(entries);
      return rk_error_context(RK_ENOMEM, "%s state for %lld parameter values", rk_optim_kind_name(cfg->kind),
                              (long long)total);
    }
  }
  /* Slot s of every parameter is in one run of `total` floats: accumulators fill in one loop. */
  int64_t packed = mirror ? rk_param_arena_numel(mirror) : 0;
  for (int i = 0; i < n_params; i++) {
    rk_param *p = params[i];
    rk_optim_entry *e = &entries[i];
    e->param = p;
    e->numel = rk_tensor_numel(&p->value);
    bool by_rows = (p->sparse || p->lazy_rows) && p->value.ndim > 0 && p->value.shape[0] > 0;
    e->rows = by_rows ? p->value.shape[0] : 1;
    e->dim = by_rows ? e->numel / e->rows : e->numel;
    bool mirrored = mirror && p->arena == mirror;
    int64_t offset = mirrored ? rk_param_arena_offset(p) : packed;
    for (int s = 0; s < n_slots && state; s++) e->slot[s] = state + (int64_t)s * total + offset;
    if (!mirrored) packed += e->numel;
  }
  if (state != NULL) {
    bool accumulates = cfg->kind == RK_OPTIM_ADAGRAD || cfg->kind == RK_OPTIM_PROXIMAL_ADAGRAD || cfg->kind == RK_OPTIM_FTRL;
    if (accumulates) {
      for (int64_t k = 0; k < total; k++) state[k] = cfg->initial_accumulator;
    }
  }
  opt->cfg = *cfg;
  opt->n_params = n_params;
  opt->entries = entries;
  opt->state = state;
  opt->n_slots = n_slots;
  opt->step = 0;
  return RK_OK;
}

void rk_optim_free(rk_optim *opt) {
  rk_free(opt->state);
  rk_free(opt->entries);
  memset(opt, 0, sizeof *opt);
}

float *rk_optim_slot(const rk_optim *opt, int param, int slot) {
  if (param < 0 || param >= opt->n_params || slot < 0 || slot >= opt->n_slots) return NULL;
  return opt->entries[param].slot[slot];
}

const char *rk_optim_slot_name(const rk_optim *opt, int slot) {
  if (slot < 0 || slot >= opt->n_slots) return NULL;
  switch (opt->cfg.kind) {
  case RK_OPTIM_SGD: return "momentum";
  case RK_OPTIM_ADAM:
  case RK_OPTIM_ADAMW: return slot == 0 ? "m" : "v";
  case RK_OPTIM_FTRL: return slot == 0 ? "accumulator" : "linear";
  default: return "accumulator";
  }
}

/* ---------------------------------------------------------------------------------------------
 * The step
 * ------------------------------------------------------------------------------------------- */
#define OPTIM_GRAIN 16384   /* floats per chunk: big enough to amortise a task, small enough to share */

typedef struct {
  rk_optim_span_fn span;
  const rk_optim_hyper *h;
  const rk_optim_entry *e;
  const float *grad;            /* dense: (numel); sparse: (n_grad_rows, D) */
  const int64_t *rows;          /* sparse: (n_grad_rows) */
  int64_t n_rows;
} step_ctx;

static float *slot_at(const rk_optim_entry *e, int s, int64_t offset) {
  return e->slot[s] ? e->slot[s] + offset : NULL;
}

static void dense_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *c = ctx;
  float *w = (float *)c->e->param->value.data;
  c->span(w + begin, slot_at(c->e, 0, begin), slot_at(c->e, 1, begin), c->grad + begin, end - begin, c->h);
}

/* Lazy: chunk over the compact rows; each moves its table row. */
static void lazy_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *c = ctx;
  int64_t D = c->e->dim;
  float *w = (float *)c->e->param->value.data;
  for (int64_t k = begin; k < end; k++) {
    int64_t at = c->rows[k] * D;
    c->span(w + at, slot_at(c->e, 0, at), slot_at(c->e, 1, at), c->grad + k * D, D, c->h);
  }
}

/* Lazy on a dense gradient (lazy_rows): chunk over table rows; a row whose gradient is all zeros
 * was not touched by the step and keeps its value and state. */
static void nonzero_rows_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *c = ctx;
  int64_t D = c->e->dim;
  float *w = (float *)c->e->param->value.data;
  for (int64_t r = begin; r < end; r++) {
    int64_t at = r * D;
    bool touched = false;
    for (int64_t k = 0; k < D && !touched; k++) touched = c->grad[at + k] != 0.0f;
    if (touched) c->span(w + at, slot_at(c->e, 0, at), slot_at(c->e, 1, at), c->grad + at, D, c->h);
  }
}

/* Dense semantics on a sparse gradient: chunk over table rows; rows absent from grad_rows get a
 * zero gradient. grad_rows is ascending, so one binary search finds a chunk's first row. */
static void all_rows_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const step_ctx *c = ctx;
  int64_t D = c->e->dim;
  float *w = (float *)c->e->param->value.data;
  int64_t lo = 0, hi = c->n_rows;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (c->rows[mid] < begin) lo = mid + 1;
    else hi = mid;
  }
  int64_t k = lo;
  for (int64_t r = begin; r < end; r++) {
    const float *g = NULL;
    if (k < c->n_rows && c->rows[k] == r) g = c->grad + (k++) * D;
    int64_t at = r * D;
    c->span(w + at, slot_at(c->e, 0, at), slot_at(c->e, 1, at), g, D, c->h);
  }
}

static rk_status check_sparse_grad(const rk_param *p) {
  int64_t V = p->value.shape[0], max_rows = p->grad.shape[0];
  if (p->n_grad_rows < 0 || p->n_grad_rows > max_rows)
    return rk_error(RK_EINVAL, "sparse parameter '%s' has %lld gradient rows, room for %lld", p->name,
                    (long long)p->n_grad_rows, (long long)max_rows);
  for (int64_t k = 0; k < p->n_grad_rows; k++) {
    int64_t r = p->grad_rows[k];
    if (r < 0 || r >= V)
      return rk_error(RK_EINVAL, "sparse parameter '%s': gradient row %lld is outside the table of %lld rows", p->name,
                      (long long)r, (long long)V);
    if (k > 0 && r <= p->grad_rows[k - 1])
      return rk_error(RK_EINVAL, "sparse parameter '%s': gradient rows not unique and ascending at compact row %lld (%lld after %lld)",
                      p->name, (long long)k, (long long)r, (long long)p->grad_rows[k - 1]);
  }
  return RK_OK;
}

static void hyper_for(rk_optim_hyper *h, const rk_optim *opt, const rk_param *p, double lr_factor) {
  const rk_optim_config *cfg = &opt->cfg;
  const rk_optim_group *g = &cfg->groups[p->group];
  memset(h, 0, sizeof *h);
  double lr = (double)g->lr * lr_factor;
  float weight_decay = p->no_decay ? 0.0f : g->weight_decay;
  h->lr = (float)lr;
  h->weight_decay = weight_decay;
  h->l1 = g->l1;
  h->l2 = g->l2;
  h->l2_shrinkage = g->l2_shrinkage;
  h->momentum = cfg->momentum;
  h->nesterov = cfg->nesterov;
  h->beta1 = cfg->beta1;
  h->beta2 = cfg->beta2;
  h->eps = cfg->eps;
  h->eps_mode = cfg->eps_mode;
  h->lr_power = cfg->lr_power;
  h->ftrl_beta = cfg->ftrl_beta;
  if (cfg->kind == RK_OPTIM_ADAM || cfg->kind == RK_OPTIM_ADAMW) {
    /* Scalars in double, then rounded once to f32, as PyTorch does with its Python floats. */
    double t = (double)(opt->step + 1);
    double bc1 = 1.0 - pow((double)cfg->beta1, t), bc2 = 1.0 - pow((double)cfg->beta2, t);
    h->decoupled = cfg->kind == RK_OPTIM_ADAMW;
    h->adamw_keep = (float)(1.0 - lr * (double)weight_decay);
    h->adamw_after = cfg->decay_after_update;
    h->adamw_shrink = (float)(-lr * (double)weight_decay);
    if (cfg->eps_mode == RK_ADAM_EPS_CORRECTED) {
      h->adam_step = (float)(lr / bc1);
      h->adam_bc2_sqrt = (float)sqrt(bc2);
    } else {
      h->adam_step = (float)(lr * sqrt(bc2) / bc1);
      h->adam_bc2_sqrt = 1.0f;
    }
  }
}

rk_status rk_optim_step(rk_optim *opt, double lr_factor) {
  if (!(isfinite(lr_factor) && lr_factor >= 0.0))
    return rk_error(RK_EINVAL, "learning rate factor %g is not a finite number >= 0", lr_factor);
  /* Check every sparse gradient first, so a failing step moves nothing. */
  for (int i = 0; i < opt->n_params; i++) {
    if (opt->entries[i].param->sparse) RK_TRY(check_sparse_grad(opt->entries[i].param));
  }
  rk_optim_span_fn span = kind_span[opt->cfg.kind];
  for (int i = 0; i < opt->n_params; i++) {
    const rk_optim_entry *e = &opt->entries[i];
    const rk_param *p = e->param;
    rk_optim_hyper h;
    hyper_for(&h, opt, p, lr_factor);
    step_ctx c = {span, &h, e, (const float *)p->grad.data, p->grad_rows, p->n_grad_rows};
    int64_t row_grain = e->dim > 0 ? (OPTIM_GRAIN + e->dim - 1) / e->dim : 1;
    if (!p->sparse && p->lazy_rows) rk_parallel_for(e->rows, row_grain, nonzero_rows_chunk, &c);
    else if (!p->sparse) rk_parallel_for(e->numel, OPTIM_GRAIN, dense_chunk, &c);
    else if (opt->cfg.sparse_as_dense) rk_parallel_for(e->rows, row_grain, all_rows_chunk, &c);
    else rk_parallel_for(p->n_grad_rows, row_grain, lazy_chunk, &c);
  }
  opt->step++;
  return RK_OK;
}
