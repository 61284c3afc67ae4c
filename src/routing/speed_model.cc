#include "routing/speed_model.h"

#include <array>

namespace medulla::routing {

namespace {

// Travel time over free flow, per hour, for arterials (motorway to secondary, with links) and
// for local streets. The factor driven is its inverse.
constexpr std::array<double, 24> kWeekdayArterial = {
    1.00, 1.00, 1.00, 1.00, 1.00, 1.01, 1.06, 1.20, 1.30, 1.22, 1.12, 1.10,
    1.12, 1.12, 1.10, 1.12, 1.16, 1.25, 1.30, 1.20, 1.09, 1.05, 1.02, 1.01};
constexpr std::array<double, 24> kWeekdayLocal = {1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.03, 1.10,
                                                  1.15, 1.11, 1.06, 1.06, 1.07, 1.07, 1.06, 1.07,
                                                  1.09, 1.13, 1.15, 1.10, 1.05, 1.02, 1.01, 1.00};
constexpr std::array<double, 24> kWeekendArterial = {
    1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.01, 1.03, 1.06, 1.09, 1.12,
    1.13, 1.12, 1.09, 1.09, 1.11, 1.12, 1.12, 1.09, 1.05, 1.03, 1.01, 1.00};
constexpr std::array<double, 24> kWeekendLocal = {1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00, 1.00,
                                                  1.01, 1.03, 1.05, 1.06, 1.06, 1.06, 1.05, 1.05,
                                                  1.06, 1.06, 1.06, 1.05, 1.02, 1.01, 1.00, 1.00};

bool IsArterial(RoadClass c) {
  return c <= RoadClass::kSecondaryLink;
}

}  // namespace

double TimeOfDayFactor(RoadClass road_class, int hour, bool weekend) {
  if (hour < 0 || hour > 23) return 1.0;
  const auto h = static_cast<size_t>(hour);
  const bool arterial = IsArterial(road_class);
  const double slowdown = weekend ? (arterial ? kWeekendArterial[h] : kWeekendLocal[h])
                                  : (arterial ? kWeekdayArterial[h] : kWeekdayLocal[h]);
  return 1.0 / slowdown;
}

}  // namespace medulla::routing
