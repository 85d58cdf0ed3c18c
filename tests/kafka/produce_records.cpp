// A test producer: each line of the inputs (plain, gzip or zstd) is one record, keyed by its
// account as exfilscan reads it, placed by librdkafka's murmur2_random partitioner (the Java
// clients' default). Checks that every key landed on (murmur2(key) & 0x7fffffff) % partitions.
//
//   produce_records --brokers B --topic T [--group-by api_key] FILE...
//
// Exit 0 when every record was delivered where murmur2 puts its key; 1 otherwise.
#include <exfilscan/input/input.h>
#include <exfilscan/input/kafka.h>
#include <exfilscan/parse/account_key.h>
#include <exfilscan/parse/line_parser.h>

#include <librdkafka/rdkafka.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace exfilscan;

struct Delivery {
  uint64_t delivered = 0;
  uint64_t misplaced = 0;
  uint64_t failed = 0;
  int32_t partitions = 0;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto& d = *static_cast<Delivery*>(opaque);
  if (m->err) {
    if (++d.failed <= 3)
      std::fprintf(stderr, "produce_records: delivery failed: %s\n", rd_kafka_err2str(m->err));
    return;
  }
  ++d.delivered;
  if (m->key_len == 0) return;  // a line with no account goes anywhere
  std::string_view key(static_cast<const char*>(m->key), m->key_len);
  int32_t expected = kafka_partition(key, d.partitions);
  if (m->partition != expected && ++d.misplaced <= 3)
    std::fprintf(stderr, "produce_records: key %.*s on partition %d, murmur2 says %d\n",
                 static_cast<int>(key.size()), key.data(), m->partition, expected);
}

int fail(const std::string& why) {
  std::fprintf(stderr, "produce_records: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string brokers, topic, group_by = "api_key";
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--brokers" && i + 1 < argc)
      brokers = argv[++i];
    else if (arg == "--topic" && i + 1 < argc)
      topic = argv[++i];
    else if (arg == "--group-by" && i + 1 < argc)
      group_by = argv[++i];
    else
      files.push_back(arg);
  }
  GroupBy grouping;
  if (brokers.empty() || topic.empty() || files.empty() || !parse_group_by(group_by, grouping))
    return fail("usage: produce_records --brokers B --topic T [--group-by api_key] FILE...");

  Delivery delivery;
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [name, value] :
       {std::pair{"bootstrap.servers", brokers.c_str()}, std::pair{"partitioner", "murmur2_random"},
        std::pair{"linger.ms", "20"},
        // The mock broker keeps some 5 MB of a partition's batches and
        // drops older ones; compressed, the samples fit.
        std::pair{"compression.codec", "zstd"},
        // One batch in flight: a partition's records stay in line order.
        std::pair{"max.in.flight.requests.per.connection", "1"}})
    if (rd_kafka_conf_set(conf, name, value, error, sizeof error) != RD_KAFKA_CONF_OK)
      return fail(error);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &delivery);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!rk) return fail(error);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* metadata = nullptr;
  if (rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &metadata, 10'000))
    return fail(std::string("metadata: ") + rd_kafka_err2str(err));
  if (metadata->topic_cnt == 1) delivery.partitions = metadata->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(metadata);
  if (delivery.partitions <= 0) return fail("topic " + topic + " has no partitions");

  ParserOptions parser_options;
  parser_options.read_prompt_text = false;
  LineParser parser(parser_options);
  Event event;
  ParseError parse_error;
  std::string scratch, line;
  uint64_t produced = 0;
  for (const std::string& file : files) {
    InputOptions input;
    input.allow_mmap = false;
    auto source = open_input(file, input);
    Chunk chunk;
    while (source->next(chunk)) {
      for (size_t at = 0; at < chunk.bytes.size();) {
        size_t nl = chunk.bytes.find('\n', at);
        size_t end = nl == std::string_view::npos ? chunk.bytes.size() : nl;
        line.assign(chunk.bytes.substr(at, end - at));
        at = end + 1;
        std::string_view key;
        line.append(chunk_padding, '\0');  // the parser reads past the line's end
        if (parser.parse(std::string_view(line.data(), line.size() - chunk_padding), event,
                         parse_error))
          key = account_key(event, grouping, scratch);
        line.resize(line.size() - chunk_padding);
        while (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, line.data(),
                                line.size(), key.data(), key.size(), nullptr) != 0) {
          if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return fail(std::string("produce: ") + rd_kafka_err2str(rd_kafka_last_error()));
          rd_kafka_poll(rk, 100);  // the queue is full: let deliveries drain it
        }
        ++produced;
        rd_kafka_poll(rk, 0);
      }
    }
  }
  rd_kafka_flush(rk, 60'000);
  // Every record still there: none was dropped for space (low watermarks 0).
  int64_t kept = 0;
  for (int32_t p = 0; p < delivery.partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10'000))
      return fail(std::string("watermarks: ") + rd_kafka_err2str(err));
    if (low != 0)
      return fail("partition " + std::to_string(p) + " lost its first " + std::to_string(low) +
                  " records (the mock broker keeps some 5 MB a partition)");
    kept += high;
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  std::fprintf(stderr, "produce_records: %llu records to %s (%d partitions), %llu delivered\n",
               static_cast<unsigned long long>(produced), topic.c_str(), delivery.partitions,
               static_cast<unsigned long long>(delivery.delivered));
  if (delivery.failed || delivery.delivered != produced || kept < static_cast<int64_t>(produced))
    return fail("not every record delivered");
  if (delivery.misplaced)
    return fail(std::to_string(delivery.misplaced) + " records not on their murmur2 partition");
  return 0;
}
