/*
 * Filter queries: the subset of pandas' DataFrame.query that `--filter_query` users write,
 * parsed once into a tree and evaluated over blocks of rows (a typed vector per node per block),
 * blocks in parallel. Semantics follow pandas where it matters to a filter: exact integer
 * comparisons, NaN rules for nulls, Python's chained comparisons and modulo sign.
 *
 * One deliberate difference: `&` and `|` bind like `and` and `or`. In Python they bind tighter
 * than comparisons, so `a == 1 & b == 2` means `a == (1 & b) == 2`; pandas users parenthesise
 * such terms anyway, and the looser reading is the one they mean when they do not.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reckon/etl.h"

/* ---- the tree ---- */

typedef enum { N_COL, N_INT, N_FLT, N_STR, N_NEG, N_NOT, N_AND, N_OR, N_CMP, N_ARITH, N_IN } node_kind;
typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } cmp_op;
typedef enum { T_INT, T_FLT, T_STR, T_BOOL } vtype;

typedef struct node node;
struct node {
  node_kind kind;
  int op;                  /* cmp_op for N_CMP (per link), '+', '-', '*', '/', '%' for N_ARITH */
  node **kids;             /* operands: N_CMP chains, N_AND/N_OR/N_IN (kids[0] the value, rest the list) */
  int nkids;
  int *ops;                /* N_CMP: nkids - 1 operators */
  bool negate;             /* N_IN: not in */
  int64_t i;
  double f;
  char *s;
  size_t slen;
  int col;                 /* N_COL: index into the query's names */
  vtype type;              /* set when bound to a batch */
  int height;              /* 1 for a leaf: how deep freeing and evaluating it recurse */
};

/* Parsing, evaluating and freeing recurse, so what a query can ask of the stack is bounded: at
 * most MAX_NESTING levels of parentheses, signs and `not`, and trees at most MAX_HEIGHT high (a
 * chain `a and b and ...` grows one level a term). Both are far past any filter a person writes. */
enum { MAX_NESTING = 64, MAX_HEIGHT = 1024 };

struct rk_query {
  char *text;
  node *root;
  char **names;
  int nnames;
};

static void node_free(node *n) {
  if (!n) return;
  for (int k = 0; k < n->nkids; k++) node_free(n->kids[k]);
  rk_free(n->kids);
  rk_free(n->ops);
  rk_free(n->s);
  rk_free(n);
}

void rk_query_free(rk_query *q) {
  if (!q) return;
  node_free(q->root);
  for (int i = 0; i < q->nnames; i++) rk_free(q->names[i]);
  rk_free(q->names);
  rk_free(q->text);
  rk_free(q);
}

int rk_query_num_columns(const rk_query *q) { return q->nnames; }
const char *rk_query_column(const rk_query *q, int i) { return q->names[i]; }

/* ---- lexer and parser ---- */

typedef enum { K_END, K_NUM, K_STR, K_NAME, K_OP, K_AND, K_OR, K_NOT, K_IN, K_TRUE, K_FALSE } tok_kind;

typedef struct {
  rk_query *q;
  const char *src;
  size_t pos;
  tok_kind kind;           /* the current token */
  size_t start;
  char op[3];
  char *text;              /* K_NAME / K_STR (owned until taken) */
  size_t text_len;
  bool is_float;
  int64_t i;
  double f;
  int nesting;             /* the open parentheses, signs and `not`s the parser is inside */
  rk_status st;
} parser;

static rk_status fail(parser *p, size_t at, const char *what) {
  /* A long query is quoted by its start, so the message keeps room for what is wrong. */
  int quoted = strlen(p->src) > 80 ? 60 : 80;
  if (p->st == RK_OK)
    p->st = rk_error(RK_EPARSE, "cannot parse --filter_query '%.*s%s': %s at offset %zu", quoted, p->src,
                     strlen(p->src) > 80 ? "..." : "", what, at);
  return p->st;
}

static bool name_char(int c) { return isalnum(c) || c == '_' || c == '.'; }

