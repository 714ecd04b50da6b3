/*
 * Parquet file reader: checks the magic and footer, maps the schema onto reckon columns
 * (flat primitives; LISTs of primitives in the standard 3-level and legacy 2-level forms),
 * applies the projection, and reads a row group at a time, decoding its columns in parallel
 * (rk_parallel_try, one chunk per column: deterministic). It is not the page decoding
 * (chunk_read.c) nor the footer's wire format (metadata.c).
 *
 * Follows apache/parquet-format README.md ("File Format": PAR1, footer length, FileMetaData),
 * LogicalTypes.md (types; "Lists" and its backward-compatibility rules) and parquet.thrift.
 * Structs, maps, deeper nesting and encrypted files are refused with "unsupported: ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/parquet/parquet_internal.h"

#define MAX_DEPTH 64

struct rk_parquet_reader {
  char *path;
  char *label;
  int fd;
  int64_t size;
  rk_pq_file_meta meta;
  int nleaves;
  int nfields;
  rk_pq_column_plan *fields;   /* every top-level field */
  int nsel;
  int *sel;                    /* selected field indexes */
  rk_parquet_column_info *sel_info;
  int64_t batch_rows;
  int next_rg;
  rk_batch rg;                 /* the current row group when batches are capped */
  int64_t rg_pos;
  int nworkers;                /* per-worker buffers, kept from row group to row group: */
  rk_pq_decode_scratch *scratch;
  uint8_t **raw;               /* a column chunk's bytes */
  size_t *raw_cap;
  rk_batch *ahead;             /* rk_parquet_next with threads: row groups decoded with the current one */
  int nahead_cap, nahead, ahead_pos;   /* ahead[ahead_pos, nahead) are still to hand out */
};

void rk_parquet_read_options_default(rk_parquet_read_options *opts) { memset(opts, 0, sizeof *opts); }

/* ---- schema ------------------------------------------------------------------------------- */
static bool is_group(const rk_pq_schema_elem *e) { return e->type < 0 || e->num_children > 0; }

/* Count the leaves under schema[idx]; *next gets the index after the subtree. */
static rk_status subtree(const rk_pq_file_meta *m, int idx, int depth, int *next, int *leaves) {
  if (depth > MAX_DEPTH) return rk_error(RK_EFORMAT, "schema nested deeper than %d levels", MAX_DEPTH);
  if (idx >= m->nschema) return rk_error(RK_EFORMAT, "schema ends inside a group");
  const rk_pq_schema_elem *e = &m->schema[idx];
  if (!is_group(e)) {
    if (e->type > RK_PQ_FIXED_LEN_BYTE_ARRAY) return rk_error(RK_EFORMAT, "column '%s' has unknown physical type %d", e->name, e->type);
    (*leaves)++;
    *next = idx + 1;
    return RK_OK;
  }
  int j = idx + 1;
  for (int c = 0; c < e->num_children; c++) RK_TRY(subtree(m, j, depth + 1, &j, leaves));
  *next = j;
  return RK_OK;
}

