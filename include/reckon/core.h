/*
 * reckon/core.h: the bottom layer every other layer stands on.
 *
 * Status codes and error messages, the allocation hook, arenas, tensors, Arrow-style columns,
 * the counter-based RNG, the deterministic parallel-for, logging and progress.
 * It is not: I/O, math kernels or anything that knows about recommender systems.
 *
 * Conventions (docs/design.md): library functions return rk_status (0 = RK_OK, negative = error)
 * and leave a message for rk_error_message(); callers own structs; outputs come first.
 */
#ifndef RECKON_CORE_H
#define RECKON_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes: one X-macro list, negative values, with rk_strerror (libuv's habit).
 * ------------------------------------------------------------------------------------------- */
#define RK_STATUS_LIST(X)                                                         \
  X(OK,          0,   "success")                                                  \
  X(ENOMEM,      -1,  "out of memory")                                            \
  X(EINVAL,      -2,  "invalid argument")                                         \
  X(EIO,         -3,  "input/output error")                                       \
  X(EPARSE,      -4,  "cannot parse input")                                       \
  X(EFORMAT,     -5,  "malformed file")                                           \
  X(EUNSUPPORTED,-6,  "unsupported")                                              \
  X(ENOTFOUND,   -7,  "not found")                                                \
  X(ERANGE,      -8,  "value out of range")                                       \
  X(ESHAPE,      -9,  "shape mismatch")                                           \
  X(EUSAGE,      -10, "bad usage")                                                \
  X(EINTERNAL,   -11, "internal error")

typedef enum {
#define RK_STATUS_ENUM(name, value, text) RK_##name = value,
  RK_STATUS_LIST(RK_STATUS_ENUM)
#undef RK_STATUS_ENUM
} rk_status;

/* The generic text of a status ("out of memory"); never NULL. */
const char *rk_strerror(rk_status status);
/* The symbolic name ("RK_ENOMEM"); never NULL. */
const char *rk_status_name(rk_status status);

/* ---------------------------------------------------------------------------------------------
 * Error messages: one per thread. rk_error() formats the message and returns its status, so a
 * failure reads `return rk_error(RK_EPARSE, "cannot parse '%s' as int64 in '%s' row %lld, ...")`.
 * Messages name the problem first and quote the subject (git's habit).
 * ------------------------------------------------------------------------------------------- */
#define RK_ERROR_MAX 1024
#if defined(__GNUC__)
#define RK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define RK_PRINTF(f, a)
#endif
rk_status rk_error(rk_status status, const char *fmt, ...) RK_PRINTF(2, 3);
rk_status rk_verror(rk_status status, const char *fmt, va_list ap);
/* Prefix the current message with context: "reading 'a.csv': <old message>". Returns status. */
rk_status rk_error_context(rk_status status, const char *fmt, ...) RK_PRINTF(2, 3);
/* The current thread's last message, or the generic text of the last status when none was set. */
const char *rk_error_message(void);
rk_status rk_error_status(void);
void rk_error_clear(void);

