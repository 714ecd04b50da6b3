/*
 * The CSV writer behind the table-sink interface: batches in, RFC 4180 text out (plain, gzip or
 * zstd by extension), with a header row from the first batch's column names (unless omit_header).
 *
 * Strings are quoted when they must be (separator, quote, CR or LF inside), when they are empty
 * (so "" reads back as an empty string, not a null) and when they equal the NA text. Nulls are
 * written as the NA text, unquoted. Floats are printed with the fewest digits that read back to
 * the same bits: %.15g / %.6g first, more digits only when strtod says they are needed.
 * List columns are written as DuckDB writes them: "[1, 2, 3]", strings inside bare unless they
 * are empty, read as NULL, carry spaces at an end or hold one of ,'"[]{}: -- then in single
 * quotes with ' and \ escaped by a backslash ("['a,b', c]"; a bare backslash is literal); the
 * field is then quoted for CSV as any string is.
 * Output goes to "<path>.tmp.<pid>.<n>" and is renamed into place by close; abort deletes it.
 * It is not: a writer of any quoting style but RFC 4180.
 *
 * Reference: RFC 4180 (Common Format and MIME Type for CSV Files), section 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "io/csv_internal.h"

#define RK_CSV_OUT_BUFFER ((size_t)1 << 20)

typedef struct {
  rk_table_sink base;   /* first: the sink is handed out as this */
  char *path, *tmp;
  rk_csv_codec codec;
  int fd;
  gzFile gz;
  ZSTD_CCtx *zc;
  char *zout;
  size_t zout_cap;
  char sep;
  bool header;          /* write the first batch's column names as the first record */
  char *na;
  size_t na_len;
  char *buf;            /* text not yet written */
  size_t len, cap;
  char *list;           /* the text of one list value */
  size_t list_len, list_cap;
  int ncols;            /* the first batch's schema; -1 before it */
  char **names;
  rk_coltype *types;
} csv_sink;

static _Atomic int tmp_counter = 0;

/* ---- output ---------------------------------------------------------------------------------- */
static rk_status write_fd(csv_sink *w, const char *p, size_t n) {
  while (n > 0) {
    ssize_t r = write(w->fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
    }
    p += r;
    n -= (size_t)r;
  }
  return RK_OK;
}

/* Push n bytes to the file, through the compressor if any; end: finish the compressed stream. */
static rk_status emit(csv_sink *w, const char *p, size_t n, bool end) {
  if (w->codec == RK_CSV_PLAIN) return write_fd(w, p, n);
  if (w->codec == RK_CSV_GZIP) {
    while (n > 0) {
      unsigned part = n > (1u << 30) ? (1u << 30) : (unsigned)n;
      if (gzwrite(w->gz, p, part) != (int)part) {
        int errnum;
        const char *msg = gzerror(w->gz, &errnum);
        return rk_error(RK_EIO, "cannot write '%s': %s", w->path, errnum == Z_ERRNO ? strerror(errno) : msg);
      }
      p += part;
      n -= part;
    }
    return RK_OK;
  }
  ZSTD_inBuffer in = {p, n, 0};
  for (;;) {
    ZSTD_outBuffer out = {w->zout, w->zout_cap, 0};
    size_t left = ZSTD_compressStream2(w->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left)) return rk_error(RK_EIO, "cannot compress '%s': %s", w->path, ZSTD_getErrorName(left));
    RK_TRY(write_fd(w, w->zout, out.pos));
    if (end ? left == 0 : in.pos == in.size) return RK_OK;
  }
}

static rk_status flush(csv_sink *w) {
  rk_status s = emit(w, w->buf, w->len, false);
  w->len = 0;
  return s;
}

/* Room for n more bytes in the text buffer. */
static rk_status ensure(csv_sink *w, size_t n) {
  if (w->len + n <= w->cap) return RK_OK;
  RK_TRY(flush(w));
  if (n <= w->cap) return RK_OK;
  char *b = rk_realloc(w->buf, n);
  if (!b) return RK_ENOMEM;
  w->buf = b;
  w->cap = n;
  return RK_OK;
}

/* ---- text of values ------------------------------------------------------------------------- */
static size_t format_u64(char *out, uint64_t v) {
  char tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
  return n;
}

static size_t format_i64(char *out, int64_t v) {
  if (v >= 0) return format_u64(out, (uint64_t)v);
  out[0] = '-';
  return 1 + format_u64(out + 1, 0 - (uint64_t)v);
}