/* The reckon type of a primitive leaf. Sets info->type (or elem type via *type), logical, decimal. */
static const char *leaf_type(const rk_pq_schema_elem *e, rk_coltype *type, rk_parquet_column_info *info, int32_t *type_length) {
  int ct = e->converted, lt = e->logical;
  info->logical = RK_PARQUET_LOGICAL_NONE;
  bool decimal = lt == RK_LT_DECIMAL || ct == RK_CT_DECIMAL;
  if (decimal) {
    info->logical = RK_PARQUET_LOGICAL_DECIMAL;
    info->decimal_scale = e->scale;
    info->decimal_precision = e->precision;
    if (e->scale < 0 || e->scale > 76) return "DECIMAL scale outside 0..76";
  }
  *type_length = e->type_length;
  switch (e->type) {
    case RK_PQ_BOOLEAN: *type = RK_COL_UINT8; break;
    case RK_PQ_INT32:
      *type = RK_COL_INT32;
      if (decimal) *type = RK_COL_FLOAT64;
      else if (lt == RK_LT_INTEGER) {
        int b = e->int_bits;
        if (b == 8) *type = e->int_signed ? RK_COL_INT8 : RK_COL_UINT8;
        else if (b == 16) *type = e->int_signed ? RK_COL_INT16 : RK_COL_UINT16;
        else if (b == 32) *type = e->int_signed ? RK_COL_INT32 : RK_COL_UINT32;
        else return "INT32 with an integer annotation of other than 8, 16 or 32 bits";
      } else if (ct == RK_CT_INT_8) *type = RK_COL_INT8;
      else if (ct == RK_CT_INT_16) *type = RK_COL_INT16;
      else if (ct == RK_CT_UINT_8) *type = RK_COL_UINT8;
      else if (ct == RK_CT_UINT_16) *type = RK_COL_UINT16;
      else if (ct == RK_CT_UINT_32) *type = RK_COL_UINT32;
      else if (lt == RK_LT_DATE || ct == RK_CT_DATE) info->logical = RK_PARQUET_LOGICAL_DATE;
      else if (lt == RK_LT_TIME || ct == RK_CT_TIME_MILLIS) info->logical = RK_PARQUET_LOGICAL_TIME_MS;
      break;
    case RK_PQ_INT64:
      *type = RK_COL_INT64;
      if (decimal) *type = RK_COL_FLOAT64;
      else if ((lt == RK_LT_INTEGER && !e->int_signed) || ct == RK_CT_UINT_64) *type = RK_COL_UINT64;
      else if (lt == RK_LT_TIMESTAMP)
        info->logical = e->time_unit == 1 ? RK_PARQUET_LOGICAL_TIMESTAMP_MS
                        : e->time_unit == 3 ? RK_PARQUET_LOGICAL_TIMESTAMP_NS : RK_PARQUET_LOGICAL_TIMESTAMP_US;
      else if (ct == RK_CT_TIMESTAMP_MILLIS) info->logical = RK_PARQUET_LOGICAL_TIMESTAMP_MS;
      else if (ct == RK_CT_TIMESTAMP_MICROS) info->logical = RK_PARQUET_LOGICAL_TIMESTAMP_US;
      else if (lt == RK_LT_TIME)
        info->logical = e->time_unit == 3 ? RK_PARQUET_LOGICAL_TIME_NS : RK_PARQUET_LOGICAL_TIME_US;
      else if (ct == RK_CT_TIME_MICROS) info->logical = RK_PARQUET_LOGICAL_TIME_US;
      break;
    case RK_PQ_INT96:
      *type = RK_COL_INT64;
      info->logical = RK_PARQUET_LOGICAL_TIMESTAMP_NS;
      break;
    case RK_PQ_FLOAT: *type = RK_COL_FLOAT32; break;
    case RK_PQ_DOUBLE: *type = RK_COL_FLOAT64; break;
    case RK_PQ_BYTE_ARRAY:
      *type = decimal ? RK_COL_FLOAT64 : RK_COL_STRING;
      if (!decimal && (lt == RK_LT_STRING || lt == RK_LT_ENUM || lt == RK_LT_JSON || ct == RK_CT_UTF8 ||
                       ct == RK_CT_ENUM || ct == RK_CT_JSON))
        info->logical = RK_PARQUET_LOGICAL_STRING;
      break;
    case RK_PQ_FIXED_LEN_BYTE_ARRAY:
      if (e->type_length <= 0) return "FIXED_LEN_BYTE_ARRAY without a positive length";
      *type = decimal ? RK_COL_FLOAT64 : RK_COL_STRING;
      if (lt == RK_LT_FLOAT16) {
        if (e->type_length != 2) return "FLOAT16 of other than 2 bytes";
        *type = RK_COL_FLOAT32;
        info->logical = RK_PARQUET_LOGICAL_FLOAT16;
      } else if (lt == RK_LT_UUID) {
        info->logical = RK_PARQUET_LOGICAL_UUID;
      }
      break;
    default: return "unknown physical type";
  }
  return NULL;
}

/* Plan one top-level field at schema[idx] whose first leaf is `leaf`. */
static void plan_field(rk_pq_column_plan *p, const rk_pq_file_meta *m, int idx, int leaf, int nleaves) {
  const rk_pq_schema_elem *e = &m->schema[idx];
  memset(p, 0, sizeof *p);
  p->leaf = leaf;
  p->info.name = e->name;
  p->info.elem_type = RK_COL_INT64;
  p->decimal_factor = 1.0;
  const rk_pq_schema_elem *prim = NULL;
  if (!is_group(e)) {
    prim = e;
    p->schema_index = idx;
    if (e->repetition == RK_PQ_REPEATED) {   /* legacy: a bare repeated primitive is a list */
      p->is_list = true;
      p->max_def = 1, p->max_rep = 1, p->list_def = 0, p->elem_def = 1;
    } else {
      p->max_def = e->repetition == RK_PQ_OPTIONAL ? 1 : 0;
      p->info.nullable = p->max_def > 0;
    }
  } else {
    bool is_list = e->converted == RK_CT_LIST || e->logical == RK_LT_LIST;
    if (!is_list) {
      bool map = e->converted == RK_CT_MAP || e->converted == RK_CT_MAP_KEY_VALUE || e->logical == RK_LT_MAP;
      p->info.unsupported = map ? "unsupported: map column" : "unsupported: struct column";
      return;
    }
    if (e->repetition == RK_PQ_REPEATED || e->num_children != 1 || nleaves != 1) {
      p->info.unsupported = "unsupported: nested or multi-field list column";
      return;
    }
    const rk_pq_schema_elem *r = &m->schema[idx + 1];
    int base = e->repetition == RK_PQ_OPTIONAL ? 1 : 0;
    if (r->repetition != RK_PQ_REPEATED) {
      p->info.unsupported = "unsupported: list whose child is not repeated";
      return;
    }
    p->is_list = true;
    p->max_rep = 1;
    p->list_def = base;
    p->elem_def = base + 1;
    p->info.nullable = base > 0;
    if (!is_group(r)) {   /* 2-level: the repeated field is the element */
      prim = r;
      p->schema_index = idx + 1;
      p->max_def = base + 1;
    } else {
      char tuple[512];
      snprintf(tuple, sizeof tuple, "%s_tuple", e->name);
      if (r->num_children != 1 || strcmp(r->name, "array") == 0 || strcmp(r->name, tuple) == 0) {
        p->info.unsupported = "unsupported: list of groups (structs or nested lists)";
        return;
      }
      const rk_pq_schema_elem *el = &m->schema[idx + 2];
      if (is_group(el) || el->repetition == RK_PQ_REPEATED) {
        p->info.unsupported = "unsupported: list of nested values";
        return;
      }
      prim = el;
      p->schema_index = idx + 2;
      p->max_def = base + 1 + (el->repetition == RK_PQ_OPTIONAL ? 1 : 0);
    }
  }
  rk_coltype t = RK_COL_INT64;
  const char *why = leaf_type(prim, &t, &p->info, &p->type_length);
  if (why) {
    p->info.unsupported = why;
    return;
  }
  p->physical = prim->type;
  p->info.physical = prim->type;
  if (p->is_list) {
    p->info.type = RK_COL_LIST;
    p->info.elem_type = t;
  } else {
    p->info.type = t;
  }
}

