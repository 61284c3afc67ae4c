#include "testing/faulty_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <mutex>

namespace medulla::testing {
namespace {

std::atomic<bool> g_fail_writes{false};
sqlite3_vfs* g_real = nullptr;

// Our file object, with the real VFS's file object right behind it in the same allocation.
struct FaultyFile {
  sqlite3_file base;
  sqlite3_file* real;
};

FaultyFile* F(sqlite3_file* f) {
  return reinterpret_cast<FaultyFile*>(f);
}
sqlite3_file* R(sqlite3_file* f) {
  return F(f)->real;
}

int Close(sqlite3_file* f) {
  return R(f)->pMethods->xClose(R(f));
}
int Read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return R(f)->pMethods->xRead(R(f), b, n, o);
}
int Write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  if (g_fail_writes.load()) return SQLITE_FULL;
  return R(f)->pMethods->xWrite(R(f), b, n, o);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
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
  return R(f)->pMethods->xDeviceCharacteristics(R(f));
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
int Fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** out) {
  return R(f)->pMethods->xFetch(R(f), o, n, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) {
  return R(f)->pMethods->xUnfetch(R(f), o, p);
}

const sqlite3_io_methods kIoMethods = {
    3,
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
    Fetch,
    Unfetch,
};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  FaultyFile* ff = F(f);
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  int rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
  // SQLite calls xClose only when pMethods is set: leave it null if the real open failed.
  ff->base.pMethods = rc == SQLITE_OK && ff->real->pMethods ? &kIoMethods : nullptr;
  return rc;
}
int Delete(sqlite3_vfs*, const char* name, int sync) {
  return g_real->xDelete(g_real, name, sync);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) {
  return g_real->xDlOpen(g_real, name);
}
void DlError(sqlite3_vfs*, int n, char* out) {
  g_real->xDlError(g_real, n, out);
}
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void DlClose(sqlite3_vfs*, void* h) {
  g_real->xDlClose(g_real, h);
}
int Randomness(sqlite3_vfs*, int n, char* out) {
  return g_real->xRandomness(g_real, n, out);
}
int Sleep(sqlite3_vfs*, int us) {
  return g_real->xSleep(g_real, us);
}
int CurrentTime(sqlite3_vfs*, double* out) {
  return g_real->xCurrentTime(g_real, out);
}
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError(g_real, n, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_real->xCurrentTimeInt64(g_real, out);
}

}  // namespace

void RegisterFaultyVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    static sqlite3_vfs vfs{};
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_real->szOsFile;
    vfs.mxPathname = g_real->mxPathname;
    vfs.zName = kFaultyVfsName;
    vfs.xOpen = Open;
    vfs.xDelete = Delete;
    vfs.xAccess = Access;
    vfs.xFullPathname = FullPathname;
    vfs.xDlOpen = DlOpen;
    vfs.xDlError = DlError;
    vfs.xDlSym = DlSym;
    vfs.xDlClose = DlClose;
    vfs.xRandomness = Randomness;
    vfs.xSleep = Sleep;
    vfs.xCurrentTime = CurrentTime;
    vfs.xGetLastError = GetLastError;
    vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  });
}

void SetWritesFail(bool fail) {
  g_fail_writes.store(fail);
}

}  // namespace medulla::testing
