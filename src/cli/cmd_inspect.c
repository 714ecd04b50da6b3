/*
 * `reckon inspect PATH`: what a data file holds. Parquet files and folders: the schema (physical
 * and logical types, nesting), rows, row groups, codecs, encodings, sizes and the stored
 * statistics; CSV: the columns as reckon reads them. Both: a profile of every column (nulls,
 * min, max, mean, distinct estimate, top values) from one streaming pass. Merlin schemas
 * (schema.pbtxt, .merlin/schema.json, alone or beside the data): dtypes, tags, domains, list
 * shapes and embedding sizes. `--json` for machines.
 */
#include <sys/stat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "reckon/io.h"
#include "reckon/parquet.h"
#include "reckon/schema.h"

#define INSPECT_FLAGS(X)                                                                                   \
  X(json,          BOOL,   "false", NULL,    "print JSON instead of text")                                \
  X(stats,         BOOL,   "true",  NULL,    "read every row to profile the columns (false: metadata only)") \
  RK_CSV_INPUT_FLAGS(X)                                                                                  \
  X(columns,       LIST,   "",      "C,...", "only these columns")

typedef struct {
  INSPECT_FLAGS(RK_FLAG_FIELD)
} inspect_opts;
#define RK_FLAG_STRUCT inspect_opts
static const rk_flag inspect_flags[] = {INSPECT_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static const char *physical_name(int p) {
  static const char *const names[] = {"BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
                                      "FIXED_LEN_BYTE_ARRAY"};
  return p >= 0 && p < 8 ? names[p] : "?";
}

static const char *logical_name(rk_parquet_logical l) {
  switch (l) {
    case RK_PARQUET_LOGICAL_NONE: return "";
    case RK_PARQUET_LOGICAL_STRING: return "STRING";
    case RK_PARQUET_LOGICAL_DATE: return "DATE";
    case RK_PARQUET_LOGICAL_TIME_MS: return "TIME(ms)";
    case RK_PARQUET_LOGICAL_TIME_US: return "TIME(us)";
    case RK_PARQUET_LOGICAL_TIME_NS: return "TIME(ns)";
    case RK_PARQUET_LOGICAL_TIMESTAMP_MS: return "TIMESTAMP(ms)";
    case RK_PARQUET_LOGICAL_TIMESTAMP_US: return "TIMESTAMP(us)";
    case RK_PARQUET_LOGICAL_TIMESTAMP_NS: return "TIMESTAMP(ns)";
    case RK_PARQUET_LOGICAL_DECIMAL: return "DECIMAL";
    case RK_PARQUET_LOGICAL_UUID: return "UUID";
    case RK_PARQUET_LOGICAL_FLOAT16: return "FLOAT16";
  }
  return "?";
}

static const char *type_text(char *buf, size_t size, rk_coltype type, rk_coltype elem) {
  if (type == RK_COL_LIST) snprintf(buf, size, "list<%s>", rk_coltype_name(elem));
  else snprintf(buf, size, "%s", rk_coltype_name(type));
  return buf;
}

/* Text for JSON: the bytes when they are UTF-8, else "0x" and their hex (binary columns,
 * truncated statistics, prefixes cut inside a character). */
static json_t *json_text(const char *bytes, size_t len) {
  json_t *j = json_stringn(bytes, len);
  if (j) return j;
  size_t shown = len > 64 ? 64 : len;
  char hex[2 * 64 + 3] = "0x";
  for (size_t i = 0; i < shown; i++) snprintf(hex + 2 + 2 * i, 3, "%02x", (unsigned char)bytes[i]);
  return json_string(hex);
}

static json_t *jstr(const char *s) { return json_text(s, strlen(s)); }

/* ---- Parquet metadata ----------------------------------------------------------------------- */

static json_t *parquet_metadata_json(const char *path, const inspect_opts *o) {
  rk_parquet_read_options po;
  rk_parquet_read_options_default(&po);
  if (o->columns.n) {
    po.columns = o->columns.items;
    po.ncolumns = o->columns.n;
  }
  rk_parquet_dataset *ds = NULL;
  if (rk_parquet_dataset_open(&ds, path, &po) != RK_OK) return NULL;
  json_t *root = json_object();
  json_object_set_new(root, "path", jstr(path));
  json_object_set_new(root, "format", json_string("parquet"));
  json_object_set_new(root, "rows", json_integer(rk_parquet_dataset_num_rows(ds)));
  json_t *files = json_array();
  for (int f = 0; f < rk_parquet_dataset_num_files(ds); f++) {
    const char *file = rk_parquet_dataset_file(ds, f);
    rk_parquet_reader *r = NULL;
    if (rk_parquet_open(&r, file, &po) != RK_OK) {
      json_decref(files);
      json_decref(root);
      rk_parquet_dataset_close(ds);
      return NULL;
    }
    json_t *jf = json_object();
    json_object_set_new(jf, "path", jstr(file));
    json_object_set_new(jf, "rows", json_integer(rk_parquet_num_rows(r)));
    const char *by = rk_parquet_created_by(r);
    json_object_set_new(jf, "created_by", by ? jstr(by) : json_null());
    json_t *meta = json_object();
    for (int i = 0; i < rk_parquet_num_metadata(r); i++) {
      const char *k, *v;
      rk_parquet_metadata(r, i, &k, &v);
      {
        json_t *key = jstr(k);
        json_object_set_new(meta, json_string_value(key), jstr(v ? v : ""));
        json_decref(key);
      }
    }
    json_object_set_new(jf, "metadata", meta);
    json_t *groups = json_array();
    for (int g = 0; g < rk_parquet_num_row_groups(r); g++) {
      json_t *jg = json_object();
      json_object_set_new(jg, "rows", json_integer(rk_parquet_row_group_rows(r, g)));
      json_t *chunks = json_array();
      for (int c = 0; c < rk_parquet_num_columns(r); c++) {
        json_t *jc = json_object();
        json_object_set_new(jc, "column", jstr(rk_parquet_column(r, c)->name));
        rk_parquet_chunk_info info;
        if (rk_parquet_chunk(&info, r, g, c) == RK_OK) {
          json_object_set_new(jc, "codec", json_string(info.codec));
          json_object_set_new(jc, "encodings", json_string(info.encodings));
          json_object_set_new(jc, "compressed_bytes", json_integer(info.compressed_bytes));
          json_object_set_new(jc, "uncompressed_bytes", json_integer(info.uncompressed_bytes));
        }
        rk_parquet_stats st;
        if (rk_parquet_statistics(&st, r, g, c) == RK_OK) {
          if (st.has_null_count) json_object_set_new(jc, "null_count", json_integer(st.null_count));
          if (st.has_min_max && st.is_float) {
            json_object_set_new(jc, "min", json_real(st.min_f));
            json_object_set_new(jc, "max", json_real(st.max_f));
          } else if (st.has_min_max && rk_parquet_column(r, c)->type != RK_COL_STRING) {
            json_object_set_new(jc, "min", json_integer(st.min_i));
            json_object_set_new(jc, "max", json_integer(st.max_i));
          } else if (st.has_min_max) {
            json_object_set_new(jc, "min", json_text((const char *)st.min, st.min_len));
            json_object_set_new(jc, "max", json_text((const char *)st.max, st.max_len));
          }
        }
        json_array_append_new(chunks, jc);
      }
      json_object_set_new(jg, "columns", chunks);
      json_array_append_new(groups, jg);
    }
    json_object_set_new(jf, "row_groups", groups);
    json_array_append_new(files, jf);
    rk_parquet_close(r);
  }
  json_object_set_new(root, "files", files);
  json_t *cols = json_array();
  for (int c = 0; c < rk_parquet_dataset_num_columns(ds); c++) {
    const rk_parquet_column_info *ci = rk_parquet_dataset_column(ds, c);
    char t[64];
    json_t *jc = json_object();
    json_object_set_new(jc, "name", json_text(ci->name, strlen(ci->name)));
    json_object_set_new(jc, "type", json_string(type_text(t, sizeof t, ci->type, ci->elem_type)));
    json_object_set_new(jc, "physical", json_string(physical_name(ci->physical)));
    json_object_set_new(jc, "logical", json_string(logical_name(ci->logical)));
    json_object_set_new(jc, "nullable", json_boolean(ci->nullable));
    if (ci->unsupported) json_object_set_new(jc, "unsupported", jstr(ci->unsupported));
    json_array_append_new(cols, jc);
  }
  json_object_set_new(root, "columns", cols);
  rk_parquet_dataset_close(ds);
  return root;
}

/* ---- Merlin schema -------------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A schema path: a .pbtxt / .json file, or a folder holding one (as preprocess writes it). */
static bool find_schema(const char *path, char *out, size_t size) {
  struct stat st;
  if (stat(path, &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) {
    if (!ends_with(path, ".pbtxt") && !ends_with(path, ".json")) return false;
    snprintf(out, size, "%s", path);
    return true;
  }
  static const char *const names[] = {".merlin/schema.json", "schema.json", "schema.pbtxt"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(out, size, "%s/%s", path, names[i]);
    if (stat(out, &st) == 0) return true;
  }
  return false;
}

static json_t *schema_json(const rk_schema *schema, const char *path) {
  json_t *cols = json_array();
  for (int i = 0; i < schema->n_cols; i++) {
    const rk_schema_column *c = &schema->cols[i];
    json_t *jc = json_object();
    json_object_set_new(jc, "name", jstr(c->name));
    json_object_set_new(jc, "dtype", json_string(c->dtype_name));
    json_t *tags = json_array();
    for (int t = 0; t < c->n_tags; t++) json_array_append_new(tags, jstr(c->tags[t]));
    json_object_set_new(jc, "tags", tags);
    if (c->int_domain.present && c->int_domain.has_max) {
      json_object_set_new(jc, "domain_min", json_integer(c->int_domain.min));
      json_object_set_new(jc, "domain_max", json_integer(c->int_domain.max));
    } else if (c->float_domain.present && c->float_domain.has_max) {
      json_object_set_new(jc, "domain_min", json_real(c->float_domain.min));
      json_object_set_new(jc, "domain_max", json_real(c->float_domain.max));
    }
    json_object_set_new(jc, "is_list", json_boolean(c->is_list));
    if (c->value_count.present) {
      json_object_set_new(jc, "value_count_min", json_integer(c->value_count.min));
      json_object_set_new(jc, "value_count_max", json_integer(c->value_count.max));
    }
    int64_t card, dim;
    if (rk_schema_column_embedding_sizes(c, &card, &dim)) {
      json_object_set_new(jc, "embedding_cardinality", json_integer(card));
      json_object_set_new(jc, "embedding_dimension", json_integer(dim));
    }
    json_array_append_new(cols, jc);
  }
  json_t *root = json_object();
  json_object_set_new(root, "path", jstr(path));
  json_object_set_new(root, "columns", cols);
  return root;
}

static void print_schema_text(const json_t *schema) {
  printf("\n  Merlin schema %s\n  %-24s %-8s %-14s %-14s %s\n", json_string_value(json_object_get(schema, "path")),
         "column", "dtype", "domain", "embedding", "tags");
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(schema, "columns"), i, c) {
    char domain[48] = "", emb[48] = "", tags[256] = "";
    json_t *mx = json_object_get(c, "domain_max");
    if (json_is_integer(mx))
      snprintf(domain, sizeof domain, "%lld..%lld", (long long)json_integer_value(json_object_get(c, "domain_min")),
               (long long)json_integer_value(mx));
    else if (mx)
      snprintf(domain, sizeof domain, "%.4g..%.4g", json_real_value(json_object_get(c, "domain_min")),
               json_real_value(mx));
    if (json_object_get(c, "embedding_cardinality"))
      snprintf(emb, sizeof emb, "%lld x %lld", (long long)json_integer_value(json_object_get(c, "embedding_cardinality")),
               (long long)json_integer_value(json_object_get(c, "embedding_dimension")));
    size_t k, at = 0;
    json_t *t;
    json_array_foreach(json_object_get(c, "tags"), k, t) {
      if (at < sizeof tags) at += (size_t)snprintf(tags + at, sizeof tags - at, "%s%s", k ? "," : "", json_string_value(t));
    }
    char dtype[40];
    snprintf(dtype, sizeof dtype, "%s%s", json_string_value(json_object_get(c, "dtype")),
             json_is_true(json_object_get(c, "is_list")) ? "[]" : "");
    printf("  %-24s %-8s %-14s %-14s %s\n", json_string_value(json_object_get(c, "name")), dtype, domain, emb, tags);
  }
}

/* ---- profiles ------------------------------------------------------------------------------- */

static rk_status profile_source(rk_profiler *prof, const char *path, const inspect_opts *o, json_t *root) {
  rk_source_options so;
  rk_source_options_default(&so);
  if (!rk_source_is_parquet(path)) RK_TRY(rk_csv_parse_sep(o->csv_sep, &so.csv_sep));
  so.na_values = o->csv_na_values.items;
  so.n_na_values = o->csv_na_values.n;
  so.csv_invalid_utf8 = rk_cli_invalid_utf8(o->csv_invalid_utf8);
  so.csv_non_finite = rk_cli_non_finite(o->non_finite);
  so.csv_list_columns = o->csv_list_columns.items;
  so.n_csv_list_columns = o->csv_list_columns.n;
  so.csv_no_header = !o->csv_header;
  so.csv_column_names = o->csv_column_names.items;
  so.n_csv_column_names = o->csv_column_names.n;
  if (o->columns.n) {
    so.columns = o->columns.items;
    so.ncolumns = o->columns.n;
  }
  rk_table_source *src = NULL;
  RK_TRY(rk_source_open(&src, path, &so));
  rk_batch batch = {0};
  rk_progress progress;
  rk_progress_begin(&progress, "inspect", 1.0, "");
  rk_status st;
  int64_t rows = 0;
  while ((st = src->next(src, &batch)) == RK_OK && batch.nrows > 0) {
    rows += batch.nrows;
    if ((st = rk_profiler_add(prof, &batch)) != RK_OK) break;
    double f = src->fraction_done(src);
    if (f >= 0) rk_progress_update(&progress, f);
  }
  rk_progress_end(&progress);
  if (st == RK_OK && rk_profiler_num_columns(prof) == 0 && batch.ncols > 0) st = rk_profiler_add(prof, &batch);
  if (!json_object_get(root, "format")) {
    json_object_set_new(root, "path", jstr(path));
    json_object_set_new(root, "format", json_string(src->format));
    json_object_set_new(root, "rows", json_integer(rows));
  }
  rk_batch_free(&batch);
  src->close(src);
  return st;
}

static json_t *profile_json(rk_profiler *prof) {
  json_t *cols = json_array();
  for (int c = 0; c < rk_profiler_num_columns(prof); c++) {
    const rk_column_profile *p = rk_profiler_column(prof, c);
    char t[64];
    json_t *jc = json_object();
    json_object_set_new(jc, "name", json_text(p->name, strlen(p->name)));
    json_object_set_new(jc, "type", json_string(type_text(t, sizeof t, p->type, p->elem_type)));
    json_object_set_new(jc, "rows", json_integer(p->rows));
    json_object_set_new(jc, "nulls", json_integer(p->nulls));
    if (p->has_range && p->min_s) {
      json_object_set_new(jc, "min", json_text(p->min_s, strlen(p->min_s)));
      json_object_set_new(jc, "max", json_text(p->max_s, strlen(p->max_s)));
    } else if (p->has_range) {
      json_object_set_new(jc, "min", json_real(p->min));
      json_object_set_new(jc, "max", json_real(p->max));
      json_object_set_new(jc, "mean", json_real(p->mean));
    }
    if (p->type == RK_COL_LIST) {
      json_object_set_new(jc, "list_min_length", json_integer(p->list_min_len));
      json_object_set_new(jc, "list_max_length", json_integer(p->list_max_len));
      json_object_set_new(jc, "list_mean_length", json_real(p->list_mean_len));
    }
    json_object_set_new(jc, "distinct_estimate", json_integer((json_int_t)(p->distinct + 0.5)));
    json_t *top = json_array();
    for (int i = 0; i < p->ntop; i++) {
      json_t *jt = json_object();
      json_object_set_new(jt, "value", json_text(p->top_value[i], strlen(p->top_value[i])));
      json_object_set_new(jt, "count", json_integer(p->top_count[i]));
      json_array_append_new(top, jt);
    }
    json_object_set_new(jc, "top_values", top);
    json_object_set_new(jc, "top_counts_exact", json_boolean(p->top_exact));
    json_array_append_new(cols, jc);
  }
  return cols;
}

/* ---- text ----------------------------------------------------------------------------------- */

static void print_text(const json_t *root) {
  printf("%s: %s, %lld rows\n", json_string_value(json_object_get(root, "path")),
         json_string_value(json_object_get(root, "format")),
         (long long)json_integer_value(json_object_get(root, "rows")));
  const json_t *files = json_object_get(root, "files");
  size_t i;
  json_t *f;
  json_array_foreach(files, i, f) {
    const json_t *groups = json_object_get(f, "row_groups");
    long long comp = 0, raw = 0;
    size_t g;
    json_t *jg;
    const char *codec = NULL, *enc = NULL;
    json_array_foreach(groups, g, jg) {
      size_t c;
      json_t *jc;
      json_array_foreach(json_object_get(jg, "columns"), c, jc) {
        comp += json_integer_value(json_object_get(jc, "compressed_bytes"));
        raw += json_integer_value(json_object_get(jc, "uncompressed_bytes"));
        if (!codec) codec = json_string_value(json_object_get(jc, "codec"));
        if (!enc) enc = json_string_value(json_object_get(jc, "encodings"));
      }
    }
    printf("  file %s: %lld rows in %zu row groups, %.2f MiB (%.2f MiB uncompressed), codec %s, created by %s\n",
           json_string_value(json_object_get(f, "path")), (long long)json_integer_value(json_object_get(f, "rows")),
           json_array_size(groups), comp / 1048576.0, raw / 1048576.0, codec ? codec : "?",
           json_is_string(json_object_get(f, "created_by")) ? json_string_value(json_object_get(f, "created_by"))
                                                              : "(unknown)");
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(f, "metadata"), key, v) {
      const char *s = json_string_value(v);
      printf("    metadata %s: %.*s%s\n", key, 80, s, strlen(s) > 80 ? "..." : "");
    }
  }
  const json_t *cols = json_object_get(root, "columns");
  const json_t *prof = json_object_get(root, "profile");
  /* storage of each column in the first row group of the first file */
  const json_t *chunks =
      json_object_get(json_array_get(json_object_get(json_array_get(files, 0), "row_groups"), 0), "columns");
  printf("\n  %-24s %-16s %-22s %-30s %s\n", "column", "type", "stored as", chunks ? "encodings (row group 0)" : "", "");
  json_t *c;
  json_array_foreach(cols, i, c) {
    const char *encodings = json_string_value(json_object_get(json_array_get(chunks, i), "encodings"));
    char stored[64] = "";
    if (json_object_get(c, "physical"))
      snprintf(stored, sizeof stored, "%s%s%s", json_string_value(json_object_get(c, "physical")),
               *json_string_value(json_object_get(c, "logical")) ? " " : "",
               json_string_value(json_object_get(c, "logical")));
    printf("  %-24s %-16s %-22s %-30s %s\n", json_string_value(json_object_get(c, "name")),
           json_string_value(json_object_get(c, "type")), stored, encodings ? encodings : "",
           json_is_string(json_object_get(c, "unsupported")) ? json_string_value(json_object_get(c, "unsupported"))
           : json_is_false(json_object_get(c, "nullable"))     ? "required"
                                                               : "");
  }
  if (json_object_get(root, "schema")) print_schema_text(json_object_get(root, "schema"));
  if (!prof) return;
  printf("\n  %-24s %10s %14s %14s %12s %10s  %s\n", "column", "nulls", "min", "max", "mean", "distinct~",
         "top values (count)");
  json_array_foreach(prof, i, c) {
    char mn[32] = "", mx[32] = "", mean[32] = "";
    json_t *jmin = json_object_get(c, "min"), *jmax = json_object_get(c, "max");
    if (json_is_string(jmin)) {
      snprintf(mn, sizeof mn, "%.14s", json_string_value(jmin));
      snprintf(mx, sizeof mx, "%.14s", json_string_value(jmax));
    } else if (jmin) {
      snprintf(mn, sizeof mn, "%.6g", json_real_value(jmin));
      snprintf(mx, sizeof mx, "%.6g", json_real_value(jmax));
      snprintf(mean, sizeof mean, "%.6g", json_real_value(json_object_get(c, "mean")));
    }
    printf("  %-24s %10lld %14s %14s %12s %10lld  ", json_string_value(json_object_get(c, "name")),
           (long long)json_integer_value(json_object_get(c, "nulls")), mn, mx, mean,
           (long long)json_integer_value(json_object_get(c, "distinct_estimate")));
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(c, "top_values"), k, t) {
      printf("%s%.16s (%lld)", k ? ", " : "", json_string_value(json_object_get(t, "value")),
             (long long)json_integer_value(json_object_get(t, "count")));
    }
    printf("%s\n", json_is_false(json_object_get(c, "top_counts_exact")) ? " ~" : "");
  }
}

