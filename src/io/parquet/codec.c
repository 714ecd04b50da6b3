/*
 * Page compression codecs for Parquet: UNCOMPRESSED, SNAPPY (libsnappy's C API), GZIP (zlib),
 * ZSTD (libzstd), BROTLI (libbrotli), LZ4_RAW and the deprecated LZ4 (liblz4; Hadoop framing,
 * falling back to a raw block). It is not the page logic: the caller passes exact sizes from
 * the page header, and any other outcome is an error. LZO is not supported.
 *
 * Follows apache/parquet-format Compression.md. Decompression bombs: before allocating, the
 * claimed uncompressed size is checked against rk_pq_max_uncompressed (each codec's best
 * possible ratio, and 1 GiB per page); snappy and zstd also check the size their own headers
 * state.
 */
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <lz4.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "io/parquet/parquet_internal.h"

#define MAX_PAGE ((size_t)1 << 30)

static const char *const codec_names[] = {"uncompressed", "snappy", "gzip", "lzo", "brotli", "lz4", "zstd", "lz4_raw"};

const char *rk_parquet_codec_name(int codec) {
  return codec >= 0 && codec < 8 ? codec_names[codec] : "unknown";
}

rk_status rk_pq_codec_parse(const char *name, int *codec) {
  if (!name || !*name) {
    *codec = RK_PQ_CODEC_SNAPPY;
    return RK_OK;
  }
  for (int i = 0; i < 8; i++) {
    if (i == RK_PQ_CODEC_LZO || i == RK_PQ_CODEC_LZ4) continue;   /* we do not write these */
    if (strcasecmp(name, codec_names[i]) == 0) {
      *codec = i;
      return RK_OK;
    }
  }
  if (strcasecmp(name, "none") == 0) {
    *codec = RK_PQ_CODEC_UNCOMPRESSED;
    return RK_OK;
  }
  return rk_error(RK_EINVAL, "unknown Parquet compression '%s': expected snappy, zstd, gzip, brotli, lz4_raw or uncompressed",
                  name);
}

size_t rk_pq_max_uncompressed(int codec, size_t n) {
  size_t ratio;
  switch (codec) {
    case RK_PQ_CODEC_UNCOMPRESSED: return n;
    case RK_PQ_CODEC_SNAPPY: ratio = 64; break;        /* real bound ~21: the header is checked too */
    case RK_PQ_CODEC_GZIP: ratio = 1100; break;        /* deflate's limit is 1032:1 */
    case RK_PQ_CODEC_LZ4:
    case RK_PQ_CODEC_LZ4_RAW: ratio = 256; break;      /* LZ4's limit is ~255:1 */
    default: ratio = 1 << 16; break;                   /* zstd, brotli: long runs compress very far */
  }
  size_t bound = n > MAX_PAGE / ratio ? MAX_PAGE : n * ratio + 4096;
  return bound > MAX_PAGE ? MAX_PAGE : bound;
}

static rk_status wrong_size(const char *codec, size_t got, size_t want) {
  return rk_error(RK_EFORMAT, "%s page decompresses to %zu bytes, the header says %zu", codec, got, want);
}

static rk_status gunzip(uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 15 + 32) != Z_OK) return rk_error(RK_ENOMEM, "cannot start zlib");
  z.next_in = (Bytef *)(uintptr_t)src;
  z.avail_in = (uInt)src_len;
  z.next_out = dst;
  z.avail_out = (uInt)dst_len;
  int rc;
  for (;;) {
    rc = inflate(&z, Z_FINISH);
    if (rc == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 0 && inflateReset(&z) == Z_OK) continue;   /* next member */
    break;
  }
  size_t total = dst_len - z.avail_out;
  const char *msg = z.msg;
  inflateEnd(&z);
  if (rc == Z_BUF_ERROR && z.avail_out == 0)
    return rk_error(RK_EFORMAT, "GZIP page decompresses to more than the %zu bytes its header says", dst_len);
  if (rc != Z_STREAM_END) return rk_error(RK_EFORMAT, "GZIP page is corrupt (zlib: %s)", msg ? msg : zError(rc));
  if (total != dst_len) return wrong_size("GZIP", total, dst_len);
  return RK_OK;
}

