// row_kernels_impl.inc built for the avx2 instruction set (flags in CMakeLists.txt).
#define LORAD_ROW_KERNELS_ISA avx2
#include "worker/model/row_kernels_impl.inc"
