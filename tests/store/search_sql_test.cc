// Search through the public SqliteStore API: the index the store keeps (search_index.cc), the
// SQL it runs (search_sql.cc) and the deferred indexer (sqlite_store.cc). Queries are built by
// hand, as records/search_request.cc would build them, so these tests do not depend on the
// URL parser.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/time.h"
#include "fhir/search_parameters.h"
#include "json/parse.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/faulty_vfs.h"
#include "testing/store_writes.h"
#include "testing/temp_dir.h"

namespace medulla::store::sqlite {
namespace {

using fhir::SearchParamType;

class SteppingClock final : public core::Clock {
 public:
  // Every reading is one second later: each commit gets its own lastUpdated.
  core::MicrosSinceEpoch Now() const override { return now += 1000000; }
  mutable std::atomic<core::MicrosSinceEpoch> now{1795248000LL * 1000000};  // 2026-11-21T08:00Z
};

// ---- queries, built as the URL parser builds them ----

SearchValue Text(std::string s) {
  SearchValue v;
  v.text = fhir::NormalizeSearchString(s);
  v.exact = std::move(s);
  return v;
}

SearchFilter Str(std::string param, std::vector<std::string> values,
                 Modifier modifier = Modifier::kNone) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kString;
  f.modifier = modifier;
  for (auto& v : values) f.any_of.push_back(Text(std::move(v)));
  return f;
}

SearchValue Code(std::string code, std::optional<std::string> system = std::nullopt) {
  SearchValue v;
  v.code = std::move(code);
  v.system = std::move(system);
  return v;
}

SearchFilter Tok(std::string param, std::vector<SearchValue> values,
                 Modifier modifier = Modifier::kNone) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kToken;
  f.modifier = modifier;
  f.any_of = std::move(values);
  return f;
}

SearchFilter TokText(std::string param, std::string text) {
  SearchFilter f = Tok(std::move(param), {Text(std::move(text))}, Modifier::kText);
  return f;
}

SearchFilter Ref(std::string param, std::string type, std::string id) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kReference;
  SearchValue v;
  v.target_type = std::move(type);
  v.target_id = std::move(id);
  f.any_of.push_back(std::move(v));
  return f;
}

SearchFilter RefIdentifier(std::string param, SearchValue identifier) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kReference;
  f.modifier = Modifier::kIdentifier;
  f.any_of.push_back(std::move(identifier));
  return f;
}

SearchValue DateValue(Comparator cmp, std::string_view text) {
  auto range = core::ParseFhirDateTimeRange(text);
  EXPECT_TRUE(range) << text;
  SearchValue v;
  v.comparator = cmp;
  if (range) {
    v.begin = range->begin;
    v.end = range->end;
  }
  return v;
}

SearchFilter Date(std::string param, Comparator cmp, std::string_view text) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kDate;
  f.any_of.push_back(DateValue(cmp, text));
  return f;
}

// A decimal and the range [low, high) its precision implies ("0.8": [0.75, 0.85)).
SearchValue Dec(Comparator cmp, double n, double low, double high) {
  SearchValue v;
  v.comparator = cmp;
  v.number = n;
  v.low = low;
  v.high = high;
  return v;
}

SearchFilter Number(std::string param, SearchValue v) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = SearchParamType::kNumber;
  f.any_of.push_back(std::move(v));
  return f;
}

SearchFilter Quantity(SearchValue v, std::optional<std::string> system = std::nullopt,
                      std::string code = "") {
  SearchFilter f;
  f.param = "value-quantity";
  f.type = SearchParamType::kQuantity;
  v.system = std::move(system);
  v.code = std::move(code);
  f.any_of.push_back(std::move(v));
  return f;
}

SearchFilter Missing(std::string param, SearchParamType type, bool missing) {
  SearchFilter f;
  f.param = std::move(param);
  f.type = type;
  f.modifier = Modifier::kMissing;
  f.missing = missing;
  return f;
}

// _id: one of `ids`.
SearchFilter IdIs(std::vector<std::string> ids) {
  SearchFilter f;
  f.kind = SearchFilter::Kind::kId;
  f.param = "_id";
  for (auto& id : ids) {
    SearchValue v;
    v.text = std::move(id);
    f.any_of.push_back(std::move(v));
  }
  return f;
}

// `param` refers to a resource of `type` that meets `filters`.
SearchFilter Chain(std::string param, std::vector<LinkedFilters> links) {
  SearchFilter f;
  f.kind = SearchFilter::Kind::kChain;
  f.param = std::move(param);
  f.type = SearchParamType::kReference;
  f.links = std::move(links);
  return f;
}

// _has:<source>:<param>:...: a `source` resource that refers to this one through `param`.
SearchFilter Has(std::string source, std::string param, std::vector<SearchFilter> filters) {
  SearchFilter f;
  f.kind = SearchFilter::Kind::kReverseChain;
  f.param = std::move(param);
  f.type = SearchParamType::kReference;
  f.links.push_back(LinkedFilters{std::move(source), std::move(filters)});
  return f;
}

SortKey Sort(std::string param, SearchParamType type, bool descending = false) {
  return SortKey{std::move(param), type, descending};
}

Include Inc(std::string source, std::string param, std::string target = "") {
  Include i;
  i.source_type = std::move(source);
  i.param = std::move(param);
  i.target_type = std::move(target);
  return i;
}

Include Iterate(Include i) {
  i.iterate = true;
  return i;
}

Include Rev(Include i) {
  i.reverse = true;
  return i;
}

std::vector<std::string> IdsOf(const std::vector<VersionRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

void Ids_Prepend(std::vector<std::string>& to, const std::vector<std::string>& ids) {
  to.insert(to.begin(), ids.begin(), ids.end());
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using IdList = std::vector<std::string>;

// ---- writes ----

using testing::CommitOne;
using testing::DeleteWrite;
using testing::UpdateWrite;  // creates with our id when new

constexpr const char* kUcum = "http://unitsofmeasure.org";

class SearchSqlTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(SqliteStoreOptions options = {}) {
    options.data_dir = dir_.path();
    auto s = SqliteStore::Open(options, metrics_, clock_);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  void Close() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
  }

  void Save(std::string type, std::string id, std::string content) {
    WriteResult r = CommitOne(*store_, UpdateWrite(std::move(type), id, std::move(content)));
    ASSERT_TRUE(r.status.ok()) << id << ": " << r.status.ToString();
    // The store does not validate; a typo would leave the resource out of the index silently.
    auto parsed = json::Parse(r.record.body);
    ASSERT_TRUE(parsed) << id << " is not valid JSON: " << r.record.body;
  }
  void Erase(std::string type, std::string id) {
    WriteResult r = CommitOne(*store_, DeleteWrite(std::move(type), std::move(id)));
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  }

  core::Result<SearchPage> Search(const SearchQuery& q) { return store_->Search(q); }

  // The ids of the first page (count 100) of `type` resources meeting `filters`.
  IdList Find(std::string type, std::vector<SearchFilter> filters) {
    SearchQuery q;
    q.type = std::move(type);
    q.filters = std::move(filters);
    q.count = 100;
    auto page = store_->Search(q);
    EXPECT_TRUE(page) << page.error().ToString();
    if (!page) return {};
    return IdsOf(page->resources);
  }
  IdList Find(std::string type, SearchFilter filter) {
    return Find(std::move(type), std::vector<SearchFilter>{std::move(filter)});
  }

  // Runs SQL on the database file while the store is closed.
  void Sql(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message << "\n" << sql;
  }
  std::optional<std::string> Meta(const std::string& key) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, "SELECT value FROM medulla_meta WHERE key = ?", -1, &stmt, nullptr);
    sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    std::optional<std::string> out;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }
  std::string DbPath() const { return dir_.path() + "/medulla.db"; }
  // The number of index rows of one search_params key ("Observation.code-value-quantity$0")
  // in `table`, read while the store is closed.
  int64_t IndexRowsOf(const std::string& table, const std::string& key) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    std::string sql = "SELECT count(*) FROM " + table +
                      " WHERE pid = (SELECT pid FROM search_params WHERE name = ?)";
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    int64_t n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
  }

  testing::TempDir dir_;
  core::MetricsRegistry metrics_;
  SteppingClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

const char* const kIndexTables[] = {"ix_string", "ix_token",  "ix_reference", "ix_uri",
                                    "ix_date",   "ix_number", "ix_quantity",  "ix_present"};

// ======================================== string

class StringSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Patient", "p1", R"("name":[{"family":"Müller","given":["Peter"]}])");
    Save("Patient", "p2", R"("name":[{"family":"Miller","given":["Anna"]}])");
    Save("Patient", "p3", R"("name":[{"family":"Petersen","given":["Lars"]}])");
  }
};

