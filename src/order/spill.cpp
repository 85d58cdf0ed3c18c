#include "order/spill.h"

#include <exfilscan/order/event_order.h>

#include "order/event_codec.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace exfilscan::detail {

namespace {

/// The spill directory for the signal handler: a fixed buffer, as a handler may not allocate.
char signal_path[4096];
std::atomic<bool> signal_path_set{false};
struct sigaction previous_int, previous_term, previous_hup;

void on_signal(int sig) {
  const struct sigaction& before = sig == SIGINT    ? previous_int
                                   : sig == SIGTERM ? previous_term
                                                    : previous_hup;
  if (!(before.sa_flags & SA_SIGINFO) && before.sa_handler != SIG_DFL &&
      before.sa_handler != SIG_IGN) {
    // A handler of the program's own (scan --kafka ends its stream on SIGINT): the run goes on
    // to its end, which removes the directory.
    before.sa_handler(sig);
    return;
  }
  if (before.sa_handler == SIG_IGN) return;
  // The signal ends the run. The files in the directory are unlinked already: it is empty, and
  // rmdir is async-signal-safe. Then the signal's own action.
  if (signal_path_set.load()) ::rmdir(signal_path);
  ::sigaction(sig, &before, nullptr);
  ::raise(sig);
}

void watch_signals(const std::string& path) {
  if (path.size() >= sizeof signal_path) return;  // not removed on a signal: left empty
  std::memcpy(signal_path, path.c_str(), path.size() + 1);
  signal_path_set.store(true);
  static bool installed = false;
  if (installed) return;
  installed = true;
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, &previous_int);
  ::sigaction(SIGTERM, &sa, &previous_term);
  ::sigaction(SIGHUP, &sa, &previous_hup);
}

[[noreturn]] void fail(std::string_view what, std::string_view where) {
  throw OrderError(fmt::format("sorting events: {} {}: {}", what, where, std::strerror(errno)));
}

}  // namespace

RunFile::RunFile(RunFile&& other) noexcept
    : fd_(other.fd_), pending_(std::move(other.pending_)), written_(other.written_) {
  other.fd_ = -1;
}

RunFile& RunFile::operator=(RunFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
    pending_ = std::move(other.pending_);
    written_ = other.written_;
  }
  return *this;
}

RunFile::~RunFile() {
  if (fd_ >= 0) ::close(fd_);
}

void RunFile::write(std::string_view bytes) {
  pending_.append(bytes);
  if (pending_.size() >= (1u << 20)) flush();
}

void RunFile::flush() {
  size_t done = 0;
  while (done < pending_.size()) {
    ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = ENOSPC;
      fail("cannot write a spill file in", "the temporary directory ($TMPDIR)");
    }
    done += static_cast<size_t>(n);
  }
  written_ += pending_.size();
  pending_.clear();
}

size_t RunFile::read_at(uint64_t offset, char* to, size_t size) const {
  for (;;) {
    ssize_t n = ::pread(fd_, to, size, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) fail("cannot read back a spill file in", "the temporary directory");
  }
}

SpillDir::~SpillDir() {
  if (path_.empty()) return;
  signal_path_set.store(false);
  ::rmdir(path_.c_str());
}

RunFile SpillDir::make_run() {
  if (path_.empty()) {
    std::string parent = parent_;
    if (parent.empty()) {
      const char* tmp = std::getenv("TMPDIR");
      parent = tmp && *tmp ? tmp : "/tmp";
    }
    std::string pattern = parent;
    pattern += "/exfilscan-sort-XXXXXX";
    // mkdtemp makes it 0700: the runs hold prompt text, which is customers' data.
    if (!::mkdtemp(pattern.data())) fail("cannot make a directory in", parent);
    path_ = pattern;
    watch_signals(path_);
  }
  // No name at all where the file system allows it; else a name unlinked at once.
  int fd = ::open(path_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string name = path_;
    name += "/run-XXXXXX";
    fd = ::mkostemp(name.data(), O_CLOEXEC);  // 0600
    if (fd < 0) fail("cannot make a spill file in", path_);
    ::unlink(name.c_str());
  }
  return RunFile(fd);
}

RunCursor::RunCursor(const RunFile& file, size_t buffer_bytes) : file_(file) {
  buffer_.resize(buffer_bytes);
  advance();
}

bool RunCursor::fill(size_t need) {
  if (end_ - begin_ >= need) return true;
  // Move what is left to the front, grow for a record longer than the buffer, read on.
  std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
  if (buffer_.size() < need) buffer_.resize(need);
  while (end_ < need) {
    size_t n = file_.read_at(offset_, buffer_.data() + end_, buffer_.size() - end_);
    if (n == 0) return false;
    end_ += n;
    offset_ += n;
  }
  return true;
}

void RunCursor::advance() {
  if (done_) return;
  if (!fill(record_header)) {
    done_ = true;
    record_ = {};
    return;
  }
  uint32_t length = record_length(buffer_.data() + begin_);
  if (!fill(record_header + length)) {
    errno = EIO;
    fail("a spill file ends inside a record in", "the temporary directory");
  }
  record_ = std::string_view(buffer_.data() + begin_ + record_header, length);
  begin_ += record_header + length;
}

}  // namespace exfilscan::detail
