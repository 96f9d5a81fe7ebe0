/* Unit tests of the YAML document module (src/jobs/yamldoc.h): the tree and its positions, conversions and their
 * messages, what a job file may not hold, --set, did-you-mean, and out of memory at every allocation. Messages
 * are compared whole: the file, line, column and field they name are what a user acts on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "jobs/yamldoc.h"
#include "oom_walk.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A string literal and its length, NULs inside included. */
#define LIT(s) s, sizeof(s) - 1

static char g_dir[] = "/tmp/test_yamldoc.XXXXXX"; /* files of the load tests; removed by main */

static inb__ydoc *parse_ok(const char *text) {
  inb__ydoc *d = NULL;
  int rc = inb__ydoc_parse("t.yaml", text, strlen(text), &d);
  if (rc) fail_msg("parse failed: %s", inb_errmsg());
  return d;
}

/* text must fail to parse with code and exactly this message, leaving *out NULL. */
static void expect_parse_error(const char *text, size_t n, int code, const char *msg) {
  inb__ydoc *d = (inb__ydoc *)&d; /* not NULL: the call must clear it */
  assert_int_equal(inb__ydoc_parse("t.yaml", text, n, &d), code);
  assert_null(d);
  assert_string_equal(inb_errmsg(), msg);
}

static void expect_at(const inb__ynode *node, inb__ykind kind, int line, int col) {
  assert_non_null(node);
  assert_int_equal(node->kind, kind);
  assert_int_equal(node->line, line);
  assert_int_equal(node->col, col);
}

static const char *path_of(const inb__ynode *node) {
  static char buf[256];
  inb__ynode_path(node, buf, sizeof buf);
  return buf;
}

/* A path under g_dir holding `n` bytes of text. */
static const char *write_file(const char *name, const char *text, size_t n) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  return path;
}

static const char JOB[] = "name: clean\n"
                          "pipeline:\n"
                          "  - action: scale\n"
                          "    args:\n"
                          "      k: 3\n"
                          "      mode: \"fast\"\n"
                          "  - action: sum\n"
                          "    args: {k: abc, flag: yes}\n";

/* ---- the tree ----------------------------------------------------------------------------------------------- */

static void test_nested_mappings_and_sequences_keep_their_lines_and_columns(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  const inb__ynode *root = inb__ydoc_root(d), *pipe = inb__ymap_get(root, "pipeline");
  expect_at(root, INB__YMAP, 1, 1);
  assert_int_equal(inb__ynode_len(root), 2);
  expect_at(pipe, INB__YSEQ, 3, 3);
  assert_int_equal(inb__ynode_len(pipe), 2);
  const inb__ynode *step0 = inb__yseq_at(pipe, 0), *args0 = inb__ymap_get(step0, "args");
  expect_at(step0, INB__YMAP, 3, 5);
  expect_at(inb__ymap_get(step0, "action"), INB__YSCALAR, 3, 13);
  expect_at(args0, INB__YMAP, 5, 7);
  expect_at(inb__ymap_get(args0, "k"), INB__YSCALAR, 5, 10);
  assert_string_equal(inb__ymap_get(args0, "k")->text, "3");
  const inb__ynode *args1 = inb__ymap_get(inb__yseq_at(pipe, 1), "args");
  expect_at(args1, INB__YMAP, 8, 11);
  expect_at(inb__ymap_get(args1, "flag"), INB__YSCALAR, 8, 26);
  assert_string_equal(path_of(inb__ymap_get(args1, "flag")), "pipeline.1.args.flag");
  assert_string_equal(path_of(root), "");
  assert_null(inb__yseq_at(pipe, 2));
  assert_null(inb__ymap_get(root, "missing"));
  assert_null(inb__ymap_get(pipe, "name")); /* not a mapping */
  inb__ydoc_free(&d);
  assert_null(d);
}

static void test_keys_keep_document_order_and_their_own_positions(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok("zeta: 1\nalpha: 2\n  # a comment\nmid:   3\n");
  const inb__ynode *root = inb__ydoc_root(d);
  const char *order[] = {"zeta", "alpha", "mid"};
  int lines[] = {1, 2, 4};
  for (size_t i = 0; i < 3; i++) {
    const inb__ynode *key = inb__ymap_key(root, i);
    expect_at(key, INB__YSCALAR, lines[i], 1);
    assert_true(key->is_key);
    assert_string_equal(key->text, order[i]);
  }
  expect_at(inb__ymap_value(root, 2), INB__YSCALAR, 4, 8);
  assert_null(inb__ymap_key(root, 3));
  inb__ydoc_free(&d);
}

