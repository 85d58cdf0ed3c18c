#include "parse/request_body.h"

#include <exfilscan/hash.h>

#include <fmt/format.h>

#include <algorithm>

namespace exfilscan::detail {

namespace {

void add_part(Ctx& ctx, PromptRole role, std::string_view text) {
  if (text.empty()) return;
  ctx.prompt.push_back({role, text});
}

/// System text given beside the conversation goes before it, whichever key came first.
void add_leading_system(Ctx& ctx, std::string_view text) {
  if (text.empty()) return;
  auto& parts = ctx.prompt;
  parts.insert(parts.begin() + static_cast<std::ptrdiff_t>(ctx.leading_system_parts),
               {PromptRole::system, text});
  ++ctx.leading_system_parts;
}

void add_turn(Ctx& ctx) {
  ctx.event.turns = ctx.event.turns.value_or(0) + 1;
}

/// Bedrock's guardrail block, {guardContent:{text:{text, qualifiers}}}: text the caller sent
/// for the guardrail to judge, which the model reads as well.
bool read_guard_content(Ctx& ctx, od::value v, Where where, std::string_view& text) {
  return with_object(ctx, v, where, [&](od::object& guard) {
    return for_each_field(ctx, guard, where, [&](std::string_view key, od::value g) {
      if (key != "text") return true;
      return with_object(ctx, g, where, [&](od::object& block) {
        return for_each_field(ctx, block, where, [&](std::string_view k, od::value t) {
          return k != "text" || read_text(ctx, t, where, text);
        });
      });
    });
  });
}

/// The text blocks of one message are one piece of prompt, as the model reads them: joined by
/// a line break (kept in the arena), so that a message is one part whatever its shape.
void join_parts(Ctx& ctx, size_t first) {
  auto& parts = ctx.prompt;
  if (parts.size() - first < 2 || !ctx.arena) return;
  std::string& joined = ctx.arena->next();
  for (size_t i = first; i < parts.size(); ++i) {
    if (i > first) joined += '\n';
    joined.append(parts[i].text);
  }
  parts.resize(first + 1);
  parts[first].text = joined;
}

/// Text parts of a content array: OpenAI {type:text|input_text, text}, Bedrock {text} and
/// {guardContent}, Gemini {text}. Images, audio and files are skipped.
bool read_content_parts(Ctx& ctx, od::array& parts, Where where, PromptRole role) {
  size_t first = ctx.prompt.size();
  for (auto item : parts) {
    od::value part;
    if (auto e = item.get(part)) return ctx.fail_json(e, where);
    od::json_type type;
    if (auto e = part.type().get(type)) return ctx.fail_json(e, where);
    if (type == od::json_type::string) {  // a bare string among the parts
      std::string_view text;
      if (!read_text(ctx, part, where, text)) return false;
      add_part(ctx, role, text);
      continue;
    }
    if (type != od::json_type::object) continue;
    od::object obj;
    if (auto e = part.get_object().get(obj)) return ctx.fail_json(e, where);
    std::string_view text, kind;
    for (auto f : obj) {
      od::field field;
      if (auto e = std::move(f).get(field)) return ctx.fail_json(e, where);
      std::string_view key = key_of(field);
      if (key == "text") {
        if (!read_text(ctx, field.value(), where, text)) return false;
      } else if (key == "type") {
        if (!read_string(ctx, field.value(), where, kind)) return false;
      } else if (key == "guardContent") {
        if (!read_guard_content(ctx, field.value(), where, text)) return false;
      }
    }
    if (kind.empty() || kind == "text" || kind == "input_text") add_part(ctx, role, text);
  }
  join_parts(ctx, first);
  return true;
}

/// `content`: a string or an array of parts. A string is always text, even one that starts
/// with '{' or '[' (people paste JSON and code).
bool read_content(Ctx& ctx, od::value content, Where where, PromptRole role) {
  od::json_type type;
  if (auto e = content.type().get(type)) return ctx.fail_json(e, where);
  if (type == od::json_type::array) {
    od::array parts;
    if (auto e = content.get_array().get(parts)) return ctx.fail_json(e, where);
    return read_content_parts(ctx, parts, where, role);
  }
  std::string_view text;
  if (!read_text(ctx, content, where, text)) return false;
  add_part(ctx, role, text);
  return true;
}

/// One conversation item: {role, content} (OpenAI, Bedrock, Responses) or {role, parts}
/// (Gemini). Role may follow content, so parts are tagged once the item is read.
bool read_message(Ctx& ctx, od::object& msg, Where where) {
  auto& parts = ctx.prompt;
  size_t first = parts.size();
  std::string_view role;
  for (auto f : msg) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, where);
    std::string_view key = key_of(field);
    if (key == "role") {
      if (!read_string(ctx, field.value(), {where.parent, "messages[].role"}, role)) return false;
    } else if ((key == "content" || key == "parts") && ctx.read_text &&
               !(role == "assistant" || role == "model" || role == "tool")) {
      // (The role usually comes first: the answers in a history are then not even unescaped.)
      if (!read_content(ctx, field.value(), {where.parent, "messages[].content"}, PromptRole::user))
        return false;
    }
  }
  if (role == "system" || role == "developer") {
    for (size_t i = first; i < parts.size(); ++i) parts[i].role = PromptRole::system;
  } else if (role == "user" || role.empty()) {
    add_turn(ctx);
  } else {
    // Assistant, model and tool turns are the API's own words, not the caller's prompt.
    parts.resize(first);
  }
  return true;
}

