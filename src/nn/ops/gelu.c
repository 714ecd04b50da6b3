/*
 * gelu (Hendrycks & Gimpel 2016): the exact form x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) or the
 * tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch's
 * approximate='tanh' (GPT-2's gelu_new). Neither calls libm, so their loops vectorise (a libm
 * call per element was 40% of a GPT-2 block step for double tanh, and erf 13% of a batched
 * GPT-2), one copy per vector width (RK_VECTOR_CLONES; ISO C contracts no a * b + c, so every
 * copy gives the same bits):
 *   tanh form  in float, tanh by rk_tanhf_fast (src/nn/ops/ops.h)
 *   erf form   in double, erfc by a fitted polynomial and exp by its series (below): its floats
 *              are those of libm's erf and exp in double, bit for bit on a 2e6-point sweep, at
 *              2.3x its speed (AdamW steps of an RTD model drifted from PyTorch's when a float
 *              erfc moved outputs by an ulp)
 * test_nn_gelu_fast.c holds both to libm over [-12, 12]. A training forward saves the
 * derivative beside the output, so backward is one multiply-add. On a value with rows in use it
 * computes those rows only (docs/design.md). Small helpers are always inlined: a call left in a
 * cloned loop keeps it scalar.
 */
#include <math.h>

#include "nn/ops/ops.h"

#define GELU_K 0.7978845608028654f   /* sqrt(2 / pi) */

static inline float float_of(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static inline uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* x with |x| capped at 16 by its bits: beyond, Phi is 1 or 0 in double and x phi(x) below any
 * float, and erfc's argument stays where its fit holds. */
static inline __attribute__((always_inline)) float capped(float x) {
  uint32_t b = bits_of(fabsf(x));
  return copysignf(float_of(b < 0x41800000u ? b : 0x41800000u), x);   /* 16.0f */
}

/* The tanh form in float, and its derivative given t = tanh(u). */
static inline __attribute__((always_inline)) float tanh_form_t(float v) {
  return rk_tanhf_fast(GELU_K * (v + 0.044715f * v * v * v));
}

static inline __attribute__((always_inline)) float tanh_form_deriv(float v, float t) {
  return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * GELU_K * (1.0f + 3.0f * 0.044715f * v * v);
}

RK_VECTOR_CLONES static void gelu_tanh_rows(float *restrict out, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = 0.5f * x[i] * (1.0f + tanh_form_t(x[i]));
}

RK_VECTOR_CLONES static void gelu_tanh_train_rows(float *restrict out, float *restrict deriv, const float *restrict x,
                                                  int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i], t = tanh_form_t(v);
    out[i] = 0.5f * v * (1.0f + t);
    deriv[i] = tanh_form_deriv(v, t);
  }
}

/* e^-a in double for a in [0, 700]: 2^k e^r with k = round(a / ln 2) (read from the low bits of
 * a shifted by 1.5 2^52, so no float-to-integer conversion stops the loop vectorising), r in
 * [-ln 2 / 2, ln 2 / 2] from ln 2 in two parts, e^r by its Taylor series to r^12 (relative error
 * under 1e-15), 2^k added to the exponent. */
static inline __attribute__((always_inline)) double exp_neg_d(double a) {
  const double shift = 6755399441055744.0;   /* 1.5 2^52 */
  double kf = a * -1.4426950408889634 + shift, k = kf - shift;
  double r = -a - k * 6.93147180369123816490e-01 - k * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  uint64_t kb, pb;
  memcpy(&kb, &kf, sizeof kb);
  memcpy(&pb, &p, sizeof pb);
  pb += (kb - 0x4338000000000000u) << 52;   /* kf's bits less the shift's are k, two's complement */
  memcpy(&p, &pb, sizeof p);
  return p;
}

/* Phi(x), the standard normal cdf, in double, for |x| <= 16, as 0.5 (1 + erf(x / sqrt 2)) (whose
 * lower tail ends at 2^-53, as libm's in the formula does). erfc(z) = t exp(P(s) - z^2), t = 1 / (1 +
 * z / 2), s = 2.4 t - 1.4 (t in [1/6, 1], z in [0, 10], onto [-1, 1]): P, of degree 20, is a
 * least-squares Chebyshev fit of log(erfc(z) / t) + z^2 at 4000 nodes (numpy, math.erfc),
 * relative error of erfc under 2e-14 over [0, 10]; the form is Numerical Recipes' erfcc (2nd
 * ed., section 6.2), whose degree-9 fit is good to 1.2e-7. */
