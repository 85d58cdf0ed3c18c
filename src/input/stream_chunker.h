#pragma once
/// Internal: a file descriptor's bytes (plain, or decompressed by a subclass) cut into
/// line-aligned chunks in buffers reused from chunk to chunk.

#include <exfilscan/input/input.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace exfilscan::detail {

inline constexpr size_t head_bytes = 200;  // kept of an oversized line, for its report

/// strerror(errno), for the messages of InputError.
std::string errno_text();

/// A file descriptor read from the start, with the bytes already sniffed served first.
class RawReader {
 public:
  RawReader(int fd, bool owned, std::string name)
      : fd_(fd), owned_(owned), name_(std::move(name)) {}
  ~RawReader();
  /// Reads up to n bytes sniffed from the front; they are served again by read().
  std::string_view peek(size_t n);
  size_t read(char* dst, size_t cap);
  int fd() const { return fd_; }
  uint64_t consumed() const { return consumed_; }
  const std::string& name() const { return name_; }

 private:
  int fd_;
  bool owned_;
  std::string name_;
  std::string prefix_;
  size_t prefix_pos_ = 0;
  uint64_t consumed_ = 0;
};

/// Bytes left uninitialised (what is read into them is all that is read from them) that keep
/// their first bytes when they grow.
class ByteBuffer {
 public:
  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  /// At least n bytes, the first `keep` kept.
  void reserve(size_t n, size_t keep) {
    if (n <= size_) return;
    auto bigger = std::make_unique_for_overwrite<char[]>(n);
    if (keep) std::memcpy(bigger.get(), bytes_.get(), keep);
    bytes_ = std::move(bigger);
    size_ = n;
  }

 private:
  std::unique_ptr<char[]> bytes_;
  size_t size_ = 0;
};

/// Cuts a byte stream into line-aligned chunks in one reused buffer that grows only up to the
/// longest line allowed; or in two, taken in turn, for a reader a chunk ahead of its caller.
///
/// The buffers start at 64 KiB (or the file's size, as stored, when that is more) and double each
/// time a read fills them, up to the chunk size: made at full size and zeroed, they cost 32 MB of
/// memset per input, and 2,000 small .gz files (an S3 export) took 1 ms each instead of a few
/// microseconds.
class StreamChunker : public ChunkSource {
 public:
  StreamChunker(std::unique_ptr<RawReader> raw, const InputOptions& options, uint64_t size_hint);

  /// From now on a chunk stays valid until the second call to next() after it: each chunk is
  /// cut in the other of two buffers. (A read-ahead then hands chunks out without a copy.)
  void keep_previous_chunk() { two_buffers_ = true; }

  bool next(Chunk& chunk) override;
  uint64_t size_hint() const override { return size_hint_; }
  uint64_t bytes_consumed() const override { return raw_->consumed(); }

 protected:
  /// Decompressed (or plain) bytes; 0 at the end of input.
  virtual size_t fill(char* dst, size_t cap) { return raw_->read(dst, cap); }
  /// Ends the stream here: lines already decoded are still delivered, then `message` is thrown.
  size_t fail_after_decoded(std::string message) {
    pending_error_ = std::move(message);
    return 0;
  }
  std::unique_ptr<RawReader> raw_;

 private:
  void skip_oversized_line(Chunk& chunk);

  size_t chunk_bytes_;
  size_t max_line_;
  uint64_t size_hint_;
  static constexpr size_t first_chunk_bytes = 64u << 10;
  ByteBuffer& buf() { return bufs_[current_]; }
  ByteBuffer bufs_[2];  // the second only with two_buffers_
  size_t current_ = 0;  // the buffer being cut
  bool two_buffers_ = false;
  size_t cap_ = 0;
  size_t have_ = 0;
  size_t consumed_ = 0;
  uint64_t offset_ = 0;
  bool eof_ = false;
  std::optional<std::string> pending_error_;
};

class PlainChunker final : public StreamChunker {
 public:
  using StreamChunker::StreamChunker;
  Compression compression() const override { return Compression::none; }
};

}  // namespace exfilscan::detail
