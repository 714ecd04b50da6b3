/*
 * Fuzz target: a gRPC request body as the server receives it. Byte 0 picks the message limit
 * (its low 4 bits: 2^bits bytes); the rest is the body: the unary splitter reads the 5-byte
 * prefix, and the message inside is decoded as a ModelInferRequest and checked into the core's
 * tensors (typed contents converted, raw contents sized), then unpacked as every other request
 * of the service. A decoded request is re-encoded as a response from its own tensors, which
 * walks the typed and raw encoders. Refusals are fine; crashes, leaks and UB are not.
 */
#include <stdint.h>
#include <string.h>

#ifdef RECKON_HAVE_GRPC
#include "serve/grpc/grpc_rpc.h"

static const ProtobufCMessageDescriptor *const requests[] = {
    &inference__server_live_request__descriptor,      &inference__server_ready_request__descriptor,
    &inference__model_ready_request__descriptor,      &inference__server_metadata_request__descriptor,
    &inference__model_metadata_request__descriptor,   &inference__model_config_request__descriptor,
    &inference__model_statistics_request__descriptor, &inference__repository_index_request__descriptor,
    &inference__repository_model_load_request__descriptor, &inference__repository_model_unload_request__descriptor,
};

/* The decoded inputs as a response's outputs (fixed-size types only: their bytes are exact). */
static void echo(const rk_grpc_infer_call *call) {
  rk_serve_output outs[8];
  int n = 0;
  for (int i = 0; i < call->req.n_inputs && n < 8; i++) {
    const rk_serve_input *in = &call->req.inputs[i];
    if (in->datatype == RK_SERVE_DT_BYTES) continue;
    outs[n] = (rk_serve_output){.name = (char *)in->name, .datatype = in->datatype, .ndim = in->ndim,
                                .data = (void *)in->data, .nbytes = in->nbytes};
    memcpy(outs[n].shape, in->shape, sizeof in->shape);
    n++;
  }
  rk_serve_response resp = {.model_name = (char *)call->req.model, .model_version = call->req.version,
                            .outputs = outs, .n_outputs = n};
  for (int raw = 0; raw < 2; raw++) {
    rk_grpc_reply reply = {0};
    rk_grpc_infer_encode(&reply, &resp, raw);
    rk_free(reply.body);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int64_t max = (int64_t)1 << (data[0] & 15);
  rk_grpc_unary u;
  rk_grpc_split_unary(&u, data + 1, size - 1, max);
  char text[64];
  rk_grpc_percent_encode(text, sizeof text, u.reason);
  if (u.code != RK_GRPC_OK) return 0;
  rk_grpc_infer_call call;
  rk_grpc_reply reply = {0};
  if (rk_grpc_infer_decode(&call, &reply, u.message, u.length)) {
    echo(&call);
    rk_grpc_infer_call_free(&call);
  }
  for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
    ProtobufCMessage *m = protobuf_c_message_unpack(requests[i], &rk_grpc_allocator, u.length, u.message);
    if (m) protobuf_c_message_free_unpacked(m, &rk_grpc_allocator);
  }
  return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)data, (void)size;
  return 0;
}
#endif
