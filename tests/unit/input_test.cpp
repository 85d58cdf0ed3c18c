// Chunking: every input form yields the same whole lines, within bounded buffers.
#include "test_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <zlib.h>
#include <zstd.h>
#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

std::string gzip(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string zstd(const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3));
  return out;
}

/// Every chunk's bytes, concatenated, and the chunks' count.
std::pair<std::string, size_t> drain(const std::string& path, InputOptions options = {}) {
  auto source = open_input(path, options);
  Chunk chunk;
  std::string all;
  size_t chunks = 0;
  uint64_t expected_offset = 0;
  while (source->next(chunk)) {
    REQUIRE_FALSE(chunk.oversized_line);
    CHECK(chunk.offset == expected_offset);
    expected_offset += chunk.bytes.size();
    // whole lines only, except at the very end
    if (!chunk.bytes.empty() && chunk.bytes.back() != '\n') CHECK(expected_offset > 0);
    all.append(chunk.bytes);
    ++chunks;
  }
  return {all, chunks};
}

std::string many_lines(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += "{\"timestamp\":" + std::to_string(1777622400 + i) + "}\n";
  return s;
}

}  // namespace

TEST_CASE("compression is sniffed from magic bytes", "[input]") {
  CHECK(detect_compression("\x1f\x8b\x08") == Compression::gzip);
  CHECK(detect_compression("\x28\xb5\x2f\xfd") == Compression::zstd);
  CHECK(detect_compression("{\"a\"") == Compression::none);
  CHECK(detect_compression("") == Compression::none);
}

TEST_CASE("plain, gzip and zstd inputs give the same bytes", "[input]") {
  std::string data = many_lines(5000);
  TempFile plain(data), gz(gzip(data), ".gz"), zs(zstd(data), ".zst");
  CHECK(drain(plain.path()).first == data);
  CHECK(drain(gz.path()).first == data);
  CHECK(drain(zs.path()).first == data);
  CHECK(open_input(gz.path(), {})->compression() == Compression::gzip);
  CHECK(open_input(zs.path(), {})->compression() == Compression::zstd);
  // the compressed name is not what decides: a .gz that is plain text reads as text
  TempFile misnamed(data, ".gz");
  CHECK(drain(misnamed.path()).first == data);
}

TEST_CASE("small windows and buffers cut only at line boundaries", "[input]") {
  std::string data = many_lines(3000);
  InputOptions small;
  small.chunk_bytes = 4096;
  small.mmap_min_bytes = 0;  // mapped however small
  for (bool mmap : {true, false}) {
    small.allow_mmap = mmap;
    TempFile f(data);
    auto [all, chunks] = drain(f.path(), small);
    CHECK(all == data);
    CHECK(chunks > 5);
  }
}

TEST_CASE("a stream's chunks start small and grow to the chunk size", "[input]") {
  // A small input (one of thousands of files from an S3 export) must not cost full-size
  // buffers: reading starts at 64 KiB or the file's size as stored, whichever is more, doubles
  // while the input goes on, and stops at chunk_bytes.
  std::string data = many_lines(200000);  // about 5 MB
  InputOptions o;
  o.chunk_bytes = 1 << 20;
  for (const std::string& contents : {gzip(data), zstd(data)}) {
    TempFile f(contents);
    auto source = open_input(f.path(), o);
    Chunk chunk;
    std::vector<size_t> sizes;
    std::string all;
    while (source->next(chunk)) {
      sizes.push_back(chunk.bytes.size());
      all.append(chunk.bytes);
    }
    CHECK(all == data);
    REQUIRE(sizes.size() > 5);
    CHECK(sizes[0] <= std::max<size_t>(64u << 10, contents.size() + 1));
    CHECK(sizes[0] < sizes[1]);
    CHECK(*std::max_element(sizes.begin(), sizes.end()) <= (1u << 20));
    CHECK(sizes[sizes.size() - 2] > (1u << 19));
  }
  // A plain file that fits in a chunk is read whole, in one chunk, mapped or not.
  TempFile small(data.substr(0, 200000));
  for (uint64_t mmap_min : {uint64_t{0}, uint64_t{1} << 20}) {
    o.mmap_min_bytes = mmap_min;
    auto source = open_input(small.path(), o);
    Chunk chunk;
    REQUIRE(source->next(chunk));
    CHECK(chunk.bytes == data.substr(0, 200000));
    CHECK_FALSE(source->next(chunk));
  }
}

