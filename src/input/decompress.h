#pragma once
/// Internal: gzip and zstd streams, decompressed as they are cut into chunks.

#include "input/stream_chunker.h"

#include <cstdint>
#include <memory>

namespace exfilscan::detail {

/// gzip members and zstd frames in any order and number, the first in `first`; `size_hint` is
/// the file's size as stored, or 0.
std::unique_ptr<StreamChunker> compressed_chunker(std::unique_ptr<RawReader> raw,
                                                  const InputOptions& options, uint64_t size_hint,
                                                  Compression first);

}  // namespace exfilscan::detail
