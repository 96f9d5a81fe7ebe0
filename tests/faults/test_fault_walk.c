/* The reliability bar: every allocation site, every HDF5 call site and every collective MPI call site that a
 * representative 2-rank run reaches is made to fail once, on rank 0 and then on rank 1, and each time every rank
 * must return the same status (with a message) within 10 s, no output may be left committed when the run
 * failed, and nothing the library allocated may stay outstanding.
 *
 * One mpiexec runs the whole walk: a warm-up run lists the sites each rank reaches (src/core/alloc.h keeps the
 * list), rank 0 merges the lists, then every (site, rank) pair gets one run of the scenario with that site armed
 * on that rank. A site fails at its first hit after it is armed: the walk goes over the sites once armed at the
 * start, then once for each point of step 5 (a run in two passes: a scratch dataset, inb_h5_view, plan.outputs),
 * running step 5 alone, so that the sites the passes share with the earlier steps fail inside the passes too (and
 * the view's and the second pass's inside those), then once for each point of step 6 (a resumable output: run a
 * part, keep, reopen, run the rest, commit), running step 6 alone, for the same reason. Each run uses communicators
 * and files of its own, so a failed run leaves nothing that the next one could trip over (what a failed step 6 keeps
 * for a reopen is removed after it). A watchdog turns a hang into a failure that names the site. The watchdog, the
 * list of sites and the loop are walk.c's, shared with test_farm_walk.c (command farming).
 *
 * Not walked: the MPI calls of the agreements themselves (an agreement is how ranks learn of a failure, and a
 * failure there can only be learnt by a rank that is told), and point-to-point messages (a send reported failed
 * after it went leaves its peer no sign of the failure: telling it needs the deadlines of every wait that a lost
 * host will bring). */
#include <errno.h>
#include <hdf5.h>
#include <inbatch.h>
#include <mpi.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "engine/scratch.h"
#include "walk.h"

enum { STEPS = 7, N = 24, ROWS = 64, WATCHDOG_S = 10 };
static const char *const step_names[STEPS] = {"indices static + post", "indices dynamic + post",
                                              "items dynamic, no post", "custom init static + post",
                                              "inb_h5_run, deflate output, commit",
                                              "two passes: scratch, inb_h5_view, plan.outputs, commit",
                                              "resumable: run a part, keep, reopen, run the rest, commit"};

static char g_dir[256];

/* Where a run arms its site. A site fails at its first hit after it is armed, so a site that the first steps reach
 * too (an allocation of inb_h5_run, H5Dwrite, the agreements) would never fail inside the two passes of step 5 if
 * every run armed at the start: the walk goes over the sites once for each of these points, the later ones
 * running step 5 alone (ARM_PASSES..ARM_END) or step 6 alone (ARM_RESUME..ARM_COMMIT3). */
enum {
  ARM_START, ARM_PASSES, ARM_VIEW, ARM_PASS2, ARM_END, ARM_RESUME, ARM_REOPEN, ARM_REST, ARM_COMMIT3, ARM_POINTS
};
static const char *const arm_names[ARM_POINTS] = {
    "at the start", "at the start of step 5 (create with a scratch dataset)", "before step 5's inb_h5_view",
    "before step 5's second pass (over the view)", "before step 5's commit or abort (the view closed)",
    "at the start of step 6 (inb_h5_create_resumable, the first part, inb_h5_keep)",
    "before step 6's inb_h5_reopen (then inb_h5_finished, inb_h5_annotation)", "before step 6's run of the rest",
    "before step 6's commit or abort"};

static struct {
  const char *key; /* NULL: nothing armed (the warm-up) */
  int point, victim;
} g_arm;

/* Arms the run's site on its victim when the scenario reaches the run's point. */
static void arm_point(int point) {
  if (g_arm.key && g_arm.point == point && walk_rank == g_arm.victim) inb__fault_arm(g_arm.key, 1);
}

/* ---- the scenario ---------------------------------------------------------------------------------------- */

