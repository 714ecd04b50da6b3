/* The list of subcommands, in the order `reckon --help` shows them. */
#include "cli/commands.h"

#include <stdio.h>

extern const rk_command rk_cmd_synth_tenrec;
extern const rk_command rk_cmd_synth_sessions;
extern const rk_command rk_cmd_synth_outbrain;
extern const rk_command rk_cmd_inspect;
extern const rk_command rk_cmd_convert;
extern const rk_command rk_cmd_preprocess;
extern const rk_command rk_cmd_transform;
extern const rk_command rk_cmd_train;
extern const rk_command rk_cmd_sessions;
extern const rk_command rk_cmd_widedeep;
extern const rk_command rk_cmd_evaluate;
extern const rk_command rk_cmd_predict;
extern const rk_command rk_cmd_export;
extern const rk_command rk_cmd_serve;
extern const rk_command rk_cmd_docs;

const rk_command *const rk_commands[] = {
    &rk_cmd_synth_tenrec,
    &rk_cmd_synth_sessions,
    &rk_cmd_synth_outbrain,
    &rk_cmd_inspect,
    &rk_cmd_convert,
    &rk_cmd_preprocess,
    &rk_cmd_transform,
    &rk_cmd_train,
    &rk_cmd_sessions,
    &rk_cmd_widedeep,
    &rk_cmd_evaluate,
    &rk_cmd_predict,
    &rk_cmd_export,
    &rk_cmd_serve,
    &rk_cmd_docs,
    NULL,
};

int rk_cli_fail(rk_status status) {
  fprintf(stderr, "reckon: error: %s\n", rk_error_message());
  return status == RK_EUSAGE ? RK_EXIT_USAGE : RK_EXIT_FAILURE;
}