static rk_status lex_string(parser *p, char quote) {
  size_t at = p->pos++;
  size_t cap = 16, n = 0;
  char *buf = rk_malloc(cap);
  if (!buf) return p->st = RK_ENOMEM;
  for (;;) {
    char c = p->src[p->pos];
    if (c == '\0') {
      rk_free(buf);
      return fail(p, at, "unterminated string");
    }
    p->pos++;
    if (c == quote) break;
    if (c == '\\' && p->src[p->pos]) {
      char e = p->src[p->pos++];
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
    }
    if (n + 1 >= cap) {
      char *g = rk_realloc(buf, cap *= 2);
      if (!g) {
        rk_free(buf);
        return p->st = RK_ENOMEM;
      }
      buf = g;
    }
    buf[n++] = c;
  }
  buf[n] = '\0';
  p->kind = K_STR;
  p->text = buf;
  p->text_len = n;
  return RK_OK;
}

static rk_status lex_name(parser *p, size_t from, size_t to) {
  size_t n = to - from;
  if (!(p->text = rk_malloc(n + 1))) return p->st = RK_ENOMEM;
  memcpy(p->text, p->src + from, n);
  p->text[n] = '\0';
  p->text_len = n;
  p->kind = K_NAME;
  static const struct { const char *word; tok_kind kind; } words[] = {
      {"and", K_AND}, {"or", K_OR}, {"not", K_NOT}, {"in", K_IN}, {"True", K_TRUE}, {"False", K_FALSE}};
  for (size_t k = 0; k < sizeof words / sizeof *words; k++) {
    if (strcmp(p->text, words[k].word) == 0) {
      p->kind = words[k].kind;
      rk_free(p->text);
      p->text = NULL;
      break;
    }
  }
  return RK_OK;
}

static rk_status lex_number(parser *p) {
  const char *s = p->src + p->pos;
  char *end;
  size_t span = strspn(s, "0123456789");
  bool is_float = s[span] == '.' || s[span] == 'e' || s[span] == 'E' || (span == 0 && s[0] == '.');
  if (!is_float) {
    long long v = strtoll(s, &end, 10);
    if (end - s != (long)span || span > 18) is_float = true;   /* too long for int64: a float */
    else p->i = v;
  }
  if (is_float) {
    p->f = strtod(s, &end);
    if (end == s) return fail(p, p->pos, "expected a number");
  }
  if (name_char((unsigned char)*end) && *end != '.') return fail(p, (size_t)(end - p->src), "unexpected character after a number");
  p->is_float = is_float;
  p->kind = K_NUM;
  p->pos = (size_t)(end - p->src);
  return RK_OK;
}

static rk_status next(parser *p) {
  rk_free(p->text);
  p->text = NULL;
  while (isspace((unsigned char)p->src[p->pos])) p->pos++;
  p->start = p->pos;
  char c = p->src[p->pos];
  if (c == '\0') {
    p->kind = K_END;
    return RK_OK;
  }
  if (c == '\'' || c == '"') return lex_string(p, c);
  if (c == '`') {
    const char *close = strchr(p->src + p->pos + 1, '`');
    if (!close) return fail(p, p->pos, "unterminated `name`");
    size_t from = p->pos + 1, n = (size_t)(close - p->src) - from;
    p->pos = from + n + 1;
    if (!(p->text = rk_malloc(n + 1))) return p->st = RK_ENOMEM;
    memcpy(p->text, p->src + from, n);
    p->text[n] = '\0';
    p->text_len = n;
    p->kind = K_NAME;   /* backquotes make even a keyword a name */
    return RK_OK;
  }
  if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)p->src[p->pos + 1]))) return lex_number(p);
  if (isalpha((unsigned char)c) || c == '_') {
    size_t to = p->pos;
    while (name_char((unsigned char)p->src[to])) to++;
    size_t from = p->pos;
    p->pos = to;
    return lex_name(p, from, to);
  }
  static const char *const two[] = {"==", "!=", "<=", ">="};
  for (size_t k = 0; k < 4; k++) {
    if (strncmp(p->src + p->pos, two[k], 2) == 0) {
      memcpy(p->op, two[k], 3);
      p->pos += 2;
      p->kind = K_OP;
      return RK_OK;
    }
  }
  if (c == '=') return fail(p, p->pos, "a lone '=' (use == to compare)");
  if (strchr("<>+-*/%()[],&|~", c)) {
    p->op[0] = c;
    p->op[1] = '\0';
    p->pos++;
    p->kind = K_OP;
    return RK_OK;
  }
  return fail(p, p->pos, "unexpected character");
}

