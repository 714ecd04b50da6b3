/*
 * serve/grpc/grpc_wire.h: gRPC's framing over HTTP/2 and its status codes, without sockets.
 *
 * A gRPC message on a stream is a 5-byte prefix (a compression flag byte, then the length as
 * 4 bytes big-endian) and the message (gRPC over HTTP/2, "Length-Prefixed-Message"). A unary call
 * carries exactly one message each way; the answer ends with trailers `grpc-status` (a code
 * below) and `grpc-message` (percent-encoded text). Everything here is pure so the fuzz target
 * (tests/fuzz/fuzz_grpc_wire.c) reaches it directly.
 */
#ifndef RECKON_SERVE_GRPC_WIRE_H
#define RECKON_SERVE_GRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "reckon/core.h"

#define RK_GRPC_PREFIX_BYTES 5

/* gRPC's status codes (grpc/doc/statuscodes.md), the numbers every client knows. */
#define RK_GRPC_CODE_LIST(X)      \
  X(OK,                  0)       \
  X(CANCELLED,           1)       \
  X(UNKNOWN,             2)       \
  X(INVALID_ARGUMENT,    3)       \
  X(DEADLINE_EXCEEDED,   4)       \
  X(NOT_FOUND,           5)       \
  X(ALREADY_EXISTS,      6)       \
  X(PERMISSION_DENIED,   7)       \
  X(RESOURCE_EXHAUSTED,  8)       \
  X(FAILED_PRECONDITION, 9)       \
  X(ABORTED,             10)      \
  X(OUT_OF_RANGE,        11)      \
  X(UNIMPLEMENTED,       12)      \
  X(INTERNAL,            13)      \
  X(UNAVAILABLE,         14)      \
  X(DATA_LOSS,           15)      \
  X(UNAUTHENTICATED,     16)

typedef enum {
#define RK_GRPC_CODE_ENUM(name, value) RK_GRPC_##name = value,
  RK_GRPC_CODE_LIST(RK_GRPC_CODE_ENUM)
#undef RK_GRPC_CODE_ENUM
} rk_grpc_code;

/* "INVALID_ARGUMENT"; "UNKNOWN" for a number outside the list. */
const char *rk_grpc_code_name(rk_grpc_code code);

/* The one message of a unary request body, or why there is none. */
typedef struct {
  rk_grpc_code code;        /* RK_GRPC_OK: message/length are set */
  const uint8_t *message;   /* points into the body */
  size_t length;
  char reason[256];         /* when code is not OK: what was wrong, for grpc-message */
} rk_grpc_unary;

/* The length a prefix at the start of `body` announces, or -1 while fewer than 5 bytes came.
 * Lets a stream refuse an oversized message before buffering it. */
int64_t rk_grpc_announced_length(const uint8_t *body, size_t size);

/* Split a whole unary request body: exactly one message, compression flag 0, a length that matches
 * the bytes and is at most `max_message_bytes`. Compressed messages are UNIMPLEMENTED (reckon
 * offers only the identity encoding); an oversized one RESOURCE_EXHAUSTED; anything else that is
 * malformed INVALID_ARGUMENT, each with the reason naming the numbers. */
void rk_grpc_split_unary(rk_grpc_unary *out, const uint8_t *body, size_t size, int64_t max_message_bytes);

/* Write the 5-byte prefix of an uncompressed message of `length` bytes (at most 2^32 - 1). */
void rk_grpc_write_prefix(uint8_t prefix[RK_GRPC_PREFIX_BYTES], uint32_t length);

/* The value of a grpc-timeout header (1 to 8 ASCII digits, then a unit: H hours, M minutes,
 * S seconds, m milliseconds, u microseconds, n nanoseconds) in milliseconds, rounded up so a
 * deadline never comes early; -1 when malformed. */
int64_t rk_grpc_timeout_ms(const uint8_t *value, size_t len);

/* Percent-encode `text` for grpc-message: bytes outside 0x20..0x7e and '%' become %XX. Writes at
 * most `cap` bytes with the terminating NUL, cutting between escapes. Returns the length. */
size_t rk_grpc_percent_encode(char *out, size_t cap, const char *text);

#endif
