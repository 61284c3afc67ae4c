#include "records/record_service.h"

#include <gtest/gtest.h>

#include <future>
#include <set>

#include "store/sqlite/sqlite_store.h"
#include "testing/record_fixture.h"

namespace medulla::records {
namespace {

class RecordServiceTest : public testing::RecordFixture {
 protected:
  core::Result<WriteReply> Create(std::string_view type, std::string_view body,
                                  std::optional<std::string_view> if_none_exist = {}) {
    std::promise<core::Result<WriteReply>> p;
    records_->Create(type, body, if_none_exist,
                     [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  core::Result<WriteReply> Update(std::string_view type, std::string_view id, std::string_view body,
                                  std::optional<int64_t> if_match = {}) {
    std::promise<core::Result<WriteReply>> p;
    records_->Update(type, id, body, if_match,
                     [&](core::Result<WriteReply> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
};

TEST_F(RecordServiceTest, CreateIgnoresClientIdAndMeta) {
  auto r = Create("Patient",
                  R"({"resourceType":"Patient","id":"mine","meta":{"versionId":"9","lastUpdated":)"
                  R"("2000-01-01T00:00:00Z","tag":[{"code":"t"}]},"active":true})");
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_NE(r->record.id, "mine");
  EXPECT_NE(r->record.body.find(R"("versionId":"1")"), std::string::npos);
  EXPECT_NE(r->record.body.find(R"("tag":[{"code":"t"}])"), std::string::npos);
  EXPECT_EQ(r->record.body.find("2000-01-01"), std::string::npos);
}

TEST_F(RecordServiceTest, ValidationErrorsCarryEveryPath) {
  auto r = Create("Patient", R"({"resourceType":"Patient","birthDate":"03/02/1958","flavour":1})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
  ASSERT_EQ(r.error().details().size(), 2u);
  std::set<std::string> where;
  for (const auto& d : r.error().details()) where.insert(d.location);
  EXPECT_TRUE(where.count("Patient.birthDate"));
  EXPECT_TRUE(where.count("Patient.flavour"));
}

TEST_F(RecordServiceTest, TypeMismatchIsRejected) {
  auto r = Create("Observation", R"({"resourceType":"Patient"})");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
}

TEST_F(RecordServiceTest, UpdateNeedsMatchingId) {
  EXPECT_FALSE(Update("Patient", "a", R"({"resourceType":"Patient"})"));
  EXPECT_FALSE(Update("Patient", "a", R"({"resourceType":"Patient","id":"b"})"));
  EXPECT_FALSE(Update("Patient", "bad$id", R"({"resourceType":"Patient","id":"bad$id"})"));
  auto ok = Update("Patient", "a", R"({"resourceType":"Patient","id":"a"})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->outcome, store::WriteOutcome::kCreated);
}

TEST_F(RecordServiceTest, ConditionalCreateByIdReturnsExisting) {
  ASSERT_TRUE(Update("Patient", "a", R"({"resourceType":"Patient","id":"a"})"));
  auto r = Create("Patient", R"({"resourceType":"Patient"})", "_id=a");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, store::WriteOutcome::kExisting);
  EXPECT_EQ(r->record.id, "a");
  EXPECT_FALSE(Create("Patient", R"({"resourceType":"Patient"})", "nonsense=x"));  // unknown
}

TEST_F(RecordServiceTest, SearchParsesPrefixesAndReportsIgnored) {
  auto q = records_->ParseSearch("Patient",
                                 {{"_lastUpdated", "ge2026-01-01"},
                                  {"_lastUpdated", "lt2026-02"},
                                  {"_id", "a,b"},
                                  {"_count", "5"},
                                  {"nonsense", "x"}},
                                 false);
  ASSERT_TRUE(q);
  ASSERT_EQ(q->query.filters.size(), 3u);
  EXPECT_EQ(q->query.filters[0].any_of[0].comparator, store::Comparator::kGe);
  EXPECT_EQ(q->query.filters[0].any_of[0].begin, core::ParseFhirDateTimeRange("2026-01-01")->begin);
  EXPECT_EQ(q->query.filters[1].any_of[0].comparator, store::Comparator::kLt);
  EXPECT_EQ(q->query.filters[2].any_of.size(), 2u);
  EXPECT_EQ(q->query.count, 5u);
  EXPECT_EQ(q->ignored.size(), 1u);
  EXPECT_EQ(q->applied.size(), 4u);
  EXPECT_FALSE(records_->ParseSearch("Patient", {{"nonsense", "x"}}, true));
  EXPECT_FALSE(records_->ParseSearch("Patient", {{"_lastUpdated", "xx2026"}}, true));
}

TEST_F(RecordServiceTest, SearchLimitsAreErrorsEvenWhenLenient) {
  QueryParams many;
  for (int i = 0; i < 65; ++i) many.emplace_back("_count", "1");
  EXPECT_FALSE(records_->ParseSearch("Patient", many, false));
  std::string ids = "a";
  for (int i = 0; i < 100; ++i) ids += ",a";
  EXPECT_FALSE(records_->ParseSearch("Patient", {{"_id", ids}}, false));
  EXPECT_FALSE(records_->History("Patient", "bad$id", {}));
}

TEST(QueryStringTest, DecodesAndEncodes) {
  auto p = ParseQueryString("a=1&b=x%20y+z&&c&_lastUpdated=ge2026-01-01T00%3A00%3A00Z");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[1].second, "x y z");  // '+' is a space, as URLSearchParams and forms write it
  EXPECT_EQ(ParseQueryString("b=x+y", /*plus_is_space=*/false)[0].second, "x+y");
  // A time zone's '+' decoded as a space is put back by the search grammar.
  EXPECT_EQ(SearchDateText("ge2026-01-01T00:00:00 01:00"), "ge2026-01-01T00:00:00+01:00");
  EXPECT_EQ(p[2].first, "c");
  EXPECT_EQ(p[3].second, "ge2026-01-01T00:00:00Z");
  EXPECT_EQ(EncodeQueryString({{"a", "x y"}, {"_id", "p1,p2"}}), "a=x%20y&_id=p1,p2");
}

}  // namespace
}  // namespace medulla::records
