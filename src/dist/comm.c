/*
 * The communicator (reckon/dist.h): the world from the environment, the collectives on top of
 * the byte transport (src/dist/comm_mpi.c), and the one place floats are added across ranks,
 * always in a fixed order. A single process (no launcher) is rank 0 of 1 and its collectives
 * are copies, so it runs the same code paths as rank 0 of many.
 * It is not: the transport (comm_mpi.c), nor the tree over a batch's pieces (pieces.c).
 */
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"

size_t rk_dist_type_size(rk_dist_type type) {
  switch (type) {
  case RK_DIST_BYTE: return 1;
  case RK_DIST_I32:
  case RK_DIST_F32: return 4;
  case RK_DIST_I64:
  case RK_DIST_F64: return 8;
  }
  return 1;
}

static bool env_count_above_one(const char *name) {
  const char *v = getenv(name);
  return v && atoi(v) > 1;
}

bool rk_dist_launched(void) {
  /* OpenMPI's mpirun; PMIx (srun --mpi=pmix, mpirun of other MPIs); PMI-1/2 (srun, MPICH) */
  return env_count_above_one("OMPI_COMM_WORLD_SIZE") || env_count_above_one("PMIX_SIZE") ||
         env_count_above_one("PMI_SIZE");
}

bool rk_dist_have_mpi(void) {
#ifdef RECKON_HAVE_MPI
  return true;
#else
  return false;
#endif
}

rk_status rk_dist_init(rk_dist **out, double timeout_seconds) {
  *out = NULL;
  rk_dist *d = rk_calloc(1, sizeof *d);
  if (!d) return RK_ENOMEM;
  d->size = 1;
  d->timeout = timeout_seconds;
  const char *env = getenv("RECKON_DIST_TIMEOUT");
  if (d->timeout <= 0 && env) {
    char *end;
    d->timeout = strtod(env, &end);
    if (end == env || *end || !(d->timeout > 0)) {
      rk_free(d);
      return rk_error(RK_EUSAGE, "RECKON_DIST_TIMEOUT='%s': expected seconds > 0", env);
    }
  }
  if (d->timeout <= 0) d->timeout = RK_DIST_TIMEOUT_DEFAULT;
  if (rk_dist_launched()) {
#ifdef RECKON_HAVE_MPI
    rk_status st = rk_dist_mpi_init(d);
    if (st != RK_OK) {
      rk_free(d);
      return st;
    }
#else
    rk_free(d);
    return rk_error(RK_EUNSUPPORTED, "started as one of several processes (mpirun or srun), but reckon was built "
                                     "without MPI: rebuild with libopenmpi-dev installed and -DRECKON_MPI=ON");
#endif
  }
  *out = d;
  return RK_OK;
}

void rk_dist_finalize(rk_dist *d) {
  if (!d) return;
#ifdef RECKON_HAVE_MPI
  if (d->mpi) rk_dist_mpi_finalize(d);
#endif
  rk_free(d);
}

void rk_dist_abort(rk_dist *d, int code) {
#ifdef RECKON_HAVE_MPI
  if (d && d->mpi) rk_dist_mpi_abort(code);
#endif
  (void)d;
  exit(code);
}

int rk_dist_rank(const rk_dist *d) { return d->rank; }
int rk_dist_size(const rk_dist *d) { return d->size; }
double rk_dist_timeout(const rk_dist *d) { return d->timeout; }
double rk_dist_set_timeout(rk_dist *d, double seconds) {
  double old = d->timeout;
  if (seconds > 0) d->timeout = seconds;
  return old;
}
rk_dist_stats rk_dist_stats_get(const rk_dist *d) { return d->stats; }
void rk_dist_stats_reset(rk_dist *d) { memset(&d->stats, 0, sizeof d->stats); }

/* count elements of `type` as bytes, checked. */
static rk_status bytes_of(int64_t *out, int64_t count, rk_dist_type type, const char *op) {
  return rk_size_mul(out, count, (int64_t)rk_dist_type_size(type), op);
}

