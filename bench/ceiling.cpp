// The parsing ceiling exfilscan is measured against: one simdjson on-demand pass over a JSON-lines
// file that reads three fields per line (timestamp, api_key_id, response.usage.completion_tokens)
// and nothing else. Built with the same compiler flags as exfilscan.
//
//   ceiling FILE     prints "lines=N checksum=C" on stderr
#include <simdjson.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>

using namespace simdjson;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ceiling FILE\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    std::perror(argv[1]);
    return 2;
  }
  struct stat st;
  fstat(fd, &st);
  size_t len = static_cast<size_t>(st.st_size);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t total = (len + SIMDJSON_PADDING + page - 1) / page * page;
  // Zeroed anonymous pages under the file mapping give simdjson its padding past the end.
  void* base = mmap(nullptr, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (len &&
      mmap(base, len, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd, 0) == MAP_FAILED) {
    std::perror("mmap");
    return 2;
  }
  ondemand::parser parser;
  ondemand::document_stream stream;
  if (parser.iterate_many(static_cast<const uint8_t*>(base), len, 1000000).get(stream)) return 2;
  uint64_t lines = 0, checksum = 0, errors = 0;
  for (auto it = stream.begin(); it != stream.end(); ++it) {
    ++lines;
    ondemand::document_reference doc;
    if ((*it).get(doc)) {
      ++errors;
      continue;
    }
    std::string_view ts, key;
    uint64_t completion = 0;
    if (doc["timestamp"].get_string().get(ts) || doc["api_key_id"].get_string().get(key)) {
      ++errors;
      continue;
    }
    if (doc["response"]["usage"]["completion_tokens"].get_uint64().get(completion)) completion = 0;
    checksum += ts.size() + key.size() + completion;
  }
  std::fprintf(stderr, "lines=%llu checksum=%llu errors=%llu\n",
               static_cast<unsigned long long>(lines), static_cast<unsigned long long>(checksum),
               static_cast<unsigned long long>(errors));
  return 0;
}
