/* The compression filters of output datasets: LZ4, Zstd and Blosc as HDF5 filters of this library, under their
 * registered ids and in the formats the usual plugins write, so that files written here read anywhere those
 * plugins are, and files those plugins wrote read here:
 *
 *   LZ4 (32004)    cd_values {block bytes, 0 = 1 GiB}. A chunk is a 12-byte header, the chunk's size (8 bytes)
 *                  and the block size (4 bytes), both big-endian, then per block of the chunk (the last one may be
 *                  shorter) its stored size (4 bytes, big-endian) and its bytes: an LZ4 block, or the block as it
 *                  is when the stored size equals the block's (LZ4 would not have made it smaller).
 *   Zstd (32015)   cd_values {level}. A chunk is one Zstandard frame that records its content size.
 *   Blosc (32001)  cd_values {filter revision 2, Blosc format 2, type size, chunk bytes, level, shuffle (0 none,
 *                  1 byte, 2 bit), compressor code}; the first four are filled in when a dataset is created. A
 *                  chunk is one Blosc 1 buffer.
 *
 * Filters receive and return buffers that HDF5 frees, so they are allocated with HDF5's allocator. Decoding
 * trusts nothing of a chunk: every size is checked against the bytes there are. */
#include "data/h5codecs.h"

#include <blosc.h>
#include <lz4.h>
#include <zstd.h>

#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/status.h"
#include "data/h5common.h"

/* ---- buffers shared with HDF5 --------------------------------------------------------------------------- */

static void *buf_alloc(size_t n) { return H5allocate_memory(n ? n : 1, false); }

/* The filter's result: out (cap bytes, of which n hold the data) replaces HDF5's buffer. Returns n. */
static size_t replace(void **buf, size_t *buf_size, void *out, size_t cap, size_t n) {
  H5free_memory(*buf);
  *buf = out;
  *buf_size = cap;
  return n;
}

/* A filter's failure: HDF5 keeps its buffer and fails the write or read. */
static size_t failed(void *out) {
  if (out) H5free_memory(out);
  return 0;
}

/* HDF5 chunks are under 4 GiB: a chunk that decodes to more is corrupt (and is not allocated). */
#define CHUNK_MAX ((uint64_t)UINT32_MAX)

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---- LZ4 ------------------------------------------------------------------------------------------------ */

enum { LZ4_HEADER = 12 };
#define LZ4_DEFAULT_BLOCK ((size_t)1 << 30) /* the plugins' default: LZ4 blocks must stay under 2 GiB */

static size_t lz4_encode(size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf) {
  size_t block = ncd > 0 && cd[0] > 0 ? cd[0] : LZ4_DEFAULT_BLOCK;
  if (block > LZ4_MAX_INPUT_SIZE) block = LZ4_MAX_INPUT_SIZE;
  if (block > nbytes) block = nbytes;
  size_t nblocks = block ? (nbytes - 1) / block + 1 : 0;
  /* a block is stored as it is when LZ4 would not make it smaller: the output never outgrows the input by more
   * than the sizes */
  size_t cap = LZ4_HEADER + 4 * nblocks + nbytes;
  uint8_t *out = buf_alloc(cap);
  if (!out) return 0;
  const char *in = *buf;
  put_be32(out, (uint32_t)((uint64_t)nbytes >> 32));
  put_be32(out + 4, (uint32_t)nbytes);
  put_be32(out + 8, (uint32_t)block);
  size_t at = LZ4_HEADER;
  for (size_t done = 0; done < nbytes; done += block) {
    size_t n = nbytes - done < block ? nbytes - done : block;
    /* room for n - 1 bytes: LZ4 stops as soon as its block would be no smaller than the data (0), and the block
     * is kept raw, which readers tell by a stored size equal to the block's */
    int c = n > 1 ? LZ4_compress_default(in + done, (char *)out + at + 4, (int)n, (int)n - 1) : 0;
    if (c <= 0) {
      memcpy(out + at + 4, in + done, n);
      c = (int)n;
    }
    put_be32(out + at, (uint32_t)c);
    at += 4 + (size_t)c;
  }
  return replace(buf, buf_size, out, cap, at);
}

