/*
 * The transport under reckon/dist.h on MPI (compiled with RECKON_HAVE_MPI only): the world
 * communicator with MPI_ERRORS_RETURN, byte collectives started non-blocking and polled against
 * the communicator's timeout, so a rank that died or hangs turns into an RK_EIO naming the
 * operation instead of a hang. It moves bytes and counts them; it never adds (comm.c does, in a
 * fixed order).
 * OpenMPI's mpirun kills the whole job when one rank exits without MPI_Finalize (a crash, a
 * SIGKILL) and says which; the timeout covers the ranks that stop answering without exiting.
 */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/dist_internal.h"

static rk_status mpi_error(int rc, const char *op) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "MPI error %d", rc);
  return rk_error(RK_EIO, "%s across ranks failed: %s", op, text);
}

rk_status rk_dist_mpi_init(rk_dist *d) {
  int provided = 0, inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    /* Funneled: OpenMP threads compute, only the calling thread talks. */
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_error(rc, "MPI_Init");
  }
  d->mpi = !inited;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d->size);
  return RK_OK;
}

void rk_dist_mpi_finalize(rk_dist *d) {
  (void)d;
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

void rk_dist_mpi_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  exit(code);   /* MPI_Abort does not return; the compiler does not know */
}

static rk_status as_int(int *out, int64_t v, const char *op) {
  if (v < 0 || v > INT_MAX)
    return rk_error(RK_ERANGE, "%s: %lld bytes in one message, MPI's limit is %d", op, (long long)v, INT_MAX);
  *out = (int)v;
  return RK_OK;
}

/* Room for the request and `n_arrays` int arrays of the world's size. */
static rk_status pending_open(rk_dist *d, rk_dist_pending *p, int n_arrays, const char *op) {
  memset(p, 0, sizeof *p);
  p->op = op;
  p->mpi_request = rk_malloc(sizeof(MPI_Request));
  if (!p->mpi_request) return RK_ENOMEM;
  if (n_arrays && !(p->arrays = rk_malloc((size_t)n_arrays * (size_t)d->size * sizeof(int)))) {
    rk_free(p->mpi_request);
    p->mpi_request = NULL;
    return RK_ENOMEM;
  }
  return RK_OK;
}

static void pending_close(rk_dist_pending *p) {
  rk_free(p->mpi_request);
  rk_free(p->arrays);
  p->mpi_request = NULL;
  p->arrays = NULL;
}

static rk_status started(rk_dist_pending *p, int rc) {
  if (rc == MPI_SUCCESS) return RK_OK;
  pending_close(p);
  return mpi_error(rc, p->op);
}

/* counts (bytes) -> the int counts and displacements MPI wants, both in p->arrays + off. */
static rk_status counts_and_displs(rk_dist *d, int *counts, int *displs, const int64_t *bytes, const char *op) {
  int64_t at = 0;
  for (int r = 0; r < d->size; r++) {
    RK_TRY(as_int(&counts[r], bytes[r], op));
    RK_TRY(as_int(&displs[r], at, op));
    at += bytes[r];
  }
  return as_int(&(int){0}, at, op);
}

rk_status rk_dist_mpi_ibarrier(rk_dist *d, rk_dist_pending *p) {
  RK_TRY(pending_open(d, p, 0, "barrier"));
  return started(p, MPI_Ibarrier(MPI_COMM_WORLD, p->mpi_request));
}

rk_status rk_dist_mpi_ibcast(rk_dist *d, rk_dist_pending *p, void *buf, int64_t bytes, int root) {
  int n = 0;
  RK_TRY(as_int(&n, bytes, "broadcast"));
  RK_TRY(pending_open(d, p, 0, "broadcast"));
  if (d->rank == root) d->stats.bytes_sent += bytes * (d->size - 1);
  return started(p, MPI_Ibcast(buf, n, MPI_BYTE, root, MPI_COMM_WORLD, p->mpi_request));
}

