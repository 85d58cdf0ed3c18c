/// A plain regular file cut into chunks in place, in windows mapped one after another.
#include "input/mapped_file.h"
#include "input/mapping_guard.h"
#include "input/stream_chunker.h"

#include <fmt/format.h>

#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace exfilscan::detail {

namespace {

/// A plain regular file, mapped one window at a time so that resident memory stays at about a
/// window whatever the file's size.
class MappedChunker final : public ChunkSource {
 public:
  MappedChunker(int fd, std::string name, uint64_t size, const InputOptions& options)
      : fd_(fd), name_(std::move(name)), size_(size), max_line_(options.max_line_bytes) {
    page_ = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    shrank_ = fmt::format(
        "exfilscan: {}: read error: the file shrank while it was read (truncated by another "
        "process, as logrotate's copytruncate does)\n",
        name_);
    window_ = std::max<uint64_t>(options.chunk_bytes, page_);
  }
  ~MappedChunker() override {
    unmap();
    ::close(fd_);
  }
  Compression compression() const override { return Compression::none; }
  uint64_t size_hint() const override { return size_; }
  uint64_t bytes_consumed() const override { return pos_; }

  bool next(Chunk& chunk) override {
    chunk.oversized_line = false;
    chunk.oversized_head.clear();
    unmap();
    if (pos_ >= size_) return false;
    uint64_t window = window_;
    for (;;) {
      uint64_t map_off = pos_ / page_ * page_;
      uint64_t want = std::min(size_ - map_off, window);
      bool last = map_off + want == size_;
      map(map_off, want, last);
      const char* start = base_ + (pos_ - map_off);
      uint64_t avail = map_off + want - pos_;
      if (last) {
        chunk.bytes = std::string_view(start, avail);
        chunk.offset = pos_;
        pos_ = size_;
        return true;
      }
      // Keep chunk_padding bytes of the window after the chunk for simdjson.
      uint64_t usable = avail > chunk_padding ? avail - chunk_padding : 0;
      const void* nl = usable ? memrchr(start, '\n', usable) : nullptr;
      if (nl) {
        uint64_t len = static_cast<uint64_t>(static_cast<const char*>(nl) - start) + 1;
        chunk.bytes = std::string_view(start, len);
        chunk.offset = pos_;
        pos_ += len;
        return true;
      }
      unmap();
      if (usable > max_line_) {
        skip_oversized_line(chunk);
        return true;
      }
      window *= 2;
    }
  }

 private:
  void map(uint64_t off, uint64_t len, bool last) {
    // The last window is laid over zeroed anonymous pages so the bytes past the end of the file
    // are readable zeros, as simdjson's padding requires.
    uint64_t total = last ? (len + chunk_padding + page_ - 1) / page_ * page_ : len;
    void* base = nullptr;
    if (last) {
      base = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED) throw InputError(fmt::format("{}: mmap: {}", name_, errno_text()));
      if (len && ::mmap(base, len, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd_,
                        static_cast<off_t>(off)) == MAP_FAILED) {
        ::munmap(base, total);
        throw InputError(fmt::format("{}: mmap: {}", name_, errno_text()));
      }
    } else {
      base =
          ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd_, static_cast<off_t>(off));
      if (base == MAP_FAILED) throw InputError(fmt::format("{}: mmap: {}", name_, errno_text()));
    }
    ::madvise(base, len, MADV_SEQUENTIAL);
    base_ = static_cast<const char*>(base);
    mapped_ = total;
    guard_.set(base_, len, shrank_);
  }
  void unmap() {
    guard_.clear();
    if (base_) ::munmap(const_cast<char*>(base_), mapped_);
    base_ = nullptr;
  }
  void skip_oversized_line(Chunk& chunk) {
    chunk.oversized_line = true;
    chunk.offset = pos_;
    chunk.bytes = {};
    std::vector<char> buf(1u << 20);
    uint64_t at = pos_;
    for (;;) {
      ssize_t n = ::pread(fd_, buf.data(), buf.size(), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw InputError(fmt::format("{}: read error: {}", name_, errno_text()));
      if (at == pos_) chunk.oversized_head.assign(buf.data(), std::min<size_t>(n, head_bytes));
      if (n == 0) {
        chunk.oversized_length = at - pos_;
        pos_ = at;
        return;
      }
      const void* nl = std::memchr(buf.data(), '\n', static_cast<size_t>(n));
      if (nl) {
        at += static_cast<uint64_t>(static_cast<const char*>(nl) - buf.data());
        chunk.oversized_length = at - pos_;
        pos_ = at + 1;
        return;
      }
      at += static_cast<uint64_t>(n);
    }
  }

  int fd_;
  std::string name_;
  uint64_t size_;
  uint64_t max_line_;
  uint64_t page_;
  uint64_t window_;
  uint64_t pos_ = 0;
  const char* base_ = nullptr;
  uint64_t mapped_ = 0;
  std::string shrank_;  // what the guard prints if the file shrinks under the mapping
  MappingGuard guard_;
};

}  // namespace

std::unique_ptr<ChunkSource> mapped_file(int fd, std::string name, uint64_t size,
                                         const InputOptions& options) {
  return std::make_unique<MappedChunker>(fd, std::move(name), size, options);
}

}  // namespace exfilscan::detail
