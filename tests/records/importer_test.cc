#include "records/importer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "json/parse.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/record_fixture.h"

namespace medulla::records {
namespace {

class ImporterTest : public testing::RecordFixture {
 protected:
  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
};

constexpr const char* kTransaction = R"({"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:obs","resource":{"resourceType":"Observation","status":"final",
   "code":{"text":"hr"},"subject":{"reference":"urn:uuid:pat"}},
  "request":{"method":"POST","url":"Observation"}},
 {"fullUrl":"urn:uuid:pat","resource":{"resourceType":"Patient","active":true},
  "request":{"method":"POST","url":"Patient"}}]})";

TEST_F(ImporterTest, TransactionReferencesAreRewrittenToNewIds) {
  auto doc = json::Parse(kTransaction);
  ASSERT_TRUE(doc);
  auto unit = BundleToUnit(*records_, *doc);
  ASSERT_TRUE(unit) << unit.error().ToString();
  ASSERT_EQ(unit->writes.size(), 2u);
  const store::Write& obs =
      unit->writes[0].type == "Observation" ? unit->writes[0] : unit->writes[1];
  const store::Write& pat = unit->writes[0].type == "Patient" ? unit->writes[0] : unit->writes[1];
  EXPECT_NE(obs.resource.content.find("\"Patient/" + pat.id + "\""), std::string::npos)
      << obs.resource.content;
  EXPECT_EQ(obs.resource.content.find("urn:uuid"), std::string::npos);
}

TEST_F(ImporterTest, ImportsBundleAndNdjsonFiles) {
  Importer importer(*records_, *store_);
  ASSERT_TRUE(importer.ImportFile(WriteFile("t.json", kTransaction)).ok());
  ASSERT_TRUE(importer
                  .ImportFile(WriteFile("r.ndjson",
                                        "{\"resourceType\":\"Patient\",\"id\":\"keep-me\"}\n\n"
                                        "{\"resourceType\":\"Patient\",\"active\":false}\n"))
                  .ok());
  ASSERT_TRUE(importer.Finish().ok());
  EXPECT_EQ(importer.stats().resources, 4u);
  EXPECT_EQ(importer.stats().by_type.at("Patient"), 3u);
  EXPECT_TRUE(store_->ReadCurrent("Patient", "keep-me"));
}

TEST_F(ImporterTest, InvalidEntryFailsWholeBundleWithItsPath) {
  std::string bad = kTransaction;
  bad.replace(bad.find("\"active\":true"), 13, "\"active\":\"yes\"");
  Importer importer(*records_, *store_);
  core::Status s = importer.ImportFile(WriteFile("bad.json", bad));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Bundle.entry[1]"), std::string::npos) << s.message();
  ASSERT_TRUE(importer.Finish().ok());
  EXPECT_EQ(store_->Stats().last_seq, 0);  // nothing of the bundle was stored
}

TEST_F(ImporterTest, MalformedJsonIsReportedWithFileName) {
  Importer importer(*records_, *store_);
  core::Status s = importer.ImportFile(WriteFile("broken.json", "{\"resourceType\":"));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("broken.json"), std::string::npos);
}

}  // namespace
}  // namespace medulla::records
