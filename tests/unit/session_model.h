/*
 * The small session model the unit tests build (tests/unit/support_session_model.c): its
 * features (category-list, item_id-list of SESSION_TEST_ITEMS items, optionally price-list), a
 * small configuration, batches of list columns whose values follow the row and the position, and
 * the hidden vectors a forward reads. Not a reference: tests compare models built from it.
 */
#ifndef RECKON_TEST_SESSION_MODEL_H
#define RECKON_TEST_SESSION_MODEL_H

#include "reckon/sessions.h"
#include "support.h"

#define SESSION_TEST_ITEMS 20

/* category-list (6 ids) and item_id-list (the item), then price-list (continuous) when with_price. */
void session_test_features(rk_session_features *f, bool with_price);
/* kind, d_model 8, 2 layers of 2 heads, sessions of at most 5 items, item dim 6, no dropout, seed 7. */
void session_test_config(rk_session_config *c, rk_session_model_kind kind);
/* A list column of `rows` sessions, lens[r] values each: ints 1 + (3r + 2t) % modulo, or the
 * floats 0.25 r - 0.1 t when !ints (modulo unused). */
void session_test_list_column(rk_column *col, const char *name, bool ints, int rows, const int *lens, int64_t modulo);
/* A batch of the features' columns, in session_test_features' order. */
void session_test_batch(rk_batch *b, int rows, const int *lens, bool with_price);
/* m's hidden vectors in `phase` after feeding b through feed (eval mode). */
void session_test_hidden(rk_model *m, rk_model_feed *feed, const rk_batch *b, rk_session_phase phase, float *out);
/* The allocation-failure walk's operation (rk_test_walk_failures): build a train model of f and c
 * for batches of 2, share it as an inference graph for 3 (attention weights kept), make its feed,
 * free all; returns the first failure's status. */
rk_status session_test_build_share_feed(const rk_session_features *f, const rk_session_config *c);

#define SESSION_TEST_MAX_PARAMS 128
/* One train step's loss and a copy of every (dense) gradient. */
typedef struct {
  float loss;
  float *grads[SESSION_TEST_MAX_PARAMS];
} session_test_pass;
/* One train step of m on b (a fresh feed, step 3: the same draws for every model of one build);
 * the graph keeps its values after it (an output such as the RTD draws stays readable). */
void session_test_train_pass(rk_model *m, const rk_batch *b, session_test_pass *out);
/* Model m's pass a against another graph's pass u of the same parameters (packed against
 * unpacked): equal loss and every gradient to float rounding, failing with `what` and the
 * parameter's name; frees both passes' copies. */
void session_test_expect_same_pass(const char *what, const rk_model *m, session_test_pass *a, session_test_pass *u);

#endif
