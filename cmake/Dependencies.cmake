# Every dependency comes from Debian 12 packages (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)

# LibTorch: Debian's libtorch-dev installs a CMake package; a CUDA LibTorch is
# found through CMAKE_PREFIX_PATH (torch.utils.cmake_prefix_path).
find_package(Torch REQUIRED)
# TorchConfig adds its flags to TORCH_CXX_FLAGS (ABI define); apply them globally
# so every TU agrees on the std::string ABI.
if(TORCH_CXX_FLAGS)
  separate_arguments(_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  add_compile_options(${_torch_flags})
endif()

if(LORAD_BUILD_SERVICE)
  find_package(Protobuf CONFIG QUIET)
  if(NOT Protobuf_FOUND)
    find_package(Protobuf REQUIRED)
  endif()
  find_package(gRPC CONFIG REQUIRED)
  find_package(prometheus-cpp CONFIG REQUIRED)
  find_package(SQLite3 REQUIRED)
  pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
endif()

if(LORAD_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
