#include "parse/python_literal.h"

#include <cctype>
#include <cstdint>

namespace exfilscan::detail {

namespace {

class Converter {
 public:
  Converter(std::string_view in, std::string& out) : in_(in), out_(out) {}

  bool run() {
    if (!value(0)) return false;
    skip_space();
    return pos_ == in_.size();
  }

 private:
  static constexpr int max_depth = 64;

  void skip_space() {
    while (pos_ < in_.size() &&
           (in_[pos_] == ' ' || in_[pos_] == '\n' || in_[pos_] == '\t' || in_[pos_] == '\r'))
      ++pos_;
  }
  bool take(char c) {
    skip_space();
    if (pos_ < in_.size() && in_[pos_] == c) return ++pos_, true;
    return false;
  }
  bool word(std::string_view w) {
    if (in_.substr(pos_, w.size()) != w) return false;
    size_t end = pos_ + w.size();
    if (end < in_.size() && (std::isalnum(static_cast<unsigned char>(in_[end])) || in_[end] == '_'))
      return false;
    pos_ = end;
    return true;
  }

  bool value(int depth) {
    if (depth > max_depth) return false;
    skip_space();
    if (pos_ == in_.size()) return false;
    char c = in_[pos_];
    if (c == '{') return container(depth, '{', '}', true);
    if (c == '[') return container(depth, '[', ']', false);
    if (c == '(') return container(depth, '(', ')', false);
    if (c == '\'' || c == '"') return string();
    if (word("True")) return out_ += "true", true;
    if (word("False")) return out_ += "false", true;
    if (word("None") || word("inf") || word("nan") || word("-inf")) return out_ += "null", true;
    return number(false);
  }

  /// A dict, list or tuple; a tuple and a list are both a JSON array.
  bool container(int depth, char open, char close, bool dict) {
    ++pos_;
    out_ += dict ? '{' : '[';
    (void)open;
    for (bool first = true;; first = false) {
      if (take(close)) break;
      if (!first) {
        if (!take(',')) return false;
        if (take(close)) break;  // a trailing comma: (1,)
        out_ += ',';
      }
      if (dict) {
        skip_space();
        if (pos_ < in_.size() && (in_[pos_] == '\'' || in_[pos_] == '"')) {
          if (!string()) return false;
        } else {
          out_ += '"';  // a number as a key: JSON keys are strings
          if (!number(true)) return false;
          out_ += '"';
        }
        if (!take(':')) return false;
        out_ += ':';
      }
      if (!value(depth + 1)) return false;
    }
    out_ += dict ? '}' : ']';
    return true;
  }

  bool number(bool as_key) {
    size_t start = pos_;
    while (pos_ < in_.size() &&
           (std::isdigit(static_cast<unsigned char>(in_[pos_])) || in_[pos_] == '-' ||
            in_[pos_] == '+' || in_[pos_] == '.' || in_[pos_] == 'e' || in_[pos_] == 'E'))
      ++pos_;
    if (pos_ == start) return false;
    std::string_view n = in_.substr(start, pos_ - start);
    if (!as_key && n.front() == '.') out_ += '0';  // .5 is no JSON number
    out_.append(n);
    if (!as_key && n.back() == '.') out_ += '0';  // nor is 5.
    return true;
  }

  void code_point(uint32_t cp) {
    if (cp < 0x20 || cp == '"' || cp == '\\') {
      static const char hex[] = "0123456789abcdef";
      if (cp == '"' || cp == '\\' || cp == '\n' || cp == '\t' || cp == '\r') {
        out_ += '\\';
        out_ += cp == '\n' ? 'n' : cp == '\t' ? 't' : cp == '\r' ? 'r' : static_cast<char>(cp);
        return;
      }
      out_ += "\\u00";
      out_ += hex[cp >> 4];
      out_ += hex[cp & 15];
    } else if (cp < 0x80) {
      out_ += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out_ += static_cast<char>(0xC0 | (cp >> 6));
      out_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
      out_ += static_cast<char>(0xE0 | (cp >> 12));
      out_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      if (cp > 0x10FFFF) return code_point(0xFFFD);
      out_ += static_cast<char>(0xF0 | (cp >> 18));
      out_ += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out_ += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex_digits(size_t n, uint32_t& cp) {
    if (pos_ + n > in_.size()) return false;
    cp = 0;
    for (size_t i = 0; i < n; ++i) {
      char h = in_[pos_ + i];
      uint32_t d = h >= '0' && h <= '9'   ? h - '0'
                   : h >= 'a' && h <= 'f' ? h - 'a' + 10
                   : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                          : 16;
      if (d == 16) return false;
      cp = cp * 16 + d;
    }
    pos_ += n;
    return true;
  }

  bool string() {
    char quote = in_[pos_++];
    out_ += '"';
    while (pos_ < in_.size()) {
      char c = in_[pos_++];
      if (c == quote) {
        out_ += '"';
        return true;
      }
      if (c != '\\') {
        if (static_cast<unsigned char>(c) < 0x20)
          code_point(static_cast<unsigned char>(c));
        else if (c == '"')
          out_ += "\\\"";
        else
          out_ += c;  // UTF-8 bytes pass as they are
        continue;
      }
      if (pos_ == in_.size()) return false;
      char e = in_[pos_++];
      uint32_t cp = 0;
      switch (e) {
        case 'n':
          cp = '\n';
          break;
        case 't':
          cp = '\t';
          break;
        case 'r':
          cp = '\r';
          break;
        case '0':
          cp = 0;
          break;
        case '\\':
        case '\'':
        case '"':
          cp = static_cast<unsigned char>(e);
          break;
        case 'x':
          if (!hex_digits(2, cp)) return false;
          break;
        case 'u':
          if (!hex_digits(4, cp)) return false;
          break;
        case 'U':
          if (!hex_digits(8, cp)) return false;
          break;
        default:  // Python keeps an unknown escape as it is
          out_ += "\\\\";
          cp = static_cast<unsigned char>(e);
      }
      code_point(cp);
    }
    return false;  // no closing quote
  }

  std::string_view in_;
  std::string& out_;
  size_t pos_ = 0;
};

}  // namespace

bool python_literal_to_json(std::string_view in, std::string& out) {
  return Converter(in, out).run();
}

}  // namespace exfilscan::detail
