/*
 * Initialisers, as Keras defines them (keras.initializers: RandomUniform, RandomNormal,
 * TruncatedNormal, GlorotUniform/Normal, HeUniform/Normal via VarianceScaling; Glorot & Bengio,
 * AISTATS 2010, eq. 16; He et al., ICCV 2015, section 2.2).
 *   glorot_uniform: U(+-sqrt(6 / (fan_in + fan_out)))       he_uniform: U(+-sqrt(6 / fan_in))
 *   glorot_normal:  truncated normal, std sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978
 *   he_normal:      truncated normal, std sqrt(2 / fan_in) / 0.87962566103423978
 *   (0.8796... is the std of a unit normal truncated at +-2: the values end with the intended
 *    variance, as in Keras' VarianceScaling)
 *   truncated_normal: N(0, std^2), values beyond 2 std redrawn (Keras TruncatedNormal)
 * Each element draws from its own Philox blocks: block (i << 16) + attempt of the stream
 * ("init" tag << 32) ^ param_index under key `seed`. So a value depends on (seed, param_index,
 * i) only: not on threads, chunking, or which tensors were initialised before.
 * It is not PyTorch's default init (kaiming_uniform with a = sqrt(5) for Linear): pass
 * he_uniform with explicit fans, or fill the tensor yourself, to mimic it.
 */
#include <math.h>
#include <string.h>

#include "reckon/nn.h"

#define INIT_STREAM_TAG   0x696E6974ull          /* "init" */
#define TRUNC_STD_AT_2    0.87962566103423978    /* std of N(0, 1) truncated to [-2, 2] */
#define INIT_GRAIN        65536
#define INIT_MAX_ATTEMPTS 65536                  /* attempts per element: the counter's low 16 bits */

static const char *const init_names[] = {
#define RK_INIT_NAME(name, text) text,
    RK_INIT_LIST(RK_INIT_NAME)
#undef RK_INIT_NAME
};

const char *rk_init_kind_name(rk_init_kind kind) {
  return (unsigned)kind < RK_INIT_COUNT ? init_names[kind] : "unknown";
}

rk_status rk_init_kind_parse(const char *name, rk_init_kind *out) {
  for (int k = 0; k < RK_INIT_COUNT; k++) {
    if (strcmp(name, init_names[k]) == 0) {
      *out = (rk_init_kind)k;
      return RK_OK;
    }
  }
  return rk_error(RK_EINVAL, "unknown initialiser '%s'", name);
}

rk_init_spec rk_init_spec_default(rk_init_kind kind) {
  rk_init_spec s = {kind, 0.0, 0, 0};
  if (kind == RK_INIT_UNIFORM || kind == RK_INIT_NORMAL || kind == RK_INIT_TRUNCATED_NORMAL) s.scale = 0.05;
  return s;
}

void rk_init_fans(int64_t *fan_in, int64_t *fan_out, const rk_tensor *t) {
  if (t->ndim < 1) {
    *fan_in = *fan_out = 1;
  } else if (t->ndim == 1) {
    *fan_in = *fan_out = t->shape[0];
  } else {
    int64_t field = 1;
    for (int d = 0; d < t->ndim - 2; d++) field *= t->shape[d];
    *fan_in = t->shape[t->ndim - 2] * field;
    *fan_out = t->shape[t->ndim - 1] * field;
  }
}

typedef enum { DRAW_UNIFORM, DRAW_NORMAL, DRAW_TRUNCATED } draw_kind;

typedef struct {
  float *out;
  draw_kind draw;
  double scale;      /* uniform: limit; normal: std */
  uint32_t key[2];
  uint64_t stream;
  int64_t first, step, D;   /* out's row i / D is the whole tensor's row first + (i / D) * step */
} init_ctx;

static void element_block(uint32_t out[4], const init_ctx *c, uint64_t i, uint64_t attempt) {
  uint64_t block = (i << 16) | attempt;
  const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)c->stream, (uint32_t)(c->stream >> 32)};
  rk_philox4x32_10(out, ctr, c->key);
}

static double unit53(uint32_t hi, uint32_t lo) {
  return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1.0p-53;
}

static double draw(const init_ctx *c, uint64_t i) {
  uint32_t r[4];
  if (c->draw == DRAW_UNIFORM) {
    element_block(r, c, i, 0);
    return c->scale * (2.0 * unit53(r[0], r[1]) - 1.0);
  }
  for (uint64_t attempt = 0; attempt < INIT_MAX_ATTEMPTS; attempt++) {
    element_block(r, c, i, attempt);
    double u1 = 1.0 - unit53(r[0], r[1]);   /* (0, 1]: the log is finite */
    double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * unit53(r[2], r[3]));
    if (c->draw == DRAW_NORMAL || fabs(z) <= 2.0) return c->scale * z;
  }
  return 0.0;   /* 65536 draws beyond 2 std in a row: probability 0.0455^65536 */
}

