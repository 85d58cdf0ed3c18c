#pragma once
/// Spill files of the event sort: a private directory (0700), files in it made 0600 and
/// unlinked at once (the kernel frees them when they are closed, whatever ends the process),
/// the directory removed when the sort is done or a signal ends the run.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan::detail {

/// One sorted run, written once and read back once from its start. Throws OrderError.
class RunFile {
 public:
  explicit RunFile(int fd) : fd_(fd) {}
  RunFile(RunFile&& other) noexcept;
  RunFile& operator=(RunFile&& other) noexcept;
  ~RunFile();
  /// Buffered; flush() before reading.
  void write(std::string_view bytes);
  void flush();
  /// Reads up to `size` bytes at `offset`; returns how many (0 at the end).
  size_t read_at(uint64_t offset, char* to, size_t size) const;
  uint64_t size() const { return written_; }

 private:
  int fd_;
  std::string pending_;
  uint64_t written_ = 0;
};

/// The directory the runs are made in, made at the first run.
class SpillDir {
 public:
  /// `parent`: empty for $TMPDIR, else /tmp.
  explicit SpillDir(std::string parent) : parent_(std::move(parent)) {}
  SpillDir(const SpillDir&) = delete;
  SpillDir& operator=(const SpillDir&) = delete;
  ~SpillDir();
  /// A new, empty run file with no name. Throws OrderError.
  RunFile make_run();
  /// The directory, once made (for messages and tests).
  const std::string& path() const { return path_; }

 private:
  std::string parent_;
  std::string path_;
};

/// Reads a run's records one at a time, through a buffer.
class RunCursor {
 public:
  explicit RunCursor(const RunFile& file, size_t buffer_bytes = 256u << 10);
  /// The current record (the bytes after its length field); empty at the end.
  std::string_view record() const { return record_; }
  bool done() const { return done_; }
  void advance();

 private:
  bool fill(size_t need);  // at least `need` bytes from pos_ in the buffer, if the run has them
  const RunFile& file_;
  std::string buffer_;
  size_t begin_ = 0, end_ = 0;  // the unread bytes in buffer_
  uint64_t offset_ = 0;         // of the file, after end_
  std::string_view record_;
  bool done_ = false;
};

}  // namespace exfilscan::detail
