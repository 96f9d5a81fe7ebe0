"""h5py_bench.py: the h5py (mpio driver) + mpi4py peer of bench_h5: the same work, one timed run.

Workload (as bench_h5.c): input dataset "/x" of float32 rows (items x side x side); y = 2x + 1 for every item
into dataset "/y" of a new file. Case plain: "/y" contiguous, written with h5py's default (independent)
transfers. Case deflate: "/y" chunked one item per chunk, gzip level 1, written collectively (`with
dset.collective:`; HDF5 1.10 writes compressed datasets collectively only). h5py's defaults otherwise (it sets
fill time "alloc" on chunked datasets). Rank r owns items [n*r/size, n*(r+1)/size) and walks them in pieces
of batch/size items, in one of two styles:
  h5py         (default) as an h5py user writes it: y[a:b] = 2 * x[a:b] + 1 (numpy makes new arrays per piece)
  h5py_direct  (--direct) tuned: read_direct into one buffer kept for the run, 2x+1 in place (np.multiply and
               np.add with out=), write the piece: the same HDF5 calls as bench_h5's hand-written program
Timing, warm-up and check as in bench_h5.c: before the clock every rank reads its share of the input file and
touches BENCH_WARM_MIB MiB (default 1024) of fresh memory; the clock runs from an MPI barrier before opening
the input until a barrier after closing the output; then every rank compares its share of "/y" with 2x+1 of
"/x" bit for bit, and rank 0 removes the output.

Usage: mpirun -n 2 /usr/bin/python3 h5py_bench.py <plain|deflate> <input> <output> [batch] [--direct]
       batch defaults to 256 items
Prints (rank 0) the line run_bench_h5.sh reads:
  bench_h5 result case=plain variant=h5py ranks=2 items=... side=... seconds=... bytes=... others_cpu=... check=ok
A wrong result exits 1, bad arguments exit 2.
"""
import os
import sys
import time

import numpy as np
from mpi4py import MPI

import h5py

WARM_MIB = 1024
CHECK_PIECE = 64


def machine_cpu_s():
    """CPU seconds every process on this machine has used (/proc/stat), or -1."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]
        return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0


def warm_up(path, mib, rank, size):
    """Reads this rank's share of the file (page cache), touches `mib` MiB of fresh memory, frees it."""
    with open(path, "rb", buffering=0) as f:
        total = os.fstat(f.fileno()).st_size
        at, end = total * rank // size, total * (rank + 1) // size
        buf = bytearray(8 << 20)
        view = memoryview(buf)
        while at < end:
            got = os.preadv(f.fileno(), [view[: min(len(buf), end - at)]], at)
            if got <= 0:
                raise OSError(f"warm-up: short read of '{path}'")
            at += got
    if mib:
        m = np.empty(mib << 20, dtype=np.uint8)
        m.fill(1)
        del m


def slab(n, rank, size):
    return n * rank // size, n * (rank + 1) // size


