// What Kafka input needs without librdkafka: where producers put a key, and properties files.
#include <exfilscan/input/kafka.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace exfilscan {

int32_t kafka_murmur2(std::string_view key) {
  const uint32_t m = 0x5bd1e995;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const auto length = static_cast<uint32_t>(key.size());
  uint32_t h = 0x9747b28c ^ length;
  size_t i = 0;
  for (; i + 4 <= key.size(); i += 4) {
    uint32_t k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) |
                 (static_cast<uint32_t>(data[i + 3]) << 24);
    k *= m;
    k ^= k >> 24;
    k *= m;
    h *= m;
    h ^= k;
  }
  switch (key.size() & 3) {
    case 3:
      h ^= static_cast<uint32_t>(data[i + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[i + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= data[i];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t kafka_partition(std::string_view key, int32_t partitions) {
  return (kafka_murmur2(key) & 0x7fffffff) % partitions;
}

std::vector<std::pair<std::string, std::string>> read_kafka_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot read: {}", path, std::strerror(errno)));
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  auto trim = [](std::string_view s) {
    size_t b = s.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return std::string();
    size_t e = s.find_last_not_of(" \t\r");
    return std::string(s.substr(b, e - b + 1));
  };
  for (uint64_t line_no = 1; std::getline(in, line); ++line_no) {
    std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    size_t eq = text.find('=');
    if (eq == std::string::npos || trim(text.substr(0, eq)).empty())
      throw InputError(
          fmt::format("{}:{}: expected name=value (a librdkafka property)", path, line_no));
    out.emplace_back(trim(text.substr(0, eq)), trim(text.substr(eq + 1)));
  }
  return out;
}

#ifndef EXFILSCAN_KAFKA
// Built without librdkafka (EXFILSCAN_KAFKA=OFF): the command line refuses --kafka before it
// gets here; a library user is told the same.
struct KafkaInput::Impl {};
KafkaInput::KafkaInput(KafkaOptions) {
  throw InputError("kafka: this exfilscan was built without Kafka (EXFILSCAN_KAFKA=OFF)");
}
KafkaInput::~KafkaInput() = default;
ReadResult KafkaInput::read(const ReaderOptions&, EventSink&, BadLineLog&) {
  return {};
}
std::map<int32_t, int64_t> KafkaInput::positions() const {
  return {};
}
void KafkaInput::commit(const std::map<int32_t, int64_t>&, bool) {}
ReadResult read_kafka(const KafkaOptions& options, const ReaderOptions& reader, EventSink& sink,
                      BadLineLog& bad_lines) {
  return KafkaInput(options).read(reader, sink, bad_lines);
}
#endif

}  // namespace exfilscan