#ifdef __cplusplus
#define RK_NORETURN [[noreturn]]
#else
#define RK_NORETURN _Noreturn
#endif
/* RK_ASSERT is for our own bugs, never for user input: it prints and aborts. */
#define RK_ASSERT(cond)                                                                   \
  do {                                                                                    \
    if (!(cond)) rk_assert_fail(#cond, __FILE__, __LINE__);                               \
  } while (0)
RK_NORETURN void rk_assert_fail(const char *expr, const char *file, int line);

/* Propagate a failing status unchanged. */
#define RK_TRY(expr)                                                                      \
  do {                                                                                    \
    rk_status rk_try_status_ = (expr);                                                    \
    if (rk_try_status_ != RK_OK) return rk_try_status_;                                   \
  } while (0)

/* ---------------------------------------------------------------------------------------------
 * The allocation hook. Every allocation in reckon goes through these, so tests can count live
 * bytes (leaks) and make the n-th allocation fail (failure paths). A failing call leaves an
 * RK_ENOMEM message naming the size. rk_free(NULL) is a no-op.
 * ------------------------------------------------------------------------------------------- */
void *rk_malloc(size_t size);
void *rk_calloc(size_t count, size_t size);
void *rk_realloc(void *ptr, size_t size);
void rk_free(void *ptr);
char *rk_strdup(const char *s);
char *rk_strndup(const char *s, size_t n);
/* Aligned to `align` (a power of two, at least sizeof(void *)); free with rk_free. */
void *rk_aligned_alloc(size_t align, size_t size);
void *rk_aligned_calloc(size_t align, size_t size);   /* the same, zeroed */

int64_t rk_alloc_live_bytes(void);     /* bytes currently allocated through the hook */
int64_t rk_alloc_count(void);          /* allocations made so far (successful or not) */
/* Make the allocation `n` calls from now fail (n = 0: the next one); -1 turns injection off. */
void rk_alloc_fail_after(int64_t n);
/* True when the last injected failure fired since the last call of rk_alloc_fail_after. */
bool rk_alloc_fail_fired(void);

/* ---------------------------------------------------------------------------------------------
 * Checked sizes (src/core/checked.c). Every count, shape, byte size, batch or thread count that
 * comes from input (a file's header, a schema's domain, a flag) is combined here, never with a
 * bare `*` or `+`: a result that is negative or above RK_SIZE_MAX fails with RK_ERANGE and a
 * message naming `what` ("tensor 'w' of 'model.safetensors': element count"), instead of wrapping
 * around into a small allocation or a wrong loop bound. RK_SIZE_MAX (2^48, 256 Ti) is beyond any
 * real count of elements or bytes, and small enough that a checked size times 8 (an element's
 * bytes) or plus another checked size still fits int64_t and size_t.
 * ------------------------------------------------------------------------------------------- */
#define RK_SIZE_MAX (INT64_C(1) << 48)
/* *out = a * b; both must be in [0, RK_SIZE_MAX]. */
rk_status rk_size_mul(int64_t *out, int64_t a, int64_t b, const char *what);
/* *out = a + b; both must be in [0, RK_SIZE_MAX]. */
rk_status rk_size_add(int64_t *out, int64_t a, int64_t b, const char *what);
/* *out = shape[0] * ... * shape[ndim - 1] (1 for ndim 0); every axis must be in [0, RK_SIZE_MAX]. */
rk_status rk_size_numel(int64_t *out, int ndim, const int64_t *shape, const char *what);

/* Machine memory (src/core/memory.c), from /proc/meminfo (sysconf elsewhere); 0 when unknown. */
int64_t rk_memory_total_bytes(void);
int64_t rk_memory_available_bytes(void);
/* Refuse, before allocating, a run whose estimate `need` is more than the memory available:
 * RK_ENOMEM with "<what> needs ~X GiB, this machine has Y GiB available (of Z GiB)". Unknown
 * machine memory passes. */
rk_status rk_memory_check(int64_t need, const char *what);

/* ---------------------------------------------------------------------------------------------
 * Arena: bump allocation from chunks, freed all at once. Not thread-safe; one per owner.
 * ------------------------------------------------------------------------------------------- */
typedef struct rk_arena_chunk rk_arena_chunk;
typedef struct {
  rk_arena_chunk *head;   /* newest chunk */
  size_t chunk_size;      /* default size of new chunks */
  size_t used;            /* bytes handed out since init/reset (for statistics) */
} rk_arena;

void rk_arena_init(rk_arena *arena, size_t chunk_size);
/* NULL (with an RK_ENOMEM message) when memory runs out. align: power of two, 0 = 16. */
void *rk_arena_alloc(rk_arena *arena, size_t size, size_t align);
char *rk_arena_strdup(rk_arena *arena, const char *s);
/* Forget everything allocated but keep the largest chunk for reuse. */
void rk_arena_reset(rk_arena *arena);
void rk_arena_free(rk_arena *arena);

/* ---------------------------------------------------------------------------------------------
 * Tensors: the dense n-d arrays of the compute graph (row-major, contiguous).
 * ------------------------------------------------------------------------------------------- */
#define RK_DTYPE_LIST(X)          \
  X(F32,  "f32",  4)              \
  X(F16,  "f16",  2)              \
  X(BF16, "bf16", 2)              \
  X(I8,   "i8",   1)              \
  X(I16,  "i16",  2)              \
  X(I32,  "i32",  4)              \
  X(I64,  "i64",  8)              \
  X(U8,   "u8",   1)

typedef enum {
#define RK_DTYPE_ENUM(name, text, size) RK_DT_##name,
  RK_DTYPE_LIST(RK_DTYPE_ENUM)
#undef RK_DTYPE_ENUM
  RK_DT_COUNT
} rk_dtype;

typedef enum { RK_DEVICE_CPU = 0, RK_DEVICE_CUDA = 1 } rk_device;

#define RK_TENSOR_MAX_DIMS 5
typedef struct {
  rk_dtype dtype;
  rk_device device;
  int ndim;
  int64_t shape[RK_TENSOR_MAX_DIMS];
  void *data;       /* contiguous; owned when `owned` */
  bool owned;
} rk_tensor;

size_t rk_dtype_size(rk_dtype dtype);
const char *rk_dtype_name(rk_dtype dtype);
rk_status rk_dtype_parse(const char *name, rk_dtype *out);
int64_t rk_tensor_numel(const rk_tensor *t);
size_t rk_tensor_nbytes(const rk_tensor *t);
/* Allocate a zeroed CPU tensor. Shapes with ndim outside 0..5 or negative sizes are RK_ESHAPE. */
rk_status rk_tensor_alloc(rk_tensor *t, rk_dtype dtype, int ndim, const int64_t *shape);
/* Describe memory owned elsewhere (an arena, a planned buffer). */
rk_status rk_tensor_view(rk_tensor *t, rk_dtype dtype, int ndim, const int64_t *shape, void *data);
void rk_tensor_free(rk_tensor *t);
/* "f32[4096, 64]" into buf. */
const char *rk_tensor_describe(const rk_tensor *t, char *buf, size_t size);

/* Half-precision conversions (round to nearest even). */
uint16_t rk_f32_to_f16(float x);
float rk_f16_to_f32(uint16_t h);
uint16_t rk_f32_to_bf16(float x);
float rk_bf16_to_f32(uint16_t h);

/* ---------------------------------------------------------------------------------------------
 * Columns and batches: typed columns laid out as Arrow lays them out, so CSV, Parquet, ETL,
 * the loaders and an Arrow C Data Interface export share one in-memory format.
 *   fixed width:  values[length]                     (+ validity bitmap, LSB first, 1 = valid)
 *   string:       offsets[length + 1] (int64) into chars (Arrow large_utf8)
 *   list:         offsets[length + 1] (int64) into a child column of elem_type (Arrow large_list)
 * validity == NULL means "no nulls". A null slot's value is zero (fixed) or empty (string/list).
 * ------------------------------------------------------------------------------------------- */
#define RK_COLTYPE_LIST(X)            \
  X(INT8,    "int8",    1)            \
  X(INT16,   "int16",   2)            \
  X(INT32,   "int32",   4)            \
  X(INT64,   "int64",   8)            \
  X(UINT8,   "uint8",   1)            \
  X(UINT16,  "uint16",  2)            \
  X(UINT32,  "uint32",  4)            \
  X(UINT64,  "uint64",  8)            \
  X(FLOAT32, "float32", 4)            \
  X(FLOAT64, "float64", 8)            \
  X(STRING,  "string",  0)            \
  X(LIST,    "list",    0)

typedef enum {
#define RK_COLTYPE_ENUM(name, text, width) RK_COL_##name,
  RK_COLTYPE_LIST(RK_COLTYPE_ENUM)
#undef RK_COLTYPE_ENUM
  RK_COL_TYPE_COUNT
} rk_coltype;

typedef struct rk_column {
  char *name;
  rk_coltype type;
  int64_t length;
  int64_t null_count;
  uint8_t *validity;        /* NULL when no slot is null */
  void *values;             /* fixed-width values, or string bytes */
  int64_t *offsets;         /* string and list: length + 1 entries, offsets[0] == 0 */
  struct rk_column *child;  /* list: the element column (no name; a null slot is a null element) */
  /* capacities, in elements (values: elements or bytes for strings) */
  int64_t cap_rows;
  int64_t cap_values;
} rk_column;

size_t rk_coltype_width(rk_coltype type);          /* 0 for string and list */
const char *rk_coltype_name(rk_coltype type);
rk_status rk_coltype_parse(const char *name, rk_coltype *out);
bool rk_coltype_is_int(rk_coltype type);
bool rk_coltype_is_float(rk_coltype type);

/* A list column needs elem_type; other types ignore it. name may be NULL. */
rk_status rk_column_init(rk_column *col, const char *name, rk_coltype type, rk_coltype elem_type);
void rk_column_free(rk_column *col);
void rk_column_clear(rk_column *col);                 /* length 0, keep buffers */
rk_status rk_column_reserve(rk_column *col, int64_t rows, int64_t values);
/* Appends. Typed appends convert (with range checks) into the column's type. */
rk_status rk_column_append_null(rk_column *col);
rk_status rk_column_append_int(rk_column *col, int64_t v);
rk_status rk_column_append_uint(rk_column *col, uint64_t v);
rk_status rk_column_append_double(rk_column *col, double v);
rk_status rk_column_append_string(rk_column *col, const char *s, size_t n);
/* Append a whole list row from elements already pushed to col->child since the last row. */
rk_status rk_column_finish_list_row(rk_column *col);
/* Append rows [begin, end) of src (same type) to dst. */
rk_status rk_column_append_column(rk_column *dst, const rk_column *src, int64_t begin, int64_t end);
bool rk_column_is_null(const rk_column *col, int64_t row);
/* Read any numeric slot as int64/double (strings and lists: RK_EINVAL). A float read as int64
 * truncates toward zero and saturates; NaN reads 0. */
int64_t rk_column_get_int(const rk_column *col, int64_t row);
double rk_column_get_double(const rk_column *col, int64_t row);
/* A string slot, not NUL-terminated. */
const char *rk_column_get_string(const rk_column *col, int64_t row, size_t *len);
/* Mark a row null after the fact (allocates the bitmap when needed). */
rk_status rk_column_set_null(rk_column *col, int64_t row);
/* Deep equality of type, length, nulls and values (floats bitwise). */
bool rk_column_equal(const rk_column *a, const rk_column *b);

typedef struct {
  int ncols;
  rk_column *cols;     /* ncols columns, owned */
  int64_t nrows;
} rk_batch;

rk_status rk_batch_init(rk_batch *batch, int ncols);
void rk_batch_free(rk_batch *batch);
void rk_batch_clear(rk_batch *batch);                 /* 0 rows, keep columns and buffers */
int rk_batch_find(const rk_batch *batch, const char *name);   /* index or -1 */
/* dst = the rows rows[0..n) of src, in that order (nulls kept). dst's buffers are reused when it
 * already holds src's columns (names and types), so a loader cutting batch after batch allocates
 * only while they grow; otherwise dst is rebuilt. A row outside src is RK_ERANGE; on any failure
 * dst holds 0 rows. */
rk_status rk_batch_take(rk_batch *dst, const rk_batch *src, const int64_t *rows, int64_t n);

/* ---------------------------------------------------------------------------------------------
 * Counter-based RNG: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC 2011). A value depends only on (seed, stream, counter), never on threads or call order
 * elsewhere, so each row/op/thread-chunk takes its own stream and results are reproducible.
 * ------------------------------------------------------------------------------------------- */
void rk_philox4x32_10(uint32_t out[4], const uint32_t counter[4], const uint32_t key[2]);

typedef struct {
  uint64_t seed;      /* key */
  uint64_t stream;    /* high half of the counter */
  uint64_t counter;   /* low half, advanced per block of 4 words */
  uint32_t buf[4];
  int avail;          /* unread words left in buf */
  bool has_spare;     /* Box-Muller's second normal */
  double spare;
} rk_rng;

void rk_rng_init(rk_rng *rng, uint64_t seed, uint64_t stream);
/* Jump to block `counter` of the stream (each block is 4 words). */
void rk_rng_seek(rk_rng *rng, uint64_t counter);
uint32_t rk_rng_u32(rk_rng *rng);
uint64_t rk_rng_u64(rk_rng *rng);
double rk_rng_uniform(rk_rng *rng);                   /* [0, 1), 53 bits */
float rk_rng_uniformf(rk_rng *rng);                   /* [0, 1), 24 bits */
double rk_rng_normal(rk_rng *rng);                    /* mean 0, std 1 (Box-Muller) */
bool rk_rng_bernoulli(rk_rng *rng, double p);
uint64_t rk_rng_below(rk_rng *rng, uint64_t n);       /* uniform in [0, n), unbiased; n > 0 */
/* perm[i] = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
void rk_rng_permutation(rk_rng *rng, int64_t *perm, int64_t n);
void rk_rng_shuffle(rk_rng *rng, int64_t *items, int64_t n);
/* Stateless: the uniform for element `index` of (seed, stream), for per-element kernels. */
double rk_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t index);

