/*
 * Fuzz target: Merlin schemas in both forms. The first byte picks the parser (even: proto3
 * JSON, odd: protobuf text format); a parsed schema is written back in both forms and parsed
 * again, so the writers see whatever the readers accept.
 */
#include <stdint.h>
#include <stdlib.h>

#include "reckon/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  rk_schema s;
  rk_schema_init(&s);
  const char *text = (const char *)data + 1;
  rk_status st = (data[0] & 1) ? rk_schema_parse_pbtxt(&s, text, size - 1, "fuzz")
                               : rk_schema_parse_json(&s, text, size - 1, "fuzz");
  if (st == RK_OK) {
    char *out = NULL;
    size_t len = 0;
    if (rk_schema_to_json(&s, &out, &len) == RK_OK) {
      rk_schema again;
      rk_schema_init(&again);
      (void)rk_schema_parse_json(&again, out, len, "fuzz-json");
      rk_schema_free(&again);
      rk_free(out);
    }
    if (rk_schema_to_pbtxt(&s, &out, &len) == RK_OK) {
      rk_schema again;
      rk_schema_init(&again);
      (void)rk_schema_parse_pbtxt(&again, out, len, "fuzz-pbtxt");
      rk_schema_free(&again);
      rk_free(out);
    }
  }
  rk_schema_free(&s);
  return 0;
}
