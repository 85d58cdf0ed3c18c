#include <exfilscan/rules/finding.h>

namespace exfilscan {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info:
      return "info";
    case Severity::low:
      return "low";
    case Severity::medium:
      return "medium";
    case Severity::high:
      return "high";
    case Severity::critical:
      return "critical";
  }
  return "info";
}

bool parse_severity(std::string_view name, Severity& out) {
  for (Severity s :
       {Severity::info, Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    if (to_string(s) == name) {
      out = s;
      return true;
    }
  }
  return false;
}

Severity severity_of_score(double score) {
  if (score >= 0.9) return Severity::critical;
  if (score >= 0.75) return Severity::high;
  if (score >= 0.5) return Severity::medium;
  if (score >= 0.3) return Severity::low;
  return Severity::info;
}

}  // namespace exfilscan
