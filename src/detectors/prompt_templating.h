#pragma once
/// Internal: the prompt_templating detector: most of an account's prompts stamped from one
/// template, with many distinct fills, in the window or over the template's life.

#include "detectors/verdict.h"

#include <memory>

namespace exfilscan::detail {

class Detector;

/// On the window and over the life of the account's most filled template: the stronger.
std::unique_ptr<Detector> make_prompt_templating(const RuleSet& rules);

}  // namespace exfilscan::detail