TEST_CASE("a directory stands for the files beneath it, in path order", "[input]") {
  namespace fs = std::filesystem;
  char name[] = "/tmp/exfilscan-dir-XXXXXX";
  REQUIRE(mkdtemp(name));
  fs::path root = name;
  auto write = [](const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "{}\n";
  };
  write(root / "2026/11/30/10/b.json.gz");
  write(root / "2026/11/30/09/z.json.gz");
  write(root / "2026/11/29/23/a.json.gz");
  write(root / ".hidden/x.json");  // dot names are left out, directories and files
  write(root / "2026/.DS_Store");
  fs::create_directories(root / "empty");
  TempFile file("{}\n");
  auto got = expand_inputs({"-", file.path(), root.string(), "/nonexistent.jsonl"});
  std::vector<std::string> want = {"-",
                                   file.path(),
                                   (root / "2026/11/29/23/a.json.gz").string(),
                                   (root / "2026/11/30/09/z.json.gz").string(),
                                   (root / "2026/11/30/10/b.json.gz").string(),
                                   "/nonexistent.jsonl"};
  CHECK(got == want);
  CHECK_THROWS_WITH(expand_inputs({(root / "empty").string()}),
                    Catch::Contains("empty: no files in this directory"));
  fs::remove_all(root);
}

TEST_CASE("concatenated gzip members read as one stream", "[input]") {
  std::string a = many_lines(10), b = "{\"timestamp\":1}\n";
  TempFile f(gzip(a) + gzip(b), ".gz");
  CHECK(drain(f.path()).first == a + b);
}

// Issue 17: a gzip member followed by a zstd frame was refused, and the lines decoded before the
// switch were lost with it. Members and frames follow one another in any order, as zstd -d
// reads them; anything else after one is an error naming the file, after the lines before it.
TEST_CASE("gzip members and zstd frames read in any order as one stream", "[input]") {
  std::string a = many_lines(3000), b = many_lines(7), c = "{\"timestamp\":1}\n";
  // A zstd skippable frame (magic 0x184D2A50, 4 bytes of length, then that many bytes).
  std::string skippable("\x50\x2a\x4d\x18\x03\x00\x00\x00xyz", 11);
  InputOptions small, ahead;
  small.chunk_bytes = 4096;
  ahead.read_ahead = true;
  ahead.read_ahead_min_bytes = 0;
  std::vector<std::pair<std::string, std::string>> cases = {
      {gzip(a) + zstd(b), a + b},
      {zstd(a) + gzip(b), a + b},
      {gzip(a) + zstd(b) + gzip(c) + gzip(c), a + b + c + c},
      {zstd(a) + skippable + gzip(b) + zstd(c), a + b + c},
      {gzip(c) + zstd(a), c + a}};
  for (const auto& [contents, want] : cases) {
    TempFile f(contents);
    CHECK(drain(f.path()).first == want);
    CHECK(drain(f.path(), small).first == want);
    CHECK(drain(f.path(), ahead).first == want);
  }
}

namespace {

/// The bytes of a source's chunks until it ends or throws, and the error's message.
std::pair<std::string, std::string> drain_to_error(const std::string& path) {
  std::string got;
  try {
    auto source = open_input(path, {});
    Chunk chunk;
    while (source->next(chunk)) got.append(chunk.bytes);
  } catch (const InputError& e) {
    return {got, e.what()};
  }
  return {got, ""};
}

}  // namespace

TEST_CASE("bytes after a member that start no member or frame are an error (issue 17)", "[input]") {
  std::string a = many_lines(50), b = many_lines(5);
  for (const std::string& tail : {b, std::string("\x28\xb5", 2), std::string(512, '\0')}) {
    for (const std::string& head : {gzip(a), zstd(a), gzip(b) + zstd(a)}) {
      TempFile f(head + tail);
      auto [got, error] = drain_to_error(f.path());
      CHECK(got.ends_with(a));  // every line before the stray bytes
      CHECK_THAT(error, Catch::Contains(f.path()) &&
                            Catch::Contains("neither a gzip member nor a zstd frame") &&
                            Catch::Contains("compressed byte " + std::to_string(head.size())));
    }
  }
}

TEST_CASE("a last line without a newline is kept", "[input]") {
  TempFile f("{\"timestamp\":1}\n{\"timestamp\":2}");
  CHECK(drain(f.path()).first == "{\"timestamp\":1}\n{\"timestamp\":2}");
}