static bool is_op(const parser *p, const char *op) { return p->kind == K_OP && strcmp(p->op, op) == 0; }

static node *new_node(parser *p, node_kind kind) {
  node *n = rk_calloc(1, sizeof *n);
  if (!n) p->st = RK_ENOMEM;
  else n->kind = kind, n->height = 1;
  return n;
}

static bool nest(parser *p) {
  if (++p->nesting <= MAX_NESTING) return true;
  char what[96];
  snprintf(what, sizeof what, "parentheses, signs or 'not' nested deeper than %d levels", MAX_NESTING);
  fail(p, p->start, what);
  return false;
}

/* n grows to hold kid; false (with the message) past MAX_HEIGHT. */
static bool grow_height(parser *p, node *n, const node *kid) {
  if (kid->height + 1 > n->height) n->height = kid->height + 1;
  if (n->height <= MAX_HEIGHT) return true;
  char what[96];
  snprintf(what, sizeof what, "the query is more than %d operations deep; split it or use 'in [...]'", MAX_HEIGHT);
  fail(p, p->start, what);
  return false;
}

/* On failure the kid stays the caller's to free. */
static bool add_kid(parser *p, node *n, node *kid) {
  if (!grow_height(p, n, kid)) return false;
  node **g = rk_realloc(n->kids, (size_t)(n->nkids + 1) * sizeof *g);
  if (!g) {
    p->st = RK_ENOMEM;
    return false;
  }
  n->kids = g;
  n->kids[n->nkids++] = kid;
  return true;
}

/* A two-operand node; frees both operands when it cannot be made. */
static node *binary_node(parser *p, node_kind kind, node *left, node *right) {
  node *n = left && right ? new_node(p, kind) : NULL;
  node **kids = n ? rk_malloc(2 * sizeof *kids) : NULL;
  if (!kids) {
    if (n) p->st = RK_ENOMEM;
    rk_free(n);
    node_free(left);
    node_free(right);
    return NULL;
  }
  kids[0] = left;
  kids[1] = right;
  n->kids = kids;
  n->nkids = 2;
  if (!grow_height(p, n, left) || !grow_height(p, n, right)) return node_free(n), NULL;
  return n;
}

static int name_index(parser *p, const char *name) {
  rk_query *q = p->q;
  for (int i = 0; i < q->nnames; i++)
    if (strcmp(q->names[i], name) == 0) return i;
  char **g = rk_realloc(q->names, (size_t)(q->nnames + 1) * sizeof *g);
  if (!g) return -1;
  q->names = g;
  if (!(g[q->nnames] = rk_strdup(name))) return -1;
  return q->nnames++;
}

static node *parse_or(parser *p);

static node *parse_atom(parser *p) {
  if (p->st != RK_OK) return NULL;
  node *n = NULL;
  switch (p->kind) {
    case K_NUM:
      if ((n = new_node(p, p->is_float ? N_FLT : N_INT))) {
        n->i = p->i;
        n->f = p->f;
      }
      break;
    case K_TRUE:
    case K_FALSE:
      if ((n = new_node(p, N_INT))) n->i = p->kind == K_TRUE;
      break;
    case K_STR:
      if ((n = new_node(p, N_STR))) {
        n->s = p->text;
        n->slen = p->text_len;
        p->text = NULL;
      }
      break;
    case K_NAME:
      if ((n = new_node(p, N_COL)) && (n->col = name_index(p, p->text)) < 0) {
        p->st = RK_ENOMEM;
        node_free(n);
        return NULL;
      }
      break;
    case K_OP:
      if (is_op(p, "(")) {
        if (!nest(p) || next(p) != RK_OK) return NULL;
        n = parse_or(p);
        p->nesting--;
        if (!n) return NULL;
        if (!is_op(p, ")")) {
          node_free(n);
          fail(p, p->start, "expected ')'");
          return NULL;
        }
        break;
      }
      /* fall through */
    default: fail(p, p->start, "expected a value"); return NULL;
  }
  if (n && next(p) != RK_OK) {
    node_free(n);
    return NULL;
  }
  return n;
}