/* ---------------------------------------------------------------------------------------------
 * Parallelism: OpenMP with static chunking. The work is cut into chunks that depend only on n
 * and the grain, never on the thread count, and reductions combine chunk results in chunk
 * order, so results are bit-identical for 1, 2 or 16 threads.
 * ------------------------------------------------------------------------------------------- */
int rk_num_threads(void);
/* The most threads reckon starts: far past any machine's cores, short of what the system refuses
 * (OpenMP aborts when it cannot create a thread). */
#define RK_THREADS_MAX 1024
/* n <= 0 restores the default (OMP_NUM_THREADS, else the cores); n > RK_THREADS_MAX is RK_ERANGE
 * and changes nothing. */
rk_status rk_set_num_threads(int64_t n);

/* fn(ctx, chunk, begin, end) for each chunk of [0, n); chunks of `grain` items (last shorter). */
typedef void (*rk_chunk_fn)(void *ctx, int64_t chunk, int64_t begin, int64_t end);
int64_t rk_chunk_count(int64_t n, int64_t grain);
void rk_parallel_for(int64_t n, int64_t grain, rk_chunk_fn fn, void *ctx);
/* Same, but fn returns a status; the first failing chunk (lowest index) wins. */
typedef rk_status (*rk_chunk_try_fn)(void *ctx, int64_t chunk, int64_t begin, int64_t end);
rk_status rk_parallel_try(int64_t n, int64_t grain, rk_chunk_try_fn fn, void *ctx);
/* Items of uneven cost (src/core/work_queue.c): fn(ctx, worker, item) for each item of
 * [0, nitems) on up to nworkers threads, each worker taking the next item when it finishes one;
 * worker (0..nworkers-1) selects per-worker scratch. Items write only their own outputs, so
 * results do not depend on the thread count. Failure: the lowest failing item's status and
 * message (items after it are skipped, items before it still run). */