/* Every 7th task fails with a message, so that error records travel and are kept too. */
static int square(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_value *v = inb_args_at(args, 0);
  int64_t x = v && v->kind == INB_INT ? v->u.i : 0;
  if (x % 7 == 3) return inb_fail(it, INB_EINVAL, "item %lld is not wanted", (long long)x);
  *result = inb_int(x * x);
  return 0;
}

/* A result with data (a string), which travels as a record of its own. */
static int name_it(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  static _Thread_local char buf[32];
  snprintf(buf, sizeof buf, "item-%lld", (long long)inb_args_at(args, 0)->u.i);
  *result = inb_str(buf);
  return 0;
}

static int row_sum(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  const inb_value *v = inb_args_get(args, "v");
  if (!v || v->kind != INB_ARRAY) return inb_fail(it, INB_EINVAL, "no row");
  const int64_t *p = v->u.a.data;
  *result = inb_int(p[0] + p[1]);
  return 0;
}

static int sum_post(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                    inb_batch **out, void *data) {
  (void)b, (void)call, (void)extra, (void)out, (void)data;
  return inb_failed_count(r) > 4 ? inb_set_error(INB_EITEM, "%zu tasks failed", inb_failed_count(r)) : 0;
}

static int lists_init(inb_batch *b, const inb_args *call, const inb_args *extra, inb_args ***tasks, size_t *n,
                      void *data) {
  (void)call, (void)extra, (void)data;
  size_t count = inb_batch_size(b);
  inb_args **lists = calloc(count ? count : 1, sizeof *lists);
  if (!lists) return INB_ENOMEM;
  for (size_t i = 0; i < count; i++) {
    if (!(lists[i] = inb_args_new()) || inb_args_add(lists[i], inb_int((int64_t)i))) {
      for (size_t k = 0; k <= i; k++) inb_args_free(&lists[k]);
      free(lists);
      return inb_set_error(INB_ENOMEM, "init: out of memory");
    }
  }
  *tasks = lists;
  *n = count;
  return 0;
}

/* The scaled rows of inb_h5_run: y = 2x + 1. */
static int twice_plus_one(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_value *x = inb_args_get(args, "x");
  inb_array *y = inb_item_output(it, "/y");
  if (!x || !y) return inb_fail(it, INB_EINVAL, "no row or no output");
  const float *in = x->u.a.data;
  if (in[0] == 5.0f) return inb_fail(it, INB_EINVAL, "row 5 is refused");
  float *out = y->data;
  for (int k = 0; k < 4; k++) out[k] = 2 * in[k] + 1;
  *result = inb_real(in[0]);
  return 0;
}

/* Step 5, pass 1 (plan.outputs {"/tmp_y"}, a scratch dataset): y = 2x, and no other output. */
static int double_x(inb_item *it, const inb_args *args, inb_value *result) {
  (void)result;
  const inb_value *x = inb_args_get(args, "x");
  inb_array *y = inb_item_output(it, "/tmp_y");
  if (!x || !y || inb_item_output(it, "/z")) return inb_fail(it, INB_EINVAL, "pass 1: not /tmp_y alone");
  const float *in = x->u.a.data;
  float *out = y->data;
  for (int k = 0; k < 4; k++) out[k] = 2 * in[k];
  return 0;
}

/* Step 5, pass 2 (init "y": /tmp_y read back through a view; plan.outputs {"/z"}): z = y + 1; row 5 fails. */
static int y_plus_one(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_value *y = inb_args_at(args, 0);
  inb_array *z = inb_item_output(it, "/z");
  if (!y || y->kind != INB_ARRAY || !z || inb_item_output(it, "/tmp_y"))
    return inb_fail(it, INB_EINVAL, "pass 2: no row of y, or not /z alone");
  const float *in = y->u.a.data;
  if (in[0] == 10.0f) return inb_fail(it, INB_EINVAL, "row 5 is refused");
  float *out = z->data;
  for (int k = 0; k < 4; k++) out[k] = in[k] + 1;
  *result = inb_real(in[0]);
  return 0;
}

