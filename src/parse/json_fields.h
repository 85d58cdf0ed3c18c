#pragma once
/// Internal: reading typed fields out of simdjson on-demand values, with the errors the reader
/// reports, and a pool of parsers for JSON documents held inside strings.

#include <exfilscan/parse/event.h>
#include <exfilscan/parse/line_parser.h>

#include <simdjson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan::detail {

namespace od = simdjson::ondemand;

/// Parsers for values that hold JSON as a string (LiteLLM metadata, Azure requestBody...). Each
/// string gets its own slot so every view taken from it lives until the next line.
class ReparsePool {
 public:
  /// Parses `text` as a JSON document and returns it; nullptr with `error` set on failure.
  od::document* parse(std::string_view text, simdjson::error_code& error);
  void reset() { used_ = 0; }

 private:
  struct Slot {
    od::parser parser;
    std::vector<char> buffer;
    od::document doc;
  };
  std::vector<std::unique_ptr<Slot>> slots_;
  size_t used_ = 0;
};

/// Text the parser puts together (the text blocks of one message, joined), kept until the next
/// line: each string is handed out once per line and keeps its capacity between lines.
class TextArena {
 public:
  /// An empty string whose contents stay put until reset().
  std::string& next();
  void reset() { used_ = 0; }

 private:
  std::vector<std::unique_ptr<std::string>> strings_;
  size_t used_ = 0;
};

/// Where in the line a value sits, for error details; formatted only when an error is reported.
struct Where {
  std::string_view parent;  // "" at the top level
  std::string_view key;
  std::string str() const;
};

/// What a parse of one line shares: the event being filled, the error, the reparse pool.
struct Ctx {
  Event& event;
  ParseError& error;
  ReparsePool& pool;
  /// The event's prompt parts as they are read (event.prompt views them once the line is read).
  std::vector<PromptPart>& prompt;
  /// Prompt parts inserted before the conversation so far (system text given beside it).
  size_t leading_system_parts = 0;
  bool has_timestamp = false;
  /// False when the consumer needs no prompt text: strings are then skipped, not unescaped.
  bool read_text = true;
  /// False when the consumer needs neither prompt text nor turns: conversations are skipped.
  bool read_turns = true;
  /// Where joined text is kept (see TextArena); without one, text blocks stay apart.
  TextArena* arena = nullptr;
  /// Values left out of the event, the line still read (a cut body, a negative latency).
  std::vector<ParseError>* left_out = nullptr;
  /// Why a line of its format holds no time, where the format says more than its field's name
  /// (an OpenAI Batch input or error line); the diagnostic when no mapping gives one.
  const char* no_time_detail = nullptr;

  bool fail(BadLineReason reason, std::string detail);
  /// Maps a simdjson error met at `where` to a reason and a detail.
  bool fail_json(simdjson::error_code code, Where where);
  /// Notes a value left out of the event (the line is still read); returns true.
  bool leave_out(BadLineReason reason, std::string detail);
};

/// What a reader has put in the event so far, to undo a read that failed halfway through JSON
/// held in a string (a body a gateway cut short).
struct Snapshot {
  explicit Snapshot(const Ctx& ctx)
      : event(ctx.event), prompt(ctx.prompt), leading(ctx.leading_system_parts) {}
  void restore(Ctx& ctx) const {
    ctx.event = event;
    ctx.prompt = prompt;
    ctx.leading_system_parts = leading;
  }
  Event event;
  std::vector<PromptPart> prompt;
  size_t leading;
};

/// The raw (still escaped) text of a field's key; keys in real logs are plain ASCII.
std::string_view key_of(od::field& field);

/// True if the value is JSON null (which every reader treats as absent).
bool is_null(od::value& v);

// Each reader returns false with ctx.error set; a null value leaves the output unset.
bool read_string(Ctx& ctx, od::value v, Where where, std::string_view& out);
/// read_string for prompt text: without an escape it is taken where it lies in the line (valid
/// as long as the line is) instead of copied. Short strings (ids, keys) are cheaper copied.
bool read_text(Ctx& ctx, od::value v, Where where, std::string_view& out);
bool read_int(Ctx& ctx, od::value v, Where where, std::optional<int64_t>& out);
bool read_double(Ctx& ctx, od::value v, Where where, std::optional<double>& out);
bool read_bool(Ctx& ctx, od::value v, Where where, std::optional<bool>& out);
/// A timestamp string or an epoch number; refuses null.
bool read_timestamp(Ctx& ctx, od::value v, Where where, int64_t& ns);

