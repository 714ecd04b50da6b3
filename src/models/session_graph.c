/*
 * A session model's graph over its parameters (session_params.c), for B sessions x T positions:
 *
 *   inputs        per feature its rows, aggregated and merged to d_model (session_inputs.c);
 *                 T counts the past sessions' positions too when session-aware
 *   [MASK]        rows named by the feed's mask replaced by the learnable vector
 *   body          gpt2: + positions, dropout, blocks, ln_f; bert/albert: + positions, LayerNorm,
 *                 dropout, (albert: a linear map), blocks; xlnet/transfoxl: session_xlnet.c; gru/lstm/rnn: layers with dropout
 *                 between them (torch.nn.GRU's); avgseq: row t = the mean of rows 0..t
 *   head          tanh(linear(d_model -> item_dim)) at the K rows the feed reads: `hidden`
 *   loss (train)  the rows whose label is not the pad token, packed (gather_rows: n of B T in
 *                 use), logits (n, V) = head(rows) . W^T + b, cross-entropy over the whole
 *                 catalogue, fused (catalog_ce: the logits are never stored whole): the head and
 *                 its gemm against the catalogue cost the labelled rows
 *                 only (about a third of B T in causal LM, less in masked LM), as
 *                 Transformers4Rec computes it; or, with --sampled_softmax or
 *                 --negative_sampling, against a few candidate items (session_sampling.c);
 *                 with --rtd, plus the discriminator's loss on the corrupted session (session_rtd.c)
 * The feed fills the inputs (session_feed.c); attention sees only real rows unless
 * key_padding_mask is off (the reference's behaviour).
 *
 * Packed (docs/design.md, "Rows in use"): a gpt2, bert, albert, electra, xlnet, transfoxl or
 * (not session-aware) avgseq body runs on the real rows only (those whose key is set, about a
 * third of B T at mean session length 6 and T 20): the input stage packs them before its merge
 * (session_inputs.c), the [MASK] fill reads its mask at their original rows (or, with
 * --rtd_use_batch_interaction, which reads the (B, T) merged rows, gather_rows packs them after
 * the fill), and every op of the body computes n rows of its capacity B T (an absolute body
 * adds each its position's row of the table; a relative one, and avgseq's running mean, read
 * sessions and positions from the row index); the reads and the labelled rows are
 * packed row numbers; with --rtd the discriminator's body packs the same rows (session_rtd.c),
 * and --negative_sampling's in-batch mask reads the labelled rows' sessions (session_sampling.c).
 * The unpacked body stays where packing is not the same model or is not built: key_padding_mask
 * off (padded keys are seen), attention weights asked for (their (B, T, T) layout; any body
 * then), session-aware avgseq (its mean counts the padding between past and present rows), and
 * gru, lstm and rnn (which skip padded steps inside the op).
 * Not the parameters, nor the feed.
 */
#include <string.h>

#include "session_internal.h"

typedef struct {
  rk_session_graph *sg;
  const rk_session_params *p;
  const rk_session_config *c;
  rk_graph *g;
} builder;

static rk_status maybe_dropout(rk_graph *g, int *x, float p) {
  return p > 0.0f ? rk_graph_dropout(g, x, *x, p, false) : RK_OK;
}

/* Whether the graph's body runs on the packed real rows (see the top). avgseq's mean counts
 * padded rows before a real one, which session-aware inputs have (past sessions in front). */
static bool packable(const rk_session_config *c, bool attention_weights) {
  if (attention_weights) return false;
  if (c->model_type == RK_SESSION_AVGSEQ) return !c->session_aware;
  return (rk_session_is_transformer(c->model_type) || rk_session_is_relative(c->model_type)) && c->key_padding_mask;
}

rk_status rk_session_body_pack(const rk_session_graph *sg, int *x, int *positions) {
  if (!sg->packed) return RK_OK;
  if (!sg->packed_inputs) RK_TRY(rk_graph_gather_rows(sg->g, x, *x, sg->packed_rows));   /* each with its position's row */
  return rk_graph_gather_rows(sg->g, positions, *positions, sg->packed_positions);
}

