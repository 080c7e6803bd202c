// `lorad-worker generate MODEL_DIR [--adapter DIR] (--prompt TEXT | --prompts FILE.jsonl)
// [--chat-template NAME] [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K]
// [--seed S] [--device D] [--threads N] [-o json]`: text generation with a KV
// cache, streamed to stdout as it is produced (or one JSON object per prompt).
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
#include "worker/base/file_util.h"
#include "worker/base/status_macros.h"
#include "worker/base/stderr_logging.h"
#include "worker/cli/cli_util.h"
#include "worker/cli/commands.h"
#include "worker/data/generation_prompt.h"
#include "worker/formats/generation_config.h"
#include "worker/formats/model_config.h"
#include "worker/model/adapter_loader.h"
#include "worker/model/causal_lm.h"
#include "worker/model/generator.h"
#include "worker/tokenizer/stream_decoder.h"
#include "worker/tokenizer/tokenizer.h"
#include "worker/train/runtime_env.h"

namespace lorad {
namespace {

void PrintGenerateUsage(FILE* out) {
  std::fprintf(
      out,
      "usage: lorad-worker generate MODEL_DIR [--adapter DIR] (--prompt TEXT | --prompts "
      "FILE.jsonl)\n"
      "  --adapter DIR          a PEFT LoRA adapter (adapter_config.json + "
      "adapter_model.safetensors)\n"
      "  --prompt TEXT          one prompt\n"
      "  --prompts FILE.jsonl   one prompt a line: {\"prompt\": TEXT} or {\"messages\": [{role, "
      "content}...]}\n"
      "  --chat-template NAME   none (the text as is) or %s;\n"
      "                         required when the model has its own (Jinja) chat template\n"
      "  --max-new-tokens N     default 256\n"
      "  --temperature T        0 = greedy (default); > 0 samples\n"
      "  --top-k K              keep the K most likely tokens (0 = off, default)\n"
      "  --top-p P              nucleus sampling, (0, 1] (1 = off, default)\n"
      "  --seed S               sampling seed for each prompt (default 0)\n"
      "  --device auto|cpu|cuda|cuda:N\n"
      "  --threads N            intra-op threads (default: CPUs this process may use)\n"
      "  -o json                one JSON object per prompt instead of streamed text\n"
      "Generation stops at EOS (config.json, generation_config.json, the tokenizer) or\n"
      "the template's end of turn, or after --max-new-tokens.  Logs go to stderr.\n"
      "exit codes: 0 ok, 1 generation failed, 2 bad input\n",
      GenerationPrompt::SupportedNames().c_str());
}

struct GenerateArgs {
  std::string model_dir;
  std::string adapter;
  std::optional<std::string> prompt;
  std::string prompts_file;
  std::string chat_template;  // empty: none unless the model has its own template
  GenerationOptions generation;
  std::string device = "auto";
  int threads = 0;
  bool json = false;
};

struct PromptItem {
  nlohmann::ordered_json source;  // {"prompt": TEXT} or {"messages": [...]}
  std::vector<int32_t> ids;
};

/// Parses argv; returns an exit code when the command should stop (help: 0).
std::optional<int> ParseArgs(int argc, char** argv, GenerateArgs& a) {
  a.generation.max_new_tokens = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "lorad-worker generate: %s needs a value\n", argv[i]);
        return nullptr;
      }
      return argv[++i];
    };
    auto bad_number = [&](const char* v, const char* want) {
      std::fprintf(stderr, "lorad-worker generate: %s wants %s, got '%s'\n", argv[i - 1], want, v);
      return 2;
    };
    const char* v = nullptr;
    if (arg == "-h" || arg == "--help") {
      PrintGenerateUsage(stdout);
      return 0;
    } else if (arg == "--adapter") {
      if (!(v = value())) return 2;
      a.adapter = v;
    } else if (arg == "--prompt") {
      if (!(v = value())) return 2;
      a.prompt = v;
    } else if (arg == "--prompts") {
      if (!(v = value())) return 2;
      a.prompts_file = v;
    } else if (arg == "--chat-template") {
      if (!(v = value())) return 2;
      a.chat_template = v;
    } else if (arg == "--max-new-tokens") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtoi(v, &a.generation.max_new_tokens) || a.generation.max_new_tokens < 1) {
        return bad_number(v, "a positive integer");
      }
    } else if (arg == "--temperature") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtod(v, &a.generation.sampling.temperature))
        return bad_number(v, "a number");
    } else if (arg == "--top-p") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtod(v, &a.generation.sampling.top_p)) return bad_number(v, "a number");
    } else if (arg == "--top-k") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtoi(v, &a.generation.sampling.top_k)) return bad_number(v, "an integer");
    } else if (arg == "--seed") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtoi(v, &a.generation.sampling.seed)) {
        return bad_number(v, "a non-negative integer");
      }
    } else if (arg == "--device") {
      if (!(v = value())) return 2;
      a.device = v;
    } else if (arg == "--threads") {
      if (!(v = value())) return 2;
      if (!absl::SimpleAtoi(v, &a.threads) || a.threads < 0) {
        return bad_number(v, "an integer >= 0");
      }
    } else if (arg == "-o" || arg == "--output") {
      if (!(v = value())) return 2;
      if (std::string_view(v) != "json") {
        std::fprintf(stderr, "lorad-worker generate: -o supports only json, got '%s'\n", v);
        return 2;
      }
      a.json = true;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "lorad-worker generate: unknown option '%s'\n", argv[i]);
      PrintGenerateUsage(stderr);
      return 2;
    } else if (a.model_dir.empty()) {
      a.model_dir = std::string(arg);
    } else {
      std::fprintf(stderr, "lorad-worker generate: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  if (a.model_dir.empty()) {
    std::fprintf(stderr, "lorad-worker generate: MODEL_DIR is required\n");
    PrintGenerateUsage(stderr);
    return 2;
  }
  if (a.prompt.has_value() == !a.prompts_file.empty()) {
    std::fprintf(stderr,
                 "lorad-worker generate: give exactly one of --prompt TEXT and --prompts FILE\n");
    return 2;
  }
  if (auto s = ValidateSamplingOptions(a.generation.sampling); !s.ok()) {
    std::fprintf(stderr, "lorad-worker generate: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return std::nullopt;
}

absl::StatusOr<GenerationPrompt> ChoosePromptFormat(const GenerateArgs& a) {
  if (!a.chat_template.empty()) return GenerationPrompt::ByName(a.chat_template);
  if (HasJinjaChatTemplate(a.model_dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        a.model_dir,
        " has its own chat template (Jinja, in tokenizer_config.json or "
        "chat_template.jinja), which lorad cannot run: pass --chat-template NAME, one of ",
        GenerationPrompt::SupportedNames(), " (none = the prompt text as is)"));
  }
  return GenerationPrompt::ByName("none");
}

absl::StatusOr<std::vector<ChatMessage>> ParseMessages(const nlohmann::json& j,
                                                       const std::string& where) {
  if (!j.is_array() || j.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"messages\" must be a non-empty list"));
  }
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& m = j[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": messages[", i, "] must be {\"role\": string, \"content\": string}"));
    }
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

