/*
 * The model repository and the server's model management, on small hand-made models (a
 * pass-through workflow under backend "reckon", no training needed):
 *   - config.pbtxt: parse, write, parse again gives the same structure; fields reckon does not
 *     serve are refused by name and line;
 *   - names and paths: "..", absolute paths, hidden names, '/' and symlinks out of the
 *     repository are refused; a model folder missing is NOT_FOUND;
 *   - version folders and policies (latest N, all, specific), and the server serving exactly the
 *     versions its policy names;
 *   - poll mode: a rescan adds, reloads and removes models; a broken config is UNAVAILABLE with
 *     its reason in the index, and strict readiness follows it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reckon/etl.h"
#include "reckon/serve.h"
#include "serve/serve_internal.h"
#include "support.h"

static const char *ECHO_CONFIG =
    "name: \"%s\"\n"
    "backend: \"reckon\"\n"
    "max_batch_size: 8\n"
    "%s"
    "input { name: \"x\" data_type: TYPE_INT64 dims: [ 1 ] }\n"
    "output { name: \"x\" data_type: TYPE_INT64 dims: [ 1 ] }\n";

/* A model whose versions pass column x through a workflow. */
static void make_echo(const char *repo, const char *name, const char *policy, const int *versions, int n) {
  char path[1200], text[1024];
  snprintf(path, sizeof path, "%s/%s", repo, name);
  assert_rk_ok(rk_mkdir_p(path));
  snprintf(text, sizeof text, ECHO_CONFIG, name, policy);
  rk_test_write_file(rk_test_path(path, "config.pbtxt"), text);
  for (int i = 0; i < n; i++) {
    rk_workflow wf;
    rk_workflow_init(&wf);
    rk_wf_column *c;
    assert_rk_ok(rk_workflow_add(&wf, "x", "x", RK_WF_PASSTHROUGH, &c));
    c->in_type = c->out_type = RK_COL_INT64;
    char v[1300];
    snprintf(v, sizeof v, "%s/%d/workflow", path, versions[i]);
    assert_rk_ok(rk_workflow_save(&wf, v));
    rk_workflow_free(&wf);
  }
}

static void config_roundtrip(void **state) {
  (void)state;
  const char *text =
      "name: \"m\"\nplatform: \"ensemble\"\nmax_batch_size: 16\n"
      "version_policy { specific { versions: 2 versions: 5 } }\n"
      "input { name: \"a\" data_type: TYPE_STRING dims: [ -1 ] allow_ragged_batch: true }\n"
      "input [ { name: \"b\" data_type: TYPE_FP16 dims: 1 optional: true } ]\n"
      "output { name: \"s/binary_output\" data_type: TYPE_FP32 dims: 1 }\n"
      "ensemble_scheduling { step { model_name: \"w\" model_version: -1 input_map { key: \"a\" value: \"a\" }\n"
      "  output_map { key: \"o\" value: \"o2\" } } step { model_name: \"k\" model_version: 3 } }\n"
      "parameters { key: \"reckon_kind\" value { string_value: \"model\" } }\n";
  rk_model_config a, b;
  assert_rk_ok(rk_model_config_parse(&a, text, strlen(text), "a.pbtxt"));
  assert_string_equal(a.name, "m");
  assert_string_equal(a.platform, "ensemble");
  assert_int_equal(a.max_batch_size, 16);
  assert_int_equal(a.version_policy.kind, RK_VERSION_POLICY_SPECIFIC);
  assert_int_equal(a.version_policy.n_specific, 2);
  assert_int_equal(a.version_policy.specific[1], 5);
  assert_int_equal(a.n_input, 2);
  assert_int_equal(a.input[0].data_type, RK_SERVE_DT_BYTES);
  assert_int_equal(a.input[0].dims[0], -1);
  assert_true(a.input[0].allow_ragged_batch);
  assert_true(a.input[1].optional);
  assert_int_equal(a.input[1].data_type, RK_SERVE_DT_FP16);
  assert_int_equal(a.n_steps, 2);
  assert_string_equal(a.steps[0].output_map[0].value, "o2");
  assert_int_equal(a.steps[1].model_version, 3);
  assert_string_equal(rk_model_config_parameter(&a, "reckon_kind"), "model");
  char *out;
  assert_rk_ok(rk_model_config_format(&a, &out));
  assert_rk_ok(rk_model_config_parse(&b, out, strlen(out), "b.pbtxt"));
  char *again;
  assert_rk_ok(rk_model_config_format(&b, &again));
  assert_string_equal(out, again);   /* write-read-write is the identity */
  assert_int_equal(b.version_policy.specific[1], 5);
  assert_string_equal(b.steps[0].input_map[0].key, "a");
  assert_int_equal(b.input[1].data_type, RK_SERVE_DT_FP16);
  rk_free(out);
  rk_free(again);
  rk_model_config_free(&a);
  rk_model_config_free(&b);

  static const struct {
    const char *text, *words;
  } bad[] = {
      {"name: \"m\"\nsequence_batching { }\n", "line 2: field 'sequence_batching'"},
      {"input { name: \"a\" data_type: TYPE_NOPE dims: 1 }", "must be a DataType"},
      {"input { name: \"a\" dims: 1 }", "has no data_type"},
      {"max_batch_size: -4", "expected a whole number >= 0"},
      {"max_batch_size: 4\ndynamic_batching { preferred_batch_size: 8 }", "preferred_batch_size 8 is above max_batch_size 4"},
      {"dynamic_batching { }", "needs max_batch_size > 0"},
      {"version_policy { latest { num_versions: 0 } }", "expected a whole number >= 1"},
      {"instance_group { kind: KIND_GPU }", "reckon serve runs models on the CPU"},
      {"name: \"m\" name {", "line 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    rk_model_config c;
    rk_status st = rk_model_config_parse(&c, bad[i].text, strlen(bad[i].text), "bad.pbtxt");
    assert_int_not_equal(st, RK_OK);
    if (!strstr(rk_error_message(), bad[i].words) || !strstr(rk_error_message(), "bad.pbtxt"))
      fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, rk_error_message(), bad[i].words);
  }
}

