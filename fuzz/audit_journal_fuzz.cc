// Fuzzes the audit journal's reader (what a killed server, a full disk or an intruder left in
// DATA/audit-journal/). Any crash, hang or sanitizer report is a bug, and so is a journal that
// decodes but does not re-encode to the bytes it was decoded from.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/sqlite/audit_journal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace sqlite = medulla::store::sqlite;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  size_t used = 0;
  auto entries = sqlite::DecodeAuditJournal(bytes, used);
  if (!entries) return 0;
  if (used > bytes.size()) std::abort();
  std::string again;
  for (const sqlite::SealedAuditEntry& e : *entries) sqlite::EncodeAuditJournalRecord(e, again);
  if (again != bytes.substr(0, used)) std::abort();
  return 0;
}
