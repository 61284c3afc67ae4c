// Which patient a device may write readings for, from the FHIR record: an active
// DeviceUseStatement naming the device and the patient (its timingPeriod, when given, covering
// the reading), or the Device's own `patient` element. A device token or an MQTT topic speaks
// for one device; this is what stops it writing for a patient it is not assigned to.
// Answers are cached per device for a short time (and dropped when an assignment changes:
// Invalidate), so a batch of readings costs one lookup per device.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "records/record_service.h"
#include "telemetry/reading.h"

namespace medulla::rpm {

struct Assignment {
  std::string patient;          // the id, without "Patient/"
  int64_t from_ms = INT64_MIN;  // timingPeriod.start, or unbounded
  int64_t to_ms = INT64_MAX;    // timingPeriod.end (exclusive), or unbounded
  bool Covers(int64_t t) const { return t >= from_ms && t < to_ms; }
};

class DeviceAssignments {
 public:
  // The change feed forgets an answer as soon as its Device or DeviceUseStatement changes
  // (Invalidate), so the ttl is only a safety net; each answer is kept between half of it and
  // all of it, so that the answers cached in one burst (a gateway's first batch names
  // thousands of devices) do not all expire, and get looked up again, in one batch.
  explicit DeviceAssignments(const records::RecordService& records,
                             std::chrono::milliseconds ttl = std::chrono::minutes(5),
                             const core::Clock& clock = core::SystemClock::Instance());

  // The device's assignments (none when it has none, or when the device is unknown).
  core::Result<std::vector<Assignment>> Of(const std::string& device);

  // OK when `device`, with these assignments, may write for `patient` at `time_ms`;
  // kPermissionDenied saying why otherwise. `strict` (the caller speaks for the device: its
  // token or MQTT topic): the device must be assigned to the patient. Not strict (a caller that
  // may write for the patient anyway, such as a clinician's gateway): refused only when the
  // device is assigned, at that time, to someone else only, which is a mix-up.
  static core::Status Allows(const std::vector<Assignment>& assignments, const std::string& device,
                             const std::string& patient, int64_t time_ms, bool strict);

  // Forgets a device's cached answer (its Device or a DeviceUseStatement changed); an empty id
  // forgets them all.
  void Invalidate(const std::string& device);

 private:
  core::Result<std::vector<Assignment>> Lookup(const std::string& device) const;

  const records::RecordService& records_;
  const std::chrono::milliseconds ttl_;
  const core::Clock& clock_;
  struct Cached {
    std::vector<Assignment> assignments;
    core::MicrosSinceEpoch expires = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Cached> cache_;
};

// Judges one batch's readings against the devices' assignments, looking each device up once.
// `speaks_for` set (the device a token or an MQTT topic speaks for): every reading must name
// that device, else `other_device(named device)` is the refusal, and the device must be
// assigned to the reading's patient (strict). Unset: DeviceAssignments::Allows, not strict.
class BatchAssignmentCheck {
 public:
  BatchAssignmentCheck(DeviceAssignments& assignments, std::optional<std::string> speaks_for,
                       std::function<std::string(const std::string&)> other_device = {})
      : assignments_(assignments),
        speaks_for_(std::move(speaks_for)),
        other_device_(std::move(other_device)) {}

  core::Status operator()(const telemetry::DeviceReading& r);

 private:
  DeviceAssignments& assignments_;
  const std::optional<std::string> speaks_for_;
  const std::function<std::string(const std::string&)> other_device_;
  std::unordered_map<std::string, core::Result<std::vector<Assignment>>> devices_;
};

}  // namespace medulla::rpm