static int run_inspect(const rk_flag_parse *parse, void *arg) {
  inspect_opts *o = arg;
  if (parse->npositional != 1)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon inspect' takes one path (a .parquet file or folder, or a CSV "
                                           "file), got %d",
                                parse->npositional));
  const char *path = parse->positional[0];
  json_t *root = NULL;
  char schema_path[4096];
  json_t *schema = NULL;
  if (find_schema(path, schema_path, sizeof schema_path)) {
    rk_schema sc;
    rk_schema_init(&sc);
    rk_status st = rk_schema_read(&sc, schema_path);
    if (st != RK_OK) {
      rk_schema_free(&sc);
      return rk_cli_fail(st);
    }
    schema = schema_json(&sc, schema_path);
    rk_schema_free(&sc);
  }
  if (schema && !rk_source_is_parquet(path)) {   /* a schema alone */
    if (o->json) {
      char *text = json_dumps(schema, JSON_INDENT(2));
      printf("%s\n", text);
      free(text);
    } else {
      print_schema_text(schema);
    }
    json_decref(schema);
    return RK_EXIT_OK;
  }
  if (rk_source_is_parquet(path)) {
    root = parquet_metadata_json(path, o);
    if (!root) {
      json_decref(schema);
      return rk_cli_fail(rk_error_status());
    }
    if (schema) json_object_set_new(root, "schema", schema);
  } else {
    root = json_object();
    /* CSV columns come from the profile pass; metadata-only shows the inferred types. */
  }
  rk_profiler *prof = NULL;
  rk_status st = rk_profiler_create(&prof);
  if (st == RK_OK && (o->stats || !json_object_get(root, "columns"))) st = profile_source(prof, path, o, root);
  if (st != RK_OK) {
    rk_profiler_free(prof);
    json_decref(root);
    return rk_cli_fail(st);
  }
  if (rk_profiler_num_columns(prof) > 0) {
    json_t *profile = profile_json(prof);
    if (!json_object_get(root, "columns")) {   /* CSV: the columns as read */
      json_t *cols = json_array();
      size_t i;
      json_t *c;
      json_array_foreach(profile, i, c) {
        json_t *jc = json_object();
        json_object_set(jc, "name", json_object_get(c, "name"));
        json_object_set(jc, "type", json_object_get(c, "type"));
        json_array_append_new(cols, jc);
      }
      json_object_set_new(root, "columns", cols);
    }
    if (o->stats) json_object_set_new(root, "profile", profile);
    else json_decref(profile);
  }
  rk_profiler_free(prof);
  if (o->json) {
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
    if (!text) {
      json_decref(root);
      return rk_cli_fail(rk_error(RK_ENOMEM, "out of memory printing JSON"));
    }
    printf("%s\n", text);
    free(text);
  } else {
    print_text(root);
  }
  json_decref(root);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_inspect = {
    .name = "inspect",
    .usage = "reckon inspect [flags] PATH",
    .summary = "show what a Parquet file or folder, or a CSV file, holds: schema, layout, statistics",
    .details = "For Parquet (a file, or a folder of `part_*.parquet` read as one dataset): the columns with "
               "their physical and logical types, rows, row groups, codecs, encodings, sizes, key-value "
               "metadata and the statistics stored per column chunk. For every input, unless `--stats false`: "
               "a profile of each column from one pass over the rows (nulls, min, max, mean, an estimate of "
               "distinct values within about 1%, and the most frequent values, marked `~` when their counts "
               "are upper bounds). `--json` prints the same as JSON.",
    .flags = inspect_flags,
    .opts_size = sizeof(inspect_opts),
    .run = run_inspect,
};
