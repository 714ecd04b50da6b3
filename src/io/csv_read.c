/*
 * The CSV reader: RFC 4180 text (plain, gzip or zstd) into typed Arrow-layout columns, streamed
 * in blocks and parsed in parallel.
 *
 * How it works. Input is read in blocks (16 MiB by default) into one buffer that always starts at
 * a record boundary. One fast pass over a block tracks quote parity (a SWAR count of '"' bytes)
 * to find where records end: a newline is a record end exactly when an even number of quotes
 * precede it, because a quote may only open a field, close it, or come doubled inside it. That
 * pass cuts the block into chunks at record ends; chunks are parsed independently (core's work queue) into
 * their own columns, and batches are served from the chunks in order, so the output is the same
 * as a sequential parse for any chunk size or thread count. Memory is a block plus the chunks'
 * columns, whatever the file size.
 *
 * Semantics: separator one byte; records end in LF or CRLF, or in a bare CR when the first record
 * does (old Mac files; as DuckDB and pandas read them: every CR outside quotes ends a record, one
 * inside quotes stays); a field may be quoted, with "" for a quote and newlines allowed inside; a
 * quote inside an unquoted field, or anything but a separator or record end after a closing quote,
 * is an error (RFC 4180 section 2, rules 5-7). A UTF-8 byte-order mark is skipped. Blank lines are
 * skipped. An unquoted empty field or an unquoted NA string is null; a quoted "" is an empty string.
 * Numbers may carry spaces around them.
 * Floats are correctly rounded: the simple cases use Clinger's fast path (exact mantissa, one
 * exact power of ten), everything else strtod_l / strtof_l. A float that is not finite (inf, nan,
 * or text past the type's range such as 1e400) is an error naming row and column, or null when
 * the options say so. Header names must be unique, NUL-free UTF-8; string fields must be UTF-8
 * (checked per chunk, 8 ASCII bytes at a time), or are repaired with U+FFFD when the options say so.
 * It is not: a sniffer of separators or headers, nor a reader of quote styles other than RFC 4180.
 *
 * References: RFC 4180 (Common Format and MIME Type for CSV Files); W. D. Clinger, "How to read
 * floating point numbers accurately", PLDI 1990 (the fast path).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "io/csv_internal.h"

#define RK_CSV_BLOCK_DEFAULT ((int64_t)16 << 20)
#define RK_CSV_RECORD_MAX ((size_t)1 << 30)   /* a longer record is taken for a missing quote */
#define RK_CSV_SLACK 64                        /* room after the data for the final newline */

/* ---------------------------------------------------------------------------------------------
 * Shared helpers
 * ------------------------------------------------------------------------------------------- */
