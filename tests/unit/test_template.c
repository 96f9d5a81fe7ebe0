/* Unit tests of argv templates (src/jobs/template.h): every placeholder, the path forms on awkward names, fields,
 * a count's tasks, literal braces, what compiling refuses (message and byte offset), the shell mode's quoting and
 * what it refuses, the expansion's buffer rules and one-block argv; hostile task lines run for real through
 * printf, as an argv and through /bin/sh, and compared byte for byte with what the program received; the cost of
 * an expansion; and out of memory at every allocation. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "jobs/template.h"
#include "oom_walk.h"

#include <dirent.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The programs run here, where only an injected command (`touch injected`) would make a file; removed by main. */
static char g_dir[] = "/tmp/test_template.XXXXXX";

static inb__template *compile_ok(const char *word, unsigned flags) {
  inb__template *t = NULL;
  size_t bad = 0;
  if (inb__template_compile(word, flags, &t, &bad)) fail_msg("compile '%s': %s (byte %zu)", word, inb_errmsg(), bad);
  return t;
}

static inb__task_view view_of(const char *text, int64_t index, int64_t line) {
  return (inb__task_view){.text = text, .len = text ? strlen(text) : 0, .index = index, .line = line, .rank = 0};
}

/* The word expanded for the task (a static buffer, reused by the next call). */
static const char *expand_view(const inb__template *t, const inb__task_view *v) {
  static char buf[16384];
  size_t need = 0;
  if (inb__template_expand(t, v, buf, sizeof buf, &need)) fail_msg("expand: %s", inb_errmsg());
  assert_int_equal(need, strlen(buf));
  return buf;
}

/* word compiled with flags and expanded for text (index 4, line 7, rank 2, file list.txt) is `want`. */
static void expect_expansion(const char *word, unsigned flags, const char *text, const char *want) {
  inb__template *t = compile_ok(word, flags);
  inb__task_view v = {.text = text, .len = strlen(text), .index = 4, .line = 7, .rank = 2, .file = "list.txt"};
  const char *got = expand_view(t, &v);
  if (strcmp(got, want) != 0) fail_msg("'%s' on '%s': got '%s', want '%s'", word, text, got, want);
  inb__template_free(&t);
}

/* Compiling word with flags fails at byte `offset` with exactly `msg`, leaving *out NULL. */
static void expect_refused(const char *word, unsigned flags, size_t offset, const char *msg) {
  inb__template *t = (inb__template *)&t;
  size_t bad = 999;
  if (inb__template_compile(word, flags, &t, &bad) != INB_EINVAL) fail_msg("'%s' compiled", word);
  assert_null(t);
  if (strcmp(inb_errmsg(), msg) != 0) fail_msg("'%s': got \"%s\", want \"%s\"", word, inb_errmsg(), msg);
  if (bad != offset) fail_msg("'%s': offset %zu, want %zu", word, bad, offset);
}

/* ---- placeholders --------------------------------------------------------------------------------------------- */

/* The table at the top of template.h, row by row. */
static void test_every_placeholder_gives_what_the_header_says(void **state) {
  (void)state;
  const char *task = "photos/2024/img 01.tar.gz raw/a.b";
  static const char *const rows[][2] = {
      {"{}", "photos/2024/img 01.tar.gz raw/a.b"},
      {"{.}", "photos/2024/img 01.tar.gz raw/a"},
      {"{/}", "a.b"},
      {"{//}", "photos/2024/img 01.tar.gz raw"},
      {"{/.}", "a"},
      {"{1}", "photos/2024/img"},
      {"{2}", "01.tar.gz"},
      {"{3}", "raw/a.b"},
      {"{2.}", "01.tar"},
      {"{3/}", "a.b"},
      {"{1//}", "photos/2024"},
      {"{3/.}", "a"},
      {"{index}", "4"},
      {"{#}", "5"},
      {"{rank}", "2"},
      {"{line}", "7"},
      {"{{index}}", "{index}"},
      {"convert {1} -resize 50% out/{index}_{2.}.png", "convert photos/2024/img -resize 50% out/4_01.tar.png"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) expect_expansion(rows[i][0], 0, task, rows[i][1]);
}

/* {.} {/} {//} {/.} of a name. The rows marked GNU differ from GNU parallel 20221122 on purpose (template.h):
 * a dot-file keeps its name, and a name ending in / has its directory's name as basename. */
typedef struct {
  const char *name, *noext, *base, *dir, *base_noext;
} path_row;

static const path_row PATHS[] = {
    {"a/b.tar.gz", "a/b.tar", "b.tar.gz", "a", "b.tar"},
    {"noext", "noext", "noext", ".", "noext"},
    {"x.", "x", "x.", ".", "x"},
    {"a/b/c.", "a/b/c", "c.", "a/b", "c"},
    {"a.b.c/d.e", "a.b.c/d", "d.e", "a.b.c", "d"},
    {"a.b/c", "a.b/c", "c", "a.b", "c"},
    {"./x.y", "./x", "x.y", ".", "x"},
    {"/abs", "/abs", "abs", "/", "abs"},
    {"~/x.y", "~/x", "x.y", "~", "x"},
    {"a//b", "a//b", "b", "a", "b"},
    {"dir/.hidden.txt", "dir/.hidden", ".hidden.txt", "dir", ".hidden"},
    {".bashrc", ".bashrc", ".bashrc", ".", ".bashrc"},      /* GNU: {.} and {/.} empty */
    {"a/.bashrc", "a/.bashrc", ".bashrc", "a", ".bashrc"},  /* GNU: a/ and empty */
    {"..", "..", "..", ".", ".."},                          /* GNU: . and . */
    {"a/b/..", "a/b/..", "..", "a/b", ".."},                /* GNU: a/b/. and . */
    {".", ".", ".", ".", "."},
    {"a/b/", "a/b/", "b", "a", "b"},                        /* GNU: {/} and {/.} empty */
    {"a/b.c/", "a/b.c/", "b.c", "a", "b"},                  /* GNU: {/} and {/.} empty */
    {"/", "/", "/", "/", "/"},                              /* GNU: {/} and {/.} empty */
    {"//", "//", "/", "/", "/"},                            /* GNU: {/} and {/.} empty */
};

static void test_path_forms_of_the_line_follow_gnu_parallel_except_for_dot_files_and_trailing_slashes(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof PATHS / sizeof *PATHS; i++) {
    const path_row *r = &PATHS[i];
    char want[256];
    snprintf(want, sizeof want, "%s|%s|%s|%s|%s", r->name, r->noext, r->base, r->dir, r->base_noext);
    expect_expansion("{}|{.}|{/}|{//}|{/.}", 0, r->name, want);
  }
  expect_expansion("[{}|{.}|{/}|{//}|{/.}]", 0, "", "[|||.|]");
  expect_expansion("{.}|{/}|{//}|{/.}", 0, "a b/c d.txt", "a b/c d|c d.txt|a b|c d");
}

