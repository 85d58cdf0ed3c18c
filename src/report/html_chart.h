#pragma once
/// Internal to the HTML report: an account's timeline as inline SVG (requests and completion
/// tokens per hour, its findings marked on it).

#include <exfilscan/rules/finding.h>
#include <exfilscan/time_zone.h>

#include <string>
#include <vector>

namespace exfilscan::detail {

struct ChartMark {
  int64_t at_ns = 0;
  Severity severity = Severity::info;
  std::string label;  // the finding's number in the list beside the chart
  std::string title;  // tooltip, already HTML-escaped
  std::string href;   // the finding's anchor, "#..."
};

/// The <svg> element; `tz` for the axis labels. Empty when `hours` is empty.
std::string timeline_svg(const std::vector<HourlyCount>& hours, const std::vector<ChartMark>& marks,
                         const TimeZone& tz);

/// The CSS class of a severity: "sev-high".
std::string severity_class(Severity s);

}  // namespace exfilscan::detail
