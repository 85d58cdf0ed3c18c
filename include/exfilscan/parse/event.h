#pragma once
/// The normalised event: one LLM API request, whatever log format it came from.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace exfilscan {

/// What kind of API call a request was; derived from the endpoint path, a LiteLLM call type or a
/// Bedrock operation (see classify_endpoint).
enum class EndpointKind : uint8_t { unknown, chat, completion, embedding, responses, other };

std::string_view to_string(EndpointKind kind);
EndpointKind classify_endpoint(std::string_view endpoint);

enum class PromptRole : uint8_t { system, user };

/// One piece of prompt text. `text` views the input or a parser buffer (see Event).
struct PromptPart {
  PromptRole role = PromptRole::user;
  std::string_view text;
};

/// The request parameters that matter for extraction. Absent means the log did not say.
struct RequestParams {
  std::optional<int64_t> n;
  std::optional<double> temperature;
  std::optional<double> top_p;
  std::optional<int64_t> max_tokens;
  /// Chat `logprobs: true`, or any legacy integer `logprobs` (which returns sampled-token
  /// logprobs even at 0); the legacy integer itself is held in top_logprobs.
  std::optional<bool> logprobs;
  std::optional<int64_t> top_logprobs;
  std::optional<int64_t> logit_bias_entries;
  /// Order-independent hash of the logit_bias map (same map, same hash); 0 when absent.
  uint64_t logit_bias_hash = 0;
  /// The map as compact JSON, kept so `normalize` can write it back.
  std::string logit_bias_json;
  std::optional<bool> echo;
  std::optional<int64_t> best_of;
  std::optional<int64_t> seed;
  std::optional<bool> stream;
};

/// One request. Strings and the prompt parts are views valid only until the parser reads its
/// next line: a consumer that keeps anything copies it. Empty string means absent.
struct Event {
  int64_t timestamp_ns = 0;  // UTC, nanoseconds since the Unix epoch
  std::string_view request_id;
  std::string_view org;
  std::string_view project;
  std::string_view api_key;
  std::string_view end_user;
  std::string_view ip;
  std::string_view user_agent;
  std::string_view endpoint;  // as the log wrote it: a path, call type or operation
  EndpointKind endpoint_kind = EndpointKind::unknown;
  std::string_view model;
  std::optional<int64_t> status;  // HTTP status
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> completion_tokens;
  std::optional<int64_t> reasoning_tokens;
  std::optional<double> latency_ms;
  RequestParams params;
  /// User turns in the conversation (1 for a plain prompt string).
  std::optional<int64_t> turns;
  /// System and user text, in conversation order; system text given beside the messages
  /// (`instructions`, Bedrock `system`) comes first. A view like the strings: the parts live
  /// where the event's producer keeps them (a copy of an event copies no parts).
  std::span<const PromptPart> prompt;
  /// Prompt items sent as token ids rather than text (legacy completions, embeddings).
  int64_t token_array_prompts = 0;

  /// Resets every field, keeping allocated capacity so a reused Event does not allocate.
  void clear();
};

/// Receives events in input order. The event's views die when on_event returns.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const Event& event) = 0;
  /// Runs of events, one after the other in input order (the parsed pieces of a chunk); a sink
  /// that can use many at once says so.
  virtual void on_events(std::span<const std::span<const Event>> runs) {
    for (std::span<const Event> run : runs)
      for (const Event& e : run) on_event(e);
  }
};

}  // namespace exfilscan
