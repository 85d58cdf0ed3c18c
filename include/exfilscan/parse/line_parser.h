#pragma once
/// One log line in, one normalised Event out (or the reason it was refused).

#include <exfilscan/input/diagnostics.h>
#include <exfilscan/parse/event.h>
#include <exfilscan/parse/field_map.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace exfilscan {

class BatchRequests;

/// Log formats. `auto_detect` sniffs each line (docs/log-format.md has the rules).
enum class InputFormat : uint8_t {
  auto_detect,
  canonical,
  litellm,
  bedrock,
  helicone,      // Helicone request export
  langfuse,      // Langfuse observations export
  portkey,       // Portkey logs export
  azure,         // Azure OpenAI resource logs (RequestResponse)
  azure_apim,    // Azure API Management GatewayLogs in front of Azure OpenAI
  openai_batch,  // OpenAI Batch API output files (input and error files say why they are not)
  openrouter,    // OpenRouter generation records
  kong,          // Kong (AI) Gateway http-log and file-log entries
  envoy,         // Envoy, Istio and Higress JSON access logs
  vertex,        // Vertex AI request-response logging rows (BigQuery export)
  cloudflare,    // Cloudflare AI Gateway Logpush records and log API entries
  mapped,
};

std::string_view to_string(InputFormat format);
/// Accepts the names above plus aliases ("auto", "litellm-spendlogs", "litellm-payload").
bool parse_input_format(std::string_view name, InputFormat& out);

struct ParserOptions {
  InputFormat format = InputFormat::auto_detect;
  /// JSON-pointer mapping; with format `mapped` it is the whole schema, with any other format it
  /// adds or overrides fields after the adapter has run.
  FieldMap field_map;
  /// Fill Event::prompt. Without it prompt strings are skipped rather than unescaped, which is
  /// most of the parsing work on prompt-heavy logs; turns are still counted.
  bool read_prompt_text = true;
  /// Count the conversation's turns. Without it and without prompt text, the conversation is
  /// skipped whole (a metadata-only scan needs neither).
  bool read_turns = true;
  /// An OpenAI Batch input file given beside its output file: the output lines get their
  /// requests (prompt, parameters, model, endpoint) from it, joined on custom_id.
  std::shared_ptr<const BatchRequests> batch_requests;
};

/// Why a line was refused, with a short human detail ("response.usage.prompt_tokens: expected
/// an integer").
struct ParseError {
  BadLineReason reason = BadLineReason::bad_json;
  std::string detail;
};

/// Parses lines with one reused simdjson parser (and a few more for JSON held in strings).
/// Not thread-safe: one per thread.
class LineParser {
 public:
  explicit LineParser(ParserOptions options);
  ~LineParser();
  LineParser(const LineParser&) = delete;
  LineParser& operator=(const LineParser&) = delete;

  /// `line` excludes the newline; at least chunk_padding readable bytes must follow it.
  /// On success fills `event` (its views stay valid until the next call) and returns true.
  bool parse(std::string_view line, Event& event, ParseError& error);

  /// The format the last successful line was read as.
  InputFormat last_format() const;
  /// After a successful parse: the values the line held that were left out of its event (a
  /// negative latency, a request body cut short in a string), each with why. Empty for most
  /// lines; valid until the next call.
  std::span<const ParseError> left_out() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace exfilscan
