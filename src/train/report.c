/*
 * report.html: one self-contained page about a training run, for a person to open in a browser.
 * Inline CSS and SVG only (no scripts, fonts, images or links out), so the file can be mailed or
 * attached to a ticket as it is. Plots are drawn here: nice 1-2-5 ticks, one polyline per series
 * (broken at gaps), a legend; the page follows the reader's light or dark colour scheme.
 *
 * Which keys share a plot: in the training log, every key whose name contains "loss" shares the
 * "Loss" plot and every other numeric key has a plot of its own; in the eval log, loss-like keys
 * share one plot, keys whose values all lie in [0, 1] (auc, precision, recall ...) share another
 * and the rest have their own.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "reckon/metrics.h"
#include "reckon/train.h"

#define MAX_POINTS 2000   /* per series; longer ones are thinned evenly, ends kept */
#define MAX_KEYS 64       /* plotted keys per log */
#define MARKER_POINTS 50  /* series with at most this many points get a dot at each */
#define CAL_BINS 10

/* ---- text with a sticky failure: appends after a failed one do nothing ---- */

typedef struct {
  char *data;
  size_t len, cap;
  rk_status status;
} hbuf;

static bool reserve(hbuf *b, size_t more) {
  if (b->status != RK_OK) return false;
  if (b->len + more + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 16384;
  while (cap < b->len + more + 1) cap *= 2;
  char *d = rk_realloc(b->data, cap);
  if (!d) {
    b->status = RK_ENOMEM;
    return false;
  }
  b->data = d;
  b->cap = cap;
  return true;
}

static void put(hbuf *b, const char *s, size_t n) {
  if (!reserve(b, n)) return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

static void puts_(hbuf *b, const char *s) { put(b, s, strlen(s)); }

static void RK_PRINTF(2, 3) printf_(hbuf *b, const char *fmt, ...) {
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n >= 0 && reserve(b, (size_t)n)) {
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, aq);
    b->len += (size_t)n;
  }
  va_end(aq);
}

/* Length of the UTF-8 sequence at p, or 0 when it is not one XML allows (malformed, overlong,
 * a surrogate, above U+10FFFF, U+FFFE/U+FFFF, or a control character other than \t \n \r). */
static int utf8_char(const unsigned char *p) {
  unsigned c = p[0];
  if (c < 0x80) return c >= 0x20 || c == '\t' || c == '\n' || c == '\r' ? 1 : 0;
  int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  for (int i = 1; i < len; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if (len == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) return 0;
  if (len == 3 && c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE) return 0;
  if (len == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))) return 0;
  return len;
}

/* Text from the inputs, safe in HTML and in SVG (XML): the five specials as entities, anything
 * XML forbids as U+FFFD. At most max_chars characters (0: all), "…" marking a cut. */
static void put_esc_n(hbuf *b, const char *s, size_t max_chars) {
  if (!s) return;
  const unsigned char *p = (const unsigned char *)s;
  size_t chars = 0;
  while (*p) {
    if (max_chars && chars == max_chars) {
      puts_(b, "\xE2\x80\xA6");
      return;
    }
    int len = utf8_char(p);
    const char *rep = NULL;
    switch (*p) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&quot;"; break;
      case '\'': rep = "&#39;"; break;
      default: break;
    }
    if (rep) {
      puts_(b, rep);
    } else if (len) {
      put(b, (const char *)p, (size_t)len);
    } else {
      puts_(b, "\xEF\xBF\xBD");
      len = 1;
    }
    p += len;
    chars++;
  }
}

static void put_esc(hbuf *b, const char *s) { put_esc_n(b, s, 0); }

/* Characters (not bytes) of a UTF-8 string, for estimating text widths. */
static size_t text_chars(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) n += (*p & 0xC0) != 0x80;
  return n;
}

#define CHAR_W 6.6   /* average advance of 11 px sans-serif text */

static void fmt_num(char *out, size_t size, double v, int digits) {
  if (isnan(v)) snprintf(out, size, "NaN");
  else if (isinf(v)) snprintf(out, size, v > 0 ? "inf" : "-inf");
  else snprintf(out, size, "%.*g", digits, v);
}

