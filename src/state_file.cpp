#include <exfilscan/state.h>
#include <exfilscan/state_file.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace exfilscan {

namespace {

std::string error_text(int err) {
  return std::strerror(err);
}

/// The whole of `fd`, or the errno of the read that failed.
int read_all(int fd, std::string& out) {
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return 0;
    out.append(buf, static_cast<size_t>(n));
  }
}

int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

}  // namespace

StateFile::StateFile(std::string path, StateFileOptions options) : path_(std::move(path)) {
  std::string lock = lock_path();
  lock_fd_ = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    throw StateError(fmt::format("{}: cannot create the lock file of the state {}: {}", lock, path_,
                                 error_text(errno)));
  int rc;
  while ((rc = ::flock(lock_fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc != 0 && errno == EWOULDBLOCK && options.wait) {
    if (options.waiting) options.waiting();
    while ((rc = ::flock(lock_fd_, LOCK_EX)) != 0 && errno == EINTR) {
    }
  }
  if (rc != 0) {
    int err = errno;
    ::close(lock_fd_);
    if (err == EWOULDBLOCK)
      throw StateError(fmt::format(
          "{}: another exfilscan holds this state (its lock {} is taken); refused, so that "
          "neither run loses the other's baselines (--wait waits for it)",
          path_, lock));
    throw StateError(fmt::format("{}: cannot lock the state: {}", lock, error_text(err)));
  }
}

StateFile::~StateFile() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last descriptor lets go of the flock
}

std::string StateFile::read(uint64_t fingerprint, uint32_t& version) const {
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    throw StateError(fmt::format("{}: cannot read the state: {}", path_, error_text(errno)));
  }
  std::string all;
  int err = read_all(fd, all);
  ::close(fd);
  if (err) throw StateError(fmt::format("{}: cannot read the state: {}", path_, error_text(err)));
  return decode_state(path_, all, fingerprint, version);
}

void StateFile::save(uint64_t fingerprint, std::string_view payload) {
  std::string out = encode_state(fingerprint, payload);
  std::string tmp = fmt::format("{}.tmp.{}", path_, ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw StateError(fmt::format("{}: cannot write the state: {}", tmp, error_text(errno)));
  if (int err = write_all(fd, out)) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw StateError(fmt::format("{}: cannot write the state: {}", tmp, error_text(err)));
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw StateError(fmt::format("{}: cannot write the state: {}", tmp, error_text(err)));
  }
  if (std::rename(tmp.c_str(), path_.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw StateError(fmt::format("{}: cannot replace the state: {}", path_, error_text(err)));
  }
}

}  // namespace exfilscan
