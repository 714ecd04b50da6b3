/*
 * An embedding table sharded by rows over the ranks (reckon/shard.h): ownership, the all-to-all
 * fetch of looked-up rows, the owner's share of a step's gradient, and checkpoints that reshard.
 *
 * The fetch is two all-to-alls, as HugeCTR's and TorchRec's row-wise lookups are: the unique ids
 * to their owners (grouped by owner, ascending), then the owners' rows back in the same order.
 * Before them one small all-to-all of the counts, which also carries a rank's refusal (bad ids)
 * to every rank, so a bad id never leaves the others waiting in the next collective.
 *
 * Which tables to shard is rk_shard_choose's: by size ("auto"), none, all or by name.
 *
 * It is not: the graph's lookup, nor the sum of the pieces' gradients
 * (src/train/step_pieces.c finishes that tree; the owner only keeps its rows of the total).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/io.h"
#include "reckon/shard.h"

int rk_shard_owner(int64_t row, int size) { return (int)(row % size); }

int64_t rk_shard_local_row(int64_t row, int size) { return row / size; }

int64_t rk_shard_local_rows(int64_t V, int rank, int size) { return V > rank ? (V - rank + size - 1) / size : 0; }

void rk_shard_route(int64_t *send, int64_t *counts, int64_t *from, const int64_t *ids, int64_t n, int size) {
  for (int r = 0; r < size; r++) counts[r] = 0;
  for (int64_t i = 0; i < n; i++) counts[rk_shard_owner(ids[i], size)]++;
  /* A counting sort by owner, which keeps the ids' order within a group: counts become each
   * group's start, advance to its end while placing, and are turned back into sizes. */
  int64_t begin = 0;
  for (int r = 0; r < size; r++) {
    int64_t c = counts[r];
    counts[r] = begin;
    begin += c;
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t k = counts[rk_shard_owner(ids[i], size)]++;
    send[k] = ids[i];
    from[k] = i;
  }
  for (int r = size - 1; r > 0; r--) counts[r] -= counts[r - 1];
}

static int compare_ids(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int64_t rk_shard_unique(int64_t *ids, int64_t n) {
  if (n == 0) return 0;
  qsort(ids, (size_t)n, sizeof *ids, compare_ids);
  int64_t k = 1;
  for (int64_t i = 1; i < n; i++)
    if (ids[i] != ids[k - 1]) ids[k++] = ids[i];
  return k;
}

/* ---- which tables ---- */

static double table_mib(int64_t V, int64_t D) { return (double)V * (double)D * 4.0 / (1024.0 * 1024.0); }

rk_status rk_shard_choose(bool *out, const char *spec, double threshold_mb, const char *const *names, const int64_t *V,
                          const int64_t *D, int n, int ranks) {
  bool all = strcmp(spec, "all") == 0, none = strcmp(spec, "none") == 0, by_size = strcmp(spec, "auto") == 0;
  if (!all && !none && !by_size) {   /* a list: every name must be a table that can be split */
    for (const char *at = spec; *at;) {
      const char *end = strchr(at, ',');
      int len = (int)(end ? end - at : (ptrdiff_t)strlen(at)), found = -1;
      for (int i = 0; i < n && found < 0; i++)
        if ((int)strlen(names[i]) == len && strncmp(names[i], at, (size_t)len) == 0) found = i;
      if (found < 0) {
        char known[512] = "";
        for (int i = 0; i < n; i++)
          snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "", names[i]);
        return rk_error(RK_EUSAGE, "--shard_tables: '%.*s' is not a table of this model (its tables: %s)", len, at, known);
      }
      if (V[found] < ranks)
        return rk_error(RK_EUSAGE, "--shard_tables: table '%s' has %lld rows, fewer than the %d ranks", names[found],
                        (long long)V[found], ranks);
      if (!end) break;
      at = end + 1;
    }
  }
  for (int i = 0; i < n; i++) {
    bool want = all || (by_size && table_mib(V[i], D[i]) >= threshold_mb) ||
                (!all && !none && !by_size && rk_name_listed(spec, names[i]));
    out[i] = ranks > 1 && want && V[i] >= ranks;
  }
  return RK_OK;
}

void rk_shard_describe(char *buf, size_t cap, const char *name, int64_t V, int64_t D, bool sharded, int ranks) {
  int at = snprintf(buf, cap, "table '%s' (%lld x %lld, %.1f MiB): ", name, (long long)V, (long long)D, table_mib(V, D));
  if (at < 0 || (size_t)at >= cap) return;
  if (sharded) snprintf(buf + at, cap - (size_t)at, "sharded over %d ranks", ranks);
  else snprintf(buf + at, cap - (size_t)at, "whole on every rank");
}