static size_t lz4_decode(size_t nbytes, size_t *buf_size, void **buf) {
  const uint8_t *in = *buf;
  if (nbytes < LZ4_HEADER) return 0;
  uint64_t size = (uint64_t)get_be32(in) << 32 | get_be32(in + 4), block = get_be32(in + 8);
  if (size > CHUNK_MAX || (size && !block)) return 0;
  if (block > size) block = size;
  /* sizes a chunk cannot hold: each block has its 4-byte size, and LZ4 expands a block at most 255-fold */
  uint64_t nblocks = size ? (size - 1) / block + 1 : 0;
  if (nblocks > (nbytes - LZ4_HEADER) / 4 || size / 256 > nbytes) return 0;
  uint8_t *out = buf_alloc((size_t)size);
  if (!out) return 0;
  size_t at = LZ4_HEADER;
  for (size_t done = 0, n; done < size; done += n) {
    n = size - done < block ? (size_t)(size - done) : (size_t)block;
    if (nbytes - at < 4) return failed(out);
    size_t c = get_be32(in + at);
    at += 4;
    if (c > nbytes - at) return failed(out);
    if (c == n) {
      memcpy(out + done, in + at, n);
    } else if (c > INT_MAX || n > INT_MAX ||
               LZ4_decompress_safe((const char *)in + at, (char *)out + done, (int)c, (int)n) != (int)n) {
      return failed(out);
    }
    at += c;
  }
  return replace(buf, buf_size, out, (size_t)size, (size_t)size);
}

static size_t lz4_filter(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size,
                         void **buf) {
  return flags & H5Z_FLAG_REVERSE ? lz4_decode(nbytes, buf_size, buf) : lz4_encode(ncd, cd, nbytes, buf_size, buf);
}

/* ---- Zstd ----------------------------------------------------------------------------------------------- */

/* A context is costly to make (its tables are megabytes, freshly touched): one of each kind is kept for the
 * next chunk. Taken and given back atomically, so any thread may run a filter; a second one at the same time
 * makes its own. */
static _Atomic(ZSTD_CCtx *) spare_cctx;
static _Atomic(ZSTD_DCtx *) spare_dctx;
#define ZSTD_KEEP_BYTES ((size_t)64 << 20) /* a context grown past this (high levels) is not kept */

static ZSTD_CCtx *take_cctx(void) {
  ZSTD_CCtx *c = atomic_exchange(&spare_cctx, NULL);
  return c ? c : ZSTD_createCCtx();
}
static void give_cctx(ZSTD_CCtx *c) {
  ZSTD_CCtx *none = NULL;
  if (ZSTD_sizeof_CCtx(c) > ZSTD_KEEP_BYTES || !atomic_compare_exchange_strong(&spare_cctx, &none, c))
    ZSTD_freeCCtx(c);
}
static ZSTD_DCtx *take_dctx(void) {
  ZSTD_DCtx *d = atomic_exchange(&spare_dctx, NULL);
  return d ? d : ZSTD_createDCtx();
}
static void give_dctx(ZSTD_DCtx *d) {
  ZSTD_DCtx *none = NULL;
  if (!atomic_compare_exchange_strong(&spare_dctx, &none, d)) ZSTD_freeDCtx(d);
}

static size_t zstd_encode(size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf) {
  int level = ncd > 0 ? (int)cd[0] : ZSTD_CLEVEL_DEFAULT; /* as the plugin reads it: negative levels too */
  level = level < ZSTD_minCLevel() ? ZSTD_minCLevel() : level > ZSTD_maxCLevel() ? ZSTD_maxCLevel() : level;
  size_t cap = ZSTD_compressBound(nbytes);
  uint8_t *out = buf_alloc(cap);
  ZSTD_CCtx *cctx = out ? take_cctx() : NULL;
  if (!cctx) return failed(out);
  /* ZSTD_compressCCtx writes the content size into the frame, which readers need to size their buffer */
  size_t n = ZSTD_compressCCtx(cctx, out, cap, *buf, nbytes, level);
  give_cctx(cctx);
  if (ZSTD_isError(n)) return failed(out);
  return replace(buf, buf_size, out, cap, n);
}

static size_t zstd_decode(size_t nbytes, size_t *buf_size, void **buf) {
  unsigned long long size = ZSTD_getFrameContentSize(*buf, nbytes);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > CHUNK_MAX) return 0;
  uint8_t *out = buf_alloc((size_t)size);
  ZSTD_DCtx *dctx = out ? take_dctx() : NULL;
  if (!dctx) return failed(out);
  size_t n = ZSTD_decompressDCtx(dctx, out, (size_t)size, *buf, nbytes);
  give_dctx(dctx);
  if (ZSTD_isError(n) || n != size) return failed(out);
  return replace(buf, buf_size, out, (size_t)size, n);
}

