/*
 * isa.c — run-time choice of the kernels' instruction set (see isa.h).
 */
#include "nn/isa.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int chosen = -1;

int nn_isa_supported(enum nn_isa isa)
{
	__builtin_cpu_init();
	switch (isa) {
	case NN_ISA_GENERIC: return 1;
	case NN_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case NN_ISA_AVX512: return __builtin_cpu_supports("avx512f");
	}
	return 0;
}

const char *nn_isa_name(enum nn_isa isa)
{
	static const char *names[] = { "generic", "avx2", "avx512" };
	return isa >= NN_ISA_GENERIC && isa <= NN_ISA_AVX512 ? names[isa] : "unknown";
}

static enum nn_isa best(void)
{
	const char *want = getenv("BYOL_ISA");
	for (int i = NN_ISA_AVX512; want && i >= NN_ISA_GENERIC; i--)
		if (strcmp(want, nn_isa_name((enum nn_isa)i)) == 0 && nn_isa_supported((enum nn_isa)i))
			return (enum nn_isa)i;
	for (int i = NN_ISA_AVX512; i > NN_ISA_GENERIC; i--)
		if (nn_isa_supported((enum nn_isa)i))
			return (enum nn_isa)i;
	return NN_ISA_GENERIC;
}

enum nn_isa nn_isa(void)
{
	int c = atomic_load_explicit(&chosen, memory_order_relaxed);
	if (c < 0) {
		c = (int)best();
		atomic_store_explicit(&chosen, c, memory_order_relaxed);
	}
	return (enum nn_isa)c;
}

int nn_isa_set(enum nn_isa isa)
{
	if (!nn_isa_supported(isa))
		return -1;
	atomic_store_explicit(&chosen, (int)isa, memory_order_relaxed);
	return 0;
}
