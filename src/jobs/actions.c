/* The built-in actions (see actions.h). Numbers: elements are read as doubles unless an action says otherwise;
 * float32 rows of scale and clip take a loop of their own, since those are the actions bulk data goes through. */
#include "jobs/actions.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "core/status.h"
#include "core/value.h"

/* ---- dtypes ---------------------------------------------------------------------------------------------- */

static const struct {
  const char *name, *alias;
  inb_dtype t;
} k_dtypes[] = {{"int8", "i1", INB_I8},    {"uint8", "u1", INB_U8},     {"int16", "i2", INB_I16},
                {"uint16", "u2", INB_U16}, {"int32", "i4", INB_I32},    {"uint32", "u4", INB_U32},
                {"int64", "i8", INB_I64},  {"uint64", "u8", INB_U64},   {"float32", "f4", INB_F32},
                {"float64", "f8", INB_F64}};

int inb__dtype_parse(const char *s, inb_dtype *out) {
  for (size_t k = 0; s && k < sizeof k_dtypes / sizeof k_dtypes[0]; k++)
    if (strcmp(s, k_dtypes[k].name) == 0 || strcmp(s, k_dtypes[k].alias) == 0) {
      *out = k_dtypes[k].t;
      return 0;
    }
  return inb__err(INB_EINVAL, "expected a dtype (int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32, "
                              "float64); found '%s'", s ? s : "");
}

const char *inb__dtype_name(inb_dtype t) {
  for (size_t k = 0; k < sizeof k_dtypes / sizeof k_dtypes[0]; k++)
    if (k_dtypes[k].t == t) return k_dtypes[k].name;
  return "unknown";
}

static bool is_float(inb_dtype t) { return t == INB_F32 || t == INB_F64; }

static double get(const void *p, inb_dtype t, size_t i) {
  switch (t) {
  case INB_I8: return ((const int8_t *)p)[i];
  case INB_U8: return ((const uint8_t *)p)[i];
  case INB_I16: return ((const int16_t *)p)[i];
  case INB_U16: return ((const uint16_t *)p)[i];
  case INB_I32: return ((const int32_t *)p)[i];
  case INB_U32: return ((const uint32_t *)p)[i];
  case INB_I64: return (double)((const int64_t *)p)[i];
  case INB_U64: return (double)((const uint64_t *)p)[i];
  case INB_F32: return ((const float *)p)[i];
  case INB_F64: return ((const double *)p)[i];
  }
  return 0;
}

static void put_float(void *p, inb_dtype t, size_t i, double v) {
  if (t == INB_F32)
    ((float *)p)[i] = (float)v;
  else
    ((double *)p)[i] = v;
}

/* ---- argument values ------------------------------------------------------------------------------------- */

static int arg_index(const inb__argvals *a, const char *name) {
  for (size_t k = 0; k < a->n; k++)
    if (strcmp(a->spec[k].name, name) == 0) return (int)k;
  return -1;
}

double inb__arg_real(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k < 0 ? NAN : a->v[k].r;
}
int64_t inb__arg_int(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k < 0 ? 0 : a->v[k].i;
}
bool inb__arg_bool(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k >= 0 && a->v[k].b;
}
const char *inb__arg_str(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k < 0 ? NULL : a->v[k].s;
}
inb_dtype inb__arg_dtype(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k < 0 ? INB_F64 : a->v[k].dtype;
}
bool inb__arg_given(const inb__argvals *a, const char *name) {
  int k = arg_index(a, name);
  return k >= 0 && a->v[k].given;
}

/* ---- shapes ---------------------------------------------------------------------------------------------- */

static int same_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  (void)a;
  *dst = *src;
  return 0;
}

/* Floating sources keep their dtype; integer ones give float64. */
static int float_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  (void)a;
  *dst = *src;
  if (!is_float(src->dtype)) dst->dtype = INB_F64;
  return 0;
}

/* ---- scale: a*x + b -------------------------------------------------------------------------------------- */

static int run_scale(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)it, (void)result;
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  double m = inb__arg_real(a, "a"), c = inb__arg_real(a, "b");
  size_t n = inb_array_count(x);
  if (x->dtype == INB_F32 && y->dtype == INB_F32) {
    const float *in = x->data;
    float *out = y->data, fm = (float)m, fc = (float)c;
    for (size_t i = 0; i < n; i++) out[i] = fm * in[i] + fc;
    return 0;
  }
  for (size_t i = 0; i < n; i++) put_float(y->data, y->dtype, i, m * get(x->data, x->dtype, i) + c);
  return 0;
}

