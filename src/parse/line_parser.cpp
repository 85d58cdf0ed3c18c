#include <exfilscan/input/input.h>
#include <exfilscan/parse/line_parser.h>

#include "parse/adapters/adapters.h"

#include <fmt/format.h>

#include <array>
#include <utility>

namespace exfilscan {

std::string_view to_string(InputFormat format) {
  switch (format) {
    case InputFormat::canonical:
      return "canonical";
    case InputFormat::litellm:
      return "litellm";
    case InputFormat::bedrock:
      return "bedrock";
    case InputFormat::helicone:
      return "helicone";
    case InputFormat::langfuse:
      return "langfuse";
    case InputFormat::portkey:
      return "portkey";
    case InputFormat::azure:
      return "azure";
    case InputFormat::azure_apim:
      return "azure-apim";
    case InputFormat::openai_batch:
      return "openai-batch";
    case InputFormat::openrouter:
      return "openrouter";
    case InputFormat::kong:
      return "kong";
    case InputFormat::envoy:
      return "envoy";
    case InputFormat::vertex:
      return "vertex";
    case InputFormat::cloudflare:
      return "cloudflare";
    case InputFormat::mapped:
      return "mapped";
    case InputFormat::auto_detect:
      break;
  }
  return "auto";
}

bool parse_input_format(std::string_view name, InputFormat& out) {
  struct Entry {
    std::string_view name;
    InputFormat format;
  };
  static constexpr std::array<Entry, 20> names{{
      {"auto", InputFormat::auto_detect},
      {"canonical", InputFormat::canonical},
      {"litellm", InputFormat::litellm},
      {"litellm-spendlogs", InputFormat::litellm},
      {"litellm-payload", InputFormat::litellm},
      {"bedrock", InputFormat::bedrock},
      {"mapped", InputFormat::mapped},
      {"openai", InputFormat::canonical},
      {"helicone", InputFormat::helicone},
      {"langfuse", InputFormat::langfuse},
      {"portkey", InputFormat::portkey},
      {"azure", InputFormat::azure},
      {"azure-apim", InputFormat::azure_apim},
      {"openai-batch", InputFormat::openai_batch},
      {"openrouter", InputFormat::openrouter},
      {"kong", InputFormat::kong},
      {"envoy", InputFormat::envoy},
      {"higress", InputFormat::envoy},
      {"vertex", InputFormat::vertex},
      {"cloudflare", InputFormat::cloudflare},
  }};
  for (const Entry& e : names) {
    if (e.name == name) {
      out = e.format;
      return true;
    }
  }
  return false;
}

namespace {

/// The field a format's time is read from, for the diagnostic of a line without one.
std::string_view timestamp_field(InputFormat format) {
  switch (format) {
    case InputFormat::litellm:
      return "startTime (or start_time)";
    case InputFormat::helicone:
      return "request_created_at";
    case InputFormat::langfuse:
      return "start_time (or startTime)";
    case InputFormat::portkey:
      return "created_at";
    case InputFormat::azure:
    case InputFormat::azure_apim:
      return "time";
    case InputFormat::openai_batch:
      return "response.body.created";
    case InputFormat::openrouter:
      return "data.created_at";
    case InputFormat::kong:
      return "started_at";
    case InputFormat::envoy:
      return "start_time";
    case InputFormat::vertex:
      return "logging_time";
    case InputFormat::cloudflare:
      return "Timestamp (or created_at)";
    default:
      return "timestamp";
  }
}

}  // namespace

struct LineParser::Impl {
  explicit Impl(ParserOptions opts)
      : options(std::move(opts)),
        mapped(options.field_map,
               options.format != InputFormat::auto_detect && options.format != InputFormat::mapped),
        helicone(detail::preset_map(detail::Preset::helicone)),
        langfuse(detail::preset_map(detail::Preset::langfuse)),
        portkey(detail::preset_map(detail::Preset::portkey)),
        azure(detail::preset_map(detail::Preset::azure)),
        azure_apim(detail::preset_map(detail::Preset::azure_apim)),
        openrouter(detail::preset_map(detail::Preset::openrouter)),
        vertex(detail::preset_map(detail::Preset::vertex)),
        cloudflare(detail::preset_map(detail::Preset::cloudflare)) {
    if (options.format == InputFormat::auto_detect && !options.field_map.empty())
      options.format = InputFormat::mapped;
  }