bool read_message_array(Ctx& ctx, od::array& items, Where where) {
  for (auto item : items) {
    od::value v;
    if (auto e = item.get(v)) return ctx.fail_json(e, where);
    od::json_type type;
    if (auto e = v.type().get(type)) return ctx.fail_json(e, where);
    if (type == od::json_type::object) {
      od::object msg;
      if (auto e = v.get_object().get(msg)) return ctx.fail_json(e, where);
      if (!read_message(ctx, msg, where)) return false;
    } else if (type == od::json_type::string) {  // prompt lists: ["text", "text"]
      if (!ctx.read_text) continue;
      std::string_view text;
      if (!read_text(ctx, v, where, text)) return false;
      add_part(ctx, PromptRole::user, text);
    } else if (type == od::json_type::number || type == od::json_type::array) {
      ++ctx.event.token_array_prompts;                 // token ids: counted, not readable as text
      if (type == od::json_type::number) return true;  // one flat token array = one prompt
    }
  }
  return true;
}

bool read_system(Ctx& ctx, od::value v, Where where) {
  // A string (Anthropic, Responses `instructions`), [{text}] (Bedrock Converse) or
  // {parts:[{text}]} (Gemini systemInstruction).
  od::value sys = v;
  {
    od::json_type type;
    if (auto e = sys.type().get(type)) return ctx.fail_json(e, where);
    size_t before = ctx.prompt.size();
    if (type == od::json_type::string) {
      std::string_view text;
      if (!read_text(ctx, sys, where, text)) return false;
      add_leading_system(ctx, text);
      return true;
    }
    // Read into the tail, then move what was read to the front.
    if (type == od::json_type::array) {
      od::array parts;
      if (auto e = sys.get_array().get(parts)) return ctx.fail_json(e, where);
      if (!read_content_parts(ctx, parts, where, PromptRole::system)) return false;
    } else if (type == od::json_type::object) {
      od::object obj;
      if (auto e = sys.get_object().get(obj)) return ctx.fail_json(e, where);
      for (auto f : obj) {
        od::field field;
        if (auto e = std::move(f).get(field)) return ctx.fail_json(e, where);
        if (key_of(field) != "parts") continue;
        if (!read_content(ctx, field.value(), where, PromptRole::system)) return false;
      }
    } else if (type != od::json_type::null) {
      return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected text");
    }
    auto& parts = ctx.prompt;
    std::vector<PromptPart> tail(parts.begin() + static_cast<std::ptrdiff_t>(before), parts.end());
    parts.resize(before);
    for (const PromptPart& p : tail) add_leading_system(ctx, p.text);
    return true;
  }
}

