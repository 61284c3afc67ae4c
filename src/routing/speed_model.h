// Travel speeds on a segment: a live speed when traffic has reported one, else the free-flow
// speed scaled by the time of day. Turned into the shortest-path engine's weights (ms).
#pragma once

#include <cstdint>

#include "routing/road_profile.h"

namespace medulla::routing {

// A segment's live speed as stored: kNoLiveSpeed (use the profile), kClosed, or km/h x 10.
inline constexpr uint16_t kNoLiveSpeed = 0;
inline constexpr uint16_t kClosed = 0xFFFF;

// The share of the free-flow speed driven at this hour (0..23, local time) on a weekday or at
// the weekend, by road class. Urban congestion curves in the shape of the TomTom Traffic Index
// for Porto (weekday peaks 8-9h and 18-19h, about +50% travel time for general traffic on
// arterials), damped for an ambulance under lights and sirens, which traffic lets through:
// +30% on arterials and +15% on local streets at the peak, nothing at night. A default for
// when no live speed is known, replaced segment by segment as traffic reports arrive.
double TimeOfDayFactor(RoadClass road_class, int hour, bool weekend);

// Travel time in ms over length_dm decimetres at speed_kmh (> 0), rounded to the nearest ms.
inline uint32_t TravelMs(uint32_t length_dm, double speed_kmh) {
  // dm / (km/h) = 0.1 m / (1000/3600 m/s) = 0.36 s = 360 ms.
  return static_cast<uint32_t>(static_cast<double>(length_dm) * 360.0 / speed_kmh + 0.5);
}

}  // namespace medulla::routing
