// The canonical format through the real parser: inline lines in, exact event values out.
#include "test_util.h"

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {
const std::string canonical_example =
    R"({"timestamp":"2026-11-02T14:03:11.482Z","request_id":"req_8f3a","org_id":"org-7","project_id":"proj_2",)"
    R"("api_key_id":"key-91","user":"end-user-5","ip":"203.0.113.7","user_agent":"OpenAI/Python 1.52.0",)"
    R"("method":"POST","endpoint":"/v1/chat/completions",)"
    R"("request":{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Name a prime."}],)"
    R"("temperature":0.7,"max_tokens":1024,"n":1,"logprobs":true,"top_logprobs":5,"logit_bias":{"1734":-100}},)"
    R"("response":{"status":200,"usage":{"prompt_tokens":123,"completion_tokens":456,"total_tokens":579,)"
    R"("completion_tokens_details":{"reasoning_tokens":7}}},"latency_ms":812})";
}  // namespace

TEST_CASE("the canonical example line fills every field", "[parser][canonical]") {
  auto p = parse_line(canonical_example);
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(e.timestamp_ns == 1793628191482000000LL);
  CHECK(e.request_id == "req_8f3a");
  CHECK(e.org == "org-7");
  CHECK(e.project == "proj_2");
  CHECK(e.api_key == "key-91");
  CHECK(e.end_user == "end-user-5");
  CHECK(e.ip == "203.0.113.7");
  CHECK(e.user_agent == "OpenAI/Python 1.52.0");
  CHECK(e.endpoint == "/v1/chat/completions");
  CHECK(e.endpoint_kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o");
  CHECK(*e.status == 200);
  CHECK(*e.prompt_tokens == 123);
  CHECK(*e.completion_tokens == 456);
  CHECK(*e.reasoning_tokens == 7);
  CHECK(*e.latency_ms == 812);
  CHECK(*e.params.temperature == 0.7);
  CHECK(*e.params.max_tokens == 1024);
  CHECK(*e.params.n == 1);
  CHECK(*e.params.logprobs);
  CHECK(*e.params.top_logprobs == 5);
  CHECK(*e.params.logit_bias_entries == 1);
  CHECK(e.params.logit_bias_json == R"({"1734":-100})");
  CHECK_FALSE(e.params.echo);
  CHECK_FALSE(e.params.seed);
  CHECK(*e.turns == 1);
  CHECK(prompt_texts(e) == std::vector<std::string>{"S:Be brief.", "U:Name a prime."});
}

TEST_CASE("only the timestamp is required; absent fields stay absent", "[parser][canonical]") {
  auto p = parse_line(R"({"timestamp":1793628191,"surprise":{"a":[1,2,{"b":null}]}})");
  REQUIRE(p->ok);
  CHECK(p->event.timestamp_ns == 1793628191000000000LL);
  CHECK(p->event.api_key.empty());
  CHECK_FALSE(p->event.status);
  CHECK_FALSE(p->event.prompt_tokens);
  CHECK_FALSE(p->event.turns);
  CHECK(p->event.endpoint_kind == EndpointKind::unknown);
}

TEST_CASE("content as an array of parts keeps text and skips images", "[parser][canonical]") {
  auto p = parse_line(
      R"({"timestamp":"2026-11-02T14:03:11Z","request":{"messages":[)"
      R"({"role":"developer","content":[{"type":"text","text":"Rules."}]},)"
      R"({"role":"user","content":[{"type":"text","text":"Look:"},{"type":"image_url","image_url":{"url":"x"}}]},)"
      R"({"role":"assistant","content":"Sure."},{"content":"again","role":"user"}]}})");
  REQUIRE(p->ok);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"S:Rules.", "U:Look:", "U:again"});
  CHECK(*p->event.turns == 2);
}

TEST_CASE("the API's own turns in a history are not read, whatever their shape",
          "[parser][canonical]") {
  // Tool results and structured answers come in every shape; none of it is the caller's prompt.
  auto p = parse_line(
      R"({"timestamp":"2026-11-02T14:03:11Z","request":{"messages":[)"
      R"({"role":"user","content":"Weather?"},{"role":"assistant","content":null,"tool_calls":[]},)"
      R"({"role":"tool","content":{"temp":21}},{"role":"assistant","content":42},)"
      R"({"content":"Thanks","role":"user"}]}})");
  REQUIRE(p->ok);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:Weather?", "U:Thanks"});
  CHECK(*p->event.turns == 2);
}