typedef struct {
  int rc[STEPS];
  char msg[STEPS][160];
  int committed;     /* step 4: the output exists under its final name after the run */
  int partial_left;  /* step 4: the temporary file is still there */
  int committed2;    /* step 5: the same for its output */
  int partial2_left;
  int scratch2_left; /* step 5: its scratch file is still there */
  int wrong2;        /* step 5, rank 0, when committed: /z is not 2x + 1 or the scratch dataset is in the file */
  int ran3;          /* step 6 ran (every step, or a point of step 6) */
  int committed3;    /* step 6: its output, its partial and side file are there after the run */
  int partial3_left, side3_left;
  int wrong3;        /* step 6: inb_h5_finished or inb_h5_annotation said what was not so (any rank), or (rank 0,
                        when committed) /y is not 2x + 1, the table or /inbatch_errors not what the runs made */
} outcome;

static void note(outcome *o, int k, int rc) {
  o->rc[k] = rc;
  snprintf(o->msg[k], sizeof o->msg[k], "%s", rc ? inb_errmsg() : "");
}

static int run_h5(MPI_Comm *comm, inb_opts *opts) {
  char in_path[300], out_path[300];
  snprintf(in_path, sizeof in_path, "%s/in.h5", g_dir);
  snprintf(out_path, sizeof out_path, "%s/out.h5", g_dir);
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(in_path, comps, 1, comm, &in);
  inb_h5_output_spec spec = {.name = "/y", .dtype = INB_F32, .ndim = 1, .shape = {4}, .chunk_items = 8, .deflate = 1};
  if (!rc) rc = inb_h5_create(out_path, &spec, 1, ROWS, false, comm, &out);
  if (!rc) {
    inb_action act = {.name = "twice_plus_one", .fn = twice_plus_one, .init = "items", .target = INB_MPI,
                      .local = INB_THREADS};
    inb_h5_plan plan = {.batch_size = 16};
    rc = inb_h5_run(in, &plan, &act, NULL, opts, out);
    int crc = rc == 0 || rc == INB_EITEM ? inb_h5_commit(&out) : (inb_h5_abort(&out), 0);
    if (!rc) rc = crc;
  }
  inb_h5_close(&in);
  return rc;
}

/* Step 5: pass 1 writes the scratch dataset /tmp_y only, a view reads it back as "y", pass 2 writes /z only; commit
 * (abort when a pass failed otherwise than INB_EITEM). */
static int run_passes(MPI_Comm *comm, inb_opts *opts) {
  char in_path[300], out_path[300];
  snprintf(in_path, sizeof in_path, "%s/in.h5", g_dir);
  snprintf(out_path, sizeof out_path, "%s/out2.h5", g_dir);
  const char *comps[] = {"/x"};
  inb_h5_input *in = NULL, *view = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(in_path, comps, 1, comm, &in);
  const inb_h5_output_spec specs[] = {
      {.name = "/tmp_y", .dtype = INB_F32, .ndim = 1, .shape = {4}, .chunk_items = 8, .deflate = 1, .scratch = true},
      {.name = "/z", .dtype = INB_F32, .ndim = 1, .shape = {4}}};
  if (!rc) rc = inb_h5_create(out_path, specs, 2, ROWS, false, comm, &out);
  if (!rc) {
    const char *const first[] = {"/tmp_y"}, *const second[] = {"/z"}, *const names[] = {"/tmp_y"}, *const as[] = {"y"};
    inb_action pass1 = {.name = "double_x", .fn = double_x, .init = "items", .target = INB_MPI, .local = INB_THREADS};
    inb_h5_plan plan1 = {.batch_size = 16, .outputs = first, .noutputs = 1};
    rc = inb_h5_run(in, &plan1, &pass1, NULL, opts, out);
    arm_point(ARM_VIEW);
    if (!rc) rc = inb_h5_view(in, out, names, as, 1, &view);
    arm_point(ARM_PASS2);
    if (!rc) {
      inb_action pass2 = {.name = "y_plus_one", .fn = y_plus_one, .init = "y", .target = INB_MPI, .local = INB_THREADS};
      inb_h5_plan plan2 = {.batch_size = 20, .outputs = second, .noutputs = 1};
      rc = inb_h5_run(view, &plan2, &pass2, NULL, opts, out);
    }
    inb_h5_close(&view);
    arm_point(ARM_END);
    int crc = rc == 0 || rc == INB_EITEM ? inb_h5_commit(&out) : (inb_h5_abort(&out), 0);
    if (crc) rc = crc;
    inb_h5_abort(&out); /* a commit the ranks did not all make leaves it */
  }
  inb_h5_close(&in);
  return rc;
}

