/*
 * Test support for the model tests (support_ranking_data.c): a small ranking schema (user_id and
 * item_id categorical, age continuous, click a binary target) and batches of n rows that fit it.
 */
#ifndef RECKON_TEST_RANKING_DATA_H
#define RECKON_TEST_RANKING_DATA_H

#include "reckon/io.h"
#include "reckon/schema.h"

/* user_id (50 rows), item_id (30, tagged item_id), age (continuous); click target. */
void ranking_schema(rk_schema *s);
/* n rows: user 3 + r % 40, item 3 + (r * 7) % 25, age r / 10, click r % 3 == 0. */
void ranking_batch(rk_batch *b, int64_t n);

#endif