/* Every allocation of parsing and writing a config may fail: RK_ENOMEM, nothing leaked. */
static rk_status parse_and_format(void *ctx) {
  const char *text = ctx;
  rk_model_config c;
  RK_TRY(rk_model_config_parse(&c, text, strlen(text), "walk.pbtxt"));
  char *out = NULL;
  rk_status st = rk_model_config_format(&c, &out);
  rk_free(out);
  rk_model_config_free(&c);
  return st;
}

static void config_allocation_failures(void **state) {
  (void)state;
  static const char text[] =
      "name: \"m\" platform: \"ensemble\" max_batch_size: 8\n"
      "version_policy { specific { versions: [1, 2] } }\n"
      "input [ { name: \"a\" data_type: TYPE_INT64 dims: [ 1 ] }, { name: \"b\" data_type: TYPE_FP32 dims: 1 } ]\n"
      "output { name: \"o\" data_type: TYPE_FP32 dims: 1 }\n"
      "ensemble_scheduling { step { model_name: \"w\" input_map { key: \"a\" value: \"a\" } output_map { key: \"x\" value: \"o\" } } }\n"
      "parameters { key: \"k\" value { string_value: \"v\" } }\n";
  assert_true(rk_test_walk_failures(parse_and_format, (void *)text) > 10);
}

static void names_and_paths(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("serve_paths");
  char repo[1100], outside[1100], link[1200];
  snprintf(repo, sizeof repo, "%s/repo", root);
  snprintf(outside, sizeof outside, "%s/outside", root);
  make_echo(repo, "good", "", (int[]){1}, 1);
  make_echo(outside, "stolen", "", (int[]){1}, 1);
  snprintf(link, sizeof link, "%s/evil", repo);
  assert_int_equal(symlink(rk_test_path(outside, "stolen"), link), 0);
  static const char *refused[] = {"..", ".", "../outside", "/etc", "a/b", ".hidden", ""};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    char *dir = NULL;
    rk_status st = rk_repo_model_dir(repo, refused[i], &dir);
    assert_int_not_equal(st, RK_OK);
    assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
    assert_null(dir);
  }
  char *dir = NULL;
  rk_status st = rk_repo_model_dir(repo, "evil", &dir);
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
  if (!strstr(rk_error_message(), "leads outside")) fail_msg("symlink out: '%s'", rk_error_message());
  st = rk_repo_model_dir(repo, "missing", &dir);
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_NOT_FOUND);
  assert_rk_ok(rk_repo_model_dir(repo, "good", &dir));
  rk_free(dir);
  /* the symlink out is not listed, and not loadable */
  char **names;
  int n;
  assert_rk_ok(rk_repo_list(repo, &names, &n));
  assert_int_equal(n, 1);
  assert_string_equal(names[0], "good");
  rk_repo_free_names(names, n);
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = repo;
  o.control = RK_SERVE_CONTROL_EXPLICIT;
  rk_server *s;
  assert_rk_ok(rk_server_open(&s, &o));
  st = rk_server_load(s, "evil");
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
  st = rk_server_load(s, "../outside/stolen");
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_INVALID);
  st = rk_server_load(s, "missing");
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_NOT_FOUND);
  assert_rk_ok(rk_server_load(s, "good"));
  rk_server_close(s);
}

