/// The profiles topic's messages: a tag, then the fields as the state file writes them.

#include <exfilscan/engine/key_profile.h>
#include <exfilscan/state.h>
#include <exfilscan/timestamp.h>

#include <fmt/format.h>

namespace exfilscan {

namespace {
/// Starts every message: another tool's message (or another format's) is refused by it.
constexpr std::string_view tag = "exfilscan-profile-1";
}  // namespace

std::string encode_profile_message(const ProfileMessage& m) {
  StateWriter w;
  w.str(tag);
  w.u8(static_cast<uint8_t>(m.kind));
  w.u64(m.rules_fingerprint);
  w.i64(m.hour_ns);
  w.u64(static_cast<uint32_t>(m.partition));
  if (m.kind == ProfileMessage::Kind::hour_end) {
    w.i64(m.offset);
    w.i64(m.start_ns);
    return w.data();
  }
  const KeyProfile& p = m.profile;
  w.str(p.key);
  w.i64(p.first_seen_ns);
  w.i64(p.last_seen_ns);
  w.u64(p.requests);
  w.u64(p.link_requests);
  for (uint64_t v : {p.system, p.shape, p.net, p.agent, p.org}) w.u64(v);
  return w.data();
}

ProfileMessage decode_profile_message(std::string_view bytes) {
  StateReader r(bytes);
  ProfileMessage m;
  if (bytes.size() < 8 + tag.size() || r.str() != tag)
    throw StateError("not an exfilscan profile message (another producer's, or another format)");
  uint8_t kind = r.u8();
  if (kind != 1 && kind != 2)
    throw StateError(fmt::format("unknown profile message kind {}", kind));
  m.kind = static_cast<ProfileMessage::Kind>(kind);
  m.rules_fingerprint = r.u64();
  m.hour_ns = r.time();
  uint64_t partition = r.u64();
  if (partition > INT32_MAX) throw StateError("a profile message's partition is out of range");
  m.partition = static_cast<int32_t>(partition);
  if (m.kind == ProfileMessage::Kind::hour_end) {
    m.offset = r.i64();
    m.start_ns = r.i64();
    if (m.offset < 0) throw StateError("an hour's end at a negative offset");
    // INT64_MAX: a member that judged nothing yet. Any other start is a time as the others are
    // (the stage takes it from a key's first request: out of range, that would overflow).
    if (m.start_ns != INT64_MAX &&
        (m.start_ns < 0 || m.start_ns >= timestamp_end_s * 1'000'000'000))
      throw StateError("an hour's end with its member's start out of range");
  } else {
    KeyProfile& p = m.profile;
    p.key = r.str();
    p.first_seen_ns = r.time();
    p.last_seen_ns = r.time();
    p.requests = r.u64();
    p.link_requests = r.u64();
    for (uint64_t* v : {&p.system, &p.shape, &p.net, &p.agent, &p.org}) *v = r.u64();
    if (p.key.empty()) throw StateError("a profile message without a key");
  }
  if (!r.at_end()) throw StateError("a profile message with bytes after its fields");
  return m;
}

}  // namespace exfilscan
