// Kong Gateway's log serializer (the http-log, file-log, tcp-log... plugins): one entry per
// request, with an `ai` block when an AI plugin (ai-proxy, ai-proxy-advanced...) handled it.
#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

namespace exfilscan::detail {

namespace {

/// What an entry spreads over several places; settled once the line is read.
struct KongFields {
  std::string_view uri, upstream_uri;
  std::string_view consumer_username, consumer_custom_id, consumer_id, credential_id;
  std::string_view request_model, response_model;
  // The AI plugin's usage: the proxy plugin's when several AI plugins ran.
  std::optional<int64_t> prompt_tokens, completion_tokens;
  bool usage_from_proxy = false;
};

bool read_request(Ctx& ctx, od::object& request, KongFields& k) {
  Event& ev = ctx.event;
  return for_each_field(ctx, request, {"request", "?"}, [&](std::string_view key, od::value v) {
    Where at{"request", key};
    if (key == "id") return read_string(ctx, v, at, ev.request_id);
    if (key == "uri") return read_string(ctx, v, at, k.uri);
    if (key != "headers") return true;
    return with_object(ctx, v, at, [&](od::object& headers) {
      return for_each_field(ctx, headers, at, [&](std::string_view name, od::value h) {
        if (name != "user-agent") return true;
        od::json_type type;  // a header sent twice is logged as a list
        if (auto e = h.type().get(type)) return ctx.fail_json(e, at);
        return type != od::json_type::string || read_string(ctx, h, at, ev.user_agent);
      });
    });
  });
}

bool read_consumer(Ctx& ctx, od::object& consumer, KongFields& k) {
  return for_each_field(ctx, consumer, {"consumer", "?"}, [&](std::string_view key, od::value v) {
    Where at{"consumer", key};
    if (key == "username") return read_string(ctx, v, at, k.consumer_username);
    if (key == "custom_id") return read_string(ctx, v, at, k.consumer_custom_id);
    if (key == "id") return read_string(ctx, v, at, k.consumer_id);
    return true;
  });
}

bool read_usage_block(Ctx& ctx, od::object& usage, bool proxy, KongFields& k) {
  std::optional<int64_t> prompt, completion;
  bool ok = for_each_field(ctx, usage, {"ai.usage", "?"}, [&](std::string_view key, od::value v) {
    Where at{"ai.usage", key};
    // The docs of 3.6 write prompt_token; the plugins write prompt_tokens.
    if (key == "prompt_tokens" || key == "prompt_token") return read_int(ctx, v, at, prompt);
    if (key == "completion_tokens" || key == "completion_token")
      return read_int(ctx, v, at, completion);
    return true;
  });
  if (!ok) return false;
  if (k.usage_from_proxy && !proxy) return true;
  if (prompt || completion) {
    k.prompt_tokens = prompt;
    k.completion_tokens = completion;
    k.usage_from_proxy = proxy;
  }
  return true;
}

/// {request, response}: the bodies, logged when log_payloads is on, as the JSON text of each
/// (cut at a size).
bool read_payload(Ctx& ctx, od::object& payload) {
  return for_each_field(ctx, payload, {"ai.payload", "?"}, [&](std::string_view key, od::value v) {
    if (key != "request") return true;
    return with_object(
        ctx, v, {"ai.payload", "request"},
        [&](od::object& body) { return read_request_body(ctx, body, "ai.payload.request"); },
        InString::lenient);
  });
}

/// One AI plugin's block: {payload, usage, meta}.
bool read_plugin(Ctx& ctx, od::object& plugin, bool proxy, KongFields& k) {
  return for_each_field(ctx, plugin, {"ai", "?"}, [&](std::string_view key, od::value v) {
    Where at{"ai", key};
    if (key == "usage")
      return with_object(ctx, v, at,
                         [&](od::object& u) { return read_usage_block(ctx, u, proxy, k); });
    if (key == "meta") {
      return with_object(ctx, v, at, [&](od::object& meta) {
        return for_each_field(ctx, meta, {"ai.meta", "?"}, [&](std::string_view m, od::value mv) {
          Where mat{"ai.meta", m};
          if (m == "request_model" && k.request_model.empty())
            return read_string(ctx, mv, mat, k.request_model);
          if (m == "response_model" && k.response_model.empty())
            return read_string(ctx, mv, mat, k.response_model);
          return true;
        });
      });
    }
    if (key == "payload")
      return with_object(ctx, v, at, [&](od::object& p) { return read_payload(ctx, p); });
    return true;
  });
}

bool read_ai(Ctx& ctx, od::object& ai, KongFields& k) {
  return for_each_field(ctx, ai, {"ai", "?"}, [&](std::string_view name, od::value v) {
    // {payload: {request}} beside one block per plugin, named by the plugin ("proxy",
    // "ai-proxy-advanced", "ai-request-transformer"...).
    bool proxy = name.find("proxy") != std::string_view::npos;
    if (name == "payload")
      return with_object(ctx, v, {"ai", name}, [&](od::object& p) { return read_payload(ctx, p); });
    od::json_type type;
    if (auto e = v.type().get(type)) return ctx.fail_json(e, {"ai", name});
    if (type != od::json_type::object) return true;
    od::object plugin;
    if (auto e = v.get_object().get(plugin)) return ctx.fail_json(e, {"ai", name});
    return read_plugin(ctx, plugin, proxy, k);
  });
}

}  // namespace

bool read_kong(Ctx& ctx, od::object& root) {
  Event& ev = ctx.event;
  KongFields k;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    if (key == "started_at") {
      if (!read_timestamp(ctx, v, at, ev.timestamp_ns)) return false;
      ctx.has_timestamp = true;
      return true;
    }
    if (key == "client_ip") return read_string(ctx, v, at, ev.ip);
    if (key == "upstream_uri") return read_string(ctx, v, at, k.upstream_uri);
    if (key == "workspace_name") return read_string(ctx, v, at, ev.org);
    if (key == "request")
      return with_object(ctx, v, at, [&](od::object& r) { return read_request(ctx, r, k); });
    if (key == "response") {
      return with_object(ctx, v, at, [&](od::object& r) {
        return for_each_field(ctx, r, {"response", "?"}, [&](std::string_view rk, od::value rv) {
          return rk != "status" || read_int(ctx, rv, {"response", rk}, ev.status);
        });
      });
    }
    if (key == "latencies") {
      return with_object(ctx, v, at, [&](od::object& l) {
        return for_each_field(ctx, l, {"latencies", "?"}, [&](std::string_view lk, od::value lv) {
          // request: from the first byte read from the client to the last sent back
          return lk != "request" || read_double(ctx, lv, {"latencies", lk}, ev.latency_ms);
        });
      });
    }
    if (key == "consumer")
      return with_object(ctx, v, at, [&](od::object& c) { return read_consumer(ctx, c, k); });
    if (key == "authenticated_entity") {
      return with_object(ctx, v, at, [&](od::object& c) {
        return for_each_field(
            ctx, c, {"authenticated_entity", "?"}, [&](std::string_view ck, od::value cv) {
              return ck != "id" ||
                     read_string(ctx, cv, {"authenticated_entity", ck}, k.credential_id);
            });
      });
    }
    if (key == "ai")
      return with_object(ctx, v, at, [&](od::object& a) { return read_ai(ctx, a, k); });
    return true;
  });
  if (!fields_ok) return false;
  // The consumer is who called (a consumer may hold several keys); the credential when the
  // entry names no consumer.
  for (std::string_view id :
       {k.consumer_username, k.consumer_custom_id, k.consumer_id, k.credential_id}) {
    if (!id.empty()) {
      ev.api_key = id;
      break;
    }
  }
  // The path the AI plugin sent upstream says the kind of call; a route's own path may not.
  ev.endpoint = !k.upstream_uri.empty() ? k.upstream_uri : k.uri;
  if (!k.request_model.empty())
    ev.model = k.request_model;
  else if (ev.model.empty())
    ev.model = k.response_model;
  if (k.prompt_tokens) ev.prompt_tokens = k.prompt_tokens;
  if (k.completion_tokens) ev.completion_tokens = k.completion_tokens;
  return true;
}

}  // namespace exfilscan::detail