static size_t zstd_filter(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size,
                          void **buf) {
  return flags & H5Z_FLAG_REVERSE ? zstd_decode(nbytes, buf_size, buf) : zstd_encode(ncd, cd, nbytes, buf_size, buf);
}

/* ---- Blosc ---------------------------------------------------------------------------------------------- */

enum { BLOSC_FILTER_REVISION = 2, BLOSC_NCD = 7 };

/* At dataset creation: the first four cd_values (the revision and format, then the type size and the chunk's
 * bytes, which only the dataset knows), after whatever the caller set. */
static herr_t blosc_set_local(hid_t dcpl, hid_t type, hid_t space) {
  (void)space;
  unsigned flags = 0, cd[8] = {0};
  size_t ncd = 8;
  if (H5Pget_filter_by_id2(dcpl, INB__H5Z_BLOSC, &flags, &ncd, cd, 0, NULL, NULL) < 0) return -1;
  if (ncd < 4) ncd = 4;
  size_t size = H5Tget_size(type), base = size;
  if (H5Tget_class(type) == H5T_ARRAY) { /* shuffling works on the elements of an array type */
    hid_t super = H5Tget_super(type);
    base = super >= 0 ? H5Tget_size(super) : 0;
    if (super >= 0) H5Tclose(super);
  }
  hsize_t dims[H5S_MAX_RANK];
  int ndims = H5Pget_chunk(dcpl, H5S_MAX_RANK, dims);
  if (!size || !base || ndims < 0) return -1;
  uint64_t bytes = size;
  for (int d = 0; d < ndims; d++) bytes *= dims[d];
  if (bytes > UINT_MAX) return -1;
  cd[0] = BLOSC_FILTER_REVISION;
  cd[1] = BLOSC_VERSION_FORMAT;
  cd[2] = base > BLOSC_MAX_TYPESIZE ? 1 : (unsigned)base; /* Blosc shuffles types of up to 255 bytes */
  cd[3] = (unsigned)bytes;
  return H5Pmodify_filter(dcpl, INB__H5Z_BLOSC, flags, ncd, cd);
}

static size_t blosc_encode(size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size, void **buf) {
  if (ncd < 4 || nbytes > BLOSC_MAX_BUFFERSIZE) return 0;
  /* the plugin's defaults for what cd_values leave out: level 5, byte shuffle, BloscLZ */
  int level = ncd > 4 ? (int)cd[4] : 5, shuffle = ncd > 5 ? (int)cd[5] : BLOSC_SHUFFLE, code = ncd > 6 ? (int)cd[6] : 0;
  const char *compressor = NULL;
  if (blosc_compcode_to_compname(code, &compressor) < 0 || !compressor) return 0;
  size_t cap = nbytes + BLOSC_MAX_OVERHEAD; /* room enough for Blosc to store incompressible data as it is */
  uint8_t *out = buf_alloc(cap);
  if (!out) return 0;
  /* the context interface: no global state, no lock, no thread pool */
  int n = blosc_compress_ctx(level, shuffle, cd[2] ? cd[2] : 1, nbytes, *buf, out, cap, compressor, 0, 1);
  if (n <= 0) return failed(out);
  return replace(buf, buf_size, out, cap, (size_t)n);
}

static size_t blosc_decode(size_t nbytes, size_t *buf_size, void **buf) {
  size_t size = 0;
  if (blosc_cbuffer_validate(*buf, nbytes, &size) < 0) return 0;
  uint8_t *out = buf_alloc(size);
  if (!out) return 0;
  int n = size ? blosc_decompress_ctx(*buf, out, size, 1) : 0;
  if (n < 0 || (size_t)n != size) return failed(out);
  return replace(buf, buf_size, out, size, size);
}

static size_t blosc_filter(unsigned flags, size_t ncd, const unsigned cd[], size_t nbytes, size_t *buf_size,
                           void **buf) {
  return flags & H5Z_FLAG_REVERSE ? blosc_decode(nbytes, buf_size, buf) : blosc_encode(ncd, cd, nbytes, buf_size, buf);
}

/* ---- registration --------------------------------------------------------------------------------------- */

static const H5Z_class2_t filters[] = {
    {H5Z_CLASS_T_VERS, INB__H5Z_LZ4, 1, 1, "lz4 (inbatch)", NULL, NULL, lz4_filter},
    {H5Z_CLASS_T_VERS, INB__H5Z_ZSTD, 1, 1, "zstd (inbatch)", NULL, NULL, zstd_filter},
    {H5Z_CLASS_T_VERS, INB__H5Z_BLOSC, 1, 1, "blosc (inbatch)", NULL, blosc_set_local, blosc_filter},
};