TEST_CASE("truncated and corrupt compressed files are errors that say where", "[input]") {
  std::string data = many_lines(20000);
  std::string gz = gzip(data), zs = zstd(data);
  TempFile cut_gz(gz.substr(0, gz.size() / 2), ".gz"), cut_zs(zs.substr(0, zs.size() / 2), ".zst");
  CHECK_THROWS_WITH(drain(cut_gz.path()),
                    Catch::Contains("truncated gzip stream") && Catch::Contains(cut_gz.path()));
  CHECK_THROWS_WITH(drain(cut_zs.path()), Catch::Contains("truncated zstd stream"));
  std::string bad = gz;
  for (size_t i = 20; i < 60; ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5a);
  TempFile corrupt(bad, ".gz");
  CHECK_THROWS_WITH(drain(corrupt.path()), Catch::Contains("corrupt gzip data"));
}

TEST_CASE("unreadable inputs are errors", "[input]") {
  CHECK_THROWS_WITH(open_input("/nonexistent/x.jsonl", {}), Catch::Contains("cannot open"));
  CHECK_THROWS_WITH(open_input("/tmp", {}), Catch::Contains("is a directory"));
}

TEST_CASE("a line over the limit is skipped without buffering it", "[input]") {
  std::string big(100000, 'x');
  std::string data = "{\"timestamp\":1}\n" + big + "\n{\"timestamp\":2}\n";
  InputOptions o;
  o.chunk_bytes = 4096;
  o.max_line_bytes = 10000;
  o.mmap_min_bytes = 0;  // mapped however small
  for (bool mmap : {true, false}) {
    o.allow_mmap = mmap;
    for (const std::string& contents : {data, gzip(data)}) {
      TempFile f(contents);
      auto source = open_input(f.path(), o);
      Chunk chunk;
      std::string lines;
      uint64_t oversized = 0, oversized_offset = 0;
      while (source->next(chunk)) {
        if (chunk.oversized_line) {
          oversized = chunk.oversized_length;
          oversized_offset = chunk.offset;
          CHECK(chunk.oversized_head.substr(0, 3) == "xxx");
        } else {
          lines.append(chunk.bytes);
        }
      }
      CHECK(oversized == big.size());
      CHECK(oversized_offset == 16);
      CHECK(lines == "{\"timestamp\":1}\n{\"timestamp\":2}\n");
    }
  }
}

TEST_CASE("reading ahead on a thread gives the same chunks, then the same errors", "[input]") {
  std::string data = many_lines(40000);
  std::string gz = gzip(data);
  InputOptions plain, ahead;
  plain.chunk_bytes = ahead.chunk_bytes = 8192;
  plain.allow_mmap = ahead.allow_mmap = false;
  ahead.read_ahead = true;
  ahead.read_ahead_min_bytes = 0;  // read ahead however small
  for (const std::string& contents : {data, gz, zstd(data)}) {
    TempFile f(contents);
    auto [all, chunks] = drain(f.path(), ahead);
    CHECK(all == data);
    CHECK(chunks == drain(f.path(), plain).second);
  }
  // A truncated stream: the lines decoded before the damage first, then the error.
  TempFile cut(gz.substr(0, gz.size() / 2), ".gz");
  std::string before;
  try {
    auto source = open_input(cut.path(), plain);
    Chunk chunk;
    while (source->next(chunk)) before.append(chunk.bytes);
  } catch (const InputError&) {
  }
  std::string got;
  auto source = open_input(cut.path(), ahead);
  Chunk chunk;
  CHECK_THROWS_WITH(
      [&] {
        while (source->next(chunk)) got.append(chunk.bytes);
      }(),
      Catch::Contains("truncated gzip stream"));
  CHECK_FALSE(got.empty());
  CHECK(got == before);
  // Stopping early (the report's reader went away) ends the reading thread.
  TempFile f(gz);
  auto early = open_input(f.path(), ahead);
  REQUIRE(early->next(chunk));
  early.reset();
}

