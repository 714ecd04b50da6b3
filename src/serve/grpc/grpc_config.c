/*
 * serve/grpc/grpc_config.c: the serving core's model configuration (rk_model_config, the part of
 * Triton's ModelConfig reckon reads) as the protobuf-c message of proto/model_config.proto, for
 * ModelConfigResponse. Only the fields the structure holds are set; the rest stay at their
 * defaults, as they would be in a config.pbtxt that does not mention them.
 */
#include <string.h>

#include "model_config.pb-c.h"
#include "serve/grpc/grpc_rpc.h"

static void *take(rk_arena *a, size_t count, size_t size) {
  size_t n = count ? count * size : size;
  void *p = rk_arena_alloc(a, n, 16);
  if (p) memset(p, 0, n);
  return p;
}

/* TYPE_FP32 and friends by name, so the numbers come from the one .proto. */
static Inference__DataType data_type(rk_serve_dtype dt) {
  const ProtobufCEnumValue *v =
      protobuf_c_enum_descriptor_get_value_by_name(&inference__data_type__descriptor, rk_serve_dtype_config_name(dt));
  return v ? (Inference__DataType)v->value : INFERENCE__DATA_TYPE__TYPE_INVALID;
}

static Inference__ModelInput *input_msg(rk_arena *a, const rk_model_config_tensor *t) {
  Inference__ModelInput *m = take(a, 1, sizeof *m);
  if (!m) return NULL;
  Inference__ModelInput init = INFERENCE__MODEL_INPUT__INIT;
  *m = init;
  m->name = t->name;
  m->data_type = data_type(t->data_type);
  m->n_dims = (size_t)t->n_dims;
  m->dims = (int64_t *)t->dims;
  m->allow_ragged_batch = t->allow_ragged_batch;
  m->optional = t->optional;
  return m;
}

static Inference__ModelOutput *output_msg(rk_arena *a, const rk_model_config_tensor *t) {
  Inference__ModelOutput *m = take(a, 1, sizeof *m);
  if (!m) return NULL;
  Inference__ModelOutput init = INFERENCE__MODEL_OUTPUT__INIT;
  *m = init;
  m->name = t->name;
  m->data_type = data_type(t->data_type);
  m->n_dims = (size_t)t->n_dims;
  m->dims = (int64_t *)t->dims;
  return m;
}

static Inference__ModelVersionPolicy *policy_msg(rk_arena *a, const rk_version_policy *p) {
  Inference__ModelVersionPolicy *m = take(a, 1, sizeof *m);
  if (!m) return NULL;
  Inference__ModelVersionPolicy init = INFERENCE__MODEL_VERSION_POLICY__INIT;
  *m = init;
  if (p->kind == RK_VERSION_POLICY_ALL) {
    Inference__ModelVersionPolicy__All *all = take(a, 1, sizeof *all);
    if (!all) return NULL;
    Inference__ModelVersionPolicy__All ainit = INFERENCE__MODEL_VERSION_POLICY__ALL__INIT;
    *all = ainit;
    m->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_ALL;
    m->all = all;
  } else if (p->kind == RK_VERSION_POLICY_SPECIFIC) {
    Inference__ModelVersionPolicy__Specific *sp = take(a, 1, sizeof *sp);
    if (!sp) return NULL;
    Inference__ModelVersionPolicy__Specific sinit = INFERENCE__MODEL_VERSION_POLICY__SPECIFIC__INIT;
    *sp = sinit;
    sp->n_versions = (size_t)p->n_specific;
    sp->versions = p->specific;
    m->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_SPECIFIC;
    m->specific = sp;
  } else {
    Inference__ModelVersionPolicy__Latest *l = take(a, 1, sizeof *l);
    if (!l) return NULL;
    Inference__ModelVersionPolicy__Latest linit = INFERENCE__MODEL_VERSION_POLICY__LATEST__INIT;
    *l = linit;
    l->num_versions = (uint32_t)(p->latest > 0 ? p->latest : 1);
    m->policy_choice_case = INFERENCE__MODEL_VERSION_POLICY__POLICY_CHOICE_LATEST;
    m->latest = l;
  }
  return m;
}

typedef Inference__ModelEnsembling__Step__InputMapEntry map_entry;   /* input and output maps alike */

static map_entry **map_msg(rk_arena *a, const rk_config_pair *pairs, int n, bool output) {
  map_entry **ptrs = take(a, (size_t)n, sizeof *ptrs);
  map_entry *e = take(a, (size_t)n, sizeof *e);
  if (!ptrs || !e) return NULL;
  for (int i = 0; i < n; i++) {
    map_entry in_init = INFERENCE__MODEL_ENSEMBLING__STEP__INPUT_MAP_ENTRY__INIT;
    Inference__ModelEnsembling__Step__OutputMapEntry out_init = INFERENCE__MODEL_ENSEMBLING__STEP__OUTPUT_MAP_ENTRY__INIT;
    if (output) memcpy(&e[i], &out_init, sizeof e[i]);
    else e[i] = in_init;
    e[i].key = pairs[i].key;
    e[i].value = pairs[i].value;
    ptrs[i] = &e[i];
  }
  return ptrs;
}