rk_csv_codec rk_csv_codec_of(const char *path) {
  size_t n = strlen(path);
  if (n >= 3 && strcasecmp(path + n - 3, ".gz") == 0) return RK_CSV_GZIP;
  if (n >= 4 && strcasecmp(path + n - 4, ".zst") == 0) return RK_CSV_ZSTD;
  return RK_CSV_PLAIN;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_value;
static void c_locale_make(void) { c_locale_value = newlocale(LC_ALL_MASK, "C", (locale_t)0); }
locale_t rk_csv_c_locale(void) {
  pthread_once(&c_locale_once, c_locale_make);
  return c_locale_value;
}

void rk_csv_options_default(rk_csv_options *opts) {
  memset(opts, 0, sizeof *opts);
  opts->sep = ',';
  opts->header = true;
  opts->infer_rows = 10000;
  opts->batch_rows = 65536;
}

rk_status rk_csv_parse_sep(const char *text, char *sep) {
  char c;
  if (!text) return rk_error(RK_EINVAL, "missing CSV separator");
  if (strcmp(text, "tab") == 0 || strcmp(text, "\\t") == 0) c = '\t';
  else if (strlen(text) == 1) c = text[0];
  else return rk_error(RK_EINVAL, "invalid CSV separator '%s': expected one character, 'tab' or '\\t'", text);
  if (c == '"' || c == '\n' || c == '\r')
    return rk_error(RK_EINVAL, "invalid CSV separator '%s': quotes and line ends cannot separate fields",
                    c == '"' ? "\"" : c == '\n' ? "\\n" : "\\r");
  *sep = c;
  return RK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Input: plain, gzip or zstd, read straight into the block buffer.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  rk_csv_codec codec;
  int fd;
  gzFile gz;
  ZSTD_DCtx *zd;
  char *zin;              /* compressed bytes for zstd */
  size_t zin_cap;
  ZSTD_inBuffer in;
  size_t zpending;        /* last ZSTD_decompressStream hint: 0 when a frame just ended */
  bool zeof;
  int64_t remaining;      /* plain files read as a byte range: bytes left in it; -1 = to the end */
} csv_source;

static rk_status source_open(csv_source *s, const char *path) {
  memset(s, 0, sizeof *s);
  s->fd = -1;
  s->remaining = -1;
  s->codec = rk_csv_codec_of(path);
  if (s->codec == RK_CSV_GZIP) {
    s->gz = gzopen(path, "rb");
    if (!s->gz) return rk_error(RK_EIO, "cannot open '%s': %s", path, errno ? strerror(errno) : "out of memory");
    gzbuffer(s->gz, 1 << 17);
    return RK_OK;
  }
  s->fd = open(path, O_RDONLY);
  if (s->fd < 0) return rk_error(RK_EIO, "cannot open '%s': %s", path, strerror(errno));
  if (s->codec == RK_CSV_ZSTD) {
    s->zin_cap = ZSTD_DStreamInSize();
    s->zin = rk_malloc(s->zin_cap);
    if (!s->zin) return RK_ENOMEM;
    s->zd = ZSTD_createDCtx();
    if (!s->zd) return rk_error(RK_ENOMEM, "out of memory creating a zstd decoder for '%s'", path);
    s->in.src = s->zin;
  }
  return RK_OK;
}

static void source_close(csv_source *s) {
  if (s->gz) gzclose(s->gz);
  if (s->fd >= 0) close(s->fd);
  if (s->zd) ZSTD_freeDCtx(s->zd);
  rk_free(s->zin);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

static rk_status read_fd(int fd, char *dst, size_t n, size_t *got, const char *label) {
  *got = 0;
  while (*got < n) {
    ssize_t r = read(fd, dst + *got, n - *got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return rk_error(RK_EIO, "cannot read '%s': %s", label, strerror(errno));
    }
    if (r == 0) break;
    *got += (size_t)r;
  }
  return RK_OK;
}

/* Fill up to n bytes; *got < n only at the end of the input. */
static rk_status source_read(csv_source *s, char *dst, size_t n, size_t *got, const char *label) {
  *got = 0;
  if (s->codec == RK_CSV_PLAIN && s->remaining >= 0) {
    RK_TRY(read_fd(s->fd, dst, n < (uint64_t)s->remaining ? n : (size_t)s->remaining, got, label));
    s->remaining -= (int64_t)*got;
    return RK_OK;
  }
  if (s->codec == RK_CSV_PLAIN) return read_fd(s->fd, dst, n, got, label);
  if (s->codec == RK_CSV_GZIP) {
    while (*got < n) {
      size_t want = n - *got < (1u << 30) ? n - *got : (1u << 30);
      int r = gzread(s->gz, dst + *got, (unsigned)want);
      int errnum = Z_OK;
      const char *msg = gzerror(s->gz, &errnum);
      if (r < 0 || (errnum != Z_OK && errnum != Z_STREAM_END))
        return rk_error(RK_EFORMAT, "cannot decompress '%s': %s", label, errnum == Z_ERRNO ? strerror(errno) : msg);
      if (r == 0) break;
      *got += (size_t)r;
    }
    return RK_OK;
  }
  ZSTD_outBuffer out = {dst, n, 0};
  while (out.pos < out.size) {
    if (s->in.pos == s->in.size) {
      if (s->zeof) break;
      size_t r;
      RK_TRY(read_fd(s->fd, s->zin, s->zin_cap, &r, label));
      s->in.size = r;
      s->in.pos = 0;
      if (r == 0) {
        s->zeof = true;
        if (s->zpending != 0) return rk_error(RK_EFORMAT, "cannot decompress '%s': truncated zstd data", label);
        break;
      }
    }
    size_t r = ZSTD_decompressStream(s->zd, &out, &s->in);
    if (ZSTD_isError(r)) return rk_error(RK_EFORMAT, "cannot decompress '%s': %s", label, ZSTD_getErrorName(r));
    s->zpending = r;
  }
  *got = out.pos;
  return RK_OK;
}

/* ---------------------------------------------------------------------------------------------
 * The reader
 * ------------------------------------------------------------------------------------------- */
/* How a column's fields are parsed: a few fast paths, everything else through slow_field. */
typedef enum { K_INT64, K_INT, K_UINT64, K_FLOAT64, K_FLOAT32, K_STRING, K_LIST } csv_kind;

/* Parse errors, recorded by workers and worded by the caller, who knows the absolute row. */
typedef enum {
  CE_NONE, CE_TYPE, CE_RANGE, CE_FEW, CE_MANY, CE_UNTERMINATED, CE_STRAY, CE_AFTER, CE_NOMEM, CE_INCOMPLETE,
  CE_NON_FINITE, CE_UTF8
} csv_err;

typedef struct {
  char *p;
  size_t cap;
} csv_scratch;

typedef struct {
  const char *begin, *end;   /* bytes of whole records; end[-1] == '\n' */
  rk_column *cols;           /* ncols, unnamed, reused from block to block */
  int64_t nrows;
  int64_t cap;               /* row capacity of every column */
  csv_scratch scratch;       /* unescaped quoted numbers */
  csv_err err;
  int64_t err_row;           /* 0-based within the chunk */
  int err_col;
  int err_found;             /* fields found (CE_FEW, CE_MANY); CE_UTF8: offset of the bad byte */
  char err_text[96];         /* the offending value, shortened */
  rk_status err_status;      /* CE_NOMEM: the status and message of the failed allocation */
  char err_message[RK_ERROR_MAX];
} csv_chunk;

struct rk_csv_reader {
  char *label;
  char sep;
  bool header;
  int n_na;
  char **na;
  size_t *na_len;
  int threads;
  int64_t batch_rows;
  int ncols;
  char **names;
  rk_coltype *types;
  rk_coltype *elem_types;    /* list columns: their elements' type */
  csv_kind *kinds;
  int64_t *lo;               /* K_INT range */
  int64_t *hi;
  bool utf8_repair;          /* replace invalid UTF-8 with U+FFFD instead of failing */
  bool non_finite_null;      /* read inf, nan and overflowing floats as null instead of failing */
  bool cr_lines;             /* records end in a bare CR: CRs outside quotes become LFs as read */
  unsigned cr_in_quotes;     /* cr_lines: quote state at the end of what was read */

  csv_source src;
  char *buf;                 /* the current block; [pos, len) not yet consumed */
  size_t cap, len, pos;
  bool src_eof;              /* the source is exhausted (buf may still hold data) */
  bool done;                 /* every block has been parsed */
  int64_t bytes_read;
  size_t block_bytes;
  size_t chunk_bytes;        /* 0: decided from the sampled row width at open */
  double row_bytes;          /* average record length in the sample */

  csv_chunk *chunks;
  int nchunks, chunk_slots;
  int cur_chunk;
  int64_t cur_row;
  int64_t rows_before;       /* data rows in blocks before the current one */

  csv_scratch scratch;       /* header and inference */
  rk_status sticky;          /* a parse error repeats on every later call */
  char *sticky_message;
};

/* ---- quote parity and record ends ---------------------------------------------------------- */

/* Parity of the number of '"' bytes in [p, e): XOR of exact per-byte match masks (SWAR). */
static unsigned quote_parity(const char *p, const char *e) {
  unsigned par = 0;
  while (p < e && ((uintptr_t)p & 7)) par ^= *p++ == '"';
  const uint64_t q = 0x2222222222222222ull, low7 = 0x7f7f7f7f7f7f7f7full;
  uint64_t acc = 0;
  for (; e - p >= 8; p += 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t x = w ^ q;                          /* zero bytes where a quote was */
    acc ^= ~(((x & low7) + low7) | x | low7);    /* 0x80 in exactly those bytes */
  }
  while (p < e) par ^= *p++ == '"';
  return par ^ (unsigned)__builtin_parityll(acc);
}

/* Just past the first newline in [p, e) outside quotes, given the quote state at p; NULL if none. */
static const char *next_record_end(const char *p, const char *e, unsigned inq) {
  while (p < e) {
    if (inq) {
      const char *q = memchr(p, '"', (size_t)(e - p));
      if (!q) return NULL;
      p = q + 1;
      inq = 0;
    } else {
      const char *nl = memchr(p, '\n', (size_t)(e - p));
      const char *lim = nl ? nl : e;
      const char *q = memchr(p, '"', (size_t)(lim - p));
      if (q) {
        p = q + 1;
        inq = 1;
      } else {
        return nl ? nl + 1 : NULL;
      }
    }
  }
  return NULL;
}

/* ---- the field tokenizer (header, inference, and every field off the fast paths) ----------- */
typedef struct {
  const char *text;
  size_t len;
  bool quoted;
} csv_field;

static bool scratch_reserve(csv_scratch *s, size_t n) {
  if (n <= s->cap) return true;
  size_t cap = s->cap < 256 ? 256 : s->cap;
  while (cap < n) cap *= 2;
  char *p = rk_realloc(s->p, cap);
  if (!p) return false;
  s->p = p;
  s->cap = cap;
  return true;
}

/* Copy the inside of a quoted field, turning "" into ". Returns the length written. */
static size_t unescape_quoted(char *dst, const char *src, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    dst[o++] = src[i];
    if (src[i] == '"') i++;   /* the second quote of a pair */
  }
  return o;
}

/* Tokenize the field at p, bounded by e. On success returns its terminator (sep, '\n', or the
 * '\r' of "\r\n") and fills f; quoted text with "" pairs is unescaped into s. Returns NULL with
 * *err set otherwise; CE_INCOMPLETE means e came first (more input may complete the field). */
static const char *csv_field_scan(csv_field *f, csv_err *err, const char *p, const char *e, char sep,
                                  csv_scratch *s) {
  if (p < e && *p == '"') {
    const char *q = p + 1;
    bool escaped = false;
    for (;;) {
      const char *c = memchr(q, '"', (size_t)(e - q));
      if (!c) {
        *err = CE_UNTERMINATED;
        return NULL;
      }
      if (c + 1 < e && c[1] == '"') {
        escaped = true;
        q = c + 2;
        continue;
      }
      if (c + 1 >= e) {
        *err = CE_INCOMPLETE;
        return NULL;
      }
      const char *t = c + 1;
      if (*t == '\r' && t + 1 < e && t[1] == '\n') {
      } else if (*t == '\r' && t + 1 >= e) {
        *err = CE_INCOMPLETE;
        return NULL;
      } else if (*t != sep && *t != '\n') {
        *err = CE_AFTER;
        f->text = t;
        f->len = 1;
        return NULL;
      }
      size_t n = (size_t)(c - (p + 1));
      f->quoted = true;
      if (escaped) {
        if (!scratch_reserve(s, n + 1)) {
          *err = CE_NOMEM;
          return NULL;
        }
        f->len = unescape_quoted(s->p, p + 1, n);
        f->text = s->p;
      } else {
        f->text = p + 1;
        f->len = n;
      }
      return t;
    }
  }
  const char *q = p;
  while (q < e && *q != sep && *q != '\n' && *q != '"') q++;
  if (q == e) {
    *err = CE_INCOMPLETE;
    return NULL;
  }
  if (*q == '"') {
    *err = CE_STRAY;
    return NULL;
  }
  f->quoted = false;
  f->text = p;
  f->len = (size_t)(q - p);
  if (*q == '\n' && q > p && q[-1] == '\r') {
    f->len--;
    return q - 1;
  }
  return q;
}

/* Step over a field terminator: 1 after a separator, 2 after a record end. */
static int csv_step_terminator(const char **p, char sep) {
  if (**p == sep) {
    (*p)++;
    return 1;
  }
  *p += **p == '\r' ? 2 : 1;
  return 2;
}

/* ---- number text ----------------------------------------------------------------------------- */
static void trim_spaces(const char **s, size_t *n) {
  while (*n > 0 && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
  while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* Integer text to sign and magnitude. Returns CE_NONE, CE_TYPE (not an integer) or CE_RANGE. */
static csv_err parse_integer(bool *neg, uint64_t *mag, const char *s, size_t n) {
  trim_spaces(&s, &n);
  size_t i = 0;
  *neg = false;
  if (i < n && (s[i] == '-' || s[i] == '+')) *neg = s[i++] == '-';
  if (i == n) return CE_TYPE;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < n; i++) {
    unsigned d = (unsigned)(unsigned char)s[i] - '0';
    if (d > 9) return CE_TYPE;
    if (v > (UINT64_MAX - d) / 10) overflow = true;
    else v = v * 10 + d;
  }
  *mag = v;
  return overflow ? CE_RANGE : CE_NONE;
}

static const double pow10_f64[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const float pow10_f32[11] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

/* Decimal text [-]d*[.d*][e[+-]d+] as an exact mantissa and power of ten; false when the text has
 * another shape or more than 19 digits. *endp: the first byte after the number. */
static inline bool parse_decimal(bool *neg, uint64_t *m, int *exp10, const char **endp, const char *p) {
  const char *s = p;
  *neg = *s == '-';
  s += (*s == '-' || *s == '+');
  uint64_t v = 0;
  const char *d0 = s;
  while ((unsigned)(*s - '0') < 10u) v = v * 10 + (unsigned)(*s++ - '0');
  int nd = (int)(s - d0), nf = 0;
  if (*s == '.') {
    const char *f0 = ++s;
    while ((unsigned)(*s - '0') < 10u) v = v * 10 + (unsigned)(*s++ - '0');
    nf = (int)(s - f0);
  }
  if (nd + nf == 0 || nd + nf > 19) return false;
  int e = 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    bool eneg = *s == '-';
    s += (*s == '-' || *s == '+');
    const char *e0 = s;
    while ((unsigned)(*s - '0') < 10u && s - e0 < 5) e = e * 10 + (*s++ - '0');
    if (s == e0 || (unsigned)(*s - '0') < 10u) return false;
    if (eneg) e = -e;
  }
  *m = v;
  *exp10 = e - nf;
  *endp = s;
  return true;
}

/* Clinger's fast path: exact when the mantissa and the power of ten are both exact doubles. */
static inline bool decimal_to_f64(double *out, bool neg, uint64_t m, int e) {
  if (m > (1ull << 53) || e < -22 || e > 22) return false;
  double d = (double)m;
  d = e < 0 ? d / pow10_f64[-e] : d * pow10_f64[e];
  *out = neg ? -d : d;
  return true;
}

static inline bool decimal_to_f32(float *out, bool neg, uint64_t m, int e) {
  if (m > (1ull << 24) || e < -10 || e > 10) return false;
  float d = (float)m;
  d = e < 0 ? d / pow10_f32[-e] : d * pow10_f32[e];
  *out = neg ? -d : d;
  return true;
}

/* Any float text strtod accepts, the whole field; correctly rounded. */
static csv_err parse_float_slow(double *d, float *f, bool single, const char *s, size_t n) {
  trim_spaces(&s, &n);
  char buf[256];
  if (n == 0 || n >= sizeof buf) return CE_TYPE;
  memcpy(buf, s, n);
  buf[n] = '\0';
  char *end;
  locale_t loc = rk_csv_c_locale();
  if (single) *f = loc ? strtof_l(buf, &end, loc) : strtof(buf, &end);
  else *d = loc ? strtod_l(buf, &end, loc) : strtod(buf, &end);
  return end == buf + n ? CE_NONE : CE_TYPE;
}

/* ---- columns of a chunk ---------------------------------------------------------------------- */
/* Ask for transparent huge pages on a large buffer before it is touched: first-touch page
 * faults are a visible part of filling fresh memory, and a 2 MiB page is one fault, not 512. */
static void advise_huge(void *p, size_t n) {
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = (uintptr_t)2 << 20;
  if (n < 2 * huge) return;
  uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + n) & ~(huge - 1);
  if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)n;
#endif
}

