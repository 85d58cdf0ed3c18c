#pragma once
/// Internal: Python's repr of a dict or list turned into JSON. LiteLLM's older S3, DynamoDB and
/// generic loggers wrote str() of each value of their payload: {'role': 'user', ...}.

#include <string>
#include <string_view>

namespace exfilscan::detail {

/// Appends the JSON for `in` (dicts, lists, tuples, strings in either quote with their
/// escapes, numbers, True, False, None) to `out`. False, with `out` undefined, when `in` is
/// not one whole literal of those (an object's repr such as Usage(prompt_tokens=10) is not).
bool python_literal_to_json(std::string_view in, std::string& out);

}  // namespace exfilscan::detail
