/* An inbatch plugin: three actions of our own (one a reduction) for job files, in a shared object.
 *
 *   cc -O2 -fPIC -shared -I<inbatch's include dir> example_plugin.c -o libexample_plugin.so
 *
 * A job loads it with `plugins: [libexample_plugin.so]` (relative to the job file) and its steps name the actions
 * as they name the built-in ones (jobs/plugins/mask.yaml). `inbatch actions --plugin libexample_plugin.so` lists
 * them. Every function here runs item by item, on any thread of any rank: keep them free of shared state. */
#include <inbatch/plugin.h>
#include <math.h>
#include <stdio.h>

/* One element of a row as a double, whatever its dtype. */
static double element(const inb_array *a, size_t i) {
  switch (a->dtype) {
  case INB_I8: return ((const int8_t *)a->data)[i];
  case INB_U8: return ((const uint8_t *)a->data)[i];
  case INB_I16: return ((const int16_t *)a->data)[i];
  case INB_U16: return ((const uint16_t *)a->data)[i];
  case INB_I32: return ((const int32_t *)a->data)[i];
  case INB_U32: return ((const uint32_t *)a->data)[i];
  case INB_I64: return (double)((const int64_t *)a->data)[i];
  case INB_U64: return (double)((const uint64_t *)a->data)[i];
  case INB_F32: return ((const float *)a->data)[i];
  case INB_F64: return ((const double *)a->data)[i];
  }
  return NAN;
}

static double arg(const inb_args *args, const char *name) { return inb_args_get(args, name)->u.r; }

/* ---- threshold: a uint8 mask, 1 where x >= level ------------------------------------------------------------ */

static const inb_argspec k_threshold_args[] = {
    {"level", INB_ARG_REAL, NULL, NULL, "the value from which an element is 1"},
};

static int threshold_shape(const inb_array *src, const inb_args *args, inb_array *dst) {
  (void)args;
  *dst = *src;
  dst->dtype = INB_U8;
  return 0;
}

static int threshold_run(inb_rows *rows, const inb_args *args, inb_item *it, inb_value *result) {
  (void)it;
  const inb_array *x = &rows->src[0];
  uint8_t *y = rows->dst->data;
  double level = arg(args, "level");
  int64_t on = 0;
  for (size_t i = 0, n = inb_array_count(x); i < n; i++) {
    y[i] = element(x, i) >= level;
    on += y[i];
  }
  *result = inb_int(on); /* the item's result: how many elements are on */
  return 0;
}

/* ---- gamma: y = x^gamma, for rows of values in [0, 1] ------------------------------------------------------- */

static const inb_argspec k_gamma_args[] = {
    {"gamma", INB_ARG_REAL, "1", NULL, "the exponent, above 0"},
};

static int gamma_check(const inb_args *args) {
  double g = arg(args, "gamma");
  return g > 0 && isfinite(g) ? 0 : inb_set_error(INB_EINVAL, "gamma must be above 0 and finite; found %g", g);
}

static int gamma_shape(const inb_array *src, const inb_args *args, inb_array *dst) {
  (void)args;
  if (src->dtype != INB_F32 && src->dtype != INB_F64)
    return inb_set_error(INB_EINVAL, "gamma works on float32 or float64 rows (cast them first)");
  *dst = *src;
  return 0;
}

static int gamma_run(inb_rows *rows, const inb_args *args, inb_item *it, inb_value *result) {
  (void)result;
  const inb_array *x = &rows->src[0];
  double g = arg(args, "gamma");
  for (size_t i = 0, n = inb_array_count(x); i < n; i++) {
    double v = element(x, i);
    if (!(v >= 0 && v <= 1)) return inb_fail(it, INB_EINVAL, "element %zu is %g, outside [0, 1]", i, v);
    if (x->dtype == INB_F32)
      ((float *)rows->dst->data)[i] = (float)pow(v, g);
    else
      ((double *)rows->dst->data)[i] = pow(v, g);
  }
  return 0;
}

/* ---- share_above: over every item, the share of elements >= level (a reduction) --------------------------- */

/* Each item's partial: [items, elements, elements >= level]; the totals are sums of them. */
enum { PART_ITEMS, PART_ELEMENTS, PART_ABOVE, PARTIAL };

static int share_shape(const inb_array *src, const inb_args *args, inb_array *dst) {
  (void)src, (void)args;
  *dst = (inb_array){.dtype = INB_F64, .ndim = 1, .shape = {PARTIAL}};
  return 0;
}

static int share_run(inb_rows *rows, const inb_args *args, inb_item *it, inb_value *result) {
  (void)it, (void)result;
  const inb_array *x = &rows->src[0];
  double *part = rows->dst->data, level = arg(args, "level");
  size_t n = inb_array_count(x), above = 0;
  for (size_t i = 0; i < n; i++) above += element(x, i) >= level;
  part[PART_ITEMS] = 1, part[PART_ELEMENTS] = (double)n, part[PART_ABOVE] = (double)above;
  return 0;
}

static void share_merge(double *total, const double *part) {
  for (int k = 0; k < PARTIAL; k++) total[k] += part[k];
}

static void share_describe(const double *total, char *buf, size_t cap) {
  double e = total[PART_ELEMENTS];
  snprintf(buf, cap, "{\"items\": %.0f, \"elements\": %.0f, \"above\": %.0f, \"share\": %.17g}", total[PART_ITEMS], e,
           total[PART_ABOVE], e > 0 ? total[PART_ABOVE] / e : 0);
}

/* ---- the table -------------------------------------------------------------------------------------------- */

static const inb_plugin_action k_actions[] = {
    {.name = "threshold", .doc = "a uint8 mask of the row: 1 where x >= level, else 0; the item's result is the count "
                                 "of 1s",
     .args = k_threshold_args, .nargs = 1, .nsrc = 1, .shape = threshold_shape, .run = threshold_run},
    {.name = "gamma", .doc = "y = x^gamma, elementwise, for float rows in [0, 1]; an element outside fails the item",
     .args = k_gamma_args, .nargs = 1, .nsrc = 1, .shape = gamma_shape, .check = gamma_check, .run = gamma_run},
    {.name = "share_above", .doc = "over every item (a reduction): the share of elements >= level, as JSON in the "
                                   "output's attribute share_above_SRC",
     .args = k_threshold_args, .nargs = 1, .nsrc = 1, .shape = share_shape, .run = share_run, .partial = PARTIAL,
     .merge = share_merge, .describe = share_describe},
};

static const inb_plugin k_plugin = {INB_PLUGIN_ABI, "example", "1.1", k_actions, 3};

const inb_plugin *inb_plugin_info(void) { return &k_plugin; }