static bool chunk_col_reserve(rk_column *col, int64_t rows) {
  if (rows <= col->cap_rows) return true;
  if (col->type == RK_COL_STRING || col->type == RK_COL_LIST) {
    int64_t *o = rk_realloc(col->offsets, (size_t)(rows + 1) * sizeof(int64_t));
    if (!o) return false;
    col->offsets = o;
    advise_huge(o, (size_t)(rows + 1) * sizeof(int64_t));
  } else {
    void *v = rk_realloc(col->values, (size_t)rows * rk_coltype_width(col->type));
    if (!v) return false;
    col->values = v;
    advise_huge(v, (size_t)rows * rk_coltype_width(col->type));
  }
  if (col->validity) {
    size_t old = (size_t)((col->cap_rows + 7) / 8), fresh = (size_t)((rows + 7) / 8);
    uint8_t *b = rk_realloc(col->validity, fresh);
    if (!b) return false;
    memset(b + old, 0xff, fresh - old);
    col->validity = b;
  }
  col->cap_rows = rows;
  return true;
}

static bool chunk_reserve(csv_chunk *ch, int ncols, int64_t rows) {
  if (rows <= ch->cap) return true;
  for (int c = 0; c < ncols; c++)
    if (!chunk_col_reserve(&ch->cols[c], rows)) return false;
  ch->cap = rows;
  return true;
}

static bool col_string_reserve(rk_column *col, int64_t bytes) {
  if (bytes <= col->cap_values) return true;
  int64_t cap = col->cap_values < 4096 ? 4096 : col->cap_values;
  while (cap < bytes) cap += cap / 2;
  void *v = rk_realloc(col->values, (size_t)cap);
  if (!v) return false;
  col->values = v;
  col->cap_values = cap;
  advise_huge(v, (size_t)cap);
  return true;
}

static bool col_set_null(rk_column *col, int64_t row) {
  if (!col->validity) {
    size_t bytes = (size_t)((col->cap_rows + 7) / 8);
    col->validity = rk_malloc(bytes ? bytes : 1);
    if (!col->validity) return false;
    memset(col->validity, 0xff, bytes ? bytes : 1);
  }
  col->validity[row >> 3] &= (uint8_t)~(1u << (row & 7));
  col->null_count++;
  return true;
}

/* ---- one field off the fast path ------------------------------------------------------------ */
static bool is_na(const rk_csv_reader *r, const csv_field *f) {
  if (f->quoted) return false;
  if (f->len == 0) return true;
  for (int i = 0; i < r->n_na; i++)
    if (r->na_len[i] == f->len && memcmp(r->na[i], f->text, f->len) == 0) return true;
  return false;
}

static void chunk_fail(csv_chunk *ch, csv_err err, int64_t row, int col, const char *text, size_t len) {
  ch->err = err;
  ch->err_row = row;
  ch->err_col = col;
  if (err == CE_NOMEM) {
    ch->err_status = rk_error_status() != RK_OK ? rk_error_status() : RK_ENOMEM;
    snprintf(ch->err_message, sizeof ch->err_message, "%s", rk_error_message());
  }
  if (text) {
    size_t max = sizeof ch->err_text - 4;
    if (len > max) {
      memcpy(ch->err_text, text, max);
      memcpy(ch->err_text + max, "...", 4);
    } else {
      memcpy(ch->err_text, text, len);
      ch->err_text[len] = '\0';
    }
  } else {
    ch->err_text[0] = '\0';
  }
}

/* ---- list fields: DuckDB's text form "[1, 2, 3]", "[a, 'b, c']" ------------------------------ */
/* The next element of a list's inside at *p (bounded by e): its text (quotes removed, still
 * escaped when *escaped), and *p past it and its comma. CE_TYPE when this is not DuckDB's form. */
