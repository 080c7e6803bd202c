#include "worker/train/training_job_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <set>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/checkpoint/checkpoint_reader.h"
#include "worker/config/config_loader.h"
#include "worker/data/batch_collator.h"
#include "worker/data/data_profile.h"
#include "worker/data/dataset_builder.h"
#include "worker/train/adapter_continuation.h"
#include "worker/train/adapter_export.h"
#include "worker/train/checkpoint_dir.h"
#include "worker/train/checkpoint_saver.h"
#include "worker/train/drift_check.h"
#include "worker/train/job_evaluator.h"
#include "worker/train/memory_estimate.h"
#include "worker/train/probe_io.h"
#include "worker/train/rng_state.h"
#include "worker/train/trainer.h"
#include "worker/train/train_step.h"
#include "worker/train/training_guards.h"

namespace lorad {
namespace {

const char* SchedulerName(LrScheduler s) {
  switch (s) {
    case LrScheduler::kCosine: return "cosine";
    case LrScheduler::kLinear: return "linear";
    case LrScheduler::kConstant: return "constant";
  }
  return "cosine";
}

int64_t ResolveCount(const CountOrFraction& v, int64_t total) {
  if (!v.set()) return 0;
  if (v.is_fraction) {
    return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(v.value * static_cast<double>(total))));
  }
  return static_cast<int64_t>(v.value);
}

// Rows of the new data the continued adapter's loss is measured on (drift).
constexpr int64_t kDriftSampleRows = 16;

// Test hook, documented as test-only: LORAD_TEST_INJECT_NAN_AT_STEP=N makes
// step N's loss and gradients NaN (divergence tests and demos).
int64_t InjectNanAtStep(int64_t from_options) {
  if (from_options > 0) return from_options;
  const char* env = std::getenv("LORAD_TEST_INJECT_NAN_AT_STEP");
  int64_t step = 0;
  if (env == nullptr || !absl::SimpleAtoi(env, &step) || step <= 0) return 0;
  spdlog::warn("LORAD_TEST_INJECT_NAN_AT_STEP={}: step {} will be made NaN (a test hook)", step,
               step);
  return step;
}

bool IsInside(const std::filesystem::path& child, const std::filesystem::path& parent) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(child, ec);
  auto p = std::filesystem::weakly_canonical(parent, ec);
  auto [pi, ci] = std::mismatch(p.begin(), p.end(), c.begin(), c.end());
  return pi == p.end();
}

// Diverged: checkpoints holding updates of spiking steps must not be what
// --resume auto picks; the last good one becomes the newest.
void SetAsideDivergedCheckpoints(const std::string& output_dir, int64_t first_bad_step) {
  auto moved = SetAsideCheckpoints(output_dir, first_bad_step);
  if (moved.ok()) {
    for (const auto& dir : *moved) spdlog::warn("set aside {} (written while diverging)", dir.string());
  } else {
    spdlog::warn("could not set aside the checkpoints written while diverging: {}",
                 moved.status().ToString());
  }
  const auto left = ListCheckpointDirs(output_dir);
  if (!left.empty()) {
    spdlog::info("the newest checkpoint is {} (before the divergence)", left.front().second.string());
  }
}

}  // namespace

TrainingJobRunner::TrainingJobRunner(TrainConfig config, RunOptions options, TrainerObserver& observer,
                     const std::atomic<bool>& stop)
    : config_(std::move(config)), options_(std::move(options)), observer_(observer), stop_(stop) {}

std::string TrainingJobRunner::SizeSummary() const {
  std::string s = absl::StrCat("micro_batch_size ", config_.micro_batch_size, " × sequence_len ",
                               config_.sequence_len);
  if (model_) {
    absl::StrAppend(&s, ", base model ", model_->NumBaseParameters(), " parameters in ",
                    env_.bf16 ? "bf16" : "fp32", ", LoRA ", model_->NumLoraParameters(),
                    " parameters");
  }
  return s;
}

