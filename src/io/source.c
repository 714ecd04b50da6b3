/*
 * Table sources: one interface over the CSV reader and the Parquet dataset reader, so commands
 * (inspect, convert, preprocess) read any input the same way. The twin of src/io/sink.c.
 * It is not: a reader itself; each source wraps one and adds projection where the reader has none.
 */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "reckon/io.h"
#include "reckon/parquet.h"

void rk_source_options_default(rk_source_options *opts) { memset(opts, 0, sizeof *opts); }

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool rk_source_is_parquet(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (!d) return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));) found = ends_with(e->d_name, ".parquet");
    closedir(d);
    return found;
  }
  return ends_with(path, ".parquet") || ends_with(path, ".parq");
}

/* ---- CSV ------------------------------------------------------------------------------------ */
typedef struct {
  rk_table_source base;
  rk_csv_reader *reader;
  int64_t file_bytes;       /* on disk; compressed inputs report progress by lines read instead */
  bool compressed;
  int *select;              /* projection: reader column of each output column, or NULL */
  int nselect;
  rk_batch scratch;         /* the reader's batch when projecting */
} csv_source;

static rk_status csv_next(rk_table_source *src, rk_batch *batch) {
  csv_source *s = (csv_source *)src;
  if (!s->select) return rk_csv_next(s->reader, batch);
  bool identity = s->nselect == rk_csv_num_columns(s->reader), distinct = true;
  for (int i = 0; identity && i < s->nselect; i++) identity = s->select[i] == i;
  if (identity) return rk_csv_next(s->reader, batch);   /* every column in order: nothing to copy */
  for (int i = 0; i < s->nselect; i++)
    for (int j = 0; j < i; j++) distinct &= s->select[i] != s->select[j];
  RK_TRY(rk_csv_next(s->reader, &s->scratch));
  /* Hand the selected columns over: each is taken once, so buffers can change places (the
   * reader refills whatever the scratch batch holds); a column asked for twice is copied. */
  if (batch->ncols != s->nselect) {
    rk_batch_free(batch);
    RK_TRY(rk_batch_init(batch, s->nselect));
    for (int i = 0; i < s->nselect; i++) {
      const rk_column *from = &s->scratch.cols[s->select[i]];
      RK_TRY(rk_column_init(&batch->cols[i], from->name, from->type, from->child ? from->child->type : RK_COL_INT64));
    }
  }
  for (int i = 0; i < s->nselect; i++) {
    rk_column *from = &s->scratch.cols[s->select[i]];
    if (distinct) {
      rk_column t = batch->cols[i];
      char *keep = t.name;
      batch->cols[i] = *from;
      *from = t;
      from->name = batch->cols[i].name;   /* names stay with their columns */
      batch->cols[i].name = keep;
      continue;
    }
    rk_column_clear(&batch->cols[i]);
    RK_TRY(rk_column_append_column(&batch->cols[i], from, 0, from->length));
  }
  batch->nrows = s->scratch.nrows;
  return RK_OK;
}

static double csv_fraction(rk_table_source *src) {
  csv_source *s = (csv_source *)src;
  if (s->file_bytes <= 0 || s->compressed) return -1.0;
  double f = (double)rk_csv_bytes_read(s->reader) / (double)s->file_bytes;
  return f > 1.0 ? 1.0 : f;
}

static int64_t csv_total_rows(rk_table_source *src) {
  (void)src;
  return -1;
}

static void csv_close(rk_table_source *src) {
  csv_source *s = (csv_source *)src;
  rk_csv_close(s->reader);
  rk_batch_free(&s->scratch);
  rk_free(s->select);
  rk_free(s);
}