/* ---- the table ---- */

rk_status rk_shard_table_init(rk_shard_table *t, const char *name, int64_t V, int64_t D, int rank, int size) {
  memset(t, 0, sizeof *t);
  t->rank = rank;
  t->size = size;
  t->V = V;
  t->D = D;
  if (size < 1 || rank < 0 || rank >= size) return rk_error(RK_EINVAL, "table '%s': rank %d of %d", name, rank, size);
  if (V < size)
    return rk_error(RK_EINVAL, "table '%s' has %lld rows, fewer than the %d ranks it would be sharded over: keep it whole",
                    name, (long long)V, size);
  RK_TRY(rk_param_init_sparse(&t->rows, name, rk_shard_local_rows(V, rank, size), D));
  /* gradient buffers from the start, so an optimizer can register the rows at once */
  rk_status st = rk_param_reserve_grad_rows(&t->rows, 1);
  if (st != RK_OK) rk_param_free(&t->rows);
  return st;
}

void rk_shard_table_fill_uniform(rk_shard_table *t, uint64_t seed, uint64_t stream, float lo, float hi) {
  rk_param_fill_uniform_rows(&t->rows, seed, stream, lo, hi, t->rank, t->size, t->rows.value.shape[0]);
}

void rk_shard_table_free(rk_shard_table *t) {
  rk_param_free(&t->rows);
  rk_free(t->cached_ids);
  rk_free(t->cached);
  memset(t, 0, sizeof *t);
}

/* Doubling capacities: room for n ids (the lookups, repeats included), then for the unique ones' rows. */
static int64_t doubled(int64_t cap, int64_t n) {
  int64_t want = cap ? cap : 64;
  while (want < n) want *= 2;
  return want;
}

static rk_status reserve_ids(rk_shard_table *t, int64_t n) {
  if (n <= t->ids_cap) return RK_OK;
  int64_t cap = doubled(t->ids_cap, n), bytes;
  RK_TRY(rk_size_mul(&bytes, cap, (int64_t)sizeof *t->cached_ids, "a sharded table's looked-up ids"));
  int64_t *ids = rk_realloc(t->cached_ids, (size_t)bytes);
  if (!ids) return RK_ENOMEM;
  t->cached_ids = ids;
  t->ids_cap = cap;
  return RK_OK;
}

static rk_status reserve_rows(rk_shard_table *t, int64_t n) {
  if (n <= t->rows_cap) return RK_OK;
  int64_t cap = doubled(t->rows_cap, n), bytes;
  RK_TRY(rk_size_mul(&bytes, cap, t->D * (int64_t)sizeof *t->cached, "a sharded table's fetched rows"));
  float *rows = rk_realloc(t->cached, (size_t)bytes);
  if (!rows) return RK_ENOMEM;
  t->cached = rows;
  t->rows_cap = cap;
  return RK_OK;
}

/* An all-to-all, or the copy it is in one process (d NULL). */
static rk_status all_to_all(rk_dist *d, void *recv, const int64_t *recv_counts, const void *send, const int64_t *send_counts,
                            rk_dist_type type) {
  if (d) return rk_dist_alltoallv(d, recv, recv_counts, send, send_counts, type);
  if (send_counts[0]) memmove(recv, send, (size_t)send_counts[0] * rk_dist_type_size(type));
  return RK_OK;
}

/* The first id outside [0, V), or -1. */
static int64_t first_bad_id(const rk_shard_table *t, const int64_t *ids, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= t->V) return i;
  return -1;
}

/* After the counts: the ids to their owners, the owners' rows back into the cache. counts holds
 * (size) each of: ids sent, ids received, then floats received, floats sent. */
