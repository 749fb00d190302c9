/*
 * webp.c — WebP files through libwebp (see webp.h).
 *
 * The pixels are Pillow's Image.open(path).convert("RGB") (or "L") of the
 * same file, measured with Pillow 9.4 (tests/ref/png_webp_ref.py). Pillow
 * decodes through the same libwebp (Debian's libwebp7) with
 * WebPAnimDecoder, still files too: libwebp's default options (fancy
 * upsampling of the chroma, its one YUV -> RGB conversion) into
 * non-premultiplied RGBA, on a canvas of transparent black; convert drops
 * the alpha. Here a still file is decoded with WebPDecode and the same
 * defaults straight into RGB (the same RGB: the alpha plane is decoded
 * apart and never touches it), lossy or lossless; an animation's first
 * frame with WebPAnimDecoder as Pillow does, so a frame smaller than the
 * canvas sits on black. RGB -> 1 channel is dataset_luma, Pillow's
 * convert("L").
 *
 * The whole file is read to decode it. Working memory (the file, our RGB
 * rows, libwebp's ARGB for lossless frames, an animation's two RGBA
 * canvases) is bounded by DECODE_MAX_BYTES: about 76 million pixels for a
 * still image, 44 million for an animation.
 */
#include "data/webp.h"

#include <stdlib.h>
#include <unistd.h>

#include <webp/decode.h>
#include <webp/demux.h>

/* Working memory per pixel beside the file: our RGB rows and libwebp's ARGB
   (lossless) for a still image; an animation's two RGBA canvases, and the
   frame's ARGB. */
#define STILL_BYTES_PER_PX 7
#define ANIMATION_BYTES_PER_PX 12

/* libwebp's status as the reason a file is bad ("PATH: WebP header: truncated"). */
static int webp_fail(const struct decode_job *job, VP8StatusCode st, const char *of)
{
	static const char *const why[] = {
		[VP8_STATUS_OUT_OF_MEMORY] = "out of memory",
		[VP8_STATUS_INVALID_PARAM] = "invalid parameter",
		[VP8_STATUS_BITSTREAM_ERROR] = "corrupt",
		[VP8_STATUS_UNSUPPORTED_FEATURE] = "unsupported feature",
		[VP8_STATUS_SUSPENDED] = "suspended",
		[VP8_STATUS_USER_ABORT] = "aborted",
		[VP8_STATUS_NOT_ENOUGH_DATA] = "truncated",
	};
	unsigned k = (unsigned)st;
	return err_set(job->e, ERR_INVALID, "%s: %s: %s", job->path, of,
		       k < sizeof why / sizeof why[0] && why[k] ? why[k] : "unknown error");
}

/* The size and animation flag of the first n bytes of a WebP file. */
static int read_features(const uint8_t *data, size_t n, WebPBitstreamFeatures *ft,
			 struct decode_job *job)
{
	VP8StatusCode st = WebPGetFeatures(data, n, ft);

	if (st != VP8_STATUS_OK)
		return webp_fail(job, st, "WebP header");
	return decode_header(job, 3, (uint64_t)ft->width, (uint64_t)ft->height);
}

/* The whole file (st->st_size bytes), into *data. */
static int read_file(int fd, const struct stat *st, uint8_t **data, size_t *n,
		     struct decode_job *job)
{
	size_t size = (size_t)st->st_size, got = 0;