static rk_status csv_open(rk_table_source **out, const char *path, const rk_source_options *o) {
  rk_csv_options co;
  rk_csv_options_default(&co);
  co.sep = o->csv_sep ? o->csv_sep : (ends_with(path, ".tsv") || ends_with(path, ".tsv.gz") || ends_with(path, ".tsv.zst") ? '\t' : ',');
  co.na_values = o->na_values;
  co.n_na_values = o->n_na_values;
  if (o->batch_rows > 0) co.batch_rows = o->batch_rows;
  co.invalid_utf8 = o->csv_invalid_utf8;
  co.non_finite = o->csv_non_finite;
  co.list_columns = o->csv_list_columns;
  co.n_list_columns = o->n_csv_list_columns;
  co.header = !o->csv_no_header;
  co.column_names = o->csv_column_names;
  co.n_column_names = o->n_csv_column_names;
  struct stat sb;
  int64_t size = stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
  char label[600];
  if (o->shares > 1 && size > 0) {
    /* Equal byte ranges; the reader moves each boundary to the next record start. */
    co.range_begin = (int64_t)((__int128)size * o->share / o->shares);
    co.range_end = (int64_t)((__int128)size * (o->share + 1) / o->shares);
    if (co.range_end == 0) co.range_end = 1;   /* 0 would mean the whole file */
    snprintf(label, sizeof label, "%s (share %d of %d)", path, o->share + 1, o->shares);
    co.label = label;
  }
  csv_source *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  s->base = (rk_table_source){"csv", csv_next, csv_fraction, csv_total_rows, csv_close};
  rk_status st = rk_csv_open(&s->reader, path, &co);
  if (st != RK_OK) {
    rk_free(s);
    return st;
  }
  s->file_bytes = co.range_end > 0 ? co.range_end - co.range_begin : size;
  s->compressed = ends_with(path, ".gz") || ends_with(path, ".zst");
  if (o->columns) {
    s->select = rk_malloc(sizeof(int) * (size_t)(o->ncolumns ? o->ncolumns : 1));
    if (!s->select) {
      csv_close(&s->base);
      return RK_ENOMEM;
    }
    s->nselect = o->ncolumns;
    /* The header by name, indexed once (a scan per selected column was quadratic in a file of
     * 100,000 columns); put last to first, so a repeated name means its last column, as before. */
    rk_name_index header;
    rk_name_index_init(&header);
    for (int c = rk_csv_num_columns(s->reader) - 1; c >= 0 && st == RK_OK; c--)
      st = rk_name_index_put(&header, rk_csv_column_name(s->reader, c), c, NULL);
    for (int i = 0; i < o->ncolumns && st == RK_OK; i++)
      if ((s->select[i] = rk_name_index_get(&header, o->columns[i])) < 0)
        st = rk_error(RK_ENOTFOUND, "column '%s' is not in '%s'", o->columns[i], path);
    rk_name_index_free(&header);
    if (st != RK_OK) {
      csv_close(&s->base);
      return st;
    }
  }
  *out = &s->base;
  return RK_OK;
}

/* ---- Parquet -------------------------------------------------------------------------------- */
typedef struct {
  rk_table_source base;
  rk_parquet_dataset *ds;
  int64_t rows_done, rows_total;
  /* a share: row groups [group, group_end) of the dataset, numbered over its files in order */
  rk_parquet_read_options opts;
  bool shared;
  int file;
  int group, group_end;    /* the next row group to read, global numbering */
  int file_first;          /* global number of the current file's first row group */
  rk_parquet_reader *reader;
} parquet_source;

static rk_status parquet_next_share(parquet_source *s, rk_batch *batch) {
  while (s->group < s->group_end) {
    if (!s->reader) RK_TRY(rk_parquet_open(&s->reader, rk_parquet_dataset_file(s->ds, s->file), &s->opts));
    int local = s->group - s->file_first, n = rk_parquet_num_row_groups(s->reader);
    if (local < n) {
      RK_TRY(rk_parquet_read_row_group(s->reader, local, batch));
      s->group++;
      return RK_OK;
    }
    rk_parquet_close(s->reader);
    s->reader = NULL;
    s->file_first += n;
    s->file++;
  }
  rk_batch_clear(batch);
  return RK_OK;
}

static rk_status parquet_next(rk_table_source *src, rk_batch *batch) {
  parquet_source *s = (parquet_source *)src;
  RK_TRY(s->shared ? parquet_next_share(s, batch) : rk_parquet_dataset_next(s->ds, batch));
  s->rows_done += batch->nrows;
  return RK_OK;
}

