// Reading a real OSM extract (Monaco, ODbL, tests/data/osm/README.md) and building its graph;
// files that are not readable PBFs are refused with a reason, never a crash.
#include "routing/osm_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <unordered_set>

#include "routing/graph_builder.h"
#include "routing/road_graph.h"
#include "testing/temp_dir.h"

namespace medulla::routing {
namespace {

namespace fs = std::filesystem;

fs::path OsmDir() {
  const char* dir = std::getenv("MEDULLA_TEST_DATA");
  return fs::path(dir != nullptr ? dir : "tests/data") / "osm";
}

std::string MonacoPath() {
  return (OsmDir() / "monaco_roads.osm.pbf").string();
}

// Monaco's bounding box (tests/data/osm/README.md), in 1e-7 degrees, with a margin: ways that
// leave the extract keep the nodes it has.
constexpr int32_t kMinLat = 437'000'000, kMaxLat = 437'800'000;
constexpr int32_t kMinLon = 73'400'000, kMaxLon = 75'000'000;

class MonacoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto network = ReadOsmNetwork(MonacoPath(), {});
    ASSERT_TRUE(network.has_value()) << network.error().message();
    network_ = new RoadNetwork(std::move(*network));
    auto data = BuildRoadGraph(*network_);
    ASSERT_TRUE(data.has_value()) << data.error().message();
    data_ = new RoadGraphData(std::move(*data));
  }
  static void TearDownTestSuite() {
    delete network_;
    delete data_;
    network_ = nullptr;
    data_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(network_, nullptr);
    ASSERT_NE(data_, nullptr);
  }

  static RoadNetwork* network_;
  static RoadGraphData* data_;
};

RoadNetwork* MonacoTest::network_ = nullptr;
RoadGraphData* MonacoTest::data_ = nullptr;

