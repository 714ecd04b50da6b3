/*
 * Request tensors in, columns through, response tensors out. Every step of a reckon model works
 * on columns (the workflow transforms a batch, the model's feed reads one), so a request's
 * tensors become columns once, appended request after request into the batch the scheduler
 * runs, and each output column is cut back into one tensor per request.
 *
 * A tensor holds one value per row: shape (rows, 1) or (rows) for an input whose dims are [1]
 * (the batch axis first when max_batch_size > 0). Data is raw little-endian elements; BYTES
 * elements are a 4-byte little-endian length then the bytes (Triton's binary tensor format).
 * A list column comes as a ragged pair (reckon/serve.h): `<col>__values`, shape (n), and
 * `<col>__offsets`, shape (rows + 1); the pair becomes one list column named as the values.
 * Everything a client sends is checked here before it is queued, so a batch never fails for
 * one request's malformed tensor.
 */
#include <string.h>

#include "serve/serve_internal.h"

rk_coltype rk_serve_dtype_coltype(rk_serve_dtype dt) {
  switch (dt) {
    case RK_SERVE_DT_BOOL: case RK_SERVE_DT_UINT8: return RK_COL_UINT8;
    case RK_SERVE_DT_UINT16: return RK_COL_UINT16;
    case RK_SERVE_DT_UINT32: return RK_COL_UINT32;
    case RK_SERVE_DT_UINT64: return RK_COL_UINT64;
    case RK_SERVE_DT_INT8: return RK_COL_INT8;
    case RK_SERVE_DT_INT16: return RK_COL_INT16;
    case RK_SERVE_DT_INT32: return RK_COL_INT32;
    case RK_SERVE_DT_INT64: return RK_COL_INT64;
    case RK_SERVE_DT_FP16: case RK_SERVE_DT_FP32: return RK_COL_FLOAT32;
    case RK_SERVE_DT_FP64: return RK_COL_FLOAT64;
    default: return RK_COL_STRING;
  }
}

rk_serve_dtype rk_serve_coltype_dtype(rk_coltype t) {
  switch (t) {
    case RK_COL_INT8: return RK_SERVE_DT_INT8;
    case RK_COL_INT16: return RK_SERVE_DT_INT16;
    case RK_COL_INT32: return RK_SERVE_DT_INT32;
    case RK_COL_INT64: return RK_SERVE_DT_INT64;
    case RK_COL_UINT8: return RK_SERVE_DT_UINT8;
    case RK_COL_UINT16: return RK_SERVE_DT_UINT16;
    case RK_COL_UINT32: return RK_SERVE_DT_UINT32;
    case RK_COL_UINT64: return RK_SERVE_DT_UINT64;
    case RK_COL_FLOAT32: return RK_SERVE_DT_FP32;
    case RK_COL_FLOAT64: return RK_SERVE_DT_FP64;
    case RK_COL_STRING: return RK_SERVE_DT_BYTES;
    default: return RK_SERVE_DT_INVALID;
  }
}

static uint32_t read_u32le(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Whether BYTES data holds exactly n length-prefixed elements. */
static bool bytes_well_formed(const rk_serve_input *in, int64_t n) {
  const unsigned char *p = in->data;
  int64_t at = 0;
  for (int64_t i = 0; i < n; i++) {
    if (in->nbytes - at < 4) return false;
    uint32_t len = read_u32le(p + at);
    at += 4;
    if ((uint64_t)(in->nbytes - at) < len) return false;
    at += len;
  }
  return at == in->nbytes;
}

static const rk_model_config_tensor *find_tensor(const rk_model_config_tensor *t, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return &t[i];
  return NULL;
}

static void describe_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
  size_t at = 0;
  at += (size_t)snprintf(buf + at, size - at, "[");
  for (int d = 0; d < ndim && at < size; d++) at += (size_t)snprintf(buf + at, size - at, d ? ", %lld" : "%lld", (long long)shape[d]);
  if (at < size) snprintf(buf + at, size - at, "]");
}

