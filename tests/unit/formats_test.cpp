// Issue 18, "More formats, sniffed per line with no flags": records as the systems publish
// them (rewritten), fed as inline JSON lines through the real reader with no flags.
#include "test_util.h"

#include <exfilscan/parse/batch_requests.h>

#include <catch2/catch.hpp>

#include <cstdio>

using namespace exfilscan;
using namespace exfilscan::test;

namespace {

/// An event kept whole: the reader's views die after on_event.
struct Seen {
  int64_t timestamp_ns = 0;
  std::string request_id, org, project, api_key, end_user, ip, user_agent, endpoint, model;
  EndpointKind kind = EndpointKind::unknown;
  std::optional<int64_t> status, prompt_tokens, completion_tokens, reasoning_tokens, turns;
  std::optional<double> latency_ms;
  RequestParams params;
  std::vector<std::string> prompt;
};

struct RecordingSink : EventSink {
  std::vector<Seen> events;
  void on_event(const Event& e) override {
    Seen s;
    s.timestamp_ns = e.timestamp_ns;
    s.request_id = e.request_id;
    s.org = e.org;
    s.project = e.project;
    s.api_key = e.api_key;
    s.end_user = e.end_user;
    s.ip = e.ip;
    s.user_agent = e.user_agent;
    s.endpoint = e.endpoint;
    s.model = e.model;
    s.kind = e.endpoint_kind;
    s.status = e.status;
    s.prompt_tokens = e.prompt_tokens;
    s.completion_tokens = e.completion_tokens;
    s.reasoning_tokens = e.reasoning_tokens;
    s.turns = e.turns;
    s.latency_ms = e.latency_ms;
    s.params = e.params;
    s.prompt = prompt_texts(e);
    events.push_back(std::move(s));
  }
};

struct Run {
  ReadResult result;
  RecordingSink sink;
  std::string diagnostics;
};

/// The lines read as one input file with no flags (or with `options`).
Run read_lines(const std::string& lines, ReaderOptions options = {}) {
  TempFile file(lines);
  Run run;
  char* buf = nullptr;
  size_t size = 0;
  std::FILE* mem = open_memstream(&buf, &size);
  {
    BadLineLog log(options.bad_lines, mem);
    run.result = read_inputs({file.path()}, options, run.sink, log);
  }
  std::fclose(mem);
  run.diagnostics.assign(buf, size);
  std::free(buf);
  return run;
}

using Prompt = std::vector<std::string>;

}  // namespace

TEST_CASE("OpenAI Batch output lines are events; input and error lines say why not",
          "[formats][openai-batch]") {
  // After the Batch guide's examples (platform.openai.com/docs/guides/batch).
  Run run = read_lines(
      R"({"id":"batch_req_01","custom_id":"r-1","response":{"status_code":200,"request_id":"rq9",)"
      R"("body":{"id":"chatcmpl-1","object":"chat.completion","created":1793620801,"model":"gpt-4o-mini-2024-07-18",)"
      R"("choices":[],"usage":{"prompt_tokens":28,"completion_tokens":2,"completion_tokens_details":{"reasoning_tokens":1}}}},"error":null})"
      "\n"
      R"({"custom_id":"r-1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}})"
      "\n"
      R"({"id":"batch_req_02","custom_id":"r-2","response":{"status_code":400,"request_id":"rq8","body":{"error":{"code":"x"}}},"error":null})"
      "\n"
      R"({"id":"batch_req_03","custom_id":"r-3","response":{"status_code":200,"body":{"object":"response","created_at":1793620802.5,)"
      R"("model":"o4-mini","usage":{"input_tokens":9,"output_tokens":40,"output_tokens_details":{"reasoning_tokens":32}}}}})"
      "\n");
  REQUIRE(run.sink.events.size() == 2);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620801000000000LL);
  CHECK(e.request_id == "batch_req_01");
  CHECK(e.endpoint == "/v1/chat/completions");
  CHECK(e.kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o-mini-2024-07-18");
  CHECK(*e.status == 200);
  CHECK(*e.prompt_tokens == 28);
  CHECK(*e.completion_tokens == 2);
  CHECK(*e.reasoning_tokens == 1);
  const Seen& r = run.sink.events[1];
  CHECK(r.timestamp_ns == 1793620802500000000LL);
  CHECK(r.kind == EndpointKind::responses);
  CHECK(*r.reasoning_tokens == 32);
  CHECK_THAT(run.diagnostics,
             Catch::Contains(":2: missing_timestamp: an OpenAI Batch input line has no time: "
                             "its time is response.body.created in the output file"));
  CHECK_THAT(run.diagnostics,
             Catch::Contains(":3: missing_timestamp: an OpenAI Batch error line has no time"));
}