static const inb__argspec k_scale_args[] = {
    {"a", INB_ARG_REAL, "1", NULL, "the factor"},
    {"b", INB_ARG_REAL, "0", NULL, "the offset"},
};

/* ---- clip: into [lo, hi] --------------------------------------------------------------------------------- */

static int check_clip(const inb__argvals *a) {
  if (!inb__arg_given(a, "lo") && !inb__arg_given(a, "hi"))
    return inb__err(INB_EINVAL, "clip needs lo, hi or both");
  if (inb__arg_real(a, "lo") > inb__arg_real(a, "hi"))
    return inb__err(INB_EINVAL, "clip's lo (%g) is above its hi (%g)", inb__arg_real(a, "lo"), inb__arg_real(a, "hi"));
  return 0;
}

/* Integer rows compare as doubles (exact below 2^53) and keep their dtype; NaN stays NaN. */
static void put_same(void *p, inb_dtype t, size_t i, double v) {
  switch (t) {
  case INB_I8: ((int8_t *)p)[i] = (int8_t)v; break;
  case INB_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  case INB_I16: ((int16_t *)p)[i] = (int16_t)v; break;
  case INB_U16: ((uint16_t *)p)[i] = (uint16_t)v; break;
  case INB_I32: ((int32_t *)p)[i] = (int32_t)v; break;
  case INB_U32: ((uint32_t *)p)[i] = (uint32_t)v; break;
  case INB_I64: ((int64_t *)p)[i] = (int64_t)v; break;
  case INB_U64: ((uint64_t *)p)[i] = (uint64_t)v; break;
  case INB_F32: ((float *)p)[i] = (float)v; break;
  case INB_F64: ((double *)p)[i] = v; break;
  }
}

static int run_clip(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)it, (void)result;
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  double lo = inb__arg_real(a, "lo"), hi = inb__arg_real(a, "hi");
  size_t n = inb_array_count(x);
  if (x->dtype == INB_F32) {
    const float *in = x->data;
    float *out = y->data, flo = (float)lo, fhi = (float)hi;
    for (size_t i = 0; i < n; i++) out[i] = in[i] < flo ? flo : in[i] > fhi ? fhi : in[i];
    return 0;
  }
  if (!is_float(x->dtype)) { /* an integer row: the bounds that integers can take */
    lo = ceil(lo);
    hi = floor(hi);
  }
  for (size_t i = 0; i < n; i++) {
    double v = get(x->data, x->dtype, i);
    put_same(y->data, y->dtype, i, v < lo ? lo : v > hi ? hi : v);
  }
  return 0;
}

static const inb__argspec k_clip_args[] = {
    {"lo", INB_ARG_REAL, "-inf", NULL, "the lower bound (none when unset)"},
    {"hi", INB_ARG_REAL, "inf", NULL, "the upper bound (none when unset)"},
};

/* ---- copy ------------------------------------------------------------------------------------------------ */

static int run_copy(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)a, (void)it, (void)result;
  size_t bytes = inb__array_bytes(&r->src[0]);
  if (bytes && r->dst[0].data != r->src[0].data) memcpy(r->dst[0].data, r->src[0].data, bytes);
  return 0;
}

/* ---- normalize: per item, z-score or min-max -------------------------------------------------------------- */

static int run_normalize(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  size_t n = inb_array_count(x);
  bool minmax = strcmp(inb__arg_str(a, "method"), "minmax") == 0;
  double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
  for (size_t i = 0; i < n; i++) {
    double v = get(x->data, x->dtype, i);
    if (v != v) return inb_fail(it, INB_EINVAL, "NaN at element %zu", i);
    lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
  }
  double mean = n ? sum / (double)n : 0;
  for (size_t i = 0; !minmax && i < n; i++) {
    double d = get(x->data, x->dtype, i) - mean;
    sq += d * d;
  }
  double sd = n ? sqrt(sq / (double)n) : 0;
  double off = minmax ? lo : mean, div = minmax ? hi - lo : sd;
  if (!(div > 0)) return inb_fail(it, INB_EINVAL, "a constant item (every element %g): nothing to normalize", lo);
  for (size_t i = 0; i < n; i++) put_float(y->data, y->dtype, i, (get(x->data, x->dtype, i) - off) / div);
  *result = inb_real(minmax ? hi - lo : sd);
  return 0;
}

