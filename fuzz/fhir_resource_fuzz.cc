// Fuzzes what every incoming resource goes through: JSON parsing with limits, validation
// against the R4 StructureDefinitions, and splitting/assembling for storage; and what every
// resource in a search result may go through: _summary and _elements shaping. Any crash, leak,
// hang or sanitizer report is a bug; rejections are expected.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhir/definitions.h"
#include "fhir/resource.h"
#include "fhir/shaping.h"
#include "fhir/validator.h"
#include "json/parse.h"
#include "json/write.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const medulla::fhir::Definitions& definitions = medulla::fhir::Definitions::Embedded();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = medulla::json::Parse(text, medulla::json::ParseLimits{.max_bytes = 1 << 20});
  if (!doc) return 0;
  // Writing must round-trip: what we parse we can serialise and parse again identically.
  std::string written = medulla::json::Write(*doc->root());
  auto again = medulla::json::Parse(written);
  if (!again || medulla::json::Write(*again->root()) != written) __builtin_trap();
  auto issues = medulla::fhir::Validate(definitions, *doc->root());

  // Shaping accepts any tree. Of a valid resource, text, data and _elements shapes stay valid
  // (the summary may lack a mandatory element that is not a summary element).
  medulla::json::Document shaped;
  static const medulla::fhir::ElementSelection elements("id,status,code,value,name,subject");
  for (auto mode : {medulla::fhir::SummaryMode::kTrue, medulla::fhir::SummaryMode::kText,
                    medulla::fhir::SummaryMode::kData}) {
    const medulla::json::Value& s = Summarize(definitions, *doc->root(), mode, shaped);
    medulla::json::Write(s);
    if (issues.empty() && mode != medulla::fhir::SummaryMode::kTrue &&
        !medulla::fhir::Validate(definitions, s).empty())
      __builtin_trap();
  }
  const medulla::json::Value& selected =
      SelectElements(definitions, *doc->root(), elements, shaped);
  if (issues.empty() && !medulla::fhir::Validate(definitions, selected).empty()) __builtin_trap();

  if (issues.empty() && doc->root()->is_object()) {
    auto parts = medulla::fhir::SplitResource(*doc->root());
    std::string stored = medulla::fhir::AssembleResource(parts, "fuzz", 1, 0);
    // A valid resource, once stamped with id and meta, is still valid.
    auto reparsed = medulla::json::Parse(stored);
    if (!reparsed || !medulla::fhir::Validate(definitions, *reparsed->root()).empty())
      __builtin_trap();
  }
  return 0;
}