/* Hadoop's LZ4 framing: blocks of [u32 BE uncompressed][u32 BE compressed][lz4 block]. */
static bool lz4_hadoop(uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len) {
  size_t in = 0, out = 0;
  while (in < src_len) {
    if (src_len - in < 8) return false;
    uint32_t ulen = (uint32_t)src[in] << 24 | (uint32_t)src[in + 1] << 16 | (uint32_t)src[in + 2] << 8 | src[in + 3];
    uint32_t clen = (uint32_t)src[in + 4] << 24 | (uint32_t)src[in + 5] << 16 | (uint32_t)src[in + 6] << 8 | src[in + 7];
    in += 8;
    if (clen > src_len - in || ulen > dst_len - out || clen > INT32_MAX || ulen > INT32_MAX) return false;
    int got = LZ4_decompress_safe((const char *)src + in, (char *)dst + out, (int)clen, (int)ulen);
    if (got < 0 || (uint32_t)got != ulen) return false;
    in += clen;
    out += ulen;
  }
  return out == dst_len;
}

rk_status rk_pq_decompress(int codec, uint8_t *dst, size_t dst_len, const uint8_t *src, size_t src_len) {
  if (dst_len > rk_pq_max_uncompressed(codec, src_len))
    return rk_error(RK_EFORMAT, "%s page of %zu bytes claims %zu bytes uncompressed (more than the codec can produce)",
                    rk_parquet_codec_name(codec), src_len, dst_len);
  switch (codec) {
    case RK_PQ_CODEC_UNCOMPRESSED:
      if (src_len != dst_len) return wrong_size("uncompressed", src_len, dst_len);
      if (dst_len) memcpy(dst, src, dst_len);
      return RK_OK;
    case RK_PQ_CODEC_SNAPPY: {
      size_t n;
      if (snappy_uncompressed_length((const char *)src, src_len, &n) != SNAPPY_OK)
        return rk_error(RK_EFORMAT, "SNAPPY page is corrupt (bad length header)");
      if (n != dst_len) return wrong_size("SNAPPY", n, dst_len);
      if (snappy_uncompress((const char *)src, src_len, (char *)dst, &n) != SNAPPY_OK)
        return rk_error(RK_EFORMAT, "SNAPPY page is corrupt");
      if (n != dst_len) return wrong_size("SNAPPY", n, dst_len);
      return RK_OK;
    }
    case RK_PQ_CODEC_GZIP: return gunzip(dst, dst_len, src, src_len);
    case RK_PQ_CODEC_ZSTD: {
      unsigned long long fs = ZSTD_getFrameContentSize(src, src_len);
      if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != ZSTD_CONTENTSIZE_ERROR && fs != dst_len)
        return wrong_size("ZSTD", (size_t)fs, dst_len);
      size_t n = ZSTD_decompress(dst, dst_len, src, src_len);
      if (ZSTD_isError(n)) return rk_error(RK_EFORMAT, "ZSTD page is corrupt (%s)", ZSTD_getErrorName(n));
      if (n != dst_len) return wrong_size("ZSTD", n, dst_len);
      return RK_OK;
    }
    case RK_PQ_CODEC_BROTLI: {
      size_t n = dst_len;
      if (BrotliDecoderDecompress(src_len, src, &n, dst) != BROTLI_DECODER_RESULT_SUCCESS)
        return rk_error(RK_EFORMAT, "BROTLI page is corrupt or larger than the %zu bytes its header says", dst_len);
      if (n != dst_len) return wrong_size("BROTLI", n, dst_len);
      return RK_OK;
    }
    case RK_PQ_CODEC_LZ4_RAW:
    case RK_PQ_CODEC_LZ4: {
      if (src_len > INT32_MAX || dst_len > INT32_MAX) return rk_error(RK_EFORMAT, "LZ4 page too large");
      if (codec == RK_PQ_CODEC_LZ4 && lz4_hadoop(dst, dst_len, src, src_len)) return RK_OK;
      int n = LZ4_decompress_safe((const char *)src, (char *)dst, (int)src_len, (int)dst_len);
      if (n < 0) return rk_error(RK_EFORMAT, "%s page is corrupt", codec == RK_PQ_CODEC_LZ4 ? "LZ4" : "LZ4_RAW");
      if ((size_t)n != dst_len) return wrong_size("LZ4", (size_t)n, dst_len);
      return RK_OK;
    }
    case RK_PQ_CODEC_LZO: return rk_error(RK_EUNSUPPORTED, "unsupported: LZO compression");
    default: return rk_error(RK_EUNSUPPORTED, "unsupported: compression codec %d", codec);
  }
}

