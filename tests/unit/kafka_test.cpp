// Kafka input (issue 20): where producers put keys, properties files, and the reader against an
// in-process mock cluster: partitions merged in event-time order, bad records named by offset.
// The tests tagged [librdkafka] start librdkafka's threads (scripts/sanitizers.sh leaves them out
// of the ThreadSanitizer run, and says why).
#include <exfilscan/input/kafka.h>

#include "test_util.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>

using namespace exfilscan;
using namespace exfilscan::test;

TEST_CASE("kafka_murmur2 is the Java clients' murmur2", "[kafka]") {
  // org.apache.kafka.common.utils.UtilsTest#testMurmur2
  CHECK(kafka_murmur2("21") == -973932308);
  CHECK(kafka_murmur2("foobar") == -790332482);
  CHECK(kafka_murmur2("a-little-bit-long-string") == -985981536);
  CHECK(kafka_murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(kafka_murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(kafka_murmur2("abc") == 479470107);
}

TEST_CASE("kafka_partition is murmur2's positive part modulo the partitions", "[kafka]") {
  CHECK(kafka_partition("foobar", 7) == (-790332482 & 0x7fffffff) % 7);
  for (int32_t n : {1, 4, 6, 13})
    for (std::string key : {"", "k", "sk-live-0001", "camp-dormant_burst-0"}) {
      int32_t p = kafka_partition(key, n);
      CHECK(p >= 0);
      CHECK(p < n);
    }
}

TEST_CASE("read_kafka_config reads name=value lines", "[kafka]") {
  TempFile file("# a comment\n\n security.protocol = SASL_SSL \nsasl.password=a=b\n",
                ".properties");
  auto config = read_kafka_config(file.path());
  REQUIRE(config.size() == 2);
  CHECK(config[0] == std::pair<std::string, std::string>{"security.protocol", "SASL_SSL"});
  CHECK(config[1] == std::pair<std::string, std::string>{"sasl.password", "a=b"});

  TempFile bad("client.id=x\njust words\n", ".properties");
  CHECK_THROWS_WITH(read_kafka_config(bad.path()),
                    Catch::Contains(":2: expected name=value (a librdkafka property)"));
  CHECK_THROWS_AS(read_kafka_config("/nonexistent/kafka.properties"), InputError);
}

namespace {

/// A mock cluster inside this process (its brokers listen on 127.0.0.1), and a producer to it.
class MockCluster {
 public:
  MockCluster(const std::string& topic, int partitions) : topic_(topic) {
    char error[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);  // it connects nowhere
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
    REQUIRE(rk_);
    cluster_ = rd_kafka_mock_cluster_new(rk_, 1);
    REQUIRE(cluster_);
    REQUIRE(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1) == 0);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);

    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    REQUIRE(rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps_.c_str(), error,
                              sizeof error) == RD_KAFKA_CONF_OK);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, error, sizeof error);
    REQUIRE(producer_);
  }
  ~MockCluster() {
    rd_kafka_destroy(producer_);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(rk_);
  }
  void produce(int32_t partition, const std::string& value) {
    REQUIRE(rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic_.c_str()),
                              RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) == 0);
  }
  void flush() { REQUIRE(rd_kafka_flush(producer_, 10'000) == 0); }
  const std::string& bootstraps() const { return bootstraps_; }

 private:
  std::string topic_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
};

std::string record(int second, const std::string& key) {
  return fmt::format(
      R"({{"timestamp":"2026-11-02T00:00:{:02d}Z","api_key_id":"{}","request":{{"model":"m"}},)"
      R"("response":{{"status":200}}}})",
      second, key);
}

KafkaOptions options_for(const MockCluster& cluster, const std::string& group) {
  KafkaOptions options;
  options.brokers = cluster.bootstraps();
  options.topic = "logs";
  options.group = group;
  options.until_end = true;
  options.config = {{"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "1000"}};
  return options;
}

}  // namespace

TEST_CASE("read_kafka merges partitions by event time and names bad records",
          "[kafka][librdkafka]") {
  MockCluster cluster("logs", 3);
  // Each partition in its own order; ties across partitions go to the lower partition.
  cluster.produce(0, record(1, "a"));
  cluster.produce(0, record(5, "a"));
  cluster.produce(1, record(2, "b"));
  cluster.produce(1, "{\"timestamp\": \"2026-11-02T00:00:03Z\", \"secret prompt");
  std::string two = record(5, "b");  // two records in one value
  two += '\n';
  two += record(6, "b");
  two += '\n';
  cluster.produce(1, two);
  cluster.produce(2, record(0, "c"));
  cluster.produce(2, "");  // no value: a blank line
  cluster.produce(2, record(4, "c"));
  cluster.flush();

  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  CollectingSink sink;
  ReadResult result;
  std::vector<KafkaPartitionProgress> progress;
  {
    KafkaOptions options = options_for(cluster, "merge");
    options.progress = [&](std::span<const KafkaPartitionProgress> p) {
      progress.assign(p.begin(), p.end());
    };
    BadLineLog log({}, mem);
    result = read_kafka(options, ReaderOptions{}, sink, log);
    CHECK(log.total() == 1);
  }
  std::fclose(mem);
  std::string diagnostics(buf, size);
  std::free(buf);

  CHECK(sink.keys == std::vector<std::string>{"c", "a", "b", "c", "a", "b", "b"});
  CHECK(sink.timestamps.size() == 7);
  CHECK(std::is_sorted(sink.timestamps.begin(), sink.timestamps.end()));
  CHECK(result.failure == ReadFailure::none);
  CHECK(result.stats.inputs == 3);
  CHECK(result.stats.events == 7);
  CHECK(result.stats.lines == 9);
  CHECK(result.stats.blank_lines == 1);
  CHECK(diagnostics.starts_with("logs/1@1:1: bad_json: "));
  CHECK(diagnostics.find("secret") == std::string::npos);  // excerpts mask strings
  REQUIRE(progress.size() == 3);
  CHECK(progress[1].next_offset == 3);
  CHECK(progress[1].messages == 3);
}

TEST_CASE("read_kafka with --strict stops at the first bad record", "[kafka][librdkafka]") {
  MockCluster cluster("logs", 1);
  cluster.produce(0, record(1, "a"));
  cluster.produce(0, "not json");
  cluster.produce(0, record(2, "a"));
  cluster.flush();
  CollectingSink sink;
  ReaderOptions reader;
  reader.bad_lines.strict = true;
  BadLineLog log(reader.bad_lines, nullptr);
  ReadResult result = read_kafka(options_for(cluster, "strict"), reader, sink, log);
  CHECK(result.failure == ReadFailure::strict_bad_line);
  CHECK(result.stopped);
  CHECK(sink.keys == std::vector<std::string>{"a"});
}

TEST_CASE("read_kafka stops when told to, with what it took", "[kafka][librdkafka]") {
  MockCluster cluster("logs", 2);
  cluster.produce(0, record(1, "a"));
  cluster.flush();
  // Without until_end the run goes on until `stop`: set here once the first event has come.
  struct StopAfterFirst : EventSink {
    std::atomic<bool> stop{false};
    std::vector<std::string> keys;
    void on_event(const Event& e) override {
      keys.emplace_back(e.api_key);
      stop.store(true);
    }
  } sink;
  KafkaOptions options = options_for(cluster, "stop");
  options.until_end = false;
  options.idle_timeout = std::chrono::milliseconds(0);  // partition 1 is empty: do not wait
  options.stop = &sink.stop;
  BadLineLog log({}, nullptr);
  ReadResult result = read_kafka(options, ReaderOptions{}, sink, log);
  CHECK(result.failure == ReadFailure::none);
  CHECK(sink.keys == std::vector<std::string>{"a"});
}

TEST_CASE("read_kafka refuses a property librdkafka does not know", "[kafka][librdkafka]") {
  KafkaOptions options;
  options.brokers = "127.0.0.1:1";
  options.topic = "logs";
  options.group = "unknown-property";
  options.config = {{"no.such.property", "1"}};
  CollectingSink sink;
  BadLineLog log({}, nullptr);
  CHECK_THROWS_WITH(read_kafka(options, ReaderOptions{}, sink, log),
                    Catch::Contains("No such configuration property"));
}
