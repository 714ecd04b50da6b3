/*
 * The body of the relative-position session models, xlnet and transfoxl, over the layer of
 * src/nn/blocks/rel_transformer.c, as Hugging Face's XLNetModel and TransfoXLModel run on the
 * reference's inputs_embeds:
 *
 *   h = dropout(x); per layer h = layer(h); out = dropout(h)
 *
 * No absolute positions: each layer scores relative distances. Attention:
 *   transfoxl        causal, after mem_len zero memory slots (HF's init_mems: a segment without a
 *                    past; every session is one segment, and batches hold unrelated sessions, so
 *                    no hidden state carries from one to the next)
 *   xlnet causal LM  causal (attn_type uni; the reference's bi would show a row its target)
 *   xlnet masked LM  both ways
 *   xlnet PLM        both ways, under the feed's permutation mask (`hidden`), in two streams: the
 *                    content stream h (sees itself) and the query stream g, which starts as the
 *                    mask_emb vector at every real row, sees only the content of the items before
 *                    it in the factorisation order, never itself; the output is g's (XLNet sec.
 *                    2.3; target_mapping is the identity, as Transformers4Rec's)
 * Padding keys are hidden unless key_padding_mask is off. Packed (session_graph.c's `packable`):
 * both streams hold the real rows (the input stage packs them, session_inputs.c; the query
 * stream's fill reads the keys at each row's original place, so every packed row starts as
 * mask_emb; with --rtd_use_batch_interaction gather_rows packs both here, after the fill on the
 * (B, T) rows) and every layer computes them only, rel_attention reading each row's
 * session and position from the row index, so distances, masks and dropout draws stay the
 * unpacked model's. Not the parameters (session_params.c) nor the masks (session_masking.c,
 * session_plm.c).
 */
#include "session_internal.h"

rk_status rk_session_relative_body(rk_session_graph *sg, const rk_session_params *p, const rk_session_config *c, int *x,
                                   bool attention_weights) {
  rk_graph *g = sg->g;
  const float drop = c->dropout;
  int h = *x, q = RK_NO_VALUE;
  if (c->plm) {
    RK_TRY(rk_graph_input_ids(g, &sg->hidden, "[hidden]", sg->T * sg->T));
    RK_TRY(rk_graph_mask_fill(g, &q, h, sg->keys, (rk_param *)&p->mask_emb));
    if (sg->packed && !sg->packed_inputs) RK_TRY(rk_graph_gather_rows(g, &q, q, sg->packed_rows));
    if (drop > 0.0f) RK_TRY(rk_graph_dropout(g, &q, q, drop, false));
  }
  if (sg->packed && !sg->packed_inputs) RK_TRY(rk_graph_gather_rows(g, &h, h, sg->packed_rows));
  if (drop > 0.0f) RK_TRY(rk_graph_dropout(g, &h, h, drop, false));
  const bool key_mask = c->key_padding_mask && !sg->packed;   /* packed: no padding */
  rk_rel_transformer_masks m = {.key_ids = key_mask ? sg->keys : RK_NO_VALUE, .padding = 0,
                                .hidden = c->plm ? sg->hidden : RK_NO_VALUE};
  for (int l = 0; l < c->n_layer; l++) {
    int *w = attention_weights ? &sg->attention[l] : NULL;
    RK_TRY(rk_graph_rel_transformer_block(g, &h, c->plm ? &q : NULL, w, h, q, &p->rel_blocks[l], &p->rel, &m));
  }
  int out = c->plm ? q : h;
  if (drop > 0.0f) RK_TRY(rk_graph_dropout(g, &out, out, drop, false));
  *x = out;
  return RK_OK;
}
