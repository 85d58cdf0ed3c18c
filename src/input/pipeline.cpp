#include <exfilscan/input/pipeline.h>

#include "worker_pool.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <type_traits>

namespace exfilscan {

namespace {
constexpr size_t text_block_bytes = 1u << 20;
constexpr size_t parts_block_bytes = 64u << 10;
constexpr size_t piece_min_bytes = 32u << 10;
constexpr size_t copied_bytes = 64;  // strings up to this long are copied into a batch
}  // namespace

template <typename T>
T* EventBatch::Blocks<T>::take(size_t n) {
  // Inline: a batch takes room for some ten strings an event.
  if (block < sizes.size() && sizes[block] - used >= n) [[likely]] {
    T* at = blocks[block].get() + used;
    used += n;
    return at;
  }
  return take_next(n);
}

template <typename T>
T* EventBatch::Blocks<T>::take_next(size_t n) {
  for (;;) {
    if (block == blocks.size()) {
      // Left uninitialised (char) or small (parts): pages a batch never uses stay untouched.
      size_t size =
          std::max((std::is_same_v<T, char> ? text_block_bytes : parts_block_bytes) / sizeof(T), n);
      blocks.push_back(std::make_unique_for_overwrite<T[]>(size));
      sizes.push_back(size);
      used = 0;
    }
    if (sizes[block] - used >= n) break;
    ++block;
    used = 0;
  }
  T* at = blocks[block].get() + used;
  used += n;
  return at;
}

namespace {

/// memcpy for up to copied_bytes, as two overlapping moves of a fixed size: a call to memcpy
/// costs more than the copy for the ids and keys a batch copies.
void copy_short(char* to, const char* from, size_t n) {
  static_assert(copied_bytes == 64);
  if (n >= 32) {
    std::memcpy(to, from, 32);
    std::memcpy(to + n - 32, from + n - 32, 32);
  } else if (n >= 16) {
    std::memcpy(to, from, 16);
    std::memcpy(to + n - 16, from + n - 16, 16);
  } else if (n >= 8) {
    std::memcpy(to, from, 8);
    std::memcpy(to + n - 8, from + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(to, from, 4);
    std::memcpy(to + n - 4, from + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; ++i) to[i] = from[i];
  }
}

}  // namespace

std::string_view EventBatch::keep(std::string_view s, std::string_view stable) {
  if (s.empty()) return {};
  // Short strings (keys, ids, addresses) are copied all the same: every shard reads every
  // event's keys, and side by side in the batch they take a few cache lines, where in the
  // chunk each takes its own (3 % of a two-thread scan). Only long text stays where it lies.
  // (Inside `stable`: one unsigned compare each way, as integers since the pointers need not
  // point into one array.)
  auto at = reinterpret_cast<uintptr_t>(s.data()),
       from = reinterpret_cast<uintptr_t>(stable.data());
  if (s.size() > copied_bytes && at - from <= stable.size() &&
      at + s.size() - from <= stable.size())
    return s;
  char* copy = text_.take(s.size());
  if (s.size() <= copied_bytes)
    copy_short(copy, s.data(), s.size());
  else
    std::memcpy(copy, s.data(), s.size());
  return {copy, s.size()};
}

// EventBatch::add copies Event field by field: a new field must be added there too. This
// fails to compile when Event's layout changes, as a reminder.
static_assert(sizeof(Event) == 472, "Event changed: update EventBatch::add");

void EventBatch::add(const Event& e, std::string_view stable) {
  if (used_ == events_.size()) events_.emplace_back();
  Event& out = events_[used_++];
  // Field by field rather than `out = e`: the logit_bias string keeps the capacity of earlier
  // batches, so a warm batch allocates nothing.
  out.timestamp_ns = e.timestamp_ns;
  out.request_id = keep(e.request_id, stable);
  out.org = keep(e.org, stable);
  out.project = keep(e.project, stable);
  out.api_key = keep(e.api_key, stable);
  out.end_user = keep(e.end_user, stable);
  out.ip = keep(e.ip, stable);
  out.user_agent = keep(e.user_agent, stable);
  out.endpoint = keep(e.endpoint, stable);
  out.endpoint_kind = e.endpoint_kind;
  out.model = keep(e.model, stable);
  out.status = e.status;
  out.prompt_tokens = e.prompt_tokens;
  out.completion_tokens = e.completion_tokens;
  out.reasoning_tokens = e.reasoning_tokens;
  out.latency_ms = e.latency_ms;
  out.turns = e.turns;
  out.token_array_prompts = e.token_array_prompts;
  const RequestParams& p = e.params;
  RequestParams& q = out.params;
  q.n = p.n;
  q.temperature = p.temperature;
  q.top_p = p.top_p;
  q.max_tokens = p.max_tokens;
  q.logprobs = p.logprobs;
  q.top_logprobs = p.top_logprobs;
  q.logit_bias_entries = p.logit_bias_entries;
  q.logit_bias_hash = p.logit_bias_hash;
  q.logit_bias_json.assign(p.logit_bias_json);
  q.echo = p.echo;
  q.best_of = p.best_of;
  q.seed = p.seed;
  q.stream = p.stream;
  PromptPart* parts = parts_.take(e.prompt.size());
  for (size_t i = 0; i < e.prompt.size(); ++i)
    parts[i] = {e.prompt[i].role, keep(e.prompt[i].text, stable)};
  out.prompt = {parts, e.prompt.size()};
}

void EventBatch::clear() {
  used_ = 0;
  text_.clear();
  parts_.clear();
}

namespace {

/// One line-aligned piece of a chunk, parsed by whichever thread takes it; its events and bad
/// lines wait here until the pieces before it are delivered.
struct Piece : EventSink, BadLineSink {
  struct Deferred {
    BadLine bad;        // its line number counted from the piece's start
    ReadStats before;   // the piece's counts up to this line, itself included (a strict stop)
    size_t events = 0;  // events parsed before it
  };
  Chunk chunk;
  EventBatch batch;
  std::vector<Deferred> bad_lines;
  ReadStats stats;
  uint64_t lines = 0;

