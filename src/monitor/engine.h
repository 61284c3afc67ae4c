// The monitor engine: per-patient PatientMonitors on single-threaded partitions chosen by a hash
// of the patient id. A partition owns its patients outright, so the hot path takes no lock
// beyond its queue; readings of one patient are always handled in arrival order by one thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitor/patient_monitor.h"

namespace medulla::monitor {

struct PatientReading {
  std::string patient;
  Reading reading;
};

// An alert condition open in a patient's state, with the event that last opened or updated it.
struct OpenCondition {
  std::string patient;
  MonitorEvent event;
};

struct EngineOptions {
  MonitorSettings settings;
  int partitions = 2;
  int64_t silence_check_ms = 10'000;  // how often partitions look for silent devices
  size_t max_queued = 4'000'000;      // readings; beyond, Submit refuses (backpressure)
};

class MonitorEngine {
 public:
  // Called on a partition's thread for every event; must not block for long.
  using Sink = std::function<void(const std::string& patient, const MonitorEvent& event)>;
  MonitorEngine(EngineOptions options, Sink sink);
  ~MonitorEngine();  // handles what is queued, then stops
  MonitorEngine(const MonitorEngine&) = delete;
  MonitorEngine& operator=(const MonitorEngine&) = delete;

  // Queues readings (in any mix of patients). False when the queue is full.
  bool Submit(std::vector<PatientReading> readings);
  // Rebuilds patients' state from stored readings after a restart, before live readings come:
  // as Submit, but the events are not reported (they were when the readings first came) and
  // the queue's limit does not apply (the caller drains now and then).
  void Restore(std::vector<PatientReading> readings);
  // Once everything queued before the call is handled: the conditions that restored readings
  // opened and that are still open, each with the last event that opened or updated it. The
  // record of them is cleared.
  std::vector<OpenCondition> TakeRestoredConditions();
  // A clinician's target for one patient's vital (nullopt bounds: none); applied in order with
  // the patient's readings.
  void SetTarget(const std::string& patient, Vital vital, std::optional<double> low,
                 std::optional<double> high);
  // Blocks until everything submitted before the call has been handled (tests, shutdown).
  void Drain();
  size_t patients() const;
  const MonitorSettings& settings() const { return options_.settings; }

 private:
  struct Partition;
  Partition& PartitionOf(const std::string& patient);
  // Hands each partition its patients' readings, as live readings or as a restore.
  void Scatter(std::vector<PatientReading> readings, bool restore);
  void Run(Partition& p);

  EngineOptions options_;
  Sink sink_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  std::atomic<size_t> queued_{0};
};

}  // namespace medulla::monitor
