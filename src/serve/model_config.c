/*
 * config.pbtxt as a structure: the fields of Triton's ModelConfig that reckon writes and reads
 * (proto/model_config.proto), parsed from the text format with the project's pbtxt reader and
 * written back as text_format prints it. A field outside that subset is refused by name, so a
 * typo or a feature reckon would ignore (sequence batching, GPU groups) is said, not dropped.
 *
 * Reference: triton-inference-server/common protobuf/model_config.proto; Triton's
 * docs/user_guide/model_configuration.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/schema_internal.h"
#include "reckon/serve.h"
#include "serve/serve_internal.h"

typedef struct {
  const char *path;
} ctx;

static rk_status bad(const ctx *c, const rk_pbtxt_field *f, const char *what) {
  return rk_error(RK_EFORMAT, "'%s' line %d: field '%s' %s", c->path, f->line, f->name, what);
}

static rk_status get_string(const ctx *c, const rk_pbtxt_field *f, char **out) {
  if (f->kind != RK_PBTXT_STRING) return bad(c, f, "must be a quoted string");
  rk_free(*out);
  return (*out = rk_strdup(f->value)) ? RK_OK : RK_ENOMEM;
}

static rk_status get_int(const ctx *c, const rk_pbtxt_field *f, int64_t lo, int64_t *out) {
  if (f->kind != RK_PBTXT_NUMBER) return bad(c, f, "must be a whole number");
  char *end;
  errno = 0;
  long long v = strtoll(f->value, &end, 0);
  if (errno || *end || v < lo || v > INT32_MAX * (int64_t)1024)
    return rk_error(RK_EFORMAT, "'%s' line %d: field '%s' is '%s': expected a whole number >= %lld", c->path, f->line,
                    f->name, f->value, (long long)lo);
  *out = v;
  return RK_OK;
}

static rk_status get_bool(const ctx *c, const rk_pbtxt_field *f, bool *out) {
  if (f->kind == RK_PBTXT_IDENT && (!strcmp(f->value, "true") || !strcmp(f->value, "false")))
    return *out = f->value[0] == 't', RK_OK;
  if (f->kind == RK_PBTXT_NUMBER && (!strcmp(f->value, "1") || !strcmp(f->value, "0")))
    return *out = f->value[0] == '1', RK_OK;
  return bad(c, f, "must be true or false");
}

static rk_status need_message(const ctx *c, const rk_pbtxt_field *f) {
  return f->kind == RK_PBTXT_MESSAGE ? RK_OK : bad(c, f, "must be a message { ... }");
}

/* Appends one zeroed element to an array of n elements of `size` bytes. */
static rk_status grow(void **items, int *n, size_t size) {
  void *p = rk_realloc(*items, (size_t)(*n + 1) * size);
  if (!p) return RK_ENOMEM;
  memset((char *)p + (size_t)*n * size, 0, size);
  *items = p;
  (*n)++;
  return RK_OK;
}

static rk_status parse_tensor(const ctx *c, const rk_pbtxt_field *m, rk_model_config_tensor *t, bool input) {
  RK_TRY(need_message(c, m));
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "name")) RK_TRY(get_string(c, f, &t->name));
    else if (!strcmp(f->name, "data_type")) {
      if (f->kind != RK_PBTXT_IDENT || !(t->data_type = rk_serve_dtype_parse_config(f->value)))
        return bad(c, f, "must be a DataType: TYPE_BOOL, TYPE_INT8..TYPE_INT64, TYPE_UINT8..TYPE_UINT64, TYPE_FP16, "
                         "TYPE_FP32, TYPE_FP64 or TYPE_STRING");
    } else if (!strcmp(f->name, "dims")) {
      if (t->n_dims == RK_SERVE_MAX_DIMS) return bad(c, f, "has more than 8 dimensions");
      RK_TRY(get_int(c, f, -1, &t->dims[t->n_dims]));
      t->n_dims++;
    } else if (input && !strcmp(f->name, "allow_ragged_batch")) RK_TRY(get_bool(c, f, &t->allow_ragged_batch));
    else if (input && !strcmp(f->name, "optional")) RK_TRY(get_bool(c, f, &t->optional));
    else return bad(c, f, input ? "is not one reckon reads in an input (name, data_type, dims, allow_ragged_batch, optional)"
                                : "is not one reckon reads in an output (name, data_type, dims)");
  }
  if (!t->name) return rk_error(RK_EFORMAT, "'%s' line %d: an %s has no name", c->path, m->line, m->name);
  if (!t->data_type) return rk_error(RK_EFORMAT, "'%s' line %d: %s '%s' has no data_type", c->path, m->line, m->name, t->name);
  return RK_OK;
}

