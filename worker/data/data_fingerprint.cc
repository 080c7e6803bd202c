#include "worker/data/data_fingerprint.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/base/sha256.h"
#include "worker/base/status_macros.h"

namespace lorad {

absl::StatusOr<std::string> ComputeDataFingerprint(
    const TrainConfig& config, const Tokenizer& tokenizer,
    const std::vector<std::string>& format_descriptions) {
  Sha256 h;
  // Length-prefixed fields: no two different inputs concatenate alike.
  auto field = [&h](const std::string& name, const std::string& value) {
    h.Update(absl::StrCat(name, "=", value.size(), ":"));
    h.Update(value);
    h.Update("\n");
  };
  field("lorad-data", "v1");
  field("tokenizer", tokenizer.fingerprint());
  for (size_t i = 0; i < config.datasets.size(); ++i) {
    LORAD_ASSIGN_OR_RETURN(std::string file_hash, Sha256File(config.datasets[i].path));
    field(absl::StrCat("dataset", i, ".sha256"), file_hash);
    field(absl::StrCat("dataset", i, ".format"),
          i < format_descriptions.size() ? format_descriptions[i] : "");
  }
  field("sequence_len", std::to_string(config.sequence_len));
  field("sample_packing", config.sample_packing ? "1" : "0");
  field("skip_bad_lines", config.skip_bad_lines ? "1" : "0");
  // The split depends on the seed only when there is one.
  if (config.val_set_size.set()) {
    field("val_set_size", absl::StrFormat("%s%.17g", config.val_set_size.is_fraction ? "f" : "n",
                                          config.val_set_size.value));
    field("seed", std::to_string(config.seed));
  }
  return h.FinishHex();
}

}  // namespace lorad
