// The lexical rules of the FHIR R4 primitive types in JSON (https://hl7.org/fhir/R4/datatypes.html
// and https://hl7.org/fhir/R4/json.html#primitive): which JSON kind carries each type and the
// regex its text must match. Hand-written matchers rather than std::regex: they run for every
// primitive of every incoming resource, and std::regex is slow and allocates.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "json/value.h"

namespace medulla::fhir {

enum class Primitive : uint8_t {
  kNone,  // not a primitive: a complex type, a backbone element or a Resource
  kBoolean,
  kInteger,
  kPositiveInt,
  kUnsignedInt,
  kDecimal,
  kString,
  kMarkdown,
  kCode,
  kId,
  kUri,
  kUrl,
  kCanonical,
  kOid,
  kUuid,
  kBase64Binary,
  kDate,
  kDateTime,
  kInstant,
  kTime,
  kXhtml,
};

// The FHIR type code ("dateTime", "positiveInt"); "" for kNone.
std::string_view PrimitiveName(Primitive type);
// The primitive named by a FHIR type code, or nullopt when the code names no primitive type.
std::optional<Primitive> PrimitiveFromName(std::string_view code);

// Checks one JSON value as the given primitive type: its JSON kind (boolean, number or string),
// its lexical form and, for integers, its range. Returns an empty view when valid, else a short
// reason naming the type but never the value (messages may be logged; values may be PHI).
std::string_view CheckPrimitive(Primitive type, const json::Value& value);

// The lexical checks, exposed for tests. `text` is the JSON string content (or number text).
bool IsValidInteger(std::string_view text, int64_t min, int64_t max);
bool IsValidString(std::string_view text);    // [ \r\n\t\S]+
bool IsValidCode(std::string_view text);      // [^\s]+(\s[^\s]+)*
bool IsValidId(std::string_view text);        // [A-Za-z0-9\-\.]{1,64}
bool IsValidUri(std::string_view text);       // \S* (and non-empty: JSON has no empty strings)
bool IsValidOid(std::string_view text);       // urn:oid:[0-2](\.(0|[1-9][0-9]*))+
bool IsValidUuid(std::string_view text);      // urn:uuid:8-4-4-4-12 lowercase hex
bool IsValidBase64(std::string_view text);    // (\s*([0-9a-zA-Z\+/=]){4}\s*)+, padding at the end
bool IsValidDate(std::string_view text);      // YYYY, YYYY-MM, YYYY-MM-DD; a real calendar day
bool IsValidDateTime(std::string_view text);  // a date, or a full date and time with zone
bool IsValidInstant(std::string_view text);   // full date and time with zone
bool IsValidTime(std::string_view text);      // hh:mm:ss(.fff), no zone

}  // namespace medulla::fhir
