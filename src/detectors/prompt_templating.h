#pragma once
/// Internal: the prompt_templating detector: most of an account's prompts in a window stamped
/// from one template, with many distinct fills.

#include "detectors/verdict.h"

namespace exfilscan::detail {

Verdict evaluate_templating(const TemplatingRule& rule, const Account& account);

}  // namespace exfilscan::detail