static csv_err list_element(const char **p, const char *e, const char **text, size_t *len, bool *quoted,
                            bool *escaped) {
  const char *q = *p;
  while (q < e && (*q == ' ' || *q == '\t')) q++;
  *quoted = q < e && *q == '\'';
  *escaped = false;
  const char *end;
  if (*quoted) {
    *text = ++q;
    while (q < e && *q != '\'') {
      if (*q == '\\' && q + 1 < e) *escaped = true, q++;
      q++;
    }
    if (q == e) return CE_TYPE;
    end = q++;
    while (q < e && (*q == ' ' || *q == '\t')) q++;
  } else {
    *text = q;
    while (q < e && *q != ',') q++;
    end = q;
    while (end > *text && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (end == *text) return CE_TYPE;   /* "[1, , 2]" */
  }
  if (q < e && *q != ',') return CE_TYPE;
  *len = (size_t)(end - *text);
  *p = q < e ? q + 1 : q;
  if (q < e && *p == e) return CE_TYPE;   /* "[1, 2, ]" */
  return CE_NONE;
}

/* The inside of "[...]" (spaces around allowed); false when the text is not a list. */
static bool list_inside(const char **begin, const char **end, const char *s, size_t n) {
  trim_spaces(&s, &n);
  if (n < 2 || s[0] != '[' || s[n - 1] != ']') return false;
  *begin = s + 1;
  *end = s + n - 1;
  while (*begin < *end && (**begin == ' ' || **begin == '\t')) (*begin)++;
  return true;
}

/* Whether an unquoted element is DuckDB's NULL: a null slot of the list's child. */
static bool list_null_element(const char *t, size_t n, bool quoted) {
  return !quoted && n == 4 && strncasecmp(t, "null", 4) == 0;
}

static csv_err store_list(rk_column *col, int64_t row, const char *s, size_t n) {
  const char *p, *e;
  if (!list_inside(&p, &e, s, n)) return CE_TYPE;
  rk_column *child = col->child;
  while (p < e) {
    const char *t;
    size_t len;
    bool quoted, escaped;
    csv_err err = list_element(&p, e, &t, &len, &quoted, &escaped);
    if (err != CE_NONE) return CE_TYPE;
    if (list_null_element(t, len, quoted)) {
      if (rk_column_append_null(child) != RK_OK) return CE_NOMEM;
    } else if (child->type == RK_COL_STRING) {
      int64_t at = child->offsets[child->length];
      if (rk_column_reserve(child, child->length + 1, at + (int64_t)len) != RK_OK) return CE_NOMEM;
      char *dst = (char *)child->values + at;
      size_t o = 0;
      for (size_t i = 0; i < len; i++) {
        if (escaped && t[i] == '\\' && i + 1 < len) i++;
        dst[o++] = t[i];
      }
      child->offsets[child->length + 1] = at + (int64_t)o;
      child->length++;
    } else if (child->type == RK_COL_FLOAT64) {
      double d;
      float x;
      if (parse_float_slow(&d, &x, false, t, len) != CE_NONE) return CE_TYPE;
      if (!isfinite(d)) return CE_NON_FINITE;   /* a list element cannot be missing */
      if (rk_column_append_double(child, d) != RK_OK) return CE_NOMEM;
    } else {
      bool neg;
      uint64_t mag;
      csv_err ie = parse_integer(&neg, &mag, t, len);
      if (ie != CE_NONE) return ie;
      if (mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return CE_RANGE;
      if (rk_column_append_int(child, neg ? (int64_t)(0 - mag) : (int64_t)mag) != RK_OK) return CE_NOMEM;
    }
  }
  col->offsets[row + 1] = child->length;
  return CE_NONE;
}

/* Element type inference for a list column: *state as for scalars (1 int, 2 float, 3 string). */
static void infer_list(int *state, const char *s, size_t n) {
  const char *p, *e;
  if (!list_inside(&p, &e, s, n)) return;   /* the parse will name the row */
  while (p < e && *state < 3) {
    const char *t;
    size_t len;
    bool quoted, escaped;
    if (list_element(&p, e, &t, &len, &quoted, &escaped) != CE_NONE) return;
    if (list_null_element(t, len, quoted)) continue;   /* a null says nothing of the type */
    bool neg;
    uint64_t mag;
    double d;
    float x;
    if (quoted) *state = 3;
    else if (parse_integer(&neg, &mag, t, len) == CE_NONE && mag <= (uint64_t)INT64_MAX + (neg ? 1u : 0u))
      *state = *state > 1 ? *state : 1;
    else if (parse_float_slow(&d, &x, false, t, len) == CE_NONE) *state = 2;
    else *state = 3;
  }
}

/* Store field f into row `row` of column c. */
static csv_err store_field(const rk_csv_reader *r, csv_chunk *ch, int c, int64_t row, const csv_field *f) {
  rk_column *col = &ch->cols[c];
  if (is_na(r, f)) {
    if (col->type == RK_COL_STRING || col->type == RK_COL_LIST) col->offsets[row + 1] = col->offsets[row];
    else memset((char *)col->values + (size_t)row * rk_coltype_width(col->type), 0, rk_coltype_width(col->type));
    return col_set_null(col, row) ? CE_NONE : CE_NOMEM;
  }
  switch (r->kinds[c]) {
    case K_LIST: return store_list(col, row, f->text, f->len);
    case K_STRING: {
      int64_t at = col->offsets[row];
      if (!col_string_reserve(col, at + (int64_t)f->len)) return CE_NOMEM;
      if (f->len > 0) memcpy((char *)col->values + at, f->text, f->len);   /* values may be NULL */
      col->offsets[row + 1] = at + (int64_t)f->len;
      return CE_NONE;
    }
    case K_FLOAT64:
    case K_FLOAT32: {
      double d = 0;
      float x = 0;
      bool single = r->kinds[c] == K_FLOAT32;
      csv_err e = parse_float_slow(&d, &x, single, f->text, f->len);
      if (e != CE_NONE) return e;
      if (!isfinite(single ? (double)x : d)) {   /* the fast paths never give these */
        if (!r->non_finite_null) return CE_NON_FINITE;
        memset((char *)col->values + (size_t)row * rk_coltype_width(col->type), 0, rk_coltype_width(col->type));
        return col_set_null(col, row) ? CE_NONE : CE_NOMEM;
      }
      if (single) ((float *)col->values)[row] = x;
      else ((double *)col->values)[row] = d;
      return CE_NONE;
    }
    default: {
      bool neg;
      uint64_t mag;
      csv_err e = parse_integer(&neg, &mag, f->text, f->len);
      if (e != CE_NONE) return e;
      if (r->kinds[c] == K_UINT64) {
        if (neg && mag != 0) return CE_RANGE;
        ((uint64_t *)col->values)[row] = mag;
        return CE_NONE;
      }
      if (mag > (uint64_t)INT64_MAX + (neg ? 1u : 0u)) return CE_RANGE;
      int64_t v = neg ? (int64_t)(0 - mag) : (int64_t)mag;
      if (v < r->lo[c] || v > r->hi[c]) return CE_RANGE;
      switch (col->type) {
        case RK_COL_INT8: ((int8_t *)col->values)[row] = (int8_t)v; break;
        case RK_COL_INT16: ((int16_t *)col->values)[row] = (int16_t)v; break;
        case RK_COL_INT32: ((int32_t *)col->values)[row] = (int32_t)v; break;
        case RK_COL_UINT8: ((uint8_t *)col->values)[row] = (uint8_t)v; break;
        case RK_COL_UINT16: ((uint16_t *)col->values)[row] = (uint16_t)v; break;
        case RK_COL_UINT32: ((uint32_t *)col->values)[row] = (uint32_t)v; break;
        default: ((int64_t *)col->values)[row] = v; break;
      }
      return CE_NONE;
    }
  }
}

/* Tokenize and store the field at *pp; false (error recorded) on failure. */
static bool slow_field(const rk_csv_reader *r, csv_chunk *ch, int c, int64_t row, const char **pp) {
  csv_field f;
  csv_err err = CE_NONE;
  const char *t = csv_field_scan(&f, &err, *pp, ch->end, r->sep, &ch->scratch);
  if (!t) {
    /* CE_AFTER: f.text is the stray byte after the closing quote */
    chunk_fail(ch, err == CE_INCOMPLETE ? CE_UNTERMINATED : err, row, c, err == CE_AFTER ? f.text : NULL, 1);
    return false;
  }
  err = store_field(r, ch, c, row, &f);
  if (err != CE_NONE) {
    chunk_fail(ch, err, row, c, f.text, f.len);
    return false;
  }
  *pp = t;
  return true;
}

/* ---- the chunk parser: the hot loop ---------------------------------------------------------- */
/* SWAR digits (8 bytes at a time; the buffer has RK_CSV_SLACK readable bytes past the data).
 * t holds each byte XOR '0', so digits are 0..9; a byte is a non-digit when its high nibble is set
 * or adding 6 carries into it. Carries only run from earlier to later bytes and start only at a
 * non-digit, so the count of leading digits is exact. */
static inline int swar_digits(uint64_t t) {
  uint64_t bad = (t | (t + 0x0606060606060606ull)) & 0xF0F0F0F0F0F0F0F0ull;
  return bad ? __builtin_ctzll(bad) >> 3 : 8;
}

/* The value of 8 digit bytes, the first byte most significant (pairs, quads, then the octet). */
static inline uint64_t swar_value8(uint64_t t) {
  t = (t * 10 + (t >> 8)) & 0x00FF00FF00FF00FFull;
  t = (t * 100 + (t >> 16)) & 0x0000FFFF0000FFFFull;
  return (t * 10000 + (t >> 32)) & 0xFFFFFFFFull;
}

static const uint64_t pow10_u64[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* Up to 16 leading digits at q: their count (0..16) and value. */
static inline int swar_parse(uint64_t *v, const char *q) {
  uint64_t w;
  memcpy(&w, q, 8);
  uint64_t t = w ^ 0x3030303030303030ull;
  int n = swar_digits(t);
  if (n < 8) {
    *v = n ? swar_value8(t << (8 - n) * 8) : 0;
    return n;
  }
  uint64_t hi = swar_value8(t);
  memcpy(&w, q + 8, 8);
  t = w ^ 0x3030303030303030ull;
  int m = swar_digits(t);
  *v = m == 0 ? hi : m == 8 ? hi * pow10_u64[8] + swar_value8(t) : hi * pow10_u64[m] + swar_value8(t << (8 - m) * 8);
  return 8 + m;
}

static void count_extra_fields(csv_chunk *ch, const char *p, char sep, int ncols) {
  /* p is at a separator after the last expected field: count what follows, for the message */
  int found = ncols;
  csv_field f;
  csv_err err;
  while (*p == sep) {
    p++;
    found++;
    const char *t = csv_field_scan(&f, &err, p, ch->end, sep, &ch->scratch);
    if (!t) break;
    p = t;
  }
  ch->err_found = found;
}

/* Replace each ill-formed part of every string in col with U+FFFD (a new values buffer). */
static bool utf8_repair_column(rk_column *col) {
  const char *v = col->values;
  int64_t total = 0;
  for (int64_t i = 0; i < col->length; i++)
    total += (int64_t)rk_utf8_repair(NULL, v + col->offsets[i], (size_t)(col->offsets[i + 1] - col->offsets[i]));
  char *fresh = rk_malloc((size_t)(total > 0 ? total : 1));
  if (!fresh) return false;
  int64_t at = 0, begin = 0;
  for (int64_t i = 0; i < col->length; i++) {
    int64_t end = col->offsets[i + 1];
    at += (int64_t)rk_utf8_repair(fresh + at, v + begin, (size_t)(end - begin));
    col->offsets[i + 1] = at;
    begin = end;
  }
  rk_free(col->values);
  col->values = fresh;
  col->cap_values = total > 0 ? total : 1;
  return true;
}

/* Check (or repair) the UTF-8 of a parsed chunk's string column (or list of strings). */
static bool chunk_check_utf8(const rk_csv_reader *r, csv_chunk *ch, int c) {
  rk_column *list = ch->cols[c].type == RK_COL_LIST ? &ch->cols[c] : NULL;
  rk_column *col = list ? list->child : &ch->cols[c];
  size_t ok = 0;
  int64_t bad = rk_utf8_first_invalid(col->values, col->offsets, col->length, &ok), row = bad;
  if (bad < 0) return true;
  if (list)
    for (row = 0; list->offsets[row + 1] <= bad; row++) {
    }
  if (r->utf8_repair) {
    if (utf8_repair_column(col)) return true;
    chunk_fail(ch, CE_NOMEM, row, c, NULL, 0);
    return false;
  }
  chunk_fail(ch, CE_UTF8, row, c, NULL, 0);
  ch->err_found = (int)ok;
  snprintf(ch->err_text, sizeof ch->err_text, "0x%02x",
           (unsigned)((const unsigned char *)col->values)[col->offsets[bad] + (int64_t)ok]);
  return false;
}

static void csv_parse_chunk(const rk_csv_reader *r, csv_chunk *ch) {
  const char sep = r->sep;
  const int ncols = r->ncols;
  const char *p = ch->begin;
  const char *const end = ch->end;
  ch->err = CE_NONE;
  ch->nrows = 0;
  for (int c = 0; c < ncols; c++) {
    rk_column_clear(&ch->cols[c]);
    if ((ch->cols[c].type == RK_COL_STRING || ch->cols[c].type == RK_COL_LIST) && ch->cols[c].offsets)
      ch->cols[c].offsets[0] = 0;
  }
  int64_t est = (int64_t)((double)(end - p) / (r->row_bytes > 1 ? r->row_bytes : 1) * 1.1) + 16;
  if (!chunk_reserve(ch, ncols, est)) {
    chunk_fail(ch, CE_NOMEM, 0, 0, NULL, 0);
    return;
  }
  int64_t row = 0;
  while (p < end) {
    if (*p == '\n') {
      p++;
      continue;
    }
    if (*p == '\r' && p[1] == '\n') {
      p += 2;
      continue;
    }
    if (row == ch->cap && !chunk_reserve(ch, ncols, ch->cap * 2)) {
      chunk_fail(ch, CE_NOMEM, row, 0, NULL, 0);
      return;
    }
    for (int c = 0; c < ncols; c++) {
      rk_column *col = &ch->cols[c];
      switch (r->kinds[c]) {
        case K_INT64:
        case K_INT:
        case K_UINT64: {
          const char *q = p;
          bool neg = *q == '-';
          q += neg;
          uint64_t v;
          int nd = swar_parse(&v, q);
          q += nd;
          /* 1..15 digits cannot overflow; longer numbers and odd text go the slow way */
          if (nd - 1u < 15u && (*q == sep || *q == '\n' || (*q == '\r' && q[1] == '\n'))) {
            int64_t x = neg ? -(int64_t)v : (int64_t)v;
            if (r->kinds[c] == K_INT64) {
              ((int64_t *)col->values)[row] = x;
              p = q;
              break;
            }
            if (x >= r->lo[c] && x <= r->hi[c]) {
              switch (col->type) {
                case RK_COL_INT8: ((int8_t *)col->values)[row] = (int8_t)x; break;
                case RK_COL_INT16: ((int16_t *)col->values)[row] = (int16_t)x; break;
                case RK_COL_INT32: ((int32_t *)col->values)[row] = (int32_t)x; break;
                case RK_COL_UINT8: ((uint8_t *)col->values)[row] = (uint8_t)x; break;
                case RK_COL_UINT16: ((uint16_t *)col->values)[row] = (uint16_t)x; break;
                case RK_COL_UINT32: ((uint32_t *)col->values)[row] = (uint32_t)x; break;
                default: ((int64_t *)col->values)[row] = x; break;
              }
              p = q;
              break;
            }
          }
          if (!slow_field(r, ch, c, row, &p)) return;
          break;
        }
        case K_FLOAT64: {
          bool neg;
          uint64_t m;
          int e;
          const char *q;
          double d;
          if (parse_decimal(&neg, &m, &e, &q, p) && (*q == sep || *q == '\n' || (*q == '\r' && q[1] == '\n')) &&
              decimal_to_f64(&d, neg, m, e)) {
            ((double *)col->values)[row] = d;
            p = q;
          } else if (!slow_field(r, ch, c, row, &p)) {
            return;
          }
          break;
        }
        case K_FLOAT32: {
          bool neg;
          uint64_t m;
          int e;
          const char *q;
          float d;
          if (parse_decimal(&neg, &m, &e, &q, p) && (*q == sep || *q == '\n' || (*q == '\r' && q[1] == '\n')) &&
              decimal_to_f32(&d, neg, m, e)) {
            ((float *)col->values)[row] = d;
            p = q;
          } else if (!slow_field(r, ch, c, row, &p)) {
            return;
          }
          break;
        }
        case K_LIST:
          if (!slow_field(r, ch, c, row, &p)) return;
          break;
        case K_STRING: {
          const char *q = p;
          while (*q != sep && *q != '\n' && *q != '"') q++;
          if (*q == '"' || q == p) {   /* quoted, stray quote, or empty: the tokenizer decides */
            if (!slow_field(r, ch, c, row, &p)) return;
            break;
          }
          if (*q == '\n' && q[-1] == '\r') q--;
          size_t n = (size_t)(q - p);
          csv_field f = {p, n, false};
          if (n == 0 || (r->n_na > 0 && is_na(r, &f))) {
            if (!slow_field(r, ch, c, row, &p)) return;
            break;
          }
          int64_t at = col->offsets[row];
          if (!col_string_reserve(col, at + (int64_t)n)) {
            chunk_fail(ch, CE_NOMEM, row, c, NULL, 0);
            return;
          }
          memcpy((char *)col->values + at, p, n);
          col->offsets[row + 1] = at + (int64_t)n;
          p = q;
          break;
        }
      }
      /* p is at the field's terminator: a separator, '\n', or the '\r' of "\r\n" */
      if (c + 1 < ncols) {
        if (*p != sep) {
          ch->err_found = c + 1;
          chunk_fail(ch, CE_FEW, row, c, NULL, 0);
          return;
        }
        p++;
      } else if (*p == '\n') {
        p++;
      } else if (*p == '\r') {
        p += 2;
      } else {
        chunk_fail(ch, CE_MANY, row, c, NULL, 0);
        count_extra_fields(ch, p, sep, ncols);
        return;
      }
    }
    row++;
  }
  ch->nrows = row;
  for (int c = 0; c < ncols; c++) ch->cols[c].length = row;
  for (int c = 0; c < ncols; c++)
    if ((r->kinds[c] == K_STRING || (r->kinds[c] == K_LIST && r->elem_types[c] == RK_COL_STRING)) &&
        !chunk_check_utf8(r, ch, c))
      return;
}

/* ---- blocks ------------------------------------------------------------------------------------ */
static rk_status buffer_reserve(rk_csv_reader *r, size_t bytes) {
  if (bytes + RK_CSV_SLACK <= r->cap) return RK_OK;
  char *b = rk_realloc(r->buf, bytes + RK_CSV_SLACK);
  if (!b) return RK_ENOMEM;
  r->buf = b;
  r->cap = bytes + RK_CSV_SLACK;
  advise_huge(b, r->cap);
  return RK_OK;
}

/* Bare-CR records: each CR outside quotes becomes LF, so everything after reading sees LF records;
 * a CR inside quotes is data and stays. Returns the quote state after p[0, n). */
static unsigned cr_to_lf(char *p, size_t n, unsigned in_quotes) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '"') in_quotes ^= 1u;
    else if (p[i] == '\r' && !in_quotes) p[i] = '\n';
  }
  return in_quotes;
}

