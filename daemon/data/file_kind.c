/*
 * file_kind.c — what a file of an image folder is (see file_kind.h).
 */
#include "data/file_kind.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *const file_kind_names[KIND_N] = {
	[KIND_JPEG] = "JPEG", [KIND_PNG] = "PNG", [KIND_WEBP] = "WebP", [KIND_GIF] = "GIF",
	[KIND_BMP] = "BMP", [KIND_TIFF] = "TIFF", [KIND_HEIF] = "HEIF", [KIND_AVIF] = "AVIF",
	[KIND_JXL] = "JPEG XL", [KIND_JP2] = "JPEG 2000", [KIND_PNM] = "PNM",
	[KIND_BAD_JPEG] = "unreadable JPEG", [KIND_BAD_PNG] = "unreadable PNG",
	[KIND_BAD_WEBP] = "unreadable WebP", [KIND_NOT_REGULAR] = "non-regular",
	[KIND_OTHER] = "non-image",
};

/* The names of each kind read, for messages. */
static const char *const read_names[KIND_LAST_READ + 1] = {
	[KIND_JPEG] = ".jpg or .jpeg", [KIND_PNG] = ".png", [KIND_WEBP] = ".webp",
};

/* The kind a regular file's name says: a kind read, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_name(const char *name)
{
	static const struct {
		const char *ext;
		enum file_kind kind;
	} exts[] = {
		{ ".jpg", KIND_JPEG },  { ".jpeg", KIND_JPEG }, { ".png", KIND_PNG },
		{ ".apng", KIND_PNG },  { ".webp", KIND_WEBP }, { ".gif", KIND_GIF },
		{ ".bmp", KIND_BMP },   { ".dib", KIND_BMP },   { ".tif", KIND_TIFF },
		{ ".tiff", KIND_TIFF }, { ".heic", KIND_HEIF }, { ".heif", KIND_HEIF },
		{ ".avif", KIND_AVIF }, { ".jxl", KIND_JXL },   { ".jp2", KIND_JP2 },
		{ ".j2k", KIND_JP2 },   { ".jpx", KIND_JP2 },   { ".ppm", KIND_PNM },
		{ ".pgm", KIND_PNM },   { ".pbm", KIND_PNM },   { ".pnm", KIND_PNM },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof exts / sizeof exts[0]; i++)
		if (strcasecmp(dot, exts[i].ext) == 0)
			return exts[i].kind;
	return KIND_OTHER;
}

/* The kind a file's first bytes say: a kind read, an image type, or KIND_OTHER. */
enum file_kind file_kind_by_magic(const uint8_t *p, size_t n)
{
	if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return KIND_JPEG;
	if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return KIND_PNG;
	if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return KIND_GIF;
	if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return KIND_WEBP;
	if (n >= 4 && (memcmp(p, "II*\0", 4) == 0 || memcmp(p, "MM\0*", 4) == 0))
		return KIND_TIFF;
	if (n >= 12 && memcmp(p + 4, "ftyp", 4) == 0) {
		if (memcmp(p + 8, "avif", 4) == 0 || memcmp(p + 8, "avis", 4) == 0)
			return KIND_AVIF;
		if (memcmp(p + 8, "heic", 4) == 0 || memcmp(p + 8, "heix", 4) == 0 ||
		    memcmp(p + 8, "mif1", 4) == 0 || memcmp(p + 8, "msf1", 4) == 0)
			return KIND_HEIF;
	}
	if ((n >= 2 && p[0] == 0xFF && p[1] == 0x0A) ||
	    (n >= 12 && memcmp(p, "\0\0\0\x0cJXL \r\n\x87\n", 12) == 0))
		return KIND_JXL;
	if (n >= 12 && memcmp(p, "\0\0\0\x0cjP  \r\n\x87\n", 12) == 0)
		return KIND_JP2;
	if (n >= 2 && p[0] == 'B' && p[1] == 'M')
		return KIND_BMP;
	return KIND_OTHER;
}

/* The reason a skipped file of kind k (told by name) gives. */
int file_kind_error(struct err *e, const char *path, enum file_kind k)
{
	if (k >= KIND_FIRST_TYPE && k <= KIND_LAST_TYPE)
		return err_set(e, ERR_INVALID, "%s: unsupported image type: %s", path,
			       file_kind_names[k]);
	return err_set(e, ERR_INVALID, "%s: not an image file (only .jpg, .jpeg, .png and .webp "
		       "files are read)", path);
}

/* A file whose magic (a kind read or an image type) is not what its name says. */
int file_kind_mismatch(struct err *e, const char *path, enum file_kind named,
		       enum file_kind magic, enum file_kind *count)
{
	const char *ext = strrchr(path, '.');

	*count = magic;
	if (!file_kind_read(magic))
		return file_kind_read(named)
		       ? err_set(e, ERR_INVALID, "%s: unsupported image type: %s (named %s)", path,
				 file_kind_names[magic], ext)
		       : file_kind_error(e, path, magic);
	if (file_kind_read(named))
		return err_set(e, ERR_INVALID, "%s: a %s file named %s: rename it to use it", path,
			       file_kind_names[magic], ext);
	*count = KIND_OTHER;
	return err_set(e, ERR_INVALID, "%s: a %s file not named %s: rename it to use it", path,
		       file_kind_names[magic], read_names[magic]);
}

/* The first bytes of an open file: how many (0 if unreadable) into p. */
size_t file_kind_sniff(int fd, uint8_t *p, size_t n)
{
	ssize_t got = pread(fd, p, n, 0);
	return got > 0 ? (size_t)got : 0;
}

