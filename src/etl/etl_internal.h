/*
 * Private helpers of src/etl/: casts with range checks, row selection, the categorify fit.
 */
#ifndef RECKON_ETL_INTERNAL_H
#define RECKON_ETL_INTERNAL_H

#include "reckon/etl.h"

/* dst (freed and re-initialised here, named like src) = the rows r of src with keep[r] != 0
 * (keep NULL: every row), converted to `to` with range checks. Integers must fit; floats going
 * to integers must be whole (NaN becomes null); strings are parsed. Errors name the value, the
 * input row (row_base + r + 1, 1-based as the input counts its data rows), the column and
 * `label` (the input file): "value '300' in 'x.csv' row 12, column 'age' does not fit int8".
 * A float result that is infinite (an infinite input, or a value past float32's range) or text
 * that reads as inf or nan is an error, or null when non_finite says so: this is where every
 * value entering the pipeline passes, so fitted statistics never see one. A NaN in a binary
 * float column is missing, as it always was. A list column taken as a list (to RK_COL_LIST) keeps
 * its kept rows as they are: list values are not cast. */
rk_status rk_etl_cast_take(rk_column *dst, const rk_column *src, rk_coltype to, const uint8_t *keep,
                           int64_t row_base, const char *label, rk_non_finite non_finite);

/* Make col an empty column named `name` of `type`, keeping its buffers when it already is one
 * (batches come one after another, so steady state allocates nothing). */
rk_status rk_etl_column_reset(rk_column *col, const char *name, rk_coltype type);

/* A column value as double (NaN for null); ints exactly where they fit in 53 bits. */
double rk_etl_value_double(const rk_column *col, int64_t row);

/* The categorify fit (src/etl/workflow.c), shared by tabular preprocessing (fit.c) and the session
 * ETL: values counted at least max(1, min_freq) times, by descending count then ascending value,
 * become ids 3..; remap[i] = id of dictionary index i (2 for rare ones). Fills wc->vocab, freq
 * and cardinality. */
rk_status rk_wf_categorify_fit(rk_wf_column *wc, const rk_dict *dict, const int64_t *count, int64_t nulls,
                               int64_t *remap, int64_t *vocabulary_size, int64_t *rare);
/* A categorify column's schema entry (int domain, cat_path, embedding sizes, tags) under `name`. */
rk_status rk_wf_schema_column(const rk_wf_column *c, const char *name, rk_schema *out, rk_schema_column **sc);

#endif
