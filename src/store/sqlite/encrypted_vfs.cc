#include "store/sqlite/encrypted_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <fmt/format.h>

namespace medulla::store::sqlite {
namespace {

constexpr std::string_view kPagePurpose = "medulla store pages v1";
constexpr int64_t kMinPage = 512;
constexpr int64_t kMaxPage = 65536;
constexpr int64_t kWalHeader = 32;
constexpr int64_t kFrameHeader = 24;
constexpr char kSqliteMagic[] = "SQLite format 3";  // with its NUL: the first 16 bytes
constexpr size_t kReserveOffset = 20;               // page 1: the reserved-bytes field

struct EncryptedVfs {
  sqlite3_vfs vfs{};  // first: SQLite hands this pointer back
  sqlite3_vfs* base = nullptr;
  StoreCipher pages;
  std::string name;
  explicit EncryptedVfs(StoreCipher cipher) : pages(std::move(cipher)) {}
};

enum class Kind { kDatabase, kWal, kPassThrough };

// Our file object, with the base VFS's file object right behind it in the same allocation.
struct EncryptedFile {
  sqlite3_file base;
  sqlite3_file* real;
  const EncryptedVfs* vfs;
  Kind kind;
  int64_t page_size;  // 0 until known (from the first page, or the WAL header)
  const char* path;   // SQLite keeps the name valid until xClose
};

// SQLite aligns the allocation to 8 bytes; the base VFS's file object follows ours.
static_assert(sizeof(EncryptedFile) % 8 == 0 && alignof(EncryptedFile) <= 8);

EncryptedFile* F(sqlite3_file* f) {
  return reinterpret_cast<EncryptedFile*>(f);
}
sqlite3_file* R(sqlite3_file* f) {
  return F(f)->real;
}

bool IsPageSize(int64_t n) {
  return n >= kMinPage && n <= kMaxPage && (n & (n - 1)) == 0;
}

uint32_t BigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}

// The page size a WAL header states, or 0 if it states none that SQLite allows.
int64_t WalHeaderPageSize(const uint8_t* header) {
  const int64_t p = BigEndian32(header + 8);
  return IsPageSize(p) ? p : 0;
}

// The part of a WAL frame header a page is bound to: page number, commit size and the two
// salts (not the checksums, which SQLite rewrites in place).
constexpr size_t kBoundFrameHeader = 16;

// The associated data of a page: which file kind, where in it, and for a WAL frame its header
// (so a frame cannot be renumbered, made a commit, or moved to another WAL generation).
std::array<uint8_t, 9 + kBoundFrameHeader> Aad(Kind kind, int64_t where,
                                               const uint8_t* frame_header) {
  std::array<uint8_t, 9 + kBoundFrameHeader> aad{};
  aad[0] = kind == Kind::kDatabase ? 'D' : 'W';
  for (int i = 0; i < 8; ++i) aad[1 + i] = static_cast<uint8_t>(uint64_t(where) >> (8 * i));
  if (frame_header != nullptr) std::memcpy(aad.data() + 9, frame_header, kBoundFrameHeader);
  return aad;
}

// A page image's payload and trailer (the reserved bytes at its end).
std::span<uint8_t> Payload(uint8_t* page, int64_t size) {
  return {page, static_cast<size_t>(size) - StoreCipher::kTrailerBytes};
}
std::span<uint8_t, StoreCipher::kTrailerBytes> Trailer(uint8_t* page, int64_t size) {
  return std::span<uint8_t, StoreCipher::kTrailerBytes>(page + size - StoreCipher::kTrailerBytes,
                                                        StoreCipher::kTrailerBytes);
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Opens one page image in place; the trailer reads back as zeros, as SQLite left it.
bool OpenPage(const StoreCipher& cipher, uint8_t* page, int64_t size, Kind kind, int64_t where,
              const uint8_t* frame_header = nullptr) {
  auto aad = Aad(kind, where, frame_header);
  auto trailer = Trailer(page, size);
  std::array<uint8_t, StoreCipher::kTrailerBytes> saved;
  std::copy(trailer.begin(), trailer.end(), saved.begin());
  if (!cipher.Open(Payload(page, size), aad, saved)) return false;
  std::fill(trailer.begin(), trailer.end(), 0);
  return true;
}

// Seals one page image in place. SQLite must have left the reserved bytes alone (zeros): if
// they hold data, the database was not created with the reserve and sealing would destroy it.
int SealPage(const StoreCipher& cipher, uint8_t* page, int64_t size, Kind kind, int64_t where,
             const uint8_t* frame_header = nullptr) {
  if (std::memcmp(page, kSqliteMagic, sizeof kSqliteMagic) == 0 &&
      page[kReserveOffset] != kEncryptedPageReserve) {
    sqlite3_log(SQLITE_IOERR_WRITE, "medulla: an encrypted database needs %d reserved bytes",
                kEncryptedPageReserve);
    return SQLITE_IOERR_WRITE;
  }
  if (!AllZero(page + size - StoreCipher::kTrailerBytes, StoreCipher::kTrailerBytes)) {
    sqlite3_log(SQLITE_IOERR_WRITE, "medulla: a page's reserved bytes are in use");
    return SQLITE_IOERR_WRITE;
  }
  if (!cipher.Seal(Payload(page, size), Aad(kind, where, frame_header), Trailer(page, size))) {
    return SQLITE_IOERR_WRITE;
  }
  return SQLITE_OK;
}

std::vector<uint8_t>& Scratch(size_t n) {
  thread_local std::vector<uint8_t> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer;
}

// --- the database file --------------------------------------------------------------------

// The page size at which page 1 opens, read from the first `have` bytes of a database; 0 if
// none does (another key, damage, or a tear).
int64_t PageOneSize(const StoreCipher& pages, const uint8_t* head, int64_t have) {
  std::vector<uint8_t> page;
  for (int64_t p = kMinPage; p <= have; p *= 2) {
    page.assign(head, head + p);
    if (OpenPage(pages, page.data(), p, Kind::kDatabase, 1)) return p;
  }
  return 0;
}

// Finds the page size of an existing encrypted database: the one at which page 1 opens.
int DetectDatabasePageSize(EncryptedFile* f) {
  sqlite3_int64 size = 0;
  int rc = f->real->pMethods->xFileSize(f->real, &size);
  if (rc != SQLITE_OK) return rc;
  if (size < kMinPage) return SQLITE_OK;  // nothing written yet
  const int64_t have = std::min<int64_t>(size, kMaxPage);
  std::vector<uint8_t> head(static_cast<size_t>(have));
  rc = f->real->pMethods->xRead(f->real, head.data(), static_cast<int>(have), 0);
  if (rc != SQLITE_OK) return rc;
  f->page_size = PageOneSize(f->vfs->pages, head.data(), have);
  if (f->page_size != 0) return SQLITE_OK;
  sqlite3_log(SQLITE_IOERR_DATA, "medulla: page 1 of the database does not open with this key");
  return SQLITE_IOERR_DATA;
}

// The page size the WAL's header gives, or 0.
int64_t WalPageSize(const char* db_path) {
  if (db_path == nullptr) return 0;
  std::ifstream in(std::string(db_path) + "-wal", std::ios::binary);
  uint8_t header[kWalHeader] = {};
  if (!in.read(reinterpret_cast<char*>(header), sizeof header)) return 0;
  return WalHeaderPageSize(header);
}

int ReadDatabase(EncryptedFile* f, uint8_t* out, int n, int64_t offset) {
  if (f->page_size == 0) {
    int rc = DetectDatabasePageSize(f);
    if (rc == SQLITE_IOERR_DATA && offset + n <= 100) {
      // SQLite reads the header once at open without a lock, only as a hint (it reads page 1
      // again under the lock, from the WAL if it is there). Page 1 may be torn (a crash in a
      // checkpoint, which the WAL repairs) or being written: answer "no hint".
      std::memset(out, 0, static_cast<size_t>(n));
      return SQLITE_OK;
    }
    if (rc == SQLITE_IOERR_DATA) f->page_size = WalPageSize(f->path);
    if (f->page_size == 0 && rc != SQLITE_OK) return rc;
    if (f->page_size == 0) return f->real->pMethods->xRead(f->real, out, n, offset);  // empty
  }
  const int64_t p = f->page_size;
  std::vector<uint8_t>& page = Scratch(static_cast<size_t>(p));
  bool short_read = false;
  for (int64_t start = offset / p * p; start < offset + n; start += p) {
    int rc = f->real->pMethods->xRead(f->real, page.data(), static_cast<int>(p), start);
    if (rc == SQLITE_IOERR_SHORT_READ && AllZero(page.data(), static_cast<size_t>(p))) {
      short_read = true;  // past the end: zeros, as SQLite expects
    } else if (rc != SQLITE_OK) {
      return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_IOERR_DATA : rc;  // a part-page at the end
    } else if (!OpenPage(f->vfs->pages, page.data(), p, Kind::kDatabase, start / p + 1)) {
      sqlite3_log(SQLITE_IOERR_DATA, "medulla: database page %lld does not open (damaged?)",
                  static_cast<long long>(start / p + 1));
      return SQLITE_IOERR_DATA;
    }
    const int64_t from = std::max(start, offset);
    const int64_t to = std::min(start + p, offset + n);
    std::memcpy(out + (from - offset), page.data() + (from - start),
                static_cast<size_t>(to - from));
  }
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int WriteDatabase(EncryptedFile* f, const uint8_t* in, int n, int64_t offset) {
  if (f->page_size == 0 && offset == 0 && IsPageSize(n)) f->page_size = n;
  const int64_t p = f->page_size;
  if (p == 0 || offset % p != 0 || n % p != 0) {
    sqlite3_log(SQLITE_IOERR_WRITE, "medulla: a write that is not whole pages (%d at %lld)", n,
                static_cast<long long>(offset));
    return SQLITE_IOERR_WRITE;
  }
  std::vector<uint8_t>& sealed = Scratch(static_cast<size_t>(n));
  std::memcpy(sealed.data(), in, static_cast<size_t>(n));
  for (int64_t at = 0; at < n; at += p) {
    int rc = SealPage(f->vfs->pages, sealed.data() + at, p, Kind::kDatabase, (offset + at) / p + 1);
    if (rc != SQLITE_OK) return rc;
  }
  return f->real->pMethods->xWrite(f->real, sealed.data(), n, offset);
}

// --- the WAL --------------------------------------------------------------------------------
// Layout: a 32-byte header, then frames of a 24-byte header and one page. Headers pass through;
// pages are sealed bound to their frame's offset and header (Aad).

int LearnWalPageSize(EncryptedFile* f) {
  if (f->page_size != 0) return SQLITE_OK;
  uint8_t header[kWalHeader];
  int rc = f->real->pMethods->xRead(f->real, header, sizeof header, 0);
  if (rc == SQLITE_IOERR_SHORT_READ) return SQLITE_OK;  // no header yet
  if (rc != SQLITE_OK) return rc;
  f->page_size = WalHeaderPageSize(header);
  return SQLITE_OK;
}

// Calls fn(frame, from, to) for each piece of [offset, offset+n) that lies in one region: the
// file header (frame -1), a frame header, or a frame's page (from/to are file offsets).
template <typename Fn>
int ForEachWalPiece(int64_t page_size, int64_t offset, int64_t n, Fn fn) {
  const int64_t frame_size = kFrameHeader + page_size;
  for (int64_t at = offset; at < offset + n;) {
    int64_t end = 0;
    int64_t frame = -1;
    if (at < kWalHeader) {
      end = kWalHeader;
    } else {
      frame = (at - kWalHeader) / frame_size;
      const int64_t frame_start = kWalHeader + frame * frame_size;
      end = at < frame_start + kFrameHeader ? frame_start + kFrameHeader : frame_start + frame_size;
    }
    end = std::min(end, offset + n);
    if (int rc = fn(frame, at, end); rc != SQLITE_OK) return rc;
    at = end;
  }
  return SQLITE_OK;
}

int ReadWal(EncryptedFile* f, uint8_t* out, int n, int64_t offset) {
  if (int rc = LearnWalPageSize(f); rc != SQLITE_OK) return rc;
  const int64_t p = f->page_size;
  if (p == 0) return f->real->pMethods->xRead(f->real, out, n, offset);  // empty: short read
  const int64_t frame_size = kFrameHeader + p;
  std::vector<uint8_t>& page = Scratch(static_cast<size_t>(p));
  bool short_read = false;
  int rc = ForEachWalPiece(p, offset, n, [&](int64_t frame, int64_t from, int64_t to) {
    const int64_t frame_start = kWalHeader + frame * frame_size;
    const int64_t page_start = frame_start + kFrameHeader;
    if (frame < 0 || from < page_start) {  // a header: as it is
      int rc = f->real->pMethods->xRead(f->real, out + (from - offset), static_cast<int>(to - from),
                                        from);
      if (rc == SQLITE_IOERR_SHORT_READ) short_read = true;
      return rc == SQLITE_IOERR_SHORT_READ ? SQLITE_OK : rc;
    }
    uint8_t header[kBoundFrameHeader];
    int hrc = f->real->pMethods->xRead(f->real, header, sizeof header, frame_start);
    if (hrc != SQLITE_OK && hrc != SQLITE_IOERR_SHORT_READ) return hrc;
    int rc = f->real->pMethods->xRead(f->real, page.data(), static_cast<int>(p), page_start);
    if (rc == SQLITE_IOERR_SHORT_READ && AllZero(page.data(), static_cast<size_t>(p))) {
      short_read = true;
    } else if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
      return rc;
    } else if (rc != SQLITE_OK || hrc != SQLITE_OK ||
               !OpenPage(f->vfs->pages, page.data(), p, Kind::kWal, frame_start, header)) {
      // Recovery reads whole frames, header included: a frame torn by a crash must read as one
      // whose checksum fails (so recovery stops there), not as an I/O error. A page read on its
      // own is a frame recovery accepted: failing to open it is damage.
      if (offset > frame_start) {
        sqlite3_log(SQLITE_IOERR_DATA, "medulla: WAL frame %lld does not open (damaged?)",
                    static_cast<long long>(frame));
        return SQLITE_IOERR_DATA;
      }
      std::fill(page.begin(), page.begin() + p, 0);
    }
    std::memcpy(out + (from - offset), page.data() + (from - page_start),
                static_cast<size_t>(to - from));
    return SQLITE_OK;
  });
  if (rc != SQLITE_OK) return rc;
  return short_read ? SQLITE_IOERR_SHORT_READ : SQLITE_OK;
}

int WriteWal(EncryptedFile* f, const uint8_t* in, int n, int64_t offset) {
  if (offset == 0 && n >= kWalHeader) {
    f->page_size = WalHeaderPageSize(in);  // a new WAL (after a restart of the log)
    if (f->page_size == 0) return SQLITE_IOERR_WRITE;
  }
  if (int rc = LearnWalPageSize(f); rc != SQLITE_OK) return rc;
  const int64_t p = f->page_size;
  if (p == 0) return SQLITE_IOERR_WRITE;  // frames before any header
  const int64_t frame_size = kFrameHeader + p;
  std::vector<uint8_t>& page = Scratch(static_cast<size_t>(p));
  return ForEachWalPiece(p, offset, n, [&](int64_t frame, int64_t from, int64_t to) {
    const int64_t frame_start = kWalHeader + frame * frame_size;
    const int64_t page_start = frame_start + kFrameHeader;
    if (frame < 0 || from < page_start) {
      return f->real->pMethods->xWrite(f->real, in + (from - offset), static_cast<int>(to - from),
                                       from);
    }
    if (from != page_start || to != page_start + p) {
      // SQLite splits a frame's page only to pad to a sector boundary, which it does not do on
      // a power-safe-overwrite device (which this VFS reports).
      sqlite3_log(SQLITE_IOERR_WRITE, "medulla: a WAL write of part of a page");
      return SQLITE_IOERR_WRITE;
    }
    // The frame's header, written just before (or earlier, when SQLite rewrites a page of
    // the open transaction in place).
    uint8_t header[kBoundFrameHeader];
    if (int rc = f->real->pMethods->xRead(f->real, header, sizeof header, frame_start);
        rc != SQLITE_OK) {
      sqlite3_log(SQLITE_IOERR_WRITE, "medulla: a WAL page written before its frame header");
      return SQLITE_IOERR_WRITE;
    }
    std::memcpy(page.data(), in + (from - offset), static_cast<size_t>(p));
    if (int rc = SealPage(f->vfs->pages, page.data(), p, Kind::kWal, frame_start, header);
        rc != SQLITE_OK) {
      return rc;
    }
    return f->real->pMethods->xWrite(f->real, page.data(), static_cast<int>(p), page_start);
  });
}

// --- sqlite3_io_methods ---------------------------------------------------------------------

int Close(sqlite3_file* f) {
  return R(f)->pMethods->xClose(R(f));
}
int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  if (F(f)->kind == Kind::kPassThrough) return R(f)->pMethods->xRead(R(f), b, n, o);
  auto* out = static_cast<uint8_t*>(b);
  return F(f)->kind == Kind::kDatabase ? ReadDatabase(F(f), out, n, o) : ReadWal(F(f), out, n, o);
}
int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  if (F(f)->kind == Kind::kPassThrough) return R(f)->pMethods->xWrite(R(f), b, n, o);
  const auto* in = static_cast<const uint8_t*>(b);
  return F(f)->kind == Kind::kDatabase ? WriteDatabase(F(f), in, n, o) : WriteWal(F(f), in, n, o);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (F(f)->kind == Kind::kWal && size == 0) F(f)->page_size = 0;
  return R(f)->pMethods->xTruncate(R(f), size);
}
int Sync(sqlite3_file* f, int flags) {
  return R(f)->pMethods->xSync(R(f), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return R(f)->pMethods->xFileSize(R(f), size);
}
int Lock(sqlite3_file* f, int l) {
  return R(f)->pMethods->xLock(R(f), l);
}
int Unlock(sqlite3_file* f, int l) {
  return R(f)->pMethods->xUnlock(R(f), l);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return R(f)->pMethods->xFileControl(R(f), op, arg);
}
int SectorSize(sqlite3_file* f) {
  return R(f)->pMethods->xSectorSize(R(f));
}
int DeviceCharacteristics(sqlite3_file* f) {
  // Power-safe overwrite: SQLite then never pads a WAL commit to a sector boundary, which would
  // split a page across two writes (WriteWal seals whole pages only). Linux filesystems give
  // it, and SQLite's unix VFS reports it by default.
  return R(f)->pMethods->xDeviceCharacteristics(R(f)) | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}
int ShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return R(f)->pMethods->xShmMap(R(f), page, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return R(f)->pMethods->xShmLock(R(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  R(f)->pMethods->xShmBarrier(R(f));
}
int ShmUnmap(sqlite3_file* f, int del) {
  return R(f)->pMethods->xShmUnmap(R(f), del);
}

// Version 2: the WAL's shared memory, and no xFetch, so SQLite never maps the (sealed) file.
const sqlite3_io_methods kIoMethods = {
    2,
    Close,
    Read,
    Write,
    Truncate,
    Sync,
    FileSize,
    Lock,
    Unlock,
    CheckReservedLock,
    FileControl,
    SectorSize,
    DeviceCharacteristics,
    ShmMap,
    ShmLock,
    ShmBarrier,
    ShmUnmap,
    nullptr,
    nullptr,
};

// --- sqlite3_vfs ----------------------------------------------------------------------------

sqlite3_vfs* Base(sqlite3_vfs* vfs) {
  return static_cast<EncryptedVfs*>(vfs->pAppData)->base;
}

int Open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  EncryptedFile* ef = F(f);
  ef->base.pMethods = nullptr;  // SQLite calls xClose only when this is set
  Kind kind;
  if (flags & SQLITE_OPEN_MAIN_DB) {
    kind = Kind::kDatabase;
  } else if (flags & SQLITE_OPEN_WAL) {
    kind = Kind::kWal;
  } else if (flags & SQLITE_OPEN_MAIN_JOURNAL) {
    // Only when a new database switches to WAL mode: its rollback journal then holds the
    // pages as they were before, and a new database has none. The store never leaves WAL.
    kind = Kind::kPassThrough;
  } else {
    // Temporary files would hold pages in the clear. The store keeps them in memory
    // (temp_store=MEMORY), so none is opened; refuse rather than leak.
    sqlite3_log(SQLITE_CANTOPEN, "medulla: an encrypted store opens no file of kind 0x%x",
                flags & 0xFFFFFF00);
    return SQLITE_CANTOPEN;
  }
  ef->real = reinterpret_cast<sqlite3_file*>(ef + 1);
  ef->vfs = static_cast<EncryptedVfs*>(vfs->pAppData);
  ef->kind = kind;
  ef->page_size = 0;
  ef->path = name;
  sqlite3_vfs* base = Base(vfs);
  int rc = base->xOpen(base, name, ef->real, flags, out_flags);
  if (rc == SQLITE_OK && ef->real->pMethods) ef->base.pMethods = &kIoMethods;
  return rc;
}
int Delete(sqlite3_vfs* v, const char* name, int sync) {
  return Base(v)->xDelete(Base(v), name, sync);
}
int Access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return Base(v)->xAccess(Base(v), name, flags, out);
}
int FullPathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return Base(v)->xFullPathname(Base(v), name, n, out);
}
void* DlOpen(sqlite3_vfs* v, const char* name) {
  return Base(v)->xDlOpen(Base(v), name);
}
void DlError(sqlite3_vfs* v, int n, char* out) {
  Base(v)->xDlError(Base(v), n, out);
}
void (*DlSym(sqlite3_vfs* v, void* h, const char* sym))(void) {
  return Base(v)->xDlSym(Base(v), h, sym);
}
void DlClose(sqlite3_vfs* v, void* h) {
  Base(v)->xDlClose(Base(v), h);
}
int Randomness(sqlite3_vfs* v, int n, char* out) {
  return Base(v)->xRandomness(Base(v), n, out);
}
int Sleep(sqlite3_vfs* v, int us) {
  return Base(v)->xSleep(Base(v), us);
}
int CurrentTime(sqlite3_vfs* v, double* out) {
  return Base(v)->xCurrentTime(Base(v), out);
}
int GetLastError(sqlite3_vfs* v, int n, char* out) {
  return Base(v)->xGetLastError(Base(v), n, out);
}
int CurrentTimeInt64(sqlite3_vfs* v, sqlite3_int64* out) {
  return Base(v)->xCurrentTimeInt64(Base(v), out);
}

