// Fuzzes the FHIRPath parser with arbitrary expression text, and evaluates whatever parses on a
// fixed resource: no crash, hang or sanitizer report whatever the text.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fhir/fhirpath.h"
#include "json/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const medulla::json::Document resource = [] {
    auto doc = medulla::json::Parse(
        R"({"resourceType":"Observation","id":"o1","status":"final",)"
        R"("code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}],"text":"hr"},)"
        R"("subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-11-21T08:00:00Z",)"
        R"("valueQuantity":{"value":72.0,"unit":"/min","system":"http://unitsofmeasure.org",)"
        R"("code":"/min"},"component":[{"code":{"text":"a"},"valueString":"x"}],)"
        R"("extension":[{"url":"http://e","valueBoolean":true}]})");
    return std::move(*doc);
  }();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto expr = medulla::fhir::fhirpath::Expression::Parse(text);
  if (!expr) return 0;
  std::vector<medulla::fhir::fhirpath::Item> out;
  expr->Evaluate(*resource.root(), out);
  return 0;
}