/* The footer's row counts agree with each other before any of them is used (to size batches,
 * to count a dataset's rows, to skip empty row groups): the total (when set) with the row
 * groups', each row group's with each of its column chunks' value counts. A flat column has one
 * value (or null) per row; a repeated one at least one level per row, and none in a row group
 * of no rows. The pages' counts are checked against their chunk's as they are decoded. */
static rk_status check_row_counts(const rk_parquet_reader *r) {
  const rk_pq_file_meta *m = &r->meta;
  int64_t total = 0;
  for (int g = 0; g < m->nrow_groups; g++) {
    const rk_pq_row_group *rg = &m->row_groups[g];
    if (rg->num_rows > INT64_MAX - total)
      return rk_error(RK_EFORMAT, "the row groups' row counts overflow at row group %d", g);
    total += rg->num_rows;
    for (int f = 0; f < r->nfields; f++) {
      const rk_pq_column_plan *p = &r->fields[f];
      if (p->leaf >= rg->ncols) continue;   /* an empty group at the end: no chunk */
      const rk_pq_chunk *c = &rg->cols[p->leaf];
      if (c->encrypted) continue;
      bool flat = !p->info.unsupported && !p->is_list && p->max_rep == 0;
      if (flat ? c->num_values != rg->num_rows
               : c->num_values < rg->num_rows || (rg->num_rows == 0 && c->num_values != 0))
        return rk_error(RK_EFORMAT, "row group %d states %lld rows but column '%s' holds %lld %s", g, (long long)rg->num_rows,
                        p->info.name, (long long)c->num_values, flat ? "values" : "levels");
    }
  }
  if (m->num_rows != total && m->num_rows != 0)   /* 0: unset (parquet-rs 0.3 wrote 0; DuckDB counts the groups) */
    return rk_error(RK_EFORMAT, "the footer states %lld rows but its row groups hold %lld", (long long)m->num_rows,
                    (long long)total);
  return RK_OK;
}

static rk_status plan_schema(rk_parquet_reader *r) {
  const rk_pq_file_meta *m = &r->meta;
  const rk_pq_schema_elem *root = &m->schema[0];
  if (!is_group(root)) return rk_error(RK_EFORMAT, "schema root '%s' is not a group", root->name);
  int n = root->num_children;
  if (n > m->nschema) return rk_error(RK_EFORMAT, "schema root claims %d children", n);
  r->fields = rk_calloc((size_t)(n ? n : 1), sizeof *r->fields);
  if (!r->fields) return RK_ENOMEM;
  int j = 1, leaf = 0;
  for (int f = 0; f < n; f++) {
    int leaves = 0, next;
    RK_TRY(subtree(m, j, 1, &next, &leaves));
    plan_field(&r->fields[f], m, j, leaf, leaves);
    if (leaves == 0 && !r->fields[f].info.unsupported) r->fields[f].info.unsupported = "unsupported: empty group";
    leaf += leaves;
    j = next;
  }
  if (j != m->nschema) return rk_error(RK_EFORMAT, "schema has %d elements after its root's children", m->nschema - j);
  r->nfields = n;
  r->nleaves = leaf;
  for (int g = 0; g < m->nrow_groups; g++) {
    const rk_pq_row_group *rg = &m->row_groups[g];
    if (rg->ncols != leaf)
      return rk_error(RK_EFORMAT, "row group %d has %d column chunks, the schema %d leaves", g, rg->ncols, leaf);
    if (rg->num_rows > INT32_MAX)
      return rk_error(RK_EUNSUPPORTED, "unsupported: row group %d of %lld rows", g, (long long)rg->num_rows);
    for (int f = 0; f < n; f++) {
      const rk_pq_column_plan *p = &r->fields[f];
      if (p->info.unsupported) continue;
      const rk_pq_chunk *c = &rg->cols[p->leaf];
      if (!c->encrypted && c->type != p->physical)
        return rk_error(RK_EFORMAT, "column '%s' row group %d: chunk type %s differs from the schema's %s", p->info.name, g,
                        rk_parquet_physical_name(c->type), rk_parquet_physical_name(p->physical));
    }
  }
  return check_row_counts(r);
}

