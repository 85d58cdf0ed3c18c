// The flags of the Kafka input: what CLI11 fills, then the KafkaOptions resolved from them.
#include "cli/kafka_options.h"

#include <exfilscan/input/input.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <chrono>

namespace exfilscan::cli {

void add_kafka_flags(CLI::App& scan, Flags& f, bool stage) {
  scan.add_option("--kafka", f.kafka,
                  "Read the log records from Kafka instead of files: the bootstrap brokers "
                  "(host:port,...), with --topic and --group (docs/scale-out.md)");
  scan.add_option("--topic", f.topic, "With --kafka: the topic of log records, keyed by account");
  scan.add_option("--group", f.kafka_group,
                  "With --kafka: the consumer group; its members share the topic's partitions");
  scan.add_option("--kafka-config", f.kafka_config,
                  "With --kafka: a file of librdkafka properties (name=value lines: security, "
                  "timeouts, group.instance.id)");
  scan.add_option("--findings-topic", f.findings_topic,
                  "With --kafka: also produce the JSON-lines report to this topic on the same "
                  "brokers, a row a message keyed by its account");
  scan.add_flag("--kafka-until-end", f.kafka_until_end,
                "With --kafka: stop once every assigned partition is read to the end offset it "
                "had when assigned (a replay), then report");
  if (!stage)  // (the stage reads a replay, which waits for every partition)
    scan.add_option("--kafka-idle-timeout", f.kafka_idle_timeout,
                    "With --kafka: a partition caught up with its broker and without a record "
                    "this long is left out of the event-time merge until its next one (default "
                    "10s; docs/scale-out.md)")
        ->type_name("DURATION");
  scan.add_option("--profiles-topic", f.profiles_topic,
                  stage ? "The topic the members' scan --kafka --profiles-topic publish the keys' "
                          "profiles to: read to its end, then the records' topic"
                        : "With --kafka: publish the keys' link profiles to this topic at each "
                          "hour of event time for exfilscan campaigns, which then links and "
                          "judges the clusters of keys (this member links none)")
      ->type_name("TOPIC");
}

/// --kafka and its companions, checked together; the topic replaces the input paths.
void resolve_kafka(const Flags& f, bool stage, RunConfig& c) {
  if (stage &&
      (f.kafka.empty() || f.topic.empty() || f.kafka_group.empty() || f.profiles_topic.empty()))
    throw CLI::ValidationError(
        "campaigns needs --kafka BROKERS, --topic TOPIC (the records), --profiles-topic TOPIC "
        "(what the members of scan --kafka --profiles-topic publish) and --group GROUP");
  if (stage && !f.kafka_until_end)
    throw CLI::ValidationError(
        "campaigns reads a replay: give --kafka-until-end (a stage that follows a live stream "
        "is not built yet; docs/scale-out.md)");
  if (!f.profiles_topic.empty() && f.profiles_topic == f.topic)
    throw CLI::ValidationError(fmt::format(
        "--profiles-topic {} is the records' topic: give the profiles a topic of their own",
        f.profiles_topic));
  // The members' report rows would be read back as records, or as profiles by the stage.
  if (!f.findings_topic.empty() && f.findings_topic == f.topic)
    throw CLI::ValidationError(fmt::format(
        "--findings-topic {} is the records' topic: give the findings a topic of their own",
        f.findings_topic));
  if (!f.findings_topic.empty() && f.findings_topic == f.profiles_topic)
    throw CLI::ValidationError(fmt::format(
        "--findings-topic {} is the --profiles-topic: give the findings a topic of their own",
        f.findings_topic));
  if (f.kafka.empty()) {
    for (auto [flag, given] :
         {std::pair{"--topic", !f.topic.empty()}, std::pair{"--group", !f.kafka_group.empty()},
          std::pair{"--kafka-config", !f.kafka_config.empty()},
          std::pair{"--findings-topic", !f.findings_topic.empty()},
          std::pair{"--kafka-until-end", f.kafka_until_end},
          std::pair{"--state-dir", !f.state_dir.empty()},
          std::pair{"--kafka-idle-timeout", !f.kafka_idle_timeout.empty()},
          std::pair{"--profiles-topic", !f.profiles_topic.empty()}})
      if (given) throw CLI::ValidationError(fmt::format("{} needs --kafka BROKERS", flag));
    return;
  }
#ifndef EXFILSCAN_KAFKA
  throw CLI::ValidationError(
      "--kafka: this exfilscan was built without Kafka (cmake -DEXFILSCAN_KAFKA=ON)");
#endif
  if (f.topic.empty() || f.kafka_group.empty())
    throw CLI::ValidationError("--kafka needs --topic TOPIC and --group GROUP");
  if (!f.inputs.empty())
    throw CLI::ValidationError(fmt::format(
        "--kafka reads the topic {}: give no input files (got {})", f.topic, f.inputs.front()));
  KafkaOptions k;
  k.brokers = f.kafka;
  k.topic = f.topic;
  k.group = f.kafka_group;
  k.until_end = f.kafka_until_end;
  if (!f.kafka_idle_timeout.empty()) {
    auto idle = parse_duration(f.kafka_idle_timeout);
    if (!idle || *idle <= 0)
      throw CLI::ValidationError("--kafka-idle-timeout",
                                 "expected a duration such as 10s, 5m or 1h");
    k.idle_timeout =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(*idle));
  }
  if (!f.kafka_config.empty()) {
    try {
      k.config = read_kafka_config(f.kafka_config);
    } catch (const InputError& e) {
      throw CLI::ValidationError(fmt::format("--kafka-config: {}", e.what()));
    }
  }
  c.kafka = std::move(k);
  c.findings_topic = f.findings_topic;
  c.profiles_topic = f.profiles_topic;
}

}  // namespace exfilscan::cli