typedef rk_status (*rk_item_fn)(void *ctx, int worker, int64_t item);
int rk_parallel_workers(int64_t nitems);   /* min(rk_num_threads(), nitems), at least 1 */
rk_status rk_parallel_items(int64_t nitems, int nworkers, rk_item_fn fn, void *ctx);
/* Deterministic sums: partial sums per chunk of `grain`, combined in chunk order. */
double rk_parallel_sum_f64(const double *x, int64_t n, int64_t grain);
double rk_parallel_sum_f32(const float *x, int64_t n, int64_t grain);

/* ---------------------------------------------------------------------------------------------
 * Logging and progress. The library logs to stderr through one function; `--quiet` raises the
 * level. Progress bars draw in place on a terminal and print a plain line every few seconds
 * otherwise; `--progress=never` silences them.
 * ------------------------------------------------------------------------------------------- */
typedef enum { RK_LOG_DEBUG, RK_LOG_INFO, RK_LOG_WARN, RK_LOG_ERROR, RK_LOG_OFF } rk_log_level;
void rk_log_set_level(rk_log_level level);
rk_log_level rk_log_get_level(void);
/* Where log lines go (default stderr); for tests. */
void rk_log_set_stream(FILE *stream);
void rk_log(rk_log_level level, const char *fmt, ...) RK_PRINTF(2, 3);
#define rk_debug(...) rk_log(RK_LOG_DEBUG, __VA_ARGS__)
#define rk_info(...)  rk_log(RK_LOG_INFO, __VA_ARGS__)
#define rk_warn(...)  rk_log(RK_LOG_WARN, __VA_ARGS__)