static node *parse_unary(parser *p) {
  if (is_op(p, "-") || is_op(p, "+")) {
    bool neg = p->op[0] == '-';
    if (!nest(p) || next(p) != RK_OK) return NULL;
    node *a = parse_unary(p);
    p->nesting--;
    if (!a || !neg) return a;
    if (a->kind == N_INT && a->i != INT64_MIN) return a->i = -a->i, a;
    if (a->kind == N_FLT) return a->f = -a->f, a;
    node *n = new_node(p, N_NEG);
    if (!n || !add_kid(p, n, a)) return node_free(n), node_free(a), NULL;
    return n;
  }
  return parse_atom(p);
}

static node *parse_binary(parser *p, int level);

/* Levels: 0 sum (+ -), 1 product (* / %), 2 unary. */
static node *parse_binary(parser *p, int level) {
  if (level == 2) return parse_unary(p);
  node *left = parse_binary(p, level + 1);
  const char *ops = level == 0 ? "+-" : "*/%";
  while (left && p->kind == K_OP && p->op[1] == '\0' && strchr(ops, p->op[0])) {
    int op = p->op[0];
    if (next(p) != RK_OK) return node_free(left), NULL;
    node *n = binary_node(p, N_ARITH, left, parse_binary(p, level + 1));
    if (!n) return NULL;
    n->op = op;
    left = n;
  }
  return left;
}

static int cmp_of(const parser *p) {
  if (p->kind != K_OP) return -1;
  static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
  for (int k = 0; k < 6; k++)
    if (strcmp(p->op, ops[k]) == 0) return k;
  return -1;
}

static node *parse_in_list(parser *p, node *value, bool negate) {
  node *n = new_node(p, N_IN);
  if (!n || !add_kid(p, n, value)) return node_free(n), node_free(value), NULL;
  n->negate = negate;
  if (!is_op(p, "[") && !is_op(p, "(")) return fail(p, p->start, "expected a list after 'in'"), node_free(n), NULL;
  const char *close = is_op(p, "[") ? "]" : ")";
  if (next(p) != RK_OK) return node_free(n), NULL;
  while (!is_op(p, close)) {
    node *item = parse_unary(p);
    if (!item) return node_free(n), NULL;
    if (item->kind != N_INT && item->kind != N_FLT && item->kind != N_STR)
      return node_free(item), fail(p, p->start, "expected literals in the list"), node_free(n), NULL;
    if (!add_kid(p, n, item)) return node_free(item), node_free(n), NULL;
    if (is_op(p, ",")) {
      if (next(p) != RK_OK) return node_free(n), NULL;
    } else if (!is_op(p, close)) {
      return fail(p, p->start, "expected ',' or the end of the list"), node_free(n), NULL;
    }
  }
  if (next(p) != RK_OK) return node_free(n), NULL;
  return n;
}

static node *parse_comparison(parser *p) {
  node *first = parse_binary(p, 0);
  if (!first) return NULL;
  if (p->kind == K_IN) {
    if (next(p) != RK_OK) return node_free(first), NULL;
    return parse_in_list(p, first, false);
  }
  if (p->kind == K_NOT) {
    size_t at = p->start;
    if (next(p) != RK_OK) return node_free(first), NULL;
    if (p->kind != K_IN) return fail(p, at, "expected 'in' after 'not'"), node_free(first), NULL;
    if (next(p) != RK_OK) return node_free(first), NULL;
    return parse_in_list(p, first, true);
  }
  if (cmp_of(p) < 0) return first;
  node *n = new_node(p, N_CMP);
  if (!n || !add_kid(p, n, first)) return node_free(n), node_free(first), NULL;
  while (cmp_of(p) >= 0) {
    int op = cmp_of(p);
    int *g = rk_realloc(n->ops, (size_t)n->nkids * sizeof *g);
    if (!g) return p->st = RK_ENOMEM, node_free(n), NULL;
    n->ops = g;
    n->ops[n->nkids - 1] = op;
    if (next(p) != RK_OK) return node_free(n), NULL;
    node *right = parse_binary(p, 0);
    if (!right || !add_kid(p, n, right)) return node_free(right), node_free(n), NULL;
  }
  return n;
}

static node *parse_not(parser *p) {
  if (p->kind == K_NOT || is_op(p, "~")) {
    if (!nest(p) || next(p) != RK_OK) return NULL;
    node *a = parse_not(p);
    p->nesting--;
    node *n = a ? new_node(p, N_NOT) : NULL;
    if (!n || !add_kid(p, n, a)) return node_free(n), node_free(a), NULL;
    return n;
  }
  return parse_comparison(p);
}

