#pragma once
/// Internal: the evidence of the longer horizons. A closed window leaves its counts in the
/// account's `recent` (a day of them); a detector pools them with the current window's.

#include "detectors/verdict.h"

namespace exfilscan::detail {

/// What the day horizon keeps of the account's current window.
WindowEvidence window_evidence(const Account& account);
/// The day horizon: the closed windows of the last day and the current one.
PooledEvidence day_evidence(const Account& account);

}  // namespace exfilscan::detail