static const inb__argspec k_normalize_args[] = {
    {"method", INB_ARG_STR, "zscore", "zscore minmax", "zscore: (x - mean) / std; minmax: (x - min) / (max - min)"},
};

/* ---- cast ------------------------------------------------------------------------------------------------ */

static int cast_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  *dst = *src;
  dst->dtype = inb__arg_dtype(a, "dtype");
  return 0;
}

/* The range of an integer dtype, as doubles (the 64-bit ends are rounded, and saturated exactly below). */
static void int_range(inb_dtype t, double *lo, double *hi) {
  static const double los[] = {-128, 0, -32768, 0, -2147483648.0, 0, -9223372036854775808.0, 0};
  static const double his[] = {127, 255, 32767, 65535, 2147483647.0, 4294967295.0, 9223372036854775807.0,
                               18446744073709551615.0};
  *lo = los[t];
  *hi = his[t];
}

/* Writes v (finite) into an integer element, rounded half away from zero and saturated at the type's range. */
static void put_int(void *p, inb_dtype t, size_t i, double v) {
  double lo, hi;
  int_range(t, &lo, &hi);
  v = round(v);
  if (t == INB_I64) {
    ((int64_t *)p)[i] = v <= lo ? INT64_MIN : v >= hi ? INT64_MAX : (int64_t)v;
  } else if (t == INB_U64) {
    ((uint64_t *)p)[i] = v <= 0 ? 0 : v >= hi ? UINT64_MAX : (uint64_t)v;
  } else {
    put_same(p, t, i, v < lo ? lo : v > hi ? hi : v);
  }
}

/* An integer element read exactly (64-bit ones too): as int64 when it fits, else *big holds a uint64 above it. */
static int64_t get_exact(const void *p, inb_dtype t, size_t i, uint64_t *big) {
  *big = 0;
  if (t == INB_U64) {
    uint64_t u = ((const uint64_t *)p)[i];
    if (u > INT64_MAX) *big = u;
    return u > INT64_MAX ? INT64_MAX : (int64_t)u;
  }
  return t == INB_I64 ? ((const int64_t *)p)[i] : (int64_t)get(p, t, i);
}

static void put_int_exact(void *p, inb_dtype t, size_t i, int64_t v, uint64_t big) {
  if (t == INB_U64) {
    ((uint64_t *)p)[i] = big ? big : v < 0 ? 0 : (uint64_t)v;
  } else if (t == INB_I64) {
    ((int64_t *)p)[i] = big ? INT64_MAX : v;
  } else {
    double lo, hi;
    int_range(t, &lo, &hi);
    double d = big ? hi : (double)v; /* exact: every bound below 2^32 */
    put_same(p, t, i, d < lo ? lo : d > hi ? hi : d);
  }
}

static int run_cast(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)a, (void)result;
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  size_t n = inb_array_count(x);
  for (size_t i = 0; i < n; i++) {
    if (is_float(y->dtype)) {
      put_float(y->data, y->dtype, i, get(x->data, x->dtype, i));
    } else if (is_float(x->dtype)) {
      double v = get(x->data, x->dtype, i);
      if (v != v) return inb_fail(it, INB_EINVAL, "NaN at element %zu has no %s value", i, inb__dtype_name(y->dtype));
      put_int(y->data, y->dtype, i, v);
    } else {
      uint64_t big;
      int64_t v = get_exact(x->data, x->dtype, i, &big);
      put_int_exact(y->data, y->dtype, i, v, big);
    }
  }
  return 0;
}

static const inb__argspec k_cast_args[] = {
    {"dtype", INB_ARG_DTYPE, NULL, NULL,
     "the new dtype. To an integer: rounded half away from zero, saturated at the type's range; NaN fails the "
     "item. Between integers: exact, saturated. To a float: the nearest value"},
};

/* ---- stats: min, max, mean, std, NaN count ---------------------------------------------------------------- */

static int stats_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  (void)src, (void)a;
  *dst = (inb_array){.dtype = INB_F64, .ndim = 1, .shape = {5}};
  return 0;
}

/* The moments of a row's values that are not NaN, in two passes (the mean, then the deviations: as exact as the
 * values allow): their count (returned), min, max, mean and M2 (the sum of squared deviations from the mean),
 * and the NaN count. With no value: lo INFINITY, hi -INFINITY, mean and M2 0. */
