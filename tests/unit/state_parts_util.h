#pragma once
// Engine states split by Kafka partition (--state-dir), as the partial-state tests use them.

#include <exfilscan/engine/engine.h>
#include <exfilscan/input/kafka.h>
#include <exfilscan/state.h>

#include <string>
#include <string_view>

namespace exfilscan::test {

constexpr int32_t partitions = 4;

/// The keys murmur2 places on partition `p` of `partitions`.
inline DetectionEngine::KeyFilter on_partition(int32_t p) {
  return [p](std::string_view key) { return kafka_partition(key, partitions) == p; };
}

/// The engine's whole state.
inline std::string bytes_of(const DetectionEngine& e) {
  StateWriter w;
  e.save_state(w);
  return w.data();
}

}  // namespace exfilscan::test
