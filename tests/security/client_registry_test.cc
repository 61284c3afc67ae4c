// The registered clients of the built-in token endpoint: validation, the clients.json format,
// the file, and the registry that re-reads it when it changes.
#include "security/client_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "security/security_fixtures.h"
#include "testing/temp_dir.h"

namespace medulla::security {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const SigningKey& ClientKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}
const SigningKey& OtherClientKey() {
  static const SigningKey key = SigningKey::Generate(Algorithm::kES256).value();
  return key;
}

using testing::KeysOf;

RegisteredClient Gateway() {
  RegisteredClient c;
  c.client_id = "gateway-1";
  c.name = "Ward 3 \"gateway\"";
  c.role = Role::kDevice;
  c.scope = "patient/Observation.crs";
  c.patient = "p1";
  c.organization = "org-1";
  c.keys = KeysOf({&ClientKey()});
  return c;
}

RegisteredClient Ehr() {
  RegisteredClient c;
  c.client_id = "hospital.ehr:prod_2";
  c.role = Role::kClinician;
  c.scope = "user/*.rs user/Observation.cruds";
  c.organization = "org-2";
  c.keys = KeysOf({&ClientKey(), &OtherClientKey()});
  return c;
}

std::vector<std::string> Kids(const KeySet& keys) {
  std::vector<std::string> out;
  for (const PublicKey& k : keys.keys()) out.push_back(k.kid());
  return out;
}

void ExpectSameClient(const RegisteredClient& got, const RegisteredClient& want) {
  EXPECT_EQ(got.client_id, want.client_id);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.role, want.role);
  EXPECT_EQ(got.scope, want.scope);
  EXPECT_EQ(got.patient, want.patient);
  EXPECT_EQ(got.organization, want.organization);
  EXPECT_EQ(Kids(got.keys), Kids(want.keys));
  EXPECT_EQ(got.keys.ToJwks(), want.keys.ToJwks());
}

