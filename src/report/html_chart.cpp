// An account's timeline as inline SVG: requests per hour as bars (left axis), completion tokens
// per hour as a line (right axis), each finding a dashed line at its time with its number.
#include "report/html_chart.h"

#include <exfilscan/timestamp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace exfilscan::detail {

namespace {

constexpr int64_t ns_per_hour = 3'600'000'000'000;
constexpr double chart_w = 960, chart_h = 260;
constexpr double left = 64, right = 76, top = 28, bottom = 44;
constexpr double plot_w = chart_w - left - right, plot_h = chart_h - top - bottom;

int64_t hour_floor(int64_t ns) {
  return ns - ((ns % ns_per_hour) + ns_per_hour) % ns_per_hour;
}

/// The axis' top: 1, 2 or 5 times a power of ten, at least `v` (and at least 1).
double nice_ceiling(double v) {
  if (v <= 1) return 1;
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

std::string compact(double v) {
  if (v >= 1e9) return fmt::format("{:g}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

/// "11-02 14:00" in the zone.
std::string hour_label(int64_t ns, const TimeZone& tz) {
  std::string t = format_time(ns, tz);
  return t.size() >= 16 ? t.substr(5, 5) + " " + t.substr(11, 5) : t;
}

const char* severity_colour(Severity s) {
  switch (s) {
    case Severity::critical:
      return "#a61e4d";
    case Severity::high:
      return "#e03131";
    case Severity::medium:
      return "#e67700";
    case Severity::low:
      return "#1971c2";
    case Severity::info:
      break;
  }
  return "#868e96";
}

}  // namespace

std::string severity_class(Severity s) {
  return fmt::format("sev-{}", to_string(s));
}

std::string timeline_svg(const std::vector<HourlyCount>& hours, const std::vector<ChartMark>& marks,
                         const TimeZone& tz) {
  if (hours.empty()) return {};
  int64_t start = hours.front().hour_ns, end = hours.back().hour_ns + ns_per_hour;
  for (const ChartMark& m : marks) {
    start = std::min(start, hour_floor(m.at_ns));
    end = std::max(end, hour_floor(m.at_ns) + ns_per_hour);
  }
  // At least 6 hours across, so that one busy hour reads as a bar among quiet ones.
  if (int64_t missing = 6 - (end - start) / ns_per_hour; missing > 0) {
    start -= missing / 2 * ns_per_hour;
    end += (missing - missing / 2) * ns_per_hour;
  }
  double span = static_cast<double>(end - start);
  auto x = [&](int64_t ns) { return left + static_cast<double>(ns - start) / span * plot_w; };
  double max_requests = 0, max_completion = 0;
  for (const HourlyCount& h : hours) {
    max_requests = std::max(max_requests, static_cast<double>(h.requests));
    max_completion = std::max(max_completion, static_cast<double>(h.completion_tokens));
  }
  double top_requests = nice_ceiling(max_requests), top_completion = nice_ceiling(max_completion);
  auto y_requests = [&](double v) { return top + plot_h - v / top_requests * plot_h; };
  auto y_completion = [&](double v) { return top + plot_h - v / top_completion * plot_h; };

  std::string o = fmt::format(
      "<svg class=\"timeline\" viewBox=\"0 0 {} {}\" role=\"img\" "
      "aria-label=\"requests and completion tokens per hour\" "
      "xmlns=\"http://www.w3.org/2000/svg\">\n",
      chart_w, chart_h);
  // Grid and axes: the left axis counts requests, the right one completion tokens.
  for (int i = 0; i <= 4; ++i) {
    double y = top + plot_h * i / 4;
    o += fmt::format(
        "<line class=\"grid\" x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\"/>"
        "<text class=\"axis req\" x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>"
        "<text class=\"axis tok\" x=\"{}\" y=\"{:.1f}\">{}</text>\n",
        left, y, left + plot_w, y, left - 6, y + 4, compact(top_requests * (4 - i) / 4),
        left + plot_w + 6, y + 4, compact(top_completion * (4 - i) / 4));
  }
  int64_t n_hours = (end - start) / ns_per_hour;
  int64_t step = 1;
  for (int64_t s : {1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720, 2160, 8760}) {
    step = s;
    if (n_hours / s <= 7) break;
  }
  for (int64_t t = start; t <= end; t += step * ns_per_hour)
    o += fmt::format(
        "<line class=\"tick\" x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\"/>"
        "<text class=\"axis\" x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x(t), top + plot_h, top + plot_h + 5, top + plot_h + 18, hour_label(t, tz));

  // Bars, then the line over them.
  double bar = std::max(1.0, plot_w / static_cast<double>(n_hours) * 0.8);
  for (const HourlyCount& h : hours) {
    double y = y_requests(h.requests);
    o += fmt::format(
        "<rect class=\"bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\">"
        "<title>{}: {} requests, {} completion tokens</title></rect>\n",
        x(h.hour_ns) + (plot_w / static_cast<double>(n_hours) - bar) / 2, y, bar, top + plot_h - y,
        hour_label(h.hour_ns, tz), h.requests, h.completion_tokens);
  }
  std::string points, dots;
  int64_t previous = INT64_MIN;
  auto point = [&](int64_t hour, double v) {
    points += fmt::format("{:.1f},{:.1f} ", x(hour + ns_per_hour / 2), y_completion(v));
  };
  for (const HourlyCount& h : hours) {
    // Hours without traffic between two with it are zero, not a straight line across.
    if (previous != INT64_MIN && h.hour_ns - previous > ns_per_hour) {
      point(previous + ns_per_hour, 0);
      if (h.hour_ns - previous > 2 * ns_per_hour) point(h.hour_ns - ns_per_hour, 0);
    }
    point(h.hour_ns, h.completion_tokens);
    dots += fmt::format("<circle class=\"dot\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\"/>",
                        x(h.hour_ns + ns_per_hour / 2), y_completion(h.completion_tokens));
    previous = h.hour_ns;
  }
  if (!points.empty()) points.pop_back();
  o += fmt::format("<polyline class=\"tokens\" points=\"{}\"/>\n{}\n", points, dots);

  // Findings: a dashed line each, numbered like the list beside the chart; close ones stagger.
  double last_x = -100;
  int row = 0;
  for (const ChartMark& m : marks) {
    double mx = x(m.at_ns);
    row = mx - last_x < 16 ? (row + 1) % 3 : 0;
    last_x = mx;
    const char* colour = severity_colour(m.severity);
    o += fmt::format(
        "<a href=\"{0}\"><g class=\"mark\"><title>{1}</title>"
        "<line x1=\"{2:.1f}\" y1=\"{3}\" x2=\"{2:.1f}\" y2=\"{4}\" stroke=\"{5}\"/>"
        "<circle cx=\"{2:.1f}\" cy=\"{6}\" r=\"8\" fill=\"{5}\"/>"
        "<text x=\"{2:.1f}\" y=\"{7}\" text-anchor=\"middle\">{8}</text></g></a>\n",
        m.href, m.title, mx, top, top + plot_h, colour, top - 12 + row * 18.0, top - 8 + row * 18.0,
        m.label);
  }
  o += fmt::format(
      "<g class=\"legend\"><rect class=\"bar\" x=\"{0}\" y=\"{1}\" width=\"10\" height=\"10\"/>"
      "<text class=\"axis\" x=\"{2}\" y=\"{3}\">requests per hour (left)</text>"
      "<line class=\"tokens\" x1=\"{4}\" y1=\"{5}\" x2=\"{6}\" y2=\"{5}\"/>"
      "<text class=\"axis\" x=\"{7}\" y=\"{3}\">completion tokens per hour (right)</text></g>\n",
      left, chart_h - 14, left + 14, chart_h - 5, left + 200, chart_h - 9, left + 220, left + 226);
  o += "</svg>\n";
  return o;
}

}  // namespace exfilscan::detail
