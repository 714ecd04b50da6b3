/*
 * The model repository on disk, as Triton lays it out: REPO/<model>/config.pbtxt and version
 * folders REPO/<model>/<n>/ (n a positive whole number). Names come from clients, so every path
 * is built from a checked name and then resolved: a name with '/', "..", a leading '.', or a
 * symlink whose target lies outside the repository, is refused before anything is read.
 *
 * Reference: Triton's docs/user_guide/model_repository.md (layout) and model_configuration.md
 * (version_policy: latest N (default 1), all, specific).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "serve/serve_internal.h"

rk_status rk_serve_check_name(const char *name, const char *what) {
  if (!name || !name[0]) return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "%s is empty", what);
  if (name[0] == '.' || strchr(name, '/') || strchr(name, '\\') || strlen(name) > 255)
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL,
                         "%s '%s' is not a folder name of the repository (no '/', no leading '.', at most 255 bytes)",
                         what, name);
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    if (*p < 32 || *p == 127)
      return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "%s holds a control character", what);
  return RK_OK;
}

static char *join(const char *a, const char *b) {
  size_t n = strlen(a) + strlen(b) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s/%s", a, b);
  return s;
}

/* Whether `path` resolves to a folder inside `root` (both resolved). */
static rk_status inside(const char *root, const char *path, const char *what) {
  char r[PATH_MAX], p[PATH_MAX];
  if (!realpath(root, r)) return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "cannot open '%s': %s", root, strerror(errno));
  if (!realpath(path, p)) return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "%s: no folder '%s'", what, path);
  size_t n = strlen(r);
  if (strncmp(r, p, n) != 0 || (p[n] != '/' && p[n] != '\0') || p[n] == '\0')
    return rk_serve_fail(RK_SERVE_INVALID, RK_EINVAL, "%s: '%s' leads outside '%s' (to '%s'): refused", what, path, root, p);
  struct stat sb;
  if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
    return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "%s: '%s' is not a folder", what, path);
  return RK_OK;
}

rk_status rk_repo_model_dir(const char *repo, const char *name, char **dir) {
  *dir = NULL;
  RK_TRY(rk_serve_check_name(name, "model name"));
  char *d = join(repo, name);
  if (!d) return RK_ENOMEM;
  char what[300];
  snprintf(what, sizeof what, "model '%s'", name);
  rk_status st = inside(repo, d, what);
  if (st != RK_OK) {
    if (rk_serve_error_code(st) == RK_SERVE_NOT_FOUND)
      st = rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "no model '%s' in the repository '%s'", name, repo);
    rk_free(d);
    return st;
  }
  *dir = d;
  return RK_OK;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

void rk_repo_free_names(char **names, int n) {
  for (int i = 0; i < n; i++) rk_free(names[i]);
  rk_free(names);
}

rk_status rk_repo_list(const char *repo, char ***names, int *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(repo);
  if (!d) return rk_serve_fail(RK_SERVE_INTERNAL, RK_EIO, "cannot read the model repository '%s': %s", repo, strerror(errno));
  rk_status st = RK_OK;
  struct dirent *e;
  int cap = 0;
  while (st == RK_OK && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *dir = join(repo, e->d_name), *cfg = dir ? join(dir, "config.pbtxt") : NULL;
    struct stat sb;
    /* Folders with a config only; a symlink out of the repository is not listed. */
    bool ok = cfg && stat(cfg, &sb) == 0 && S_ISREG(sb.st_mode) && inside(repo, dir, "model") == RK_OK;
    rk_error_clear();
    rk_serve_clear_code();
    if (!dir || !cfg) st = RK_ENOMEM;
    if (ok && *n == cap) {
      char **p = rk_realloc(*names, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *p);
      if (!p) st = RK_ENOMEM;
      else *names = p;
    }
    if (ok && st == RK_OK && !((*names)[*n] = rk_strdup(e->d_name))) st = RK_ENOMEM;
    if (ok && st == RK_OK) (*n)++;
    rk_free(dir);
    rk_free(cfg);
  }
  closedir(d);
  if (st != RK_OK) {
    rk_repo_free_names(*names, *n);
    *names = NULL;
    *n = 0;
    return st;
  }
  if (*n) qsort(*names, (size_t)*n, sizeof **names, by_name);
  return RK_OK;
}

rk_status rk_repo_versions(const char *dir, int64_t **versions, int *n) {
  *versions = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) return rk_serve_fail(RK_SERVE_INTERNAL, RK_EIO, "cannot read '%s': %s", dir, strerror(errno));
  rk_status st = RK_OK;
  struct dirent *e;
  int cap = 0;
  while (st == RK_OK && (e = readdir(d))) {
    const char *s = e->d_name;
    if (!s[0] || s[0] == '0' || strspn(s, "0123456789") != strlen(s) || strlen(s) > 15) continue;
    char *v = join(dir, s);
    bool ok = v && inside(dir, v, "version") == RK_OK;
    rk_error_clear();
    rk_serve_clear_code();
    if (!v) st = RK_ENOMEM;
    rk_free(v);
    if (!ok || st != RK_OK) continue;
    if (*n == cap) {
      int64_t *p = rk_realloc(*versions, (size_t)(cap = cap ? 2 * cap : 8) * sizeof *p);
      if (!p) {
        st = RK_ENOMEM;
        break;
      }
      *versions = p;
    }
    (*versions)[(*n)++] = strtoll(s, NULL, 10);
  }
  closedir(d);
  if (st != RK_OK) {
    rk_free(*versions);
    *versions = NULL;
    *n = 0;
    return st;
  }
  if (*n) qsort(*versions, (size_t)*n, sizeof **versions, by_value);
  return RK_OK;
}

rk_status rk_repo_apply_policy(const rk_version_policy *p, const int64_t *present, int n_present, int64_t **out,
                               int *n_out, const char *model) {
  *out = NULL;
  *n_out = 0;
  int64_t *v = rk_malloc((size_t)(n_present + (p->kind == RK_VERSION_POLICY_SPECIFIC ? p->n_specific : 0) + 1) * sizeof *v);
  if (!v) return RK_ENOMEM;
  int n = 0;
  if (p->kind == RK_VERSION_POLICY_ALL) {
    for (int i = 0; i < n_present; i++) v[n++] = present[i];
  } else if (p->kind == RK_VERSION_POLICY_LATEST) {
    int64_t k = p->latest > 0 ? p->latest : 1;
    for (int i = n_present - 1; i >= 0 && n < k; i--) v[n++] = present[i];
    qsort(v, (size_t)n, sizeof *v, by_value);
  } else {
    for (int i = 0; i < p->n_specific; i++) {
      bool found = false;
      for (int j = 0; j < n_present; j++) found = found || present[j] == p->specific[i];
      if (!found) {
        rk_free(v);
        return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND,
                             "model '%s': version_policy names version %lld, which has no folder", model,
                             (long long)p->specific[i]);
      }
      bool dup = false;
      for (int j = 0; j < n; j++) dup = dup || v[j] == p->specific[i];
      if (!dup) v[n++] = p->specific[i];
    }
    qsort(v, (size_t)n, sizeof *v, by_value);
  }
  if (n == 0) {
    rk_free(v);
    return rk_serve_fail(RK_SERVE_NOT_FOUND, RK_ENOTFOUND, "model '%s' has no version folder (1/, 2/, ...)", model);
  }
  *out = v;
  *n_out = n;
  return RK_OK;
}
