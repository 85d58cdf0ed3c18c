#pragma once
/// The --state file on disk: locked by one run from before it is read until after it is saved,
/// and replaced atomically.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace exfilscan {

struct StateFileOptions {
  /// Block until another run lets go of the lock, instead of refusing at once.
  bool wait = false;
  /// Called once, before blocking on a lock that another process holds (with `wait` only).
  std::function<void()> waiting;
  /// With `wait`: give up after this many milliseconds (StateError); negative waits for ever.
  int64_t wait_limit_ms = -1;
};

/// One run's hold on a state file PATH. The lock is an flock(2) on PATH.lock, a file beside it
/// that is created once and never removed: the state itself is replaced by rename(2) on every
/// save, so a lock on it would be a lock on a file that is no longer there.
class StateFile {
 public:
  /// Takes the lock, refuses a PATH that is a symbolic link or not a regular file, removes the
  /// temporaries PATH.tmp.* that killed runs left and creates this run's: whatever would stop
  /// the save is found here, before any input is read. Throws StateError when another process
  /// holds the lock (without `wait`), it cannot be taken, PATH is refused, or the directory
  /// cannot be written.
  explicit StateFile(std::string path, StateFileOptions options = {});
  ~StateFile();  // removes the temporary unless it was saved; lets go of the lock
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  const std::string& path() const { return path_; }
  std::string lock_path() const { return path_ + ".lock"; }

  /// The payload; empty when the file does not exist (a first run). Throws StateError for
  /// anything else that is wrong with it, and the file is left as it is.
  std::string read(uint64_t rules_fingerprint, uint32_t& version) const;

  /// Writes the state to a temporary file PATH.tmp.XXXXXX in the same directory (created
  /// exclusively, so never through a planted link), with the old file's mode or 0600, synced,
  /// renamed over PATH, and the directory synced: a crash never leaves a half-written state.
  /// On failure the temporary is removed. Throws StateError.
  void save(uint64_t rules_fingerprint, std::string_view payload);

 private:
  void remove_leftovers() const;
  void open_temporary();
  void discard_temporary();

  std::string path_, dir_, base_;
  std::string tmp_;  // this run's temporary, until it is renamed over path_
  int lock_fd_ = -1;
  int tmp_fd_ = -1;
};

/// A state read without its lock, for `explain --state`, which never writes it: a save replaces
/// the file by rename(2), so the read sees one whole state, the old or the new. Throws
/// StateError, also when there is no file.
std::string read_state_unlocked(const std::string& path, uint64_t rules_fingerprint,
                                uint32_t& version);

}  // namespace exfilscan