typedef enum { RK_PROGRESS_AUTO, RK_PROGRESS_ALWAYS, RK_PROGRESS_NEVER } rk_progress_mode;
void rk_progress_set_mode(rk_progress_mode mode);
rk_status rk_progress_mode_parse(const char *s, rk_progress_mode *out);

typedef struct {
  const char *label;
  const char *unit;        /* "rows", "MB", ... */
  double total;            /* 0 when unknown */
  double done;
  double start_s;
  double last_draw_s;
  bool active;
  bool tty;
  FILE *stream;
  char note[96];           /* shown after the rate, e.g. "step 12/40, loss 0.4321"; may be empty */
} rk_progress;

void rk_progress_begin(rk_progress *p, const char *label, double total, const char *unit);
void rk_progress_update(rk_progress *p, double done);   /* cheap: draws at most a few times/s */
void rk_progress_end(rk_progress *p);
/* Monotonic seconds. */
double rk_now(void);

/* ---------------------------------------------------------------------------------------------
 * The one hash of reckon (src/core/hash.c), for every hashed feature and cross (the wide part of
 * Wide & Deep, hashed crosses, serving): xxh64 with seed 0 over the value's canonical bytes:
 * an integer as 8 little-endian bytes, a string as its bytes (UTF-8), a cross as the two hashes
 * as 16 little-endian bytes. A bucket is the hash modulo the bucket count.
 * ------------------------------------------------------------------------------------------- */
