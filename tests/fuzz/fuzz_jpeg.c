/*
 * fuzz_jpeg.c — libFuzzer target for the JPEG image-folder reader
 * (daemon/data/imagefolder.c, jpeg.c), reliability test 14.
 *
 * Input: a flag byte and one JPEG file (fuzz_image_folder, fuzz_dataset.h:
 * "a.jpg", or with variant B "b.JPEG" beside a hidden copy and notes.txt).
 */
#include <stdint.h>

#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_image_folder(data, size, "a.jpg", "b.JPEG");
	return 0;
}