static rk_status read_more(rk_csv_reader *r, size_t want);

/* Whether the first record ends in a bare CR; if so, every record is read that way from here on
 * (the buffer read so far is converted now, later reads as they come). */
static rk_status detect_cr_lines(rk_csv_reader *r) {
  for (;;) {
    unsigned in_quotes = 0;
    for (size_t i = r->pos; i < r->len; i++) {
      char c = r->buf[i];
      if (c == '"') in_quotes ^= 1u;
      if (in_quotes || (c != '\n' && c != '\r')) continue;
      if (c == '\n' || (i + 1 < r->len && r->buf[i + 1] == '\n')) return RK_OK;
      if (i + 1 == r->len && !r->src_eof) break;   /* is an LF next? read on */
      r->cr_lines = true;
      r->cr_in_quotes = cr_to_lf(r->buf + r->pos, r->len - r->pos, 0);
      return RK_OK;
    }
    if (r->src_eof || r->len >= RK_CSV_RECORD_MAX) return RK_OK;   /* one record, or none: no line ends to read */
    RK_TRY(read_more(r, r->len * 2));
  }
}

/* Read until the buffer holds `want` bytes or the input ends; at the end, make sure the data
 * ends in a newline so every record (and every chunk) does. */
static rk_status read_more(rk_csv_reader *r, size_t want) {
  RK_TRY(buffer_reserve(r, want));
  while (!r->src_eof && r->len < want) {
    size_t got;
    RK_TRY(source_read(&r->src, r->buf + r->len, want - r->len, &got, r->label));
    if (r->cr_lines) r->cr_in_quotes = cr_to_lf(r->buf + r->len, got, r->cr_in_quotes);
    r->bytes_read += (int64_t)got;
    if (got < want - r->len) r->src_eof = true;
    r->len += got;
  }
  if (r->src_eof && r->len > r->pos && r->buf[r->len - 1] != '\n') r->buf[r->len++] = '\n';
  memset(r->buf + r->len, 0, r->cap - r->len < RK_CSV_SLACK ? r->cap - r->len : RK_CSV_SLACK);   /* SWAR reads */
  return RK_OK;
}

static rk_status chunk_push(rk_csv_reader *r, const char *begin, const char *end) {
  if (r->nchunks == r->chunk_slots) {
    int slots = r->chunk_slots ? r->chunk_slots * 2 : 8;
    csv_chunk *c = rk_realloc(r->chunks, (size_t)slots * sizeof *c);
    if (!c) return RK_ENOMEM;
    memset(c + r->chunk_slots, 0, (size_t)(slots - r->chunk_slots) * sizeof *c);
    r->chunks = c;
    for (int i = r->chunk_slots; i < slots; i++) {
      rk_column *cols = rk_calloc((size_t)r->ncols, sizeof *cols);
      if (!cols) return RK_ENOMEM;
      c[i].cols = cols;
      r->chunk_slots = i + 1;   /* from here on close() frees this slot */
      for (int k = 0; k < r->ncols; k++)
        RK_TRY(rk_column_init(&cols[k], NULL, r->types[k], r->elem_types[k]));
    }
  }
  r->chunks[r->nchunks].begin = begin;
  r->chunks[r->nchunks].end = end;
  r->nchunks++;
  return RK_OK;
}

/* Cut buf[0, len) into chunks of whole records; *block_end: where the last complete record ends
 * (0 when the buffer holds no complete record). */
static rk_status cut_block(rk_csv_reader *r, size_t *block_end) {
  const char *b = r->buf, *e = b + r->len, *start = b;
  r->nchunks = 0;
  while ((size_t)(e - start) > r->chunk_bytes) {
    const char *t = start + r->chunk_bytes;
    const char *cut = next_record_end(t, e, quote_parity(start, t));
    if (!cut || cut == e) break;
    RK_TRY(chunk_push(r, start, cut));
    start = cut;
  }
  if (r->src_eof) {   /* the data ends in a newline: the rest is whole records (or a bad quote) */
    if (start < e) RK_TRY(chunk_push(r, start, e));
    *block_end = r->len;
    return RK_OK;
  }
  unsigned par = quote_parity(start, e);
  for (const char *x = e; x > start;) {
    const char *nl = memrchr(start, '\n', (size_t)(x - start));
    if (!nl) break;
    par ^= quote_parity(nl + 1, x);
    if (par == 0) {
      RK_TRY(chunk_push(r, start, nl + 1));
      *block_end = (size_t)(nl + 1 - b);
      return RK_OK;
    }
    x = nl;
  }
  *block_end = (size_t)(start - b);
  return RK_OK;
}