rk_status rk_pq_compress(int codec, int level, rk_parquet_buf *out, const uint8_t *src, size_t n) {
  out->len = 0;
  switch (codec) {
    case RK_PQ_CODEC_UNCOMPRESSED:
      rk_parquet_buf_put(out, src, n);
      break;
    case RK_PQ_CODEC_SNAPPY: {
      size_t cap = snappy_max_compressed_length(n);
      if (!rk_parquet_buf_reserve(out, cap)) return RK_ENOMEM;
      size_t got = cap;
      if (snappy_compress((const char *)src, n, (char *)out->data, &got) != SNAPPY_OK)
        return rk_error(RK_EINTERNAL, "snappy compression failed");
      out->len = got;
      break;
    }
    case RK_PQ_CODEC_GZIP: {
      z_stream z;
      memset(&z, 0, sizeof z);
      if (deflateInit2(&z, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return rk_error(RK_ENOMEM, "cannot start zlib");
      size_t cap = deflateBound(&z, (uLong)n) + 32;
      if (!rk_parquet_buf_reserve(out, cap)) {
        deflateEnd(&z);
        return RK_ENOMEM;
      }
      z.next_in = (Bytef *)(uintptr_t)src;
      z.avail_in = (uInt)n;
      z.next_out = out->data;
      z.avail_out = (uInt)cap;
      int rc = deflate(&z, Z_FINISH);
      out->len = cap - z.avail_out;
      deflateEnd(&z);
      if (rc != Z_STREAM_END) return rk_error(RK_EINTERNAL, "gzip compression failed");
      break;
    }
    case RK_PQ_CODEC_ZSTD: {
      size_t cap = ZSTD_compressBound(n);
      if (!rk_parquet_buf_reserve(out, cap)) return RK_ENOMEM;
      size_t got = ZSTD_compress(out->data, cap, src, n, level ? level : 3);
      if (ZSTD_isError(got)) return rk_error(RK_EINTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(got));
      out->len = got;
      break;
    }
    case RK_PQ_CODEC_BROTLI: {
      size_t cap = BrotliEncoderMaxCompressedSize(n);
      if (cap == 0) cap = n + 1024;
      if (!rk_parquet_buf_reserve(out, cap)) return RK_ENOMEM;
      size_t got = cap;
      if (!BrotliEncoderCompress(level ? level : 5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, n, src, &got, out->data))
        return rk_error(RK_EINTERNAL, "brotli compression failed");
      out->len = got;
      break;
    }
    case RK_PQ_CODEC_LZ4_RAW: {
      if (n > LZ4_MAX_INPUT_SIZE) return rk_error(RK_ERANGE, "page too large for LZ4");
      int cap = LZ4_compressBound((int)n);
      if (!rk_parquet_buf_reserve(out, (size_t)cap)) return RK_ENOMEM;
      int got = LZ4_compress_default((const char *)src, (char *)out->data, (int)n, cap);
      if (got <= 0) return rk_error(RK_EINTERNAL, "lz4 compression failed");
      out->len = (size_t)got;
      break;
    }
    default: return rk_error(RK_EUNSUPPORTED, "unsupported: writing %s compression", rk_parquet_codec_name(codec));
  }
  return out->failed ? RK_ENOMEM : RK_OK;
}