rk_status rk_dist_mpi_iallgatherv(rk_dist *d, rk_dist_pending *p, void *out, const void *in, const int64_t *bytes) {
  RK_TRY(pending_open(d, p, 2, "allgatherv"));
  int *counts = p->arrays, *displs = p->arrays + d->size;
  rk_status st = counts_and_displs(d, counts, displs, bytes, "allgatherv");
  if (st != RK_OK) {
    pending_close(p);
    return st;
  }
  d->stats.bytes_sent += bytes[d->rank] * (d->size - 1);
  return started(p, MPI_Iallgatherv(in, counts[d->rank], MPI_BYTE, out, counts, displs, MPI_BYTE, MPI_COMM_WORLD,
                                    p->mpi_request));
}

rk_status rk_dist_mpi_igatherv(rk_dist *d, rk_dist_pending *p, void *out, const void *in, const int64_t *bytes) {
  RK_TRY(pending_open(d, p, 2, "gatherv"));
  int *counts = p->arrays, *displs = p->arrays + d->size;
  rk_status st = counts_and_displs(d, counts, displs, bytes, "gatherv");
  if (st != RK_OK) {
    pending_close(p);
    return st;
  }
  if (d->rank != 0) d->stats.bytes_sent += bytes[d->rank];
  return started(p, MPI_Igatherv(in, counts[d->rank], MPI_BYTE, out, counts, displs, MPI_BYTE, 0, MPI_COMM_WORLD,
                                 p->mpi_request));
}

rk_status rk_dist_mpi_ialltoallv(rk_dist *d, rk_dist_pending *p, void *recv, const int64_t *recv_bytes,
                                 const void *send, const int64_t *send_bytes) {
  RK_TRY(pending_open(d, p, 4, "alltoallv"));
  int n = d->size, *sc = p->arrays, *sd = sc + n, *rc = sd + n, *rd = rc + n;
  rk_status st = counts_and_displs(d, sc, sd, send_bytes, "alltoallv");
  if (st == RK_OK) st = counts_and_displs(d, rc, rd, recv_bytes, "alltoallv");
  if (st != RK_OK) {
    pending_close(p);
    return st;
  }
  for (int r = 0; r < n; r++)
    if (r != d->rank) d->stats.bytes_sent += send_bytes[r];
  return started(p, MPI_Ialltoallv(send, sc, sd, MPI_BYTE, recv, rc, rd, MPI_BYTE, MPI_COMM_WORLD, p->mpi_request));
}

rk_status rk_dist_mpi_test(rk_dist *d, rk_dist_pending *p, int *done) {
  (void)d;
  *done = 0;
  int rc = MPI_Test(p->mpi_request, done, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS || *done) pending_close(p);
  return rc == MPI_SUCCESS ? RK_OK : mpi_error(rc, p->op);
}

/* Polls the request until it completes or the timeout passes: spinning first (a step's
 * collectives usually finish within microseconds of the last rank's arrival), then sleeping
 * up to a millisecond between polls so a long wait does not hold a core. */
rk_status rk_dist_mpi_wait(rk_dist *d, rk_dist_pending *p) {
  double start = rk_now(), deadline = start + d->timeout;
  int done = 0;
  for (long polls = 0;; polls++) {
    int rc = MPI_Test(p->mpi_request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      pending_close(p);
      return mpi_error(rc, p->op);
    }
    if (done) break;
    if (rk_now() > deadline) {
      d->stats.wait_seconds += rk_now() - start;
      /* The request may still write into the caller's buffers: it is left to MPI_Abort. */
      return rk_error(RK_EIO,
                      "%s: no answer from the other ranks within %.0f s (a rank died or hangs; RECKON_DIST_TIMEOUT "
                      "sets the limit in seconds)",
                      p->op, d->timeout);
    }
    if (polls > 1000) {
      long us = polls < 2000 ? 20 : 1000;
      struct timespec ts = {0, us * 1000};
      nanosleep(&ts, NULL);
    }
  }
  d->stats.wait_seconds += rk_now() - start;
  pending_close(p);
  return RK_OK;
}
