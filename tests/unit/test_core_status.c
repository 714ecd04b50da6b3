/*
 * Status codes and error messages (src/core/error.c): every status in RK_STATUS_LIST has its own
 * text and name, rk_error formats, rk_error_context prefixes, long messages truncate inside
 * RK_ERROR_MAX, and messages are per thread (a worker's message never reaches the main thread).
 */
#include "support.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const rk_status all_statuses[] = {
#define RK_TEST_STATUS(name, value, text) RK_##name,
    RK_STATUS_LIST(RK_TEST_STATUS)
#undef RK_TEST_STATUS
};
static const char *const all_texts[] = {
#define RK_TEST_TEXT(name, value, text) text,
    RK_STATUS_LIST(RK_TEST_TEXT)
#undef RK_TEST_TEXT
};
static const char *const all_names[] = {
#define RK_TEST_NAME(name, value, text) "RK_" #name,
    RK_STATUS_LIST(RK_TEST_NAME)
#undef RK_TEST_NAME
};
#define NSTATUS ((int)(sizeof all_statuses / sizeof all_statuses[0]))

static void test_status_texts_and_names_distinct(void **state) {
  (void)state;
  assert_int_equal(RK_OK, 0);
  for (int i = 0; i < NSTATUS; i++) {
    rk_status s = all_statuses[i];
    if (s != RK_OK) assert_true(s < 0);
    assert_string_equal(rk_strerror(s), all_texts[i]);
    assert_string_equal(rk_status_name(s), all_names[i]);
    for (int j = 0; j < i; j++) {
      assert_int_not_equal(s, all_statuses[j]);
      assert_string_not_equal(rk_strerror(s), rk_strerror(all_statuses[j]));
      assert_string_not_equal(rk_status_name(s), rk_status_name(all_statuses[j]));
    }
  }
  assert_string_equal(rk_status_name(RK_ENOMEM), "RK_ENOMEM");
  assert_string_equal(rk_strerror(RK_ENOMEM), "out of memory");
}

static void test_status_unknown_value(void **state) {
  (void)state;
  assert_string_equal(rk_strerror((rk_status)-999), "unknown status");
  assert_string_equal(rk_status_name((rk_status)-999), "RK_UNKNOWN");
}

static void test_error_formats_and_returns_status(void **state) {
  (void)state;
  rk_error_clear();
  assert_int_equal(rk_error_status(), RK_OK);
  assert_string_equal(rk_error_message(), "success");
  rk_status s = rk_error(RK_EPARSE, "cannot parse '%s' as int32 in '%s' row %d", "x1", "train.csv", 1042);
  assert_int_equal(s, RK_EPARSE);
  assert_int_equal(rk_error_status(), RK_EPARSE);
  assert_string_equal(rk_error_message(), "cannot parse 'x1' as int32 in 'train.csv' row 1042");
  rk_error_clear();
  assert_int_equal(rk_error_status(), RK_OK);
  assert_string_equal(rk_error_message(), "success");
}

static void test_error_empty_message_falls_back_to_status_text(void **state) {
  (void)state;
  rk_error_clear();
  rk_error(RK_ENOTFOUND, "%s", "");
  assert_string_equal(rk_error_message(), "not found");
}

/* A message that quotes the current message: the formatter must not read what it writes. */
static void test_error_may_quote_current_message(void **state) {
  (void)state;
  rk_error(RK_EIO, "disk full");
  rk_error(RK_EIO, "cannot write 'a.bin': %s", rk_error_message());
  assert_string_equal(rk_error_message(), "cannot write 'a.bin': disk full");
  rk_error(RK_EIO, "%s (again)", rk_error_message());
  assert_string_equal(rk_error_message(), "cannot write 'a.bin': disk full (again)");
}

static rk_status verror_helper(rk_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  rk_status r = rk_verror(s, fmt, ap);
  va_end(ap);
  return r;
}

static void test_error_verror(void **state) {
  (void)state;
  assert_int_equal(verror_helper(RK_ERANGE, "%d > %s", 300, "int8"), RK_ERANGE);
  assert_string_equal(rk_error_message(), "300 > int8");
}

static void test_error_context_prefixes(void **state) {
  (void)state;
  rk_error(RK_EPARSE, "bad row 7");
  rk_status s = rk_error_context(RK_EIO, "reading '%s'", "a.csv");
  assert_int_equal(s, RK_EIO);
  assert_int_equal(rk_error_status(), RK_EIO);
  assert_string_equal(rk_error_message(), "reading 'a.csv': bad row 7");
  rk_error_context(RK_EIO, "loading");
  assert_string_equal(rk_error_message(), "loading: reading 'a.csv': bad row 7");
  /* Without a message, the context prefixes the status text. */
  rk_error_clear();
  rk_error(RK_ENOMEM, "%s", "");
  rk_error_context(RK_ENOMEM, "building index");
  assert_string_equal(rk_error_message(), "building index: out of memory");
}

