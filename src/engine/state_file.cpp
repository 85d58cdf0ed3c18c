#include <exfilscan/engine/state_file.h>
#include <exfilscan/state.h>

#include <fmt/format.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

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

/// What mkstemp puts after "PATH.tmp." (six of A-Z, a-z, 0-9: at least one capital or digit
/// but for one in 200), or what an older exfilscan put there (its pid). A user's
/// "state.tmp.bak" or "state.tmp.backup" is neither.
bool is_temporary_suffix(std::string_view s) {
  auto all = [&s](auto pred) {
    return std::all_of(s.begin(), s.end(),
                       [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  auto any = [&s](auto pred) {
    return std::any_of(s.begin(), s.end(),
                       [&](char c) { return pred(static_cast<unsigned char>(c)); });
  };
  auto is_digit = [](unsigned char c) { return std::isdigit(c) != 0; };
  auto is_alnum = [](unsigned char c) { return std::isalnum(c) != 0; };
  auto is_upper_or_digit = [](unsigned char c) { return std::isupper(c) || std::isdigit(c); };
  if (s.empty()) return false;
  return all(is_digit) || (s.size() == 6 && all(is_alnum) && any(is_upper_or_digit));
}

/// A state is a regular file or nothing. A link is refused rather than followed: a save would
/// replace the link, not its target, and whoever can write the state's directory could aim a
/// root cron job at any file through one.
void check_regular(const std::string& path, int err = 0) {
  struct stat st;
  if (err == 0 && ::lstat(path.c_str(), &st) != 0) return;  // nothing there yet: a first run
  if (err == ELOOP || (err == 0 && S_ISLNK(st.st_mode)))
    throw StateError(fmt::format(
        "{}: is a symbolic link; --state does not follow links (give the path of its target)",
        path));
  if (err == 0 && !S_ISREG(st.st_mode))
    throw StateError(fmt::format("{}: not a regular file, so not a state", path));
}

}  // namespace

StateFile::StateFile(std::string path, StateFileOptions options) : path_(std::move(path)) {
  std::string lock = lock_path();
  size_t slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
  // Not a link someone planted, and not a FIFO to hang on: a regular file or nothing.
  lock_fd_ = ::open(lock.c_str(), O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    throw StateError(fmt::format("{}: cannot create the lock file of the state {}: {}", lock, path_,
                                 error_text(errno)));
  struct stat st;
  if (::fstat(lock_fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(lock_fd_);
    throw StateError(
        fmt::format("{}: the lock file of the state {} is not a regular file", lock, path_));
  }
  int rc;
  while ((rc = ::flock(lock_fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  bool gave_up = false;
  if (rc != 0 && errno == EWOULDBLOCK && options.wait) {
    if (options.waiting) options.waiting();
    if (options.wait_limit_ms < 0) {
      while ((rc = ::flock(lock_fd_, LOCK_EX)) != 0 && errno == EINTR) {
      }
    } else {
      // flock(2) has no timeout: the lock is tried again every 20 ms until the limit.
      auto deadline =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(options.wait_limit_ms);
      while ((rc = ::flock(lock_fd_, LOCK_EX | LOCK_NB)) != 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err != EWOULDBLOCK) break;
        if (std::chrono::steady_clock::now() >= deadline) {
          gave_up = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  if (rc != 0) {
    int err = errno;
    ::close(lock_fd_);
    if (gave_up)
      throw StateError(fmt::format(
          "{}: another exfilscan still holds this state after {} (its lock {} is taken): it "
          "has not let go of it, so it is not taken over",
          path_,
          options.wait_limit_ms < 1000 ? fmt::format("{} ms", options.wait_limit_ms)
                                       : fmt::format("{:.0f} s", options.wait_limit_ms / 1000.0),
          lock));
    if (err == EWOULDBLOCK)
      throw StateError(fmt::format(
          "{}: another exfilscan holds this state (its lock {} is taken); refused, so that "
          "neither run loses the other's baselines (--wait waits for it)",
          path_, lock));
    throw StateError(fmt::format("{}: cannot lock the state: {}", lock, error_text(err)));
  }
  try {
    check_regular(path_);
  } catch (const StateError&) {
    ::close(lock_fd_);
    throw;
  }
  remove_leftovers();
  // Made now, before any input is read: a state that could not be saved must stop the run at
  // once, not after an hour of input (and findings a cron job would not look at).
  try {
    open_temporary();
  } catch (const StateError&) {
    ::close(lock_fd_);
    throw;
  }
}

void StateFile::remove_leftovers() const {
  // Holding the lock, no other run is writing a temporary of this state: any there are were
  // left by a run that was killed before it could remove its own.
  DIR* dir = ::opendir(dir_.c_str());
  if (!dir) return;  // creating the temporary will say what is wrong
  std::string prefix = base_ + ".tmp.";
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name.starts_with(prefix) && is_temporary_suffix(name.substr(prefix.size())))
      ::unlinkat(::dirfd(dir), entry->d_name, 0);  // a link is removed, never its target
  }
  ::closedir(dir);
}

void StateFile::open_temporary() {
  // mkstemp creates with O_EXCL (a planted link at the name is an error, never followed) and
  // mode 0600; the name is not one anybody can guess ahead.
  std::string name = path_ + ".tmp.XXXXXX";
  int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0)
    throw StateError(fmt::format("{}: the state could not be saved: cannot create a file in {}: {}",
                                 path_, dir_, error_text(errno)));
  tmp_fd_ = fd;
  tmp_ = name;
}

void StateFile::discard_temporary() {
  if (tmp_fd_ >= 0) ::close(tmp_fd_);
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_fd_ = -1;
  tmp_.clear();
}

StateFile::~StateFile() {
  discard_temporary();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // closing the last descriptor lets go of the flock
}

namespace {

/// The payload of the state at `path`; empty when there is none.
std::string read_state(const std::string& path, uint64_t fingerprint, uint32_t& version) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return {};
    check_regular(path, errno);  // a link, or replaced by one since the lock was taken
    throw StateError(fmt::format("{}: cannot read the state: {}", path, error_text(errno)));
  }
  std::string all;
  int err = read_all(fd, all);
  ::close(fd);
  if (err) throw StateError(fmt::format("{}: cannot read the state: {}", path, error_text(err)));
  return decode_state(path, all, fingerprint, version);
}

}  // namespace

std::string StateFile::read(uint64_t fingerprint, uint32_t& version) const {
  return read_state(path_, fingerprint, version);
}

std::string read_state_unlocked(const std::string& path, uint64_t fingerprint, uint32_t& version) {
  std::string payload = read_state(path, fingerprint, version);
  if (payload.empty())
    throw StateError(fmt::format("{}: no such state (explain reads the file a scan saved)", path));
  return payload;
}

void StateFile::save(uint64_t fingerprint, std::string_view payload) {
  std::string out = encode_state(fingerprint, payload);
  if (tmp_fd_ < 0) open_temporary();  // saved once already
  // The new file keeps the old one's mode (and, written by root, its owner); a new state is
  // 0600: it can hold templates' fixed text and, with --include-prompts, sample prompts.
  struct stat old;
  bool have_old = ::lstat(path_.c_str(), &old) == 0 && S_ISREG(old.st_mode);
  int err = write_all(tmp_fd_, out);
  if (!err && have_old && ::geteuid() == 0 && ::fchown(tmp_fd_, old.st_uid, old.st_gid) != 0)
    err = errno;
  if (!err && ::fchmod(tmp_fd_, have_old ? old.st_mode & 07777 : 0600) != 0) err = errno;
  if (!err && ::fsync(tmp_fd_) != 0) err = errno;
  if (::close(tmp_fd_) != 0 && !err) err = errno;
  tmp_fd_ = -1;
  if (!err && std::rename(tmp_.c_str(), path_.c_str()) != 0) err = errno;
  if (err) {
    discard_temporary();
    throw StateError(fmt::format("{}: cannot write the state: {}", path_, error_text(err)));
  }
  tmp_.clear();
  // The rename is durable only once the directory is.
  int dir = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || ::fsync(dir) != 0) err = errno;
  if (dir >= 0) ::close(dir);
  if (err)
    throw StateError(fmt::format("{}: the state was replaced but {} could not be synced: {}", path_,
                                 dir_, error_text(err)));
}

}  // namespace exfilscan