TEST_F(StringSearchTest, MatchesPrefixesIgnoringCaseAndAccents) {
  EXPECT_EQ(Find("Patient", Str("name", {"mul"})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Str("name", {"PETER"})), (IdList{"p1", "p3"}));
  EXPECT_EQ(Find("Patient", Str("family", {"M"})), (IdList{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", Str("family", {"ller"})), IdList{});  // not a prefix
  EXPECT_EQ(Find("Patient", Str("given", {"Lars"})), (IdList{"p3"}));
}

TEST_F(StringSearchTest, CommaIsOrAndRepetitionIsAnd) {
  EXPECT_EQ(Find("Patient", Str("name", {"mul", "lars"})), (IdList{"p1", "p3"}));
  EXPECT_EQ(Find("Patient", {Str("name", {"pet"}), Str("family", {"pet"})}), (IdList{"p3"}));
  EXPECT_EQ(Find("Patient", {Str("name", {"anna"}), Str("family", {"pet"})}), IdList{});
}

TEST_F(StringSearchTest, ExactIsTheWholeValueCaseAndAccentSensitive) {
  EXPECT_EQ(Find("Patient", Str("family", {"Müller"}, Modifier::kExact)), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Str("family", {"Muller"}, Modifier::kExact)), IdList{});
  EXPECT_EQ(Find("Patient", Str("family", {"müller"}, Modifier::kExact)), IdList{});
  EXPECT_EQ(Find("Patient", Str("family", {"Müll"}, Modifier::kExact)), IdList{});
}

TEST_F(StringSearchTest, ContainsMatchesAnywhere) {
  EXPECT_EQ(Find("Patient", Str("family", {"LLER"}, Modifier::kContains)), (IdList{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", Str("name", {"ete"}, Modifier::kContains)), (IdList{"p1", "p3"}));
  EXPECT_EQ(Find("Patient", Str("name", {"xyz"}, Modifier::kContains)), IdList{});
}

// ======================================== token

class TokenSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Patient", "p1",
         R"("identifier":[{"system":"urn:a","value":"1"}],"gender":"male","active":true)");
    Save("Patient", "p2",
         R"("identifier":[{"system":"urn:b","value":"1"}],"gender":"female","active":false)");
    Save("Patient", "p3", R"("identifier":[{"value":"1"}])");
    Save("Patient", "p4", R"("identifier":[{"system":"urn:a","value":"2"}],"gender":"other")");
  }
};

TEST_F(TokenSearchTest, CodeAloneMatchesAnySystem) {
  EXPECT_EQ(Find("Patient", Tok("identifier", {Code("1")})), (IdList{"p1", "p2", "p3"}));
}

TEST_F(TokenSearchTest, SystemAndCode) {
  EXPECT_EQ(Find("Patient", Tok("identifier", {Code("1", "urn:a")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("identifier", {Code("2", "urn:b")})), IdList{});
}

TEST_F(TokenSearchTest, EmptySystemMeansNoSystem) {
  EXPECT_EQ(Find("Patient", Tok("identifier", {Code("1", "")})), (IdList{"p3"}));
}

TEST_F(TokenSearchTest, SystemWithoutCode) {
  EXPECT_EQ(Find("Patient", Tok("identifier", {Code("", "urn:a")})), (IdList{"p1", "p4"}));
}

TEST_F(TokenSearchTest, CodesAndBooleans) {
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male"), Code("female")})), (IdList{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", Tok("active", {Code("true")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("active", {Code("false")})), (IdList{"p2"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("MALE")})), IdList{});  // codes are exact
}

TEST_F(TokenSearchTest, NotIncludesResourcesWithoutTheElement) {
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")}, Modifier::kNot)),
            (IdList{"p2", "p3", "p4"}));
  EXPECT_EQ(Find("Patient", {Tok("gender", {Code("male")}, Modifier::kNot),
                             Tok("identifier", {Code("", "urn:a")})}),
            (IdList{"p4"}));
}

TEST_F(SearchSqlTest, TokenTextSearchesDisplayAndConceptText) {
  Save("Observation", "o1",
       R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4",)"
       R"("display":"Heart rate"}],"text":"HR measured"})");
  Save("Observation", "o2",
       R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8310-5",)"
       R"("display":"Body temperature"}]})");
  EXPECT_EQ(Find("Observation", TokText("code", "heart")), (IdList{"o1"}));
  EXPECT_EQ(Find("Observation", TokText("code", "HR meas")), (IdList{"o1"}));
  EXPECT_EQ(Find("Observation", TokText("code", "body temp")), (IdList{"o2"}));
  EXPECT_EQ(Find("Observation", Tok("code", {Code("8867-4")})), (IdList{"o1"}));
  EXPECT_EQ(Find("Observation", Tok("code", {Code("8867-4", "http://loinc.org")})), (IdList{"o1"}));
  EXPECT_EQ(Find("Observation", Tok("code", {Code("8867-4", "http://snomed.info/sct")})), IdList{});
  EXPECT_EQ(Find("Observation", Tok("status", {Code("final")})), (IdList{"o1", "o2"}));
}

// ======================================== reference

class ReferenceSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Observation", "o1", R"("status":"final","subject":{"reference":"Patient/p1"})");
    Save("Observation", "o2", R"("status":"final","subject":{"reference":"Patient/p2"})");
    Save("Observation", "o3", R"("status":"final","subject":{"reference":"Group/p1"})");
    Save("Observation", "o4",
         R"("status":"final","subject":{"reference":"http://example.org/fhir/Patient/p1"})");
    Save("Observation", "o5",
         R"("status":"final","subject":{"identifier":{"system":"urn:mrn","value":"42"}})");
    Save("Observation", "o6", R"("status":"final","subject":{"reference":"urn:uuid:abc"})");
  }
};

TEST_F(ReferenceSearchTest, TypeAndId) {
  EXPECT_EQ(Find("Observation", Ref("subject", "Patient", "p1")), (IdList{"o1", "o4"}));
  EXPECT_EQ(Find("Observation", Ref("subject", "Group", "p1")), (IdList{"o3"}));
  EXPECT_EQ(Find("Observation", Ref("subject", "Patient", "p3")), IdList{});
}

TEST_F(ReferenceSearchTest, IdAloneMatchesAnyType) {
  EXPECT_EQ(Find("Observation", Ref("subject", "", "p1")), (IdList{"o1", "o3", "o4"}));
}

TEST_F(ReferenceSearchTest, ReferenceThatIsNotTypeAndIdMatchesAsWritten) {
  EXPECT_EQ(Find("Observation", Ref("subject", "", "urn:uuid:abc")), (IdList{"o6"}));
}

TEST_F(ReferenceSearchTest, Identifier) {
  EXPECT_EQ(Find("Observation", RefIdentifier("subject", Code("42", "urn:mrn"))), (IdList{"o5"}));
  EXPECT_EQ(Find("Observation", RefIdentifier("subject", Code("42"))), (IdList{"o5"}));
  EXPECT_EQ(Find("Observation", RefIdentifier("subject", Code("42", "urn:other"))), IdList{});
}

TEST_F(ReferenceSearchTest, Missing) {
  Save("Observation", "o7", R"("status":"final")");
  EXPECT_EQ(Find("Observation", Missing("subject", SearchParamType::kReference, true)),
            (IdList{"o7"}));
  EXPECT_EQ(Find("Observation", Missing("subject", SearchParamType::kReference, false)).size(), 6u);
}

// ======================================== date

class DateSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    auto obs = [&](const char* id, const std::string& effective) {
      Save("Observation", id, R"("status":"final",)" + effective);
    };
    obs("o1", R"("effectiveDateTime":"2024-03-15T10:00:00Z")");
    obs("o2", R"("effectiveDateTime":"2024-03-15T23:59:59Z")");
    obs("o3", R"("effectiveDateTime":"2024-03-16T00:00:00Z")");
    obs("o4", R"("effectiveDateTime":"2024-03-15")");
    obs("o5", R"("effectiveDateTime":"2024-03")");
    obs("o6", R"("effectivePeriod":{"start":"2024-03-15T08:00:00Z","end":"2024-03-15T09:00:00Z"})");
  }
  IdList When(Comparator cmp, std::string_view text) {
    return Find("Observation", Date("date", cmp, text));
  }
};

TEST_F(DateSearchTest, DaySearchContainsTheInstantsOfThatDay) {
  EXPECT_EQ(When(Comparator::kEq, "2024-03-15"), (IdList{"o1", "o2", "o4", "o6"}));
}

TEST_F(DateSearchTest, SecondSearchDoesNotContainADay) {
  EXPECT_EQ(When(Comparator::kEq, "2024-03-15T10:00:00Z"), (IdList{"o1"}));
  EXPECT_EQ(When(Comparator::kEq, "2024-03-15T10:00:00.000Z"), IdList{});  // o1 spans a second
}

TEST_F(DateSearchTest, MonthSearchContainsEverythingInTheMonth) {
  EXPECT_EQ(When(Comparator::kEq, "2024-03"), (IdList{"o1", "o2", "o3", "o4", "o5", "o6"}));
  EXPECT_EQ(When(Comparator::kEq, "2024-04"), IdList{});
}

TEST_F(DateSearchTest, NotEqual) {
  EXPECT_EQ(When(Comparator::kNe, "2024-03-15"), (IdList{"o3", "o5"}));
}

TEST_F(DateSearchTest, GreaterAndLess) {
  // gt/ge: the target range reaches past the end/start of the search range.
  EXPECT_EQ(When(Comparator::kGt, "2024-03-15"), (IdList{"o3", "o5"}));
  EXPECT_EQ(When(Comparator::kGe, "2024-03-16"), (IdList{"o3", "o5"}));  // o2 ends at 16T00:00
  // lt/le: the target range starts before the start/end of the search range.
  EXPECT_EQ(When(Comparator::kLt, "2024-03-15"), (IdList{"o5"}));
  EXPECT_EQ(When(Comparator::kLe, "2024-03-15"), (IdList{"o1", "o2", "o4", "o5", "o6"}));
}

TEST_F(DateSearchTest, StartsAfterAndEndsBefore) {
  EXPECT_EQ(When(Comparator::kSa, "2024-03-15"), (IdList{"o3"}));
  EXPECT_EQ(When(Comparator::kEb, "2024-03-15"), IdList{});
  EXPECT_EQ(When(Comparator::kEb, "2024-03-16"), (IdList{"o1", "o2", "o4", "o6"}));
}

TEST_F(DateSearchTest, InstantsWithZonesCompareInUtc) {
  Save("Observation", "o7", R"("status":"final","effectiveDateTime":"2024-03-15T23:30:00-05:00")");
  EXPECT_EQ(When(Comparator::kEq, "2024-03-16"), (IdList{"o3", "o7"}));
  EXPECT_EQ(When(Comparator::kEq, "2024-03-16T04:30:00Z"), (IdList{"o7"}));
}

TEST_F(SearchSqlTest, DateApproximately) {
  // ap: within a margin that grows with the distance from now (a tenth of it); from 1900 that
  // is more than ten years, whenever these tests run.
  Save("Patient", "near", R"("birthDate":"1905-06-01")");
  Save("Patient", "far", R"("birthDate":"1960-01-01")");
  EXPECT_EQ(Find("Patient", Date("birthdate", Comparator::kAp, "1900")), (IdList{"near"}));
}