/* ---- ragged pairs ---- */

static size_t stem_of(const char *name, const char *suffix) {
  size_t n = strlen(name), k = strlen(suffix);
  return n > k && !strcmp(name + n - k, suffix) ? n - k : 0;
}

static bool any_length(const rk_model_config_tensor *t) { return t->n_dims == 1 && t->dims[0] == -1; }

const rk_model_config_tensor *rk_serve_ragged_partner(const rk_model_config *c, const char *name) {
  size_t stem = stem_of(name, RK_SERVE_VALUES_SUFFIX);
  const char *want = RK_SERVE_OFFSETS_SUFFIX;
  if (!stem) {
    stem = stem_of(name, RK_SERVE_OFFSETS_SUFFIX);
    want = RK_SERVE_VALUES_SUFFIX;
  }
  const rk_model_config_tensor *self = stem ? find_tensor(c->input, c->n_input, name) : NULL;
  if (!self || !any_length(self)) return NULL;
  for (int i = 0; i < c->n_input; i++) {
    const rk_model_config_tensor *t = &c->input[i];
    if (any_length(t) && stem_of(t->name, want) == stem && !strncmp(t->name, name, stem)) return t;
  }
  return NULL;
}

bool rk_serve_is_ragged_offsets(const rk_model_config *c, const char *name) {
  return stem_of(name, RK_SERVE_OFFSETS_SUFFIX) && rk_serve_ragged_partner(c, name);
}

static const rk_serve_input *find_input(const rk_serve_request *req, const char *name) {
  for (int i = 0; i < req->n_inputs; i++)
    if (req->inputs[i].name && !strcmp(req->inputs[i].name, name)) return &req->inputs[i];
  return NULL;
}

/* Offset i of a checked offsets tensor (INT32 or INT64, little-endian, maybe unaligned). */
static int64_t offset_at(const rk_serve_input *in, int64_t i) {
  if (in->datatype == RK_SERVE_DT_INT32) {
    int32_t v;
    memcpy(&v, (const unsigned char *)in->data + 4 * i, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, (const unsigned char *)in->data + 8 * i, 8);
  return v;
}

/* One half of a ragged pair: 1-D, its datatype (offsets INT32 or INT64), its bytes; offsets from
 * 0, never decreasing, to the values' count, their rows the request's. */
static rk_status check_ragged(const rk_model_config *c, const char *model, const rk_serve_request *req,
                              const rk_serve_input *in, const rk_model_config_tensor *t,
                              const rk_model_config_tensor *partner, int64_t *rows, int64_t *total,
                              int64_t max_elements) {
  bool offsets = rk_serve_is_ragged_offsets(c, in->name);
  bool int_offsets = in->datatype == RK_SERVE_DT_INT32 || in->datatype == RK_SERVE_DT_INT64;
  if (offsets ? !int_offsets : in->datatype != t->data_type)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' is %s, expected %s", model, in->name,
                         rk_serve_dtype_name(in->datatype), offsets ? "INT32 or INT64 (rows + 1 offsets)"
                                                                    : rk_serve_dtype_name(t->data_type));
  if (in->ndim != 1 || in->shape[0] < 0) {
    char got[160];
    describe_shape(got, sizeof got, in->ndim, in->shape);
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has shape %s, expected [-1] (%s, 1-D)",
                         model, in->name, got, offsets ? "rows + 1 offsets" : "the rows' values one after another");
  }
  int64_t n = in->shape[0];
  *total += n;
  if (*total > max_elements)
    return rk_serve_fail(RK_SERVE_INVALID, RK_ERANGE, "model '%s': the request's tensors hold more than %lld elements",
                         model, (long long)max_elements);
  size_t es = rk_serve_dtype_size(in->datatype);
  if (in->nbytes < 0 || (n && !in->data))
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has no data", model, in->name);
  if (es && in->nbytes != n * (int64_t)es)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has %lld bytes, expected %lld (%lld %s "
                         "values)", model, in->name, (long long)in->nbytes, (long long)(n * (int64_t)es), (long long)n,
                         rk_serve_dtype_name(in->datatype));
  if (!es && !bytes_well_formed(in, n))
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has %lld bytes that are not %lld BYTES "
                         "elements (each a 4-byte little-endian length, then its bytes)", model, in->name,
                         (long long)in->nbytes, (long long)n);
  if (!offsets) return RK_OK;
  if (n < 1)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' is empty: it holds rows + 1 offsets "
                         "([0] for no rows)", model, in->name);
  if (offset_at(in, 0) != 0)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' starts at %lld: offsets start at 0",
                         model, in->name, (long long)offset_at(in, 0));
  for (int64_t i = 1; i < n; i++)
    if (offset_at(in, i) < offset_at(in, i - 1))
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' decreases at position %lld (%lld after "
                           "%lld): offsets never decrease", model, in->name, (long long)i, (long long)offset_at(in, i),
                           (long long)offset_at(in, i - 1));
  const rk_serve_input *values = find_input(req, partner->name);
  if (values && values->ndim == 1 && offset_at(in, n - 1) != values->shape[0])
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' ends at %lld, but '%s' holds %lld values",
                         model, in->name, (long long)offset_at(in, n - 1), partner->name, (long long)values->shape[0]);
  int64_t r = n - 1;
  if (*rows >= 0 && r != *rows)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' gives %lld rows (%lld offsets), the inputs "
                         "before it %lld", model, in->name, (long long)r, (long long)n, (long long)*rows);
  *rows = r;
  if (c->max_batch_size > 0 && r > c->max_batch_size)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': a batch of %lld rows is above its max_batch_size %lld",
                         model, (long long)r, (long long)c->max_batch_size);
  return RK_OK;
}


