// The little loractl needs to know about terminals.
#pragma once

namespace lorad {

/// True when `fd` is a terminal.
bool IsTerminal(int fd);

/// Columns of the terminal on `fd`; $COLUMNS, then 80, when unknown.
int TerminalColumns(int fd);

}  // namespace lorad
