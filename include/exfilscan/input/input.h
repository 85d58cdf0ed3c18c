#pragma once
/// Input bytes: files (big ones mapped a window at a time), stdin, gzip and zstd, cut into
/// line-aligned chunks that the parser reads in place.

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

enum class Compression : uint8_t { none, gzip, zstd };
std::string_view to_string(Compression compression);
/// Sniffs the magic bytes at the start of a stream.
Compression detect_compression(std::string_view first_bytes);

/// Unreadable, truncated or corrupt input; the message names the input and where.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Whole lines (each ending in '\n', except perhaps the input's last) starting at byte `offset`
/// of the decompressed input. At least `chunk_padding` readable bytes follow `bytes`, so simdjson
/// can parse each line in place.
struct Chunk {
  std::string_view bytes;
  uint64_t offset = 0;
  /// A line longer than the limit, skipped and not in `bytes`: the chunk holds only it.
  bool oversized_line = false;
  uint64_t oversized_length = 0;
  std::string oversized_head;  // its first bytes, for the report
};
inline constexpr size_t chunk_padding = 64;  // >= SIMDJSON_PADDING

struct InputOptions {
  size_t chunk_bytes = 16u << 20;     // how much to read or map at a time
  size_t max_line_bytes = 64u << 20;  // longer lines are skipped and reported
  bool allow_mmap = true;             // plain regular files are mapped rather than read
  /// Smaller plain files are read: mapping and unmapping one costs more than reading it (20,000
  /// one-line files, as S3 loggers write them, spent more time in the kernel than parsing).
  uint64_t mmap_min_bytes = 1u << 20;
  /// Read and decompress streams (stdin, pipes, .gz, .zst) on a thread of their own, a chunk
  /// ahead of the caller (in two buffers taken in turn).
  bool read_ahead = false;
  /// Files smaller than this as stored are not read ahead: a thread for them costs more than
  /// it saves.
  uint64_t read_ahead_min_bytes = 256u << 10;
};

/// Produces chunks in input order. A chunk stays valid until the next call to next().
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  /// False at the end of input. Throws InputError on read errors and truncated streams.
  virtual bool next(Chunk& chunk) = 0;
  virtual Compression compression() const = 0;
  /// Size of the input on disk when known (for progress), else 0.
  virtual uint64_t size_hint() const { return 0; }
  /// Compressed bytes consumed so far (equal to the chunk offsets for plain input).
  virtual uint64_t bytes_consumed() const = 0;
};

/// Opens a path ("-" for stdin) and sniffs its compression. Throws InputError.
std::unique_ptr<ChunkSource> open_input(const std::string& path, const InputOptions& options);

/// The inputs as given, with each directory replaced by the files beneath it, at any depth, in
/// path order (S3 exports: trees of small objects, more than a command line holds; their paths
/// sort by time). Names starting with '.' are left out. Throws InputError for a directory that
/// cannot be listed or holds no file.
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths);

}  // namespace exfilscan