static void test_path_forms_of_a_field_are_those_of_the_field_alone(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof PATHS / sizeof *PATHS; i++) {
    const path_row *r = &PATHS[i];
    char line[256], want[256];
    snprintf(line, sizeof line, "x/y.z  %s\tlast.q", r->name);
    snprintf(want, sizeof want, "%s|%s|%s|%s|%s", r->name, r->noext, r->base, r->dir, r->base_noext);
    expect_expansion("{2}|{2.}|{2/}|{2//}|{2/.}", 0, line, want);
  }
}

static void test_fields_are_runs_of_blanks_and_the_ends_do_not_count(void **state) {
  (void)state;
  expect_expansion("[{1}][{2}][{3}]", 0, " \t a\t\tb \v\f c \r", "[a][b][c]");
  expect_expansion("[{1}]", 0, "caf\xC3\xA9\xC2\xA0x", "[caf\xC3\xA9\xC2\xA0x]"); /* a no-break space is text */
}

static void test_a_task_without_the_field_fails_alone_naming_its_line_and_fields(void **state) {
  (void)state;
  inb__template *t = compile_ok("{1}-{3}", 0);
  char buf[64];
  size_t need = 0;
  inb__task_view ok = {.text = "a b c", .len = 5, .index = 0, .line = 3, .file = "list.txt"};
  inb__task_view short_one = {.text = "a.png\tb.png", .len = 11, .index = 1, .line = 12, .file = "list.txt"};
  assert_int_equal(inb__template_expand(t, &ok, buf, sizeof buf, &need), 0);
  assert_string_equal(buf, "a-c");
  assert_int_equal(inb__template_expand(t, &short_one, buf, sizeof buf, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "task file 'list.txt' line 12: '{3}' asks for field 3 but the task has 2: "
                                    "'a.png\\x09b.png'");
  assert_string_equal(buf, "");   /* nothing half-expanded */
  assert_int_equal(need, 0);
  short_one.file = NULL;
  assert_int_equal(inb__template_expand(t, &short_one, buf, sizeof buf, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "task line 12: '{3}' asks for field 3 but the task has 2: 'a.png\\x09b.png'");
  inb__task_view blank = {.text = "   ", .len = 3, .index = 2, .line = 13};
  assert_int_equal(inb__template_expand(t, &blank, buf, sizeof buf, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "task line 13: '{1}' asks for field 1 but the task has 0: '   '");
  assert_int_equal(inb__template_expand(t, &ok, buf, sizeof buf, &need), 0); /* the next task is not affected */
  assert_string_equal(buf, "a-c");
  inb__template_free(&t);
  t = compile_ok("{2/.}", 0);
  assert_int_equal(inb__template_expand(t, &ok, buf, sizeof buf, &need), 0);
  ok.len = 1; /* the text is its first len bytes */
  assert_int_equal(inb__template_expand(t, &ok, buf, sizeof buf, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "task file 'list.txt' line 3: '{2/.}' asks for field 2 but the task has 1: 'a'");
  inb__template_free(&t);
}

/* Fields past the ones an expansion keeps are found again: every field of a long line, in any order. */
static void test_fields_far_down_a_long_line_are_found(void **state) {
  (void)state;
  char line[1024] = "", word[64], want[1024] = "";
  for (int i = 1; i <= 40; i++) {
    snprintf(word, sizeof word, "%sf%d", i > 1 ? (i % 3 ? " " : "   ") : "", i);
    strcat(line, word);
  }
  expect_expansion("{40} {17} {1} {16} {33} {17}", 0, line, "f40 f17 f1 f16 f33 f17");
  inb__template *t = compile_ok("{1}{41}", 0);
  inb__task_view v = view_of(line, 0, 9);
  size_t need;
  assert_int_equal(inb__template_expand(t, &v, NULL, 0, &need), INB_EINVAL);
  snprintf(want, sizeof want, "task line 9: '{41}' asks for field 41 but the task has 40: '%.40s...'", line);
  assert_string_equal(inb_errmsg(), want);
  inb__template_free(&t);
}

static void test_a_counts_task_has_its_index_as_text_and_no_line(void **state) {
  (void)state;
  inb__template *t = compile_ok("{}|{1}|{.}|{/}|{//}|{/.}|{index}|{#}|{rank}", 0);
  inb__task_view v = {.text = NULL, .index = 42, .rank = 3};
  assert_string_equal(expand_view(t, &v), "42|42|42|42|.|42|42|43|3");
  inb__template_free(&t);
  t = compile_ok("{line}", 0);
  size_t need;
  assert_int_equal(inb__template_expand(t, &v, NULL, 0, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "item 42: '{line}': the task is one of a count, not a line of a task file");
  inb__template_free(&t);
  t = compile_ok("{2}", 0);
  assert_int_equal(inb__template_expand(t, &v, NULL, 0, &need), INB_EINVAL);
  assert_string_equal(inb_errmsg(), "item 42: '{2}' asks for field 2 but the task has 1: '42'");
  inb__template_free(&t);
}

static void test_doubled_braces_are_literal_braces(void **state) {
  (void)state;
  expect_expansion("{{}}", 0, "x", "{}");
  expect_expansion("{{{}}}", 0, "x", "{x}");
  expect_expansion("a}}b{{", 0, "x", "a}b{");
  expect_expansion("awk '{{print $1}}' {}", 0, "f.txt", "awk '{print $1}' f.txt");
  expect_expansion("plain words, no braces", 0, "x", "plain words, no braces");
  expect_expansion("", 0, "x", "");
}

/* ---- what compiling refuses ----------------------------------------------------------------------------------- */

static void test_unknown_placeholders_are_refused_with_a_suggestion_and_their_offset(void **state) {
  (void)state;
  static const char *const list =
      " (the placeholders are {}, {.}, {/}, {//}, {/.}, {1}, {2}, ... and their forms {1.}, {1/}, {1//}, {1/.}, then "
      "{index}, {#}, {rank} and {line}; write '{{' and '}}' for literal braces)";
  char want[512];
  expect_refused("out/{indx}.png", 0, 4, "unknown placeholder '{indx}' (did you mean '{index}'?)");
  expect_refused("{rnk}", 0, 0, "unknown placeholder '{rnk}' (did you mean '{rank}'?)");
  expect_refused("a {}{lines}", 0, 4, "unknown placeholder '{lines}' (did you mean '{line}'?)");
  snprintf(want, sizeof want, "unknown placeholder '{%%}'%s", list);
  expect_refused("{%}", 0, 0, want);
  snprintf(want, sizeof want, "unknown placeholder '{ }'%s", list);
  expect_refused("{ }", 0, 0, want);
  snprintf(want, sizeof want, "unknown placeholder '{HOME}'%s", list);
  expect_refused("${HOME}", 0, 1, want);  /* not a shell command: the $ is text */
  expect_refused("{0}", 0, 0, "unknown placeholder '{0}' (fields count from 1: '{1}' is the first)");
  expect_refused("{01}", 0, 0, "unknown placeholder '{01}' (a field number has no leading zeros)");
  expect_refused("{65536}", 0, 0, "placeholder '{65536}': fields go up to {65535}");
  expect_refused("{99999999999999999999}", 0, 0, "placeholder '{99999999999999999999}': fields go up to {65535}");
  expect_refused("x{1x}", 0, 1, "unknown placeholder '{1x}' (a field's forms are {N}, {N.}, {N/}, {N//} and {N/.})");
  expect_refused("{1..}", 0, 0, "unknown placeholder '{1..}' (a field's forms are {N}, {N.}, {N/}, {N//} and {N/.})");
  snprintf(want, sizeof want, "unknown placeholder '{\\x09}'%s", list);
  expect_refused("{\t}", 0, 0, want);
}

static void test_unbalanced_braces_are_refused_at_the_brace(void **state) {
  (void)state;
  expect_refused("a{b", 0, 1, "'{' is not closed (write '{{' for a literal brace)");
  expect_refused("{index", 0, 0, "'{' is not closed (write '{{' for a literal brace)");
  expect_refused("{a{b}", 0, 0, "'{' is not closed (write '{{' for a literal brace)");
  expect_refused("{{{", 0, 2, "'{' is not closed (write '{{' for a literal brace)");
  expect_refused("a}b", 0, 1, "a single '}' (write '}}' for a literal brace)");
  expect_refused("{}}", 0, 2, "a single '}' (write '}}' for a literal brace)");
}

static void test_uses_say_what_the_placeholders_need(void **state) {
  (void)state;
  inb__template *t = compile_ok("{3/.}{1}{line}", 0);
  assert_int_equal(inb__template_uses(t), INB__TEMPLATE_USES_FIELDS | INB__TEMPLATE_USES_LINE);
  assert_int_equal(inb__template_max_field(t), 3);
  inb__template_free(&t);
  t = compile_ok("{/}{#}{rank}", 0);
  assert_int_equal(inb__template_uses(t), INB__TEMPLATE_USES_TEXT | INB__TEMPLATE_USES_INDEX | INB__TEMPLATE_USES_RANK);
  assert_int_equal(inb__template_max_field(t), 0);
  inb__template_free(&t);
  t = compile_ok("{{}}", 0);
  assert_int_equal(inb__template_uses(t), 0);
  inb__template_free(&t);
  assert_null(t);
  inb__template_free(&t); /* NULL-safe */
  inb__template_free(NULL);
}

static void test_bad_arguments_are_refused(void **state) {
  (void)state;
  inb__template *t = NULL;
  assert_int_equal(inb__template_compile(NULL, 0, &t, NULL), INB_EINVAL);
  assert_int_equal(inb__template_compile("x", 0, NULL, NULL), INB_EINVAL);
  assert_int_equal(inb__template_compile("x", 4, &t, NULL), INB_EINVAL);
  assert_null(t);
}

/* ---- the buffer and the argv ---------------------------------------------------------------------------------- */

static void test_expand_measures_and_cuts_like_snprintf(void **state) {
  (void)state;
  inb__template *t = compile_ok("out/{/.}.png", 0);
  inb__task_view v = view_of("in/photo.jpg", 0, 1);
  size_t need = 0;
  assert_int_equal(inb__template_expand(t, &v, NULL, 0, &need), 0);
  assert_int_equal(need, strlen("out/photo.png"));
  char buf[8];
  memset(buf, 'z', sizeof buf);
  assert_int_equal(inb__template_expand(t, &v, buf, sizeof buf, &need), 0);
  assert_int_equal(need, 13);
  assert_string_equal(buf, "out/pho");   /* cut, NUL-terminated */
  char fit[14];
  assert_int_equal(inb__template_expand(t, &v, fit, sizeof fit, &need), 0);
  assert_string_equal(fit, "out/photo.png");
  inb__template_free(&t);
}

static void test_argv_is_one_block_of_strings_ending_in_null(void **state) {
  (void)state;
  long live = inb__fault_live();
  static const char *const words[] = {"convert", "{1}", "-resize", "50%", "out/{index}_{2/.}.png", ""};
  inb__template *w[6];
  for (int i = 0; i < 6; i++) w[i] = compile_ok(words[i], 0);
  inb__task_view v = view_of("in/a.png  masks/a.mask.png", 7, 8);
  char **argv = NULL;
  assert_int_equal(inb__template_argv(w, 6, &v, &argv), 0);
  assert_string_equal(argv[0], "convert");
  assert_string_equal(argv[1], "in/a.png");
  assert_string_equal(argv[2], "-resize");
  assert_string_equal(argv[3], "50%");
  assert_string_equal(argv[4], "out/7_a.mask.png");
  assert_string_equal(argv[5], "");
  assert_null(argv[6]);
  inb__free(argv);
  inb__task_view one = view_of("in/b.png", 8, 9);
  argv = (char **)&argv;
  assert_int_equal(inb__template_argv(w, 6, &one, &argv), INB_EINVAL);
  assert_null(argv);
  assert_string_equal(inb_errmsg(), "task line 9: '{2/.}' asks for field 2 but the task has 1: 'in/b.png'");
  assert_int_equal(inb__template_argv(w, 0, &v, &argv), 0);   /* no words: an argv of just its NULL */
  assert_null(argv[0]);
  inb__free(argv);
  for (int i = 0; i < 6; i++) inb__template_free(&w[i]);
  assert_int_equal(inb__fault_live(), live);
}

/* ---- shell mode ------------------------------------------------------------------------------------------------ */

static void test_shell_mode_quotes_texts_and_leaves_numbers_bare(void **state) {
  (void)state;
  unsigned sh = INB__TEMPLATE_SHELL;
  expect_expansion("convert {} out/{index}.png", sh, "it's a b", "convert 'it'\\''s a b' out/4.png");
  expect_expansion("x{}y {1} {2/.} {#} {rank} {line}", sh, "a b/c.d", "x'a b/c.d'y 'a' 'c' 5 2 7");
  expect_expansion("printf %s {}", sh, "", "printf %s ''");
  expect_expansion("echo {}", sh, "''", "echo ''\\'''\\'''");
  expect_expansion("echo $(( {index} % 4 )) {{}}", sh, "x", "echo $(( 4 % 4 )) {}");
}

static void test_shell_mode_refuses_placeholders_where_quotes_would_not_protect(void **state) {
  (void)state;
  unsigned sh = INB__TEMPLATE_SHELL;
  expect_refused("echo '{}'", sh, 6, "placeholder '{}' inside single quotes: a shell command's values are quoted "
                                     "already; remove the quotes around it");
  expect_refused("echo \"a {1}\"", sh, 8, "placeholder '{1}' inside double quotes: a shell command's values are "
                                          "quoted already; remove the quotes around it");
  expect_refused("echo `cat {}`", sh, 10, "placeholder '{}' inside backquotes, where the value's quotes would not "
                                          "protect it; write $(...) instead");
  expect_refused("echo \"$(cat `ls {}`)\"", sh, 16, "placeholder '{}' inside backquotes, where the value's quotes "
                                                    "would not protect it; write $(...) instead");
  expect_refused("echo \\{}", sh, 6, "placeholder '{}' right after a backslash, which would take the value's opening "
                                     "quote as a character");
  expect_refused("echo ${1}", sh, 6, "placeholder '{1}' right after '$' (for the shell's own ${1}, write '${{1}}')");
  expect_refused("echo ${HOME}", sh, 6, "unknown placeholder '{HOME}' (for the shell's own ${HOME}, write "
                                        "'${{HOME}}')");
  expect_refused("cat <<EOF\n{}\nEOF", sh, 10, "placeholder '{}' after '<<': in a here-document the shell would not "
                                               "read the value's quotes as quoting");
  static const char *const arith = "inside $(( )) or (( )), where the shell evaluates the value's text, its quotes "
                                   "included; only {index}, {#}, {rank} and {line} may stand there";
  char want[512];
  snprintf(want, sizeof want, "placeholder '{1}' %s", arith);
  expect_refused("echo $(( {1} + 1 ))", sh, 9, want);
  snprintf(want, sizeof want, "placeholder '{}' %s", arith);
  expect_refused("(( x = {} )) && echo", sh, 7, want);
  expect_refused("echo \"$(( ({} + 1) * 2 ))\"", sh, 11, want);
  expect_refused("echo $'a\\'' {}'", sh, 12, "placeholder '{}' after $'...', which bash and dash end at different "
                                             "quotes, so the quoting cannot be checked");
  expect_refused("echo $[1] {}", sh, 10, "placeholder '{}' after $[, an arithmetic form whose end cannot be checked; "
                                         "write $(( )) instead");
  char deep[128] = "echo ";
  for (int i = 0; i < 33; i++) strcat(deep, "$( ");
  strcat(deep, "{}");
  expect_refused(deep, sh, strlen(deep) - 2, "placeholder '{}' nested too deeply in the command's $( ), ( ) and "
                                             "backquotes to check its quoting");
  expect_refused("echo \"{index}\" ${index}", sh, 16, "placeholder '{index}' right after '$' (for the shell's own "
                                                      "${index}, write '${{index}}')");
  /* the same words are plain text when no shell reads them */
  inb__template *t = compile_ok("echo '{}' \"{1}\" `{}` \\{} $HOME <<", 0);
  inb__template_free(&t);
}

static void test_shell_mode_accepts_placeholders_outside_the_commands_own_quotes(void **state) {
  (void)state;
  unsigned sh = INB__TEMPLATE_SHELL;
  expect_expansion("echo \"$(basename {})\"", sh, "a/b c", "echo \"$(basename 'a/b c')\"");
  expect_expansion("echo \"$(echo \"in\" {})\" {}", sh, "x", "echo \"$(echo \"in\" 'x')\" 'x'");
  expect_expansion("echo '\\'{}", sh, "x", "echo '\\''x'");     /* '\' is a whole quoted backslash */
  expect_expansion("echo \"a\\\"b\" {}", sh, "x", "echo \"a\\\"b\" 'x'");
  expect_expansion("echo \\\\{}", sh, "x", "echo \\\\'x'");    /* an escaped backslash escapes nothing more */
  expect_expansion("(cd d && echo {}) # {} too", sh, "x", "(cd d && echo 'x') # 'x' too");
  expect_expansion("case {} in a) echo {};; esac", sh, "x", "case 'x' in a) echo 'x';; esac");
  expect_expansion("echo ${{HOME}} $HOME {}", sh, "x", "echo ${HOME} $HOME 'x'");
  expect_expansion("test {} '<' b && echo {}", sh, "x", "test 'x' '<' b && echo 'x'");
  expect_expansion("a=#{}; echo $a", sh, "x", "a=#'x'; echo $a");   /* # inside a word starts no comment */
  expect_expansion("echo \"{index}\" '{#}' `echo {rank}` $(( {line} << 1 )) \\{index}", sh, "x",
                   "echo \"4\" '5' `echo 2` $(( 7 << 1 )) \\4");   /* numbers are digits: safe anywhere */
  expect_expansion("echo $(( $(wc -c < {}) + 1 )) {}", sh, "x", "echo $(( $(wc -c < 'x') + 1 )) 'x'");
  expect_expansion("x=$((1+2)); (( y = 3 )); echo {}", sh, "x", "x=$((1+2)); (( y = 3 )); echo 'x'");
}

/* ---- hostile tasks run for real -------------------------------------------------------------------------------- */

/* Runs argv (argv[0] a path) in g_dir and returns what it wrote to stdout (the caller frees), its length in *len;
 * the program must exit 0. */
static char *run(char *const argv[], size_t *len) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  posix_spawn_file_actions_addclose(&fa, fds[1]);
  posix_spawn_file_actions_addchdir_np(&fa, g_dir);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  assert_int_equal(rc, 0);
  size_t cap = 4096, n = 0;
  char *out = malloc(cap);
  assert_non_null(out);
  for (ssize_t r; (r = read(fds[0], out + n, cap - n)) > 0;) {
    n += (size_t)r;
    if (n == cap) {
      out = realloc(out, cap *= 2);
      assert_non_null(out);
    }
  }
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail_msg("%s exited with status %#x", argv[0], status);
  *len = n;
  return out;
}

/* `[TEXT]\n` for each text, as printf '[%s]\n' TEXT... prints them. */
static size_t bracketed(char *buf, size_t cap, const char *const *texts, size_t n) {
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += (size_t)snprintf(buf + len, cap - len, "[%s]\n", texts[i]);
  return len;
}

static void expect_output(char *const argv[], const char *want, size_t want_len, const char *task) {
  size_t len = 0;
  char *got = run(argv, &len);
  if (len != want_len || memcmp(got, want, len) != 0)
    fail_msg("task '%s': the program received\n%.*s\ninstead of\n%s", task, (int)len, got, want);
  free(got);
}

/* Runs task through `printf '[%s]\n' {} x{}y` twice: as an argv (/usr/bin/printf, no shell) and as a shell
 * command (/bin/sh -c); both must print the task's text as exactly two arguments, byte for byte. */
static void expect_literal_in_both_modes(const char *task) {
  char want[16384], glued[8192];
  snprintf(glued, sizeof glued, "x%sy", task);
  const char *texts[] = {task, glued};
  size_t want_len = bracketed(want, sizeof want, texts, 2);
  inb__task_view v = view_of(task, 0, 1);

  static const char *const words[] = {"/usr/bin/printf", "[%s]\\n", "{}", "x{}y"};
  inb__template *w[4];
  for (int i = 0; i < 4; i++) w[i] = compile_ok(words[i], 0);
  char **argv = NULL;
  assert_int_equal(inb__template_argv(w, 4, &v, &argv), 0);
  expect_output(argv, want, want_len, task);
  inb__free(argv);
  for (int i = 0; i < 4; i++) inb__template_free(&w[i]);

  inb__template *sh[3] = {compile_ok("/bin/sh", 0), compile_ok("-c", 0),
                          compile_ok("printf '[%s]\\n' {} x{}y", INB__TEMPLATE_SHELL)};
  assert_int_equal(inb__template_argv(sh, 3, &v, &argv), 0);
  expect_output(argv, want, want_len, task);
  inb__free(argv);
  for (int i = 0; i < 3; i++) inb__template_free(&sh[i]);
}

/* Nothing was made in g_dir: no injected command ran (whichever argument it got into). */
static void expect_no_canary(void) {
  DIR *d = opendir(g_dir);
  assert_non_null(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      fail_msg("an injected command ran: %s/%s exists", g_dir, e->d_name);
  closedir(d);
}

/* Empties g_dir, which only a failed test fills. */
static void remove_canaries(void) {
  DIR *d = opendir(g_dir);
  for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(path);
  }
  if (d) closedir(d);
}

static void test_hostile_tasks_stay_one_literal_argument_in_both_modes(void **state) {
  (void)state;
  static const char *const tasks[] = {
      "; touch injected", "$(touch injected)", "`touch injected`", "' ; touch injected ; '",
      "\" ; touch injected ; \"", "&& touch injected ||", "| touch injected", "> injected",
      "\\'; touch injected; echo \\'", "'\"'\"'$(touch injected)", "a\rb; touch injected", "$(touch injected",
      "$(touch${IFS}injected)", "*", "/*", "a  b\tc", "\\", "'", "\"", "$HOME ~ {} %s %% \\n $((1+1)) ${PATH}", "-n",
      "", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x93\xB7", "!! !$ #not a comment"};
  for (size_t i = 0; i < sizeof tasks / sizeof *tasks; i++) {
    expect_literal_in_both_modes(tasks[i]);
    expect_no_canary();
  }
}

/* A small generator of its own, so that a failure repeats. */
static uint64_t next_random(uint64_t *s) {
  *s = *s * 6364136223846793005u + 1442695040888963407u;
  return *s >> 33;
}

static void test_random_task_lines_reach_the_program_unchanged_in_both_modes(void **state) {
  (void)state;
  static const char *const pieces[] = {"'", "\"", "\\", "`", "$", "(", ")", "{", "}", ";", "&", "|", "<", ">", "*",
                                       "?", "[", "]", "~", "#", "!", "%", " ", "\t", "\r", "a", "Z", "0", "-", "=",
                                       "\xC3\xA9", "\xE2\x9C\x93", "$(", "${", "''", "\\'", "touch ", "\v", "\f"};
  uint64_t seed = 20261129;
  for (int k = 0; k < 150; k++) {
    char task[512] = "";
    size_t len = 0;
    for (uint64_t m = next_random(&seed) % 24; m > 0; m--) {
      const char *p = pieces[next_random(&seed) % (sizeof pieces / sizeof *pieces)];
      len += (size_t)snprintf(task + len, sizeof task - len, "%s", p);
    }
    expect_literal_in_both_modes(task);
    expect_no_canary();
  }
}

/* The places where shell mode lets a quoted placeholder stand keep hostile values literal too. */
static void test_hostile_tasks_stay_literal_wherever_the_shell_mode_accepts_a_placeholder(void **state) {
  (void)state;
  static const char *const commands[] = {
      "printf '[%s]\\n' \"$(printf '%s' {})\"", "(printf '[%s]\\n' {})", "case {} in *) printf '[%s]\\n' {};; esac",
      "printf '[%s]\\n' {} # {}", "printf '[%s]\\n' {} && (cd . && printf '' {})",
      "printf '[%s]\\n' \"$( (printf '%s' {}) )\"",
  };
  static const char *const tasks[] = {"$(touch injected)", "`touch injected`", "'; touch injected; '",
                                      "\"; touch injected; \"", "a b  *", "\\", ") ; touch injected ; (",
                                      "' ) ; touch injected ; ( '", "# x", "$(( $(touch injected) ))"};
  for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
    inb__template *sh[3] = {compile_ok("/bin/sh", 0), compile_ok("-c", 0),
                            compile_ok(commands[c], INB__TEMPLATE_SHELL)};
    for (size_t k = 0; k < sizeof tasks / sizeof *tasks; k++) {
      char want[512];
      size_t want_len = bracketed(want, sizeof want, &tasks[k], 1);
      inb__task_view v = view_of(tasks[k], 0, 1);
      char **argv = NULL;
      assert_int_equal(inb__template_argv(sh, 3, &v, &argv), 0);
      expect_output(argv, want, want_len, tasks[k]);
      inb__free(argv);
      expect_no_canary();
    }
    for (int i = 0; i < 3; i++) inb__template_free(&sh[i]);
  }
}

/* Fields and path forms in a shell command are quoted as the line is. */
static void test_hostile_fields_and_path_forms_stay_single_words_in_the_shell(void **state) {
  (void)state;
  const char *task = "$(touch${IFS}injected)/'x'.y;z `touch${IFS}injected2`|b.c";
  char want[4096];
  inb__template *sh[3] = {compile_ok("/bin/sh", 0), compile_ok("-c", 0),
                          compile_ok("printf '[%s]\\n' {1} {2} {1/} {1.} {1//} {2/.} {/.}", INB__TEMPLATE_SHELL)};
  inb__task_view v = view_of(task, 0, 1);
  char **argv = NULL;
  assert_int_equal(inb__template_argv(sh, 3, &v, &argv), 0);
  const char *texts[] = {"$(touch${IFS}injected)/'x'.y;z", "`touch${IFS}injected2`|b.c", "'x'.y;z",
                         "$(touch${IFS}injected)/'x'", "$(touch${IFS}injected)", "`touch${IFS}injected2`|b",
                         "'x'.y;z `touch${IFS}injected2`|b"};
  size_t want_len = bracketed(want, sizeof want, texts, 7);
  expect_output(argv, want, want_len, task);
  expect_no_canary();
  inb__free(argv);
  for (int i = 0; i < 3; i++) inb__template_free(&sh[i]);
}

/* ---- cost -------------------------------------------------------------------------------------------------------- */

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The cost of one task's argv (5 words, 4 placeholders, one allocation) and of one shell command: printed; must
 * stay far below the 200 us that 5,000 tasks a second allow (best of 5 runs of 100,000). */
static void test_an_expansion_costs_well_under_what_5000_tasks_a_second_allow(void **state) {
  (void)state;
  enum { N = 100000, RUNS = 5 };
  static const char *const words[] = {"convert", "{1}", "-resize", "{2}", "out/{index}_{1/.}.png"};
  inb__template *w[5], *sh = compile_ok("convert {1} -resize {2} out/{index}_{1/.}.png", INB__TEMPLATE_SHELL);
  for (int i = 0; i < 5; i++) w[i] = compile_ok(words[i], 0);
  inb__task_view v = view_of("data/run042/image_000123.tif 50%", 0, 1);
  double best_argv = 1e18, best_shell = 1e18;
  char buf[256];
  size_t need;
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ns();
    for (int i = 0; i < N; i++) {
      char **argv;
      v.index = i;
      if (inb__template_argv(w, 5, &v, &argv)) fail_msg("argv: %s", inb_errmsg());
      inb__free(argv);
    }
    double t1 = now_ns();
    for (int i = 0; i < N; i++) {
      v.index = i;
      if (inb__template_expand(sh, &v, buf, sizeof buf, &need)) fail_msg("expand: %s", inb_errmsg());
    }
    double t2 = now_ns();
    best_argv = t1 - t0 < best_argv ? t1 - t0 : best_argv;
    best_shell = t2 - t1 < best_shell ? t2 - t1 : best_shell;
  }
  print_message("template_expand  tasks=%d  argv (5 words, 1 allocation)=%.0f ns/task  shell command (caller's "
                "buffer)=%.0f ns/task  (best of %d; 5,000 tasks/s allow 200000 ns)\n",
                N, best_argv / N, best_shell / N, RUNS);
  assert_true(best_argv / N < 20000);
  assert_true(best_shell / N < 20000);
  for (int i = 0; i < 5; i++) inb__template_free(&w[i]);
  inb__template_free(&sh);
}

/* ---- out of memory ----------------------------------------------------------------------------------------------- */

/* Compiles an argv's words and a shell command, expands them for a task: every allocation of the module. */
static int compile_and_expand(void *ctx) {
  (void)ctx;
  static const char *const words[] = {"convert", "{1}", "out/{index}_{2/.}.png"};
  inb__template *w[3] = {NULL, NULL, NULL}, *sh = NULL;
  char **argv = NULL;
  int rc = 0;
  for (int i = 0; i < 3 && !rc; i++) rc = inb__template_compile(words[i], 0, &w[i], NULL);
  if (!rc) rc = inb__template_compile("cat {} | wc -l > {/.}.n", INB__TEMPLATE_SHELL, &sh, NULL);
  inb__task_view v = view_of("a/b.png c/d.e.png", 3, 4);
  if (!rc) rc = inb__template_argv(w, 3, &v, &argv);
  inb__free(argv);
  for (int i = 0; i < 3; i++) inb__template_free(&w[i]);
  inb__template_free(&sh);
  return rc;
}

static void test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated(void **state) {
  (void)state;
  static const char *const files[] = {"src/jobs/template.c:"};
  assert_true(inb_test_oom_walk(compile_and_expand, NULL, files, 1) >= 2);
}

int main(void) {
  inb__fault_enable(); /* before any allocation, so that the out-of-memory test can count them */
  if (!mkdtemp(g_dir)) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_placeholder_gives_what_the_header_says),
      cmocka_unit_test(test_path_forms_of_the_line_follow_gnu_parallel_except_for_dot_files_and_trailing_slashes),
      cmocka_unit_test(test_path_forms_of_a_field_are_those_of_the_field_alone),
      cmocka_unit_test(test_fields_are_runs_of_blanks_and_the_ends_do_not_count),
      cmocka_unit_test(test_a_task_without_the_field_fails_alone_naming_its_line_and_fields),
      cmocka_unit_test(test_fields_far_down_a_long_line_are_found),
      cmocka_unit_test(test_a_counts_task_has_its_index_as_text_and_no_line),
      cmocka_unit_test(test_doubled_braces_are_literal_braces),
      cmocka_unit_test(test_unknown_placeholders_are_refused_with_a_suggestion_and_their_offset),
      cmocka_unit_test(test_unbalanced_braces_are_refused_at_the_brace),
      cmocka_unit_test(test_uses_say_what_the_placeholders_need),
      cmocka_unit_test(test_bad_arguments_are_refused),
      cmocka_unit_test(test_expand_measures_and_cuts_like_snprintf),
      cmocka_unit_test(test_argv_is_one_block_of_strings_ending_in_null),
      cmocka_unit_test(test_shell_mode_quotes_texts_and_leaves_numbers_bare),
      cmocka_unit_test(test_shell_mode_refuses_placeholders_where_quotes_would_not_protect),
      cmocka_unit_test(test_shell_mode_accepts_placeholders_outside_the_commands_own_quotes),
      cmocka_unit_test(test_hostile_tasks_stay_one_literal_argument_in_both_modes),
      cmocka_unit_test(test_random_task_lines_reach_the_program_unchanged_in_both_modes),
      cmocka_unit_test(test_hostile_tasks_stay_literal_wherever_the_shell_mode_accepts_a_placeholder),
      cmocka_unit_test(test_hostile_fields_and_path_forms_stay_single_words_in_the_shell),
      cmocka_unit_test(test_an_expansion_costs_well_under_what_5000_tasks_a_second_allow),
      cmocka_unit_test(test_out_of_memory_anywhere_is_enomem_and_leaves_nothing_allocated),
  };
  int failed = cmocka_run_group_tests(tests, NULL, NULL);
  remove_canaries();
  rmdir(g_dir);
  return failed;
}