uint64_t rk_hash_int(int64_t v);
uint64_t rk_hash_bytes(const void *data, size_t len);
uint64_t rk_hash_cross(uint64_t a, uint64_t b);

/* ---------------------------------------------------------------------------------------------
 * UTF-8 (src/core/utf8.c): the one check for text that other tools will read as UTF-8 (CSV
 * fields and names, Parquet STRING columns). Well-formed per RFC 3629; ASCII runs are checked
 * 8 bytes at a time.
 * ------------------------------------------------------------------------------------------- */
/* Bytes of the longest well-formed prefix of text[0, n): n when all of it is valid UTF-8. */
size_t rk_utf8_valid_prefix(const char *text, size_t n);
/* The first of the n strings values[offsets[i], offsets[i + 1]) (Arrow's layout) that is not
 * valid UTF-8, or -1; *at: the offset of its first bad byte. All the bytes are checked in one
 * pass first, string by string only when that pass finds something. */
int64_t rk_utf8_first_invalid(const char *values, const int64_t *offsets, int64_t n, size_t *at);
/* text with each ill-formed part replaced by U+FFFD (EF BF BD) into dst (room for 3 * n bytes);
 * returns the bytes written. dst NULL: only the length. */
size_t rk_utf8_repair(char *dst, const char *text, size_t n);

