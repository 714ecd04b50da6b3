/*
 * The communicator's insides, shared by src/dist/comm.c (the public API, the single process, the
 * fixed-order sums) and src/dist/comm_mpi.c (the transport, compiled with RECKON_HAVE_MPI only).
 * The transport moves bytes; it never adds floats, so every sum's order is decided in comm.c.
 */
#ifndef RECKON_DIST_INTERNAL_H
#define RECKON_DIST_INTERNAL_H

#include "reckon/dist.h"

struct rk_dist {
  int rank, size;
  double timeout;        /* seconds a collective may wait */
  bool mpi;              /* MPI_Init was called (so MPI_Finalize is due) */
  rk_dist_stats stats;
};

/* One transfer in flight (an MPI request), or nothing for a single process. */
typedef struct {
  void *mpi_request;     /* MPI_Request *, owned */
  int *arrays;           /* the counts and displacements MPI reads until completion, owned */
  const char *op;        /* for messages: "allgather" */
} rk_dist_pending;

/* A started collective (reckon/dist.h's *_start): its transfer, and for a sum what is added
 * when it completes. */
struct rk_dist_request {
  rk_dist_pending pending;
  void *buf;             /* a sum's: the caller's, gets the sum */
  void *gathered;        /* a sum's: size x count, owned; NULL for a collective that only moves */
  int64_t count;
  rk_dist_type type;
};

#ifdef RECKON_HAVE_MPI
rk_status rk_dist_mpi_init(rk_dist *d);
void rk_dist_mpi_finalize(rk_dist *d);
RK_NORETURN void rk_dist_mpi_abort(int code);
/* The byte-moving collectives, started; rk_dist_mpi_wait polls them against the timeout. Counts
 * and displacements are in bytes. */
rk_status rk_dist_mpi_ibcast(rk_dist *d, rk_dist_pending *p, void *buf, int64_t bytes, int root);
rk_status rk_dist_mpi_iallgatherv(rk_dist *d, rk_dist_pending *p, void *out, const void *in, const int64_t *bytes);
rk_status rk_dist_mpi_igatherv(rk_dist *d, rk_dist_pending *p, void *out, const void *in, const int64_t *bytes);
rk_status rk_dist_mpi_ialltoallv(rk_dist *d, rk_dist_pending *p, void *recv, const int64_t *recv_bytes,
                                 const void *send, const int64_t *send_bytes);
rk_status rk_dist_mpi_ibarrier(rk_dist *d, rk_dist_pending *p);
rk_status rk_dist_mpi_wait(rk_dist *d, rk_dist_pending *p);
/* Whether it completed, without blocking (MPI progresses inside the call); closed when done. */
rk_status rk_dist_mpi_test(rk_dist *d, rk_dist_pending *p, int *done);
#endif

#endif
