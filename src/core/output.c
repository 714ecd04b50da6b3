/*
 * Output folders: the one door every command that writes a folder or a file goes through, so that
 * reckon never deletes or overwrites what it did not write and never publishes half a set.
 *
 *   claim    a target is absent, empty, or carries the marker `.reckon-output` naming the same kind
 *            of output; anything else is refused (naming the folder and what it holds) unless the
 *            caller passes the user's --overwrite.
 *   lock     a folder written in place is held with flock(2) on `.reckon-lock` for the whole run;
 *            a second run is refused with the holder's pid. The kernel drops the lock when the
 *            holder dies, so a SIGKILL never leaves a folder locked.
 *   stage    temporaries are "<final>.tmp.<pid>.<n>" (unique per process and call) or a folder
 *            ".reckon-tmp-<pid>"; those of dead processes are swept at the next run.
 *   publish  an output set (logs, metrics, report) moves into place together after everything was
 *            written; a folder set (preprocess's train/, eval/, workflow/) carries a run id in each
 *            part's marker and in the parent's, written last, which readers compare.
 *
 * It is not a file system abstraction: fs.c holds the plain helpers this builds on.
 * See docs/design.md, "Outputs".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "reckon/core.h"

#define LOCK_NAME ".reckon-lock"
#define STAGE_PREFIX ".reckon-tmp-"

static atomic_int temp_counter;

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", name);
  return s;
}

char *rk_temp_path(const char *path) {
  int len = (int)strlen(path);
  while (len > 1 && path[len - 1] == '/') len--;   /* "model/" stages beside the folder, not in it */
  size_t n = (size_t)len + 48;
  char *s = rk_malloc(n);
  if (s) snprintf(s, n, "%.*s.tmp.%ld.%d", len, path, (long)getpid(), atomic_fetch_add(&temp_counter, 1));
  return s;
}

void rk_output_run_id(char out[RK_OUTPUT_ID_SIZE]) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t parts[3] = {(uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
                       (uint64_t)atomic_fetch_add(&temp_counter, 1)};
  snprintf(out, RK_OUTPUT_ID_SIZE, "%016llx", (unsigned long long)rk_hash_bytes(parts, sizeof parts));
}

/* ---- markers ---- */

/* "key=value" lines; unknown keys are ignored so later versions may add some. */
rk_status rk_output_read_marker(const char *dir, rk_output_marker *m, bool *found) {
  memset(m, 0, sizeof *m);
  *found = false;
  char *path = join(dir, RK_OUTPUT_MARKER);
  if (!path) return RK_ENOMEM;
  FILE *f = fopen(path, "r");
  rk_free(path);
  if (!f) return RK_OK;
  *found = true;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    char *eq = strchr(line, '=');
    if (!eq) continue;
    *eq = '\0';
    char *dst = strcmp(line, "kind") == 0 ? m->kind : strcmp(line, "run") == 0 ? m->run
              : strcmp(line, "publishing") == 0 ? m->publishing : NULL;
    if (dst) snprintf(dst, RK_OUTPUT_ID_SIZE, "%s", eq + 1);
  }
  fclose(f);
  return RK_OK;
}

rk_status rk_output_write_marker(const char *dir, const rk_output_marker *m) {
  char text[256];
  int n = snprintf(text, sizeof text, "kind=%s\n", m->kind);
  if (m->run[0]) n += snprintf(text + n, sizeof text - (size_t)n, "run=%s\n", m->run);
  if (m->publishing[0]) n += snprintf(text + n, sizeof text - (size_t)n, "publishing=%s\n", m->publishing);
  char *path = join(dir, RK_OUTPUT_MARKER);
  rk_status st = path ? rk_write_file_atomic(path, text, (size_t)n) : RK_ENOMEM;
  rk_free(path);
  return st;
}

rk_status rk_output_mark(const char *dir, const char *kind, const char *run) {
  rk_output_marker m;
  memset(&m, 0, sizeof m);
  snprintf(m.kind, sizeof m.kind, "%s", kind);
  if (run) snprintf(m.run, sizeof m.run, "%s", run);
  return rk_output_write_marker(dir, &m);
}

/* ---- claim ---- */

bool rk_output_is_bookkeeping(const char *name) {
  return strcmp(name, RK_OUTPUT_MARKER) == 0 || strcmp(name, LOCK_NAME) == 0;
}

