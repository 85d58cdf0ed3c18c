/// The SIGBUS handler behind MappingGuard: async-signal-safe (atomics, write, _exit).
#include "input/mapping_guard.h"

#include <exfilscan/exit_codes.h>

#include <signal.h>
#include <unistd.h>
#include <atomic>
#include <cstdint>
#include <mutex>

namespace exfilscan::detail {

namespace {

/// One slot per input mapped at once (one per reading thread at most); a handler cannot take
/// a lock, so the slots are fixed and their fields atomic.
struct Slot {
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<const char*> message{nullptr};
  std::atomic<size_t> length{0};
  std::atomic<bool> taken{false};
  /// Set last and cleared first: the handler never sees a range half written.
  std::atomic<bool> armed{false};
};
constexpr int slot_count = 64;
Slot slots[slot_count];
struct sigaction previous;  // what handled SIGBUS before (ASan's, a host program's, or none)

void on_sigbus(int sig, siginfo_t* info, void* context) {
  auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  for (Slot& s : slots) {
    if (s.armed.load() && addr >= s.begin.load() && addr < s.end.load()) {
      const char* m = s.message.load();
      if (m) {
        ssize_t unused = ::write(STDERR_FILENO, m, s.length.load());
        (void)unused;
      }
      ::_exit(exit_input_error);
    }
  }
  // Not an input's mapping: whatever handled it before this guard, or the default action.
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  } else {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
}

void install() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa = {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, &previous);
  });
}

}  // namespace

void MappingGuard::set(const void* begin, size_t length, std::string_view message) {
  install();
  clear();
  for (int i = 0; i < slot_count; ++i) {
    bool free = false;
    if (!slots[i].taken.compare_exchange_strong(free, true)) continue;
    slots[i].message.store(message.data());
    slots[i].length.store(message.size());
    slots[i].begin.store(reinterpret_cast<uintptr_t>(begin));
    slots[i].end.store(reinterpret_cast<uintptr_t>(begin) + length);
    slots[i].armed.store(true);
    slot_ = i;
    return;
  }
  // More inputs mapped at once than slots: this one keeps the default action (not expected).
}

void MappingGuard::clear() {
  if (slot_ < 0) return;
  Slot& s = slots[slot_];
  s.armed.store(false);
  s.begin.store(0);
  s.end.store(0);
  s.message.store(nullptr);
  s.taken.store(false);
  slot_ = -1;
}

}  // namespace exfilscan::detail