rk_status rk_serve_check_inputs(const rk_model_config *c, const char *model, const rk_serve_request *req,
                                int64_t max_elements, int64_t *rows) {
  *rows = -1;
  int64_t total = 0;
  bool batched = c->max_batch_size > 0;
  for (int i = 0; i < req->n_inputs; i++) {
    const rk_serve_input *in = &req->inputs[i];
    if (!in->name) return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input %d has no name", model, i);
    for (int j = 0; j < i; j++)
      if (!strcmp(req->inputs[j].name, in->name))
        return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' is given twice", model, in->name);
    const rk_model_config_tensor *t = find_tensor(c->input, c->n_input, in->name);
    if (!t) {
      char names[512] = "";
      for (int k = 0; k < c->n_input && strlen(names) < 400; k++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s'%s'", k ? ", " : "", c->input[k].name);
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s' has no input '%s' (its inputs: %s)", model, in->name, names);
    }
    const rk_model_config_tensor *partner = rk_serve_ragged_partner(c, in->name);
    if (partner) {
      RK_TRY(check_ragged(c, model, req, in, t, partner, rows, &total, max_elements));
      continue;
    }
    if (in->datatype != t->data_type)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' is %s, expected %s", model, in->name,
                           rk_serve_dtype_name(in->datatype), rk_serve_dtype_name(t->data_type));
    /* (rows, dims...) when batching, else dims; a [1] row may also come flat as (rows). */
    int want = t->n_dims + (batched ? 1 : 0);
    bool flat = batched && t->n_dims == 1 && t->dims[0] == 1 && in->ndim == 1;
    bool ok = in->ndim == want || flat;
    for (int d = 0; ok && !flat && d < t->n_dims; d++) {
      int64_t got = in->shape[d + (batched ? 1 : 0)];
      ok = got >= 0 && (t->dims[d] == -1 || t->dims[d] == got);
    }
    if (ok && in->ndim > 0 && in->shape[0] < 0) ok = false;
    char got[160], exp[160];
    if (!ok) {
      int64_t e[RK_SERVE_MAX_DIMS + 1];
      int ne = 0;
      if (batched) e[ne++] = -1;
      for (int d = 0; d < t->n_dims; d++) e[ne++] = t->dims[d];
      describe_shape(got, sizeof got, in->ndim, in->shape);
      describe_shape(exp, sizeof exp, ne, e);
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has shape %s, expected %s", model,
                           in->name, got, exp);
    }
    int64_t r = in->ndim > 0 ? in->shape[0] : 1, numel;
    if (rk_size_numel(&numel, in->ndim, in->shape, "input elements") != RK_OK)
      return rk_serve_mark(RK_SERVE_INVALID, RK_ERANGE);
    if (numel != r)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has %lld values for %lld rows: reckon "
                           "serves one value per row", model, in->name, (long long)numel, (long long)r);
    if (*rows >= 0 && r != *rows)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has %lld rows, the inputs before it %lld",
                           model, in->name, (long long)r, (long long)*rows);
    *rows = r;
    if (batched && r > c->max_batch_size)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': a batch of %lld rows is above its max_batch_size %lld",
                           model, (long long)r, (long long)c->max_batch_size);
    total += numel;
    if (total > max_elements)
      return rk_serve_fail(RK_SERVE_INVALID, RK_ERANGE, "model '%s': the request's tensors hold more than %lld elements",
                           model, (long long)max_elements);
    size_t es = rk_serve_dtype_size(in->datatype);
    if (in->nbytes < 0 || (numel && !in->data))
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has no data", model, in->name);
    if (es && in->nbytes != numel * (int64_t)es)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': input '%s' has %lld bytes, expected %lld (%lld %s values)",
                           model, in->name, (long long)in->nbytes, (long long)(numel * (int64_t)es), (long long)numel,
                           rk_serve_dtype_name(in->datatype));
    if (!es && !bytes_well_formed(in, numel))
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL,
                           "model '%s': input '%s' has %lld bytes that are not %lld BYTES elements (each a 4-byte "
                           "little-endian length, then its bytes)",
                           model, in->name, (long long)in->nbytes, (long long)numel);
  }
  for (int k = 0; k < c->n_input; k++) {
    bool given = false;
    for (int i = 0; i < req->n_inputs && !given; i++) given = !strcmp(req->inputs[i].name, c->input[k].name);
    if (!given && !c->input[k].optional)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s': the request lacks input '%s' (%s)", model,
                           c->input[k].name, rk_serve_dtype_name(c->input[k].data_type));
  }
  if (*rows < 0) *rows = 0;
  return RK_OK;
}

