/*
 * conv_direct_kern.h — the register-blocked inner loops of conv_direct.c,
 * written once in GCC's vector extension and included once per instruction
 * set. The includer defines VW (floats per vector), KJ (vectors per forward
 * block), KERN(name) (the variant's name) and KERN_TARGET (its target
 * attribute, or nothing), and DW_O (output channels per weight-gradient
 * block); FWD_ONLY leaves out the weight-gradient loop.
 *
 * Both loops work on "flat" planes (conv_direct.c): a 3×3 tap is a fixed
 * offset off[t] into the plane, so every load is a contiguous vector.
 */

typedef float KERN(vf) __attribute__((vector_size(VW * sizeof(float))));
/* The same vector read from or written to any float address. */
typedef float KERN(vfu) __attribute__((vector_size(VW * sizeof(float)), aligned(4), may_alias));

/*
 * out[o·S + j] = Σ_c Σ_t w[c][t][o] · in[c·S + j + off[t]] for the 4 rows o,
 * the KJ·VW positions j from j0 and the NT taps t; w is packed [C][NT][4].
 * Written once for any tap count, instantiated for 9 (3×3) and 1 (1×1).
 */
#define FWD_BLOCK(name, NT)                                                                  \
	KERN_TARGET static void KERN(name)(float *restrict out, const float *restrict in,      \
					   size_t s, const float *restrict w, int c_in,          \
					   const long *off, size_t j0)                           \
	{                                                                                    \
		KERN(vf) acc[4][KJ];                                                         \
		for (int o = 0; o < 4; o++)                                                  \
			for (int j = 0; j < KJ; j++)                                         \
				acc[o][j] = (KERN(vf)){ 0 };                                 \
		for (int c = 0; c < c_in; c++) {                                             \
			const float *x = in + (size_t)c * s + j0;                            \
			const float *wc = w + (size_t)c * (NT) * 4;                          \
			for (int t = 0; t < (NT); t++) {                                     \
				KERN(vf) xv[KJ];                                             \
				for (int j = 0; j < KJ; j++)                                 \
					xv[j] = *(const KERN(vfu) *)(x + off[t] + j * VW);   \
				for (int o = 0; o < 4; o++)                                  \
					for (int j = 0; j < KJ; j++)                         \
						acc[o][j] += xv[j] * wc[t * 4 + o];          \
			}                                                                    \
		}                                                                            \
		for (int o = 0; o < 4; o++)                                                  \
			for (int j = 0; j < KJ; j++)                                         \
				*(KERN(vfu) *)(out + (size_t)o * s + j0 + (size_t)j * VW) =   \
					acc[o][j];                                           \
	}

FWD_BLOCK(fwd_block, 9)
FWD_BLOCK(fwd1_block, 1)
#undef FWD_BLOCK

#ifndef FWD_ONLY
/* The sum of a vector's lanes, as a tree of halves (short dependency chain). */
KERN_TARGET static inline float KERN(hsum)(KERN(vf) v)
{
	float l[VW];
	__builtin_memcpy(l, &v, sizeof l);
	for (int w = VW / 2; w >= 1; w /= 2)
		for (int i = 0; i < w; i++)
			l[i] += l[i + w];
	return l[0];
}

/*
 * dw[o·stride + kx] += Σ_j dout[o·S + j] · x[j + kx − 1] for the DW_O rows o
 * of dout and the three taps kx of one kernel row; j runs over [0, len), len
 * a multiple of VW, and dw points at that row's first tap of channel c.
 */
KERN_TARGET static void KERN(dw_row)(float *restrict dw, size_t dw_stride,
				     const float *restrict dout, size_t s, const float *restrict x,
				     size_t len)
{
	KERN(vf) acc[DW_O][3];
	for (int o = 0; o < DW_O; o++)
		for (int k = 0; k < 3; k++)
			acc[o][k] = (KERN(vf)){ 0 };
	for (size_t j = 0; j < len; j += VW) {
		KERN(vf) xv[3];
		for (int k = 0; k < 3; k++)
			xv[k] = *(const KERN(vfu) *)(x + j + k - 1);
		for (int o = 0; o < DW_O; o++) {
			KERN(vf) d = *(const KERN(vfu) *)(dout + (size_t)o * s + j);
			for (int k = 0; k < 3; k++)
				acc[o][k] += d * xv[k];
		}
	}
	for (int o = 0; o < DW_O; o++)
		for (int k = 0; k < 3; k++)
			dw[(size_t)o * dw_stride + (size_t)k] += KERN(hsum)(acc[o][k]);
}
#endif