absl::StatusOr<std::vector<PromptItem>> ReadPrompts(const GenerateArgs& a,
                                                    const GenerationPrompt& format,
                                                    const Tokenizer& tokenizer) {
  std::vector<PromptItem> items;
  if (a.prompt) {
    PromptItem item;
    item.source = {{"prompt", *a.prompt}};
    LORAD_ASSIGN_OR_RETURN(item.ids, format.FromText(tokenizer, *a.prompt));
    items.push_back(std::move(item));
    return items;
  }
  LORAD_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.prompts_file));
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = absl::StrCat(a.prompts_file, ":", line_no);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    PromptItem item;
    if (j.is_object() && j.contains("prompt") && j["prompt"].is_string()) {
      item.source = {{"prompt", j["prompt"]}};
      auto ids = format.FromText(tokenizer, j["prompt"].get<std::string>());
      if (!ids.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", ids.status().message()));
      item.ids = *std::move(ids);
    } else if (j.is_object() && j.contains("messages")) {
      LORAD_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages,
                             ParseMessages(j["messages"], where));
      item.source = {{"messages", j["messages"]}};
      auto ids = format.FromMessages(tokenizer, messages);
      if (!ids.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", ids.status().message()));
      item.ids = *std::move(ids);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected a JSON object with \"prompt\" (a string) or \"messages\" (a list)"));
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(a.prompts_file, ": no prompts"));
  }
  return items;
}