static node *parse_logic(parser *p, bool is_or) {
  node *left = is_or ? parse_logic(p, false) : parse_not(p);
  while (left && (is_or ? (p->kind == K_OR || is_op(p, "|")) : (p->kind == K_AND || is_op(p, "&")))) {
    if (next(p) != RK_OK) return node_free(left), NULL;
    left = binary_node(p, is_or ? N_OR : N_AND, left, is_or ? parse_logic(p, false) : parse_not(p));
  }
  return left;
}

static node *parse_or(parser *p) { return parse_logic(p, true); }

rk_status rk_query_parse(rk_query **query, const char *text) {
  *query = NULL;
  rk_query *q = rk_calloc(1, sizeof *q);
  if (!q || !(q->text = rk_strdup(text))) {
    rk_free(q);
    return RK_ENOMEM;
  }
  parser p = {.q = q, .src = q->text, .st = RK_OK};
  if (next(&p) == RK_OK) {
    if (p.kind == K_END) fail(&p, 0, "the query is empty");
    else q->root = parse_or(&p);
  }
  if (p.st == RK_OK && p.kind != K_END) fail(&p, p.start, is_op(&p, ")") ? "unbalanced ')'" : "expected the end of the query");
  rk_free(p.text);
  if (p.st != RK_OK) {
    rk_query_free(q);
    return p.st;
  }
  *query = q;
  return RK_OK;
}

/* ---- binding types to a batch ---- */

static int edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 63 || m > 63) return 99;
  int d[64][64];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

static rk_status missing_column(const rk_query *q, const rk_batch *b, const char *name) {
  const char *near = NULL;
  int best = 3;
  for (int c = 0; c < b->ncols; c++) {
    int d = edit_distance(name, b->cols[c].name ? b->cols[c].name : "");
    if (d < best) best = d, near = b->cols[c].name;
  }
  (void)q;
  if (near) return rk_error(RK_ENOTFOUND, "--filter_query names column '%s', which the data does not have (did you mean '%s'?)", name, near);
  return rk_error(RK_ENOTFOUND, "--filter_query names column '%s', which the data does not have", name);
}

static const char *describe(const rk_query *q, const node *n) {
  return n->kind == N_COL ? q->names[n->col] : n->kind == N_STR ? "a string" : "a value";
}

static rk_status bind(const rk_query *q, node *n, const rk_batch *b, const int *colmap) {
  for (int k = 0; k < n->nkids; k++) RK_TRY(bind(q, n->kids[k], b, colmap));
  switch (n->kind) {
    case N_COL: {
      rk_coltype t = b->cols[colmap[n->col]].type;
      if (t == RK_COL_STRING) n->type = T_STR;
      else if (rk_coltype_is_float(t)) n->type = T_FLT;
      else if (rk_coltype_is_int(t)) n->type = T_INT;
      else return rk_error(RK_EINVAL, "--filter_query cannot use list column '%s'", q->names[n->col]);
      return RK_OK;
    }
    case N_INT: n->type = T_INT; return RK_OK;
    case N_FLT: n->type = T_FLT; return RK_OK;
    case N_STR: n->type = T_STR; return RK_OK;
    case N_NEG:
    case N_ARITH:
      for (int k = 0; k < n->nkids; k++)
        if (n->kids[k]->type == T_STR || n->kids[k]->type == T_BOOL)
          return rk_error(RK_EINVAL, "--filter_query does arithmetic on %s, which is not a number", describe(q, n->kids[k]));
      n->type = n->kind == N_NEG ? n->kids[0]->type
                : (n->kids[0]->type == T_INT && n->kids[1]->type == T_INT && n->op != '/') ? T_INT : T_FLT;
      return RK_OK;
    case N_CMP:
      for (int k = 0; k + 1 < n->nkids; k++) {
        node *a = n->kids[k], *c = n->kids[k + 1];
        bool sa = a->type == T_STR, sc = c->type == T_STR;
        if (sa != sc) {
          const node *s = sa ? a : c;
          return rk_error(RK_EINVAL, "--filter_query compares %s%s%s with a number", s->kind == N_COL ? "column '" : "",
                          describe(q, s), s->kind == N_COL ? "' (string)" : "");
        }
      }
      n->type = T_BOOL;
      return RK_OK;
    case N_NOT:
    case N_AND:
    case N_OR:
      for (int k = 0; k < n->nkids; k++)
        if (n->kids[k]->type == T_STR)
          return rk_error(RK_EINVAL, "--filter_query uses %s as a condition; compare it with something", describe(q, n->kids[k]));
      n->type = T_BOOL;
      return RK_OK;
    case N_IN: n->type = T_BOOL; return RK_OK;
  }
  return RK_OK;
}