TEST_CASE("legacy completions: integer logprobs, echo, best_of, prompt lists",
          "[parser][canonical]") {
  auto p = parse_line(
      R"({"timestamp":"2026-11-02T14:03:11Z","endpoint":"/v1/completions","request":{"model":"gpt-3.5-turbo-instruct",)"
      R"("prompt":["Q: one\nA:","Q: two\nA:"],"max_tokens":1,"logprobs":0,"echo":true,"best_of":3,"seed":42,"logit_bias":{"50256":-100,"11":5}}})");
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(e.endpoint_kind == EndpointKind::completion);
  CHECK(*e.params.logprobs);  // logprobs 0 still returns the sampled tokens' logprobs
  CHECK(*e.params.top_logprobs == 0);
  CHECK(*e.params.echo);
  CHECK(*e.params.best_of == 3);
  CHECK(*e.params.seed == 42);
  CHECK(*e.params.logit_bias_entries == 2);
  CHECK(*e.turns == 1);
  CHECK(prompt_texts(e) == std::vector<std::string>{"U:Q: one\nA:", "U:Q: two\nA:"});
}

TEST_CASE("token-id prompts are counted, not read as text", "[parser][canonical]") {
  auto flat = parse_line(R"({"timestamp":1793628191,"request":{"prompt":[1,2,3]}})");
  REQUIRE(flat->ok);
  CHECK(flat->event.token_array_prompts == 1);
  CHECK(flat->event.prompt.empty());
  auto nested = parse_line(R"({"timestamp":1793628191,"request":{"input":[[1,2],[3]]}})");
  REQUIRE(nested->ok);
  CHECK(nested->event.token_array_prompts == 2);
}

TEST_CASE("embeddings and the Responses API", "[parser][canonical]") {
  auto emb = parse_line(
      R"({"timestamp":1793628191,"endpoint":"/v1/embeddings","request":{"model":"text-embedding-3-small","input":["a","b"]},)"
      R"("response":{"usage":{"prompt_tokens":15,"total_tokens":15}}})");
  REQUIRE(emb->ok);
  CHECK(emb->event.endpoint_kind == EndpointKind::embedding);
  CHECK(prompt_texts(emb->event) == std::vector<std::string>{"U:a", "U:b"});
  CHECK_FALSE(emb->event.completion_tokens);

  // instructions after input still come first: they are the system prompt
  auto resp = parse_line(
      R"({"timestamp":1793628191,"endpoint":"/v1/responses","request":{"model":"o4-mini",)"
      R"("input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Solve x."}]}],)"
      R"("instructions":"Think step by step.","max_output_tokens":900},)"
      R"("response":{"usage":{"input_tokens":10,"output_tokens":800,"output_tokens_details":{"reasoning_tokens":600}}}})");
  REQUIRE(resp->ok);
  const Event& r = resp->event;
  CHECK(r.endpoint_kind == EndpointKind::responses);
  CHECK(prompt_texts(r) == std::vector<std::string>{"S:Think step by step.", "U:Solve x."});
  CHECK(*r.params.max_tokens == 900);
  CHECK(*r.prompt_tokens == 10);
  CHECK(*r.completion_tokens == 800);
  CHECK(*r.reasoning_tokens == 600);
}

TEST_CASE("logit_bias hash ignores key order and tells maps apart", "[parser][canonical]") {
  auto a = parse_line(R"({"timestamp":1,"request":{"logit_bias":{"1":10,"2":-100}}})");
  auto b = parse_line(R"({"timestamp":1,"request":{"logit_bias":{"2":-100,"1":10}}})");
  auto c = parse_line(R"({"timestamp":1,"request":{"logit_bias":{"1":10,"3":-100}}})");
  REQUIRE((a->ok && b->ok && c->ok));
  CHECK(a->event.params.logit_bias_hash == b->event.params.logit_bias_hash);
  CHECK(a->event.params.logit_bias_hash != c->event.params.logit_bias_hash);
  CHECK(a->event.params.logit_bias_hash != 0);
}

TEST_CASE("a request body held as a JSON string is parsed again", "[parser][canonical]") {
  auto p = parse_line(
      R"({"timestamp":1793628191,"request":"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\"}],\"n\":4}"})");
  REQUIRE(p->ok);
  CHECK(p->event.model == "m");
  CHECK(*p->event.params.n == 4);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:hi \"there\""});
}

TEST_CASE("numeric ids and numbers written as strings are accepted", "[parser][canonical]") {
  auto p = parse_line(
      R"({"timestamp":"1793628191","request_id":7413920461170052119,"api_key_id":42,"response":{"status":"429"}})");
  REQUIRE(p->ok);
  CHECK(p->event.request_id == "7413920461170052119");
  CHECK(p->event.api_key == "42");
  CHECK(*p->event.status == 429);
}