static rk_status select_columns(rk_parquet_reader *r, const rk_parquet_read_options *o) {
  int n = o && o->columns ? o->ncolumns : r->nfields;
  r->sel = rk_calloc((size_t)(n ? n : 1), sizeof *r->sel);
  r->sel_info = rk_calloc((size_t)(n ? n : 1), sizeof *r->sel_info);
  if (!r->sel || !r->sel_info) return RK_ENOMEM;
  /* Fields by name (the first of a name), and which are taken: two indexes, not a scan of the
   * fields and of the selection per selected column (quadratic in a file of 100,000 columns). */
  rk_name_index fields, taken;
  rk_name_index_init(&fields);
  rk_name_index_init(&taken);
  rk_status st = RK_OK;
  for (int f = 0; o && o->columns && f < r->nfields && st == RK_OK; f++)
    st = rk_name_index_put(&fields, r->fields[f].info.name, f, NULL);
  for (int i = 0; i < n && st == RK_OK; i++) {
    int f = i, twice = -1;
    if (o && o->columns) {
      if ((f = rk_name_index_get(&fields, o->columns[i])) < 0) {
        st = rk_error(RK_ENOTFOUND, "no column '%s'", o->columns[i]);
        break;
      }
      if ((st = rk_name_index_put(&taken, o->columns[i], i, &twice)) != RK_OK) break;
      if (twice >= 0) {
        st = rk_error(RK_EINVAL, "column '%s' is selected twice", o->columns[i]);
        break;
      }
    }
    const rk_pq_column_plan *p = &r->fields[f];
    if (p->info.unsupported) {
      st = rk_error(RK_EUNSUPPORTED, "%s: column '%s'%s", p->info.unsupported, p->info.name,
                    o && o->columns ? "" : " (select the other columns to read the rest)");
      break;
    }
    r->sel[i] = f;
    r->sel_info[i] = p->info;
  }
  rk_name_index_free(&fields);
  rk_name_index_free(&taken);
  RK_TRY(st);
  r->nsel = n;
  return RK_OK;
}

