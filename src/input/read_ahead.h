#pragma once
/// Internal: a stream read (and decompressed) on a thread of its own, a chunk ahead.

#include "input/stream_chunker.h"

#include <memory>

namespace exfilscan::detail {

/// The chunks, errors and order of `stream`, which is read on a thread started here.
std::unique_ptr<ChunkSource> read_ahead(std::unique_ptr<StreamChunker> stream);

}  // namespace exfilscan::detail
