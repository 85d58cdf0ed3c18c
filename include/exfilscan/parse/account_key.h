#pragma once
/// Which identity an event's traffic is counted under: the account, in exfilscan's words.

#include <exfilscan/parse/event.h>

#include <string>
#include <string_view>

namespace exfilscan {

/// ip24 groups IPv4 addresses by /24 and IPv6 by /48: load spread over one NAT or subnet.
enum class GroupBy : uint8_t { api_key, org, project, user, ip, ip24 };
std::string_view to_string(GroupBy group_by);
bool parse_group_by(std::string_view name, GroupBy& out);

/// The event's account under a grouping; empty when the event has none. A derived key (ip24) is
/// built in `scratch`, which the result may view.
std::string_view account_key(const Event& event, GroupBy group_by, std::string& scratch);

}  // namespace exfilscan
