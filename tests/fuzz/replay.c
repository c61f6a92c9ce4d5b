/*
 * replay.c -- main() for a fuzz target built without libFuzzer: runs it on
 * every file named on the command line (a directory: every file in it, in
 * name order), so that `make check` replays the seeds and the inputs that
 * once crashed a target, under whatever sanitizers the build has.
 *
 * It must never skip a file it cannot read: a missing regression input is
 * a failure, not a pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Read path into a buffer of exactly its size, as libFuzzer passes it, so
 * that reading one byte too far is caught by AddressSanitizer. */
static int
replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) == -1 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* malloc(0) may return NULL; keep a real, empty allocation. */
	if ((buf = malloc(len > 0 ? (size_t)len : 1)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

/* Compare two directory entries by name, for a stable order. */
static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replay every regular file in dir; returns the count, or -1. */
static long
replay_dir(const char *dir)
{
	struct dirent **ents;
	char path[4096];
	long done = 0;
	int n, i, bad = 0;

	if ((n = scandir(dir, &ents, NULL, by_name)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (!bad && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		    ents[i]->d_name[0] != '.') {
			if (replay_file(path) == -1)
				bad = 1;
			else
				done++;
		}
		free(ents[i]);
	}
	free(ents);
	return bad ? -1 : done;
}

int
main(int argc, char **argv)
{
	long total = 0, n;
	struct stat st;

	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) == -1 ? -1 : 1;
		if (n == -1)
			return 1;
		total += n;
	}
	printf("replayed %ld inputs\n", total);
	return 0;
}
