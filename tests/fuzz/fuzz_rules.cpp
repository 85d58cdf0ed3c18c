// libFuzzer target: bytes as a rules file read on top of the built-in rules.
#include <exfilscan/rules/rules.h>

#include <cstddef>
#include <cstdint>
#include <string>

using namespace exfilscan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RuleSet built_in = default_rules();
  RuleSet rules = built_in;
  try {
    merge_rules(rules, std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
    describe_rules(rules);
  } catch (const RulesError&) {
  }
  return 0;
}