rk_status rk_output_check_dir(const char *path, const char *kind, bool overwrite) {
  struct stat sb;
  if (stat(path, &sb) != 0) {   /* a link to a folder is that folder */
    if (errno == ENOENT) return RK_OK;
    return rk_error(RK_EIO, "cannot read '%s': %s", path, strerror(errno));
  }
  if (!S_ISDIR(sb.st_mode)) {
    if (overwrite && S_ISREG(sb.st_mode)) return RK_OK;
    return rk_error(RK_EUSAGE, "'%s' is a file, not a folder for a reckon %s output%s", path, kind,
                    S_ISREG(sb.st_mode) ? "; pass --overwrite to replace it" : "");
  }
  rk_output_marker m;
  bool marked;
  RK_TRY(rk_output_read_marker(path, &m, &marked));
  if (marked && strcmp(m.kind, kind) == 0) return RK_OK;
  if (overwrite) return RK_OK;
  if (marked)
    return rk_error(RK_EUSAGE, "'%s' holds a reckon %s output, not a %s output; refusing to replace it: pick another "
                    "folder, or pass --overwrite", path, m.kind, kind);
  DIR *d = opendir(path);
  if (!d) return rk_error(RK_EIO, "cannot read the folder '%s': %s", path, strerror(errno));
  char first[256] = "";
  struct dirent *e;
  while ((e = readdir(d)) && !first[0])
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !rk_output_is_bookkeeping(e->d_name))
      snprintf(first, sizeof first, "%s", e->d_name);
  closedir(d);
  if (!first[0]) return RK_OK;
  return rk_error(RK_EUSAGE, "'%s' is not empty and reckon did not write it (it holds '%s'); refusing to replace "
                  "it with a %s output: pick an empty or new folder, or pass --overwrite", path, first, kind);
}

rk_status rk_output_check_file(const char *path, bool overwrite) {
  struct stat sb;
  if (stat(path, &sb) != 0) {
    if (errno == ENOENT) return RK_OK;
    return rk_error(RK_EIO, "cannot read '%s': %s", path, strerror(errno));
  }
  if (S_ISDIR(sb.st_mode)) return rk_error(RK_EUSAGE, "'%s' is a folder; expected a file name for the output", path);
  if (overwrite) return RK_OK;
  return rk_error(RK_EUSAGE, "'%s' exists; refusing to overwrite it: pick a new name, or pass --overwrite", path);
}

/* ---- stale temporaries ---- */