/* Step 6: a resumable output: the first half of the items (row 5 fails), an annotation, inb_h5_keep; inb_h5_reopen,
 * inb_h5_finished (the first half), inb_h5_annotation, a run of the rest, commit (abort when a step failed otherwise
 * than INB_EITEM). *wrong: what finished or the annotation said was not so. */
static int run_resumable(MPI_Comm *comm, inb_opts *opts, int *wrong) {
  char in_path[300], out_path[300];
  snprintf(in_path, sizeof in_path, "%s/in.h5", g_dir);
  snprintf(out_path, sizeof out_path, "%s/out3.h5", g_dir);
  const char *comps[] = {"/x"};
  const inb_h5_output_spec spec = {.name = "/y", .dtype = INB_F32, .ndim = 1, .shape = {4}};
  const inb_action act = {.name = "twice_plus_one", .fn = twice_plus_one, .init = "items", .target = INB_MPI,
                          .local = INB_THREADS};
  int64_t plan[ROWS];
  for (int i = 0; i < ROWS; i++) plan[i] = i;
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(in_path, comps, 1, comm, &in);
  if (!rc) rc = inb_h5_create_resumable(out_path, &spec, 1, ROWS, false, comm, &out);
  if (!rc) {
    inb_h5_plan first = {.batch_size = 8, .index = plan, .nindex = ROWS / 2};
    if ((rc = inb_h5_run(in, &first, &act, NULL, opts, out)) == INB_EITEM) rc = 0;
    if (!rc) rc = inb_h5_annotate(out, "walk", "step 6");
    if (!rc) rc = inb_h5_keep(&out);
    inb_h5_abort(&out); /* after a failure, or a keep the ranks did not all make */
  }
  arm_point(ARM_REOPEN);
  if (!rc) rc = inb_h5_reopen(out_path, &spec, 1, ROWS, false, comm, &out);
  size_t rest = 0;
  if (!rc) {
    uint64_t bits[ROWS / 64] = {0};
    char note[16] = "";
    rc = inb_h5_finished(out, 0, ROWS, bits);
    for (int i = 0; !rc && i < ROWS; i++)
      if (!((bits[i / 64] >> (i % 64)) & 1)) plan[rest++] = i;
    if (!rc) rc = inb_h5_annotation(out, "walk", note, sizeof note);
    if (!rc && (rest != ROWS / 2 || plan[0] != ROWS / 2 || strcmp(note, "step 6") != 0)) *wrong = 1;
  }
  arm_point(ARM_REST);
  if (!rc) {
    inb_h5_plan second = {.batch_size = 12, .index = plan, .nindex = rest};
    if ((rc = inb_h5_run(in, &second, &act, NULL, opts, out)) == INB_EITEM) rc = 0;
  }
  arm_point(ARM_COMMIT3);
  if (out) {
    int crc = rc ? (inb_h5_abort(&out), 0) : inb_h5_commit(&out);
    if (crc) rc = crc;
    inb_h5_abort(&out); /* a commit the ranks did not all make leaves it */
  }
  inb_h5_close(&in);
  return rc;
}

