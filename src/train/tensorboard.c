/*
 * TensorBoard event files written by hand: TFRecord records (length, masked CRC32C of the
 * length, payload, masked CRC32C of the payload; all little-endian) holding Event protocol
 * buffers (tensorflow/core/util/event.proto: wall_time = 1 (double), step = 2 (int64),
 * file_version = 3 (string), summary = 5) with Summary.value = 1 {tag = 1, simple_value = 2}.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reckon/train.h"

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static bool crc_ready;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
  crc_ready = true;
}

uint32_t rk_crc32c(const void *data, size_t len, uint32_t crc) {
  if (!crc_ready) crc_init();   /* idempotent: a race writes the same values */
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < len; i++) crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

uint32_t rk_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* ---- protocol buffer bytes ---- */

typedef struct {
  uint8_t b[512];
  size_t n;
} pbuf;

static void put_varint(pbuf *p, uint64_t v) {
  while (v >= 0x80 && p->n < sizeof p->b) {
    p->b[p->n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  if (p->n < sizeof p->b) p->b[p->n++] = (uint8_t)v;
}

static void put_fixed(pbuf *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes && p->n < sizeof p->b; i++) p->b[p->n++] = (uint8_t)(v >> (8 * i));
}

static void put_bytes(pbuf *p, int field, const void *data, size_t len) {
  put_varint(p, (uint64_t)field << 3 | 2);
  put_varint(p, len);
  if (p->n + len <= sizeof p->b) memcpy(p->b + p->n, data, len);
  p->n += len;
}

static void put_header(pbuf *p, double wall_time, int64_t step) {
  uint64_t bits;
  memcpy(&bits, &wall_time, 8);
  put_varint(p, 1 << 3 | 1);
  put_fixed(p, bits, 8);
  put_varint(p, 2 << 3 | 0);
  put_varint(p, (uint64_t)step);
}

/* ---- the writer ---- */

struct rk_tb_writer {
  FILE *f;
  char *path;
};

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static rk_status write_record(rk_tb_writer *w, const pbuf *event) {
  if (event->n > sizeof event->b) return rk_error(RK_EINVAL, "tensorboard: an event is too large (a tag of %zu bytes?)", event->n);
  uint8_t head[12];
  uint64_t len = event->n;
  for (int i = 0; i < 8; i++) head[i] = (uint8_t)(len >> (8 * i));
  uint32_t c = rk_crc32c_mask(rk_crc32c(head, 8, 0)), d = rk_crc32c_mask(rk_crc32c(event->b, event->n, 0));
  for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(c >> (8 * i));
  uint8_t tail[4];
  for (int i = 0; i < 4; i++) tail[i] = (uint8_t)(d >> (8 * i));
  if (fwrite(head, 1, 12, w->f) != 12 || fwrite(event->b, 1, event->n, w->f) != event->n || fwrite(tail, 1, 4, w->f) != 4)
    return rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
  return RK_OK;
}

rk_status rk_tb_open(rk_tb_writer **out, const char *dir) {
  *out = NULL;
  RK_TRY(rk_mkdir_p(dir));
  char host[128] = "localhost";
  gethostname(host, sizeof host - 1);
  size_t n = strlen(dir) + strlen(host) + 64;
  rk_tb_writer *w = rk_calloc(1, sizeof *w);
  if (!w || !(w->path = rk_malloc(n))) {
    rk_free(w);
    return RK_ENOMEM;
  }
  snprintf(w->path, n, "%s/events.out.tfevents.%lld.%s", dir, (long long)time(NULL), host);
  if (!(w->f = fopen(w->path, "wb"))) {
    rk_status st = rk_error(RK_EIO, "cannot create '%s': %s", w->path, strerror(errno));
    rk_free(w->path);
    rk_free(w);
    return st;
  }
  pbuf e = {.n = 0};
  put_header(&e, wall_now(), 0);
  put_bytes(&e, 3, "brain.Event:2", 13);
  rk_status st = write_record(w, &e);
  if (st != RK_OK) {
    rk_tb_close(w);
    return st;
  }
  *out = w;
  return RK_OK;
}

rk_status rk_tb_scalar(rk_tb_writer *w, const char *tag, int64_t step, float value) {
  pbuf v = {.n = 0}, s = {.n = 0}, e = {.n = 0};
  put_bytes(&v, 1, tag, strlen(tag));
  uint32_t bits;
  memcpy(&bits, &value, 4);
  put_varint(&v, 2 << 3 | 5);
  put_fixed(&v, bits, 4);
  put_bytes(&s, 1, v.b, v.n);
  put_header(&e, wall_now(), step);
  put_bytes(&e, 5, s.b, s.n);
  if (v.n > sizeof v.b || s.n > sizeof s.b) return rk_error(RK_EINVAL, "tensorboard: tag '%.40s...' is too long", tag);
  return write_record(w, &e);
}

rk_status rk_tb_flush(rk_tb_writer *w) {
  return fflush(w->f) == 0 ? RK_OK : rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
}

const char *rk_tb_path(const rk_tb_writer *w) { return w->path; }

rk_status rk_tb_close(rk_tb_writer *w) {
  if (!w) return RK_OK;
  rk_status st = fclose(w->f) == 0 ? RK_OK : rk_error(RK_EIO, "cannot write '%s': %s", w->path, strerror(errno));
  rk_free(w->path);
  rk_free(w);
  return st;
}
