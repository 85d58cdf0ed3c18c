#pragma once
/// Minimal JSON output helpers shared by the canonical writer and the reporters.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

/// Appends `text` as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD
/// so the output is always valid JSON.
void append_json_string(std::string& out, std::string_view text);
/// Appends the items as the elements of a JSON array (no brackets): "a","b".
void append_json_strings(std::string& out, const std::vector<std::string>& items);
/// Appends a number the way JSON wants it: integers without a fraction, no NaN or infinity
/// (written as null).
void append_json_number(std::string& out, double value);
void append_json_number(std::string& out, int64_t value);

}  // namespace exfilscan
