#include "server/record_event.h"

#include <cmath>

#include "nlohmann/json.hpp"

namespace lorad {
namespace {

double Num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
int64_t Int(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<v1::JobEvent> EventFromRecordJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("worker record is not a JSON object");
  }
  std::string type = Str(j, "type");
  v1::JobEvent ev;
  if (type == "step") {
    auto* s = ev.mutable_step();
    s->set_step(Int(j, "step"));
    s->set_total_steps(Int(j, "total_steps"));
    s->set_epoch(Num(j, "epoch"));
    // The trainer writes a non-finite loss as null: keep it NaN, so that the
    // gauge (and the LoradLossNotFinite alert) sees it rather than 0.
    s->set_loss(j.contains("loss") && j["loss"].is_null() ? std::nan("") : Num(j, "loss"));
    s->set_learning_rate(Num(j, "learning_rate"));
    s->set_grad_norm(Num(j, "grad_norm"));
    s->set_tokens(Int(j, "tokens"));
    s->set_trained_tokens(Int(j, "trained_tokens"));
    s->set_tokens_per_second(Num(j, "tokens_per_second"));
    s->set_elapsed_seconds(Num(j, "elapsed_seconds"));
  } else if (type == "checkpoint") {
    auto* c = ev.mutable_checkpoint();
    c->set_path(Str(j, "path"));
    c->set_step(Int(j, "step"));
    c->set_seconds(Num(j, "seconds"));
    c->set_bytes(Int(j, "bytes"));
  } else if (type == "eval") {
    auto* e = ev.mutable_eval();
    e->set_step(Int(j, "step"));
    e->set_eval_loss(j.contains("eval_loss") ? Num(j, "eval_loss") : Num(j, "loss"));
    e->set_record_json(text);
  } else if (type == "resume") {
    auto* r = ev.mutable_resume();
    r->set_source(Str(j, "path").empty() ? Str(j, "source") : Str(j, "path"));
    r->set_step(Int(j, "step"));
    r->set_reason(Str(j, "reason"));
    r->set_record_json(text);
  } else if (type == "final") {
    auto* f = ev.mutable_final_result();
    // The trainer writes its "final" record only once the adapter is saved.
    f->set_state(v1::JOB_STATE_SUCCEEDED);
    f->set_output_dir(Str(j, "output_dir").empty() ? Str(j, "path") : Str(j, "output_dir"));
    f->set_step(Int(j, "step"));
    f->set_loss(Num(j, "loss"));
    f->set_error(Str(j, "error"));
    f->set_record_json(text);
  } else {
    ev.set_record_json(text);
  }
  return ev;
}

}  // namespace lorad
