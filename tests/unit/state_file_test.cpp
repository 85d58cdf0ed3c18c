// The --state file on disk: its lock, and how it is replaced (issue #17).
#include <exfilscan/state.h>
#include <exfilscan/state_file.h>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
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

TEST_CASE("with wait a StateFile takes the lock once the holder lets go", "[state_file]") {
  TempDir dir;
  std::string path = dir.file("s.state");
  auto holder = std::make_unique<StateFile>(path);
  std::promise<void> waiting;
  auto waiter = std::async(std::launch::async, [&] {
    StateFileOptions options;
    options.wait = true;
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