// Registered VFSes live as long as the process: SQLite keeps pointers to them.
std::mutex g_registry_mu;
std::map<std::string, std::unique_ptr<EncryptedVfs>>& Registry() {
  static auto* registry = new std::map<std::string, std::unique_ptr<EncryptedVfs>>();
  return *registry;
}

std::string ReadUpTo(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return bytes;
}

}  // namespace

core::Result<std::string> RegisterEncryptedVfs(const StoreCipher& key,
                                               const std::string& base_vfs) {
  std::lock_guard lock(g_registry_mu);
  sqlite3_vfs* base = sqlite3_vfs_find(base_vfs.empty() ? nullptr : base_vfs.c_str());
  if (base == nullptr) {
    return core::Fail(core::Internal(fmt::format("no SQLite VFS named \"{}\"", base_vfs)));
  }
  if (base->iVersion < 2) return core::Fail(core::Internal("the base VFS is too old"));
  std::string name = fmt::format("medulla-encrypted-{}-{}", key.Fingerprint(), base->zName);
  auto& registry = Registry();
  if (registry.contains(name)) return name;
  auto vfs = std::make_unique<EncryptedVfs>(key.Derive(kPagePurpose));
  vfs->base = base;
  vfs->name = name;
  sqlite3_vfs& v = vfs->vfs;
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(EncryptedFile)) + base->szOsFile;
  v.mxPathname = base->mxPathname;
  v.zName = vfs->name.c_str();
  v.pAppData = vfs.get();
  v.xOpen = Open;
  v.xDelete = Delete;
  v.xAccess = Access;
  v.xFullPathname = FullPathname;
  v.xDlOpen = DlOpen;
  v.xDlError = DlError;
  v.xDlSym = DlSym;
  v.xDlClose = DlClose;
  v.xRandomness = Randomness;
  v.xSleep = Sleep;
  v.xCurrentTime = CurrentTime;
  v.xGetLastError = GetLastError;
  v.xCurrentTimeInt64 = CurrentTimeInt64;
  if (int rc = sqlite3_vfs_register(&v, /*makeDflt=*/0); rc != SQLITE_OK) {
    return core::Fail(
        core::Internal(fmt::format("cannot register the encrypting VFS: {}", sqlite3_errstr(rc))));
  }
  registry.emplace(name, std::move(vfs));
  return name;
}

