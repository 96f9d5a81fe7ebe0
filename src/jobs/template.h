/* Internal: argv templates, the words of the program a job runs once per task, with GNU parallel's placeholders.
 *
 * A job gives a program as a list of words (`argv: [convert, "{1}", "out/{index}.png"]`), each compiled on its
 * own and expanded into one argv string: no shell is involved, so whatever a task holds (`; rm -rf /tmp/x`,
 * `$(reboot)`, quotes, `*`) stays one literal argument. Or it gives one shell command (`cmd:` with
 * `shell: true`), compiled with INB__TEMPLATE_SHELL and run as /bin/sh -c WORD: every substituted text is then
 * single-quoted for the shell (' written '\''), so that it stays one literal word of data.
 *
 * Placeholders, for the task `photos/2024/img 01.tar.gz raw/a.b` on line 7 of its file, item index 4, on rank 2:
 *
 *   {}       the task's line                       photos/2024/img 01.tar.gz raw/a.b
 *   {.}      without its extension                 photos/2024/img 01.tar.gz raw/a
 *   {/}      its basename                          a.b
 *   {//}     its dirname                           photos/2024/img 01.tar.gz raw
 *   {/.}     its basename without extension        a
 *   {1}      field 1 (fields are separated by      photos/2024/img
 *   {2}      runs of blanks: space, tab, \r, \v,   01.tar.gz
 *   {3} ...  \f; blanks at the ends are ignored)   raw/a.b
 *   {N.} {N/} {N//} {N/.}   field N's path forms:  {2.} 01.tar   {3/} a.b   {1//} photos/2024   {3/.} a
 *   {index}  the item index, from 0                4
 *   {#}      the sequence number, from 1 (GNU      5
 *            parallel's {#}: {index} + 1)
 *   {rank}   the MPI rank that runs the task       2
 *   {line}   the task's line in the task file      7
 *   {{  }}   a literal { and }                     {{index}} gives {index}
 *
 * Anything else in braces, a `{` that is not closed and a single `}` are refused when the word is compiled
 * ("unknown placeholder '{indx}' (did you mean '{index}'?)"). Field numbers run from 1 to
 * INB__TEMPLATE_MAX_FIELD.
 *
 * Path forms, as GNU parallel's, on names taken as they are (nothing is looked up on disk):
 * - {.} drops the last extension: from the last `.` of the last component (after the last `/`) to the end:
 *   a/b.tar.gz -> a/b.tar, x. -> x, a.b/c -> a.b/c, a/b.c/ -> a/b.c/ (the last component is empty).
 *   Leading dots of the last component start no extension: .bashrc -> .bashrc, dir/.a.txt -> dir/.a, .. -> ..
 *   (GNU parallel 20221122 gives an empty .bashrc and turns .. into .).
 * - {/} is basename(1): the last component, trailing slashes ignored: a/b.c -> b.c, a/b/ -> b, / -> /,
 *   noext -> noext (GNU parallel gives an empty {/} for a name that ends in `/`: here it is the directory's name).
 * - {//} is dirname(1), as GNU parallel's: a/b.c -> a, a/b/ -> a, a//b -> a, noext -> ., /abs -> /, // -> /.
 * - {/.} is {.} of {/}: a/b.tar.gz -> b.tar, a/b.c/ -> b, .bashrc -> .bashrc.
 *
 * A task of a count (tasks.h: no text) has its index, in decimal, as its text: {} and {1} are then {index}.
 * {line} of such a task fails (inb__template_uses tells a binder to refuse it earlier).
 *
 * In shell mode, {index}, {#}, {rank} and {line} are left unquoted (digits only: `$(( {index} % 4 ))` works);
 * {}, the fields and their path forms are quoted. When the word is compiled, a quoted placeholder is refused where
 * the shell would not read its quotes as quoting: inside the command's own single or double quotes (`echo "{}"`:
 * the quotes are not needed and would break it), inside backquotes, after a backslash, inside $(( )) or (( ))
 * (the shell evaluates that text quotes and all: `$(( '$(cmd)' ))` runs cmd), and anywhere after `<<` (a
 * here-document), bash's `$'` or `$[`. Any placeholder is refused right after a `$` (`${1}`: the shell's own
 * ${1} is written `${{1}}`). Inside `$(...)` a placeholder is fine, also within double quotes
 * (`"$(basename {})"`). The command's other text is the user's shell code, copied as written.
 *
 * Neither mode guards a program against what it does with a value that reached it as one word: a task `-rf` is an
 * option to `rm {}` (write `./{}` or put `--` before it), and bash's [[ A -eq B ]], let and declare -i evaluate a
 * word as arithmetic, which can run commands.
 *
 * A compiled template is immutable: any number of threads may expand it at once. Messages go to the calling
 * thread's inb_errmsg(). */
