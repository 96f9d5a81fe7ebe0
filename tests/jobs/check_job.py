#!/usr/bin/python3
"""Checks a job's output against numpy: every dataset the job wrote, recomputed from the input with an
independent computation, and the results table's states.

Usage: check_job.py JOB_NAME INPUT.h5 OUTPUT.h5
JOB_NAME is one of the jobs under jobs/ (normalize, scale_clip, to_uint8, augment, mask, summarize). Exit 0 when everything matches;
otherwise 1, with what differs."""
import sys

import h5py
import numpy as np

DONE, FAILED = 1, 2


def fnv1a(row):
    h = np.uint64(1469598103934665603)
    prime = np.uint64(1099511628211)
    with np.errstate(over="ignore"):
        for byte in row.tobytes():
            h = np.uint64((h ^ np.uint64(byte)) * prime)
    return h


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def edges(img):
    """The kernel of jobs/normalize.yaml in numpy, in float32 as the kernel computes (no FMA: -ffp-contract=off)."""
    dx = np.zeros_like(img)
    dy = np.zeros_like(img)
    dx[:, :-1] = img[:, 1:] - img[:, :-1]
    dy[:-1, :] = img[1:, :] - img[:-1, :]
    return np.sqrt(dx * dx + dy * dy)


def check_normalize(x, out, states, problems):
    y, stats, e = out["normalized"][...], out["stats"][...], out["edges"][...]
    for i in range(x.shape[0]):
        xi = x[i].astype(np.float64)
        lo, hi = xi.min(), xi.max()
        if hi == lo:
            if states[i] != FAILED or np.any(y[i] != 0) or np.any(e[i] != 0):
                problems.append(f"item {i} is constant: it must have failed with zero rows")
            continue
        want = ((xi - lo) / (hi - lo)).astype(np.float32)
        if states[i] != DONE or not np.array_equal(y[i], want):
            problems.append(f"item {i}: normalized rows differ")
        if not np.array_equal(e[i], edges(want)):
            problems.append(f"item {i}: edges differ from the gradient's magnitude")
        s = stats[i]
        ref = [lo, hi, xi.mean(), xi.std(), 0.0]
        if not np.allclose(s, ref, rtol=1e-9, atol=1e-12):
            problems.append(f"item {i}: stats {s} != {ref}")


def check_scale_clip(x, out, states, problems):
    want = np.clip(np.float32(2) * x + np.float32(1), np.float32(0), np.float32(10))
    if not np.array_equal(out["clipped"][...], want):
        problems.append("clipped rows differ from clip(2x + 1, 0, 10)")
    if np.any(states != DONE):
        problems.append("some items are not done")


def check_to_uint8(x, out, states, problems):
    v = (np.float32(25.5) * x + np.float32(0)).astype(np.float64)
    want = np.clip(round_half_away(v), 0, 255).astype(np.uint8)
    if not np.array_equal(out["u8"][...], want):
        problems.append("u8 rows differ from 25.5x rounded half away from zero and saturated")
    sums = out["checksum"][...]
    for i in range(x.shape[0]):
        if sums[i] != fnv1a(x[i]):
            problems.append(f"item {i}: checksum differs")
            break
    if np.any(states != DONE):
        problems.append("some items are not done")


def check_augment(x, out, states, problems):
    y = out["augmented"][...]
    same = np.array([np.array_equal(y[i], x[i]) for i in range(x.shape[0])])
    share = 1 - same.mean()
    if not 0.25 <= share <= 0.75:
        problems.append(f"{share:.2f} of the items got noise; p is 0.5")
    d = (y[~same].astype(np.float64) - x[~same])
    if d.size and not 0.08 <= d.std() <= 0.12:
        problems.append(f"the noise's standard deviation is {d.std():.3f}; sigma is 0.1")
    if np.any(states != DONE):
        problems.append("some items are not done")


