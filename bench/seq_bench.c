/*
 * seq_bench: forward + backward of one GPT-2 block (src/nn/blocks/transformer.c) or one GRU layer
 * in reckon's graph, the reckon side of bench/seq.sh (bench/peers/seq_torch.py is the PyTorch
 * side: the block written in seq_blocks.py, torch.nn.GRU).
 *
 *   seq_bench [--block gpt2|gru] [--d 64,256] [--batch 64] [--T 20] [--threads 1] [--time 2]
 *             [--dropout 0.1]
 *
 * GRU: d inputs to d units, every session full (the step ids are given, as a model passes them).
 * Heads: 4 for d < 256 and 8 from 256 (the T4Rec examples: 64/4, 256/8), MLP 4 d,
 * causal attention with the key-padding mask, every session full. loss = mean(out); a step is
 * zero_grad + forward + backward (no optimizer). After 3 warm-up steps, 3 rounds of --time / 3
 * seconds; prints the best round's milliseconds per step (the machine is shared).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/nn.h"

static int64_t heads_for(int64_t d) { return d >= 256 ? 8 : 4; }

/* The best of 3 rounds of --time / 3 seconds, after 3 warm-up steps: seconds per step. */
static double time_steps(rk_graph *g, double seconds) {
  double best = 1e30;
  for (int round = -1; round < 3; round++) {
    int steps = 0;
    double t0 = rk_now(), limit = round < 0 ? 0.0 : seconds / 3;
    do {
      rk_graph_zero_grad(g);
      if (rk_graph_forward(g, RK_TRAIN) || rk_graph_backward(g)) {
        fprintf(stderr, "seq_bench: %s\n", rk_error_message());
        exit(1);
      }
      steps++;
    } while (round < 0 ? steps < 3 : rk_now() - t0 < limit);
    double per = (rk_now() - t0) / steps;
    if (round >= 0 && per < best) best = per;
  }
  return best;
}

static void fill(rk_graph *g, int x, int ids, int64_t n_x, int64_t n_ids) {
  float *xp = rk_graph_input_f32(g, x);
  int64_t *ip = rk_graph_input_ids_data(g, ids);
  rk_rng rng;
  rk_rng_init(&rng, 1, 0);
  for (int64_t i = 0; i < n_x; i++) xp[i] = (float)rk_rng_normal(&rng);
  for (int64_t i = 0; i < n_ids; i++) ip[i] = 1 + i;
}

static double bench_gru(int64_t B, int64_t T, int64_t d, double seconds) {
  rk_param w[4];
  int64_t ws[2] = {3 * d, d}, bs[1] = {3 * d}, xs[2] = {T, d};
  rk_graph *g;
  int x, ids, out, loss;
  if (rk_param_init(&w[0], "w_ih", 2, ws) || rk_param_init(&w[1], "w_hh", 2, ws) || rk_param_init(&w[2], "b_ih", 1, bs) ||
      rk_param_init(&w[3], "b_hh", 1, bs) || rk_graph_create(&g, B) || rk_graph_input(g, &x, "x", 2, xs) ||
      rk_graph_input_ids(g, &ids, "ids", T) || rk_graph_gru(g, &out, x, ids, 0, &w[0], &w[1], &w[2], &w[3]) ||
      rk_graph_mean(g, &loss, out, RK_REDUCE_ALL) || rk_graph_build(g, loss)) {
    fprintf(stderr, "seq_bench: %s\n", rk_error_message());
    exit(1);
  }
  for (int k = 0; k < 4; k++) rk_param_fill_uniform(&w[k], 1, (uint64_t)k, -0.1f, 0.1f);
  fill(g, x, ids, B * T * d, B * T);
  double best = time_steps(g, seconds);
  rk_graph_free(g);
  for (int k = 0; k < 4; k++) rk_param_free(&w[k]);
  return best;
}

static double bench_gpt2(int64_t B, int64_t T, int64_t d, float dropout, double seconds) {
  rk_transformer_config cfg = {.d_model = d, .heads = heads_for(d), .dropout = dropout, .attn_dropout = dropout,
                               .ln_eps = 1e-5f, .gelu_tanh = true, .causal = true};
  rk_param_arena *arena;
  rk_transformer_block blk;
  rk_graph *g;
  int x, ids, out, loss;
  int64_t xs[2] = {T, d};
  if (rk_param_arena_create(&arena) || rk_transformer_block_declare(&blk, arena, "h.0", &cfg) ||
      rk_param_arena_alloc(arena) || rk_transformer_block_init(&blk, 1, 0, 0.02, 0.02) ||
      rk_graph_create(&g, B) || rk_graph_input(g, &x, "x", 2, xs) || rk_graph_input_ids(g, &ids, "ids", T) ||
      rk_graph_gpt2_block(g, &out, NULL, x, &blk, &cfg, ids, 0) || rk_graph_mean(g, &loss, out, RK_REDUCE_ALL) ||
      rk_graph_build(g, loss)) {
    fprintf(stderr, "seq_bench: %s\n", rk_error_message());
    exit(1);
  }
  fill(g, x, ids, B * T * d, B * T);
  double best = time_steps(g, seconds);
  rk_graph_free(g);
  rk_param *ps[RK_TRANSFORMER_BLOCK_PARAMS] = {&blk.ln1_gamma, &blk.ln1_beta, &blk.qkv_weight, &blk.qkv_bias,
                                               &blk.proj_weight, &blk.proj_bias, &blk.ln2_gamma, &blk.ln2_beta,
                                               &blk.fc_weight, &blk.fc_bias, &blk.out_weight, &blk.out_bias};
  for (int k = 0; k < RK_TRANSFORMER_BLOCK_PARAMS; k++) rk_param_free(ps[k]);
  rk_param_arena_free(arena);
  return best;
}

int main(int argc, char **argv) {
  rk_blas_choose_kernels(argv);
  const char *ds = "64,256", *block = "gpt2";
  int64_t B = 64, T = 20, threads = 1;
  double seconds = 2.0;
  float dropout = 0.1f;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--d")) ds = argv[i + 1];
    else if (!strcmp(argv[i], "--block")) block = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) B = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--T")) T = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoll(argv[i + 1]);
    else if (!strcmp(argv[i], "--time")) seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--dropout")) dropout = (float)atof(argv[i + 1]);
    else {
      fprintf(stderr, "seq_bench: unknown flag '%s'\n", argv[i]);
      return 2;
    }
  }
  bool gru = !strcmp(block, "gru");
  if (B < 1 || T < 1 || (!gru && strcmp(block, "gpt2")) || rk_set_num_threads(threads) != RK_OK) {
    fprintf(stderr, "seq_bench: bad --block, --batch, --T or --threads\n");
    return 2;
  }
  char buf[256];
  snprintf(buf, sizeof buf, "%s", ds);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    int64_t d = atoll(tok);
    double s = gru ? bench_gru(B, T, d, seconds) : bench_gpt2(B, T, d, dropout, seconds);
    printf("reckon %s B=%lld T=%lld d=%lld heads=%lld threads=%lld ms_per_step=%.3f\n", gru ? "gru" : "gpt2_block",
           (long long)B, (long long)T, (long long)d, gru ? 0LL : (long long)heads_for(d), (long long)threads, s * 1e3);
  }
  return 0;
}
