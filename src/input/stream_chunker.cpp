/// Reading a file descriptor and cutting what it yields into line-aligned chunks.
#include "input/stream_chunker.h"

#include <fmt/format.h>

#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace exfilscan::detail {

std::string errno_text() {
  return std::strerror(errno);
}

RawReader::~RawReader() {
  if (owned_) ::close(fd_);
}

std::string_view RawReader::peek(size_t n) {
  while (prefix_.size() < n) {
    char buf[16];
    ssize_t r = ::read(fd_, buf, n - prefix_.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw InputError(fmt::format("{}: read error: {}", name_, errno_text()));
    if (r == 0) break;
    prefix_.append(buf, static_cast<size_t>(r));
  }
  return prefix_;
}

size_t RawReader::read(char* dst, size_t cap) {
  if (prefix_pos_ < prefix_.size()) {
    size_t n = std::min(cap, prefix_.size() - prefix_pos_);
    std::memcpy(dst, prefix_.data() + prefix_pos_, n);
    prefix_pos_ += n;
    consumed_ += n;
    return n;
  }
  for (;;) {
    ssize_t r = ::read(fd_, dst, cap);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw InputError(fmt::format("{}: read error: {}", name_, errno_text()));
    consumed_ += static_cast<size_t>(r);
    return static_cast<size_t>(r);
  }
}

StreamChunker::StreamChunker(std::unique_ptr<RawReader> raw, const InputOptions& options,
                             uint64_t size_hint)
    : raw_(std::move(raw)),
      chunk_bytes_(std::max<size_t>(options.chunk_bytes, 4096)),
      max_line_(options.max_line_bytes),
      size_hint_(size_hint) {
  // A file whose size is known is read whole when it fits (its last read then sees the end).
  cap_ = static_cast<size_t>(
      std::min<uint64_t>(chunk_bytes_, std::max<uint64_t>(first_chunk_bytes, size_hint + 1)));
  bufs_[0].reserve(cap_ + chunk_padding, 0);
}

bool StreamChunker::next(Chunk& chunk) {
  chunk.oversized_line = false;
  chunk.oversized_head.clear();
  if (consumed_) {
    size_t left = have_ - consumed_;
    // The last read filled the buffer: the input goes on, so read more at a time.
    if (!eof_ && have_ == cap_ && cap_ < chunk_bytes_) cap_ = std::min(cap_ * 2, chunk_bytes_);
    if (two_buffers_) {
      const ByteBuffer& from = bufs_[current_];
      current_ ^= 1;
      ByteBuffer& to = bufs_[current_];  // its chunk was given back: it may move
      to.reserve(cap_ + chunk_padding, 0);
      std::memcpy(to.data(), from.data() + consumed_, left);
    } else {
      std::memmove(buf().data(), buf().data() + consumed_, left);
      buf().reserve(cap_ + chunk_padding, left);
    }
    have_ = left;
    offset_ += consumed_;
    consumed_ = 0;
  }
  for (;;) {
    while (!eof_ && have_ < cap_) {
      size_t n = fill(buf().data() + have_, cap_ - have_);
      if (n == 0)
        eof_ = true;
      else
        have_ += n;
    }
    // What follows the bytes read is never read as input, but it is read (simdjson's
    // padding, word-at-a-time scans): zeroed, never left as it was allocated.
    std::memset(buf().data() + have_, 0, chunk_padding);
    if (have_ == 0) {
      if (pending_error_) throw InputError(*pending_error_);
      return false;
    }
    if (eof_ && pending_error_) {
      // Hand over the whole lines decoded before the damage; the broken last line is dropped
      // and the error raised on the next call.
      const void* nl = memrchr(buf().data(), '\n', have_);
      if (!nl) throw InputError(*pending_error_);
      have_ = static_cast<size_t>(static_cast<const char*>(nl) - buf().data()) + 1;
      chunk.bytes = std::string_view(buf().data(), have_);
      chunk.offset = offset_;
      consumed_ = have_;
      return true;
    }
    if (eof_) {
      chunk.bytes = std::string_view(buf().data(), have_);
      chunk.offset = offset_;
      consumed_ = have_;
      return true;
    }
    const void* nl = memrchr(buf().data(), '\n', have_);
    if (nl) {
      size_t end = static_cast<size_t>(static_cast<const char*>(nl) - buf().data()) + 1;
      chunk.bytes = std::string_view(buf().data(), end);
      chunk.offset = offset_;
      consumed_ = end;
      return true;
    }
    if (have_ <= max_line_) {  // a long line that is still allowed: make room for it
      cap_ = std::min(cap_ * 2, max_line_ + 1);
      buf().reserve(cap_ + chunk_padding, have_);
      continue;
    }
    skip_oversized_line(chunk);
    return true;
  }
}

void StreamChunker::skip_oversized_line(Chunk& chunk) {
  chunk.oversized_line = true;
  chunk.offset = offset_;
  chunk.bytes = {};
  chunk.oversized_head.assign(buf().data(), std::min(have_, head_bytes));
  uint64_t length = have_;
  have_ = 0;
  for (;;) {
    size_t n = fill(buf().data(), cap_);
    if (n == 0) {
      eof_ = true;
      break;
    }
    const void* nl = std::memchr(buf().data(), '\n', n);
    if (nl) {
      size_t at = static_cast<size_t>(static_cast<const char*>(nl) - buf().data());
      length += at;
      std::memmove(buf().data(), buf().data() + at + 1, n - at - 1);
      have_ = n - at - 1;
      offset_ += length + 1;
      chunk.oversized_length = length;
      return;
    }
    length += n;
  }
  offset_ += length;
  chunk.oversized_length = length;
}

}  // namespace exfilscan::detail
