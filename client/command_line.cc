#include "client/command_line.h"

#include <cmath>
#include <filesystem>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/verb_table.h"
#include "worker/base/byte_size.h"
#include "worker/base/status_macros.h"

namespace lorad {
namespace {

absl::Status Usage(const std::string& verb, const std::string& message) {
  const std::string see = verb.empty() ? "loractl --help" : absl::StrCat("loractl ", verb, " --help");
  return absl::InvalidArgumentError(absl::StrCat(message, " (see '", see, "')"));
}

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, const std::string& name,
                         char short_name) {
  for (const FlagSpec& f : flags) {
    if ((!name.empty() && f.name == name) || (short_name != 0 && f.short_name == short_name)) {
      return &f;
    }
  }
  return nullptr;
}

absl::StatusOr<int64_t> ParseInt(const std::string& text, const std::string& flag, int64_t lo,
                                 int64_t hi) {
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " must be an integer in [", lo,
                                                   ", ", hi, "], got '", text, "'"));
  }
  return v;
}

absl::StatusOr<bool> ParseBool(const std::string& text, const std::string& flag) {
  const std::string t = absl::AsciiStrToLower(text);
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, " takes no value or true/false, got '", text, "'"));
}

absl::Status AddStates(const std::string& text, std::vector<std::string>& states) {
  static const char* const kStates[] = {"queued", "running", "succeeded", "failed", "cancelled"};
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (s == "canceled") s = "cancelled";
    bool known = false;
    for (const char* k : kStates) known = known || s == k;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--state: unknown state '", std::string(part),
          "' (expected queued, running, succeeded, failed or cancelled)"));
    }
    states.push_back(s);
  }
  return absl::OkStatus();
}

