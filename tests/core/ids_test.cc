#include "core/ids.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace medulla::core {
namespace {

TEST(IdsTest, UuidV7IsWellFormedUniqueAndTimeOrdered) {
  std::regex form("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  std::string previous_prefix;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewUuidV7();
    ASSERT_TRUE(std::regex_match(id, form)) << id;
    ASSERT_TRUE(seen.insert(id).second);
    std::string prefix = id.substr(0, 13);  // the 48-bit millisecond timestamp
    ASSERT_GE(prefix, previous_prefix);
    previous_prefix = prefix;
  }
}

}  // namespace
}  // namespace medulla::core
