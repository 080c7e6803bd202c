// How loractl reaches lorad: the address and the credentials to present.
#pragma once

#include <string>

namespace lorad {

struct ConnectionOptions {
  /// As given by --address / LORAD_ADDRESS; empty = the default socket search.
  std::string address;
  bool tls = false;            // implied by tls_ca_file
  std::string tls_ca_file;     // PEM roots; empty = system roots
  std::string tls_cert_file;   // client certificate (mutual TLS)
  std::string tls_key_file;
  std::string tls_server_name; // override of the name verified in the certificate
  std::string token_file;      // bearer token, sent as "authorization: Bearer <token>"
  double request_timeout_seconds = 30;
};

}  // namespace lorad
