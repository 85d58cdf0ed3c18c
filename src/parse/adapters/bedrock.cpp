#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

#include <array>

namespace exfilscan::detail {

namespace {

/// Bedrock writes the exception name; the API returns these HTTP statuses for them.
std::optional<int64_t> status_of_error(std::string_view code) {
  struct Entry {
    std::string_view name;
    int64_t status;
  };
  static constexpr std::array<Entry, 10> table{{
      {"ThrottlingException", 429},
      {"ServiceQuotaExceededException", 429},
      {"ValidationException", 400},
      {"AccessDeniedException", 403},
      {"ResourceNotFoundException", 404},
      {"ModelTimeoutException", 408},
      {"ModelErrorException", 424},
      {"ModelNotReadyException", 429},
      {"InternalServerException", 500},
      {"ServiceUnavailableException", 503},
  }};
  for (const Entry& e : table)
    if (e.name == code) return e.status;
  return std::nullopt;
}

bool read_identity(Ctx& ctx, od::object& identity) {
  for (auto f : identity) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"identity", "?"});
    if (key_of(field) == "arn" &&
        !read_string(ctx, field.value(), {"identity", "arn"}, ctx.event.api_key))
      return false;
  }
  return true;
}

bool read_input(Ctx& ctx, od::object& input) {
  return for_each_field(ctx, input, {"input", "?"}, [&](std::string_view key, od::value v) {
    bool ok = true;
    if (key == "inputBodyJson") {
      ok = with_object(ctx, v, {"input", key}, [&](od::object& body) {
        return read_request_body(ctx, body, "input.inputBodyJson");
      });
    } else if (key == "inputTokenCount") {
      ok = read_int(ctx, v, {"input", key}, ctx.event.prompt_tokens);
    }
    return ok;
  });
}

bool read_output_body(Ctx& ctx, od::object& body) {
  for (auto f : body) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"output.outputBodyJson", "?"});
    if (key_of(field) != "metrics") continue;
    bool ok = with_object(
        ctx, field.value(), {"output.outputBodyJson", "metrics"}, [&](od::object& metrics) {
          for (auto m : metrics) {
            od::field mf;
            if (auto e = std::move(m).get(mf)) return ctx.fail_json(e, {"metrics", "?"});
            if (key_of(mf) != "latencyMs") continue;
            if (!read_double(ctx, mf.value(), {"metrics", "latencyMs"}, ctx.event.latency_ms))
              return false;
          }
          return true;
        });
    if (!ok) return false;
  }
  return true;
}

bool read_output(Ctx& ctx, od::object& output) {
  return for_each_field(ctx, output, {"output", "?"}, [&](std::string_view key, od::value v) {
    bool ok = true;
    if (key == "outputTokenCount") {
      ok = read_int(ctx, v, {"output", key}, ctx.event.completion_tokens);
    } else if (key == "outputBodyJson") {
      // An object for Converse and InvokeModel; an array of chunks for streamed InvokeModel.
      od::json_type type;
      if (auto e = v.type().get(type)) return ctx.fail_json(e, {"output", key});
      if (type == od::json_type::object || type == od::json_type::string)
        ok = with_object(ctx, v, {"output", key},
                         [&](od::object& body) { return read_output_body(ctx, body); });
    }
    return ok;
  });
}

}  // namespace

bool read_bedrock(Ctx& ctx, od::object& root) {
  Event& ev = ctx.event;
  std::string_view error_code;
  bool has_output = false;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    bool ok = true;
    if (key == "timestamp") {
      ok = read_timestamp(ctx, v, at, ev.timestamp_ns);
      ctx.has_timestamp = ok;
    } else if (key == "requestId") {
      ok = read_string(ctx, v, at, ev.request_id);
    } else if (key == "accountId") {
      ok = read_string(ctx, v, at, ev.org);
    } else if (key == "identity") {
      ok = with_object(ctx, v, at, [&](od::object& id) { return read_identity(ctx, id); });
    } else if (key == "operation") {
      ok = read_string(ctx, v, at, ev.endpoint);
    } else if (key == "modelId") {
      ok = read_string(ctx, v, at, ev.model);
    } else if (key == "errorCode") {
      ok = read_string(ctx, v, at, error_code);
    } else if (key == "input") {
      ok = with_object(ctx, v, at, [&](od::object& in) { return read_input(ctx, in); });
    } else if (key == "output") {
      has_output = !is_null(v);
      if (has_output)
        ok = with_object(ctx, v, at, [&](od::object& out) { return read_output(ctx, out); });
    }
    return ok;
  });
  if (!fields_ok) return false;
  // Bedrock logs an exception name on failure and nothing on success.
  if (!error_code.empty())
    ev.status = status_of_error(error_code);
  else if (has_output)
    ev.status = 200;
  return true;
}

}  // namespace exfilscan::detail
