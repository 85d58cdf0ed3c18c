// Gateway and provider formats (shapes from docs/log-format.md), sniffed per line or forced.
#include "test_util.h"

#include <exfilscan/parse/field_map.h>

#include <catch2/catch.hpp>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

// LiteLLM_SpendLogs row: JSON-in-strings for the request and metadata, ISO startTime.
const std::string spendlogs =
    R"({"request_id":"chatcmpl-A1","call_type":"acompletion","api_key":"5e1f0c","spend":1.2e-05,)"
    R"("total_tokens":60,"prompt_tokens":20,"completion_tokens":40,"startTime":"2026-05-01T08:00:00.250Z",)"
    R"("endTime":"2026-05-01T08:00:01.000Z","request_duration_ms":750,"model":"gpt-4o-mini-2024-07-18",)"
    R"("model_group":"gpt-4o-mini","user":"owner_1",)"
    R"("metadata":"{\"user_api_key\":\"5e1f0c\",\"user_api_key_org_id\":\"org-lab\",\"user_api_key_team_id\":\"team-x\",)"
    R"(\"requester_ip_address\":\"198.51.100.4\",\"additional_usage_values\":{\"completion_tokens_details\":{\"reasoning_tokens\":11}}}",)"
    R"("cache_hit":"False","team_id":"team-x","organization_id":"org-lab","end_user":"cust-3",)"
    R"("requester_ip_address":"198.51.100.4","messages":"{}","response":"{}","status":"success",)"
    R"("proxy_server_request":"{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Translate to French: good night\"}], \"n\": 3, \"logprobs\": true, \"top_logprobs\": 2}"})";

// StandardLoggingPayload: float epoch startTime, messages and model_parameters as objects.
const std::string payload =
    R"({"id":"chatcmpl-B2","trace_id":"t-1","call_type":"acompletion","stream":true,"status":"failure",)"
    R"("total_tokens":0,"prompt_tokens":0,"completion_tokens":0,"startTime":1777622400.5,"endTime":1777622401.25,)"
    R"("model":"claude-x","model_group":"smart","metadata":{"user_api_key_hash":"9ab3","user_api_key_org_id":"org-2",)"
    R"("user_api_key_team_id":"team-9","user_api_key_end_user_id":"cust-8","user_api_key_request_route":"/v1/chat/completions",)"
    R"("requester_ip_address":"192.0.2.9"},"user_agent":"curl/8.1","messages":[{"role":"system","content":"Terse."},)"
    R"({"role":"user","content":"Why?"}],"model_parameters":{"temperature":0.2,"max_completion_tokens":64,"seed":7},)"
    R"("error_information":{"error_code":"429","error_class":"RateLimitError"}})";

const std::string bedrock_converse =
    R"({"schemaType":"ModelInvocationLog","schemaVersion":"1.0","timestamp":"2026-05-01T09:30:00Z","accountId":"210987654321",)"
    R"("identity":{"arn":"arn:aws:sts::210987654321:assumed-role/batch/i-1"},"region":"us-west-2","requestId":"rq-77",)"
    R"("operation":"Converse","modelId":"anthropic.claude-3-haiku","input":{"inputContentType":"application/json",)"
    R"("inputBodyJson":{"messages":[{"role":"user","content":[{"text":"List three rivers."}]}],"system":[{"text":"Be exact."}],)"
    R"("inferenceConfig":{"maxTokens":200,"temperature":0.5,"topP":0.9}},"inputTokenCount":12},)"
    R"("output":{"outputContentType":"application/json","outputBodyJson":{"output":{"message":{"role":"assistant",)"
    R"("content":[{"text":"Nile"}]}},"metrics":{"latencyMs":321},"usage":{"inputTokens":12,"outputTokens":30}},"outputTokenCount":30}})";

}  // namespace