rk_status rk_serve_check_outputs(const rk_model_config *c, const char *model, const rk_serve_request *req) {
  for (int i = 0; i < req->n_outputs; i++) {
    if (!req->outputs[i] || !find_tensor(c->output, c->n_output, req->outputs[i]))
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "model '%s' has no output '%s'", model,
                           req->outputs[i] ? req->outputs[i] : "");
  }
  return RK_OK;
}

/* The tensor's n elements appended to col, a column of their type. */
static rk_status append_values(rk_column *col, const rk_serve_input *in, int64_t n) {
  rk_coltype type = col->type;
  const unsigned char *p = in->data;
  if (type == RK_COL_STRING) {
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
      uint32_t len = read_u32le(p + at);
      RK_TRY(rk_column_append_string(col, (const char *)p + at + 4, len));
      at += 4 + (int64_t)len;
    }
    return RK_OK;
  }
  size_t w = rk_coltype_width(type);
  RK_TRY(rk_column_reserve(col, col->length + n, col->length + n));
  unsigned char *dst = (unsigned char *)col->values + (size_t)col->length * w;
  if (in->datatype == RK_SERVE_DT_FP16) {
    for (int64_t i = 0; i < n; i++) {
      uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
      float f = rk_f16_to_f32(h);
      memcpy(dst + (size_t)i * 4, &f, 4);
    }
  } else if (n) {
    memcpy(dst, p, (size_t)n * w);   /* little-endian host: the wire bytes are the values */
  }
  col->length += n;
  return RK_OK;
}