static void versions_and_policies(void **state) {
  (void)state;
  const char *root = rk_test_tmpdir("serve_versions");
  static const char *dirs[] = {"1", "2", "3", "10", "0", "abc", "007", "-1"};
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) assert_rk_ok(rk_mkdir_p(rk_test_path(root, dirs[i])));
  assert_int_equal(symlink("/tmp", rk_test_path(root, "4")), 0);   /* a version folder leading out */
  int64_t *v;
  int n;
  assert_rk_ok(rk_repo_versions(root, &v, &n));
  assert_int_equal(n, 4);
  assert_int_equal(v[0], 1);
  assert_int_equal(v[3], 10);
  int64_t *out;
  int nout;
  rk_version_policy latest1 = {RK_VERSION_POLICY_LATEST, 1, NULL, 0};
  assert_rk_ok(rk_repo_apply_policy(&latest1, v, n, &out, &nout, "m"));
  assert_int_equal(nout, 1);
  assert_int_equal(out[0], 10);
  rk_free(out);
  rk_version_policy latest2 = {RK_VERSION_POLICY_LATEST, 2, NULL, 0};
  assert_rk_ok(rk_repo_apply_policy(&latest2, v, n, &out, &nout, "m"));
  assert_int_equal(nout, 2);
  assert_int_equal(out[0], 3);
  assert_int_equal(out[1], 10);
  rk_free(out);
  rk_version_policy all = {RK_VERSION_POLICY_ALL, 0, NULL, 0};
  assert_rk_ok(rk_repo_apply_policy(&all, v, n, &out, &nout, "m"));
  assert_int_equal(nout, 4);
  rk_free(out);
  int64_t pick[] = {10, 2};
  rk_version_policy specific = {RK_VERSION_POLICY_SPECIFIC, 0, pick, 2};
  assert_rk_ok(rk_repo_apply_policy(&specific, v, n, &out, &nout, "m"));
  assert_int_equal(nout, 2);
  assert_int_equal(out[0], 2);
  assert_int_equal(out[1], 10);
  rk_free(out);
  int64_t missing[] = {5};
  rk_version_policy nope = {RK_VERSION_POLICY_SPECIFIC, 0, missing, 1};
  rk_status st = rk_repo_apply_policy(&nope, v, n, &out, &nout, "m");
  assert_int_equal(rk_serve_error_code(st), RK_SERVE_NOT_FOUND);
  if (!strstr(rk_error_message(), "version 5")) fail_msg("'%s'", rk_error_message());
  rk_free(v);
}

static int64_t echo(rk_server *s, const char *model, int64_t version, int64_t value, int64_t *served_by) {
  rk_serve_input in = {"x", RK_SERVE_DT_INT64, 2, {1, 1}, &value, 8};
  rk_serve_request req = {.model = model, .version = version, .inputs = &in, .n_inputs = 1};
  rk_serve_response resp;
  rk_status st = rk_server_infer(s, &req, &resp);
  if (st != RK_OK) return -1000 - (int64_t)rk_serve_error_code(st);
  int64_t got;
  memcpy(&got, resp.outputs[0].data, 8);
  *served_by = resp.model_version;
  rk_serve_response_free(&resp);
  return got;
}

