/// Opening inputs: files, stdin and directories, each given the chunk source that reads it.
#include <exfilscan/input/input.h>

#include "input/decompress.h"
#include "input/mapped_file.h"
#include "input/read_ahead.h"
#include "input/stream_chunker.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <filesystem>
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
  auto raw = std::make_unique<detail::RawReader>(fd, owned, path);
  if (path == "-") ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; fails harmlessly
  if (Compression c = detect_compression(raw->peek(4)); c != Compression::none)
    return detail::compressed_chunker(std::move(raw), options, size, c);
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
    if (auto* stream = dynamic_cast<detail::StreamChunker*>(source.get())) {
      source.release();
      return detail::read_ahead(std::unique_ptr<detail::StreamChunker>(stream));
    }
  }
  return source;
}

}  // namespace exfilscan
