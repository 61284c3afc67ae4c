// An SQLite VFS for tests that wraps the default one and, while armed, fails every file write
// with SQLITE_FULL: a disk that is suddenly full, on demand. Register once, then open the
// store with options.vfs = kFaultyVfsName.
#pragma once

namespace medulla::testing {

inline constexpr const char* kFaultyVfsName = "medulla-faulty";

void RegisterFaultyVfs();
// While armed, writes fail; reads, syncs and locks keep working.
void SetWritesFail(bool fail);

}  // namespace medulla::testing