static rk_status fetch_rows(rk_shard_table *t, rk_dist *d, const int64_t *send, const int64_t *from, int64_t *counts) {
  int size = t->size;
  int64_t *sent = counts, *got = counts + size, *got_f = counts + 2 * size, *sent_f = counts + 3 * size;
  int64_t n_got = 0, m = t->n_cached, D = t->D;
  int64_t reply_floats, fetched_floats;
  for (int r = 0; r < size; r++) RK_TRY(rk_size_add(&n_got, n_got, got[r], "the rows other ranks asked for"));
  RK_TRY(rk_size_mul(&reply_floats, n_got, D, "the rows other ranks asked for"));
  RK_TRY(rk_size_mul(&fetched_floats, m, D, "a sharded table's fetched rows"));
  int64_t *asked = rk_malloc((size_t)n_got * sizeof *asked + 1);
  float *reply = rk_malloc((size_t)reply_floats * sizeof *reply + 1);
  float *fetched = rk_malloc((size_t)fetched_floats * sizeof *fetched + 1);
  rk_status st = asked && reply && fetched ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = all_to_all(d, asked, got, send, sent, RK_DIST_I64);
  const float *mine = t->rows.value.data;
  for (int64_t k = 0; st == RK_OK && k < n_got; k++) {
    if (asked[k] < 0 || asked[k] >= t->V || rk_shard_owner(asked[k], size) != t->rank)
      st = rk_error(RK_EINTERNAL, "table '%s': rank %d was asked for row %lld, which it does not own", t->rows.name,
                    t->rank, (long long)asked[k]);
    else memcpy(reply + k * D, mine + rk_shard_local_row(asked[k], size) * D, (size_t)D * sizeof *reply);
  }
  for (int r = 0; r < size; r++) got_f[r] = got[r] * D, sent_f[r] = sent[r] * D;
  if (st == RK_OK) st = all_to_all(d, fetched, sent_f, reply, got_f, RK_DIST_F32);
  for (int64_t k = 0; st == RK_OK && k < m; k++) memcpy(t->cached + from[k] * D, fetched + k * D, (size_t)D * sizeof *fetched);
  rk_free(asked);
  rk_free(reply);
  rk_free(fetched);
  return st;
}

rk_status rk_shard_fetch(rk_shard_table *t, rk_dist *d, const int64_t *ids, int64_t n) {
  int size = t->size;
  t->n_cached = 0;
  t->fetched.n = 0;
  if ((d ? rk_dist_size(d) : 1) != size || (d ? rk_dist_rank(d) : 0) != t->rank)
    return rk_error(RK_EINTERNAL, "table '%s' is sharded for rank %d of %d, not this job's", t->rows.name, t->rank, size);
  int64_t bad = first_bad_id(t, ids, n);
  RK_TRY(reserve_ids(t, n));
  if (n > 0) memcpy(t->cached_ids, ids, (size_t)n * sizeof *ids);
  int64_t m = bad < 0 ? rk_shard_unique(t->cached_ids, n) : 0;
  RK_TRY(reserve_rows(t, m));
  int64_t *send = rk_malloc(2 * (size_t)m * sizeof *send + 1), *counts = rk_malloc(4 * (size_t)size * sizeof *counts);
  if (!send || !counts) {
    rk_free(send);
    rk_free(counts);
    return RK_ENOMEM;
  }
  int64_t *from = send + m, *got = counts + size;
  rk_shard_route(send, counts, from, t->cached_ids, m, size);
  if (bad >= 0)
    for (int r = 0; r < size; r++) counts[r] = -1;   /* tells every rank to stop here */
  rk_status st = d ? rk_dist_alltoall(d, got, counts, 1, RK_DIST_I64) : (got[0] = counts[0], RK_OK);
  int refused = -1;
  for (int r = 0; st == RK_OK && r < size && refused < 0; r++)
    if (got[r] < 0) refused = r;
  if (st == RK_OK && bad >= 0)
    st = rk_error(RK_ERANGE, "table '%s': id %lld at position %lld is outside its %lld rows", t->rows.name,
                  (long long)ids[bad], (long long)bad, (long long)t->V);
  else if (st == RK_OK && refused >= 0)
    st = rk_error(RK_ERANGE, "table '%s': rank %d looked up an id outside its %lld rows", t->rows.name, refused,
                  (long long)t->V);
  if (st == RK_OK) {
    t->n_cached = m;
    st = fetch_rows(t, d, send, from, counts);
    if (st != RK_OK) t->n_cached = 0;
  }
  t->fetched.n = t->n_cached;   /* read_rows and ctx stay the caller's */
  t->fetched.ids = t->cached_ids;
  t->fetched.rows = t->cached;
  rk_free(send);
  rk_free(counts);
  return st;
}

const float *rk_shard_cached_row(const rk_shard_table *t, int64_t id) { return rk_row_cache_find(&t->fetched, id, t->D); }

rk_status rk_shard_take_grad(rk_shard_table *t, const int64_t *rows, const float *grad, int64_t n) {
  rk_param *p = &t->rows;
  int64_t mine = 0, D = t->D;
  for (int64_t i = 0; i < n; i++) mine += rk_shard_owner(rows[i], t->size) == t->rank;
  RK_TRY(rk_param_reserve_grad_rows(p, mine));
  int64_t k = 0;
  float *g = p->grad.data;
  for (int64_t i = 0; i < n; i++) {
    if (rk_shard_owner(rows[i], t->size) != t->rank) continue;
    p->grad_rows[k] = rk_shard_local_row(rows[i], t->size);   /* ascending, as rows are */
    memcpy(g + k * D, grad + i * D, (size_t)D * sizeof *g);
    k++;
  }
  p->n_grad_rows = k;
  return RK_OK;
}

