#pragma once
/// The inputs in time order, from the first events of each (docs/performance.md, "Inputs in any
/// order"): a glob that sorts day 2 before day 1 is read day 1 first.

#include <exfilscan/input/reader.h>

#include <string>
#include <vector>

namespace exfilscan {

/// Whether an input can be read twice from its start (a regular file; not stdin or a pipe).
bool input_can_be_reread(const std::string& path);

/// The earliest time among the first `events` events of an input (its first `max_bytes` bytes,
/// decompressed: a compressed input is inflated only that far); INT64_MAX when they hold none or
/// the input cannot be read (the reader reports that when it reads it).
int64_t first_event_time(const std::string& path, const ReaderOptions& options, size_t events = 16,
                         size_t max_bytes = 1u << 20);

/// The inputs ordered by first_event_time, stably (inputs of the same time, or with none, keep
/// the order given). Inputs that cannot be read twice keep their places: only files move.
std::vector<std::string> order_inputs_by_time(const std::vector<std::string>& paths,
                                              const ReaderOptions& options);

}  // namespace exfilscan
