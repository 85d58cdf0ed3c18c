#pragma once
/// The inputs in time order, from the first events of each (docs/performance.md, "Inputs in any
/// order"): a glob that sorts day 2 before day 1 is read day 1 first.

#include <exfilscan/input/reader.h>

#include <string>
#include <vector>

namespace exfilscan {

/// The earliest time among the first `events` events of an input (its first `max_bytes` bytes,
/// decompressed: a compressed input is inflated only that far); INT64_MAX when they hold none or
/// the input cannot be read (the reader reports that when it reads it).
int64_t first_event_time(const std::string& path, const ReaderOptions& options, size_t events = 16,
                         size_t max_bytes = 1u << 20);

/// The inputs in time order, and whether all of them can be read twice (standard input, a pipe
/// or a device cannot; an input that is not there fails alike each time, and does not count).
struct InputsInOrder {
  std::vector<std::string> paths;
  bool rereadable = true;
};

/// The inputs ordered by first_event_time, stably (inputs of the same time, or with none, keep
/// the order given). Only files of `min_bytes` or more (as stored) move: inputs that cannot be
/// read twice keep their places, and so do small files, which cost as much to sniff as to read
/// (the order stage's check puts their events right, sorting them when they are out of order).
/// One input is not sniffed.
InputsInOrder order_inputs_by_time(const std::vector<std::string>& paths,
                                   const ReaderOptions& options, uint64_t min_bytes = 1u << 20);

}  // namespace exfilscan
