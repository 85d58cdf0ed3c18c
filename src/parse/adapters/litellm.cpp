#include "parse/adapters/adapters.h"
#include "parse/python_literal.h"
#include "parse/request_body.h"

#include <cctype>

namespace exfilscan::detail {

namespace {

/// What LiteLLM spreads over several places; settled once the line is read.
struct LiteLLMFields {
  std::string_view status;  // "success" | "failure"
  std::optional<int64_t> error_code;
  // What a failure says of itself, when no error_code is an HTTP status: a status in the
  // error's text ("401 - ..."), the exception's class, an OpenAI error code.
  std::optional<int64_t> error_text_code;
  std::optional<int64_t> error_class_code;
  bool has_error = false;
  std::optional<bool> stream;  // the top-level flag: whether the call streamed
  std::string_view route;      // metadata.user_api_key_request_route
  std::string_view call_type;
  std::string_view model, model_group;
  std::optional<int64_t> end_ns;
  std::optional<double> duration_ms;
};

void set_if_empty(std::string_view& field, std::string_view value) {
  if (field.empty()) field = value;
}

/// A status of three digits, 100 to 599, alone or at the start of `s` ("401 - {...}").
std::optional<int64_t> leading_status(std::string_view s) {
  if (s.size() < 3) return std::nullopt;
  int64_t n = 0;
  for (size_t i = 0; i < 3; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    n = n * 10 + (s[i] - '0');
  }
  if (s.size() > 3 && s[3] >= '0' && s[3] <= '9') return std::nullopt;
  if (n < 100 || n > 599) return std::nullopt;
  return n;
}

/// The status in an error's text: at its start, or after "Error code: " (the OpenAI SDK's
/// wording, which LiteLLM passes on: "litellm.AuthenticationError: ... Error code: 401 - ...").
std::optional<int64_t> status_in_text(std::string_view text) {
  if (auto n = leading_status(text)) return n;
  for (std::string_view marker : {"Error code: ", "status_code: ", "status_code="}) {
    size_t at = text.find(marker);
    if (at != std::string_view::npos)
      if (auto n = leading_status(text.substr(at + marker.size()))) return n;
  }
  return std::nullopt;
}

/// The HTTP status LiteLLM's exception classes (after OpenAI's) stand for, found by name in a
/// class or in the text ("litellm.RateLimitError: ..."); OpenAI's error codes too.
std::optional<int64_t> status_of_error_name(std::string_view text) {
  struct Entry {
    std::string_view name;
    int64_t status;
  };
  static constexpr Entry table[] = {
      {"AuthenticationError", 401},
      {"PermissionDeniedError", 403},
      {"NotFoundError", 404},
      {"Timeout", 408},
      {"UnprocessableEntityError", 422},
      {"RateLimitError", 429},
      {"ContextWindowExceededError", 400},
      {"ContentPolicyViolationError", 400},
      {"BadRequestError", 400},
      {"BudgetExceededError", 400},
      {"ServiceUnavailableError", 503},
      {"InternalServerError", 500},
      {"APIConnectionError", 500},
      {"rate_limit_exceeded", 429},
      {"insufficient_quota", 429},
      {"invalid_api_key", 401},
      {"model_not_found", 404},
      {"context_length_exceeded", 400},
  };
  for (const Entry& e : table)
    if (text.find(e.name) != std::string_view::npos) return e.status;
  return std::nullopt;
}

bool read_error_information(Ctx& ctx, od::value v, LiteLLMFields& ll) {
  return with_object(ctx, v, {"", "error_information"}, [&](od::object& info) {
    return for_each_field(ctx, info, {"error_information", "?"},
                          [&](std::string_view key, od::value f) {
                            Where at{"error_information", key};
                            std::string_view text;
                            if (key == "error_code") {
                              // The HTTP status as a string; some providers put a name there
                              // instead.
                              if (!read_string(ctx, f, at, text)) return false;
                              if (text.size() == 3 && leading_status(text)) {
                                ll.error_code = leading_status(text);
                              } else if (!ll.error_class_code) {
                                ll.error_class_code = status_of_error_name(text);
                              }
                            } else if (key == "error" || key == "error_message") {
                              if (!read_string(ctx, f, at, text)) return false;
                              if (!ll.error_text_code) ll.error_text_code = status_in_text(text);
                              if (!ll.error_class_code)
                                ll.error_class_code = status_of_error_name(text);
                            } else if (key == "error_class") {
                              if (!read_string(ctx, f, at, text)) return false;
                              if (auto n = status_of_error_name(text)) ll.error_class_code = n;
                            } else {
                              return true;
                            }
                            ll.has_error = ll.has_error || !text.empty();
                            return true;
                          });
  });
}

/// The status of a LiteLLM row: LiteLLM keeps success/failure, not the HTTP status.
std::optional<int64_t> status_of(const LiteLLMFields& ll) {
  if (ll.error_code) return ll.error_code;
  if (ll.status == "success") return 200;
  if (ll.status != "failure" && !ll.has_error) return std::nullopt;
  if (ll.error_text_code) return ll.error_text_code;
  if (ll.error_class_code) return ll.error_class_code;
  return 500;  // a failure is an error; LiteLLM's proxy answers 500 for one it cannot place
}

bool read_metadata(Ctx& ctx, od::object& meta, LiteLLMFields& ll) {
  Event& ev = ctx.event;
  return for_each_field(ctx, meta, {"metadata", "?"}, [&](std::string_view key, od::value v) {
    Where at{"metadata", key};
    std::string_view s;
    bool ok = true;
    if (key == "user_api_key_hash" || key == "user_api_key") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.api_key, s);
    } else if (key == "user_api_key_org_id") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.org, s);
    } else if (key == "user_api_key_team_id") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.project, s);
    } else if (key == "user_api_key_end_user_id") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.end_user, s);
    } else if (key == "requester_ip_address") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.ip, s);
    } else if (key == "user_api_key_request_route") {
      ok = read_string(ctx, v, at, ll.route);
    } else if (key == "error_information") {
      ok = read_error_information(ctx, v, ll);
    } else if (key == "additional_usage_values" || key == "usage_object") {
      ok = with_object(ctx, v, at,
                       [&](od::object& usage) { return read_usage(ctx, usage, "metadata"); });
    }
    return ok;
  });
}

