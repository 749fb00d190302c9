/*
 * fuzz_png.c — libFuzzer target for the PNG image-folder reader
 * (daemon/data/imagefolder.c, png.c: libspng, its conversions and bounds),
 * reliability test 14.
 *
 * Input: a flag byte and one PNG file (fuzz_image_folder, fuzz_dataset.h:
 * "a.png", or with variant B "b.PNG" beside a hidden copy and notes.txt).
 */
#include <stdint.h>

#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_image_folder(data, size, "a.png", "b.PNG");
	return 0;
}
