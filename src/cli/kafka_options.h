#pragma once
/// The flags of the Kafka input (scan --kafka, campaigns), and their resolution.

#include "cli/options.h"

namespace exfilscan::cli {

/// --kafka and its companions; `stage`: those of the cluster stage (campaigns).
void add_kafka_flags(CLI::App& sub, Flags& f, bool stage);
/// --kafka and its companions, checked together; the topic replaces the input paths. Throws
/// CLI::ValidationError.
void resolve_kafka(const Flags& f, bool stage, RunConfig& c);

}  // namespace exfilscan::cli