TEST_F(DateSearchTest, OrOfRanges) {
  SearchFilter f = Date("date", Comparator::kEq, "2024-03-16");
  f.any_of.push_back(DateValue(Comparator::kLt, "2024-03-02"));
  EXPECT_EQ(Find("Observation", f), (IdList{"o3", "o5"}));
}

class PeriodSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    auto encounter = [&](const char* id, const std::string& period) {
      Save("Encounter", id, R"("status":"finished","class":{"code":"AMB"},"period":)" + period);
    };
    encounter("open-end", R"({"start":"2024-01-10T00:00:00Z"})");
    encounter("closed", R"({"start":"2024-01-01","end":"2024-01-05"})");
    encounter("open-start", R"({"end":"2023-12-31"})");
  }
  IdList When(Comparator cmp, std::string_view text) {
    return Find("Encounter", Date("date", cmp, text));
  }
};

TEST_F(PeriodSearchTest, OpenEndReachesEveryLaterDate) {
  EXPECT_EQ(When(Comparator::kGe, "2024-06-01"), (IdList{"open-end"}));
  EXPECT_EQ(When(Comparator::kGt, "2030-01-01"), (IdList{"open-end"}));
  EXPECT_EQ(When(Comparator::kSa, "2024-01-05"), (IdList{"open-end"}));
}

TEST_F(PeriodSearchTest, OpenStartReachesEveryEarlierDate) {
  EXPECT_EQ(When(Comparator::kLe, "1900-01-01"), (IdList{"open-start"}));
  EXPECT_EQ(When(Comparator::kLt, "2024-01-10"), (IdList{"closed", "open-start"}));
  EXPECT_EQ(When(Comparator::kEb, "2024-01-10"), (IdList{"closed", "open-start"}));
}

TEST_F(PeriodSearchTest, EqualityNeedsTheWholePeriodInside) {
  EXPECT_EQ(When(Comparator::kEq, "2024"), (IdList{"closed"}));
  EXPECT_EQ(When(Comparator::kEq, "2024-01-03"), IdList{});
  EXPECT_EQ(When(Comparator::kNe, "2024"), (IdList{"open-end", "open-start"}));
}

// ======================================== number

class NumberSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    auto risk = [&](const char* id, const char* probability) {
      Save("RiskAssessment", id,
           fmt::format(R"("status":"final","subject":{{"reference":"Patient/p"}},)"
                       R"("prediction":[{{"probabilityDecimal":{}}}])",
                       probability));
    };
    risk("r1", "0.8");
    risk("r2", "0.84");
    risk("r3", "0.85");
    risk("r4", "0.9");
    Save("RiskAssessment", "r5", R"("status":"final","subject":{"reference":"Patient/p"})");
  }
  IdList When(SearchValue v) { return Find("RiskAssessment", Number("probability", v)); }
};

TEST_F(NumberSearchTest, EqualityUsesThePrecisionOfTheSearchValue) {
  EXPECT_EQ(When(Dec(Comparator::kEq, 0.8, 0.75, 0.85)), (IdList{"r1", "r2"}));  // [0.75, 0.85)
  EXPECT_EQ(When(Dec(Comparator::kEq, 0.80, 0.795, 0.805)), (IdList{"r1"}));     // [0.795, 0.805)
  EXPECT_EQ(When(Dec(Comparator::kEq, 1, 0.5, 1.5)),
            (IdList{"r1", "r2", "r3", "r4"}));  // [0.5, 1.5)
  EXPECT_EQ(When(Dec(Comparator::kNe, 0.8, 0.75, 0.85)), (IdList{"r3", "r4"}));
}

TEST_F(NumberSearchTest, OrderComparisonsUseTheExactValue) {
  EXPECT_EQ(When(Dec(Comparator::kGt, 0.84, 0.835, 0.845)), (IdList{"r3", "r4"}));
  EXPECT_EQ(When(Dec(Comparator::kGe, 0.85, 0.845, 0.855)), (IdList{"r3", "r4"}));
  EXPECT_EQ(When(Dec(Comparator::kLt, 0.85, 0.845, 0.855)), (IdList{"r1", "r2"}));
  EXPECT_EQ(When(Dec(Comparator::kLe, 0.85, 0.845, 0.855)), (IdList{"r1", "r2", "r3"}));
}

TEST_F(NumberSearchTest, ApproximatelyIsWithinTenPercent) {
  EXPECT_EQ(When(Dec(Comparator::kAp, 0.8, 0.75, 0.85)),
            (IdList{"r1", "r2", "r3"}));  // [0.72, 0.88]
}

TEST_F(NumberSearchTest, Missing) {
  EXPECT_EQ(Find("RiskAssessment", Missing("probability", SearchParamType::kNumber, true)),
            (IdList{"r5"}));
}

// ======================================== quantity

class QuantitySearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    auto obs = [&](const char* id, const std::string& quantity) {
      Save("Observation", id, R"("status":"final","valueQuantity":)" + quantity);
    };
    obs("q1", R"({"value":5.4,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"})");
    obs("q2",
        R"({"value":5.4,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"})");
    obs("q3", R"({"value":5.4,"unit":"mg"})");
    obs("q4", R"({"value":6,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"})");
    obs("q5", R"({"value":5.4,"unit":"mg","system":"http://example.org/units","code":"mg"})");
  }
};

TEST_F(QuantitySearchTest, NumberSystemAndCode) {
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kEq, 5.4, 5.35, 5.45), kUcum, "mg")),
            (IdList{"q1"}));
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kEq, 5.4, 5.35, 5.45), kUcum, "g")),
            IdList{});
}

TEST_F(QuantitySearchTest, CodeWithoutSystemMatchesCodeOrUnit) {
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kEq, 5.4, 5.35, 5.45), "", "mg")),
            (IdList{"q1", "q3", "q5"}));
}

TEST_F(QuantitySearchTest, NumberAloneMatchesAnyUnit) {
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kEq, 5.4, 5.35, 5.45))),
            (IdList{"q1", "q2", "q3", "q5"}));
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kEq, 5, 4.5, 5.5))),
            (IdList{"q1", "q2", "q3", "q5"}));  // [4.5, 5.5)
}

TEST_F(QuantitySearchTest, PrefixesWithUnits) {
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kGt, 5.4, 5.35, 5.45), "", "mg")),
            (IdList{"q4"}));
  EXPECT_EQ(Find("Observation", Quantity(Dec(Comparator::kLe, 6, 5.5, 6.5), kUcum, "mg")),
            (IdList{"q1", "q4"}));
}

TEST_F(QuantitySearchTest, CanonicalUnitsMeetOtherUnitsOfTheDimension) {
  // 5400 ug = 0.0054 g: the store compares canonical values (fhir/ucum.h) when the search
  // value carries them, so q1 (5.4 mg) and q4 (6 mg, outside [5399.5, 5400.5) ug) are told
  // apart by value, whatever unit they were recorded in.
  SearchValue v = Dec(Comparator::kEq, 5400, 5399.5, 5400.5);
  v.canonical_number = 0.0054;
  v.canonical_low = 0.0053995;
  v.canonical_high = 0.0054005;
  v.canonical_code = "g";
  EXPECT_EQ(Find("Observation", Quantity(v, kUcum, "ug")), (IdList{"q1"}));
}

// ======================================== missing, _id, AND

class MissingSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Patient", "p1", R"("gender":"male","birthDate":"1980-01-01")");
    Save("Patient", "p2", R"("gender":"female")");
    Save("Patient", "p3", R"("birthDate":"1990-01-01")");
  }
};

TEST_F(MissingSearchTest, MissingTrueAndFalse) {
  EXPECT_EQ(Find("Patient", Missing("birthdate", SearchParamType::kDate, true)), (IdList{"p2"}));
  EXPECT_EQ(Find("Patient", Missing("birthdate", SearchParamType::kDate, false)),
            (IdList{"p1", "p3"}));
  EXPECT_EQ(Find("Patient", Missing("gender", SearchParamType::kToken, true)), (IdList{"p3"}));
  EXPECT_EQ(Find("Patient", {Missing("gender", SearchParamType::kToken, false),
                             Missing("birthdate", SearchParamType::kDate, false)}),
            (IdList{"p1"}));
}

TEST_F(MissingSearchTest, MissingFollowsUpdates) {
  Save("Patient", "p2", R"("gender":"female","birthDate":"2000-01-01")");
  Save("Patient", "p1", R"("gender":"male")");
  EXPECT_EQ(Find("Patient", Missing("birthdate", SearchParamType::kDate, true)), (IdList{"p1"}));
}

TEST_F(MissingSearchTest, IdCombinedWithOtherFilters) {
  EXPECT_EQ(Find("Patient", IdIs({"p1", "p3"})), (IdList{"p1", "p3"}));
  EXPECT_EQ(Find("Patient", {IdIs({"p1", "p2"}), Tok("gender", {Code("female")})}), (IdList{"p2"}));
  EXPECT_EQ(Find("Patient", {IdIs({"p3"}), Tok("gender", {Code("female")})}), IdList{});
  EXPECT_EQ(Find("Patient", IdIs({"nope"})), IdList{});
}

TEST_F(SearchSqlTest, UnknownParameterIsInvalidArgument) {
  Save("Patient", "p1", R"("gender":"male")");
  SearchQuery q;
  q.type = "Patient";
  q.filters.push_back(Tok("nonsense", {Code("x")}));
  auto page = Search(q);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code(), core::Code::kInvalidArgument);
}

