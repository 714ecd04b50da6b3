/*
 * Small file-system helpers shared by every writer: atomic replace, whole-file read, mkdir -p,
 * rm -rf and folder replacement.
 * Atomic writes go to a temporary name in the same folder and are renamed at the end, so a crash
 * or a full disk never leaves a half-written file under the final name.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reckon/core.h"

rk_status rk_write_file_atomic(const char *path, const void *data, size_t size) {
  char *tmp = rk_temp_path(path);
  if (!tmp) return RK_ENOMEM;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    rk_status s = rk_error(RK_EIO, "cannot create '%s': %s", tmp, strerror(errno));
    rk_free(tmp);
    return s;
  }
  const char *p = data;
  size_t left = size;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      rk_status s = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
      close(fd);
      unlink(tmp);
      rk_free(tmp);
      return s;
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    rk_status s = rk_error(RK_EIO, "cannot write '%s': %s", path, strerror(errno));
    unlink(tmp);
    rk_free(tmp);
    return s;
  }
  rk_free(tmp);
  return RK_OK;
}

rk_status rk_read_file(const char *path, char **data, size_t *size) {
  *data = NULL;
  *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return rk_error(RK_EIO, "cannot open '%s': %s", path, strerror(errno));
  size_t cap = 1 << 16, len = 0;
  char *buf = rk_malloc(cap);
  if (!buf) {
    fclose(f);
    return RK_ENOMEM;
  }
  for (;;) {
    if (len + 1 >= cap) {
      char *b = rk_realloc(buf, cap * 2);
      if (!b) {
        rk_free(buf);
        fclose(f);
        return RK_ENOMEM;
      }
      buf = b;
      cap *= 2;
    }
    size_t r = fread(buf + len, 1, cap - len - 1, f);
    len += r;
    if (r == 0) break;
  }
  bool failed = ferror(f);
  fclose(f);
  if (failed) {
    rk_free(buf);
    return rk_error(RK_EIO, "cannot read '%s'", path);
  }
  buf[len] = '\0';
  *data = buf;
  *size = len;
  return RK_OK;
}

rk_status rk_mkdir_p(const char *path) {
  if (path[0] == '\0') return rk_error(RK_EINVAL, "cannot create a folder with an empty name");
  char *p = rk_strdup(path);
  if (!p) return RK_ENOMEM;
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        rk_status st = rk_error(RK_EIO, "cannot create folder '%s': %s", p, strerror(errno));
        rk_free(p);
        return st;
      }
      *s = c;
      if (c == '\0') break;
    }
  }
  struct stat sb;
  bool ok = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  rk_free(p);
  if (!ok) return rk_error(RK_EIO, "'%s' exists and is not a folder", path);
  return RK_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

rk_status rk_remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return errno == ENOENT ? RK_OK : rk_error(RK_EIO, "cannot remove '%s': %s", path, strerror(errno));
  /* Depth first, not following links: a link inside is removed, never what it points to. */
  if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    return rk_error(RK_EIO, "cannot remove '%s': %s", path, strerror(errno));
  return RK_OK;
}

rk_status rk_replace_dir(const char *from, const char *to) {
  /* Swap the two folders in one step, so a crash at any moment leaves `to` whole (old or new);
   * then remove the old one, now under `from`. Where the file system cannot swap, fall back to
   * remove-then-rename, which has a moment without `to`. */
  struct stat sb;
  if (lstat(from, &sb) != 0) return rk_error(RK_EIO, "cannot move '%s' to '%s': %s", from, to, strerror(errno));
  if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0) return rk_remove_tree(from);
  if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)   /* ENOENT: no `to` yet */
    return rk_error(RK_EIO, "cannot move '%s' to '%s': %s", from, to, strerror(errno));
  RK_TRY(rk_remove_tree(to));
  if (rename(from, to) != 0) return rk_error(RK_EIO, "cannot move '%s' to '%s': %s", from, to, strerror(errno));
  return RK_OK;
}

int64_t rk_peak_rss_bytes(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (int64_t)ru.ru_maxrss * 1024;   /* Linux reports KiB */
}

/* Copy state for nftw, which takes no user pointer: one copy at a time per thread. */
static _Thread_local struct {
  const char *from, *to;
  size_t from_len;
  rk_status st;
} copy_job;

static rk_status copy_file(const char *src, const char *dst) {
  char *data;
  size_t size;
  RK_TRY(rk_read_file(src, &data, &size));
  FILE *f = fopen(dst, "wb");
  rk_status st = RK_OK;
  if (!f || fwrite(data, 1, size, f) != size) st = rk_error(RK_EIO, "cannot write '%s': %s", dst, strerror(errno));
  if (f && fclose(f) != 0 && st == RK_OK) st = rk_error(RK_EIO, "cannot write '%s': %s", dst, strerror(errno));
  rk_free(data);
  return st;
}

static int copy_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  char dst[4096];
  if (snprintf(dst, sizeof dst, "%s%s", copy_job.to, path + copy_job.from_len) >= (int)sizeof dst) {
    copy_job.st = rk_error(RK_EINVAL, "path too long: '%s'", path);
    return 1;
  }
  if (flag == FTW_D) copy_job.st = rk_mkdir_p(dst);
  else if (flag == FTW_F) copy_job.st = copy_file(path, dst);
  else copy_job.st = rk_error(RK_EIO, "cannot copy '%s': not a file or folder", path);
  return copy_job.st != RK_OK;
}

rk_status rk_copy_tree(const char *from, const char *to) {
  copy_job.from = from;
  copy_job.to = to;
  copy_job.from_len = strlen(from);
  copy_job.st = RK_OK;
  if (nftw(from, copy_entry, 16, FTW_PHYS) != 0)
    return copy_job.st != RK_OK ? copy_job.st : rk_error(RK_EIO, "cannot copy '%s': %s", from, strerror(errno));
  return RK_OK;
}
