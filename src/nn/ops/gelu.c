/*
 * gelu (Hendrycks & Gimpel 2016): the exact form 0.5 x (1 + erf(x / sqrt 2)) or the tanh
 * approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's approximate='tanh'
 * (GPT-2's gelu_new). The tanh form runs in float with a branch-free tanh the compiler vectorises
 * (below; ~1e-7 off libm's, no NaN at either end):
 * in a GPT-2 block at d_model 64 the double-precision libm tanh of both passes took 40% of the
 * step, scalar expf still 12% at d_model 256.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nn/ops/ops.h"

#define GELU_K 0.7978845608028654   /* sqrt(2 / pi) */

/* e^x for x in [-80, 0]: 2^k e^r, k = round(x / ln 2) (by the 1.5 2^23 trick), r = x - k ln 2 in
 * two parts, e^r by Cephes' expf polynomial. No branch, so the loops calling it vectorise. */
static inline float exp_poly(float x) {
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

/* tanh(K (v + 0.044715 v^3)) = sign(u) (1 - e) / (1 + e), e = exp(-2 |u|), |u| capped at 40 by
 * its bits (a float compare would keep the loop scalar under -ftrapping-math); within 1e-7 of
 * libm's tanh. */
static inline float tanh_of(float v) {
  float u = (float)GELU_K * (v + 0.044715f * v * v * v), a = fabsf(u);
  uint32_t bits;
  memcpy(&bits, &a, sizeof bits);
  bits = bits < 0x42200000u ? bits : 0x42200000u;   /* 40.0f */
  memcpy(&a, &bits, sizeof a);
  float e = exp_poly(-2.0f * a);
  return copysignf((1.0f - e) / (1.0f + e), u);
}

void gelu_forward_cpu(float *out /* (n) */, const float *x /* (n) */, int64_t n, bool approximate) {
  if (approximate) {
    for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + tanh_of(x[i]));
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    out[i] = (float)(0.5 * v * (1.0 + erf(v * M_SQRT1_2)));
  }
}

void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *x /* (n) */, int64_t n,
                       bool approximate) {
  if (approximate) {
    for (int64_t i = 0; i < n; i++) {
      float v = x[i], t = tanh_of(v);
      float d = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * (float)GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
      dx[i] += dout[i] * d;
    }
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    double d = 0.5 * (1.0 + erf(v * M_SQRT1_2)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
    dx[i] += (float)(dout[i] * d);
  }
}

rk_status gelu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  gelu_forward_cpu(rk_x(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel, n->iattr[0]);
  return RK_OK;
}

void gelu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    gelu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), rk_x(g, n->in[0]), rk_val(g, n->in[0])->numel,
                      n->iattr[0]);
}

rk_status rk_graph_gelu(rk_graph *g, int *out, int x, bool approximate) {
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_GELU, &n));
  n->iattr[0] = approximate;
  return RK_OK;
}