rk_status rk_serve_append_tensor(rk_column *col, const rk_serve_input *in) {
  if (!col->name) RK_TRY(rk_column_init(col, in->name, rk_serve_dtype_coltype(in->datatype), RK_COL_INT64));
  return append_values(col, in, in->ndim > 0 ? in->shape[0] : 1);
}

rk_status rk_serve_append_ragged(rk_column *col, const rk_serve_input *values, const rk_serve_input *offsets) {
  if (!col->name) RK_TRY(rk_column_init(col, values->name, RK_COL_LIST, rk_serve_dtype_coltype(values->datatype)));
  int64_t rows = offsets->shape[0] - 1, at = col->length, base = col->child->length;
  RK_TRY(rk_column_reserve(col, at + rows, 0));
  RK_TRY(append_values(col->child, values, values->shape[0]));
  for (int64_t r = 1; r <= rows; r++) col->offsets[at + r] = base + offset_at(offsets, r);
  col->length = at + rows;
  return RK_OK;
}

rk_status rk_serve_column_tensor(rk_serve_output *out, const rk_column *col, int64_t begin, int64_t end,
                                 const rk_model_config_tensor *t, bool batched) {
  memset(out, 0, sizeof *out);
  if (col->type == RK_COL_LIST) {
    /* k values per row (top-k items, next-item scores): shape (rows, k) */
    int64_t n = end - begin, k = n ? col->offsets[begin + 1] - col->offsets[begin] : (t->n_dims ? t->dims[0] : 0);
    for (int64_t r = begin; r < end; r++)
      if (col->offsets[r + 1] - col->offsets[r] != k)   /* a workflow step's list column, asked for directly */
        return rk_error(RK_EUNSUPPORTED, "output '%s' holds lists of different lengths (rows of %lld and %lld values), "
                        "which one tensor cannot carry: it is the next step's input inside the ensemble; ask the "
                        "ensemble", t->name, (long long)k, (long long)(col->offsets[r + 1] - col->offsets[r]));
    rk_serve_dtype edt = rk_serve_coltype_dtype(col->child->type);
    size_t w = rk_coltype_width(col->child->type);
    if (!edt || !w) return rk_error(RK_EINTERNAL, "output '%s' is a list of %s", t->name, rk_coltype_name(col->child->type));
    if (!(out->name = rk_strdup(t->name))) return RK_ENOMEM;
    out->datatype = edt;
    out->ndim = 2;
    out->shape[0] = n;
    out->shape[1] = k;
    out->nbytes = n * k * (int64_t)w;
    if (!(out->data = rk_malloc((size_t)(out->nbytes ? out->nbytes : 1)))) return RK_ENOMEM;
    if (out->nbytes)
      memcpy(out->data, (const unsigned char *)col->child->values + (size_t)col->offsets[begin] * w, (size_t)out->nbytes);
    return RK_OK;
  }
  rk_serve_dtype dt = rk_serve_coltype_dtype(col->type);
  if (!dt) return rk_error(RK_EINTERNAL, "output '%s' is a %s column", col->name, rk_coltype_name(col->type));
  if (!(out->name = rk_strdup(t->name))) return RK_ENOMEM;
  out->datatype = dt;
  int64_t n = end - begin;
  if (batched) out->shape[out->ndim++] = n;
  for (int d = 0; d < t->n_dims && out->ndim < RK_SERVE_MAX_DIMS; d++) out->shape[out->ndim++] = t->dims[d] < 0 ? 1 : t->dims[d];
  if (!batched && out->ndim == 0) out->shape[out->ndim++] = n;
  if (!batched) out->shape[0] = n;
  if (dt == RK_SERVE_DT_BYTES) {
    int64_t bytes = 4 * n + (col->offsets[end] - col->offsets[begin]);
    if (!(out->data = rk_malloc((size_t)(bytes ? bytes : 1)))) return RK_ENOMEM;
    unsigned char *q = out->data;
    for (int64_t r = begin; r < end; r++) {
      size_t len;
      const char *s = rk_column_get_string(col, r, &len);
      q[0] = (unsigned char)len, q[1] = (unsigned char)(len >> 8), q[2] = (unsigned char)(len >> 16), q[3] = (unsigned char)(len >> 24);
      memcpy(q + 4, s, len);
      q += 4 + len;
    }
    out->nbytes = bytes;
    return RK_OK;
  }
  size_t w = rk_coltype_width(col->type);
  out->nbytes = n * (int64_t)w;
  if (!(out->data = rk_malloc((size_t)(out->nbytes ? out->nbytes : 1)))) return RK_ENOMEM;
  if (n) memcpy(out->data, (const unsigned char *)col->values + (size_t)begin * w, (size_t)n * w);
  return RK_OK;
}