std::string TrainingJobRunner::OomAdvice() const {
  std::vector<std::string> levers = {"lower micro_batch_size (raise gradient_accumulation_steps "
                                     "to keep the batch)", "lower sequence_len"};
  if (!config_.gradient_checkpointing) levers.push_back("enable gradient_checkpointing");
  if (model_ && !env_.bf16) levers.push_back("enable bf16");
  return absl::StrJoin(levers, ", ");
}

absl::Status TrainingJobRunner::Run() {
  LORAD_RETURN_IF_ERROR(Prepare());
  if (options_.dry_run) return DryRun();
  return Train();
}

absl::Status TrainingJobRunner::Prepare() {
  if (config_.adapter != "lora") {
    return absl::UnimplementedError(absl::StrCat(
        "adapter: '", config_.adapter, "' is not supported yet (only lora; qlora needs 4-bit "
        "base weights, which this build does not have)"));
  }
  LORAD_ASSIGN_OR_RETURN(env_, ResolveRuntimeEnv(options_.device, options_.threads, config_.bf16));
  spdlog::info("device {}, {} threads, {} (LibTorch {}, CPU {})", env_.device.str(), env_.threads,
               env_.bf16_reason, env_.torch_version, env_.cpu_isa);
  LORAD_ASSIGN_OR_RETURN(env_.attention,
                         ChooseAttention(config_.attention, config_.sequence_len, env_.device,
                                         env_.bf16));
  spdlog::info("attention {}: {}", AttentionBackendName(env_.attention.backend),
               env_.attention.reason);
  LORAD_ASSIGN_OR_RETURN(plan_, PlanResume(config_, options_));
  for (const std::string& w : plan_.warnings) spdlog::warn("{}", w);
  if (plan_.requested) spdlog::info("resume ({}): {}", plan_.source, plan_.reason);
  LORAD_RETURN_IF_ERROR(CheckOutputDir());

  LORAD_ASSIGN_OR_RETURN(model_config_, LoadModelConfig(config_.base_model));
  LORAD_ASSIGN_OR_RETURN(tokenizer_, Tokenizer::LoadFromDir(config_.base_model));
  // A tokenizer with tokens added after the model was made (and no resized
  // embedding) would otherwise fail deep in LibTorch with "index out of range".
  if (tokenizer_->vocab_size() > model_config_.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        config_.base_model, ": tokenizer.json has ids up to ", tokenizer_->vocab_size() - 1,
        " but config.json's vocab_size is ", model_config_.vocab_size,
        ": the embedding has no row for the added tokens (resize it, or use the tokenizer the "
        "model was trained with)"));
  }
  LORAD_ASSIGN_OR_RETURN(dataset_, BuildDataset(config_, *tokenizer_, &data_report_));
  for (const std::string& w : data_report_.warnings) spdlog::warn("data: {}", w);
  spdlog::info("data: {} train rows ({} samples, {} tokens), {} eval rows{}", data_report_.train_rows,
               data_report_.train_samples, data_report_.train_tokens, data_report_.eval_rows,
               data_report_.cache_hit ? " (cached)" : "");
  if (dataset_.train_rows.empty()) {
    return absl::InvalidArgumentError(
        "datasets: no trainable sample (every sample was empty, too short or fully masked)");
  }
  probe_ = MakeProbeBatch(dataset_);
  lora_ = LoraSettingsFromConfig(config_);
  config_yaml_ = TrainConfigToYaml(config_);

  if (plan_.mode == ResumeMode::kExact) LORAD_RETURN_IF_ERROR(PrepareExactResume());
  if (plan_.mode == ResumeMode::kContinueAdapter) {
    continuation_.emplace(plan_);
    LORAD_RETURN_IF_ERROR(continuation_->ReadSettings(config_, lora_));
  }

  steps_per_epoch_ = BatchCursor::StepsPerEpoch(static_cast<int64_t>(dataset_.train_rows.size()),
                                                config_.micro_batch_size,
                                                config_.gradient_accumulation_steps);
  total_steps_ = TotalTrainingSteps(config_.max_steps, config_.num_epochs, steps_per_epoch_);
  LORAD_RETURN_IF_ERROR(PlanLearningRate());  // may refuse: before loading the model
  warmup_steps_ = lr_plan_.warmup_steps;

  LORAD_RETURN_IF_ERROR(LoadModel());
  if (plan_.mode == ResumeMode::kContinueAdapter) {
    LORAD_RETURN_IF_ERROR(continuation_->LoadWeights(model_, env_, observer_));
    LORAD_RETURN_IF_ERROR(CheckDataDrift());
    const nlohmann::json lr = lr_plan_.ToJson(config_.lr_scheduler, total_steps_);
    std::vector<std::string> first;
    for (const auto& r : lr["first_learning_rates"]) {
      first.push_back(absl::StrFormat("%.4g", r.get<double>()));
    }
    spdlog::info("resume_lr_policy {}: {}; first learning rates {}", lr_plan_.policy,
                 lr_plan_.reason, absl::StrJoin(first, ", "));
    Emit(lr);
  }
  return absl::OkStatus();
}

