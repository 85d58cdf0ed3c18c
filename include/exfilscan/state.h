#pragma once
/// State carried between runs (--state): the versioned, checksummed format of the file, and the
/// byte-level writer and reader the stages serialise themselves with (state_file.h: the file).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace exfilscan {

/// A state file that cannot be used: missing pieces, another version, other rules, corruption.
/// The message says which and what to do.
class StateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// 2: the population's windows closed since the last hourly upkeep are kept apart. 3: when each
/// template last matched (templates are forgotten after a quiet week). 4: each account's last
/// event before its current window, and the keys forgotten with when each was last seen (a key
/// that comes back is dormant, not new). 5: each detector's part under its name. 6: the events
/// the clock holds aside until their time is confirmed. 7: the keys' link profiles and the
/// clusters they form (pooled accounts among the accounts). 8: each model's first appearance in
/// the logs, and those noted since the last upkeep (release_chasing). 9: whether a cluster's
/// keys share one setup. 10: logit_probe's probing run across windows, with its times. 11:
/// prompt_templating's prompts by traffic shape and its templates' shape tags. 12: which of a
/// cluster's prompts several of its keys sent (distillation_sweep's part of its pooled account).
/// 13: prompt_templating's answers against what filled their templates' slots. Formats 1 to 12
/// are still read.
inline constexpr uint32_t state_format_version = 13;
inline constexpr uint32_t oldest_state_format_version = 1;

/// Little-endian fixed-width values and length-prefixed strings.
class StateWriter {
 public:
  void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u64(uint64_t v);
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void f64(double v);
  void str(std::string_view s);
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
};

class StateReader {
 public:
  /// `version`: the format the data was written in (older ones may lack later fields).
  explicit StateReader(std::string_view data, uint32_t version = state_format_version)
      : data_(data), version_(version) {}
  uint32_t version() const { return version_; }
  uint8_t u8();
  uint64_t u64();
  int64_t i64() { return static_cast<int64_t>(u64()); }
  /// An event time or a duration in nanoseconds, 0 to 2262 (timestamp_end_s): the file's
  /// checksum holds for any bytes, and a wild time would overflow the arithmetic on it.
  int64_t time();
  double f64();
  std::string str();
  /// A count of items that follow, refused above `max` (a corrupt length must not allocate).
  size_t count(size_t max);
  bool at_end() const { return pos_ == data_.size(); }

 private:
  void need(size_t n);
  std::string_view data_;
  uint32_t version_;
  size_t pos_ = 0;
};

/// The bytes of a state file: `payload` under a header (magic, version, the rules' fingerprint,
/// length) and a checksum. StateFile puts them on disk.
std::string encode_state(uint64_t rules_fingerprint, std::string_view payload);

/// The payload of the state file `name` holding `bytes`. Throws StateError for anything wrong
/// with them (the message names the file). `version` is set to the format it was written in.
std::string decode_state(std::string_view name, std::string_view bytes, uint64_t rules_fingerprint,
                         uint32_t& version);

}  // namespace exfilscan