static Inference__ModelEnsembling *ensemble_msg(rk_arena *a, const rk_model_config *c) {
  Inference__ModelEnsembling *m = take(a, 1, sizeof *m);
  Inference__ModelEnsembling__Step **ptrs = take(a, (size_t)c->n_steps, sizeof *ptrs);
  Inference__ModelEnsembling__Step *steps = take(a, (size_t)c->n_steps, sizeof *steps);
  if (!m || !ptrs || !steps) return NULL;
  Inference__ModelEnsembling init = INFERENCE__MODEL_ENSEMBLING__INIT;
  *m = init;
  for (int i = 0; i < c->n_steps; i++) {
    const rk_ensemble_step *s = &c->steps[i];
    Inference__ModelEnsembling__Step sinit = INFERENCE__MODEL_ENSEMBLING__STEP__INIT;
    steps[i] = sinit;
    steps[i].model_name = s->model_name;
    steps[i].model_version = s->model_version;
    steps[i].n_input_map = (size_t)s->n_input_map;
    steps[i].input_map = map_msg(a, s->input_map, s->n_input_map, false);
    steps[i].n_output_map = (size_t)s->n_output_map;
    steps[i].output_map = (Inference__ModelEnsembling__Step__OutputMapEntry **)map_msg(a, s->output_map, s->n_output_map, true);
    if (!steps[i].input_map || !steps[i].output_map) return NULL;
    ptrs[i] = &steps[i];
  }
  m->n_step = (size_t)c->n_steps;
  m->step = ptrs;
  return m;
}

Inference__ModelConfig *rk_grpc_model_config_build(const rk_model_config *c, rk_arena *a) {
  Inference__ModelConfig *m = take(a, 1, sizeof *m);
  if (!m) return NULL;
  Inference__ModelConfig init = INFERENCE__MODEL_CONFIG__INIT;
  *m = init;
  m->name = c->name ? c->name : "";
  m->platform = c->platform ? c->platform : "";
  m->backend = c->backend ? c->backend : "";
  m->max_batch_size = (int32_t)c->max_batch_size;
  if (!(m->version_policy = policy_msg(a, &c->version_policy))) return NULL;
  m->input = take(a, (size_t)c->n_input, sizeof *m->input);
  m->output = take(a, (size_t)c->n_output, sizeof *m->output);
  if (!m->input || !m->output) return NULL;
  for (int i = 0; i < c->n_input; i++)
    if (!(m->input[i] = input_msg(a, &c->input[i]))) return NULL;
  for (int i = 0; i < c->n_output; i++)
    if (!(m->output[i] = output_msg(a, &c->output[i]))) return NULL;
  m->n_input = (size_t)c->n_input;
  m->n_output = (size_t)c->n_output;
  if (c->instance_count > 0) {
    Inference__ModelInstanceGroup *g = take(a, 1, sizeof *g);
    m->instance_group = take(a, 1, sizeof *m->instance_group);
    if (!g || !m->instance_group) return NULL;
    Inference__ModelInstanceGroup ginit = INFERENCE__MODEL_INSTANCE_GROUP__INIT;
    *g = ginit;
    g->count = (int32_t)c->instance_count;
    g->kind = INFERENCE__MODEL_INSTANCE_GROUP__KIND__KIND_CPU;
    m->instance_group[0] = g;
    m->n_instance_group = 1;
  }
  if (c->n_steps > 0) {
    if (!(m->ensemble_scheduling = ensemble_msg(a, c))) return NULL;
    m->scheduling_choice_case = INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_ENSEMBLE_SCHEDULING;
  } else if (c->dynamic_batching) {
    Inference__ModelDynamicBatching *d = take(a, 1, sizeof *d);
    int32_t *pref = take(a, (size_t)c->n_preferred_batch_size, sizeof *pref);
    if (!d || !pref) return NULL;
    Inference__ModelDynamicBatching dinit = INFERENCE__MODEL_DYNAMIC_BATCHING__INIT;
    *d = dinit;
    for (int i = 0; i < c->n_preferred_batch_size; i++) pref[i] = (int32_t)c->preferred_batch_size[i];
    d->n_preferred_batch_size = (size_t)c->n_preferred_batch_size;
    d->preferred_batch_size = pref;
    d->max_queue_delay_microseconds = (uint64_t)c->max_queue_delay_microseconds;
    m->dynamic_batching = d;
    m->scheduling_choice_case = INFERENCE__MODEL_CONFIG__SCHEDULING_CHOICE_DYNAMIC_BATCHING;
  }
  if (c->n_parameters > 0) {
    m->parameters = take(a, (size_t)c->n_parameters, sizeof *m->parameters);
    Inference__ModelConfig__ParametersEntry *e = take(a, (size_t)c->n_parameters, sizeof *e);
    Inference__ModelParameter *v = take(a, (size_t)c->n_parameters, sizeof *v);
    if (!m->parameters || !e || !v) return NULL;
    for (int i = 0; i < c->n_parameters; i++) {
      Inference__ModelConfig__ParametersEntry einit = INFERENCE__MODEL_CONFIG__PARAMETERS_ENTRY__INIT;
      Inference__ModelParameter vinit = INFERENCE__MODEL_PARAMETER__INIT;
      e[i] = einit, v[i] = vinit;
      v[i].string_value = c->parameters[i].value;
      e[i].key = c->parameters[i].key;
      e[i].value = &v[i];
      m->parameters[i] = &e[i];
    }
    m->n_parameters = (size_t)c->n_parameters;
  }
  return m;
}
