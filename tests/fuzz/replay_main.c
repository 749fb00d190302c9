/*
 * replay_main.c — main() for a fuzz target built without libFuzzer (gcc; make
 * test and make asan): feeds every file of each directory given, in name
 * order, to LLVMFuzzerTestOneInput once, then an empty input. Without
 * arguments it replays the target's committed corpus,
 * tests/fuzz/corpus/<name of the binary> (relative to the source tree, where
 * make runs the tests). A bug shows as an abort or a sanitizer report; an
 * empty or missing corpus is a failure too.
 *
 *	build/tests/fuzz_rpc                  (tests/fuzz/corpus/fuzz_rpc)
 *	build/tests/fuzz_rpc DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS_ROOT "tests/fuzz/corpus"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The whole file in an exact-size buffer, so ASan sees a read past its end. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc(n ? (size_t)n : 1)) && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*size = buf ? (size_t)n : 0;
	fclose(f);
	return buf;
}

static int skip_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Replay every file of dir; the number replayed, or -1. */
static int replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, skip_hidden, alphasort), done = 0;
	if (n < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		size_t size;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		uint8_t *data = read_file(path, &size);
		if (!data) {
			fprintf(stderr, "%s: cannot read\n", path);
			done = -1;
		} else {
			LLVMFuzzerTestOneInput(data, size);
			done += done >= 0;
		}
		free(data);
		free(names[i]);
	}
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	char corpus[4096];
	char *fallback[] = { NULL, corpus };
	if (argc < 2) {
		const char *name = strrchr(argv[0], '/');
		snprintf(corpus, sizeof corpus, CORPUS_ROOT "/%s", name ? name + 1 : argv[0]);
		argc = 2;
		argv = fallback;
	}
	for (int i = 1; i < argc; i++) {
		int n = replay_dir(argv[i]);
		if (n <= 0) {
			fprintf(stderr, "%s: %s\n", argv[i], n ? "replay failed" : "no inputs");
			return 1;
		}
		printf("%s: %d inputs replayed\n", argv[i], n);
	}
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	return 0;
}
