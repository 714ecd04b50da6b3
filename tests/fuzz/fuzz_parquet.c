/*
 * Fuzz target: a whole Parquet file. The bytes become an in-memory file (memfd) that reckon
 * opens by path like any other; then every column of every row group is decoded and every
 * chunk's statistics are read. Covers the footer (Thrift), page headers, every decoder and
 * codec, and the size checks that stop decompression bombs.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reckon/parquet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int fd = memfd_create("fuzz.parquet", 0);
  if (fd < 0) return 0;
  if (write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  rk_parquet_reader *r = NULL;
  if (rk_parquet_open(&r, path, NULL) == RK_OK) {
    for (int g = 0; g < rk_parquet_num_row_groups(r); g++) {
      for (int c = 0; c < rk_parquet_num_columns(r); c++) {
        rk_parquet_stats st;
        rk_parquet_chunk_info info;
        (void)rk_parquet_statistics(&st, r, g, c);
        (void)rk_parquet_chunk(&info, r, g, c);
      }
    }
    rk_batch b = {0};
    while (rk_parquet_next(r, &b) == RK_OK && b.nrows > 0) {
    }
    rk_batch_free(&b);
    rk_parquet_close(r);
  }
  close(fd);
  return 0;
}
