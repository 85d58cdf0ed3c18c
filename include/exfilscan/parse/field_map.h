#pragma once
/// A mapping from Event fields to JSON pointers, for log formats exfilscan has no adapter for.

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

/// Event fields a mapping can fill. `request` points at an OpenAI-style request body (prompt and
/// parameters come from it), `usage` at an OpenAI-style usage object.
enum class MappedField : uint8_t {
  timestamp,
  request_id,
  org,
  project,
  api_key,
  user,
  ip,
  user_agent,
  endpoint,
  model,
  status,
  prompt_tokens,
  completion_tokens,
  reasoning_tokens,
  latency_ms,
  latency_s,  // a latency in seconds (Langfuse), held in milliseconds
  request,
  usage,
  messages,
  prompt,
};

struct FieldMapping {
  MappedField field;
  std::string pointer;  // RFC 6901; a string value met on the way is parsed as JSON
};

/// Thrown for a malformed mapping; the message names the entry (and file:line when from a file).
class FieldMapError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct FieldMap {
  std::vector<FieldMapping> entries;
  bool empty() const { return entries.empty(); }

  /// Adds `field=/json/pointer`; a later entry for the same field replaces the earlier one.
  /// `where` prefixes error messages (e.g. "map.txt:3").
  void add(std::string_view entry, std::string_view where = "--map");
  /// Reads entries one a line; blank lines and lines starting with '#' are ignored.
  void load_file(const std::string& path);
};

std::string_view to_string(MappedField field);
/// Field names and their aliases (org_id, api_key_id, project_id, end_user).
bool parse_mapped_field(std::string_view name, MappedField& out);

}  // namespace exfilscan