TEST_CASE("an OpenAI Batch output line takes its request from the input file",
          "[formats][openai-batch]") {
  auto requests = std::make_shared<BatchRequests>();
  requests->add("r-1", "/v1/chat/completions",
                R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Item 4?"}],)"
                R"("n":3,"logprobs":true,"top_logprobs":5,"user":"owner-7"})");
  ReaderOptions options;
  options.parser.batch_requests = requests;
  Run run = read_lines(
      R"({"id":"batch_req_01","custom_id":"r-1","response":{"status_code":200,"body":{"object":"chat.completion",)"
      R"("created":1793620801,"model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":8,"completion_tokens":2}}}})"
      "\n"
      R"({"id":"batch_req_02","custom_id":"r-unknown","response":{"status_code":200,"body":{"object":"chat.completion",)"
      R"("created":1793620802,"model":"gpt-4o-mini-2024-07-18"}}})"
      "\n",
      options);
  REQUIRE(run.sink.events.size() == 2);
  const Seen& e = run.sink.events[0];
  CHECK(e.model == "gpt-4o-mini");  // what was asked, over what served it
  CHECK(e.end_user == "owner-7");
  CHECK(*e.params.n == 3);
  CHECK(*e.params.top_logprobs == 5);
  CHECK(*e.turns == 1);
  CHECK(e.prompt == Prompt{"U:Item 4?"});
  CHECK(run.sink.events[1].prompt.empty());  // not in the input file: the answer alone
  CHECK(run.sink.events[1].model == "gpt-4o-mini-2024-07-18");
}

TEST_CASE("OpenRouter generation records, in the API's data or bare", "[formats][openrouter]") {
  // Fields after openrouter.ai/docs (GET /api/v1/generation).
  Run run = read_lines(
      R"({"data":{"id":"gen-1793620801-Ab3d","upstream_id":"chatcmpl-9","total_cost":0.0002,)"
      R"("created_at":"2026-11-02T12:00:01.731542+00:00","model":"openai/gpt-4o-mini","streamed":false,)"
      R"("latency":827,"generation_time":790,"tokens_prompt":28,"tokens_completion":350,"native_tokens_prompt":30,)"
      R"("native_tokens_completion":352,"native_tokens_reasoning":7,"external_user":"student-31","api_type":"completions"}})"
      "\n"
      R"({"id":"gen-2","created_at":"2026-11-02T12:00:05Z","model":"anthropic/claude-3.5-haiku","tokens_prompt":12,)"
      R"("tokens_completion":1024,"native_tokens_prompt":null,"latency":1440})"
      "\n"
      // A canonical line with a "data" field of its own stays canonical.
      R"({"timestamp":"2026-11-02T12:00:06Z","api_key_id":"k","data":{"id":"x"}})"
      "\n");
  REQUIRE(run.sink.events.size() == 3);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620801731542000LL);
  CHECK(e.request_id == "gen-1793620801-Ab3d");
  CHECK(e.end_user == "student-31");
  CHECK(e.model == "openai/gpt-4o-mini");
  CHECK(*e.prompt_tokens == 30);  // the provider's count, which it bills
  CHECK(*e.completion_tokens == 352);
  CHECK(*e.reasoning_tokens == 7);
  CHECK(*e.latency_ms == 827);
  CHECK(*run.sink.events[1].prompt_tokens == 12);  // no native count: the normalised one
  CHECK(run.sink.events[2].api_key == "k");
}