bool read_response_object(Ctx& ctx, od::object& response) {
  for (auto f : response) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"response", "?"});
    if (key_of(field) == "id") {  // the older GCS logger's response_obj has the only id
      std::string_view id;
      if (!read_string(ctx, field.value(), {"response", "id"}, id)) return false;
      set_if_empty(ctx.event.request_id, id);
      continue;
    }
    if (key_of(field) != "usage") continue;
    // Only reasoning tokens are taken from here; the row's own counters come first.
    std::optional<int64_t> prompt = ctx.event.prompt_tokens;
    std::optional<int64_t> completion = ctx.event.completion_tokens;
    if (!with_object(ctx, field.value(), {"response", "usage"},
                     [&](od::object& usage) { return read_usage(ctx, usage, "response.usage"); }))
      return false;
    if (prompt) ctx.event.prompt_tokens = prompt;
    if (completion) ctx.event.completion_tokens = completion;
  }
  return true;
}

/// A value LiteLLM's older S3, DynamoDB and generic loggers wrote as str() of a dict or list
/// (Python's repr), parsed as the JSON it stands for and handed to fn(od::value&); any other
/// value goes to fn as it is. False only when fn fails.
template <typename Fn>
bool with_python_literal(Ctx& ctx, od::value v, Where at, Fn&& fn) {
  od::json_type type;
  if (auto e = v.type().get(type)) return ctx.fail_json(e, at);
  if (type == od::json_type::string) {
    std::string_view text;
    if (auto e = v.get_string().get(text)) return ctx.fail_json(e, at);
    // Only what opens like a repr ({'role': ..., [{'role': ...): JSON in a string, as the
    // current loggers write it, is parsed once, below.
    size_t i = text.find_first_not_of(" \t\r\n[{(");
    if (i != std::string_view::npos && i > 0 && text[i] == '\'') {
      std::string json;
      if (python_literal_to_json(text, json)) {
        simdjson::error_code code;
        od::document* doc = ctx.pool.parse(json, code);
        od::value inner;
        if (doc && !doc->get_value().get(inner)) return fn(inner);
      }
    }
  }
  return fn(v);
}

