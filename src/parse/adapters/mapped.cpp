#include "parse/adapters/adapters.h"
#include "parse/request_body.h"

#include <fmt/format.h>

namespace exfilscan::detail {

namespace {

void forget_prompt(Ctx& ctx) {
  ctx.prompt.clear();
  ctx.event.turns.reset();
  ctx.leading_system_parts = 0;
}

std::string unescape_token(std::string_view t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '~' && i + 1 < t.size()) {
      out += t[i + 1] == '1' ? '/' : '~';
      ++i;
    } else {
      out += t[i];
    }
  }
  return out;
}

/// An empty string is absent: it leaves a value read from another pointer as it was (built-in
/// maps give some fields two places, Vertex AI's model_version after its model).
bool read_nonempty(Ctx& ctx, od::value v, Where at, std::string_view& out) {
  std::string_view s;
  if (!read_string(ctx, v, at, s)) return false;
  if (!s.empty()) out = s;
  return true;
}

}  // namespace

MappedReader::MappedReader(const FieldMap& map, bool overlay) : overlay_(overlay) {
  for (const FieldMapping& m : map.entries) {
    Node* node = &root_;
    std::string_view rest = std::string_view(m.pointer).substr(1);
    for (;;) {
      size_t slash = rest.find('/');
      std::string token = unescape_token(rest.substr(0, slash));
      Node* child = nullptr;
      for (Node& c : node->children)
        if (c.token == token) child = &c;
      if (!child) {
        node->children.push_back(Node{token, std::nullopt, {}});
        child = &node->children.back();
      }
      node = child;
      if (slash == std::string_view::npos) break;
      rest = rest.substr(slash + 1);
    }
    node->field = m.field;
  }
}

bool MappedReader::read(Ctx& ctx, od::object& root) const {
  return walk_object(ctx, root, root_);
}

/// The node a key leads to: the child of that name, else, for a key written with dots (exports
/// that flatten objects: Portkey's "request.body", "metadata._user"), the node its parts lead
/// to. Null when the key is on no mapped path.
const MappedReader::Node* MappedReader::find(const Node& node, std::string_view key) {
  for (const Node& child : node.children)
    if (child.token == key) return &child;
  for (size_t dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.', dot + 1)) {
    for (const Node& child : node.children) {
      if (child.token != key.substr(0, dot)) continue;
      if (const Node* deeper = find(child, key.substr(dot + 1))) return deeper;
    }
  }
  return nullptr;
}

bool MappedReader::walk_object(Ctx& ctx, od::object& obj, const Node& node) const {
  for (auto f : obj) {
    od::field field;
    if (auto e = std::move(f).get(field)) return ctx.fail_json(e, {"", "line"});
    const Node* child = find(node, key_of(field));
    if (child && !walk_value(ctx, field.value(), *child)) return false;
  }
  return true;
}

