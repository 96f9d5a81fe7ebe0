/* Internal: the compression of output datasets. LZ4, Zstd and Blosc are HDF5 filters of this library, registered
 * in-process under their registered ids (a plugin built for another HDF5 cannot be loaded into a parallel one),
 * writing and reading the chunk formats and cd_values of the usual plugins; deflate is HDF5's own. */
#ifndef INB_DATA_H5CODECS_H
#define INB_DATA_H5CODECS_H

#include <hdf5.h>

#include <inbatch/h5.h>

/* The registered HDF5 filter ids. */
enum { INB__H5Z_BLOSC = 32001, INB__H5Z_LZ4 = 32004, INB__H5Z_ZSTD = 32015 };

/* What a spec asks for once `deflate` is folded into `codec`: the codec (INB_H5_NONE when uncompressed), its
 * level (the default filled in) and whether a shuffle comes first (HDF5's filter, or Blosc's own mode). */
typedef struct {
  inb_h5_codec codec;
  int level;
  inb_h5_shuffle shuffle; /* never DEFAULT: resolved to NONE, BYTE or BIT */
  int blosc_code;         /* Blosc's code of its inner compressor (BLOSC_LZ4, ...) */
} inb__h5codec;

/* Checks the compression fields of spec `s` of output `path`, whose chunks hold `chunk_items` items (after
 * clamping to the dataset's length) of `row_bytes` each, and resolves them into *c. Registers the library's
 * filters when the codec is one of them. Local. Returns 0, INB_EINVAL (the message names the output, the dataset,
 * the field and what it accepts) or INB_EIO (HDF5 refused to register a filter). */
int inb__h5_codec_check(const char *path, const inb_h5_output_spec *s, int64_t chunk_items, size_t row_bytes,
                        inb__h5codec *c);

/* Adds c's filters to the dataset creation property list `dcpl` (which has its chunks set): a shuffle, then the
 * codec. Blosc's type size and chunk bytes are filled in when the dataset is created, as its plugin does.
 * Returns HDF5's status (negative on failure). */
herr_t inb__h5_codec_apply(hid_t dcpl, const inb__h5codec *c);

#endif
