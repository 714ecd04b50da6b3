/*
 * reckon/dist.h: the communication layer every multi-process part of reckon stands on
 * (data-parallel training, preprocessing split over ranks, the benchmarks).
 *
 * One communicator, rk_dist, is the world of processes that mpirun (or srun) started: rank
 * 0..size-1. A process started without a launcher is rank 0 of 1, and every collective is then
 * a local copy, so callers never branch on "is this distributed". With MPI compiled in
 * (RECKON_HAVE_MPI, src/dist/comm_mpi.c) the collectives are OpenMPI's, non-blocking underneath
 * and polled against a deadline; without it a launched process is refused with a message saying
 * reckon was built without MPI.
 *
 * Determinism: floating-point sums never use MPI_SUM (whose order depends on the algorithm and
 * the number of ranks). rk_dist_allreduce_sum adds the ranks' contributions in rank order, the
 * same bits on every rank; rk_dist_tree_sum_f32 completes a pairwise tree over the pieces of a
 * global batch (below), the same bits for any number of ranks, one included.
 *
 * Failure: every collective waits at most the communicator's timeout; a rank that died or hangs
 * makes the others return RK_EIO naming the operation and the timeout, and the command line
 * then calls rk_dist_abort so the whole job stops (OpenMPI's mpirun also kills the job when a
 * rank exits without finalizing). Mismatched flags are found at start-up by rk_dist_check_same.
 *
 * It is not: a general MPI wrapper (no communicators besides the world, no tags, no
 * point-to-point), nor a transport of its own.
 */
#ifndef RECKON_DIST_H
#define RECKON_DIST_H

#include "reckon/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rk_dist rk_dist;

/* The element types collectives move; sums are defined for F32, F64 and I64. */
typedef enum { RK_DIST_BYTE, RK_DIST_I32, RK_DIST_I64, RK_DIST_F32, RK_DIST_F64 } rk_dist_type;
size_t rk_dist_type_size(rk_dist_type type);

/* What the communicator counted since rk_dist_init (or the last rk_dist_stats_reset): bytes
 * this rank handed to the network (a broadcast's root counts its buffer once per receiver; an
 * allgather counts its part once per other rank), seconds spent waiting inside collectives
 * (the time communication did not overlap with work), and collectives called. */
typedef struct {
  int64_t bytes_sent;
  double wait_seconds;
  int64_t calls;
} rk_dist_stats;

#define RK_DIST_TIMEOUT_DEFAULT 300.0   /* seconds; RECKON_DIST_TIMEOUT in the environment overrides */

/* True when the environment says a launcher started this process as one of several
 * (OMPI_COMM_WORLD_SIZE, PMIX_RANK with PMI_SIZE, PMI_SIZE > 1), whether or not MPI is compiled in. */
bool rk_dist_launched(void);
/* True when reckon was built with MPI. */
bool rk_dist_have_mpi(void);

/* The world: MPI_Init_thread (funneled) when launched, else rank 0 of 1. Launched without MPI
 * compiled in is RK_EUNSUPPORTED ("reckon was built without MPI"). timeout_seconds <= 0 takes
 * RECKON_DIST_TIMEOUT or RK_DIST_TIMEOUT_DEFAULT. Once per process; rk_dist_finalize ends it. */
rk_status rk_dist_init(rk_dist **out, double timeout_seconds);
/* MPI_Finalize (when initialised) and free; NULL is a no-op. */
void rk_dist_finalize(rk_dist *d);
/* Stop every rank now (MPI_Abort with `code`; exit(code) for a single process). For the
 * command line after a collective failed: the other ranks may be blocked in one. */
RK_NORETURN void rk_dist_abort(rk_dist *d, int code);

int rk_dist_rank(const rk_dist *d);
int rk_dist_size(const rk_dist *d);
double rk_dist_timeout(const rk_dist *d);
/* Sets the timeout (seconds > 0) and returns the previous one: for a wait known to be long, such
 * as ranks waiting while rank 0 alone evaluates. */
double rk_dist_set_timeout(rk_dist *d, double seconds);
rk_dist_stats rk_dist_stats_get(const rk_dist *d);
void rk_dist_stats_reset(rk_dist *d);

/* ---- collectives: every rank calls them in the same order with the same sizes ---- */

rk_status rk_dist_barrier(rk_dist *d);
/* buf (count elements) from `root` to every rank. */
rk_status rk_dist_broadcast(rk_dist *d, void *buf, int64_t count, rk_dist_type type, int root);
/* buf (count elements) = the sum over ranks, added in rank order (((x0 + x1) + x2) ...), the
 * same bits on every rank. F32, F64, I64 only. */
rk_status rk_dist_allreduce_sum(rk_dist *d, void *buf, int64_t count, rk_dist_type type);
/* out (size * count) = every rank's `in` (count elements), rank 0's first. */
rk_status rk_dist_allgather(rk_dist *d, void *out, const void *in, int64_t count, rk_dist_type type);
/* out = every rank's `in`, rank 0's first; counts[r] (size) is rank r's element count, given by
 * the caller on every rank (rk_dist_allgather of the counts first when it is not known). */