/// A string holding a Python object's repr: Name(...).
bool is_object_repr(od::value& v) {
  std::string_view raw = v.raw_json_token();
  size_t i = 1;
  while (i < raw.size() && (std::isalnum(static_cast<unsigned char>(raw[i])) || raw[i] == '_')) ++i;
  return raw.size() > 2 && raw[0] == '"' && i > 1 && i < raw.size() && raw[i] == '(';
}

/// A usage object, JSON or a dict's repr, or the repr of LiteLLM's Usage object
/// ("Usage(completion_tokens=20, prompt_tokens=10, total_tokens=30, ...)").
bool read_legacy_usage(Ctx& ctx, od::value v, Where at) {
  Event& ev = ctx.event;
  od::json_type type;
  if (auto e = v.type().get(type)) return ctx.fail_json(e, at);
  if (type == od::json_type::string) {
    std::string_view text;
    if (auto e = v.get_string().get(text)) return ctx.fail_json(e, at);
    if (text.starts_with("Usage(")) {
      auto count = [&](std::string_view name, std::optional<int64_t>& out) {
        size_t p = text.find(name);
        if (p == std::string_view::npos) return;
        int64_t n = 0;
        size_t i = p + name.size(), start = i;
        for (; i < text.size() && i - start < 12 && text[i] >= '0' && text[i] <= '9'; ++i)
          n = n * 10 + (text[i] - '0');
        if (i > start && !out) out = n;
      };
      count("completion_tokens=", ev.completion_tokens);
      count("prompt_tokens=", ev.prompt_tokens);
      count("reasoning_tokens=", ev.reasoning_tokens);
      return true;
    }
  }
  // The row's own prompt_tokens and completion_tokens, when it has them, come first.
  std::optional<int64_t> prompt = ev.prompt_tokens, completion = ev.completion_tokens;
  bool ok = with_python_literal(ctx, v, at, [&](od::value& inner) {
    return with_object(
        ctx, inner, at, [&](od::object& usage) { return read_usage(ctx, usage, "usage"); },
        InString::lenient);
  });
  if (prompt) ev.prompt_tokens = prompt;
  if (completion) ev.completion_tokens = completion;
  return ok;
}

}  // namespace