static pthread_mutex_t register_lock = PTHREAD_MUTEX_INITIALIZER;
static bool registered; /* under register_lock; HDF5 forgets filters only at H5close, which the library never calls */

int inb_h5_register_codecs(void) {
  pthread_mutex_lock(&register_lock);
  int rc = 0;
  for (size_t k = 0; !registered && !rc && k < sizeof filters / sizeof filters[0]; k++)
    if (INB__H5(H5Zregister(&filters[k])) < 0)
      rc = inb__err(INB_EIO, "HDF5 refused to register the %s filter (id %d)", filters[k].name, (int)filters[k].id);
  if (!rc) registered = true; /* a failure is tried again by the next call */
  pthread_mutex_unlock(&register_lock);
  return rc;
}

/* ---- specs ---------------------------------------------------------------------------------------------- */

static const char *const codec_names[] = {"none", "deflate", "lz4", "zstd", "blosc"};
static const char *const shuffle_names[] = {"default", "none", "byte", "bit"};
static const char *const blosc_names[] = {"lz4", "blosclz", "lz4hc", "zlib", "zstd"};
static const int blosc_codes[] = {BLOSC_LZ4, BLOSC_BLOSCLZ, BLOSC_LZ4HC, BLOSC_ZLIB, BLOSC_ZSTD};