static rk_status chunk_error(const rk_csv_reader *r, const csv_chunk *ch, int64_t row) {
  const char *col = r->names[ch->err_col];
  long long rw = (long long)row;
  switch (ch->err) {
    case CE_TYPE:
      return rk_error(RK_EPARSE, "cannot parse '%s' as %s in '%s' row %lld, column '%s'", ch->err_text,
                      rk_coltype_name(r->types[ch->err_col]), r->label, rw, col);
    case CE_RANGE:
      return rk_error(RK_ERANGE, "value '%s' is out of range for %s in '%s' row %lld, column '%s'", ch->err_text,
                      rk_coltype_name(r->types[ch->err_col]), r->label, rw, col);
    case CE_FEW:
      return rk_error(RK_EPARSE, "too few fields in '%s' row %lld: expected %d, found %d", r->label, rw, r->ncols,
                      ch->err_found);
    case CE_MANY:
      return rk_error(RK_EPARSE, "too many fields in '%s' row %lld: expected %d, found %d", r->label, rw, r->ncols,
                      ch->err_found);
    case CE_UNTERMINATED:
    case CE_INCOMPLETE:
      return rk_error(RK_EPARSE, "unterminated quote in '%s' row %lld, column '%s'", r->label, rw, col);
    case CE_STRAY:
      return rk_error(RK_EPARSE, "unexpected quote inside an unquoted field in '%s' row %lld, column '%s'", r->label,
                      rw, col);
    case CE_AFTER: {
      unsigned char c = (unsigned char)ch->err_text[0];
      char shown[8];
      if (c >= 0x20 && c < 0x7f) snprintf(shown, sizeof shown, "%c", c);
      else snprintf(shown, sizeof shown, "\\x%02x", c);
      return rk_error(RK_EPARSE, "unexpected '%s' after a closing quote in '%s' row %lld, column '%s'", shown,
                      r->label, rw, col);
    }
    case CE_NON_FINITE:
      return rk_error(RK_ERANGE,
                      "value '%s' is not a finite %s in '%s' row %lld, column '%s' (--non_finite as_missing reads "
                      "such values as missing)",
                      ch->err_text, rk_coltype_name(r->types[ch->err_col]), r->label, rw, col);
    case CE_UTF8:
      return rk_error(RK_EPARSE,
                      "invalid UTF-8 in '%s' row %lld, column '%s': byte %s at offset %d of the value "
                      "(--csv_invalid_utf8 replace substitutes U+FFFD)",
                      r->label, rw, col, ch->err_text, ch->err_found);
    case CE_NOMEM:
      return rk_error(ch->err_status, "%s", ch->err_message);
    case CE_NONE:
      break;
  }
  return RK_OK;
}

/* No record end in a full buffer: either one record is longer than the buffer, or a stray quote
 * flipped the parity. Tokenize the first record to tell which. */
