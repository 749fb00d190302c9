/*
 * jpeg.c — JPEG files through libjpeg(-turbo) (see jpeg.h).
 *
 * libjpeg reports fatal errors through error_exit, which must not return:
 * ours longjmps back to the one function that called setjmp (jpeg_run), so
 * a corrupt file becomes an ERR_INVALID, never an exit. Warnings mean
 * corrupt data too (a truncated file decodes to grey otherwise), so they
 * are fatal as well, except for stray bytes between markers, which many
 * cameras write and every decoder accepts.
 */
#include "data/jpeg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>

#define MAX_SCANS 256 /* progressive scans per file: guards against scan bombs */
/* libjpeg's working memory per decode is DECODE_MAX_BYTES (a progressive
   16384² RGB file would want 1.5 GiB of coefficients). */


struct jpeg_err {
	struct jpeg_error_mgr pub; /* first: libjpeg hands us &pub */
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
};

static void jump_out(j_common_ptr cinfo)
{
	struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
	longjmp(je->jump, 1);
}

static void on_error_exit(j_common_ptr cinfo)
{
	struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
	if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) /* over DECODE_MAX_BYTES */
		snprintf(je->msg, sizeof je->msg, "needs more than %ld MiB to decode",
			 DECODE_MAX_BYTES >> 20);
	else
		cinfo->err->format_message(cinfo, je->msg);
	jump_out(cinfo);
}

/* Level -1 is a warning (corrupt data): fatal, see the file comment.
 * Levels >= 0 are trace messages: dropped. */
static void on_emit_message(j_common_ptr cinfo, int level)
{
	if (level < 0 && cinfo->err->msg_code != JWRN_EXTRANEOUS_DATA)
		on_error_exit(cinfo);
}

static void on_output_message(j_common_ptr cinfo)
{
	(void)cinfo; /* messages reach the caller through struct err instead */
}

/* A progressive file may hold any number of scans, each a full pass over
 * the coefficients; a few bytes per scan can cost minutes. Stop early. */
static void on_progress(j_common_ptr cinfo)
{
	j_decompress_ptr d = (j_decompress_ptr)cinfo;
	if (d->input_scan_number > MAX_SCANS) {
		struct jpeg_err *je = (struct jpeg_err *)cinfo->err;
		snprintf(je->msg, sizeof je->msg, "more than %d progressive scans", MAX_SCANS);
		jump_out(cinfo);
	}
}

/* Reject what we cannot or will not decode, before any pixel work. */
static int check_header(j_decompress_ptr cinfo, struct decode_job *job)
{
	if (cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK)
		return err_set(job->e, ERR_INVALID, "%s: CMYK JPEGs are not supported",
			       job->path);
	if (cinfo->num_components != 1 && cinfo->num_components != 3)
		return err_set(job->e, ERR_INVALID, "%s: %d colour components not supported",
			       job->path, cinfo->num_components);
	return decode_header(job, cinfo->num_components, cinfo->image_width,
			     cinfo->image_height);
}

/* After the header: decode every scanline into job->img, at job->scale / 8
   (libjpeg-turbo scales in the IDCT: fewer pixels to compute, and an area-like
   low-pass instead of dropped detail). */
static int decode_pixels(j_decompress_ptr cinfo, struct decode_job *job)
{
	int scale = job->scale ? job->scale : 8;
	int h = dataset_scaled_side(job->h, scale), w = dataset_scaled_side(job->w, scale);
	int rc = scale >= 1 && scale <= 8 ? decode_start(job, h, w)
		 : err_set(job->e, ERR_INVALID, "%s: decode scale %d/8 outside 1..8", job->path,
			   scale);

	if (rc < 0)
		return rc;
	cinfo->out_color_space = job->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
	cinfo->scale_num = (unsigned)scale;
	cinfo->scale_denom = 8;
	jpeg_start_decompress(cinfo);
	if (cinfo->output_components != job->c || (int)cinfo->output_width != w ||
	    (int)cinfo->output_height != h)
		return err_set(job->e, ERR_INVALID, "%s: unexpected decoder output", job->path);
	JSAMPARRAY row = cinfo->mem->alloc_sarray((j_common_ptr)cinfo, JPOOL_IMAGE,
						  (JDIMENSION)w * (JDIMENSION)job->c, 1);
	while (cinfo->output_scanline < cinfo->output_height) {
		size_t y = cinfo->output_scanline;
		if (jpeg_read_scanlines(cinfo, row, 1) != 1)
			return err_set(job->e, ERR_INVALID, "%s: decoder stalled at row %zu",
				       job->path, y);
		decode_row(job->img, row[0], job->c, job->c, y);
	}
	jpeg_finish_decompress(cinfo);
	return 0;
}

/*
 * The only function that calls setjmp: everything that may reach
 * error_exit runs below it, and it changes no local after setjmp, so the
 * longjmp back here is well defined. The caller destroys cinfo.
 */
static int jpeg_run(j_decompress_ptr cinfo, struct jpeg_err *je,
		    struct jpeg_progress_mgr *progress, FILE *f, struct decode_job *job)
{
	if (setjmp(je->jump))
		return err_set(job->e, ERR_INVALID, "%s: %s", job->path, je->msg);
	jpeg_create_decompress(cinfo);
	cinfo->mem->max_memory_to_use = DECODE_MAX_BYTES;
	cinfo->progress = progress;
	jpeg_stdio_src(cinfo, f);
	jpeg_read_header(cinfo, TRUE);
	int rc = check_header(cinfo, job);
	if (rc < 0 || !job->img)
		return rc;
	return decode_pixels(cinfo, job);
}

int jpeg_file(struct decode_job *job)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_progress_mgr progress = { .progress_monitor = on_progress };
	struct jpeg_err je;
	struct stat st;
	int fd = decode_open(job, KIND_JPEG, &st);

	if (fd < 0)
		return fd;
	FILE *f = fdopen(fd, "rb");
	if (!f) {
		close(fd);
		return err_set(job->e, ERR_NOMEM, "%s: %s", job->path, strerror(errno));
	}
	memset(&cinfo, 0, sizeof cinfo); /* so destroy is safe whatever failed */
	cinfo.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = on_error_exit;
	je.pub.emit_message = on_emit_message;
	je.pub.output_message = on_output_message;
	je.msg[0] = '\0';

	int rc = jpeg_run(&cinfo, &je, &progress, f, job);
	jpeg_destroy_decompress(&cinfo);
	fclose(f);
	return rc;
}
