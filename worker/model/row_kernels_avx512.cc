// row_kernels_impl.inc built for the avx512 instruction set (flags in CMakeLists.txt).
#define LORAD_ROW_KERNELS_ISA avx512
#include "worker/model/row_kernels_impl.inc"
