/*
 * One training step's gradient over the pieces of its global batch, on one rank or many
 * (src/train/step_pieces.c; docs/distributed.md). Private to src/train.
 */
#ifndef RECKON_TRAIN_STEP_PIECES_H
#define RECKON_TRAIN_STEP_PIECES_H

#include "reckon/dist.h"
#include "reckon/model.h"

typedef struct step_pieces step_pieces;

/* Runs piece `piece` of the step: fills the graph, forward, backward (the gradients start at
 * zero), and writes the piece's n_extra values (its loss, ...) to extra. A piece without rows
 * leaves the gradients at zero and its extras at 0. */
typedef rk_status (*step_piece_fn)(void *ctx, int64_t piece, float *extra);

/* m's parameters, P pieces per step, n_extra values summed alongside the gradients, over the
 * ranks of d (NULL: one process). Across ranks the dense gradients go in buckets of about
 * bucket_bytes (>= 1), each sent as soon as backward has finished it (the bits do not depend on it). */
rk_status step_pieces_init(step_pieces **out, const rk_model *m, int64_t P, int n_extra, rk_dist *d,
                           int64_t bucket_bytes);
/* This rank's pieces: [*first, *first + *count). */
void step_pieces_mine(const step_pieces *sp, int64_t *first, int64_t *count);
/* One step: runs this rank's pieces, sums them with every rank's in the tree over pieces
 * (reckon/dist.h), and leaves in m's parameters the gradient of the global batch's mean loss
 * (the sum / P) and in extra (n_extra) the tree sum of the pieces' extras. The same bits on every
 * rank and for any number of ranks. One piece on one rank is the plain step: fn runs alone. */
rk_status step_pieces_run(step_pieces *sp, step_piece_fn fn, void *ctx, float *extra);
void step_pieces_free(step_pieces *sp);

/* What the exchange did since init (across ranks; zeros for one process). */
typedef struct {
  int64_t steps;                 /* steps whose gradients were exchanged */
  int64_t buckets;               /* buckets exchanged, over all steps */
  int64_t buckets_in_backward;   /* of those, started while backward still ran (the overlap) */
} step_pieces_stats;
step_pieces_stats step_pieces_stats_get(const step_pieces *sp);
/* Buckets per step (0 for one process). */
int step_pieces_bucket_count(const step_pieces *sp);

#endif