/// Calls fn(key, value) for each field of an object (key as key_of gives it), stopping at the
/// first false; a malformed object is reported at `where`.
template <typename Fn>
bool for_each_field(Ctx& ctx, od::object& obj, Where where, Fn&& fn) {
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, where);
    if (!fn(key_of(field), field.value())) return false;
  }
  return true;
}

/// How JSON held in a string is taken when it does not parse, or fn fails on it.
enum class InString : uint8_t {
  strict,   // the line is refused
  lenient,  // a body a gateway may cut or replace by a placeholder: left out (noted), what fn
            // read from it undone, the rest of the line read
};

/// Calls fn(od::object&) for an object, or for a string holding one. Null and "" are skipped.
template <typename Fn>
bool with_object(Ctx& ctx, od::value v, Where where, Fn&& fn, InString mode = InString::strict);
/// Calls fn(od::value&) for a value, parsing it first when it is a string that holds JSON
/// (starts with '{' or '['); any other value is passed as it is.
template <typename Fn>
bool with_json(Ctx& ctx, od::value v, Where where, Fn&& fn, InString mode = InString::strict);

// ---- template definitions ------------------------------------------------------------------

template <typename Fn>
bool with_json(Ctx& ctx, od::value v, Where where, Fn&& fn, InString mode) {
  od::json_type type;
  if (auto e = v.type().get(type)) return ctx.fail_json(e, where);
  if (type == od::json_type::string) {
    // Peek at the raw token (this does not consume the value): only a string that opens an
    // object or array is parsed again; any other string goes to fn as it is.
    std::string_view raw = v.raw_json_token();
    size_t i = 1;
    for (;;) {
      if (i < raw.size() && raw[i] == ' ') {
        ++i;
      } else if (i + 1 < raw.size() && raw[i] == '\\' &&
                 (raw[i + 1] == 'n' || raw[i + 1] == 't' || raw[i + 1] == 'r')) {
        i += 2;
      } else {
        break;
      }
    }
    if (i < raw.size() && (raw[i] == '{' || raw[i] == '[')) {
      std::string_view text;
      if (auto e = v.get_string().get(text)) return ctx.fail_json(e, where);
      if (mode == InString::lenient) {
        Snapshot before(ctx);
        simdjson::error_code code;
        od::document* doc = ctx.pool.parse(text, code);
        od::value inner;
        if (!doc) {
          ctx.fail_json(code, where);
        } else if (auto e = doc->get_value().get(inner)) {
          ctx.fail_json(e, where);
        } else if (fn(inner)) {
          return true;
        }
        before.restore(ctx);
        return ctx.leave_out(ctx.error.reason,
                             ctx.error.detail + " (JSON in a string, cut short?)");
      }
      simdjson::error_code code;
      od::document* doc = ctx.pool.parse(text, code);
      if (!doc) return ctx.fail_json(code, where);
      od::value inner;
      if (auto e = doc->get_value().get(inner)) return ctx.fail_json(e, where);
      return fn(inner);
    }
  }
  return fn(v);
}

template <typename Fn>
bool with_object(Ctx& ctx, od::value v, Where where, Fn&& fn, InString mode) {
  if (is_null(v)) return true;
  return with_json(
      ctx, v, where,
      [&](od::value& inner) {
        od::json_type type;
        if (auto e = inner.type().get(type)) return ctx.fail_json(e, where);
        if (type == od::json_type::string) {
          std::string_view s;
          if (auto e = inner.get_string().get(s)) return ctx.fail_json(e, where);
          if (s.find_first_not_of(" \t\r\n") == std::string_view::npos) return true;
          if (mode == InString::lenient)  // a placeholder ("fetching body from signed_url...")
            return ctx.leave_out(BadLineReason::wrong_type,
                                 where.str() + ": text where an object was expected");
          return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected an object");
        }
        if (type != od::json_type::object)
          return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected an object");
        od::object obj;
        if (auto e = inner.get_object().get(obj)) return ctx.fail_json(e, where);
        return fn(obj);
      },
      mode);
}

}  // namespace exfilscan::detail
