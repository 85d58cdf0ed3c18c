#pragma once
/// Internal: whether a prompt asks for its reasoning written out, read as words rather than
/// matched against a list of phrasings. A harvest's scripts word the request a hundred ways
/// ("show your work", "lay out your logic", "spell out each step", "reason it out first"); what
/// they share is a request verb with a reasoning object, a way of thinking ("carefully",
/// "through", "aloud"), or steps taken one by one.

#include <string_view>

namespace exfilscan::detail {

/// `text` is lower-cased (ASCII). Words are runs of letters and apostrophes; everything else
/// separates them, so "step-by-step" reads as three words; no pattern reaches across the end of
/// a sentence or a line (. ! ? : ; or a line break). Every pattern holds a word that begins with
/// one of prompt_style.cpp's reasoning words (kind 3), which gate the call.
bool asks_for_reasoning(std::string_view text);

}  // namespace exfilscan::detail
