/* Internal: a YAML document read into a small tree, the form job files are read in.
 *
 * libyaml parses; this module keeps what a job needs: scalars (their text, and whether they were quoted: a
 * quoted "3" is a string, never a number), sequences, and mappings (unique keys in document order), every node
 * with the 1-based line and column where it starts. A malformed document is INB_EINVAL with inb_errmsg() in the
 * form `job 'clean.yaml' line 12 col 5: mapping values are not allowed in this context`.
 *
 * What a job file has no use for is refused with a message rather than half supported:
 * - anchors and aliases (&name, *name): a job is short enough to write out, one node reachable under two paths
 *   would make a --set change two fields at once, and a few lines of aliases can expand to gigabytes;
 * - tags (!!str, !thing): quoting is the way to make a value a string;
 * - keys that are not scalars (? [a, b]: c), duplicate keys (the message names both lines);
 * - no document ("the job is empty"), or more than one;
 * - text that is not UTF-8 (UTF-16 included) or holds a NUL, in the file or in an escape ("\0");
 * - nesting deeper than INB__YDEPTH_MAX.
 *
 * Numbers and booleans follow YAML 1.2's core schema: an integer is [-+]?[0-9]+, 0x[0-9a-fA-F]+ or 0o[0-7]+;
 * a real is any integer, [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)?, [-+]?.inf or .nan (any of the
 * spellings .inf, .Inf, .INF); a boolean is true or false (also True, TRUE, ...): yes, no, on and off are not.
 * Reals are read with strtod, so LC_NUMERIC must stay "C" (the default, which nothing here changes).
 *
 * A document owns all its nodes; they live until inb__ydoc_free. There is no global state: distinct documents
 * may be used by distinct threads at once; one document is not safe to change (inb__ydoc_set) while another
 * thread reads it. Messages go to the calling thread's inb_errmsg(). */
#ifndef INB_JOBS_YAMLDOC_H
#define INB_JOBS_YAMLDOC_H

#include <inbatch/core.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  INB__YDEPTH_MAX = 64,               /* sequences and mappings nested deeper than this are refused */
  INB__YDOC_MAX_BYTES = 64 << 20,     /* the largest file inb__ydoc_load reads: 64 MiB */
};

typedef enum inb__ykind { INB__YSCALAR = 1, INB__YSEQ, INB__YMAP } inb__ykind;

typedef struct inb__ydoc inb__ydoc;
typedef struct inb__ynode inb__ynode;

/* One entry of a mapping: the key (a scalar node, is_key set) and its value. */
typedef struct inb__yentry {
  inb__ynode *key, *value;
} inb__yentry;

/* A node. Read its fields freely; change them only through inb__ydoc_set. */
struct inb__ynode {
  inb__ykind kind;
  int line, col;          /* 1-based, where the node starts; kept when --set replaces a scalar, 0 on one it added */
  bool quoted;            /* scalar written quoted or as a block (|, >): a string, never a number or null */
  bool block;             /* scalar written as a block (|, >); quoted is set too */
  bool from_set;          /* scalar replaced or added by inb__ydoc_set: messages say "(--set FIELD)", no line */
  bool is_key;            /* a mapping's key */
  inb__ynode *parent;     /* the sequence or mapping holding it; NULL for the root */
  size_t index;           /* its item number in a sequence parent, or its entry's number in a mapping parent */
  char *text;             /* scalar: NUL-terminated UTF-8 without an inner NUL; NULL otherwise */
  size_t len;             /* scalar: strlen(text) */
  size_t n;               /* sequence: items; mapping: entries; scalar: 0 */
  inb__ynode **items;     /* sequence: n items, in document order */
  inb__yentry *entries;   /* mapping: n entries, in document order (then keys --set added) */
  size_t cap;             /* room in items or entries */
};

/* ---- documents --------------------------------------------------------------------------------------------- */

/* Reads and parses the job file at path (a regular file or a pipe). The messages name the file as `path`.
 * On success *out is a new document owned by the caller (inb__ydoc_free); on failure *out is NULL.
 * Returns 0; INB_ENOTFOUND (no such file); INB_EINVAL (a directory, larger than INB__YDOC_MAX_BYTES, not UTF-8
 * text, a NUL byte, or what inb__ydoc_parse refuses); INB_EIO (cannot be opened or read: the system's reason);
 * INB_ENOMEM. inb_errmsg() says which, naming the file. */
int inb__ydoc_load(const char *path, inb__ydoc **out);

/* Parses text[0..n) (no NUL needed at its end), naming it `name` in messages (`job 'NAME' line L col C: ...`).
 * Both are copied: the caller keeps them. On success *out is a new document owned by the caller
 * (inb__ydoc_free); on failure *out is NULL. Returns 0, INB_EINVAL (see the top of this file: inb_errmsg()
 * names the line, the column and what is wrong) or INB_ENOMEM. */
int inb__ydoc_parse(const char *name, const char *text, size_t n, inb__ydoc **out);

/* Frees the document and every node of it, and sets *d to NULL. NULL-safe (d and *d). */
void inb__ydoc_free(inb__ydoc **d);

