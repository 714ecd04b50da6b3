/*
 * Comma-separated name lists as flags give them (--shard_tables user_id,item_id): whether a name
 * is one of them. A scan, not an index: such lists name a few tables, and are read a few times.
 */
#include <string.h>

#include "reckon/core.h"

bool rk_name_listed(const char *list, const char *name) {
  size_t len = strlen(name);
  for (const char *at = list; at && *at;) {
    const char *end = strchr(at, ',');
    size_t n = end ? (size_t)(end - at) : strlen(at);
    if (n == len && strncmp(at, name, n) == 0) return true;
    at = end ? end + 1 : NULL;
  }
  return false;
}
