// libFuzzer target: bytes as a state payload (the part under the file's checksum, which holds
// for any bytes an attacker or a broken disk writes), loaded into an engine that then runs on.
#include <exfilscan/engine/engine.h>
#include <exfilscan/rules/rules.h>
#include <exfilscan/state.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace exfilscan;

namespace {
struct Drop : FindingSink {
  void on_finding(const Finding&) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RuleSet rules = default_rules();
  Drop sink;
  DetectionEngine engine(rules, {}, sink);
  try {
    StateReader in(std::string_view(reinterpret_cast<const char*>(data), size));
    engine.load_state(in);
  } catch (const StateError&) {
    return 0;
  }
  // A state that loads must also be safe to run on and to save again.
  Event e;
  e.timestamp_ns = 1'793'628'191'000'000'000;
  e.api_key = "k";
  e.completion_tokens = 100;
  for (int i = 0; i < 3; ++i, e.timestamp_ns += 3'600'000'000'000) engine.on_event(e);
  engine.finish();
  StateWriter out;
  engine.save_state(out);
  return 0;
}
