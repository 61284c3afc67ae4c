#include "monitor/engine.h"

#include "core/time.h"

#include <chrono>
#include <deque>
#include <future>
#include <iterator>
#include <unordered_map>
#include <variant>

namespace medulla::monitor {
namespace {

int64_t WallMs() {
  return core::SystemClock::Instance().Now() / 1000;
}

struct TargetCommand {
  std::string patient;
  Vital vital;
  std::optional<double> low, high;
};
struct DrainCommand {
  std::shared_ptr<std::promise<void>> done;
};
struct RestoreBatch {
  std::vector<PatientReading> readings;
};
struct TakeRestoredCommand {
  std::shared_ptr<std::promise<std::vector<OpenCondition>>> done;
};

}  // namespace

struct MonitorEngine::Partition {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::variant<std::vector<PatientReading>, TargetCommand, DrainCommand, RestoreBatch,
                          TakeRestoredCommand>>
      queue;
  bool stopping = false;
  std::unordered_map<std::string, PatientMonitor> patients;  // owned by the thread
  // What restored readings opened: patient '\0' condition -> the latest open or update event.
  std::unordered_map<std::string, OpenCondition> restored;
  std::atomic<size_t> patient_count{0};
  std::thread thread;
};

MonitorEngine::MonitorEngine(EngineOptions options, Sink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {
  const int n = std::max(1, options_.partitions);
  for (int i = 0; i < n; ++i) partitions_.push_back(std::make_unique<Partition>());
  for (auto& p : partitions_) p->thread = std::thread([this, q = p.get()] { Run(*q); });
}

MonitorEngine::~MonitorEngine() {
  for (auto& p : partitions_) {
    {
      std::lock_guard lock(p->mu);
      p->stopping = true;
    }
    p->cv.notify_one();
  }
  for (auto& p : partitions_) p->thread.join();
}

MonitorEngine::Partition& MonitorEngine::PartitionOf(const std::string& patient) {
  return *partitions_[std::hash<std::string>{}(patient) % partitions_.size()];
}

bool MonitorEngine::Submit(std::vector<PatientReading> readings) {
  if (queued_.load() + readings.size() > options_.max_queued) return false;
  queued_ += readings.size();
  Scatter(std::move(readings), false);
  return true;
}

void MonitorEngine::Restore(std::vector<PatientReading> readings) {
  Scatter(std::move(readings), true);
}

void MonitorEngine::Scatter(std::vector<PatientReading> readings, bool restore) {
  auto hand = [&](Partition& p, std::vector<PatientReading> part) {
    {
      std::lock_guard lock(p.mu);
      if (restore) {
        p.queue.emplace_back(RestoreBatch{std::move(part)});
      } else {
        p.queue.emplace_back(std::move(part));
      }
    }
    p.cv.notify_one();
  };
  if (partitions_.size() == 1) return hand(*partitions_[0], std::move(readings));
  std::vector<std::vector<PatientReading>> split(partitions_.size());
  for (auto& r : readings) {
    split[std::hash<std::string>{}(r.patient) % partitions_.size()].push_back(std::move(r));
  }
  for (size_t i = 0; i < split.size(); ++i) {
    if (!split[i].empty()) hand(*partitions_[i], std::move(split[i]));
  }
}

std::vector<OpenCondition> MonitorEngine::TakeRestoredConditions() {
  std::vector<std::future<std::vector<OpenCondition>>> waits;
  for (auto& p : partitions_) {
    auto done = std::make_shared<std::promise<std::vector<OpenCondition>>>();
    waits.push_back(done->get_future());
    {
      std::lock_guard lock(p->mu);
      p->queue.emplace_back(TakeRestoredCommand{done});
    }
    p->cv.notify_one();
  }
  std::vector<OpenCondition> out;
  for (auto& w : waits) {
    auto part = w.get();
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

void MonitorEngine::SetTarget(const std::string& patient, Vital vital, std::optional<double> low,
                              std::optional<double> high) {
  auto& p = PartitionOf(patient);
  {
    std::lock_guard lock(p.mu);
    p.queue.emplace_back(TargetCommand{patient, vital, low, high});
  }
  p.cv.notify_one();
}

void MonitorEngine::Drain() {
  std::vector<std::future<void>> waits;
  for (auto& p : partitions_) {
    auto done = std::make_shared<std::promise<void>>();
    waits.push_back(done->get_future());
    {
      std::lock_guard lock(p->mu);
      p->queue.emplace_back(DrainCommand{done});
    }
    p->cv.notify_one();
  }
  for (auto& w : waits) w.wait();
}

size_t MonitorEngine::patients() const {
  size_t n = 0;
  for (const auto& p : partitions_) n += p->patient_count.load();
  return n;
}

void MonitorEngine::Run(Partition& p) {
  const auto& settings = options_.settings;
  int64_t next_silence_check = WallMs() + options_.silence_check_ms;
  for (;;) {
    decltype(p.queue) work;
    {
      std::unique_lock lock(p.mu);
      p.cv.wait_for(lock, std::chrono::milliseconds(options_.silence_check_ms),
                    [&] { return !p.queue.empty() || p.stopping; });
      work.swap(p.queue);
      if (work.empty() && p.stopping) return;
    }
    for (auto& item : work) {
      if (auto* readings = std::get_if<std::vector<PatientReading>>(&item)) {
        for (const auto& r : *readings) {
          auto [it, added] = p.patients.try_emplace(r.patient);
          if (added) p.patient_count.store(p.patients.size());
          it->second.Observe(r.reading, settings,
                             [&](const MonitorEvent& e) { sink_(r.patient, e); });
        }
        queued_ -= readings->size();
      } else if (auto* t = std::get_if<TargetCommand>(&item)) {
        auto& m = p.patients[t->patient];
        if (t->low || t->high) {
          m.SetTarget(t->vital, t->low, t->high);
        } else {
          m.ClearTarget(t->vital);
        }
      } else if (auto* d = std::get_if<DrainCommand>(&item)) {
        d->done->set_value();
      } else if (auto* restore = std::get_if<RestoreBatch>(&item)) {
        for (const auto& r : restore->readings) {
          auto [it, added] = p.patients.try_emplace(r.patient);
          if (added) p.patient_count.store(p.patients.size());
          it->second.Observe(r.reading, settings, [&](const MonitorEvent& e) {
            if (e.kind == MonitorEvent::Kind::kScore) return;
            std::string key = r.patient;
            key.push_back('\0');
            key.push_back(static_cast<char>(e.condition));
            if (e.kind == MonitorEvent::Kind::kAlertResolved) {
              p.restored.erase(key);
            } else {
              p.restored[key] = OpenCondition{r.patient, e};
            }
          });
        }
      } else if (auto* take = std::get_if<TakeRestoredCommand>(&item)) {
        std::vector<OpenCondition> open;
        for (auto& [key, c] : p.restored) {
          auto it = p.patients.find(c.patient);
          if (it != p.patients.end() && it->second.open(c.event.condition)) {
            open.push_back(std::move(c));
          }
        }
        p.restored.clear();
        take->done->set_value(std::move(open));
      }
    }
    // Device silence is judged against the wall clock: nothing arriving is the symptom.
    if (const int64_t now = WallMs(); now >= next_silence_check) {
      next_silence_check = now + options_.silence_check_ms;
      for (auto& entry : p.patients) {
        const std::string& patient = entry.first;  // (clang 14 cannot capture a binding)
        entry.second.CheckSilence(now, settings, [&](const MonitorEvent& e) { sink_(patient, e); });
      }
    }
  }
}

}  // namespace medulla::monitor