// Stores one flag's value.  `flag` is the canonical long name.
absl::Status ApplyFlag(CommandLine& cl, const std::string& flag, const std::string& value,
                       const std::string& cwd) {
  ConnectionOptions& c = cl.connection;
  if (flag == "help") { LORAD_ASSIGN_OR_RETURN(cl.help, ParseBool(value, flag)); }
  else if (flag == "address") c.address = value;
  else if (flag == "tls") { LORAD_ASSIGN_OR_RETURN(c.tls, ParseBool(value, flag)); }
  else if (flag == "tls-ca") c.tls_ca_file = value;
  else if (flag == "tls-cert") c.tls_cert_file = value;
  else if (flag == "tls-key") c.tls_key_file = value;
  else if (flag == "tls-server-name") c.tls_server_name = value;
  else if (flag == "token-file") c.token_file = value;
  else if (flag == "request-timeout") {
    LORAD_ASSIGN_OR_RETURN(c.request_timeout_seconds, ParseDurationSeconds(value, "--request-timeout"));
  } else if (flag == "output") {
    const std::string f = absl::AsciiStrToLower(value);
    if (f == "table") cl.output = OutputFormat::kTable;
    else if (f == "json") cl.output = OutputFormat::kJson;
    else if (f == "yaml") cl.output = OutputFormat::kYaml;
    else if (f == "name" && cl.verb == "list") cl.output = OutputFormat::kName;
    else {
      return absl::InvalidArgumentError(absl::StrCat(
          "-o/--output: unknown format '", value, "' (expected table, json or yaml",
          cl.verb == "list" ? " or name)" : ")"));
    }
  } else if (flag == "no-headers") { LORAD_ASSIGN_OR_RETURN(cl.no_headers, ParseBool(value, flag)); }
  else if (flag == "resume") {
    if (value.empty()) return absl::InvalidArgumentError("--resume needs a directory or 'auto'");
    cl.resume = value == "auto" ? value
                                : (std::filesystem::path(cwd) / value).lexically_normal().string();
  } else if (flag == "set") {
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--set expects KEY=VALUE (e.g. --set learning_rate=1e-4), got '", value, "'"));
    }
    cl.set_overrides.push_back(value);
  } else if (flag == "name") cl.name = value;
  else if (flag == "priority") {
    LORAD_ASSIGN_OR_RETURN(int64_t p, ParseInt(value, flag, -1000000, 1000000));
    cl.priority = static_cast<int32_t>(p);
  } else if (flag == "device") {
    const std::string d = absl::AsciiStrToLower(value);
    if (d != "any" && d != "cpu" && d != "cuda") {
      return absl::InvalidArgumentError(
          absl::StrCat("--device: expected any, cpu or cuda, got '", value, "'"));
    }
    cl.device = d;
  } else if (flag == "max-attempts") {
    LORAD_ASSIGN_OR_RETURN(int64_t n, ParseInt(value, flag, 1, 1000));
    cl.max_attempts = static_cast<int32_t>(n);
  } else if (flag == "max-runtime") {
    LORAD_ASSIGN_OR_RETURN(cl.max_runtime_seconds, ParseDurationSeconds(value, "--max-runtime"));
  } else if (flag == "idempotency-key") {
    if (value.empty() || value.size() > 256) {
      return absl::InvalidArgumentError("--idempotency-key must be 1 to 256 characters");
    }
    cl.idempotency_key = value;
  } else if (flag == "dry-run") { LORAD_ASSIGN_OR_RETURN(cl.dry_run, ParseBool(value, flag)); }
  else if (flag == "follow") { LORAD_ASSIGN_OR_RETURN(cl.follow, ParseBool(value, flag)); }
  else if (flag == "state") { LORAD_RETURN_IF_ERROR(AddStates(value, cl.states)); }
  else if (flag == "watch") { LORAD_ASSIGN_OR_RETURN(cl.watch, ParseBool(value, flag)); }
  else if (flag == "limit") {
    LORAD_ASSIGN_OR_RETURN(int64_t n, ParseInt(value, flag, 1, 1000000));
    cl.limit = static_cast<int32_t>(n);
  } else if (flag == "since-seq") {
    LORAD_ASSIGN_OR_RETURN(cl.since_seq, ParseInt(value, flag, 0, std::numeric_limits<int64_t>::max()));
  } else if (flag == "timeout") {
    LORAD_ASSIGN_OR_RETURN(double t, ParseDurationSeconds(value, "--timeout"));
    cl.wait_timeout_seconds = t;
  } else if (flag == "reason") cl.cancel_reason = value;
  else if (flag == "files") { LORAD_ASSIGN_OR_RETURN(cl.delete_files, ParseBool(value, flag)); }
  else if (flag == "width") {
    LORAD_ASSIGN_OR_RETURN(int64_t w, ParseInt(value, flag, 20, 1000));
    cl.plot_width = static_cast<int>(w);
  } else if (flag == "height") {
    LORAD_ASSIGN_OR_RETURN(int64_t h, ParseInt(value, flag, 4, 200));
    cl.plot_height = static_cast<int>(h);
  } else if (flag == "service") cl.health_service = value;
  else if (flag == "out") {
    if (value.empty()) return absl::InvalidArgumentError("--out needs a directory");
    cl.merge_out = (std::filesystem::path(cwd) / value).lexically_normal().string();
  } else if (flag == "dtype") {
    const std::string d = absl::AsciiStrToLower(value);
    if (d == "bf16" || d == "bfloat16") cl.merge_dtype = "bf16";
    else if (d == "f16" || d == "fp16" || d == "float16") cl.merge_dtype = "f16";
    else if (d == "f32" || d == "fp32" || d == "float32") cl.merge_dtype = "f32";
    else {
      return absl::InvalidArgumentError(
          absl::StrCat("--dtype: expected bf16, f16 or f32, got '", value, "'"));
    }
  } else if (flag == "max-shard-size") {
    if (absl::Status s = ParseByteSize(value).status(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--max-shard-size: ", s.message()));
    }
    cl.max_shard_size = value;
  } else if (flag == "force") { LORAD_ASSIGN_OR_RETURN(cl.force, ParseBool(value, flag)); }
  else return absl::InternalError(absl::StrCat("flag --", flag, " has no handler"));
  return absl::OkStatus();
}

// Fills connection options the flags left unset from the environment.
void ApplyEnvironment(const EnvLookup& env, ConnectionOptions& c) {
  auto fill = [&](std::string& field, const char* var) {
    if (!field.empty()) return;
    if (std::optional<std::string> v = env(var); v && !v->empty()) field = *v;
  };
  fill(c.address, "LORAD_ADDRESS");
  fill(c.token_file, "LORAD_TOKEN_FILE");
  fill(c.tls_ca_file, "LORAD_TLS_CA");
  fill(c.tls_cert_file, "LORAD_TLS_CERT");
  fill(c.tls_key_file, "LORAD_TLS_KEY");
  if (!c.tls_ca_file.empty() || !c.tls_cert_file.empty()) c.tls = true;
}

