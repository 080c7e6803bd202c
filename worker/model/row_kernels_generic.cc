// row_kernels_impl.inc built for the generic instruction set (flags in CMakeLists.txt).
#define LORAD_ROW_KERNELS_ISA generic
#include "worker/model/row_kernels_impl.inc"
