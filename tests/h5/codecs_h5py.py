#!/usr/bin/python3
"""The other side of inbatch's compressed outputs (tests/h5/test_h5_codecs.c): h5py with the usual filter plugins.

  codecs_h5py.py check FILE   every dataset of every group of FILE equals the group's uncompressed "plain" one
                              when h5py reads it (the LZ4 and Blosc plugins; Zstd, which Debian has no plugin for,
                              chunk by chunk with the zstandard module), and its filters carry the registered ids and
                              the plugins' cd_values layout
  codecs_h5py.py write FILE   the plugins write: LZ4 in blocks of 100 bytes (not a multiple of the 8-byte elements),
                              Blosc with three compressors and shuffles, Zstd frames made by the zstandard module;
                              "plain_*" hold the same values uncompressed

Exit status: 0 all equal, 1 a difference (printed), 77 a module or plugin is missing (the C test skips then).
"""
import os
import sys

# The serial h5py: the parallel build is chosen when an MPI launcher's variables are set, and this process is not
# one of the job's ranks.
for var in ("OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "H5PY_ALWAYS_USE_MPI"):
    os.environ.pop(var, None)

try:
    import numpy as np
    import h5py
    import hdf5plugin  # noqa: F401  (registers its filters where its build embeds them)
    import zstandard
except ImportError as e:
    print(f"codecs_h5py: missing module: {e}")
    sys.exit(77)

LZ4, ZSTD, BLOSC, SHUFFLE, DEFLATE = 32004, 32015, 32001, 2, 1


def filters(dset):
    dcpl = dset.id.get_create_plist()
    return [dcpl.get_filter(i)[:3] for i in range(dcpl.get_nfilters())]  # (id, flags, cd_values)


def unshuffle(raw, itemsize):
    """HDF5's shuffle filter undone: the bytes of each rank were stored together (a tail that is not a whole
    element stays where it is)."""
    n = len(raw) // itemsize
    body = np.frombuffer(raw[: n * itemsize], dtype=np.uint8).reshape(itemsize, n).T.tobytes()
    return body + raw[n * itemsize :]


def read_zstd(dset):
    """Every chunk decoded by the zstandard module (and unshuffled if HDF5's shuffle precedes it)."""
    ids = [f[0] for f in filters(dset)]
    out = np.zeros(dset.shape, dtype=dset.dtype)
    chunk = dset.chunks
    dctx = zstandard.ZstdDecompressor()
    for k in range(dset.id.get_num_chunks()):
        info = dset.id.get_chunk_info(k)
        mask, raw = dset.id.read_direct_chunk(info.chunk_offset)
        if mask:
            raise ValueError(f"chunk {info.chunk_offset}: filter mask {mask}")
        data = dctx.decompress(raw)
        if ids[0] == SHUFFLE:
            data = unshuffle(data, dset.dtype.itemsize)
        block = np.frombuffer(data, dtype=dset.dtype).reshape(chunk)
        where = tuple(slice(o, min(o + c, s)) for o, c, s in zip(info.chunk_offset, chunk, dset.shape))
        out[where] = block[tuple(slice(0, w.stop - w.start) for w in where)]
    return out


def check_filters(name, dset):
    """The ids and cd_values the plugins write; a list of problems."""
    fl = filters(dset)
    codec = [f for f in fl if f[0] != SHUFFLE]
    if len(codec) != 1:
        return [f"{name}: filters {fl}: expected one codec"]
    fid, _, cd = codec[0]
    chunk_bytes = int(np.prod(dset.chunks)) * dset.dtype.itemsize
    bad = []
    if fid == LZ4 and len(cd) != 1:
        bad.append(f"{name}: LZ4 cd_values {cd}: expected (block bytes,)")
    if fid == ZSTD and (len(cd) != 1 or not 1 <= cd[0] <= 22):
        bad.append(f"{name}: Zstd cd_values {cd}: expected (level,)")
    if fid == BLOSC:
        want = (2, 2, dset.dtype.itemsize, chunk_bytes)
        if len(cd) != 7 or tuple(cd[:4]) != want or not 0 <= cd[5] <= 2:
            bad.append(f"{name}: Blosc cd_values {cd}: expected {want} + (level, shuffle, compressor)")
    if fid not in (LZ4, ZSTD, BLOSC, DEFLATE):
        bad.append(f"{name}: filter id {fid}")
    return bad


def check(path):
    bad, seen = [], 0
    with h5py.File(path, "r") as f:
        for gname, group in f.items():
            if not isinstance(group, h5py.Group) or "plain" not in group:
                continue
            plain = group["plain"][()]
            for name, dset in group.items():
                if name == "plain":
                    continue
                full = f"/{gname}/{name}"
                bad += check_filters(full, dset)
                ids = [x[0] for x in filters(dset)]
                if ZSTD in ids and not h5py.h5z.filter_avail(ZSTD):
                    got, how = read_zstd(dset), "zstandard, chunk by chunk"
                else:
                    for fid in ids:
                        if not h5py.h5z.filter_avail(fid):
                            print(f"codecs_h5py: no HDF5 plugin for filter {fid} (Debian: hdf5-filter-plugin, "
                                  "hdf5-filter-plugin-blosc-serial)")
                            sys.exit(77)
                    got, how = dset[()], "h5py"
                same = got.dtype == plain.dtype and got.shape == plain.shape and got.tobytes() == plain.tobytes()
                if not same:
                    bad.append(f"{full}: differs from /{gname}/plain (read with {how})")
                seen += 1
                print(f"{full}: filters {[(x[0], tuple(x[2])) for x in filters(dset)]}, read with {how}: "
                      f"{'equal' if same else 'DIFFERENT'}")
    for b in bad:
        print(f"codecs_h5py: {b}")
    if not seen:
        print(f"codecs_h5py: {path}: no compressed dataset beside a plain one")
        return 1
    if not bad:
        print(f"codecs_h5py: h5py {h5py.version.version} (HDF5 {h5py.version.hdf5_version}) read {seen} compressed "
              f"datasets of {os.path.basename(path)}: each equal to its plain one")
    return 1 if bad else 0


N = 53  # items: several chunks of 7, the last one partial


def values():
    i = np.arange(N, dtype=np.float64)[:, None]
    f64 = np.sin(i * 0.25 + np.arange(3)) * 1000 + i  # rows of 3 float64 with some structure
    u8 = np.frombuffer(np.random.default_rng(7).bytes(N * 61), dtype=np.uint8).reshape(N, 61)  # incompressible
    return f64, u8


def write(path):
    for fid in (LZ4, BLOSC):
        if not h5py.h5z.filter_avail(fid):
            print(f"codecs_h5py: no HDF5 plugin for filter {fid} (Debian: hdf5-filter-plugin, "
                  "hdf5-filter-plugin-blosc-serial)")
            return 77
    f64, u8 = values()
    cctx = zstandard.ZstdCompressor(level=3)  # frames record their content size, as the plugin's readers need
    with h5py.File(path, "w") as f:
        for tag, data in (("f64", f64), ("u8", u8)):
            f.create_dataset(f"plain_{tag}", data=data)
            chunks = (7, data.shape[1])
            # LZ4 blocks of 100 bytes: rows of 24 or 61 bytes straddle the blocks
            f.create_dataset(f"lz4_{tag}", data=data, chunks=chunks, compression=LZ4, compression_opts=(100,))
            blosc = (("blosc_lz4_shuffle", (0, 0, 0, 0, 5, 1, 1)), ("blosc_zstd_bitshuffle", (0, 0, 0, 0, 9, 2, 5)),
                     ("blosc_blosclz", (0, 0, 0, 0, 1, 0, 0)))
            for name, opts in blosc:
                f.create_dataset(f"{name}_{tag}", data=data, chunks=chunks, compression=BLOSC, compression_opts=opts)
            z = f.create_dataset(f"zstd_{tag}", shape=data.shape, dtype=data.dtype, chunks=chunks, compression=ZSTD,
                                 compression_opts=(3,), allow_unknown_filter=True)
            for start in range(0, N, chunks[0]):
                block = np.zeros(chunks, dtype=data.dtype)  # edge chunks are stored whole
                part = data[start : start + chunks[0]]
                block[: len(part)] = part
                z.id.write_direct_chunk((start, 0), cctx.compress(block.tobytes()))
    print(f"codecs_h5py: wrote {path}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        print(__doc__)
        sys.exit(2)
    sys.exit(check(sys.argv[2]) if sys.argv[1] == "check" else write(sys.argv[2]))