static rk_status build_transformer(builder *b, int *x, bool attention_weights) {
  rk_graph *g = b->g;
  const rk_session_params *p = b->p;
  const rk_session_config *c = b->c;
  int pos;
  RK_TRY(rk_graph_param(g, &pos, (rk_param *)&p->positions));
  RK_TRY(rk_session_body_pack(b->sg, x, &pos));
  RK_TRY(rk_graph_add(g, x, *x, pos));
  bool gpt2 = c->model_type == RK_SESSION_GPT2;
  if (!gpt2) RK_TRY(rk_graph_layer_norm(g, x, *x, (rk_param *)&p->emb_ln_gamma, (rk_param *)&p->emb_ln_beta, c->layer_norm_eps));
  RK_TRY(maybe_dropout(g, x, c->dropout));
  if (c->model_type == RK_SESSION_ALBERT)
    RK_TRY(rk_graph_linear(g, x, *x, (rk_param *)&p->map_w, (rk_param *)&p->map_b, RK_ACT_NONE));
  int keys = c->key_padding_mask && !b->sg->packed ? b->sg->keys : RK_NO_VALUE;   /* packed: no padding */
  for (int l = 0; l < c->n_layer; l++) {
    /* ALBERT: layer l uses its group's block, n_layer / groups consecutive layers per group. */
    int k = c->model_type == RK_SESSION_ALBERT ? l / (c->n_layer / p->n_blocks) : l;
    int *w = attention_weights ? &b->sg->attention[l] : NULL;
    rk_transformer_block *blk = &p->blocks[k];
    RK_TRY(gpt2 ? rk_graph_gpt2_block(g, x, w, *x, blk, &p->block, keys, 0)
                : rk_graph_bert_block(g, x, w, *x, blk, &p->block, keys, 0));
  }
  if (gpt2) RK_TRY(rk_graph_layer_norm(g, x, *x, (rk_param *)&p->ln_f_gamma, (rk_param *)&p->ln_f_beta, c->layer_norm_eps));
  return RK_OK;
}

static rk_status build_recurrent(builder *b, int *x) {
  const rk_session_config *c = b->c;
  rk_param *r = b->p->rnn;
  for (int l = 0; l < c->n_layer; l++) {
    rk_param *w = r + 4 * l;
    if (c->model_type == RK_SESSION_GRU) RK_TRY(rk_graph_gru(b->g, x, *x, b->sg->keys, 0, &w[0], &w[1], &w[2], &w[3]));
    else if (c->model_type == RK_SESSION_LSTM) RK_TRY(rk_graph_lstm(b->g, x, *x, b->sg->keys, 0, &w[0], &w[1], &w[2], &w[3]));
    else RK_TRY(rk_graph_rnn(b->g, x, *x, b->sg->keys, 0, &w[0], &w[1], &w[2], &w[3]));
    if (l + 1 < c->n_layer) RK_TRY(maybe_dropout(b->g, x, c->dropout));
  }
  return RK_OK;
}

/* avgseq (recsys_models.py's AvgSeq): row t = the mean of rows 0..t (prefix_mean); packed, the
 * mean of each session's real rows so far, which are its rows 0..t. */
static rk_status build_avgseq(builder *b, int *x) {
  if (b->sg->packed && !b->sg->packed_inputs) RK_TRY(rk_graph_gather_rows(b->g, x, *x, b->sg->packed_rows));
  return rk_graph_prefix_mean(b->g, x, *x);
}

rk_status rk_session_body_build(rk_session_graph *sg, const rk_session_params *p, const rk_session_config *c, int *x,
                                bool attention_weights) {
  builder b = {.sg = sg, .p = p, .c = c, .g = sg->g};
  if (rk_session_is_transformer(c->model_type)) return build_transformer(&b, x, attention_weights);
  if (rk_session_is_relative(c->model_type)) return rk_session_relative_body(sg, p, c, x, attention_weights);
  if (rk_session_is_recurrent(c->model_type)) return build_recurrent(&b, x);
  return build_avgseq(&b, x);
}