static rk_status parse_policy(const ctx *c, const rk_pbtxt_field *m, rk_version_policy *p) {
  RK_TRY(need_message(c, m));
  if (m->n_fields != 1) return bad(c, m, "must hold exactly one of latest, all, specific");
  const rk_pbtxt_field *f = &m->fields[0];
  RK_TRY(need_message(c, f));
  if (!strcmp(f->name, "all")) {
    p->kind = RK_VERSION_POLICY_ALL;
    return f->n_fields ? bad(c, f, "takes no fields") : RK_OK;
  }
  if (!strcmp(f->name, "latest")) {
    p->kind = RK_VERSION_POLICY_LATEST;
    p->latest = 1;
    for (int i = 0; i < f->n_fields; i++) {
      if (strcmp(f->fields[i].name, "num_versions")) return bad(c, &f->fields[i], "is not num_versions");
      RK_TRY(get_int(c, &f->fields[i], 1, &p->latest));
    }
    return RK_OK;
  }
  if (!strcmp(f->name, "specific")) {
    p->kind = RK_VERSION_POLICY_SPECIFIC;
    for (int i = 0; i < f->n_fields; i++) {
      if (strcmp(f->fields[i].name, "versions")) return bad(c, &f->fields[i], "is not versions");
      RK_TRY(grow((void **)&p->specific, &p->n_specific, sizeof *p->specific));
      RK_TRY(get_int(c, &f->fields[i], 1, &p->specific[p->n_specific - 1]));
    }
    return p->n_specific ? RK_OK : bad(c, f, "names no versions");
  }
  return bad(c, f, "is not a version policy: expected latest, all or specific");
}

/* A map<string, string> entry: `name { key: "k" value: "v" }`. */
static rk_status parse_pair(const ctx *c, const rk_pbtxt_field *m, rk_config_pair *p) {
  RK_TRY(need_message(c, m));
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "key")) RK_TRY(get_string(c, f, &p->key));
    else if (!strcmp(f->name, "value")) {
      /* parameters' values are ModelParameter messages: value { string_value: "..." } */
      if (f->kind == RK_PBTXT_MESSAGE) {
        if (f->n_fields != 1 || strcmp(f->fields[0].name, "string_value")) return bad(c, f, "must hold string_value");
        RK_TRY(get_string(c, &f->fields[0], &p->value));
      } else RK_TRY(get_string(c, f, &p->value));
    } else return bad(c, f, "is not key or value");
  }
  if (!p->key || !p->value) return bad(c, m, "needs a key and a value");
  return RK_OK;
}

static rk_status parse_step(const ctx *c, const rk_pbtxt_field *m, rk_ensemble_step *s) {
  RK_TRY(need_message(c, m));
  s->model_version = -1;
  for (int i = 0; i < m->n_fields; i++) {
    const rk_pbtxt_field *f = &m->fields[i];
    if (!strcmp(f->name, "model_name")) RK_TRY(get_string(c, f, &s->model_name));
    else if (!strcmp(f->name, "model_version")) RK_TRY(get_int(c, f, -1, &s->model_version));
    else if (!strcmp(f->name, "input_map")) {
      RK_TRY(grow((void **)&s->input_map, &s->n_input_map, sizeof *s->input_map));
      RK_TRY(parse_pair(c, f, &s->input_map[s->n_input_map - 1]));
    } else if (!strcmp(f->name, "output_map")) {
      RK_TRY(grow((void **)&s->output_map, &s->n_output_map, sizeof *s->output_map));
      RK_TRY(parse_pair(c, f, &s->output_map[s->n_output_map - 1]));
    } else return bad(c, f, "is not one of a step's fields (model_name, model_version, input_map, output_map)");
  }
  return s->model_name ? RK_OK : bad(c, m, "names no model_name");
}