absl::Status Validate(const VerbSpec& spec, CommandLine& cl) {
  const int n = static_cast<int>(cl.args.size());
  const std::string usage = absl::StrCat("usage: loractl ", spec.name, " ", spec.args_usage);
  if (n < spec.min_args) {
    return Usage(spec.name, absl::StrCat("missing ", spec.args_usage, "; ", usage));
  }
  if (spec.max_args >= 0 && n > spec.max_args) {
    return Usage(spec.name, absl::StrCat("unexpected argument '", cl.args[spec.max_args], "'; ",
                                         usage));
  }
  for (const std::string& a : cl.args) {
    if (a.empty()) return Usage(spec.name, "an argument is empty");
  }
  if (spec.name == "completion" && cl.args[0] != "bash" && cl.args[0] != "zsh") {
    return Usage(spec.name, absl::StrCat("unknown shell '", cl.args[0], "' (bash or zsh)"));
  }
  if (spec.name == "merge" && cl.merge_out.empty()) {
    return Usage(spec.name, "--out DIR is required (where the merged model goes)");
  }
  if (spec.name == "submit" && cl.dry_run && cl.follow) {
    return Usage(spec.name, "--dry-run and --follow exclude each other");
  }
  if (!cl.connection.tls_cert_file.empty() != !cl.connection.tls_key_file.empty()) {
    return Usage(spec.name, "--tls-cert and --tls-key go together");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<double> ParseDurationSeconds(const std::string& text, const std::string& what) {
  double seconds = 0;
  absl::Duration d;
  if (absl::SimpleAtod(text, &seconds)) {
    // A bare number is seconds, like sleep(1).
  } else if (absl::ParseDuration(text, &d)) {
    seconds = absl::ToDoubleSeconds(d);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", text, "' is not a duration (e.g. 90, 90s, 10m, 1h30m)"));
  }
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > 366.0 * 24 * 3600) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", text, "' must be positive and at most a year"));
  }
  return seconds;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const EnvLookup& env, const std::string& cwd) {
  CommandLine cl;
  const VerbSpec* spec = nullptr;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      if (spec == nullptr && !flags_done) {
        spec = FindVerb(arg);
        if (spec == nullptr) return Usage("", absl::StrCat("unknown verb '", arg, "'"));
        cl.verb = spec->name;
      } else {
        cl.args.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    // --name, --name=value, -x, -xVALUE
    std::string name;
    char short_name = 0;
    std::optional<std::string> inline_value;
    if (absl::StartsWith(arg, "--")) {
      name = arg.substr(2);
      if (const size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name.resize(eq);
      }
    } else {
      short_name = arg[1];
      if (arg.size() > 2) inline_value = arg.substr(2);
    }
    const FlagSpec* flag = FindFlag(GlobalFlags(), name, short_name);
    if (flag == nullptr && spec != nullptr) flag = FindFlag(spec->flags, name, short_name);
    if (flag == nullptr) {
      const std::string shown = short_name ? absl::StrCat("-", std::string(1, short_name))
                                           : absl::StrCat("--", name);
      if (spec == nullptr) {
        return Usage("", absl::StrCat("unknown flag ", shown,
                                      " before the verb (verb flags go after it)"));
      }
      return Usage(spec->name,
                   absl::StrCat("unknown flag ", shown, " for 'loractl ", spec->name, "'"));
    }
    std::string value;
    if (flag->value_name.empty()) {
      if (short_name != 0 && inline_value) {
        return Usage(cl.verb, absl::StrCat("-", std::string(1, short_name), " takes no value"));
      }
      value = inline_value.value_or("true");
    } else if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Usage(cl.verb, absl::StrCat("--", flag->name, " needs a value (", flag->value_name, ")"));
    }
    absl::Status s = ApplyFlag(cl, flag->name, value, cwd);
    if (!s.ok()) return Usage(cl.verb, std::string(s.message()));
  }
  ApplyEnvironment(env, cl.connection);
  if (spec == nullptr) {
    if (cl.help) return cl;
    return Usage("", "missing verb");
  }
  if (spec->name == "help") {
    cl.help = true;
    if (!cl.args.empty()) {
      const VerbSpec* target = FindVerb(cl.args[0]);
      if (target == nullptr) return Usage("", absl::StrCat("unknown verb '", cl.args[0], "'"));
      cl.verb = target->name;
    } else {
      cl.verb.clear();
    }
    cl.args.clear();
    return cl;
  }
  if (cl.help) return cl;
  LORAD_RETURN_IF_ERROR(Validate(*spec, cl));
  return cl;
}

}  // namespace lorad
