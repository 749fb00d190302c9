/*
 * decode.c — an image-folder file to the decoder of its kind, and what the
 * decoders share (see decode.h): one place for the opening rules, the
 * bounds and the channel conversion, so JPEG, PNG and WebP files give the
 * same messages and the same pixels for the same colours.
 */
#include "data/decode.h"

#include <string.h>
#include <unistd.h>

#include "data/dataset_impl.h"
#include "data/jpeg.h"
#include "data/png.h"
#include "data/webp.h"

int decode_file(struct decode_job *job, enum file_kind k)
{
	static int (*const decoders[KIND_LAST_READ + 1])(struct decode_job *) = {
		[KIND_JPEG] = jpeg_file, [KIND_PNG] = png_file, [KIND_WEBP] = webp_file,
	};

	job->kind = KIND_BAD(k);
	if (!file_kind_read(k))
		return err_set(job->e, ERR_INVALID, "%s: not a kind of image read", job->path);
	return decoders[k](job);
}

int decode_open(struct decode_job *job, enum file_kind k, struct stat *st)
{
	uint8_t head[SNIFF_BYTES];
	int fd = dataset_open_file(job->path, st, job->e);

	if (fd < 0)
		return fd;
	enum file_kind magic = file_kind_by_magic(head, file_kind_sniff(fd, head, sizeof head));
	if (magic == k || magic == KIND_OTHER)
		return fd; /* not another type's: the decoder says what is wrong, if anything */
	close(fd);
	return file_kind_mismatch(job->e, job->path, k, magic, &job->kind);
}

int decode_header(struct decode_job *job, int c, uint64_t w, uint64_t h)
{
	if (w > DATASET_MAX_SIDE || h > DATASET_MAX_SIDE)
		return err_set(job->e, ERR_INVALID, "%s: %llux%llu pixels exceeds %dx%d", job->path,
			       (unsigned long long)w, (unsigned long long)h, DATASET_MAX_SIDE,
			       DATASET_MAX_SIDE);
	if (w == 0 || h == 0)
		return err_set(job->e, ERR_INVALID, "%s: an empty image (%llux%llu)", job->path,
			       (unsigned long long)w, (unsigned long long)h);
	job->c = c;
	job->w = (int)w;
	job->h = (int)h;
	return 0;
}

int decode_check_memory(const struct decode_job *job, uint64_t bytes)
{
	if (bytes > (uint64_t)DECODE_MAX_BYTES)
		return err_set(job->e, ERR_INVALID, "%s: needs more than %ld MiB to decode",
			       job->path, DECODE_MAX_BYTES >> 20);
	return 0;
}

int decode_start(struct decode_job *job, int h, int w)
{
	struct image *img = job->img;
	int rc = dataset_image_reserve(img, (size_t)h * (size_t)w * (size_t)job->channels, job->e);

	if (rc < 0)
		return rc;
	img->c = job->channels;
	img->h = h;
	img->w = w;
	return 0;
}

void decode_row(struct image *img, const uint8_t *row, int c, int step, size_t y)
{
	size_t w = (size_t)img->w, plane = w * (size_t)img->h, s = (size_t)step;
	uint8_t *dst = img->px + y * w;

	if (c == 3 && img->c == 3) {
		for (size_t x = 0; x < w; x++) {
			dst[x] = row[s * x];
			dst[plane + x] = row[s * x + 1];
			dst[2 * plane + x] = row[s * x + 2];
		}
	} else if (c == 3) {
		for (size_t x = 0; x < w; x++)
			dst[x] = dataset_luma(row[s * x], row[s * x + 1], row[s * x + 2]);
	} else {
		if (s == 1)
			memcpy(dst, row, w);
		for (size_t x = 0; s > 1 && x < w; x++)
			dst[x] = row[s * x];
		for (int ch = 1; ch < img->c; ch++)
			memcpy(dst + (size_t)ch * plane, dst, w);
	}
}
