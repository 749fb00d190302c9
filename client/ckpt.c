/*
 * ckpt.c — checkpoints: `ckpt ls JOB` and `ckpt get CKPT | JOB --latest`.
 *
 * A checkpoint is fetched with checkpoint.read in chunks of at most 512 KiB
 * (base64) into a temporary file beside the output, hashed as it arrives, and
 * renamed into place only when the SHA-256 of the whole file matches the one
 * byold indexed when it wrote the checkpoint; otherwise the temporary file is
 * removed and the exit code is 74. --encoder-only then keeps the
 * online.encoder.* tensors, named without that prefix (the layout of the
 * torchvision module), and the metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "safetensors.h"
#include "sha256.h"
#include "table.h"

#define CHUNK 524288 /* checkpoint.read's largest length */
#define ENCODER_PREFIX "online.encoder."

/* ---- ckpt ls ------------------------------------------------------------------------ */

void ctl_print_checkpoints(struct ctl *c, const cJSON *list)
{
	static const char *const head[] = { "CKPT", "STEP", "EPOCH", "SIZE", "SHA256",
					    "CREATED" };
	struct table *t = table_new(6, head);
	const cJSON *k;
	char size[32], created[32];
	if (!t)
		return;
	for (int i = 0; i < 4; i++)
		table_right(t, i);
	table_flex(t, 4);
	cJSON_ArrayForEach(k, list) {
		fmt_bytes(size, sizeof size, json_num(k, "bytes"));
		fmt_time(created, sizeof created, json_str(k, "created"));
		table_cell(t, "%ld", json_long(k, "checkpoint_id"));
		table_cell(t, "%ld", json_long(k, "step"));
		table_cell(t, "%ld", json_long(k, "epoch"));
		table_cell(t, "%s", size);
		table_cell(t, "%s", json_str(k, "sha256") ? json_str(k, "sha256") : "-");
		table_cell(t, "%s", created);
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

static int list_checkpoints(struct ctl *c, long job_id, cJSON **res)
{
	return ctl_job_call(c, "checkpoint.list", job_id, NULL, res);
}

static int ckpt_ls(struct ctl *c, int argc, char **argv)
{
	long id;
	cJSON *res;
	int rc = ctl_one_job(c, "ckpt", argc, argv, 1, &id);
	if (rc || (rc = list_checkpoints(c, id, &res)))
		return rc;
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(res, "checkpoints");
	if (c->json)
		ctl_print_json(res);
	else if (cJSON_GetArraySize(list) == 0)
		fprintf(stderr, "byolctl: job %ld has no checkpoints yet\n", id);
	else
		ctl_print_checkpoints(c, list);
	cJSON_Delete(res);
	return CTL_OK;
}

/* ---- the transfer ------------------------------------------------------------------ */

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decodes base64 text (padded) into out (room for 3/4 of its length); the byte
 * count, or −1 when it is not base64. */
static long b64_decode(const char *in, unsigned char *out)
{
	size_t n = strlen(in);
	long o = 0;
	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			pad += in[i + k] == '=';
			v[k] = in[i + k] == '=' ? 0 : b64_value((unsigned char)in[i + k]);
			if (v[k] < 0 || (in[i + k] != '=' && pad) || (pad && i + 4 < n))
				return -1;
		}
		if (pad > 2)
			return -1;
		unsigned u = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
		out[o++] = (unsigned char)(u >> 16);
		if (pad < 2)
			out[o++] = (unsigned char)(u >> 8);
		if (pad < 1)
			out[o++] = (unsigned char)u;
	}
	return o;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct transfer {
	long id;
	double total;     /* bytes, from the first chunk */
	char sha[65];     /* the indexed digest, from the first chunk */
	struct sha256 hash;
};

/* One chunk at offset into fd; its length in *got. */
static int read_chunk(struct ctl *c, struct transfer *x, int fd, double offset, long *got)
{
	static unsigned char buf[CHUNK + 4];
	cJSON *params = cJSON_CreateObject(), *res;
	cJSON_AddNumberToObject(params, "checkpoint_id", (double)x->id);
	cJSON_AddNumberToObject(params, "offset", offset);
	cJSON_AddNumberToObject(params, "length", CHUNK);
	int rc = ctl_call(c, "checkpoint.read", params, &res);
	if (rc == CTL_NOT_FOUND)
		return ctl_errf(&c->err, rc, "checkpoint %ld not found — `byolctl ckpt ls JOB` "
				"lists a job's checkpoints", x->id);
	if (rc)
		return rc;
	const char *data = json_str(res, "data"), *sha = json_str(res, "sha256");
	if (offset == 0) {
		x->total = json_num(res, "total");
		snprintf(x->sha, sizeof x->sha, "%s", sha ? sha : "");
	}
	size_t len = data ? strlen(data) : 0;
	*got = len <= (CHUNK / 3 + 1) * 4 && data ? b64_decode(data, buf) : -1;
	if (*got < 0 || json_num(res, "offset") != offset || json_num(res, "total") != x->total ||
	    !sha || strcmp(sha, x->sha) != 0)
		rc = ctl_errf(&c->err, CTL_SOFTWARE, "byold sent a malformed or inconsistent chunk "
			      "of checkpoint %ld at offset %.0f", x->id, offset);
	else if (write_all(fd, buf, (size_t)*got) != 0)
		rc = ctl_errf(&c->err, CTL_CANTCREAT, "writing the checkpoint: %s", strerror(errno));
	else
		sha256_update(&x->hash, buf, (size_t)*got);
	cJSON_Delete(res);
	return rc;
}

/* Every chunk into fd, then the digest check. */
static int transfer(struct ctl *c, struct transfer *x, int fd)
{
	double offset = 0;
	char got_sha[65];
	sha256_init(&x->hash);
	do {
		long got = 0;
		int rc = read_chunk(c, x, fd, offset, &got);
		if (rc)
			return rc;
		if (got == 0 && offset < x->total)
			break; /* the file is shorter than indexed: the digest will differ */
		offset += (double)got;
	} while (offset < x->total);
	sha256_hex(&x->hash, got_sha);
	if (strcmp(got_sha, x->sha) != 0)
		return ctl_errf(&c->err, CTL_SHA_MISMATCH, "checkpoint %ld: the %.0f bytes received "
				"have sha256 %s, but byold indexed %s when it wrote the file — "
				"nothing was kept; the file on the daemon may be damaged", x->id,
				offset, got_sha, x->sha);
	if (fsync(fd) != 0)
		return ctl_errf(&c->err, CTL_CANTCREAT, "fsync: %s", strerror(errno));
	return 0;
}

/* ---- encoder only ------------------------------------------------------------------ */

/* The online encoder's tensors of the checkpoint at src, unprefixed, into dst. */
static int write_encoder(struct ctl *c, const char *src, const char *dst)
{
	struct st_file f = { 0 };
	struct st_writer *w = NULL;
	struct err e = { 0 };
	size_t plen = strlen(ENCODER_PREFIX);
	int n = 0, rc = st_read(&f, src, 0, &e);
	if (!rc)
		rc = st_writer_init(&w, &e);
	for (int i = 0; !rc && i < f.n_meta; i++)
		rc = st_writer_meta(w, f.meta_keys[i], f.meta_values[i], &e);
	for (int i = 0; !rc && i < f.n_tensors; i++) {
		const struct st_tensor *t = &f.tensors[i];
		if (strncmp(t->name, ENCODER_PREFIX, plen) != 0)
			continue;
		rc = st_writer_add(w, t->name + plen, t->dtype, t->ndim, t->shape,
				   st_tensor_data(&f, t), &e);
		n++;
	}
	if (!rc && n == 0)
		rc = err_set(&e, ERR_INVALID, "%s: no " ENCODER_PREFIX "* tensors", src);
	if (!rc)
		rc = st_writer_write(w, dst, &e);
	st_writer_free(w);
	st_free(&f);
	return rc ? ctl_errf(&c->err, rc == ERR_IO ? CTL_CANTCREAT : CTL_SOFTWARE, "%s", e.msg)
		  : 0;
}

/* ---- ckpt get ---------------------------------------------------------------------- */

struct get_args {
	long id;           /* a checkpoint, or a job with --latest */
	int latest, encoder_only;
	const char *out;
};

static int parse_get(struct ctl *c, int argc, char **argv, struct get_args *a)
{
	static const struct option opts[] = { { "latest", no_argument, 0, 'l' },
					      { "output", required_argument, 0, 'o' },
					      { "encoder-only", no_argument, 0, 'e' },
					      { 0, 0, 0, 0 } };
	int ch;
	while ((ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		if (ch == 'l')
			a->latest = 1;
		else if (ch == 'o')
			a->out = optarg;
		else if (ch == 'e')
			a->encoder_only = 1;
		else
			return ctl_bad_option(c, "ckpt", ch, argv);
	}
	if (argc - optind != 1)
		return ctl_usage(c, "ckpt", "ckpt get wants one checkpoint id (or a job with --latest)");
	return ctl_parse_id(c, argv[optind], a->latest ? "JOB" : "CKPT", &a->id);
}

/* The newest checkpoint of a job. */
static int latest_of(struct ctl *c, long job_id, long *id)
{
	cJSON *res;
	const cJSON *k, *best = NULL;
	int rc = list_checkpoints(c, job_id, &res);
	if (rc)
		return rc;
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(res, "checkpoints"))
		if (!best || json_num(k, "step") >= json_num(best, "step"))
			best = k;
	*id = best ? json_long(best, "checkpoint_id") : 0;
	cJSON_Delete(res);
	return best ? 0 : ctl_errf(&c->err, CTL_NOT_FOUND, "job %ld has no checkpoints yet",
				   job_id);
}

/* The output path: -o FILE, -o DIR/ (default name inside), or the default name. */
static void output_path(const struct get_args *a, long id, char *out, size_t n)
{
	struct stat st;
	char name[64];
	snprintf(name, sizeof name, "checkpoint-%ld%s.safetensors", id,
		 a->encoder_only ? "-encoder" : "");
	if (!a->out)
		snprintf(out, n, "%s", name);
	else if (stat(a->out, &st) == 0 && S_ISDIR(st.st_mode))
		snprintf(out, n, "%s/%s", a->out, name);
	else
		snprintf(out, n, "%s", a->out);
}

static void report(struct ctl *c, const struct transfer *x, const char *path, int encoder_only)
{
	char size[32];
	if (c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "checkpoint_id", (double)x->id);
		cJSON_AddStringToObject(o, "path", path);
		cJSON_AddNumberToObject(o, "bytes", x->total);
		cJSON_AddStringToObject(o, "sha256", x->sha);
		cJSON_AddBoolToObject(o, "encoder_only", encoder_only);
		ctl_print_json(o);
		cJSON_Delete(o);
		return;
	}
	fmt_bytes(size, sizeof size, x->total);
	printf("%s: checkpoint %ld (%s, sha256 %.16s… verified)%s\n", path, x->id, size, x->sha,
	       encoder_only ? ", online encoder only" : "");
}