static bool all_digits(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

/* The pid in a reckon temporary's name: ".reckon-tmp-<pid>", "<x>.tmp.<pid>", "<x>.tmp.<pid>.<n>"
 * or "<x>.tmp-<pid>"; 0 for any other name. */
long rk_output_temp_pid(const char *name) {
  const char *p = NULL;
  if (strncmp(name, STAGE_PREFIX, strlen(STAGE_PREFIX)) == 0) p = name + strlen(STAGE_PREFIX);
  else
    for (const char *s = strstr(name, ".tmp"); s; s = strstr(s + 1, ".tmp"))
      if (s > name && (s[4] == '.' || s[4] == '-')) p = s + 5;
  if (!p) return 0;
  size_t n = strspn(p, "0123456789");
  if (n == 0 || n > 9) return 0;
  if (p[n] != '\0' && !(p[n] == '.' && all_digits(p + n + 1, strlen(p + n + 1)))) return 0;
  return strtol(p, NULL, 10);
}

rk_status rk_output_sweep(const char *dir, const char *stem) {
  DIR *d = opendir(dir);
  if (!d) return RK_OK;   /* nothing there yet */
  size_t k = stem ? strlen(stem) : 0;
  rk_status st = RK_OK;
  struct dirent *e;
  while (st == RK_OK && (e = readdir(d))) {
    if (stem && (strncmp(e->d_name, stem, k) != 0 || strncmp(e->d_name + k, ".tmp", 4) != 0)) continue;
    long pid = rk_output_temp_pid(e->d_name);
    /* Only a pid the kernel says is gone: a live process, ours or another's, keeps its files. */
    if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    char *path = join(dir, e->d_name);
    st = path ? rk_remove_tree(path) : RK_ENOMEM;
    if (st == RK_OK) rk_debug("removed '%s', left by reckon process %ld, which is gone", path, pid);
    rk_free(path);
  }
  closedir(d);
  return st;
}

rk_status rk_output_sweep_beside(const char *path) {
  char *parent = rk_strdup(path);
  if (!parent) return RK_ENOMEM;
  size_t n = strlen(parent);
  while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
  char *slash = strrchr(parent, '/');
  const char *stem = slash ? slash + 1 : parent;
  char *dir = slash == parent ? rk_strdup("/") : slash ? rk_strndup(parent, (size_t)(slash - parent)) : rk_strdup(".");
  rk_status st = dir ? rk_output_sweep(dir, stem) : RK_ENOMEM;
  rk_free(dir);
  rk_free(parent);
  return st;
}

/* ---- lock ---- */

/* flock the lock file, and write our pid into it for the message of whoever comes next. The holder
 * removes the file when done, so a lock taken on a file that was just removed is taken again on
 * the new one (the path must still name the file we hold). */
static rk_status lock(rk_output *out, const char *dir) {
  for (;;) {
    int fd = open(out->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return rk_error(RK_EIO, "cannot create '%s': %s", out->lock_path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char holder[32] = "";
      /* The holder writes its pid just after it locks: a run that started at the same moment may
       * look in between, so give it a little while. */
      ssize_t r = 0;
      for (int tries = 0; tries < 50 && (r = pread(fd, holder, sizeof holder - 1, 0)) <= 0; tries++)
        nanosleep(&(struct timespec){0, 2000000}, NULL);
      holder[r > 0 ? r : 0] = '\0';
      holder[strcspn(holder, "\r\n")] = '\0';
      close(fd);
      if (err != EWOULDBLOCK) return rk_error(RK_EIO, "cannot lock '%s': %s", dir, strerror(err));
      return rk_error(RK_EUSAGE, "'%s' is in use by another reckon run (pid %s); wait for it to end, or pick another "
                      "folder", dir, holder[0] ? holder : "unknown");
    }
    struct stat held, named;
    if (fstat(fd, &held) != 0 || stat(out->lock_path, &named) != 0 || held.st_ino != named.st_ino ||
        held.st_dev != named.st_dev) {
      close(fd);   /* the previous holder removed it meanwhile: lock the new one */
      continue;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
      rk_status st = rk_error(RK_EIO, "cannot write the lock of '%s': %s", dir, strerror(errno));
      close(fd);
      return st;
    }
    out->lock_fd = fd;
    out->held = true;
    return RK_OK;
  }
}

rk_status rk_output_check_names(const char *path, const char *kind, const char *const *names, bool overwrite) {
  rk_output_marker m;
  bool marked;
  struct stat sb;
  if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return rk_output_check_dir(path, kind, overwrite);
  RK_TRY(rk_output_read_marker(path, &m, &marked));
  if (overwrite || (marked && strcmp(m.kind, kind) == 0)) return RK_OK;
  if (marked)
    return rk_error(RK_EUSAGE, "'%s' holds a reckon %s output, not a %s output; refusing to write into it: pick another "
                    "folder, or pass --overwrite", path, m.kind, kind);
  for (int i = 0; names[i]; i++) {
    char *p = join(path, names[i]);
    if (!p) return RK_ENOMEM;
    bool exists = lstat(p, &sb) == 0;
    rk_free(p);
    if (exists)
      return rk_error(RK_EUSAGE, "'%s' already holds '%s', which reckon did not write (the folder has no reckon %s "
                      "marker); refusing to overwrite it: pick another folder, or pass --overwrite", path, names[i], kind);
  }
  return RK_OK;
}

/* The claim once the target was checked: create, lock, sweep, mark. */
static rk_status claim_checked(rk_output *out, const char *dir, const char *kind) {
  RK_TRY(rk_mkdir_p(dir));
  if (!(out->lock_path = join(dir, LOCK_NAME))) return RK_ENOMEM;
  rk_status st = lock(out, dir);
  if (st != RK_OK) {
    rk_free(out->lock_path);
    memset(out, 0, sizeof *out);
    return st;
  }
  /* Under the lock, what a killed run left is ours to clear; an existing marker of this kind keeps
   * its run id (and a publish it records as interrupted) until the next publish replaces it. */
  st = rk_output_sweep(dir, NULL);
  rk_output_marker m;
  bool marked = false;
  if (st == RK_OK) st = rk_output_read_marker(dir, &m, &marked);
  if (st == RK_OK && (!marked || strcmp(m.kind, kind) != 0)) st = rk_output_mark(dir, kind, NULL);
  if (st != RK_OK) rk_output_release(out);
  return st;
}

rk_status rk_output_claim(rk_output *out, const char *dir, const char *kind, bool overwrite) {
  memset(out, 0, sizeof *out);
  RK_TRY(rk_output_check_dir(dir, kind, overwrite));
  return claim_checked(out, dir, kind);
}

rk_status rk_output_claim_names(rk_output *out, const char *dir, const char *kind, const char *const *names,
                                bool overwrite) {
  memset(out, 0, sizeof *out);
  RK_TRY(rk_output_check_names(dir, kind, names, overwrite));
  return claim_checked(out, dir, kind);
}

void rk_output_release(rk_output *out) {
  if (out->held) {
    unlink(out->lock_path);   /* before closing: nobody can hold it by then (see lock) */
    close(out->lock_fd);
  }
  rk_free(out->lock_path);
  memset(out, 0, sizeof *out);
}

void rk_output_unclaim(rk_output *out, const char *dir) {
  char *marker = join(dir, RK_OUTPUT_MARKER);
  if (marker) unlink(marker);
  rk_free(marker);
  rk_output_release(out);
  rmdir(dir);   /* only when empty: what else is there stays */
}

/* ---- sets ---- */

rk_status rk_output_set_add(rk_output_set *set, const char *final_path, const char **temp) {
  *temp = NULL;
  if (set->n == RK_OUTPUT_SET_MAX)
    return rk_error(RK_EINTERNAL, "an output set holds at most %d files", RK_OUTPUT_SET_MAX);
  char *f = rk_strdup(final_path), *t = rk_temp_path(final_path);
  if (!f || !t) {
    rk_free(f);
    rk_free(t);
    return RK_ENOMEM;
  }
  set->final[set->n] = f;
  set->temp[set->n++] = t;
  *temp = t;
  return RK_OK;
}

rk_status rk_output_set_publish(rk_output_set *set) {
  /* Everything was written and closed before this: renames need no space, so a full disk cannot
   * stop the set half way. */
  for (int i = 0; i < set->n; i++) {
    if (access(set->temp[i], F_OK) != 0) continue;   /* an output this run did not produce */
    if (rename(set->temp[i], set->final[i]) != 0)
      return rk_error(RK_EIO, "cannot move '%s' to '%s': %s", set->temp[i], set->final[i], strerror(errno));
  }
  return RK_OK;
}

void rk_output_set_free(rk_output_set *set) {
  for (int i = 0; i < set->n; i++) {
    unlink(set->temp[i]);   /* published ones are gone already */
    rk_free(set->temp[i]);
    rk_free(set->final[i]);
  }
  set->n = 0;
}

/* ---- readers ---- */

rk_status rk_output_check_set(const char *dir) {
  rk_output_marker part, whole;
  bool has_part, has_whole;
  RK_TRY(rk_output_read_marker(dir, &part, &has_part));
  if (!has_part || !part.run[0]) return RK_OK;
  char *parent = join(dir, "..");
  if (!parent) return RK_ENOMEM;
  rk_status st = rk_output_read_marker(parent, &whole, &has_whole);
  rk_free(parent);
  RK_TRY(st);
  if (!has_whole) return RK_OK;   /* a part copied elsewhere stands alone */
  if (whole.publishing[0])
    return rk_error(RK_EFORMAT, "'%s' (run %s) is in a folder that reckon %s run %s was still moving into place over "
                    "run %s when it stopped, so its parts mix two runs; rerun reckon %s", dir, part.run, whole.kind,
                    whole.publishing, whole.run[0] ? whole.run : "(none)", whole.kind);
  if (whole.run[0] && strcmp(part.run, whole.run) != 0)
    return rk_error(RK_EFORMAT, "'%s' comes from run %s but its folder holds the outputs of run %s, so its parts mix "
                    "two runs; rerun reckon %s", dir, part.run, whole.run, whole.kind);
  return RK_OK;
}