TEST_F(SearchSqlTest, SearchPastItsTimeLimitIsStoppedAsTooCostly) {
  Close();
  SqliteStoreOptions options;
  options.search_timeout = std::chrono::milliseconds(0);  // stopped at the first check
  Open(options);
  Unit unit;
  for (int i = 0; i < 3000; ++i) {
    unit.writes.push_back(UpdateWrite("Patient", fmt::format("p{}", i),
                                      fmt::format(R"("name":[{{"family":"Family{}"}}])", i)));
  }
  for (const WriteResult& r : CommitAndWait(*store_, std::move(unit))) ASSERT_TRUE(r.status.ok());
  // A substring of every name: a scan of all the rows, far past the first progress check.
  SearchQuery scan;
  scan.type = "Patient";
  scan.filters.push_back(Str("family", {"zzz"}, Modifier::kContains));
  scan.want_total = true;
  auto page = Search(scan);
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().code(), core::Code::kTooCostly) << page.error().ToString();
  EXPECT_NE(page.error().message().find("selective"), std::string::npos);
  // A point lookup stays under the first check, on the same (reused) reader connection.
  EXPECT_EQ(Find("Patient", IdIs({"p7"})), (IdList{"p7"}));
  // Conditional writes' criteria run under the same limit, on the writer.
  Write conditional = testing::CreateWrite("Patient", "new", R"("active":true)");
  SearchQuery criteria = scan;
  criteria.want_total = false;
  conditional.if_none_exist = criteria;
  WriteResult r = CommitOne(*store_, std::move(conditional));
  EXPECT_EQ(r.status.code(), core::Code::kTooCostly) << r.status.ToString();
}

TEST_F(SearchSqlTest, OnlyCompleteCompositeItemsAreIndexed) {
  // A quantity Observation is an item of code-value-quantity (code and value) and of
  // code-value-concept (code, no concept): only the first can ever match, only it has rows.
  Save("Observation", "o1",
       R"("status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},)"
       R"("valueQuantity":{"value":72,"system":"http://unitsofmeasure.org","code":"/min"})");
  Close();
  EXPECT_EQ(IndexRowsOf("ix_token", "Observation.code-value-quantity$0"), 1);
  EXPECT_EQ(IndexRowsOf("ix_quantity", "Observation.code-value-quantity$1"), 1);
  EXPECT_EQ(IndexRowsOf("ix_present", "Observation.code-value-quantity"), 1);
  EXPECT_EQ(IndexRowsOf("ix_token", "Observation.code-value-concept$0"), 0);
  EXPECT_EQ(IndexRowsOf("ix_present", "Observation.code-value-concept"), 0);
  EXPECT_EQ(IndexRowsOf("ix_token", "Observation.code"), 1);
}

TEST_F(SearchSqlTest, UriBelowAboveAndContains) {
  Save("ValueSet", "v1", R"("status":"active","url":"http://example.org/fhir/ValueSet/a")");
  Save("ValueSet", "v2", R"("status":"active","url":"http://example.org/fhir/ValueSet/a/b")");
  Save("ValueSet", "v3", R"("status":"active","url":"http://other.org/ValueSet/a")");
  auto uri = [](const char* value, Modifier m = Modifier::kNone) {
    SearchFilter f;
    f.param = "url";
    f.type = SearchParamType::kUri;
    f.modifier = m;
    SearchValue v;
    v.text = value;
    f.any_of.push_back(v);
    return f;
  };
  EXPECT_EQ(Find("ValueSet", uri("http://example.org/fhir/ValueSet/a")), (IdList{"v1"}));
  EXPECT_EQ(Find("ValueSet", uri("http://example.org/fhir/", Modifier::kBelow)),
            (IdList{"v1", "v2"}));
  EXPECT_EQ(Find("ValueSet", uri("http://example.org/fhir/ValueSet/a/b/c", Modifier::kAbove)),
            (IdList{"v1", "v2"}));
  EXPECT_EQ(Find("ValueSet", uri("ValueSet/a", Modifier::kContains)), (IdList{"v1", "v2", "v3"}));
}

// ======================================== chains and _has

class LinkedSearchTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Organization", "org1", R"("name":"Acme Hospital")");
    Save("Organization", "org2", R"("name":"Other Clinic")");
    Save(
        "Patient", "p1",
        R"("name":[{"given":["Peter"]}],"managingOrganization":{"reference":"Organization/org1"})");
    Save("Patient", "p2",
         R"("name":[{"given":["Anna"]}],"managingOrganization":{"reference":"Organization/org2"})");
    Save("Patient", "p3", R"("name":[{"given":["Lars"]}])");
    Save("Location", "l1", R"("name":"Peterborough ward")");
    Save("Encounter", "e1",
         R"("status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p1"})");
    Save("Encounter", "e2",
         R"("status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/p2"})");
    Obs("o1", "Patient/p1", "8867-4", "Encounter/e1");
    Obs("o2", "Patient/p2", "8310-5", "Encounter/e2");
    Obs("o3", "Patient/p1", "8310-5", "");
    Obs("o4", "Location/l1", "8310-5", "");
  }
  void Obs(const char* id, const char* subject, const char* code, const char* encounter) {
    std::string content = fmt::format(
        R"("status":"final","code":{{"coding":[{{"system":"http://loinc.org","code":"{}"}}]}},)"
        R"("subject":{{"reference":"{}"}})",
        code, subject);
    if (*encounter) content += fmt::format(R"(,"encounter":{{"reference":"{}"}})", encounter);
    Save("Observation", id, content);
  }
};

TEST_F(LinkedSearchTest, ChainOneLevel) {
  EXPECT_EQ(Find("Observation", Chain("subject", {{"Patient", {Str("name", {"peter"})}}})),
            (IdList{"o1", "o3"}));
  EXPECT_EQ(Find("Observation", Chain("subject", {{"Patient", {IdIs({"p2"})}}})), (IdList{"o2"}));
}

TEST_F(LinkedSearchTest, ChainToSeveralTargetTypes) {
  // subject.name=peter: a Patient named Peter or a Location named Peterborough.
  EXPECT_EQ(Find("Observation", Chain("subject", {{"Patient", {Str("name", {"peter"})}},
                                                  {"Location", {Str("name", {"peter"})}}})),
            (IdList{"o1", "o3", "o4"}));
}

TEST_F(LinkedSearchTest, ChainTwoLevels) {
  SearchFilter org_name = Chain("organization", {{"Organization", {Str("name", {"acme"})}}});
  EXPECT_EQ(Find("Observation", Chain("subject", {{"Patient", {org_name}}})), (IdList{"o1", "o3"}));
}

TEST_F(LinkedSearchTest, ChainCombinedWithAValueFilter) {
  EXPECT_EQ(Find("Observation", {Chain("subject", {{"Patient", {Str("name", {"peter"})}}}),
                                 Tok("code", {Code("8310-5")})}),
            (IdList{"o3"}));
}

TEST_F(LinkedSearchTest, ChainDoesNotFollowToADeletedResource) {
  Erase("Patient", "p1");
  EXPECT_EQ(Find("Observation", Chain("subject", {{"Patient", {Str("name", {"peter"})}}})),
            IdList{});
}

TEST_F(LinkedSearchTest, Has) {
  EXPECT_EQ(Find("Patient", Has("Observation", "subject", {Tok("code", {Code("8867-4")})})),
            (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Has("Observation", "subject", {Tok("code", {Code("8310-5")})})),
            (IdList{"p1", "p2"}));
  EXPECT_EQ(Find("Patient", {Has("Observation", "subject", {Tok("code", {Code("8310-5")})}),
                             Str("name", {"anna"})}),
            (IdList{"p2"}));
}

TEST_F(LinkedSearchTest, HasOnlyCountsReferencesToTheSearchedType) {
  // o4 refers to Location/l1: no Patient has it.
  EXPECT_EQ(Find("Location", Has("Observation", "subject", {Tok("code", {Code("8310-5")})})),
            (IdList{"l1"}));
  EXPECT_EQ(Find("Patient", Has("Observation", "subject", {IdIs({"o4"})})), IdList{});
}

TEST_F(LinkedSearchTest, HasNested) {
  // Patients with an Encounter that an Observation of code 8310-5 refers to.
  SearchFilter inner = Has("Observation", "encounter", {Tok("code", {Code("8310-5")})});
  EXPECT_EQ(Find("Patient", Has("Encounter", "subject", {inner})), (IdList{"p2"}));
}

TEST_F(LinkedSearchTest, HasForgetsDeletedSources) {
  Erase("Observation", "o1");
  EXPECT_EQ(Find("Patient", Has("Observation", "subject", {Tok("code", {Code("8867-4")})})),
            IdList{});
}

// ======================================== sort

class SearchSortTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Patient", "p1", R"("name":[{"family":"Baker"}],"birthDate":"1980-05-01")");
    Save("Patient", "p2", R"("name":[{"family":"Adams"}],"birthDate":"1970-01-01")");
    Save("Patient", "p3", R"("name":[{"family":"Clark"}])");
    Save("Patient", "p4", R"("name":[{"family":"Adams"}],"birthDate":"1990-07-07")");
    Save("Patient", "p5", R"("name":[{"family":"Baker"}],"birthDate":"1970-01-01")");
  }
  SearchQuery ByKeys(std::vector<SortKey> keys, size_t count = 100) {
    SearchQuery q;
    q.type = "Patient";
    q.sort = std::move(keys);
    q.count = count;
    return q;
  }
  IdList Run(const SearchQuery& q) {
    auto page = Search(q);
    EXPECT_TRUE(page) << page.error().ToString();
    return page ? IdsOf(page->resources) : IdList{};
  }
  // Every page forward from the first, then every page backward from the last.
  void ExpectPagesBothWays(SearchQuery q, const IdList& expected) {
    IdList forward;
    std::string last_prev;
    for (int guard = 0; guard < 20; ++guard) {
      auto page = Search(q);
      ASSERT_TRUE(page) << page.error().ToString();
      for (auto& id : IdsOf(page->resources)) forward.push_back(id);
      if (page->prev_cursor) last_prev = *page->prev_cursor;
      if (!page->next_cursor) break;
      q.cursor = *page->next_cursor;
    }
    EXPECT_EQ(forward, expected) << "forward";
    ASSERT_FALSE(last_prev.empty());
    // Backward from the last page's prev cursor: everything before the last page.
    IdList backward;
    q.cursor = last_prev;
    for (int guard = 0; guard < 20; ++guard) {
      auto page = Search(q);
      ASSERT_TRUE(page) << page.error().ToString();
      IdList ids = IdsOf(page->resources);
      backward.insert(backward.begin(), ids.begin(), ids.end());
      if (!page->prev_cursor) break;
      q.cursor = *page->prev_cursor;
    }
    IdList before_last(expected.begin(), expected.end() - static_cast<std::ptrdiff_t>(
                                                              (expected.size() - 1) % q.count + 1));
    EXPECT_EQ(backward, before_last) << "backward";
  }
};

