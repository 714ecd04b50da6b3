/*
 * Tables sharded by rows over the ranks (reckon/shard.h, src/train/shard_table.c). Run alone
 * (ctest) it is rank 0 of 1; under `mpirun -np N` (tests/e2e/mpi_shard.sh) every rank runs the
 * same tests and the exchanges cross processes. Each check holds for any N:
 * - the choice: by size (auto, inclusive threshold), none, all, or by name (forced even when
 *   small); one rank shards nothing; an unknown name or a table smaller than the ranks is
 *   refused by name; the start-up line per table;
 * - ownership: every row of a table has exactly one (rank, local row), and a rank's rows are
 *   about V / N of them (it never allocates the whole table);
 * - id routing: ids grouped by owner in rank order, ascending within a group, each traced back
 *   to its position; unique sorts and drops repeats (against brute force);
 * - fetch: every rank's ids (repeats, none, the padding row) come back with the whole table's
 *   rows, bit for bit; a bad id fails its rank naming it and every other rank naming the rank,
 *   and the next fetch works;
 * - a graph's embedding and embedding_bag on a table held elsewhere read the fetched rows: the
 *   loss and the compact gradient (table rows) have the whole table's bits; a row not fetched
 *   is an error naming it;
 * - optimizer state with the rows: Adam, Adagrad and FTRL on the shards leave every row and
 *   every slot with the bits of the same optimizer on the whole table in one process;
 * - checkpoints: saved by N ranks, loaded as 1, 2, 3 and 4 ranks' shards (resharding), rows and
 *   slots equal; published whole (no manifest, no load); wrong shapes are refused by name;
 * - every allocation failure of a round (fetch, gradient, save, load) is RK_ENOMEM and leaks
 *   nothing (alone: under mpirun a failure on one rank is every rank's).
 */
#include "support.h"

#include <stdlib.h>
#include <string.h>

#include "reckon/shard.h"

static rk_dist *world;

enum { V = 103, D = 5 };   /* V prime: the ranks' shares differ for 2, 3 and 4 */

static void test_ownership_covers_each_row_once(void **state) {
  (void)state;
  for (int size = 1; size <= 9; size++) {
    for (int64_t rows = size; rows <= 40; rows++) {
      int64_t total = 0;
      for (int r = 0; r < size; r++) {
        int64_t n = rk_shard_local_rows(rows, r, size);
        assert_true(n == rows / size || n == rows / size + 1);
        total += n;
      }
      assert_int_equal(total, rows);
      for (int64_t g = 0; g < rows; g++) {
        int r = rk_shard_owner(g, size);
        int64_t l = rk_shard_local_row(g, size);
        assert_true(l < rk_shard_local_rows(rows, r, size));
        assert_int_equal(l * size + r, g);   /* and back: one row per (rank, local row) */
      }
    }
  }
}

static void test_route_groups_by_owner_in_order(void **state) {
  (void)state;
  int64_t ids[200], send[200], from[200], counts[7];
  for (int size = 1; size <= 7; size++) {
    int64_t n = 0;
    for (int64_t g = 0; g < 600 && n < 200; g++)
      if (rk_rng_uniform_at(3, (uint64_t)size, (uint64_t)g) < 0.3) ids[n++] = g;
    rk_shard_route(send, counts, from, ids, n, size);
    int64_t at = 0;
    for (int r = 0; r < size; r++) {   /* brute force: the ids of owner r, in order */
      int64_t c = 0;
      for (int64_t i = 0; i < n; i++) {
        if (ids[i] % size != r) continue;
        assert_int_equal(send[at + c], ids[i]);
        assert_int_equal(from[at + c], i);
        c++;
      }
      assert_int_equal(counts[r], c);
      at += c;
    }
    assert_int_equal(at, n);
  }
  rk_shard_route(send, counts, from, ids, 0, 3);
  assert_true(counts[0] == 0 && counts[1] == 0 && counts[2] == 0);
}

static void test_unique_sorts_and_drops_repeats(void **state) {
  (void)state;
  int64_t ids[300];
  bool seen[50] = {0};
  for (int i = 0; i < 300; i++) {
    ids[i] = (int64_t)(rk_rng_uniform_at(4, 0, (uint64_t)i) * 50);
    seen[ids[i]] = true;
  }
  int64_t n = rk_shard_unique(ids, 300), k = 0;
  for (int64_t g = 0; g < 50; g++)
    if (seen[g]) assert_int_equal(ids[k++], g);
  assert_int_equal(n, k);
  assert_int_equal(rk_shard_unique(ids, 0), 0);
}

