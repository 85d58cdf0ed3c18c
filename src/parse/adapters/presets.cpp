// The built-in field maps of the gateway exports read through MappedReader
// (docs/log-format.md lists them). A field may have several places: the shapes one format
// comes in (Langfuse's export in snake_case and its API in camelCase, OpenRouter's record bare
// or in its API's "data"); a line holds one of them, or the last non-empty one is taken.
#include "parse/adapters/adapters.h"

#include <fmt/format.h>

#include <initializer_list>

namespace exfilscan::detail {

namespace {

using Entries = std::initializer_list<const char*>;

const Entries helicone = {"timestamp=/request_created_at",
                          "request_id=/request_id",
                          "user=/request_user_id",
                          "endpoint=/request_path",
                          "model=/request_model",
                          "status=/response_status",
                          "latency_ms=/delay_ms",
                          "request=/request_body",
                          "usage=/response_body/usage",
                          "prompt_tokens=/prompt_tokens",
                          "completion_tokens=/completion_tokens"};

const Entries langfuse = {
    // The blob-storage export (observations), snake_case.
    "timestamp=/start_time", "request_id=/id", "project=/project_id", "user=/user_id",
    "api_key=/metadata/user_api_key_hash", "ip=/metadata/requester_ip_address", "endpoint=/type",
    "model=/provided_model_name", "messages=/input", "request=/model_parameters",
    "prompt_tokens=/usage_details/input", "completion_tokens=/usage_details/output",
    "reasoning_tokens=/usage_details/output_reasoning_tokens", "latency_s=/latency",
    // The public API's observations (GET /api/public/observations), camelCase.
    "timestamp=/startTime", "project=/projectId", "user=/userId", "model=/model",
    "request=/modelParameters", "prompt_tokens=/promptTokens",
    "completion_tokens=/completionTokens", "prompt_tokens=/usage/input",
    "completion_tokens=/usage/output", "prompt_tokens=/usageDetails/input",
    "completion_tokens=/usageDetails/output",
    "reasoning_tokens=/usageDetails/output_reasoning_tokens"};

const Entries portkey = {
    "timestamp=/created_at",     "request_id=/trace_id",       "api_key=/virtual_key",
    "user=/metadata/_user",      "endpoint=/request_url",      "model=/ai_model",
    "request=/request/body",     "usage=/response/body/usage", "status=/response_status_code",
    "latency_ms=/response_time", "prompt_tokens=/req_units",   "completion_tokens=/res_units"};

const Entries azure = {"timestamp=/time",          "org=/resourceId",
                       "ip=/callerIpAddress",      "request_id=/correlationId",
                       "latency_ms=/durationMs",   "status=/resultSignature",
                       "endpoint=/operationName",  "model=/properties/modelName",
                       "user=/properties/objectId"};

const Entries azure_apim = {"timestamp=/time",
                            "org=/resourceId",
                            "api_key=/properties/apimSubscriptionId",
                            "ip=/callerIpAddress",
                            "request_id=/correlationId",
                            "latency_ms=/durationMs",
                            "status=/properties/responseCode",
                            "endpoint=/properties/operationId",
                            "request=/properties/requestBody",
                            "usage=/properties/responseBody/usage"};

// GET /api/v1/generation answers {"data": {...}}; a record kept bare has the same fields.
// tokens_* are counted with a GPT tokenizer, native_tokens_* by the provider (which bills
// them): the native counts come after in the record and are taken when there.
const Entries openrouter = {"timestamp=/data/created_at",
                            "request_id=/data/id",
                            "user=/data/external_user",
                            "user_agent=/data/user_agent",
                            "model=/data/model",
                            "prompt_tokens=/data/tokens_prompt",
                            "completion_tokens=/data/tokens_completion",
                            "prompt_tokens=/data/native_tokens_prompt",
                            "completion_tokens=/data/native_tokens_completion",
                            "reasoning_tokens=/data/native_tokens_reasoning",
                            "latency_ms=/data/latency",
                            "timestamp=/created_at",
                            "request_id=/id",
                            "user=/external_user",
                            "user_agent=/user_agent",
                            "model=/model",
                            "prompt_tokens=/tokens_prompt",
                            "completion_tokens=/tokens_completion",
                            "prompt_tokens=/native_tokens_prompt",
                            "completion_tokens=/native_tokens_completion",
                            "reasoning_tokens=/native_tokens_reasoning",
                            "latency_ms=/latency"};

// Schema v2 keeps the bodies in full_request / full_response (JSON columns); v1 in the
// repeated STRING columns request_payload / response_payload.
const Entries vertex = {"timestamp=/logging_time",    "request_id=/request_id",
                        "endpoint=/api_method",       "model=/model",
                        "model=/model_version",       "request=/full_request",
                        "request=/request_payload/0", "usage=/full_response",
                        "usage=/response_payload/0"};

// Logpush's ai_gateway_events (PascalCase; the bodies are encrypted, so metadata only), and
// the entries of the gateway's log API (snake_case).
const Entries cloudflare = {"timestamp=/Timestamp",
                            "org=/Gateway",
                            "endpoint=/Endpoint",
                            "model=/Model",
                            "model=/RequestedModel",
                            "status=/StatusCode",
                            "latency_ms=/Metrics/durationMs",
                            "timestamp=/created_at",
                            "request_id=/id",
                            "endpoint=/path",
                            "model=/model",
                            "status=/status_code",
                            "latency_ms=/duration",
                            "prompt_tokens=/tokens_in",
                            "completion_tokens=/tokens_out"};

const Entries& entries_of(Preset preset) {
  switch (preset) {
    case Preset::helicone:
      return helicone;
    case Preset::langfuse:
      return langfuse;
    case Preset::portkey:
      return portkey;
    case Preset::azure:
      return azure;
    case Preset::azure_apim:
      return azure_apim;
    case Preset::openrouter:
      return openrouter;
    case Preset::vertex:
      return vertex;
    case Preset::cloudflare:
      break;
  }
  return cloudflare;
}

}  // namespace

FieldMap preset_map(Preset preset) {
  FieldMap map;
  for (const char* entry : entries_of(preset)) {
    // Checked by FieldMap::add, then kept beside an earlier place of the same field.
    FieldMap one;
    one.add(entry, "built-in map");
    map.entries.push_back(one.entries.front());
  }
  return map;
}

}  // namespace exfilscan::detail
