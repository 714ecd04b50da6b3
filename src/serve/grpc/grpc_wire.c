/*
 * serve/grpc/grpc_wire.c: gRPC's length-prefixed messages, status names and grpc-message encoding
 * (contract in grpc_wire.h; reference: gRPC's "gRPC over HTTP2" protocol document), and the
 * grpc-timeout header's value.
 */
#include "serve/grpc/grpc_wire.h"

#include <stdio.h>
#include <string.h>

const char *rk_grpc_code_name(rk_grpc_code code) {
  switch (code) {
#define RK_GRPC_CODE_NAME(name, value) \
  case RK_GRPC_##name:                 \
    return #name;
    RK_GRPC_CODE_LIST(RK_GRPC_CODE_NAME)
#undef RK_GRPC_CODE_NAME
  }
  return "UNKNOWN";
}

int64_t rk_grpc_announced_length(const uint8_t *body, size_t size) {
  if (size < RK_GRPC_PREFIX_BYTES) return -1;
  return (int64_t)body[1] << 24 | (int64_t)body[2] << 16 | (int64_t)body[3] << 8 | (int64_t)body[4];
}

static void refuse(rk_grpc_unary *out, rk_grpc_code code, const char *fmt, ...) RK_PRINTF(3, 4);
static void refuse(rk_grpc_unary *out, rk_grpc_code code, const char *fmt, ...) {
  out->code = code;
  out->message = NULL;
  out->length = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out->reason, sizeof out->reason, fmt, ap);
  va_end(ap);
}

void rk_grpc_split_unary(rk_grpc_unary *out, const uint8_t *body, size_t size, int64_t max_message_bytes) {
  if (size == 0) {
    refuse(out, RK_GRPC_INVALID_ARGUMENT, "the request carries no message (a unary call sends exactly one)");
    return;
  }
  if (size < RK_GRPC_PREFIX_BYTES) {
    refuse(out, RK_GRPC_INVALID_ARGUMENT, "the request ends inside a message prefix (%zu of its 5 bytes)", size);
    return;
  }
  if (body[0] == 1) {
    refuse(out, RK_GRPC_UNIMPLEMENTED, "compressed messages are not supported: send them uncompressed (grpc-encoding identity)");
    return;
  }
  if (body[0] != 0) {
    refuse(out, RK_GRPC_INVALID_ARGUMENT, "bad compression flag %u in a message prefix (0 or 1)", (unsigned)body[0]);
    return;
  }
  int64_t length = rk_grpc_announced_length(body, size);
  if (length > max_message_bytes) {
    refuse(out, RK_GRPC_RESOURCE_EXHAUSTED, "request message of %lld bytes is over the limit of %lld",
           (long long)length, (long long)max_message_bytes);
    return;
  }
  size_t have = size - RK_GRPC_PREFIX_BYTES;
  if ((uint64_t)length > have) {
    refuse(out, RK_GRPC_INVALID_ARGUMENT, "the request ends inside its message: the prefix announces %lld bytes, %zu came",
           (long long)length, have);
    return;
  }
  if ((uint64_t)length < have) {
    refuse(out, RK_GRPC_UNIMPLEMENTED, "%zu bytes follow the request message: a unary call sends exactly one message",
           have - (size_t)length);
    return;
  }
  out->code = RK_GRPC_OK;
  out->message = body + RK_GRPC_PREFIX_BYTES;
  out->length = (size_t)length;
  out->reason[0] = '\0';
}

void rk_grpc_write_prefix(uint8_t prefix[RK_GRPC_PREFIX_BYTES], uint32_t length) {
  prefix[0] = 0;
  prefix[1] = (uint8_t)(length >> 24);
  prefix[2] = (uint8_t)(length >> 16);
  prefix[3] = (uint8_t)(length >> 8);
  prefix[4] = (uint8_t)length;
}

size_t rk_grpc_percent_encode(char *out, size_t cap, const char *text) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  if (cap == 0) return 0;
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    bool plain = *p >= 0x20 && *p <= 0x7e && *p != '%';
    size_t need = plain ? 1 : 3;
    if (n + need >= cap) break;
    if (plain) {
      out[n++] = (char)*p;
    } else {
      out[n++] = '%';
      out[n++] = hex[*p >> 4];
      out[n++] = hex[*p & 15];
    }
  }
  out[n] = '\0';
  return n;
}

int64_t rk_grpc_timeout_ms(const uint8_t *value, size_t len) {
  if (len < 2 || len > 9) return -1;
  int64_t n = 0;
  for (size_t i = 0; i + 1 < len; i++) {
    if (value[i] < '0' || value[i] > '9') return -1;
    n = n * 10 + (value[i] - '0');   /* at most 99,999,999: no overflow below */
  }
  switch (value[len - 1]) {
    case 'H': return n * 3600000;
    case 'M': return n * 60000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return (n + 999) / 1000;
    case 'n': return (n + 999999) / 1000000;
    default: return -1;
  }
}
