/*
 * loss.c — normalised MSE and the collapse watch, in double per sample.
 */
#include "byol/loss.h"

#include <math.h>
#include <stddef.h>

#define NORM_EPS_SQ 1e-12

/* sqrt(max(Σx², 1e-12)) and whether the clamp applied. */
static double norm(const float *x, int dim, int *clamped)
{
	double s = 0;
	for (int j = 0; j < dim; j++)
		s += (double)x[j] * x[j];
	*clamped = s < NORM_EPS_SQ;
	return sqrt(*clamped ? NORM_EPS_SQ : s);
}

double byol_loss(float *dp, const float *p, const float *z, int batch, int dim)
{
	double total = 0;
	for (int b = 0; b < batch; b++) {
		const float *pb = p + (size_t)b * dim, *zb = z + (size_t)b * dim;
		int pc, zc;
		double np = norm(pb, dim, &pc), nz = norm(zb, dim, &zc), cos = 0;
		for (int j = 0; j < dim; j++)
			cos += (double)pb[j] * zb[j];
		cos /= np * nz;
		total += 2 - 2 * cos;
		/* d(−2 p̂·ẑ)/dp = −2/‖p‖ (ẑ − (p̂·ẑ) p̂); with a clamped ‖p‖ the norm is constant. */
		float *g = dp + (size_t)b * dim;
		for (int j = 0; j < dim; j++) {
			double zh = zb[j] / nz, ph = pb[j] / np;
			double d = pc ? -2 * zh / np : -2 / np * (zh - cos * ph);
			g[j] += (float)(d / batch);
		}
	}
	return total / batch;
}

double byol_z_std(double *s, const float *z, int batch, int dim)
{
	if (batch < 2)
		return 0;
	for (int j = 0; j < 2 * dim; j++)
		s[j] = 0;
	for (int b = 0; b < batch; b++) {
		int clamped;
		const float *zb = z + (size_t)b * dim;
		double n = norm(zb, dim, &clamped);
		for (int j = 0; j < dim; j++) {
			double v = zb[j] / n;
			s[j] += v;
			s[dim + j] += v * v;
		}
	}
	double total = 0;
	for (int j = 0; j < dim; j++) {
		double m = s[j] / batch, var = s[dim + j] / batch - m * m;
		total += sqrt(var > 0 ? var : 0);
	}
	return total / dim;
}

double softmax_xent(float *z, const int *labels, int batch, int classes)
{
	double loss = 0.0;
	for (int i = 0; i < batch; i++, z += classes) {
		float mx = z[0];
		for (int c = 1; c < classes; c++)
			mx = fmaxf(mx, z[c]);
		double sum = 0.0;
		const float zy = z[labels[i]] - mx;
		for (int c = 0; c < classes; c++)
			sum += (z[c] = expf(z[c] - mx));
		loss += log(sum) - zy;
		const float scale = (float)(1.0 / (sum * batch));
		for (int c = 0; c < classes; c++)
			z[c] *= scale;
		z[labels[i]] -= 1.0f / (float)batch;
	}
	return loss / batch;
}
