#include "client/exit_code.h"

#include <gtest/gtest.h>

namespace lorad {
namespace {

TEST(ExitCodeTest, DocumentedMapping) {
  EXPECT_EQ(ExitCodeForStatus(absl::OkStatus()), ExitCode::kOk);
  EXPECT_EQ(ExitCodeForStatus(absl::AbortedError("job FAILED")), ExitCode::kJobFailed);
  EXPECT_EQ(ExitCodeForStatus(absl::DeadlineExceededError("wait timeout")), ExitCode::kJobFailed);
  EXPECT_EQ(ExitCodeForStatus(absl::InternalError("x")), ExitCode::kJobFailed);
  EXPECT_EQ(ExitCodeForStatus(absl::InvalidArgumentError("x")), ExitCode::kUsage);
  EXPECT_EQ(ExitCodeForStatus(absl::FailedPreconditionError("x")), ExitCode::kUsage);
  EXPECT_EQ(ExitCodeForStatus(absl::AlreadyExistsError("x")), ExitCode::kUsage);
  EXPECT_EQ(ExitCodeForStatus(absl::UnavailableError("x")), ExitCode::kUnreachable);
  EXPECT_EQ(ExitCodeForStatus(absl::NotFoundError("x")), ExitCode::kNotFound);
  EXPECT_EQ(ExitCodeForStatus(absl::UnauthenticatedError("x")), ExitCode::kDenied);
  EXPECT_EQ(ExitCodeForStatus(absl::PermissionDeniedError("x")), ExitCode::kDenied);
  EXPECT_EQ(ExitCodeForStatus(absl::CancelledError("x")), ExitCode::kInterrupted);
  EXPECT_EQ(static_cast<int>(ExitCode::kInterrupted), 130);
  EXPECT_EQ(static_cast<int>(ExitCode::kDenied), 5);
}

TEST(ExitCodeTest, HelpListsEveryCode) {
  const std::string help = ExitCodeHelp();
  for (const char* code : {"  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  5 ", "  130 "}) {
    EXPECT_NE(help.find(code), std::string::npos) << code;
  }
}

}  // namespace
}  // namespace lorad
