#pragma once
/// The HTML report (--report-html): one self-contained page (inline CSS, JS and SVG, nothing
/// fetched) with the run's summary, the sortable ranking and a timeline of each account at
/// medium or above, its findings marked on it and their evidence beside.

#include <exfilscan/report/report.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace exfilscan {

struct HtmlReportOptions {
  std::vector<std::string> inputs;  // as the run read them, for the summary
};

std::unique_ptr<Reporter> make_html_reporter(ReportOptions options, HtmlReportOptions html,
                                             std::FILE* out);

/// Text from a log for HTML text or a quoted attribute: control characters and bytes that are
/// not UTF-8 as printable() writes them (\xNN), then & < > " ' as character references. With
/// `keep_lines`, line breaks stay (for a <pre>); else they and tabs become spaces.
std::string html_escape(std::string_view text, bool keep_lines = false);

}  // namespace exfilscan
