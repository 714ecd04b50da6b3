/*
 * The per-window split of the session ETL's output (src/etl/session_split.c): every session of
 * <sessions_path> goes to its window's folder (or files), shuffled with the seed and cut into
 * train, valid and test by the fractions.
 */
#ifndef RECKON_SESSION_SPLIT_H
#define RECKON_SESSION_SPLIT_H

#include "reckon/core.h"

typedef enum { RK_SESSION_LAYOUT_DAY_INDEX, RK_SESSION_LAYOUT_DATE_FILES, RK_SESSION_LAYOUT_PADDED_INDEX } rk_session_layout;

typedef struct {
  const char *sessions_path;  /* folder of all sessions: part_*.parquet + schema.pbtxt + .merlin/schema.json */
  const char *output_dir;     /* existing folder that receives the day folders/files */
  const char *window_column;  /* "day_index": 1-based window of each session */
  const char *time_column;    /* INT64 unix seconds, e.g. "timestamp-first": sorts rows inside each split */
  int64_t origin_s;           /* unix seconds at which window 1 starts (00:00 UTC of the first day, or its hour) */
  int64_t window_s;           /* 86400 or 3600 */
  double fracs[3];            /* train, valid, test; sum 1 */
  uint64_t seed;
  int threads;
  const char *compression;
  rk_session_layout layout;
} rk_session_split_options;

rk_status rk_session_split_write(const rk_session_split_options *o, int64_t *n_windows_out);

#endif