TEST_CASE("LiteLLM SpendLogs rows", "[adapter][litellm]") {
  auto p = parse_line(spendlogs);
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(p->parser->last_format() == InputFormat::litellm);
  CHECK(e.timestamp_ns == 1777622400250000000LL);
  CHECK(e.request_id == "chatcmpl-A1");
  CHECK(e.api_key == "5e1f0c");
  CHECK(e.org == "org-lab");
  CHECK(e.project == "team-x");
  CHECK(e.end_user == "cust-3");
  CHECK(e.ip == "198.51.100.4");
  CHECK(e.endpoint == "acompletion");
  CHECK(e.endpoint_kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o-mini");
  CHECK(*e.status == 200);
  CHECK(*e.prompt_tokens == 20);
  CHECK(*e.completion_tokens == 40);
  CHECK(*e.reasoning_tokens == 11);
  CHECK(*e.latency_ms == 750);
  CHECK(*e.params.n == 3);
  CHECK(*e.params.logprobs);
  CHECK(*e.params.top_logprobs == 2);
  CHECK(prompt_texts(e) == std::vector<std::string>{"U:Translate to French: good night"});
}

TEST_CASE("LiteLLM StandardLoggingPayload", "[adapter][litellm]") {
  auto p = parse_line(payload);
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(e.timestamp_ns == 1777622400500000000LL);
  CHECK(e.request_id == "chatcmpl-B2");
  CHECK(e.api_key == "9ab3");
  CHECK(e.org == "org-2");
  CHECK(e.project == "team-9");
  CHECK(e.end_user == "cust-8");
  CHECK(e.ip == "192.0.2.9");
  CHECK(e.user_agent == "curl/8.1");
  CHECK(e.endpoint == "/v1/chat/completions");
  CHECK(e.model == "smart");
  CHECK(*e.status == 429);
  CHECK(*e.latency_ms == 750);
  CHECK(*e.params.stream);
  CHECK(*e.params.temperature == 0.2);
  CHECK(*e.params.max_tokens == 64);
  CHECK(*e.params.seed == 7);
  CHECK(prompt_texts(e) == std::vector<std::string>{"S:Terse.", "U:Why?"});
}

TEST_CASE("wild numbers in a payload are read without overflow (issue 17)", "[adapter][litellm]") {
  // A 20-digit error_code is no status (and was multiplied out past int64, undefined under
  // UBSan); a logit_bias of 1e300 was cast to int64 for its hash.
  std::string wild = payload;
  wild.replace(wild.find("\"429\""), 5, "\"18446744073709551616\"");
  wild.replace(wild.find("\"seed\":7"), 8,
               "\"seed\":7,\"logit_bias\":{\"50256\":1e300,\"11\":-1e300}");
  auto p = parse_line(wild);
  REQUIRE(p->ok);
  CHECK(*p->event.status == 429);  // from error_class, RateLimitError (issue 18)
  CHECK(*p->event.params.logit_bias_entries == 2);
}

TEST_CASE("Bedrock Converse", "[adapter][bedrock]") {
  auto p = parse_line(bedrock_converse);
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(p->parser->last_format() == InputFormat::bedrock);
  CHECK(e.timestamp_ns == 1777627800000000000LL);
  CHECK(e.org == "210987654321");
  CHECK(e.api_key == "arn:aws:sts::210987654321:assumed-role/batch/i-1");
  CHECK(e.request_id == "rq-77");
  CHECK(e.endpoint_kind == EndpointKind::chat);
  CHECK(e.model == "anthropic.claude-3-haiku");
  CHECK(*e.status == 200);
  CHECK(*e.prompt_tokens == 12);
  CHECK(*e.completion_tokens == 30);
  CHECK(*e.latency_ms == 321);
  CHECK(*e.params.max_tokens == 200);
  CHECK(*e.params.top_p == 0.9);
  CHECK(prompt_texts(e) == std::vector<std::string>{"S:Be exact.", "U:List three rivers."});
}

TEST_CASE("Bedrock InvokeModel shapes and errors", "[adapter][bedrock]") {
  auto anthropic = parse_line(
      R"({"schemaType":"ModelInvocationLog","timestamp":"2026-05-01T09:30:00Z","operation":"InvokeModel",)"
      R"("errorCode":"ThrottlingException","input":{"inputBodyJson":{"anthropic_version":"bedrock-2023-05-31",)"
      R"("max_tokens":50,"system":"Sys.","messages":[{"role":"user","content":"Plain string"}]},"inputTokenCount":5}})");
  REQUIRE(anthropic->ok);
  CHECK(*anthropic->event.status == 429);
  CHECK(*anthropic->event.params.max_tokens == 50);
  CHECK(prompt_texts(anthropic->event) == std::vector<std::string>{"S:Sys.", "U:Plain string"});

  auto titan = parse_line(
      R"({"schemaType":"ModelInvocationLog","timestamp":"2026-05-01T09:30:00Z","operation":"InvokeModel",)"
      R"("input":{"inputBodyJson":{"inputText":"Summarise: x","textGenerationConfig":{"maxTokenCount":99}}},)"
      R"("output":{"outputBodyJson":[{"chunk":1}],"outputTokenCount":9}})");
  REQUIRE(titan->ok);
  CHECK(*titan->event.params.max_tokens == 99);
  CHECK(*titan->event.completion_tokens == 9);
  CHECK(prompt_texts(titan->event) == std::vector<std::string>{"U:Summarise: x"});
}

TEST_CASE("a forced format does not sniff", "[adapter]") {
  ParserOptions canonical;
  canonical.format = InputFormat::canonical;
  auto p = parse_line(spendlogs, canonical);
  REQUIRE_FALSE(p->ok);
  CHECK(p->error.reason == BadLineReason::missing_timestamp);

  ParserOptions bedrock;
  bedrock.format = InputFormat::bedrock;
  auto b = parse_line(bedrock_converse, bedrock);
  CHECK(b->ok);
}

TEST_CASE("mapped formats read JSON pointers in one pass", "[adapter][mapped]") {
  const std::string helicone =
      R"({"request_id":"6f9d","request_created_at":"2026-05-01 10:00:00.125","request_path":"/v1/chat/completions",)"
      R"("request_user_id":"cust-1","request_properties":{"env":"prod"},"response_status":200,"delay_ms":640,)"
      R"("prompt_tokens":28,"completion_tokens":4,"request_body":{"model":"gpt-4o-mini","messages":[)"
      R"({"role":"user","content":"Capital of Peru?"}],"n":2},"response_body":{"usage":{"prompt_tokens":28,"completion_tokens":4,)"
      R"("completion_tokens_details":{"reasoning_tokens":3}}}})";
  ParserOptions o;
  for (const char* m :
       {"timestamp=/request_created_at", "request_id=/request_id", "user=/request_user_id",
        "api_key=/request_properties/env", "endpoint=/request_path", "status=/response_status",
        "latency_ms=/delay_ms", "request=/request_body", "usage=/response_body/usage"})
    o.field_map.add(m);
  auto p = parse_line(helicone, o);
  REQUIRE(p->ok);
  const Event& e = p->event;
  CHECK(e.timestamp_ns == 1777629600125000000LL);
  CHECK(e.request_id == "6f9d");
  CHECK(e.end_user == "cust-1");
  CHECK(e.api_key == "prod");
  CHECK(e.endpoint_kind == EndpointKind::chat);
  CHECK(*e.status == 200);
  CHECK(*e.latency_ms == 640);
  CHECK(*e.reasoning_tokens == 3);
  CHECK(*e.params.n == 2);
  CHECK(e.model == "gpt-4o-mini");
  CHECK(prompt_texts(e) == std::vector<std::string>{"U:Capital of Peru?"});
}

TEST_CASE("pointers go through JSON held in strings, arrays and escapes", "[adapter][mapped]") {
  // Azure APIM keeps the request body as a string inside properties.
  const std::string apim =
      R"({"time":"2026-05-01T10:00:00.7310000Z","properties":{"apimSubscriptionId":"sub-1",)"
      R"("requestBody":"{\"messages\":[{\"role\":\"user\",\"content\":\"Hola\"}],\"logprobs\":true}",)"
      R"("responseCode":429},"a/b":{"x~y":"odd-key"},"list":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2"}]})";
  ParserOptions o;
  o.field_map.add("timestamp=/time");
  o.field_map.add("api_key=/properties/apimSubscriptionId");
  o.field_map.add("request=/properties/requestBody");
  o.field_map.add("status=/properties/responseCode");
  o.field_map.add("user=/a~1b/x~0y");
  o.field_map.add("ip=/list/1/ip");
  auto p = parse_line(apim, o);
  REQUIRE(p->ok);
  CHECK(p->event.api_key == "sub-1");
  CHECK(*p->event.status == 429);
  CHECK(*p->event.params.logprobs);
  CHECK(p->event.end_user == "odd-key");
  CHECK(p->event.ip == "10.0.0.2");
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:Hola"});
}

