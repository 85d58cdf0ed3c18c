#pragma once
/// Internal: gzip and zstd streams, decompressed as they are cut into chunks.

#include "input/stream_chunker.h"

#include <cstdint>
#include <memory>

namespace exfilscan::detail {

/// gzip (concatenated members are one stream); `size_hint` is the file's size as stored, or 0.
std::unique_ptr<StreamChunker> gzip_chunker(std::unique_ptr<RawReader> raw,
                                            const InputOptions& options, uint64_t size_hint);
/// zstd; `size_hint` is the file's size as stored, or 0.
std::unique_ptr<StreamChunker> zstd_chunker(std::unique_ptr<RawReader> raw,
                                            const InputOptions& options, uint64_t size_hint);

}  // namespace exfilscan::detail