/* Rank 0: whether the committed output of step 6 is wrong: /y not 2x + 1 on a row but 5, the table not done for
 * every row but 5 (failed), /inbatch_errors not the one record of row 5, or the resumable mark left. */
static int resumable_wrong(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 1;
  int wrong = H5Aexists(f, "inbatch_resumable") != 0;
  float y[ROWS][4];
  hid_t d = H5Dopen2(f, "/y", H5P_DEFAULT);
  if (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) < 0) wrong = 1;
  for (int i = 0; d >= 0 && !wrong && i < ROWS; i++)
    for (int k = 0; k < 4; k++)
      if (i != 5 && y[i][k] != 2 * ((float)i + (float)k / 4) + 1) wrong = 1;
  if (d >= 0) H5Dclose(d);
  /* the table's states and the records' items, as int64 members read by name */
  typedef struct {
    int64_t index;
    int8_t state;
  } row;
  hid_t st = H5Tenum_create(H5T_NATIVE_INT8);
  const int8_t values[] = {0, 1, 2};
  H5Tenum_insert(st, "not_run", &values[0]), H5Tenum_insert(st, "done", &values[1]);
  H5Tenum_insert(st, "failed", &values[2]);
  hid_t rt = H5Tcreate(H5T_COMPOUND, sizeof(row)), it = H5Tcreate(H5T_COMPOUND, sizeof(int64_t));
  H5Tinsert(rt, "index", HOFFSET(row, index), H5T_NATIVE_INT64), H5Tinsert(rt, "state", HOFFSET(row, state), st);
  H5Tinsert(it, "index", 0, H5T_NATIVE_INT64);
  row rows[ROWS];
  int64_t records[ROWS];
  hid_t t = H5Dopen2(f, "/inbatch_results", H5P_DEFAULT), e = H5Dopen2(f, "/inbatch_errors", H5P_DEFAULT);
  hid_t es = e >= 0 ? H5Dget_space(e) : H5I_INVALID_HID;
  if (t < 0 || H5Dread(t, rt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows) < 0) wrong = 1;
  for (int i = 0; t >= 0 && !wrong && i < ROWS; i++)
    if (rows[i].index != i || rows[i].state != (i == 5 ? 2 : 1)) wrong = 1;
  if (es < 0 || H5Sget_simple_extent_npoints(es) != 1 || H5Dread(e, it, H5S_ALL, H5S_ALL, H5P_DEFAULT, records) < 0 ||
      records[0] != 5)
    wrong = 1;
  if (es >= 0) H5Sclose(es);
  if (e >= 0) H5Dclose(e);
  if (t >= 0) H5Dclose(t);
  H5Tclose(it), H5Tclose(rt), H5Tclose(st);
  H5Fclose(f);
  return wrong;
}

/* Rank 0: whether the committed output of step 5 is wrong (/z not 2x + 1 on a row that did not fail, or the
 * scratch dataset in the file). */
static int passes_wrong(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 1;
  int wrong = H5Lexists(f, "/tmp_y", H5P_DEFAULT) != 0;
  float z[ROWS][4];
  hid_t d = H5Dopen2(f, "/z", H5P_DEFAULT);
  if (d < 0 || H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, z) < 0) wrong = 1;
  for (int i = 0; d >= 0 && !wrong && i < ROWS; i++)
    for (int k = 0; k < 4; k++)
      if (i != 5 && z[i][k] != 2 * ((float)i + (float)k / 4) + 1) wrong = 1;
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  return wrong;
}

