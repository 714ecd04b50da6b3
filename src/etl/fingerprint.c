/*
 * The fingerprint of a fitted workflow, and where it travels: data that `reckon preprocess` or
 * `reckon transform` wrote carries the fingerprint of the workflow that transformed it, a trained
 * model the fingerprint of its training data's, and `reckon predict`/`evaluate` refuse data whose
 * fingerprint differs from the model's (ids from another vocabulary would be silently wrong).
 *
 * The fingerprint is "xxh64:" and 16 hex digits: reckon's one hash (src/core/hash.c) over the
 * workflow folder's files in byte order of their relative paths, each as its path, a NUL and
 * the hash of its bytes (reckon's marker and lock are bookkeeping, not content). The files are the canonical form: reckon writes them byte-identically
 * for the same fit, whatever the threads. It is not a hash of the data.
 *
 * In a Merlin schema it is a column property, `reckon_workflow_fingerprint`, on every column
 * (Merlin keeps column properties it does not know and has no dataset-level ones), so any
 * projection of the columns still carries it.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"
#include "reckon/schema.h"

#define FINGERPRINT_PROPERTY "reckon_workflow_fingerprint"

/* nftw takes no user pointer: the listing under way (one at a time per thread). */
static _Thread_local struct {
  char **paths;
  int n, cap;
  size_t root_len;
  bool failed;
} listing;

static int list_file(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  if (type != FTW_F || rk_output_is_bookkeeping(path + ftw->base)) return 0;   /* the marker is no content */
  if (listing.n == listing.cap) {
    int cap = listing.cap ? 2 * listing.cap : 16;
    char **p = rk_realloc(listing.paths, (size_t)cap * sizeof *p);
    if (!p) return listing.failed = true, 1;
    listing.paths = p;
    listing.cap = cap;
  }
  const char *rel = path + listing.root_len;
  while (*rel == '/') rel++;   /* "dir" and "dir/" give the same names */
  if (!(listing.paths[listing.n] = rk_strdup(rel))) return listing.failed = true, 1;
  listing.n++;
  return 0;
}

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

rk_status rk_workflow_fingerprint(const char *dir, char out[RK_WORKFLOW_FINGERPRINT_SIZE]) {
  memset(&listing, 0, sizeof listing);
  listing.root_len = strlen(dir);
  if (nftw(dir, list_file, 16, FTW_PHYS) != 0 || listing.failed || listing.n == 0) {
    rk_status st = listing.failed ? RK_ENOMEM
                                  : rk_error(RK_EIO, "cannot read the workflow folder '%s'%s%s", dir,
                                             listing.n ? ": " : ": it has no files", listing.n ? strerror(errno) : "");
    for (int i = 0; i < listing.n; i++) rk_free(listing.paths[i]);
    rk_free(listing.paths);
    return st;
  }
  qsort(listing.paths, (size_t)listing.n, sizeof *listing.paths, compare_paths);
  size_t size = 0;
  for (int i = 0; i < listing.n; i++) size += strlen(listing.paths[i]) + 1 + 8;
  unsigned char *record = rk_malloc(size), *at = record;
  rk_status st = record ? RK_OK : RK_ENOMEM;
  for (int i = 0; st == RK_OK && i < listing.n; i++) {
    size_t plen = strlen(listing.paths[i]), flen = 0;
    char *full = rk_malloc(listing.root_len + plen + 2), *bytes = NULL;
    if (!full) {
      st = RK_ENOMEM;
      break;
    }
    snprintf(full, listing.root_len + plen + 2, "%s/%s", dir, listing.paths[i]);
    st = rk_read_file(full, &bytes, &flen);
    rk_free(full);
    if (st != RK_OK) break;
    uint64_t h = rk_hash_bytes(bytes, flen);
    rk_free(bytes);
    memcpy(at, listing.paths[i], plen + 1);
    at += plen + 1;
    for (int k = 0; k < 8; k++) *at++ = (unsigned char)(h >> (8 * k));   /* little-endian, as the hash's rule */
  }
  if (st == RK_OK) snprintf(out, RK_WORKFLOW_FINGERPRINT_SIZE, "xxh64:%016llx", (unsigned long long)rk_hash_bytes(record, size));
  rk_free(record);
  for (int i = 0; i < listing.n; i++) rk_free(listing.paths[i]);
  rk_free(listing.paths);
  return st;
}

rk_status rk_schema_set_workflow_fingerprint(rk_schema *s, const char *fingerprint) {
  for (int i = 0; i < s->n_cols; i++)
    RK_TRY(rk_schema_column_set_property_string(&s->cols[i], FINGERPRINT_PROPERTY, fingerprint));
  return RK_OK;
}

const char *rk_schema_workflow_fingerprint(const rk_schema *s) {
  for (int i = 0; i < s->n_cols; i++) {
    const char *fp = json_string_value(rk_schema_column_property(&s->cols[i], FINGERPRINT_PROPERTY));
    if (fp) return fp;
  }
  return NULL;
}

rk_status rk_dataset_stamp_workflow_fingerprint(const char *dataset, const char *fingerprint) {
  rk_schema s;
  RK_TRY(rk_schema_read(&s, dataset));
  rk_status st = rk_schema_set_workflow_fingerprint(&s, fingerprint);
  if (st == RK_OK) st = rk_schema_write_dataset(&s, dataset);
  rk_schema_free(&s);
  return st;
}