TEST_F(SearchSortTest, AscendingWithNullsLast) {
  EXPECT_EQ(Run(ByKeys({Sort("birthdate", SearchParamType::kDate)})),
            (IdList{"p2", "p5", "p1", "p4", "p3"}));
}

TEST_F(SearchSortTest, DescendingWithNullsLast) {
  EXPECT_EQ(Run(ByKeys({Sort("birthdate", SearchParamType::kDate, true)})),
            (IdList{"p4", "p1", "p2", "p5", "p3"}));
}

TEST_F(SearchSortTest, MultipleKeys) {
  EXPECT_EQ(Run(ByKeys({Sort("family", SearchParamType::kString),
                        Sort("birthdate", SearchParamType::kDate, true)})),
            (IdList{"p4", "p2", "p1", "p5", "p3"}));
}

TEST_F(SearchSortTest, ByIdAndLastUpdated) {
  EXPECT_EQ(Run(ByKeys({Sort("_id", SearchParamType::kToken, true)})),
            (IdList{"p5", "p4", "p3", "p2", "p1"}));
  Save("Patient", "p2", R"("name":[{"family":"Adams"}],"birthDate":"1970-01-01")");
  EXPECT_EQ(Run(ByKeys({Sort("_lastUpdated", SearchParamType::kDate, true)})),
            (IdList{"p2", "p5", "p4", "p3", "p1"}));
}

TEST_F(SearchSortTest, SortWithAFilter) {
  SearchQuery q = ByKeys({Sort("birthdate", SearchParamType::kDate, true)});
  q.filters.push_back(Str("family", {"baker"}));
  EXPECT_EQ(Run(q), (IdList{"p1", "p5"}));
}

TEST_F(SearchSortTest, PagesAscendingThroughNullsBothWays) {
  ExpectPagesBothWays(ByKeys({Sort("birthdate", SearchParamType::kDate)}, 2),
                      {"p2", "p5", "p1", "p4", "p3"});
}

TEST_F(SearchSortTest, PagesOneByOneDescendingBothWays) {
  ExpectPagesBothWays(ByKeys({Sort("birthdate", SearchParamType::kDate, true)}, 1),
                      {"p4", "p1", "p2", "p5", "p3"});
}

TEST_F(SearchSortTest, PagesWithTwoKeysBothWays) {
  ExpectPagesBothWays(ByKeys({Sort("family", SearchParamType::kString, true),
                              Sort("birthdate", SearchParamType::kDate)},
                             2),
                      {"p3", "p5", "p1", "p2", "p4"});
}

TEST_F(SearchSortTest, PagesThroughSeveralNullsBothWays) {
  Save("Patient", "p6", R"("name":[{"family":"Doe"}])");
  Save("Patient", "p7", R"("name":[{"family":"Eve"}])");
  ExpectPagesBothWays(ByKeys({Sort("birthdate", SearchParamType::kDate, true)}, 2),
                      {"p4", "p1", "p2", "p5", "p3", "p6", "p7"});
}

TEST_F(SearchSqlTest, PagesByNumberBothWays) {
  // Number sort keys are doubles: the cursor carries their bits.
  const char* values[] = {"0.3", "0.1", "0.25", "0.1", "0.7"};
  for (int i = 0; i < 5; ++i) {
    Save("RiskAssessment", fmt::format("r{}", i),
         fmt::format(R"("status":"final","subject":{{"reference":"Patient/p"}},)"
                     R"("prediction":[{{"probabilityDecimal":{}}}])",
                     values[i]));
  }
  Save("RiskAssessment", "none", R"("status":"final","subject":{"reference":"Patient/p"})");
  SearchQuery q;
  q.type = "RiskAssessment";
  q.sort = {Sort("probability", SearchParamType::kNumber, true)};
  q.count = 2;
  IdList forward;
  std::vector<std::string> prevs;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    for (auto& id : IdsOf(page->resources)) forward.push_back(id);
    if (page->prev_cursor) prevs.push_back(*page->prev_cursor);
    if (!page->next_cursor) break;
    q.cursor = *page->next_cursor;
  }
  EXPECT_EQ(forward, (IdList{"r4", "r0", "r2", "r1", "r3", "none"}));
  ASSERT_EQ(prevs.size(), 2u);
  q.cursor = prevs.back();
  auto back = Search(q);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(IdsOf(back->resources), (IdList{"r2", "r1"}));
}

TEST_F(SearchSqlTest, PagesByStringWithAccentsBothWays) {
  const char* families[] = {"Zoë", "Åberg", "Müller", "Mueller", "Ødegaard", "muller"};
  for (int i = 0; i < 6; ++i) {
    Save("Patient", fmt::format("p{}", i),
         fmt::format(R"("name":[{{"family":"{}"}}])", families[i]));
  }
  SearchQuery q;
  q.type = "Patient";
  q.sort = {Sort("family", SearchParamType::kString)};
  q.count = 4;
  auto first = Search(q);
  ASSERT_TRUE(first) << first.error().ToString();
  // Normalised: aberg, mueller, muller (p2), muller (p5), odegaard, zoe.
  EXPECT_EQ(IdsOf(first->resources), (IdList{"p1", "p3", "p2", "p5"}));
  ASSERT_TRUE(first->next_cursor);
  q.cursor = *first->next_cursor;
  auto second = Search(q);
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(IdsOf(second->resources), (IdList{"p4", "p0"}));
  ASSERT_TRUE(second->prev_cursor);
  q.cursor = *second->prev_cursor;
  auto back = Search(q);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(IdsOf(back->resources), IdsOf(first->resources));
}

TEST_F(SearchSqlTest, PagesByDatesBeforeTheEpochAndOpenStarts) {
  // Negative sort keys, and the smallest one of all (a Period without a start).
  Save("Encounter", "e1",
       R"("status":"finished","class":{"code":"AMB"},)"
       R"("period":{"start":"1950-01-01"})");
  Save("Encounter", "e2",
       R"("status":"finished","class":{"code":"AMB"},)"
       R"("period":{"end":"1960-01-01"})");
  Save("Encounter", "e3",
       R"("status":"finished","class":{"code":"AMB"},)"
       R"("period":{"start":"1969-12-31T23:59:59Z"})");
  Save("Encounter", "e4",
       R"("status":"finished","class":{"code":"AMB"},)"
       R"("period":{"start":"2024-01-01"})");
  Save("Encounter", "e5", R"("status":"finished","class":{"code":"AMB"})");
  SearchQuery q;
  q.type = "Encounter";
  q.sort = {Sort("date", SearchParamType::kDate)};
  q.count = 1;
  IdList forward;
  std::string prev;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    for (auto& id : IdsOf(page->resources)) forward.push_back(id);
    if (page->prev_cursor) prev = *page->prev_cursor;
    if (!page->next_cursor) break;
    q.cursor = *page->next_cursor;
  }
  EXPECT_EQ(forward, (IdList{"e2", "e1", "e3", "e4", "e5"}));
  IdList backward;
  q.cursor = prev;
  for (int guard = 0; guard < 10 && !q.cursor.empty(); ++guard) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    Ids_Prepend(backward, IdsOf(page->resources));
    q.cursor = page->prev_cursor.value_or("");
  }
  EXPECT_EQ(backward, (IdList{"e2", "e1", "e3", "e4"}));
}

TEST_F(SearchSqlTest, LastPageThatIsExactlyFullHasNoNext) {
  for (int i = 0; i < 6; ++i) Save("Patient", fmt::format("p{}", i), R"("active":true)");
  SearchQuery q;
  q.type = "Patient";
  q.count = 3;
  auto first = Search(q);
  ASSERT_TRUE(first && first->next_cursor);
  q.cursor = *first->next_cursor;
  auto second = Search(q);
  ASSERT_TRUE(second);
  EXPECT_EQ(IdsOf(second->resources), (IdList{"p3", "p4", "p5"}));
  EXPECT_FALSE(second->next_cursor);
}

// ======================================== paging

TEST_F(SearchSqlTest, PagingIsStableWhileWritesHappenBetweenPages) {
  IdList existing;
  for (int i = 0; i < 10; ++i) {
    existing.push_back(fmt::format("q{:02}", i));
    Save("Patient", existing.back(), R"("gender":"female")");
  }
  Save("Patient", "other", R"("gender":"male")");
  SearchQuery q;
  q.type = "Patient";
  q.filters.push_back(Tok("gender", {Code("female")}));
  q.count = 3;
  IdList seen;
  std::vector<IdList> pages;
  for (int page_no = 0; page_no < 10; ++page_no) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    pages.push_back(IdsOf(page->resources));
    for (auto& id : pages.back()) seen.push_back(id);
    // Writes between pages: new matches, updates of seen and unseen ones, a non-match.
    Save("Patient", fmt::format("new{}", page_no), R"("gender":"female")");
    Save("Patient", existing[static_cast<size_t>(page_no) % existing.size()],
         R"("gender":"female","birthDate":"2000-01-01")");
    Save("Patient", existing[(static_cast<size_t>(page_no) + 5) % existing.size()],
         R"("gender":"female","active":true)");
    if (!page->next_cursor) break;
    q.cursor = *page->next_cursor;
  }
  IdList old;
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "duplicates across pages";
  for (auto& id : seen)
    if (id.starts_with("q")) old.push_back(id);
  EXPECT_EQ(old, existing);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "other"), 0);
  EXPECT_EQ(pages.front(), (IdList{"q00", "q01", "q02"}));
}