bool read_logit_bias(Ctx& ctx, od::value v, Where where) {
  return with_object(ctx, v, where, [&](od::object& map) {
    RequestParams& p = ctx.event.params;
    std::string& json = p.logit_bias_json;
    json.clear();
    json += '{';
    int64_t entries = 0;
    uint64_t hash = 0;
    for (auto f : map) {
      od::field field;
      if (auto e = std::move(f).get(field)) return ctx.fail_json(e, where);
      std::string_view token = key_of(field);
      std::optional<double> bias;
      if (!read_double(ctx, field.value(), where, bias)) return false;
      // The API takes -100..100; a wild value (1e300) is held at a bound, never cast as it is.
      double b = std::clamp(bias.value_or(0), -1e6, 1e6);
      // Summing per-entry hashes makes the map's hash independent of key order.
      hash += mix64(hash_bytes(token) ^ static_cast<uint64_t>(static_cast<int64_t>(b * 1000)));
      if (entries++) json += ',';
      json += '"';
      json.append(token);
      json += "\":";
      json += fmt::format("{}", b);
    }
    json += '}';
    p.logit_bias_entries = entries;
    p.logit_bias_hash = entries ? hash : 0;
    return true;
  });
}

/// `messages` held as JSON in a string: an array of messages, or an object (LiteLLM's "{}" when
/// none were stored). False when the text is not one whole JSON value of those shapes.
bool read_messages_json(Ctx& ctx, std::string_view text, Where where) {
  simdjson::error_code code;
  od::document* doc = ctx.pool.parse(text, code);
  od::json_type type;
  if (!doc || doc->type().get(type)) return false;
  if (type == od::json_type::object) {
    od::object obj;
    if (doc->get_object().get(obj)) return false;
    for (auto f : obj) {
      od::field field;
      if (std::move(f).get(field)) return false;
    }
  } else if (type == od::json_type::array) {
    od::array items;
    if (doc->get_array().get(items) || !read_message_array(ctx, items, where)) return false;
  } else {
    return false;
  }
  return doc->current_location().error() == simdjson::OUT_OF_BOUNDS;  // nothing after it
}

}  // namespace

bool read_messages(Ctx& ctx, od::value v, Where where) {
  if (!ctx.read_text && !ctx.read_turns) return true;  // left unread: nothing needs it
  if (is_null(v)) return true;
  od::json_type type;
  if (auto e = v.type().get(type)) return ctx.fail_json(e, where);
  if (type == od::json_type::string) {
    // LiteLLM: the messages as JSON in a string ("{}" when not stored), or a text completion's
    // prompt. Text that merely starts with a bracket is still the prompt.
    std::string_view text;
    if (auto e = v.get_string().get(text)) return ctx.fail_json(e, where);
    size_t i = text.find_first_not_of(" \t\r\n");
    if (i != std::string_view::npos && (text[i] == '[' || text[i] == '{')) {
      // Read as JSON; if it turns out not to be (a legacy prompt "[INST] ..."), what was read
      // is undone and the string is the prompt.
      Snapshot before(ctx);
      if (read_messages_json(ctx, text, where)) return true;
      before.restore(ctx);
    }
    if (!ctx.read_text) {
      add_turn(ctx);
      return true;
    }
    add_part(ctx, PromptRole::user, text);
    if (!text.empty()) add_turn(ctx);
    return true;
  }
  if (type == od::json_type::object) return true;
  if (type != od::json_type::array)
    return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected an array");
  od::array items;
  if (auto e = v.get_array().get(items)) return ctx.fail_json(e, where);
  return read_message_array(ctx, items, where);
}

bool read_prompt_value(Ctx& ctx, od::value v, Where where) {
  if (!ctx.read_text && !ctx.read_turns) return true;
  od::json_type type;
  if (auto e = v.type().get(type)) return ctx.fail_json(e, where);
  if (type == od::json_type::null) return true;
  if (type == od::json_type::string) {
    if (!ctx.event.turns) ctx.event.turns = 1;
    if (!ctx.read_text) return true;
    std::string_view text;
    if (!read_text(ctx, v, where, text)) return false;
    add_part(ctx, PromptRole::user, text);
    return true;
  }
  if (type != od::json_type::array)
    return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected a string or an array");
  od::array items;
  if (auto e = v.get_array().get(items)) return ctx.fail_json(e, where);
  if (!read_message_array(ctx, items, where)) return false;
  // A list of prompt strings (or token arrays) is one request with no conversation: one turn.
  if (!ctx.event.turns) ctx.event.turns = 1;
  return true;
}

