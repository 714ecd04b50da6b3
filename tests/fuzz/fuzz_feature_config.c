/*
 * Fuzz target: recsys_main.py's --feature_config (YAML or JSON). A parsed config must be
 * consistent: its label column is a categorical one marked is_label, and every column is found
 * by its name at its own index.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rk_feature_config c;
  if (rk_feature_config_parse(&c, (const char *)data, size, "fuzz") != RK_OK) return 0;
  const rk_feature_spec *label = &c.features[c.label];
  if (!label->is_label || label->dtype != RK_FEATURE_CATEGORICAL || label->cardinality < 1) abort();
  for (int i = 0; i < c.n; i++)
    if (rk_feature_config_find(&c, c.features[i].name) != i) abort();
  rk_feature_config_free(&c);
  return 0;
}