def check_mask(x, out, states, problems):
    bright, mask = out["bright"][...], out["mask"][...]
    if bright.dtype != np.float32 or mask.dtype != np.uint8:
        problems.append(f"dtypes {bright.dtype}, {mask.dtype}; expected float32 (as the images) and uint8")
    above = elements = done = 0
    for i in range(x.shape[0]):
        xi = x[i].astype(np.float64)
        lo, hi = xi.min(), xi.max()
        if hi == lo:
            if states[i] != FAILED or np.any(bright[i] != 0) or np.any(mask[i] != 0):
                problems.append(f"item {i} is constant: it must have failed with zero rows")
            continue
        unit = ((xi - lo) / (hi - lo)).astype(np.float32)
        want = np.sqrt(unit.astype(np.float64)).astype(np.float32)
        above, elements, done = above + int(np.sum(want >= np.float32(0.8))), elements + want.size, done + 1
        if states[i] != DONE or not np.array_equal(bright[i], want):
            problems.append(f"item {i}: bright rows differ from sqrt(normalized)")
        if not np.array_equal(mask[i], (want >= 0.8).astype(np.uint8)):
            problems.append(f"item {i}: mask differs from bright >= 0.8")
    import json
    got = json.loads(out.attrs.get("share_above_bright", "{}"))
    if got != {"items": done, "elements": elements, "above": above, "share": got.get("share")} or \
            not np.isclose(got["share"], above / elements, rtol=1e-15):
        problems.append(f"share_above_bright is {got}; numpy counts {above} of {elements} elements in {done} items")


def zscore(xi):
    """normalize's z-score as it computes it: double precision, the population std, stored as float32."""
    xi = xi.astype(np.float64)
    sd = xi.std()
    return None if sd == 0 else ((xi - xi.mean()) / sd).astype(np.float32)


def check_figures(out, attr, values, n_items, problems):
    """A summary attribute (JSON) against numpy's figures over the same values."""
    import json
    if attr not in out.attrs:
        problems.append(f"the output has no attribute {attr}")
        return
    got = json.loads(out.attrs[attr])
    v = np.concatenate([a.ravel() for a in values]).astype(np.float64)
    want = {"items": n_items, "values": v.size, "nan": 0, "mean": v.mean(), "std": v.std(), "min": v.min(),
            "max": v.max()}
    for key, w in want.items():
        if not np.isclose(got[key], w, rtol=1e-9, atol=1e-9):
            problems.append(f"{attr}: {key} is {got[key]}; numpy gives {w}")


def check_summarize(x, out, states, problems):
    clipped, sums = out["clipped"][...], out["checksum"][...]
    units, clips = [], []
    for i in range(x.shape[0]):
        unit = zscore(x[i])
        if unit is None:
            if states[i] != FAILED or np.any(clipped[i] != 0) or sums[i] != 0:
                problems.append(f"item {i} is constant: it must have failed, with zero rows in every pass")
            continue
        want = np.clip(unit, np.float32(-1.5), np.float32(1.5))
        units.append(unit)
        clips.append(want)
        if states[i] != DONE or not np.array_equal(clipped[i], want):
            problems.append(f"item {i}: clipped rows differ from clip(zscore(x), -1.5, 1.5)")
        if sums[i] != fnv1a(want):
            problems.append(f"item {i}: checksum differs from the clipped rows'")
    check_figures(out, "summary_unit", units, len(units), problems)
    check_figures(out, "summary_clipped", clips, len(clips), problems)


# The filters each job's datasets must carry (HDF5 filter ids: 32001 Blosc, 32004 LZ4, 1 deflate).
FILTERS = {"scale_clip": {"clipped": [32001]}, "to_uint8": {"u8": [32004], "checksum": []},
           "normalize": {"normalized": [1], "edges": []}}


def check_filters(name, out, problems):
    for dset, want in FILTERS.get(name, {}).items():
        plist = out[dset].id.get_create_plist()
        got = [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]
        if got != want:
            problems.append(f"dataset {dset} has filters {got}; the job asks for {want}")


def main():
    name, inp, outp = sys.argv[1:4]
    with h5py.File(inp, "r") as fin, h5py.File(outp, "r") as fout:
        x = fin["images"][...]
        table = fout["inbatch_results"][...]
        problems = []
        if not np.array_equal(table["index"], np.arange(x.shape[0])):
            problems.append("the results table's index column is not 0..n-1")
        {"normalize": check_normalize, "scale_clip": check_scale_clip, "to_uint8": check_to_uint8,
         "augment": check_augment, "mask": check_mask, "summarize": check_summarize}[name](
            x, fout, table["state"], problems)
        check_filters(name, fout, problems)
        for attr in ("inbatch_job", "inbatch_version", "inbatch_hosts", "inbatch_ranks", "inbatch_started",
                     "inbatch_ended"):
            if attr not in fout.attrs:
                problems.append(f"the output has no attribute {attr}")
    for p in problems[:10]:
        print(f"check_job {name}: {p}")
    if not problems:
        print(f"check_job {name}: {x.shape[0]} items match")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
