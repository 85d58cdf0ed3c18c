// normalize's output: canonical, private by default, and stable under a second pass.
#include "test_util.h"

#include <exfilscan/report/canonical_writer.h>
#include <exfilscan/report/json_writer.h>

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {
std::string canonical(const std::string& line, bool prompts = false) {
  auto p = parse_line(line);
  REQUIRE(p->ok);
  std::string out;
  CanonicalWriter::format(p->event, {prompts}, out);
  return out;
}
}  // namespace

TEST_CASE("events are written in the canonical shape", "[writer]") {
  std::string line =
      R"({"latency_ms":812.5,"timestamp":"2026-11-02T15:03:11.482+01:00","api_key_id":"k\"1",)"
      R"("request":{"messages":[{"role":"user","content":"Say \"hi\"\n"}],"model":"gpt-4o","n":2,"logit_bias":{"9": 5 ,"10":-1}},)"
      R"("response":{"usage":{"completion_tokens":3}}})";
  CHECK(
      canonical(line) ==
      R"({"timestamp":"2026-11-02T14:03:11.482Z","api_key_id":"k\"1","request":{"model":"gpt-4o","n":2,)"
      R"("logit_bias":{"9":5,"10":-1}},"response":{"usage":{"completion_tokens":3}},"latency_ms":812.5,"turns":1})");
  CHECK(
      canonical(line, true) ==
      R"({"timestamp":"2026-11-02T14:03:11.482Z","api_key_id":"k\"1","request":{"model":"gpt-4o",)"
      R"("messages":[{"role":"user","content":"Say \"hi\"\n"}],"n":2,"logit_bias":{"9":5,"10":-1}},)"
      R"("response":{"usage":{"completion_tokens":3}},"latency_ms":812.5})");
}

TEST_CASE("prompt text is left out unless asked for", "[writer]") {
  std::string out = canonical(
      R"({"timestamp":1,"request":{"messages":[{"role":"user","content":"SECRET-123"}]}})");
  CHECK_THAT(out, !Catch::Contains("SECRET"));
}

TEST_CASE("legacy completions keep the integer logprobs", "[writer]") {
  CHECK_THAT(
      canonical(
          R"({"timestamp":1,"endpoint":"/v1/completions","request":{"logprobs":5,"echo":true}})"),
      Catch::Contains(R"("logprobs":5,"echo":true)"));
}

TEST_CASE("normalizing normalized output changes nothing", "[writer]") {
  for (
      const std::string& line : {
          std::string(
              R"({"timestamp":"2026-11-02 14:03:11.123456 UTC","org_id":"o","project_id":"p","user":"u","ip":"1.2.3.4",)"
              R"("user_agent":"ua","endpoint":"/v1/chat/completions","request":{"model":"m","temperature":0.3,"top_p":1,)"
              R"("max_tokens":5,"logprobs":true,"top_logprobs":3,"seed":-4,"stream":false,"best_of":2,)"
              R"("messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"x\u0001y"}]}]},)"
              R"("response":{"status":503,"usage":{"prompt_tokens":1,"completion_tokens":2,"completion_tokens_details":{"reasoning_tokens":3}}}})"),
          std::string(
              R"({"timestamp":1793628191.25,"endpoint":"/v1/completions","request":{"prompt":"p","logprobs":2}})"),
      }) {
    for (bool prompts : {false, true}) {
      std::string once = canonical(line, prompts);
      CHECK(canonical(once, prompts) == once);
    }
  }
}

TEST_CASE("invalid UTF-8 never reaches the output", "[writer]") {
  std::string out;
  append_json_string(out, "ok\xff\xc3");
  CHECK(out == "\"ok\xEF\xBF\xBD\xEF\xBF\xBD\"");
}
