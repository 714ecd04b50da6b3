/*
 * Many Parquet files read as one table: a folder's *.parquet files in natural order
 * (part_2 before part_10), each checked at open for the same selected columns and types, then
 * streamed file after file through rk_parquet_next. It is not a partitioned-dataset reader
 * (no hive-style key=value folders) and does not recurse into sub-folders.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/parquet/parquet_internal.h"

struct rk_parquet_dataset {
  int nfiles;
  char **files;
  int64_t rows;
  rk_parquet_read_options opts;
  int ncols;
  rk_parquet_column_info *cols;
  char **col_names;
  int current;
  rk_parquet_reader *reader;
};

/* Natural order: runs of digits compare by value. */
static int natural_cmp(const char *a, const char *b) {
  while (*a && *b) {
    if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
      while (*a == '0') a++;
      while (*b == '0') b++;
      size_t na = 0, nb = 0;
      while (a[na] >= '0' && a[na] <= '9') na++;
      while (b[nb] >= '0' && b[nb] <= '9') nb++;
      if (na != nb) return na < nb ? -1 : 1;
      int c = strncmp(a, b, na);
      if (c) return c;
      a += na, b += nb;
      continue;
    }
    if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
    a++, b++;
  }
  return *a ? 1 : *b ? -1 : 0;
}

static int natural_qsort(const void *x, const void *y) { return natural_cmp(*(char *const *)x, *(char *const *)y); }

static bool is_parquet_name(const char *n) {
  size_t len = strlen(n);
  return n[0] != '.' && len > 8 && strcmp(n + len - 8, ".parquet") == 0;
}

static rk_status list_files(rk_parquet_dataset *ds, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return rk_error(errno == ENOENT ? RK_ENOTFOUND : RK_EIO, "cannot open '%s': %s", path, strerror(errno));
  if (!S_ISDIR(st.st_mode)) {
    ds->files = rk_calloc(1, sizeof *ds->files);
    if (!ds->files || !(ds->files[0] = rk_strdup(path))) return RK_ENOMEM;
    ds->nfiles = 1;
    return RK_OK;
  }
  DIR *d = opendir(path);
  if (!d) return rk_error(RK_EIO, "cannot open folder '%s': %s", path, strerror(errno));
  int cap = 0;
  rk_status s = RK_OK;
  struct dirent *e;
  while (s == RK_OK && (e = readdir(d)) != NULL) {
    if (!is_parquet_name(e->d_name)) continue;
    if (ds->nfiles == cap) {
      cap = cap ? cap * 2 : 16;
      char **f = rk_realloc(ds->files, (size_t)cap * sizeof *f);
      if (!f) {
        s = RK_ENOMEM;
        break;
      }
      ds->files = f;
    }
    size_t n = strlen(path) + strlen(e->d_name) + 2;
    char *full = rk_malloc(n);
    if (!full) {
      s = RK_ENOMEM;
      break;
    }
    snprintf(full, n, "%s/%s", path, e->d_name);
    ds->files[ds->nfiles++] = full;
  }
  closedir(d);
  RK_TRY(s);
  if (ds->nfiles == 0) return rk_error(RK_ENOTFOUND, "no .parquet files in '%s'", path);
  qsort(ds->files, (size_t)ds->nfiles, sizeof *ds->files, natural_qsort);
  return RK_OK;
}

