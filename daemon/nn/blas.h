/*
 * blas.h — choosing OpenBLAS's kernels for this CPU.
 *
 * Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) does not know AMD Zen 4 and
 * falls back to its Haswell (AVX2) kernels on it, although the CPU runs the
 * SkylakeX (AVX-512) kernels at nearly twice the sgemm throughput. The choice
 * is made once, when the library loads, from $OPENBLAS_CORETYPE; so
 * blas_select_core re-executes the program with that variable set when the
 * CPU has the AVX-512 subsets the SkylakeX kernels use and the user has not
 * chosen a core. Call it first thing in main.
 */
#ifndef BYOL_NN_BLAS_H
#define BYOL_NN_BLAS_H

/* May not return (re-exec); returns if nothing needs to change or exec failed. */
void blas_select_core(char **argv);

/* The OpenBLAS kernel family in use ("SkylakeX", "Haswell", ...). */
const char *blas_core_name(void);

#endif
