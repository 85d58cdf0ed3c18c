#pragma once
/// Events as bytes, for the sort buffer and its spill files: one record per event, every field,
/// so that judging a decoded event equals judging the one parsed.

#include <exfilscan/parse/event.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan::detail {

/// Appends the event's record (its length first, as a 4-byte integer) to `out`.
void encode_event(const Event& event, std::string& out);

/// The length of the record at `at` (the bytes after its length field); `at` holds at least 4.
uint32_t record_length(const char* at);
inline constexpr size_t record_header = 4;

/// The event's time, read from a record (the bytes after its length field).
int64_t record_time(std::string_view record);

/// Fills `event` from a record (the bytes after its length field); its views point into the
/// record. Its prompt parts are appended to `parts`: the caller points `event.prompt` at them
/// (from the size `parts` had before) once `parts` stops growing.
void decode_event(std::string_view record, Event& event, std::vector<PromptPart>& parts);

/// The order events are judged in: by time, then key and request id, then every other field
/// (the records' bytes), so that the order does not depend on the order they came in. Equal
/// records are the same event twice: their order does not matter.
bool record_before(std::string_view a, std::string_view b);

/// record_before for events not encoded: the same order.
bool event_before(const Event& a, const Event& b);

/// The bytes of a record that order events of the same time first (the key's and the request
/// id's), for comparing an event with one that is no longer at hand.
void tie_prefix(std::string_view api_key, std::string_view request_id, std::string& out);

}  // namespace exfilscan::detail