/* Open every footer: count rows and check that the columns agree with the first file. */
static rk_status check_files(rk_parquet_dataset *ds) {
  for (int f = 0; f < ds->nfiles; f++) {
    rk_parquet_reader *r;
    RK_TRY(rk_parquet_open(&r, ds->files[f], &ds->opts));
    rk_status s = RK_OK;
    if (f == 0) {
      ds->ncols = rk_parquet_num_columns(r);
      ds->cols = rk_calloc((size_t)(ds->ncols ? ds->ncols : 1), sizeof *ds->cols);
      ds->col_names = rk_calloc((size_t)(ds->ncols ? ds->ncols : 1), sizeof *ds->col_names);
      if (!ds->cols || !ds->col_names) s = RK_ENOMEM;
      for (int c = 0; c < ds->ncols && s == RK_OK; c++) {
        ds->cols[c] = *rk_parquet_column(r, c);
        if (!(ds->col_names[c] = rk_strdup(ds->cols[c].name))) s = RK_ENOMEM;
        ds->cols[c].name = ds->col_names[c];
        ds->cols[c].unsupported = NULL;
      }
    } else if (rk_parquet_num_columns(r) != ds->ncols) {
      s = rk_error(RK_ESHAPE, "cannot read dataset: '%s' has %d columns, '%s' has %d", ds->files[f], rk_parquet_num_columns(r),
                   ds->files[0], ds->ncols);
    } else {
      for (int c = 0; c < ds->ncols && s == RK_OK; c++) {
        const rk_parquet_column_info *a = rk_parquet_column(r, c), *b = &ds->cols[c];
        if (strcmp(a->name, b->name) != 0 || a->type != b->type || (a->type == RK_COL_LIST && a->elem_type != b->elem_type))
          s = rk_error(RK_ESHAPE, "cannot read dataset: column %d is '%s' (%s) in '%s' but '%s' (%s) in '%s'", c, a->name,
                       rk_coltype_name(a->type), ds->files[f], b->name, rk_coltype_name(b->type), ds->files[0]);
      }
    }
    ds->rows += rk_parquet_num_rows(r);
    rk_parquet_close(r);
    RK_TRY(s);
  }
  return RK_OK;
}

rk_status rk_parquet_dataset_open(rk_parquet_dataset **out, const char *path, const rk_parquet_read_options *opts) {
  *out = NULL;
  rk_parquet_dataset *ds = rk_calloc(1, sizeof *ds);
  if (!ds) return RK_ENOMEM;
  if (opts) ds->opts = *opts;
  else rk_parquet_read_options_default(&ds->opts);
  ds->opts.label = NULL;
  rk_status s = list_files(ds, path);
  if (s == RK_OK) s = check_files(ds);
  if (s != RK_OK) {
    rk_parquet_dataset_close(ds);
    return s;
  }
  *out = ds;
  return RK_OK;
}

int rk_parquet_dataset_num_files(const rk_parquet_dataset *ds) { return ds->nfiles; }
const char *rk_parquet_dataset_file(const rk_parquet_dataset *ds, int i) { return i >= 0 && i < ds->nfiles ? ds->files[i] : NULL; }
int64_t rk_parquet_dataset_num_rows(const rk_parquet_dataset *ds) { return ds->rows; }
int rk_parquet_dataset_num_columns(const rk_parquet_dataset *ds) { return ds->ncols; }
const rk_parquet_column_info *rk_parquet_dataset_column(const rk_parquet_dataset *ds, int col) {
  return col >= 0 && col < ds->ncols ? &ds->cols[col] : NULL;
}

rk_status rk_parquet_dataset_next(rk_parquet_dataset *ds, rk_batch *batch) {
  for (;;) {
    if (!ds->reader) {
      if (ds->current >= ds->nfiles) {
        rk_batch_clear(batch);
        return RK_OK;
      }
      RK_TRY(rk_parquet_open(&ds->reader, ds->files[ds->current++], &ds->opts));
    }
    RK_TRY(rk_parquet_next(ds->reader, batch));
    if (batch->nrows > 0) return RK_OK;
    rk_parquet_close(ds->reader);
    ds->reader = NULL;
  }
}

void rk_parquet_dataset_close(rk_parquet_dataset *ds) {
  if (!ds) return;
  rk_parquet_close(ds->reader);
  for (int i = 0; i < ds->nfiles; i++) rk_free(ds->files[i]);
  rk_free(ds->files);
  for (int c = 0; ds->col_names && c < ds->ncols; c++) rk_free(ds->col_names[c]);
  rk_free(ds->col_names);
  rk_free(ds->cols);
  rk_free(ds);
}