TEST_F(SearchSqlTest, SortedPagingIsStableWhileWritesHappenBetweenPages) {
  IdList existing;
  for (int i = 1; i <= 9; ++i) {
    existing.push_back(fmt::format("s{}", i));
    Save("Patient", existing.back(), fmt::format(R"("birthDate":"2000-01-0{}")", i));
  }
  SearchQuery q;
  q.type = "Patient";
  q.sort = {Sort("birthdate", SearchParamType::kDate)};
  q.count = 3;
  IdList seen, last_page;
  std::optional<std::string> prev_of_last;
  for (int page_no = 0; page_no < 10; ++page_no) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    last_page = IdsOf(page->resources);
    for (auto& id : last_page) seen.push_back(id);
    // A new resource before everything seen, one tying with a later one, and updates that
    // keep the sort key.
    Save("Patient", fmt::format("early{}", page_no), R"("birthDate":"1999-01-01")");
    Save("Patient", fmt::format("tie{}", page_no), R"("birthDate":"2000-01-08")");
    Save("Patient", existing[static_cast<size_t>(page_no) * 2 % existing.size()],
         fmt::format(R"("birthDate":"2000-01-0{}","active":true)",
                     static_cast<size_t>(page_no) * 2 % existing.size() + 1));
    prev_of_last = page->prev_cursor;
    if (!page->next_cursor) break;
    q.cursor = *page->next_cursor;
  }
  IdList old;
  for (auto& id : seen)
    if (id.starts_with("s")) old.push_back(id);
  EXPECT_EQ(old, existing) << "every resource that existed before paging, once, in order";
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size());
  for (auto& id : seen) EXPECT_FALSE(id.starts_with("early")) << id << " sorts before the cursor";

  // Backward from the last page: what now sorts before it, each once, in order.
  ASSERT_TRUE(prev_of_last);
  q.cursor = *prev_of_last;
  IdList backward;
  for (int guard = 0; guard < 20; ++guard) {
    auto page = Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    IdList ids = IdsOf(page->resources);
    backward.insert(backward.begin(), ids.begin(), ids.end());
    if (!page->prev_cursor) break;
    q.cursor = *page->prev_cursor;
  }
  std::set<std::string> unique_back(backward.begin(), backward.end());
  EXPECT_EQ(unique_back.size(), backward.size());
  ASSERT_FALSE(backward.empty());
  EXPECT_TRUE(backward.front().starts_with("early")) << backward.front();
  IdList old_back;
  for (auto& id : backward)
    if (id.starts_with("s")) old_back.push_back(id);
  IdList expected_back;
  for (auto& id : existing)
    if (std::find(last_page.begin(), last_page.end(), id) == last_page.end())
      expected_back.push_back(id);
  EXPECT_EQ(old_back, expected_back);
}

TEST_F(SearchSqlTest, PrevPagesRetraceNextPages) {
  for (int i = 0; i < 8; ++i) Save("Patient", fmt::format("p{}", i), R"("active":true)");
  SearchQuery q;
  q.type = "Patient";
  q.count = 3;
  auto p1 = Search(q);
  ASSERT_TRUE(p1);
  EXPECT_FALSE(p1->prev_cursor);
  ASSERT_TRUE(p1->next_cursor);
  q.cursor = *p1->next_cursor;
  auto p2 = Search(q);
  ASSERT_TRUE(p2);
  ASSERT_TRUE(p2->next_cursor);
  q.cursor = *p2->next_cursor;
  auto p3 = Search(q);
  ASSERT_TRUE(p3);
  EXPECT_EQ(IdsOf(p3->resources), (IdList{"p6", "p7"}));
  EXPECT_FALSE(p3->next_cursor);
  ASSERT_TRUE(p3->prev_cursor);

  q.cursor = *p3->prev_cursor;
  auto back2 = Search(q);
  ASSERT_TRUE(back2);
  EXPECT_EQ(IdsOf(back2->resources), IdsOf(p2->resources));
  ASSERT_TRUE(back2->next_cursor);
  ASSERT_TRUE(back2->prev_cursor);
  q.cursor = *back2->prev_cursor;
  auto back1 = Search(q);
  ASSERT_TRUE(back1);
  EXPECT_EQ(IdsOf(back1->resources), IdsOf(p1->resources));
  EXPECT_FALSE(back1->prev_cursor);
  ASSERT_TRUE(back1->next_cursor);
  // And forward again from a page reached backward.
  q.cursor = *back1->next_cursor;
  auto again2 = Search(q);
  ASSERT_TRUE(again2);
  EXPECT_EQ(IdsOf(again2->resources), IdsOf(p2->resources));
}

TEST_F(SearchSqlTest, MalformedCursorIsInvalidArgument) {
  Save("Patient", "p1", R"("birthDate":"2000-01-01")");
  for (const char* cursor : {"garbage", "n", "n.", "n.i", "n.ix", "n.i1.i2", "x.i1", "n.s1", "n.q1",
                             "p.d", "n.i1.", "n..i1", "n.i99999999999999999999"}) {
    SearchQuery q;
    q.type = "Patient";
    q.cursor = cursor;
    auto page = Search(q);
    ASSERT_FALSE(page) << cursor;
    EXPECT_EQ(page.error().code(), core::Code::kInvalidArgument) << cursor;
  }
}

TEST_F(SearchSqlTest, CursorOfAnotherSortIsInvalidArgument) {
  for (int i = 0; i < 3; ++i) {
    Save("Patient", fmt::format("p{}", i), fmt::format(R"("birthDate":"200{}-01-01")", i));
  }
  SearchQuery sorted;
  sorted.type = "Patient";
  sorted.sort = {Sort("birthdate", SearchParamType::kDate)};
  sorted.count = 1;
  auto page = Search(sorted);
  ASSERT_TRUE(page && page->next_cursor);
  SearchQuery unsorted;
  unsorted.type = "Patient";
  unsorted.cursor = *page->next_cursor;
  auto wrong = Search(unsorted);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), core::Code::kInvalidArgument);

  unsorted.cursor.clear();
  unsorted.count = 1;
  auto plain = Search(unsorted);
  ASSERT_TRUE(plain && plain->next_cursor);
  sorted.cursor = *plain->next_cursor;
  auto wrong2 = Search(sorted);
  ASSERT_FALSE(wrong2);
  EXPECT_EQ(wrong2.error().code(), core::Code::kInvalidArgument);
}

// ======================================== total and count

TEST_F(SearchSqlTest, TotalCountsEveryMatchOnEveryPage) {
  for (int i = 0; i < 5; ++i) Save("Patient", fmt::format("f{}", i), R"("gender":"female")");
  Save("Patient", "m", R"("gender":"male")");
  SearchQuery q;
  q.type = "Patient";
  q.filters.push_back(Tok("gender", {Code("female")}));
  q.count = 2;
  q.want_total = true;
  auto p1 = Search(q);
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->resources.size(), 2u);
  EXPECT_EQ(p1->total, 5);
  q.cursor = *p1->next_cursor;
  auto p2 = Search(q);
  ASSERT_TRUE(p2);
  EXPECT_EQ(p2->total, 5);
}

TEST_F(SearchSqlTest, CountZeroGivesOnlyTheTotal) {
  for (int i = 0; i < 4; ++i) Save("Patient", fmt::format("f{}", i), R"("gender":"female")");
  SearchQuery q;
  q.type = "Patient";
  q.filters.push_back(Tok("gender", {Code("female")}));
  q.count = 0;
  auto page = Search(q);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->resources.empty());
  EXPECT_FALSE(page->next_cursor);
  EXPECT_EQ(page->total, 4);
}

TEST_F(SearchSqlTest, EmptyResult) {
  SearchQuery q;
  q.type = "Patient";
  q.want_total = true;
  auto page = Search(q);
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->resources.empty());
  EXPECT_FALSE(page->next_cursor);
  EXPECT_FALSE(page->prev_cursor);
  EXPECT_EQ(page->total, 0);
}

// ======================================== _include and _revinclude

class SearchIncludeTest : public SearchSqlTest {
 protected:
  void SetUp() override {
    SearchSqlTest::SetUp();
    Save("Organization", "org1", R"("name":"Acme")");
    Save("Patient", "p1", R"("managingOrganization":{"reference":"Organization/org1"})");
    Save("Patient", "p2", R"("active":true)");
    Save("Group", "g1", R"("type":"person","actual":true)");
    Save("Observation", "o1", R"("status":"final","subject":{"reference":"Patient/p1"})");
    Save("Observation", "o2", R"("status":"final","subject":{"reference":"Patient/p1"})");
    Save("Observation", "o3", R"("status":"final","subject":{"reference":"Patient/p2"})");
    Save("Observation", "o4", R"("status":"final","subject":{"reference":"Group/g1"})");
  }
  SearchPage Run(std::string type, std::vector<Include> includes,
                 std::vector<SearchFilter> filters = {}, size_t max_included = 5000) {
    SearchQuery q;
    q.type = std::move(type);
    q.includes = std::move(includes);
    q.filters = std::move(filters);
    q.max_included = max_included;
    auto page = Search(q);
    EXPECT_TRUE(page) << page.error().ToString();
    return page ? std::move(*page) : SearchPage{};
  }
};

TEST_F(SearchIncludeTest, ForwardIncludesEachTargetOnce) {
  SearchPage page = Run("Observation", {Inc("Observation", "subject")});
  EXPECT_EQ(IdsOf(page.resources), (IdList{"o1", "o2", "o3", "o4"}));
  EXPECT_EQ(Sorted(IdsOf(page.included)), (IdList{"g1", "p1", "p2"}));
  EXPECT_FALSE(page.included_truncated);
}

TEST_F(SearchIncludeTest, ForwardIncludeOfOneTargetType) {
  SearchPage page = Run("Observation", {Inc("Observation", "subject", "Group")});
  EXPECT_EQ(IdsOf(page.included), (IdList{"g1"}));
}

TEST_F(SearchIncludeTest, ForwardIncludeOnlyOfThePageMatches) {
  SearchPage page = Run("Observation", {Inc("Observation", "subject")}, {IdIs({"o3"})});
  EXPECT_EQ(IdsOf(page.included), (IdList{"p2"}));
}

