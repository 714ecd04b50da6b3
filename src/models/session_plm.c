/*
 * XLNet's permutation LM for one session (Yang et al. 2019, sec. 2.2-2.3), as Transformers4Rec's
 * masking.py (PermutationLanguageModeling, after Hugging Face's DataCollatorForPermutationLanguage-
 * Modeling) defines it per phase. `hidden` (T, T): 1 where query row i may not see key row j.
 *
 *   TRAIN    spans: from cur = 0 while cur < n: L ~ U{1..plm_max_span_length}, a context of
 *            C = int(L / plm_probability) items, the span [cur + U{0..C-L}, +L) masked, cur += C
 *            (plm_permute_all: every item); at least one item masked, and when every item is,
 *            one of them unmasked. Masked rows predict their own item. A random order of the T
 *            rows (unmasked rows first, at -1): row i sees masked row j only when j comes before
 *            it in that order, so no row sees its own masked item, nor does an unmasked row see a
 *            masked one: hidden(i, j) = order(i) <= order(j) and j masked.
 *   EVAL     last item only: row n-1 predicts its item; every row is causal and no row sees row
 *            n-1 (the query stream reads it); else, as masking.py's predict_all, row t predicts
 *            item t+1, causal.
 *   PREDICT  the items, then row n ([MASK]) that no row sees, causal; read: row n. The reference
 *            reads the content stream at row n-1 there, which it never trained to predict the
 *            next item (its paper script marks the discrepancy as a TODO): reckon predicts as it
 *            evaluates, one row further.
 * plm_mask_input: the masked rows' content input is [MASK] too (else their item, hidden from the
 * rows that may not see it by the mask alone). Draws: the session's stream (session_masking.c's).
 * Not the other tasks' masking (session_masking.c), nor the two streams (session_xlnet.c).
 */
#include <string.h>

#include "session_internal.h"

static void plm_spans(const rk_session_mask_rule *r, int64_t n, rk_rng *rng, int64_t *masked) {
  if (r->plm_permute_all) {
    for (int64_t t = 0; t < n; t++) masked[t] = 1;
    return;
  }
  for (int64_t cur = 0; cur < n;) {
    int64_t span = 1 + (int64_t)rk_rng_below(rng, (uint64_t)r->plm_max_span_length);
    int64_t context = (int64_t)((double)span / r->plm_probability);
    if (context < span) context = span;   /* plm_probability 1 rounding down */
    int64_t start = cur + (int64_t)rk_rng_below(rng, (uint64_t)(context - span + 1));
    for (int64_t t = start; t < start + span && t < n; t++) masked[t] = 1;
    cur += context;
  }
}

static void plm_train(const rk_session_mask_rule *r, int64_t n, rk_rng *rng, int64_t *masked, int64_t *hidden) {
  const int64_t T = r->T;
  plm_spans(r, n, rng, masked);
  int64_t count = 0;
  for (int64_t t = 0; t < n; t++) count += masked[t];
  if (count == 0) masked[rk_rng_below(rng, (uint64_t)n)] = 1, count = 1;
  if (count == n) {   /* every item masked: the k-th masked one is seen */
    int64_t k = (int64_t)rk_rng_below(rng, (uint64_t)count);
    for (int64_t t = 0; t < n; t++)
      if (masked[t] && k-- == 0) masked[t] = 0;
  }
  /* The order: a random permutation of the T rows (Fisher-Yates), unmasked rows at -1. */
  int64_t order[4096];
  for (int64_t t = 0; t < T; t++) order[t] = t;
  for (int64_t t = T - 1; t > 0; t--) {
    int64_t u = (int64_t)rk_rng_below(rng, (uint64_t)(t + 1)), x = order[t];
    order[t] = order[u], order[u] = x;
  }
  for (int64_t t = 0; t < T; t++)
    if (!masked[t]) order[t] = -1;
  for (int64_t i = 0; i < T; i++)
    for (int64_t j = 0; j < T; j++) hidden[i * T + j] = masked[j] && order[i] <= order[j];
}

/* Causal, and no row sees row `blind` (-1: none). */
static void plm_causal(int64_t T, int64_t blind, int64_t *hidden) {
  for (int64_t i = 0; i < T; i++)
    for (int64_t j = 0; j < T; j++) hidden[i * T + j] = j > i || j == blind;
}

void rk_session_plm_mask(const rk_session_mask_rule *r, rk_session_phase phase, const int64_t *items, int64_t n,
                         rk_rng *rng, int64_t *mask, int64_t *keys, int64_t *labels, int64_t *reads, int64_t *targets,
                         int64_t *hidden) {
  const int64_t T = r->T, K = r->K;
  int64_t masked[4096] = {0};   /* T <= 2^12 (session_seq_length_max's range) */
  for (int64_t t = 0; t < T; t++) {
    mask[t] = 0;
    keys[t] = t < n;
    labels[t] = r->pad;
  }
  for (int64_t k = 0; k < K; k++) reads[k] = -1, targets[k] = 0;
  memset(hidden, 0, (size_t)(T * T) * sizeof *hidden);
  if (n < 1) return;
  if (phase == RK_SESSION_PHASE_PREDICT) {   /* the feed kept T - 1 items: row n is free */
    mask[n] = keys[n] = 1;
    plm_causal(T, n, hidden);
    reads[0] = n;
    return;
  }
  bool last_only = phase == RK_SESSION_PHASE_TRAIN ? false : r->eval_last_only;
  if (phase == RK_SESSION_PHASE_TRAIN) {
    plm_train(r, n, rng, masked, hidden);
    for (int64_t t = 0; t < n; t++)
      if (masked[t]) labels[t] = items[t];
  } else if (last_only) {
    masked[n - 1] = 1;
    labels[n - 1] = items[n - 1];
    plm_causal(T, n - 1, hidden);
  } else {   /* predict_all: row t predicts t + 1; inputs stay visible */
    for (int64_t t = 0; t < n - 1; t++) labels[t] = items[t + 1];
    plm_causal(T, -1, hidden);
  }
  if (r->plm_mask_input)
    for (int64_t t = 0; t < n; t++) mask[t] = masked[t];
  int64_t k = 0;
  for (int64_t t = 0; t < T; t++) {
    if (labels[t] == r->pad) continue;
    if (k == K) k = K - 1;   /* K = 1: keep the last */
    reads[k] = t;
    targets[k++] = labels[t];
  }
}