TEST_CASE("reading ahead gives every line whole, long and oversized ones too", "[input]") {
  // Lines of many lengths: some longer than a chunk (the buffer grows for them), one over the
  // limit (skipped).
  std::string data;
  for (int i = 0; i < 3000; ++i) {
    size_t len = i % 500 == 7 ? 20000 : static_cast<size_t>(i * 37 % 300);
    data += "{\"t\":" + std::to_string(i) + ",\"s\":\"" + std::string(len, 'a' + i % 26) + "\"}\n";
    if (i == 1500) data += std::string(100000, 'x') + "\n";
  }
  InputOptions o;
  o.chunk_bytes = 4096;
  o.max_line_bytes = 50000;
  o.allow_mmap = false;
  o.read_ahead = true;
  o.read_ahead_min_bytes = 0;
  for (const std::string& contents : {data, gzip(data), zstd(data)}) {
    TempFile f(contents);
    auto source = open_input(f.path(), o);
    Chunk chunk;
    std::string all;
    size_t oversized = 0;
    while (source->next(chunk)) {
      if (chunk.oversized_line)
        oversized = chunk.oversized_length;
      else
        all += chunk.bytes;
    }
    CHECK(oversized == 100000);
    std::string expected = data;
    expected.erase(expected.find(std::string(100000, 'x')), 100001);
    CHECK(all == expected);
  }
}

namespace {

/// Closes a file descriptor when it goes.
struct FdCloser {
  int fd;
  ~FdCloser() { close_now(); }
  void close_now() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void write_all(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

TEST_CASE("a chunk read ahead stays intact while the thread reads on into the next", "[input]") {
  // The caller holds a chunk while the reading thread fills the next one. Reading from a pipe
  // tells when the thread has read on: a blocking write of more than the pipe holds returns only
  // once the reader has taken bytes out of it, into its buffer. Those bytes are the start of one
  // line with no end yet, so the thread goes on reading them (growing its buffer) whatever the
  // pipe's size. A stream that cut the next chunk where the held one lies fails here.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  FdCloser read_end{fds[0]};
  std::unique_ptr<ChunkSource> source;
  FdCloser write_end{fds[1]};  // closed before the source goes: its thread then sees the end
  std::string first;           // exactly one chunk (4096 bytes, the least) of whole lines
  for (int i = 0; i < 64; ++i) {
    std::string line = "{\"t\":" + std::to_string(i) + ",\"s\":\"";
    line += std::string(64 - line.size() - 3, 'a' + i % 26) + "\"}\n";
    first += line;
  }
  REQUIRE(first.size() == 4096);
  std::string held_on = std::string(static_cast<size_t>(::fcntl(fds[1], F_GETPIPE_SZ)) + 1, 'y');
  std::string rest = "\n{\"t\":99}\n";
  InputOptions o;
  o.chunk_bytes = 4096;
  o.read_ahead = true;
  write_all(write_end.fd, first);  // opening the input reads its first bytes
  source = open_input("/dev/fd/" + std::to_string(fds[0]), o);
  read_end.close_now();
  Chunk chunk;
  REQUIRE(source->next(chunk));
  REQUIRE(chunk.bytes == first);
  write_all(write_end.fd, held_on);
  CHECK(chunk.bytes == first);
  write_all(write_end.fd, rest);
  write_end.close_now();
  std::string all(chunk.bytes);
  while (source->next(chunk)) all += chunk.bytes;
  CHECK(all == first + held_on + rest);
}

TEST_CASE("a mapped file that shrinks while it is read is an error naming it (issue 17)",
          "[input]") {
  // logrotate's copytruncate cuts a file that is being read: touching the mapping past the new
  // end raised SIGBUS ("Bus error", exit 135). The reading runs in a child, whose end is checked.
  std::string data;
  while (data.size() < (1u << 20)) data += "{\"timestamp\":1777622400,\"api_key_id\":\"k\"}\n";
  TempFile f(data);
  int err[2];
  REQUIRE(::pipe(err) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(err[1], STDERR_FILENO);
    InputOptions o;
    o.mmap_min_bytes = 0;
    o.chunk_bytes = 64 << 10;
    auto source = open_input(f.path(), o);
    Chunk chunk;
    if (!source->next(chunk)) ::_exit(10);
    if (::truncate(f.path().c_str(), 0) != 0) ::_exit(11);
    volatile char sum = 0;
    for (char c : chunk.bytes) sum = static_cast<char>(sum + c);  // faults past the new end
    ::_exit(12);
  }
  ::close(err[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) message.append(buf, n);
  ::close(err[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("stderr: " << message);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 2);
  CHECK_THAT(message,
             Catch::Contains(f.path() + ": read error: the file shrank while it was read"));
}