TEST_CASE("a map over a known format adds fields; a value can also be walked into",
          "[adapter][mapped]") {
  ParserOptions o;
  o.format = InputFormat::bedrock;
  o.field_map.add("user=/requestMetadata/team");
  auto p = parse_line(R"({"schemaType":"ModelInvocationLog","timestamp":"2026-05-01T09:30:00Z",)"
                      R"("identity":{"arn":"arn:1"},"requestMetadata":{"team":"research"}})",
                      o);
  REQUIRE(p->ok);
  CHECK(p->event.api_key == "arn:1");
  CHECK(p->event.end_user == "research");

  ParserOptions nested;
  nested.field_map.add("timestamp=/ts");
  nested.field_map.add("request=/body");
  nested.field_map.add("api_key=/body/user");
  auto q = parse_line(R"({"ts":1777622400,"body":{"user":"u-5","prompt":"Hi","n":2}})", nested);
  REQUIRE(q->ok);
  CHECK(q->event.api_key == "u-5");
  CHECK(*q->event.params.n == 2);
  CHECK(prompt_texts(q->event) == std::vector<std::string>{"U:Hi"});
}

TEST_CASE("a mapping without its timestamp reports so", "[adapter][mapped]") {
  ParserOptions o;
  o.field_map.add("timestamp=/ts");
  auto p = parse_line(R"({"time":1777622400})", o);
  REQUIRE_FALSE(p->ok);
  CHECK(p->error.reason == BadLineReason::missing_timestamp);
  CHECK(p->error.detail == "the mapped timestamp pointer found nothing");
}

