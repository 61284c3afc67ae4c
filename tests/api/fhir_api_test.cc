// FhirApi driven directly with plain requests (no sockets), over a real SQLite store.
#include "api/fhir_api.h"

#include <gtest/gtest.h>

#include <future>

#include "json/parse.h"
#include "store/sqlite/sqlite_store.h"
#include "testing/record_fixture.h"

namespace medulla::api {
namespace {

// Captures the one response a handler sends, whichever thread sends it.
class CapturingSink final : public http::Responder::Sink {
 public:
  void Complete(http::Response r) override { promise_.set_value(std::move(r)); }
  http::Response Get() { return future_.get(); }

 private:
  std::promise<http::Response> promise_;
  std::future<http::Response> future_ = promise_.get_future();
};

class FhirApiTest : public testing::RecordFixture {
 protected:
  void SetUp() override {
    RecordFixture::SetUp();
    if (HasFatalFailure()) return;
    api_ = std::make_unique<FhirApi>(*records_, *store_, metrics_, ApiOptions{"", "test"});
    api_->SetReady(true);
  }

  http::Response Call(std::string method, std::string target, std::string body = "",
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    req.headers = std::move(headers);
    req.headers.emplace_back("host", "fhir.test");
    auto sink = std::make_shared<CapturingSink>();
    api_->Handle(req, http::Responder(sink));
    return sink->Get();
  }

  static std::string Header(const http::Response& r, std::string_view name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }

  std::string CreatePatient(
      const std::string& body = R"({"resourceType":"Patient","active":true})") {
    auto r = Call("POST", "/Patient", body, {{"content-type", "application/fhir+json"}});
    EXPECT_EQ(r.status, 201) << r.body;
    auto doc = json::Parse(r.body);
    return doc ? std::string(doc->root()->StringOr("id")) : "";
  }