static rk_status build(builder *b, const rk_session_features *f, bool train, bool attention_weights) {
  rk_session_graph *sg = b->sg;
  rk_graph *g = b->g;
  const rk_session_config *c = b->c;
  const rk_session_params *p = b->p;
  RK_TRY(rk_graph_input_ids(g, &sg->mask_rows, "[mask]", sg->T));
  RK_TRY(rk_graph_input_ids(g, &sg->keys, "[keys]", sg->T));
  RK_TRY(rk_graph_input_ids(g, &sg->reads, "[reads]", sg->K));
  if (sg->packed) {
    RK_TRY(rk_graph_input_ids(g, &sg->packed_rows, "[packed rows]", sg->T));
    RK_TRY(rk_graph_input_ids(g, &sg->packed_positions, "[packed positions]", sg->T));
    RK_TRY(rk_graph_input_ids(g, &sg->packed_reads, "[packed reads]", sg->K));
  }
  if (train) {
    RK_TRY(rk_graph_input_ids(g, &sg->labels, "[labels]", sg->T));
    RK_TRY(rk_graph_input_ids(g, &sg->labelled, "[labelled]", sg->T));
    RK_TRY(rk_graph_input_ids(g, &sg->packed_labels, "[packed labels]", sg->T));
    if (c->negative_sampling) RK_TRY(rk_graph_input_ids(g, &sg->labelled_sessions, "[labelled sessions]", sg->T));
  }
  int x;
  RK_TRY(rk_session_inputs_build(sg, &x, p, f, c, RK_NO_VALUE));
  sg->merged = x;
  RK_TRY(rk_graph_mask_fill(g, &x, x, sg->mask_rows, (rk_param *)&p->mask));
  RK_TRY(rk_session_body_build(sg, p, c, &x, attention_weights));
  int read;
  RK_TRY(rk_graph_gather(g, &read, x, sg->packed ? sg->packed_reads : sg->reads));
  RK_TRY(rk_graph_linear(g, &sg->out.hidden, read, (rk_param *)&p->head_w, (rk_param *)&p->head_b, RK_ACT_TANH));
  RK_TRY(rk_graph_output(g, sg->out.hidden));
  sg->out.loss = RK_NO_VALUE;
  if (train && rk_session_sampled(c)) {   /* the labelled rows, packed, as the full softmax's */
    int rows;
    RK_TRY(rk_graph_gather_rows(g, &rows, x, sg->labelled));
    RK_TRY(rk_session_build_sampled_loss(g, &sg->out.loss, rows, sg->packed_labels, sg->labelled_sessions, p,
                                         rk_session_scoring_matrix(p, f, c), c));
    RK_TRY(rk_graph_output(g, sg->out.loss));
  } else if (train) {
    int rows, h;
    rk_param *w = rk_session_scoring_matrix(p, f, c);
    RK_TRY(rk_graph_gather_rows(g, &rows, x, sg->labelled));
    RK_TRY(rk_graph_linear(g, &h, rows, (rk_param *)&p->head_w, (rk_param *)&p->head_b, RK_ACT_TANH));
    if (c->rtd) {   /* the replacements are drawn from the generator's logits, kept for the draws */
      int logits;
      RK_TRY(rk_graph_linear(g, &logits, h, w, (rk_param *)&p->out_b, RK_ACT_NONE));
      RK_TRY(rk_graph_softmax_ce(g, &sg->out.loss, logits, sg->packed_labels, c->pad_token, c->label_smoothing,
                                 c->softmax_temperature));
      RK_TRY(rk_session_build_rtd_loss(sg, &sg->out.loss, sg->out.loss, logits, p, f, c));
    } else {
      RK_TRY(rk_graph_catalog_ce(g, &sg->out.loss, h, sg->packed_labels, w, (rk_param *)&p->out_b, c->pad_token,
                                 c->label_smoothing, c->softmax_temperature));
    }
    RK_TRY(rk_graph_output(g, sg->out.loss));
  }
  for (int l = 0; attention_weights && l < sg->n_layers; l++) RK_TRY(rk_graph_output(g, sg->attention[l]));
  return rk_graph_build(g, train ? sg->out.loss : RK_NO_VALUE);
}