/* ---- the file ----------------------------------------------------------------------------- */
static rk_status read_at(const rk_parquet_reader *r, void *dst, size_t n, int64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = pread(r->fd, (char *)dst + done, n - done, (off_t)(off + (int64_t)done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return rk_error(RK_EIO, "cannot read '%s': %s", r->label, strerror(errno));
    if (got == 0) return rk_error(RK_EFORMAT, "cannot read '%s': file ends early", r->label);
    done += (size_t)got;
  }
  return RK_OK;
}

static rk_status open_file(rk_parquet_reader *r, const rk_parquet_read_options *opts) {
  r->fd = open(r->path, O_RDONLY | O_CLOEXEC);
  if (r->fd < 0) return rk_error(errno == ENOENT ? RK_ENOTFOUND : RK_EIO, "cannot open '%s': %s", r->label, strerror(errno));
  struct stat st;
  if (fstat(r->fd, &st) != 0) return rk_error(RK_EIO, "cannot read '%s': %s", r->label, strerror(errno));
  if (S_ISDIR(st.st_mode)) return rk_error(RK_EINVAL, "cannot read '%s': it is a folder (use rk_parquet_dataset_open)", r->label);
  r->size = st.st_size;
  if (r->size < 12)
    return rk_error(RK_EFORMAT, "cannot read '%s': not a Parquet file (%lld bytes, too short)", r->label, (long long)r->size);
  uint8_t head[4], tail[8];
  RK_TRY(read_at(r, head, 4, 0));
  RK_TRY(read_at(r, tail, 8, r->size - 8));
  if (memcmp(tail + 4, "PARE", 4) == 0) return rk_error(RK_EUNSUPPORTED, "cannot read '%s': unsupported: encrypted file", r->label);
  if (memcmp(head, "PAR1", 4) != 0 || memcmp(tail + 4, "PAR1", 4) != 0)
    return rk_error(RK_EFORMAT, "cannot read '%s': not a Parquet file (no PAR1 magic)", r->label);
  uint32_t flen = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 | (uint32_t)tail[3] << 24;
  if ((int64_t)flen > r->size - 12)
    return rk_error(RK_EFORMAT, "cannot read '%s': footer length %u runs past the start of the file (%lld bytes)", r->label,
                    flen, (long long)r->size);
  uint8_t *footer = rk_malloc(flen ? flen : 1);
  if (!footer) return RK_ENOMEM;
  rk_status s = read_at(r, footer, flen, r->size - 8 - flen);
  if (s == RK_OK) {
    s = rk_pq_meta_parse(&r->meta, footer, flen);
    if (s != RK_OK) rk_error_context(s, "cannot read '%s': footer", r->label);
  }
  rk_free(footer);
  RK_TRY(s);
  if (r->meta.encrypted) return rk_error(RK_EUNSUPPORTED, "cannot read '%s': unsupported: encrypted file", r->label);
  s = plan_schema(r);
  if (s == RK_OK) s = select_columns(r, opts);
  if (s != RK_OK) rk_error_context(s, "cannot read '%s'", r->label);
  return s;
}

rk_status rk_parquet_open(rk_parquet_reader **out, const char *path, const rk_parquet_read_options *opts) {
  *out = NULL;
  rk_parquet_reader *r = rk_calloc(1, sizeof *r);
  if (!r) return RK_ENOMEM;
  r->fd = -1;
  r->path = rk_strdup(path);
  r->label = rk_strdup(opts && opts->label ? opts->label : path);
  rk_status s = r->path && r->label ? RK_OK : RK_ENOMEM;
  if (s == RK_OK) s = open_file(r, opts);
  if (s != RK_OK) {
    rk_parquet_close(r);
    return s;
  }
  r->batch_rows = opts && opts->batch_rows > 0 ? opts->batch_rows : 0;
  *out = r;
  return RK_OK;
}

static void free_workers(rk_parquet_reader *r);

void rk_parquet_close(rk_parquet_reader *r) {
  if (!r) return;
  if (r->fd >= 0) close(r->fd);
  rk_pq_meta_free(&r->meta);
  rk_batch_free(&r->rg);
  free_workers(r);
  for (int i = 0; i < r->nahead_cap; i++) rk_batch_free(&r->ahead[i]);
  rk_free(r->ahead);
  rk_free(r->fields);
  rk_free(r->sel);
  rk_free(r->sel_info);
  rk_free(r->path);
  rk_free(r->label);
  rk_free(r);
}

int rk_parquet_num_columns(const rk_parquet_reader *r) { return r->nsel; }
const rk_parquet_column_info *rk_parquet_column(const rk_parquet_reader *r, int col) {
  return col >= 0 && col < r->nsel ? &r->sel_info[col] : NULL;
}
int64_t rk_parquet_num_rows(const rk_parquet_reader *r) {
  int64_t n = 0;
  for (int g = 0; g < r->meta.nrow_groups; g++) n += r->meta.row_groups[g].num_rows;
  return n;
}
int rk_parquet_num_row_groups(const rk_parquet_reader *r) { return r->meta.nrow_groups; }
int64_t rk_parquet_row_group_rows(const rk_parquet_reader *r, int g) {
  return g >= 0 && g < r->meta.nrow_groups ? r->meta.row_groups[g].num_rows : 0;
}
const char *rk_parquet_created_by(const rk_parquet_reader *r) { return r->meta.created_by; }
int rk_parquet_num_metadata(const rk_parquet_reader *r) { return r->meta.nkv; }
void rk_parquet_metadata(const rk_parquet_reader *r, int i, const char **key, const char **value) {
  *key = r->meta.kv[i].key;
  *value = r->meta.kv[i].value;
}
const char *rk_parquet_metadata_find(const rk_parquet_reader *r, const char *key) {
  for (int i = 0; i < r->meta.nkv; i++)
    if (strcmp(r->meta.kv[i].key, key) == 0) return r->meta.kv[i].value ? r->meta.kv[i].value : "";
  return NULL;
}

static uint64_t le_bytes(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
  return v;
}

static void decode_stat(const rk_pq_column_plan *p, const uint8_t *b, size_t n, int64_t *vi, double *vf, bool *ok) {
  rk_coltype t = p->is_list ? p->info.elem_type : p->info.type;
  *ok = false;
  switch (p->physical) {
    case RK_PQ_BOOLEAN:
      if (n == 1) *vi = b[0], *ok = true;
      break;
    case RK_PQ_INT32:
      if (n != 4) break;
      if (t == RK_COL_FLOAT64) *vf = (double)(int32_t)le_bytes(b, 4) / pow(10.0, p->info.decimal_scale);
      else if (t == RK_COL_UINT32 || t == RK_COL_UINT16 || t == RK_COL_UINT8) *vi = (int64_t)(uint32_t)le_bytes(b, 4);
      else *vi = (int32_t)le_bytes(b, 4);
      *ok = true;
      break;
    case RK_PQ_INT64:
      if (n != 8) break;
      if (t == RK_COL_FLOAT64) *vf = (double)(int64_t)le_bytes(b, 8) / pow(10.0, p->info.decimal_scale);
      else *vi = (int64_t)le_bytes(b, 8);
      *ok = true;
      break;
    case RK_PQ_FLOAT:
      if (n == 4) {
        uint32_t u = (uint32_t)le_bytes(b, 4);
        float f;
        memcpy(&f, &u, 4);
        *vf = f, *ok = true;
      }
      break;
    case RK_PQ_DOUBLE:
      if (n == 8) {
        uint64_t u = le_bytes(b, 8);
        memcpy(vf, &u, 8);
        *ok = true;
      }
      break;
    default: break;
  }
}

rk_status rk_parquet_statistics(rk_parquet_stats *st, const rk_parquet_reader *r, int g, int col) {
  memset(st, 0, sizeof *st);
  if (g < 0 || g >= r->meta.nrow_groups || col < 0 || col >= r->nsel)
    return rk_error(RK_ERANGE, "no row group %d, column %d in '%s'", g, col, r->label);
  const rk_pq_column_plan *p = &r->fields[r->sel[col]];
  const rk_pq_chunk *c = &r->meta.row_groups[g].cols[p->leaf];
  if (!c->has_stats) return rk_error(RK_ENOTFOUND, "no statistics for column '%s' row group %d in '%s'", p->info.name, g, r->label);
  const rk_pq_stats *s = &c->stats;
  st->has_null_count = s->has_null_count;
  st->null_count = s->null_count;
  st->has_distinct_count = s->has_distinct_count;
  st->distinct_count = s->distinct_count;
  if (s->has_min && s->has_max) {
    st->has_min_max = true;
    st->min = s->min, st->min_len = s->min_len;
    st->max = s->max, st->max_len = s->max_len;
    rk_coltype t = p->is_list ? p->info.elem_type : p->info.type;
    st->is_float = rk_coltype_is_float(t);
    bool ok1, ok2;
    decode_stat(p, s->min, s->min_len, &st->min_i, &st->min_f, &ok1);
    decode_stat(p, s->max, s->max_len, &st->max_i, &st->max_f, &ok2);
  }
  return RK_OK;
}

rk_status rk_parquet_chunk(rk_parquet_chunk_info *info, const rk_parquet_reader *r, int g, int col) {
  memset(info, 0, sizeof *info);
  if (g < 0 || g >= r->meta.nrow_groups || col < 0 || col >= r->nsel)
    return rk_error(RK_ERANGE, "no row group %d, column %d in '%s'", g, col, r->label);
  const rk_pq_chunk *c = &r->meta.row_groups[g].cols[r->fields[r->sel[col]].leaf];
  info->codec = rk_parquet_codec_name(c->codec);
  size_t at = 0;
  for (int i = 0; i < c->nencodings && at < sizeof info->encodings; i++)
    at += (size_t)snprintf(info->encodings + at, sizeof info->encodings - at, "%s%s", i ? "," : "",
                           rk_parquet_encoding_name(c->encodings[i]));
  info->compressed_bytes = c->total_compressed;
  info->uncompressed_bytes = c->total_uncompressed;
  info->num_values = c->num_values;
  info->has_dictionary = c->dictionary_page_offset >= 0;
  return RK_OK;
}

/* ---- row groups ---------------------------------------------------------------------------
 * The column chunks of one or more row groups are the work items (rk_parallel_items): each reads
 * its bytes into its worker's buffer and decodes into its own column of its row group's batch. */
typedef struct {
  rk_parquet_reader *r;
  const int *groups;           /* the row groups */
  rk_batch **batches;          /* one per row group */
  int64_t *offs, *lens;        /* per item: the chunk's bytes in the file (len -1: empty chunk) */
} rg_job;

static rk_status ensure_workers(rk_parquet_reader *r, int n) {
  if (n <= r->nworkers) return RK_OK;
  rk_pq_decode_scratch *s = rk_realloc(r->scratch, (size_t)n * sizeof *s);
  if (!s) return RK_ENOMEM;
  r->scratch = s;
  uint8_t **raw = rk_realloc(r->raw, (size_t)n * sizeof *raw);
  if (!raw) return RK_ENOMEM;
  r->raw = raw;
  size_t *cap = rk_realloc(r->raw_cap, (size_t)n * sizeof *cap);
  if (!cap) return RK_ENOMEM;
  r->raw_cap = cap;
  for (int w = r->nworkers; w < n; w++) {
    memset(&r->scratch[w], 0, sizeof r->scratch[w]);
    r->raw[w] = NULL;
    r->raw_cap[w] = 0;
  }
  r->nworkers = n;
  return RK_OK;
}

static void free_workers(rk_parquet_reader *r) {
  for (int w = 0; w < r->nworkers; w++) {
    rk_pq_decode_scratch_free(&r->scratch[w]);
    rk_free(r->raw[w]);
  }
  rk_free(r->scratch);
  rk_free(r->raw);
  rk_free(r->raw_cap);
}

static rk_status decode_item(void *ctx, int worker, int64_t item) {
  rg_job *j = ctx;
  rk_parquet_reader *r = j->r;
  int c = (int)(item % r->nsel), gi = (int)(item / r->nsel), g = j->groups[gi];
  if (j->lens[item] < 0) return RK_OK;
  size_t len = (size_t)j->lens[item];
  if (len + 1 > r->raw_cap[worker]) {
    rk_free(r->raw[worker]);
    r->raw_cap[worker] = 0;
    if (!(r->raw[worker] = rk_malloc(len + 1))) return RK_ENOMEM;
    r->raw_cap[worker] = len + 1;
  }
  RK_TRY(read_at(r, r->raw[worker], len, j->offs[item]));
  const rk_pq_column_plan *p = &r->fields[r->sel[c]];
  rk_pq_chunk_in in = {r->label, g, p, &r->meta.row_groups[g].cols[p->leaf], r->raw[worker], len, j->offs[item],
                       r->meta.row_groups[g].num_rows, &r->scratch[worker]};
  return rk_pq_chunk_decode(&j->batches[gi]->cols[c], &in);
}

static rk_status prepare_batch(const rk_parquet_reader *r, rk_batch *batch) {
  if (batch->ncols == r->nsel && (r->nsel == 0 || batch->cols)) return RK_OK;
  if (batch->ncols != 0) return rk_error(RK_EINVAL, "batch has %d columns but '%s' has %d selected", batch->ncols, r->label, r->nsel);
  RK_TRY(rk_batch_init(batch, r->nsel));
  for (int c = 0; c < r->nsel; c++) {
    rk_status s = rk_column_init(&batch->cols[c], r->sel_info[c].name, r->sel_info[c].type, r->sel_info[c].elem_type);
    if (s != RK_OK) {
      rk_batch_free(batch);
      return s;
    }
  }
  return RK_OK;
}

/* Where column chunk (g, c) lies in the file, checked against the file's size. */
static rk_status chunk_range(const rk_parquet_reader *r, int g, int c, int64_t *off, int64_t *len) {
  const rk_pq_column_plan *p = &r->fields[r->sel[c]];
  const rk_pq_chunk *ch = &r->meta.row_groups[g].cols[p->leaf];
  *off = 0, *len = -1;
  if (ch->encrypted)
    return rk_error(RK_EUNSUPPORTED, "cannot read '%s': column '%s' row group %d: unsupported: encrypted column", r->label, p->info.name, g);
  if (ch->file_path)
    return rk_error(RK_EUNSUPPORTED, "cannot read '%s': column '%s' row group %d: unsupported: column data in another file ('%s')",
                    r->label, p->info.name, g, ch->file_path);
  if (ch->num_values == 0) return RK_OK;   /* an empty chunk: some writers leave its offsets at 0 */
  int64_t start = ch->data_page_offset;
  if (ch->dictionary_page_offset >= 4 && ch->dictionary_page_offset < start) start = ch->dictionary_page_offset;
  int64_t n = ch->total_compressed;
  int64_t limit = r->size - 8;
  if (start < 4 || n < 0 || start > limit || n > limit - start)
    return rk_error(RK_EFORMAT, "cannot read '%s': column '%s' row group %d: column chunk [%lld, +%lld) lies outside the file (%lld bytes)",
                    r->label, p->info.name, g, (long long)start, (long long)n, (long long)r->size);
  if (ch->num_values < 0)
    return rk_error(RK_EFORMAT, "cannot read '%s': column '%s' row group %d: %lld values", r->label, p->info.name, g, (long long)ch->num_values);
  *off = start, *len = n;
  return RK_OK;
}

/* Decode row groups groups[0..k), appending row group groups[i] to batches[i]'s columns. */
static rk_status append_row_groups(rk_parquet_reader *r, const int *groups, int k, rk_batch **batches) {
  int n = r->nsel;
  int64_t items = (int64_t)k * n;
  rg_job j = {r, groups, batches, NULL, NULL};
  j.offs = rk_malloc((size_t)(items ? items : 1) * sizeof *j.offs);
  j.lens = rk_malloc((size_t)(items ? items : 1) * sizeof *j.lens);
  rk_status s = j.offs && j.lens ? RK_OK : RK_ENOMEM;
  for (int64_t i = 0; i < items && s == RK_OK; i++) s = chunk_range(r, groups[i / n], (int)(i % n), &j.offs[i], &j.lens[i]);
  /* room for the rows and the largest chunk, made here so the buffers live in this thread's
   * malloc arena (memory a worker thread frees is handed back to the system at once); a row
   * count past 4M rows is not trusted that far before the pages confirm it */
  for (int i = 0; i < k && s == RK_OK; i++)
    for (int c = 0; c < n && s == RK_OK; c++) {
      rk_column *col = &batches[i]->cols[c];
      int64_t rows = r->meta.row_groups[groups[i]].num_rows;
      if (col->type != RK_COL_STRING && col->type != RK_COL_LIST && rows > 0 && rows <= ((int64_t)1 << 22))
        s = rk_column_reserve(col, col->length + rows, 0);
    }
  int workers = rk_parallel_workers(items);
  if (s == RK_OK) s = ensure_workers(r, workers);
  int64_t longest = 0, page = 0, rows = 0;   /* footer figures, trusted up to 64 MiB and 4M rows */
  for (int64_t i = 0; i < items && s == RK_OK; i++) {
    longest = j.lens[i] > longest ? j.lens[i] : longest;
    const rk_pq_chunk *ch = &r->meta.row_groups[groups[i / n]].cols[r->fields[r->sel[i % n]].leaf];
    if (ch->total_uncompressed > page && ch->total_uncompressed <= ((int64_t)64 << 20)) page = ch->total_uncompressed;
    int64_t nr = r->meta.row_groups[groups[i / n]].num_rows;
    if (nr > rows && nr <= ((int64_t)1 << 22)) rows = nr;
  }
  for (int w = 0; w < workers && s == RK_OK; w++) s = rk_pq_decode_scratch_reserve(&r->scratch[w], (size_t)page, rows);
  for (int w = 0; w < workers && s == RK_OK; w++)
    if ((size_t)longest + 1 > r->raw_cap[w]) {
      rk_free(r->raw[w]);
      r->raw_cap[w] = 0;
      if (!(r->raw[w] = rk_malloc((size_t)longest + 1))) s = RK_ENOMEM;
      else r->raw_cap[w] = (size_t)longest + 1;
    }
  if (s == RK_OK) s = rk_parallel_items(items, workers, decode_item, &j);
  for (int i = 0; i < k && s == RK_OK; i++) batches[i]->nrows += r->meta.row_groups[groups[i]].num_rows;
  rk_free(j.offs);
  rk_free(j.lens);
  return s;
}

static rk_status append_row_group(rk_parquet_reader *r, int g, rk_batch *batch) { return append_row_groups(r, &g, 1, &batch); }

/* The next row groups with rows, up to one per thread: the first into batch, the others into
 * r->ahead for the calls that follow (the same batches as one at a time, decoded together). */
static rk_status next_row_groups(rk_parquet_reader *r, rk_batch *batch) {
  int want = rk_num_threads() < 8 ? rk_num_threads() : 8;
  if (want < 1) want = 1;
  if (want - 1 > r->nahead_cap) {
    rk_batch *a = rk_realloc(r->ahead, (size_t)(want - 1) * sizeof *a);
    if (!a) return RK_ENOMEM;
    memset(a + r->nahead_cap, 0, (size_t)(want - 1 - r->nahead_cap) * sizeof *a);
    r->ahead = a;
    r->nahead_cap = want - 1;
  }
  int groups[8], k = 0;
  rk_batch *targets[8];
  while (k < want && r->next_rg < r->meta.nrow_groups) {
    int g = r->next_rg++;
    if (r->meta.row_groups[g].num_rows == 0) continue;
    rk_batch *b = k == 0 ? batch : &r->ahead[k - 1];
    RK_TRY(prepare_batch(r, b));
    rk_batch_clear(b);
    groups[k] = g;
    targets[k++] = b;
  }
  r->nahead = r->ahead_pos = 0;
  if (k == 0) return RK_OK;
  rk_status s = append_row_groups(r, groups, k, targets);
  if (s != RK_OK) {
    for (int i = 0; i < k; i++) rk_batch_clear(targets[i]);
    return s;
  }
  r->nahead = k - 1;
  return RK_OK;
}

rk_status rk_parquet_read_row_group(rk_parquet_reader *r, int g, rk_batch *batch) {
  if (g < 0 || g >= r->meta.nrow_groups)
    return rk_error(RK_ERANGE, "no row group %d in '%s' (it has %d)", g, r->label, r->meta.nrow_groups);
  RK_TRY(prepare_batch(r, batch));
  rk_batch_clear(batch);
  rk_status s = append_row_group(r, g, batch);
  if (s != RK_OK) rk_batch_clear(batch);
  return s;
}

rk_status rk_parquet_next(rk_parquet_reader *r, rk_batch *batch) {
  RK_TRY(prepare_batch(r, batch));
  rk_batch_clear(batch);
  if (r->batch_rows == 0) {
    if (r->ahead_pos < r->nahead) {   /* hand over a batch decoded earlier; the caller's becomes spare */
      rk_batch t = *batch;
      *batch = r->ahead[r->ahead_pos];
      r->ahead[r->ahead_pos++] = t;
      return RK_OK;
    }
    return next_row_groups(r, batch);
  }
  while (r->rg_pos >= r->rg.nrows) {
    if (r->next_rg >= r->meta.nrow_groups) return RK_OK;
    RK_TRY(rk_parquet_read_row_group(r, r->next_rg++, &r->rg));
    r->rg_pos = 0;
  }
  int64_t n = r->rg.nrows - r->rg_pos;
  if (n > r->batch_rows) n = r->batch_rows;
  for (int c = 0; c < r->nsel; c++) {
    rk_status s = rk_column_append_column(&batch->cols[c], &r->rg.cols[c], r->rg_pos, r->rg_pos + n);
    if (s != RK_OK) {
      rk_batch_clear(batch);
      return s;
    }
  }
  batch->nrows = n;
  r->rg_pos += n;
  return RK_OK;
}

rk_status rk_parquet_read_all(const char *path, const rk_parquet_read_options *opts, rk_batch *out) {
  memset(out, 0, sizeof *out);
  rk_parquet_read_options o;
  if (opts) o = *opts;
  else rk_parquet_read_options_default(&o);
  o.batch_rows = 0;
  rk_parquet_reader *r;
  RK_TRY(rk_parquet_open(&r, path, &o));
  rk_status s = prepare_batch(r, out);
  for (int g = 0; g < r->meta.nrow_groups && s == RK_OK; g++) s = append_row_group(r, g, out);
  rk_parquet_close(r);
  if (s != RK_OK) rk_batch_free(out);
  return s;
}