static double parquet_fraction(rk_table_source *src) {
  parquet_source *s = (parquet_source *)src;
  return s->rows_total > 0 ? (double)s->rows_done / (double)s->rows_total : 1.0;
}

static int64_t parquet_total_rows(rk_table_source *src) { return ((parquet_source *)src)->rows_total; }

static void parquet_close(rk_table_source *src) {
  parquet_source *s = (parquet_source *)src;
  rk_parquet_close(s->reader);
  rk_parquet_dataset_close(s->ds);
  rk_free(s);
}

/* A share's block of row groups and its rows: the footers are read once more, for the counts. */
static rk_status parquet_share(parquet_source *s, int share, int shares) {
  int nf = rk_parquet_dataset_num_files(s->ds), total = 0;
  int *groups = rk_malloc((size_t)(nf ? nf : 1) * sizeof *groups);
  int64_t **rows = rk_calloc((size_t)(nf ? nf : 1), sizeof *rows);
  rk_status st = groups && rows ? RK_OK : RK_ENOMEM;
  for (int f = 0; f < nf && st == RK_OK; f++) {
    rk_parquet_reader *r;
    if ((st = rk_parquet_open(&r, rk_parquet_dataset_file(s->ds, f), &s->opts)) != RK_OK) break;
    groups[f] = rk_parquet_num_row_groups(r);
    if (!(rows[f] = rk_malloc((size_t)(groups[f] ? groups[f] : 1) * sizeof **rows))) st = RK_ENOMEM;
    for (int g = 0; g < groups[f] && st == RK_OK; g++) rows[f][g] = rk_parquet_row_group_rows(r, g);
    total += groups[f];
    rk_parquet_close(r);
  }
  if (st == RK_OK) {
    int begin = (int)((int64_t)total * share / shares), end = (int)((int64_t)total * (share + 1) / shares);
    s->shared = true;
    s->group = begin;
    s->group_end = end;
    s->rows_total = 0;
    /* start at the file holding group `begin` (past the last file when the share is empty) */
    s->file = nf;
    for (int f = 0, first = 0; f < nf; first += groups[f], f++) {
      if (s->file == nf && begin < first + groups[f]) {
        s->file = f;
        s->file_first = first;
      }
      for (int g = 0; g < groups[f]; g++)
        if (first + g >= begin && first + g < end) s->rows_total += rows[f][g];
    }
  }
  for (int f = 0; f < nf && rows; f++) rk_free(rows[f]);
  rk_free(rows);
  rk_free(groups);
  return st;
}

static rk_status parquet_open(rk_table_source **out, const char *path, const rk_source_options *o) {
  rk_parquet_read_options po;
  rk_parquet_read_options_default(&po);
  po.columns = o->columns;
  po.ncolumns = o->ncolumns;
  if (o->batch_rows > 0) po.batch_rows = o->batch_rows;
  parquet_source *s = rk_calloc(1, sizeof *s);
  if (!s) return RK_ENOMEM;
  s->base = (rk_table_source){"parquet", parquet_next, parquet_fraction, parquet_total_rows, parquet_close};
  s->opts = po;
  rk_status st = rk_parquet_dataset_open(&s->ds, path, &po);
  if (st == RK_OK) s->rows_total = rk_parquet_dataset_num_rows(s->ds);
  if (st == RK_OK && o->shares > 1) st = parquet_share(s, o->share, o->shares);
  if (st != RK_OK) {
    parquet_close(&s->base);
    return st;
  }
  *out = &s->base;
  return RK_OK;
}

rk_status rk_source_open(rk_table_source **source, const char *path, const rk_source_options *opts) {
  rk_source_options defaults;
  if (!opts) {
    rk_source_options_default(&defaults);
    opts = &defaults;
  }
  *source = NULL;
  struct stat sb;
  if (stat(path, &sb) != 0) return rk_error(RK_EIO, "cannot open '%s': no such file or folder", path);
  if (rk_source_is_parquet(path)) return parquet_open(source, path, opts);
  if (S_ISDIR(sb.st_mode)) return rk_error(RK_ENOTFOUND, "folder '%s' holds no .parquet files", path);
  return csv_open(source, path, opts);
}
