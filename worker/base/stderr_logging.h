// One log format for every lorad-worker command: on stderr, so that stdout
// carries only the JSON records (run) or nothing (serve, whose stdout the
// daemon does not read).
#pragma once

namespace lorad {

/// Makes spdlog's default logger write "2026-01-02T03:04:05.678 info message"
/// lines to stderr, coloured when stderr is a terminal.
void LogToStderr();

}  // namespace lorad