TEST_CASE("Kong http-log and file-log entries with the AI plugins' block", "[formats][kong]") {
  // The log serializer's fields and the ai block of Kong's AI audit log reference.
  Run run = read_lines(
      R"({"request":{"id":"4f1b","method":"POST","uri":"/ai/chat","size":512,"querystring":{},)"
      R"("headers":{"user-agent":"OpenAI/Python 1.82.0","authorization":"REDACTED"}},"upstream_uri":"/v1/chat/completions",)"
      R"("response":{"status":200,"size":1880,"headers":{}},"latencies":{"kong":3,"proxy":827,"request":831},)"
      R"("client_ip":"198.51.100.23","workspace_name":"research","consumer":{"id":"c0ffee","username":"distill-bot"},)"
      R"("started_at":1793620801100,"ai":{"payload":{"request":"{\"model\":\"gpt-4o-mini\",\"messages\":)"
      R"([{\"role\":\"user\",\"content\":\"Entry 41?\"}],\"n\":4}"},"proxy":{"usage":{"prompt_tokens":18,)"
      R"("completion_tokens":512,"total_tokens":530},"meta":{"request_model":"gpt-4o-mini","response_model":"gpt-4o-mini-2024-07-18"}}}})"
      "\n"
      // 3.6's documented names, singular; a credential and no consumer; a payload cut short.
      R"({"latencies":{"request":4},"response":{"status":429},"started_at":1793620802200,)"
      R"("authenticated_entity":{"id":"cred-9"},"ai":{"payload":{"request":"{\"model\":\"gpt-4o"},)"
      R"("ai-proxy-advanced":{"usage":{"prompt_token":5,"completion_token":0}}}})"
      "\n");
  REQUIRE(run.sink.events.size() == 2);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620801100000000LL);
  CHECK(e.request_id == "4f1b");
  CHECK(e.api_key == "distill-bot");
  CHECK(e.org == "research");
  CHECK(e.ip == "198.51.100.23");
  CHECK(e.user_agent == "OpenAI/Python 1.82.0");
  CHECK(e.endpoint == "/v1/chat/completions");
  CHECK(e.kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o-mini");
  CHECK(*e.status == 200);
  CHECK(*e.latency_ms == 831);
  CHECK(*e.prompt_tokens == 18);
  CHECK(*e.completion_tokens == 512);
  CHECK(*e.params.n == 4);
  CHECK(e.prompt == Prompt{"U:Entry 41?"});
  const Seen& f = run.sink.events[1];
  CHECK(f.api_key == "cred-9");
  CHECK(*f.prompt_tokens == 5);
  CHECK(*f.status == 429);
  CHECK(f.prompt.empty());
  CHECK_THAT(run.diagnostics, Catch::Contains(":2: bad_json: ai.payload.request"));
}

TEST_CASE("Envoy and Higress access logs: \"-\" is absent, not an address", "[formats][envoy]") {
  // Higress's ai-statistics README (top-level fields, then ai_log) and Istio's default keys.
  Run run = read_lines(
      R"({"authority":"dashscope.aliyuncs.com","bytes_received":"336","downstream_remote_address":"203.0.113.57:53122",)"
      R"("duration":"1590","method":"POST","path":"/v1/chat/completions","request_id":"5895f5a9","response_code":"200",)"
      R"("response_flags":"-","start_time":"2026-11-02T12:00:14.078Z","trace_id":"-","upstream_cluster":"qwen",)"
      R"("user_agent":"PostmanRuntime/7.37.3","x_forwarded_for":"-",)"
      R"("ai_log":"{\"model\":\"qwen-turbo\",\"input_token\":\"10\",\"output_token\":\"69\",\"consumer\":\"team-d\"}"})"
      "\n"
      R"({"model":"qwen-max","input_token":"21","output_token":"17","downstream_remote_address":"-",)"
      R"("x_forwarded_for":"198.51.100.80, 10.0.0.2","path":"/v1/chat/completions","response_code":"200",)"
      R"("start_time":"2026-11-02T12:00:15.000Z","upstream_cluster":"qwen","request_id":"-","user_agent":"-"})"
      "\n"
      R"({"start_time":"2026-11-02T12:00:16.250Z","path":"/v1/embeddings","response_code":0,"response_flags":"DC",)"
      R"("duration":12,"upstream_service_time":"-","downstream_remote_address":"[2001:db8::17]:40112","ai_log":"-"})"
      "\n");
  REQUIRE(run.sink.events.size() == 3);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620814078000000LL);
  CHECK(e.request_id == "5895f5a9");
  CHECK(e.ip == "203.0.113.57");
  CHECK(e.api_key == "team-d");
  CHECK(e.model == "qwen-turbo");
  CHECK(*e.status == 200);
  CHECK(*e.latency_ms == 1590);
  CHECK(*e.prompt_tokens == 10);
  CHECK(*e.completion_tokens == 69);
  const Seen& f = run.sink.events[1];
  CHECK(f.ip == "198.51.100.80");  // no downstream address: the first forwarded one
  CHECK(f.request_id.empty());
  CHECK(f.user_agent.empty());
  CHECK(*f.prompt_tokens == 21);
  const Seen& g = run.sink.events[2];
  CHECK(g.ip == "2001:db8::17");
  CHECK_FALSE(g.status);  // 0: no answer was sent
  CHECK(g.kind == EndpointKind::embedding);
}