/* ---- evaluation over a block of rows ---- */

typedef struct {
  int64_t *i;
  double *f;
  const char **s;
  size_t *sl;
  uint8_t *null;           /* 1: null */
  uint8_t *b;              /* booleans */
} vec;

typedef struct {
  const rk_query *q;
  const rk_batch *batch;
  const int *colmap;
  uint8_t *keep;
} eval_ctx;

#define BLOCK 1024

static rk_status vec_alloc(vec *v, int n) {
  memset(v, 0, sizeof *v);
  v->i = rk_malloc((size_t)n * sizeof *v->i);
  v->f = rk_malloc((size_t)n * sizeof *v->f);
  v->s = rk_malloc((size_t)n * sizeof *v->s);
  v->sl = rk_malloc((size_t)n * sizeof *v->sl);
  v->null = rk_malloc((size_t)n);
  v->b = rk_malloc((size_t)n);
  return v->i && v->f && v->s && v->sl && v->null && v->b ? RK_OK : RK_ENOMEM;
}

static void vec_free(vec *v) {
  rk_free(v->i);
  rk_free(v->f);
  rk_free((void *)v->s);
  rk_free(v->sl);
  rk_free(v->null);
  rk_free(v->b);
}

/* Three-way comparison of an int64 with a double, exactly. Callers treat NaN as missing first
 * (missing()); it gives 0 here only so that no NaN is ever cast to int64 (undefined). */
static int cmp_int_double(int64_t a, double b) {
  if (isnan(b)) return 0;
  if (b >= 9223372036854775808.0) return -1;
  if (b < -9223372036854775808.0) return 1;
  double t = trunc(b);
  int64_t ib = (int64_t)t;
  if (a != ib) return a < ib ? -1 : 1;
  double frac = b - t;
  return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* A NaN that arithmetic made (inf - inf) is missing, as a NaN read from a column is (load_column):
 * it compares false except with !=, and is in no list, as in pandas. */
static bool missing(vtype t, const vec *v, int r) { return v->null[r] || (t == T_FLT && isnan(v->f[r])); }

static bool cmp_holds(int op, int c) {
  switch (op) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
  }
}

/* Compare element r of two typed vectors (neither null). */
static int compare_at(vtype ta, const vec *a, vtype tb, const vec *b, int r) {
  if (ta == T_STR) {
    size_t la = a->sl[r], lb = b->sl[r], m = la < lb ? la : lb;
    int c = memcmp(a->s[r], b->s[r], m);
    return c ? (c < 0 ? -1 : 1) : (la < lb ? -1 : la > lb);
  }
  if (ta == T_INT && tb == T_INT) return a->i[r] < b->i[r] ? -1 : a->i[r] > b->i[r];
  if (ta == T_INT) return cmp_int_double(a->i[r], b->f[r]);
  if (tb == T_INT) return -cmp_int_double(b->i[r], a->f[r]);
  return a->f[r] < b->f[r] ? -1 : a->f[r] > b->f[r];
}

static bool truth(vtype t, const vec *v, int r) {
  if (v->null[r]) return false;
  if (t == T_BOOL) return v->b[r];
  if (t == T_INT) return v->i[r] != 0;
  return v->f[r] != 0;
}

static void load_column(const rk_column *c, vtype t, int64_t begin, int n, vec *out) {
  for (int r = 0; r < n; r++) {
    int64_t row = begin + r;
    out->null[r] = rk_column_is_null(c, row);
    if (t == T_STR) {
      out->s[r] = rk_column_get_string(c, row, &out->sl[r]);
    } else if (t == T_INT) {
      out->i[r] = rk_column_get_int(c, row);
    } else {
      out->f[r] = rk_column_get_double(c, row);
      out->null[r] |= isnan(out->f[r]);
    }
  }
}

