/*
 * The per-window split of a session dataset (issue 17, step 7 of the Transformers4Rec ETL): every
 * window (day or hour) of sessions is shuffled with the seed and cut into train, valid and test,
 * each sorted by time, and written in one of three layouts. It is not the session ETL that makes
 * the sessions (src/etl/session*.c), nor the publishing of the output folder, which its caller
 * stages and publishes as a set (src/core/output.c).
 *
 * Reference: Transformers4Rec's save_time_based_splits (transformers4rec/data/preprocessing.py),
 * as used by the 01-ETL-with-NVTabular notebook; docs/sessions.md, "The per-day split", says where we differ.
 */
#ifndef RECKON_ETL_SESSION_SPLIT_H
#define RECKON_ETL_SESSION_SPLIT_H

#include "reckon/core.h"

typedef enum {
  RK_SESSION_LAYOUT_DAY_INDEX,      /* <out>/<window>/{train,valid,test}.parquet, NVTabular's (unpadded) */
  RK_SESSION_LAYOUT_DATE_FILES,     /* <out>/session_start_date=YYYY-MM-DD[THH]-{train,valid,test}.parquet */
  RK_SESSION_LAYOUT_PADDED_INDEX    /* <out>/<window zero-padded to 4>/{train,valid,test}.parquet */
} rk_session_layout;

typedef struct {
  const char *sessions_path;  /* folder of all sessions: part_*.parquet + schema.pbtxt + .merlin/schema.json */
  const char *output_dir;     /* existing folder that receives the day folders/files */
  const char *window_column;  /* "day_index": 1-based window of each session */
  const char *time_column;    /* INT64 unix seconds, e.g. "timestamp-first": sorts rows inside each split */
  int64_t origin_s;           /* unix seconds at which window 1 starts (00:00 UTC of the first day, or its hour) */
  int64_t window_s;           /* 86400 or 3600 */
  double fracs[3];            /* train, valid, test; sum 1 */
  uint64_t seed;
  int threads;                /* <= 0: rk_num_threads() */
  const char *compression;    /* of the split files; NULL: snappy */
  rk_session_layout layout;
} rk_session_split_options;

/* Split every window of o->sessions_path into o->output_dir; *n_windows_out (may be NULL): the
 * windows written, those with at least one session. Reads the sessions once; holds at most a few
 * windows per thread in memory (docs/sessions.md, "The per-day split"); output is byte-identical for any thread
 * count. On failure some windows may be written whole: the caller discards its staged output. */
rk_status rk_session_split_write(const rk_session_split_options *o, int64_t *n_windows_out);

/* Session counts of a window of n sessions: train round(n * f0), valid round(n * f1), test the
 * rest (round = half up; valid shrinks when the two exceed n). */
void rk_session_split_counts(int64_t counts[3], int64_t n, const double fracs[3]);

/* "day_index", "date_files", "padded_index" (--session_output_layout); RK_EUSAGE naming the flag. */
rk_status rk_session_layout_parse(const char *name, rk_session_layout *out);
const char *rk_session_layout_name(rk_session_layout layout);

#endif /* RECKON_ETL_SESSION_SPLIT_H */