TEST_CASE("integers: plain digits and every other spelling JSON allows", "[parser][canonical]") {
  // Read through max_tokens: token counts themselves are also range-checked (below).
  auto tokens = [](const std::string& value) {
    return parse_line(R"({"timestamp":1793628191,"request":{"max_tokens":)" + value + "}}");
  };
  auto read = [&](const std::string& value) -> std::optional<int64_t> {
    auto p = tokens(value);
    REQUIRE(p->ok);
    return p->event.params.max_tokens;
  };
  CHECK(read("0") == 0);
  CHECK(read("7") == 7);
  CHECK(read(" 169 ") == 169);
  CHECK(read("999999999999999999") == 999999999999999999);  // 18 digits
  CHECK(read("9223372036854775807") == INT64_MAX);          // 19: the parser's way
  CHECK(read("-3") == -3);
  CHECK(read("5.0") == 5);
  CHECK(read("1e3") == 1000);
  CHECK(read("\"12\"") == 12);
  CHECK_FALSE(read("null"));
  for (std::string bad : {"0169", "12x", "1.5", "9223372036854775808", "true", "[1]"}) {
    CAPTURE(bad);
    CHECK_FALSE(tokens(bad)->ok);
  }
}

TEST_CASE("null means absent", "[parser][canonical]") {
  auto p = parse_line(
      R"({"timestamp":1793628191,"api_key_id":null,"request":{"n":null,"messages":null},"response":null,"latency_ms":null})");
  REQUIRE(p->ok);
  CHECK(p->event.api_key.empty());
  CHECK_FALSE(p->event.params.n);
  CHECK_FALSE(p->event.latency_ms);
}

namespace {
ParseError refused(const std::string& line, ParserOptions options = {}) {
  auto p = parse_line(line, std::move(options));
  REQUIRE_FALSE(p->ok);
  return p->error;
}
}  // namespace

TEST_CASE("bad input is refused with its reason and the field", "[parser][bad]") {
  SECTION("bad JSON") {
    CHECK(refused(R"({"timestamp":"2026-11-02T14:03:11Z",)").reason == BadLineReason::bad_json);
    CHECK(refused(R"({"timestamp":"2026-11-02T14:03:11Z"} trailing)").reason ==
          BadLineReason::bad_json);
    CHECK(refused(R"(["not","an","object"])").reason == BadLineReason::bad_json);
    CHECK(refused(R"({"timestamp":"2026-11-02T14:03:11Z","request":{"n":1)").reason ==
          BadLineReason::bad_json);
    CHECK(refused(R"({"timestamp":"2026-11-02T14:03:11Z","request":"{\"n\":"})").reason ==
          BadLineReason::bad_json);
  }
  SECTION("wrong types name the field") {
    ParseError e = refused(
        R"({"timestamp":"2026-11-02T14:03:11Z","response":{"usage":{"prompt_tokens":"many"}}})");
    CHECK(e.reason == BadLineReason::wrong_type);
    CHECK(e.detail == "response.usage.prompt_tokens: expected an integer");
    CHECK(refused(R"({"timestamp":1793628191,"api_key_id":{"id":1}})").detail ==
          "api_key_id: expected a string");
    CHECK(refused(R"({"timestamp":1793628191,"request":{"n":1.5}})").detail ==
          "request.n: expected an integer");
    CHECK(refused(R"({"timestamp":1793628191,"request":[1]})").detail ==
          "request: expected an object");
    CHECK(refused(R"({"timestamp":1793628191,"request":{"stream":"maybe"}})").reason ==
          BadLineReason::wrong_type);
  }
  SECTION("missing and bad timestamps") {
    CHECK(refused(R"({"api_key_id":"k"})").reason == BadLineReason::missing_timestamp);
    CHECK(refused(R"({"timestamp":null})").reason == BadLineReason::missing_timestamp);
    CHECK(refused(R"({"timestamp":""})").reason == BadLineReason::missing_timestamp);
    ParseError e = refused(R"({"timestamp":"2026-02-30T00:00:00Z"})");
    CHECK(e.reason == BadLineReason::bad_timestamp);
    CHECK(e.detail == "timestamp: \"2026-02-30T00:00:00Z\" is out of range");
    CHECK(refused(R"({"timestamp":"last tuesday"})").reason == BadLineReason::bad_timestamp);
    CHECK(refused(R"({"timestamp":true})").reason == BadLineReason::bad_timestamp);
    CHECK(refused(R"({"timestamp":-5})").reason == BadLineReason::bad_timestamp);
  }
  SECTION("invalid UTF-8") {
    CHECK(refused("{\"timestamp\":1793628191,\"user\":\"\xff\xfe\"}").reason ==
          BadLineReason::invalid_utf8);
    CHECK(refused("{\"timestamp\":1793628191,\"user\":\"\xc3\x28\"}").reason ==
          BadLineReason::invalid_utf8);
  }
}

