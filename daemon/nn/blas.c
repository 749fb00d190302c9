/*
 * blas.c — OpenBLAS kernel choice (see blas.h).
 */
#include "nn/blas.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void);

static int cpu_has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
	       __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}

void blas_select_core(char **argv)
{
	if (getenv("OPENBLAS_CORETYPE") || !cpu_has_avx512())
		return;
	const char *core = blas_core_name();
	if (strcmp(core, "Haswell") != 0 && strcmp(core, "Zen") != 0)
		return; /* the library already uses AVX-512 kernels, or a core we don't know */
	if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) == 0)
		execv("/proc/self/exe", argv);
}

const char *blas_core_name(void)
{
	const char *name = openblas_get_corename();
	return name ? name : "unknown";
}