/* counts (size) in elements -> bytes (size), and their total. */
static rk_status byte_counts(int64_t *bytes, int64_t *total, const int64_t *counts, int size, rk_dist_type type,
                             const char *op) {
  *total = 0;
  for (int r = 0; r < size; r++) {
    RK_TRY(bytes_of(&bytes[r], counts[r], type, op));
    RK_TRY(rk_size_add(total, *total, bytes[r], op));
  }
  return RK_OK;
}

rk_status rk_dist_barrier(rk_dist *d) {
  d->stats.calls++;
  if (d->size == 1) return RK_OK;
#ifdef RECKON_HAVE_MPI
  rk_dist_pending p = {0};
  RK_TRY(rk_dist_mpi_ibarrier(d, &p));
  return rk_dist_mpi_wait(d, &p);
#else
  return RK_EINTERNAL;
#endif
}

rk_status rk_dist_broadcast(rk_dist *d, void *buf, int64_t count, rk_dist_type type, int root) {
  d->stats.calls++;
  if (root < 0 || root >= d->size) return rk_error(RK_EINVAL, "broadcast from rank %d of %d", root, d->size);
  if (d->size == 1) return RK_OK;
  int64_t bytes;
  RK_TRY(bytes_of(&bytes, count, type, "broadcast"));
#ifdef RECKON_HAVE_MPI
  rk_dist_pending p = {0};
  RK_TRY(rk_dist_mpi_ibcast(d, &p, buf, bytes, root));
  return rk_dist_mpi_wait(d, &p);
#else
  (void)buf;
  return RK_EINTERNAL;
#endif
}

/* ---- requests: every collective that moves data is started, then waited for (or tested) ---- */

static rk_status request_new(rk_dist_request **out) {
  *out = rk_calloc(1, sizeof **out);
  return *out ? RK_OK : RK_ENOMEM;
}

static void request_free(rk_dist_request *r) {
  rk_free(r->gathered);
  rk_free(r);
}

/* Rank r's counts[r] elements to every rank (all) or to rank 0, in rank order. */
static rk_status gather_start(rk_dist *d, rk_dist_request **req, void *out, const void *in, const int64_t *counts,
                              rk_dist_type type, bool all) {
  *req = NULL;
  d->stats.calls++;
  int64_t *bytes = rk_malloc((size_t)d->size * sizeof *bytes), total;
  rk_dist_request *r = NULL;
  rk_status st = bytes ? request_new(&r) : RK_ENOMEM;
  if (st == RK_OK) st = byte_counts(bytes, &total, counts, d->size, type, all ? "allgatherv" : "gatherv");
  if (st == RK_OK && d->size == 1) {
    if (bytes[0]) memmove(out, in, (size_t)bytes[0]);
  } else if (st == RK_OK) {
#ifdef RECKON_HAVE_MPI
    st = all ? rk_dist_mpi_iallgatherv(d, &r->pending, out, in, bytes)
             : rk_dist_mpi_igatherv(d, &r->pending, out, in, bytes);
#else
    st = RK_EINTERNAL;
#endif
  }
  rk_free(bytes);
  if (st != RK_OK) {
    if (r) request_free(r);
    return st;
  }
  *req = r;
  return RK_OK;
}

rk_status rk_dist_allgatherv_start(rk_dist *d, rk_dist_request **req, void *out, const void *in, const int64_t *counts,
                                   rk_dist_type type) {
  return gather_start(d, req, out, in, counts, type, true);
}

rk_status rk_dist_allgatherv(rk_dist *d, void *out, const void *in, const int64_t *counts, rk_dist_type type) {
  rk_dist_request *r;
  RK_TRY(gather_start(d, &r, out, in, counts, type, true));
  return rk_dist_wait(d, &r);
}

rk_status rk_dist_allgather(rk_dist *d, void *out, const void *in, int64_t count, rk_dist_type type) {
  int64_t *counts = rk_malloc((size_t)d->size * sizeof *counts);
  if (!counts) return RK_ENOMEM;
  for (int r = 0; r < d->size; r++) counts[r] = count;
  rk_status st = rk_dist_allgatherv(d, out, in, counts, type);
  rk_free(counts);
  return st;
}

