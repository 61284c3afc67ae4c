// The "pending" rows of telemetry.db: each holds one acknowledged batch until a checkpoint has
// written its readings into blocks (telemetry/series_store.h). Transient, so coded for speed and
// simplicity rather than size; decoding checks every length, since the rows come from disk.
//
// Version 1 (before quality and rr were stored), per reading: vital (1 byte), patient length
// (1), patient, time (8), value (8). Version 2 starts with the byte 0xFF, which no version-1 row
// can start with (it is never a vital), then per reading: vital (1), flags (1: bit 0 quality,
// bit 1 rr), patient length (1), patient, time (8), value (8), quality (4, with bit 0), rr count
// (2) and that many intervals (2 each, with bit 1). Numbers are in the machine's byte order: a
// row is read back by the process that wrote it, or by the next one after a crash, on the same
// machine.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "telemetry/series_store.h"

namespace medulla::telemetry {

// Appends the row for `batch` (version 2) to `out`.
void EncodePendingRow(const std::vector<StoredReading>& batch, std::string& out);
// Appends the readings of a row of either version to `out`; false when the row is damaged.
bool DecodePendingRow(std::string_view row, std::vector<StoredReading>& out);

}  // namespace medulla::telemetry
