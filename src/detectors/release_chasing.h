#pragma once
/// Internal: the release_chasing detector: a key (or a cluster's pooled account) that moves most
/// of its traffic to a model within hours of the model's first appearance in the logs, with the
/// sweep's evidence on its traffic.

#include "detectors/verdict.h"

#include <memory>

namespace exfilscan::detail {

class Detector;
struct ModelReleases;

/// `releases`: each model's first appearance, as of the last hourly upkeep (it must outlive the
/// detector).
std::unique_ptr<Detector> make_release_chasing(const RuleSet& rules, const ModelReleases& releases);

}  // namespace exfilscan::detail