static rk_status parse_config(const ctx *c, const rk_pbtxt_field *root, rk_model_config *out) {
  for (int i = 0; i < root->n_fields; i++) {
    const rk_pbtxt_field *f = &root->fields[i];
    const char *n = f->name;
    if (!strcmp(n, "name")) RK_TRY(get_string(c, f, &out->name));
    else if (!strcmp(n, "platform")) RK_TRY(get_string(c, f, &out->platform));
    else if (!strcmp(n, "backend")) RK_TRY(get_string(c, f, &out->backend));
    else if (!strcmp(n, "max_batch_size")) RK_TRY(get_int(c, f, 0, &out->max_batch_size));
    else if (!strcmp(n, "version_policy")) RK_TRY(parse_policy(c, f, &out->version_policy));
    else if (!strcmp(n, "input") || !strcmp(n, "output")) {
      bool in = n[0] == 'i';
      rk_model_config_tensor **a = in ? &out->input : &out->output;
      int *na = in ? &out->n_input : &out->n_output;
      RK_TRY(grow((void **)a, na, sizeof **a));
      RK_TRY(parse_tensor(c, f, &(*a)[*na - 1], in));
    } else if (!strcmp(n, "dynamic_batching")) {
      RK_TRY(need_message(c, f));
      out->dynamic_batching = true;
      for (int k = 0; k < f->n_fields; k++) {
        const rk_pbtxt_field *g = &f->fields[k];
        if (!strcmp(g->name, "preferred_batch_size")) {
          RK_TRY(grow((void **)&out->preferred_batch_size, &out->n_preferred_batch_size, sizeof(int64_t)));
          RK_TRY(get_int(c, g, 1, &out->preferred_batch_size[out->n_preferred_batch_size - 1]));
        } else if (!strcmp(g->name, "max_queue_delay_microseconds")) RK_TRY(get_int(c, g, 0, &out->max_queue_delay_microseconds));
        else if (strcmp(g->name, "preserve_ordering")) return bad(c, g, "is not one reckon reads in dynamic_batching "
                                                                  "(preferred_batch_size, max_queue_delay_microseconds, preserve_ordering)");
      }
    } else if (!strcmp(n, "instance_group")) {
      RK_TRY(need_message(c, f));
      for (int k = 0; k < f->n_fields; k++) {
        const rk_pbtxt_field *g = &f->fields[k];
        if (!strcmp(g->name, "count")) RK_TRY(get_int(c, g, 1, &out->instance_count));
        else if (!strcmp(g->name, "kind")) {
          if (g->kind != RK_PBTXT_IDENT || (strcmp(g->value, "KIND_CPU") && strcmp(g->value, "KIND_AUTO")))
            return bad(c, g, "must be KIND_CPU or KIND_AUTO: reckon serve runs models on the CPU");
        } else if (strcmp(g->name, "name")) return bad(c, g, "is not one reckon reads in instance_group (name, kind, count)");
      }
    } else if (!strcmp(n, "ensemble_scheduling")) {
      RK_TRY(need_message(c, f));
      for (int k = 0; k < f->n_fields; k++) {
        if (strcmp(f->fields[k].name, "step")) return bad(c, &f->fields[k], "is not step");
        RK_TRY(grow((void **)&out->steps, &out->n_steps, sizeof *out->steps));
        RK_TRY(parse_step(c, &f->fields[k], &out->steps[out->n_steps - 1]));
      }
    } else if (!strcmp(n, "parameters")) {
      RK_TRY(grow((void **)&out->parameters, &out->n_parameters, sizeof *out->parameters));
      RK_TRY(parse_pair(c, f, &out->parameters[out->n_parameters - 1]));
    } else {
      return bad(c, f, "is not one reckon serves (name, platform, backend, max_batch_size, version_policy, input, "
                       "output, dynamic_batching, instance_group, ensemble_scheduling, parameters)");
    }
  }
  if (out->version_policy.kind == RK_VERSION_POLICY_LATEST && out->version_policy.latest == 0) out->version_policy.latest = 1;
  if (out->dynamic_batching && out->max_batch_size == 0)
    return rk_error(RK_EFORMAT, "'%s': dynamic_batching needs max_batch_size > 0", c->path);
  for (int k = 0; k < out->n_preferred_batch_size; k++)
    if (out->preferred_batch_size[k] > out->max_batch_size)
      return rk_error(RK_EFORMAT, "'%s': preferred_batch_size %lld is above max_batch_size %lld", c->path,
                      (long long)out->preferred_batch_size[k], (long long)out->max_batch_size);
  return RK_OK;
}