absl::Status TrainingJobRunner::PlanLearningRate() {
  if (plan_.mode == ResumeMode::kContinueAdapter) {
    history_ = ReadAdapterHistory(plan_.dir);
    for (const std::string& note : history_.notes) spdlog::warn("adapter history: {}", note);
    LORAD_ASSIGN_OR_RETURN(lr_plan_, ChooseResumeLrPlan(config_, total_steps_, history_));
  } else if (restored_) {
    lr_plan_ =
        RestoredLrPlan(config_, total_steps_, restored_->lr_policy, restored_->learning_rate);
  } else {
    lr_plan_ = RestartLrPlan(config_, total_steps_, "a new run");
    if (!config_.resume_lr_policy.empty()) {
      spdlog::info("resume_lr_policy applies when continuing an adapter; this run starts fresh");
    }
  }
  return absl::OkStatus();
}

absl::Status TrainingJobRunner::CheckDataDrift() {
  const DataProfile profile = ComputeDataProfile(dataset_.train, dataset_.fingerprint);
  BatchCollator collator(dataset_.train, dataset_.train_rows, dataset_.pad_id, dataset_.packed);
  const std::vector<int64_t> rows = DriftSampleRows(collator.num_rows(), kDriftSampleRows);
  std::vector<Batch> batches;
  for (size_t i = 0; i < rows.size(); i += static_cast<size_t>(config_.micro_batch_size)) {
    const size_t end = std::min(rows.size(), i + static_cast<size_t>(config_.micro_batch_size));
    batches.push_back(collator.Collate(std::vector<int64_t>(rows.begin() + i, rows.begin() + end)));
  }
  const double loss = EvalLoss(model_, batches, dataset_.packed, env_.device);
  DriftThresholds thresholds;
  thresholds.js = config_.drift_js_threshold;
  thresholds.loss_ratio = config_.drift_loss_ratio_threshold;
  const DriftReport report =
      AssessDrift(history_, profile, loss, static_cast<int64_t>(rows.size()), thresholds);
  drift_check_ = report.ToJson(config_.drift_policy);
  if (!report.drifted) {
    spdlog::info("data drift check: {}", report.message);
    return absl::OkStatus();
  }
  Emit(report.ToJson(config_.drift_policy));
  if (config_.drift_policy == "fail") {
    return absl::FailedPreconditionError(absl::StrCat(
        "continue from ", plan_.dir.string(), " refused (drift_policy: fail): ", report.message));
  }
  spdlog::warn("data drift: {} (drift_policy: warn: training goes on)", report.message);
  return absl::OkStatus();
}

