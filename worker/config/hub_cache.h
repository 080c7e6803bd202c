// Resolution of Hugging Face hub ids ("org/name") to snapshots already present
// in the local HF cache.  lorad never downloads: a missing model is an error
// that says how to fetch it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace lorad {

/// True for strings shaped like a hub repo id: "org/name" (exactly one '/',
/// each part of [A-Za-z0-9._-], not starting with '.' or '-').
bool LooksLikeHubId(std::string_view spec);

/// The hub cache folder: $HF_HUB_CACHE, else $HF_HOME/hub, else
/// ~/.cache/huggingface/hub ($HOME; XDG_CACHE_HOME as huggingface_hub honours it).
std::filesystem::path HubCacheDir();

/// `models--org--name/refs/main` → `snapshots/<rev>`; without refs/main, the only
/// snapshot.  NOT_FOUND (with `huggingface-cli download org/name`) when absent;
/// FAILED_PRECONDITION when several snapshots and no refs/main.
absl::StatusOr<std::filesystem::path> ResolveHubModel(std::string_view repo_id);

}  // namespace lorad