/* The whole table, as one process would initialise it. */
static void whole_table(rk_param *p) {
  assert_rk_ok(rk_param_init_sparse(p, "items", V, D));
  rk_param_fill_uniform(p, 11, 2, -0.05f, 0.05f);
  assert_rk_ok(rk_param_reserve_grad_rows(p, 1));
}

static void shard_of_world(rk_shard_table *t) {
  assert_rk_ok(rk_shard_table_init(t, "items", V, D, rk_dist_rank(world), rk_dist_size(world)));
  rk_shard_table_fill_uniform(t, 11, 2, -0.05f, 0.05f);
}

static rk_dist *dist_or_null(void) { return rk_dist_size(world) > 1 ? world : NULL; }

static void test_fetch_returns_whole_table_rows(void **state) {
  (void)state;
  rk_param whole;
  whole_table(&whole);
  rk_shard_table t;
  shard_of_world(&t);
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  /* a rank never holds the whole table: its rows only */
  assert_int_equal(t.rows.value.shape[0], rk_shard_local_rows(V, rank, size));
  if (size > 1) assert_true(rk_tensor_numel(&t.rows.value) < (int64_t)V * D);
  for (int64_t l = 0; l < t.rows.value.shape[0]; l++)   /* the init is the whole table's, row for row */
    assert_memory_equal((float *)t.rows.value.data + l * D, (float *)whole.value.data + (l * size + rank) * D,
                        D * sizeof(float));
  for (int round = 0; round < 3; round++) {
    /* rank 1 looks up nothing in round 1; the others random ids with repeats and row 0 */
    int64_t ids[64], n = round == 1 && rank == 1 ? 0 : 40 + 7 * rank;
    for (int64_t i = 0; i < n; i++) ids[i] = (int64_t)(rk_rng_uniform_at(5, (uint64_t)(round * 16 + rank), (uint64_t)i) * 30) * 3;
    if (n) ids[n - 1] = 0;
    assert_rk_ok(rk_shard_fetch(&t, dist_or_null(), ids, n));
    for (int64_t i = 0; i < n; i++) {
      const float *row = rk_shard_cached_row(&t, ids[i]);
      assert_non_null(row);
      assert_memory_equal(row, (float *)whole.value.data + ids[i] * D, D * sizeof(float));
    }
    assert_null(rk_shard_cached_row(&t, 1));   /* fetched ids are multiples of 3 */
    assert_null(rk_shard_cached_row(&t, V));
  }
  /* rank 0 alone reads a block of rows (how it would stream the table to a file, in chunks) */
  int64_t block[40], n = rank == 0 ? 40 : 0;
  for (int64_t i = 0; i < n; i++) block[i] = 50 + i;
  assert_rk_ok(rk_shard_fetch(&t, dist_or_null(), block, n));
  assert_int_equal(t.n_cached, n);
  if (n) assert_memory_equal(t.cached, (float *)whole.value.data + 50 * D, 40 * D * sizeof(float));
  rk_shard_table_free(&t);
  rk_param_free(&whole);
}

static void test_bad_id_fails_every_rank_and_names_it(void **state) {
  (void)state;
  rk_shard_table t;
  shard_of_world(&t);
  int rank = rk_dist_rank(world), last = rk_dist_size(world) - 1;
  int64_t ids[3] = {4, rank == last ? V : 7, 2};
  assert_int_equal(rk_shard_fetch(&t, dist_or_null(), ids, 3), RK_ERANGE);
  char want[96];
  if (rank == last) snprintf(want, sizeof want, "table 'items': id %d at position 1 is outside its %d rows", V, V);
  else snprintf(want, sizeof want, "table 'items': rank %d looked up an id outside its %d rows", last, V);
  assert_string_equal(rk_error_message(), want);
  assert_int_equal(t.n_cached, 0);
  ids[1] = V - 1;   /* nothing is left half done: the next fetch works */
  assert_rk_ok(rk_shard_fetch(&t, dist_or_null(), ids, 3));
  assert_non_null(rk_shard_cached_row(&t, V - 1));
  rk_shard_table_free(&t);
}

/* A graph reading `table` twice: an embedding of ids (B, 3) and a mean embedding_bag; loss =
 * the sum of squares of both, so the gradient depends on the rows read. */
