#pragma once
/// Internal: one reader per log format, each filling ctx.event from a parsed line.

#include "parse/json_fields.h"

#include <exfilscan/parse/batch_requests.h>
#include <exfilscan/parse/field_map.h>

namespace exfilscan::detail {

enum class AdapterResult : uint8_t { ok, failed, other_format };

/// The canonical format. When `sniffing`, a key that only another format has (schemaType,
/// call_type) stops the read with other_format and that format in `other`.
AdapterResult read_canonical(Ctx& ctx, od::object& root, bool sniffing, InputFormat& other);
/// The format a top-level key belongs to, canonical when it is no other format's own.
InputFormat sniff_key(std::string_view key);
/// OpenRouter when a top-level "data" holds a generation record, else canonical.
InputFormat sniff_data(od::value v);
/// LiteLLM SpendLogs rows and StandardLoggingPayload objects (one reader: their keys agree).
bool read_litellm(Ctx& ctx, od::object& root);
/// AWS Bedrock ModelInvocationLog, Converse and InvokeModel shapes.
bool read_bedrock(Ctx& ctx, od::object& root);

/// OpenAI Batch API files: output lines are events; input and error lines hold no time and say
/// so. With `requests` (the input file's bodies by custom_id) an output line gets its request.
bool read_openai_batch(Ctx& ctx, od::object& root, const BatchRequests* requests);
/// Kong Gateway http-log / file-log entries, with the AI plugins' `ai` block.
bool read_kong(Ctx& ctx, od::object& root);
/// Envoy, Istio and Higress JSON access logs; "-" is an absent value.
bool read_envoy(Ctx& ctx, od::object& root);

/// Reads the fields of a FieldMap in one pass over the document (no rewinds, so every view
/// stays valid): the pointers are walked as a tree.
class MappedReader {
 public:
  /// `overlay`: the map is read on top of an adapter, and a mapped request, messages or prompt
  /// replaces the prompt the adapter found (otherwise the mapped ones add up).
  explicit MappedReader(const FieldMap& map, bool overlay = false);
  bool read(Ctx& ctx, od::object& root) const;
  bool empty() const { return root_.children.empty(); }

 private:
  struct Node {
    std::string token;  // unescaped pointer token
    std::optional<MappedField> field;
    std::vector<Node> children;
  };
  static const Node* find(const Node& node, std::string_view key);
  bool walk_object(Ctx& ctx, od::object& obj, const Node& node) const;
  bool walk_value(Ctx& ctx, od::value v, const Node& node) const;
  bool read_leaf(Ctx& ctx, od::value v, const Node& node) const;
  Node root_;
  bool overlay_ = false;
};

/// Gateway exports read through a built-in field map (docs/log-format.md lists the pointers).
enum class Preset : uint8_t {
  helicone,
  langfuse,
  portkey,
  azure,
  azure_apim,
  openrouter,
  vertex,
  cloudflare
};
FieldMap preset_map(Preset preset);

}  // namespace exfilscan::detail
