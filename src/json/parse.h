// Parsing JSON text into a json::Document, with limits. Built on simdjson's On-Demand API,
// which validates UTF-8 and structure at gigabytes per second and lets us keep number text.
#pragma once

#include <cstddef>
#include <string_view>

#include "core/status.h"
#include "json/value.h"

namespace medulla::json {

struct ParseLimits {
  size_t max_bytes = 16 * 1024 * 1024;  // larger input: kTooLarge
  size_t max_depth = 64;                // deeper nesting: kInvalidArgument
};

// Parses one JSON document. Errors: kInvalidArgument (malformed JSON, duplicate keys, too deep)
// with the byte offset in the message, kTooLarge. Thread-safe (one simdjson parser per thread).
core::Result<Document> Parse(std::string_view text, const ParseLimits& limits = {});

}  // namespace medulla::json