TEST_CASE("malformed mappings are refused with where they came from", "[adapter][mapped]") {
  FieldMap m;
  CHECK_THROWS_WITH(m.add("timestamp"), Catch::Contains("expected FIELD=/json/pointer"));
  CHECK_THROWS_WITH(m.add("stamp=/ts"), Catch::Contains("unknown field \"stamp\""));
  CHECK_THROWS_WITH(m.add("timestamp=ts"), Catch::Contains("starts with '/'"));
  CHECK_THROWS_WITH(m.add("timestamp=/a~2"), Catch::Contains("'~' must be followed"));
  TempFile file("# comment\n\ntimestamp=/ts\napi_key = /k\nbogus=/x\n", ".map");
  FieldMap from_file;
  CHECK_THROWS_WITH(from_file.load_file(file.path()), Catch::Contains(file.path() + ":5:"));
  CHECK(from_file.entries.size() == 2);
  CHECK(from_file.entries[1].pointer == "/k");
}

TEST_CASE("Helicone exports are sniffed and read through their built-in map",
          "[adapter][presets]") {
  auto p = parse_line(
      R"({"request_id":"hc-1","request_created_at":"2026-05-01 10:00:00.125","request_path":"/v1/chat/completions",)"
      R"("request_user_id":"cust-7","request_model":"gpt-4o-mini","response_status":429,"delay_ms":640,)"
      R"("prompt_tokens":28,"completion_tokens":0,"request_body":{"model":"gpt-4o-mini","messages":[)"
      R"({"role":"user","content":"Name three rivers."}],"n":3,"logprobs":true},"response_body":{"error":"rate"}})");
  REQUIRE(p->ok);
  CHECK(p->parser->last_format() == InputFormat::helicone);
  CHECK(p->event.timestamp_ns == 1777629600125000000LL);
  CHECK(p->event.request_id == "hc-1");
  CHECK(p->event.end_user == "cust-7");
  CHECK(*p->event.status == 429);
  CHECK(*p->event.latency_ms == 640);
  CHECK(*p->event.params.n == 3);
  CHECK(p->event.endpoint_kind == EndpointKind::chat);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:Name three rivers."});
}

