#include <exfilscan/parse/event.h>

namespace exfilscan {

std::string_view to_string(EndpointKind kind) {
  switch (kind) {
    case EndpointKind::chat:
      return "chat";
    case EndpointKind::completion:
      return "completion";
    case EndpointKind::embedding:
      return "embedding";
    case EndpointKind::responses:
      return "responses";
    case EndpointKind::other:
      return "other";
    case EndpointKind::unknown:
      break;
  }
  return "unknown";
}

namespace {
bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

/// `part` in lower case: Vertex AI writes its methods as generateContent and GenerateContent.
bool contains_nocase(std::string_view s, std::string_view part) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  for (size_t i = 0; i + part.size() <= s.size(); ++i) {
    size_t j = 0;
    while (j < part.size() && lower(s[i + j]) == part[j]) ++j;
    if (j == part.size()) return true;
  }
  return false;
}
}  // namespace

EndpointKind classify_endpoint(std::string_view e) {
  if (e.empty()) return EndpointKind::unknown;
  // Paths (OpenAI, Azure deployments, gateways), LiteLLM call types, Bedrock operations, Gemini
  // methods, Vertex AI's rawPredict (Anthropic's Messages there) and Langfuse observation types
  // (a GENERATION is a model call).
  if (contains(e, "chat/completions") || contains(e, "ChatCompletions") || e == "acompletion" ||
      e == "completion" || e.starts_with("Converse") || e.starts_with("InvokeModel") ||
      contains(e, "/messages") || e == "GENERATION" || contains_nocase(e, "generatecontent") ||
      contains_nocase(e, "rawpredict"))
    return EndpointKind::chat;
  if (contains(e, "completions") || contains(e, "Completions_Create") ||
      contains(e, "text_completion"))
    return EndpointKind::completion;
  if (contains(e, "embedding") || contains(e, "Embeddings") || e == "EMBEDDING")
    return EndpointKind::embedding;
  if (contains(e, "responses")) return EndpointKind::responses;
  return EndpointKind::other;
}

void Event::clear() {
  std::string keep_bias = std::move(params.logit_bias_json);
  *this = Event{};
  keep_bias.clear();
  params.logit_bias_json = std::move(keep_bias);
}

}  // namespace exfilscan
