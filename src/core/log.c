/*
 * Logging with levels, and progress for long work.
 *
 * Progress draws a bar in place when the stream is a terminal, and prints a plain line every
 * 10 seconds otherwise (CI logs, pipes), so long jobs are never silent and never flood a log.
 * `--progress=never` silences it; `--quiet` raises the log level, which also hides progress
 * unless `--progress=always`.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reckon/core.h"

static rk_log_level log_level = RK_LOG_INFO;
static FILE *log_stream = NULL;   /* NULL: stderr */
static rk_progress_mode progress_mode = RK_PROGRESS_AUTO;

void rk_log_set_level(rk_log_level level) { log_level = level; }
rk_log_level rk_log_get_level(void) { return log_level; }
void rk_log_set_stream(FILE *stream) { log_stream = stream; }

static FILE *stream_out(void) { return log_stream ? log_stream : stderr; }

void rk_log(rk_log_level level, const char *fmt, ...) {
  if (level < log_level || level >= RK_LOG_OFF) return;
  static const char *const prefix[] = {"debug: ", "", "warning: ", "error: "};
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stream_out(), "%s%s\n", prefix[level], line);
  fflush(stream_out());
}

double rk_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rk_progress_set_mode(rk_progress_mode mode) { progress_mode = mode; }

rk_status rk_progress_mode_parse(const char *s, rk_progress_mode *out) {
  if (strcmp(s, "auto") == 0) *out = RK_PROGRESS_AUTO;
  else if (strcmp(s, "always") == 0) *out = RK_PROGRESS_ALWAYS;
  else if (strcmp(s, "never") == 0) *out = RK_PROGRESS_NEVER;
  else return rk_error(RK_EINVAL, "invalid progress mode '%s': expected auto, always or never", s);
  return RK_OK;
}

void rk_progress_begin(rk_progress *p, const char *label, double total, const char *unit) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->unit = unit ? unit : "";
  p->total = total;
  p->stream = stream_out();
  p->start_s = rk_now();
  p->last_draw_s = p->start_s;
  p->active = progress_mode == RK_PROGRESS_ALWAYS || (progress_mode == RK_PROGRESS_AUTO && log_level <= RK_LOG_INFO);
  p->tty = isatty(fileno(p->stream));
}

/* "1.23M" style numbers for rates and counts. */
static void human(char *buf, size_t size, double x) {
  if (x >= 1e9) snprintf(buf, size, "%.2fG", x / 1e9);
  else if (x >= 1e6) snprintf(buf, size, "%.2fM", x / 1e6);
  else if (x >= 1e4) snprintf(buf, size, "%.1fk", x / 1e3);
  else snprintf(buf, size, "%.0f", x);
}

static void draw(rk_progress *p, double now, bool final) {
  double elapsed = now - p->start_s;
  double rate = elapsed > 0 ? p->done / elapsed : 0.0;
  char done[32], total[32], r[32], eta[32] = "", note[100] = "";
  if (p->note[0]) snprintf(note, sizeof note, ", %s", p->note);
  human(done, sizeof done, p->done);
  human(total, sizeof total, p->total);
  human(r, sizeof r, rate);
  if (p->total > 0 && rate > 0 && !final) {
    int secs = (int)((p->total - p->done) / rate);
    snprintf(eta, sizeof eta, ", ETA %d:%02d", secs / 60, secs % 60);
  }
  if (p->tty) {
    char bar[31] = "";
    if (p->total > 0) {
      int fill = (int)(30.0 * (p->done / p->total > 1 ? 1 : p->done / p->total));
      for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
      bar[30] = '\0';
      fprintf(p->stream, "\r%s [%s] %3.0f%% %s/%s %s, %s %s/s%s%s\033[K", p->label, bar, 100.0 * p->done / p->total,
              done, total, p->unit, r, p->unit, note, eta);
    } else {
      fprintf(p->stream, "\r%s %s %s, %s %s/s%s\033[K", p->label, done, p->unit, r, p->unit, note);
    }
    if (final) fputc('\n', p->stream);
  } else if (p->total > 0) {
    fprintf(p->stream, "%s: %s/%s %s (%.0f%%), %s %s/s%s%s, %.1fs\n", p->label, done, total, p->unit,
            100.0 * p->done / p->total, r, p->unit, note, eta, elapsed);
  } else {
    fprintf(p->stream, "%s: %s %s, %s %s/s%s, %.1fs\n", p->label, done, p->unit, r, p->unit, note, elapsed);
  }
  fflush(p->stream);
  p->last_draw_s = now;
}

void rk_progress_update(rk_progress *p, double done) {
  p->done = done;
  if (!p->active) return;
  double now = rk_now();
  double every = p->tty ? 0.2 : 10.0;
  if (now - p->last_draw_s >= every) draw(p, now, false);
}

void rk_progress_end(rk_progress *p) {
  if (!p->active) return;
  double now = rk_now();
  /* Short jobs stay quiet; a job that showed progress gets its final line. */
  if (p->tty ? p->last_draw_s > p->start_s : now - p->start_s >= 10.0) draw(p, now, true);
  p->active = false;
}
