// Status propagation helpers used at every module boundary.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LORAD_STATUS_CONCAT_INNER_(a, b) a##b
#define LORAD_STATUS_CONCAT_(a, b) LORAD_STATUS_CONCAT_INNER_(a, b)

/// Returns from the current function if `expr` (an absl::Status) is not OK.
#define LORAD_RETURN_IF_ERROR(expr)                 \
  do {                                              \
    ::absl::Status lorad_status_ = (expr);          \
    if (!lorad_status_.ok()) return lorad_status_;  \
  } while (false)

/// `LORAD_ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a StatusOr or returns its error.
#define LORAD_ASSIGN_OR_RETURN(lhs, expr) \
  LORAD_ASSIGN_OR_RETURN_IMPL_(LORAD_STATUS_CONCAT_(lorad_statusor_, __LINE__), lhs, expr)
#define LORAD_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                                 \
  if (!var.ok()) return std::move(var).status();     \
  lhs = std::move(var).value()
