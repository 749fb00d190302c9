/*
 * fuzz_jpeg.c — libFuzzer target for the JPEG image-folder reader
 * (daemon/data/imagefolder.c), reliability test 14.
 *
 * Input: a flag byte (fuzz_dataset.h; variant A puts the class folder under
 * the split's sub-folder, else the split is "train" (no train/: the path
 * itself) or, with the test bit, NULL (the path itself); variant B names the
 * file "b.JPEG" beside a hidden file, which must be ignored, and a non-JPEG
 * file, which is skipped or, under on_error fail, fails the data set), then
 * one JPEG file in one class folder. The folder is probed and opened through
 * dataset_probe and dataset_open (headers) and the image decoded by
 * dataset_load.
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_dataset.h"

/* Write <root>cls/<name> with the input's file; root is "", "train/" or "test/". */
static void put(const char *root, const char *name, const uint8_t *data, size_t size)
{
	char rel[64];
	snprintf(rel, sizeof rel, "%scls/%s", root, name);
	fuzz_write(rel, data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	const char *root = !(flags & FUZZ_VARIANT_A) ? "" : flags & 4 ? "test/" : "train/";

	fuzz_dir_fresh();
	if (flags & FUZZ_VARIANT_B) {
		put(root, "b.JPEG", data + 1, size - 1);
		put(root, ".hidden.jpg", data + 1, size - 1);
		put(root, "notes.txt", data + 1, size - 1);
	} else {
		put(root, "a.jpg", data + 1, size - 1);
	}
	struct dataset_config cfg = fuzz_dataset_config(DATASET_IMAGEFOLDER, flags);
	if (!(flags & FUZZ_VARIANT_A))
		cfg.split = flags & 4 ? NULL : "train"; /* a missing test/ is only an error */
	fuzz_dataset_run(&cfg);
	return 0;
}