/* ---- checkpoints ----
 * A folder per sharded table: one safetensors file per rank (its rows, its slots), and a
 * manifest written by rank 0 after every file is in place. The folder is staged under a
 * temporary name beside its final one and published whole (src/core/output.c's rule), so a
 * crash in the middle leaves the last complete save. */

static void shard_file(char *buf, size_t n, int rank, int size) {
  snprintf(buf, n, "shard-%d-of-%d.safetensors", rank, size);
}

static char *join(const char *dir, const char *file) {
  size_t n = strlen(dir) + strlen(file) + 2;
  char *p = rk_malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, file);
  return p;
}

#define MANIFEST "shards.json"
enum { MAX_SLOTS = 2 };

/* Every rank's status becomes every rank's: a failure anywhere fails the collective step
 * everywhere, so no rank goes on to wait for one that gave up. */
static rk_status agree(rk_dist *d, rk_status st, const char *what) {
  if (!d) return st;
  int64_t failed = st != RK_OK;
  RK_TRY(rk_dist_allreduce_sum(d, &failed, 1, RK_DIST_I64));
  if (st == RK_OK && failed) return rk_error(RK_EIO, "%s failed on %lld other rank(s)", what, (long long)failed);
  return st;
}

rk_status rk_shard_stage(rk_dist *d, const char *dir, char **stage) {
  *stage = NULL;
  int64_t len = 0;
  char *tmp = NULL;
  rk_status st = RK_OK;
  if (!d || rk_dist_rank(d) == 0) {
    tmp = rk_temp_path(dir);
    st = tmp ? rk_mkdir_p(tmp) : RK_ENOMEM;
    if (st == RK_OK) len = (int64_t)strlen(tmp) + 1;
  }
  st = agree(d, st, "staging a sharded table's folder");
  if (st == RK_OK && d) st = rk_dist_broadcast(d, &len, 1, RK_DIST_I64, 0);
  if (st == RK_OK && !tmp && !(tmp = rk_malloc((size_t)len))) st = RK_ENOMEM;
  if (st == RK_OK && d) st = rk_dist_broadcast(d, tmp, len, RK_DIST_BYTE, 0);
  if (st != RK_OK) {
    rk_free(tmp);
    return st;
  }
  *stage = tmp;
  return RK_OK;
}

static rk_status write_manifest(const rk_shard_table *t, const char *stage, const rk_optim *opt) {
  json_t *slots = json_array(), *files = json_array();
  for (int s = 0; slots && opt && s < opt->n_slots; s++) json_array_append_new(slots, json_string(rk_optim_slot_name(opt, s)));
  for (int r = 0; files && r < t->size; r++) {
    char f[96];
    shard_file(f, sizeof f, r, t->size);
    json_array_append_new(files, json_string(f));
  }
  json_t *j = json_pack("{ss sI sI sI so so}", "table", t->rows.name, "rows", (json_int_t)t->V, "dim", (json_int_t)t->D,
                        "ranks", (json_int_t)t->size, "slots", slots, "files", files);
  char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL, *path = join(stage, MANIFEST);
  rk_status st = text && path ? rk_write_file_atomic(path, text, strlen(text)) : RK_ENOMEM;
  free(text);
  rk_free(path);
  json_decref(j);
  return st;
}

rk_status rk_shard_table_save(const rk_shard_table *t, rk_dist *d, const char *stage, const rk_optim *opt, int param) {
  int n_slots = opt ? opt->n_slots : 0;
  if (n_slots > MAX_SLOTS) return rk_error(RK_EINTERNAL, "table '%s': %d optimizer slots", t->rows.name, n_slots);
  char slot_names[MAX_SLOTS][96], file[96];
  rk_st_tensor tensors[1 + MAX_SLOTS];
  const int64_t *shape = t->rows.value.shape;
  tensors[0] = (rk_st_tensor){.name = "rows", .dtype = RK_DT_F32, .ndim = 2, .shape = shape, .data = t->rows.value.data};
  for (int s = 0; s < n_slots; s++) {
    snprintf(slot_names[s], sizeof slot_names[s], "slot:%s", rk_optim_slot_name(opt, s));
    tensors[1 + s] = (rk_st_tensor){.name = slot_names[s], .dtype = RK_DT_F32, .ndim = 2, .shape = shape, .data = rk_optim_slot(opt, param, s)};
  }
  shard_file(file, sizeof file, t->rank, t->size);
  char *path = join(stage, file);
  rk_status st = path ? rk_safetensors_write(path, tensors, 1 + n_slots, NULL, NULL, 0) : RK_ENOMEM;
  rk_free(path);
  /* every rank's file is in place before the manifest says the folder is whole */
  st = agree(d, st, "writing a sharded table's rows");
  if (st == RK_OK && t->rank == 0) st = write_manifest(t, stage, opt);
  return agree(d, st, "writing a sharded table's manifest");
}