static rk_status check_long_record(rk_csv_reader *r) {
  const char *p = r->buf, *e = r->buf + r->len;
  while (p < e && (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n'))) p += *p == '\n' ? 1 : 2;
  for (int c = 0; p < e; c++) {
    csv_field f;
    csv_err err = CE_NONE;
    const char *t = csv_field_scan(&f, &err, p, e, r->sep, &r->scratch);
    if (!t) {
      if (err == CE_INCOMPLETE || err == CE_UNTERMINATED) break;
      if (err == CE_NOMEM) return RK_ENOMEM;
      csv_chunk ch = {.err = err, .err_col = c < r->ncols ? c : r->ncols - 1};
      if (err == CE_AFTER) ch.err_text[0] = *f.text;
      return chunk_error(r, &ch, r->rows_before + 1);
    }
    p = t;
    if (csv_step_terminator(&p, r->sep) == 2) break;
  }
  if (r->len >= RK_CSV_RECORD_MAX)
    return rk_error(RK_EPARSE, "record too long in '%s' row %lld: more than %zu MiB (a quote left open?)", r->label,
                    (long long)(r->rows_before + 1), RK_CSV_RECORD_MAX >> 20);
  return RK_OK;
}

/* A work item: chunk i (a parse error stays in the chunk, reported in row order below). */
static rk_status parse_chunk_item(void *ctx, int worker, int64_t i) {
  rk_csv_reader *r = ctx;
  (void)worker;
  csv_parse_chunk(r, &r->chunks[i]);
  return RK_OK;
}

/* Read the next block, cut it and parse its chunks in parallel. */
static rk_status load_block(rk_csv_reader *r) {
  for (int i = 0; i < r->nchunks; i++) r->rows_before += r->chunks[i].nrows;
  r->nchunks = 0;
  r->cur_chunk = 0;
  r->cur_row = 0;
  if (r->pos > 0) {
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
  }
  size_t want = r->block_bytes > r->len ? r->block_bytes : r->len;
  size_t block_end = 0;
  for (;;) {
    RK_TRY(read_more(r, want));
    if (r->len == 0) {
      r->done = true;
      return RK_OK;
    }
    RK_TRY(cut_block(r, &block_end));
    if (block_end > 0) break;
    RK_TRY(check_long_record(r));
    want = r->len * 2;
  }
  int threads = r->threads < r->nchunks ? r->threads : r->nchunks;
  /* on the work queue: chunks differ in cost; each writes only its own columns and keeps its own
   * error, so the order they run in does not matter */
  RK_TRY(rk_parallel_items(r->nchunks, threads, parse_chunk_item, r));
  int64_t row = r->rows_before;
  for (int i = 0; i < r->nchunks; i++) {
    const csv_chunk *ch = &r->chunks[i];
    if (ch->err != CE_NONE) return chunk_error(r, ch, row + ch->err_row + 1);
    row += ch->nrows;
  }
  r->pos = block_end;
  if (r->src_eof && r->pos == r->len) r->done = true;
  return RK_OK;
}

/* ---- open: header, names, types ------------------------------------------------------------- */
typedef struct {
  char **items;
  int n, cap;
} csv_names;

static void names_free(csv_names *n) {
  for (int i = 0; i < n->n; i++) rk_free(n->items[i]);
  rk_free(n->items);
  memset(n, 0, sizeof *n);
}

static rk_status names_push(csv_names *n, const char *s, size_t len) {
  if (n->n == n->cap) {
    int cap = n->cap ? n->cap * 2 : 16;
    char **items = rk_realloc(n->items, (size_t)cap * sizeof *items);
    if (!items) return RK_ENOMEM;
    n->items = items;
    n->cap = cap;
  }
  char *copy = rk_strndup(s, len);
  if (!copy) return RK_ENOMEM;
  n->items[n->n++] = copy;
  return RK_OK;
}

/* A header name: no NUL (it would cut the name short), valid UTF-8 (or repaired). */
static rk_status header_name_push(rk_csv_reader *r, csv_names *out, int c, const csv_field *f) {
  const char *nul = memchr(f->text, '\0', f->len);
  if (nul)
    return rk_error(RK_EPARSE, "NUL byte in the header of '%s', column %d, after '%.*s': a column name cannot hold NUL",
                    r->label, c + 1, (int)(nul - f->text < 64 ? nul - f->text : 64), f->text);
  size_t ok = rk_utf8_valid_prefix(f->text, f->len);
  if (ok == f->len) return names_push(out, f->text, f->len);
  if (!r->utf8_repair)
    return rk_error(RK_EPARSE,
                    "invalid UTF-8 in the header of '%s', column %d: byte 0x%02x at offset %zu of the name "
                    "(--csv_invalid_utf8 replace substitutes U+FFFD)",
                    r->label, c + 1, (unsigned)(unsigned char)f->text[ok], ok);
  char *fixed = rk_malloc(3 * f->len);
  if (!fixed) return RK_ENOMEM;
  rk_status s = names_push(out, fixed, rk_utf8_repair(fixed, f->text, f->len));
  rk_free(fixed);
  return s;
}

/* Names must be unique: a reader by name would silently take one of the two. Sorting the
 * positions by name keeps this O(n log n) for very wide files. */
static int by_name_then_position(const void *a, const void *b, void *arg) {
  char *const *names = arg;
  int i = *(const int *)a, j = *(const int *)b;
  int c = strcmp(names[i], names[j]);
  return c ? c : (i > j) - (i < j);
}

static rk_status check_unique_names(const rk_csv_reader *r, char **names, int n) {
  if (n < 2) return RK_OK;
  int *order = rk_malloc((size_t)n * sizeof *order);
  if (!order) return RK_ENOMEM;
  for (int i = 0; i < n; i++) order[i] = i;
  qsort_r(order, (size_t)n, sizeof *order, by_name_then_position, names);
  int first = -1, second = -1;   /* the pair whose later column comes first in the file */
  for (int k = 1; k < n; k++)
    if (strcmp(names[order[k - 1]], names[order[k]]) == 0 && (second < 0 || order[k] < second))
      first = order[k - 1], second = order[k];
  rk_free(order);
  if (second < 0) return RK_OK;
  return rk_error(RK_EFORMAT, "duplicate column name '%s' in '%s': columns %d and %d; names must be unique",
                  names[first], r->label, first + 1, second + 1);
}

/* The first record's fields (names when there is a header). *end: just past the record.
 * Grows the buffer when the record is longer than what was read. */
static rk_status read_first_record(rk_csv_reader *r, csv_names *out, size_t *end) {
  for (;;) {
    const char *p = r->buf + r->pos, *e = r->buf + r->len;
    while (p < e && (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n'))) p += *p == '\n' ? 1 : 2;
    r->pos = (size_t)(p - r->buf);
    if (p == e) {
      *end = r->len;
      return RK_OK;   /* empty */
    }
    csv_err err = CE_NONE;
    int c = 0;
    for (;; c++) {
      csv_field f;
      const char *t = csv_field_scan(&f, &err, p, e, r->sep, &r->scratch);
      if (!t) break;
      if (r->header) RK_TRY(header_name_push(r, out, c, &f));
      else RK_TRY(names_push(out, f.text, f.len));
      p = t;
      if (csv_step_terminator(&p, r->sep) == 2) {
        *end = (size_t)(p - r->buf);
        return RK_OK;
      }
    }
    if (err == CE_NOMEM) return RK_ENOMEM;
    if ((err == CE_INCOMPLETE || err == CE_UNTERMINATED) && !r->src_eof && r->len < RK_CSV_RECORD_MAX) {
      names_free(out);
      RK_TRY(read_more(r, r->len * 2));
      continue;
    }
    const char *what = err == CE_STRAY ? "unexpected quote inside an unquoted field"
                       : err == CE_AFTER ? "unexpected text after a closing quote"
                                         : "unterminated quote";
    return rk_error(RK_EPARSE, "%s in the %s of '%s', field %d", what, r->header ? "header" : "first row", r->label,
                    c + 1);
  }
}

/* Column types from a sample: int64 if every value is an integer, float64 if a number, else string.
 * state per column: 0 nothing seen, 1 int64, 2 float64, 3 string, -1 given; a list column is
 * LIST_STATE + the same for its elements. */
#define LIST_STATE 10
static rk_status infer_types(rk_csv_reader *r, int *state, size_t from, int64_t max_rows) {
  const char *p = r->buf + from, *e = r->buf + r->len;
  int64_t rows = 0;
  const char *sample_start = p;
  while (p < e && rows < max_rows) {
    if (*p == '\n' || (*p == '\r' && p + 1 < e && p[1] == '\n')) {
      p += *p == '\n' ? 1 : 2;
      continue;
    }
    const char *rec = p;
    int c = 0;
    bool ok = false;
    for (;; c++) {
      csv_field f;
      csv_err err;
      const char *t = csv_field_scan(&f, &err, p, e, r->sep, &r->scratch);
      if (!t && err == CE_NOMEM) return RK_ENOMEM;
      if (!t || c >= r->ncols) break;
      if (state[c] >= LIST_STATE && state[c] < LIST_STATE + 3 && !is_na(r, &f)) {
        int es = state[c] - LIST_STATE;
        infer_list(&es, f.text, f.len);
        state[c] = LIST_STATE + es;
      } else if (state[c] >= 0 && state[c] < 3 && !is_na(r, &f)) {
        bool neg;
        uint64_t mag;
        double d;
        float x;
        csv_err ie = parse_integer(&neg, &mag, f.text, f.len);
        if (ie == CE_NONE && mag <= (uint64_t)INT64_MAX + (neg ? 1u : 0u)) state[c] = state[c] > 1 ? state[c] : 1;
        else if (parse_float_slow(&d, &x, false, f.text, f.len) == CE_NONE) state[c] = 2;
        else state[c] = 3;
      }
      p = t;
      if (csv_step_terminator(&p, r->sep) == 2) {
        ok = c + 1 == r->ncols;
        break;
      }
    }
    if (!ok) {
      p = rec;
      break;
    }
    rows++;
  }
  if (rows > 0) r->row_bytes = (double)(p - sample_start) / (double)rows;
  return RK_OK;
}

/* The first record that starts at or after `at`: `at` itself when a newline precedes it, else
 * just past the next newline (the file's size when there is none). */
static rk_status record_start(const rk_csv_reader *r, int64_t at, int64_t size, int64_t *out) {
  char buf[1 << 14];
  for (int64_t pos = at - 1; pos < size;) {
    ssize_t n = pread(r->src.fd, buf, sizeof buf, (off_t)pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return rk_error(RK_EIO, "cannot read '%s': %s", r->label, strerror(errno));
    if (n == 0) break;
    const char *nl = memchr(buf, '\n', (size_t)n);
    if (nl) {
      *out = pos + (nl - buf) + 1;
      return RK_OK;
    }
    pos += n;
  }
  *out = size;
  return RK_OK;
}

/* Re-position a reader whose header and types are settled onto the records that start in
 * [begin, end): the buffered head is dropped and reading goes on from the first such record. */
static rk_status seek_range(rk_csv_reader *r, int64_t begin, int64_t end) {
  if (r->src.codec != RK_CSV_PLAIN)
    return rk_error(RK_EUNSUPPORTED, "cannot read a byte range of the compressed '%s': decompress it, or convert it "
                                     "to Parquet with reckon convert", r->label);
  if (r->cr_lines)
    return rk_error(RK_EUNSUPPORTED, "cannot read a byte range of '%s': its records end in a bare CR", r->label);
  struct stat sb;
  if (fstat(r->src.fd, &sb) != 0) return rk_error(RK_EIO, "cannot read '%s': %s", r->label, strerror(errno));
  int64_t size = (int64_t)sb.st_size, data = (int64_t)r->pos;   /* the buffer holds the file from byte 0 */
  int64_t from = data, to = size;
  if (begin > data) RK_TRY(record_start(r, begin < size ? begin : size, size, &from));
  if (end < size) RK_TRY(record_start(r, end > data ? end : data, size, &to));
  if (to < from) to = from;
  if (lseek(r->src.fd, (off_t)from, SEEK_SET) < 0) return rk_error(RK_EIO, "cannot seek in '%s': %s", r->label, strerror(errno));
  r->src.remaining = to - from;
  r->len = r->pos = 0;
  r->src_eof = false;
  r->bytes_read = 0;
  return RK_OK;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static rk_status reader_setup(rk_csv_reader *r, const char *path, const rk_csv_options *o, const rk_csv_tuning *t) {
  if (!(r->label = rk_strdup(o->label ? o->label : path))) return RK_ENOMEM;
  if (o->sep == '"' || o->sep == '\n' || o->sep == '\r' || o->sep == '\0')
    return rk_error(RK_EINVAL, "invalid CSV separator (byte %d) for '%s'", (int)(unsigned char)o->sep, r->label);
  r->sep = o->sep;
  r->header = o->header;
  r->threads = o->threads > 0 ? o->threads : rk_num_threads();
  r->batch_rows = o->batch_rows > 0 ? o->batch_rows : 65536;
  r->row_bytes = 64;
  r->utf8_repair = o->invalid_utf8 == RK_INVALID_UTF8_REPLACE;
  r->non_finite_null = o->non_finite == RK_NON_FINITE_AS_MISSING;
  if (o->n_na_values > 0) {
    if (!(r->na = rk_calloc((size_t)o->n_na_values, sizeof *r->na))) return RK_ENOMEM;
    if (!(r->na_len = rk_calloc((size_t)o->n_na_values, sizeof *r->na_len))) return RK_ENOMEM;
    r->n_na = o->n_na_values;
    for (int i = 0; i < o->n_na_values; i++) {
      if (!(r->na[i] = rk_strdup(o->na_values[i]))) return RK_ENOMEM;
      r->na_len[i] = strlen(r->na[i]);
    }
  }
  r->block_bytes = (size_t)(t && t->block_bytes > 0 ? t->block_bytes : RK_CSV_BLOCK_DEFAULT);
  RK_TRY(source_open(&r->src, path));

  RK_TRY(read_more(r, r->block_bytes));
  if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
  RK_TRY(detect_cr_lines(r));

  csv_names first = {0};
  size_t first_end = 0;
  rk_status s = read_first_record(r, &first, &first_end);
  if (s != RK_OK) {
    names_free(&first);
    return s;
  }
  if (o->column_names && o->n_column_names > 0) {
    if (r->header && first.n > 0 && first.n != o->n_column_names) {
      names_free(&first);
      return rk_error(RK_ESHAPE, "'%s' has %d columns but %d column names were given", r->label, first.n,
                      o->n_column_names);
    }
    names_free(&first);
    for (int i = 0; i < o->n_column_names; i++) {
      s = names_push(&first, o->column_names[i], strlen(o->column_names[i]));
      if (s != RK_OK) {
        names_free(&first);
        return s;
      }
    }
  } else if (first.n == 0) {
    return rk_error(RK_EFORMAT, "cannot read '%s': the file is empty (expected a %s)", r->label,
                    r->header ? "header" : "first row");
  } else {
    for (int i = 0; i < first.n; i++) {
      if (r->header && first.items[i][0] != '\0') continue;
      char name[32];
      snprintf(name, sizeof name, "c%d", i);
      rk_free(first.items[i]);
      first.items[i] = NULL;
      if (!(first.items[i] = rk_strdup(name))) {
        names_free(&first);
        return RK_ENOMEM;
      }
    }
  }
  r->names = first.items;
  r->ncols = first.n;
  if (r->header) r->pos = first_end;
  RK_TRY(check_unique_names(r, r->names, r->ncols));

  r->types = rk_calloc((size_t)r->ncols, sizeof *r->types);
  r->elem_types = rk_calloc((size_t)r->ncols, sizeof *r->elem_types);
  r->kinds = rk_calloc((size_t)r->ncols, sizeof *r->kinds);
  r->lo = rk_calloc((size_t)r->ncols, sizeof *r->lo);
  r->hi = rk_calloc((size_t)r->ncols, sizeof *r->hi);
  int *state = rk_calloc((size_t)r->ncols, sizeof *state);
  if (!r->types || !r->elem_types || !r->kinds || !r->lo || !r->hi || !state) {
    rk_free(state);
    return RK_ENOMEM;
  }
  for (int i = 0; i < o->n_typed; i++) {
    int c = 0;
    while (c < r->ncols && strcmp(r->names[c], o->typed_names[i]) != 0) c++;
    rk_coltype ty = o->typed_types[i];
    if (c == r->ncols) {
      rk_free(state);
      return rk_error(RK_ENOTFOUND, "no column '%s' in '%s' to give type %s", o->typed_names[i], r->label,
                      rk_coltype_name(ty));
    }
    if ((unsigned)ty >= RK_COL_LIST) {
      rk_free(state);
      return rk_error(RK_EUNSUPPORTED, "unsupported: type %s for CSV column '%s' in '%s'", rk_coltype_name(ty),
                      r->names[c], r->label);
    }
    r->types[c] = ty;
    state[c] = -1;   /* given: not inferred */
  }
  for (int i = 0; i < o->n_list_columns; i++) {
    int c = 0;
    while (c < r->ncols && strcmp(r->names[c], o->list_columns[i]) != 0) c++;
    if (c == r->ncols) {
      rk_free(state);
      return rk_error(RK_ENOTFOUND, "no column '%s' in '%s' to read as a list", o->list_columns[i], r->label);
    }
    r->types[c] = RK_COL_LIST;
    state[c] = LIST_STATE;   /* + the element state */
  }
  rk_status is = infer_types(r, state, r->pos, o->infer_rows > 0 ? o->infer_rows : 10000);
  if (is != RK_OK) {
    rk_free(state);
    return is;
  }
  for (int c = 0; c < r->ncols; c++) {
    if (state[c] >= LIST_STATE) {   /* no element seen: strings, which hold any text */
      int es = state[c] - LIST_STATE;
      r->elem_types[c] = es == 1 ? RK_COL_INT64 : es == 2 ? RK_COL_FLOAT64 : RK_COL_STRING;
    } else if (state[c] >= 0) {
      r->types[c] = state[c] == 1 ? RK_COL_INT64 : state[c] == 2 ? RK_COL_FLOAT64 : RK_COL_STRING;
    }
    rk_coltype ty = r->types[c];
    switch (ty) {
      case RK_COL_INT64: r->kinds[c] = K_INT64; break;
      case RK_COL_UINT64: r->kinds[c] = K_UINT64; break;
      case RK_COL_FLOAT64: r->kinds[c] = K_FLOAT64; break;
      case RK_COL_FLOAT32: r->kinds[c] = K_FLOAT32; break;
      case RK_COL_STRING: r->kinds[c] = K_STRING; break;
      case RK_COL_LIST: r->kinds[c] = K_LIST; break;
      default: r->kinds[c] = K_INT; break;
    }
    switch (ty) {
      case RK_COL_INT8: r->lo[c] = INT8_MIN; r->hi[c] = INT8_MAX; break;
      case RK_COL_INT16: r->lo[c] = INT16_MIN; r->hi[c] = INT16_MAX; break;
      case RK_COL_INT32: r->lo[c] = INT32_MIN; r->hi[c] = INT32_MAX; break;
      case RK_COL_UINT8: r->lo[c] = 0; r->hi[c] = UINT8_MAX; break;
      case RK_COL_UINT16: r->lo[c] = 0; r->hi[c] = UINT16_MAX; break;
      case RK_COL_UINT32: r->lo[c] = 0; r->hi[c] = UINT32_MAX; break;
      case RK_COL_UINT64: r->lo[c] = 0; r->hi[c] = INT64_MAX; break;   /* larger values take the slow path */
      default: r->lo[c] = INT64_MIN; r->hi[c] = INT64_MAX; break;
    }
  }
  rk_free(state);
  if (o->range_end > 0) RK_TRY(seek_range(r, o->range_begin, o->range_end));
  /* Chunks of about one batch: a whole chunk is handed over without a copy. */
  int64_t cb = t && t->chunk_bytes > 0
                   ? t->chunk_bytes
                   : clamp64((int64_t)(r->row_bytes * (double)r->batch_rows * 0.9), (int64_t)64 << 10,
                             (int64_t)r->block_bytes / r->threads > ((int64_t)64 << 10)
                                 ? (int64_t)r->block_bytes / r->threads
                                 : (int64_t)64 << 10);
  r->chunk_bytes = (size_t)cb;
  return RK_OK;
}

rk_status rk_csv_open_tuned(rk_csv_reader **reader, const char *path, const rk_csv_options *opts,
                            const rk_csv_tuning *tuning) {
  *reader = NULL;
  rk_csv_options defaults;
  if (!opts) {
    rk_csv_options_default(&defaults);
    opts = &defaults;
  }
  rk_csv_reader *r = rk_calloc(1, sizeof *r);
  if (!r) return RK_ENOMEM;
  r->src.fd = -1;
  rk_status s = reader_setup(r, path, opts, tuning);
  if (s != RK_OK) {
    rk_csv_close(r);
    return s;
  }
  *reader = r;
  return RK_OK;
}

rk_status rk_csv_open(rk_csv_reader **reader, const char *path, const rk_csv_options *opts) {
  return rk_csv_open_tuned(reader, path, opts, NULL);
}

int rk_csv_num_columns(const rk_csv_reader *r) { return r->ncols; }
const char *rk_csv_column_name(const rk_csv_reader *r, int col) {
  return col >= 0 && col < r->ncols ? r->names[col] : NULL;
}
rk_coltype rk_csv_column_type(const rk_csv_reader *r, int col) {
  return col >= 0 && col < r->ncols ? r->types[col] : RK_COL_TYPE_COUNT;
}
int64_t rk_csv_bytes_read(const rk_csv_reader *r) { return r->bytes_read; }

void rk_csv_close(rk_csv_reader *r) {
  if (!r) return;
  source_close(&r->src);
  for (int i = 0; i < r->chunk_slots; i++) {
    if (r->chunks[i].cols)
      for (int c = 0; c < r->ncols; c++) rk_column_free(&r->chunks[i].cols[c]);
    rk_free(r->chunks[i].cols);
    rk_free(r->chunks[i].scratch.p);
  }
  rk_free(r->chunks);
  if (r->names)
    for (int c = 0; c < r->ncols; c++) rk_free(r->names[c]);
  rk_free(r->names);
  for (int i = 0; i < r->n_na; i++) rk_free(r->na[i]);
  rk_free(r->na);
  rk_free(r->na_len);
  rk_free(r->types);
  rk_free(r->elem_types);
  rk_free(r->kinds);
  rk_free(r->lo);
  rk_free(r->hi);
  rk_free(r->buf);
  rk_free(r->scratch.p);
  rk_free(r->sticky_message);
  rk_free(r->label);
  rk_free(r);
}

/* ---- batches ---------------------------------------------------------------------------------- */
static rk_status batch_prepare(const rk_csv_reader *r, rk_batch *batch) {
  if (batch->ncols == r->ncols && (r->ncols == 0 || batch->cols)) return RK_OK;
  if (batch->ncols != 0)
    return rk_error(RK_EINVAL, "batch has %d columns but '%s' has %d", batch->ncols, r->label, r->ncols);
  RK_TRY(rk_batch_init(batch, r->ncols));
  for (int c = 0; c < r->ncols; c++) {
    rk_status s = rk_column_init(&batch->cols[c], r->names[c], r->types[c], r->elem_types[c]);
    if (s != RK_OK) {
      rk_batch_free(batch);
      return s;
    }
  }
  return RK_OK;
}

/* Exchange buffers, keeping each side's name. */
static void column_swap(rk_column *a, rk_column *b) {
  rk_column t = *a;
  char *na = a->name, *nb = b->name;
  *a = *b;
  *b = t;
  a->name = na;
  b->name = nb;
}

static rk_status next_rows(rk_csv_reader *r, rk_batch *batch) {
  for (;;) {
    while (r->cur_chunk < r->nchunks) {
      csv_chunk *ch = &r->chunks[r->cur_chunk];
      int64_t left = ch->nrows - r->cur_row;
      if (left <= 0) {
        r->cur_chunk++;
        r->cur_row = 0;
        continue;
      }
      if (r->cur_row == 0 && ch->nrows <= r->batch_rows) {   /* the whole chunk: hand it over */
        int64_t cap = INT64_MAX;
        for (int c = 0; c < r->ncols; c++) {
          column_swap(&batch->cols[c], &ch->cols[c]);
          if (ch->cols[c].cap_rows < cap) cap = ch->cols[c].cap_rows;
        }
        ch->cap = cap;
        batch->nrows = ch->nrows;
        r->cur_chunk++;
        return RK_OK;
      }
      int64_t n = left < r->batch_rows ? left : r->batch_rows;
      rk_batch_clear(batch);
      for (int c = 0; c < r->ncols; c++)
        RK_TRY(rk_column_append_column(&batch->cols[c], &ch->cols[c], r->cur_row, r->cur_row + n));
      batch->nrows = n;
      r->cur_row += n;
      return RK_OK;
    }
    if (r->done) {
      rk_batch_clear(batch);
      return RK_OK;
    }
    RK_TRY(load_block(r));
  }
}

rk_status rk_csv_next(rk_csv_reader *r, rk_batch *batch) {
  if (r->sticky != RK_OK)
    return r->sticky_message ? rk_error(r->sticky, "%s", r->sticky_message) : rk_error(r->sticky, "%s", rk_strerror(r->sticky));
  RK_TRY(batch_prepare(r, batch));
  rk_status s = next_rows(r, batch);
  if (s != RK_OK) {
    batch->nrows = 0;
    r->sticky = s;
    r->sticky_message = rk_strdup(rk_error_message());
    rk_error(s, "%s", r->sticky_message ? r->sticky_message : rk_strerror(s));
  }
  return s;
}

rk_status rk_csv_read_all(const char *path, const rk_csv_options *opts, rk_batch *out) {
  memset(out, 0, sizeof *out);
  rk_csv_reader *r;
  RK_TRY(rk_csv_open(&r, path, opts));
  rk_batch part = {0};
  rk_status s = batch_prepare(r, out);
  while (s == RK_OK) {
    s = rk_csv_next(r, &part);
    if (s != RK_OK || part.nrows == 0) break;
    for (int c = 0; c < r->ncols && s == RK_OK; c++)
      s = rk_column_append_column(&out->cols[c], &part.cols[c], 0, part.nrows);
    if (s == RK_OK) out->nrows += part.nrows;
  }
  rk_batch_free(&part);
  rk_csv_close(r);
  if (s != RK_OK) rk_batch_free(out);
  return s;
}