/* A JSON value as table text: numbers %.6g, strings as they are, arrays and objects as JSON. */
static void put_json_value(hbuf *b, const json_t *v) {
  char num[64];
  if (json_is_string(v)) {
    put_esc(b, json_string_value(v));
  } else if (json_is_integer(v)) {
    printf_(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  } else if (json_is_real(v)) {
    fmt_num(num, sizeof num, json_real_value(v), 6);
    puts_(b, num);
  } else if (json_is_true(v) || json_is_false(v)) {
    puts_(b, json_is_true(v) ? "true" : "false");
  } else if (!v || json_is_null(v)) {
    puts_(b, "<span class=\"na\">\xE2\x80\x94</span>");
  } else {   /* an array or an object, as compact JSON; a first pass measures it */
    size_t n = json_dumpb(v, NULL, 0, 0);
    char *text = n ? rk_malloc(n + 1) : NULL;
    if (!text || json_dumpb(v, text, n, 0) != n) {
      rk_free(text);
      if (b->status == RK_OK) b->status = n ? RK_ENOMEM : rk_error(RK_ENOMEM, "report: cannot format a JSON value");
      return;
    }
    text[n] = '\0';
    puts_(b, "<code>");
    put_esc(b, text);
    puts_(b, "</code>");
    rk_free(text);
  }
}

/* ---- plots ---- */

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1",
                                      "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#8f8f8f"};
#define NPALETTE ((int)(sizeof palette / sizeof palette[0]))

typedef struct {
  const char *name;
  double *x, *y;      /* n points; a non-finite y (or x) is a gap */
  int64_t n;
  const char *color;  /* NULL: the palette's colour for the series' place */
  bool dashed;
  bool markers;       /* a dot at every point */
} series;

typedef struct {
  const char *title, *xlabel, *ylabel;
  const series *s;
  int ns;
  bool unit;              /* both axes [0, 1] over a square area (ROC, calibration) */
  const int64_t *bins;    /* CAL_BINS counts drawn as bars in a strip under the plot */
} plot;

typedef struct {
  double lo, hi, step;
  int n;
  double v[24];
  char label[24][32];
  double width;           /* of the widest label, in px */
} axis;