static void test_quoted_scalars_stay_strings_and_plain_ones_are_numbers(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok("plain: 3\ndouble: \"3\"\nsingle: '3'\nblock: |\n  3\n");
  const inb__ynode *root = inb__ydoc_root(d);
  int64_t v = 0;
  assert_false(inb__ymap_get(root, "plain")->quoted);
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(root, "plain"), NULL, &v), 0);
  assert_int_equal(v, 3);
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(root, "double"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml' line 2 col 9: 'double': expected an integer; found \"3\" (quoted, so a string)");
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(root, "single"), NULL, &v), INB_EINVAL);
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(root, "block"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 4 col 8: 'block': expected an integer; found a block of text");
  assert_true(inb__ymap_get(root, "block")->block);
  assert_string_equal(inb__ymap_get(root, "block")->text, "3\n");
  const char *s = NULL;
  assert_int_equal(inb__ynode_str(d, inb__ymap_get(root, "double"), NULL, &s), 0);
  assert_string_equal(s, "3");
  assert_int_equal(inb__ynode_str(d, inb__ymap_get(root, "plain"), NULL, &s), 0); /* a plain 3 is text too */
  assert_string_equal(s, "3");
  inb__ydoc_free(&d);
}

/* ---- conversions --------------------------------------------------------------------------------------------- */

static const char NUMBERS[] = "i: 42\n"
                              "min: -9223372036854775808\n"
                              "max: +9223372036854775807\n"
                              "hex: 0x1F\n"
                              "oct: 0o17\n"
                              "big: 9223372036854775808\n"
                              "abc: abc\n"
                              "r: 2.5\n"
                              "e: -1e3\n"
                              "dot: .5\n"
                              "ninf: -.inf\n"
                              "nan: .NaN\n"
                              "huge: 1e999\n"
                              "float: 1.5x\n"
                              "t: true\n"
                              "f: FALSE\n"
                              "y: yes\n"
                              "qt: \"true\"\n"
                              "nul: ~\n"
                              "empty:\n"
                              "map: {a: 1}\n"
                              "seq: [1]\n";

static const inb__ynode *field(const inb__ydoc *d, const char *key) {
  const inb__ynode *x = inb__ymap_get(inb__ydoc_root(d), key);
  assert_non_null(x);
  return x;
}

static void test_integers_in_decimal_hex_and_octal_convert_within_int64(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  int64_t v = 0;
  assert_int_equal(inb__ynode_int(d, field(d, "i"), NULL, &v), 0);
  assert_int_equal(v, 42);
  assert_int_equal(inb__ynode_int(d, field(d, "min"), NULL, &v), 0);
  assert_true(v == INT64_MIN);
  assert_int_equal(inb__ynode_int(d, field(d, "max"), NULL, &v), 0);
  assert_true(v == INT64_MAX);
  assert_int_equal(inb__ynode_int(d, field(d, "hex"), NULL, &v), 0);
  assert_int_equal(v, 31);
  assert_int_equal(inb__ynode_int(d, field(d, "oct"), NULL, &v), 0);
  assert_int_equal(v, 15);
  inb__ydoc_free(&d);
}

