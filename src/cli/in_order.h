#pragma once
/// How every command reads its inputs: files in the time order of their first events, checked
/// as they are judged, and read again and sorted when they turn out out of order (the command
/// starts its pass over: a new engine, what it held of the first pass dropped); standard input
/// as it comes, unless --sort-stdin. An input error told in the first pass is not told again.

#include "cli/options.h"

#include <exfilscan/input/diagnostics.h>
#include <exfilscan/input/input_order.h>
#include <exfilscan/input/reader.h>
#include <exfilscan/order/event_order.h>

#include <string>
#include <vector>

namespace exfilscan::cli {

class InOrderReading {
 public:
  /// `reader.input_failed` tells an input error. `can_read_twice` false: the inputs are read
  /// once whatever they are (a Kafka topic).
  InOrderReading(const RunConfig& c, ReaderOptions reader, bool can_read_twice = true);
  InOrderReading(const InOrderReading&) = delete;  // (the reader's callback points here)
  InOrderReading& operator=(const InOrderReading&) = delete;

  /// The inputs in the order they are read.
  const std::vector<std::string>& inputs() const { return arranged_.paths; }
  ReaderOptions& reader() { return reader_; }
  const OrderOptions& order() const { return order_; }
  /// A checked pass: findings are held until the inputs are known to be in order.
  bool checking() const { return order_.mode == OrderMode::check; }
  /// The order broke (OrderBroken): the next pass sorts, and the input errors told so far are
  /// not told again.
  void read_again(BadLineLog& bad_lines);

 private:
  ReaderOptions reader_;
  InputsInOrder arranged_;
  OrderOptions order_;
  size_t errors_told_ = 0, errors_to_skip_ = 0;
};

}  // namespace exfilscan::cli
