#include "client/event_formatter.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace lorad {
namespace {

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// Fields of a trainer record worth showing inline ("probe_loss=1.23").
std::string RecordSummary(const std::string& record_json, const char* skip_type) {
  nlohmann::json j = nlohmann::json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return record_json;
  std::string out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "type" && it.value() == skip_type) continue;
    const nlohmann::json& v = it.value();
    std::string text = v.is_string() ? v.get<std::string>() : v.dump();
    if (text.size() > 200) text = absl::StrCat(text.substr(0, 197), "...");
    absl::StrAppend(&out, out.empty() ? "" : " ", it.key(), "=", text);
  }
  return out;
}

// The probe-loss check of a continued adapter, the line users look for:
// "; probe loss recorded 1.2345, recomputed 1.2345: adapter loaded".
std::string ProbeSummary(const std::string& record_json) {
  nlohmann::json j = nlohmann::json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("probe") || !j["probe"].is_object()) return "";
  const nlohmann::json& p = j["probe"];
  if (!p.value("available", false)) return "; no probe loss recorded";
  const double recorded = p.value("recorded", 0.0), recomputed = p.value("recomputed", 0.0);
  return absl::StrFormat("; probe loss recorded %.6f, recomputed %.6f: %s", recorded, recomputed,
                         p.value("passed", false) ? "adapter loaded" : "MISMATCH");
}

// A record's field, or the default when missing or of another type (records
// come from workers: never let one throw in the client).
int64_t IntField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}
std::string StrField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A merge job's final record: "merged 28 modules into 2 shards (1.2 GiB BF16) in DIR";
// "" for any other final record.
std::string MergeSummary(const std::string& record_json) {
  if (record_json.find("\"merge\"") == std::string::npos) return "";  // cheap pre-check
  nlohmann::json j = nlohmann::json::parse(record_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || StrField(j, "kind") != "merge") return "";
  int64_t shards = 0;
  if (j.contains("weight_files") && j["weight_files"].is_array()) {
    for (const auto& f : j["weight_files"]) {
      shards += f.is_string() && absl::EndsWith(f.get<std::string>(), ".safetensors");
    }
  }
  return absl::StrCat("merged ", IntField(j, "merged_modules"), " modules into ", shards,
                      shards == 1 ? " shard (" : " shards (", FormatBytes(IntField(j, "total_bytes")),
                      " ", StrField(j, "dtype"), ") in ", StrField(j, "output_dir"));
}

}  // namespace

std::string StateName(v1::JobState state) {
  std::string name = v1::JobState_Name(state);
  if (absl::StartsWith(name, "JOB_STATE_")) name = name.substr(10);
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

bool IsFinalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED ||
         state == v1::JOB_STATE_CANCELLED;
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", ToTime(ts), absl::UTCTimeZone());
}

std::string FormatAge(const google::protobuf::Timestamp& ts, absl::Time now) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "-";
  const int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(now - ToTime(ts)));
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 2 * 3600) return absl::StrCat(s / 60, "m");
  if (s < 2 * 86400) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (b < 1024.0 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024.0 * 1024));
  return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

