/*
 * src/synth/common.c: what both generators stand on: the id scrambler and Zipf-like popularity.
 * It is not a generator (tenrec.c, sessions.c).
 * References: Black and Rogaway, "Ciphers with arbitrary finite domains" (CT-RSA 2002), section 4
 * (Feistel network with cycle-walking); the splitmix64 finaliser (Steele et al., "Fast splittable
 * pseudorandom number generators", OOPSLA 2014) as the round function.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "synth/synth_internal.h"

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= UINT64_C(0xbf58476d1ce4e5b9);
  x ^= x >> 27;
  x *= UINT64_C(0x94d049bb133111eb);
  x ^= x >> 31;
  return x;
}

void rk_synth_perm_init(rk_synth_perm *p, uint64_t n, uint64_t seed, uint64_t tag) {
  int bits = 2;
  while (bits < 64 && (UINT64_C(1) << bits) < n) bits++;
  if (bits & 1) bits++;   /* two equal halves */
  p->n = n;
  p->half_bits = bits / 2;
  p->half_mask = (UINT64_C(1) << p->half_bits) - 1;
  rk_rng rng;
  rk_rng_init(&rng, seed, rk_synth_stream(RK_SYNTH_TAG_PERM, tag));
  for (int r = 0; r < 4; r++) p->keys[r] = rk_rng_u64(&rng);
}

static uint64_t feistel(const rk_synth_perm *p, uint64_t x) {
  uint64_t l = x >> p->half_bits, r = x & p->half_mask;
  for (int round = 0; round < 4; round++) {
    uint64_t t = l ^ (mix64(r ^ p->keys[round]) & p->half_mask);
    l = r;
    r = t;
  }
  return (l << p->half_bits) | r;
}

uint64_t rk_synth_perm_apply(const rk_synth_perm *p, uint64_t x) {
  /* The domain is below 4n, so the walk takes fewer than 4 steps on average. */
  do x = feistel(p, x);
  while (x >= p->n);
  return x;
}

void rk_synth_zipf_init(rk_synth_zipf *z, int64_t n, double s) {
  z->n = n;
  z->s = s;
  z->log_n1 = log((double)n + 1.0);
  z->span = pow((double)n + 1.0, 1.0 - s) - 1.0;
}

static bool zipf_is_log(const rk_synth_zipf *z) { return fabs(z->s - 1.0) < 1e-9; }

/* F(x) = P(X < x) of the continuous law on [1, n+1). */
static double zipf_F(const rk_synth_zipf *z, double x) {
  if (x <= 1.0) return 0.0;
  if (x >= (double)z->n + 1.0) return 1.0;
  if (zipf_is_log(z)) return log(x) / z->log_n1;
  return (pow(x, 1.0 - z->s) - 1.0) / z->span;
}

int64_t rk_synth_zipf_sample(const rk_synth_zipf *z, double u) {
  double x = zipf_is_log(z) ? exp(u * z->log_n1) : pow(1.0 + u * z->span, 1.0 / (1.0 - z->s));
  int64_t k = (int64_t)x - 1;
  if (k < 0) k = 0;
  if (k >= z->n) k = z->n - 1;
  return k;
}

double rk_synth_zipf_pmf(const rk_synth_zipf *z, int64_t k) {
  return zipf_F(z, (double)k + 2.0) - zipf_F(z, (double)k + 1.0);
}

/* Dump and free `root` (NULL: out of memory), then write it atomically with a final newline. */
rk_status rk_synth_json_write(const char *path, json_t *root) {
  if (!root) return rk_error(RK_ENOMEM, "out of memory building the sidecar '%s'", path);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
  json_decref(root);
  if (!text) return rk_error(RK_ENOMEM, "out of memory writing the sidecar '%s'", path);
  size_t len = strlen(text);
  char *with_nl = rk_malloc(len + 2);
  if (!with_nl) {
    free(text);
    return rk_error(RK_ENOMEM, "out of memory writing the sidecar '%s'", path);
  }
  memcpy(with_nl, text, len);
  with_nl[len] = '\n';
  with_nl[len + 1] = '\0';
  free(text);
  rk_status s = rk_write_file_atomic(path, with_nl, len + 1);
  rk_free(with_nl);
  return s;
}


json_t *rk_synth_json_seed(uint64_t seed) {
  if (seed <= INT64_MAX) return json_integer((json_int_t)seed);
  char text[32];
  snprintf(text, sizeof text, "%llu", (unsigned long long)seed);
  return json_string(text);
}