/// EOS of config.json, generation_config.json and the tokenizer, and the chat
/// template's end-of-turn tokens.
absl::StatusOr<std::vector<int64_t>> StopTokenIds(const GenerateArgs& a, const ModelConfig& config,
                                                  const Tokenizer& tokenizer,
                                                  const GenerationPrompt& format) {
  LORAD_ASSIGN_OR_RETURN(GenerationConfig gen, LoadGenerationConfig(a.model_dir));
  std::set<int64_t> ids(config.eos_token_ids.begin(), config.eos_token_ids.end());
  ids.insert(gen.eos_token_ids.begin(), gen.eos_token_ids.end());
  if (auto eos = tokenizer.eos_id()) ids.insert(*eos);
  for (int32_t id : format.TurnEndIds(tokenizer)) ids.insert(id);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

/// The stored dtype where the device computes it natively (bf16 on CPUs with
/// AVX512-BF16/AMX and on GPUs, f16 on GPUs), otherwise fp32.
torch::Dtype ComputeDtype(const ModelConfig& config, const RuntimeEnv& env) {
  if (config.torch_dtype == "bfloat16" && env.bf16) return torch::kBFloat16;
  if (config.torch_dtype == "float16" && env.device.is_cuda()) return torch::kFloat16;
  return torch::kFloat32;
}

int Fail(const absl::Status& s) {
  spdlog::error("{}", std::string(s.message()));
  return ExitCodeFor(s);
}

}  // namespace

int GenerateCommand(int argc, char** argv) {
  LogToStderr();
  GenerateArgs a;
  if (auto code = ParseArgs(argc, argv, a)) return *code;

  auto config = LoadModelConfig(a.model_dir);
  if (!config.ok()) return Fail(config.status());
  auto tokenizer = Tokenizer::LoadFromDir(a.model_dir);
  if (!tokenizer.ok()) return Fail(tokenizer.status());
  auto format = ChoosePromptFormat(a);
  if (!format.ok()) return Fail(format.status());
  auto prompts = ReadPrompts(a, *format, **tokenizer);
  if (!prompts.ok()) return Fail(prompts.status());
  auto stop = StopTokenIds(a, *config, **tokenizer, *format);
  if (!stop.ok()) return Fail(stop.status());
  a.generation.stop_token_ids = *stop;
  if (!a.adapter.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(a.adapter, ec)) {
      return Fail(
          absl::NotFoundError(absl::StrCat("--adapter ", a.adapter, ": no such directory")));
    }
  }

  auto env = ResolveRuntimeEnv(a.device, a.threads, Bf16Mode::kAuto);
  if (!env.ok()) return Fail(env.status());
  LoadOptions load;
  load.base_dtype = ComputeDtype(*config, *env);
  load.device = env->device;
  auto model = LoadCausalLm(a.model_dir, *config, load);
  if (!model.ok()) return Fail(model.status());
  spdlog::info("{}: {} on {}, {} thread(s), {}", a.model_dir, config->architecture_name,
               env->device.str(), env->threads, std::string(c10::toString(load.base_dtype)));
  if (!a.adapter.empty()) {
    auto attached = AttachAdapter(**model, a.adapter);
    if (!attached.ok()) return Fail(attached.status());
    spdlog::info("adapter {}: {} module(s), r={}, alpha={}{}", a.adapter, attached->modules,
                 attached->r, attached->alpha, attached->use_rslora ? ", rsLoRA" : "");
  }

  Generator generator(*model);
  for (const PromptItem& item : *prompts) {
    StreamDecoder stream(**tokenizer, /*skip_special_tokens=*/true);
    auto print = [](const std::string& text) {
      if (text.empty()) return;
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    };
    std::function<void(int64_t)> on_token;
    if (!a.json) on_token = [&](int64_t id) { print(stream.Push(static_cast<int32_t>(id))); };
    auto result = generator.Generate({item.ids.begin(), item.ids.end()}, a.generation, on_token);
    if (!result.ok()) return Fail(result.status());
    const std::vector<int32_t> ids(result->ids.begin(), result->ids.end());
    const double decode_tps =
        result->ids.size() > 1 && result->decode_seconds > 0
            ? static_cast<double>(result->ids.size() - 1) / result->decode_seconds
            : 0.0;
    if (a.json) {
      nlohmann::ordered_json out = item.source;
      out["prompt_tokens"] = item.ids.size();
      out["ids"] = result->ids;
      out["text"] = (*tokenizer)->Decode(ids, /*skip_special_tokens=*/true);
      out["stop_reason"] = std::string(StopReasonName(result->stop_reason));
      out["prefill_seconds"] = result->prefill_seconds;
      out["tokens_per_second"] = decode_tps;
      print(out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
    } else {
      print(stream.Finish() + "\n");
    }
    spdlog::info("{} prompt token(s), {} new, stop: {}, prefill {:.3f} s, {:.1f} tokens/s",
                 item.ids.size(), result->ids.size(), StopReasonName(result->stop_reason),
                 result->prefill_seconds, decode_tps);
  }
  return 0;
}

}  // namespace lorad