/* INB_EINVAL, "output '<path>': dataset '<name>': <what>". */
static int bad(const char *path, const inb_h5_output_spec *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(const char *path, const inb_h5_output_spec *s, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return inb__err(INB_EINVAL, "output '%s': dataset '%s': %s", path, s->name, what);
}

/* The level's range [1, max] and its default (used for 0) for each codec; LZ4 has none. */
static int level_max(inb_h5_codec c) {
  return c == INB_H5_DEFLATE ? 9 : c == INB_H5_ZSTD ? ZSTD_maxCLevel() : c == INB_H5_BLOSC ? 9 : 0;
}
static int level_default(inb_h5_codec c) {
  return c == INB_H5_DEFLATE ? 4 : c == INB_H5_ZSTD ? ZSTD_CLEVEL_DEFAULT : c == INB_H5_BLOSC ? 5 : 0;
}

int inb__h5_codec_check(const char *path, const inb_h5_output_spec *s, int64_t chunk_items, size_t row_bytes,
                        inb__h5codec *c) {
  *c = (inb__h5codec){.codec = INB_H5_NONE, .shuffle = INB_H5_SHUFFLE_NONE};
  if ((unsigned)s->codec > (unsigned)INB_H5_BLOSC)
    return bad(path, s, "codec must be one of none, deflate, lz4, zstd, blosc (0..4); found %d", (int)s->codec);
  if (s->deflate < 0 || s->deflate > 9)
    return bad(path, s, "deflate must be 0..9 (0 = none); found %d", s->deflate);
  if (s->deflate && (s->codec != INB_H5_NONE || s->level))
    return bad(path, s, "deflate %d is codec deflate at level %d: set deflate, or codec and level, not both",
               s->deflate, s->deflate);
  inb_h5_codec codec = s->deflate ? INB_H5_DEFLATE : s->codec;
  int level = s->deflate ? s->deflate : s->level, max = level_max(codec);
  const char *name = codec_names[codec];
  if (codec == INB_H5_NONE && level)
    return bad(path, s, "level %d without a codec (set codec: deflate, lz4, zstd or blosc)", level);
  if (codec == INB_H5_LZ4 && level) return bad(path, s, "lz4 has no levels: level must be 0; found %d", level);
  if (level < 0 || level > max)
    return bad(path, s, "%s levels are 1..%d (0 = %d); found %d", name, max, level_default(codec), level);
  if ((unsigned)s->shuffle > (unsigned)INB_H5_SHUFFLE_BIT)
    return bad(path, s, "shuffle must be one of default, none, byte, bit (0..3); found %d", (int)s->shuffle);
  if (codec == INB_H5_NONE && (s->shuffle == INB_H5_SHUFFLE_BYTE || s->shuffle == INB_H5_SHUFFLE_BIT))
    return bad(path, s, "shuffle %s without a codec (set codec: deflate, lz4, zstd or blosc)",
               shuffle_names[s->shuffle]);
  if (s->shuffle == INB_H5_SHUFFLE_BIT && codec != INB_H5_BLOSC)
    return bad(path, s, "bit shuffle is Blosc's: with codec %s, shuffle is none or byte", name);
  if ((unsigned)s->blosc_compressor > (unsigned)INB_H5_BLOSC_ZSTD)
    return bad(path, s, "blosc_compressor must be one of lz4, blosclz, lz4hc, zlib, zstd (0..4); found %d",
               (int)s->blosc_compressor);
  if (s->blosc_compressor != INB_H5_BLOSC_LZ4 && codec != INB_H5_BLOSC)
    return bad(path, s, "blosc_compressor %s with codec %s: it is Blosc's inner compressor (codec blosc)",
               blosc_names[s->blosc_compressor], name);
  if (codec != INB_H5_NONE && chunk_items <= 0)
    return bad(path, s, "%s compresses chunks: it needs chunk_items > 0", name);
  if (codec == INB_H5_BLOSC) {
    const char *compressor = NULL;
    int code = blosc_codes[s->blosc_compressor];
    if (blosc_compcode_to_compname(code, &compressor) < 0)
      return bad(path, s, "this Blosc library has no %s compressor (it has: %s)", blosc_names[s->blosc_compressor],
                 blosc_list_compressors());
    if (row_bytes && (uint64_t)chunk_items > (uint64_t)BLOSC_MAX_BUFFERSIZE / row_bytes)
      return bad(path, s, "a chunk of %lld items of %zu bytes is over Blosc's limit of %d bytes (fewer chunk_items)",
                 (long long)chunk_items, row_bytes, BLOSC_MAX_BUFFERSIZE);
  }
  if (codec == INB_H5_LZ4 || codec == INB_H5_ZSTD || codec == INB_H5_BLOSC) {
    int rc = inb_h5_register_codecs();
    if (rc) {
      char why[512];
      snprintf(why, sizeof why, "%s", inb_errmsg());
      return inb__err(rc, "output '%s': dataset '%s': %s", path, s->name, why);
    }
  }
  c->codec = codec;
  c->level = level ? level : level_default(codec);
  c->shuffle = s->shuffle != INB_H5_SHUFFLE_DEFAULT ? s->shuffle
               : codec == INB_H5_BLOSC              ? INB_H5_SHUFFLE_BYTE
                                                    : INB_H5_SHUFFLE_NONE;
  c->blosc_code = blosc_codes[s->blosc_compressor];
  return 0;
}

herr_t inb__h5_codec_apply(hid_t dcpl, const inb__h5codec *c) {
  herr_t h = 0;
  if (c->codec != INB_H5_BLOSC && c->codec != INB_H5_NONE && c->shuffle == INB_H5_SHUFFLE_BYTE)
    h = H5Pset_shuffle(dcpl);
  /* mandatory: a chunk that cannot be compressed fails the write instead of being stored as it is (the filters
   * never give up on incompressible data, so only a real error fails) */
  if (h >= 0) {
    switch (c->codec) {
    case INB_H5_NONE: break;
    case INB_H5_DEFLATE: h = H5Pset_deflate(dcpl, (unsigned)c->level); break;
    case INB_H5_LZ4: {
      const unsigned cd[1] = {0}; /* one block per chunk (up to 1 GiB), as the plugins default to */
      h = H5Pset_filter(dcpl, INB__H5Z_LZ4, H5Z_FLAG_MANDATORY, 1, cd);
      break;
    }
    case INB_H5_ZSTD: {
      const unsigned cd[1] = {(unsigned)c->level};
      h = H5Pset_filter(dcpl, INB__H5Z_ZSTD, H5Z_FLAG_MANDATORY, 1, cd);
      break;
    }
    case INB_H5_BLOSC: {
      int shuffle = c->shuffle == INB_H5_SHUFFLE_BYTE  ? BLOSC_SHUFFLE
                    : c->shuffle == INB_H5_SHUFFLE_BIT ? BLOSC_BITSHUFFLE
                                                       : BLOSC_NOSHUFFLE;
      const unsigned cd[BLOSC_NCD] = {0, 0, 0, 0, (unsigned)c->level, (unsigned)shuffle, (unsigned)c->blosc_code};
      h = H5Pset_filter(dcpl, INB__H5Z_BLOSC, H5Z_FLAG_MANDATORY, BLOSC_NCD, cd);
      break;
    }
    }
  }
  return h;
}
