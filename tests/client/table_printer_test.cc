#include "client/table_printer.h"

#include <gtest/gtest.h>

namespace lorad {
namespace {

TEST(TablePrinterTest, AlignsColumnsAndDropsTrailingSpaces) {
  TablePrinter t({"ID", "STATE", "NAME"});
  t.AddRow({"a1", "RUNNING", "x"});
  t.AddRow({"b22", "QUEUED", ""});
  EXPECT_EQ(t.Render(true),
            "ID    STATE     NAME\n"
            "a1    RUNNING   x\n"
            "b22   QUEUED\n");
  EXPECT_EQ(t.Render(false),
            "a1    RUNNING   x\n"
            "b22   QUEUED\n");
}

TEST(TablePrinterTest, CountsCodePointsAndFlattensNewlines) {
  TablePrinter t({"A", "B"});
  t.AddRow({"é€", "1"});
  t.AddRow({"two\nlines"});
  EXPECT_EQ(t.Render(true),
            "A           B\n"
            "é€          1\n"
            "two lines\n");
  EXPECT_EQ(DisplayWidth("█▏"), 2u);
}

}  // namespace
}  // namespace lorad
