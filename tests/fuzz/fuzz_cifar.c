/*
 * fuzz_cifar.c — libFuzzer target for the CIFAR-10/100 reader
 * (daemon/data/cifar.c), reliability test 14.
 *
 * Input: a flag byte (fuzz_dataset.h; variant A CIFAR-100, else CIFAR-10;
 * variant B puts the files in the archive's sub-folder), then the content of
 * every batch file the split needs (CIFAR-10 train reads five: all get the
 * same bytes). The directory is opened through dataset_open and every image
 * is read.
 */
#include <stdint.h>
#include <stdio.h>

#include "fuzz_dataset.h"

static const char *const cifar10_train[] = { "data_batch_1.bin", "data_batch_2.bin",
	"data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", NULL };
static const char *const cifar10_test[] = { "test_batch.bin", NULL };
static const char *const cifar100_train[] = { "train.bin", NULL };
static const char *const cifar100_test[] = { "test.bin", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char rel[96];
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	int c100 = (flags & FUZZ_VARIANT_A) != 0, test = (flags & 4) != 0;
	const char *const *files = c100 ? (test ? cifar100_test : cifar100_train)
					: (test ? cifar10_test : cifar10_train);
	const char *sub = !(flags & FUZZ_VARIANT_B) ? ""
			  : c100 ? "cifar-100-binary/" : "cifar-10-batches-bin/";

	fuzz_dir_fresh();
	for (int i = 0; files[i]; i++) {
		snprintf(rel, sizeof rel, "%s%s", sub, files[i]);
		fuzz_write(rel, data + 1, size - 1);
	}
	struct dataset_config cfg =
		fuzz_dataset_config(c100 ? DATASET_CIFAR100 : DATASET_CIFAR10, flags);
	fuzz_dataset_run(&cfg);
	return 0;
}
