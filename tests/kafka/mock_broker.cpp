// A Kafka cluster for tests: librdkafka's mock brokers on 127.0.0.1, serving other processes
// (exfilscan, the test producer, kcat) until SIGTERM or SIGINT. Debian packages no Kafka server.
//
//   mock_broker [--brokers N] [--bootstraps-file FILE] TOPIC:PARTITIONS...
//
// Prints the bootstrap servers on stdout and, when asked, writes them to FILE (whole, by a
// rename: a test waits for the file to exist).
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t stop = 0;
void on_signal(int) {
  stop = 1;
}

int usage(const char* why) {
  std::fprintf(stderr,
               "mock_broker: %s\nusage: mock_broker [--brokers N] [--bootstraps-file FILE] "
               "TOPIC:PARTITIONS...\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  std::string bootstraps_file;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--brokers" && i + 1 < argc) {
      brokers = std::atoi(argv[++i]);
    } else if (arg == "--bootstraps-file" && i + 1 < argc) {
      bootstraps_file = argv[++i];
    } else {
      size_t colon = arg.rfind(':');
      int partitions = colon == std::string::npos ? 0 : std::atoi(arg.c_str() + colon + 1);
      if (partitions <= 0) return usage(("not TOPIC:PARTITIONS: " + arg).c_str());
      topics.emplace_back(arg.substr(0, colon), partitions);
    }
  }
  if (brokers <= 0) return usage("--brokers must be at least 1");

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char error[512];
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);  // it connects nowhere
  // The cluster lives inside this handle; it is never used to produce.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!rk) return std::fprintf(stderr, "mock_broker: %s\n", error), 1;
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (!cluster) return std::fprintf(stderr, "mock_broker: cannot start the cluster\n"), 1;
  for (const auto& [name, partitions] : topics) {
    if (rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1)) {
      std::fprintf(stderr, "mock_broker: topic %s: %s\n", name.c_str(), rd_kafka_err2str(err));
      return 1;
    }
  }
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  std::printf("%s\n", bootstraps.c_str());
  std::fflush(stdout);
  if (!bootstraps_file.empty()) {
    std::string tmp = bootstraps_file + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f || std::fprintf(f, "%s\n", bootstraps.c_str()) < 0 || std::fclose(f) != 0 ||
        std::rename(tmp.c_str(), bootstraps_file.c_str()) != 0)
      return std::fprintf(stderr, "mock_broker: %s: %s\n", tmp.c_str(), std::strerror(errno)), 1;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  while (!stop) poll(nullptr, 0, 100);  // the brokers run on librdkafka's own threads
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}
