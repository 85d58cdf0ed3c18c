#include <exfilscan/report/canonical_writer.h>

#include <exfilscan/report/json_writer.h>
#include <exfilscan/timestamp.h>
#include <cerrno>

namespace exfilscan {

namespace {

constexpr size_t flush_at = 1u << 20;

void key(std::string& out, bool& first, std::string_view name) {
  if (!first) out += ',';
  first = false;
  out += '"';
  out += name;
  out += "\":";
}

void str(std::string& out, bool& first, std::string_view name, std::string_view value) {
  if (value.empty()) return;
  key(out, first, name);
  append_json_string(out, value);
}

template <typename T>
void num(std::string& out, bool& first, std::string_view name, const std::optional<T>& value) {
  if (!value) return;
  key(out, first, name);
  append_json_number(out, *value);
}

void boolean(std::string& out, bool& first, std::string_view name, const std::optional<bool>& v) {
  if (!v) return;
  key(out, first, name);
  out += *v ? "true" : "false";
}

void write_messages(const Event& ev, std::string& out, bool& first) {
  // Chat-shaped whatever the source: one message per part keeps roles and order.
  key(out, first, "messages");
  out += '[';
  bool first_msg = true;
  for (const PromptPart& part : ev.prompt) {
    if (!first_msg) out += ',';
    first_msg = false;
    out += part.role == PromptRole::system ? "{\"role\":\"system\",\"content\":"
                                           : "{\"role\":\"user\",\"content\":";
    append_json_string(out, part.text);
    out += '}';
  }
  out += ']';
}

}  // namespace

CanonicalWriter::CanonicalWriter(CanonicalWriterOptions options, std::FILE* out)
    : options_(options), out_(out) {
  buffer_.reserve(flush_at + 64 * 1024);
}

CanonicalWriter::~CanonicalWriter() {
  flush();
}

void CanonicalWriter::format(const Event& ev, const CanonicalWriterOptions& options,
                             std::string& out) {
  bool first = true;
  out += '{';
  key(out, first, "timestamp");
  out += '"';
  out += format_rfc3339(ev.timestamp_ns);
  out += '"';
  str(out, first, "request_id", ev.request_id);
  str(out, first, "org_id", ev.org);
  str(out, first, "project_id", ev.project);
  str(out, first, "api_key_id", ev.api_key);
  str(out, first, "user", ev.end_user);
  str(out, first, "ip", ev.ip);
  str(out, first, "user_agent", ev.user_agent);
  str(out, first, "endpoint", ev.endpoint);

  const RequestParams& p = ev.params;
  bool include_prompt = options.include_prompts && !ev.prompt.empty();
  {
    // The body is written in place and taken back if it turns out empty: no string per event.
    size_t before = out.size();
    bool first_before = first;
    key(out, first, "request");
    out += '{';
    size_t body_start = out.size();
    std::string& body = out;
    bool bfirst = true;
    str(body, bfirst, "model", ev.model);
    if (include_prompt) write_messages(ev, body, bfirst);
    num(body, bfirst, "n", p.n);
    num(body, bfirst, "temperature", p.temperature);
    num(body, bfirst, "top_p", p.top_p);
    num(body, bfirst, "max_tokens", p.max_tokens);
    if (p.logprobs && *p.logprobs && ev.endpoint_kind == EndpointKind::completion) {
      // Legacy completions carry the count in `logprobs` itself.
      key(body, bfirst, "logprobs");
      append_json_number(body, p.top_logprobs.value_or(0));
    } else {
      boolean(body, bfirst, "logprobs", p.logprobs);
      num(body, bfirst, "top_logprobs", p.top_logprobs);
    }
    if (p.logit_bias_entries) {
      key(body, bfirst, "logit_bias");
      body += p.logit_bias_json;
    }
    boolean(body, bfirst, "echo", p.echo);
    num(body, bfirst, "best_of", p.best_of);
    num(body, bfirst, "seed", p.seed);
    boolean(body, bfirst, "stream", p.stream);
    if (out.size() == body_start) {
      out.resize(before);
      first = first_before;
    } else {
      out += '}';
    }
  }
  if (ev.status || ev.prompt_tokens || ev.completion_tokens || ev.reasoning_tokens) {
    key(out, first, "response");
    out += '{';
    bool rfirst = true;
    num(out, rfirst, "status", ev.status);
    if (ev.prompt_tokens || ev.completion_tokens || ev.reasoning_tokens) {
      key(out, rfirst, "usage");
      out += '{';
      bool ufirst = true;
      num(out, ufirst, "prompt_tokens", ev.prompt_tokens);
      num(out, ufirst, "completion_tokens", ev.completion_tokens);
      if (ev.reasoning_tokens) {
        key(out, ufirst, "completion_tokens_details");
        out += "{\"reasoning_tokens\":";
        append_json_number(out, *ev.reasoning_tokens);
        out += '}';
      }
      out += '}';
    }
    out += '}';
  }
  num(out, first, "latency_ms", ev.latency_ms);
  // With the prompt left out, the turn count would be lost: keep it as its own field.
  if (!include_prompt) num(out, first, "turns", ev.turns);
  out += '}';
}

void CanonicalWriter::on_event(const Event& event) {
  if (failed_) return;
  format(event, options_, buffer_);
  buffer_ += '\n';
  if (buffer_.size() >= flush_at) flush();
}

bool CanonicalWriter::flush() {
  if (failed_) return false;
  if (!buffer_.empty()) {
    if (std::fwrite(buffer_.data(), 1, buffer_.size(), out_) != buffer_.size())
      failed_ = true, error_ = errno;
    buffer_.clear();
  }
  if (!failed_ && std::fflush(out_) != 0) failed_ = true, error_ = errno;
  return !failed_;
}

}  // namespace exfilscan