bool read_litellm(Ctx& ctx, od::object& root) {
  Event& ev = ctx.event;
  LiteLLMFields ll;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    bool ok = true;
    std::string_view s;
    if (key == "startTime" || key == "start_time") {
      ok = read_timestamp(ctx, v, at, ev.timestamp_ns);
      ctx.has_timestamp = ok;
    } else if (key == "endTime" || key == "end_time") {
      int64_t end = 0;
      if (!is_null(v)) ok = read_timestamp(ctx, v, at, end), ll.end_ns = end;
    } else if (key == "request_duration_ms") {
      ok = read_double(ctx, v, at, ll.duration_ms);
    } else if (key == "request_id" || key == "id") {
      ok = read_string(ctx, v, at, s);
      set_if_empty(ev.request_id, s);
    } else if (key == "organization_id") {
      ok = read_string(ctx, v, at, ev.org);
    } else if (key == "team_id") {
      ok = read_string(ctx, v, at, ev.project);
    } else if (key == "api_key") {
      ok = read_string(ctx, v, at, ev.api_key);
    } else if (key == "end_user") {
      ok = read_string(ctx, v, at, ev.end_user);
    } else if (key == "requester_ip_address") {
      ok = read_string(ctx, v, at, ev.ip);
    } else if (key == "user_agent") {
      ok = read_string(ctx, v, at, ev.user_agent);
    } else if (key == "call_type") {
      ok = read_string(ctx, v, at, ll.call_type);
    } else if (key == "model") {
      ok = read_string(ctx, v, at, ll.model);
    } else if (key == "model_group") {
      ok = read_string(ctx, v, at, ll.model_group);
    } else if (key == "status") {
      ok = read_string(ctx, v, at, ll.status);
    } else if (key == "prompt_tokens") {
      ok = read_int(ctx, v, at, ev.prompt_tokens);
    } else if (key == "completion_tokens") {
      ok = read_int(ctx, v, at, ev.completion_tokens);
    } else if (key == "stream") {
      ok = read_bool(ctx, v, at, ll.stream);
    } else if (key == "error_str") {
      ok = read_string(ctx, v, at, s);
      if (!ll.error_text_code) ll.error_text_code = status_in_text(s);
      if (!ll.error_class_code) ll.error_class_code = status_of_error_name(s);
      ll.has_error = ll.has_error || !s.empty();
    } else if (key == "messages") {
      ok = with_python_literal(ctx, v, at, [&](od::value& m) { return read_messages(ctx, m, at); });
    } else if (key == "proxy_server_request" || key == "model_parameters" ||
               key == "modelParameters" || key == "request_kwargs") {
      // (modelParameters: the older loggers; request_kwargs {model, messages,
      // optional_params}: the older GCS bucket logger)
      ok = with_python_literal(ctx, v, at, [&](od::value& p) {
        return with_object(ctx, p, at,
                           [&](od::object& body) { return read_request_body(ctx, body, key); });
      });
    } else if (key == "response" || key == "response_obj") {
      // The older loggers wrote the repr of the response object, ModelResponse(...): there is
      // nothing to read in it that the usage beside it does not say.
      if (is_object_repr(v)) return true;
      ok = with_python_literal(ctx, v, at, [&](od::value& r) {
        return with_object(
            ctx, r, at, [&](od::object& obj) { return read_response_object(ctx, obj); },
            InString::lenient);
      });
    } else if (key == "usage") {
      ok = read_legacy_usage(ctx, v, at);
    } else if (key == "metadata" || key == "spend_log_metadata") {
      ok = with_python_literal(ctx, v, at, [&](od::value& m) {
        return with_object(ctx, m, at,
                           [&](od::object& obj) { return read_metadata(ctx, obj, ll); });
      });
    } else if (key == "log_event_type") {
      // The older GCS bucket logger: successful_api_call or failed_api_call.
      ok = read_string(ctx, v, at, s);
      if (s == "failed_api_call") ll.status = "failure";
      if (s == "successful_api_call") ll.status = "success";
    } else if (key == "exception") {
      ok = read_string(ctx, v, at, s);
      if (!ll.error_text_code) ll.error_text_code = status_in_text(s);
      if (!ll.error_class_code) ll.error_class_code = status_of_error_name(s);
      ll.has_error = ll.has_error || !s.empty();
    } else if (key == "error_information") {
      ok = read_error_information(ctx, v, ll);
    }
    return ok;
  });
  if (!fields_ok) return false;
  // The route is the real endpoint; the call type is what LiteLLM made of it.
  ev.endpoint = !ll.route.empty() ? ll.route : ll.call_type;
  // model_group is the alias the client asked for; model is the deployment it was routed to.
  if (!ll.model_group.empty())
    ev.model = ll.model_group;
  else if (!ll.model.empty())
    ev.model = ll.model;
  ev.status = status_of(ll);
  // The top-level flag says how the call went; model_parameters and the client's body only
  // what was asked.
  if (ll.stream) ev.params.stream = ll.stream;
  // (An endTime before startTime gives a negative latency, which the parser leaves out.)
  if (ll.duration_ms)
    ev.latency_ms = ll.duration_ms;
  else if (ll.end_ns && ctx.has_timestamp)
    ev.latency_ms = static_cast<double>(*ll.end_ns - ev.timestamp_ns) / 1e6;
  return true;
}

}  // namespace exfilscan::detail