TEST_CASE("Vertex AI request-response logging rows, schema v2 and v1", "[formats][vertex]") {
  Run run = read_lines(
      R"({"endpoint":"projects/acme/locations/us-central1/publishers/google/models/gemini-2.5-flash",)"
      R"("deployed_model_id":"","logging_time":"2026-11-02 12:00:22.731000 UTC","request_id":"7413920461170052119",)"
      R"("request_payload":[],"response_payload":[],"model":"publishers/google/models/gemini-2.5-flash",)"
      R"("model_version":"gemini-2.5-flash","api_method":"generateContent","full_request":{"contents":[{"role":"user",)"
      R"("parts":[{"text":"List the lakes."}]}],"systemInstruction":{"parts":[{"text":"As a table."}]},)"
      R"("generationConfig":{"candidateCount":4,"maxOutputTokens":2048,"responseLogprobs":true,"logprobs":5}},)"
      R"("full_response":{"candidates":[],"usageMetadata":{"promptTokenCount":17,"candidatesTokenCount":1800,"thoughtsTokenCount":20}}})"
      "\n"
      R"({"logging_time":"2026-11-02 12:00:25.000000 UTC","request_id":7413920461170052120,)"
      R"("request_payload":["{\"messages\":[{\"role\":\"user\",\"content\":\"Sentence 12?\"}],\"max_tokens\":512}"],)"
      R"("response_payload":["{\"usage\":{\"input_tokens\":15,\"output_tokens\":40}}"],)"
      R"("model":"publishers/anthropic/models/claude-3-5-haiku","model_version":"","api_method":"rawPredict"})"
      "\n");
  REQUIRE(run.sink.events.size() == 2);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620822731000000LL);
  CHECK(e.request_id == "7413920461170052119");
  CHECK(e.endpoint == "generateContent");
  CHECK(e.kind == EndpointKind::chat);
  CHECK(e.model == "gemini-2.5-flash");
  CHECK(*e.params.n == 4);
  CHECK(*e.params.top_logprobs == 5);
  CHECK(*e.prompt_tokens == 17);
  CHECK(*e.completion_tokens == 1800);
  CHECK(*e.reasoning_tokens == 20);
  CHECK(e.prompt == Prompt{"S:As a table.", "U:List the lakes."});
  const Seen& v1 = run.sink.events[1];
  CHECK(v1.request_id == "7413920461170052120");
  CHECK(v1.kind == EndpointKind::chat);  // rawPredict: Anthropic's Messages on Vertex AI
  CHECK(v1.model == "publishers/anthropic/models/claude-3-5-haiku");  // an empty version is absent
  CHECK(*v1.prompt_tokens == 15);
  CHECK(*v1.completion_tokens == 40);
  CHECK(v1.prompt == Prompt{"U:Sentence 12?"});
}

