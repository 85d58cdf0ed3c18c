// libFuzzer target: bytes as an input file (plain, gzip or zstd by their magic), read into
// chunks and lines by the real reader. One thread: coverage from several would make the runs'
// course differ from one run to the next (the threaded path has its own tests, and TSan).
#include <exfilscan/input/pipeline.h>
#include <exfilscan/input/reader.h>

#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

using namespace exfilscan;

namespace {
struct Discard : EventSink {
  void on_event(const Event&) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char name[] = "/tmp/exfilscan-fuzz-reader-XXXXXX";
    int fd = mkstemp(name);
    close(fd);
    return std::string(name);
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  ReaderOptions options;
  options.input.chunk_bytes = 4096;  // small: many chunk boundaries
  options.input.max_line_bytes = 2048;
  options.input.mmap_min_bytes = size % 2 ? 0 : 1u << 20;  // mapped or read
  Discard sink;
  BadLineLog log({}, nullptr);
  read_inputs_parallel({path}, options, sink, log, 1);
  return 0;
}
