// The Patient compartment (CompartmentDefinition/patient): for each resource type, the search
// parameters through which a resource belongs to a patient's compartment. Drives compartment
// searches (Patient/123/Observation), Patient/$everything and Patient-level $export.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "json/value.h"

namespace medulla::fhir {

class PatientCompartment {
 public:
  // The official R4 definition embedded in the binary, loaded on first use (thread-safe). A
  // load failure is a build bug: it aborts.
  static const PatientCompartment& Embedded();
  // From a CompartmentDefinition resource. Errors: kInvalidArgument.
  static core::Result<PatientCompartment> Load(std::string_view json);

  // The parameters of `type` that link it to the patient (empty: not in the compartment). For
  // Patient itself, the patient is in its own compartment whatever these say.
  std::span<const std::string> Params(std::string_view type) const;
  // The resource types in the compartment, sorted (Patient included).
  const std::vector<std::string>& Types() const { return types_; }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> params_;
  std::vector<std::string> types_;
};

class SearchParameterRegistry;

// The patients in whose compartments `resource` is: itself for a Patient, and the patients its
// compartment parameters refer to (Observation.subject, Encounter.participant...). Sorted,
// unique. Empty for a type outside the compartment, or one not linked to any patient.
std::vector<std::string> PatientsOf(const SearchParameterRegistry& registry,
                                    const json::Value& resource);
struct IndexValue;
// The same from a resource's already extracted index values.
std::vector<std::string> PatientsOf(std::string_view type, std::string_view id,
                                    std::span<const IndexValue> values);

}  // namespace medulla::fhir