  std::unique_ptr<FhirApi> api_;
};

TEST_F(FhirApiTest, CreateAnswers201WithLocationAndETag) {
  auto r = Call("POST", "/Patient", R"({"resourceType":"Patient"})",
                {{"content-type", "application/fhir+json"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Header(r, "ETag"), "W/\"1\"");
  EXPECT_TRUE(Header(r, "Location").starts_with("http://fhir.test/Patient/"));
  EXPECT_TRUE(Header(r, "Location").ends_with("/_history/1"));
  EXPECT_FALSE(Header(r, "Last-Modified").empty());
  EXPECT_EQ(r.content_type, "application/fhir+json; charset=utf-8");
}

TEST_F(FhirApiTest, ReadVreadAndErrors) {
  std::string id = CreatePatient();
  EXPECT_EQ(Call("GET", "/Patient/" + id).status, 200);
  EXPECT_EQ(Call("GET", "/Patient/" + id + "/_history/1").status, 200);
  EXPECT_EQ(Call("GET", "/Patient/" + id + "/_history/2").status, 404);
  auto missing = Call("GET", "/Patient/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("OperationOutcome"), std::string::npos);
  EXPECT_EQ(Call("GET", "/Flavour/1").status, 404);
  EXPECT_EQ(Call("GET", "/Patient/bad$id").status, 400);
  EXPECT_EQ(Call("PATCH", "/Patient/" + id).status, 405);
}

TEST_F(FhirApiTest, StaleIfMatchIs412) {
  std::string id = CreatePatient();
  std::string body = R"({"resourceType":"Patient","id":")" + id + R"(","active":false})";
  EXPECT_EQ(Call("PUT", "/Patient/" + id, body, {{"if-match", "W/\"1\""}}).status, 200);
  EXPECT_EQ(Call("PUT", "/Patient/" + id, body, {{"if-match", "W/\"1\""}}).status, 412);
  EXPECT_EQ(Call("PUT", "/Patient/" + id, body, {{"if-match", "garbage"}}).status, 400);
}

TEST_F(FhirApiTest, DeleteThenReadIsGone) {
  std::string id = CreatePatient();
  EXPECT_EQ(Call("DELETE", "/Patient/" + id).status, 204);
  EXPECT_EQ(Call("GET", "/Patient/" + id).status, 410);
  auto history = Call("GET", "/Patient/" + id + "/_history");
  EXPECT_EQ(history.status, 200);
  EXPECT_NE(history.body.find(R"("method":"DELETE")"), std::string::npos);
}

TEST_F(FhirApiTest, HistoryShowsAPutThatRecreatedAs201) {
  std::string id = CreatePatient();
  EXPECT_EQ(Call("DELETE", "/Patient/" + id).status, 204);
  std::string body = R"({"resourceType":"Patient","id":")" + id + R"("})";
  EXPECT_EQ(Call("PUT", "/Patient/" + id, body).status, 201);
  auto history = Call("GET", "/Patient/" + id + "/_history");
  auto doc = json::Parse(history.body);
  ASSERT_TRUE(doc);
  const json::Value* newest = doc->root()->Find("entry")->items()[0];
  EXPECT_EQ(newest->Find("request")->StringOr("method"), "PUT");
  EXPECT_EQ(newest->Find("response")->StringOr("status"), "201 Created");
}

TEST_F(FhirApiTest, HostHeaderCannotInjectIntoLinks) {
  http::Request req;
  req.method = "POST";
  req.target = "/Patient";
  req.body = R"({"resourceType":"Patient"})";
  req.headers = {{"host", "evil.example/\"><script>"}};
  auto sink = std::make_shared<CapturingSink>();
  api_->Handle(req, http::Responder(sink));
  auto r = sink->Get();
  EXPECT_EQ(r.status, 201);
  EXPECT_TRUE(Header(r, "Location").starts_with("http://localhost/Patient/"));
}

TEST_F(FhirApiTest, SelfLinkOfALaterPageCarriesItsCursor) {
  for (int i = 0; i < 3; ++i) CreatePatient();
  auto first = json::Parse(Call("GET", "/Patient?_count=1").body);
  ASSERT_TRUE(first);
  std::string next;
  for (const json::Value* l : first->root()->Find("link")->items())
    if (l->StringOr("relation") == "next") next = std::string(l->StringOr("url"));
  auto second = json::Parse(Call("GET", next.substr(std::string("http://fhir.test").size())).body);
  ASSERT_TRUE(second);
  std::string self;
  for (const json::Value* l : second->root()->Find("link")->items())
    if (l->StringOr("relation") == "self") self = std::string(l->StringOr("url"));
  EXPECT_EQ(self, next);
}

TEST_F(FhirApiTest, TransactionRewritesReferencesAndAnswersInEntryOrder) {
  auto r = Call("POST", "/", R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Observation","status":"final","code":{"text":"hr"},
      "subject":{"reference":"urn:uuid:p"}},"request":{"method":"POST","url":"Observation"}},
    {"fullUrl":"urn:uuid:p","resource":{"resourceType":"Patient"},
      "request":{"method":"POST","url":"Patient"}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = json::Parse(r.body);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->root()->StringOr("type"), "transaction-response");
  auto entries = doc->root()->Find("entry")->items();
  ASSERT_EQ(entries.size(), 2u);
  const json::Value* obs = entries[0]->Find("resource");
  const json::Value* pat = entries[1]->Find("resource");
  ASSERT_TRUE(obs && pat);
  EXPECT_EQ(obs->StringOr("resourceType"), "Observation");
  EXPECT_EQ(obs->Find("subject")->StringOr("reference"),
            "Patient/" + std::string(pat->StringOr("id")));
  EXPECT_EQ(entries[1]->Find("response")->StringOr("status"), "201 Created");
}

TEST_F(FhirApiTest, FailingTransactionLeavesNoTrace) {
  // 49 valid entries, then one that fails validation: nothing may be stored.
  std::string body = R"({"resourceType":"Bundle","type":"transaction","entry":[)";
  for (int i = 0; i < 49; ++i) {
    body +=
        R"({"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},)";
  }
  body += R"({"resource":{"resourceType":"Patient","gender":"sometimes"},)"
          R"("request":{"method":"POST","url":"Patient"}}]})";
  auto r = Call("POST", "/", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("Bundle.entry[49]"), std::string::npos) << r.body;
  EXPECT_EQ(store_->Stats().last_seq, 0);
  // Touching one resource twice is refused before anything is written.
  std::string id = CreatePatient();
  std::string twice = R"({"resourceType":"Bundle","type":"transaction","entry":[
    {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
    {"request":{"method":"DELETE","url":"Patient/)" +
                      id + R"("}},
    {"request":{"method":"DELETE","url":"Patient/)" +
                      id + R"("}}]})";
  EXPECT_EQ(Call("POST", "/", twice).status, 400);
  EXPECT_EQ(store_->Stats().last_seq, 1);
}

