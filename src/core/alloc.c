/*
 * The allocation hook: every allocation in reckon goes through rk_malloc and friends.
 *
 * Each block carries a 16-byte header with its size so live bytes can be counted, and tests can
 * make the n-th allocation from now fail to walk failure paths (STYLE.md habit 6). Counters are
 * atomic: OpenMP workers allocate too.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/core.h"

/* Header before every block: the requested size, and the offset back to the malloc'd pointer
 * (non-zero only for aligned blocks). 16 bytes keeps the payload 16-byte aligned. */
typedef struct {
  size_t size;
  size_t shift;
} block_header;
_Static_assert(sizeof(block_header) == 16, "header keeps 16-byte alignment");

static _Atomic int64_t live_bytes = 0;
static _Atomic int64_t alloc_calls = 0;
static _Atomic int64_t fail_at = -1;   /* alloc_calls value whose call fails; -1: off */
static _Atomic bool fail_fired = false;

static bool should_fail(size_t size) {
  int64_t call = atomic_fetch_add(&alloc_calls, 1);
  int64_t target = atomic_load(&fail_at);
  if (target >= 0 && call == target) {
    atomic_store(&fail_fired, true);
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes (injected failure)", size);
    return true;
  }
  return false;
}

void *rk_malloc(size_t size) {
  if (should_fail(size)) return NULL;
  if (size > SIZE_MAX - sizeof(block_header)) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  block_header *h = malloc(sizeof(block_header) + size);
  if (!h) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  h->size = size;
  h->shift = 0;
  atomic_fetch_add(&live_bytes, (int64_t)size);
  return h + 1;
}

void *rk_calloc(size_t count, size_t size) {
  if (size != 0 && count > SIZE_MAX / size) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return NULL;
  }
  void *p = rk_malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

static block_header *header_of(void *ptr) { return (block_header *)ptr - 1; }

void rk_free(void *ptr) {
  if (!ptr) return;
  block_header *h = header_of(ptr);
  atomic_fetch_sub(&live_bytes, (int64_t)h->size);
  free((char *)h - h->shift);
}

void *rk_realloc(void *ptr, size_t size) {
  if (!ptr) return rk_malloc(size);
  block_header *h = header_of(ptr);
  if (h->shift != 0) {   /* aligned blocks cannot go through realloc: copy */
    void *fresh = rk_malloc(size);
    if (!fresh) return NULL;
    memcpy(fresh, ptr, h->size < size ? h->size : size);
    rk_free(ptr);
    return fresh;
  }
  if (should_fail(size)) return NULL;
  if (size > SIZE_MAX - sizeof(block_header)) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  size_t old = h->size;
  block_header *nh = realloc(h, sizeof(block_header) + size);
  if (!nh) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  nh->size = size;
  atomic_fetch_add(&live_bytes, (int64_t)size - (int64_t)old);
  return nh + 1;
}

static void *aligned_block(size_t align, size_t size, bool zero) {
  if (align == 0 || (align & (align - 1)) != 0) {   /* check before raising it to the header's */
    rk_error(RK_EINVAL, "alignment %zu is not a power of two", align);
    return NULL;
  }
  if (align < sizeof(block_header)) align = sizeof(block_header);
  if (should_fail(size)) return NULL;
  if (size > SIZE_MAX - align - sizeof(block_header)) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  /* calloc, not malloc + memset: a large block comes from fresh zero pages that need no pass */
  char *raw = zero ? calloc(1, size + align + sizeof(block_header)) : malloc(size + align + sizeof(block_header));
  if (!raw) {
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes", size);
    return NULL;
  }
  uintptr_t payload = ((uintptr_t)raw + sizeof(block_header) + align - 1) & ~(uintptr_t)(align - 1);
  block_header *h = (block_header *)payload - 1;
  h->size = size;
  h->shift = (size_t)((char *)h - raw);
  atomic_fetch_add(&live_bytes, (int64_t)size);
  /* raw is reached again through h->shift in rk_free */
  // cppcheck-suppress memleak
  return (void *)payload;
}

void *rk_aligned_alloc(size_t align, size_t size) { return aligned_block(align, size, false); }
void *rk_aligned_calloc(size_t align, size_t size) { return aligned_block(align, size, true); }

char *rk_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = rk_malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

char *rk_strdup(const char *s) { return rk_strndup(s, SIZE_MAX); }

int64_t rk_alloc_live_bytes(void) { return atomic_load(&live_bytes); }
int64_t rk_alloc_count(void) { return atomic_load(&alloc_calls); }

void rk_alloc_fail_after(int64_t n) {
  atomic_store(&fail_fired, false);
  atomic_store(&fail_at, n < 0 ? -1 : atomic_load(&alloc_calls) + n);
}

bool rk_alloc_fail_fired(void) { return atomic_load(&fail_fired); }
