#include "client/commands.h"

#include <functional>
#include <map>
#include <tuple>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/completion_script.h"
#include "client/event_formatter.h"
#include "client/interrupt_handler.h"
#include "client/job_view.h"
#include "client/lorad_client.h"
#include "client/loss_plot.h"
#include "client/message_printer.h"
#include "client/verb_table.h"
#include "worker/base/status_macros.h"

#ifndef LORAD_VERSION
#define LORAD_VERSION "unknown"
#endif

namespace lorad {
namespace {

bool Structured(const CommandLine& cl) {
  return cl.output == OutputFormat::kJson || cl.output == OutputFormat::kYaml;
}

absl::StatusOr<std::vector<v1::JobState>> StatesFromNames(const std::vector<std::string>& names) {
  std::vector<v1::JobState> states;
  for (const std::string& n : names) {
    v1::JobState s;
    if (!v1::JobState_Parse(absl::StrCat("JOB_STATE_", absl::AsciiStrToUpper(n)), &s)) {
      return absl::InvalidArgumentError(absl::StrCat("--state: unknown state '", n, "'"));
    }
    states.push_back(s);
  }
  return states;
}

// Prints a JSON value built by hand (version, health) in the chosen format.
absl::Status PrintJson(const nlohmann::ordered_json& j, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) {
    out << j.dump(2) << '\n';
    return absl::OkStatus();
  }
  LORAD_ASSIGN_OR_RETURN(std::string yaml, JsonToYaml(j.dump()));
  out << yaml << '\n';
  return absl::OkStatus();
}

// Applies `op` to each job id; with several ids, reports each failure and
// carries on, then fails with the first error's code.
absl::Status ForEachJob(const CommandLine& cl, CommandIo& io, const std::string& verb,
                        const std::function<absl::Status(const std::string&)>& op) {
  if (cl.args.size() == 1) return op(cl.args[0]);
  absl::Status first;
  int failed = 0;
  for (const std::string& id : cl.args) {
    absl::Status s = op(id);
    if (s.ok()) continue;
    if (s.code() == absl::StatusCode::kCancelled) return s;
    io.err << "loractl: " << s.message() << '\n';
    if (failed++ == 0) first = s;
  }
  if (failed == 0) return absl::OkStatus();
  return absl::Status(first.code(), absl::StrCat(failed, " of ", cl.args.size(), " jobs could not be ",
                                                 verb, " (see above)"));
}

absl::Status RunVersion(const CommandLine& cl, CommandIo& io) {
  absl::StatusOr<v1::GetVersionResponse> server = absl::UnknownError("");
  auto client = LoradClient::Create(cl.connection, io.cwd);
  server = client.ok() ? (*client)->GetVersion() : client.status();
  if (Structured(cl)) {
    nlohmann::ordered_json j;
    j["client"] = {{"version", ClientVersion()}};
    if (server.ok()) {
      LORAD_ASSIGN_OR_RETURN(std::string sj, MessageToJson(*server, false));
      j["server"] = nlohmann::ordered_json::parse(sj);
    }
    LORAD_RETURN_IF_ERROR(PrintJson(j, cl.output, io.out));
  } else {
    io.out << "client: loractl " << ClientVersion() << '\n';
    if (server.ok()) {
      io.out << "server: lorad " << server->version();
      if (!server->git_commit().empty()) io.out << " (commit " << server->git_commit() << ")";
      io.out << ", API v" << server->api_version() << ", store schema " << server->schema_version()
             << '\n';
    }
  }
  return server.status();
}

}  // namespace

std::string ClientVersion() { return LORAD_VERSION; }

absl::Status RunCommand(const CommandLine& cl, CommandIo& io) {
  if (cl.help) {
    io.out << HelpText(cl.verb);
    return absl::OkStatus();
  }
  if (cl.verb == "completion") {
    io.out << (cl.args[0] == "bash" ? BashCompletionScript() : ZshCompletionScript());
    return absl::OkStatus();
  }
  if (cl.verb == "version") return RunVersion(cl, io);
  LORAD_ASSIGN_OR_RETURN(std::unique_ptr<LoradClient> client,
                         LoradClient::Create(cl.connection, io.cwd));
  static const std::map<std::string,
                        absl::Status (*)(LoradClient&, const CommandLine&, CommandIo&)>
      kVerbs = {{"submit", RunSubmit},   {"list", RunList},     {"get", RunGet},
                {"cancel", RunCancel},   {"delete", RunDelete}, {"retry", RunRetry},
                {"logs", RunLogs},       {"checkpoints", RunCheckpoints},
                {"workers", RunWorkers}, {"wait", RunWait},     {"loss", RunLoss},
                {"health", RunHealth},   {"merge", RunMerge}};
  auto it = kVerbs.find(cl.verb);
  if (it == kVerbs.end()) return absl::InternalError(absl::StrCat("verb ", cl.verb, " has no runner"));
  return it->second(*client, cl, io);
}

