#include <exfilscan/input.h>

#include "decompress.h"
#include "stream_chunker.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace exfilscan {

std::string_view to_string(Compression c) {
  switch (c) {
    case Compression::gzip:
      return "gzip";
    case Compression::zstd:
      return "zstd";
    case Compression::none:
      break;
  }
  return "none";
}

Compression detect_compression(std::string_view b) {
  if (b.size() >= 2 && static_cast<unsigned char>(b[0]) == 0x1f &&
      static_cast<unsigned char>(b[1]) == 0x8b)
    return Compression::gzip;
  if (b.size() >= 4 && static_cast<unsigned char>(b[0]) == 0x28 &&
      static_cast<unsigned char>(b[1]) == 0xb5 && static_cast<unsigned char>(b[2]) == 0x2f &&
      static_cast<unsigned char>(b[3]) == 0xfd)
    return Compression::zstd;
  return Compression::none;
}

namespace {

using detail::errno_text;
using detail::head_bytes;
using detail::RawReader;
using detail::StreamChunker;

/// A plain regular file, mapped one window at a time so that resident memory stays at about a
/// window whatever the file's size.
class MappedChunker final : public ChunkSource {
 public:
  MappedChunker(int fd, std::string name, uint64_t size, const InputOptions& options)
      : fd_(fd), name_(std::move(name)), size_(size), max_line_(options.max_line_bytes) {
    page_ = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
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
  }
  void unmap() {
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
};

}  // namespace

/// Runs a stream on its own thread, one chunk ahead: while the caller parses a chunk, the next
/// is read (or inflated) into the stream's other buffer. Chunks, errors and their order are the
/// stream's. (It used to copy each chunk into buffers of its own: a gigabyte of copying per
/// gigabyte read, and a third buffer.)
class ReadAheadChunker final : public ChunkSource {
 public:
  explicit ReadAheadChunker(std::unique_ptr<StreamChunker> inner)
      : inner_((inner->keep_previous_chunk(), std::move(inner))),
        compression_(inner_->compression()),
        size_hint_(inner_->size_hint()),
        thread_([this] { run(); }) {}
  ~ReadAheadChunker() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  Compression compression() const override { return compression_; }
  uint64_t size_hint() const override { return size_hint_; }
  uint64_t bytes_consumed() const override { return consumed_; }

  bool next(Chunk& chunk) override {
    std::unique_lock lock(mutex_);
    if (handed_) {  // the caller is done with the chunk handed out last
      handed_->full = false;
      handed_ = nullptr;
      changed_.notify_all();
    }
    Slot& slot = slots_[reading_];
    changed_.wait(lock, [&] { return slot.full || done_; });
    if (!slot.full) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    handed_ = &slot;
    reading_ ^= 1;
    chunk = slot.chunk;
    consumed_ = slot.consumed;
    return true;
  }

 private:
  // A slot is filled (the stream's next chunk) only once the caller gave back the chunk before
  // it, two calls earlier: the stream keeps a chunk valid that long, so the caller's chunk is
  // never the buffer being filled.
  struct Slot {
    Chunk chunk;
    uint64_t consumed = 0;
    bool full = false;
  };

  void run() {
    size_t filling = 0;
    try {
      for (;;) {
        Slot& slot = slots_[filling];
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return !slot.full || stop_; });
          if (stop_) break;
        }
        // The slot is the thread's own until it is marked full.
        if (!inner_->next(slot.chunk)) break;
        slot.consumed = inner_->bytes_consumed();
        {
          std::lock_guard lock(mutex_);
          slot.full = true;
        }
        changed_.notify_all();
        filling ^= 1;
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    changed_.notify_all();
  }

  std::unique_ptr<StreamChunker> inner_;
  Compression compression_;
  uint64_t size_hint_;
  std::array<Slot, 2> slots_;
  size_t reading_ = 0;      // the slot the caller takes next
  Slot* handed_ = nullptr;  // the slot the caller holds
  uint64_t consumed_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread thread_;  // last: starts once everything above exists
};

namespace {

std::unique_ptr<ChunkSource> open_stream(const std::string& path, const InputOptions& options) {
  int fd = 0;
  bool owned = false;
  uint64_t size = 0;
  bool regular = false;
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError(fmt::format("{}: cannot open: {}", path, errno_text()));
    owned = true;
  }
  struct stat st;
  if (::fstat(fd, &st) == 0) {
    regular = S_ISREG(st.st_mode);
    if (S_ISDIR(st.st_mode)) {
      if (owned) ::close(fd);
      throw InputError(fmt::format("{}: is a directory", path));
    }
    if (regular) size = static_cast<uint64_t>(st.st_size);
  }
  if (path != "-" && regular && options.allow_mmap && size >= options.mmap_min_bytes) {
    char magic[4] = {};
    ssize_t n = ::pread(fd, magic, sizeof magic, 0);
    if (n >= 0 &&
        detect_compression(std::string_view(magic, static_cast<size_t>(n))) == Compression::none)
      return std::make_unique<MappedChunker>(fd, path, size, options);
  }
  auto raw = std::make_unique<RawReader>(fd, owned, path);
  if (path == "-") ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; fails harmlessly
  switch (detect_compression(raw->peek(4))) {
    case Compression::gzip:
      return detail::gzip_chunker(std::move(raw), options, size);
    case Compression::zstd:
      return detail::zstd_chunker(std::move(raw), options, size);
    case Compression::none:
      break;
  }
  return std::make_unique<detail::PlainChunker>(std::move(raw), options, size);
}

}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (path == "-" || !fs::is_directory(path, ec)) {
      out.push_back(path);  // opening it says what is wrong with it, if anything
      continue;
    }
    std::vector<std::string> files;
    try {
      for (auto it = fs::recursive_directory_iterator(path);
           it != fs::recursive_directory_iterator(); ++it) {
        if (it->path().filename().string().starts_with('.')) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) files.push_back(it->path().string());
      }
    } catch (const fs::filesystem_error& e) {
      throw InputError(fmt::format("{}: cannot list: {}", e.path1().string(), e.code().message()));
    }
    if (files.empty()) throw InputError(fmt::format("{}: no files in this directory", path));
    std::sort(files.begin(), files.end());
    out.insert(out.end(), files.begin(), files.end());
  }
  return out;
}

std::unique_ptr<ChunkSource> open_input(const std::string& path, const InputOptions& options) {
  auto source = open_stream(path, options);
  bool small = source->size_hint() > 0 && source->size_hint() < options.read_ahead_min_bytes;
  if (options.read_ahead && !small) {
    if (auto* stream = dynamic_cast<StreamChunker*>(source.get())) {
      source.release();
      return std::make_unique<ReadAheadChunker>(std::unique_ptr<StreamChunker>(stream));
    }
  }
  return source;
}

}  // namespace exfilscan
