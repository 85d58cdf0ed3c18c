#pragma once
/// Internal: the prompt_templating detector: most of an account's prompts stamped from one
/// template, with many distinct fills, in the window or over the template's life.

#include "detectors/verdict.h"

namespace exfilscan::detail {

/// On the window and over the life of the account's most filled template: the stronger.
Verdict evaluate_templating(const TemplatingRule& rule, const Settings& settings,
                            const Account& account);

}  // namespace exfilscan::detail