absl::Status RunList(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(std::vector<v1::JobState> states, StatesFromNames(cl.states));
  // --watch: print everything once, then a line per job whose state, attempt
  // or step changed (kubectl get -w), until Ctrl-C.
  std::map<std::string, std::tuple<int, int, int64_t>> seen;
  bool first = true;
  while (true) {
    LORAD_ASSIGN_OR_RETURN(std::vector<v1::Job> jobs, client.ListJobs(states, cl.limit));
    std::vector<v1::Job> changed;
    for (const v1::Job& job : jobs) {
      auto key = std::make_tuple(static_cast<int>(job.state()), job.attempt(), job.last_step());
      auto [it, inserted] = seen.emplace(job.id(), key);
      if (inserted || it->second != key) {
        it->second = key;
        changed.push_back(job);
      }
    }
    if (!cl.watch || !changed.empty()) {
      switch (cl.output) {
        case OutputFormat::kTable:
          io.out << JobsTable(changed, absl::Now()).Render(first && !cl.no_headers);
          break;
        case OutputFormat::kName:
          for (const v1::Job& job : changed) io.out << job.id() << '\n';
          break;
        default:
          for (const v1::Job& job : changed) {
            LORAD_RETURN_IF_ERROR(MessagePrinter(cl.output, io.out).PrintItem(job));
          }
      }
      io.out.flush();
      first = false;
    }
    if (!cl.watch) return absl::OkStatus();
    if (!InterruptHandler::SleepFor(2.0)) return absl::CancelledError("interrupted");
  }
}

absl::Status RunGet(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(v1::Job job, client.GetJob(cl.args[0]));
  if (Structured(cl)) return MessagePrinter(cl.output, io.out).PrintOne(job);
  io.out << DescribeJob(job, absl::Now());
  return absl::OkStatus();
}

absl::Status RunCancel(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  return ForEachJob(cl, io, "cancelled", [&](const std::string& id) -> absl::Status {
    LORAD_ASSIGN_OR_RETURN(v1::Job job, client.CancelJob(id, cl.cancel_reason));
    if (job.state() == v1::JOB_STATE_RUNNING) {
      io.out << "job " << job.id()
             << ": cancel requested; it stops at the next step boundary and saves a checkpoint\n";
    } else {
      io.out << "job " << job.id() << " " << absl::AsciiStrToLower(StateName(job.state())) << '\n';
    }
    return absl::OkStatus();
  });
}

absl::Status RunDelete(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  return ForEachJob(cl, io, "deleted", [&](const std::string& id) -> absl::Status {
    LORAD_RETURN_IF_ERROR(client.DeleteJob(id, cl.delete_files));
    io.out << "job " << id << " deleted" << (cl.delete_files ? " with its output_dir" : "") << '\n';
    return absl::OkStatus();
  });
}

absl::Status RunCheckpoints(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(std::vector<v1::Checkpoint> checkpoints,
                         client.ListCheckpoints(cl.args[0]));
  if (!Structured(cl)) {
    io.out << CheckpointsTable(checkpoints).Render(!cl.no_headers);
    return absl::OkStatus();
  }
  for (const v1::Checkpoint& c : checkpoints) {
    LORAD_RETURN_IF_ERROR(MessagePrinter(cl.output, io.out).PrintItem(c));
  }
  return absl::OkStatus();
}

absl::Status RunWorkers(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(std::vector<v1::Worker> workers, client.ListWorkers());
  if (!Structured(cl)) {
    io.out << WorkersTable(workers, absl::Now()).Render(!cl.no_headers);
    return absl::OkStatus();
  }
  for (const v1::Worker& w : workers) {
    LORAD_RETURN_IF_ERROR(MessagePrinter(cl.output, io.out).PrintItem(w));
  }
  return absl::OkStatus();
}

absl::Status RunHealth(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(std::string status, client.CheckHealth(cl.health_service));
  if (Structured(cl)) {
    LORAD_RETURN_IF_ERROR(PrintJson({{"status", status}}, cl.output, io.out));
  } else {
    io.out << status << '\n';
  }
  if (status != "SERVING") {
    return absl::UnavailableError(absl::StrCat("lorad at ", client.address().display,
                                               " answers but is ", status));
  }
  return absl::OkStatus();
}

absl::Status RunLoss(LoradClient& client, const CommandLine& cl, CommandIo& io) {
  LORAD_ASSIGN_OR_RETURN(v1::Job job, client.GetJob(cl.args[0]));
  // Steps re-run after a resume come again with a newer attempt: the newest wins.
  std::map<int64_t, double> train, eval;
  LORAD_RETURN_IF_ERROR(client.WatchJob(job.id(), 0, /*follow=*/false,
                                        [&](const v1::JobEvent& e) {
                                          if (e.has_step()) train[e.step().step()] = e.step().loss();
                                          if (e.has_eval()) eval[e.eval().step()] = e.eval().eval_loss();
                                          return absl::OkStatus();
                                        }));
  LossPlot plot;
  for (const auto& [step, loss] : train) plot.AddTrain(step, loss);
  for (const auto& [step, loss] : eval) plot.AddEval(step, loss);
  io.out << "job " << job.id() << ": " << StateName(job.state()) << ", step " << job.last_step();
  if (job.total_steps() > 0) io.out << "/" << job.total_steps();
  io.out << '\n';
  const int width = cl.plot_width > 0 ? cl.plot_width : (io.out_is_tty ? io.out_columns - 1 : 80);
  io.out << plot.Render(width, cl.plot_height);
  return absl::OkStatus();
}

}  // namespace lorad