absl::Status TrainingJobRunner::CheckOutputDir() {
  const std::filesystem::path out = config_.output_dir;
  std::error_code ec;
  const bool has_adapter = std::filesystem::exists(out / "adapter_model.safetensors", ec) ||
                           std::filesystem::exists(out / "adapter_config.json", ec);
  const auto checkpoints = ListCheckpointDirs(out);
  if (!has_adapter && checkpoints.empty()) return absl::OkStatus();
  if (plan_.mode != ResumeMode::kFresh && IsInside(plan_.dir, out)) return absl::OkStatus();
  if (options_.overwrite) {
    if (!options_.dry_run) {
      spdlog::warn("--overwrite: removing the adapter and {} checkpoint(s) in {}",
                   checkpoints.size(), out.string());
      for (const auto& [step, dir] : checkpoints) std::filesystem::remove_all(dir, ec);
      for (const char* f : {"adapter_model.safetensors", "adapter_config.json",
                            kAdapterSidecarFile, kTrainerStateFile, kProbeBatchFile}) {
        std::filesystem::remove(out / f, ec);
      }
    }
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "output_dir: ", out.string(), " already holds ",
      has_adapter ? "an adapter" : "", has_adapter && !checkpoints.empty() ? " and " : "",
      checkpoints.empty() ? "" : absl::StrCat(checkpoints.size(), " checkpoint(s)"),
      "; pass --resume auto to continue that run, --overwrite to replace it, or choose another "
      "output_dir"));
}

absl::Status TrainingJobRunner::PrepareExactResume() {
  LORAD_ASSIGN_OR_RETURN(TrainingStateFiles state, ReadTrainingState(plan_.dir));
  ConfigLoadOptions load_options;
  load_options.check_paths = false;
  auto old = ParseTrainConfig(state.config_yaml, plan_.dir, {}, load_options);
  if (!old.ok()) {
    return absl::DataLossError(absl::StrCat(plan_.dir.string(), "/config.yaml: ",
                                            old.status().message()));
  }
  std::set<std::string> mutable_keys = kResumeMutableKeys;
  for (const char* k : {"resume_from_checkpoint", "auto_resume_from_checkpoints",
                        "dataset_prepared_path"}) {
    mutable_keys.insert(k);
  }
  const auto diffs = DiffTrainConfigs(old->config, config_, mutable_keys);
  if (!diffs.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "exact resume from ", plan_.dir.string(), " refused: the config differs from the "
        "checkpoint's in keys an exact resume cannot change (only output_dir, max_steps, "
        "num_epochs, save_steps, logging_steps, eval_steps, save_total_limit, attention may):\n  ",
        absl::StrJoin(diffs, "\n  "),
        "\nTo train the adapter further with new settings, continue it as an adapter: "
        "lora_model_dir: ", plan_.dir.string()));
  }
  if (state.data_fingerprint != dataset_.fingerprint) {
    if (!options_.allow_data_change) {
      return absl::FailedPreconditionError(absl::StrCat(
          "exact resume from ", plan_.dir.string(), " refused: the tokenized data changed "
          "(fingerprint ", state.data_fingerprint.substr(0, 12), " → ",
          dataset_.fingerprint.substr(0, 12), "); pass --allow-data-change to keep the optimizer "
          "and step but restart the data order"));
    }
    spdlog::warn("data changed since the checkpoint (--allow-data-change): the data cursor "
                 "restarts; optimizer state and step are kept");
  }
  std::vector<std::string> env_diffs;
  if (state.env.threads != env_.threads) {
    env_diffs.push_back(absl::StrCat("threads ", state.env.threads, " → ", env_.threads));
  }
  if (state.env.cpu_isa != env_.cpu_isa) {
    env_diffs.push_back(absl::StrCat("CPU ", state.env.cpu_isa, " → ", env_.cpu_isa));
  }
  if (state.env.torch_version != env_.torch_version) {
    env_diffs.push_back(absl::StrCat("LibTorch ", state.env.torch_version, " → ", env_.torch_version));
  }
  if (state.env.device != env_.device.str()) {
    env_diffs.push_back(absl::StrCat("device ", state.env.device, " → ", env_.device.str()));
  }
  if (state.env.bf16 != env_.bf16) {
    env_diffs.push_back(absl::StrCat("bf16 ", state.env.bf16, " → ", env_.bf16));
  }
  if (state.env.attention != AttentionBackendName(env_.attention.backend)) {
    env_diffs.push_back(absl::StrCat("attention ", state.env.attention, " → ",
                                     AttentionBackendName(env_.attention.backend)));
  }
  if (!env_diffs.empty()) {
    spdlog::warn("resuming on a different setup ({}): the run continues but is no longer bit-exact",
                 absl::StrJoin(env_diffs, ", "));
  }
  nlohmann::json record = {{"type", "resume"},
                           {"mode", "exact"},
                           {"source", plan_.source},
                           {"path", plan_.dir.string()},
                           {"reason", plan_.reason},
                           {"step", state.progress.global_step},
                           {"bit_exact", env_diffs.empty()},
                           {"data_changed", state.data_fingerprint != dataset_.fingerprint}};
  if (!env_diffs.empty()) record["differences"] = env_diffs;
  Emit(record);
  restored_ = std::move(state);
  return absl::OkStatus();
}