TEST_F(SearchIncludeTest, Wildcard) {
  SearchPage page = Run("Patient", {Inc("Patient", "*")});
  EXPECT_EQ(IdsOf(page.included), (IdList{"org1"}));
}

TEST_F(SearchIncludeTest, IterateFollowsIncludedResources) {
  SearchPage page =
      Run("Observation", {Inc("Observation", "subject"), Iterate(Inc("Patient", "organization"))});
  EXPECT_EQ(Sorted(IdsOf(page.included)), (IdList{"g1", "org1", "p1", "p2"}));
  // Without :iterate, the Patient include applies to the matches (Observations) only.
  SearchPage flat =
      Run("Observation", {Inc("Observation", "subject"), Inc("Patient", "organization")});
  EXPECT_EQ(Sorted(IdsOf(flat.included)), (IdList{"g1", "p1", "p2"}));
}

TEST_F(SearchIncludeTest, ReverseIncludesTheReferrers) {
  SearchPage page = Run("Patient", {Rev(Inc("Observation", "subject"))});
  EXPECT_EQ(IdsOf(page.resources), (IdList{"p1", "p2"}));
  EXPECT_EQ(Sorted(IdsOf(page.included)), (IdList{"o1", "o2", "o3"}));
  SearchPage one = Run("Patient", {Rev(Inc("Observation", "subject"))}, {IdIs({"p1"})});
  EXPECT_EQ(Sorted(IdsOf(one.included)), (IdList{"o1", "o2"}));
}

TEST_F(SearchIncludeTest, ReverseIterate) {
  SearchPage page = Run("Organization", {Rev(Inc("Patient", "organization")),
                                         Iterate(Rev(Inc("Observation", "subject")))});
  EXPECT_EQ(Sorted(IdsOf(page.included)), (IdList{"o1", "o2", "p1"}));
}

TEST_F(SearchIncludeTest, MatchesAreNotIncludedAgain) {
  Save("Observation", "o5", R"("status":"final","hasMember":[{"reference":"Observation/o1"}])");
  SearchPage page = Run("Observation", {Inc("Observation", "has-member")});
  EXPECT_EQ(page.resources.size(), 5u);
  EXPECT_TRUE(page.included.empty()) << IdsOf(page.included).size();
}

TEST_F(SearchIncludeTest, DeletedTargetsAreNotIncluded) {
  Erase("Patient", "p2");
  SearchPage page = Run("Observation", {Inc("Observation", "subject")});
  EXPECT_EQ(Sorted(IdsOf(page.included)), (IdList{"g1", "p1"}));
}

TEST_F(SearchIncludeTest, IterateStopsOnCycles) {
  Save("Patient", "a", R"("link":[{"other":{"reference":"Patient/b"},"type":"seealso"}])");
  Save("Patient", "b", R"("link":[{"other":{"reference":"Patient/a"},"type":"seealso"}])");
  SearchPage page = Run("Patient", {Iterate(Inc("Patient", "link"))}, {IdIs({"a"})});
  EXPECT_EQ(IdsOf(page.resources), (IdList{"a"}));
  EXPECT_EQ(IdsOf(page.included), (IdList{"b"}));
}

TEST_F(SearchIncludeTest, IncludedAreCutOffAtTheMaximum) {
  SearchPage page = Run("Observation", {Inc("Observation", "subject")}, {}, /*max_included=*/2);
  EXPECT_EQ(page.included.size(), 2u);
  EXPECT_TRUE(page.included_truncated);
}

TEST_F(SearchIncludeTest, ReverseIncludedAreCutOffAtTheMaximum) {
  SearchPage page = Run("Patient", {Rev(Inc("Observation", "subject"))}, {}, /*max_included=*/1);
  EXPECT_EQ(page.included.size(), 1u);
  EXPECT_TRUE(page.included_truncated);
}

TEST_F(SearchIncludeTest, CutOffAcrossIncludes) {
  // The first include brings 3; the second would bring one more.
  SearchPage page =
      Run("Observation", {Inc("Observation", "subject"), Iterate(Inc("Patient", "organization"))},
          {}, /*max_included=*/3);
  EXPECT_EQ(page.included.size(), 3u);
  EXPECT_TRUE(page.included_truncated);
}

TEST_F(SearchIncludeTest, ExactlyTheMaximumIsNotTruncated) {
  SearchPage page = Run("Observation", {Inc("Observation", "subject")}, {}, /*max_included=*/3);
  EXPECT_EQ(page.included.size(), 3u);
  EXPECT_FALSE(page.included_truncated);
}

// ======================================== read your writes

TEST_F(SearchSqlTest, SearchSeesEachCreateUpdateAndDeleteAtOnce) {
  for (int i = 0; i < 20; ++i) {
    std::string id = fmt::format("p{}", i);
    Save("Patient", id, R"("gender":"male","name":[{"family":"Smith"}])");
    EXPECT_EQ(Find("Patient", {Tok("gender", {Code("male")}), IdIs({id})}), (IdList{id})) << i;
    Save("Patient", id, R"("gender":"female","name":[{"family":"Jones"}])");
    EXPECT_EQ(Find("Patient", {Tok("gender", {Code("male")}), IdIs({id})}), IdList{}) << i;
    EXPECT_EQ(Find("Patient", {Str("family", {"jones"}), IdIs({id})}), (IdList{id})) << i;
    EXPECT_EQ(Find("Patient", {Str("family", {"smith"}), IdIs({id})}), IdList{}) << i;
    Erase("Patient", id);
    EXPECT_EQ(Find("Patient", Str("family", {"jones"})), IdList{}) << i;
  }
}

TEST_F(SearchSqlTest, SearchSeesEveryAcknowledgedWriteOfConcurrentUnits) {
  constexpr int kUnits = 200;
  std::vector<std::promise<void>> done(kUnits);
  for (int i = 0; i < kUnits; ++i) {
    Unit unit;
    unit.writes.push_back(UpdateWrite("Patient", fmt::format("c{:03}", i),
                                      R"("gender":"unknown","birthDate":"2001-02-03")"));
    store_->Submit(std::move(unit), [&done, i](std::vector<WriteResult> r) {
      EXPECT_TRUE(r.front().status.ok());
      done[static_cast<size_t>(i)].set_value();
    });
  }
  for (auto& d : done) d.get_future().wait();
  SearchQuery q;
  q.type = "Patient";
  q.filters = {Tok("gender", {Code("unknown")}), Date("birthdate", Comparator::kEq, "2001-02")};
  q.count = 0;
  auto page = Search(q);
  ASSERT_TRUE(page) << page.error().ToString();
  EXPECT_EQ(page->total, kUnits);
}

TEST_F(SearchSqlTest, UpdateThatRemovesAValueRemovesItsRows) {
  Save("Patient", "p1", R"("name":[{"given":["Ann","Beth"]}],"birthDate":"2000-01-01")");
  EXPECT_EQ(Find("Patient", Str("given", {"beth"})), (IdList{"p1"}));
  Save("Patient", "p1", R"("name":[{"given":["Ann"]}])");
  EXPECT_EQ(Find("Patient", Str("given", {"beth"})), IdList{});
  EXPECT_EQ(Find("Patient", Str("given", {"ann"})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Missing("birthdate", SearchParamType::kDate, true)), (IdList{"p1"}));
  // Deleted and created again: indexed as new.
  Erase("Patient", "p1");
  Save("Patient", "p1", R"("name":[{"given":["Cleo"]}])");
  EXPECT_EQ(Find("Patient", Str("given", {"ann"})), IdList{});
  EXPECT_EQ(Find("Patient", Str("given", {"cleo"})), (IdList{"p1"}));
}

TEST_F(SearchSqlTest, DeleteAndCreateAgainBeforeTheIndexCatchesUp) {
  // All in the index tail at once: created, deleted and created again...
  Save("Patient", "p1", R"("gender":"male")");
  Erase("Patient", "p1");
  Save("Patient", "p1", R"("gender":"female")");
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")})), IdList{});
  // ...and indexed, then deleted and created again.
  Erase("Patient", "p1");
  Save("Patient", "p1", R"("gender":"other")");
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("other")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), IdList{});
  // Created and deleted before any search: never seen.
  Save("Patient", "p2", R"("gender":"male")");
  Erase("Patient", "p2");
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")})), IdList{});
}

TEST_F(SearchSqlTest, ManyVersionsBetweenSearches) {
  // Several versions of one resource wait in the index tail together.
  for (int v = 0; v < 30; ++v) {
    Save("Patient", "p1", fmt::format(R"("name":[{{"family":"V{}"}}])", v));
    Save("Patient", fmt::format("x{}", v), R"("active":true)");
  }
  Erase("Patient", "x3");
  EXPECT_EQ(Find("Patient", Str("family", {"v29"})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Str("family", {"v1"})), IdList{});
  EXPECT_EQ(Find("Patient", Tok("active", {Code("true")})).size(), 29u);
}

// ======================================== conditional create

Write ConditionalCreate(std::string id, std::string identifier_value) {
  Write w;
  w.operation = Operation::kCreate;
  w.type = "Patient";
  w.id = std::move(id);
  w.resource.type = "Patient";
  w.resource.content =
      fmt::format(R"("identifier":[{{"system":"urn:mrn","value":"{}"}}])", identifier_value);
  SearchQuery q;
  q.type = "Patient";
  q.filters.push_back(Tok("identifier", {Code(std::move(identifier_value), "urn:mrn")}));
  w.if_none_exist = std::move(q);
  return w;
}

TEST_F(SearchSqlTest, ConditionalCreateSeesAWriteThatWasNotSearchedYet) {
  Save("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"42"}])");
  WriteResult existing = CommitOne(*store_, ConditionalCreate("p2", "42"));
  ASSERT_TRUE(existing.status.ok()) << existing.status.ToString();
  EXPECT_EQ(existing.outcome, WriteOutcome::kExisting);
  EXPECT_EQ(existing.record.id, "p1");
  EXPECT_EQ(store_->ReadCurrent("Patient", "p2").error().code(), core::Code::kNotFound);

  WriteResult created = CommitOne(*store_, ConditionalCreate("p3", "43"));
  ASSERT_TRUE(created.status.ok()) << created.status.ToString();
  EXPECT_EQ(created.outcome, WriteOutcome::kCreated);
  EXPECT_EQ(created.record.id, "p3");
}