typedef struct {
  rk_graph *g;
  int ids, bag, loss;
} lookup_graph;

enum { GB = 6 };

static void lookup_graph_build(lookup_graph *m, rk_param *table) {
  int e, b, e2, b2, se, sb;
  assert_rk_ok(rk_graph_create(&m->g, GB));
  assert_rk_ok(rk_graph_input_ids(m->g, &m->ids, "ids", 3));
  assert_rk_ok(rk_graph_input_ragged(m->g, &m->bag, "bag", GB * 4));
  assert_rk_ok(rk_graph_embedding(m->g, &e, table, m->ids, 0));
  assert_rk_ok(rk_graph_embedding_bag(m->g, &b, table, m->bag, RK_POOL_MEAN, 0));
  assert_rk_ok(rk_graph_mul(m->g, &e2, e, e));
  assert_rk_ok(rk_graph_mul(m->g, &b2, b, b));
  assert_rk_ok(rk_graph_sum(m->g, &se, e2, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_sum(m->g, &sb, b2, RK_REDUCE_ALL));
  assert_rk_ok(rk_graph_add(m->g, &m->loss, se, sb));
  assert_rk_ok(rk_graph_output(m->g, m->loss));
  assert_rk_ok(rk_graph_build(m->g, m->loss));
}

/* This rank's ids (padding 0 among them); all of them into `all` (n returned) for the fetch. */
static int64_t lookup_graph_fill(lookup_graph *m, int64_t *all) {
  int rank = rk_dist_rank(world);
  int64_t *ids = rk_graph_input_ids_data(m->g, m->ids), *off = rk_graph_input_offsets(m->g, m->bag),
          *bag = rk_graph_input_ids_data(m->g, m->bag), n = 0;
  for (int64_t i = 0; i < GB * 3; i++) all[n++] = ids[i] = (int64_t)(rk_rng_uniform_at(8, (uint64_t)rank, (uint64_t)i) * V);
  off[0] = 0;
  for (int64_t b = 0; b < GB; b++) {
    int64_t len = b % 4;
    for (int64_t j = 0; j < len; j++)
      all[n++] = bag[off[b] + j] = (int64_t)(rk_rng_uniform_at(9, (uint64_t)rank, (uint64_t)(b * 4 + j)) * V);
    off[b + 1] = off[b] + len;
  }
  return n;
}

static void test_graph_reads_fetched_rows_as_the_whole_table(void **state) {
  (void)state;
  rk_param whole, held;
  whole_table(&whole);
  rk_shard_table t;
  shard_of_world(&t);
  assert_rk_ok(rk_param_init_sparse_fetched(&held, "items", V, D, &t.fetched));
  assert_null(held.value.data);   /* the graph's table has no memory of its own */
  lookup_graph a, b;
  lookup_graph_build(&a, &whole);
  lookup_graph_build(&b, &held);
  int64_t all[GB * 7];
  int64_t n = lookup_graph_fill(&a, all);
  lookup_graph_fill(&b, all);
  assert_int_equal(rk_graph_forward(b.g, RK_TRAIN), RK_EINTERNAL);   /* nothing fetched yet */
  assert_non_null(strstr(rk_error_message(), "was not fetched for this step"));
  assert_rk_ok(rk_shard_fetch(&t, dist_or_null(), all, n));
  assert_rk_ok(rk_graph_forward(a.g, RK_TRAIN));
  assert_rk_ok(rk_graph_forward(b.g, RK_TRAIN));
  assert_memory_equal(rk_graph_value_f32(a.g, a.loss), rk_graph_value_f32(b.g, b.loss), sizeof(float));
  assert_rk_ok(rk_graph_backward(a.g));
  assert_rk_ok(rk_graph_backward(b.g));
  assert_true(held.n_grad_rows > 0);
  assert_int_equal(held.n_grad_rows, whole.n_grad_rows);   /* table rows, ascending, as the whole's */
  assert_memory_equal(held.grad_rows, whole.grad_rows, (size_t)whole.n_grad_rows * sizeof(int64_t));
  assert_memory_equal(held.grad.data, whole.grad.data, (size_t)(whole.n_grad_rows * D) * sizeof(float));
  rk_graph_free(a.g);
  rk_graph_free(b.g);
  rk_param_free(&held);
  rk_shard_table_free(&t);
  rk_param_free(&whole);
}

/* Step s's gradient: the same rows (ascending) and values on every rank, as after the exchange. */
static int64_t step_grad(int s, int64_t *rows, float *grad) {
  int64_t n = 0;
  for (int64_t g = 0; g < V; g++)
    if (rk_rng_uniform_at(6, (uint64_t)s, (uint64_t)g) < 0.4) rows[n++] = g;
  for (int64_t i = 0; i < n * D; i++) grad[i] = (float)(rk_rng_uniform_at(7, (uint64_t)s, (uint64_t)i) - 0.5);
  return n;
}

/* `steps` steps of step_grad's gradients: `one` on the whole table, `mine` on this rank's shard
 * (which keeps the gradients of its own rows). */
static void step_both(int steps, rk_param *whole, rk_optim *one, rk_shard_table *t, rk_optim *mine) {
  int64_t rows[V];
  float grad[V * D];
  for (int s = 0; s < steps; s++) {
    int64_t n = step_grad(s, rows, grad);
    assert_rk_ok(rk_param_reserve_grad_rows(whole, n));
    memcpy(whole->grad_rows, rows, (size_t)n * sizeof *rows);
    memcpy(whole->grad.data, grad, (size_t)(n * D) * sizeof *grad);
    whole->n_grad_rows = n;
    assert_rk_ok(rk_optim_step(one, 1.0));
    assert_rk_ok(rk_shard_take_grad(t, rows, grad, n));
    assert_rk_ok(rk_optim_step(mine, 1.0));
  }
}

static void check_optimizer_on_shards(rk_optim_kind kind) {
  rk_param whole;
  whole_table(&whole);
  rk_shard_table t;
  shard_of_world(&t);
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, kind, 0.1f);
  rk_optim one, mine;
  assert_rk_ok(rk_optim_init(&one, &cfg, (rk_param *[]){&whole}, 1));
  assert_rk_ok(rk_optim_init(&mine, &cfg, (rk_param *[]){&t.rows}, 1));
  step_both(5, &whole, &one, &t, &mine);
  int rank = rk_dist_rank(world), size = rk_dist_size(world);
  for (int64_t l = 0; l < t.rows.value.shape[0]; l++) {
    int64_t g = l * size + rank;
    assert_memory_equal((float *)t.rows.value.data + l * D, (float *)whole.value.data + g * D, D * sizeof(float));
    for (int s = 0; s < one.n_slots; s++)
      assert_memory_equal(rk_optim_slot(&mine, 0, s) + l * D, rk_optim_slot(&one, 0, s) + g * D, D * sizeof(float));
  }
  rk_optim_free(&one);
  rk_optim_free(&mine);
  rk_shard_table_free(&t);
  rk_param_free(&whole);
}