rk_status rk_dist_gatherv(rk_dist *d, void *out, const void *in, const int64_t *counts, rk_dist_type type) {
  rk_dist_request *r;
  RK_TRY(gather_start(d, &r, out, in, counts, type, false));
  return rk_dist_wait(d, &r);
}

rk_status rk_dist_alltoallv_start(rk_dist *d, rk_dist_request **req, void *recv, const int64_t *recv_counts,
                                  const void *send, const int64_t *send_counts, rk_dist_type type) {
  *req = NULL;
  d->stats.calls++;
  int n = d->size;
  int64_t *rb = rk_malloc(2 * (size_t)n * sizeof *rb), total;
  rk_dist_request *r = NULL;
  rk_status st = rb ? request_new(&r) : RK_ENOMEM;
  int64_t *sb = rb + n;
  if (st == RK_OK) st = byte_counts(rb, &total, recv_counts, n, type, "alltoallv");
  if (st == RK_OK) st = byte_counts(sb, &total, send_counts, n, type, "alltoallv");
  if (st == RK_OK && n == 1) {
    if (sb[0] != rb[0]) st = rk_error(RK_EINVAL, "alltoallv: %lld bytes sent to itself, %lld expected", (long long)sb[0],
                                      (long long)rb[0]);
    else if (sb[0]) memmove(recv, send, (size_t)sb[0]);
  } else if (st == RK_OK) {
#ifdef RECKON_HAVE_MPI
    st = rk_dist_mpi_ialltoallv(d, &r->pending, recv, rb, send, sb);
#else
    st = RK_EINTERNAL;
#endif
  }
  rk_free(rb);
  if (st != RK_OK) {
    if (r) request_free(r);
    return st;
  }
  *req = r;
  return RK_OK;
}

rk_status rk_dist_alltoallv(rk_dist *d, void *recv, const int64_t *recv_counts, const void *send,
                            const int64_t *send_counts, rk_dist_type type) {
  rk_dist_request *r;
  RK_TRY(rk_dist_alltoallv_start(d, &r, recv, recv_counts, send, send_counts, type));
  return rk_dist_wait(d, &r);
}

rk_status rk_dist_alltoall(rk_dist *d, void *recv, const void *send, int64_t count, rk_dist_type type) {
  int64_t *counts = rk_malloc((size_t)d->size * sizeof *counts);
  if (!counts) return RK_ENOMEM;
  for (int r = 0; r < d->size; r++) counts[r] = count;
  rk_status st = rk_dist_alltoallv(d, recv, counts, send, counts, type);
  rk_free(counts);
  return st;
}

/* ---- sums in rank order ---- */

/* out = g[0] + g[1] + ... + g[size-1], left to right, for each element. */
static void sum_in_rank_order(void *out, const void *gathered, int size, int64_t count, rk_dist_type type) {
  if (type == RK_DIST_F32) {
    float *o = out;
    const float *g = gathered;
    memcpy(o, g, (size_t)count * sizeof *o);
    for (int r = 1; r < size; r++)
      for (int64_t i = 0; i < count; i++) o[i] += g[(int64_t)r * count + i];
  } else if (type == RK_DIST_F64) {
    double *o = out;
    const double *g = gathered;
    memcpy(o, g, (size_t)count * sizeof *o);
    for (int r = 1; r < size; r++)
      for (int64_t i = 0; i < count; i++) o[i] += g[(int64_t)r * count + i];
  } else {
    int64_t *o = out;
    const int64_t *g = gathered;
    memcpy(o, g, (size_t)count * sizeof *o);
    for (int r = 1; r < size; r++)
      for (int64_t i = 0; i < count; i++) o[i] = (int64_t)((uint64_t)o[i] + (uint64_t)g[(int64_t)r * count + i]);
  }
}

