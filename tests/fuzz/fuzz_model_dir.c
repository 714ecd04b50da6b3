/*
 * Fuzz target: the model-folder loader (rk_model_load, src/models/model_dir.c). The input is
 * split into a model folder's three files: byte 0 bit 0 names the schema file (0:
 * schema.pbtxt, 1: .merlin/schema.json), bytes 1-2 and 3-4 (little-endian) are the lengths of
 * model.json and of the schema (cut to what is there), the rest is weights.safetensors. The
 * files are written into one temporary folder per process and the folder loaded, so model.json,
 * the schema, the model it builds and the weights it reads are all checked against each other.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/trainer.h"

static char dir[256];

static int put(const char *name, const uint8_t *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t done = fwrite(p, 1, n, f);
  return fclose(f) == 0 && done == n ? 0 : -1;
}

static void drop(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  unlink(path);
}

static void remove_dir(void) {
  drop("model.json");
  drop("schema.pbtxt");
  drop(".merlin/schema.json");
  drop("weights.safetensors");
  char merlin[300];
  snprintf(merlin, sizeof merlin, "%s/.merlin", dir);
  rmdir(merlin);
  rmdir(dir);
}

static size_t take(size_t want, size_t *left) {
  size_t n = want < *left ? want : *left;
  *left -= n;
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  if (!dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/reckon-fuzz-model-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(dir)) return dir[0] = 0, 0;
    char merlin[300];
    snprintf(merlin, sizeof merlin, "%s/.merlin", dir);
    mkdir(merlin, 0700);
    atexit(remove_dir);
  }
  bool merlin = data[0] & 1;
  size_t left = size - 5;
  size_t model_len = take((size_t)data[1] | (size_t)data[2] << 8, &left);
  size_t schema_len = take((size_t)data[3] | (size_t)data[4] << 8, &left);
  const uint8_t *model = data + 5, *schema = model + model_len, *weights = schema + schema_len;
  drop(merlin ? "schema.pbtxt" : ".merlin/schema.json");
  if (put("model.json", model, model_len) || put(merlin ? ".merlin/schema.json" : "schema.pbtxt", schema, schema_len) ||
      put("weights.safetensors", weights, left))
    return 0;
  rk_saved_model m;
  if (rk_model_load(&m, dir) == RK_OK) rk_saved_model_free(&m);
  return 0;
}
