#include <exfilscan/parse/account_key.h>

namespace exfilscan {

std::string_view to_string(GroupBy g) {
  switch (g) {
    case GroupBy::org:
      return "org";
    case GroupBy::project:
      return "project";
    case GroupBy::user:
      return "user";
    case GroupBy::ip:
      return "ip";
    case GroupBy::ip24:
      return "ip24";
    case GroupBy::api_key:
      break;
  }
  return "api_key";
}

bool parse_group_by(std::string_view name, GroupBy& out) {
  for (GroupBy g : {GroupBy::api_key, GroupBy::org, GroupBy::project, GroupBy::user, GroupBy::ip,
                    GroupBy::ip24}) {
    if (to_string(g) == name) {
      out = g;
      return true;
    }
  }
  return false;
}

namespace {

/// 203.0.113.7 -> 203.0.113.0/24; 2001:db8:1:2::5 -> 2001:db8:1::/48. Anything else as it is.
std::string_view subnet(std::string_view ip, std::string& scratch) {
  if (ip.find(':') != std::string_view::npos) {
    size_t groups = 0, i = 0;
    for (; i < ip.size() && groups < 3; ++i)
      if (ip[i] == ':') ++groups;
    if (groups < 3 || ip.substr(0, i).find("::") != std::string_view::npos) return ip;
    scratch.assign(ip.substr(0, i));
    scratch += ":/48";
    return scratch;
  }
  size_t last = ip.rfind('.');
  if (last == std::string_view::npos) return ip;
  scratch.assign(ip.substr(0, last));
  scratch += ".0/24";
  return scratch;
}

}  // namespace

std::string_view account_key(const Event& ev, GroupBy g, std::string& scratch) {
  switch (g) {
    case GroupBy::api_key:
      return ev.api_key;
    case GroupBy::org:
      return ev.org;
    case GroupBy::project:
      return ev.project;
    case GroupBy::user:
      return ev.end_user;
    case GroupBy::ip:
      return ev.ip;
    case GroupBy::ip24:
      return ev.ip.empty() ? ev.ip : subnet(ev.ip, scratch);
  }
  return {};
}

}  // namespace exfilscan
