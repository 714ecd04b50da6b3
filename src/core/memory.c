/*
 * Machine memory, for refusing a run that cannot fit before it allocates.
 *
 * A batch of 10^8 rows or a 10^9-wide embedding asks for more memory than the machine has; left
 * alone the allocation either fails deep inside (a bare "out of memory") or, with overcommit,
 * succeeds and the first pass over it swaps or meets the OOM killer. Callers estimate what a run
 * needs and ask rk_memory_check first, so the refusal says how much and why.
 * Linux: /proc/meminfo's MemTotal and MemAvailable (what can be allocated without swapping,
 * kernel 3.14+); elsewhere sysconf's physical pages. It is not an allocator (alloc.c is).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "reckon/core.h"

/* A "Key:   123 kB" line of /proc/meminfo, in bytes; 0 when absent. */
static int64_t meminfo(const char *key) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':' && sscanf(line + n + 1, "%lld", &kb) == 1) break;
  fclose(f);
  return kb > 0 ? (int64_t)kb * 1024 : 0;
}

static int64_t sysconf_bytes(int pages_name) {
  long pages = sysconf(pages_name), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? (int64_t)pages * page : 0;
}

int64_t rk_memory_total_bytes(void) {
  int64_t b = meminfo("MemTotal");
  return b ? b : sysconf_bytes(_SC_PHYS_PAGES);
}

int64_t rk_memory_available_bytes(void) {
  int64_t b = meminfo("MemAvailable");
#ifdef _SC_AVPHYS_PAGES
  if (!b) b = sysconf_bytes(_SC_AVPHYS_PAGES);
#endif
  return b ? b : rk_memory_total_bytes();
}

rk_status rk_memory_check(int64_t need, const char *what) {
  int64_t avail = rk_memory_available_bytes();
  if (avail <= 0 || need <= avail) return RK_OK;
  const double gib = 1024.0 * 1024.0 * 1024.0;
  return rk_error(RK_ENOMEM, "%s needs ~%.1f GiB, this machine has %.1f GiB available (of %.1f GiB); use a smaller "
                  "batch, fewer or narrower layers, or smaller embeddings", what, (double)need / gib,
                  (double)avail / gib, (double)rk_memory_total_bytes() / gib);
}
