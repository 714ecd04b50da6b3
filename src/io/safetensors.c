/*
 * safetensors: the weights format of Hugging Face's `safetensors` package, so a model reckon
 * saves opens with `safetensors.numpy.load_file` or `torch` as it is. Reading validates the whole
 * header against the buffer (the format's rules: no holes, no overlaps, sizes from shapes).
 * Reference: github.com/huggingface/safetensors, README "Format".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "reckon/io.h"

static const struct {
  rk_dtype dtype;
  const char *name;
} dtype_names[] = {{RK_DT_F32, "F32"}, {RK_DT_F16, "F16"}, {RK_DT_BF16, "BF16"}, {RK_DT_I8, "I8"},
                   {RK_DT_I16, "I16"}, {RK_DT_I32, "I32"}, {RK_DT_I64, "I64"},  {RK_DT_U8, "U8"}};

static const char *dtype_name(rk_dtype t) {
  for (size_t i = 0; i < sizeof dtype_names / sizeof *dtype_names; i++)
    if (dtype_names[i].dtype == t) return dtype_names[i].name;
  return NULL;
}

static bool dtype_parse(const char *s, rk_dtype *out) {
  for (size_t i = 0; s && i < sizeof dtype_names / sizeof *dtype_names; i++)
    if (strcmp(dtype_names[i].name, s) == 0) return *out = dtype_names[i].dtype, true;
  return false;
}

/* A tensor's bytes from its shape and dtype, checked: a header may claim any shape. */
static rk_status tensor_bytes(int64_t *out, const char *name, rk_dtype dtype, int ndim, const int64_t *shape) {
  char what[320];
  snprintf(what, sizeof what, "the byte size of tensor '%s'", name);
  int64_t n;
  RK_TRY(rk_size_numel(&n, ndim, shape, what));
  return rk_size_mul(out, n, (int64_t)rk_dtype_size(dtype), what);
}

/* ---- writing ---- */

/* A block of rows read_rows gives at a time: about 4 MiB, at least one row. */
#define STREAM_BYTES (4 << 20)

/* One tensor's bytes (its size checked by the caller), from data or read_rows block by block. */
static rk_status write_tensor(FILE *f, const rk_st_tensor *x) {
  int64_t numel = 1;
  for (int d = 0; d < x->ndim; d++) numel *= x->shape[d];
  size_t bytes = (size_t)numel * rk_dtype_size(x->dtype);
  if (bytes == 0) return RK_OK;
  if (x->data) {
    if (fwrite(x->data, 1, bytes, f) != bytes) return rk_error(RK_EIO, "cannot write tensor '%s': %s", x->name, strerror(errno));
    return RK_OK;
  }
  if (!x->read_rows) return rk_error(RK_EINVAL, "safetensors: tensor '%s' has neither data nor rows to read", x->name);
  int64_t rows = x->ndim ? x->shape[0] : 1, row_bytes = (int64_t)bytes / rows;
  int64_t block = STREAM_BYTES / row_bytes > 0 ? STREAM_BYTES / row_bytes : 1;
  if (block > rows) block = rows;
  void *buf = rk_malloc((size_t)(block * row_bytes));
  if (!buf) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int64_t first = 0; st == RK_OK && first < rows; first += block) {
    int64_t k = rows - first < block ? rows - first : block;
    st = x->read_rows(x->ctx, buf, first, k);
    if (st == RK_OK && fwrite(buf, 1, (size_t)(k * row_bytes), f) != (size_t)(k * row_bytes))
      st = rk_error(RK_EIO, "cannot write tensor '%s': %s", x->name, strerror(errno));
  }
  rk_free(buf);
  return st;
}

