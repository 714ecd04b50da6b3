/*
 * Private parts shared by the CSV reader, the CSV writer and their tests: the compression codec
 * picked by extension, the "C" locale used for number text, and the reader's tuning knobs
 * (block and chunk sizes) that tests turn down to force many block and chunk boundaries.
 * It is not a public API: nothing outside src/io/ and tests/unit/test_csv*.c includes it.
 */
#ifndef RECKON_IO_CSV_INTERNAL_H
#define RECKON_IO_CSV_INTERNAL_H

#include <locale.h>

#include "reckon/io.h"

typedef enum { RK_CSV_PLAIN, RK_CSV_GZIP, RK_CSV_ZSTD } rk_csv_codec;

/* ".gz" -> gzip, ".zst" -> zstd, anything else plain. */
rk_csv_codec rk_csv_codec_of(const char *path);

/* A "C" locale for strtod_l and snprintf, so a host program's setlocale() never turns "0.5"
 * into "0,5". (locale_t)0 when it cannot be created (the callers then use the global locale). */
locale_t rk_csv_c_locale(void);

typedef struct {
  int64_t block_bytes;   /* input bytes read per block (0: 32 MiB); records never straddle blocks */
  int64_t chunk_bytes;   /* bytes per parallel parse chunk (0: sized from batch_rows and row width) */
} rk_csv_tuning;

/* rk_csv_open with explicit block and chunk sizes (tests cut tiny, random boundaries). */
rk_status rk_csv_open_tuned(rk_csv_reader **reader, const char *path, const rk_csv_options *opts,
                            const rk_csv_tuning *tuning);

#endif /* RECKON_IO_CSV_INTERNAL_H */
