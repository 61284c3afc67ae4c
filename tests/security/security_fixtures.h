// Helpers shared by the security tests: key sets and JSON claim sets edited member by member.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "security/jose.h"

namespace medulla::security::testing {

inline KeySet KeysOf(std::initializer_list<const SigningKey*> keys) {
  KeySet set;
  for (const SigningKey* k : keys) set.Add(k->Public());
  return set;
}

// A JSON object: `members` (name, raw JSON value) with `changes` applied: a new name is added,
// an existing one replaced, and a change whose value is "" removes the member.
inline std::string JsonObjectWith(std::vector<std::pair<std::string, std::string>> members,
                                  const std::vector<std::pair<std::string, std::string>>& changes) {
  for (const auto& [key, value] : changes) {
    auto it =
        std::find_if(members.begin(), members.end(), [&](const auto& m) { return m.first == key; });
    if (it == members.end()) {
      if (!value.empty()) members.emplace_back(key, value);
    } else if (value.empty()) {
      members.erase(it);
    } else {
      it->second = value;
    }
  }
  std::string out = "{";
  for (const auto& [key, value] : members) {
    if (out.size() > 1) out += ",";
    out += "\"" + key + "\":" + value;
  }
  return out + "}";
}

}  // namespace medulla::security::testing
