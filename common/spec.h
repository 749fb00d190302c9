/*
 * spec.h — the job spec: defaults, presets, resolution, validation.
 *
 * A job spec is a JSON object (byol-spec(5)).
 * spec_resolve() layers its sources, later wins:
 *
 *   built-in defaults → preset → spec object (deep merge, arrays replace)
 *   → set object (job.submit) → set strings (byol-train --set), each in order
 *
 * The defaults (the paper's ImageNet recipe) double as the schema: a key they
 * lack is unknown, and a value must have its default's JSON type (number,
 * string, boolean, array of numbers, object). Unset eval_data fields take the
 * resolved data's values, except split, which is "test". Every field is then
 * checked against its bounds and converted into struct spec, so a caller may
 * size allocations from it. A failure names the dotted field and the reason,
 * ready for a JSON-RPC −32602 error's data {field, reason}.
 *
 *	const char *sets[] = {"train.epochs=2", "model.encoder=resnet18"};
 *	struct spec_input in = {.preset = "fmnist-quick", .set_strings = sets,
 *				.n_set_strings = 2};
 *	struct spec s;
 *	struct spec_error e;
 *	cJSON *json;
 *	if (spec_resolve(&s, &json, &in, &e) < 0)
 *		fprintf(stderr, "bad spec: %s: %s\n", e.field, e.reason);
 *	... spec_lr(&s) ...; cJSON_Delete(json);
 *
 * Presets live in common/presets/<name>.json as objects of overrides plus a
 * top-level "description" string (dropped before merging); embed.sh turns
 * them into the spec_presets table at build time.
 */
#ifndef BYOL_SPEC_H
#define BYOL_SPEC_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Why a spec was rejected: the dotted path ("augment.view1.crop.scale"; "spec",
 * "set" or "preset" for a whole source) and a sentence ("unknown key"). */
struct spec_error {
	char field[128];
	char reason[256];
};

/* One augmentation pipeline (augment.view1 / view2); probabilities in [0, 1]. */
struct spec_view {
	float scale[2], ratio[2]; /* random resized crop: area fraction, aspect ratio */
	float flip;               /* horizontal flip probability */
	float jitter_p, brightness, contrast, saturation, hue; /* colour jitter */
	float grayscale;
	float blur_p, sigma[2];   /* Gaussian blur probability and sigma range (pixels) */
	float solarize;
};

/* A dataset (data / eval_data). */
struct spec_data {
	char format[16];       /* idx | cifar10 | cifar100 | imagefolder */
	char path[4097];       /* absolute; existence is the dataset module's check */
	char split[64];        /* "train", "test", or an imagefolder sub-directory */
	long long limit;       /* first N items in file order; 0 = all */
	int image_size, channels;
	float mean[3], std[3]; /* per channel, [channels] used */
	int skip_bad;          /* on_error: 1 = skip (log and count), 0 = fail */
};

struct spec {
	char name[129]; /* may be empty: the caller then names the run */
	uint64_t seed;  /* 0 .. 10^15 − 1 */
	int threads;    /* 0 = all cores */
	struct spec_data data, eval_data;
	struct {
		char encoder[16]; /* convnet | resnet18 | resnet34 | resnet50 */
		double width;     /* channel multiplier, (0, 16] */
		int imagenet_stem; /* stem: 1 = "imagenet", 0 = "cifar" */
		int winograd;      /* conv: 1 = "winograd" (3×3 stride 1), 0 = "exact" */
		int proj_hidden, proj_out, pred_hidden, pred_out;
	} model;
	struct spec_view view[2];
	struct {
		char name[8]; /* lars | sgd */
		double base_lr; /* lr = base_lr · batch_size / 256, see spec_lr() */
		double weight_decay, momentum, eta, warmup_epochs;
	} optim;
	struct {
		int epochs, batch_size, log_every;
		int sync_bn; /* BN statistics over all ranks' slices (1) or each rank's own (0) */
		double tau_base;
	} train;
	struct {              /* a job over MPI ranks that byold launches (byol-train ignores it) */
		int ranks;            /* 1: a local job */
		char hosts[4096];     /* comma-separated; empty: all ranks on this host */
		char hostfile[4097];  /* absolute, or empty */
		char launcher[8];     /* mpirun | srun */
	} distributed;
	struct {
		long long every_steps; /* 0 = off */
		double every_seconds;  /* 0 = off */
		int keep_last;
	} checkpoint;
	struct {
		int linear_epochs; /* 0 = no linear probe */
		int knn_k;
		double knn_t;
		int every_epochs; /* periodic kNN; 0 = off */
		double finetune_labels; /* at the end: 0 none, (0,1) a fraction, else a count */
		int finetune_epochs, finetune_batch;
	} eval;
};

/* The sources of one resolution; every member is optional (NULL / 0). */
struct spec_input {
	const char *preset;              /* a preset name */
	const cJSON *spec;               /* an object shaped like the defaults */
	const cJSON *set;                /* {"dotted.path": JSON value, ...} */
	const char *const *set_strings;  /* "dotted.path=value"; value parsed as JSON, */
	int n_set_strings;               /* else (or for a string field) taken as text */
};

/*
 * Resolve, validate and convert. A path in a set must name an existing field;
 * setting an object deep-merges into it. On success returns 0 and, if resolved
 * is not NULL, stores the fully resolved spec there as a new cJSON object
 * (resolving it again gives the same struct). On failure returns ERR_INVALID
 * (or ERR_NOMEM), fills *err, zeroes *out and leaves *resolved NULL.
 */
int spec_resolve(struct spec *out, cJSON **resolved, const struct spec_input *in,
		 struct spec_error *err);

/* Record field and reason in err; returns ERR_INVALID (for checks beside the spec's). */
int spec_fail(struct spec_error *err, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The peak learning rate: base_lr · batch_size / 256. */
double spec_lr(const struct spec *s);

/* A built-in preset; the table is generated by common/presets/embed.sh. */
struct spec_preset {
	const char *name;
	const char *description;
	const char *json; /* the preset file's text */
};
extern const struct spec_preset spec_presets[];
extern const int spec_n_presets;

/* The preset called name, or NULL. */
const struct spec_preset *spec_find_preset(const char *name);

/* [{"name": ..., "description": ...}, ...] for preset.list; NULL if out of memory. */
cJSON *spec_preset_list_json(void);

#endif
