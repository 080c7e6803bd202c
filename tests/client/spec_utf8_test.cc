// loractl checks every string of a job spec for UTF-8 before sending it: the
// server's own refusal (protobuf's parse, answered by gRPC 1.51 as
// UNIMPLEMENTED) has no message.
#include "client/spec_utf8.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "client/exit_code.h"
#include "lorad/v1/lorad.pb.h"

namespace lorad {
namespace {

using ::testing::HasSubstr;

constexpr char kLatin1[] = "\xe9t\xe9";  // "été" in Latin-1: not UTF-8

v1::JobSpec ValidSpec() {
  v1::JobSpec spec;
  spec.set_config_yaml("base_model: ./m\noutput_dir: ./out-\xc3\xa9t\xc3\xa9\n");  // UTF-8 "été"
  spec.set_config_dir("/srv/jobs");
  spec.add_set_overrides("lora_r=16");
  spec.set_name("\xe8\xa8\x93\xe7\xb7\xb4 run");  // CJK, 3-byte sequences
  spec.set_resume_from("auto");
  spec.set_idempotency_key("k1");
  return spec;
}

TEST(SpecUtf8Test, AValidSpecPasses) {
  EXPECT_TRUE(CheckStringFieldsAreUtf8(ValidSpec(), "the job spec").ok());
  EXPECT_TRUE(CheckStringFieldsAreUtf8(v1::JobSpec(), "the job spec").ok());
}

TEST(SpecUtf8Test, EachBadFieldIsNamedWithTheOffsetOfItsFirstBadByte) {
  struct Case {
    const char* field;
    void (*set)(v1::JobSpec&, const std::string&);
  };
  const Case cases[] = {
      {"config_yaml", [](v1::JobSpec& s, const std::string& v) { s.set_config_yaml(v); }},
      {"config_dir", [](v1::JobSpec& s, const std::string& v) { s.set_config_dir(v); }},
      {"name", [](v1::JobSpec& s, const std::string& v) { s.set_name(v); }},
      {"resume_from", [](v1::JobSpec& s, const std::string& v) { s.set_resume_from(v); }},
      {"idempotency_key", [](v1::JobSpec& s, const std::string& v) { s.set_idempotency_key(v); }},
      {"set_overrides[1]", [](v1::JobSpec& s, const std::string& v) { s.add_set_overrides(v); }},
      {"merge.out_dir", [](v1::JobSpec& s, const std::string& v) { s.mutable_merge()->set_out_dir(v); }},
      {"merge.source_job_id",
       [](v1::JobSpec& s, const std::string& v) { s.mutable_merge()->set_source_job_id(v); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    v1::JobSpec spec = ValidSpec();
    c.set(spec, std::string("ab") + kLatin1);
    const absl::Status status = CheckStringFieldsAreUtf8(spec, "the job spec");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                HasSubstr(std::string("the job spec: ") + c.field + " is not valid UTF-8"));
    EXPECT_THAT(status.message(), HasSubstr("offset 2 of 5"));
    // The exit status scripts see for a refused request.
    EXPECT_EQ(ExitCodeForStatus(status), ExitCode::kUsage);
  }
}

TEST(SpecUtf8Test, IllFormedSequencesAreRefusedNotOnlyStrayBytes) {
  const std::string bad[] = {
      "\xc0\xaf",          // overlong '/'
      "\xed\xa0\x80",      // a UTF-16 surrogate
      "\xf4\x90\x80\x80",  // past U+10FFFF
      "abc\xe2\x82",       // truncated at the end
  };
  for (const std::string& value : bad) {
    v1::JobSpec spec = ValidSpec();
    spec.set_name(value);
    EXPECT_EQ(CheckStringFieldsAreUtf8(spec, "the job spec").code(),
              absl::StatusCode::kInvalidArgument)
        << testing::PrintToString(value);
  }
}

}  // namespace
}  // namespace lorad
