// The audit journal (audit_trail.h): audit entries, sealed into the chain, in a file mapped
// into memory. Appending is a copy into the mapping, which is the page cache itself: an entry
// is in the file the moment the copy ends, so it survives kill -9 without a system call (a
// write() per read, under the chain's lock, made the request threads queue on it).
//
// Record: u32 length of the rest, i64 seq, i64 recorded, 64-byte previous hash, 64-byte hash,
// u32 patient count, (u32 length, bytes) per patient, u32 event length, event bytes. The length
// is stored last, so a record cut short by a kill reads as the end. Host byte order: the file
// never leaves the machine. Files have a fixed capacity; the unused rest is zeros.
//
// In an encrypted store (encrypted_vfs.h) everything after the length is sealed with the
// journal's key (AES-256-GCM) and followed by its 32-byte salt and tag.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/sqlite/audit_log.h"
#include "store/sqlite/store_cipher.h"

namespace medulla::store::sqlite {

class AuditJournal {
 public:
  static constexpr size_t kCapacity = 16 << 20;

  // Opens (creating, owner-only) and maps the journal at `path`, at least `capacity` bytes.
  // `cipher` (the journal key; nullptr: plain records) must outlive the journal.
  static core::Result<std::unique_ptr<AuditJournal>> Open(const std::string& path,
                                                          const StoreCipher* cipher = nullptr,
                                                          size_t capacity = kCapacity);
  ~AuditJournal();
  AuditJournal(const AuditJournal&) = delete;
  AuditJournal& operator=(const AuditJournal&) = delete;

  // Every record in the file. Damage (a length that runs past the file, a record that does
  // not parse) is an error. For recovery: a file read this way is not appended to again (an
  // append a kill cut short may have left bytes after the end).
  core::Result<std::vector<SealedAuditEntry>> ReadAll();
  // Appends the entries; false if they do not fit (then nothing was written: start a new file).
  bool Append(std::span<const SealedAuditEntry> entries);
  // The bytes the records take.
  size_t size() const { return size_; }

 private:
  AuditJournal(char* data, size_t capacity, const StoreCipher* cipher)
      : data_(data), capacity_(capacity), cipher_(cipher) {}
  char* data_;
  size_t capacity_;
  const StoreCipher* cipher_;
  size_t size_ = 0;  // where the next record goes
};

// Decodes a journal's bytes (ReadAll without the file; for `medulla audit verify`, tests and
// the fuzzer). `used` is set to the bytes the records take.
core::Result<std::vector<SealedAuditEntry>> DecodeAuditJournal(std::string_view bytes, size_t& used,
                                                               const StoreCipher* cipher = nullptr);
// The record of one entry; false only if sealing failed.
bool EncodeAuditJournalRecord(const SealedAuditEntry& entry, std::string& out,
                              const StoreCipher* cipher = nullptr);

// The journal's key in an encrypted store, derived from the store key.
StoreCipher AuditJournalKey(const StoreCipher& store_key);

}  // namespace medulla::store::sqlite