absl::Status TrainingJobRunner::LoadModel() {
  LoadOptions load;
  load.base_dtype = env_.bf16 ? torch::kBFloat16 : torch::kFloat32;
  load.device = env_.device;
  load.attention = env_.attention.backend;
  LORAD_ASSIGN_OR_RETURN(model_, LoadCausalLm(config_.base_model, model_config_, load));
  LORAD_RETURN_IF_ERROR(model_->AddLora(lora_, static_cast<uint64_t>(config_.seed)));
  model_->SetGradientCheckpointing(config_.gradient_checkpointing);
  if (restored_) {
    LORAD_ASSIGN_OR_RETURN(auto weights, ReadOwnAdapterWeights(plan_.dir));
    LORAD_RETURN_IF_ERROR(model_->LoadLoraWeights(weights));
  }
  spdlog::info("model: {} ({} layers), {} base parameters ({}), {} trainable LoRA parameters",
               model_config_.architecture_name, model_config_.num_hidden_layers,
               model_->NumBaseParameters(), env_.bf16 ? "bf16" : "fp32",
               model_->NumLoraParameters());
  return absl::OkStatus();
}

absl::Status TrainingJobRunner::DryRun() {
  const MemoryEstimate mem =
      EstimateMemory(model_config_, *model_, config_, env_.bf16, env_.attention.backend);
  nlohmann::json record = {
      {"type", "dry_run"},
      {"config", config_yaml_},
      {"resume", ResumeModeName(plan_.mode)},
      {"device", env_.device.str()},
      {"threads", env_.threads},
      {"bf16", env_.bf16},
      {"attention", AttentionRecord(env_.attention)},
      {"trainable_parameters", model_->NumLoraParameters()},
      {"total_parameters", model_->NumBaseParameters() + model_->NumLoraParameters()},
      {"steps_per_epoch", steps_per_epoch_},
      {"total_steps", total_steps_},
      {"warmup_steps", warmup_steps_},
      {"train_rows", data_report_.train_rows},
      {"eval_rows", data_report_.eval_rows},
      {"train_tokens", data_report_.train_tokens},
      {"trained_tokens", data_report_.train_trained_tokens},
      {"memory_estimate", mem.ToJson()}};
  // What a continuation's guardrails measured, drifted or not.
  if (!drift_check_.is_null()) record["data_drift"] = drift_check_;
  if (plan_.mode == ResumeMode::kContinueAdapter) {
    record["lr_policy"] = lr_plan_.ToJson(config_.lr_scheduler, total_steps_);
  }
  Emit(record);
  return absl::OkStatus();
}

nlohmann::json TrainingJobRunner::Sidecar(const TrainingProgress& progress) {
  const double probe_loss = EvalLoss(model_, {probe_.batch}, dataset_.packed, env_.device);
  DataProfile profile = ComputeDataProfile(dataset_.train, dataset_.fingerprint);
  RecordFinalLosses(progress, &profile);
  return {{"format", "lorad-adapter"},
          {"version", 1},
          {"probe",
           {{"loss", std::isfinite(probe_loss) ? nlohmann::json(probe_loss) : nlohmann::json()},
            {"fingerprint", probe_.fingerprint},
            {"rows", probe_.batch.rows},
            {"packed", dataset_.packed},
            {"bf16", env_.bf16}}},
          {"step", progress.global_step},
          {"learning_rate", progress.last_learning_rate},
          {"peak_learning_rate", lr_plan_.base_lr},
          {"lr_policy", lr_plan_.policy},
          {"data_fingerprint", dataset_.fingerprint},
          {"data_profile", profile.ToJson()}};
}