rk_status rk_model_config_parse(rk_model_config *out, const char *text, size_t len, const char *path) {
  memset(out, 0, sizeof *out);
  out->version_policy.kind = RK_VERSION_POLICY_LATEST;
  out->version_policy.latest = 1;
  rk_pbtxt_field root = {0};
  RK_TRY(rk_pbtxt_parse(&root, text, len, path));
  ctx c = {path};
  rk_status st = parse_config(&c, &root, out);
  rk_pbtxt_field_clear(&root);
  if (st != RK_OK) rk_model_config_free(out);
  return st;
}

rk_status rk_model_config_read(rk_model_config *out, const char *path) {
  char *text = NULL;
  size_t len = 0;
  memset(out, 0, sizeof *out);
  RK_TRY(rk_read_file(path, &text, &len));
  rk_status st = rk_model_config_parse(out, text, len, path);
  rk_free(text);
  return st;
}

const char *rk_model_config_parameter(const rk_model_config *c, const char *key) {
  for (int i = 0; i < c->n_parameters; i++)
    if (!strcmp(c->parameters[i].key, key)) return c->parameters[i].value;
  return NULL;
}

/* ---- writing: as text_format.MessageToString prints a ModelConfig ---------------------------- */
static void put_string_field(rk_schema_buf *b, int indent, const char *name, const char *value) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_printf(b, "%s: ", name);
  rk_pbtxt_write_string(b, value, strlen(value));
  rk_schema_buf_puts(b, "\n");
}

static void put_tensor(rk_schema_buf *b, const char *field, const rk_model_config_tensor *t) {
  rk_schema_buf_printf(b, "%s {\n", field);
  put_string_field(b, 2, "name", t->name);
  rk_schema_buf_printf(b, "  data_type: %s\n", rk_serve_dtype_config_name(t->data_type));
  for (int d = 0; d < t->n_dims; d++) rk_schema_buf_printf(b, "  dims: %lld\n", (long long)t->dims[d]);
  if (t->allow_ragged_batch) rk_schema_buf_puts(b, "  allow_ragged_batch: true\n");
  if (t->optional) rk_schema_buf_puts(b, "  optional: true\n");
  rk_schema_buf_puts(b, "}\n");
}

static void put_pair(rk_schema_buf *b, int indent, const char *field, const rk_config_pair *p, bool parameter) {
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_printf(b, "%s {\n", field);
  put_string_field(b, indent + 2, "key", p->key);
  if (parameter) {
    rk_schema_buf_indent(b, indent + 2);
    rk_schema_buf_puts(b, "value {\n");
    put_string_field(b, indent + 4, "string_value", p->value);
    rk_schema_buf_indent(b, indent + 2);
    rk_schema_buf_puts(b, "}\n");
  } else {
    put_string_field(b, indent + 2, "value", p->value);
  }
  rk_schema_buf_indent(b, indent);
  rk_schema_buf_puts(b, "}\n");
}