TEST_F(SearchSqlTest, ConditionalCreateFollowsUpdatesOfTheIndexedValue) {
  Save("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"42"}])");
  Save("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"99"}])");
  WriteResult r = CommitOne(*store_, ConditionalCreate("p2", "42"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.outcome, WriteOutcome::kCreated);
  WriteResult again = CommitOne(*store_, ConditionalCreate("p3", "99"));
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.outcome, WriteOutcome::kExisting);
  EXPECT_EQ(again.record.id, "p1");
}

TEST_F(SearchSqlTest, ConditionalCreateMatchingTwoFails) {
  Save("Patient", "p1", R"("identifier":[{"system":"urn:mrn","value":"42"}])");
  Save("Patient", "p2", R"("identifier":[{"system":"urn:mrn","value":"42"}])");
  WriteResult r = CommitOne(*store_, ConditionalCreate("p3", "42"));
  EXPECT_EQ(r.status.code(), core::Code::kPreconditionFailed);
  EXPECT_EQ(store_->ReadCurrent("Patient", "p3").error().code(), core::Code::kNotFound);
}

TEST_F(SearchSqlTest, ConcurrentConditionalCreatesCreateOnce) {
  constexpr int kUnits = 8;
  std::vector<std::promise<WriteResult>> results(kUnits);
  for (int i = 0; i < kUnits; ++i) {
    Unit unit;
    unit.writes.push_back(ConditionalCreate(fmt::format("c{}", i), "77"));
    store_->Submit(std::move(unit), [&results, i](std::vector<WriteResult> r) {
      results[static_cast<size_t>(i)].set_value(std::move(r.front()));
    });
  }
  int created = 0, existing = 0;
  std::set<std::string> ids;
  for (auto& p : results) {
    WriteResult r = p.get_future().get();
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    if (r.outcome == WriteOutcome::kCreated) ++created;
    if (r.outcome == WriteOutcome::kExisting) ++existing;
    ids.insert(r.record.id);
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(existing, kUnits - 1);
  EXPECT_EQ(ids.size(), 1u);
}

// ======================================== catch-up and rebuild

TEST_F(SearchSqlTest, CatchUpIndexesWhatTheWatermarkMissed) {
  Save("Patient", "p1", R"("name":[{"family":"Alpha"}],"gender":"male")");
  Save("Patient", "p2", R"("name":[{"family":"Bravo"}],"gender":"female")");
  ASSERT_EQ(Find("Patient", Str("family", {"alpha"})), (IdList{"p1"}));  // indexed up to seq 2
  Close();
  ASSERT_EQ(Meta("indexed_seq"), "2");
  std::string save;
  for (const char* t : kIndexTables)
    save += fmt::format("CREATE TABLE bak_{0} AS SELECT * FROM {0};", t);
  Sql(save);

  Open();
  Save("Patient", "p1", R"("name":[{"family":"Charlie"}],"gender":"male")");
  Save("Patient", "p3", R"("name":[{"family":"Delta"}],"gender":"female")");
  Erase("Patient", "p2");
  ASSERT_EQ(Find("Patient", Str("family", {"charlie"})), (IdList{"p1"}));
  Close();
  ASSERT_EQ(Meta("indexed_seq"), "5");

  // Back to the index as it was at seq 2: as if the process died before indexing 3..5.
  std::string restore = "BEGIN;";
  for (const char* t : kIndexTables) {
    restore += fmt::format(
        "DELETE FROM {0}; INSERT INTO {0} SELECT * FROM bak_{0}; DROP TABLE bak_{0};", t);
  }
  restore += "UPDATE medulla_meta SET value = '2' WHERE key = 'indexed_seq'; COMMIT;";
  Sql(restore);

  Open();
  EXPECT_EQ(Find("Patient", Str("family", {"charlie"})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Str("family", {"alpha"})), IdList{});
  EXPECT_EQ(Find("Patient", Str("family", {"bravo"})), IdList{});
  EXPECT_EQ(Find("Patient", Str("family", {"delta"})), (IdList{"p3"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p3"}));
  Close();
  EXPECT_EQ(Meta("indexed_seq"), "5");
}

TEST_F(SearchSqlTest, CatchUpFromAnEmptyIndex) {
  Save("Patient", "p1", R"("gender":"male")");
  Save("Patient", "p2", R"("gender":"female")");
  Save("Patient", "p1", R"("gender":"other")");
  Close();
  std::string wipe = "BEGIN;";
  for (const char* t : kIndexTables) wipe += fmt::format("DELETE FROM {};", t);
  wipe += "UPDATE medulla_meta SET value = '0' WHERE key = 'indexed_seq'; COMMIT;";
  Sql(wipe);
  Open();
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("other")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")})), IdList{});
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p2"}));
}

TEST_F(SearchSqlTest, RebuildWhenTheFingerprintDiffers) {
  Save("Patient", "p1", R"("gender":"male")");
  Save("Patient", "p2", R"("gender":"female")");
  Save("Patient", "p3", R"("gender":"male")");
  Erase("Patient", "p3");
  ASSERT_EQ(Find("Patient", Tok("gender", {Code("male")})), (IdList{"p1"}));
  Close();
  std::optional<std::string> fingerprint = Meta("search_index");
  ASSERT_TRUE(fingerprint);
  // A stale index, built from other definitions.
  Sql("UPDATE medulla_meta SET value = '0:stale' WHERE key = 'search_index';"
      "DELETE FROM ix_token; DELETE FROM ix_present;"
      "INSERT INTO ix_token(pid, code, rk, system) SELECT pid, 'male', 2, '' FROM search_params "
      "WHERE name = 'Patient.gender';");
  Open();
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")})), (IdList{"p1"}));
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p2"}));
  EXPECT_EQ(Find("Patient", Missing("gender", SearchParamType::kToken, false)),
            (IdList{"p1", "p2"}));
  Close();
  EXPECT_EQ(Meta("search_index"), fingerprint);
  EXPECT_EQ(Meta("indexed_seq"), "4");
}

TEST_F(SearchSqlTest, RebuildOnRequestReportsProgress) {
  for (int i = 0; i < 5; ++i) Save("Patient", fmt::format("p{}", i), R"("gender":"male")");
  Erase("Patient", "p4");
  Close();
  Sql("DELETE FROM ix_token;");
  SqliteStoreOptions options;
  options.rebuild_search_index = true;
  int64_t last_done = -1, last_total = -1;
  options.reindex_progress = [&](int64_t done, int64_t total) {
    last_done = done;
    last_total = total;
  };
  Open(options);
  EXPECT_EQ(last_done, 4);
  EXPECT_EQ(last_total, 4);
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("male")})), (IdList{"p0", "p1", "p2", "p3"}));
}

TEST_F(SearchSqlTest, IndexSurvivesReopen) {
  Save("Patient", "p1", R"("gender":"male")");
  Save("Patient", "p2", R"("gender":"female")");
  Close();  // nothing searched: the index tail is flushed on close or caught up on open
  Open();
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p2"}));
  Save("Patient", "p3", R"("gender":"female")");
  EXPECT_EQ(Find("Patient", Tok("gender", {Code("female")})), (IdList{"p2", "p3"}));
}

// ======================================== failed batches

// When a batch fails (a full disk), the index work that rode along in its transaction is gone
// too: the index must still describe exactly the versions that are stored.
class SearchFullDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::RegisterFaultyVfs();
    SqliteStoreOptions options;
    options.data_dir = dir_.path();
    options.vfs = testing::kFaultyVfsName;
    options.cache_size_kib = 64;  // a small cache spills pages mid-transaction
    options.read_cache_bytes = 0;
    auto s = SqliteStore::Open(options, metrics_, clock_);
    ASSERT_TRUE(s) << s.error().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override { testing::SetWritesFail(false); }

  testing::TempDir dir_;
  core::MetricsRegistry metrics_;
  SteppingClock clock_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SearchFullDiskTest, IndexMatchesTheStoredVersionsAfterFailedBatches) {
  const std::string big(20000, 'x');
  auto patient = [&](const char* gender) {
    return fmt::format(R"("gender":"{}","text":{{"status":"generated","div":"{}"}})", gender, big);
  };
  // Written but (most likely) not indexed yet when the disk fills.
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(CommitOne(*store_, UpdateWrite("Patient", fmt::format("p{}", i), patient("male")))
                    .status.ok());
  }
  testing::SetWritesFail(true);
  std::vector<std::thread> writers;
  for (int t = 0; t < 16; ++t) {
    writers.emplace_back([&, t] {
      CommitOne(*store_, UpdateWrite("Patient", fmt::format("p{}", t % 8), patient("female")));
    });
  }
  for (auto& w : writers) w.join();
  testing::SetWritesFail(false);
  ASSERT_TRUE(CommitOne(*store_, UpdateWrite("Patient", "p0", patient("other"))).status.ok());

  std::map<std::string, IdList> by_gender;
  for (int i = 0; i < 8; ++i) {
    std::string id = fmt::format("p{}", i);
    auto current = store_->ReadCurrent("Patient", id);
    ASSERT_TRUE(current) << id;
    for (const char* g : {"male", "female", "other"}) {
      if (current->body.find(fmt::format(R"("gender":"{}")", g)) != std::string::npos)
        by_gender[g].push_back(id);
    }
  }
  for (const char* g : {"male", "female", "other"}) {
    SearchQuery q;
    q.type = "Patient";
    q.filters.push_back(Tok("gender", {Code(g)}));
    auto page = store_->Search(q);
    ASSERT_TRUE(page) << page.error().ToString();
    EXPECT_EQ(IdsOf(page->resources), by_gender[g]) << g;
  }
}

}  // namespace
}  // namespace medulla::store::sqlite
