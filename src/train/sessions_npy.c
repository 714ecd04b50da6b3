/*
 * NumPy's .npy format, version 1.0 (numpy/lib/format.py; NEP 1): the magic "\x93NUMPY", the
 * version bytes 1 0, a little-endian uint16 header length, then a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces and ended by
 * a newline so the data starts at a multiple of 64 bytes, then the raw values in C order.
 * numpy.load reads it without pickle (allow_pickle=False). Used for the attention weights that
 * the reference wrote as pickles.
 */
#include <stdio.h>
#include <string.h>

#include "sessions_internal.h"

rk_status rk_npy_write(const char *path, const char *dtype, const int64_t *shape, int ndim, const void *data) {
  size_t width = strcmp(dtype, "<i8") == 0 ? 8 : 4;
  char dict[256];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype);
  size_t count = 1;
  for (int i = 0; i < ndim; i++) {
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[i], ndim == 1 || i < ndim - 1 ? ", " : "");
    count *= (size_t)shape[i];
  }
  if (ndim == 1) n -= 1;   /* "(5,)" */
  n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
  size_t header = 10 + (size_t)n + 1, padded = (header + 63) / 64 * 64;
  char head[320];
  memcpy(head, "\x93NUMPY\x01\x00", 8);
  uint16_t len = (uint16_t)(padded - 10);
  head[8] = (char)(len & 0xff), head[9] = (char)(len >> 8);
  memcpy(head + 10, dict, (size_t)n);
  memset(head + 10 + n, ' ', padded - header);
  head[padded - 1] = '\n';
  size_t total = padded + count * width;
  char *buf = rk_malloc(total);
  if (!buf) return RK_ENOMEM;
  memcpy(buf, head, padded);
  if (count) memcpy(buf + padded, data, count * width);
  rk_status st = rk_write_file_atomic(path, buf, total);
  rk_free(buf);
  return st;
}