  /// True when the chunk's bytes outlive the events' delivery: long text in them is not copied.
  bool stable = false;

  void on_event(const Event& e) override {
    batch.add(e, stable ? chunk.bytes : std::string_view{});
  }
  bool report(const BadLine& bad) override {
    bad_lines.push_back({bad, stats, batch.size()});
    return true;
  }
  void clear() {
    batch.clear();
    bad_lines.clear();
    stats = {};
    lines = 0;
  }
};

void add(ReadStats& to, const ReadStats& s) {
  to.lines += s.lines;
  to.blank_lines += s.blank_lines;
  to.events += s.events;
  to.bytes += s.bytes;
}

/// Cuts a chunk into pieces of about `target` bytes at line ends.
size_t cut(const Chunk& chunk, size_t target, bool stable,
           std::vector<std::unique_ptr<Piece>>& pieces) {
  size_t n = 0, pos = 0, size = chunk.bytes.size();
  const char* data = chunk.bytes.data();
  while (pos < size) {
    size_t end = size;
    if (size - pos > target) {
      const void* nl = std::memchr(data + pos + target, '\n', size - pos - target);
      if (nl) end = static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
    }
    if (n == pieces.size()) pieces.push_back(std::make_unique<Piece>());
    Piece& p = *pieces[n++];
    p.clear();
    p.stable = stable;
    p.chunk.bytes = chunk.bytes.substr(pos, end - pos);
    p.chunk.offset = chunk.offset + pos;
    p.chunk.oversized_line = false;
    pos = end;
  }
  return n;
}

}  // namespace

namespace {

/// The pieces of one chunk.
struct ParsedChunk {
  std::vector<std::unique_ptr<Piece>> pieces;
  size_t count = 0;
};

}  // namespace

ReadResult read_inputs_parallel(const std::vector<std::string>& paths, const ReaderOptions& options,
                                EventSink& sink, BadLineLog& bad_lines, unsigned threads) {
  if (threads <= 1 && !options.chunk_runs) return read_inputs(paths, options, sink, bad_lines);
  ReaderOptions with_read_ahead = options;
  // (One thread reads as read_inputs does: nothing ahead, parsing on the caller only.)
  if (threads > 1) with_read_ahead.input.read_ahead = true;
  threads = std::max(threads, 1u);
  // A sink with threads of its own (the sharded engine) gets the cores in turn with parsing:
  // every thread parses a chunk, then the sink judges it. A sink that works on one thread
  // (normalize's writer) works on chunk k while the others parse chunk k+1.
  const bool overlap = !options.sink_uses_threads && threads > 1;
  detail::WorkerPool pool(threads + 1);
  std::vector<std::unique_ptr<ChunkReader>> readers;
  for (unsigned i = 0; i <= threads; ++i)
    readers.push_back(std::make_unique<ChunkReader>(options.parser, options.input.max_line_bytes,
                                                    options.bad_lines.show_values));
  ParsedChunk sets[2];
  ParsedChunk solo;  // one thread: the piece being parsed
  solo.pieces.push_back(std::make_unique<Piece>());
  solo.count = 1;
  std::vector<std::span<const Event>> runs;
  ReadResult result;
  Chunk chunk;
  uint64_t line_no = 0;

  // In input order: bad lines numbered and reported, then the events, all at once. False when
  // a bad line stops the run (strict mode): the events before it are delivered, no others.
  auto deliver_pieces = [&](ParsedChunk& set, size_t from, size_t to) {
    runs.clear();
    for (size_t i = from; i < to; ++i) {
      Piece& p = *set.pieces[i];
      for (Piece::Deferred& d : p.bad_lines) {
        d.bad.line += line_no;
        if (!bad_lines.report(d.bad)) {
          add(result.stats, d.before);
          // The whole chunk counts as read, as on one thread.
          for (size_t j = i + 1; j < to; ++j)
            result.stats.bytes += set.pieces[j]->chunk.bytes.size();
          runs.push_back(p.batch.events().first(d.events));
          sink.on_events(runs);
          result.failure = ReadFailure::strict_bad_line;
          result.stopped = true;
          return false;
        }
      }
      line_no += p.lines;
      add(result.stats, p.stats);
      runs.push_back(p.batch.events());
    }
    sink.on_events(runs);
    return true;
  };
  auto deliver = [&](ParsedChunk& set) { return deliver_pieces(set, 0, set.count); };

  for (size_t index = 0; index < paths.size(); ++index) {
    const std::string& path = paths[index];
    ++result.stats.inputs;
    line_no = 0;
    ReadStats before = result.stats;
    char first = 0;
    ParsedChunk* ready = nullptr;  // parsed, not yet delivered (overlap mode)
    try {
      auto source = open_for_reading(paths, index, with_read_ahead);
      auto report = [&] {
        report_progress(paths, index, *source, result.stats.lines, with_read_ahead);
      };
      report();
      for (;;) {
        bool got;
        try {
          got = source->next(chunk);
        } catch (const InputError&) {
          if (ready && !deliver(*ready)) return result;  // what was read before the error
          throw;
        }
        if (!got) break;
        if (!first) first = first_non_space(chunk.bytes);
        if (chunk.oversized_line) {  // nothing to parse: only the report, after what precedes
          if (ready && !deliver(*ready)) return result;
          ready = nullptr;
          if (!readers[0]->read(chunk, path, line_no, sink, bad_lines, result.stats)) {
            result.failure = ReadFailure::strict_bad_line;
            result.stopped = true;
            return result;
          }
          continue;
        }
        ParsedChunk& set = ready == &sets[0] ? sets[1] : sets[0];
        // Enough pieces for the threads to even out, big enough to keep hand-overs rare.
        size_t target = std::max<size_t>(piece_min_bytes, chunk.bytes.size() / (8 * threads));
        // Without overlap a chunk is delivered before the next is read: its bytes stay put.
        set.count = cut(chunk, target, !overlap, set.pieces);
        std::atomic<size_t> next{0};
        // Overlap: the pool's own threads 1..threads parse. Otherwise the caller (0) and
        // threads 1..threads-1 do, and the last one sits out.
        std::function<void(size_t)> parse = [&](size_t worker) {
          if (!overlap && worker == threads) return;
          for (size_t i; (i = next.fetch_add(1)) < set.count;) {
            Piece& p = *set.pieces[i];
            readers[worker]->read(p.chunk, path, p.lines, p, p, p.stats);
          }
        };
        if (threads == 1) {
          // One thread (a sink that wants runs: chunk_runs): each piece is parsed and passed
          // on in turn, so that only one piece's events are in memory, as one event is in
          // read_inputs (a chunk of short lines is 160,000 events).
          for (size_t i = 0; i < set.count; ++i) {
            Piece& p = *solo.pieces[0];  // one piece's memory, used for each in turn
            p.clear();
            p.stable = true;
            p.chunk.bytes = set.pieces[i]->chunk.bytes;
            p.chunk.offset = set.pieces[i]->chunk.offset;
            readers[0]->read(p.chunk, path, p.lines, p, p, p.stats);
            if (!deliver_pieces(solo, 0, 1)) {
              // A strict stop: the rest of the chunk counts as read, as on one thread.
              for (size_t j = i + 1; j < set.count; ++j)
                result.stats.bytes += set.pieces[j]->chunk.bytes.size();
              return result;
            }
          }
          report();
          continue;
        }
        if (!overlap) {
          // One piece (a small file, one of many) is parsed on this thread: waking the others
          // for it cost more than the parse (20,000 one-line files took 2.6 times as long on
          // two threads as on one).
          if (set.count == 1)
            pool.run_here(parse);
          else
            pool.run(parse);
          if (!deliver(set)) return result;
          report();
          continue;
        }
        pool.start(parse);
        bool go_on = true;
        try {
          if (ready) go_on = deliver(*ready);
        } catch (...) {
          pool.wait();  // the parsing threads use this frame's locals
          throw;
        }
        pool.wait();
        if (!go_on) return result;
        ready = &set;
        report();
      }
      if (ready && !deliver(*ready)) return result;
      report();
    } catch (const InputError& e) {
      ++result.inputs_unread;
      if (!record_input_error(result, e.what(), line_no, with_read_ahead)) return result;
      continue;
    }
    if (!check_input_gave_events(result, before, path, first, with_read_ahead)) return result;
  }
  return result;
}

}  // namespace exfilscan