TEST_CASE("a parser reused over many lines keeps no state between them", "[parser]") {
  LineParser parser({});
  Event event;
  ParseError error;
  std::string a = canonical_example + std::string(chunk_padding, '\0');
  std::string b = std::string(R"({"timestamp":1793628191})") + std::string(chunk_padding, '\0');
  REQUIRE(parser.parse(std::string_view(a.data(), canonical_example.size()), event, error));
  CHECK(event.prompt.size() == 2);
  REQUIRE(parser.parse(std::string_view(b.data(), 24), event, error));
  CHECK(event.prompt.empty());
  CHECK(event.api_key.empty());
  CHECK_FALSE(event.params.logit_bias_entries);
  CHECK(event.params.logit_bias_json.empty());
}

TEST_CASE("without prompt text, turns and parameters are still read", "[parser]") {
  ParserOptions o;
  o.read_prompt_text = false;
  auto p = parse_line(
      R"({"timestamp":1793628191,"request":{"instructions":"sys","messages":[{"role":"system","content":"s"},)"
      R"({"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":"b"},)"
      R"({"role":"user","content":"c"}],"n":3,"logit_bias":{"5":1}}})",
      o);
  REQUIRE(p->ok);
  CHECK(p->event.prompt.empty());
  CHECK(*p->event.turns == 2);
  CHECK(*p->event.params.n == 3);
  CHECK(*p->event.params.logit_bias_entries == 1);
  auto legacy = parse_line(R"({"timestamp":1793628191,"request":{"prompt":"x","echo":true}})", o);
  REQUIRE(legacy->ok);
  CHECK(*legacy->event.turns == 1);
  CHECK(*legacy->event.params.echo);
}

TEST_CASE("content that starts with a bracket is text, not JSON", "[parser][regression]") {
  // Found on the peer kit's logs: pasted templates and code were parsed as JSON and the lines
  // refused as wrong_type or bad_json.
  auto p = parse_line(
      R"({"timestamp":1793628191,"request":{"system":"{not json","messages":[)"
      R"({"role":"user","content":"{{ item }}</span> and more"},{"role":"user","content":"[1, 2"},)"
      R"({"role":"user","content":"{\"key\": \"value\"}"}]}})");
  REQUIRE(p->ok);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"S:{not json",
                                                           "U:{{ item }}</span> and more",
                                                           "U:[1, 2", "U:{\"key\": \"value\"}"});
  // LiteLLM: a text-completion prompt in `messages` that merely starts with a bracket.
  auto l = parse_line(
      R"({"call_type":"atext_completion","startTime":1777622400,"messages":"[draft] write a poem"})");
  REQUIRE(l->ok);
  CHECK(prompt_texts(l->event) == std::vector<std::string>{"U:[draft] write a poem"});
}

TEST_CASE("keys with escapes and of every length are told apart", "[parser][canonical]") {
  // Unknown keys with escaped quotes and backslashes, some eight bytes long, before the known
  // ones: each key must end at its real closing quote.
  auto p = parse_line(
      R"({"a\"b":1,"x\\":2,"\\\"\"":3,"12345678":4,"api_key_\u0031":5,"timestamp_":6,)"
      R"("timestamp":"2026-11-02T14:03:11Z","api_key_id":"k","org_id":"o","user_agent\\":"u"})");
  REQUIRE(p->ok);
  CHECK(p->event.api_key == "k");
  CHECK(p->event.org == "o");
  CHECK(p->event.user_agent.empty());
  // Keys around and past 32 bytes (the block a key's end is searched in), an escape beyond the
  // first block, and a backslash in the value right after a key.
  auto q = parse_line(
      R"({"0123456789012345678901234567890":1,"01234567890123456789012345678901":2,)"
      R"("012345678901234567890123456789012":3,"long_key_with_an_escape_after_32_bytes\"x":4,)"
      R"("timestamp":"2026-11-02T14:03:11Z","org_id":"o\\","api_key_id":"k\"q",)"
      R"("an_unknown_key_well_over_thirty_two_bytes_long_api_key_id":"no"})");
  REQUIRE(q->ok);
  CHECK(q->event.org == "o\\");
  CHECK(q->event.api_key == "k\"q");
}