TEST_F(MonacoTest, CountsArePlausible) {
  const ImportSummary& s = data_->summary;
  // 2,927 highway ways of which 1,764 are car-class roads; some are closed to traffic.
  EXPECT_EQ(s.ways_read, 2'927u);
  EXPECT_GT(s.ways_kept, 1000u);
  EXPECT_LT(s.ways_kept, 1764u + 100u);
  EXPECT_EQ(network_->ways.size(), s.ways_kept);
  EXPECT_GT(s.restrictions_read, 0u);
  EXPECT_GT(s.restrictions_applied, 0u);
  EXPECT_EQ(s.restrictions_read, s.restrictions_applied + s.restrictions_skipped)
      << "every restriction read is either applied or skipped";
  EXPECT_GT(data_->node_count, 1000u);
  EXPECT_GT(data_->edge_twin.size(), 2000u);
  EXPECT_GT(s.oneway_edges, 0u);
  EXPECT_LT(s.oneway_edges, data_->edge_twin.size());
}

TEST_F(MonacoTest, MostEdgesAreInTheMainComponent) {
  const auto in_main = std::count_if(data_->edge_flags.begin(), data_->edge_flags.end(),
                                     [](uint8_t f) { return (f & kEdgeInMainComponent) != 0; });
  EXPECT_GT(static_cast<double>(in_main), 0.9 * static_cast<double>(data_->edge_flags.size()));
}

TEST_F(MonacoTest, EveryArcNamesNodesInRange) {
  for (size_t a = 0; a < data_->arc_tail.size(); ++a) {
    ASSERT_LT(data_->arc_tail[a], data_->node_count) << "arc " << a;
    ASSERT_LT(data_->arc_head[a], data_->node_count) << "arc " << a;
  }
}

TEST_F(MonacoTest, TheGraphPassesItsOwnChecks) {
  auto g = RoadGraph::FromData(*data_);
  ASSERT_TRUE(g.has_value()) << g.error().message();
  EXPECT_EQ((*g)->edge_count(), data_->edge_twin.size());
}

TEST_F(MonacoTest, PointsLieInMonaco) {
  for (size_t p = 0; p < data_->point_lat.size(); ++p) {
    ASSERT_GE(data_->point_lat[p], kMinLat) << "point " << p;
    ASSERT_LE(data_->point_lat[p], kMaxLat) << "point " << p;
    ASSERT_GE(data_->point_lon[p], kMinLon) << "point " << p;
    ASSERT_LE(data_->point_lon[p], kMaxLon) << "point " << p;
  }
}

TEST_F(MonacoTest, EdgesBelongToKeptWaysAndSegmentsHaveLengthAndSpeed) {
  std::unordered_set<int64_t> kept;
  for (const NetworkWay& w : network_->ways) kept.insert(w.id);
  for (size_t e = 0; e < data_->edge_way.size(); ++e) {
    ASSERT_TRUE(kept.contains(data_->edge_way[e])) << "edge " << e;
  }
  uint64_t total_dm = 0;
  for (size_t e = 0; e + 1 < data_->edge_point_begin.size(); ++e) {
    for (uint32_t p = data_->edge_point_begin[e]; p + 1 < data_->edge_point_begin[e + 1]; ++p) {
      ASSERT_GT(data_->segment_speed_kmh[p], 0) << "segment " << p;
      // No segment between adjacent OSM nodes in a city is longer than a few kilometres.
      ASSERT_LT(data_->segment_length_dm[p], 50'000u) << "segment " << p;
      total_dm += data_->segment_length_dm[p];
    }
  }
  EXPECT_GT(total_dm, 100'000u * 10) << "less than 100 km of directed road";
}

TEST_F(MonacoTest, SavesAndLoadsBack) {
  medulla::testing::TempDir dir;
  const std::string path = RoadGraphPath(dir.path());
  ASSERT_TRUE(SaveRoadGraph(*data_, path).ok());
  auto g = RoadGraph::Load(path);
  ASSERT_TRUE(g.has_value()) << g.error().message();
  EXPECT_EQ((*g)->node_count(), data_->node_count);
  EXPECT_EQ((*g)->arc_count(), data_->arc_tail.size());
  EXPECT_TRUE(
      std::equal((*g)->order.begin(), (*g)->order.end(), data_->order.begin(), data_->order.end()));
}

// ---------------------------------------------------------------------------------------------
// Files that are not readable PBFs

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string WriteFile(const medulla::testing::TempDir& dir, const std::string& name,
                      std::string_view bytes) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

void ExpectInvalid(const std::string& path, const std::string& why) {
  auto network = ReadOsmNetwork(path, {});
  ASSERT_FALSE(network.has_value()) << why << ": read " << network->ways.size() << " ways";
  EXPECT_EQ(network.error().code(), core::Code::kInvalidArgument)
      << why << ": " << network.error().message();
  EXPECT_NE(network.error().message().find(path), std::string::npos)
      << why << ": the message should name the file: " << network.error().message();
}

TEST(OsmReaderTest, AMissingFileIsNotFound) {
  medulla::testing::TempDir dir;
  auto network = ReadOsmNetwork(dir.path() + "/no-such.osm.pbf", {});
  ASSERT_FALSE(network.has_value());
  EXPECT_EQ(network.error().code(), core::Code::kNotFound);
}

TEST(OsmReaderTest, ATruncatedPbfIsInvalidArgument) {
  const std::string whole = ReadBytes(MonacoPath());
  ASSERT_GT(whole.size(), 100'000u);  // several PBF blocks, so half cuts one
  medulla::testing::TempDir dir;
  ExpectInvalid(WriteFile(dir, "half.osm.pbf", std::string_view(whole).substr(0, whole.size() / 2)),
                "the first half");
}

TEST(OsmReaderTest, APbfCutAnywhereIsRefused) {
  const std::string whole = ReadBytes(MonacoPath());
  medulla::testing::TempDir dir;
  for (size_t cut : {size_t{3}, size_t{20}, size_t{200}, size_t{5000}, whole.size() - 1}) {
    ExpectInvalid(WriteFile(dir, "cut.osm.pbf", std::string_view(whole).substr(0, cut)),
                  "cut at " + std::to_string(cut));
  }
}

TEST(OsmReaderTest, ATextFileIsInvalidArgument) {
  medulla::testing::TempDir dir;
  ExpectInvalid(WriteFile(dir, "roads.osm.pbf", "This is not an OpenStreetMap file.\n"),
                "a text file");
  std::string xml = "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n";
  xml += "<node id=\"1\" lat=\"43.73\" lon=\"7.42\"/>\n</osm>\n";
  ExpectInvalid(WriteFile(dir, "roads.osm", xml), "an OSM XML file");
}

TEST(OsmReaderTest, AnEmptyFileIsInvalidArgument) {
  medulla::testing::TempDir dir;
  ExpectInvalid(WriteFile(dir, "empty.osm.pbf", ""), "an empty file");
}

TEST(OsmReaderTest, ADirectoryIsInvalidArgument) {
  medulla::testing::TempDir dir;
  ExpectInvalid(dir.path(), "a directory");
}

TEST(OsmReaderTest, ADamagedBlobIsRefused) {
  std::string bytes = ReadBytes(MonacoPath());
  // Overwrite the middle of the file (inside some compressed block) with garbage.
  std::fill(bytes.begin() + static_cast<ptrdiff_t>(bytes.size() / 2),
            bytes.begin() + static_cast<ptrdiff_t>(bytes.size() / 2 + 4096), '\xA5');
  medulla::testing::TempDir dir;
  ExpectInvalid(WriteFile(dir, "damaged.osm.pbf", bytes), "4 KB of garbage in the middle");
}

}  // namespace
}  // namespace medulla::routing
