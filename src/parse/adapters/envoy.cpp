// Envoy's JSON access log in the key names of Istio's default format, which Higress and other
// Envoy-based gateways keep, with Higress's AI statistics (model and tokens, at the top level
// in older versions, in the JSON text of `ai_log` in newer ones). Envoy writes "-" for a value
// it does not have: that is absent, not an address or a model.
#include "parse/adapters/adapters.h"

namespace exfilscan::detail {

namespace {

bool is_dash(od::value& v) {
  std::string_view raw = v.raw_json_token();  // (with the whitespace after it)
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' || raw.back() == '\r'))
    raw.remove_suffix(1);
  return raw == "\"-\"";
}

bool text(Ctx& ctx, od::value v, Where at, std::string_view& out) {
  if (is_dash(v)) return true;
  std::string_view s;
  if (!read_string(ctx, v, at, s)) return false;
  if (!s.empty()) out = s;
  return true;
}

bool number(Ctx& ctx, od::value v, Where at, std::optional<int64_t>& out) {
  return is_dash(v) || read_int(ctx, v, at, out);
}

/// The address without its port: "203.0.113.7:51234", "[2001:db8::1]:443".
std::string_view address(std::string_view s) {
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    return close == std::string_view::npos ? s : s.substr(1, close - 1);
  }
  size_t colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) == std::string_view::npos)
    return s.substr(0, colon);  // one colon: IPv4 and a port (a bare IPv6 has several)
  return s;
}

struct EnvoyFields {
  std::string_view remote, forwarded_for, consumer;
  std::optional<int64_t> status;
};

/// Higress's AI statistics: model, input_token, output_token (strings of digits), consumer.
bool read_ai_fields(Ctx& ctx, std::string_view key, od::value v, Where at, EnvoyFields& e) {
  Event& ev = ctx.event;
  if (key == "model") return text(ctx, v, at, ev.model);
  if (key == "input_token") return number(ctx, v, at, ev.prompt_tokens);
  if (key == "output_token") return number(ctx, v, at, ev.completion_tokens);
  if (key == "consumer") return text(ctx, v, at, e.consumer);
  return true;
}

}  // namespace

bool read_envoy(Ctx& ctx, od::object& root) {
  Event& ev = ctx.event;
  EnvoyFields e;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    if (key == "start_time") {
      if (is_dash(v)) return true;
      if (!read_timestamp(ctx, v, at, ev.timestamp_ns)) return false;
      ctx.has_timestamp = true;
      return true;
    }
    if (key == "request_id") return text(ctx, v, at, ev.request_id);
    if (key == "path") return text(ctx, v, at, ev.endpoint);
    if (key == "user_agent") return text(ctx, v, at, ev.user_agent);
    if (key == "downstream_remote_address") return text(ctx, v, at, e.remote);
    if (key == "x_forwarded_for") return text(ctx, v, at, e.forwarded_for);
    if (key == "response_code") return number(ctx, v, at, e.status);
    if (key == "duration") {
      if (is_dash(v)) return true;
      return read_double(ctx, v, at, ev.latency_ms);
    }
    if (key == "ai_log") {
      if (is_dash(v) || is_null(v)) return true;
      return with_object(
          ctx, v, at,
          [&](od::object& ai) {
            return for_each_field(ctx, ai, {"ai_log", "?"}, [&](std::string_view k, od::value a) {
              return read_ai_fields(ctx, k, a, {"ai_log", k}, e);
            });
          },
          InString::lenient);
    }
    return read_ai_fields(ctx, key, v, at, e);
  });
  if (!fields_ok) return false;
  // Envoy's downstream address is already the client's when it trusts the forwarding hops
  // (xff_num_trusted_hops); the first X-Forwarded-For entry only when it has no address.
  if (!e.remote.empty()) {
    ev.ip = address(e.remote);
  } else if (!e.forwarded_for.empty()) {
    std::string_view first = e.forwarded_for.substr(0, e.forwarded_for.find(','));
    while (!first.empty() && first.back() == ' ') first.remove_suffix(1);
    ev.ip = address(first);
  }
  ev.api_key = e.consumer;
  // 0: the client went away before any answer.
  if (e.status && *e.status != 0) ev.status = e.status;
  return true;
}

}  // namespace exfilscan::detail