typedef struct {
  double lo, hi, mean, m2;
  size_t nan;
} moments;

static size_t row_moments(const inb_array *x, moments *mo) {
  double lo = INFINITY, hi = -INFINITY, sum = 0, m2 = 0;
  size_t n = inb_array_count(x), nan = 0;
  for (size_t i = 0; i < n; i++) {
    double v = get(x->data, x->dtype, i);
    if (v != v) {
      nan++;
      continue;
    }
    lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
  }
  size_t m = n - nan;
  double mean = m ? sum / (double)m : 0;
  for (size_t i = 0; m && i < n; i++) {
    double v = get(x->data, x->dtype, i);
    if (v == v) m2 += (v - mean) * (v - mean);
  }
  *mo = (moments){.lo = lo, .hi = hi, .mean = mean, .m2 = m2, .nan = nan};
  return m;
}

static int run_stats(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)a, (void)it;
  double *out = r->dst[0].data;
  moments mo;
  size_t m = row_moments(&r->src[0], &mo);
  double mean = m ? mo.mean : NAN;
  out[0] = m ? mo.lo : NAN, out[1] = m ? mo.hi : NAN, out[2] = mean, out[3] = m ? sqrt(mo.m2 / (double)m) : NAN;
  out[4] = (double)mo.nan;
  *result = inb_real(mean);
  return 0;
}

/* ---- summary: one set of figures over every value of every item (a reduction) ----------------------------- */

/* A partial: items, values (not NaN), NaNs, mean, M2 (the sum of squared deviations from the mean), min, max. */
enum { SUM_ITEMS, SUM_VALUES, SUM_NAN, SUM_MEAN, SUM_M2, SUM_MIN, SUM_MAX, SUM_PARTIAL };

static int summary_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  (void)src, (void)a;
  *dst = (inb_array){.dtype = INB_F64, .ndim = 1, .shape = {SUM_PARTIAL}};
  return 0;
}

static int run_summary(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)a, (void)it, (void)result;
  double *out = r->dst[0].data;
  moments mo;
  size_t m = row_moments(&r->src[0], &mo);
  out[SUM_ITEMS] = 1, out[SUM_VALUES] = (double)m, out[SUM_NAN] = (double)mo.nan, out[SUM_MEAN] = mo.mean;
  out[SUM_M2] = mo.m2, out[SUM_MIN] = mo.lo, out[SUM_MAX] = mo.hi;
  return 0;
}

/* Chan et al.'s pairwise update of the mean and M2: stable for any number of items. */
static void merge_summary(double *t, const double *p) {
  double n = t[SUM_VALUES] + p[SUM_VALUES];
  if (p[SUM_VALUES] > 0) {
    double delta = p[SUM_MEAN] - t[SUM_MEAN];
    t[SUM_M2] += p[SUM_M2] + delta * delta * t[SUM_VALUES] * p[SUM_VALUES] / n;
    t[SUM_MEAN] += delta * p[SUM_VALUES] / n;
    bool first = t[SUM_VALUES] == 0;
    t[SUM_MIN] = first || p[SUM_MIN] < t[SUM_MIN] ? p[SUM_MIN] : t[SUM_MIN];
    t[SUM_MAX] = first || p[SUM_MAX] > t[SUM_MAX] ? p[SUM_MAX] : t[SUM_MAX];
  }
  t[SUM_VALUES] = n;
  t[SUM_ITEMS] += p[SUM_ITEMS];
  t[SUM_NAN] += p[SUM_NAN];
}

/* JSON numbers: %.17g gives back the same double; no value (no items) is null. */
static void describe_summary(const double *t, char *buf, size_t cap) {
  char fig[4][32];
  double v = t[SUM_VALUES], f[4] = {t[SUM_MEAN], v > 0 ? sqrt(t[SUM_M2] / v) : 0, t[SUM_MIN], t[SUM_MAX]};
  for (int k = 0; k < 4; k++) {
    if (v > 0) snprintf(fig[k], sizeof fig[k], "%.17g", f[k]);
    else snprintf(fig[k], sizeof fig[k], "null");
  }
  snprintf(buf, cap, "{\"items\": %.0f, \"values\": %.0f, \"nan\": %.0f, \"mean\": %s, \"std\": %s, \"min\": %s, "
                     "\"max\": %s}", t[SUM_ITEMS], v, t[SUM_NAN], fig[0], fig[1], fig[2], fig[3]);
}