TEST_CASE("Langfuse observations from the public API, in camelCase", "[formats][langfuse]") {
  // GET /api/public/observations (ObservationsView).
  Run run = read_lines(
      R"({"id":"obs-91c2","traceId":"trace-77a0","type":"GENERATION","startTime":"2026-11-02T12:00:31.904Z",)"
      R"("endTime":"2026-11-02T12:00:33.731Z","completionStartTime":null,"model":"gpt-4o-mini",)"
      R"("modelParameters":{"temperature":"1.0","max_tokens":"900","n":3},"input":[{"role":"user","content":"Exercise 118?"}],)"
      R"("metadata":{"user_api_key_hash":"7c4a","requester_ip_address":"203.0.113.90"},"usage":{"input":30,"output":620,"unit":"TOKENS"},)"
      R"("level":"DEFAULT","usageDetails":{"input":30,"output":620,"total":650,"output_reasoning_tokens":4},)"
      R"("costDetails":{"total":0.0003},"latency":1.827,"projectId":"proj-lab"})"
      "\n");
  REQUIRE(run.sink.events.size() == 1);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620831904000000LL);
  CHECK(e.request_id == "obs-91c2");
  CHECK(e.project == "proj-lab");
  CHECK(e.api_key == "7c4a");
  CHECK(e.ip == "203.0.113.90");
  CHECK(e.kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o-mini");
  CHECK(*e.params.n == 3);
  CHECK(*e.params.max_tokens == 900);
  CHECK(*e.prompt_tokens == 30);
  CHECK(*e.completion_tokens == 620);
  CHECK(*e.reasoning_tokens == 4);
  CHECK(*e.latency_ms == Approx(1827));
  CHECK(e.prompt == Prompt{"U:Exercise 118?"});
}

TEST_CASE("Cloudflare AI Gateway Logpush records (metadata only) and log API entries",
          "[formats][cloudflare]") {
  // The ai_gateway_events dataset's fields; bodies are encrypted.
  Run run = read_lines(
      R"({"Cached":false,"Endpoint":"chat/completions","Gateway":"prod-gateway","Metadata":{"team":"r"},)"
      R"("Metrics":{"cost":0.0042,"durationMs":1234},"Model":"gpt-4o-mini-2024-07-18","Provider":"openai",)"
      R"("RateLimited":false,"RequestBody":{"type":"encrypted","data":"c2Vh"},"RequestedModel":"gpt-4o-mini",)"
      R"("ResponseBody":{"type":"encrypted","data":"c2Vh"},"StatusCode":200,"Timestamp":1793620841000000000})"
      "\n"
      R"({"id":"01JCX0","created_at":"2026-11-02T12:00:43.500Z","provider":"workers-ai","model":"@cf/meta/llama-3.1-8b",)"
      R"("path":"workers-ai/@cf/meta/llama-3.1-8b","duration":512,"status_code":200,"success":true,"tokens_in":22,"tokens_out":300})"
      "\n");
  REQUIRE(run.sink.events.size() == 2);
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620841000000000LL);
  CHECK(e.org == "prod-gateway");
  CHECK(e.endpoint == "chat/completions");
  CHECK(e.kind == EndpointKind::chat);
  CHECK(e.model == "gpt-4o-mini");
  CHECK(*e.status == 200);
  CHECK(*e.latency_ms == 1234);
  CHECK(e.prompt.empty());
  const Seen& f = run.sink.events[1];
  CHECK(f.request_id == "01JCX0");
  CHECK(*f.prompt_tokens == 22);
  CHECK(*f.completion_tokens == 300);
  CHECK(*f.latency_ms == 512);
}

