#include <exfilscan/parse/batch_requests.h>

#include <simdjson.h>

#include <cstring>

namespace exfilscan {

namespace {

namespace od = simdjson::ondemand;

/// An input line's custom_id, url and body (as JSON); false when the line is not one.
bool read_input_line(od::parser& parser, std::string_view line, std::string_view& custom_id,
                     std::string_view& url, std::string_view& body) {
  od::document doc;
  od::object root;
  if (parser.iterate(line.data(), line.size(), line.size() + chunk_padding).get(doc) ||
      doc.get_object().get(root))
    return false;
  bool has_method = false;
  for (auto f : root) {
    od::field field;
    if (std::move(f).get(field)) return false;
    std::string_view key;
    if (field.unescaped_key().get(key)) return false;
    if (key == "custom_id") {
      if (field.value().get_string().get(custom_id)) return false;
    } else if (key == "url") {
      if (field.value().get_string().get(url)) return false;
    } else if (key == "method") {
      has_method = true;
    } else if (key == "body") {
      od::object obj;
      if (field.value().get_object().get(obj) || obj.raw_json().get(body)) return false;
    } else if (key == "response") {
      return false;  // an output line
    }
  }
  return has_method && !custom_id.empty() && !body.empty();
}

/// Calls fn(line) for each line of the input (without its newline); fn's line is followed by
/// chunk_padding readable bytes. Stops at the first false.
template <typename Fn>
void for_each_line(const std::string& path, const InputOptions& options, Fn&& fn) {
  std::unique_ptr<ChunkSource> source = open_input(path, options);
  Chunk chunk;
  while (source->next(chunk)) {
    std::string_view bytes = chunk.bytes;
    while (!bytes.empty()) {
      size_t end = bytes.find('\n');
      std::string_view line = bytes.substr(0, end);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") != std::string_view::npos && !fn(line)) return;
      if (end == std::string_view::npos) break;
      bytes.remove_prefix(end + 1);
    }
  }
}

}  // namespace

bool BatchRequests::add(std::string_view custom_id, std::string_view url, std::string_view body) {
  auto [it, added] = requests_.try_emplace(std::string(custom_id));
  if (!added) return false;
  it->second.url.assign(url);
  it->second.body.assign(body);
  bytes_ += custom_id.size() + url.size() + body.size();
  return true;
}

const BatchRequests::Request* BatchRequests::find(std::string_view custom_id) const {
  auto it = requests_.find(custom_id);
  return it == requests_.end() ? nullptr : &it->second;
}

bool is_batch_input(const std::string& path, const InputOptions& options) {
  bool input = false;
  try {
    od::parser parser;
    for_each_line(path, options, [&](std::string_view line) {
      std::string_view custom_id, url, body;
      input = read_input_line(parser, line, custom_id, url, body);
      return false;  // the first line decides
    });
  } catch (const InputError&) {
    return false;
  }
  return input;
}

uint64_t load_batch_input(const std::string& path, const InputOptions& options,
                          BatchRequests& requests) {
  od::parser parser;
  uint64_t other = 0;
  for_each_line(path, options, [&](std::string_view line) {
    std::string_view custom_id, url, body;
    if (read_input_line(parser, line, custom_id, url, body))
      requests.add(custom_id, url, body);
    else
      ++other;
    return true;
  });
  return other;
}

}  // namespace exfilscan
