#pragma once
/// Turns the SIGBUS of a mapped input that shrank while it was read (logrotate's copytruncate)
/// into a message naming the file and exit code 2, instead of "Bus error".

#include <cstddef>
#include <string_view>

namespace exfilscan::detail {

/// Registers [begin, begin + length) as a mapping of an input while it is mapped. `message`
/// must stay valid until the guard is destroyed. Mappings of other kinds are not the guard's:
/// a SIGBUS outside every registered range keeps its default action.
class MappingGuard {
 public:
  MappingGuard() = default;
  MappingGuard(const MappingGuard&) = delete;
  MappingGuard& operator=(const MappingGuard&) = delete;
  ~MappingGuard() { clear(); }
  void set(const void* begin, size_t length, std::string_view message);
  void clear();

 private:
  int slot_ = -1;
};

}  // namespace exfilscan::detail
