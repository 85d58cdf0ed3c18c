#pragma once
/// Internal: a plain regular file read through mmap, one window at a time.

#include <exfilscan/input/input.h>

#include <cstdint>
#include <memory>
#include <string>

namespace exfilscan::detail {

/// Takes `fd` (an open regular file of `size` bytes, not compressed) and closes it when done.
std::unique_ptr<ChunkSource> mapped_file(int fd, std::string name, uint64_t size,
                                         const InputOptions& options);

}  // namespace exfilscan::detail