/* Steps 0 to 4. */
static void first_steps(MPI_Comm *comm, inb_opts opts, outcome *o) {
  inb_batch *b = inb_batch_new(NULL, walk_rank == 0 ? N : 0);
  for (int k = 0; k < 2; k++) {
    inb_action act = {.name = "square", .fn = square, .init = "indices", .post = sum_post, .target = INB_MPI};
    opts.schedule = k ? INB_DYNAMIC : INB_STATIC;
    note(o, k, inb_run(b, &act, NULL, &opts, NULL)); /* called even without a batch: a collective call is made
                                                       by every rank, and a NULL batch is an error it agrees on */
  }
  int64_t *rows = calloc(2 * N, sizeof *rows);
  for (int i = 0; rows && i < 2 * N; i++) rows[i] = i;
  inb_batch *items = inb_batch_new(NULL, walk_rank == 0 ? N : 0);
  if (items && rows && walk_rank == 0)
    inb_batch_set(items, "v", (inb_array){.dtype = INB_I64, .ndim = 2, .shape = {N, 2}, .data = rows}, false);
  inb_action by_items = {.name = "row_sum", .fn = row_sum, .init = "items", .target = INB_MPI};
  opts.schedule = INB_DYNAMIC;
  note(o, 2, inb_run(items, &by_items, NULL, &opts, NULL));
  inb_action custom = {.name = "custom", .fn = name_it, .init_fn = lists_init, .post = sum_post, .target = INB_MPI};
  opts.schedule = INB_STATIC;
  note(o, 3, inb_run(b, &custom, NULL, &opts, NULL));
  opts.schedule = INB_SCHED_DEFAULT;
  note(o, 4, run_h5(comm, &opts));
  inb_batch_free(&items);
  inb_batch_free(&b);
  free(rows);
}