bool read_request_body(Ctx& ctx, od::object& body, std::string_view name) {
  Event& ev = ctx.event;
  RequestParams& p = ev.params;
  return for_each_field(ctx, body, {name, "?"}, [&](std::string_view key, od::value v) {
    Where at{name, key};
    bool ok = true;
    if (key == "model") {
      std::string_view model;
      ok = read_string(ctx, v, at, model);
      if (ev.model.empty()) ev.model = model;
    } else if (key == "messages" || key == "contents") {
      ok = read_messages(ctx, v, at);
    } else if (key == "prompt" || key == "input" || key == "inputText") {
      ok = read_prompt_value(ctx, v, at);
    } else if (key == "instructions" || key == "system" || key == "systemInstruction" ||
               key == "system_instruction") {
      if (ctx.read_text) ok = read_system(ctx, v, at);
    } else if (key == "n" || key == "candidateCount" || key == "candidate_count") {
      ok = read_int(ctx, v, at, p.n);
    } else if (key == "temperature") {
      ok = read_double(ctx, v, at, p.temperature);
    } else if (key == "top_p" || key == "topP") {
      ok = read_double(ctx, v, at, p.top_p);
    } else if (key == "max_tokens" || key == "max_completion_tokens" ||
               key == "max_output_tokens" || key == "maxTokens" || key == "max_gen_len" ||
               key == "maxTokenCount" || key == "maxOutputTokens") {
      ok = read_int(ctx, v, at, p.max_tokens);
    } else if (key == "logprobs") {
      // Chat: a bool. Legacy completions and Gemini: the number of alternatives, which also
      // turns logprobs on.
      od::json_type type;
      if (auto e = v.type().get(type)) return ctx.fail_json(e, at);
      if (type == od::json_type::number) {
        ok = read_int(ctx, v, at, p.top_logprobs);
        p.logprobs = true;
      } else {
        ok = read_bool(ctx, v, at, p.logprobs);
      }
    } else if (key == "responseLogprobs" || key == "response_logprobs") {
      ok = read_bool(ctx, v, at, p.logprobs);
    } else if (key == "top_logprobs") {
      ok = read_int(ctx, v, at, p.top_logprobs);
    } else if (key == "logit_bias") {
      ok = read_logit_bias(ctx, v, at);
    } else if (key == "echo") {
      ok = read_bool(ctx, v, at, p.echo);
    } else if (key == "best_of") {
      ok = read_int(ctx, v, at, p.best_of);
    } else if (key == "seed") {
      ok = read_int(ctx, v, at, p.seed);
    } else if (key == "stream") {
      ok = read_bool(ctx, v, at, p.stream);
    } else if (key == "user" || key == "safety_identifier") {
      std::string_view user;
      ok = read_string(ctx, v, at, user);
      if (ev.end_user.empty()) ev.end_user = user;
    } else if (key == "inferenceConfig" || key == "textGenerationConfig" ||
               key == "generationConfig" || key == "generation_config" ||
               key == "optional_params") {  // (LiteLLM's older GCS logger: request_kwargs)
      ok = with_object(ctx, v, at,
                       [&](od::object& inner) { return read_request_body(ctx, inner, name); });
    }
    return ok;
  });
}

bool read_usage(Ctx& ctx, od::object& usage, std::string_view name) {
  Event& ev = ctx.event;
  return for_each_field(ctx, usage, {name, "?"}, [&](std::string_view key, od::value v) {
    Where at{name, key};
    bool ok = true;
    // Gemini's names are camelCase in REST bodies, snake_case from the Python SDK and BigQuery.
    if (key == "prompt_tokens" || key == "input_tokens" || key == "inputTokens" ||
        key == "promptTokenCount" || key == "prompt_token_count") {
      ok = read_int(ctx, v, at, ev.prompt_tokens);
    } else if (key == "completion_tokens" || key == "output_tokens" || key == "outputTokens" ||
               key == "candidatesTokenCount" || key == "candidates_token_count") {
      ok = read_int(ctx, v, at, ev.completion_tokens);
    } else if (key == "thoughtsTokenCount" || key == "thoughts_token_count" ||
               key == "reasoning_tokens") {
      ok = read_int(ctx, v, at, ev.reasoning_tokens);
    } else if (key == "completion_tokens_details" || key == "output_tokens_details" ||
               key == "usageMetadata" || key == "usage_metadata" || key == "usage") {
      // (usageMetadata and usage: a whole Gemini or Anthropic response where the usage was
      // expected, as Vertex AI's rows keep it)
      ok = with_object(ctx, v, at,
                       [&](od::object& details) { return read_usage(ctx, details, name); });
    }
    return ok;
  });
}

}  // namespace exfilscan::detail