TEST_CASE("LiteLLM's older S3 and GCS logger objects", "[formats][litellm]") {
  // The S3 logger of 2024 wrote str() of each value: Python's repr, not JSON.
  Run run = read_lines(
      R"({"id": "chatcmpl-9a", "call_type": "acompletion", "startTime": "2026-11-02 12:00:51.563246",)"
      R"( "endTime": "2026-11-02 12:00:52.572709", "model": "gpt-3.5-turbo",)"
      R"( "modelParameters": "{'temperature': 0.7, 'max_tokens': 10, 'user': 'u-2', 'n': 2}",)"
      R"( "messages": "[{'role': 'system', 'content': \"You're terse.\"}, {'role': 'user', 'content': 'Term 7?\\nOne line.'}]",)"
      R"x( "response": "ModelResponse(id='chatcmpl-9a', usage=Usage(completion_tokens=20, prompt_tokens=10))",)x"
      R"x( "usage": "Usage(completion_tokens=20, prompt_tokens=10, total_tokens=30)",)x"
      R"( "metadata": "{'user_api_key': '88dc', 'user_api_key_team_id': 'team-lab', 'headers': {'x': None}}"})"
      "\n"
      // The GCS bucket logger of mid-2024: request_kwargs, response_obj, start_time.
      R"({"request_kwargs":{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"Term 8?"}],)"
      R"("optional_params":{"temperature":0.7,"max_tokens":10,"user":"u-2"}},"response_obj":{"id":"chatcmpl-bd",)"
      R"("created":1793620856,"usage":{"prompt_tokens":10,"completion_tokens":20}},"start_time":"2026-11-02 12:00:56",)"
      R"("end_time":"2026-11-02 12:00:57","spend_log_metadata":"{\"user_api_key\": \"88dc\"}","exception":null,)"
      R"("log_event_type":"successful_api_call"})"
      "\n"
      R"({"request_kwargs":{"model":"gpt-3.5-turbo","messages":[]},"response_obj":null,"start_time":"2026-11-02 12:00:58",)"
      R"("exception":"litellm.RateLimitError: OpenAIException - Error code: 429 - {'error': {}}","log_event_type":"failed_api_call"})"
      "\n");
  REQUIRE(run.sink.events.size() == 3);
  CHECK(run.diagnostics.empty());  // the repr of the response object is not a cut body
  const Seen& e = run.sink.events[0];
  CHECK(e.timestamp_ns == 1793620851563246000LL);
  CHECK(e.request_id == "chatcmpl-9a");
  CHECK(e.api_key == "88dc");
  CHECK(e.project == "team-lab");
  CHECK(e.end_user == "u-2");
  CHECK(*e.params.n == 2);
  CHECK(*e.params.max_tokens == 10);
  CHECK(*e.prompt_tokens == 10);
  CHECK(*e.completion_tokens == 20);
  CHECK(*e.latency_ms == Approx(1009.463));
  CHECK(e.prompt == Prompt{"S:You're terse.", "U:Term 7?\nOne line."});
  const Seen& g = run.sink.events[1];
  CHECK(g.timestamp_ns == 1793620856000000000LL);
  CHECK(g.request_id == "chatcmpl-bd");
  CHECK(g.api_key == "88dc");
  CHECK(g.model == "gpt-3.5-turbo");
  CHECK(*g.status == 200);
  CHECK(*g.params.temperature == 0.7);
  CHECK(*g.prompt_tokens == 10);
  CHECK(g.prompt == Prompt{"U:Term 8?"});
  CHECK(*run.sink.events[2].status == 429);
}

TEST_CASE("keys of the new formats leave canonical lines canonical", "[formats]") {
  // Canonical fields first: a key only another format has switches, no other key does.
  Run run = read_lines(
      R"({"timestamp":"2026-11-02T12:00:00Z","api_key_id":"k","method":"POST","model":"m","id":"x","status":"ok"})"
      "\n");
  REQUIRE(run.sink.events.size() == 1);
  CHECK(run.sink.events[0].api_key == "k");
}

TEST_CASE("an OpenAI Batch input file is told apart and loaded by custom_id",
          "[formats][openai-batch]") {
  TempFile input(
      R"({"custom_id":"r-1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}})"
      "\n"
      R"({"custom_id":"r-1","method":"POST","url":"/v1/embeddings","body":{"model":"dup"}})"
      "\n"
      R"({"custom_id":"r-2","method":"POST","url":"/v1/embeddings","body":{"model":"e","input":"x"}})"
      "\n\nnot json\n");
  TempFile output(R"({"id":"batch_req_1","custom_id":"r-1","response":{"status_code":200}})"
                  "\n");
  InputOptions options;
  CHECK(is_batch_input(input.path(), options));
  CHECK_FALSE(is_batch_input(output.path(), options));
  CHECK_FALSE(is_batch_input("/nonexistent/batch.jsonl", options));
  BatchRequests requests;
  CHECK(load_batch_input(input.path(), options, requests) == 1);  // "not json"
  CHECK(requests.size() == 2);
  const BatchRequests::Request* r1 = requests.find("r-1");
  REQUIRE(r1);
  CHECK(r1->url == "/v1/chat/completions");  // the first of a custom_id sent twice
  CHECK(r1->body == R"({"model":"m","messages":[]})");
  CHECK_FALSE(requests.find("r-3"));
}
