// OpenAI Batch API files: {custom_id, method, url, body} lines in, {id, custom_id, response:
// {status_code, request_id, body}, error} lines out. Only an answer's body has a time
// (`created`, or `created_at` for the Responses API); the rest say why they have none.
#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

namespace exfilscan::detail {

namespace {

/// What the line turned out to be, once read.
struct BatchLine {
  std::string_view custom_id;
  bool has_response = false;  // a non-null response
  bool has_error = false;     // a non-null error, or an error body
  bool has_input = false;     // url, method or body at the top: an input line
  std::string_view url;
  std::string_view object;  // the answer's kind: chat.completion, text_completion, ...
};

/// The path an answer's `object` comes from, as the input file's url would say.
std::string_view path_of(std::string_view object) {
  if (object == "chat.completion") return "/v1/chat/completions";
  if (object == "text_completion") return "/v1/completions";
  if (object == "response") return "/v1/responses";
  if (object == "list" || object == "embedding") return "/v1/embeddings";
  return {};
}

bool read_answer(Ctx& ctx, od::object& body, BatchLine& line) {
  Event& ev = ctx.event;
  return for_each_field(ctx, body, {"response.body", "?"}, [&](std::string_view key, od::value v) {
    Where at{"response.body", key};
    if (key == "created" || key == "created_at") {
      if (is_null(v)) return true;
      if (!read_timestamp(ctx, v, at, ev.timestamp_ns)) return false;
      ctx.has_timestamp = true;
    } else if (key == "model") {
      return read_string(ctx, v, at, ev.model);
    } else if (key == "object") {
      return read_string(ctx, v, at, line.object);
    } else if (key == "usage") {
      return with_object(ctx, v, at,
                         [&](od::object& usage) { return read_usage(ctx, usage, at.str()); });
    } else if (key == "error") {
      line.has_error = line.has_error || !is_null(v);
    }
    return true;
  });
}

bool read_response(Ctx& ctx, od::object& response, BatchLine& line) {
  return for_each_field(ctx, response, {"response", "?"}, [&](std::string_view key, od::value v) {
    Where at{"response", key};
    if (key == "status_code") return read_int(ctx, v, at, ctx.event.status);
    if (key == "body")
      return with_object(ctx, v, at,
                         [&](od::object& body) { return read_answer(ctx, body, line); });
    return true;
  });
}

/// The request the input file sent as this custom_id: its body and url. The body is the
/// request as sent, so its model (what was asked) replaces the answer's (what served it).
bool join_request(Ctx& ctx, const BatchRequests::Request& request) {
  Event& ev = ctx.event;
  std::string_view served = ev.model;
  ev.model = {};
  simdjson::error_code code;
  od::document* doc = ctx.pool.parse(request.body, code);
  od::object body;
  if (!doc || doc->get_object().get(body) || !read_request_body(ctx, body, "input body"))
    return ctx.fail(BadLineReason::bad_json, "the input file's body for this custom_id");
  if (ev.model.empty()) ev.model = served;
  ev.endpoint = request.url;
  return true;
}

}  // namespace

bool read_openai_batch(Ctx& ctx, od::object& root, const BatchRequests* requests) {
  Event& ev = ctx.event;
  BatchLine line;
  std::string_view id;
  bool fields_ok = for_each_field(ctx, root, {"", "line"}, [&](std::string_view key, od::value v) {
    Where at{"", key};
    if (key == "custom_id") return read_string(ctx, v, at, line.custom_id);
    if (key == "id") return read_string(ctx, v, at, id);
    if (key == "response") {
      line.has_response = !is_null(v);
      return with_object(ctx, v, at, [&](od::object& r) { return read_response(ctx, r, line); });
    }
    if (key == "error") {
      line.has_error = line.has_error || !is_null(v);
      return true;
    }
    if (key == "url") {
      line.has_input = true;
      return read_string(ctx, v, at, line.url);
    }
    if (key == "method") {
      line.has_input = true;
      return true;
    }
    if (key == "body") {  // an input line's request: read, in case a mapping gives the time
      line.has_input = true;
      return with_object(ctx, v, at,
                         [&](od::object& body) { return read_request_body(ctx, body, "body"); });
    }
    return true;
  });
  if (!fields_ok) return false;
  ev.request_id = !id.empty() ? id : line.custom_id;
  if (line.has_input && !line.has_response) {
    ev.endpoint = line.url;
    ctx.no_time_detail =
        "an OpenAI Batch input line has no time: its time is response.body.created in the "
        "output file (give both files: they are joined on custom_id), or map one "
        "(--input-format openai-batch --map timestamp=/POINTER)";
    return true;
  }
  ev.endpoint = path_of(line.object);
  if (requests && !line.custom_id.empty())
    if (const BatchRequests::Request* request = requests->find(line.custom_id))
      if (!join_request(ctx, *request)) return false;
  if (!ctx.has_timestamp) {
    ctx.no_time_detail =
        line.has_error || !line.has_response
            ? "an OpenAI Batch error line has no time (only an answer's response.body.created "
              "has one): map one if the line holds it (--input-format openai-batch --map "
              "timestamp=/POINTER)"
            : "this OpenAI Batch answer has no response.body.created (embeddings answers have "
              "none): map a time if the line holds one (--input-format openai-batch --map "
              "timestamp=/POINTER)";
  }
  return true;
}

}  // namespace exfilscan::detail
