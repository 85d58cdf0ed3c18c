#include <exfilscan/order/event_order.h>

#include <exfilscan/input/pipeline.h>

#include "order/event_codec.h"
#include "order/spill.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <deque>
#include <queue>

namespace exfilscan {

namespace {

constexpr size_t delivery_events = 4096;            // events passed on at once from the sort
constexpr size_t delivery_bytes = 8u << 20;         // records copied out of merged runs at once
constexpr size_t entry_bytes = sizeof(size_t) * 3;  // what an event's index entry costs

/// A held event in the sort buffer.
struct Entry {
  int64_t time;
  size_t offset;  // of its record, after the length field
  size_t length;
};

}  // namespace

struct EventOrder::Impl {
  Impl(OrderOptions o, EventSink& n) : options(std::move(o)), next(n), spill_dir(options.temp_dir) {
    stats.sorted = options.mode == OrderMode::sort;
  }

  OrderOptions options;
  EventSink& next;
  OrderStats stats;

  // Check mode: the events of the latest time seen, held (copied) until the next chunk shows
  // whether more of that time come, which go among them by the canonical order.
  EventBatch held[2];
  size_t held_now = 0;
  std::vector<std::span<const Event>> sequence;  // the held events, then the chunk's runs
  std::vector<std::span<const Event>> out;       // what is passed on
  std::deque<std::vector<Event>> fixes;          // tie groups put in order (views of the chunk)
  std::vector<Event> group;

  // Sort mode: the buffer of encoded events, the runs spilled, the newest time seen.
  int64_t newest = INT64_MIN;
  std::string buffer;
  std::vector<Entry> entries;
  detail::SpillDir spill_dir;
  std::vector<detail::RunFile> runs;

  // Passing sorted records on: decoded events and their prompt parts.
  std::vector<Event> events;
  std::vector<PromptPart> parts;
  std::vector<size_t> first_part;
  std::string copies;
  std::vector<std::pair<size_t, size_t>> copied;  // (offset, length) in copies

  std::string_view record(const Entry& e) const { return {buffer.data() + e.offset, e.length}; }

  /// A place in `sequence`.
  struct At {
    size_t run = 0, i = 0;
  };

  void emit(At from, At to) {
    for (size_t k = from.run; k <= to.run && k < sequence.size(); ++k) {
      size_t b = k == from.run ? from.i : 0, e = k == to.run ? to.i : sequence[k].size();
      if (e > b) out.push_back(sequence[k].subspan(b, e - b));
    }
  }

  /// The events in [from, to), sorted, into `group`.
  void sorted_group(At from, At to) {
    group.clear();
    for (size_t k = from.run; k <= to.run && k < sequence.size(); ++k) {
      size_t b = k == from.run ? from.i : 0, e = k == to.run ? to.i : sequence[k].size();
      for (size_t i = b; i < e; ++i) group.push_back(sequence[k][i]);
    }
    std::sort(group.begin(), group.end(), detail::event_before);
  }

  /// Check mode: passes the runs on, each run of events of one time in the canonical order,
  /// the events of the latest time held for the next call. Throws OrderBroken at an event
  /// earlier than one before it (or when one time has too many events to hold).
  void check(std::span<const std::span<const Event>> runs) {
    EventBatch& before = held[held_now];
    sequence.clear();
    if (before.size()) sequence.push_back(before.events());
    for (std::span<const Event> run : runs)
      if (!run.empty()) sequence.push_back(run);
    if (sequence.empty()) return;
    out.clear();
    fixes.clear();
    At segment, tie;  // what is not yet passed on; where the events of the current time start
    bool tie_in_order = true;
    const Event* last = nullptr;
    for (size_t k = 0; k < sequence.size(); ++k) {
      for (size_t i = 0; i < sequence[k].size(); ++i) {
        const Event& e = sequence[k][i];
        if (last && e.timestamp_ns == last->timestamp_ns) [[unlikely]] {
          if (tie_in_order && detail::event_before(e, *last)) tie_in_order = false;
        } else if (last) {
          if (e.timestamp_ns < last->timestamp_ns) {
            if (options.mode == OrderMode::check) throw OrderBroken();
            ++stats.events_out_of_order;  // (a stream: judged where it came)
          }
          if (!tie_in_order) {
            emit(segment, tie);
            sorted_group(tie, {k, i});
            out.emplace_back(fixes.emplace_back(group));
            segment = {k, i};
          }
          tie = {k, i};
          tie_in_order = true;
        }
        last = &e;
      }
    }
    // The latest time's events wait: the next chunk may hold more of them.
    emit(segment, tie);
    sorted_group(tie, {sequence.size() - 1, sequence.back().size()});
    EventBatch& after = held[held_now ^ 1];
    after.clear();
    if (group.size() > options.max_held_events) {
      // Too many of one time to hold: a file is sorted instead; a stream passes them on now
      // (more of that time in the next chunk then follow them, in their own order).
      if (options.mode == OrderMode::check) throw OrderBroken();
      out.emplace_back(fixes.emplace_back(group));
    } else {
      for (const Event& e : group) after.add(e);
    }
    if (!out.empty()) next.on_events(out);
    before.clear();
    held_now ^= 1;
  }

  void finish_check() {
    EventBatch& h = held[held_now];
    if (!h.size()) return;
    std::span<const Event> run = h.events();
    next.on_events({&run, 1});
    h.clear();
  }

