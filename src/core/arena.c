/*
 * Arena: bump allocation from a list of chunks, freed all at once.
 * For many small objects with one lifetime (parsed schemas, planned graph buffers, string
 * scratch). Chunks come from the allocation hook, so arenas count and fail like everything else.
 */
#include <stdint.h>
#include <string.h>

#include "reckon/core.h"

struct rk_arena_chunk {
  rk_arena_chunk *next;
  size_t size;   /* payload bytes */
  size_t used;
  _Alignas(16) unsigned char data[];
};

void rk_arena_init(rk_arena *arena, size_t chunk_size) {
  arena->head = NULL;
  arena->chunk_size = chunk_size ? chunk_size : 64 * 1024;
  arena->used = 0;
}

static size_t align_up(size_t x, size_t a) { return (x + a - 1) & ~(a - 1); }

void *rk_arena_alloc(rk_arena *arena, size_t size, size_t align) {
  if (align == 0) align = 16;
  if ((align & (align - 1)) != 0 || align > 4096) {
    rk_error(RK_EINVAL, "arena alignment %zu is not a power of two up to 4096", align);
    return NULL;
  }
  rk_arena_chunk *c = arena->head;
  if (c) {
    size_t base = (size_t)(uintptr_t)c->data;
    size_t start = align_up(base + c->used, align) - base;
    if (start <= c->size && size <= c->size - start) {
      c->used = start + size;
      arena->used += size;
      return c->data + start;
    }
  }
  if (size > SIZE_MAX - align - sizeof(rk_arena_chunk)) {   /* size + align would wrap */
    rk_error(RK_ENOMEM, "out of memory allocating %zu bytes from an arena", size);
    return NULL;
  }
  size_t need = size + align;
  size_t csize = need > arena->chunk_size ? need : arena->chunk_size;
  rk_arena_chunk *fresh = rk_malloc(sizeof(rk_arena_chunk) + csize);
  if (!fresh) return NULL;
  fresh->next = c;
  fresh->size = csize;
  size_t base = (size_t)(uintptr_t)fresh->data;
  size_t start = align_up(base, align) - base;
  fresh->used = start + size;
  arena->head = fresh;
  arena->used += size;
  return fresh->data + start;
}

char *rk_arena_strdup(rk_arena *arena, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = rk_arena_alloc(arena, n, 1);
  if (d) memcpy(d, s, n);
  return d;
}

void rk_arena_reset(rk_arena *arena) {
  rk_arena_chunk *keep = NULL;
  for (rk_arena_chunk *c = arena->head; c; c = c->next)
    if (!keep || c->size > keep->size) keep = c;
  rk_arena_chunk *c = arena->head;
  while (c) {
    rk_arena_chunk *next = c->next;
    if (c != keep) rk_free(c);
    c = next;
  }
  if (keep) {
    keep->next = NULL;
    keep->used = 0;
  }
  arena->head = keep;
  arena->used = 0;
}

void rk_arena_free(rk_arena *arena) {
  rk_arena_chunk *c = arena->head;
  while (c) {
    rk_arena_chunk *next = c->next;
    rk_free(c);
    c = next;
  }
  arena->head = NULL;
  arena->used = 0;
}
