#pragma once
/// Internal: the request and usage objects shared by every adapter. One reader covers OpenAI
/// chat, legacy completions, embeddings and Responses bodies, LiteLLM model_parameters, Bedrock
/// (Converse, Anthropic, Meta, Titan) and Gemini bodies: their keys do not collide.

#include "parse/json_fields.h"

namespace exfilscan::detail {

/// Prompt, parameters, model and end user from a request body.
bool read_request_body(Ctx& ctx, od::object& body, std::string_view name);
/// A `messages` array (or a string holding one).
bool read_messages(Ctx& ctx, od::value v, Where where);
/// A prompt given as a string, a list of strings, token ids or message items.
bool read_prompt_value(Ctx& ctx, od::value v, Where where);
/// Token counts from an OpenAI, Responses, Bedrock or Gemini usage object.
bool read_usage(Ctx& ctx, od::object& usage, std::string_view name);

}  // namespace exfilscan::detail
