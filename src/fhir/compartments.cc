#include "fhir/compartments.h"

#include <algorithm>
#include <cstdlib>

#include "fhir/search_parameters.h"
#include "json/parse.h"

extern "C" {
extern const char medulla_fhir_patient_compartment_start[];
extern const char medulla_fhir_patient_compartment_end[];
}

namespace medulla::fhir {

const PatientCompartment& PatientCompartment::Embedded() {
  static const PatientCompartment compartment = [] {
    auto loaded =
        Load(std::string_view(medulla_fhir_patient_compartment_start,
                              static_cast<size_t>(medulla_fhir_patient_compartment_end -
                                                  medulla_fhir_patient_compartment_start)));
    if (!loaded) std::abort();
    return std::move(*loaded);
  }();
  return compartment;
}

core::Result<PatientCompartment> PatientCompartment::Load(std::string_view text) {
  ASSIGN_OR_RETURN(json::Document doc, json::Parse(text));
  const json::Value& root = *doc.root();
  if (root.StringOr("resourceType") != "CompartmentDefinition" ||
      root.StringOr("code") != "Patient") {
    return core::Fail(core::InvalidArgument("not the Patient CompartmentDefinition"));
  }
  PatientCompartment c;
  const json::Value* resources = root.Find("resource");
  if (!resources || !resources->is_array()) {
    return core::Fail(core::InvalidArgument("CompartmentDefinition has no resource list"));
  }
  for (const json::Value* r : resources->items()) {
    if (!r->is_object()) continue;
    std::string type(r->StringOr("code"));
    const json::Value* params = r->Find("param");
    std::vector<std::string> names;
    if (params && params->is_array()) {
      for (const json::Value* p : params->items()) {
        // "{def}" marks the compartment's own type (the patient itself).
        if (p->is_string() && p->text() != "{def}") names.emplace_back(p->text());
      }
    }
    if (names.empty() && type != "Patient") continue;
    c.types_.push_back(type);
    c.params_.emplace(std::move(type), std::move(names));
  }
  std::sort(c.types_.begin(), c.types_.end());
  return c;
}

std::span<const std::string> PatientCompartment::Params(std::string_view type) const {
  auto it = params_.find(type);
  if (it == params_.end()) return {};
  return it->second;
}

std::vector<std::string> PatientsOf(const SearchParameterRegistry& registry,
                                    const json::Value& resource) {
  if (!resource.is_object()) return {};
  std::string_view type = resource.StringOr("resourceType");
  return PatientsOf(
      type, resource.StringOr("id"),
      ExtractIndexValues(registry, resource, PatientCompartment::Embedded().Params(type)));
}

std::vector<std::string> PatientsOf(std::string_view type, std::string_view id,
                                    std::span<const IndexValue> values) {
  std::vector<std::string> out;
  if (type == "Patient" && !id.empty()) out.emplace_back(id);
  std::span<const std::string> params = PatientCompartment::Embedded().Params(type);
  for (const IndexValue& v : values) {
    if (v.type != SearchParamType::kReference || v.target_type != "Patient" ||
        v.target_id.empty() || !v.param) {
      continue;
    }
    if (std::find(params.begin(), params.end(), v.param->name) != params.end()) {
      out.push_back(v.target_id);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace medulla::fhir
