/* inb_h5_view: an input for a later pass over an output being written, so that a run in several passes reads
 * back what an earlier pass wrote (its datasets, or scratch datasets kept only for the run) without closing
 * anything. The view opens its own dataset handles on the files of the input and the output; it owns no file. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "data/h5output.h"

static uint64_t view_digest(const inb_h5_input *in, const inb_h5_output *out, const char *const *names,
                            const char *const *as, size_t n) {
  uint64_t h = inb__digest_str(INB__DIGEST_START, "inb_h5_view");
  h = inb__digest_str(h, in ? in->file_path : NULL);
  h = inb__digest_str(h, out ? out->final_path : NULL);
  h = inb__digest_i64(h, (int64_t)n);
  for (size_t k = 0; names && k < n; k++) {
    h = inb__digest_str(h, names[k]);
    h = inb__digest_str(h, as ? as[k] : NULL);
  }
  return h;
}

/* The output dataset named `name`, or NULL. */
static const inb__h5out *output_named(const inb_h5_output *out, const char *name) {
  for (size_t k = 0; k < out->n; k++)
    if (strcmp(out->names[k], name) == 0) return &out->outs[k];
  return NULL;
}

/* The arguments, checked by each rank alone (they are the same everywhere: the entry's digest says so). */
static int check_view(const inb_h5_input *in, const inb_h5_output *out, const char *const *names,
                      const char *const *as, size_t n) {
  if (!in || !out || (n && !names)) return inb__err(INB_EINVAL, "inb_h5_view: input, output and names must be set");
  if (in->file < 0)
    return inb__err(INB_EINVAL, "inb_h5_view: the input is a view itself: make the new view from the input it was "
                                "made from (it may name every dataset of the output it needs)");
  if (inb_h5_length(in) != out->length)
    return inb__err(INB_EINVAL, "inb_h5_view: input '%s' has %lld items but output '%s' has %lld", in->file_path,
                    (long long)inb_h5_length(in), out->final_path, (long long)out->length);
  for (size_t k = 0; k < n; k++) {
    if (!names[k] || !output_named(out, names[k]))
      return inb__err(INB_EINVAL, "inb_h5_view: output '%s' has no dataset '%s'", out->final_path,
                      names[k] ? names[k] : "(NULL)");
    const char *mine = as && as[k] ? as[k] : inb__h5_component_name(names[k]);
    for (size_t j = 0; j < in->n; j++)
      if (strcmp(in->names[j], mine) == 0)
        return inb__err(INB_EINVAL, "inb_h5_view: '%s' names a component of input '%s' already (give it another "
                                    "name)", mine, in->file_path);
    for (size_t j = 0; j < k; j++)
      if (strcmp(as && as[j] ? as[j] : inb__h5_component_name(names[j]), mine) == 0)
        return inb__err(INB_EINVAL, "inb_h5_view: two datasets of output '%s' named '%s'", out->final_path, mine);
  }
  return 0;
}

/* Flushes the output's files and waits for every rank: rows other ranks wrote are then on the files, for the
 * reads of the next pass (MPI-IO's sync-barrier rule). Collective. */
static int publish_rows(inb_h5_output *out) {
  herr_t h = INB__H5(H5Fflush(out->file, H5F_SCOPE_LOCAL));
  if (out->scratch >= 0 && INB__H5(H5Fflush(out->scratch, H5F_SCOPE_LOCAL)) < 0) h = -1;
  inb__h5_barrier(&out->hc);
  return h < 0 ? inb__err(INB_EIO, "output '%s': flushing it for a later pass failed", out->final_path) : 0;
}

/* The view's components: the input's again, then the output's. Local (opening datasets of open files). */
static int open_view(inb_h5_input *v, const inb_h5_input *in, const inb_h5_output *out, const char *const *names,
                     const char *const *as, size_t n) {
  size_t total = in->n + n;
  v->comps = inb__calloc(total, sizeof *v->comps);
  v->names = inb__calloc(total, sizeof *v->names);
  v->aliases = inb__calloc(total, sizeof *v->aliases);
  if (!v->comps || !v->names || !v->aliases) return inb__err(INB_ENOMEM, "out of memory");
  v->n = total;
  for (size_t j = 0; j < total; j++) v->comps[j].dset = H5I_INVALID_HID;
  int rc = 0;
  for (size_t j = 0; !rc && j < in->n; j++) {
    rc = inb__h5_open_component(in->file, in->file_path, in->comps[j].path, &v->comps[j]);
    if (!rc && in->aliases && in->aliases[j] && !(v->aliases[j] = inb__strdup(in->aliases[j])))
      rc = inb__err(INB_ENOMEM, "out of memory");
    if (!rc) v->names[j] = v->aliases[j] ? v->aliases[j] : inb__h5_component_name(v->comps[j].path);
  }
  for (size_t k = 0; !rc && k < n; k++) {
    size_t j = in->n + k;
    const inb__h5out *d = output_named(out, names[k]);
    hid_t file = H5Iget_file_id(d->c.dset);
    rc = file < 0 ? inb__err(INB_EIO, "output '%s': dataset '%s': its file is not open", out->final_path, names[k])
                  : inb__h5_open_component(file, out->final_path, names[k], &v->comps[j]);
    if (file >= 0) H5Fclose(file); /* the id H5Iget_file_id counted, not the file: the output holds it open */
    if (!rc && as && as[k] && !(v->aliases[j] = inb__strdup(as[k]))) rc = inb__err(INB_ENOMEM, "out of memory");
    if (!rc) v->names[j] = v->aliases[j] ? v->aliases[j] : inb__h5_component_name(v->comps[j].path);
  }
  return rc;
}

/* Frees a view that is not (or only partly) open. Local: closing datasets read-only loses nothing. */
static void free_view(inb_h5_input *v) {
  if (!v) return;
  for (size_t j = 0; v->comps && j < v->n; j++) {
    if (v->comps[j].dset >= 0) H5Dclose(v->comps[j].dset);
    inb__free(v->comps[j].path);
    if (v->aliases) inb__free(v->aliases[j]);
  }
  inb__free(v->comps);
  inb__free(v->names);
  inb__free(v->aliases);
  inb__free(v->file_path);
  inb__free(v);
}

int inb_h5_view(inb_h5_input *in, inb_h5_output *out, const char *const *names, const char *const *as, size_t n,
                inb_h5_input **view) {
  *view = NULL;
  if (!in || !out) return inb__err(INB_EINVAL, "inb_h5_view: input and output must be set");
  inb_h5_input *v = inb__calloc(1, sizeof *v);
  int rc = v ? check_view(in, out, names, as, n) : inb__err(INB_ENOMEM, "inb_h5_view: out of memory");
  if (v) v->file = H5I_INVALID_HID; /* the view owns no file */
  if (!rc && !(v->file_path = inb__strdup(in->file_path))) rc = inb__err(INB_ENOMEM, "inb_h5_view: out of memory");
  inb__h5comm hc = in->hc;
  char what[1200];
  snprintf(what, sizeof what, "inb_h5_view of '%s' (rank 0's)", out->final_path);
  inb__ecomm *held = NULL;
  rc = inb__h5_enter(&hc, rc, view_digest(in, out, names, as, n), what, &held);
  if (!rc) rc = inb__h5_agree(&hc, publish_rows(out));
  if (!rc) {
    v->hc = hc;
    rc = inb__h5_agree(&hc, open_view(v, in, out, names, as, n));
  }
  inb__h5_leave(held);
  if (rc) {
    free_view(v);
    return rc;
  }
  *view = v;
  return 0;
}
