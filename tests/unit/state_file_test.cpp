// The --state file on disk: its lock, and how it is replaced (issue #17).
#include <exfilscan/engine/state_file.h>
#include <exfilscan/state.h>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <future>

namespace fs = std::filesystem;
using namespace exfilscan;

namespace {

/// A directory in /tmp removed with everything in it when the test ends.
struct TempDir {
  fs::path path;
  TempDir() {
    char name[] = "/tmp/exfilscan-state-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string saved_payload(const std::string& path) {
  uint32_t version = 0;
  return StateFile(path).read(7, version);
}

}  // namespace

TEST_CASE("a state held by one StateFile is refused to another", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  {
    StateFile first(path);
    // flock belongs to the open file, so a second open in this process conflicts as another
    // process would.
    REQUIRE_THROWS_WITH(StateFile(path),
                        Catch::Contains(path) && Catch::Contains("another exfilscan holds"));
    first.save(7, "one");
  }
  StateFile second(path);  // let go of with the first
  uint32_t version = 0;
  CHECK(second.read(7, version) == "one");
}

namespace {

/// A waiter (with `wait_limit_ms`) blocks on a held lock and takes it once the holder lets go.
void takes_the_lock_once_let_go(int64_t wait_limit_ms) {
  TempDir dir;
  std::string path = dir.file("s.state");
  auto holder = std::make_unique<StateFile>(path);
  std::promise<void> waiting;
  auto waiter = std::async(std::launch::async, [&] {
    StateFileOptions options;
    options.wait = true;
    options.wait_limit_ms = wait_limit_ms;
    options.waiting = [&] { waiting.set_value(); };
    StateFile file(path, options);
    file.save(7, "the waiter's");
  });
  waiting.get_future().wait();  // it found the lock taken and blocks on it
  holder->save(7, "the holder's");
  holder.reset();
  waiter.get();
  CHECK(saved_payload(path) == "the waiter's");
}

}  // namespace

TEST_CASE("with wait a StateFile takes the lock once the holder lets go", "[state_file]") {
  takes_the_lock_once_let_go(-1);
}

TEST_CASE("with a wait limit a StateFile takes the lock once the holder lets go in time",
          "[state_file]") {
  takes_the_lock_once_let_go(600'000);  // far more than the test takes: it is let go of first
}

TEST_CASE("with a wait limit a StateFile gives up on a holder that never lets go", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  auto holder = std::make_unique<StateFile>(path);
  StateFileOptions options;
  options.wait = true;
  options.wait_limit_ms = 50;
  bool told = false;
  options.waiting = [&] { told = true; };
  REQUIRE_THROWS_WITH(StateFile(path, options), Catch::Contains(path) &&
                                                    Catch::Contains("still holds this state") &&
                                                    Catch::Contains("not taken over"));
  CHECK(told);
  holder->save(7, "the holder's");  // the holder's lock and save are untouched
  holder.reset();
  CHECK(saved_payload(path) == "the holder's");
}

namespace {

unsigned mode_of(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

size_t temporaries_in(const TempDir& dir) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(dir.path))
    n += entry.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("a saved state keeps the old file's mode; a new one is 0600", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  StateFile(path).save(7, "first");
  CHECK(mode_of(path) == 0600);
  ::chmod(path.c_str(), 0640);
  StateFile(path).save(7, "second");
  CHECK(mode_of(path) == 0640);
  CHECK(saved_payload(path) == "second");
  CHECK(temporaries_in(dir) == 0);
}

TEST_CASE("a killed run's temporaries are removed once the lock is taken", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  std::ofstream(path + ".tmp.a1B2c3") << "partial";
  std::ofstream(path + ".tmp.123") << "partial (an older exfilscan's)";
  std::ofstream(dir.file("s.state.tmp.keep-me.txt")) << "not a temporary of ours";
  std::ofstream(dir.file("other.state.tmp.a1B2c3")) << "another state's";
  StateFile file(path);
  CHECK_FALSE(fs::exists(path + ".tmp.a1B2c3"));
  CHECK_FALSE(fs::exists(path + ".tmp.123"));
  CHECK(fs::exists(dir.file("s.state.tmp.keep-me.txt")));
  CHECK(fs::exists(dir.file("other.state.tmp.a1B2c3")));
}

TEST_CASE("a save that fails removes its temporary and leaves the old state", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  StateFile(path).save(7, "old");
  StateFile file(path);
  // A directory in the state's place, with something in it, cannot be renamed over.
  fs::rename(path, dir.file("kept"));
  fs::create_directory(path);
  std::ofstream(path + "/x") << "x";
  REQUIRE_THROWS_WITH(file.save(7, "new"), Catch::Contains(path));
  CHECK(temporaries_in(dir) == 0);
}

TEST_CASE("a symbolic link as the state is refused, and left as it is", "[state_file]") {
  TempDir dir;
  std::string target = dir.file("target.state"), link = dir.file("s.state");
  StateFile(target).save(7, "the target's");
  fs::create_symlink("target.state", link);
  REQUIRE_THROWS_WITH(StateFile(link), Catch::Contains(link + ": is a symbolic link"));
  CHECK(fs::is_symlink(link));
  CHECK(saved_payload(target) == "the target's");
  // Replaced by a link after the lock was taken: the read refuses it too.
  StateFile file(dir.file("late.state"));
  fs::create_symlink("target.state", dir.file("late.state"));
  uint32_t version = 0;
  CHECK_THROWS_WITH(file.read(7, version), Catch::Contains("is a symbolic link"));
}

TEST_CASE("a StateFile is ready to save before the run; unsaved, it leaves nothing behind",
          "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  StateFile(path).save(7, "old");
  {
    StateFile file(path);
    CHECK(temporaries_in(dir) == 1);  // the save's file exists before any input is read
  }
  CHECK(temporaries_in(dir) == 0);
  CHECK(saved_payload(path) == "old");
}
