/*
 * Private helpers of src/etl/: casts with range checks, row selection.
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
 * float column is missing, as it always was. */
rk_status rk_etl_cast_take(rk_column *dst, const rk_column *src, rk_coltype to, const uint8_t *keep,
                           int64_t row_base, const char *label, rk_non_finite non_finite);

/* Make col an empty column named `name` of `type`, keeping its buffers when it already is one
 * (batches come one after another, so steady state allocates nothing). */
rk_status rk_etl_column_reset(rk_column *col, const char *name, rk_coltype type);

/* A column value as double (NaN for null); ints exactly where they fit in 53 bits. */
double rk_etl_value_double(const rk_column *col, int64_t row);

#endif