// What every checkpoint of this run stores besides its step's moving parts.
TrainingStateFiles TrainingJobRunner::StaticTrainingState() const {
  TrainingStateFiles s;
  s.lr_scheduler = SchedulerName(config_.lr_scheduler);
  s.learning_rate = lr_plan_.base_lr;
  s.lr_policy = lr_plan_.policy;
  s.warmup_steps = warmup_steps_;
  s.total_steps = total_steps_;
  s.env = {env_.threads, env_.cpu_isa, env_.torch_version, env_.device.str(), env_.bf16,
           AttentionBackendName(env_.attention.backend)};
  s.data_fingerprint = dataset_.fingerprint;
  s.config_yaml = config_yaml_;
  return s;
}

absl::Status TrainingJobRunner::Train() {
  std::error_code ec;
  std::filesystem::create_directories(config_.output_dir, ec);
  if (ec) return ErrnoToStatus(ec.value(), "create output_dir", config_.output_dir);
  // A worker killed inside a checkpoint write (or a pruning) leaves its
  // .tmp-checkpoint-* behind, as big as a checkpoint: remove those of dead
  // writers before writing new ones.
  LORAD_ASSIGN_OR_RETURN(auto stale, RemoveStaleCheckpointTemps(config_.output_dir));
  for (const auto& p : stale) spdlog::info("removed {}, left by a writer that died", p.string());

  AdamWOptions adam;
  adam.beta1 = config_.adam_beta1;
  adam.beta2 = config_.adam_beta2;
  adam.eps = config_.adam_epsilon;
  adam.weight_decay = config_.weight_decay;
  AdamW optimizer(model_->LoraParameters(), adam);
  BatchCursor cursor(dataset_, config_.micro_batch_size, static_cast<uint64_t>(config_.seed));
  const LrSchedule schedule = lr_plan_.Schedule(config_.lr_scheduler, total_steps_);

  TrainingProgress progress;
  if (restored_) {
    LORAD_RETURN_IF_ERROR(optimizer.ImportState(restored_->optimizer_state, restored_->optimizer_step));
    if (restored_->data_fingerprint == dataset_.fingerprint) {
      LORAD_RETURN_IF_ERROR(cursor.Restore(restored_->cursor));
    }
    progress = restored_->progress;
    if (restored_->total_steps != total_steps_ || restored_->warmup_steps != warmup_steps_) {
      spdlog::info("schedule recomputed: total steps {} → {}, warmup {} → {}", restored_->total_steps,
                   total_steps_, restored_->warmup_steps, warmup_steps_);
      Emit({{"type", "schedule_change"},
            {"total_steps", {restored_->total_steps, total_steps_}},
            {"warmup_steps", {restored_->warmup_steps, warmup_steps_}}});
    }
    if (progress.global_step >= total_steps_) {
      spdlog::info("checkpoint is at step {} of {}: nothing left to train",
                   progress.global_step, total_steps_);
    }
  }

  CheckpointSaverOptions saver_options;
  saver_options.output_dir = config_.output_dir;
  saver_options.save_total_limit = config_.save_total_limit;
  if (plan_.mode == ResumeMode::kExact) saver_options.protected_checkpoint = plan_.dir;
  saver_options.logging_steps = config_.logging_steps;
  saver_options.save_steps = ResolveCount(config_.save_steps, total_steps_);
  saver_options.micro_batch_size = config_.micro_batch_size;
  CheckpointSaver saver(saver_options, model_, optimizer, cursor, StaticTrainingState(),
                        MakeAdapterConfig(lora_, config_.base_model_spec.empty()
                                                     ? config_.base_model
                                                     : config_.base_model_spec),
                        [this](const TrainingProgress& p) { return Sidecar(p); }, &probe_.batch,
                        observer_);

  TrainerOptions trainer_options;
  trainer_options.gradient_accumulation_steps = config_.gradient_accumulation_steps;
  trainer_options.max_grad_norm = config_.max_grad_norm;
  trainer_options.logging_steps = config_.logging_steps;
  trainer_options.save_steps = saver_options.save_steps;
  trainer_options.eval_steps = ResolveCount(config_.eval_steps, total_steps_);
  trainer_options.stop_after = options_.stop_after;
  trainer_options.packed = dataset_.packed;
  trainer_options.device = env_.device;
  trainer_options.inject_nan_at_step = InjectNanAtStep(options_.inject_nan_at_step);
  Trainer trainer(model_, optimizer, cursor, schedule, trainer_options, observer_, stop_);
  trainer.set_progress(progress);
  trainer.set_checkpoint_hook(
      [&saver](const TrainingProgress& p, const std::string& why) { return saver.Save(p, why); });
  TrainingGuards guards(config_, observer_);
  if (restored_) {
    guards.Replay(progress.log_history);
    if (guards.keep_best() && guards.best_step() &&
        std::filesystem::exists(std::filesystem::path(config_.output_dir) /
                                absl::StrCat("checkpoint-", *guards.best_step()))) {
      saver.set_best(*guards.best_step(), guards.best_eval_loss());
    }
  }
  trainer.set_update_guard([&guards](int64_t step, double loss,
                                     double grad_norm) -> absl::StatusOr<bool> {
    LORAD_ASSIGN_OR_RETURN(TrainingGuards::StepAction action, guards.OnStep(step, loss, grad_norm));
    return action == TrainingGuards::StepAction::kApply;
  });
  trainer.set_eval_guard([&guards, &saver](const TrainingProgress& p,
                                           const nlohmann::json& record) -> absl::StatusOr<bool> {
    if (!record.contains("eval_loss")) return false;  // samples only: no eval set
    const nlohmann::json loss = record.value("eval_loss", nlohmann::json());
    const TrainingGuards::EvalOutcome out =
        guards.OnEval(p.global_step, loss.is_number() ? loss.get<double>() : std::nan(""));
    if (out.new_best) {
      saver.set_best(p.global_step, guards.best_eval_loss());
      LORAD_RETURN_IF_ERROR(saver.Save(p, "best"));
    }
    return out.stop;
  });
  // Each evaluation: the eval set's loss (when there is one) and greedy samples
  // from eval_prompts (a `sample` record), so a watcher sees the model learn.
  JobEvaluator evaluator(config_, model_, *tokenizer_, dataset_, env_.device, observer_);
  if (evaluator.enabled()) {
    trainer.set_eval_hook([&evaluator](const TrainingProgress& p) { return evaluator.Evaluate(p); });
  }

  Emit({{"type", "start"},
        {"resume", ResumeModeName(plan_.mode)},
        {"step", progress.global_step},
        {"total_steps", total_steps_},
        {"steps_per_epoch", steps_per_epoch_},
        {"warmup_steps", warmup_steps_},
        {"trainable_parameters", model_->NumLoraParameters()},
        {"total_parameters", model_->NumBaseParameters() + model_->NumLoraParameters()},
        {"train_rows", data_report_.train_rows},
        {"device", env_.device.str()},
        {"threads", env_.threads},
        {"bf16", env_.bf16},
        {"attention", AttentionRecord(env_.attention)}});

  // The RNG stream of the training steps: seeded for a new run, restored last
  // (nothing after this may draw from it) for an exact resume.
  if (restored_) {
    LORAD_RETURN_IF_ERROR(RestoreTorchRng(restored_->rng));
  } else {
    SeedTorch(static_cast<uint64_t>(config_.seed));
  }
  absl::StatusOr<TrainerOutcome> outcome = trainer.Run();
  if (!outcome.ok() && guards.first_bad_step() > 0) {
    SetAsideDivergedCheckpoints(config_.output_dir, guards.first_bad_step());
  }
  LORAD_RETURN_IF_ERROR(outcome.status());
  if (*outcome == TrainerOutcome::kStopped) {
    return absl::CancelledError(absl::StrCat("stopped after step ", trainer.progress().global_step,
                                             "; checkpoint saved in ", config_.output_dir));
  }
  return absl::OkStatus();
}

}  // namespace lorad