  ParserOptions options;
  detail::MappedReader mapped;
  // Gateway exports with a built-in field map.
  detail::MappedReader helicone, langfuse, portkey, azure, azure_apim, openrouter, vertex,
      cloudflare;
  simdjson::ondemand::parser parser;
  detail::ReparsePool pool;
  detail::TextArena arena;
  std::vector<PromptPart> prompt;    // the parts of the line being read
  std::vector<ParseError> left_out;  // the values of the line left out of its event
  InputFormat last = InputFormat::canonical;
  std::string last_endpoint;
  EndpointKind last_kind = EndpointKind::unknown;

  bool parse(std::string_view line, Event& event, ParseError& error) {
    namespace od = simdjson::ondemand;
    event.clear();
    pool.reset();
    arena.reset();
    prompt.clear();
    left_out.clear();
    detail::Ctx ctx{event, error, pool, prompt};
    ctx.read_text = options.read_prompt_text;
    ctx.read_turns = options.read_turns;
    ctx.arena = &arena;
    ctx.left_out = &left_out;
    od::document doc;
    if (auto e = parser.iterate(line.data(), line.size(), line.size() + chunk_padding).get(doc))
      return ctx.fail_json(e, {"", "line"});
    od::object root;
    if (auto e = doc.get_object().get(root)) {
      if (e == simdjson::INCORRECT_TYPE)
        return ctx.fail(BadLineReason::bad_json, "not a JSON object");
      return ctx.fail_json(e, {"", "line"});
    }

    InputFormat format = options.format;
    if (format == InputFormat::auto_detect) {
      InputFormat other = InputFormat::canonical;
      switch (detail::read_canonical(ctx, root, true, other)) {
        case detail::AdapterResult::failed:
          return false;
        case detail::AdapterResult::ok:
          format = InputFormat::canonical;
          break;
        case detail::AdapterResult::other_format: {
          // Start again as the format the line turned out to be.
          if (!restart(ctx, line, doc, root)) return false;
          if (read_as(ctx, root, other) && ctx.has_timestamp) {
            format = other;
            break;
          }
          // A canonical line may carry a key that marks another format (a gateway's field
          // copied in): when that format finds no event in it, the line is read as canonical
          // if it is a canonical event (it has our `timestamp`). Otherwise the other format's
          // reason stands, read again (rare: only lines that fail both ways pay twice).
          if (!restart(ctx, line, doc, root)) return false;
          InputFormat unused;
          if (detail::read_canonical(ctx, root, false, unused) == detail::AdapterResult::ok &&
              ctx.has_timestamp) {
            format = InputFormat::canonical;
            break;
          }
          if (!restart(ctx, line, doc, root)) return false;
          if (!read_as(ctx, root, other)) return false;
          format = other;
          break;
        }
      }
    } else if (!read_as(ctx, root, format)) {
      return false;
    }
    // Trailing bytes after the object ({"a":1} x) make the line malformed.
    if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS)
      return ctx.fail(BadLineReason::bad_json, "trailing content after the object");

