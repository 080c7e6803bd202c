#include "client/server_address.h"

#include <set>

#include <gtest/gtest.h>

namespace lorad {
namespace {

class ServerAddressTest : public ::testing::Test {
 protected:
  absl::StatusOr<ServerAddress> Resolve(const std::string& given) {
    return ResolveServerAddress(given, "/home/u/proj",
                                [this](const std::string& p) { return existing_.count(p) > 0; });
  }
  std::set<std::string> existing_;
};

TEST_F(ServerAddressTest, DefaultPrefersTheUserSocket) {
  existing_ = {"/home/u/proj/.lorad/lorad.sock", "/run/lorad/lorad.sock"};
  auto a = Resolve("");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->target, "unix:/home/u/proj/.lorad/lorad.sock");
  EXPECT_TRUE(a->is_unix);
  EXPECT_FALSE(a->defaulted);
}

TEST_F(ServerAddressTest, DefaultFallsBackToTheSystemSocket) {
  existing_ = {"/run/lorad/lorad.sock"};
  auto a = Resolve("");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->target, "unix:/run/lorad/lorad.sock");
  EXPECT_FALSE(a->defaulted);
  existing_.clear();
  EXPECT_TRUE(Resolve("")->defaulted);  // neither exists: the message says so
}

TEST_F(ServerAddressTest, SocketForms) {
  EXPECT_EQ(Resolve("unix:/tmp/a.sock")->target, "unix:/tmp/a.sock");
  EXPECT_EQ(Resolve("unix:rel/a.sock")->target, "unix:/home/u/proj/rel/a.sock");
  EXPECT_EQ(Resolve("unix:///tmp/a.sock")->target, "unix:/tmp/a.sock");
  EXPECT_EQ(Resolve("./x/../s.sock")->target, "unix:/home/u/proj/s.sock");
  EXPECT_EQ(Resolve("/var/run/l")->display, "/var/run/l");
  EXPECT_EQ(Resolve("my.sock")->target, "unix:/home/u/proj/my.sock");
}

TEST_F(ServerAddressTest, TcpForms) {
  auto a = Resolve("localhost:7070");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->target, "localhost:7070");
  EXPECT_FALSE(a->is_unix);
  EXPECT_TRUE(a->is_loopback);
  EXPECT_TRUE(Resolve("127.0.0.1:1")->is_loopback);
  EXPECT_TRUE(Resolve("[::1]:7070")->is_loopback);
  EXPECT_FALSE(Resolve("gpu-box.lan:7070")->is_loopback);
}

TEST_F(ServerAddressTest, RejectsWhatIsNeitherSocketNorHostPort) {
  for (const char* bad : {"localhost", "host:port", "host:0", "host:70000", "unix:", "::1:80"}) {
    auto a = Resolve(bad);
    ASSERT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_NE(Resolve("localhost").status().message().find("HOST:PORT"), std::string::npos);
}

}  // namespace
}  // namespace lorad