std::string FormatEventLine(const v1::JobEvent& e, bool with_seq) {
  std::string line;
  if (with_seq) {
    const std::string time =
        e.has_time() ? absl::FormatTime("%H:%M:%S", ToTime(e.time()), absl::UTCTimeZone()) : "-";
    line = absl::StrCat("#", e.seq(), " ", time, " ");
  }
  switch (e.event_case()) {
    case v1::JobEvent::kStateChange: {
      const auto& s = e.state_change();
      absl::StrAppend(&line, "state ");
      if (s.from_state() != v1::JOB_STATE_UNSPECIFIED) {
        absl::StrAppend(&line, StateName(s.from_state()), " -> ");
      }
      absl::StrAppend(&line, StateName(s.to_state()));
      if (e.attempt() > 0) absl::StrAppend(&line, " attempt=", e.attempt());
      if (!s.worker_id().empty()) absl::StrAppend(&line, " worker=", s.worker_id());
      if (!s.reason().empty()) absl::StrAppend(&line, ": ", s.reason());
      break;
    }
    case v1::JobEvent::kStep: {
      const auto& s = e.step();
      absl::StrAppend(&line, "step ", s.step());
      if (s.total_steps() > 0) absl::StrAppend(&line, "/", s.total_steps());
      absl::StrAppend(&line, absl::StrFormat(" loss=%.4f lr=%.3e grad_norm=%.4f", s.loss(),
                                             s.learning_rate(), s.grad_norm()));
      if (s.tokens_per_second() > 0) {
        absl::StrAppend(&line, absl::StrFormat(" tokens/s=%.0f", s.tokens_per_second()));
      }
      absl::StrAppend(&line, absl::StrFormat(" epoch=%.3f", s.epoch()));
      if (e.attempt() > 1) absl::StrAppend(&line, " attempt=", e.attempt());
      break;
    }
    case v1::JobEvent::kEval:
      absl::StrAppend(&line, "eval step=", e.eval().step(),
                      absl::StrFormat(" eval_loss=%.4f", e.eval().eval_loss()));
      break;
    case v1::JobEvent::kCheckpoint: {
      const auto& c = e.checkpoint();
      absl::StrAppend(&line, "checkpoint step=", c.step(), " ", c.path());
      if (c.bytes() > 0) {
        absl::StrAppend(&line, " (", FormatBytes(c.bytes()), absl::StrFormat(" in %.2fs)", c.seconds()));
      }
      break;
    }
    case v1::JobEvent::kResume: {
      const auto& r = e.resume();
      if (r.source().empty()) {
        absl::StrAppend(&line, "resume: fresh start");
      } else {
        absl::StrAppend(&line, "resume from ", r.source(), " at step ", r.step());
      }
      if (!r.reason().empty()) absl::StrAppend(&line, ": ", r.reason());
      if (!r.record_json().empty()) {
        absl::StrAppend(&line, ProbeSummary(r.record_json()), " [",
                        RecordSummary(r.record_json(), "resume"), "]");
      }
      break;
    }
    case v1::JobEvent::kLog:
      absl::StrAppend(&line, e.log().level().empty() ? "info" : e.log().level(), ": ",
                      e.log().text());
      break;
    case v1::JobEvent::kFinalResult: {
      const auto& f = e.final_result();
      if (std::string merge = MergeSummary(f.record_json()); !merge.empty()) {
        absl::StrAppend(&line, "final ", StateName(f.state()), " ", merge);
        break;
      }
      absl::StrAppend(&line, "final ", StateName(f.state()), " step=", f.step(),
                      absl::StrFormat(" loss=%.4f", f.loss()));
      if (!f.output_dir().empty()) absl::StrAppend(&line, " output_dir=", f.output_dir());
      if (!f.error().empty()) {
        absl::StrAppend(&line, " error=", f.error_code().empty() ? "" : f.error_code() + ": ",
                        f.error());
      }
      break;
    }
    case v1::JobEvent::kRecordJson: {
      nlohmann::json j = nlohmann::json::parse(e.record_json(), nullptr, false);
      const std::string type =
          j.is_object() && j.contains("type") && j["type"].is_string() ? j["type"].get<std::string>()
                                                                       : "record";
      if (type == "sample" && j.contains("samples") && j["samples"].is_array()) {
        // What the model writes now, prompt → continuation, one event per line.
        absl::StrAppend(&line, "sample step=", j.value("step", int64_t{0}), ":");
        for (const auto& sample : j["samples"]) {
          if (!sample.is_object()) continue;
          absl::StrAppend(&line, " ", nlohmann::json(sample.value("prompt", "")).dump(), " → ",
                          nlohmann::json(sample.value("text", "")).dump(), ";");
        }
        if (absl::EndsWith(line, ";")) line.pop_back();
        break;
      }
      if (type == "merge_progress") {
        // "merge shard 2/3 model-00002-of-00003.safetensors (1.2 GiB)"
        const std::string file = StrField(j, "file");
        absl::StrAppend(&line, "merge shard ", IntField(j, "shard"), "/", IntField(j, "num_shards"),
                        file.empty() ? "" : " ", file.substr(file.find_last_of('/') + 1), " (",
                        FormatBytes(IntField(j, "bytes")), ")");
        break;
      }
      absl::StrAppend(&line, type, " ", RecordSummary(e.record_json(), type.c_str()));
      break;
    }
    case v1::JobEvent::EVENT_NOT_SET:
      absl::StrAppend(&line, "(empty event)");
      break;
  }
  // One event, one line, whatever the trainer put in its texts.
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return line;
}

}  // namespace lorad