bool MappedReader::walk_value(Ctx& ctx, od::value v, const Node& node) const {
  if (node.field && !node.children.empty()) {
    // Both a mapped value and a path through it: read it twice, from two private copies.
    std::string_view raw;
    od::json_type type;
    if (auto e = v.type().get(type)) return ctx.fail_json(e, {"", node.token});
    if (type == od::json_type::object) {
      od::object obj;
      if (auto e = v.get_object().get(obj)) return ctx.fail_json(e, {"", node.token});
      if (auto e = obj.raw_json().get(raw)) return ctx.fail_json(e, {"", node.token});
    } else if (type == od::json_type::array) {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return ctx.fail_json(e, {"", node.token});
      if (auto e = arr.raw_json().get(raw)) return ctx.fail_json(e, {"", node.token});
    } else {
      return read_leaf(ctx, v, node);  // a scalar has no inside to walk
    }
    simdjson::error_code code;
    od::document* leaf_doc = ctx.pool.parse(raw, code);
    if (!leaf_doc) return ctx.fail_json(code, {"", node.token});
    od::value leaf;
    if (auto e = leaf_doc->get_value().get(leaf)) return ctx.fail_json(e, {"", node.token});
    if (!read_leaf(ctx, leaf, node)) return false;
    od::document* walk_doc = ctx.pool.parse(raw, code);
    if (!walk_doc) return ctx.fail_json(code, {"", node.token});
    od::value inner;
    if (auto e = walk_doc->get_value().get(inner)) return ctx.fail_json(e, {"", node.token});
    Node path_only{node.token, std::nullopt, node.children};
    return walk_value(ctx, inner, path_only);
  }
  if (node.field) return read_leaf(ctx, v, node);
  if (is_null(v)) return true;
  // A body a gateway keeps in a string may be cut short: then it is left out, not the line.
  return with_json(
      ctx, v, {"", node.token},
      [&](od::value& inner) {
        od::json_type type;
        if (auto e = inner.type().get(type)) return ctx.fail_json(e, {"", node.token});
        if (type == od::json_type::object) {
          od::object obj;
          if (auto e = inner.get_object().get(obj)) return ctx.fail_json(e, {"", node.token});
          return walk_object(ctx, obj, node);
        }
        if (type == od::json_type::array) {
          od::array arr;
          if (auto e = inner.get_array().get(arr)) return ctx.fail_json(e, {"", node.token});
          size_t index = 0;
          for (auto item : arr) {
            od::value element;
            if (auto e = item.get(element)) return ctx.fail_json(e, {"", node.token});
            std::string token = fmt::format("{}", index++);
            for (const Node& child : node.children) {
              if (child.token != token) continue;
              if (!walk_value(ctx, element, child)) return false;
              break;
            }
          }
        }
        return true;  // a scalar where the path goes deeper: the field is absent
      },
      InString::lenient);
}

bool MappedReader::read_leaf(Ctx& ctx, od::value v, const Node& node) const {
  Event& ev = ctx.event;
  Where at{"", node.token};
  switch (*node.field) {
    case MappedField::timestamp:
      if (!read_timestamp(ctx, v, at, ev.timestamp_ns)) return false;
      ctx.has_timestamp = true;
      return true;
    case MappedField::request_id:
      return read_nonempty(ctx, v, at, ev.request_id);
    case MappedField::org:
      return read_nonempty(ctx, v, at, ev.org);
    case MappedField::project:
      return read_nonempty(ctx, v, at, ev.project);
    case MappedField::api_key:
      return read_nonempty(ctx, v, at, ev.api_key);
    case MappedField::user:
      return read_nonempty(ctx, v, at, ev.end_user);
    case MappedField::ip:
      return read_nonempty(ctx, v, at, ev.ip);
    case MappedField::user_agent:
      return read_nonempty(ctx, v, at, ev.user_agent);
    case MappedField::endpoint:
      return read_nonempty(ctx, v, at, ev.endpoint);
    case MappedField::model:
      return read_nonempty(ctx, v, at, ev.model);
    case MappedField::status:
      return read_int(ctx, v, at, ev.status);
    case MappedField::prompt_tokens:
      return read_int(ctx, v, at, ev.prompt_tokens);
    case MappedField::completion_tokens:
      return read_int(ctx, v, at, ev.completion_tokens);
    case MappedField::reasoning_tokens:
      return read_int(ctx, v, at, ev.reasoning_tokens);
    case MappedField::latency_ms:
      return read_double(ctx, v, at, ev.latency_ms);
    case MappedField::latency_s: {
      std::optional<double> seconds;
      if (!read_double(ctx, v, at, seconds)) return false;
      if (seconds) ev.latency_ms = *seconds * 1000;
      return true;
    }
    case MappedField::request:
      if (overlay_) forget_prompt(ctx);  // a mapped body replaces what the adapter found
      // Gateways keep bodies in strings, cut at a size or replaced by a placeholder when the
      // body went to object storage: such a body is left out, never the line.
      return with_object(
          ctx, v, at, [&](od::object& body) { return read_request_body(ctx, body, node.token); },
          InString::lenient);
    case MappedField::usage:
      return with_object(
          ctx, v, at, [&](od::object& usage) { return read_usage(ctx, usage, node.token); },
          InString::lenient);
    case MappedField::messages:
      if (overlay_) forget_prompt(ctx);
      return read_messages(ctx, v, at);
    case MappedField::prompt:
      if (overlay_) forget_prompt(ctx);
      return read_prompt_value(ctx, v, at);
  }
  return true;
}

}  // namespace exfilscan::detail
