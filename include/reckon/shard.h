/*
 * reckon/shard.h: an embedding table sharded by rows over the ranks of a job, so that a table
 * larger than one machine's memory can train (src/train/shard_table.c; docs/distributed.md,
 * "Sharded tables"). HugeCTR's distributed embedding and TorchRec's row-wise sharding do the
 * same: ids go to the rows' owners and the looked-up vectors come back, both by all-to-all.
 *
 * Ownership: table row g lives on rank g mod R, at local row g / R. Interleaved rather than in
 * contiguous blocks because vocabularies are ordered by frequency (NVTabular's Categorify gives
 * the most frequent value the smallest id): blocks would put every hot row on rank 0, rows mod R
 * spread them evenly. A rank allocates only its rows (about V / R of them), their optimizer
 * slots and the rows its pieces fetched for the step; never the whole table.
 *
 * A step: rk_shard_fetch with the ids this rank's pieces look up (ids to owners, rows back);
 * the lookups read rk_shard_cached_row; the step's summed gradient over the touched rows goes to
 * the owners, which keep theirs (rk_shard_take_grad) and step their rows with an optimizer
 * registered on `rows`, so Adam's, Adagrad's and FTRL's slots live with the rows. The values,
 * the update and so the bits are those of the whole table in one process.
 *
 * Checkpoints: every rank writes its rows and slots to a file of its own in one folder
 * (atomically, then rank 0 writes the folder's manifest last); any number of ranks loads the
 * folder, each reading from every file only the rows it owns now (resharding).
 *
 * It is not: the graph's lookup (rk_param_init_sparse_fetched reads the fetched rows), nor the
 * sum of the pieces' gradients (src/train/step_pieces.c).
 */
#ifndef RECKON_SHARD_H
#define RECKON_SHARD_H

#include "reckon/dist.h"
#include "reckon/nn.h"
#include "reckon/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The rank that owns table row `row` of a table over `size` ranks, and its index there. */
int rk_shard_owner(int64_t row, int size);
int64_t rk_shard_local_row(int64_t row, int size);
/* How many of a V-row table's rows rank `rank` of `size` owns: ceil((V - rank) / size). */
int64_t rk_shard_local_rows(int64_t V, int rank, int size);

/* The routing of one exchange (pure, so it is unit-tested alone): ids (n, ascending, unique) to
 * their owners. send (n) = the ids grouped by owner, rank 0's first, ascending within a group;
 * counts (size) = the group sizes; from (n) = the position in ids of each send entry. */
void rk_shard_route(int64_t *send, int64_t *counts, int64_t *from, const int64_t *ids, int64_t n, int size);
/* Sorts ids (n) ascending and drops repeats; returns how many are left. */
int64_t rk_shard_unique(int64_t *ids, int64_t n);

/* Which of n tables (names, V x D floats each) to shard over `ranks`, as the flags say:
 * spec "auto" shards those of threshold_mb MiB or more (V x D x 4 bytes), "none" none, "all"
 * all, and a comma-separated list of names those tables. One rank shards nothing. A listed name
 * that is no table, or a listed table with fewer rows than ranks, is RK_EUSAGE naming it ("all"
 * and "auto" keep such small tables whole). out (n) gets the choices; on error it is untouched. */
rk_status rk_shard_choose(bool *out, const char *spec, double threshold_mb, const char *const *names, const int64_t *V,
                          const int64_t *D, int n, int ranks);
/* The start-up line for one table's choice, e.g. "table 'item_id' (1000000 x 64, 244.1 MiB):
 * sharded over 4 ranks" or "...: whole on every rank". */
void rk_shard_describe(char *buf, size_t cap, const char *name, int64_t V, int64_t D, bool sharded, int ranks);

typedef struct {
  int64_t V, D;            /* the whole table's shape */
  int rank, size;          /* this rank of the job's `size` */
  rk_param rows;           /* (rk_shard_local_rows, D), sparse: this rank's rows, local row l being
                              table row l * size + rank; its gradient rows are local rows */
  int64_t n_cached;        /* the last fetch: */
  int64_t *cached_ids;     /* (n_cached) ascending unique table rows */
  float *cached;           /* (n_cached, D) their values */
  int64_t ids_cap;         /* room in cached_ids (the lookups before repeats are dropped) */
  int64_t rows_cap;        /* rows of room in cached */
  rk_row_cache fetched;    /* the last fetch, as a graph's lookups read it: a table parameter made
                              by rk_param_init_sparse_fetched(..., &t->fetched) */
} rk_shard_table;

/* Rank `rank` of `size`'s rows of a (V, D) table named `name`, zeros (V >= size). The
 * collectives below then take the job's rk_dist of that size (NULL when size is 1). On failure
 * nothing is left allocated. */
rk_status rk_shard_table_init(rk_shard_table *t, const char *name, int64_t V, int64_t D, int rank, int size);
/* The values rk_param_fill_uniform gives the whole table, on this rank's rows. */
void rk_shard_table_fill_uniform(rk_shard_table *t, uint64_t seed, uint64_t stream, float lo, float hi);
void rk_shard_table_free(rk_shard_table *t);

/* Every rank calls it once per step, with the ids its pieces look up (n, any order, repeats
 * allowed; n may be 0): they go to their owners, which send the rows back. Afterwards the cache
 * holds the unique ids and their rows. An id outside [0, V) is RK_ERANGE on its rank naming the
 * table and the id, and on every other rank naming the rank (all return, none waits). */
rk_status rk_shard_fetch(rk_shard_table *t, rk_dist *d, const int64_t *ids, int64_t n);
/* The cached row of table row `id`, NULL when the last fetch did not bring it. */
const float *rk_shard_cached_row(const rk_shard_table *t, int64_t id);

/* The step's gradient over the touched table rows (n, ascending; grad (n, D)), the same on every
 * rank: the owner's share becomes `rows`' sparse gradient (local rows, ascending), the rest is
 * dropped. No communication. */
rk_status rk_shard_take_grad(rk_shard_table *t, const int64_t *rows, const float *grad, int64_t n);

/* Checkpoints: a folder per sharded table, written by every rank and published whole.
 * rk_shard_stage: rank 0 makes a temporary folder beside `dir` and every rank gets its path
 * (*stage, freed by the caller). rk_shard_table_save: every rank writes its rows (as "rows") and,
 * when opt is not NULL, the slots of its parameter `param` ("slot:<slot name>") to
 * <stage>/shard-<rank>-of-<size>.safetensors; once all are written rank 0 adds
 * <stage>/shards.json, which names the shape, the ranks and the slots. rk_shard_publish: rank 0
 * moves the stage to `dir`, replacing the last save. Each returns the same status on every rank
 * (a failure on one is an error on all), so none waits for a rank that gave up. The folder must
 * be on a file system every rank sees. */
rk_status rk_shard_stage(rk_dist *d, const char *dir, char **stage);
rk_status rk_shard_table_save(const rk_shard_table *t, rk_dist *d, const char *stage, const rk_optim *opt, int param);
rk_status rk_shard_publish(rk_dist *d, const char *stage, const char *dir);
/* Reads a folder saved by any number of ranks into this rank's rows (and the slots of the
 * optimizer's parameter `param` when opt is not NULL): each rank's file in turn, keeping the
 * rows this rank owns now (resharding); one old rank's rows are in memory at a time. A missing
 * manifest or file, another shape or other slots are errors naming the file. */
rk_status rk_shard_table_load(rk_shard_table *t, const char *dir, rk_optim *opt, int param);

#ifdef __cplusplus
}
#endif
#endif
