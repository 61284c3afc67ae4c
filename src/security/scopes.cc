#include "security/scopes.h"

#include <algorithm>

namespace medulla::security {
namespace {

// "cruds" in any subset, in order (SMART v2: the letters appear in this order).
bool ParseLetters(std::string_view s, uint8_t& out) {
  static constexpr std::string_view kOrder = "cruds";
  static constexpr uint8_t kBits[] = {kCreate, kRead, kUpdate, kDelete, kSearch};
  size_t next = 0;
  out = 0;
  for (char c : s) {
    size_t at = kOrder.find(c, next);
    if (at == std::string_view::npos) return false;
    out |= kBits[at];
    next = at + 1;
  }
  return out != 0;
}

bool ValidType(std::string_view type) {
  if (type == "*") return true;
  if (type.empty() || type.size() > 64 || !(type[0] >= 'A' && type[0] <= 'Z')) return false;
  return std::all_of(type.begin(), type.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

}  // namespace

ScopeSet ScopeSet::Parse(std::string_view text) {
  ScopeSet out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = text.find(' ', i);
    if (j == std::string_view::npos) j = text.size();
    std::string_view token = text.substr(i, j - i);
    i = j;
    if (token.empty() || token.size() > 256) continue;
    size_t slash = token.find('/');
    size_t dot = token.rfind('.');
    if (slash == std::string_view::npos || dot == std::string_view::npos || dot < slash) continue;
    std::string_view context = token.substr(0, slash);
    std::string_view type = token.substr(slash + 1, dot - slash - 1);
    std::string_view action = token.substr(dot + 1);
    Scope scope;
    if (context == "patient") {
      scope.context = ScopeContext::kPatient;
    } else if (context == "user") {
      scope.context = ScopeContext::kUser;
    } else if (context == "system") {
      scope.context = ScopeContext::kSystem;
    } else {
      continue;
    }
    if (!ValidType(type)) continue;
    scope.type = std::string(type);
    if (action == "read") {
      scope.interactions = kRead | kSearch;
    } else if (action == "write") {
      scope.interactions = kCreate | kUpdate | kDelete;
    } else if (action == "*") {
      scope.interactions = kAllInteractions;
    } else if (!ParseLetters(action, scope.interactions)) {
      continue;  // includes granular "rs?category=..." scopes
    }
    out.scopes_.push_back(std::move(scope));
  }
  return out;
}

bool ScopeSet::Allows(std::string_view type, Interaction interaction) const {
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const Scope& s) {
    return (s.interactions & interaction) && (s.type == "*" || s.type == type);
  });
}

bool ScopeSet::PatientLevelOnly() const {
  return !scopes_.empty() && std::all_of(scopes_.begin(), scopes_.end(), [](const Scope& s) {
    return s.context == ScopeContext::kPatient;
  });
}

bool ScopeSet::HasSystemScope() const {
  return std::any_of(scopes_.begin(), scopes_.end(),
                     [](const Scope& s) { return s.context == ScopeContext::kSystem; });
}

char InteractionLetter(Interaction interaction) {
  switch (interaction) {
    case kCreate:
      return 'c';
    case kRead:
      return 'r';
    case kUpdate:
      return 'u';
    case kDelete:
      return 'd';
    case kSearch:
      return 's';
  }
  return '?';
}

ScopeSet ScopeSet::Intersect(const ScopeSet& ceiling) const {
  ScopeSet out;
  for (const Scope& want : scopes_) {
    for (const Scope& cap : ceiling.scopes_) {
      // patient/, user/ and system/ grant different things (whose data, on whose behalf): a
      // ceiling of user/ scopes does not bound a system/ request, it refuses it.
      if (want.context != cap.context) continue;
      // The narrower type of the two; disjoint types grant nothing.
      std::string type;
      if (want.type == cap.type || cap.type == "*") {
        type = want.type;
      } else if (want.type == "*") {
        type = cap.type;
      } else {
        continue;
      }
      uint8_t bits = want.interactions & cap.interactions;
      if (bits == 0) continue;
      auto same = std::find_if(out.scopes_.begin(), out.scopes_.end(), [&](const Scope& s) {
        return s.context == want.context && s.type == type;
      });
      if (same != out.scopes_.end()) {
        same->interactions |= bits;
      } else {
        out.scopes_.push_back(Scope{want.context, std::move(type), bits});
      }
    }
  }
  return out;
}

std::string ScopeSet::ToString() const {
  std::string out;
  for (const Scope& s : scopes_) {
    if (!out.empty()) out += ' ';
    out += s.context == ScopeContext::kPatient ? "patient/"
           : s.context == ScopeContext::kUser  ? "user/"
                                               : "system/";
    out += s.type;
    out += '.';
    if (s.interactions & kCreate) out += 'c';
    if (s.interactions & kRead) out += 'r';
    if (s.interactions & kUpdate) out += 'u';
    if (s.interactions & kDelete) out += 'd';
    if (s.interactions & kSearch) out += 's';
  }
  return out;
}

}  // namespace medulla::security