rk_status rk_safetensors_write(const char *path, const rk_st_tensor *t, int n, const char *const *meta_keys,
                               const char *const *meta_values, int nmeta) {
  json_t *root = json_object();
  if (!root) return RK_ENOMEM;
  rk_status st = RK_OK;
  int64_t offset = 0;
  if (nmeta > 0) {
    json_t *meta = json_object();
    for (int i = 0; meta && i < nmeta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]));
    if (!meta || json_object_set_new(root, "__metadata__", meta) != 0) st = RK_ENOMEM;
  }
  for (int i = 0; st == RK_OK && i < n; i++) {
    const char *dt = dtype_name(t[i].dtype);
    if (!dt) st = rk_error(RK_EUNSUPPORTED, "safetensors: tensor '%s' has a dtype the format lacks", t[i].name);
    if (st == RK_OK && json_object_get(root, t[i].name))
      st = rk_error(RK_EINVAL, "safetensors: two tensors are named '%s'", t[i].name);
    int64_t bytes = 0;
    if (st == RK_OK) st = tensor_bytes(&bytes, t[i].name, t[i].dtype, t[i].ndim, t[i].shape);
    if (st == RK_OK) st = rk_size_add(&offset, offset, bytes, "the tensors' total bytes");
    if (st == RK_ERANGE) st = rk_error_context(st, "cannot write '%s'", path);
    json_t *shape = json_array();
    for (int d = 0; shape && d < t[i].ndim; d++) json_array_append_new(shape, json_integer(t[i].shape[d]));
    json_t *e = st == RK_OK ? json_pack("{sssos[II]}", "dtype", dt, "shape", shape, "data_offsets",
                                        (json_int_t)(offset - bytes), (json_int_t)offset)
                            : (json_decref(shape), NULL);
    if (st == RK_OK && (!e || json_object_set_new(root, t[i].name, e) != 0)) st = RK_ENOMEM;
  }
  char *header = st == RK_OK ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(root);
  if (st != RK_OK) return st;
  if (!header) return RK_ENOMEM;
  char *tmp = rk_temp_path(path);
  FILE *f = tmp ? fopen(tmp, "wb") : NULL;
  if (!f) {
    st = tmp ? rk_error(RK_EIO, "cannot create '%s': %s", tmp, strerror(errno)) : RK_ENOMEM;
    free(header);
    rk_free(tmp);
    return st;
  }
  size_t hlen = strlen(header), padded = (hlen + 7) / 8 * 8;
  uint8_t size[8];
  for (int b = 0; b < 8; b++) size[b] = (uint8_t)((uint64_t)padded >> (8 * b));
  fwrite(size, 1, 8, f);
  fwrite(header, 1, hlen, f);
  for (size_t i = hlen; i < padded; i++) fputc(' ', f);
  free(header);
  for (int i = 0; st == RK_OK && i < n; i++) st = write_tensor(f, &t[i]);
  if (ferror(f) && st == RK_OK) st = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
  if (fclose(f) != 0 && st == RK_OK) st = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
  if (st == RK_OK && rename(tmp, path) != 0) st = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
  if (st != RK_OK) unlink(tmp);
  rk_free(tmp);
  return st;
}

/* ---- reading ---- */

typedef struct {
  char *name;
  rk_dtype dtype;
  int ndim;
  int64_t shape[8];
  int64_t begin, end;
} entry;

struct rk_safetensors {
  char *path;
  char *bytes;             /* the whole file */
  const uint8_t *data;     /* the tensors' buffer */
  entry *entries;
  int n;
  json_t *meta;
};

static int by_offset(const void *a, const void *b) {
  const entry *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;   /* an empty tensor before the one it sits at */
}

static rk_status bad(const char *path, const char *what, const char *tensor) {
  return rk_error(RK_EFORMAT, "'%s' is not a valid safetensors file: %s%s%s", path, what, tensor ? " in tensor " : "",
                  tensor ? tensor : "");
}

static rk_status parse_entry(rk_safetensors *f, const char *name, json_t *v, entry *e) {
  memset(e, 0, sizeof *e);
  json_t *shape = json_object_get(v, "shape"), *off = json_object_get(v, "data_offsets");
  if (!dtype_parse(json_string_value(json_object_get(v, "dtype")), &e->dtype))
    return bad(f->path, "unknown or missing dtype", name);
  if (!json_is_array(shape) || json_array_size(shape) > 8) return bad(f->path, "bad shape", name);
  e->ndim = (int)json_array_size(shape);
  for (int d = 0; d < e->ndim; d++) {
    json_t *s = json_array_get(shape, (size_t)d);
    if (!json_is_integer(s) || json_integer_value(s) < 0) return bad(f->path, "bad shape", name);
    e->shape[d] = json_integer_value(s);
  }
  if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(json_array_get(off, 0)) ||
      !json_is_integer(json_array_get(off, 1)))
    return bad(f->path, "bad data_offsets", name);
  e->begin = json_integer_value(json_array_get(off, 0));
  e->end = json_integer_value(json_array_get(off, 1));
  int64_t bytes;
  if (tensor_bytes(&bytes, name, e->dtype, e->ndim, e->shape) != RK_OK)
    return rk_error_context(RK_EFORMAT, "'%s' is not a valid safetensors file", f->path);
  if (e->begin < 0 || e->end < e->begin || e->end - e->begin != bytes)
    return bad(f->path, "data_offsets disagree with dtype and shape", name);
  return (e->name = rk_strdup(name)) ? RK_OK : RK_ENOMEM;
}