  void hold(const Event& e) {
    if (e.timestamp_ns < newest) {
      ++stats.events_reordered;
      stats.max_lateness_ns = std::max(stats.max_lateness_ns, newest - e.timestamp_ns);
    } else {
      newest = e.timestamp_ns;
    }
    if (buffer.empty()) buffer.reserve(std::min<size_t>(options.buffer_bytes, 64u << 20));
    size_t at = buffer.size();
    detail::encode_event(e, buffer);
    entries.push_back(
        {e.timestamp_ns, at + detail::record_header, buffer.size() - at - detail::record_header});
    if (buffer.size() + entries.size() * entry_bytes >= options.buffer_bytes) spill();
  }

  void sort_entries() {
    std::sort(entries.begin(), entries.end(), [this](const Entry& a, const Entry& b) {
      if (a.time != b.time) return a.time < b.time;
      return detail::record_before(record(a), record(b));
    });
  }

  void write_record(detail::RunFile& run, std::string_view record) {
    auto length = static_cast<uint32_t>(record.size());
    char header[detail::record_header];
    std::memcpy(header, &length, sizeof header);
    run.write({header, sizeof header});
    run.write(record);
  }

  /// The buffer, sorted, as a run on disk.
  void spill() {
    sort_entries();
    detail::RunFile run = spill_dir.make_run();
    for (const Entry& e : entries) write_record(run, record(e));
    run.flush();
    stats.events_spilled += entries.size();
    ++stats.spill_runs;
    runs.push_back(std::move(run));
    buffer.clear();
    entries.clear();
  }

  /// Decodes the records and passes them on as one run of events.
  void deliver(std::span<const std::string_view> records) {
    events.resize(records.size());
    first_part.resize(records.size() + 1);
    parts.clear();
    for (size_t i = 0; i < records.size(); ++i) {
      first_part[i] = parts.size();
      detail::decode_event(records[i], events[i], parts);
    }
    first_part[records.size()] = parts.size();
    for (size_t i = 0; i < records.size(); ++i)
      events[i].prompt = {parts.data() + first_part[i], first_part[i + 1] - first_part[i]};
    std::span<const Event> run(events.data(), records.size());
    next.on_events({&run, 1});
  }

  void deliver_copies() {
    std::vector<std::string_view> views;
    views.reserve(copied.size());
    for (auto [offset, length] : copied) views.emplace_back(copies.data() + offset, length);
    deliver(views);
    copies.clear();
    copied.clear();
  }

  /// Merges the memory buffer (sorted) and the runs [from, to) into `out`, or into `next`.
  void merge(size_t from, size_t to, bool with_memory, detail::RunFile* out) {
    std::vector<detail::RunCursor> cursors;
    cursors.reserve(to - from);
    for (size_t i = from; i < to; ++i) cursors.emplace_back(runs[i]);
    size_t memory_at = with_memory ? 0 : entries.size();
    const size_t memory = cursors.size();  // the source number of the memory buffer
    auto current = [&](size_t source) {
      return source == memory ? record(entries[memory_at]) : cursors[source].record();
    };
    auto later = [&](size_t a, size_t b) { return detail::record_before(current(b), current(a)); };
    std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
    for (size_t s = 0; s < cursors.size(); ++s)
      if (!cursors[s].done()) heap.push(s);
    if (memory_at < entries.size()) heap.push(memory);
    while (!heap.empty()) {
      size_t s = heap.top();
      heap.pop();
      std::string_view rec = current(s);
      if (out) {
        write_record(*out, rec);
      } else {
        copied.emplace_back(copies.size(), rec.size());
        copies.append(rec);
        if (copied.size() == delivery_events || copies.size() >= delivery_bytes) deliver_copies();
      }
      bool more;
      if (s == memory) {
        more = ++memory_at < entries.size();
      } else {
        cursors[s].advance();
        more = !cursors[s].done();
      }
      if (more) heap.push(s);
    }
    if (!out && !copied.empty()) deliver_copies();
  }

  void finish() {
    if (options.mode != OrderMode::sort) return finish_check();
    sort_entries();
    if (runs.empty()) {
      std::vector<std::string_view> views;
      for (size_t i = 0; i < entries.size(); i += delivery_events) {
        views.clear();
        for (size_t j = i; j < std::min(entries.size(), i + delivery_events); ++j)
          views.push_back(record(entries[j]));
        deliver(views);
      }
    } else {
      // Each merge holds a read buffer and a descriptor per run: past the fan-in, runs are
      // merged in groups into longer ones first.
      size_t fan_in = std::max<size_t>(options.merge_fan_in, 2);
      while (runs.size() + 1 > fan_in) {
        detail::RunFile merged = spill_dir.make_run();
        merge(0, fan_in, false, &merged);
        merged.flush();
        runs.erase(runs.begin(), runs.begin() + static_cast<std::ptrdiff_t>(fan_in));
        runs.push_back(std::move(merged));
      }
      merge(0, runs.size(), true, nullptr);
    }
    buffer.clear();
    entries.clear();
    runs.clear();
  }
};

EventOrder::EventOrder(OrderOptions options, EventSink& next)
    : impl_(std::make_unique<Impl>(std::move(options), next)) {}

EventOrder::~EventOrder() = default;

void EventOrder::on_event(const Event& event) {
  std::span<const Event> run(&event, 1);
  on_events({&run, 1});
}

void EventOrder::on_events(std::span<const std::span<const Event>> runs) {
  Impl& m = *impl_;
  if (m.options.mode == OrderMode::sort) {
    for (std::span<const Event> run : runs)
      for (const Event& e : run) m.hold(e);
    return;
  }
  m.check(runs);
}

void EventOrder::finish() {
  impl_->finish();
}

const OrderStats& EventOrder::stats() const {
  return impl_->stats;
}

}  // namespace exfilscan