/* The fewest %g digits that read back to the same value (shortest up to 15 / 6 digits). */
static size_t format_float(char *out, double v, bool single) {
  if (isnan(v)) return (size_t)sprintf(out, "nan");
  if (isinf(v)) return (size_t)sprintf(out, v < 0 ? "-inf" : "inf");
  locale_t loc = rk_csv_c_locale();
  int lo = single ? 6 : 15, hi = single ? 9 : 17;
  int n = 0;
  for (int prec = lo; prec <= hi; prec++) {
    n = snprintf(out, 40, "%.*g", prec, v);
    if (prec == hi) break;
    char *end;
    if (single ? (loc ? strtof_l(out, &end, loc) : strtof(out, &end)) == (float)v
               : (loc ? strtod_l(out, &end, loc) : strtod(out, &end)) == v)
      break;
  }
  return (size_t)n;
}

static bool needs_quotes(const csv_sink *w, const char *s, size_t n) {
  if (n == 0) return true;
  if (w->na_len == n && memcmp(w->na, s, n) == 0) return true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == w->sep || c == '"' || c == '\n' || c == '\r') return true;
  }
  return false;
}

static rk_status put_string(csv_sink *w, const char *s, size_t n) {
  if (!needs_quotes(w, s, n)) {
    RK_TRY(ensure(w, n));
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    return RK_OK;
  }
  RK_TRY(ensure(w, 2 * n + 2));
  char *o = w->buf + w->len;
  *o++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') *o++ = '"';
    *o++ = s[i];
  }
  *o++ = '"';
  w->len = (size_t)(o - w->buf);
  return RK_OK;
}

static rk_status list_reserve(csv_sink *w, size_t n) {
  if (w->list_len + n <= w->list_cap) return RK_OK;
  size_t cap = w->list_cap ? w->list_cap : 256;
  while (cap < w->list_len + n) cap *= 2;
  char *p = rk_realloc(w->list, cap);
  if (!p) return RK_ENOMEM;
  w->list = p;
  w->list_cap = cap;
  return RK_OK;
}

/* Whether DuckDB would quote this list element (it would read it back differently bare). */
static bool list_element_needs_quotes(const char *s, size_t n) {
  if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t') return true;
  if (n == 4 && strncasecmp(s, "null", 4) == 0) return true;
  for (size_t i = 0; i < n; i++)
    if (strchr(",'\"[]{}:", s[i]) && s[i] != '\0') return true;
  return false;
}

static rk_status list_put_string(csv_sink *w, const char *s, size_t n) {
  RK_TRY(list_reserve(w, 2 * n + 2));
  char *o = w->list + w->list_len;
  bool quote = list_element_needs_quotes(s, n);
  if (quote) *o++ = '\'';
  for (size_t i = 0; i < n; i++) {
    if (quote && (s[i] == '\'' || s[i] == '\\')) *o++ = '\\';
    *o++ = s[i];
  }
  if (quote) *o++ = '\'';
  w->list_len = (size_t)(o - w->list);
  return RK_OK;
}

/* One list value as DuckDB's text, "[e1, e2, ...]", then quoted for CSV like any string. */
static rk_status put_list(csv_sink *w, const rk_column *col, int64_t row) {
  const rk_column *e = col->child;
  w->list_len = 0;
  RK_TRY(list_reserve(w, 1));
  w->list[w->list_len++] = '[';
  for (int64_t i = col->offsets[row]; i < col->offsets[row + 1]; i++) {
    RK_TRY(list_reserve(w, 50));
    if (i > col->offsets[row]) {
      w->list[w->list_len++] = ',';
      w->list[w->list_len++] = ' ';
    }
    char *o = w->list + w->list_len;
    if (rk_column_is_null(e, i)) {   /* DuckDB's text for a null element */
      memcpy(o, "NULL", 4);
      w->list_len += 4;
      continue;
    }
    switch (e->type) {
      case RK_COL_STRING: {
        size_t n;
        const char *s = rk_column_get_string(e, i, &n);
        RK_TRY(list_put_string(w, s, n));
        break;
      }
      case RK_COL_FLOAT32: w->list_len += format_float(o, ((const float *)e->values)[i], true); break;
      case RK_COL_FLOAT64: w->list_len += format_float(o, ((const double *)e->values)[i], false); break;
      case RK_COL_UINT64: w->list_len += format_u64(o, ((const uint64_t *)e->values)[i]); break;
      default: w->list_len += format_i64(o, rk_column_get_int(e, i)); break;
    }
  }
  RK_TRY(list_reserve(w, 1));
  w->list[w->list_len++] = ']';
  return put_string(w, w->list, w->list_len);
}