/* ---------------------------------------------------------------------------------------------
 * Name index (src/core/name_index.c): names to small integers in expected O(1), for tables looked
 * up by column name (a schema's, a batch's, a file's header), where a scan per lookup made a
 * dataset of 100,000 columns quadratic. Names are not copied: they must outlive the index.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  const char **names;   /* (cap) open addressing; NULL = empty slot */
  int *values;          /* (cap) */
  int64_t cap;          /* a power of two, at least twice n */
  int64_t n;
} rk_name_index;

void rk_name_index_init(rk_name_index *ix);
void rk_name_index_free(rk_name_index *ix);
/* Map name to value. When name is already there, nothing changes and *existing (when not NULL)
 * is its value; otherwise *existing is -1. */
rk_status rk_name_index_put(rk_name_index *ix, const char *name, int value, int *existing);
/* The value of name, or -1. */
int rk_name_index_get(const rk_name_index *ix, const char *name);
/* Whether `name` is one of the comma-separated names in `list` (src/core/name_list.c), whole
 * names only ("user" is not in "user_id,item_id"); a NULL or empty list holds none. */
bool rk_name_listed(const char *list, const char *name);

/* ---------------------------------------------------------------------------------------------
 * Small shared helpers.
 * ------------------------------------------------------------------------------------------- */
/* Write `data` to `path` atomically: a temporary name in the same folder, then rename. */
rk_status rk_write_file_atomic(const char *path, const void *data, size_t size);
/* Read a whole file (NUL appended, not counted in *size). */
rk_status rk_read_file(const char *path, char **data, size_t *size);
/* Create a folder and its parents; an existing folder is fine. */
rk_status rk_mkdir_p(const char *path);
/* Remove a file or a folder with everything under it (rm -rf); an absent path is fine. */
rk_status rk_remove_tree(const char *path);
/* Copy the folder `from` with everything under it to `to` (created; files overwritten). */
rk_status rk_copy_tree(const char *from, const char *to);
/* Move the folder `from` to `to`, replacing what `to` held; on Linux the swap is atomic, so a crash
 * leaves `to` whole, old or new. */
rk_status rk_replace_dir(const char *from, const char *to);
/* A temporary name for `path`, unique per process and call: "<path>.tmp.<pid>.<n>" (rk_free it). */
char *rk_temp_path(const char *path);

/* ---------------------------------------------------------------------------------------------
 * Outputs (src/core/output.c): reckon never deletes or overwrites what it did not write, and never
 * publishes half a set. Every command that writes a folder claims it first: a target that is
 * absent, empty, or marked by `.reckon-output` as the same kind ("model", "train-output",
 * "preprocess", "dataset", "workflow", "predictions", "transform", "checkpoint") may be replaced;
 * anything else needs the user's --overwrite. A folder written in place is locked for the run.
 * Temporaries carry the writer's pid, and those of dead processes are swept at the next run.
 * ------------------------------------------------------------------------------------------- */
#define RK_OUTPUT_MARKER ".reckon-output"
/* Whether a file name is reckon's own bookkeeping in an output folder (the marker, the lock), not
 * part of the output's content: hashes and listings of an output skip it. */
bool rk_output_is_bookkeeping(const char *name);
#define RK_OUTPUT_ID_SIZE 32
typedef struct {
  char kind[RK_OUTPUT_ID_SIZE];
  char run[RK_OUTPUT_ID_SIZE];          /* the run that published the folder ("" when none) */
  char publishing[RK_OUTPUT_ID_SIZE];   /* a run that began publishing and has not finished */
} rk_output_marker;

/* May the folder `path` receive a reckon output of `kind`? RK_EUSAGE naming the folder and what it
 * holds when not, unless `overwrite`. A regular file there is replaced only with `overwrite`. */
