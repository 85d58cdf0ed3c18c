#pragma once
/// Internal: the tokens at each end of a prompt, which the template miner compares.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace exfilscan::detail {

/// Every token with a digit normalises to this: numbers are slots.
inline constexpr uint64_t number_token = 0x6e756d626572ULL;

/// A whitespace-separated token: its normalised hash and where it lies in the prompt.
struct Token {
  uint64_t norm;
  uint32_t begin, end;
};

struct PromptEnds {
  std::vector<Token> head, tail;  // the first and last n tokens (the same ones when short)
  size_t total = 0;               // tokens in the prompt; SIZE_MAX / 2 when more than 2n
};

/// The first and last n tokens of `text` and, up to 2n, how many there are. Only the ends are
/// read: the middle of a long prompt is never scanned.
void prompt_ends(std::string_view text, size_t n, PromptEnds& out);

}  // namespace exfilscan::detail
