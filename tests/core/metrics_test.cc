#include "core/metrics.h"

#include <gtest/gtest.h>

namespace medulla::core {
namespace {

TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry r;
  r.GetCounter("medulla_requests_total", "Requests.", "code=\"200\"").Add(3);
  r.GetGauge("medulla_queue_depth", "Depth.").Set(7);
  auto& h = r.GetHistogram("medulla_latency_seconds", "Latency.", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE medulla_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_requests_total{code=\"200\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_queue_depth 7\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("medulla_latency_seconds_count 3\n"), std::string::npos);
}

TEST(MetricsTest, SameNameAndLabelsIsSameMetric) {
  MetricsRegistry r;
  r.GetCounter("c", "h").Add();
  r.GetCounter("c", "h").Add();
  EXPECT_EQ(r.GetCounter("c", "h").Value(), 2u);
}

}  // namespace
}  // namespace medulla::core