rk_status rk_output_check_dir(const char *path, const char *kind, bool overwrite);
/* May the file `path` be written? Yes when absent; an existing file only with `overwrite`. */
rk_status rk_output_check_file(const char *path, bool overwrite);
/* Read the marker of folder `dir` (*found false, all fields "" when it has none). */
rk_status rk_output_read_marker(const char *dir, rk_output_marker *m, bool *found);
rk_status rk_output_write_marker(const char *dir, const rk_output_marker *m);
/* Mark `dir` (a staged folder, before it is published) as an output of `kind` from `run` (may be NULL). */
rk_status rk_output_mark(const char *dir, const char *kind, const char *run);
/* A fresh run id (16 hex digits) for a set's markers. */
void rk_output_run_id(char out[RK_OUTPUT_ID_SIZE]);

/* A folder written in place, held for the run: check (as rk_output_check_dir), create, lock
 * (RK_EUSAGE naming the other run's pid when another holds it), sweep dead runs' temporaries and
 * mark. Release when the run ends; the kernel releases it when the process dies. */
typedef struct {
  bool held;          /* zeroed: nothing held, so release is always safe */
  int lock_fd;        /* the flock's descriptor while held */
  char *lock_path;    /* <dir>/.reckon-lock, removed on release */
} rk_output;
rk_status rk_output_claim(rk_output *out, const char *dir, const char *kind, bool overwrite);
/* The additive form, for a folder a run only adds its own named files to (train's --output_path,
 * widedeep's --results_dir): whatever else the folder holds stays and is no reason to refuse; refused
 * are a folder marked as another kind and, unless `overwrite`, an unmarked folder that already has
 * one of `names` (NULL-terminated). */
rk_status rk_output_check_names(const char *path, const char *kind, const char *const *names, bool overwrite);
rk_status rk_output_claim_names(rk_output *out, const char *dir, const char *kind, const char *const *names,
                                bool overwrite);
void rk_output_release(rk_output *out);
/* Undo the claim of a folder this run created and left empty: release, and remove the folder. */
void rk_output_unclaim(rk_output *out, const char *dir);

/* The pid in a reckon temporary's name (".reckon-tmp-<pid>", "<x>.tmp.<pid>[.<n>]", "<x>.tmp-<pid>"), else 0. */
long rk_output_temp_pid(const char *name);
/* Remove the temporaries of dead processes in `dir`: all of them, or (stem not NULL) only those
 * named "<stem>.tmp...". A live pid's are kept. */
rk_status rk_output_sweep(const char *dir, const char *stem);
/* The same, beside `path`: the temporaries of `path` in its parent folder. */
rk_status rk_output_sweep_beside(const char *path);

/* Files published together: each is written under a temporary name, and all move into place at
 * once at the end, after every one was written and closed; freeing removes what was not published. */
#define RK_OUTPUT_SET_MAX 16
typedef struct {
  int n;
  char *final[RK_OUTPUT_SET_MAX];
  char *temp[RK_OUTPUT_SET_MAX];
} rk_output_set;
/* Add `final_path` to the set; *temp is where to write it (owned by the set). */
rk_status rk_output_set_add(rk_output_set *set, const char *final_path, const char **temp);
rk_status rk_output_set_publish(rk_output_set *set);
void rk_output_set_free(rk_output_set *set);

/* Readers of one part of a set (train/ of a preprocess output): RK_EFORMAT naming both run ids
 * when the part's run is not the one its parent folder records as published. */
rk_status rk_output_check_set(const char *dir);

/* Peak resident memory of this process so far, in bytes (0 when unknown). */
int64_t rk_peak_rss_bytes(void);

/* Build information. */
const char *rk_version(void);          /* "0.1.0" */
const char *rk_git_revision(void);     /* "abc1234" or "unknown" */
const char *rk_build_features(void);   /* "openmp openblas cuda mpi ..." */

#ifdef __cplusplus
}
#endif
#endif /* RECKON_CORE_H */
