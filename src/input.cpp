#include <exfilscan/input.h>

#include "decompress.h"
#include "mapped_file.h"
#include "stream_chunker.h"

#include <fmt/format.h>

#include <fcntl.h>
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
using detail::RawReader;
using detail::StreamChunker;

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
      return detail::mapped_file(fd, path, size, options);
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
