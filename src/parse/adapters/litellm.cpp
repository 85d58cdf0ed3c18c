#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

namespace exfilscan::detail {

namespace {

/// What LiteLLM spreads over several places; settled once the line is read.
struct LiteLLMFields {
  std::string_view status;  // "success" | "failure"
  std::optional<int64_t> error_code;
  std::string_view route;  // metadata.user_api_key_request_route
  std::string_view call_type;
  std::string_view model, model_group;
  std::optional<int64_t> end_ns;
  std::optional<double> duration_ms;
};

void set_if_empty(std::string_view& field, std::string_view value) {
  if (field.empty()) field = value;
}

bool read_error_information(Ctx& ctx, od::value v, LiteLLMFields& ll) {
  return with_object(ctx, v, {"", "error_information"}, [&](od::object& info) {
    for (auto f : info) {
      od::field field;
      if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"error_information", "?"});
      if (key_of(field) != "error_code") continue;
      // error_code is the HTTP status as a string; some providers put a name there instead.
      std::string_view code;
      if (!read_string(ctx, field.value(), {"error_information", "error_code"}, code)) return false;
      if (code.empty() || code.size() > 3) continue;  // a status has three digits at most
      int64_t n = 0;
      bool digits = true;
      for (char c : code) digits = digits && c >= '0' && c <= '9', n = n * 10 + (c - '0');
      if (digits) ll.error_code = n;
    }
    return true;
  });
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

}  // namespace

bool read_litellm(Ctx& ctx, od::object& root) {
  Event& ev = ctx.event;
  LiteLLMFields ll;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    bool ok = true;
    std::string_view s;
    if (key == "startTime") {
      ok = read_timestamp(ctx, v, at, ev.timestamp_ns);
      ctx.has_timestamp = ok;
    } else if (key == "endTime") {
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
      ok = read_bool(ctx, v, at, ev.params.stream);
    } else if (key == "messages") {
      ok = read_messages(ctx, v, at);
    } else if (key == "proxy_server_request" || key == "model_parameters") {
      ok = with_object(ctx, v, at,
                       [&](od::object& body) { return read_request_body(ctx, body, key); });
    } else if (key == "response") {
      ok = with_object(ctx, v, at, [&](od::object& r) { return read_response_object(ctx, r); });
    } else if (key == "metadata") {
      ok = with_object(ctx, v, at, [&](od::object& m) { return read_metadata(ctx, m, ll); });
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
  // LiteLLM keeps success/failure, not the HTTP status: success is read as 200 and a failure
  // as its error code (absent when LiteLLM recorded none).
  if (ll.error_code)
    ev.status = ll.error_code;
  else if (ll.status == "success")
    ev.status = 200;
  if (ll.duration_ms)
    ev.latency_ms = ll.duration_ms;
  else if (ll.end_ns && ctx.has_timestamp && *ll.end_ns >= ev.timestamp_ns)
    ev.latency_ms = static_cast<double>(*ll.end_ns - ev.timestamp_ns) / 1e6;
  return true;
}

}  // namespace exfilscan::detail