// One client's JSON with `jwks` as given.
std::string ClientsJson(std::string_view jwks, std::string_view extra = "") {
  return std::string(R"({"clients":[{"client_id":"c1","role":"clinician","scope":"user/*.rs",)") +
         std::string(extra) + R"("jwks":)" + std::string(jwks) + "}]}";
}

void WriteText(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

// ---------------------------------------------------------------------------------------------
// ValidateClient.

TEST(ValidateClientTest, AcceptsWellFormedClients) {
  EXPECT_TRUE(ValidateClient(Gateway()).ok());
  EXPECT_TRUE(ValidateClient(Ehr()).ok());
}

TEST(ValidateClientTest, ClientIdSyntax) {
  for (std::string id : {std::string("a"), std::string(128, 'x'), std::string("A-z_0.9:x")}) {
    RegisteredClient c = Ehr();
    c.client_id = id;
    EXPECT_TRUE(ValidateClient(c).ok()) << id;
  }
  for (std::string id :
       {std::string(""), std::string(129, 'x'), std::string("has space"), std::string("slash/no"),
        std::string("quote\""), std::string("caf\xc3\xa9"), std::string("new\nline")}) {
    RegisteredClient c = Ehr();
    c.client_id = id;
    core::Status s = ValidateClient(c);
    EXPECT_EQ(s.code(), core::Code::kInvalidArgument) << id;
    EXPECT_THAT(s.message(), HasSubstr("client id")) << id;
  }
}

TEST(ValidateClientTest, DeviceAndPatientClientsNeedAPatient) {
  RegisteredClient device = Gateway();
  device.patient = "";
  core::Status s = ValidateClient(device);
  EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("patient"));

  RegisteredClient patient = Gateway();
  patient.role = Role::kPatient;
  patient.scope = "patient/*.rs";
  patient.patient = "";
  EXPECT_EQ(ValidateClient(patient).code(), core::Code::kInvalidArgument);
  patient.patient = "p9";
  EXPECT_TRUE(ValidateClient(patient).ok());
}

TEST(ValidateClientTest, ClinicianNeedsNoPatient) {
  RegisteredClient c = Ehr();
  c.patient = "";
  EXPECT_TRUE(ValidateClient(c).ok());
}

TEST(ValidateClientTest, ClientWithoutKeysIsRefused) {
  RegisteredClient c = Ehr();
  c.keys = KeySet();
  core::Status s = ValidateClient(c);
  EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("key"));
}

TEST(ValidateClientTest, ScopeOutsideTheRoleIsRefused) {
  RegisteredClient device = Gateway();
  device.scope = "user/*.rs system/*.rs";
  core::Status s = ValidateClient(device);
  EXPECT_EQ(s.code(), core::Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("grants nothing"));

  RegisteredClient patient = Gateway();
  patient.role = Role::kPatient;
  patient.scope = "patient/*.cud";  // patients only read
  EXPECT_EQ(ValidateClient(patient).code(), core::Code::kInvalidArgument);

  RegisteredClient dispatcher = Ehr();
  dispatcher.role = Role::kDispatcher;
  dispatcher.scope = "user/Observation.rs";
  EXPECT_EQ(ValidateClient(dispatcher).code(), core::Code::kInvalidArgument);

  RegisteredClient clinician = Ehr();
  clinician.scope = "system/*.rs";  // no system/ scopes for a clinician
  EXPECT_EQ(ValidateClient(clinician).code(), core::Code::kInvalidArgument);

  RegisteredClient nothing = Ehr();
  nothing.scope = "";
  EXPECT_EQ(ValidateClient(nothing).code(), core::Code::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// ParseClients / SerializeClients.

TEST(ClientsJsonTest, SerializeParseRoundTrip) {
  std::vector<RegisteredClient> clients = {Gateway(), Ehr()};
  std::string text = SerializeClients(clients);
  auto parsed = ParseClients(text);
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  ASSERT_EQ(parsed->size(), 2u);
  ExpectSameClient((*parsed)[0], clients[0]);
  ExpectSameClient((*parsed)[1], clients[1]);
  EXPECT_EQ(SerializeClients(*parsed), text);
}

TEST(ClientsJsonTest, SerializedFileHoldsNoPrivateKey) {
  std::string text = SerializeClients({Gateway()});
  EXPECT_THAT(text, ::testing::Not(HasSubstr("\"d\"")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("PRIVATE")));
}

TEST(ClientsJsonTest, EmptyListIsNoClients) {
  auto parsed = ParseClients(R"({"clients":[]})");
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_TRUE(parsed->empty());
  auto again = ParseClients(SerializeClients({}));
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_TRUE(again->empty());
}

TEST(ClientsJsonTest, ParsesARoleByItsLongName) {
  auto parsed = ParseClients(ClientsJson(KeysOf({&ClientKey()}).ToJwks()));
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  std::string text = R"({"clients":[{"client_id":"c1","role":"public-health-analyst",)"
                     R"("scope":"user/MeasureReport.rs","jwks":)" +
                     KeysOf({&ClientKey()}).ToJwks() + "}]}";
  auto analyst = ParseClients(text);
  ASSERT_TRUE(analyst) << analyst.error().ToString();
  EXPECT_EQ((*analyst)[0].role, Role::kAnalyst);
}

TEST(ClientsJsonTest, DuplicateIdsAreRefused) {
  RegisteredClient again = Ehr();
  again.keys = KeysOf({&OtherClientKey()});
  auto parsed = ParseClients(SerializeClients({Ehr(), Gateway(), again}));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(parsed.error().message(), HasSubstr("twice"));
}

TEST(ClientsJsonTest, PrivateKeyMembersInTheJwksAreRefused) {
  std::string jwk = ClientKey().Public().ToJwk();
  ASSERT_EQ(jwk.front(), '{');
  // The same document without the private member is fine: only "d" makes the difference.
  ASSERT_TRUE(ParseClients(ClientsJson("{\"keys\":[" + jwk + "]}")));
  std::string with_d = "{\"d\":\"" + Base64UrlEncode(RandomBytes(32)) + "\"," + jwk.substr(1);
  auto parsed = ParseClients(ClientsJson("{\"keys\":[" + with_d + "]}"));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), core::Code::kInvalidArgument);
}

TEST(ClientsJsonTest, ClientsAreValidatedWhenParsed) {
  // A device without its patient.
  std::string text = R"({"clients":[{"client_id":"dev","role":"device",)"
                     R"("scope":"patient/Observation.crs","jwks":)" +
                     KeysOf({&ClientKey()}).ToJwks() + "}]}";
  auto parsed = ParseClients(text);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), core::Code::kInvalidArgument);
  EXPECT_THAT(parsed.error().message(), HasSubstr("patient"));
}

TEST(ClientsJsonTest, JwksWithoutUsableKeysIsRefused) {
  auto parsed = ParseClients(ClientsJson(R"({"keys":[]})"));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code(), core::Code::kInvalidArgument);
}

TEST(ClientsJsonTest, MalformedDocumentsAreRefused) {
  std::string jwks = KeysOf({&ClientKey()}).ToJwks();
  for (std::string text : {
           std::string(""),
           std::string("{not json"),
           std::string("[]"),
           std::string(R"({"clients":{}})"),
           std::string(R"({"client":[]})"),
           std::string(R"({"clients":[1]})"),
           ClientsJson(jwks).replace(ClientsJson(jwks).find("clinician"), 9, "superuser"),
           std::string(
               R"({"clients":[{"client_id":"c1","role":"clinician","scope":"user/*.rs"}]})"),
           ClientsJson("[]"),
       }) {
    auto parsed = ParseClients(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().code(), core::Code::kInvalidArgument) << text;
  }
}

// ---------------------------------------------------------------------------------------------
// The file.

class ClientsFileTest : public ::testing::Test {
 protected:
  std::string Path() const { return ClientsFilePath(dir_.path()); }
  medulla::testing::TempDir dir_;
};

TEST_F(ClientsFileTest, PathIsInTheDataDirectory) {
  EXPECT_EQ(ClientsFilePath("/var/lib/medulla"), "/var/lib/medulla/clients.json");
}

TEST_F(ClientsFileTest, MissingFileIsNoClients) {
  auto loaded = LoadClientsFile(Path());
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  EXPECT_TRUE(loaded->empty());
}

TEST_F(ClientsFileTest, SaveLoadRoundTrip) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway(), Ehr()}).ok());
  auto loaded = LoadClientsFile(Path());
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  ASSERT_EQ(loaded->size(), 2u);
  ExpectSameClient((*loaded)[0], Gateway());
  ExpectSameClient((*loaded)[1], Ehr());
}

TEST_F(ClientsFileTest, SavedFileIsPrivateToItsOwner) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway()}).ok());
  fs::perms perms = fs::status(Path()).permissions();
  EXPECT_EQ(perms & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(ClientsFileTest, SaveReplacesTheFileAndLeavesNoTemporary) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway(), Ehr()}).ok());
  ASSERT_TRUE(SaveClientsFile(Path(), {Ehr()}).ok());
  auto loaded = LoadClientsFile(Path());
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].client_id, Ehr().client_id);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"clients.json"});
}

TEST_F(ClientsFileTest, SaveIntoAMissingDirectoryFails) {
  core::Status s = SaveClientsFile(dir_.path() + "/no/such/clients.json", {Gateway()});
  EXPECT_EQ(s.code(), core::Code::kInternal);
}

TEST_F(ClientsFileTest, CorruptFileIsAnInternalError) {
  WriteText(Path(), "{\"clients\":[");
  auto loaded = LoadClientsFile(Path());
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), core::Code::kInternal);
}

// ---------------------------------------------------------------------------------------------
// ClientRegistry.

TEST_F(ClientsFileTest, RegistryOverAMissingFileHasNoClients) {
  ClientRegistry registry(Path());
  auto found = registry.Find("gateway-1");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), core::Code::kNotFound);
}

TEST_F(ClientsFileTest, RegistryFindsRegisteredClients) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway(), Ehr()}).ok());
  ClientRegistry registry(Path());
  auto gateway = registry.Find("gateway-1");
  ASSERT_TRUE(gateway) << gateway.error().ToString();
  ExpectSameClient(**gateway, Gateway());
  auto ehr = registry.Find(Ehr().client_id);
  ASSERT_TRUE(ehr) << ehr.error().ToString();
  EXPECT_EQ((*ehr)->role, Role::kClinician);
  auto none = registry.Find("gateway-2");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), core::Code::kNotFound);
  // Ids match exactly.
  EXPECT_FALSE(registry.Find("Gateway-1"));
  EXPECT_FALSE(registry.Find("gateway"));
}

TEST_F(ClientsFileTest, RegistryRereadsTheFileWhenItChanges) {
  ClientRegistry registry(Path());
  EXPECT_FALSE(registry.Find("gateway-1"));
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway()}).ok());
  EXPECT_TRUE(registry.Find("gateway-1"));
  EXPECT_FALSE(registry.Find(Ehr().client_id));
  ASSERT_TRUE(SaveClientsFile(Path(), {Ehr()}).ok());
  auto removed = registry.Find("gateway-1");
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code(), core::Code::kNotFound);
  EXPECT_TRUE(registry.Find(Ehr().client_id));
  fs::remove(Path());
  auto gone = registry.Find(Ehr().client_id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), core::Code::kNotFound);
}

TEST_F(ClientsFileTest, RegistrySeesChangedFieldsOfAClient) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway()}).ok());
  ClientRegistry registry(Path());
  auto before = registry.Find("gateway-1");
  ASSERT_TRUE(before);
  RegisteredClient moved = Gateway();
  moved.patient = "p2";
  moved.keys = KeysOf({&OtherClientKey()});
  ASSERT_TRUE(SaveClientsFile(Path(), {moved}).ok());
  auto after = registry.Find("gateway-1");
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)->patient, "p2");
  EXPECT_EQ(Kids((*after)->keys), std::vector<std::string>{OtherClientKey().kid()});
  // What a caller already holds stays as it was.
  EXPECT_EQ((*before)->patient, "p1");
}

TEST_F(ClientsFileTest, CorruptFileTrustsNoClientUntilFixed) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway(), Ehr()}).ok());
  ClientRegistry registry(Path());
  ASSERT_TRUE(registry.Find("gateway-1"));
  WriteText(Path(), "{\"clients\":[{\"client_id\":");
  for (std::string id : {std::string("gateway-1"), Ehr().client_id, std::string("nobody")}) {
    auto found = registry.Find(id);
    ASSERT_FALSE(found) << id;
    EXPECT_EQ(found.error().code(), core::Code::kInternal) << id;
  }
  ASSERT_TRUE(SaveClientsFile(Path(), {Ehr()}).ok());
  EXPECT_TRUE(registry.Find(Ehr().client_id));
  EXPECT_FALSE(registry.Find("gateway-1"));
}

TEST_F(ClientsFileTest, UnreadableFileTrustsNoClient) {
  ASSERT_TRUE(SaveClientsFile(Path(), {Gateway()}).ok());
  ClientRegistry registry(Path());
  ASSERT_TRUE(registry.Find("gateway-1"));
  // A directory where the file should be: it exists, but cannot be read as one.
  fs::remove(Path());
  fs::create_directory(Path());
  auto found = registry.Find("gateway-1");
  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code(), core::Code::kInternal);
}

}  // namespace
}  // namespace medulla::security
