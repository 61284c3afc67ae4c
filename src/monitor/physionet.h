// Readers for the PhysioNet/Computing in Cardiology Challenge files, as stays of hourly steps
// of readings the monitor can replay:
// - 2019 (sepsis): one pipe-separated row per ICU hour; HR, O2Sat, Temp, SBP, DBP, Resp, FiO2
//   and the hourly SepsisLabel (Reyna et al., Crit Care Med 2020;48(2):210-217).
// - 2012 (mortality): `Time,Parameter,Value` lines over the first 48 hours (Silva et al.,
//   Computing in Cardiology 2012;39:245-248). It has no pulse oximetry: arterial SaO2 stands
//   in for SpO2; GCS < 15 is read as "not alert"; FiO2 > 0.21 as supplemental oxygen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "monitor/patient_monitor.h"

namespace medulla::monitor {

struct Stay {
  std::string file;
  // hours[h]: the readings taken during hour h (before the end of that hour), in time order.
  std::vector<std::vector<Reading>> hours;
  std::vector<int8_t> sepsis_labels;  // 2019 only: one per hour
  int64_t record_id = -1;             // 2012 only
  int rejected = 0;                   // values dropped as implausible (as live ingest would)
};

enum class PhysionetFormat { k2019, k2012 };

// Reads one file. Files are bounded (64 MiB) and every line is checked: a malformed file is an
// error naming its line, never a partial stay.
core::Result<Stay> ReadPhysionet(const std::string& path, PhysionetFormat format);

// The 2012 outcomes file (`RecordID,...,In-hospital_death`): record id -> death (0/1).
core::Result<std::vector<std::pair<int64_t, int>>> ReadPhysionet2012Outcomes(
    const std::string& path);

}  // namespace medulla::monitor