def run(case, inp, out, piece, direct, comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    with h5py.File(inp, "r", driver="mpio", comm=comm) as fin, \
         h5py.File(out, "w", driver="mpio", comm=comm) as fout:
        x = fin["x"]
        n = x.shape[0]
        kw = dict(chunks=(1,) + x.shape[1:], compression="gzip", compression_opts=1) if case == "deflate" else {}
        y = fout.create_dataset("y", shape=x.shape, dtype=np.float32, **kw)
        first, last = slab(n, rank, size)
        most = (n + size - 1) // size                 # the largest slab
        steps = (most + piece - 1) // piece           # the same number of steps on every rank
        buf = np.empty((piece if direct else 0,) + x.shape[1:], dtype=np.float32)
        for s in range(steps):
            a = first + s * piece
            cnt = max(0, min(piece, last - a))
            v = buf[:cnt]
            if cnt and direct:
                x.read_direct(v, np.s_[a:a + cnt])
                np.multiply(v, 2, out=v)
                np.add(v, 1, out=v)
            elif cnt:
                v = 2 * x[a:a + cnt] + np.float32(1)  # float32 throughout (a Python int scalar does not upcast)
            if case == "deflate":
                if cnt:
                    with y.collective:
                        y[a:a + cnt] = v
                else:  # h5py skips empty selections, but a collective write needs every rank: join it by hand
                    fs, ms = y.id.get_space(), h5py.h5s.create_simple((1,))
                    fs.select_none()
                    ms.select_none()
                    dxpl = h5py.h5p.create(h5py.h5p.DATASET_XFER)
                    dxpl.set_dxpl_mpio(h5py.h5fd.MPIO_COLLECTIVE)
                    y.id.write(ms, fs, np.empty(1, np.float32), dxpl=dxpl)
            elif cnt:
                y[a:a + cnt] = v
        return n, x.shape[1] if len(x.shape) > 1 else 1, 2 * x.size * x.dtype.itemsize


def check(inp, out, comm):
    """Number of wrong values over all ranks (each rank checks its slab, POSIX reads)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    bad = 0
    with h5py.File(inp, "r") as fin, h5py.File(out, "r") as fout:
        x, y = fin["x"], fout["y"]
        if x.shape != y.shape or y.dtype != np.float32:
            bad = -1
        else:
            first, last = slab(x.shape[0], rank, size)
            for a in range(first, last, CHECK_PIECE):
                b = min(last, a + CHECK_PIECE)
                want = 2 * x[a:b] + np.float32(1)
                got = y[a:b]
                bad += int(np.count_nonzero(want.view(np.uint32) != got.view(np.uint32)))
    unreadable = comm.allreduce(1 if bad < 0 else 0, op=MPI.MAX)
    total = comm.allreduce(max(bad, 0), op=MPI.SUM)
    return -1 if unreadable else total


def main():
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    args = sys.argv[1:]
    direct = "--direct" in args
    args = [a for a in args if a != "--direct"]
    if len(args) not in (3, 4) or args[0] not in ("plain", "deflate") or \
            (len(args) == 4 and not (args[3].isdigit() and int(args[3]) > 0)):
        if rank == 0:
            print("usage: mpirun -n 2 /usr/bin/python3 h5py_bench.py <plain|deflate> <input> <output> [batch] "
                  "[--direct]", file=sys.stderr)
        return 2
    if not h5py.get_config().mpi:
        if rank == 0:
            print("h5py_bench: this h5py has no MPI support (Debian: python3-h5py-mpi, run under mpirun)",
                  file=sys.stderr)
        return 2
    case, inp, out = args[:3]
    variant = "h5py_direct" if direct else "h5py"
    batch = int(args[3]) if len(args) == 4 else 256
    piece = max(1, batch // size)
    warm = int(os.environ.get("BENCH_WARM_MIB", WARM_MIB))

    warm_up(inp, warm, rank, size)
    comm.Barrier()
    m0, p0 = machine_cpu_s() if rank == 0 else 0.0, time.process_time()
    t0 = time.monotonic()
    n, side, nbytes = run(case, inp, out, piece, direct, comm)
    comm.Barrier()
    seconds = time.monotonic() - t0
    ours = comm.reduce(time.process_time() - p0, op=MPI.SUM, root=0)
    m1 = machine_cpu_s() if rank == 0 else 0.0

    bad = check(inp, out, comm)
    if rank == 0:
        os.unlink(out)
    if bad != 0:
        if rank == 0:
            what = "cannot be read back or has the wrong shape" if bad < 0 else f"has {bad} values that are not 2x+1"
            print(f"h5py_bench: ERROR {variant} {case}: the output '{out}' {what}", file=sys.stderr)
        return 1
    if rank == 0:
        others = -1.0 if m0 < 0 or m1 < 0 else m1 - m0 - ours
        print(f"bench_h5 result case={case} variant={variant} ranks={size} items={n} side={side} seconds={seconds:.6f} "
              f"bytes={nbytes} others_cpu={others:.2f} check=ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
