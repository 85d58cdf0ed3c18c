#include "order/event_codec.h"

#include <cstring>
#include <optional>

namespace exfilscan::detail {

namespace {

// Record layout: time (8 bytes), api_key and request_id first among the strings (they order
// ties), then the other fields. Fixed-width integers in host byte order: records never leave
// the run that wrote them.

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_text(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

template <typename T>
void put_optional(std::string& out, const std::optional<T>& value) {
  put(out, static_cast<uint8_t>(value.has_value()));
  if (value) put(out, *value);
}

struct Cursor {
  const char* at;
  template <typename T>
  T get() {
    T value;
    std::memcpy(&value, at, sizeof(T));
    at += sizeof(T);
    return value;
  }
  std::string_view text() {
    auto n = get<uint32_t>();
    std::string_view s(at, n);
    at += n;
    return s;
  }
  template <typename T>
  void optional(std::optional<T>& value) {
    if (get<uint8_t>())
      value = get<T>();
    else
      value.reset();
  }
};

}  // namespace

void encode_event(const Event& e, std::string& out) {
  size_t start = out.size();
  put(out, uint32_t{0});  // the length, filled in below
  put(out, e.timestamp_ns);
  for (std::string_view s : {e.api_key, e.request_id, e.org, e.project, e.end_user, e.ip,
                             e.user_agent, e.endpoint, e.model})
    put_text(out, s);
  put(out, static_cast<uint8_t>(e.endpoint_kind));
  put_optional(out, e.status);
  put_optional(out, e.prompt_tokens);
  put_optional(out, e.completion_tokens);
  put_optional(out, e.reasoning_tokens);
  put_optional(out, e.latency_ms);
  put_optional(out, e.turns);
  put(out, e.token_array_prompts);
  const RequestParams& p = e.params;
  put_optional(out, p.n);
  put_optional(out, p.temperature);
  put_optional(out, p.top_p);
  put_optional(out, p.max_tokens);
  put_optional(out, p.logprobs);
  put_optional(out, p.top_logprobs);
  put_optional(out, p.logit_bias_entries);
  put(out, p.logit_bias_hash);
  put_text(out, p.logit_bias_json);
  put_optional(out, p.echo);
  put_optional(out, p.best_of);
  put_optional(out, p.seed);
  put_optional(out, p.stream);
  put(out, static_cast<uint32_t>(e.prompt.size()));
  for (const PromptPart& part : e.prompt) {
    put(out, static_cast<uint8_t>(part.role));
    put_text(out, part.text);
  }
  auto length = static_cast<uint32_t>(out.size() - start - record_header);
  std::memcpy(out.data() + start, &length, sizeof length);
}

uint32_t record_length(const char* at) {
  uint32_t n;
  std::memcpy(&n, at, sizeof n);
  return n;
}

int64_t record_time(std::string_view record) {
  int64_t t;
  std::memcpy(&t, record.data(), sizeof t);
  return t;
}

void decode_event(std::string_view record, Event& e, std::vector<PromptPart>& parts) {
  Cursor in{record.data()};
  e.timestamp_ns = in.get<int64_t>();
  for (std::string_view* s : {&e.api_key, &e.request_id, &e.org, &e.project, &e.end_user, &e.ip,
                              &e.user_agent, &e.endpoint, &e.model})
    *s = in.text();
  e.endpoint_kind = static_cast<EndpointKind>(in.get<uint8_t>());
  in.optional(e.status);
  in.optional(e.prompt_tokens);
  in.optional(e.completion_tokens);
  in.optional(e.reasoning_tokens);
  in.optional(e.latency_ms);
  in.optional(e.turns);
  e.token_array_prompts = in.get<int64_t>();
  RequestParams& p = e.params;
  in.optional(p.n);
  in.optional(p.temperature);
  in.optional(p.top_p);
  in.optional(p.max_tokens);
  in.optional(p.logprobs);
  in.optional(p.top_logprobs);
  in.optional(p.logit_bias_entries);
  p.logit_bias_hash = in.get<uint64_t>();
  p.logit_bias_json.assign(in.text());
  in.optional(p.echo);
  in.optional(p.best_of);
  in.optional(p.seed);
  in.optional(p.stream);
  auto count = in.get<uint32_t>();
  for (uint32_t i = 0; i < count; ++i) {
    auto role = static_cast<PromptRole>(in.get<uint8_t>());
    parts.push_back({role, in.text()});
  }
  e.prompt = {};
}

bool event_before(const Event& a, const Event& b) {
  if (a.timestamp_ns != b.timestamp_ns) return a.timestamp_ns < b.timestamp_ns;
  // Ties only (a few in a thousand events of a log with milliseconds): the key's and the
  // request id's bytes as a record holds them, then, when those are equal, whole records.
  thread_local std::string x, y;
  tie_prefix(a.api_key, a.request_id, x);
  tie_prefix(b.api_key, b.request_id, y);
  if (x != y) return x < y;
  x.clear();
  y.clear();
  encode_event(a, x);
  encode_event(b, y);
  return record_before(std::string_view(x).substr(record_header),
                       std::string_view(y).substr(record_header));
}

void tie_prefix(std::string_view api_key, std::string_view request_id, std::string& out) {
  out.clear();
  put_text(out, api_key);
  put_text(out, request_id);
}

bool record_before(std::string_view a, std::string_view b) {
  int64_t ta = record_time(a), tb = record_time(b);
  if (ta != tb) return ta < tb;
  // The key's and the request id's length-prefixed bytes come next: comparing the rest of the
  // record bytewise orders ties by them first (length, then bytes), then by everything else.
  return a.substr(sizeof(int64_t)) < b.substr(sizeof(int64_t));
}

}  // namespace exfilscan::detail