/* Every step, or (a site armed at a point of step 5 or 6) that step alone. */
static void scenario(MPI_Comm *comm, outcome *o) {
  memset(o, 0, sizeof *o);
  arm_point(ARM_START);
  inb_opts opts = {.comm = comm, .timeout_ms = 5000, .n_workers = 2};
  bool all = !g_arm.key || g_arm.point == ARM_START;
  if (all) first_steps(comm, opts, o);
  arm_point(ARM_PASSES);
  if (all || g_arm.point <= ARM_END) note(o, 5, run_passes(comm, &opts));
  arm_point(ARM_RESUME);
  int wrong = 0;
  if ((o->ran3 = all || g_arm.point >= ARM_RESUME)) note(o, 6, run_resumable(comm, &opts, &wrong));
  MPI_Allreduce(&wrong, &o->wrong3, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  char path[300];
  snprintf(path, sizeof path, "%s/out.h5", g_dir);
  o->committed = access(path, F_OK) == 0;
  snprintf(path, sizeof path, "%s/.out.h5.inbatch-partial", g_dir);
  o->partial_left = access(path, F_OK) == 0;
  snprintf(path, sizeof path, "%s/.out2.h5.inbatch-partial", g_dir);
  o->partial2_left = access(path, F_OK) == 0;
  snprintf(path, sizeof path, "%s/.out2.h5.inbatch-scratch", g_dir);
  o->scratch2_left = access(path, F_OK) == 0;
  snprintf(path, sizeof path, "%s/out2.h5", g_dir);
  o->committed2 = access(path, F_OK) == 0;
  o->wrong2 = walk_rank == 0 && o->committed2 && passes_wrong(path);
  snprintf(path, sizeof path, "%s/out3.h5", g_dir);
  o->committed3 = access(path, F_OK) == 0;
  if (walk_rank == 0 && o->committed3 && resumable_wrong(path)) o->wrong3 = 1;
  snprintf(path, sizeof path, "%s/.out3.h5.inbatch-partial", g_dir);
  o->partial3_left = access(path, F_OK) == 0;
  snprintf(path, sizeof path, "%s/.out3.h5.inbatch-errors", g_dir);
  o->side3_left = access(path, F_OK) == 0;
}

/* Rank 0: removes the committed outputs, and what a failed step 6 keeps (its partial, for a reopen), for the next
 * run. */
static void remove_outputs(void) {
  if (walk_rank != 0) return;
  const char *const names[] = {"out.h5", "out2.h5", "out3.h5", ".out3.h5.inbatch-partial", ".out3.h5.inbatch-errors"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", g_dir, names[k]);
    unlink(path);
  }
}

/* ---- the walk ---------------------------------------------------------------------------------------------- */

/* The input of steps 4 and 5: x[i][k] = i + k/4, written by rank 0 alone, serially. */
static int write_input(void) {
  char path[300];
  snprintf(path, sizeof path, "%s/in.h5", g_dir);
  if (walk_rank != 0) return 0;
  float data[ROWS][4];
  for (int i = 0; i < ROWS; i++)
    for (int k = 0; k < 4; k++) data[i][k] = (float)i + (float)k / 4;
  hsize_t dims[2] = {ROWS, 4};
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t s = H5Screate_simple(2, dims, NULL);
  hid_t d = H5Dcreate2(f, "/x", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t w = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  H5Dclose(d), H5Sclose(s), H5Fclose(f);
  return w < 0 ? -1 : 0;
}

/* One run with `key` armed on rank `victim`. Returns the number of problems found (the same on every rank). */
static int walk_one(const char *key, const char *what, int victim, int *fired, void *data) {
  long base_live = *(const long *)data;
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  MPI_Barrier(MPI_COMM_WORLD);
  walk_watchdog(WATCHDOG_S, "site %s (%s) failed on rank %d, armed %s", key, what, victim, arm_names[g_arm.point]);
  const char *g_current = walk_current();
  g_arm.key = key;
  g_arm.victim = victim;
  outcome o;
  scenario(&comm, &o);
  int mine_fired = walk_rank == victim && inb__fault_fired();
  inb__fault_arm(NULL, 0);
  g_arm.key = NULL;
  MPI_Comm_free(&comm);
  inb__scratch_trim();
  long leaked = inb__fault_live() - base_live;
  int rcs[STEPS * 2];
  MPI_Allreduce(&mine_fired, fired, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  int problems = 0;
  for (int k = 0; k < STEPS; k++) {
    int v[2] = {o.rc[k], -o.rc[k]};
    MPI_Allreduce(v, rcs + 2 * k, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rcs[2 * k] != -rcs[2 * k + 1]) {
      if (walk_rank == 0) fprintf(stderr, "  %s: step '%s': the ranks returned different statuses (here %d)\n",
                               g_current, step_names[k], o.rc[k]);
      problems++;
    } else if (o.rc[k] && !o.msg[k][0]) {
      fprintf(stderr, "  %s: step '%s' on rank %d: status %d without a message\n", g_current, step_names[k], walk_rank,
              o.rc[k]);
      problems++;
    }
  }
  if (walk_rank == 0 && o.rc[4] && o.rc[4] != INB_EITEM && o.committed) { /* EITEM: complete, failures listed */
    fprintf(stderr, "  %s: inb_h5_run failed (%d: %s) but its output was committed\n", g_current, o.rc[4], o.msg[4]);
    problems++;
  }
  if (walk_rank == 0 && o.partial_left) {
    fprintf(stderr, "  %s: the output's temporary file was left behind\n", g_current);
    problems++;
  }
  if (walk_rank == 0 && o.rc[5] && o.rc[5] != INB_EITEM && o.committed2) {
    fprintf(stderr, "  %s: a pass failed (%d: %s) but the output of the two passes was committed\n", g_current,
            o.rc[5], o.msg[5]);
    problems++;
  }
  if (walk_rank == 0 && (o.partial2_left || o.scratch2_left)) {
    fprintf(stderr, "  %s: the two passes left their %s behind\n", g_current,
            o.partial2_left && o.scratch2_left ? "temporary and scratch files" : o.partial2_left ? "temporary file"
                                                                                                : "scratch file");
    problems++;
  }
  if (walk_rank == 0 && o.wrong2) {
    fprintf(stderr, "  %s: the two passes committed (%d) an output without 2x + 1 in /z, or with /tmp_y\n", g_current,
            o.rc[5]);
    problems++;
  }
  if (walk_rank == 0 && o.rc[6] && o.committed3) {
    fprintf(stderr, "  %s: the resumable step failed (%d: %s) but its output was committed\n", g_current, o.rc[6],
            o.msg[6]);
    problems++;
  }
  if (walk_rank == 0 && o.ran3 && !o.rc[6] && (o.partial3_left || o.side3_left || !o.committed3)) {
    fprintf(stderr, "  %s: the resumable step succeeded but left its partial (%d) or side file (%d), or no output\n",
            g_current, o.partial3_left, o.side3_left);
    problems++;
  }
  if (walk_rank == 0 && o.wrong3) {
    fprintf(stderr, "  %s: the resumable step (%d) was told what was not so by inb_h5_finished or inb_h5_annotation, "
            "or committed an output unlike an uninterrupted run's\n", g_current, o.rc[6]);
    problems++;
  }
  if (leaked) {
    fprintf(stderr, "  %s: rank %d has %ld of the library's allocations outstanding\n", g_current, walk_rank, leaked);
    problems++;
  }
  remove_outputs();
  walk_watchdog_stop();
  int all = 0;
  MPI_Allreduce(&problems, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return all;
}

int main(int argc, char **argv) {
  inb__fault_enable(); /* before the library allocates anything */
  if (inb_mpi_init(&argc, &argv)) return 1;
  walk_start("inb-faults", g_dir, sizeof g_dir);
  if (write_input()) {
    fprintf(stderr, "cannot write the input in %s\n", g_dir);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  /* the warm-up: what persists across runs is made here, and the sites are listed */
  outcome o;
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  walk_watchdog(WATCHDOG_S * 3, "the warm-up run");
  scenario(&comm, &o);
  walk_watchdog_stop();
  MPI_Comm_free(&comm);
  int bad = 0;
  for (int k = 0; k < STEPS; k++)
    if (o.rc[k] && o.rc[k] != INB_EITEM)
      fprintf(stderr, "rank %d: warm-up step '%s' failed: %d %s\n", walk_rank, step_names[k], o.rc[k], o.msg[k]), bad = 1;
  if (walk_rank == 0 && (!o.committed2 || o.wrong2 || o.scratch2_left || o.partial2_left))
    fprintf(stderr, "warm-up step '%s': committed %d, /z wrong %d, scratch left %d, partial left %d\n",
            step_names[5], o.committed2, o.wrong2, o.scratch2_left, o.partial2_left), bad = 1;
  if (walk_rank == 0 && (!o.committed3 || o.wrong3 || o.partial3_left || o.side3_left))
    fprintf(stderr, "warm-up step '%s': committed %d, wrong %d, partial left %d, side file left %d\n",
            step_names[6], o.committed3, o.wrong3, o.partial3_left, o.side3_left), bad = 1;
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (bad) MPI_Abort(MPI_COMM_WORLD, 1);
  remove_outputs();
  inb__scratch_trim();
  long base_live = inb__fault_live();
  size_t nsites = 0;
  char *sites = walk_merged_sites(&nsites);
  int runs = 0, fired_runs = 0, problems = 0;
  for (int point = 0; point < ARM_POINTS; point++) {
    char *copy = strdup(sites); /* walk_sites cuts its text up */
    int r = 0, f = 0;
    g_arm.point = point;
    problems += walk_sites(copy, walk_one, &base_live, &r, &f);
    free(copy);
    if (walk_rank == 0)
      printf("  armed %s: %d runs, %d with the fault injected\n", arm_names[point], r, f);
    runs += r, fired_runs += f;
  }
  if (walk_rank == 0) {
    printf("fault walk: %zu sites reached (allocations, HDF5 calls, MPI collectives) x %d ranks x %d arming points = "
           "%d runs, %d with the fault injected; problems: %d\n", nsites, walk_size < 2 ? walk_size : 2, ARM_POINTS,
           runs, fired_runs, problems);
    if (walk_remove_tree(g_dir) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  }
  free(sites);
  inb_mpi_finalize();
  return problems ? 1 : 0;
}
