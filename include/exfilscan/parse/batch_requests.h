#pragma once
/// An OpenAI Batch API input file's requests by custom_id, joined to the output file's answers.

#include <exfilscan/input/input.h>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace exfilscan {

class BatchRequests {
 public:
  struct Request {
    std::string url;   // "/v1/chat/completions"
    std::string body;  // the request body as JSON
  };

  /// Adds a request; a custom_id seen before keeps its first one (false).
  bool add(std::string_view custom_id, std::string_view url, std::string_view body);
  /// The request sent as `custom_id`, or null.
  const Request* find(std::string_view custom_id) const;
  size_t size() const { return requests_.size(); }
  /// Bytes held (the bodies), for -v.
  size_t bytes() const { return bytes_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Request, Hash, std::equal_to<>> requests_;
  size_t bytes_ = 0;
};

/// Whether the input's first line is an OpenAI Batch input line. Reads one chunk; a file that
/// cannot be read is not one (reading it later reports why).
bool is_batch_input(const std::string& path, const InputOptions& options);
/// Reads a whole input file into `requests`; returns the number of its lines that were not
/// input lines. Throws InputError.
uint64_t load_batch_input(const std::string& path, const InputOptions& options,
                          BatchRequests& requests);

}  // namespace exfilscan
