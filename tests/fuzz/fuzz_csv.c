/*
 * Fuzz target: the CSV reader over arbitrary bytes. The first byte picks the options (separator,
 * header or not, a null marker, a typed column, a short type-inference window, small batches,
 * one or two parse threads); the rest is the file, given to reckon as an in-memory file (memfd)
 * opened by path like any other. Every batch is read to the end, so type inference, the
 * parallel chunking, quoting and every conversion see whatever the bytes hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reckon/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t pick = data[0];
  int fd = memfd_create("fuzz.csv", 0);
  if (fd < 0) return 0;
  if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

  static const char seps[4] = {',', '\t', ';', '|'};
  static const char *const na[] = {"\\N"};
  static const char *const names[] = {"a", "b", "c"};
  static const char *const typed[] = {"a"};
  static const rk_coltype typed_types[] = {RK_COL_INT32};
  rk_csv_options o;
  rk_csv_options_default(&o);
  o.sep = seps[pick & 3];
  o.header = !(pick & 4);
  if (!o.header) o.column_names = names, o.n_column_names = 3;
  if (pick & 8) o.na_values = na, o.n_na_values = 1;
  if (pick & 16) o.typed_names = typed, o.typed_types = typed_types, o.n_typed = 1;
  o.infer_rows = (pick & 32) ? 2 : 10000;   /* 2: a later row of another type must be an error */
  o.batch_rows = (pick & 64) ? 3 : 65536;
  o.threads = (pick & 128) ? 2 : 1;
  o.label = "fuzz.csv";

  rk_csv_reader *r = NULL;
  if (rk_csv_open(&r, path, &o) == RK_OK) {
    for (int c = 0; c < rk_csv_num_columns(r); c++) (void)rk_csv_column_name(r, c);
    rk_batch b = {0};
    while (rk_csv_next(r, &b) == RK_OK && b.nrows > 0) {
    }
    rk_batch_free(&b);
    rk_csv_close(r);
  }
  close(fd);
  return 0;
}
