/*
 * fuzz_idx.c — libFuzzer target for the IDX reader (daemon/data/idx.c),
 * Reliability test 14.
 *
 * Input: a flag byte (fuzz_dataset.h; variant A names the files without
 * ".gz"), a 16-bit little-endian length n, then n bytes of the images file
 * and the rest as the labels file. Either may be gzip or plain: zlib reads
 * both whatever the name. The pair is opened as an IDX dataset through
 * dataset_open and every image is read.
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char images[64], labels[64];
	if (size < 3)
		return 0;
	uint8_t flags = data[0];
	size_t n = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3, size -= 3;
	if (n > size)
		n = size;
	const char *set = flags & 4 ? "t10k" : "train";
	const char *gz = flags & FUZZ_VARIANT_A ? "" : ".gz";
	snprintf(images, sizeof images, "%s-images-idx3-ubyte%s", set, gz);
	snprintf(labels, sizeof labels, "%s-labels-idx1-ubyte%s", set, gz);

	fuzz_dir_fresh();
	fuzz_write(images, data, n);
	fuzz_write(labels, data + n, size - n);
	struct dataset_config cfg = fuzz_dataset_config(DATASET_IDX, flags);
	fuzz_dataset_run(&cfg);
	return 0;
}
