// Typed reads of one YAML mapping (the top level, or one datasets[] entry) with
// every bad value recorded in ConfigProblems under its key path, and the keys
// read remembered so the rest can be reported as ignored.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "worker/config/config_problems.h"
#include "yaml-cpp/yaml.h"

namespace lorad {

class YamlFieldReader {
 public:
  /// `prefix`: key path of `map` ("" for the top level, "datasets[0]").
  /// `overridden`: key paths set by --set (their errors say so instead of a line).
  YamlFieldReader(const YAML::Node& map, std::string prefix, ConfigProblems* problems,
                  const std::set<std::string>* overridden);

  /// Full key path of `key` ("datasets[0].path").
  std::string PathOf(const std::string& key) const;
  /// " (line N)" or " (from --set)" for messages about `key`'s value.
  std::string Where(const std::string& key, const YAML::Node& node) const;
  /// Records a problem about `key`, with its location.
  void Problem(const std::string& key, const std::string& message);

  /// The value of `key` (marks it read); an undefined Node when absent.
  YAML::Node Take(const std::string& key);
  /// Present and not null (does not mark it read).
  bool Has(const std::string& key) const;

  // Each Read* leaves *out unchanged when the key is absent or null, and records
  // a problem (leaving *out unchanged) when the value is malformed.  Returns
  // true when a valid value was stored.
  bool ReadBool(const std::string& key, bool* out);
  bool ReadInt(const std::string& key, int64_t* out, int64_t min, int64_t max);
  /// `ok(v)` decides validity; `expected` completes "must be ..., got X".
  bool ReadDouble(const std::string& key, double* out, const std::function<bool(double)>& ok,
                  const std::string& expected);
  bool ReadString(const std::string& key, std::string* out, bool allow_empty = false);
  /// One of `allowed`; `what` names the kind: `unknown scheduler "foo" (supported: ...)`.
  bool ReadEnum(const std::string& key, std::string* out,
                const std::vector<std::string>& allowed, const std::string& what);
  /// A list of non-empty strings (at most `max_items`).
  bool ReadStringList(const std::string& key, std::vector<std::string>* out,
                      size_t max_items = 1024);

  /// Keys of the mapping not taken, in document order.
  std::vector<std::string> UntakenKeys() const;
  /// Records a problem for every key that appears twice.
  void CheckDuplicateKeys();

  const YAML::Node& node() const { return map_; }

 private:
  /// The scalar text of `node`, or nullopt-like empty with a problem recorded.
  bool ScalarText(const std::string& key, const YAML::Node& node, std::string* text);

  YAML::Node map_;
  std::string prefix_;
  ConfigProblems* problems_;
  const std::set<std::string>* overridden_;
  std::set<std::string> taken_;
};

/// Integer parse accepting "8", "-3", and integral floats such as "8.0" (as
/// pydantic's lax mode does); false for anything else or out of int64 range.
bool ParseYamlInt(const std::string& text, int64_t* out);
/// Number parse ("1e-4", "0.5", ".5", "2"); refuses nan/inf and trailing junk.
bool ParseYamlDouble(const std::string& text, double* out);
/// YAML 1.1/1.2 booleans as yaml-cpp reads them (true/false/yes/no/on/off, any case form).
bool ParseYamlBool(const std::string& text, bool* out);
/// Whether a node would count as "set" in Python: not null/false/0/""/[]/{}.
bool YamlTruthy(const YAML::Node& node);

}  // namespace lorad