static const double ERFC_P[21] = {-4.1970597620261294e-09, 8.8916796878437553e-09, 3.0238157701705754e-08,
                                   -1.1151562621590364e-07, -2.1562012642227232e-08, 6.6653151399351561e-07,
                                   -9.4109881964359769e-07, -2.0804834205896072e-06, 8.2550750827813599e-06,
                                   -1.2800537978370437e-06, -4.2377722244830339e-05, 6.4719906593804736e-05,
                                   0.00014991341100398321, -0.00054574647985691533, -0.00028586824944678988,
                                   0.0037127535563015843, -0.0010432971820796071, -0.029471304667224314,
                                   0.015744884612815268, 0.5703071521222518, -0.55859535113381387};

static inline __attribute__((always_inline)) double normal_cdf_d(float x) {
  double z = fabs((double)x) * 0.70710678118654752440, t = 1.0 / (1.0 + 0.5 * z), s = 2.4 * t - 1.4;
  double p = ERFC_P[0];
  p = p * s + ERFC_P[1];
  p = p * s + ERFC_P[2];
  p = p * s + ERFC_P[3];
  p = p * s + ERFC_P[4];
  p = p * s + ERFC_P[5];
  p = p * s + ERFC_P[6];
  p = p * s + ERFC_P[7];
  p = p * s + ERFC_P[8];
  p = p * s + ERFC_P[9];
  p = p * s + ERFC_P[10];
  p = p * s + ERFC_P[11];
  p = p * s + ERFC_P[12];
  p = p * s + ERFC_P[13];
  p = p * s + ERFC_P[14];
  p = p * s + ERFC_P[15];
  p = p * s + ERFC_P[16];
  p = p * s + ERFC_P[17];
  p = p * s + ERFC_P[18];
  p = p * s + ERFC_P[19];
  p = p * s + ERFC_P[20];
  double erf_abs = 1.0 - t * exp_neg_d(fabs(z * z - p));   /* |.|: P(1) is 0 to 1e-14 */
  return 0.5 * (1.0 + copysign(erf_abs, (double)x));
}

static inline __attribute__((always_inline)) float gelu_erf(float v) {
  return (float)((double)v * normal_cdf_d(capped(v)));
}

/* d gelu / d x = Phi(x) + x phi(x); x * 0 carries NaN and infinity into it, as the formula does. */
static inline __attribute__((always_inline)) float gelu_erf_deriv(float v) {
  double c = capped(v);
  return (float)(normal_cdf_d((float)c) + c * 0.3989422804014327 * exp_neg_d(0.5 * c * c) + (double)v * 0.0);
}

/* The output and the derivative in two loops: GCC left one loop writing both scalar. */
RK_VECTOR_CLONES static void gelu_erf_rows(float *restrict out, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = gelu_erf(x[i]);
}

RK_VECTOR_CLONES static void gelu_erf_deriv_rows(float *restrict deriv, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++) deriv[i] = gelu_erf_deriv(x[i]);
}

/* deriv (n) or NULL: d out / d x, for backward. */
void gelu_forward_cpu(float *out /* (n) */, float *deriv /* (n) or NULL */, const float *x /* (n) */, int64_t n,
                      bool approximate) {
  if (approximate) {
    if (deriv) gelu_tanh_train_rows(out, deriv, x, n);
    else gelu_tanh_rows(out, x, n);
  } else {
    gelu_erf_rows(out, x, n);
    if (deriv) gelu_erf_deriv_rows(deriv, x, n);
  }
}

void gelu_backward_cpu(float *dx /* (n) */, const float *dout /* (n) */, const float *deriv /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) dx[i] += dout[i] * deriv[i];
}

rk_status gelu_node_forward_cpu(rk_graph *g, const rk_node *n) {
  const rk_value *x = rk_val(g, n->in[0]);
  rk_val(g, n->out[0])->rows = x->rows;
  gelu_forward_cpu(rk_x(g, n->out[0]), rk_graph_training(g) ? n->saved : NULL, rk_x(g, n->in[0]),
                   rk_val_numel_in_use(x), n->iattr[0]);
  return RK_OK;
}

void gelu_node_backward_cpu(rk_graph *g, const rk_node *n) {
  if (rk_dx(g, n->in[0]))
    gelu_backward_cpu(rk_dx(g, n->in[0]), rk_dx(g, n->out[0]), n->saved, rk_val_numel_in_use(rk_val(g, n->in[0])));
}

rk_status rk_graph_gelu(rk_graph *g, int *out, int x, bool approximate) {
  rk_node *n;
  RK_TRY(rk_graph_unary(g, out, x, RK_OP_GELU, &n));
  n->iattr[0] = approximate;
  n->saved_bytes = (size_t)rk_val(g, x)->numel * sizeof(float);   /* the derivative */
  return RK_OK;
}
