/*
 * `reckon export --model_path DIR --output_path REPO --name NAME`: a trained model and its
 * workflow as a Triton model repository (NAME_nvt, NAME_<model>, the ensemble NAME) that
 * `reckon serve --model-repository REPO` serves, as seed 003's export step writes it.
 */
#include <stdio.h>

#include "cli/commands.h"
#include "reckon/serve.h"

#define EXPORT_FLAGS(X)                                                                                       \
  X(model_path,     STRING, NULL,     "DIR", "the model folder (reckon train --save_model_path, reckon widedeep, reckon sessions' <output_dir>/model)") \
  X(output_path,    STRING, NULL,     "REPO", "the model repository to write into (other models there stay)")     \
  X(name,           STRING, NULL,     "NAME", "the ensemble's name; its steps are NAME_nvt and NAME_<model>")      \
  X(format,         CHOICE, "reckon", "reckon|onnx", "how the model step is written: reckon's own folder, or ONNX for Triton's onnxruntime backend") \
  X(top_k,          INT,    "0",      "K >= 0", "session models: the item_ids and item_id_scores outputs hold the top K (0: the next-item scores)") \
  X(max_batch_size, INT,    "1024",   "N in [1, 8388608]", "max_batch_size of every config.pbtxt: the most rows one request or batch may hold") \
  X(overwrite,      BOOL,   "false",  NULL,   "replace models of these names that reckon export did not write")

typedef struct {
  EXPORT_FLAGS(RK_FLAG_FIELD)
} export_opts;
#define RK_FLAG_STRUCT export_opts
static const rk_flag export_flags[] = {EXPORT_FLAGS(RK_FLAG_ROW) RK_FLAG_END};
#undef RK_FLAG_STRUCT

static int run_export(const rk_flag_parse *parse, void *arg) {
  export_opts *o = arg;
  if (parse->npositional != 0)
    return rk_cli_fail(rk_error(RK_EUSAGE, "'reckon export' takes no positional arguments, got '%s'", parse->positional[0]));
  rk_export_options eo;
  rk_export_options_default(&eo);
  eo.model_path = o->model_path;
  eo.output_path = o->output_path;
  eo.name = o->name;
  eo.format = o->format;
  eo.top_k = o->top_k;
  eo.max_batch_size = o->max_batch_size;
  eo.overwrite = o->overwrite;
  char *written[3];
  double t0 = rk_now();
  rk_status st = rk_export(&eo, written);
  if (st != RK_OK) return rk_cli_fail(st);
  if (!parse->globals.quiet)
    printf("exported %s to %s: %s (workflow), %s (model), %s (ensemble) in %.2f s\n", o->model_path, o->output_path,
           written[0], written[1], written[2], rk_now() - t0);
  for (int i = 0; i < 3; i++) rk_free(written[i]);
  return RK_EXIT_OK;
}

const rk_command rk_cmd_export = {
    .name = "export",
    .usage = "reckon export --model_path DIR --output_path REPO --name NAME [flags]",
    .summary = "write a model and its workflow as a Triton model repository for reckon serve",
    .details = "Writes `REPO/NAME_nvt/` (the fitted workflow: raw columns in, `1/workflow/`), `REPO/NAME_<model>/` "
               "(the model folder in `1/model/`; outputs `<target>/binary_output` or `<target>/regression_output` "
               "per task; for a session model `item_ids` and `item_id_scores` of the top `--top_k`, or `next-item`) and `REPO/NAME/config.pbtxt`, the ensemble of the two (`platform: \"ensemble\"`). Every "
               "`config.pbtxt` is the text format of Triton's `model_config.proto`. Each model folder is written "
               "under a hidden temporary name and renamed into place, the ensemble last, so a server polling REPO "
               "never loads half of one. Other models in REPO stay. docs/serving.md describes the layout.",
    .flags = export_flags,
    .opts_size = sizeof(export_opts),
    .run = run_export,
};