#ifndef INB_JOBS_TEMPLATE_H
#define INB_JOBS_TEMPLATE_H

#include <inbatch/core.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  INB__TEMPLATE_SHELL = 1,        /* compile flag: a /bin/sh command; substituted texts are quoted */
  INB__TEMPLATE_MAX_FIELD = 65535 /* the highest field number {N} may name */
};

/* What a template's placeholders use (inb__template_uses), for a binder's checks and a runner's preparations. */
enum {
  INB__TEMPLATE_USES_TEXT = 1,    /* {} or one of its path forms */
  INB__TEMPLATE_USES_FIELDS = 2,  /* {N} or a field's path form: inb__template_max_field says up to which */
  INB__TEMPLATE_USES_INDEX = 4,   /* {index} or {#} */
  INB__TEMPLATE_USES_RANK = 8,    /* {rank} */
  INB__TEMPLATE_USES_LINE = 16    /* {line}: a count's tasks have none */
};

/* One task as a template sees it. The strings are the caller's (a task list's, tasks.h) and need to live only
 * during the expansion. */
typedef struct inb__task_view {
  const char *text;   /* the task's line, len bytes, no line ending; NULL: a count's task, its index is its text */
  size_t len;
  int64_t index;      /* the item index, from 0 */
  int64_t line;       /* the task's line in its file, from 1; 0 for a count's task */
  int rank;           /* the MPI rank running it */
  const char *file;   /* the task file, named in messages; NULL: messages name the line or the item only */
} inb__task_view;

typedef struct inb__template inb__template;

/* Compiles one word (NUL-terminated) with flags (0, or INB__TEMPLATE_SHELL). Parsed here once: an expansion
 * copies and substitutes only. On success *out is a new template owned by the caller (inb__template_free); on
 * failure *out is NULL. Returns 0; INB_EINVAL (a placeholder that is unknown, not closed or, in shell mode, in a
 * place where the shell would not read its quotes: see the top of this file), with inb_errmsg() saying what
 * (without a position: the caller knows where the word is) and *bad_offset (when bad_offset is not NULL) set to
 * the byte of the word where the fault is, for the caller's column; INB_ENOMEM. */
int inb__template_compile(const char *word, unsigned flags, inb__template **out, size_t *bad_offset);

/* Frees the template and sets *t to NULL. NULL-safe (t and *t). */
void inb__template_free(inb__template **t);

/* What the template's placeholders use (INB__TEMPLATE_USES_* or'ed; 0 for a word without any), and the highest
 * field number it names (0 when none). */
unsigned inb__template_uses(const inb__template *t);
uint32_t inb__template_max_field(const inb__template *t);

/* Expands t for one task into buf[0..cap), like snprintf: the word, NUL-terminated, when *need < cap; cut and
 * NUL-terminated otherwise (cap > 0). *need is set to the word's length without the NUL whether or not it fit:
 * call again with a buffer of *need + 1 bytes. cap 0 only measures (buf may then be NULL). Allocates nothing;
 * fields are found as the first field placeholder asks for them, in one pass over the task's text.
 * Returns 0, or INB_EINVAL for this task alone: a field that the task does not have, or {line} of a count's
 * task, with inb_errmsg() naming the task and the placeholder: `task file 'list.txt' line 12: '{3}' asks for
 * field 3 but the task has 2: 'a.png b.png'`; buf then holds "" (cap > 0) and *need is 0. */
int inb__template_expand(const inb__template *t, const inb__task_view *task, char *buf, size_t cap, size_t *need);

/* Expands words[0..n) for one task into a new argv: n strings and a NULL after them, in one block from
 * inb__malloc that holds the pointers and the strings. *out is the caller's (inb__free(*out) frees it all); on
 * failure *out is NULL. The task's fields are found once for all the words. Returns 0, INB_EINVAL (as
 * inb__template_expand: the task lacks a field) or INB_ENOMEM. */
int inb__template_argv(inb__template *const *words, size_t n, const inb__task_view *task, char ***out);

#endif