namespace {

// The first whole frame's page of the WAL beside db_path, with its page size; nullopt if none.
struct WalFirstPage {
  std::string page;
  std::string header;  // the frame's
  int64_t page_size;
  bool is_page_one;
};
std::optional<WalFirstPage> ReadWalFirstPage(const std::string& db_path) {
  const std::string wal = ReadUpTo(db_path + "-wal", kWalHeader + kFrameHeader + kMaxPage);
  if (wal.size() < kWalHeader) return std::nullopt;
  const auto* bytes = reinterpret_cast<const uint8_t*>(wal.data());
  const int64_t p = WalHeaderPageSize(bytes);
  if (p == 0 || wal.size() < static_cast<size_t>(kWalHeader + kFrameHeader + p)) {
    return std::nullopt;  // no whole frame: SQLite will start the WAL over
  }
  return WalFirstPage{wal.substr(kWalHeader + kFrameHeader, static_cast<size_t>(p)),
                      wal.substr(kWalHeader, kFrameHeader), p,
                      BigEndian32(bytes + kWalHeader) == 1};
}

bool IsPlainPageOne(std::string_view page) {
  return page.compare(0, sizeof kSqliteMagic,
                      std::string_view(kSqliteMagic, sizeof kSqliteMagic)) == 0;
}

}  // namespace