static void test_error_long_message_truncates(void **state) {
  (void)state;
  char big[3 * RK_ERROR_MAX];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  rk_error(RK_EIO, "%s", big);
  size_t n = strlen(rk_error_message());
  assert_int_equal(n, RK_ERROR_MAX - 1);
  assert_memory_equal(rk_error_message(), big, n);

  /* A long context in front of a long message: still one bounded string, the prefix first. */
  memset(big, 'p', sizeof big - 1);
  rk_error_context(RK_EIO, "%s", big);
  const char *m = rk_error_message();
  n = strlen(m);
  assert_true(n < RK_ERROR_MAX);
  assert_true(n >= RK_ERROR_MAX - 3);
  assert_int_equal(m[0], 'p');
  assert_int_equal(rk_error_status(), RK_EIO);

  /* A short context in front of a long message keeps the context and cuts the old message. */
  memset(big, 'a', sizeof big - 1);
  rk_error(RK_EIO, "%s", big);
  rk_error_context(RK_EIO, "ctx");
  m = rk_error_message();
  assert_int_equal(strlen(m), RK_ERROR_MAX - 1);
  assert_memory_equal(m, "ctx: aaaa", 9);
}

/* ---- per-thread messages ---------------------------------------------------------------- */
typedef struct {
  char seen_before[RK_ERROR_MAX];
  char seen_after[RK_ERROR_MAX];
  rk_status status_before;
} worker_result;

static void *worker(void *arg) {
  worker_result *r = arg;
  r->status_before = rk_error_status();
  snprintf(r->seen_before, sizeof r->seen_before, "%s", rk_error_message());
  rk_error(RK_EFORMAT, "worker failure %d", 42);
  snprintf(r->seen_after, sizeof r->seen_after, "%s", rk_error_message());
  return NULL;
}

static void test_error_per_thread_pthread(void **state) {
  (void)state;
  rk_error(RK_EPARSE, "main thread message");
  worker_result r;
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, worker, &r), 0);
  assert_int_equal(pthread_join(th, NULL), 0);
  /* The worker started clean and saw its own message; main kept its own. */
  assert_int_equal(r.status_before, RK_OK);
  assert_string_equal(r.seen_before, "success");
  assert_string_equal(r.seen_after, "worker failure 42");
  assert_int_equal(rk_error_status(), RK_EPARSE);
  assert_string_equal(rk_error_message(), "main thread message");
}

typedef struct {
  int mismatches;
} chunk_check;

/* Each chunk sets its own message and reads it straight back; a shared buffer would race. */
static void message_chunk(void *ctx, int64_t chunk, int64_t begin, int64_t end) {
  chunk_check *c = ctx;
  (void)begin;
  (void)end;
  for (int rep = 0; rep < 200; rep++) {
    char want[64];
    snprintf(want, sizeof want, "chunk %lld rep %d", (long long)chunk, rep);
    rk_error(RK_EIO, "%s", want);
    if (strcmp(rk_error_message(), want) != 0) {
#pragma omp atomic
      c->mismatches++;
    }
  }
}

static void test_error_per_thread_parallel_for(void **state) {
  (void)state;
  rk_set_num_threads(4);
  rk_error(RK_EUSAGE, "main before");
  chunk_check c = {0};
  rk_parallel_for(64, 1, message_chunk, &c);
  rk_set_num_threads(0);
  assert_int_equal(c.mismatches, 0);
  /* With several threads, some chunks run on the main thread; the rest must not leak here. */
  const char *m = rk_error_message();
  assert_true(strcmp(m, "main before") == 0 || strncmp(m, "chunk ", 6) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_texts_and_names_distinct),
      cmocka_unit_test(test_status_unknown_value),
      cmocka_unit_test(test_error_formats_and_returns_status),
      cmocka_unit_test(test_error_empty_message_falls_back_to_status_text),
      cmocka_unit_test(test_error_may_quote_current_message),
      cmocka_unit_test(test_error_verror),
      cmocka_unit_test(test_error_context_prefixes),
      cmocka_unit_test(test_error_long_message_truncates),
      cmocka_unit_test(test_error_per_thread_pthread),
      cmocka_unit_test(test_error_per_thread_parallel_for),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
