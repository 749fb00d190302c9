/*
 * isa.h — which vector instruction set the hand-written kernels use.
 *
 * The best one the CPU has (AVX-512F, else AVX2 with FMA, else the portable
 * code), or the one BYOL_ISA names (generic | avx2 | avx512) if the CPU has
 * it. Tests set each in turn with nn_isa_set.
 */
#ifndef BYOL_NN_ISA_H
#define BYOL_NN_ISA_H

enum nn_isa {
	NN_ISA_GENERIC,
	NN_ISA_AVX2,
	NN_ISA_AVX512,
};

enum nn_isa nn_isa(void);
/* Use isa from now on; returns -1 (and changes nothing) if the CPU lacks it. */
int nn_isa_set(enum nn_isa isa);
int nn_isa_supported(enum nn_isa isa);
const char *nn_isa_name(enum nn_isa isa);

#endif
