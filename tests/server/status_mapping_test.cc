#include "server/status_mapping.h"

#include <gtest/gtest.h>

namespace lorad {
namespace {

TEST(StatusMappingTest, EveryCanonicalCodeMapsOneToOne) {
  for (int c = 0; c <= 16; ++c) {
    auto code = static_cast<absl::StatusCode>(c);
    grpc::StatusCode g = ToGrpcCode(code);
    EXPECT_EQ(static_cast<int>(g), c) << absl::StatusCodeToString(code);
    EXPECT_EQ(FromGrpcCode(g), code);
  }
}

TEST(StatusMappingTest, KeepsMessage) {
  grpc::Status s = ToGrpcStatus(absl::FailedPreconditionError("job j is SUCCEEDED"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(), "job j is SUCCEEDED");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

}  // namespace
}  // namespace lorad