	*data = malloc(size ? size : 1);
	if (!*data)
		return err_set(job->e, ERR_NOMEM, "%s: out of memory", job->path);
	while (got < size) {
		ssize_t r = pread(fd, *data + got, size - got, (off_t)got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	*n = got;
	return 0;
}

/* A still image: WebPDecode into interleaved RGB, then converted. */
static int decode_still(const uint8_t *data, size_t n, struct decode_job *job)
{
	size_t row = 3 * (size_t)job->w, bytes = row * (size_t)job->h;
	WebPDecoderConfig config;

	if (!WebPInitDecoderConfig(&config))
		return err_set(job->e, ERR_INVALID, "%s: libwebp version mismatch", job->path);
	uint8_t *rgb = malloc(bytes);
	if (!rgb)
		return err_set(job->e, ERR_NOMEM, "%s: out of memory", job->path);
	config.output.colorspace = MODE_RGB;
	config.output.is_external_memory = 1;
	config.output.u.RGBA = (WebPRGBABuffer){ .rgba = rgb, .stride = (int)row, .size = bytes };
	VP8StatusCode st = WebPDecode(data, n, &config);
	int rc = st == VP8_STATUS_OK ? 0 : webp_fail(job, st, "WebP image data");
	for (size_t y = 0; rc == 0 && y < (size_t)job->h; y++)
		decode_row(job->img, rgb + y * row, 3, 3, y);
	WebPFreeDecBuffer(&config.output);
	free(rgb);
	return rc;
}

/* An animation: its first frame on the canvas, as WebPAnimDecoder gives it. */
static int decode_first_frame(const uint8_t *data, size_t n, struct decode_job *job)
{
	WebPAnimDecoderOptions opts;
	WebPAnimInfo info;
	WebPData in = { .bytes = data, .size = n };
	uint8_t *rgba;
	int stamp, rc = 0;

	if (!WebPAnimDecoderOptionsInit(&opts))
		return err_set(job->e, ERR_INVALID, "%s: libwebp version mismatch", job->path);
	opts.color_mode = MODE_RGBA;
	opts.use_threads = 0;
	WebPAnimDecoder *dec = WebPAnimDecoderNew(&in, &opts);
	if (!dec || !WebPAnimDecoderGetInfo(dec, &info) || (int)info.canvas_width != job->w ||
	    (int)info.canvas_height != job->h || !WebPAnimDecoderGetNext(dec, &rgba, &stamp))
		rc = err_set(job->e, ERR_INVALID, "%s: WebP animation: corrupt or truncated "
			     "(its first frame)", job->path);
	for (size_t y = 0; rc == 0 && y < (size_t)job->h; y++)
		decode_row(job->img, rgba + y * 4 * (size_t)job->w, 3, 4, y);
	WebPAnimDecoderDelete(dec);
	return rc;
}

/* The whole file read, its header checked again, and its pixels decoded. */
static int decode_pixels(int fd, const struct stat *st, int animated, struct decode_job *job)
{
	WebPBitstreamFeatures ft;
	uint64_t px = (uint64_t)job->w * (uint64_t)job->h;
	uint8_t *data = NULL;
	size_t n = 0;
	int h = job->h, w = job->w;
	int rc = decode_check_memory(job, (uint64_t)st->st_size +
				     px * (animated ? ANIMATION_BYTES_PER_PX : STILL_BYTES_PER_PX));

	if (rc < 0 || (rc = read_file(fd, st, &data, &n, job)) < 0)
		return rc;
	rc = read_features(data, n, &ft, job);
	if (rc == 0 && (job->h != h || job->w != w || !ft.has_animation != !animated))
		rc = err_set(job->e, ERR_INVALID, "%s: changed while read", job->path);
	if (rc == 0)
		rc = decode_start(job, h, w);
	if (rc == 0)
		rc = animated ? decode_first_frame(data, n, job) : decode_still(data, n, job);
	free(data);
	return rc;
}

int webp_file(struct decode_job *job)
{
	struct stat st;
	WebPBitstreamFeatures ft;
	uint8_t head[WEBP_HEAD_BYTES];
	int fd = decode_open(job, KIND_WEBP, &st);

	if (fd < 0)
		return fd;
	ssize_t got = pread(fd, head, sizeof head, 0);
	int rc = read_features(head, got > 0 ? (size_t)got : 0, &ft, job);
	if (rc == 0 && job->img)
		rc = decode_pixels(fd, &st, ft.has_animation, job);
	close(fd);
	return rc;
}