static int ckpt_get(struct ctl *c, int argc, char **argv)
{
	struct get_args a = { 0 };
	struct transfer x = { 0 };
	char path[4096], tmp[4200];
	int rc = parse_get(c, argc, argv, &a);
	x.id = a.id;
	if (!rc && a.latest)
		rc = latest_of(c, a.id, &x.id);
	if (rc)
		return rc;
	output_path(&a, x.id, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.part-%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return ctl_errf(&c->err, CTL_CANTCREAT, "cannot create %s: %s", tmp, strerror(errno));
	rc = transfer(c, &x, fd);
	if (close(fd) != 0 && !rc)
		rc = ctl_errf(&c->err, CTL_CANTCREAT, "%s: %s", tmp, strerror(errno));
	if (!rc && a.encoder_only)
		rc = write_encoder(c, tmp, path);
	else if (!rc && rename(tmp, path) != 0)
		rc = ctl_errf(&c->err, CTL_CANTCREAT, "cannot rename %s to %s: %s", tmp, path,
			      strerror(errno));
	unlink(tmp); /* gone after a rename; after a failure, nothing is left behind */
	if (!rc)
		report(c, &x, path, a.encoder_only);
	return rc;
}

int verb_ckpt(struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return ctl_usage(c, "ckpt", "ckpt ls or ckpt get?");
	if (strcmp(argv[1], "ls") == 0)
		return ckpt_ls(c, argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0)
		return ckpt_get(c, argc - 1, argv + 1);
	return ctl_usage(c, "ckpt", "unknown ckpt verb '%s' (ls or get)", argv[1]);
}
