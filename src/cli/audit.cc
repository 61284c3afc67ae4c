// medulla audit verify: walks the audit log's hash chain and names the first entry that was
// edited, deleted or reordered. Read-only: runs beside a serving medulla.
#include <cstdio>

#include "cli/commands.h"
#include "cli/store_key.h"
#include "security/local_keys.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/audit_trail.h"

namespace medulla::cli {

int RunAuditVerify(const AuditArgs& args) {
  std::string data_dir = args.data_dir.empty() ? "var/medulla" : args.data_dir;
  auto keys = security::LoadOrCreateLocalKeys(data_dir);
  if (!keys) {
    std::fprintf(stderr, "medulla audit verify: %s\n", keys.error().message().c_str());
    return 2;
  }
  auto store_key = LoadStoreKey();
  if (!store_key) {
    std::fprintf(stderr, "medulla audit verify: %s\n", store_key.error().message().c_str());
    return 2;
  }
  auto report = store::sqlite::VerifyAuditLogFile(data_dir + "/medulla.db",
                                                  store::sqlite::AuditTrail::JournalFiles(data_dir),
                                                  keys->audit_key, *store_key);
  if (!report) {
    std::fprintf(stderr, "medulla audit verify: %s\n", report.error().message().c_str());
    return 2;
  }
  if (report->broken_seq) {
    std::printf("audit log BROKEN at AuditEvent/%lld: %s (%lld entries verified before it)\n",
                static_cast<long long>(*report->broken_seq), report->problem.c_str(),
                static_cast<long long>(report->entries));
    return 1;
  }
  std::printf("audit log intact: %lld entries; head AuditEvent/%lld hash %s\n",
              static_cast<long long>(report->entries), static_cast<long long>(report->head_seq),
              report->head_hash.empty() ? "-" : report->head_hash.c_str());
  return 0;
}

}  // namespace medulla::cli
