// libFuzzer target: bytes as a rules file read on top of the built-in rules. Whatever it reads,
// `exfilscan rules` prints as TOML that reads back as the same rules.
#include <exfilscan/rules/rules.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

using namespace exfilscan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const RuleSet built_in = default_rules();
  RuleSet rules = built_in;
  try {
    merge_rules(rules, std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  } catch (const RulesError&) {
    return 0;
  }
  // Not caught: printed rules that do not read back are a bug.
  const std::string text = rules_toml(rules);
  if (rules_toml(compile_complete_rules(text, "printed.toml")) != text) std::abort();
  return 0;
}