static int64_t py_mod(int64_t a, int64_t b) {
  int64_t m = a % b;
  return m != 0 && ((m < 0) != (b < 0)) ? m + b : m;
}

static rk_status eval(const eval_ctx *e, const node *n, int64_t begin, int cnt, vec *out);

static rk_status eval_arith(const eval_ctx *e, const node *n, int64_t begin, int cnt, vec *out) {
  vec a = {0}, b = {0};
  rk_status st = vec_alloc(&a, cnt);
  if (st == RK_OK) st = vec_alloc(&b, cnt);
  if (st == RK_OK) st = eval(e, n->kids[0], begin, cnt, &a);
  if (st == RK_OK) st = eval(e, n->kids[1], begin, cnt, &b);
  vtype ta = n->kids[0]->type, tb = n->kids[1]->type;
  for (int r = 0; st == RK_OK && r < cnt; r++) {
    out->null[r] = a.null[r] | b.null[r];
    if (out->null[r]) continue;
    if (n->type == T_INT) {
      int64_t x = a.i[r], y = b.i[r], z = 0;
      bool bad = false;
      switch (n->op) {
        case '+': bad = __builtin_add_overflow(x, y, &z); break;
        case '-': bad = __builtin_sub_overflow(x, y, &z); break;
        case '*': bad = __builtin_mul_overflow(x, y, &z); break;
        default: bad = y == 0 || (x == INT64_MIN && y == -1); if (!bad) z = py_mod(x, y); break;
      }
      out->null[r] = bad;   /* overflow and modulo by zero give null */
      out->i[r] = z;
    } else {
      double x = ta == T_INT ? (double)a.i[r] : a.f[r], y = tb == T_INT ? (double)b.i[r] : b.f[r], z;
      switch (n->op) {
        case '+': z = x + y; break;
        case '-': z = x - y; break;
        case '*': z = x * y; break;
        case '/': z = x / y; break;
        default: z = fmod(x, y); if (z != 0 && ((z < 0) != (y < 0))) z += y; break;
      }
      out->null[r] = (n->op == '/' || n->op == '%') && y == 0;
      out->f[r] = z;
    }
  }
  vec_free(&a);
  vec_free(&b);
  return st;
}

static rk_status eval_cmp(const eval_ctx *e, const node *n, int64_t begin, int cnt, vec *out) {
  vec a = {0}, b = {0};
  rk_status st = vec_alloc(&a, cnt);
  if (st == RK_OK) st = vec_alloc(&b, cnt);
  if (st == RK_OK) st = eval(e, n->kids[0], begin, cnt, &a);
  memset(out->b, 1, (size_t)cnt);
  memset(out->null, 0, (size_t)cnt);
  for (int k = 0; st == RK_OK && k + 1 < n->nkids; k++) {
    if ((st = eval(e, n->kids[k + 1], begin, cnt, &b)) != RK_OK) break;
    vtype ta = n->kids[k]->type, tb = n->kids[k + 1]->type;
    int op = n->ops[k];
    for (int r = 0; r < cnt; r++) {
      if (!out->b[r]) continue;
      bool holds = (missing(ta, &a, r) || missing(tb, &b, r)) ? op == OP_NE : cmp_holds(op, compare_at(ta, &a, tb, &b, r));
      out->b[r] = holds;
    }
    vec t = a;   /* the right operand is the next link's left */
    a = b;
    b = t;
  }
  vec_free(&a);
  vec_free(&b);
  return st;
}

static rk_status eval_in(const eval_ctx *e, const node *n, int64_t begin, int cnt, vec *out) {
  vec a = {0};
  rk_status st = vec_alloc(&a, cnt);
  if (st == RK_OK) st = eval(e, n->kids[0], begin, cnt, &a);
  vtype ta = n->kids[0]->type;
  memset(out->null, 0, (size_t)cnt);
  for (int r = 0; st == RK_OK && r < cnt; r++) {
    bool found = false;
    for (int k = 1; !missing(ta, &a, r) && !found && k < n->nkids; k++) {
      const node *lit = n->kids[k];
      if ((lit->kind == N_STR) != (ta == T_STR)) continue;
      if (ta == T_STR) found = a.sl[r] == lit->slen && memcmp(a.s[r], lit->s, lit->slen) == 0;
      else if (ta == T_INT) found = lit->kind == N_INT ? a.i[r] == lit->i : cmp_int_double(a.i[r], lit->f) == 0;
      else found = lit->kind == N_INT ? cmp_int_double(lit->i, a.f[r]) == 0 : a.f[r] == lit->f;
    }
    out->b[r] = found != n->negate;
  }
  vec_free(&a);
  return st;
}