static void server_policies_and_poll(void **state) {
  (void)state;
  const char *repo = rk_test_tmpdir("serve_poll");
  make_echo(repo, "latest2", "version_policy { latest { num_versions: 2 } }\n", (int[]){1, 2, 3}, 3);
  make_echo(repo, "every", "version_policy { all { } }\n", (int[]){1, 2}, 2);
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = repo;
  o.control = RK_SERVE_CONTROL_POLL;
  o.poll_interval_ms = 0;   /* rescans only when the test asks */
  o.workers = 2;
  rk_server *s;
  assert_rk_ok(rk_server_open(&s, &o));
  assert_true(rk_server_ready(s));
  rk_serve_index ix;
  assert_rk_ok(rk_server_index(s, false, &ix));
  assert_int_equal(ix.n, 4);   /* every 1, 2; latest2 2, 3 */
  assert_string_equal(ix.entries[0].name, "every");
  assert_string_equal(ix.entries[2].name, "latest2");
  assert_int_equal(ix.entries[2].version, 2);
  assert_int_equal(ix.entries[3].version, 3);
  for (int i = 0; i < ix.n; i++) assert_int_equal(ix.entries[i].state, RK_MODEL_STATE_READY);
  rk_serve_index_free(&ix);
  int64_t by = 0;
  assert_int_equal(echo(s, "latest2", 0, 42, &by), 42);
  assert_int_equal(by, 3);   /* no version asked: the latest */
  assert_int_equal(echo(s, "latest2", 2, 7, &by), 7);
  assert_int_equal(by, 2);
  assert_int_equal(echo(s, "latest2", 1, 7, &by), -1000 - RK_SERVE_NOT_FOUND);   /* not served by the policy */
  assert_int_equal(echo(s, "every", 1, -5, &by), -5);

  /* a new model appears, a config breaks, a model goes away */
  make_echo(repo, "fresh", "", (int[]){1}, 1);
  rk_test_write_file(rk_test_path(rk_test_path(repo, "every"), "config.pbtxt"), "name: \"every\"\nbogus_field: 1\n");
  assert_int_equal(rk_test_system("rm -rf '%s'", rk_test_path(repo, "latest2")), 0);
  assert_rk_ok(rk_server_poll(s));
  assert_rk_ok(rk_server_index(s, false, &ix));
  bool saw_fresh = false, saw_every = false;
  for (int i = 0; i < ix.n; i++) {
    if (!strcmp(ix.entries[i].name, "fresh")) saw_fresh = ix.entries[i].state == RK_MODEL_STATE_READY;
    if (!strcmp(ix.entries[i].name, "every")) {
      saw_every = true;
      assert_int_equal(ix.entries[i].state, RK_MODEL_STATE_UNAVAILABLE);
      if (!strstr(ix.entries[i].reason, "bogus_field")) fail_msg("reason: '%s'", ix.entries[i].reason);
    }
    if (!strcmp(ix.entries[i].name, "latest2")) assert_int_not_equal(ix.entries[i].state, RK_MODEL_STATE_READY);
  }
  assert_true(saw_fresh);
  assert_true(saw_every);
  rk_serve_index_free(&ix);
  assert_int_equal(echo(s, "fresh", 0, 9, &by), 9);
  assert_int_equal(echo(s, "every", 0, 9, &by), -1000 - RK_SERVE_UNAVAILABLE);
  assert_false(rk_server_ready(s));   /* strict: a model failed */
  /* load and unload belong to explicit mode */
  assert_int_equal(rk_serve_error_code(rk_server_unload(s, "fresh", false)), RK_SERVE_INVALID);
  rk_server_close(s);
}

/* Models reckon does not run stay in the index, UNAVAILABLE with the reason. */
static void foreign_models(void **state) {
  (void)state;
  const char *repo = rk_test_tmpdir("serve_foreign");
  assert_rk_ok(rk_mkdir_p(rk_test_path(rk_test_path(repo, "onnx"), "1")));
  rk_test_write_file(rk_test_path(rk_test_path(repo, "onnx"), "config.pbtxt"),
                     "platform: \"onnxruntime_onnx\"\nmax_batch_size: 4\n"
                     "input [ { name: \"a\" data_type: TYPE_INT64 dims: [ 1 ] } ]\n");
  make_echo(repo, "noversion", "", NULL, 0);
  rk_serve_options o;
  rk_serve_options_default(&o);
  o.repository = repo;
  rk_server *s;
  assert_rk_ok(rk_server_open(&s, &o));
  assert_false(rk_server_ready(s));
  rk_serve_index ix;
  assert_rk_ok(rk_server_index(s, false, &ix));
  assert_int_equal(ix.n, 2);
  assert_string_equal(ix.entries[0].name, "noversion");
  assert_int_equal(ix.entries[0].state, RK_MODEL_STATE_UNAVAILABLE);
  if (!strstr(ix.entries[0].reason, "no version folder")) fail_msg("reason: '%s'", ix.entries[0].reason);
  assert_int_equal(ix.entries[1].state, RK_MODEL_STATE_UNAVAILABLE);
  if (!strstr(ix.entries[1].reason, "onnxruntime_onnx")) fail_msg("reason: '%s'", ix.entries[1].reason);
  rk_serve_index_free(&ix);
  assert_rk_ok(rk_server_index(s, true, &ix));
  assert_int_equal(ix.n, 0);
  rk_serve_index_free(&ix);
  rk_server_close(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(config_roundtrip),
      cmocka_unit_test(config_allocation_failures),
      cmocka_unit_test(names_and_paths),
      cmocka_unit_test(versions_and_policies),
      cmocka_unit_test(server_policies_and_poll),
      cmocka_unit_test(foreign_models),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
