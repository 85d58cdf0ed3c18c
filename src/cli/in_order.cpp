#include "cli/in_order.h"

#include <utility>

namespace exfilscan::cli {

InOrderReading::InOrderReading(const RunConfig& c, ReaderOptions reader, bool can_read_twice)
    : reader_(std::move(reader)) {
  reader_.input_failed = [this, tell = std::move(reader_.input_failed)](const std::string& m) {
    if (errors_to_skip_ > 0) {
      --errors_to_skip_;
      return;
    }
    ++errors_told_;
    if (tell) tell(m);
  };
  arranged_ = order_inputs_by_time(c.inputs, reader_);
  order_ = c.order;
  order_.mode = can_read_twice && arranged_.rereadable ? OrderMode::check
                : c.sort_streams                       ? OrderMode::sort
                                                       : OrderMode::stream;
}

void InOrderReading::read_again(BadLineLog& bad_lines) {
  bad_lines.restart();
  errors_to_skip_ = errors_told_;
  errors_told_ = 0;
  order_.mode = OrderMode::sort;
}

}  // namespace exfilscan::cli