/* The document's root node (never NULL for a parsed document), and its name as given to load or parse. Both
 * belong to the document. */
const inb__ynode *inb__ydoc_root(const inb__ydoc *d);
const char *inb__ydoc_name(const inb__ydoc *d);

/* ---- walking the tree (every function takes NULL for a node and then answers NULL, 0 or false) ------------- */

/* The value of `key` in mapping `map`; NULL when map is not a mapping or has no such key. Linear in the
 * mapping's size. The node belongs to the document. */
const inb__ynode *inb__ymap_get(const inb__ynode *map, const char *key);

/* The number of items of a sequence or entries of a mapping; 0 for a scalar. */
size_t inb__ynode_len(const inb__ynode *node);

/* Item i of a sequence; key or value of entry i of a mapping. NULL when i is out of range or the kind differs.
 * The nodes belong to the document. */
const inb__ynode *inb__yseq_at(const inb__ynode *seq, size_t i);
const inb__ynode *inb__ymap_key(const inb__ynode *map, size_t i);
const inb__ynode *inb__ymap_value(const inb__ynode *map, size_t i);

/* True for a plain (unquoted) scalar that YAML reads as null: nothing, ~, null, Null or NULL. */
bool inb__ynode_is_null(const inb__ynode *node);

/* Writes the node's field path into buf: mapping keys and item numbers joined by dots (`pipeline.0.args.k`);
 * a key's path is its value's; the root's is "". Truncates to cap like snprintf (cap 0: writes nothing).
 * Returns the length of the whole path. */
size_t inb__ynode_path(const inb__ynode *node, char *buf, size_t cap);

/* Describes the node for a message's "found ...": `'abc'` (a plain scalar, escaped and shortened to 40
 * characters), `"3" (quoted, so a string)`, `a block of text`, `nothing` (an empty plain scalar), `a mapping`,
 * `a list`, or `nothing (the field is missing)` for NULL. Writes into buf (truncated like snprintf) and returns
 * buf. */
const char *inb__ynode_describe(const inb__ynode *node, char *buf, size_t cap);

/* ---- messages and conversions ------------------------------------------------------------------------------ */

/* Sets inb_errmsg() to `job 'DOC' line L col C: 'FIELD': <fmt...>`, or `job 'DOC' (--set FIELD): <...>` for a
 * node that came from --set, and returns code (so callers can `return inb__ynode_err(...)`). FIELD is `field`,
 * or the node's path (inb__ynode_path) when field is NULL; when that is "" the `'FIELD': ` part is left out.
 * node NULL (a field that is missing): `job 'DOC': 'FIELD': <...>`. */
int inb__ynode_err(const inb__ydoc *d, const inb__ynode *node, const char *field, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Conversions of a scalar. Each returns 0 and sets *out, or INB_EINVAL with inb__ynode_err's message for the
 * node and field (NULL: the node's path) saying what was expected and what was found, as in
 * `job 'clean.yaml' line 3 col 8: 'pipeline.0.args.k': expected an integer; found 'abc'`; *out is then
 * unchanged. Quoted scalars are strings: they convert to no number and no boolean. */

/* An integer (see the top of this file) within int64_t. */
int inb__ynode_int(const inb__ydoc *d, const inb__ynode *node, const char *field, int64_t *out);

/* A real number or an integer; refuses one beyond the range of a double (1e999). */
int inb__ynode_real(const inb__ydoc *d, const inb__ynode *node, const char *field, double *out);

/* true or false. */
int inb__ynode_bool(const inb__ydoc *d, const inb__ynode *node, const char *field, bool *out);

/* Any scalar that is not null, quoted or not (a plain 007 is the string "007"). *out is the node's text and
 * belongs to the document. */
int inb__ynode_str(const inb__ydoc *d, const inb__ynode *node, const char *field, const char **out);

/* ---- the command's --set KEY=VALUE -------------------------------------------------------------------------- */

/* Sets the scalar at `dotted`, a path of mapping keys and item numbers (`pipeline.0.args.k`), to `value`, as a
 * plain scalar (so "2" reads as an integer, "x" as a string) marked from_set. The path must lead to an existing
 * scalar, except that its last step may name a key missing from an existing mapping: the key is then added at
 * the end of that mapping. Keys are matched exactly; a key with a dot in it cannot be reached.
 * Returns 0; INB_EINVAL when the path goes through a missing key (inb_errmsg() suggests a close key: "did you
 * mean 'args'?") or a missing item, through a scalar, ends on a mapping or a sequence, has an empty step, or
 * value is not UTF-8 (inb_errmsg() names the path and what is there); INB_ENOMEM. On failure d is unchanged.
 * dotted and value are copied. */
int inb__ydoc_set(inb__ydoc *d, const char *dotted, const char *value);

/* ---- suggestions --------------------------------------------------------------------------------------------- */

/* The candidate closest to word in Levenshtein distance (bytes), if that distance is at most 2; on a tie the
 * first of them; NULL when none is that close (or n is 0). Words or candidates over 128 bytes are never
 * suggested. The result is one of the candidates' pointers. */
const char *inb__did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
