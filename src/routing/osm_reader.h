// Reads the drivable road network out of an OSM PBF file (libosmium): the ways the
// emergency-vehicle profile keeps, their nodes' locations, and via-node turn restrictions.
#pragma once

#include <string>

#include "core/status.h"
#include "routing/graph_builder.h"

namespace medulla::routing {

struct OsmReadOptions {
  bool progress = false;  // a progress bar on stderr (when it is a terminal)
};

// NotFound when the file does not exist; InvalidArgument when it is not a readable PBF (not a
// PBF, truncated, corrupt), with libosmium's reason.
core::Result<RoadNetwork> ReadOsmNetwork(const std::string& path, const OsmReadOptions& options);

}  // namespace medulla::routing