static void test_integer_errors_name_file_line_column_field_and_what_was_found(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  int64_t v = 7;
  assert_int_equal(inb__ynode_int(d, field(d, "abc"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 7 col 6: 'abc': expected an integer; found 'abc'");
  assert_int_equal(v, 7); /* unchanged on failure */
  assert_int_equal(inb__ynode_int(d, field(d, "big"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 6 col 6: 'big': expected an integer; found "
                                    "'9223372036854775808' (beyond the range of a 64-bit integer)");
  assert_int_equal(inb__ynode_int(d, field(d, "r"), "args.r", &v), INB_EINVAL); /* the caller's field name */
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 8 col 4: 'args.r': expected an integer; found '2.5'");
  assert_int_equal(inb__ynode_int(d, field(d, "empty"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 20 col 7: 'empty': expected an integer; found nothing");
  assert_int_equal(inb__ynode_int(d, field(d, "map"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 21 col 6: 'map': expected an integer; found a mapping");
  assert_int_equal(inb__ynode_int(d, NULL, "pipeline.0.args.k", &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml': 'pipeline.0.args.k': expected an integer; found nothing (the field is missing)");
  inb__ydoc_free(&d);
}

static void test_reals_accept_integers_decimals_exponents_infinities_and_nan(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  double v = 0;
  assert_int_equal(inb__ynode_real(d, field(d, "i"), NULL, &v), 0);
  assert_true(v == 42.0);
  assert_int_equal(inb__ynode_real(d, field(d, "hex"), NULL, &v), 0);
  assert_true(v == 31.0);
  assert_int_equal(inb__ynode_real(d, field(d, "r"), NULL, &v), 0);
  assert_true(v == 2.5);
  assert_int_equal(inb__ynode_real(d, field(d, "e"), NULL, &v), 0);
  assert_true(v == -1000.0);
  assert_int_equal(inb__ynode_real(d, field(d, "dot"), NULL, &v), 0);
  assert_true(v == 0.5);
  assert_int_equal(inb__ynode_real(d, field(d, "ninf"), NULL, &v), 0);
  assert_true(isinf(v) && v < 0);
  assert_int_equal(inb__ynode_real(d, field(d, "nan"), NULL, &v), 0);
  assert_true(isnan(v));
  inb__ydoc_free(&d);
}

static void test_real_errors_name_the_place_and_the_text(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  double v = 0;
  assert_int_equal(inb__ynode_real(d, field(d, "float"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 14 col 8: 'float': expected a number; found '1.5x'");
  assert_int_equal(inb__ynode_real(d, field(d, "huge"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml' line 13 col 7: 'huge': expected a number; found '1e999' (beyond the range of a double)");
  assert_int_equal(inb__ynode_real(d, field(d, "seq"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 22 col 6: 'seq': expected a number; found a list");
  inb__ydoc_free(&d);
}

static void test_booleans_are_true_or_false_never_yes_or_quoted(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  bool v = false;
  assert_int_equal(inb__ynode_bool(d, field(d, "t"), NULL, &v), 0);
  assert_true(v);
  assert_int_equal(inb__ynode_bool(d, field(d, "f"), NULL, &v), 0);
  assert_false(v);
  assert_int_equal(inb__ynode_bool(d, field(d, "y"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 17 col 4: 'y': expected true or false; found 'yes'");
  assert_int_equal(inb__ynode_bool(d, field(d, "qt"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml' line 18 col 5: 'qt': expected true or false; found \"true\" (quoted, so a string)");
  inb__ydoc_free(&d);
}

static void test_strings_refuse_null_and_containers(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(NUMBERS);
  const char *s = NULL;
  assert_true(inb__ynode_is_null(field(d, "nul")));
  assert_true(inb__ynode_is_null(field(d, "empty")));
  assert_false(inb__ynode_is_null(field(d, "abc")));
  assert_int_equal(inb__ynode_str(d, field(d, "nul"), NULL, &s), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 19 col 6: 'nul': expected a string; found '~'");
  assert_int_equal(inb__ynode_str(d, field(d, "map"), NULL, &s), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 21 col 6: 'map': expected a string; found a mapping");
  assert_null(s);
  inb__ydoc_free(&d);
}

static void test_a_long_value_is_shortened_and_escaped_in_messages(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok("k: \"tab\\there, then a very long tail that goes on and on\"\n");
  int64_t v;
  assert_int_equal(inb__ynode_int(d, field(d, "k"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 1 col 4: 'k': expected an integer; found "
                                    "\"tab\\there, then a very long tail that goe...\" (quoted, so a string)");
  inb__ydoc_free(&d);
}

static void test_node_messages_name_the_field_or_the_document(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  const inb__ynode *action = inb__ymap_get(inb__yseq_at(field(d, "pipeline"), 1), "action");
  assert_int_equal(inb__ynode_err(d, action, NULL, INB_EINVAL, "unknown action '%s'", action->text), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 7 col 13: 'pipeline.1.action': unknown action 'sum'");
  assert_int_equal(inb__ynode_err(d, action, "action", INB_ENOTFOUND, "no plugin"), INB_ENOTFOUND);
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 7 col 13: 'action': no plugin");
  inb__ynode_err(d, inb__ydoc_root(d), NULL, INB_EINVAL, "no 'input'");
  assert_string_equal(inb_errmsg(), "job 't.yaml' line 1 col 1: no 'input'");
  inb__ynode_err(d, NULL, "input", INB_EINVAL, "missing");
  assert_string_equal(inb_errmsg(), "job 't.yaml': 'input': missing");
  assert_string_equal(inb__ydoc_name(d), "t.yaml");
  inb__ydoc_free(&d);
}

/* ---- what a job file may not hold ----------------------------------------------------------------------------- */

static void test_duplicate_keys_name_both_lines(void **state) {
  (void)state;
  const char *text = "pipeline:\n  - action: a\n    args: {}\n    action: b\n    args: {}\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 4 col 5: 'pipeline.0.action': duplicate key (first at line 2 col 5)");
  text = "b: 1\na: 2\nb: 3\n";
  expect_parse_error(text, strlen(text), INB_EINVAL, "job 't.yaml' line 3 col 1: 'b': duplicate key (first at line 1 col 1)");
}

static void test_syntax_errors_name_line_column_and_what_libyaml_found(void **state) {
  (void)state;
  const char *text = "a: 1\nb:\n  c: [x, \"3\"]\n  d: e: f\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 4 col 7: mapping values are not allowed in this context");
  text = "a: 1\nb:\n  - x\n - y\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 4 col 2: did not find expected key (while parsing a block mapping at line 1 col 1)");
  text = "a: \"unterminated\nb: 2\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 3 col 1: found unexpected end of stream (while scanning a quoted scalar at "
                     "line 1 col 4)");
}

static void test_a_tab_in_the_indentation_is_named_as_such(void **state) {
  (void)state;
  const char *text = "a:\n\tb: 1\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 2 col 1: found character that cannot start any token (a tab: YAML indents "
                     "with spaces) (while scanning for the next token at line 2 col 1)");
}

static void test_a_control_character_is_named_with_its_place(void **state) {
  (void)state;
  const char *text = "a: 1\nb: x\x01y\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 2 col 5: control characters are not allowed (U+0001)");
}

static void test_an_empty_file_is_an_empty_job(void **state) {
  (void)state;
  expect_parse_error("", 0, INB_EINVAL, "job 't.yaml': the job is empty");
  expect_parse_error(NULL, 0, INB_EINVAL, "job 't.yaml': the job is empty");
  expect_parse_error(LIT("# only a comment\n\n"), INB_EINVAL, "job 't.yaml': the job is empty");
  expect_parse_error(LIT("---\n"), INB_EINVAL, "job 't.yaml': the job is empty");
  inb__ydoc *d = parse_ok("''\n"); /* an empty string is content */
  inb__ydoc_free(&d);
}

static void test_a_second_document_is_an_error(void **state) {
  (void)state;
  const char *text = "a: 1\n---\nb: 2\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 2 col 1: a second document (this '---' starts it): a job file holds one");
  text = "--- \na: 1\n...\n--- \nb: 2\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 4 col 1: a second document (this '---' starts it): a job file holds one");
}

static void test_anchors_aliases_and_tags_are_refused(void **state) {
  (void)state;
  const char *text = "base: &common {k: 1}\nother: *common\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 1 col 7: anchors and aliases are not supported in a job file (&common): "
                     "write the value out");
  text = "a: *x\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 1 col 4: anchors and aliases are not supported in a job file (*x): write the "
                     "value out");
  text = "a: !!str 3\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 1 col 4: tags are not supported in a job file (!!str): quote a value to make it "
                     "a string");
  text = "a: !thing [1]\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 1 col 4: tags are not supported in a job file (!thing): quote a value to make "
                     "it a string");
}

static void test_a_key_must_be_a_single_value(void **state) {
  (void)state;
  const char *text = "? [a, b]\n: c\n";
  expect_parse_error(text, strlen(text), INB_EINVAL, "job 't.yaml' line 1 col 3: a key must be a single value, not a list");
}

static void test_nul_bytes_are_refused_in_the_text_and_in_escapes(void **state) {
  (void)state;
  expect_parse_error(LIT("a: 1\nb: x\0y\n"), INB_EINVAL, "job 't.yaml' line 2 col 5: a NUL byte: not a text file");
  const char *text = "a: \"x\\0y\"\n";
  expect_parse_error(text, strlen(text), INB_EINVAL,
                     "job 't.yaml' line 1 col 4: a NUL character (\\0) in a string: a job's text holds none");
}

static void test_text_that_is_not_utf8_is_refused_with_its_place(void **state) {
  (void)state;
  const char *latin1 = "name: caf\xe9\n";
  expect_parse_error(latin1, strlen(latin1), INB_EINVAL, "job 't.yaml' line 1 col 10: not UTF-8 text (byte 0xe9)");
  expect_parse_error(LIT("\xff\xfe" "a\0:\0"), INB_EINVAL,
                     "job 't.yaml': UTF-16 text: a job file is UTF-8 text (save it as UTF-8)");
  const char *overlong = "a: \xc0\xaf\n";
  expect_parse_error(overlong, strlen(overlong), INB_EINVAL, "job 't.yaml' line 1 col 4: not UTF-8 text (byte 0xc0)");
  inb__ydoc *d = parse_ok("\xEF\xBB\xBFna\xc3\xafve: caf\xc3\xa9\n"); /* a BOM, and columns count characters */
  expect_at(inb__ymap_get(inb__ydoc_root(d), "na\xc3\xafve"), INB__YSCALAR, 1, 8);
  inb__ydoc_free(&d);
}

static void test_nesting_is_bounded(void **state) {
  (void)state;
  char text[2 * INB__YDEPTH_MAX + 8];
  memset(text, '[', INB__YDEPTH_MAX);
  memset(text + INB__YDEPTH_MAX, ']', INB__YDEPTH_MAX);
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_parse("t.yaml", text, 2 * INB__YDEPTH_MAX, &d), 0);
  inb__ydoc_free(&d);
  memset(text, '[', INB__YDEPTH_MAX + 1);
  memset(text + INB__YDEPTH_MAX + 1, ']', INB__YDEPTH_MAX + 1);
  expect_parse_error(text, 2 * INB__YDEPTH_MAX + 2, INB_EINVAL, "job 't.yaml' line 1 col 65: nested deeper than 64 levels");
}

/* ---- files ---------------------------------------------------------------------------------------------------- */

static void test_a_file_loads_with_its_name_in_messages(void **state) {
  (void)state;
  const char *path = write_file("job.yaml", JOB, strlen(JOB));
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_load(path, &d), 0);
  assert_string_equal(inb__ydoc_name(d), path);
  int64_t k = 0;
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(inb__ymap_get(inb__yseq_at(field(d, "pipeline"), 1), "args"), "k"),
                                  NULL, &k),
                   INB_EINVAL);
  char want[600];
  snprintf(want, sizeof want, "job '%s' line 8 col 15: 'pipeline.1.args.k': expected an integer; found 'abc'", path);
  assert_string_equal(inb_errmsg(), want);
  inb__ydoc_free(&d);
}

static void test_a_job_can_come_from_a_pipe(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  assert_int_equal(write(fds[1], "a: 1\n", 5), 5);
  close(fds[1]);
  char path[64];
  snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_load(path, &d), 0);
  assert_string_equal(field(d, "a")->text, "1");
  inb__ydoc_free(&d);
  close(fds[0]);
}

static void test_a_missing_file_is_not_found(void **state) {
  (void)state;
  char path[512], want[600];
  snprintf(path, sizeof path, "%s/nope.yaml", g_dir);
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_load(path, &d), INB_ENOTFOUND);
  assert_null(d);
  snprintf(want, sizeof want, "job '%s': no such file", path);
  assert_string_equal(inb_errmsg(), want);
}

static void test_a_directory_is_not_a_job_file(void **state) {
  (void)state;
  char want[600];
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_load(g_dir, &d), INB_EINVAL);
  assert_null(d);
  snprintf(want, sizeof want, "job '%s': a directory, not a job file", g_dir);
  assert_string_equal(inb_errmsg(), want);
}

static void test_a_file_with_nul_bytes_is_not_a_text_file(void **state) {
  (void)state;
  char want[600];
  const char *path = write_file("binary.yaml", LIT("a: 1\n\x89HDF\r\n\0\0"));
  inb__ydoc *d = NULL;
  assert_int_equal(inb__ydoc_load(path, &d), INB_EINVAL);
  snprintf(want, sizeof want, "job '%s' line 2 col 1: not UTF-8 text (byte 0x89)", path);
  assert_string_equal(inb_errmsg(), want);
  path = write_file("nul.yaml", LIT("a: 1\nb: \0\n"));
  assert_int_equal(inb__ydoc_load(path, &d), INB_EINVAL);
  snprintf(want, sizeof want, "job '%s' line 2 col 4: a NUL byte: not a text file", path);
  assert_string_equal(inb_errmsg(), want);
  path = write_file("empty.yaml", "", 0);
  assert_int_equal(inb__ydoc_load(path, &d), INB_EINVAL);
  snprintf(want, sizeof want, "job '%s': the job is empty", path);
  assert_string_equal(inb_errmsg(), want);
}

/* ---- --set ---------------------------------------------------------------------------------------------------- */

static void test_set_replaces_a_scalar_with_a_plain_value(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args.mode", "12"), 0); /* was "fast", quoted */
  const inb__ynode *mode = inb__ymap_get(inb__ymap_get(inb__yseq_at(field(d, "pipeline"), 0), "args"), "mode");
  int64_t v = 0;
  assert_int_equal(inb__ynode_int(d, mode, NULL, &v), 0);
  assert_int_equal(v, 12);
  assert_true(mode->from_set);
  assert_int_equal(inb__ydoc_set(d, "name", "other"), 0);
  assert_string_equal(field(d, "name")->text, "other");
  assert_int_equal(inb__ynode_len(inb__ydoc_root(d)), 2); /* replaced, not added */
  inb__ydoc_free(&d);
}

static void test_set_adds_a_missing_key_at_the_last_step_only(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args.n", "5"), 0);
  const inb__ynode *args = inb__ymap_get(inb__yseq_at(field(d, "pipeline"), 0), "args");
  assert_int_equal(inb__ynode_len(args), 3);
  assert_string_equal(inb__ymap_key(args, 2)->text, "n"); /* at the end */
  assert_true(inb__ymap_key(args, 2)->from_set);
  assert_string_equal(path_of(inb__ymap_get(args, "n")), "pipeline.0.args.n");
  int64_t v = 0;
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(args, "n"), NULL, &v), 0);
  assert_int_equal(v, 5);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args.n", "6"), 0); /* now it exists: replaced */
  assert_int_equal(inb__ynode_len(args), 3);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.argz.n", "5"), INB_EINVAL); /* argz is missing, not last */
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.0.argz.n): 'pipeline.0' has no key 'argz' (did you "
                                    "mean 'args'?)");
  inb__ydoc_free(&d);
}

static void test_set_through_a_misspelt_key_suggests_the_right_one(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  assert_int_equal(inb__ydoc_set(d, "pipline.0.args.k", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipline.0.args.k): the job has no key 'pipline' (did you "
                                    "mean 'pipeline'?)");
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.zzzzz.k", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.0.zzzzz.k): 'pipeline.0' has no key 'zzzzz' (its "
                                    "keys: action, args)");
  inb__ydoc_free(&d);
}

static void test_set_past_the_last_item_says_how_many_there_are(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  assert_int_equal(inb__ydoc_set(d, "pipeline.2.args.k", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.2.args.k): 'pipeline' has 2 items: no item 2");
  assert_int_equal(inb__ydoc_set(d, "pipeline.99999999999999999999999.args.k", "2"), INB_EINVAL);
  assert_int_equal(inb__ydoc_set(d, "pipeline.first.args.k", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml' (--set pipeline.first.args.k): 'pipeline' is a list: 'first' is not an item number");
  assert_int_equal(inb__ydoc_set(d, "pipeline.-1", "2"), INB_EINVAL);
  inb__ydoc_free(&d);
}

static void test_set_must_end_on_a_single_value(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.0.args): 'pipeline.0.args' is a mapping, not a single "
                                    "value: set one of its keys (its keys: k, mode)");
  assert_int_equal(inb__ydoc_set(d, "pipeline", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline): 'pipeline' is a list, not a single value: set one "
                                    "of its items by number");
  assert_int_equal(inb__ydoc_set(d, "name.first", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(),
                      "job 't.yaml' (--set name.first): 'name' is a single value ('clean'), with no 'first' in it");
  inb__ydoc_free(&d);
}

static void test_set_refuses_empty_steps_and_leaves_the_job_unchanged(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  const char *bad[] = {"", ".name", "name.", "pipeline..0", "pipeline.0.args.k.x"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) assert_int_equal(inb__ydoc_set(d, bad[i], "2"), INB_EINVAL);
  assert_int_equal(inb__ydoc_set(d, "pipeline..0", "2"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline..0): an empty step: keys and item numbers are "
                                    "joined by single dots");
  assert_int_equal(inb__ydoc_set(d, "name", "caf\xe9"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set name): the value is not UTF-8 text");
  assert_string_equal(field(d, "name")->text, "clean");
  assert_false(field(d, "name")->from_set);
  assert_int_equal(inb__ynode_len(inb__ydoc_root(d)), 2);
  inb__ydoc_free(&d);
}

static void test_values_from_set_are_named_as_such_in_messages(void **state) {
  (void)state;
  inb__ydoc *d = parse_ok(JOB);
  const inb__ynode *args = inb__ymap_get(inb__yseq_at(field(d, "pipeline"), 0), "args");
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args.k", "abc"), 0);
  assert_int_equal(inb__ydoc_set(d, "pipeline.0.args.extra", "x"), 0);
  int64_t v;
  assert_int_equal(inb__ynode_int(d, inb__ymap_get(args, "k"), NULL, &v), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.0.args.k): expected an integer; found 'abc'");
  assert_int_equal(inb__ynode_err(d, inb__ymap_key(args, 2), NULL, INB_EINVAL, "unknown argument"), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "job 't.yaml' (--set pipeline.0.args.extra): unknown argument");
  inb__ydoc_free(&d);
}

/* ---- did you mean -------------------------------------------------------------------------------------------- */

static void test_did_you_mean_suggests_within_distance_two_and_prefers_the_first_on_a_tie(void **state) {
  (void)state;
  const char *const targets[] = {"mpi", "mpc", "threads", "for", "async"};
  assert_ptr_equal(inb__did_you_mean("threads", targets, 5), targets[2]); /* 0 */
  assert_ptr_equal(inb__did_you_mean("thread", targets, 5), targets[2]);  /* 1 */
  assert_ptr_equal(inb__did_you_mean("thraeds", targets, 5), targets[2]); /* 2: a swap */
  assert_ptr_equal(inb__did_you_mean("asnc", targets, 5), targets[4]);    /* 1 */
  assert_null(inb__did_you_mean("asyncxyz", targets, 5));                 /* 3 from async */
  assert_null(inb__did_you_mean("tread-pool", targets, 5));
  assert_ptr_equal(inb__did_you_mean("mpx", targets, 5), targets[0]); /* 1 from mpi and from mpc: the first */
  const char *const cats[] = {"cat", "bat", "hat"};
  assert_ptr_equal(inb__did_you_mean("rat", cats, 3), cats[0]);
  assert_ptr_equal(inb__did_you_mean("hat", cats, 3), cats[2]); /* an exact match beats an earlier close one */
  assert_null(inb__did_you_mean("x", NULL, 0));
  const char *const far[] = {"abcde"};
  assert_null(inb__did_you_mean("abxyz", far, 1)); /* 3 substitutions */
  assert_ptr_equal(inb__did_you_mean("abxye", far, 1), far[0]);
}

/* ---- size ----------------------------------------------------------------------------------------------------- */

static char *repeat_lines(const char *head, const char *fmt, int n) {
  size_t cap = strlen(head) + (size_t)n * 32 + 1, len = 0;
  char *text = malloc(cap);
  assert_non_null(text);
  len += (size_t)snprintf(text, cap, "%s", head);
  for (int i = 0; i < n; i++) len += (size_t)snprintf(text + len, cap - len, fmt, i, i);
  return text;
}

static void test_ten_thousand_items_parse_with_their_positions(void **state) {
  (void)state;
  char *text = repeat_lines("items:\n", "  - %d\n", 10000);
  inb__ydoc *d = parse_ok(text);
  const inb__ynode *items = field(d, "items");
  assert_int_equal(inb__ynode_len(items), 10000);
  expect_at(inb__yseq_at(items, 9999), INB__YSCALAR, 10001, 5);
  assert_string_equal(inb__yseq_at(items, 9999)->text, "9999");
  assert_int_equal(inb__ydoc_set(d, "items.9999", "x"), 0);
  inb__ydoc_free(&d);
  free(text);
}

static void test_ten_thousand_keys_parse_and_a_late_duplicate_is_found(void **state) {
  (void)state;
  char *text = repeat_lines("", "k%d: %d\n", 10000);
  inb__ydoc *d = parse_ok(text);
  assert_int_equal(inb__ynode_len(inb__ydoc_root(d)), 10000);
  assert_string_equal(inb__ymap_get(inb__ydoc_root(d), "k9999")->text, "9999");
  inb__ydoc_free(&d);
  size_t n = strlen(text);
  text = realloc(text, n + 16);
  assert_non_null(text);
  strcpy(text + n, "k5000: again\n");
  expect_parse_error(text, strlen(text), INB_EINVAL, "job 't.yaml' line 10001 col 1: 'k5000': duplicate key (first at "
                                                     "line 5001 col 1)");
  free(text);
}

/* ---- out of memory -------------------------------------------------------------------------------------------- */

/* Loads a job, changes a value and adds a key: every allocation of the module is reached. */
static int load_and_set(void *ctx) {
  const char *path = ctx;
  inb__ydoc *d = NULL;
  int rc = inb__ydoc_load(path, &d);
  if (!rc) rc = inb__ydoc_set(d, "pipeline.0.args.k", "4");
  if (!rc) rc = inb__ydoc_set(d, "pipeline.0.args.new", "5");
  inb__ydoc_free(&d);
  return rc;
}

static void test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated(void **state) {
  (void)state;
  static const char *const files[] = {"src/jobs/yamldoc.c:"};
  assert_true(inb_test_oom_walk(load_and_set, (void *)write_file("oom.yaml", JOB, strlen(JOB)), files, 1) >= 5);
}

int main(void) {
  inb__fault_enable(); /* before any allocation, so that the out-of-memory test can count them */
  if (!mkdtemp(g_dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested_mappings_and_sequences_keep_their_lines_and_columns),
      cmocka_unit_test(test_keys_keep_document_order_and_their_own_positions),
      cmocka_unit_test(test_quoted_scalars_stay_strings_and_plain_ones_are_numbers),
      cmocka_unit_test(test_integers_in_decimal_hex_and_octal_convert_within_int64),
      cmocka_unit_test(test_integer_errors_name_file_line_column_field_and_what_was_found),
      cmocka_unit_test(test_reals_accept_integers_decimals_exponents_infinities_and_nan),
      cmocka_unit_test(test_real_errors_name_the_place_and_the_text),
      cmocka_unit_test(test_booleans_are_true_or_false_never_yes_or_quoted),
      cmocka_unit_test(test_strings_refuse_null_and_containers),
      cmocka_unit_test(test_a_long_value_is_shortened_and_escaped_in_messages),
      cmocka_unit_test(test_node_messages_name_the_field_or_the_document),
      cmocka_unit_test(test_duplicate_keys_name_both_lines),
      cmocka_unit_test(test_syntax_errors_name_line_column_and_what_libyaml_found),
      cmocka_unit_test(test_a_tab_in_the_indentation_is_named_as_such),
      cmocka_unit_test(test_a_control_character_is_named_with_its_place),
      cmocka_unit_test(test_an_empty_file_is_an_empty_job),
      cmocka_unit_test(test_a_second_document_is_an_error),
      cmocka_unit_test(test_anchors_aliases_and_tags_are_refused),
      cmocka_unit_test(test_a_key_must_be_a_single_value),
      cmocka_unit_test(test_nul_bytes_are_refused_in_the_text_and_in_escapes),
      cmocka_unit_test(test_text_that_is_not_utf8_is_refused_with_its_place),
      cmocka_unit_test(test_nesting_is_bounded),
      cmocka_unit_test(test_a_file_loads_with_its_name_in_messages),
      cmocka_unit_test(test_a_job_can_come_from_a_pipe),
      cmocka_unit_test(test_a_missing_file_is_not_found),
      cmocka_unit_test(test_a_directory_is_not_a_job_file),
      cmocka_unit_test(test_a_file_with_nul_bytes_is_not_a_text_file),
      cmocka_unit_test(test_set_replaces_a_scalar_with_a_plain_value),
      cmocka_unit_test(test_set_adds_a_missing_key_at_the_last_step_only),
      cmocka_unit_test(test_set_through_a_misspelt_key_suggests_the_right_one),
      cmocka_unit_test(test_set_past_the_last_item_says_how_many_there_are),
      cmocka_unit_test(test_set_must_end_on_a_single_value),
      cmocka_unit_test(test_set_refuses_empty_steps_and_leaves_the_job_unchanged),
      cmocka_unit_test(test_values_from_set_are_named_as_such_in_messages),
      cmocka_unit_test(test_did_you_mean_suggests_within_distance_two_and_prefers_the_first_on_a_tie),
      cmocka_unit_test(test_ten_thousand_items_parse_with_their_positions),
      cmocka_unit_test(test_ten_thousand_keys_parse_and_a_late_duplicate_is_found),
      cmocka_unit_test(test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  const char *names[] = {"job.yaml", "binary.yaml", "nul.yaml", "empty.yaml", "oom.yaml"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
    unlink(path);
  }
  rmdir(g_dir);
  return failed;
}