static void test_optimizer_state_lives_with_the_rows(void **state) {
  (void)state;
  check_optimizer_on_shards(RK_OPTIM_ADAM);
  check_optimizer_on_shards(RK_OPTIM_ADAGRAD);
  check_optimizer_on_shards(RK_OPTIM_FTRL);
}

/* A folder every rank sees: rank 0's fresh tmp folder, its path sent to the others. */
static void shared_dir(char *dir, size_t cap) {
  int64_t len = 0;
  if (rk_dist_rank(world) == 0) {
    char name[64];
    snprintf(name, sizeof name, "shard_table_%d", rk_dist_size(world));
    snprintf(dir, cap, "%s", rk_test_tmpdir(name));
    len = (int64_t)strlen(dir) + 1;
  }
  assert_rk_ok(rk_dist_broadcast(world, &len, 1, RK_DIST_I64, 0));
  assert_rk_ok(rk_dist_broadcast(world, dir, len, RK_DIST_BYTE, 0));
}

static void test_checkpoint_reshards_on_load(void **state) {
  (void)state;
  rk_param whole;
  whole_table(&whole);
  rk_shard_table t;
  shard_of_world(&t);
  rk_optim_config cfg;
  rk_optim_config_default(&cfg, RK_OPTIM_ADAM, 0.1f);
  rk_optim one, mine;
  assert_rk_ok(rk_optim_init(&one, &cfg, (rk_param *[]){&whole}, 1));
  assert_rk_ok(rk_optim_init(&mine, &cfg, (rk_param *[]){&t.rows}, 1));
  step_both(2, &whole, &one, &t, &mine);   /* rows and both Adam slots away from their initial values */
  char base[4096], *stage = NULL;
  shared_dir(base, sizeof base);
  const char *dir = rk_test_path(base, "items");
  rk_dist *d = dist_or_null();
  assert_rk_ok(rk_shard_stage(d, dir, &stage));
  assert_rk_ok(rk_shard_table_save(&t, d, stage, &mine, 0));
  rk_shard_table other;   /* before publishing there is nothing to load */
  assert_rk_ok(rk_shard_table_init(&other, "items", V, D, 0, 1));
  assert_int_equal(rk_shard_table_load(&other, dir, NULL, 0), RK_ENOTFOUND);
  rk_shard_table_free(&other);
  assert_rk_ok(rk_dist_barrier(world));
  assert_rk_ok(rk_shard_publish(d, stage, dir));
  rk_free(stage);
  /* any number of ranks: each of their shards, loaded alone, holds the whole table's rows and slots */
  for (int size = 1; size <= 4; size++) {
    for (int rank = 0; rank < size; rank++) {
      rk_shard_table u;
      rk_optim o;
      assert_rk_ok(rk_shard_table_init(&u, "items", V, D, rank, size));
      assert_rk_ok(rk_optim_init(&o, &cfg, (rk_param *[]){&u.rows}, 1));
      assert_rk_ok(rk_shard_table_load(&u, dir, &o, 0));
      for (int64_t l = 0; l < u.rows.value.shape[0]; l++) {
        int64_t g = l * size + rank;
        assert_memory_equal((float *)u.rows.value.data + l * D, (float *)whole.value.data + g * D, D * sizeof(float));
        for (int s = 0; s < 2; s++)
          assert_memory_equal(rk_optim_slot(&o, 0, s) + l * D, rk_optim_slot(&one, 0, s) + g * D, D * sizeof(float));
      }
      rk_optim_free(&o);
      rk_shard_table_free(&u);
    }
  }
  /* another shape, or another optimizer's slots, is refused naming the manifest */
  rk_shard_table w;
  assert_rk_ok(rk_shard_table_init(&w, "items", V + 1, D, 0, 1));
  assert_int_equal(rk_shard_table_load(&w, dir, NULL, 0), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "shards.json' holds a (103, 5) table; 'items' is (104, 5)"));
  rk_shard_table_free(&w);
  assert_rk_ok(rk_shard_table_init(&w, "items", V, D, 0, 1));
  assert_int_equal(rk_shard_table_load(&w, dir, NULL, 0), RK_EFORMAT);
  assert_non_null(strstr(rk_error_message(), "holds 2 optimizer slots per row; the optimizer keeps 0"));
  rk_shard_table_free(&w);
  assert_rk_ok(rk_dist_barrier(world));   /* no rank removes the folder while others read it */
  rk_optim_free(&one);
  rk_optim_free(&mine);
  rk_shard_table_free(&t);
  rk_param_free(&whole);
}