rk_status rk_dist_allreduce_sum_start(rk_dist *d, rk_dist_request **req, void *buf, int64_t count,
                                      rk_dist_type type) {
  *req = NULL;
  d->stats.calls++;
  if (type != RK_DIST_F32 && type != RK_DIST_F64 && type != RK_DIST_I64)
    return rk_error(RK_EINVAL, "allreduce: sums are of f32, f64 or i64");
  int64_t bytes, all;
  RK_TRY(bytes_of(&bytes, count, type, "allreduce"));
  RK_TRY(rk_size_mul(&all, bytes, d->size, "allreduce"));
  rk_dist_request *r;
  RK_TRY(request_new(&r));
  r->buf = buf;
  r->count = count;
  r->type = type;
  if (d->size > 1) {
    /* Gathered whole, added in rank order at the wait: MPI_SUM's order is the algorithm's. */
    r->gathered = rk_malloc(all ? (size_t)all : 1);
    rk_status st = r->gathered ? RK_OK : RK_ENOMEM;
#ifdef RECKON_HAVE_MPI
    int64_t *per = rk_malloc((size_t)d->size * sizeof *per);
    if (st == RK_OK && !per) st = RK_ENOMEM;
    for (int k = 0; st == RK_OK && k < d->size; k++) per[k] = bytes;
    if (st == RK_OK) st = rk_dist_mpi_iallgatherv(d, &r->pending, r->gathered, buf, per);
    rk_free(per);
#else
    if (st == RK_OK) st = RK_EINTERNAL;
#endif
    if (st != RK_OK) {
      request_free(r);
      return st;
    }
  }
  *req = r;
  return RK_OK;
}

/* A completed request's last work (a sum's additions, in rank order) and its memory. */
static void request_finish(rk_dist *d, rk_dist_request *r) {
  if (r->gathered) sum_in_rank_order(r->buf, r->gathered, d->size, r->count, r->type);
  request_free(r);
}

rk_status rk_dist_test(rk_dist *d, rk_dist_request **req, bool *done) {
  *done = true;
  rk_dist_request *r = *req;
  if (!r) return RK_OK;
  if (d->size > 1) {
#ifdef RECKON_HAVE_MPI
    int finished = 0;
    rk_status st = rk_dist_mpi_test(d, &r->pending, &finished);
    if (st != RK_OK) {
      *req = NULL;
      request_free(r);
      return st;
    }
    *done = finished;
#else
    *done = false;
    return RK_EINTERNAL;
#endif
  }
  if (*done) {
    *req = NULL;
    request_finish(d, r);
  }
  return RK_OK;
}

rk_status rk_dist_wait(rk_dist *d, rk_dist_request **req) {
  rk_dist_request *r = *req;
  if (!r) return RK_OK;
  *req = NULL;
  rk_status st = RK_OK;
  if (d->size > 1) {
#ifdef RECKON_HAVE_MPI
    st = rk_dist_mpi_wait(d, &r->pending);
#else
    st = RK_EINTERNAL;
#endif
  }
  if (st == RK_OK) request_finish(d, r);
  else request_free(r);
  return st;
}

rk_status rk_dist_allreduce_sum(rk_dist *d, void *buf, int64_t count, rk_dist_type type) {
  rk_dist_request *r;
  RK_TRY(rk_dist_allreduce_sum_start(d, &r, buf, count, type));
  return rk_dist_wait(d, &r);
}

rk_status rk_dist_check_same(rk_dist *d, const void *data, size_t len, const char *what) {
  if (d->size == 1) return RK_OK;
  int64_t mine = (int64_t)rk_hash_bytes(data, len);
  int64_t *all = rk_malloc((size_t)d->size * sizeof *all);
  if (!all) return RK_ENOMEM;
  rk_status st = rk_dist_allgather(d, all, &mine, 1, RK_DIST_I64);
  for (int r = 1; st == RK_OK && r < d->size; r++)
    if (all[r] != all[0])
      st = rk_error(RK_EUSAGE, "the %s of rank %d differ from rank 0's: every rank must be started with the same %s",
                    what, r, what);
  rk_free(all);
  return st;
}
