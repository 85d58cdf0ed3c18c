#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

namespace exfilscan::detail {

namespace {

bool read_response(Ctx& ctx, od::object& response) {
  for (auto f : response) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"response", "?"});
    std::string_view key = key_of(field);
    if (key == "status" || key == "status_code") {
      if (!read_int(ctx, field.value(), {"response", key}, ctx.event.status)) return false;
    } else if (key == "usage") {
      if (!with_object(ctx, field.value(), {"response", key},
                       [&](od::object& usage) { return read_usage(ctx, usage, "response.usage"); }))
        return false;
    }
  }
  return true;
}

}  // namespace

AdapterResult read_canonical(Ctx& ctx, od::object& root, bool sniffing, InputFormat& other) {
  Event& ev = ctx.event;
  for (auto f : root) {
    od::field field;
    if (auto e = std::move(f).get(field))
      return ctx.fail_json(e, {"", "line"}), AdapterResult::failed;
    std::string_view key = key_of(field);
    Where at{"", key};
    od::value v = field.value();
    bool ok = true;
    if (key == "timestamp") {
      ok = read_timestamp(ctx, v, at, ev.timestamp_ns);
      ctx.has_timestamp = ok;
    } else if (key == "request_id") {
      ok = read_string(ctx, v, at, ev.request_id);
    } else if (key == "org_id") {
      ok = read_string(ctx, v, at, ev.org);
    } else if (key == "project_id") {
      ok = read_string(ctx, v, at, ev.project);
    } else if (key == "api_key_id") {
      ok = read_string(ctx, v, at, ev.api_key);
    } else if (key == "user") {
      ok = read_string(ctx, v, at, ev.end_user);
    } else if (key == "ip") {
      ok = read_string(ctx, v, at, ev.ip);
    } else if (key == "user_agent") {
      ok = read_string(ctx, v, at, ev.user_agent);
    } else if (key == "endpoint") {
      ok = read_string(ctx, v, at, ev.endpoint);
    } else if (key == "request") {
      ok = with_object(ctx, v, at,
                       [&](od::object& body) { return read_request_body(ctx, body, "request"); });
    } else if (key == "response") {
      ok = with_object(ctx, v, at, [&](od::object& resp) { return read_response(ctx, resp); });
    } else if (key == "latency_ms") {
      ok = read_double(ctx, v, at, ev.latency_ms);
    } else if (key == "turns") {
      // Written by `normalize` when prompts are left out, so turns survive a round trip.
      std::optional<int64_t> turns;
      ok = read_int(ctx, v, at, turns);
      if (turns) ev.turns = turns;
    } else if (sniffing && key == "schemaType") {
      other = InputFormat::bedrock;
      return AdapterResult::other_format;
    } else if (sniffing && key == "call_type") {
      other = InputFormat::litellm;
      return AdapterResult::other_format;
    } else if (sniffing && key == "request_created_at") {
      other = InputFormat::helicone;
      return AdapterResult::other_format;
    } else if (sniffing && (key == "usage_details" || key == "provided_model_name")) {
      other = InputFormat::langfuse;
      return AdapterResult::other_format;
    } else if (sniffing && (key == "ai_org" || key == "req_units")) {
      other = InputFormat::portkey;
      return AdapterResult::other_format;
    } else if (sniffing && key == "resultSignature") {
      other = InputFormat::azure;
      return AdapterResult::other_format;
    } else if (sniffing && key == "isRequestSuccess") {
      other = InputFormat::azure_apim;
      return AdapterResult::other_format;
    }
    if (!ok) return AdapterResult::failed;
  }
  return AdapterResult::ok;
}

}  // namespace exfilscan::detail