/* One process's whole round: init, fetch, take a gradient, save, publish, load. */
static rk_status round_trip(void *ctx) {
  const char *dir = ctx;
  rk_shard_table t, u;
  memset(&u, 0, sizeof u);
  char *stage = NULL;
  int64_t ids[6] = {9, 3, 9, 0, 77, 3}, rows[2] = {3, 77};
  float grad[2 * D] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  rk_status st = rk_shard_table_init(&t, "items", V, D, 0, 1);
  if (st != RK_OK) return st;
  if (st == RK_OK) st = rk_shard_fetch(&t, NULL, ids, 6);
  if (st == RK_OK) st = rk_shard_take_grad(&t, rows, grad, 2);
  if (st == RK_OK) st = rk_shard_stage(NULL, dir, &stage);
  if (st == RK_OK) st = rk_shard_table_save(&t, NULL, stage, NULL, 0);
  if (st == RK_OK) st = rk_shard_publish(NULL, stage, dir);
  if (st != RK_OK && stage) rk_remove_tree(stage);
  if (st == RK_OK) st = rk_shard_table_init(&u, "items", V, D, 0, 1);
  if (st == RK_OK) st = rk_shard_table_load(&u, dir, NULL, 0);
  rk_free(stage);
  rk_shard_table_free(&u);
  rk_shard_table_free(&t);
  return st;
}