static rk_status eval(const eval_ctx *e, const node *n, int64_t begin, int cnt, vec *out) {
  switch (n->kind) {
    case N_COL: load_column(&e->batch->cols[e->colmap[n->col]], n->type, begin, cnt, out); return RK_OK;
    case N_INT:
    case N_FLT:
    case N_STR:
      for (int r = 0; r < cnt; r++) {
        out->null[r] = 0;
        out->i[r] = n->i;
        out->f[r] = n->f;
        out->s[r] = n->s;
        out->sl[r] = n->slen;
      }
      return RK_OK;
    case N_NEG:
      RK_TRY(eval(e, n->kids[0], begin, cnt, out));
      for (int r = 0; r < cnt; r++) {
        if (n->type == T_INT) {
          out->null[r] |= out->i[r] == INT64_MIN;
          out->i[r] = out->null[r] ? 0 : -out->i[r];
        } else {
          out->f[r] = -out->f[r];
        }
      }
      return RK_OK;
    case N_ARITH: return eval_arith(e, n, begin, cnt, out);
    case N_CMP: return eval_cmp(e, n, begin, cnt, out);
    case N_IN: return eval_in(e, n, begin, cnt, out);
    case N_NOT:
      RK_TRY(eval(e, n->kids[0], begin, cnt, out));
      for (int r = 0; r < cnt; r++) {
        out->b[r] = !truth(n->kids[0]->type, out, r);
        out->null[r] = 0;
      }
      return RK_OK;
    case N_AND:
    case N_OR: {
      vec b = {0};
      rk_status st = vec_alloc(&b, cnt);
      if (st == RK_OK) st = eval(e, n->kids[0], begin, cnt, out);
      if (st == RK_OK) st = eval(e, n->kids[1], begin, cnt, &b);
      for (int r = 0; st == RK_OK && r < cnt; r++) {
        bool x = truth(n->kids[0]->type, out, r), y = truth(n->kids[1]->type, &b, r);
        out->b[r] = n->kind == N_AND ? x && y : x || y;
        out->null[r] = 0;
      }
      vec_free(&b);
      return st;
    }
  }
  return RK_OK;
}

static rk_status eval_chunk(void *arg, int64_t chunk, int64_t begin, int64_t end) {
  (void)chunk;
  eval_ctx *e = arg;
  vec v = {0};
  rk_status st = vec_alloc(&v, BLOCK);
  for (int64_t b = begin; st == RK_OK && b < end; b += BLOCK) {
    int cnt = (int)(end - b < BLOCK ? end - b : BLOCK);
    if ((st = eval(e, e->q->root, b, cnt, &v)) != RK_OK) break;
    for (int r = 0; r < cnt; r++) e->keep[b + r] = truth(e->q->root->type, &v, r);
  }
  vec_free(&v);
  return st;
}

rk_status rk_query_eval(const rk_query *q, const rk_batch *batch, uint8_t *keep) {
  int *colmap = rk_malloc((size_t)(q->nnames + 1) * sizeof *colmap);
  if (!colmap) return RK_ENOMEM;
  rk_status st = RK_OK;
  for (int i = 0; i < q->nnames && st == RK_OK; i++)
    if ((colmap[i] = rk_batch_find(batch, q->names[i])) < 0) st = missing_column(q, batch, q->names[i]);
  if (st == RK_OK) st = bind(q, q->root, batch, colmap);
  if (st == RK_OK && q->root->type == T_STR)
    st = rk_error(RK_EINVAL, "--filter_query '%s' is a string, not a condition", q->text);
  eval_ctx e = {q, batch, colmap, keep};
  if (st == RK_OK) st = rk_parallel_try(batch->nrows, 16 * BLOCK, eval_chunk, &e);
  rk_free(colmap);
  return st;
}
