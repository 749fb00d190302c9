/*
 * fuzz_webp.c — libFuzzer target for the WebP image-folder reader
 * (daemon/data/imagefolder.c, webp.c: libwebp's still and animation
 * decoders and the bounds around them), reliability test 14.
 *
 * Input: a flag byte and one WebP file (fuzz_image_folder, fuzz_dataset.h:
 * "a.webp", or with variant B "b.WebP" beside a hidden copy and notes.txt).
 */
#include <stdint.h>

#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_image_folder(data, size, "a.webp", "b.WebP");
	return 0;
}