TEST_CASE("without prompt text or turns the conversation is skipped whole", "[parser][canonical]") {
  std::string line =
      R"({"timestamp":"2026-11-02T14:03:11Z","api_key_id":"k","request":{"model":"m",)"
      R"("messages":[{"role":"user","content":"a"},{"role":["user"],"content":"b"}],"temperature":0.3},)"
      R"("response":{"usage":{"completion_tokens":9}}})";
  ParserOptions with_turns;
  with_turns.read_prompt_text = false;
  auto counted = parse_line(line, with_turns);
  // Counting turns reads every message's role: the one with a list for a role is refused.
  CHECK_FALSE(counted->ok);
  ParserOptions neither = with_turns;
  neither.read_turns = false;
  auto skipped = parse_line(line, neither);
  REQUIRE(skipped->ok);
  CHECK_FALSE(skipped->event.turns);
  CHECK(skipped->event.prompt.empty());
  CHECK(*skipped->event.params.temperature == 0.3);  // the fields after it are still read
  CHECK(*skipped->event.completion_tokens == 9);
}

TEST_CASE("strings with and without escapes read the same as unescaped text",
          "[parser][canonical]") {
  // Strings without an escape are taken where they lie in the line; the others are unescaped.
  auto p = parse_line(R"({ "timestamp" : "2026-11-02T14:03:11Z" , "api_key_id" : "plain key"  ,)"
                      R"( "org_id":"o\u00e9\"x" , "request":{"messages":[)"
                      R"({"role":"user","content":"line one\nline \"two\"\ttab"},)"
                      R"({"role":"user","content" :  "no escapes at all, just text"   }]}})");
  REQUIRE(p->ok);
  CHECK(p->event.api_key == "plain key");
  CHECK(p->event.org == "o\xC3\xA9\"x");
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:line one\nline \"two\"\ttab",
                                                           "U:no escapes at all, just text"});
}

TEST_CASE("token counts no request can have are refused, not summed (issue 17)", "[parser]") {
  // 300 lines of 9223372036854775807 completion tokens wrapped the totals past 2^64.
  for (std::string count : {"9223372036854775807", "1000000001", "-5"}) {
    auto p = parse_line(R"({"timestamp":"2026-11-02T10:00:00Z","api_key_id":"k",)"
                        R"("response":{"status":200,"usage":{"completion_tokens":)" +
                        count + "}}}");
    CHECK_FALSE(p->ok);
    CHECK(p->error.reason == BadLineReason::implausible_value);
    CHECK_THAT(p->error.detail, Catch::Contains("completion_tokens is " + count));
  }
  auto ok = parse_line(R"({"timestamp":"2026-11-02T10:00:00Z","api_key_id":"k",)"
                       R"("response":{"status":200,"usage":{"prompt_tokens":1000000000}}})");
  CHECK(ok->ok);
}

TEST_CASE("a negative latency is left out and said to be while the event is kept (issue 18)",
          "[parser][regression]") {
  // Azure's resource logs write durationMs -1021 now and then; a LiteLLM endTime may come
  // before its startTime; a canonical latency_ms may be negative.
  for (
      std::string line :
      {std::string(
           R"({"time":"2026-05-02T08:00:05.5000000Z","resourceId":"/X","operationName":)"
           R"("ChatCompletions_Create","correlationId":"az-neg","durationMs":-1021,"resultSignature":"200"})"),
       std::string(R"({"call_type":"acompletion","startTime":"2026-05-02T08:00:05Z","endTime":)"
                   R"("2026-05-02T08:00:04Z","status":"success"})"),
       std::string(R"({"timestamp":"2026-05-02T08:00:05Z","latency_ms":-0.5})")}) {
    auto p = parse_line(line);
    INFO(line);
    REQUIRE(p->ok);
    CHECK_FALSE(p->event.latency_ms);
    REQUIRE(p->parser->left_out().size() == 1);
    CHECK(p->parser->left_out()[0].reason == BadLineReason::implausible_value);
    CHECK_THAT(p->parser->left_out()[0].detail, Catch::StartsWith("latency_ms is -"));
  }
  auto zero = parse_line(R"({"timestamp":"2026-05-02T08:00:05Z","latency_ms":0})");
  REQUIRE(zero->ok);
  CHECK(*zero->event.latency_ms == 0);
  CHECK(zero->parser->left_out().empty());
}
