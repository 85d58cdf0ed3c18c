// scan --kafka --state-dir: a state file per partition, with the --state machinery (lock,
// atomic save, rules fingerprint, format version), and a journal of the findings written since
// each partition's last checkpoint.
#include "cli/partition_states.h"

#include <exfilscan/state.h>
#include <exfilscan/timestamp.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

namespace exfilscan::cli {

namespace {

/// Starts a partition's payload (a --state one's starts with "exfilscan-kafka-offsets").
constexpr std::string_view partition_tag = "exfilscan-kafka-partition";

std::string read_header(std::string_view payload, PartitionHeader& h) {
  StateReader in(payload);
  if (in.str() != partition_tag) throw StateError("not the state of a partition");
  h.topic = in.str();
  h.partition = static_cast<int32_t>(in.u64());
  h.partitions = static_cast<int32_t>(in.u64());
  h.offset = in.i64();
  h.saver = in.u64();
  h.checkpoint = in.u64();
  return in.str();
}

int64_t hour_after(int64_t t) {
  constexpr int64_t hour = 3600 * ns_per_second;
  return (t / hour + 1) * hour;
}

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

int64_t hand_over_limit_ms(const std::vector<std::pair<std::string, std::string>>& config) {
  int64_t interval = 300'000;
  for (const auto& [name, value] : config)
    if (name == "max.poll.interval.ms") {
      char* end = nullptr;
      long long v = std::strtoll(value.c_str(), &end, 10);
      if (end != value.c_str() && *end == '\0' && v > 0) interval = v;
    }
  // Half: the wait is spent inside a poll, after what the member took since the one before.
  return interval / 2;
}

bool is_partition_state(std::string_view payload) {
  try {
    StateReader in(payload);
    return in.str() == partition_tag;
  } catch (const StateError&) {
    return false;
  }
}

std::string partition_engine_state(std::string_view payload) {
  PartitionHeader h;
  return read_header(payload, h);
}

std::string journal_record(const FiringId& id) {
  StateWriter w;
  w.str(std::get<0>(id));
  w.str(std::get<1>(id));
  w.i64(std::get<2>(id));
  return w.data();
}

std::set<FiringId> read_journal(const std::string& path) {
  std::set<FiringId> out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return out;
  std::string all;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  StateReader in(all);
  try {
    while (!in.at_end()) {
      std::string key = in.str(), rule = in.str();
      out.emplace(std::move(key), std::move(rule), in.i64());
    }
  } catch (const StateError&) {
    // The record a crash cut short was not fully written: nor was its finding, maybe.
  }
  return out;
}

/// What tells one save of a file from another: every save is a new file renamed into place,
/// so a new inode, and the rest tells an inode number used again apart.
static bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

PartitionStates::PartitionStates(const RunConfig& config, FindingSink& next)
    : config_(config), next_(next), saver_((uint64_t{std::random_device{}()} << 32) ^ ::getpid()) {
  // The states there when the run began, as they were then. Not their times: a file's time
  // comes from the kernel's coarse clock, or from another machine's (a shared volume), and a
  // state another member saves a moment after this run began can look older than the run.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(config_.state_dir, ec)) {
    struct stat st;
    if (::stat(entry.path().c_str(), &st) == 0 && S_ISREG(st.st_mode))
      there_at_start_.emplace(entry.path().filename().string(), st);
  }
}

bool PartitionStates::saved_before_run(const std::string& path) const {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return true;
  auto it = there_at_start_.find(std::filesystem::path(path).filename().string());
  return it != there_at_start_.end() && same_file(it->second, st);
}

PartitionStates::~PartitionStates() {
  for (auto& [p, held] : held_)
    if (held.journal >= 0) ::close(held.journal);
}

void PartitionStates::attach(DetectionEngine& engine, EventOrder& order) {
  engine_ = &engine;
  order_ = &order;
}

std::string PartitionStates::path_of(int32_t partition, const char* suffix) const {
  return fmt::format("{}/{}-{}.{}", config_.state_dir, config_.kafka->topic, partition, suffix);
}

KafkaPartitionHooks PartitionStates::hooks(Commit commit) {
  commit_ = std::move(commit);
  KafkaPartitionHooks h;
  h.assigned = [this](const std::vector<int32_t>& assigned, int32_t partitions) {
    return load(assigned, partitions);
  };
  h.revoked = [this](const std::map<int32_t, int64_t>& positions) {
    if (!engine_) return;
    checkpoint(positions, true);
    for (auto [p, offset] : positions) {
      auto at = held_.find(p);
      if (at == held_.end()) continue;
      if (at->second.journal >= 0) ::close(at->second.journal);
      held_.erase(at);  // and its lock let go of
    }
    engine_->forget_keys([&](std::string_view key) {
      return positions.contains(kafka_partition(key, partitions_));
    });
    if (config_.verbose) spdlog::info("state: handed over {} partition(s)", positions.size());
  };
  h.due = [this](int64_t ts) { return engine_ && due(ts); };
  h.checkpoint = [this](const std::map<int32_t, int64_t>& positions) {
    checkpoint(positions, false);
  };
  return h;
}

std::map<int32_t, int64_t> PartitionStates::load(const std::vector<int32_t>& assigned,
                                                 int32_t partitions) {
  std::map<int32_t, int64_t> starts;
  if (!engine_) return starts;
  partitions_ = partitions;
  struct Candidate {
    int32_t partition;
    Held held;
    Saved now, before;  // the state and the one it replaced
    bool use_before = false;
    bool reset = false;  // --state-reset: a state from before this run, set aside
  };
  std::vector<Candidate> found;
  try {
    for (int32_t p : assigned) {
      Candidate& c = found.emplace_back();
      c.partition = p;
      std::string path = path_of(p, "state");
      StateFileOptions options;
      // The member it comes from lets go of it once it is saved: a hand-over, not a conflict.
      options.wait = true;
      options.waiting = [&] {
        if (config_.verbose) spdlog::info("state: waiting for {} to be let go of", path);
      };
      // Well within what a member may go without polling: past it the group puts the one that
      // holds it out (a hung member), and this one, blocked here, would be next.
      options.wait_limit_ms = hand_over_limit_ms(config_.kafka->config);
      c.held.file = std::make_unique<StateFile>(path, options);
      if (config_.state_reset && saved_before_run(path)) {
        c.reset = true;
        continue;
      }
      c.now.payload = c.held.file->read(config_.rules_fingerprint, c.now.version);
      auto check = [&](Saved& s, const std::string& from) {
        s.engine = read_header(s.payload, s.header);
        const PartitionHeader& h = s.header;
        if (h.topic != config_.kafka->topic || h.partition != p)
          throw StateError(fmt::format("{}: the state of {} partition {}, not {} partition {}",
                                       from, h.topic, h.partition, config_.kafka->topic, p));
        if (h.partitions != partitions)
          throw StateError(fmt::format(
              "{}: saved when {} had {} partitions, it has {} now: its keys are on other "
              "partitions (--state-reset starts over)",
              from, h.topic, h.partitions, partitions));
      };
      if (!c.now.payload.empty()) check(c.now, path);
      // The state before the last save is wanted only where that save may not have ended: one
      // that cannot be used beside a good state is told and left aside, not fatal.
      std::string prev = path_of(p, "state.prev");
      if (::access(prev.c_str(), F_OK) == 0) {
        try {
          c.before.payload = read_state_unlocked(prev, config_.rules_fingerprint, c.before.version);
          if (!c.before.payload.empty()) check(c.before, prev);
        } catch (const StateError& e) {
          if (c.now.payload.empty()) throw;
          spdlog::warn("{} is used; the state before its last save is left aside: {}", path,
                       e.what());
          c.before = Saved{};
        }
      }
      // Killed between its rename and its save: the state before is the last one.
      if (c.now.payload.empty() && !c.before.payload.empty()) c.use_before = true;
    }
    // A member killed in the middle of a checkpoint saved some of its partitions and not the
    // others: those it saved go back to the state before, so that all go on from one point.
    std::map<uint64_t, uint64_t> oldest;  // saver -> its earliest checkpoint among them
    for (const Candidate& c : found) {
      const Saved& s = c.use_before ? c.before : c.now;
      if (s.payload.empty()) continue;
      auto [at, added] = oldest.try_emplace(s.header.saver, s.header.checkpoint);
      if (!added) at->second = std::min(at->second, s.header.checkpoint);
    }
    for (Candidate& c : found)
      if (!c.use_before && !c.now.payload.empty() && !c.before.payload.empty() &&
          c.before.header.saver == c.now.header.saver &&
          c.before.header.checkpoint == oldest[c.now.header.saver])
        c.use_before = true;
    for (Candidate& c : found) {
      const Saved& s = c.use_before ? c.before : c.now;
      int32_t p = c.partition;
      if (!s.payload.empty()) {
        // Offset -1: saved when it was assigned, before any of its records (below).
        if (s.header.offset >= 0) {
          StateReader in(s.engine, s.version);
          engine_->add_state(in);
          starts[p] = s.header.offset;
        }
        c.held.offset = s.header.offset;
        // (A run killed between its save and its new journal left only the one before.)
        std::string journal = path_of(p, "findings");
        c.held.replayed = read_journal(journal);
        if (c.use_before || ::access(journal.c_str(), F_OK) != 0)
          c.held.replayed.merge(read_journal(path_of(p, "findings.prev")));
        if (config_.verbose)
          spdlog::info("state: loaded {}{} (offset {}, {} findings written since)",
                       path_of(p, "state"), c.use_before ? " as it was before its last save" : "",
                       s.header.offset, c.held.replayed.size());
      } else if (config_.verbose) {
        spdlog::info("state: {} does not exist yet; partition {} starts fresh", path_of(p, "state"),
                     p);
      }
      // What it held is in `replayed` (--state-reset: nothing, it was of the state set aside),
      // written back whole before anything is appended.
      rewrite_journal(p, c.held);
      // A state from the start, so that a run killed before its first checkpoint leaves the
      // journal of what it wrote to the next owner, who reads from the group's offset again.
      if (s.payload.empty()) save(p, c.held, -1);
      held_[p] = std::move(c.held);
    }
  } catch (const StateError& e) {
    throw InputError(e.what());
  }
  return starts;
}

void PartitionStates::open_journal(int32_t partition, Held& held) {
  if (held.journal >= 0) ::close(held.journal);
  std::string path = path_of(partition, "findings");
  held.journal = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (held.journal < 0)
    throw StateError(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
}

void PartitionStates::rewrite_journal(int32_t partition, Held& held) {
  std::string path = path_of(partition, "findings");
  std::string rest;
  for (const FiringId& id : held.replayed) rest += journal_record(id);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  bool ok = fd >= 0 && write_all(fd, rest) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0)
    throw StateError(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  open_journal(partition, held);
}

bool PartitionStates::due(int64_t ts) {
  last_ts_ = ts;
  if (next_due_ == 0) next_due_ = hour_after(ts);
  return ts >= next_due_;
}

void PartitionStates::checkpoint(const std::map<int32_t, int64_t>& positions, bool revoking) {
  if (!engine_) return;
  order_->finish();  // the events it holds of the latest time are before the positions
  std::map<int32_t, int64_t> committed;
  ++checkpoints_;
  try {
    for (auto& [p, held] : held_) {
      auto at = positions.find(p);
      if (revoking && at == positions.end()) continue;
      int64_t offset = at != positions.end() && at->second >= 0 ? at->second : held.offset;
      save(p, held, offset);
      if (offset >= 0) committed[p] = offset;
    }
  } catch (const StateError& e) {
    throw InputError(fmt::format("{} (the last checkpoint stands)", e.what()));
  }
  // The clock after a far outlier is not the next hour's: the engine's clock is.
  int64_t now = engine_->event_time();
  next_due_ = hour_after(now == 0 || last_ts_ <= now + 3600 * ns_per_second ? last_ts_ : now);
  try {
    // librdkafka holds a commit made inside a revocation until the revocation is done: waiting
    // for it there would never end. The state, not the commit, is where the next owner starts.
    commit_(committed, !revoking);
  } catch (const InputError& e) {
    // Not fatal: the state, not the commit, is where the partition's next owner starts.
    fmt::print(stderr, "exfilscan: {} (the state holds them: the next owner starts there)\n",
               e.what());
  }
}

void PartitionStates::save(int32_t partition, Held& held, int64_t offset) {
  StateWriter engine_bytes;
  engine_->save_state(engine_bytes, [&](std::string_view key) {
    return kafka_partition(key, partitions_) == partition;
  });
  StateWriter out;
  out.str(partition_tag);
  out.str(config_.kafka->topic);
  out.u64(static_cast<uint64_t>(partition));
  out.u64(static_cast<uint64_t>(partitions_));
  out.i64(offset);
  out.u64(saver_);
  out.u64(checkpoints_);
  out.str(engine_bytes.data());
  // The state and the journal it replaces are kept one save more: a run killed in the middle
  // of a checkpoint leaves its partitions at two checkpoints, and the next owner takes them all
  // back to the earlier one (load).
  std::string path = path_of(partition, "findings");
  for (const auto& [from, to] :
       {std::pair{path_of(partition, "state"), path_of(partition, "state.prev")},
        std::pair{path, path_of(partition, "findings.prev")}})
    if (std::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
      throw StateError(fmt::format("{}: cannot keep it as {}: {}", from, to, std::strerror(errno)));
  held.file->save(config_.rules_fingerprint, out.data());
  held.offset = offset;
  // The findings written so far are in the state's episodes now; those a replay has still to
  // reach (written before a crash, past this point) stay in the journal. One a replay has not
  // fired again an hour of event time after it fired will not come (the replay fires at the
  // same events, in time order): the detectors that need other keys' events may not fire it
  // again at all, and the journal must not grow with them.
  int64_t now = engine_->event_time();
  std::erase_if(held.replayed,
                [&](const FiringId& id) { return std::get<2>(id) + ns_per_hour < now; });
  rewrite_journal(partition, held);
  if (config_.verbose)
    spdlog::info("state: saved {} at offset {}", path_of(partition, "state"), offset);
}

void PartitionStates::save_all(const std::map<int32_t, int64_t>& positions) {
  if (!engine_) return;
  checkpoint(positions, false);
}

void PartitionStates::on_finding(const Finding& f) {
  auto held = partitions_ > 0 ? held_.find(kafka_partition(f.key, partitions_)) : held_.end();
  FiringId id{f.key, f.rule, f.detected_at_ns};
  if (held != held_.end() && held->second.replayed.erase(id)) {
    ++dropped_;  // written before a crash, by this partition's last owner
    return;
  }
  next_.on_finding(f);  // the reporters flush each finding as it fires
  if (held != held_.end() && held->second.journal >= 0 &&
      !write_all(held->second.journal, journal_record(id)) && !journal_failed_) {
    // One write, appended whole. Without it a replay after a crash writes this one again.
    journal_failed_ = true;
    spdlog::warn("{}: cannot write: {} (findings replayed after a crash may be written twice)",
                 path_of(kafka_partition(f.key, partitions_), "findings"), std::strerror(errno));
  }
}

}  // namespace exfilscan::cli
