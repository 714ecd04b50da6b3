/*
 * A training run's sharded embedding tables (src/train/run_shards.c; docs/distributed.md,
 * "Sharded tables"): which tables the flags shard, made as the model is built, fetched once per
 * step for all of a rank's pieces, their gradients kept by the rows' owners; their rows fetched
 * for evaluation, predictions and the saved model; their checkpoint folders. Private to
 * src/train; the table itself is reckon/shard.h's.
 */
#ifndef RECKON_TRAIN_RUN_SHARDS_H
#define RECKON_TRAIN_RUN_SHARDS_H

#include "reckon/io.h"
#include "reckon/models.h"
#include "reckon/shard.h"

typedef struct run_shards run_shards;

/* The choice of --shard_tables `spec` (auto, none, all or names) and --shard_threshold_mb over
 * the ranks of d (NULL: one process, which shards nothing). */
rk_status run_shards_init(run_shards **out, const char *spec, double threshold_mb, rk_dist *d);
/* The model builder's hook (rk_ranking_config.placement): each embedding table is chosen as it
 * is made, and a chosen one gets this rank's rows, filled as the whole table would be. */
const rk_table_placement *run_shards_placement(run_shards *s);
/* Once m is built: the choice checked against every table made (a listed name that is none of
 * them, a listed table too small, as rk_shard_choose says), each sharded table found among m's
 * parameters, and the start-up line per table given to rk_info when `print`. */
rk_status run_shards_bind(run_shards *s, const rk_model *m, bool print);
/* How many tables are sharded (0 for NULL). */
int run_shards_count(const run_shards *s);
/* stand_ins (m->n_params): the shard's rows where parameter i is a sharded table, else NULL:
 * what the optimizer steps in the table's place. */
void run_shards_stand_ins(const run_shards *s, const rk_model *m, rk_param **stand_ins);
/* After a piece's inputs are filled: the ids its lookups of each sharded table read. */
rk_status run_shards_collect(run_shards *s, const rk_graph *g);
/* Every rank, once per step, after collecting its pieces: each table's collected ids fetched
 * from their owners (the graph's lookups then read them); the collection starts over. */
rk_status run_shards_fetch(run_shards *s);
/* After the step's gradient is summed (the same on every rank): each rank keeps its rows'. */
rk_status run_shards_take_grads(run_shards *s);
/* Checkpoints: every rank, with the checkpoint's stage (made by rk_shard_stage, so every rank
 * has its path): each sharded table's rows and optimizer slots into the folder
 * <stage>/<table> (reckon/shard.h). The same status on every rank. */
rk_status run_shards_save(run_shards *s, const char *stage, const rk_optim_set *opt);
/* Resuming from the checkpoint in `dir`, whose weights f (read from `path`) hold the rest: the
 * tables they name as held elsewhere (RK_HELD_ELSEWHERE) from <dir>/<table>, whatever ranks
 * saved them (this rank's rows of a table sharded now, the whole of one kept whole now), and
 * this rank's rows of a table sharded now that f holds whole; optimizer slots included. */
rk_status run_shards_load(const run_shards *s, const char *dir, const rk_model *m, const rk_safetensors *f,
                          const char *path, rk_optim_set *opt);
/* --load_model_path: this rank's rows of each sharded table from a saved model's weights (which
 * hold them whole; rk_model_read_weights read the rest). */
rk_status run_shards_read_model(const run_shards *s, const char *path);
/* Evaluation over the ranks (rk_eval_options.before_forward, ctx the run_shards), called by every
 * rank for every eval batch, in order: the rank scoring it with its filled graph (the rows its
 * lookups of each sharded table read are fetched), the others with g NULL (they only answer). */
rk_status run_shards_fetch_batch(void *ctx, const rk_graph *g);
/* While rank 0 writes its outputs: its predictions fetch each batch's rows of the sharded tables
 * (run_shards_ask), and its saved model streams each sharded table into
 * weights.safetensors (rk_row_cache.read_rows), a block of rows fetched from the owners at a
 * time, so no rank holds a whole table. The other ranks call run_shards_serve, which answers
 * those fetches until rank 0, done writing (whether or not it succeeded), calls
 * run_shards_serve_done. Nothing to do without sharded tables. */
rk_status run_shards_serve(run_shards *s);
/* Rank 0 predicting (rk_predict_options.before_forward, ctx the run_shards): the rows a filled
 * graph's lookups of each sharded table read, fetched from the owners while they serve. */
rk_status run_shards_ask(void *ctx, const rk_graph *g);
rk_status run_shards_serve_done(run_shards *s);
void run_shards_free(run_shards *s);

#endif