static void init_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  const init_ctx *c = ctx;
  for (int64_t i = begin; i < end; i++)
    c->out[i] = (float)draw(c, (uint64_t)((c->first + i / c->D * c->step) * c->D + i % c->D));
}

rk_status rk_init_tensor(rk_tensor *t, const rk_init_spec *spec, uint64_t seed, uint64_t param_index) {
  return rk_init_tensor_rows(t, spec, seed, param_index, 0, 0, 1);
}

/* V 0: t is the whole tensor (any shape), its elements in order. */
rk_status rk_init_tensor_rows(rk_tensor *t, const rk_init_spec *spec, uint64_t seed, uint64_t param_index, int64_t V,
                              int64_t first, int64_t step) {
  char desc[64];
  if (t->dtype != RK_DT_F32 || t->device != RK_DEVICE_CPU)
    return rk_error(RK_EUNSUPPORTED, "initialisers fill f32 CPU tensors, not %s", rk_tensor_describe(t, desc, sizeof desc));
  if ((unsigned)spec->kind >= RK_INIT_COUNT) return rk_error(RK_EINVAL, "unknown initialiser kind %d", (int)spec->kind);
  if (!isfinite(spec->scale)) return rk_error(RK_EINVAL, "initialiser scale %g is not finite", spec->scale);
  int64_t n = rk_tensor_numel(t);
  if (n > 0 && t->data == NULL) return rk_error(RK_EINVAL, "tensor %s has no data", rk_tensor_describe(t, desc, sizeof desc));
  if ((uint64_t)n >= (1ull << 48)) return rk_error(RK_ERANGE, "tensor %s is too large to initialise", rk_tensor_describe(t, desc, sizeof desc));
  float *out = t->data;
  switch (spec->kind) {
  case RK_INIT_ZEROS:
  case RK_INIT_ONES:
  case RK_INIT_CONSTANT: {
    float v = spec->kind == RK_INIT_ZEROS ? 0.0f : spec->kind == RK_INIT_ONES ? 1.0f : (float)spec->scale;
    for (int64_t i = 0; i < n; i++) out[i] = v;
    return RK_OK;
  }
  default:
    break;
  }
  rk_tensor whole = *t;   /* the fans are the whole table's */
  int64_t D = n;          /* V 0: the whole tensor as one row */
  if (V > 0) {
    if (t->ndim != 2)
      return rk_error(RK_EINVAL, "rows of tensor %s: a (rows, D) table expected", rk_tensor_describe(t, desc, sizeof desc));
    whole.shape[0] = V;
    D = t->shape[1];
    if ((uint64_t)V * (uint64_t)(D ? D : 1) >= (1ull << 48))
      return rk_error(RK_ERANGE, "a (%lld, %lld) table is too large to initialise", (long long)V, (long long)D);
  }
  int64_t fan_in = spec->fan_in, fan_out = spec->fan_out;
  if (fan_in <= 0 || fan_out <= 0) rk_init_fans(&fan_in, &fan_out, &whole);
  double fi = fan_in > 1 ? (double)fan_in : 1.0, fo = fan_out > 1 ? (double)fan_out : 1.0;   /* Keras: max(1, fan) */
  init_ctx c = {out, DRAW_UNIFORM, spec->scale, {(uint32_t)seed, (uint32_t)(seed >> 32)}, (INIT_STREAM_TAG << 32) ^ param_index,
                V > 0 ? first : 0, V > 0 ? step : 1, D > 0 ? D : 1};
  switch (spec->kind) {
  case RK_INIT_UNIFORM: break;
  case RK_INIT_NORMAL: c.draw = DRAW_NORMAL; break;
  case RK_INIT_TRUNCATED_NORMAL: c.draw = DRAW_TRUNCATED; break;
  case RK_INIT_GLOROT_UNIFORM: c.scale = sqrt(6.0 / (fi + fo)); break;
  case RK_INIT_HE_UNIFORM: c.scale = sqrt(6.0 / fi); break;
  case RK_INIT_GLOROT_NORMAL: c.draw = DRAW_TRUNCATED; c.scale = sqrt(2.0 / (fi + fo)) / TRUNC_STD_AT_2; break;
  case RK_INIT_HE_NORMAL: c.draw = DRAW_TRUNCATED; c.scale = sqrt(2.0 / fi) / TRUNC_STD_AT_2; break;
  default: break;
  }
  if (c.scale < 0.0) return rk_error(RK_EINVAL, "%s scale %g must be >= 0", rk_init_kind_name(spec->kind), c.scale);
  rk_parallel_for(n, INIT_GRAIN, init_chunk, &c);
  return RK_OK;
}
