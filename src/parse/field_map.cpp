#include <exfilscan/parse/field_map.h>

#include <fmt/format.h>

#include <array>
#include <fstream>

namespace exfilscan {

namespace {
struct FieldName {
  std::string_view name;
  MappedField field;
};
constexpr std::array<FieldName, 25> field_names{{
    {"timestamp", MappedField::timestamp},
    {"request_id", MappedField::request_id},
    {"org", MappedField::org},
    {"org_id", MappedField::org},
    {"project", MappedField::project},
    {"project_id", MappedField::project},
    {"api_key", MappedField::api_key},
    {"api_key_id", MappedField::api_key},
    {"user", MappedField::user},
    {"end_user", MappedField::user},
    {"ip", MappedField::ip},
    {"user_agent", MappedField::user_agent},
    {"endpoint", MappedField::endpoint},
    {"model", MappedField::model},
    {"status", MappedField::status},
    {"prompt_tokens", MappedField::prompt_tokens},
    {"completion_tokens", MappedField::completion_tokens},
    {"reasoning_tokens", MappedField::reasoning_tokens},
    {"latency_ms", MappedField::latency_ms},
    {"latency_s", MappedField::latency_s},
    {"request", MappedField::request},
    {"usage", MappedField::usage},
    {"messages", MappedField::messages},
    {"prompt", MappedField::prompt},
    {"ip_address", MappedField::ip},
}};
}  // namespace

std::string_view to_string(MappedField field) {
  for (const FieldName& f : field_names)
    if (f.field == field) return f.name;
  return "?";
}

bool parse_mapped_field(std::string_view name, MappedField& out) {
  for (const FieldName& f : field_names) {
    if (f.name == name) {
      out = f.field;
      return true;
    }
  }
  return false;
}

void FieldMap::add(std::string_view entry, std::string_view where) {
  size_t eq = entry.find('=');
  if (eq == std::string_view::npos)
    throw FieldMapError(fmt::format("{}: \"{}\": expected FIELD=/json/pointer", where, entry));
  std::string_view name = entry.substr(0, eq);
  std::string_view pointer = entry.substr(eq + 1);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  while (!pointer.empty() && pointer.front() == ' ') pointer.remove_prefix(1);
  MappedField field;
  if (!parse_mapped_field(name, field)) {
    std::string known;
    for (const FieldName& f : field_names)
      known += fmt::format("{}{}", known.empty() ? "" : ", ", f.name);
    throw FieldMapError(fmt::format("{}: unknown field \"{}\" (fields: {})", where, name, known));
  }
  if (pointer.empty() || pointer.front() != '/')
    throw FieldMapError(fmt::format("{}: \"{}\": a JSON pointer starts with '/' (e.g. {}=/a/b)",
                                    where, pointer, name));
  for (size_t i = 0; i < pointer.size(); ++i) {
    if (pointer[i] == '~' &&
        (i + 1 == pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')))
      throw FieldMapError(
          fmt::format("{}: \"{}\": '~' must be followed by 0 or 1 (RFC 6901)", where, pointer));
  }
  for (FieldMapping& m : entries) {
    if (m.field == field) {
      m.pointer = std::string(pointer);
      return;
    }
  }
  entries.push_back({field, std::string(pointer)});
}

void FieldMap::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FieldMapError(fmt::format("{}: cannot open the field map", path));
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string::npos || line[start] == '#') continue;
    add(std::string_view(line).substr(start), fmt::format("{}:{}", path, n));
  }
}

}  // namespace exfilscan