core::Status CheckStoreEncryption(const std::string& db_path, const StoreCipher* key) {
  // Page 1 of the database file tells, when there is one; the store writes it right after
  // creating a database. Else (a kill came first), or when page 1 is torn (a crash in a
  // checkpoint, which the WAL repairs), the first frame of the WAL.
  const std::string head = ReadUpTo(db_path, kMaxPage);
  const std::optional<WalFirstPage> wal = ReadWalFirstPage(db_path);
  const bool has_page_one = head.size() >= kMinPage;
  if (!has_page_one && !wal) return core::OkStatus();  // a new store
  const bool plain =
      has_page_one ? IsPlainPageOne(head) : wal->is_page_one && IsPlainPageOne(wal->page);
  if (key == nullptr) {
    // Without a key a WAL frame other than page 1's cannot tell: SQLite will judge it.
    if (plain || (!has_page_one && !wal->is_page_one)) return core::OkStatus();
    return core::InvalidArgument(fmt::format(
        "{} is encrypted (or is not a SQLite database): configure its key (store.key_file, "
        "MEDULLA_STORE_KEY_FILE or MEDULLA_STORE_KEY)",
        db_path));
  }
  if (plain) {
    return core::InvalidArgument(fmt::format(
        "{} is not encrypted, but a store key is configured: encryption is chosen when a data "
        "directory is created (docs/security.md, \"Encryption at rest\")",
        db_path));
  }
  const StoreCipher pages = key->Derive(kPagePurpose);
  if (has_page_one && PageOneSize(pages, reinterpret_cast<const uint8_t*>(head.data()),
                                  static_cast<int64_t>(head.size())) != 0) {
    return core::OkStatus();
  }
  if (wal) {
    std::vector<uint8_t> buffer(wal->page.begin(), wal->page.end());
    if (OpenPage(pages, buffer.data(), wal->page_size, Kind::kWal, kWalHeader,
                 reinterpret_cast<const uint8_t*>(wal->header.data()))) {
      return core::OkStatus();
    }
  }
  return core::InvalidArgument(fmt::format(
      "the configured store key does not open {} (a different key, or not encrypted?)", db_path));
}

core::Result<StoreEncryption> PrepareStoreEncryption(const std::string& db_path,
                                                     std::string_view raw_key,
                                                     const std::string& base_vfs) {
  StoreEncryption out{.vfs = base_vfs};
  if (raw_key.empty()) {
    RETURN_IF_ERROR(CheckStoreEncryption(db_path, nullptr));
    return out;
  }
  ASSIGN_OR_RETURN(StoreCipher key, StoreCipher::FromKey(raw_key));
  RETURN_IF_ERROR(CheckStoreEncryption(db_path, &key));
  ASSIGN_OR_RETURN(out.vfs, RegisterEncryptedVfs(key, base_vfs));
  out.key = std::move(key);
  return out;
}

}  // namespace medulla::store::sqlite