static double nice_step(double raw) {
  double p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

/* Ticks over [lo, hi] (widened when empty), about `target` of them; `expand` moves the ends out
 * to ticks; `integer` keeps steps whole (training steps). */
static void make_axis(axis *a, double lo, double hi, int target, bool expand, bool integer) {
  if (!(hi > lo)) {
    double d = fabs(lo) > 0 ? fabs(lo) * 0.05 : 1;
    if (integer && d < 1) d = 1;
    lo = fmax(lo - d, -DBL_MAX);
    hi = fmin(hi + d, DBL_MAX);
  }
  if (!(hi * 0.5 - lo * 0.5 > 0)) lo -= 1, hi += 1;   /* subnormal ranges */
  a->n = 0;
  a->width = 0;
  a->lo = lo;
  a->hi = hi;
  /* in halves, so that a range as wide as the doubles does not overflow */
  double step = nice_step((hi * 0.5 - lo * 0.5) / target * 2);
  if (integer && step < 1) step = 1;
  a->step = step;
  if (!isfinite(step) || step <= 0) return;
  if (expand) {
    double elo = floor(lo / step + 1e-9) * step, ehi = ceil(hi / step - 1e-9) * step;
    if (isfinite(elo) && isfinite(ehi)) a->lo = lo = elo, a->hi = hi = ehi;
  }
  double first = ceil(lo / step - 1e-9) * step, mag = fmax(fabs(lo), fabs(hi));
  int decimals = (int)ceil(-log10(step) - 1e-9);
  decimals = decimals < 0 ? 0 : decimals > 9 ? 9 : decimals;
  for (int i = 0; i < 24; i++) {
    double v = first + i * step;
    if (v > hi + step * 1e-9) break;
    if (fabs(v) < step * 1e-6) v = 0;
    a->v[a->n] = v;
    char *l = a->label[a->n];
    if (v == 0) snprintf(l, sizeof a->label[0], "0");
    else if (mag >= 1e-3 && mag < 1e6) snprintf(l, sizeof a->label[0], "%.*f", decimals, v);
    else if (mag >= 1e6 && mag < 1e15) {   /* 2.5M steps, 1.2G samples */
      double scale = mag < 1e9 ? 1e6 : mag < 1e12 ? 1e9 : 1e12;
      int d = (int)ceil(-log10(step / scale) - 1e-9);
      snprintf(l, sizeof a->label[0], "%.*f%s", d < 0 ? 0 : d > 6 ? 6 : d, v / scale,
               scale == 1e6 ? "M" : scale == 1e9 ? "G" : "T");
    } else {   /* tiny or huge: one mantissa precision for all ticks */
      int d = (int)(floor(log10(mag)) - floor(log10(step)));
      snprintf(l, sizeof a->label[0], "%.*e", d < 0 ? 0 : d > 6 ? 6 : d, v);
    }
    double w = (double)strlen(l) * CHAR_W;
    if (w > a->width) a->width = w;
    a->n++;
  }
}

static bool finite_point(const series *s, int64_t i) { return isfinite(s->x[i]) && isfinite(s->y[i]); }

typedef struct {
  double L, T, pw, ph, xlo, xhi, ylo, yhi;
} frame;

/* Data to pixels, in halves so that no difference overflows. */
static double sx(const frame *f, double v) {
  return f->L + (v * 0.5 - f->xlo * 0.5) / (f->xhi * 0.5 - f->xlo * 0.5) * f->pw;
}
static double sy(const frame *f, double v) {
  return f->T + f->ph - (v * 0.5 - f->ylo * 0.5) / (f->yhi * 0.5 - f->ylo * 0.5) * f->ph;
}

static void line(hbuf *b, double x1, double y1, double x2, double y2) {
  printf_(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x1, y1, x2, y2);
}

static void draw_series(hbuf *b, const frame *f, const series *s, const char *color) {
  const char *dash = s->dashed ? " stroke-dasharray=\"5 4\"" : "";
  for (int64_t i = 0; i < s->n;) {
    if (!finite_point(s, i)) {
      i++;
      continue;
    }
    int64_t j = i;
    while (j < s->n && finite_point(s, j)) j++;
    if (j - i >= 2) {
      printf_(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" stroke-linejoin=\"round\"%s points=\"",
              color, dash);
      for (int64_t k = i; k < j; k++) printf_(b, "%s%.1f,%.1f", k > i ? " " : "", sx(f, s->x[k]), sy(f, s->y[k]));
      puts_(b, "\"/>\n");
    } else if (!s->markers) {   /* a lone point between gaps */
      printf_(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", sx(f, s->x[i]), sy(f, s->y[i]), color);
    }
    i = j;
  }
  if (s->markers)
    for (int64_t i = 0; i < s->n; i++)
      if (finite_point(s, i))
        printf_(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", sx(f, s->x[i]), sy(f, s->y[i]), color);
}

static void render_plot(hbuf *b, const plot *p) {
  const double W = p->unit ? 460 : 560, R = 18;
  /* the data's extent */
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  bool xint = true;
  int64_t points = 0;
  for (int k = 0; k < p->ns; k++)
    for (int64_t i = 0; i < p->s[k].n; i++) {
      if (!finite_point(&p->s[k], i)) continue;
      double x = p->s[k].x[i], y = p->s[k].y[i];
      xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y);
      xint = xint && x == floor(x);
      points++;
    }
  if (p->unit) xlo = ylo = 0, xhi = yhi = 1;
  axis ya = {0}, xa = {0};
  if (points) make_axis(&ya, ylo, yhi, 5, !p->unit, false);
  double L = 30 + (points ? ya.width : 0) + 10;
  if (L < 48) L = 48;

  /* the legend, wrapped into rows from the plot's left edge */
  double lx = L;
  int rows = p->ns > 0 ? 1 : 0;
  double ex[MAX_KEYS + 2] = {0};
  int er[MAX_KEYS + 2] = {0};
  for (int k = 0; k < p->ns && k < MAX_KEYS + 2; k++) {
    size_t chars = text_chars(p->s[k].name);
    double w = 24 + (double)(chars > 40 ? 41 : chars) * CHAR_W + 16;
    if (lx + w > W - R && lx > L) {
      lx = L;
      rows++;
    }
    ex[k] = lx;
    er[k] = rows - 1;
    lx += w;
  }
  const double T = 30 + rows * 16 + 8;
  const double pw = W - L - R, ph = p->unit ? pw : 220;
  const double stripT = T + ph + 48, stripH = 54;
  const double H = T + ph + 44 + (p->bins ? stripH + 14 : 0);

  printf_(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
             "font-family=\"system-ui, sans-serif\" font-size=\"11\" fill=\"currentColor\" role=\"img\" aria-label=\"",
          W, H, W, H);
  put_esc(b, p->title);
  puts_(b, "\">\n<title>");
  put_esc(b, p->title);
  printf_(b, "</title>\n<text x=\"%.1f\" y=\"18\" font-size=\"13\" font-weight=\"600\">", L);
  put_esc_n(b, p->title, (size_t)((W - L - R) / 7.6));
  puts_(b, "</text>\n");
  for (int k = 0; k < p->ns && k < MAX_KEYS + 2; k++) {
    const series *s = &p->s[k];
    const char *color = s->color ? s->color : palette[k % NPALETTE];
    double y = 34 + er[k] * 16;
    printf_(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"%s/>", ex[k], y,
            ex[k] + 18, y, color, s->dashed ? " stroke-dasharray=\"4 3\"" : "");
    if (s->markers) printf_(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", ex[k] + 9, y, color);
    printf_(b, "<text x=\"%.1f\" y=\"%.1f\">", ex[k] + 24, y + 4);
    put_esc_n(b, s->name, 40);
    bool any = false;
    for (int64_t i = 0; i < s->n && !any; i++) any = finite_point(s, i);
    if (!any) puts_(b, " (no data)");
    puts_(b, "</text>\n");
  }

  if (!points) {
    printf_(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"currentColor\" "
               "stroke-opacity=\"0.25\" stroke-dasharray=\"4 4\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
               "fill-opacity=\"0.6\">no data</text>\n</svg>\n",
            L, T, pw, ph, L + pw / 2, T + ph / 2);
    return;
  }
  /* x ticks: fewer until the labels fit */
  for (int target = 6; target >= 2; target--) {
    make_axis(&xa, xlo, xhi, target, false, xint && !p->unit);
    if (p->unit) xa.lo = 0, xa.hi = 1;
    if (xa.n * (xa.width + 12) <= pw || target == 2) break;
  }
  if (p->unit) ya.lo = 0, ya.hi = 1;
  frame f = {L, T, pw, ph, xa.lo, xa.hi, ya.lo, ya.hi};

  /* grid, axes, ticks and labels */
  puts_(b, "<g stroke=\"currentColor\" stroke-opacity=\"0.12\">");
  for (int i = 0; i < ya.n; i++) line(b, L, sy(&f, ya.v[i]), L + pw, sy(&f, ya.v[i]));
  for (int i = 0; i < xa.n; i++) line(b, sx(&f, xa.v[i]), T, sx(&f, xa.v[i]), T + ph);
  puts_(b, "</g>\n<g stroke=\"currentColor\" stroke-opacity=\"0.6\">");
  line(b, L, T, L, T + ph);
  line(b, L, T + ph, L + pw, T + ph);
  for (int i = 0; i < ya.n; i++) line(b, L - 4, sy(&f, ya.v[i]), L, sy(&f, ya.v[i]));
  for (int i = 0; i < xa.n; i++) line(b, sx(&f, xa.v[i]), T + ph, sx(&f, xa.v[i]), T + ph + 4);
  puts_(b, "</g>\n<g fill-opacity=\"0.8\">");
  for (int i = 0; i < ya.n; i++)
    printf_(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>", L - 7, sy(&f, ya.v[i]) + 4, ya.label[i]);
  for (int i = 0; i < xa.n; i++)
    printf_(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", sx(&f, xa.v[i]), T + ph + 17,
            xa.label[i]);
  puts_(b, "</g>\n");
  printf_(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", L + pw / 2, T + ph + 36);
  put_esc_n(b, p->xlabel, 60);
  printf_(b, "</text>\n<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">", T + ph / 2);
  put_esc_n(b, p->ylabel, (size_t)(ph / 7));
  puts_(b, "</text>\n");

  if (p->bins) {   /* examples per bin, under the plot on the same x scale */
    int64_t most = 1;
    for (int i = 0; i < CAL_BINS; i++) most = p->bins[i] > most ? p->bins[i] : most;
    double base = stripT + stripH;
    printf_(b, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\">count</text>\n",
            stripT + stripH / 2);
    puts_(b, "<g stroke=\"currentColor\" stroke-opacity=\"0.6\">");
    line(b, L, base, L + pw, base);
    puts_(b, "</g>\n");
    for (int i = 0; i < CAL_BINS; i++) {
      double x0 = sx(&f, (double)i / CAL_BINS) + 2, x1 = sx(&f, (double)(i + 1) / CAL_BINS) - 2;
      double h = p->bins[i] ? fmax(1, (double)p->bins[i] / (double)most * (stripH - 16)) : 0;
      printf_(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" fill-opacity=\"0.45\"/>", x0,
              base - h, x1 - x0, h, palette[0]);
      char count[32];
      int64_t c = p->bins[i];
      if (c < 100000) snprintf(count, sizeof count, "%lld", (long long)c);
      else if (c < 100000000) snprintf(count, sizeof count, "%.0fk", (double)c / 1e3);
      else snprintf(count, sizeof count, "%.0fM", (double)c / 1e6);
      printf_(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%s</text>\n", (x0 + x1) / 2,
              base - h - 3, count);
    }
  }
  for (int k = 0; k < p->ns; k++)
    draw_series(b, &f, &p->s[k], p->s[k].color ? p->s[k].color : palette[k % NPALETTE]);
  puts_(b, "</svg>\n");
}

static void figure(hbuf *b, const plot *p) {
  puts_(b, "<figure>\n");
  render_plot(b, p);
  puts_(b, "</figure>\n");
}

/* ---- logs ---- */

/* An entry's x: its "step" (a number, or the last element of an array such as [epoch, step]),
 * else its place in the log. */
static double step_of(const json_t *e, size_t index) {
  const json_t *s = json_object_get(e, "step");
  if (json_is_array(s) && json_array_size(s) > 0) s = json_array_get(s, json_array_size(s) - 1);
  return json_is_number(s) ? json_number_value(s) : (double)index;
}

/* The series of `key`: its numbers, thinned evenly to MAX_POINTS (first and last kept), with a
 * gap (NaN) wherever a null or another non-number came between two kept points. Entries without
 * the key are skipped: that key was not logged there. */
static rk_status load_series(const json_t *log, const char *key, series *s) {
  size_t n = json_array_size(log);
  int64_t numbers = 0;
  for (size_t i = 0; i < n; i++) numbers += json_is_number(json_object_get(json_array_get(log, i), key));
  int64_t k = numbers < MAX_POINTS ? numbers : MAX_POINTS;
  s->name = key;
  s->n = 0;
  s->x = rk_malloc((size_t)(2 * k + 1) * sizeof *s->x);
  s->y = rk_malloc((size_t)(2 * k + 1) * sizeof *s->y);
  if (!s->x || !s->y) return RK_ENOMEM;
  int64_t seen = 0, kept = 0;
  bool gap = false;
  for (size_t i = 0; i < n && kept < k; i++) {
    const json_t *e = json_array_get(log, i), *v = json_object_get(e, key);
    if (!v) continue;
    if (!json_is_number(v)) {
      gap = true;
      continue;
    }
    int64_t want = k < numbers ? kept * (numbers - 1) / (k - 1) : kept;
    if (seen++ != want) continue;
    double x = step_of(e, i);
    if (gap && s->n > 0) {
      s->x[s->n] = x;
      s->y[s->n++] = NAN;
    }
    gap = false;
    s->x[s->n] = x;
    s->y[s->n++] = json_number_value(v);
    kept++;
  }
  s->markers = kept <= MARKER_POINTS;
  return RK_OK;
}

static bool loss_like(const char *key) { return strcasestr(key, "loss") != NULL; }

static bool within_unit(const series *s) {
  bool any = false;
  for (int64_t i = 0; i < s->n; i++) {
    if (!finite_point(s, i)) continue;
    if (s->y[i] < 0 || s->y[i] > 1) return false;
    any = true;
  }
  return any;
}

static const char *friendly_title(const char *key) {
  if (!strcmp(key, "lr") || !strcmp(key, "learning_rate")) return "Learning rate";
  if (!strcmp(key, "samples_per_s")) return "Throughput (samples/s)";
  return key;
}

/* Plots of one log (the training log, or the eval log when `eval`), or a note. */
static rk_status log_plots(hbuf *b, const json_t *log, bool eval) {
  size_t n = json_array_size(log);
  if (n == 0) {
    puts_(b, "<p class=\"note\">No data: the log is empty.</p>\n");
    return RK_OK;
  }
  const char *keys[MAX_KEYS];
  int nk = 0;
  bool more = false;   /* numeric keys past MAX_KEYS */
  double first = NAN, last = NAN;
  for (size_t i = 0; i < n; i++) {
    const json_t *e = json_array_get(log, i), *v;
    const char *key;
    if (!json_is_object(e)) continue;
    double x = step_of(e, i);
    if (isnan(first)) first = x;
    last = x;
    json_object_foreach((json_t *)e, key, v) {
      if (!json_is_number(v) || !strcmp(key, "step") || !strcmp(key, "epoch")) continue;
      int j = 0;
      while (j < nk && strcmp(keys[j], key)) j++;
      if (j < nk) continue;
      if (nk < MAX_KEYS) keys[nk++] = key;
      else more = true;
    }
  }
  printf_(b, "<p class=\"note\">%zu %s", n, n == 1 ? "entry" : "entries");
  if (!isnan(first)) printf_(b, n == 1 ? ", step %.10g" : ", steps %.10g to %.10g", first, last);
  if (more) printf_(b, "; only the first %d numeric keys are plotted", MAX_KEYS);
  puts_(b, ".</p>\n");
  if (nk == 0) {
    puts_(b, "<p class=\"note\">No data: no numeric values were logged.</p>\n");
    return RK_OK;
  }
  series *s = rk_calloc((size_t)nk, sizeof *s);
  if (!s) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int k = 0; k < nk && st == RK_OK; k++) st = load_series(log, keys[k], &s[k]);
  if (st == RK_OK) {
    /* groups: 0 loss-like, 1 eval metrics within [0, 1], 2 each on its own */
    int group[MAX_KEYS];
    for (int k = 0; k < nk; k++) group[k] = loss_like(keys[k]) ? 0 : eval && within_unit(&s[k]) ? 1 : 2;
    puts_(b, "<div class=\"plots\">\n");
    for (int g = 0; g < 2; g++) {
      series members[MAX_KEYS];
      int m = 0;
      for (int k = 0; k < nk; k++)
        if (group[k] == g) members[m++] = s[k];
      if (m == 0) continue;
      plot p = {g == 0 ? (eval ? "Eval loss" : "Loss") : "Eval metrics", "step", g == 0 ? "loss" : "value", members, m,
                false, NULL};
      figure(b, &p);
    }
    for (int k = 0; k < nk; k++) {
      if (group[k] != 2) continue;
      plot p = {friendly_title(keys[k]), "step", keys[k], &s[k], 1, false, NULL};
      figure(b, &p);
    }
    puts_(b, "</div>\n");
  }
  for (int k = 0; k < nk; k++) {
    rk_free(s[k].x);
    rk_free(s[k].y);
  }
  rk_free(s);
  return st;
}

/* ---- tables ---- */

static void kv_table(hbuf *b, const json_t *obj, const char *head_key, const char *head_value, size_t from, size_t to,
                     bool numeric) {
  printf_(b, "<table><thead><tr><th>%s</th><th>%s</th></tr></thead><tbody>\n", head_key, head_value);
  size_t i = 0;
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    if (i >= from && i < to) {
      puts_(b, "<tr><td>");
      put_esc(b, key);
      printf_(b, "</td><td%s>", numeric && (json_is_number(v) || json_is_null(v)) ? " class=\"num\"" : "");
      put_json_value(b, v);
      puts_(b, "</td></tr>\n");
    }
    i++;
  }
  puts_(b, "</tbody></table>\n");
}

static void params_section(hbuf *b, const json_t *params) {
  puts_(b, "<section id=\"params\">\n<h2>Parameters</h2>\n");
  size_t n = json_object_size(params);
  if (n == 0) {
    puts_(b, "<p class=\"note\">No parameters recorded.</p>\n</section>\n");
    return;
  }
  /* long lists side by side, in columns of at most ~ceil(n / columns) rows */
  size_t cols = n <= 10 ? 1 : n <= 30 ? 2 : 3, per = (n + cols - 1) / cols;
  puts_(b, "<div class=\"kv\">\n");
  for (size_t from = 0; from < n; from += per) kv_table(b, params, "parameter", "value", from, from + per, false);
  puts_(b, "</div>\n</section>\n");
}

/* ---- the final eval: metrics, ROC, calibration ---- */

static rk_status final_section(hbuf *b, const rk_report *r) {
  puts_(b, "<section id=\"final\">\n<h2>Final evaluation</h2>\n");
  if (json_object_size(r->final_metrics) > 0) {
    puts_(b, "<div class=\"kv\">\n");
    kv_table(b, r->final_metrics, "metric", "value", 0, json_object_size(r->final_metrics), true);
    puts_(b, "</div>\n");
  } else {
    puts_(b, "<p class=\"note\">No final metrics recorded.</p>\n");
  }
  if (!r->prob || r->n == 0) {
    puts_(b, "<p class=\"note\">No predictions: no ROC curve or calibration plot.</p>\n</section>\n");
    return RK_OK;
  }
  /* the usable predictions */
  int64_t bad = 0, pos = 0;
  for (int64_t i = 0; i < r->n; i++) {
    bool ok = isfinite(r->prob[i]) && (r->label[i] == 0.0f || r->label[i] == 1.0f);
    bad += !ok;
    pos += ok && r->label[i] == 1.0f;
  }
  int64_t m = r->n - bad;
  const float *prob = r->prob, *label = r->label;
  float *pcopy = NULL, *lcopy = NULL;
  if (bad && m) {
    pcopy = rk_malloc((size_t)m * sizeof *pcopy);
    lcopy = rk_malloc((size_t)m * sizeof *lcopy);
    if (!pcopy || !lcopy) {
      rk_free(pcopy);
      rk_free(lcopy);
      return RK_ENOMEM;
    }
    for (int64_t i = 0, j = 0; i < r->n; i++)
      if (isfinite(r->prob[i]) && (r->label[i] == 0.0f || r->label[i] == 1.0f)) {
        pcopy[j] = r->prob[i];
        lcopy[j++] = r->label[i];
      }
    prob = pcopy;
    label = lcopy;
  }
  printf_(b, "<p class=\"note\">%lld predictions, %lld positive (%.4g%%).", (long long)m, (long long)pos,
          m ? 100.0 * (double)pos / (double)m : 0.0);
  if (bad)
    printf_(b, " %lld left out: probability not finite or label not 0/1.", (long long)bad);
  puts_(b, "</p>\n");

  rk_binary_metrics *bm = NULL;
  rk_binary_result res = {0};
  double *fpr = NULL, *tpr = NULL;
  int64_t npts = 0;
  rk_status st = RK_OK;
  if (m > 0) {
    st = rk_binary_metrics_create(&bm);
    if (st == RK_OK) st = rk_binary_metrics_add(bm, prob, label, NULL, m);
    if (st == RK_OK) st = rk_binary_metrics_compute(bm, &res);
    if (st == RK_OK && isfinite(res.auc)) st = rk_binary_metrics_roc(bm, MAX_POINTS, &fpr, &tpr, &npts);
  }
  if (st == RK_OK && m > 0) {
    puts_(b, "<div class=\"plots\">\n");
    double diag[2] = {0, 1};
    if (fpr) {
      char title[96], name[64];
      snprintf(title, sizeof title, "ROC curve (AUC = %.4f)", res.auc);
      snprintf(name, sizeof name, "model (AUC %.4f)", res.auc);
      series s[2] = {{name, fpr, tpr, npts, palette[0], false, false},
                     {"chance", diag, diag, 2, palette[NPALETTE - 1], true, false}};
      plot p = {title, "false positive rate", "true positive rate", s, 2, true, NULL};
      figure(b, &p);
    } else {
      puts_(b, "<figure><p class=\"note\">No ROC curve: the labels hold one class only (AUC undefined).</p>"
               "</figure>\n");
    }
    /* calibration: 10 equal-width bins of the (clipped) probability */
    int64_t count[CAL_BINS] = {0};
    double sum_p[CAL_BINS] = {0}, sum_y[CAL_BINS] = {0};
    for (int64_t i = 0; i < m; i++) {
      double q = prob[i] < 0 ? 0 : prob[i] > 1 ? 1 : prob[i];
      int k = (int)(q * CAL_BINS);
      k = k >= CAL_BINS ? CAL_BINS - 1 : k;
      count[k]++;
      sum_p[k] += q;
      sum_y[k] += label[i];
    }
    double mx[CAL_BINS], my[CAL_BINS];
    int nb = 0;
    for (int k = 0; k < CAL_BINS; k++)
      if (count[k]) {
        mx[nb] = sum_p[k] / (double)count[k];
        my[nb++] = sum_y[k] / (double)count[k];
      }
    series s[2] = {{"observed positive rate", mx, my, nb, palette[1], false, true},
                   {"ideal", diag, diag, 2, palette[NPALETTE - 1], true, false}};
    plot p = {"Calibration (10 equal-width bins)", "mean predicted probability", "observed positive rate", s, 2, true,
              count};
    puts_(b, "<figure>\n");
    render_plot(b, &p);
    puts_(b, "<details><summary>Calibration bins</summary>\n<table><thead><tr><th>bin</th><th>count</th>"
             "<th>mean predicted</th><th>observed rate</th></tr></thead><tbody>\n");
    for (int k = 0; k < CAL_BINS; k++) {
      printf_(b, "<tr><td>[%.1f, %.1f%s</td><td class=\"num\">%lld</td>", k / 10.0, (k + 1) / 10.0,
              k == CAL_BINS - 1 ? "]" : ")", (long long)count[k]);
      if (count[k])
        printf_(b, "<td class=\"num\">%.4f</td><td class=\"num\">%.4f</td></tr>\n", sum_p[k] / (double)count[k],
                sum_y[k] / (double)count[k]);
      else
        puts_(b, "<td class=\"num na\">\xE2\x80\x94</td><td class=\"num na\">\xE2\x80\x94</td></tr>\n");
    }
    puts_(b, "</tbody></table></details>\n</figure>\n</div>\n");
  } else if (st == RK_OK) {
    puts_(b, "<p class=\"note\">No usable predictions: no ROC curve or calibration plot.</p>\n");
  }
  puts_(b, "</section>\n");
  rk_free(fpr);
  rk_free(tpr);
  rk_binary_metrics_free(bm);
  rk_free(pcopy);
  rk_free(lcopy);
  return st;
}

/* ---- the page ---- */

static const char css[] =
    ":root{color-scheme:light dark;--bg:#f6f7f9;--fg:#1f2328;--muted:#667085;--card:#fff;--line:#dde1e6;"
    "--accent:#3b6ea5}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#15171b;--fg:#e4e6ea;--muted:#98a0ab;--card:#1e2127;"
    "--line:#343942;--accent:#8ab4f8}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",sans-serif}\n"
    "header{background:var(--card);border-bottom:1px solid var(--line)}\n"
    "header>div,main{max-width:1200px;margin:0 auto;padding:0 28px}\n"
    "header>div{padding-top:18px;padding-bottom:12px}\n"
    "h1{margin:0 0 4px;font-size:22px;font-weight:650;overflow-wrap:anywhere}\n"
    "h2{font-size:17px;margin:0 0 10px;padding-bottom:5px;border-bottom:1px solid var(--line)}\n"
    "nav a{color:var(--accent);margin-right:16px;text-decoration:none}\nnav a:hover{text-decoration:underline}\n"
    ".meta,.note{color:var(--muted)}\n.note{margin:4px 0 10px}\n"
    "main{padding-bottom:36px}\nsection{margin-top:26px}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:14px;align-items:start}\n"
    "figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}\n"
    "figure svg{display:block;width:100%;max-width:620px;height:auto;margin:0 auto}\n"
    "figure .note{margin:8px}\n"
    ".kv{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px;align-items:start;"
    "margin-bottom:14px}\n"
    "table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line)}\n"
    "th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}\n"
    "th{font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.03em}\n"
    "td:first-child{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}\n"
    "td{overflow-wrap:anywhere}\ntd:first-child{overflow-wrap:break-word}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}\n"
    ".na{color:var(--muted)}\n"
    "details{margin-top:8px}\nsummary{cursor:pointer;color:var(--accent)}\ndetails table{margin-top:6px}\n"
    "footer{max-width:1200px;margin:0 auto;padding:12px 28px 28px;color:var(--muted);font-size:12px}\n";

static rk_status check_inputs(const char *path, const rk_report *r) {
  if (!path || !r) return rk_error(RK_EINVAL, "report: no path or no report given");
  if (r->params && !json_is_object(r->params))
    return rk_error(RK_EINVAL, "report '%s': params is not a JSON object", path);
  if (r->final_metrics && !json_is_object(r->final_metrics))
    return rk_error(RK_EINVAL, "report '%s': final_metrics is not a JSON object", path);
  if (r->train_log && !json_is_array(r->train_log))
    return rk_error(RK_EINVAL, "report '%s': train_log is not a JSON array", path);
  if (r->eval_log && !json_is_array(r->eval_log))
    return rk_error(RK_EINVAL, "report '%s': eval_log is not a JSON array", path);
  if (r->n < 0) return rk_error(RK_EINVAL, "report '%s': %lld predictions", path, (long long)r->n);
  if (r->prob && r->n > 0 && !r->label) return rk_error(RK_EINVAL, "report '%s': probabilities without labels", path);
  return RK_OK;
}

rk_status rk_report_write_html(const char *path, const rk_report *r) {
  RK_TRY(check_inputs(path, r));
  const char *title = r->title && r->title[0] ? r->title : "reckon train";
  hbuf b = {0};
  char when[64] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
  bool eval = json_array_size(r->eval_log) > 0;

  puts_(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  printf_(&b, "<meta name=\"generator\" content=\"reckon %s\">\n<title>", rk_version());
  put_esc(&b, title);
  printf_(&b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header><div>\n<h1>", css);
  put_esc(&b, title);
  printf_(&b, "</h1>\n<p class=\"meta\">Written %s by reckon %s (%s).</p>\n<nav><a href=\"#params\">Parameters</a>"
              "<a href=\"#training\">Training</a>%s<a href=\"#final\">Final evaluation</a></nav>\n"
              "</div></header>\n<main>\n",
          when, rk_version(), rk_git_revision(), eval ? "<a href=\"#eval\">Evaluation during training</a>" : "");
  params_section(&b, r->params);

  rk_status st = RK_OK;
  puts_(&b, "<section id=\"training\">\n<h2>Training</h2>\n");
  if (r->train_log) st = log_plots(&b, r->train_log, false);
  else puts_(&b, "<p class=\"note\">No data: no training log.</p>\n");
  puts_(&b, "</section>\n");
  if (st == RK_OK && eval) {
    puts_(&b, "<section id=\"eval\">\n<h2>Evaluation during training</h2>\n");
    st = log_plots(&b, r->eval_log, true);
    puts_(&b, "</section>\n");
  }
  if (st == RK_OK) st = final_section(&b, r);
  puts_(&b, "</main>\n<footer>A self-contained page: inline CSS and SVG, no scripts.</footer>\n</body>\n</html>\n");

  if (st == RK_OK) st = b.status;
  if (st == RK_OK) {
    st = rk_write_file_atomic(path, b.data, b.len);
    if (st != RK_OK && st != RK_ENOMEM) rk_error_context(st, "cannot write report '%s'", path);
  }
  rk_free(b.data);
  return st;
}
