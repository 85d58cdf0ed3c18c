#pragma once
/// What the cluster stage needs of a key, as the members of a group publish it at each hourly
/// upkeep (scan --kafka --profiles-topic), and the end of each hour on each partition: one
/// message of the profiles topic each (docs/scale-out.md, "The cluster stage"). Hashes only:
/// no prompt text leaves a member.

#include <climits>
#include <cstdint>
#include <string>
#include <string_view>

namespace exfilscan {

/// The linker's inputs of one key, as a member's engine holds them at an upkeep.
struct KeyProfile {
  std::string key;
  int64_t first_seen_ns = 0;
  int64_t last_seen_ns = 0;
  uint64_t requests = 0;       // the account's
  uint64_t link_requests = 0;  // its link profile's
  // Its dominant values (0: none): system prompt, request shape, /24, user agent; its org.
  uint64_t system = 0, shape = 0, net = 0, agent = 0, org = 0;
  bool operator==(const KeyProfile&) const = default;
};

/// One message of the profiles topic: a key's profile, or the end of an hour on a partition.
struct ProfileMessage {
  enum class Kind : uint8_t { profile = 1, hour_end = 2 };
  Kind kind = Kind::profile;
  /// The rules the member judged with (state_fingerprint): the stage links with the same.
  uint64_t rules_fingerprint = 0;
  int64_t hour_ns = 0;    // the upkeep it was taken at, to the hour
  int32_t partition = 0;  // the key's partition of the records' topic, or the one that ended
  KeyProfile profile;     // kind profile
  /// kind hour_end: the partition's first record after the upkeep (its records before were
  /// judged before it), and where the member's logs begin (their current stretch).
  int64_t offset = 0;
  int64_t start_ns = INT64_MAX;
  bool operator==(const ProfileMessage&) const = default;
};

std::string encode_profile_message(const ProfileMessage& m);
/// Throws StateError for bytes that are not a profile message of this format.
ProfileMessage decode_profile_message(std::string_view bytes);

}  // namespace exfilscan
