#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

#include <cstdint>
#include <iterator>

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

InputFormat sniff_key(std::string_view key) {
  // A key only another format has. Canonical lines meet this for their unknown keys only.
  struct Entry {
    std::string_view key;
    InputFormat format;
  };
  static constexpr Entry keys[] = {
      {"schemaType", InputFormat::bedrock},
      {"call_type", InputFormat::litellm},
      {"request_kwargs", InputFormat::litellm},  // LiteLLM's older GCS bucket logger
      {"response_obj", InputFormat::litellm},
      {"request_created_at", InputFormat::helicone},
      {"usage_details", InputFormat::langfuse},
      {"provided_model_name", InputFormat::langfuse},
      {"usageDetails", InputFormat::langfuse},  // Langfuse's public API, in camelCase
      {"costDetails", InputFormat::langfuse},
      {"modelParameters", InputFormat::langfuse},
      {"completionStartTime", InputFormat::langfuse},
      {"parentObservationId", InputFormat::langfuse},
      {"ai_org", InputFormat::portkey},
      {"req_units", InputFormat::portkey},
      {"resultSignature", InputFormat::azure},
      {"isRequestSuccess", InputFormat::azure_apim},
      {"custom_id", InputFormat::openai_batch},
      {"tokens_prompt", InputFormat::openrouter},
      {"native_tokens_prompt", InputFormat::openrouter},
      {"upstream_inference_cost", InputFormat::openrouter},
      {"latencies", InputFormat::kong},
      {"upstream_uri", InputFormat::kong},
      {"authenticated_entity", InputFormat::kong},
      {"downstream_remote_address", InputFormat::envoy},
      {"upstream_cluster", InputFormat::envoy},
      {"response_flags", InputFormat::envoy},
      {"upstream_service_time", InputFormat::envoy},
      {"ai_log", InputFormat::envoy},
      {"logging_time", InputFormat::vertex},
      {"full_request", InputFormat::vertex},
      {"full_response", InputFormat::vertex},
      {"deployed_model_id", InputFormat::vertex},
      {"RequestedModel", InputFormat::cloudflare},
      {"RateLimited", InputFormat::cloudflare},
      {"Gateway", InputFormat::cloudflare},
      {"tokens_in", InputFormat::cloudflare},  // its log API's entries
  };
  // The keys by length: a canonical line's unknown key is compared with those of its length
  // only (one or two for most), as a canonical log pays this on every line.
  struct Buckets {
    uint8_t count[64] = {};
    uint8_t index[64][8] = {};
  };
  static constexpr Buckets buckets = [] {
    Buckets b;
    for (size_t i = 0; i < std::size(keys); ++i) {
      size_t n = keys[i].key.size();
      if (n >= 64 || b.count[n] == 8) throw "sniff_key: a bucket is full";  // (at compile time)
      b.index[n][b.count[n]++] = static_cast<uint8_t>(i);
    }
    return b;
  }();
  if (key.size() >= 64) return InputFormat::canonical;
  for (uint8_t i = 0; i < buckets.count[key.size()]; ++i) {
    const Entry& e = keys[buckets.index[key.size()][i]];
    if (e.key[0] == key[0] && e.key == key) return e.format;  // (no call for most keys)
  }
  return InputFormat::canonical;
}

InputFormat sniff_data(od::value v) {
  od::json_type type;
  od::object obj;
  std::string_view raw;
  if (v.type().get(type) || type != od::json_type::object || v.get_object().get(obj) ||
      obj.raw_json().get(raw))
    return InputFormat::canonical;
  // (raw_json consumed the value, which a canonical line does not read anyway.)
  bool generation = raw.find("\"tokens_prompt\"") != std::string_view::npos ||
                    raw.find("\"native_tokens_prompt\"") != std::string_view::npos ||
                    raw.find("\"id\":\"gen-") != std::string_view::npos;
  return generation ? InputFormat::openrouter : InputFormat::canonical;
}

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
    } else if (sniffing) {
      InputFormat sniffed = sniff_key(key);
      // OpenRouter's generation API wraps its record in "data", a name too common to take
      // alone: the object must be a generation (a "gen-" id, its token counts).
      if (sniffed == InputFormat::canonical && key == "data") sniffed = sniff_data(v);
      if (sniffed != InputFormat::canonical) {
        other = sniffed;
        return AdapterResult::other_format;
      }
    }
    if (!ok) return AdapterResult::failed;
  }
  return AdapterResult::ok;
}

}  // namespace exfilscan::detail