    if (format != InputFormat::mapped && !mapped.empty()) {
      // The overlay walks a private copy: rewinding this document would reuse the string
      // buffer that the adapter's views point into.
      simdjson::error_code code;
      od::document* copy = pool.parse(line, code);
      if (!copy) return ctx.fail_json(code, {"", "line"});
      od::object copy_root;
      if (auto e = copy->get_object().get(copy_root)) return ctx.fail_json(e, {"", "line"});
      if (!mapped.read(ctx, copy_root)) return false;
    }
    if (!ctx.has_timestamp) {
      if (ctx.no_time_detail && format != InputFormat::mapped)
        return ctx.fail(BadLineReason::missing_timestamp, ctx.no_time_detail);
      std::string_view field = timestamp_field(format);
      if (format == InputFormat::mapped) {
        bool mapped_ts = false;
        for (const FieldMapping& m : options.field_map.entries)
          mapped_ts = mapped_ts || m.field == MappedField::timestamp;
        return ctx.fail(BadLineReason::missing_timestamp,
                        mapped_ts ? "the mapped timestamp pointer found nothing"
                                  : "no timestamp mapping (add --map timestamp=/path)");
      }
      return ctx.fail(BadLineReason::missing_timestamp,
                      std::string("no ") + std::string(field) +
                          (options.format == InputFormat::auto_detect
                               ? " field (or a format exfilscan does not know: see --input-format "
                                 "and --map)"
                               : " field"));
    }
    for (auto [count, name] : {std::pair{event.prompt_tokens, "prompt_tokens"},
                               std::pair{event.completion_tokens, "completion_tokens"},
                               std::pair{event.reasoning_tokens, "reasoning_tokens"}}) {
      if (count && (*count < 0 || *count > max_request_tokens))
        return ctx.fail(BadLineReason::implausible_value,
                        fmt::format("{} is {}: no request has that many", name, *count));
    }
    // No request takes less than no time (Azure writes durationMs -1021 now and then; a LiteLLM
    // endTime may come before its startTime): the latency is left out, the event kept.
    if (event.latency_ms && *event.latency_ms < 0) {
      left_out.push_back({BadLineReason::implausible_value,
                          fmt::format("latency_ms is {}: below 0", *event.latency_ms)});
      event.latency_ms.reset();
    }
    // Logs repeat a handful of endpoints: classify each new one once.
    if (event.endpoint != last_endpoint) {
      last_endpoint.assign(event.endpoint);
      last_kind = classify_endpoint(event.endpoint);
    }
    event.endpoint_kind = last_kind;
    event.prompt = prompt;
    last = format;
    return true;
  }

  /// Empties what a read of the line left and rewinds the document to its root object.
  /// The line read again from its start. Iterated anew, not rewound: an adapter may have left
  /// the document unusable (a rewind after one dereferenced a null parser, found by fuzzing).
  bool restart(detail::Ctx& ctx, std::string_view line, simdjson::ondemand::document& doc,
               simdjson::ondemand::object& root) {
    ctx.event.clear();
    pool.reset();
    arena.reset();
    prompt.clear();
    left_out.clear();
    ctx.has_timestamp = false;
    ctx.leading_system_parts = 0;
    ctx.no_time_detail = nullptr;
    if (auto e = parser.iterate(line.data(), line.size(), line.size() + chunk_padding).get(doc))
      return ctx.fail_json(e, {"", "line"});
    if (auto e = doc.get_object().get(root)) return ctx.fail_json(e, {"", "line"});
    return true;
  }

  bool read_as(detail::Ctx& ctx, simdjson::ondemand::object& root, InputFormat format) {
    switch (format) {
      case InputFormat::canonical: {
        InputFormat unused;
        return detail::read_canonical(ctx, root, false, unused) == detail::AdapterResult::ok;
      }
      case InputFormat::litellm:
        return detail::read_litellm(ctx, root);
      case InputFormat::bedrock:
        return detail::read_bedrock(ctx, root);
      case InputFormat::helicone:
        return helicone.read(ctx, root);
      case InputFormat::langfuse:
        return langfuse.read(ctx, root);
      case InputFormat::portkey:
        return portkey.read(ctx, root);
      case InputFormat::azure:
        return azure.read(ctx, root);
      case InputFormat::azure_apim:
        return azure_apim.read(ctx, root);
      case InputFormat::openai_batch:
        return detail::read_openai_batch(ctx, root, options.batch_requests.get());
      case InputFormat::openrouter:
        return openrouter.read(ctx, root);
      case InputFormat::kong:
        return detail::read_kong(ctx, root);
      case InputFormat::envoy:
        return detail::read_envoy(ctx, root);
      case InputFormat::vertex:
        return vertex.read(ctx, root);
      case InputFormat::cloudflare:
        return cloudflare.read(ctx, root);
      case InputFormat::mapped:
        return mapped.read(ctx, root);
      case InputFormat::auto_detect:
        break;
    }
    return false;
  }
};

LineParser::LineParser(ParserOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
LineParser::~LineParser() = default;

bool LineParser::parse(std::string_view line, Event& event, ParseError& error) {
  return impl_->parse(line, event, error);
}

InputFormat LineParser::last_format() const {
  return impl_->last;
}

std::span<const ParseError> LineParser::left_out() const {
  return impl_->left_out;
}

}  // namespace exfilscan