rk_status rk_dist_allgatherv(rk_dist *d, void *out, const void *in, const int64_t *counts, rk_dist_type type);
/* rank 0's out = every rank's `in`, rank 0's first; other ranks' out is untouched (may be NULL). */
rk_status rk_dist_gatherv(rk_dist *d, void *out, const void *in, const int64_t *counts, rk_dist_type type);
/* send: size blocks, block r (send_counts[r] elements) for rank r, in rank order; recv: size
 * blocks, block r (recv_counts[r]) from rank r. rk_dist_alltoall of the counts gives recv_counts. */
rk_status rk_dist_alltoallv(rk_dist *d, void *recv, const int64_t *recv_counts, const void *send,
                            const int64_t *send_counts, rk_dist_type type);
/* The fixed-size case: `count` elements to and from each rank. */
rk_status rk_dist_alltoall(rk_dist *d, void *recv, const void *send, int64_t count, rk_dist_type type);

/* Non-blocking forms, for overlapping communication with compute: start one, keep working
 * (without touching its buffers), then wait for it, or test it until it is done. The result is
 * the same bits as the blocking call's (a sum is added at completion, in rank order). Every
 * started request is waited for or tested to completion, by every rank, in the same order of
 * starts. One process: the work is done at the start and the request is complete. */
typedef struct rk_dist_request rk_dist_request;
rk_status rk_dist_allreduce_sum_start(rk_dist *d, rk_dist_request **req, void *buf, int64_t count,
                                      rk_dist_type type);
rk_status rk_dist_allgatherv_start(rk_dist *d, rk_dist_request **req, void *out, const void *in, const int64_t *counts,
                                   rk_dist_type type);
rk_status rk_dist_alltoallv_start(rk_dist *d, rk_dist_request **req, void *recv, const int64_t *recv_counts,
                                  const void *send, const int64_t *send_counts, rk_dist_type type);
/* Completes and frees *req (sets it to NULL); the time blocked here is wait time. NULL: done. */
rk_status rk_dist_wait(rk_dist *d, rk_dist_request **req);
/* Without blocking: *done says whether *req completed (then it is freed and set to NULL, as by
 * rk_dist_wait). With OpenMPI a non-blocking collective moves only inside MPI calls, so work
 * that overlaps one tests it now and then. Not wait time. NULL: done. */
rk_status rk_dist_test(rk_dist *d, rk_dist_request **req, bool *done);

/* Start-up check that every rank runs the same thing: the hash of `data` (argv, a config) is
 * compared across ranks; a difference is RK_EUSAGE naming `what` and the first rank that differs
 * from rank 0 ("the flags of rank 1 differ from rank 0's: every rank must get the same
 * command line"). */
rk_status rk_dist_check_same(rk_dist *d, const void *data, size_t len, const char *what);

/* ---------------------------------------------------------------------------------------------
 * Pieces of a global batch. A global batch of P pieces (fixed-size micro-blocks of rows, P fixed
 * by the problem, never by the number of ranks) is split into contiguous blocks, one per rank.
 * A sum over pieces is the pairwise tree whose node [l, r) adds node [l, m) and node [m, r),
 * m = l + (r - l) / 2, leaves being single pieces. Each rank sums the tree nodes its block
 * covers whole (one node when the ranks are a power of two dividing P, a few otherwise); the
 * nodes of all ranks are gathered and the tree completed, in the same order on every rank, so
 * the sum has the bits of the single-process sum over the same P pieces.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
  int64_t begin, end;   /* pieces [begin, end) */
} rk_dist_node;

/* Where node [begin, end) (end - begin >= 2) splits: begin + (end - begin) / 2. Whoever sums
 * pieces locally walks the tree with it, so local and gathered sums agree. */
int64_t rk_dist_tree_mid(int64_t begin, int64_t end);
/* Levels of the tree over P pieces (1 for one piece): the scratch buffers a walk needs. */
int rk_dist_tree_depth(int64_t P);
/* Rank `rank` of `size`'s block of P pieces: [*first, *first + *count), balanced (the first
 * P % size ranks get one more); a rank may get none when size > P. */
void rk_dist_piece_block(int64_t P, int rank, int size, int64_t *first, int64_t *count);
/* The tree nodes that cover pieces [first, first + count) whole, maximal, left to right; at
 * most `max` written, the total returned (2 log2 P + 2 is always enough). */
int rk_dist_tree_cover(int64_t P, int64_t first, int64_t count, rk_dist_node *nodes, int max);
/* out (n) = the tree sum over all P pieces, from this rank's node sums `mine` (n_mine x n,
 * the nodes of rk_dist_tree_cover of this rank's block, in that order). Every rank gets the
 * same bits; one rank of one gives back its single node. P >= 1. */
rk_status rk_dist_tree_sum_f32(rk_dist *d, float *out, const float *mine, int n_mine, int64_t n, int64_t P);

#ifdef __cplusplus
}
#endif
#endif