rk_status rk_model_config_format(const rk_model_config *c, char **text) {
  rk_schema_buf b = {0};
  if (c->name) put_string_field(&b, 0, "name", c->name);
  if (c->platform) put_string_field(&b, 0, "platform", c->platform);
  const rk_version_policy *p = &c->version_policy;
  if (p->kind == RK_VERSION_POLICY_ALL) rk_schema_buf_puts(&b, "version_policy {\n  all {\n  }\n}\n");
  else if (p->kind == RK_VERSION_POLICY_SPECIFIC) {
    rk_schema_buf_puts(&b, "version_policy {\n  specific {\n");
    for (int i = 0; i < p->n_specific; i++) rk_schema_buf_printf(&b, "    versions: %lld\n", (long long)p->specific[i]);
    rk_schema_buf_puts(&b, "  }\n}\n");
  } else if (p->latest > 1) {
    rk_schema_buf_printf(&b, "version_policy {\n  latest {\n    num_versions: %lld\n  }\n}\n", (long long)p->latest);
  }
  if (c->max_batch_size) rk_schema_buf_printf(&b, "max_batch_size: %lld\n", (long long)c->max_batch_size);
  for (int i = 0; i < c->n_input; i++) put_tensor(&b, "input", &c->input[i]);
  for (int i = 0; i < c->n_output; i++) put_tensor(&b, "output", &c->output[i]);
  if (c->instance_count) rk_schema_buf_printf(&b, "instance_group {\n  count: %lld\n  kind: KIND_CPU\n}\n", (long long)c->instance_count);
  if (c->dynamic_batching) {
    rk_schema_buf_puts(&b, "dynamic_batching {\n");
    for (int i = 0; i < c->n_preferred_batch_size; i++)
      rk_schema_buf_printf(&b, "  preferred_batch_size: %lld\n", (long long)c->preferred_batch_size[i]);
    if (c->max_queue_delay_microseconds)
      rk_schema_buf_printf(&b, "  max_queue_delay_microseconds: %lld\n", (long long)c->max_queue_delay_microseconds);
    rk_schema_buf_puts(&b, "}\n");
  }
  for (int i = 0; i < c->n_parameters; i++) put_pair(&b, 0, "parameters", &c->parameters[i], true);
  if (c->n_steps) {
    rk_schema_buf_puts(&b, "ensemble_scheduling {\n");
    for (int i = 0; i < c->n_steps; i++) {
      const rk_ensemble_step *s = &c->steps[i];
      rk_schema_buf_puts(&b, "  step {\n");
      put_string_field(&b, 4, "model_name", s->model_name);
      rk_schema_buf_printf(&b, "    model_version: %lld\n", (long long)s->model_version);
      for (int k = 0; k < s->n_input_map; k++) put_pair(&b, 4, "input_map", &s->input_map[k], false);
      for (int k = 0; k < s->n_output_map; k++) put_pair(&b, 4, "output_map", &s->output_map[k], false);
      rk_schema_buf_puts(&b, "  }\n");
    }
    rk_schema_buf_puts(&b, "}\n");
  }
  if (c->backend) put_string_field(&b, 0, "backend", c->backend);
  size_t len;
  if (b.status == RK_OK && !b.data) rk_schema_buf_puts(&b, "");
  return rk_schema_buf_finish(&b, text, &len);
}

static void free_pairs(rk_config_pair *p, int n) {
  for (int i = 0; i < n; i++) {
    rk_free(p[i].key);
    rk_free(p[i].value);
  }
  rk_free(p);
}

void rk_model_config_free(rk_model_config *c) {
  if (!c) return;
  rk_free(c->name);
  rk_free(c->platform);
  rk_free(c->backend);
  rk_free(c->version_policy.specific);
  for (int i = 0; i < c->n_input; i++) rk_free(c->input[i].name);
  for (int i = 0; i < c->n_output; i++) rk_free(c->output[i].name);
  rk_free(c->input);
  rk_free(c->output);
  rk_free(c->preferred_batch_size);
  for (int i = 0; i < c->n_steps; i++) {
    rk_free(c->steps[i].model_name);
    free_pairs(c->steps[i].input_map, c->steps[i].n_input_map);
    free_pairs(c->steps[i].output_map, c->steps[i].n_output_map);
  }
  rk_free(c->steps);
  free_pairs(c->parameters, c->n_parameters);
  memset(c, 0, sizeof *c);
}