rk_status rk_shard_publish(rk_dist *d, const char *stage, const char *dir) {
  rk_status st = RK_OK;
  if (!d || rk_dist_rank(d) == 0) {
    st = rk_replace_dir(stage, dir);
    if (st != RK_OK) rk_remove_tree(stage);
  }
  return agree(d, st, "publishing a sharded table's folder");
}

static rk_status read_manifest(const char *dir, const rk_shard_table *t, const rk_optim *opt, int *ranks) {
  char *path = join(dir, MANIFEST);
  if (!path) return RK_ENOMEM;
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err), *slots = NULL;
  rk_status st = RK_OK;
  json_int_t V = 0, D = 0, R = 0;
  int want = opt ? opt->n_slots : 0;
  if (!j)
    st = rk_error(RK_ENOTFOUND, "cannot read '%s' (%s): no sharded table was saved there whole", path, err.text);
  else if (json_unpack(j, "{sI sI sI so}", "rows", &V, "dim", &D, "ranks", &R, "slots", &slots) != 0 || R < 1 ||
           R > 1 << 20 || !json_is_array(slots))
    st = rk_error(RK_EFORMAT, "'%s': expected rows, dim, ranks (1 or more) and slots", path);
  else if (V != t->V || D != t->D)
    st = rk_error(RK_EFORMAT, "'%s' holds a (%lld, %lld) table; '%s' is (%lld, %lld)", path, (long long)V, (long long)D,
                  t->rows.name, (long long)t->V, (long long)t->D);
  else if ((int)json_array_size(slots) != want)
    st = rk_error(RK_EFORMAT, "'%s' holds %d optimizer slots per row; the optimizer keeps %d", path,
                  (int)json_array_size(slots), want);
  *ranks = (int)R;
  json_decref(j);
  rk_free(path);
  return st;
}

/* Old rank q of R's file: its local row l is table row l * R + q; keep those this rank owns now. */
static rk_status load_file(rk_shard_table *t, const char *dir, rk_optim *opt, int param, int q, int R) {
  char file[96];
  shard_file(file, sizeof file, q, R);
  char *path = join(dir, file);
  if (!path) return RK_ENOMEM;
  rk_safetensors *f = NULL;
  rk_status st = rk_safetensors_read(&f, path);
  int n_slots = opt ? opt->n_slots : 0;
  int64_t n = rk_shard_local_rows(t->V, q, R), D = t->D;
  for (int s = -1; st == RK_OK && s < n_slots; s++) {
    char key[96];
    if (s < 0) snprintf(key, sizeof key, "rows");
    else snprintf(key, sizeof key, "slot:%s", rk_optim_slot_name(opt, s));
    rk_st_tensor x;
    st = rk_safetensors_find(f, key, &x);
    if (st == RK_OK && (x.dtype != RK_DT_F32 || x.ndim != 2 || x.shape[0] != n || x.shape[1] != D))
      st = rk_error(RK_EFORMAT, "'%s': tensor '%s' is not (%lld, %lld) float32", path, key, (long long)n, (long long)D);
    if (st != RK_OK) break;
    float *dst = s < 0 ? t->rows.value.data : rk_optim_slot(opt, param, s);
    const float *src = x.data;
    for (int64_t l = 0; l < n; l++) {
      int64_t g = l * R + q;
      if (rk_shard_owner(g, t->size) == t->rank)
        memcpy(dst + rk_shard_local_row(g, t->size) * D, src + l * D, (size_t)D * sizeof *dst);
    }
  }
  rk_safetensors_free(f);
  rk_free(path);
  return st;
}

rk_status rk_shard_table_load(rk_shard_table *t, const char *dir, rk_optim *opt, int param) {
  int R;
  RK_TRY(read_manifest(dir, t, opt, &R));
  for (int q = 0; q < R; q++) RK_TRY(load_file(t, dir, opt, param, q, R));
  return RK_OK;
}