TEST_CASE("Langfuse observations: prompt and parameters held as JSON strings",
          "[adapter][presets]") {
  auto p = parse_line(
      R"({"id":"obs-1","trace_id":"t-1","project_id":"proj-9","type":"GENERATION","start_time":"2026-05-01 10:00:00.500000",)"
      R"("metadata":{"user_api_key_hash":"ab12","requester_ip_address":"192.0.2.4"},)"
      R"("input":"[{\"role\":\"system\",\"content\":\"Be terse.\"},{\"role\":\"user\",\"content\":\"Why is the sky blue?\"}]",)"
      R"("provided_model_name":"gpt-4o-mini","model_parameters":"{\"temperature\":0.0,\"n\":2,\"logprobs\":true}",)"
      R"("usage_details":{"input":20,"output":300,"output_reasoning_tokens":40},"latency":1.5,"user_id":"cust-2"})");
  REQUIRE(p->ok);
  CHECK(p->parser->last_format() == InputFormat::langfuse);
  CHECK(p->event.request_id == "obs-1");
  CHECK(p->event.project == "proj-9");
  CHECK(p->event.api_key == "ab12");
  CHECK(p->event.ip == "192.0.2.4");
  CHECK(p->event.end_user == "cust-2");
  CHECK(p->event.model == "gpt-4o-mini");
  CHECK(*p->event.prompt_tokens == 20);
  CHECK(*p->event.completion_tokens == 300);
  CHECK(*p->event.reasoning_tokens == 40);
  CHECK(*p->event.params.n == 2);
  CHECK(*p->event.params.logprobs);
  CHECK(prompt_texts(p->event) ==
        std::vector<std::string>{"S:Be terse.", "U:Why is the sky blue?"});
}

TEST_CASE("Portkey exports", "[adapter][presets]") {
  auto p = parse_line(
      R"({"created_at":"2026-05-01T10:00:00.000Z","trace_id":"pk-1","request":{"body":{"model":"gpt-4o",)"
      R"("messages":[{"role":"user","content":"Summarise this."}],"max_tokens":900}},"response":{"body":{"usage":)"
      R"({"prompt_tokens":9,"completion_tokens":800,"completion_tokens_details":{"reasoning_tokens":100}}}},)"
      R"("is_success":1,"ai_org":"openai","ai_model":"gpt-4o","req_units":9,"res_units":800,)"
      R"("request_url":"https://api.openai.com/v1/chat/completions","response_status_code":200,"response_time":2100,)"
      R"("virtual_key":"openai-prod","metadata":{"_user":"cust-3"}})");
  REQUIRE(p->ok);
  CHECK(p->parser->last_format() == InputFormat::portkey);
  CHECK(p->event.api_key == "openai-prod");
  CHECK(p->event.end_user == "cust-3");
  CHECK(*p->event.completion_tokens == 800);
  CHECK(*p->event.reasoning_tokens == 100);
  CHECK(*p->event.latency_ms == 2100);
  CHECK(*p->event.params.max_tokens == 900);
  CHECK(p->event.endpoint_kind == EndpointKind::chat);
}

TEST_CASE("Azure resource logs and API Management gateway logs", "[adapter][presets]") {
  auto native = parse_line(
      R"({"time":"2026-05-01T10:00:00.7310000Z","resourceId":"/SUBSCRIPTIONS/X/ACCOUNTS/AOAI","category":"RequestResponse",)"
      R"("operationName":"ChatCompletions_Create","callerIpAddress":"203.0.113.***","correlationId":"c-1",)"
      R"("durationMs":827,"resultSignature":"200","properties":{"modelName":"gpt-4o-mini","objectId":"oid-5"}})");
  REQUIRE(native->ok);
  CHECK(native->parser->last_format() == InputFormat::azure);
  CHECK(native->event.timestamp_ns == 1777629600731000000LL);
  CHECK(*native->event.status == 200);
  CHECK(native->event.model == "gpt-4o-mini");
  CHECK(native->event.end_user == "oid-5");
  CHECK(native->event.endpoint_kind == EndpointKind::chat);

  auto apim = parse_line(
      R"({"time":"2026-05-01T10:00:00Z","resourceId":"/APIM","category":"GatewayLogs","callerIpAddress":"203.0.113.7",)"
      R"("correlationId":"c-2","durationMs":851,"isRequestSuccess":true,"properties":{"operationId":"ChatCompletions_Create",)"
      R"("apimSubscriptionId":"research-sub","requestBody":"{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"n\":2}",)"
      R"("responseBody":"{\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5}}","responseCode":200}})");
  REQUIRE(apim->ok);
  CHECK(apim->parser->last_format() == InputFormat::azure_apim);
  CHECK(apim->event.api_key == "research-sub");
  CHECK(apim->event.ip == "203.0.113.7");
  CHECK(*apim->event.params.n == 2);
  CHECK(*apim->event.completion_tokens == 5);
  CHECK(prompt_texts(apim->event) == std::vector<std::string>{"U:Hi"});
}

// ---- issue 18: records as the systems publish them ------------------------------------------

