// TLS listener with bearer tokens, and the standard health service.
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "daemon_harness.h"

namespace lorad::testing {
namespace {

using namespace std::chrono_literals;

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(DaemonTlsTest, TlsWithTokensAndHealthService) {
  auto dir = std::filesystem::temp_directory_path() / ("lorad-it-tls-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  int rc = std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
                        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " + key +
                        " -out " + cert + " >/dev/null 2>&1").c_str());
  if (rc != 0) GTEST_SKIP() << "openssl is not available to make a test certificate";
  std::ofstream(dir / "tokens") << "alice alice-token-0123456789\n";
  Daemon d(dir / "d",
           "workers: none\ntoken_file: " + (dir / "tokens").string() + "\ntls:\n  cert_file: " +
               cert + "\n  key_file: " + key + "\n",
           {"--listen", "127.0.0.1:0"});
  d.Start();
  ASSERT_FALSE(d.tcp_address().empty());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = Slurp(cert);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto tls = v1::JobService::NewStub(
      grpc::CreateCustomChannel(d.tcp_address(), grpc::SslCredentials(ssl), args));
  v1::GetVersionResponse version;
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer alice-token-0123456789");
    grpc::Status s = tls->GetVersion(&ctx, v1::GetVersionRequest(), &version);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;  // TLS but no token
    EXPECT_EQ(tls->GetVersion(&ctx, v1::GetVersionRequest(), &version).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    // A plaintext client cannot talk to the TLS port.
    auto plain = v1::JobService::NewStub(FreshChannel(d.tcp_address()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    EXPECT_FALSE(plain->GetVersion(&ctx, v1::GetVersionRequest(), &version).ok());
  }

  // grpc.health.v1.Health/Check on the Unix socket: empty request (all
  // services) answers status SERVING (field 1 = 1 → bytes 08 01).
  grpc::GenericStub generic(FreshChannel(d.socket_address()));
  grpc::ClientContext ctx;
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1), response;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> status;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      cv.notify_all();
                    });
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return status.has_value(); }));
  }
  ASSERT_TRUE(status->ok()) << status->error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
  EXPECT_EQ(d.Terminate(20s), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lorad::testing