static void test_allocation_failures_leave_nothing(void **state) {
  (void)state;
  if (rk_dist_size(world) > 1) skip();   /* a failure on one rank fails them all: walked alone */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", rk_test_path(rk_test_tmpdir("shard_table_failures"), "items"));
  assert_true(rk_test_walk_failures(round_trip, dir) > 5);
}

static void test_choice_by_size_name_or_flag(void **state) {
  (void)state;
  const char *names[3] = {"user_id", "item_id", "gender"};
  int64_t rows[3] = {1 << 20, 1 << 18, 3}, dims[3] = {64, 64, 8};   /* 256 MiB, 64 MiB, 96 bytes */
  bool out[3];
  assert_rk_ok(rk_shard_choose(out, "auto", 100, names, rows, dims, 3, 4));
  assert_true(out[0] && !out[1] && !out[2]);
  assert_rk_ok(rk_shard_choose(out, "auto", 64, names, rows, dims, 3, 4));   /* the threshold is inclusive */
  assert_true(out[0] && out[1] && !out[2]);
  assert_rk_ok(rk_shard_choose(out, "all", 100, names, rows, dims, 3, 4));   /* 3 rows over 4 ranks: whole */
  assert_true(out[0] && out[1] && !out[2]);
  assert_rk_ok(rk_shard_choose(out, "none", 0, names, rows, dims, 3, 4));
  assert_true(!out[0] && !out[1] && !out[2]);
  assert_rk_ok(rk_shard_choose(out, "item_id", 100, names, rows, dims, 3, 4));   /* forced, though small */
  assert_true(!out[0] && out[1] && !out[2]);
  assert_rk_ok(rk_shard_choose(out, "gender,user_id", 100, names, rows, dims, 3, 2));
  assert_true(out[0] && !out[1] && out[2]);
  assert_rk_ok(rk_shard_choose(out, "all", 0, names, rows, dims, 3, 1));   /* one rank: nothing to split */
  assert_true(!out[0] && !out[1] && !out[2]);
  assert_int_equal(rk_shard_choose(out, "item_id,item", 100, names, rows, dims, 3, 4), RK_EUSAGE);
  assert_string_equal(rk_error_message(),
                      "--shard_tables: 'item' is not a table of this model (its tables: user_id, item_id, gender)");
  assert_int_equal(rk_shard_choose(out, "gender", 100, names, rows, dims, 3, 4), RK_EUSAGE);
  assert_string_equal(rk_error_message(), "--shard_tables: table 'gender' has 3 rows, fewer than the 4 ranks");
  char line[160];
  rk_shard_describe(line, sizeof line, "user_id", rows[0], dims[0], true, 4);
  assert_string_equal(line, "table 'user_id' (1048576 x 64, 256.0 MiB): sharded over 4 ranks");
  rk_shard_describe(line, sizeof line, "gender", rows[2], dims[2], false, 4);
  assert_string_equal(line, "table 'gender' (3 x 8, 0.0 MiB): whole on every rank");
}

static void test_too_few_rows_to_shard(void **state) {
  (void)state;
  rk_shard_table t;
  assert_int_equal(rk_shard_table_init(&t, "tiny", 2, 4, 0, 3), RK_EINVAL);
  assert_string_equal(rk_error_message(),
                      "table 'tiny' has 2 rows, fewer than the 3 ranks it would be sharded over: keep it whole");
}

int main(void) {
  if (rk_dist_init(&world, 60) != RK_OK) {
    fprintf(stderr, "rk_dist_init: %s\n", rk_error_message());
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ownership_covers_each_row_once),
      cmocka_unit_test(test_route_groups_by_owner_in_order),
      cmocka_unit_test(test_unique_sorts_and_drops_repeats),
      cmocka_unit_test(test_fetch_returns_whole_table_rows),
      cmocka_unit_test(test_bad_id_fails_every_rank_and_names_it),
      cmocka_unit_test(test_graph_reads_fetched_rows_as_the_whole_table),
      cmocka_unit_test(test_optimizer_state_lives_with_the_rows),
      cmocka_unit_test(test_checkpoint_reshards_on_load),
      cmocka_unit_test(test_allocation_failures_leave_nothing),
      cmocka_unit_test(test_choice_by_size_name_or_flag),
      cmocka_unit_test(test_too_few_rows_to_shard),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  /* A failed rank must not leave the others blocked in a collective. */
  if (failed && rk_dist_size(world) > 1) rk_dist_abort(world, 1);
  rk_dist_finalize(world);
  return failed;
}