TEST_CASE("Bedrock guardContent text is prompt text (issue 18)", "[adapter][bedrock][regression]") {
  // Converse with a guardrail: the text to judge sits in a guardContent block, also in system.
  auto p = parse_line(
      R"({"schemaType":"ModelInvocationLog","timestamp":"2026-05-02T08:00:00Z","operation":"Converse",)"
      R"("input":{"inputBodyJson":{"system":[{"guardContent":{"text":{"text":"Stay on rivers."}}}],)"
      R"("messages":[{"role":"user","content":[{"guardContent":{"text":{"text":"Which sea does the Rhine reach?",)"
      R"("qualifiers":["guard_content"]}}}]}],"guardrailConfig":{"guardrailIdentifier":"gr-1"}}}})");
  REQUIRE(p->ok);
  CHECK(*p->event.turns == 1);
  CHECK(prompt_texts(p->event) ==
        std::vector<std::string>{"S:Stay on rivers.", "U:Which sea does the Rhine reach?"});
}

TEST_CASE("the text blocks of one message are one message (issue 18)", "[adapter][regression]") {
  // Two user messages of two blocks each: two turns, two parts (the blocks joined by a line
  // break), as normalize writes them with prompts and counts them without.
  auto bedrock = parse_line(
      R"({"schemaType":"ModelInvocationLog","timestamp":"2026-05-02T08:00:00Z","operation":"Converse",)"
      R"("input":{"inputBodyJson":{"messages":[{"role":"user","content":[{"text":"Context: the Rhine."},)"
      R"({"guardContent":{"text":{"text":"Where does it end?"}}}]},{"role":"assistant","content":[{"text":"North Sea."}]},)"
      R"({"role":"user","content":[{"text":"And the Danube?"},{"image":{"format":"png"}},{"text":"One word."}]}]}}})");
  REQUIRE(bedrock->ok);
  CHECK(*bedrock->event.turns == 2);
  CHECK(prompt_texts(bedrock->event) ==
        std::vector<std::string>{"U:Context: the Rhine.\nWhere does it end?",
                                 "U:And the Danube?\nOne word."});

  ParserOptions no_text;
  no_text.read_prompt_text = false;
  auto counted = parse_line(std::string(bedrock->buffer.c_str()), no_text);
  REQUIRE(counted->ok);
  CHECK(*counted->event.turns == 2);

  auto openai = parse_line(
      R"({"timestamp":"2026-05-02T08:00:00Z","request":{"messages":[{"role":"system","content":[)"
      R"({"type":"text","text":"Be brief."},{"type":"text","text":"Use metric units."}]},)"
      R"({"role":"user","content":[{"type":"text","text":"How long is the Nile?"},)"
      R"({"type":"image_url","image_url":{"url":"https://example.com/nile.png"}}]}]}})");
  REQUIRE(openai->ok);
  CHECK(prompt_texts(openai->event) ==
        std::vector<std::string>{"S:Be brief.\nUse metric units.", "U:How long is the Nile?"});
}

TEST_CASE("Helicone bodies held in strings or not JSON at all (issue 18)",
          "[adapter][presets][regression]") {
  const std::string head =
      R"({"request_id":"hc-s2","request_created_at":"2026-05-02 08:00:02.000","request_path":"/v1/chat/completions",)"
      R"("request_user_id":"cust-11","response_status":200,"delay_ms":650,"prompt_tokens":20,"completion_tokens":5,)";
  auto json = parse_line(
      head +
      R"("request_body":"{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Name a river.\"}],\"n\":2}"})");
  REQUIRE(json->ok);
  CHECK(*json->event.params.n == 2);
  CHECK(prompt_texts(json->event) == std::vector<std::string>{"U:Name a river."});
  CHECK(json->parser->left_out().empty());

  // The placeholder Helicone writes when the body went to object storage, and a body cut short:
  // the prompt is absent and said to be; the line's time, id, status and tokens are kept.
  for (const std::string body : {R"("fetching body from signed_url...")",
                                 R"("{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"us")"}) {
    auto p = parse_line(head + R"("request_body":)" + body + "}");
    INFO(body);
    REQUIRE(p->ok);
    CHECK(p->event.timestamp_ns == 1777708802000000000LL);
    CHECK(p->event.request_id == "hc-s2");
    CHECK(*p->event.status == 200);
    CHECK(*p->event.prompt_tokens == 20);
    CHECK(p->event.prompt.empty());
    CHECK_FALSE(p->event.turns);
    CHECK_FALSE(p->event.model.size());
    REQUIRE(p->parser->left_out().size() == 1);
    CHECK(p->parser->left_out()[0].detail.find("request_body") != std::string::npos);
  }
}

TEST_CASE("LiteLLM failure rows get their error's status (issue 18)",
          "[adapter][litellm][regression]") {
  const std::string row =
      R"({"request_id":"ll-f1","call_type":"acompletion","api_key":"88aa01","startTime":"2026-05-02T08:00:03Z",)"
      R"("status":"failure","metadata":{"status":"failure","error_information":)";
  auto status = [&](const std::string& info) {
    auto p = parse_line(row + info + "}}");
    REQUIRE(p->ok);
    return p->event.status;
  };
  CHECK(*status(R"({"error":"401 - {'error': {'message': 'Incorrect API key provided'}}"})") ==
        401);
  CHECK(*status(R"({"error_message":"litellm.BadRequestError: Error code: 413 - too large"})") ==
        413);
  CHECK(*status(R"({"error_code":"rate_limit_exceeded","error_class":"RateLimitError"})") == 429);
  CHECK(*status(R"({"error_class":"NotFoundError","llm_provider":"openai"})") == 404);
  CHECK(*status(R"({"error_code":"503"})") == 503);
  CHECK(*status(R"({"traceback":"..."})") == 500);  // a failure is an error, even unplaced
  CHECK(*status("null") == 500);
}

TEST_CASE("LiteLLM messages: plain text that opens with a bracket is the prompt (issue 18)",
          "[adapter][litellm][regression]") {
  const std::string line =
      R"({"id":"cmpl-L5","call_type":"atext_completion","status":"success","startTime":1777708804.0,)"
      R"("messages":"[INST] Continue the list: Nile, Amazon, [/INST]"})";
  auto p = parse_line(line);
  REQUIRE(p->ok);
  CHECK(*p->event.turns == 1);
  CHECK(prompt_texts(p->event) ==
        std::vector<std::string>{"U:[INST] Continue the list: Nile, Amazon, [/INST]"});
  ParserOptions no_text;
  no_text.read_prompt_text = false;
  auto counted = parse_line(line, no_text);
  REQUIRE(counted->ok);
  CHECK(*counted->event.turns == 1);
  // A JSON array followed by more text is text too; a real messages array is still read.
  auto trailing = parse_line(
      R"({"call_type":"acompletion","startTime":1777708804.0,"messages":"[1, 2] and more"})");
  REQUIRE(trailing->ok);
  CHECK(prompt_texts(trailing->event) == std::vector<std::string>{"U:[1, 2] and more"});
  CHECK(trailing->event.token_array_prompts == 0);
  auto array = parse_line(
      R"({"call_type":"acompletion","startTime":1777708804.0,"messages":"[{\"role\":\"user\",\"content\":\"Hi\"}]"})");
  REQUIRE(array->ok);
  CHECK(prompt_texts(array->event) == std::vector<std::string>{"U:Hi"});
}

TEST_CASE("LiteLLM payload: stream is the top-level flag (issue 18)",
          "[adapter][litellm][regression]") {
  for (const char* order :
       {R"("stream":true,"model_parameters":{"stream":false,"max_tokens":32})",
        R"("model_parameters":{"stream":false,"max_tokens":32},"stream":true)"}) {
    auto p = parse_line(
        std::string(R"({"id":"c-1","call_type":"acompletion","startTime":1777708804.0,)") + order +
        "}");
    REQUIRE(p->ok);
    CHECK(*p->event.params.stream);
    CHECK(*p->event.params.max_tokens == 32);
  }
}

TEST_CASE("Vertex AI rows in snake_case through a map (issue 18)",
          "[adapter][mapped][regression]") {
  ParserOptions o;
  for (const char* m :
       {"timestamp=/logging_time", "request_id=/request_id", "endpoint=/api_method",
        "model=/model_version", "request=/full_request", "usage=/full_response/usage_metadata"})
    o.field_map.add(m);
  auto p = parse_line(
      R"({"logging_time":"2026-05-02 08:00:08.731000 UTC","request_id":"7413920461170052119",)"
      R"("model_version":"gemini-2.5-flash","api_method":"GenerateContent","full_request":{"contents":[)"
      R"({"role":"user","parts":[{"text":"Which river crosses Vienna?"}]}],"system_instruction":{"parts":[{"text":"One word."}]},)"
      R"("generation_config":{"temperature":1.0,"candidate_count":2,"max_output_tokens":16,"response_logprobs":true,"logprobs":5}},)"
      R"("full_response":{"usage_metadata":{"prompt_token_count":12,"candidates_token_count":4,"thoughts_token_count":20}}})",
      o);
  REQUIRE(p->ok);
  CHECK(p->event.endpoint_kind == EndpointKind::chat);
  CHECK(*p->event.prompt_tokens == 12);
  CHECK(*p->event.completion_tokens == 4);
  CHECK(*p->event.reasoning_tokens == 20);
  CHECK(*p->event.params.n == 2);
  CHECK(*p->event.params.max_tokens == 16);
  CHECK(*p->event.params.logprobs);
  CHECK(*p->event.params.top_logprobs == 5);
  CHECK(prompt_texts(p->event) ==
        std::vector<std::string>{"S:One word.", "U:Which river crosses Vienna?"});
  CHECK(classify_endpoint("streamGenerateContent") == EndpointKind::chat);
  CHECK(classify_endpoint("StreamGenerateContent") == EndpointKind::chat);
}

TEST_CASE("Langfuse rows: latency in seconds and GENERATION a model call (issue 18)",
          "[adapter][presets][regression]") {
  auto p = parse_line(
      R"({"id":"obs-q1","trace_id":"t-q1","project_id":"proj-q","type":"GENERATION","start_time":"2026-05-02 08:00:06.000000",)"
      R"("input":"[{\"role\":\"user\",\"content\":\"Spell Danube backwards.\"}]","provided_model_name":"gpt-4o-mini",)"
      R"("usage_details":{"input":8,"output":6,"total":14},"latency":0.827,"user_id":"cust-13"})");
  REQUIRE(p->ok);
  CHECK(*p->event.latency_ms == Approx(827));
  CHECK(p->event.endpoint_kind == EndpointKind::chat);
  CHECK(classify_endpoint("EMBEDDING") == EndpointKind::embedding);
}

TEST_CASE("Portkey exports written with literal dotted keys (issue 18)",
          "[adapter][presets][regression]") {
  auto p = parse_line(
      R"({"created_at":"2026-05-02T08:00:07.000Z","trace_id":"pk-d1","request.body":{"model":"gpt-4o","messages":[)"
      R"({"role":"user","content":"Summarise the Loire."}],"max_tokens":60},"response.body":{"usage":{"prompt_tokens":11,)"
      R"("completion_tokens":20,"completion_tokens_details":{"reasoning_tokens":5}}},"ai_org":"openai","req_units":11,)"
      R"("res_units":20,"response_status_code":200,"virtual_key":"openai-prod","metadata._user":"cust-14"})");
  REQUIRE(p->ok);
  CHECK(p->parser->last_format() == InputFormat::portkey);
  CHECK(p->event.end_user == "cust-14");
  CHECK(*p->event.params.max_tokens == 60);
  CHECK(*p->event.reasoning_tokens == 5);
  CHECK(prompt_texts(p->event) == std::vector<std::string>{"U:Summarise the Loire."});
}

TEST_CASE("a canonical line with another format's key is read as canonical (issue 18)",
          "[adapter][regression]") {
  // Kong's "latencies" and an OpenAI Batch "custom_id" copied into a canonical line, before
  // and after its timestamp: the other format finds no time in it, so the line is canonical.
  for (const std::string line :
       {R"({"timestamp":"2026-05-01T10:00:00Z","api_key_id":"k1","latencies":{"request":5}})",
        R"({"custom_id":"job-7","timestamp":"2026-05-01T10:00:00Z","api_key_id":"k1"})"}) {
    auto p = parse_line(line);
    INFO(line);
    REQUIRE(p->ok);
    CHECK(p->parser->last_format() == InputFormat::canonical);
    CHECK(p->event.api_key == "k1");
    CHECK(p->event.timestamp_ns == 1777629600000000000LL);
  }
  // Without a canonical timestamp the other format's reason stands.
  auto kong = parse_line(R"({"latencies":{"request":4},"response":{"status":429}})");
  REQUIRE_FALSE(kong->ok);
  CHECK(kong->error.reason == BadLineReason::missing_timestamp);
  CHECK(kong->error.detail.find("started_at") != std::string::npos);
  // A real Kong entry with a timestamp of its own stays Kong.
  auto real = parse_line(
      R"({"started_at":1793620802200,"latencies":{"request":4},"response":{"status":429}})");
  REQUIRE(real->ok);
  CHECK(real->parser->last_format() == InputFormat::kong);
}