TEST_F(FhirApiTest, BatchEntriesSucceedOrFailAlone) {
  auto r = Call("POST", "/", R"({"resourceType":"Bundle","type":"batch","entry":[
    {"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
    {"resource":{"resourceType":"Patient","gender":"sometimes"},
      "request":{"method":"POST","url":"Patient"}},
    {"request":{"method":"DELETE","url":"Patient/never"}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto doc = json::Parse(r.body);
  ASSERT_TRUE(doc);
  auto entries = doc->root()->Find("entry")->items();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0]->Find("response")->StringOr("status"), "201 Created");
  EXPECT_EQ(entries[1]->Find("response")->StringOr("status"), "400 Bad Request");
  EXPECT_NE(r.body.find("Bundle.entry[1].resource.gender"), std::string::npos) << r.body;
  EXPECT_EQ(entries[2]->Find("response")->StringOr("status"), "204 No Content");
  EXPECT_EQ(store_->Stats().last_seq, 1);
}

TEST_F(FhirApiTest, PreferReturnMinimalAndOperationOutcome) {
  auto minimal =
      Call("POST", "/Patient", R"({"resourceType":"Patient"})", {{"prefer", "return=minimal"}});
  EXPECT_EQ(minimal.status, 201);
  EXPECT_TRUE(minimal.body.empty());
  auto outcome = Call("POST", "/Patient", R"({"resourceType":"Patient"})",
                      {{"prefer", "return=OperationOutcome"}});
  EXPECT_NE(outcome.body.find(R"("resourceType":"OperationOutcome")"), std::string::npos);
}

TEST_F(FhirApiTest, OnlyJsonIsSpoken) {
  EXPECT_EQ(Call("GET", "/metadata?_format=xml").status, 406);
  EXPECT_EQ(Call("GET", "/metadata", "", {{"accept", "application/fhir+xml"}}).status, 406);
  EXPECT_EQ(Call("GET", "/metadata", "", {{"accept", "application/fhir+json"}}).status, 200);
  EXPECT_EQ(
      Call("POST", "/Patient", "<Patient/>", {{"content-type", "application/fhir+xml"}}).status,
      415);
}

TEST_F(FhirApiTest, ValidationErrorsNameThePath) {
  auto r = Call("POST", "/Patient", R"({"resourceType":"Patient","birthDate":"03/02/1958"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find(R"("expression":["Patient.birthDate"])"), std::string::npos) << r.body;
}

TEST_F(FhirApiTest, SearchPagesWithNextLinks) {
  for (int i = 0; i < 5; ++i) CreatePatient();
  auto page = Call("GET", "/Patient?_count=2");
  ASSERT_EQ(page.status, 200);
  auto doc = json::Parse(page.body);
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->root()->Find("entry")->size(), 2u);
  std::string next;
  for (const json::Value* link : doc->root()->Find("link")->items()) {
    if (link->StringOr("relation") == "next") next = std::string(link->StringOr("url"));
  }
  ASSERT_TRUE(next.starts_with("http://fhir.test/Patient?"));
  EXPECT_EQ(Call("GET", next.substr(std::string("http://fhir.test").size())).status, 200);
}

TEST_F(FhirApiTest, MetadataListsEveryResourceType) {
  auto r = Call("GET", "/metadata");
  ASSERT_EQ(r.status, 200);
  auto doc = json::Parse(r.body);
  ASSERT_TRUE(doc);
  const json::Value* rest = doc->root()->Find("rest")->items()[0];
  EXPECT_EQ(rest->Find("resource")->size(), fhir::Definitions::Embedded().ResourceTypes().size());
}

TEST_F(FhirApiTest, OperationalEndpoints) {
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
  EXPECT_EQ(Call("GET", "/readyz").status, 200);
  api_->SetReady(false);
  EXPECT_EQ(Call("GET", "/readyz").status, 503);
  CreatePatient();
  auto metrics = Call("GET", "/metrics");
  EXPECT_NE(metrics.body.find("medulla_store_commits_total 1"), std::string::npos);
}

}  // namespace
}  // namespace medulla::api