rk_status rk_session_graph_build(rk_session_graph *sg, const rk_session_params *p, const rk_session_features *f,
                                 const rk_session_config *c, int64_t batch, bool train, bool attention_weights) {
  memset(sg, 0, sizeof *sg);
  sg->B = batch;
  sg->T = rk_session_config_positions(c);
  sg->K = c->eval_on_last_item_seq_only ? 1 : c->session_seq_length_max;   /* reads: the session's rows */
  sg->labels = sg->labelled = sg->packed_labels = sg->labelled_sessions = RK_NO_VALUE;
  sg->hidden = sg->rtd_fake = RK_NO_VALUE;
  sg->packed_rows = sg->packed_positions = sg->packed_reads = RK_NO_VALUE;
  sg->packed = packable(c, attention_weights);   /* asked for attention weights, any body keeps the (B, T) rows */
  attention_weights = attention_weights && (rk_session_is_transformer(c->model_type) || rk_session_is_relative(c->model_type));
  sg->n_layers = attention_weights ? c->n_layer : 0;
  sg->packed_inputs = sg->packed && !c->rtd_use_batch_interaction;
  sg->inputs = rk_calloc((size_t)f->n + 1, sizeof *sg->inputs);
  sg->attention = rk_calloc((size_t)sg->n_layers + 1, sizeof *sg->attention);
  int64_t rows;
  rk_status st = rk_size_mul(&rows, batch, sg->T, "a session graph's rows (batch x positions)");
  if (st == RK_OK && sg->packed) {
    sg->packed_of = rk_calloc((size_t)rows, sizeof *sg->packed_of);
    st = sg->packed_of ? RK_OK : RK_ENOMEM;
  }
  if (st == RK_OK) st = sg->inputs && sg->attention ? RK_OK : RK_ENOMEM;
  if (st == RK_OK) st = rk_graph_create(&sg->g, batch);
  if (st == RK_OK) rk_graph_set_seed(sg->g, c->seed);
  builder b = {.sg = sg, .p = p, .c = c, .g = sg->g};
  if (st == RK_OK) st = build(&b, f, train, attention_weights);
  if (st != RK_OK) {
    rk_session_graph_free(sg);
    return st;
  }
  sg->out.reads = sg->K;
  sg->out.n_layers = sg->n_layers;
  sg->out.attention = sg->n_layers ? sg->attention : NULL;
  return RK_OK;
}

/* The real rows (key set) in order, their positions, and each row's packed number. */
static void pack_rows(const rk_session_graph *sg) {
  const int64_t *keys = rk_graph_input_ids_data(sg->g, sg->keys);
  int64_t *rows = rk_graph_input_ids_data(sg->g, sg->packed_rows), *pos = rk_graph_input_ids_data(sg->g, sg->packed_positions);
  int64_t n = 0;
  for (int64_t r = 0; r < sg->B * sg->T; r++) {
    sg->packed_of[r] = keys[r] != 0 ? n : -1;
    if (keys[r] != 0) rows[n] = r, pos[n++] = r % sg->T;
  }
  for (; n < sg->B * sg->T; n++) rows[n] = pos[n] = -1;
}

/* The packed row of session b's position t; RK_EINVAL when it has none (what reads it). */
static rk_status packed_row(int64_t *out, const rk_session_graph *sg, int64_t b, int64_t t, const char *what) {
  *out = t >= 0 && t < sg->T ? sg->packed_of[b * sg->T + t] : -1;
  if (*out >= 0) return RK_OK;
  return rk_error(RK_EINVAL, "session %lld: %s position %lld, which holds no item (key 0) or lies outside [0, %lld): "
                  "a packed body computes the real rows only", (long long)b, what, (long long)t, (long long)sg->T);
}

rk_status rk_session_graph_pack(const rk_session_graph *sg, int64_t pad) {
  if (sg->packed) {
    pack_rows(sg);
    const int64_t *reads = rk_graph_input_ids_data(sg->g, sg->reads);
    int64_t *packed_reads = rk_graph_input_ids_data(sg->g, sg->packed_reads);
    for (int64_t i = 0; i < sg->B * sg->K; i++) {
      packed_reads[i] = -1;
      if (reads[i] >= 0) RK_TRY(packed_row(&packed_reads[i], sg, i / sg->K, reads[i], "a read at"));
    }
  }
  if (sg->labels == RK_NO_VALUE) return RK_OK;
  const int64_t *labels = rk_graph_input_ids_data(sg->g, sg->labels);
  int64_t *rows = rk_graph_input_ids_data(sg->g, sg->labelled), *packed = rk_graph_input_ids_data(sg->g, sg->packed_labels);
  int64_t *sessions = sg->labelled_sessions != RK_NO_VALUE ? rk_graph_input_ids_data(sg->g, sg->labelled_sessions) : NULL;
  int64_t n = 0;
  for (int64_t r = 0; r < sg->B * sg->T; r++)
    if (labels[r] != pad) {
      rows[n] = r;
      if (sg->packed) RK_TRY(packed_row(&rows[n], sg, r / sg->T, r % sg->T, "a label at"));
      if (sessions) sessions[n] = r / sg->T;
      packed[n++] = labels[r];
    }
  for (; n < sg->B * sg->T; n++) {
    rows[n] = -1, packed[n] = pad;
    if (sessions) sessions[n] = -1;
  }
  return RK_OK;
}

void rk_session_graph_free(rk_session_graph *sg) {
  rk_graph_free(sg->g);
  rk_free(sg->inputs);
  rk_free(sg->attention);
  rk_free(sg->packed_of);
  memset(sg, 0, sizeof *sg);
}