static rk_status put_value(csv_sink *w, const rk_column *col, int64_t row) {
  if (rk_column_is_null(col, row)) {
    RK_TRY(ensure(w, w->na_len));
    memcpy(w->buf + w->len, w->na, w->na_len);
    w->len += w->na_len;
    return RK_OK;
  }
  if (col->type == RK_COL_STRING) {
    size_t n;
    const char *s = rk_column_get_string(col, row, &n);
    return put_string(w, s, n);
  }
  if (col->type == RK_COL_LIST) return put_list(w, col, row);
  RK_TRY(ensure(w, 48));
  char *o = w->buf + w->len;
  switch (col->type) {
    case RK_COL_FLOAT32: w->len += format_float(o, ((const float *)col->values)[row], true); break;
    case RK_COL_FLOAT64: w->len += format_float(o, ((const double *)col->values)[row], false); break;
    case RK_COL_UINT64: w->len += format_u64(o, ((const uint64_t *)col->values)[row]); break;
    default: w->len += format_i64(o, rk_column_get_int(col, row)); break;
  }
  return RK_OK;
}

static rk_status put_byte(csv_sink *w, char c) {
  RK_TRY(ensure(w, 1));
  w->buf[w->len++] = c;
  return RK_OK;
}

/* ---- the sink -------------------------------------------------------------------------------- */
static rk_status schema_take(csv_sink *w, const rk_batch *b) {
  w->names = rk_calloc((size_t)(b->ncols ? b->ncols : 1), sizeof *w->names);
  w->types = rk_calloc((size_t)(b->ncols ? b->ncols : 1), sizeof *w->types);
  if (!w->names || !w->types) return RK_ENOMEM;
  w->ncols = b->ncols;
  for (int c = 0; c < b->ncols; c++) {
    char name[32];
    snprintf(name, sizeof name, "c%d", c);
    w->types[c] = b->cols[c].type;
    if (!(w->names[c] = rk_strdup(b->cols[c].name ? b->cols[c].name : name))) return RK_ENOMEM;
  }
  if (!w->header) return RK_OK;
  for (int c = 0; c < w->ncols; c++) {
    if (c > 0) RK_TRY(put_byte(w, w->sep));
    RK_TRY(put_string(w, w->names[c], strlen(w->names[c])));
  }
  return put_byte(w, '\n');
}

static rk_status csv_sink_write(rk_table_sink *sink, const rk_batch *b) {
  csv_sink *w = (csv_sink *)sink;
  if (w->ncols < 0) {
    RK_TRY(schema_take(w, b));
  } else {
    bool same = b->ncols == w->ncols;
    for (int c = 0; same && c < b->ncols; c++) same = b->cols[c].type == w->types[c];
    if (!same)
      return rk_error(RK_ESHAPE, "batch columns differ from the first batch written to '%s'", w->path);
  }
  for (int c = 0; c < b->ncols; c++)
    if (b->cols[c].length < b->nrows)
      return rk_error(RK_ESHAPE, "column '%s' has %lld rows but the batch has %lld", w->names[c],
                      (long long)b->cols[c].length, (long long)b->nrows);
  locale_t loc = rk_csv_c_locale();
  locale_t old = loc ? uselocale(loc) : (locale_t)0;   /* snprintf's decimal point */
  rk_status s = RK_OK;
  for (int64_t r = 0; r < b->nrows && s == RK_OK; r++) {
    for (int c = 0; c < b->ncols && s == RK_OK; c++) {
      if (c > 0) s = put_byte(w, w->sep);
      if (s == RK_OK) s = put_value(w, &b->cols[c], r);
    }
    if (s == RK_OK) s = put_byte(w, '\n');
  }
  if (loc) uselocale(old);
  return s;
}

static void sink_free(csv_sink *w) {
  for (int c = 0; c < w->ncols; c++) rk_free(w->names[c]);
  rk_free(w->names);
  rk_free(w->types);
  rk_free(w->buf);
  rk_free(w->list);
  rk_free(w->zout);
  rk_free(w->na);
  rk_free(w->path);
  rk_free(w->tmp);
  rk_free(w);
}

/* Close the file handles; the status of finishing the stream when `finish`. */
static rk_status sink_release(csv_sink *w, bool finish) {
  rk_status s = RK_OK;
  if (finish) {
    s = flush(w);
    if (s == RK_OK && w->codec == RK_CSV_ZSTD) s = emit(w, NULL, 0, true);
  }
  if (w->gz) {
    int rc = gzclose(w->gz);
    w->gz = NULL;
    if (finish && s == RK_OK && rc != Z_OK) s = rk_error(RK_EIO, "cannot write '%s': gzip error %d", w->path, rc);
  }
  if (w->zc) ZSTD_freeCCtx(w->zc);
  w->zc = NULL;
  if (w->fd >= 0 && close(w->fd) != 0 && finish && s == RK_OK)
    s = rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
  w->fd = -1;
  return s;
}

