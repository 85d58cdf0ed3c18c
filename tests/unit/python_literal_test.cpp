// Python's repr of dicts and lists as JSON: LiteLLM's older loggers wrote their values so
// (issue 18).
#include "parse/python_literal.h"

#include <catch2/catch.hpp>

#include <string>

using exfilscan::detail::python_literal_to_json;

namespace {

std::string json(std::string_view in) {
  std::string out;
  return python_literal_to_json(in, out) ? out : "(refused)";
}

}  // namespace

TEST_CASE("dicts, lists, tuples and constants", "[python_literal]") {
  CHECK(json("{'a': 1, 'b': [1, 2.5, -3e2], 'c': (1,), 'd': {}}") ==
        R"({"a":1,"b":[1,2.5,-3e2],"c":[1],"d":{}})");
  CHECK(json("[True, False, None]") == "[true,false,null]");
  CHECK(json("{1: 'one'}") == R"({"1":"one"})");
  CHECK(json("[.5, 5.]") == "[0.5,5.0]");
  CHECK(json(" [ ] ") == "[]");
}

TEST_CASE("strings in either quote, with their escapes", "[python_literal]") {
  CHECK(json(R"(["You're", 'say "hi"'])") == R"(["You're","say \"hi\""])");
  CHECK(json(R"(['a\nb\tc', 'it\'s', 'back\\slash'])") == R"(["a\nb\tc","it's","back\\slash"])");
  CHECK(json(R"(['\x41\u00e9\U0001F600'])") == "[\"A\xc3\xa9\xf0\x9f\x98\x80\"]");
  CHECK(json("['caf\xc3\xa9']") == "[\"caf\xc3\xa9\"]");  // UTF-8 passes as it is
  CHECK(json(R"(['\x01'])") == R"(["\u0001"])");
}

TEST_CASE("anything but one whole literal is refused", "[python_literal]") {
  CHECK(json("Usage(prompt_tokens=10)") == "(refused)");
  CHECK(json("[Message(content='x')]") == "(refused)");
  CHECK(json("{'a': 1") == "(refused)");
  CHECK(json("['open") == "(refused)");
  CHECK(json("[1] [2]") == "(refused)");
  CHECK(json("{'a' 1}") == "(refused)");
  CHECK(json(R"({"a": true})") == "(refused)");  // JSON, read as JSON instead
  CHECK(json(std::string(100, '[') + std::string(100, ']')) == "(refused)");  // too deep
}