static rk_status parse(rk_safetensors *f, size_t size) {
  if (size < 8) return bad(f->path, "shorter than its 8-byte header size", NULL);
  uint64_t hlen = 0;
  for (int b = 0; b < 8; b++) hlen |= (uint64_t)(uint8_t)f->bytes[b] << (8 * b);
  if (hlen > size - 8) return bad(f->path, "the header runs past the end of the file", NULL);
  json_error_t err;
  json_t *root = json_loadb(f->bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
  if (!root || !json_is_object(root)) {
    json_decref(root);
    return rk_error(RK_EFORMAT, "'%s' is not a valid safetensors file: header: %s", f->path, err.text);
  }
  f->data = (const uint8_t *)f->bytes + 8 + hlen;
  int64_t data_len = (int64_t)(size - 8 - hlen);
  f->entries = rk_calloc(json_object_size(root) + 1, sizeof *f->entries);
  rk_status st = f->entries ? RK_OK : RK_ENOMEM;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    if (st != RK_OK) break;
    if (strcmp(key, "__metadata__") == 0) {
      f->meta = json_incref(v);
      continue;
    }
    st = parse_entry(f, key, v, &f->entries[f->n]);
    if (st == RK_OK) f->n++;
  }
  json_decref(root);
  if (st != RK_OK) return st;
  qsort(f->entries, (size_t)f->n, sizeof *f->entries, by_offset);
  int64_t at = 0;
  for (int i = 0; i < f->n; i++) {
    if (f->entries[i].begin != at) return bad(f->path, f->entries[i].begin > at ? "a hole before" : "an overlap at", f->entries[i].name);
    at = f->entries[i].end;
  }
  if (at != data_len) return bad(f->path, at > data_len ? "the tensors run past the end of the file" : "bytes after the last tensor", NULL);
  return RK_OK;
}

rk_status rk_safetensors_read(rk_safetensors **out, const char *path) {
  *out = NULL;
  rk_safetensors *f = rk_calloc(1, sizeof *f);
  if (!f || !(f->path = rk_strdup(path))) {
    rk_free(f);
    return RK_ENOMEM;
  }
  size_t size;
  rk_status st = rk_read_file(path, &f->bytes, &size);
  if (st == RK_OK) st = parse(f, size);
  if (st != RK_OK) {
    rk_safetensors_free(f);
    return st;
  }
  *out = f;
  return RK_OK;
}

rk_status rk_safetensors_parse(rk_safetensors **out, const void *data, size_t size, const char *label) {
  *out = NULL;
  rk_safetensors *f = rk_calloc(1, sizeof *f);
  if (!f || !(f->path = rk_strdup(label)) || !(f->bytes = rk_malloc(size + 1))) {
    rk_safetensors_free(f);
    return RK_ENOMEM;
  }
  if (size) memcpy(f->bytes, data, size);
  rk_status st = parse(f, size);
  if (st != RK_OK) {
    rk_safetensors_free(f);
    return st;
  }
  *out = f;
  return RK_OK;
}

int rk_safetensors_count(const rk_safetensors *f) { return f->n; }

void rk_safetensors_get(const rk_safetensors *f, int i, rk_st_tensor *out) {
  const entry *e = &f->entries[i];
  *out = (rk_st_tensor){.name = e->name, .dtype = e->dtype, .ndim = e->ndim, .shape = e->shape, .data = f->data + e->begin};
}

rk_status rk_safetensors_find(const rk_safetensors *f, const char *name, rk_st_tensor *out) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->entries[i].name, name) == 0) return rk_safetensors_get(f, i, out), RK_OK;
  return rk_error(RK_ENOTFOUND, "'%s' has no tensor '%s'", f->path, name);
}

const char *rk_safetensors_metadata(const rk_safetensors *f, const char *key) {
  return f->meta ? json_string_value(json_object_get(f->meta, key)) : NULL;
}

void rk_safetensors_free(rk_safetensors *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) rk_free(f->entries[i].name);
  rk_free(f->entries);
  json_decref(f->meta);
  rk_free(f->bytes);
  rk_free(f->path);
  rk_free(f);
}