static void csv_sink_abort(rk_table_sink *sink) {
  csv_sink *w = (csv_sink *)sink;
  sink_release(w, false);
  if (w->tmp) unlink(w->tmp);
  sink_free(w);
}

static rk_status csv_sink_close(rk_table_sink *sink) {
  csv_sink *w = (csv_sink *)sink;
  if (w->ncols < 0) {   /* nothing written: an empty table still gets a file */
    rk_batch none = {0};
    rk_status s = schema_take(w, &none);
    if (s != RK_OK) {
      csv_sink_abort(sink);
      return s;
    }
  }
  rk_status s = sink_release(w, true);
  if (s == RK_OK && rename(w->tmp, w->path) != 0)
    s = rk_error(RK_EIO, "cannot rename '%s' to '%s': %s", w->tmp, w->path, strerror(errno));
  if (s != RK_OK) unlink(w->tmp);
  sink_free(w);
  return s;
}

static rk_status sink_setup(csv_sink *w, const char *path, const rk_sink_options *opts) {
  if (!(w->path = rk_strdup(path))) return RK_ENOMEM;
  size_t n = strlen(path) + 48;
  if (!(w->tmp = rk_malloc(n))) return RK_ENOMEM;
  snprintf(w->tmp, n, "%s.tmp.%ld.%d", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
  w->codec = rk_csv_codec_of(path);
  size_t base = strlen(path) - (w->codec == RK_CSV_GZIP ? 3 : w->codec == RK_CSV_ZSTD ? 4 : 0);
  bool tsv = base >= 4 && strncmp(path + base - 4, ".tsv", 4) == 0;
  w->sep = opts && opts->sep ? opts->sep : tsv ? '\t' : ',';
  w->header = !(opts && opts->omit_header);
  if (w->sep == '"' || w->sep == '\n' || w->sep == '\r')
    return rk_error(RK_EINVAL, "invalid CSV separator (byte %d) for '%s'", (int)(unsigned char)w->sep, path);
  if (!(w->na = rk_strdup(opts && opts->na_value ? opts->na_value : ""))) return RK_ENOMEM;
  w->na_len = strlen(w->na);
  for (size_t i = 0; i < w->na_len; i++)
    if (w->na[i] == w->sep || w->na[i] == '"' || w->na[i] == '\n' || w->na[i] == '\r')
      return rk_error(RK_EINVAL, "invalid NA text '%s' for '%s': it holds a separator, quote or line end", w->na,
                      path);
  w->cap = RK_CSV_OUT_BUFFER;
  if (!(w->buf = rk_malloc(w->cap))) return RK_ENOMEM;
  if (w->codec == RK_CSV_ZSTD) {
    w->zout_cap = ZSTD_CStreamOutSize();
    if (!(w->zout = rk_malloc(w->zout_cap))) return RK_ENOMEM;
    if (!(w->zc = ZSTD_createCCtx())) return rk_error(RK_ENOMEM, "out of memory creating a zstd encoder for '%s'", path);
    ZSTD_CCtx_setParameter(w->zc, ZSTD_c_compressionLevel, 3);
  }
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0) return rk_error(RK_EIO, "cannot create '%s': %s", w->tmp, strerror(errno));
  if (w->codec == RK_CSV_GZIP) {
    int fd = dup(w->fd);
    if (fd < 0 || !(w->gz = gzdopen(fd, "wb6"))) {
      if (fd >= 0) close(fd);
      return rk_error(RK_ENOMEM, "out of memory creating a gzip encoder for '%s'", path);
    }
  }
  return RK_OK;
}

rk_status rk_csv_sink_open(rk_table_sink **sink, const char *path, const rk_sink_options *opts) {
  *sink = NULL;
  csv_sink *w = rk_calloc(1, sizeof *w);
  if (!w) return RK_ENOMEM;
  w->fd = -1;
  w->ncols = -1;
  w->base.write = csv_sink_write;
  w->base.close = csv_sink_close;
  w->base.abort = csv_sink_abort;
  rk_status s = sink_setup(w, path, opts);
  if (s != RK_OK) {
    w->ncols = 0;
    csv_sink_abort(&w->base);
    return s;
  }
  *sink = &w->base;
  return RK_OK;
}