rk_status rk_serve_pad_list(rk_column *col, int64_t width, rk_serve_dtype dt) {
  if (col->type != RK_COL_LIST) return RK_OK;
  for (int64_t r = 0; r < col->length; r++)
    if (col->offsets[r + 1] - col->offsets[r] > width)
      return rk_error(RK_ERANGE, "column '%s' has a row of %lld values; its tensor takes %lld (the schema's "
                      "value_count max)", col->name, (long long)(col->offsets[r + 1] - col->offsets[r]),
                      (long long)width);
  rk_column padded = {0};
  RK_TRY(rk_column_init(&padded, col->name, RK_COL_LIST, rk_serve_dtype_coltype(dt)));
  rk_status st = rk_column_reserve(&padded, col->length, col->length * width);
  for (int64_t r = 0; st == RK_OK && r < col->length; r++) {   /* ids: the config's integer type */
    int64_t a = col->offsets[r], e = col->offsets[r + 1];
    for (int64_t k = a; st == RK_OK && k < e; k++) st = rk_column_append_int(padded.child, rk_column_get_int(col->child, k));
    for (int64_t k = e - a; st == RK_OK && k < width; k++) st = rk_column_append_int(padded.child, 0);
    if (st == RK_OK) st = rk_column_finish_list_row(&padded);
  }
  if (st != RK_OK) {
    rk_column_free(&padded);
    return st;
  }
  rk_column_free(col);
  *col = padded;
  return RK_OK;
}

rk_status rk_serve_conform_column(rk_column *col, rk_serve_dtype dt) {
  rk_coltype to = rk_serve_dtype_coltype(dt);
  if (col->type == to || col->type == RK_COL_LIST) return RK_OK;   /* lists pass between steps as they are */
  if (to == RK_COL_STRING || col->type == RK_COL_STRING || col->type == RK_COL_LIST)
    return rk_error(RK_EFORMAT, "column '%s' is %s, and the config says %s", col->name, rk_coltype_name(col->type),
                    rk_serve_dtype_name(dt));
  rk_column cast = {0};
  RK_TRY(rk_column_init(&cast, col->name, to, RK_COL_INT64));
  rk_status st = rk_column_reserve(&cast, col->length, col->length);
  bool real = to == RK_COL_FLOAT32 || to == RK_COL_FLOAT64;
  for (int64_t r = 0; st == RK_OK && r < col->length; r++)
    st = real ? rk_column_append_double(&cast, rk_column_get_double(col, r)) : rk_column_append_int(&cast, rk_column_get_int(col, r));
  if (st != RK_OK) {
    rk_column_free(&cast);
    return st;
  }
  rk_column_free(col);
  *col = cast;
  return RK_OK;
}
