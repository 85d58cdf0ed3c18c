#include "parse/json_fields.h"

#include "byte_mask.h"

#include <exfilscan/input/diagnostics.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>

namespace exfilscan::detail {

od::document* ReparsePool::parse(std::string_view text, simdjson::error_code& error) {
  if (used_ == slots_.size()) slots_.push_back(std::make_unique<Slot>());
  Slot& slot = *slots_[used_];
  // Grown, never shrunk: a resize back up would zero the bytes again on every line.
  if (slot.buffer.size() < text.size() + simdjson::SIMDJSON_PADDING)
    slot.buffer.resize(text.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(slot.buffer.data(), text.data(), text.size());
  std::memset(slot.buffer.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  error = slot.parser.iterate(slot.buffer.data(), text.size(), slot.buffer.size()).get(slot.doc);
  if (error) return nullptr;
  ++used_;
  return &slot.doc;
}

std::string& TextArena::next() {
  if (used_ == strings_.size()) strings_.push_back(std::make_unique<std::string>());
  std::string& s = *strings_[used_++];
  s.clear();
  return s;
}

std::string Where::str() const {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

bool Ctx::fail(BadLineReason reason, std::string detail) {
  error.reason = reason;
  error.detail = std::move(detail);
  return false;
}

bool Ctx::leave_out(BadLineReason reason, std::string detail) {
  if (left_out) left_out->push_back({reason, std::move(detail)});
  return true;
}

bool Ctx::fail_json(simdjson::error_code code, Where where) {
  switch (code) {
    case simdjson::INCORRECT_TYPE:
      return fail(BadLineReason::wrong_type, where.str() + ": unexpected type");
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return fail(BadLineReason::wrong_type, where.str() + ": number out of range");
    case simdjson::UTF8_ERROR:
      return fail(BadLineReason::invalid_utf8, "the line is not valid UTF-8");
    default: {
      std::string message = simdjson::error_message(code);
      if (!message.empty() && message.back() == '.') message.pop_back();
      if (where.parent.empty() && where.key == "line")
        return fail(BadLineReason::bad_json, message);
      return fail(BadLineReason::bad_json, fmt::format("{}: {}", where.str(), message));
    }
  }
}

namespace {

/// Bit 7 of each byte of the result is set where `word` has byte `c` (exact for the lowest
/// such byte, which is all a search needs).
inline uint64_t bytes_equal(uint64_t word, unsigned char c) {
  uint64_t x = word ^ (0x0101010101010101ULL * c);
  return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

}  // namespace

std::string_view key_of(od::field& field) {
  // To the closing quote, 32 bytes at a time (8 past an escape). Reading past it is safe: a key is
  // followed by at least its value and the padding simdjson requires after every document.
  const char* raw = field.key().raw();
  size_t n = 0;
  // Keys are short: one compare of 32 bytes finds most of them. A backslash (rare in keys)
  // hands over to the loop below, which steps over escapes.
  for (;; n += 32) {
    uint32_t quotes = equal_bits(raw + n, '"'), escapes = equal_bits(raw + n, '\\');
    // The closing quote unless a backslash comes first (the bytes after a key are its value).
    uint32_t before_escape = escapes ? (escapes & (0u - escapes)) - 1 : ~0u;
    if (quotes & before_escape) return {raw, n + static_cast<size_t>(__builtin_ctz(quotes))};
    if (escapes) break;
  }
  for (;;) {
    uint64_t word;
    std::memcpy(&word, raw + n, 8);
    uint64_t hits = bytes_equal(word, '"') | bytes_equal(word, '\\');
    if (!hits) {
      n += 8;
      continue;
    }
    n += static_cast<size_t>(__builtin_ctzll(hits)) / 8;
    if (raw[n] == '"') return {raw, n};
    n += 2;  // an escape: the next byte is never the closing quote
  }
}

bool is_null(od::value& v) {
  // The type first: is_null() must not be asked of a document's root value (simdjson assumes
  // a nested one there), and reparsed JSON strings hand over roots that are objects or arrays.
  od::json_type type;
  if (v.type().get(type) || type != od::json_type::null) return false;
  bool null = false;
  return !v.is_null().get(null) && null;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

/// True when the n bytes at p hold a backslash. Up to 64 bytes are searched inline, 32 at a
/// time, reading up to 31 bytes past them (they lie in a line or document followed by its
/// padding); longer text by memchr.
bool has_backslash(const char* p, size_t n) {
  if (n > 64) return std::memchr(p, '\\', n) != nullptr;
  for (size_t i = 0; i < n; i += 32) {
    uint32_t hits = equal_bits(p + i, '\\');
    if (n - i < 32) hits &= (1u << (n - i)) - 1;
    if (hits) return true;
  }
  return false;
}

bool type_of(Ctx& ctx, od::value& v, Where where, od::json_type& type) {
  if (auto e = v.type().get(type)) return ctx.fail_json(e, where);
  return true;
}

}  // namespace

bool read_string(Ctx& ctx, od::value v, Where where, std::string_view& out) {
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  switch (type) {
    case od::json_type::string:
      if (auto e = v.get_string().get(out)) return ctx.fail_json(e, where);
      return true;
    case od::json_type::number:
      // Numeric ids (Vertex request_id, account numbers) are kept as written.
      out = trim(v.raw_json_token());
      return true;
    case od::json_type::null:
      return true;
    default:
      return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected a string");
  }
}

bool read_text(Ctx& ctx, od::value v, Where where, std::string_view& out) {
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  if (type != od::json_type::string) return read_string(ctx, v, where, out);
  // Prompts mostly have no escape and are most of a line: taken as they lie there instead of
  // copied into the parser's buffer. (Finding the token's end and searching it costs more
  // than simdjson's copy for a short string: ids and keys go through read_string.)
  std::string_view raw = trim(v.raw_json_token());
  if (raw.size() >= 2 && raw.back() == '"' && !has_backslash(raw.data() + 1, raw.size() - 2)) {
    out = raw.substr(1, raw.size() - 2);
    return true;
  }
  if (auto e = v.get_string().get(out)) return ctx.fail_json(e, where);
  return true;
}

bool read_int(Ctx& ctx, od::value v, Where where, std::optional<int64_t>& out) {
  // Token counts and statuses are plain digits: read straight from the token, which the parser
  // then steps over. Anything else (signs, fractions, exponents, leading zeros, strings, bad
  // tokens) takes the parser's way and its errors.
  std::string_view raw = trim(v.raw_json_token());
  if (!raw.empty() && raw.size() <= 18 && (raw[0] != '0' || raw.size() == 1)) {
    int64_t x = 0;
    size_t i = 0;
    for (; i < raw.size(); ++i) {
      auto d = static_cast<unsigned>(raw[i] - '0');
      if (d > 9) break;
      x = x * 10 + d;
    }
    if (i == raw.size()) {
      out = x;
      return true;
    }
  }
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  if (type == od::json_type::null) return true;
  if (type == od::json_type::number) {
    int64_t i;
    if (!v.get_int64().get(i)) {
      out = i;
      return true;
    }
    double d;
    if (auto e = v.get_double().get(d)) return ctx.fail_json(e, where);
    if (d != std::floor(d) || std::fabs(d) >= 9.2e18)
      return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected an integer");
    out = static_cast<int64_t>(d);
    return true;
  }
  if (type == od::json_type::string) {
    // Some exports write numbers as strings ("200", "429").
    std::string_view s;
    if (auto e = v.get_string().get(s)) return ctx.fail_json(e, where);
    if (s.empty()) return true;
    int64_t i;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
    if (ec == std::errc() && end == s.data() + s.size()) {
      out = i;
      return true;
    }
  }
  return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected an integer");
}

bool read_double(Ctx& ctx, od::value v, Where where, std::optional<double>& out) {
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  if (type == od::json_type::null) return true;
  if (type == od::json_type::number) {
    double d;
    if (auto e = v.get_double().get(d)) return ctx.fail_json(e, where);
    out = d;
    return true;
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return ctx.fail_json(e, where);
    if (s.empty()) return true;
    double d;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec == std::errc() && end == s.data() + s.size() && std::isfinite(d)) {
      out = d;
      return true;
    }
  }
  return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected a number");
}

bool read_bool(Ctx& ctx, od::value v, Where where, std::optional<bool>& out) {
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  if (type == od::json_type::null) return true;
  if (type == od::json_type::boolean) {
    bool b;
    if (auto e = v.get_bool().get(b)) return ctx.fail_json(e, where);
    out = b;
    return true;
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (auto e = v.get_string().get(s)) return ctx.fail_json(e, where);
    if (s == "true" || s == "True") return out = true, true;
    if (s == "false" || s == "False") return out = false, true;
  }
  return ctx.fail(BadLineReason::wrong_type, where.str() + ": expected true or false");
}

bool read_timestamp(Ctx& ctx, od::value v, Where where, int64_t& ns) {
  od::json_type type;
  if (!type_of(ctx, v, where, type)) return false;
  if (type == od::json_type::number) {
    int64_t i;
    std::optional<int64_t> t;
    if (!v.get_int64().get(i)) {
      t = epoch_to_ns(i);
    } else {
      double d;
      if (auto e = v.get_double().get(d)) return ctx.fail_json(e, where);
      t = epoch_to_ns(d);
    }
    if (!t) return ctx.fail(BadLineReason::bad_timestamp, where.str() + ": epoch out of range");
    ns = *t;
    return true;
  }
  if (type == od::json_type::null)
    return ctx.fail(BadLineReason::missing_timestamp, where.str() + " is null");
  if (type != od::json_type::string)
    return ctx.fail(BadLineReason::bad_timestamp,
                    where.str() + ": expected a string or an epoch number");
  std::string_view s;
  if (auto e = v.get_string().get(s)) return ctx.fail_json(e, where);
  TimestampResult r = parse_timestamp(s);
  switch (r.error) {
    case TimestampError::ok:
      ns = r.ns;
      return true;
    case TimestampError::empty:
      return ctx.fail(BadLineReason::missing_timestamp, where.str() + " is empty");
    case TimestampError::out_of_range:
      return ctx.fail(BadLineReason::bad_timestamp,
                      fmt::format("{}: \"{}\" is out of range", where.str(), make_excerpt(s, 40)));
    case TimestampError::bad_syntax:
      break;
  }
  return ctx.fail(BadLineReason::bad_timestamp,
                  fmt::format("{}: \"{}\" is not a timestamp", where.str(), make_excerpt(s, 40)));
}

}  // namespace exfilscan::detail
