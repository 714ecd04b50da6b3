/*
 * A served session model for the tests of src/serve/ (support_session_serve.c): a GPT-2 trained a
 * few steps by `reckon sessions` on the session ETL's output, its predictions for a slice of the
 * events, and its `reckon export --top_k` repository; and the events as request tensors.
 */
#ifndef RECKON_TEST_SESSION_SERVE_H
#define RECKON_TEST_SESSION_SERVE_H

#include "reckon/serve.h"
#include "support.h"

/* Builds in dir: clicks.csv (synthetic yoochoose sessions), w/ (the GPT-2), ev.csv (the first
 * events of clicks.csv without an empty cell: a tensor has no nulls), pred/predictions.parquet
 * (`reckon sessions --do_predict` of ev.csv, top k) and repo/ (models t4r, t4r_nvt, t4r_gpt2).
 * Returns the shell's exit status. */
int session_serve_fixture(const char *dir, int k);
/* The whole table at path (ev.csv: csv with the columns session_id, timestamp, item_id, category). */
void session_serve_read_table(const char *path, bool csv, rk_batch *out);
/* Rows [first, first + n) of an events column as a tensor's bytes of datatype dt (INT64 values or
 * BYTES strings); free() them. */
void *session_serve_tensor_bytes(const rk_column *col, rk_serve_dtype dt, int64_t first, int64_t n, int64_t *nbytes);

#endif