/* ---- checksum: FNV-1a of the row's bytes ------------------------------------------------------------------- */

static int checksum_shape(const inb_array *src, const inb__argvals *a, inb_array *dst) {
  (void)src, (void)a;
  *dst = (inb_array){.dtype = INB_U64, .ndim = 0};
  return 0;
}

static int run_checksum(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)a, (void)it, (void)result;
  const unsigned char *p = r->src[0].data;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0, n = inb__array_bytes(&r->src[0]); i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  *(uint64_t *)r->dst[0].data = h;
  return 0;
}

/* ---- noise: x + N(0, sigma), from the item's own stream ------------------------------------------------------ */

static int run_noise(inb__rows *r, const inb__argvals *a, inb_item *it, inb_value *result) {
  (void)it, (void)result;
  const inb_array *x = &r->src[0];
  inb_array *y = &r->dst[0];
  double sigma = inb__arg_real(a, "sigma");
  for (size_t i = 0, n = inb_array_count(x); i < n; i++)
    put_float(y->data, y->dtype, i, get(x->data, x->dtype, i) + sigma * inb__rng_normal(r->rng));
  return 0;
}

static int check_noise(const inb__argvals *a) {
  double s = inb__arg_real(a, "sigma");
  return s >= 0 && s < INFINITY ? 0 : inb__err(INB_EINVAL, "noise's sigma must be finite and >= 0; found %g", s);
}

static const inb__argspec k_noise_args[] = {
    {"sigma", INB_ARG_REAL, "1", NULL, "the standard deviation"},
};

/* ---- the registry -------------------------------------------------------------------------------------------- */

#define SPEC(name, doc, args, shape, check, run)                                                                 \
  {name, doc, args, sizeof args / sizeof args[0], 1, false, shape, check, run, NULL, 0, NULL, NULL}
#define SPEC0(name, doc, shape, run) {name, doc, NULL, 0, 1, false, shape, NULL, run, NULL, 0, NULL, NULL}

static const inb__action_spec k_actions[] = {
    SPEC("scale", "y = a*x + b, elementwise (float rows keep their dtype; integer rows give float64)", k_scale_args,
         float_shape, NULL, run_scale),
    SPEC("clip", "y = x limited to [lo, hi], elementwise; the dtype is kept", k_clip_args, same_shape, check_clip,
         run_clip),
    SPEC("normalize", "each item rescaled on its own; a constant item fails (float rows keep their dtype; integer "
                      "rows give float64)", k_normalize_args, float_shape, NULL, run_normalize),
    SPEC("cast", "y = x in another dtype", k_cast_args, cast_shape, NULL, run_cast),
    SPEC0("stats", "per item: min, max, mean, std (of the values that are not NaN) and the NaN count, a float64 "
                   "row of 5; the mean is also the item's result", stats_shape, run_stats),
    SPEC0("checksum", "per item: FNV-1a (64-bit) of the row's bytes, a uint64 scalar, to verify copies",
          checksum_shape, run_checksum),
    SPEC0("copy", "y = x", same_shape, run_copy),
    {"summary", "over every item (a reduction, run once the earlier steps are done): the count of items and "
                "values, NaNs, mean, std (population), min and max of the values that are not NaN; written as a "
                "JSON attribute of the output (summary_SRC) and printed; it writes no rows (no dst)",
     NULL, 0, 1, false, summary_shape, NULL, run_summary, NULL, SUM_PARTIAL, merge_summary, describe_summary},
    {"noise", "y = x + a normal draw of standard deviation sigma, elementwise, from the item's own random stream "
              "(the same whatever the ranks or schedule; float rows keep their dtype, integer rows give float64)",
     k_noise_args, sizeof k_noise_args / sizeof k_noise_args[0], 1, true, float_shape, check_noise, run_noise, NULL, 0,
     NULL, NULL},
};

size_t inb__actions_count(void) { return sizeof k_actions / sizeof k_actions[0]; }

const inb__action_spec *inb__action_at(size_t i) { return i < inb__actions_count() ? &k_actions[i] : NULL; }

const inb__action_spec *inb__action_find(const char *name) {
  for (size_t i = 0; name && i < inb__actions_count(); i++)
    if (strcmp(k_actions[i].name, name) == 0) return &k_actions[i];
  return NULL;
}
