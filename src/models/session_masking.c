/*
 * Which rows of a session hold [MASK], which predict which item, and which rows are read: the
 * masking of Transformers4Rec's masking.py (causal LM, masked LM) per phase, for one session at
 * a time (the feed calls it per session; reckon/sessions.h states the rules).
 *
 * Where reckon differs from the reference, on purpose (docs/session_models.md):
 *   - causal LM keeps the same inputs in every phase: rows 0..n-2 hold their items, the rest
 *     [MASK]. The reference, with train_on_last_item_seq_only or eval_on_last_item_seq_only,
 *     replaces every row but n-2 by [MASK] (its mask schema is the label mask), so a causal model
 *     was trained or evaluated seeing one item (t4rec-notes 1.4, caveat b);
 *   - the draws come from (seed, step, session), not torch's global generator, so a resumed run
 *     masks as the uninterrupted one did.
 */
#include <string.h>

#include "session_internal.h"

void rk_session_mask_rng(rk_rng *rng, uint64_t seed, uint64_t step, int64_t b) {
  rk_rng_init(rng, seed ^ UINT64_C(0x6d61736b696e6721), (step << 24) ^ (uint64_t)b);
}

/* Masked LM training: Bernoulli(p) over the items, then one random item masked, then, when
 * every item is masked, one random masked item unmasked (masking.py's order of draws). */
static void mlm_train(const rk_session_mask_rule *r, const int64_t *items, int64_t n, rk_rng *rng, int64_t *mask,
                      int64_t *labels) {
  if (n < 1) return;
  int64_t masked = 0;
  for (int64_t t = 0; t < n; t++) masked += mask[t] = rk_rng_bernoulli(rng, r->mlm_probability);
  int64_t force = (int64_t)rk_rng_below(rng, (uint64_t)n);
  masked += !mask[force];
  mask[force] = 1;
  if (masked == n) mask[rk_rng_below(rng, (uint64_t)n)] = 0;   /* every item is masked: one is seen */
  for (int64_t t = 0; t < n; t++)
    if (mask[t]) labels[t] = items[t];
}

void rk_session_mask(const rk_session_mask_rule *r, rk_session_phase phase, const int64_t *items, int64_t n,
                     rk_rng *rng, int64_t *mask, int64_t *keys, int64_t *labels, int64_t *reads, int64_t *targets) {
  const int64_t T = r->T, K = r->K;
  for (int64_t t = 0; t < T; t++) {
    mask[t] = 0;
    keys[t] = t < n;
    labels[t] = r->pad;
  }
  for (int64_t k = 0; k < K; k++) reads[k] = -1, targets[k] = 0;
  if (phase == RK_SESSION_PHASE_PREDICT) {
    if (n < 1) return;
    if (r->mlm) {   /* a [MASK] row after the items, read */
      mask[n] = keys[n] = 1;
      reads[0] = n;
    } else {
      for (int64_t t = n; t < T; t++) mask[t] = 1;
      reads[0] = n - 1;
    }
    return;
  }
  bool last_only = phase == RK_SESSION_PHASE_TRAIN ? r->train_last_only : r->eval_last_only;
  if (!r->mlm) {   /* row t predicts item t + 1; rows without a next item hold [MASK] */
    for (int64_t t = 0; t < T; t++) mask[t] = t >= n - 1;
    for (int64_t t = last_only ? n - 2 : 0; t >= 0 && t < n - 1; t++) labels[t] = items[t + 1];
  } else if (phase == RK_SESSION_PHASE_TRAIN) {
    mlm_train(r, items, n, rng, mask, labels);
  } else if (last_only) {   /* the last item masked, predicting itself */
    if (n >= 1) mask[n - 1] = 1, labels[n - 1] = items[n - 1];
  } else {   /* masking.py's predict_all: every row with a next item masked, predicting it */
    for (int64_t t = 0; t < n - 1; t++) mask[t] = 1, labels[t] = items[t + 1];
  }
  /* The rows read: the labelled ones in order, at most K (K = 1: the last). */
  int64_t k = 0;
  for (int64_t t = 0; t < T; t++) {
    if (labels[t] == r->pad) continue;
    if (k == K) k = K - 1;   /* only when K = 1 can labelled rows outnumber K: keep the last */
    reads[k] = t;
    targets[k++] = labels[t];
  }
}
