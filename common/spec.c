/*
 * spec.c — the job spec: built-in defaults (which are also the schema),
 * presets, layered resolution with type checks, then bounds checks and
 * conversion into struct spec. See spec.h for the contract.
 *
 * Resolution merges every source into an overlay checked against the
 * defaults, then lays the overlay over the defaults. Keeping the overlay apart
 * tells which eval_data fields were set: the others come from the resolved data.
 */
#include "spec.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "eval_request.h"
#include "json_text.h"
#include "utf8.h"

/* ---- defaults and bounds --------------------------------------------------- */

#define DATA(split)                                                                   \
	"{\"format\": \"idx\", \"path\": \"/usr/share/datasets/fashion-mnist\","     \
	" \"split\": \"" split "\", \"limit\": 0, \"image_size\": 28, \"channels\": 1," \
	" \"mean\": [0.2860], \"std\": [0.3530], \"on_error\": \"skip\"}"
#define VIEW(blur_p, solarize)                                                        \
	"{\"crop\": {\"scale\": [0.08, 1.0], \"ratio\": [0.75, 1.3333]}, \"flip\": 0.5,"  \
	" \"jitter\": {\"p\": 0.8, \"brightness\": 0.4, \"contrast\": 0.4,"             \
	" \"saturation\": 0.2, \"hue\": 0.1}, \"grayscale\": 0.2,"                       \
	" \"blur\": {\"p\": " blur_p ", \"sigma\": [0.1, 2.0]}, \"solarize\": " solarize "}"

/* The paper's ImageNet optimisation recipe on Fashion-MNIST. Each key is a field
 * and its value fixes the field's JSON type; eval_data's values serve only as
 * types, since unset eval_data fields come from the resolved data. */
static const char defaults_json[] =
	"{\"name\": \"\", \"seed\": 0, \"threads\": 0,"
	" \"data\": " DATA("train") ", \"eval_data\": " DATA("test") ","
	" \"model\": {\"encoder\": \"resnet50\", \"width\": 1.0, \"stem\": \"imagenet\", \"conv\": \"exact\","
	"  \"projector\": {\"hidden\": 4096, \"out\": 256},"
	"  \"predictor\": {\"hidden\": 4096, \"out\": 256}},"
	" \"augment\": {\"view1\": " VIEW("1.0", "0.0") ", \"view2\": " VIEW("0.1", "0.2") "},"
	" \"optim\": {\"name\": \"lars\", \"base_lr\": 0.2, \"weight_decay\": 1.5e-6,"
	"  \"momentum\": 0.9, \"eta\": 0.001, \"warmup_epochs\": 10},"
	" \"train\": {\"epochs\": 300, \"batch_size\": 4096, \"tau_base\": 0.996,"
	"  \"log_every\": 10, \"sync_bn\": true},"
	" \"checkpoint\": {\"every_steps\": 0, \"every_seconds\": 300, \"keep_last\": 3},"
	" \"eval\": {\"linear\": {\"epochs\": 100}, \"knn\": {\"k\": 200, \"t\": 0.1},"
	"  \"finetune\": {\"labels\": 0, \"epochs\": 30, \"batch_size\": 64},"
	"  \"every_epochs\": 0},"
	" \"distributed\": {\"ranks\": 1, \"hosts\": [], \"hostfile\": \"\", \"launcher\": \"mpirun\"}}";

enum num_kind { NUM_INT, NUM_I64, NUM_U64, NUM_F64, NUM_F32 };
enum { LO_OPEN = 1, HI_OPEN = 2 };

/* A numeric field: where it lives in JSON and in its struct, and its bounds.
 * The integer kinds are the integer fields: their values must be integral. */
struct num_field {
	const char *path; /* dotted, relative to the section */
	enum num_kind kind;
	size_t off;       /* into the section's struct */
	double lo, hi;    /* inclusive unless flagged LO_OPEN / HI_OPEN */
	int open;
};

/* The largest integer field value: cJSON 1.7.15 prints every integer up to 10^15 − 1
 * exactly, but a larger one may come back from its text up to 2 off (see reparse). */
#define INT_FIELD_MAX 999999999999999.0
#define S(member) offsetof(struct spec, member)

static const struct num_field spec_fields[] = {
	{"seed", NUM_U64, S(seed), 0, INT_FIELD_MAX, 0},
	{"threads", NUM_INT, S(threads), 0, 1024, 0},
	{"model.width", NUM_F64, S(model.width), 0, 16, LO_OPEN},
	{"model.projector.hidden", NUM_INT, S(model.proj_hidden), 1, 65536, 0},
	{"model.projector.out", NUM_INT, S(model.proj_out), 1, 65536, 0},
	{"model.predictor.hidden", NUM_INT, S(model.pred_hidden), 1, 65536, 0},
	{"model.predictor.out", NUM_INT, S(model.pred_out), 1, 65536, 0},
	{"optim.base_lr", NUM_F64, S(optim.base_lr), 0, 100, LO_OPEN},
	{"optim.weight_decay", NUM_F64, S(optim.weight_decay), 0, 1, 0},
	{"optim.momentum", NUM_F64, S(optim.momentum), 0, 1, HI_OPEN},
	{"optim.eta", NUM_F64, S(optim.eta), 0, 1, LO_OPEN},
	{"optim.warmup_epochs", NUM_F64, S(optim.warmup_epochs), 0, 100000, 0},
	{"train.epochs", NUM_INT, S(train.epochs), 1, 100000, 0},
	{"train.batch_size", NUM_INT, S(train.batch_size), 2, 65536, 0}, /* BN needs 2 */
	{"train.tau_base", NUM_F64, S(train.tau_base), 0, 1, 0},
	{"train.log_every", NUM_INT, S(train.log_every), 1, 1e6, 0},
	{"checkpoint.every_steps", NUM_I64, S(checkpoint.every_steps), 0, INT_FIELD_MAX, 0},
	{"checkpoint.every_seconds", NUM_F64, S(checkpoint.every_seconds), 0, 1e9, 0},
	{"checkpoint.keep_last", NUM_INT, S(checkpoint.keep_last), 1, 1000, 0},
	{"eval.linear.epochs", NUM_INT, S(eval.linear_epochs), 0, 10000, 0},
	{"eval.knn.k", NUM_INT, S(eval.knn_k), 1, 10000, 0},
	{"eval.knn.t", NUM_F64, S(eval.knn_t), 0, 100, LO_OPEN},
	{"eval.every_epochs", NUM_INT, S(eval.every_epochs), 0, 100000, 0},
	{"eval.finetune.labels", NUM_F64, S(eval.finetune_labels), 0, 1e9, 0},
	{"eval.finetune.epochs", NUM_INT, S(eval.finetune_epochs), 1, 10000, 0},
	{"eval.finetune.batch_size", NUM_INT, S(eval.finetune_batch), 2, 4096, 0},
	{"distributed.ranks", NUM_INT, S(distributed.ranks), 1, 4096, 0},
};

static const struct num_field data_fields[] = {
	{"limit", NUM_I64, offsetof(struct spec_data, limit), 0, INT_FIELD_MAX, 0},
	{"image_size", NUM_INT, offsetof(struct spec_data, image_size), 8, 1024, 0},
	{"channels", NUM_INT, offsetof(struct spec_data, channels), 1, 3, 0},
};

#define V(member) offsetof(struct spec_view, member)
static const struct num_field view_fields[] = {
	{"flip", NUM_F32, V(flip), 0, 1, 0},
	{"jitter.p", NUM_F32, V(jitter_p), 0, 1, 0},
	{"jitter.brightness", NUM_F32, V(brightness), 0, 1, 0},
	{"jitter.contrast", NUM_F32, V(contrast), 0, 1, 0},
	{"jitter.saturation", NUM_F32, V(saturation), 0, 1, 0},
	{"jitter.hue", NUM_F32, V(hue), 0, 0.5, 0},
	{"grayscale", NUM_F32, V(grayscale), 0, 1, 0},
	{"blur.p", NUM_F32, V(blur_p), 0, 1, 0},
	{"solarize", NUM_F32, V(solarize), 0, 1, 0},
};

/* Per-channel normalisation: finite in float and a std far from 0. */
static const struct num_field mean_bound = {"mean", NUM_F32, 0, -1000, 1000, 0};
static const struct num_field std_bound = {"std", NUM_F32, 0, 1e-6, 1000, 0};

static const char *const formats[] = {"idx", "cifar10", "cifar100", "imagefolder", NULL};
static const char *const on_errors[] = {"skip", "fail", NULL};
static const char *const encoders[] = {"convnet", "resnet18", "resnet34", "resnet50", NULL};
static const char *const stems[] = {"cifar", "imagenet", NULL};
static const char *const convs[] = {"exact", "winograd", NULL};
static const char *const optimizers[] = {"lars", "sgd", NULL};
static const char *const launchers[] = {"mpirun", "srun", NULL};

#define FIELD_SIZE (sizeof((struct spec_error *)0)->field)
#define NAME_MAX_BYTES 128
#define PATH_MAX_BYTES 4096
#define KEY_MAX 64 /* longer than any field name */

/* ---- small helpers ----------------------------------------------------------- */

int spec_fail(struct spec_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;
	snprintf(err->field, sizeof err->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return ERR_INVALID;
}

static int oom(struct spec_error *err)
{
	spec_fail(err, "", "out of memory");
	return ERR_NOMEM;
}

/* field = prefix.key (or key alone when prefix is empty), truncated to fit. */
static void join(char field[static FIELD_SIZE], const char *prefix, const char *key)
{
	snprintf(field, FIELD_SIZE, "%s%s%s", prefix, *prefix ? "." : "", key);
}

/* Append s to the comma-separated list in buf. */
static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);
	snprintf(buf + n, size - n, "%s%s", n ? ", " : "", s);
}

/* Copy the next component of a dotted path from *p (which ends at end) into
 * key, step past it, and return whether more components follow. A component
 * too long for any field becomes "", which names no field. */
static int next_key(const char **p, const char *end, char key[static KEY_MAX])
{
	const char *dot = memchr(*p, '.', (size_t)(end - *p));
	const char *stop = dot ? dot : end;
	size_t n = (size_t)(stop - *p);
	if (n >= KEY_MAX)
		n = 0;
	memcpy(key, *p, n);
	key[n] = 0;
	*p = dot ? dot + 1 : end;
	return dot != NULL;
}

/* The node at a dotted path (of len bytes) below o, or NULL. */
static cJSON *lookup(const cJSON *o, const char *path, size_t len)
{
	const char *p = path, *end = path + len;
	char key[KEY_MAX];
	cJSON *node;
	int more;
	do {
		more = next_key(&p, end, key);
		node = cJSON_GetObjectItemCaseSensitive(o, key);
		o = node;
	} while (node && more);
	return node;
}

/* A field of the resolved spec; it exists, since the defaults are the schema. */
static const cJSON *at(const cJSON *o, const char *path)
{
	return lookup(o, path, strlen(path));
}

/* The child object key of o, created empty if missing; NULL if out of memory. */
static cJSON *object_in(cJSON *o, const char *key)
{
	cJSON *c = cJSON_GetObjectItemCaseSensitive(o, key);
	return c ? c : cJSON_AddObjectToObject(o, key);
}

/* Set o[key] = item, replacing any old value in place; takes item (NULL = out
 * of memory). A replacement takes over the old item's key rather than copying
 * it: cJSON 1.7.15's ReplaceItemInObject ignores a failed key copy and leaves
 * a key-less item that hides its later siblings. */
static int put(cJSON *o, const char *key, cJSON *item)
{
	if (!item)
		return ERR_NOMEM;
	cJSON *old = cJSON_GetObjectItemCaseSensitive(o, key);
	if (old) {
		if (!(item->type & cJSON_StringIsConst))
			cJSON_free(item->string);
		item->string = old->string;
		item->type = (item->type & ~cJSON_StringIsConst) | (old->type & cJSON_StringIsConst);
		old->string = NULL;
		cJSON_ReplaceItemViaPointer(o, old, item); /* fails only on NULL arguments */
		return 0;
	}
	if (!cJSON_AddItemToObject(o, key, item)) {
		cJSON_Delete(item);
		return ERR_NOMEM;
	}
	return 0;
}

/* ---- merging with type checks ------------------------------------------------ */

/* v must have the schema value's type; numbers finite. An array holds what the
   schema's does: numbers, or strings where the schema's is empty (host names). */
static int check_type(const cJSON *schema, const cJSON *v, const char *field,
		      struct spec_error *err)
{
	char got[48];
	if (json_kind(schema) != json_kind(v))
		return spec_fail(err, field, "expected %s, got %s", json_kind_name(schema),
			    json_value_text(v, got, sizeof got));
	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return spec_fail(err, field, "must be a finite number");
	if (!cJSON_IsArray(v))
		return 0;
	const int strings = cJSON_GetArraySize(schema) == 0;
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, v) {
		if (strings ? !cJSON_IsString(e) : !cJSON_IsNumber(e))
			return spec_fail(err, field, "expected an array of %s, got %s at index %d",
				    strings ? "strings" : "numbers", json_kind_name(e), i);
		if (!strings && !isfinite(e->valuedouble))
			return spec_fail(err, field, "must hold finite numbers");
		i++;
	}
	return 0;
}

static int merge(cJSON *dst, const cJSON *schema, const cJSON *src, const char *path,
		 struct spec_error *err);

/* "unknown key", with the nearest key of the same object when one is close. */
static int unknown_key(const cJSON *schema, const char *key, const char *field,
		       struct spec_error *err)
{
	const char *near = json_nearest_key(schema, key);
	if (!near)
		return spec_fail(err, field, "unknown key");
	size_t stem = strlen(field) - strlen(key); /* field ends with key */
	return spec_fail(err, field, "unknown key (did you mean %.*s%s?)", (int)stem, field, near);
}

/* dst[key] = value, checked against schema[key]; objects merge, the rest replace. */
static int merge_item(cJSON *dst, const cJSON *schema, const char *key, const cJSON *value,
		      const char *field, struct spec_error *err)
{
	const cJSON *sch = cJSON_GetObjectItemCaseSensitive(schema, key);
	if (!sch)
		return unknown_key(schema, key, field, err);
	int rc = check_type(sch, value, field, err);
	if (rc)
		return rc;
	if (cJSON_IsObject(sch)) {
		cJSON *d = object_in(dst, key);
		return d ? merge(d, sch, value, field, err) : oom(err);
	}
	return put(dst, key, cJSON_Duplicate(value, 1)) ? oom(err) : 0;
}

/* Deep-merge the object src into dst; path is src's dotted path, for errors. */
static int merge(cJSON *dst, const cJSON *schema, const cJSON *src, const char *path,
		 struct spec_error *err)
{
	const cJSON *item;
	cJSON_ArrayForEach(item, src) {
		char field[FIELD_SIZE];
		join(field, path, item->string);
		int rc = merge_item(dst, schema, item->string, item, field, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Apply one set: the field at the dotted path (len bytes) takes value. */
static int apply_set(cJSON *overlay, const cJSON *schema, const char *path, size_t len,
		     const cJSON *value, struct spec_error *err)
{
	const char *p = path, *end = path + len;
	char key[KEY_MAX], field[FIELD_SIZE];
	int n = (int)(len < sizeof field ? len : sizeof field);
	while (next_key(&p, end, key)) {
		const cJSON *parent = schema;
		schema = cJSON_GetObjectItemCaseSensitive(schema, key);
		if (!schema) {
			snprintf(field, sizeof field, "%.*s", (int)(p - 1 - path), path);
			return unknown_key(parent, key, field, err);
		}
		if (!cJSON_IsObject(schema)) {
			snprintf(field, sizeof field, "%.*s", n, path);
			return spec_fail(err, field, "unknown key (%.*s is %s)", (int)(p - 1 - path), path,
				    json_kind_name(schema));
		}
		overlay = object_in(overlay, key);
		if (!overlay)
			return oom(err);
	}
	snprintf(field, sizeof field, "%.*s", n, path);
	return merge_item(overlay, schema, key, value, field, err);
}

/* Apply "path=value": value is JSON, else (or for a string field) text. */
static int apply_set_string(cJSON *overlay, const cJSON *schema, const char *s,
			    struct spec_error *err)
{
	const char *eq = strchr(s, '=');
	if (!eq)
		return spec_fail(err, s, "expected path=value");
	size_t len = (size_t)(eq - s);
	cJSON *v = cJSON_ParseWithOpts(eq + 1, NULL, 1);
	if (!v || (cJSON_IsString(lookup(schema, s, len)) && !cJSON_IsString(v))) {
		cJSON_Delete(v);
		v = cJSON_CreateString(eq + 1);
		if (!v)
			return oom(err);
	}
	int rc = apply_set(overlay, schema, s, len, v, err);
	cJSON_Delete(v);
	return rc;
}

/* ---- the layers ---------------------------------------------------------------- */

static int layer_preset(cJSON *overlay, const cJSON *schema, const char *name,
			struct spec_error *err)
{
	const struct spec_preset *p = spec_find_preset(name);
	if (!p) {
		char names[160] = "";
		for (int i = 0; i < spec_n_presets; i++)
			append(names, sizeof names, spec_presets[i].name);
		return spec_fail(err, "preset", "unknown preset \"%.64s\" (%s)", name, names);
	}
	cJSON *j = cJSON_Parse(p->json); /* test_spec parses every preset: NULL is OOM */
	if (!j)
		return oom(err);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return spec_fail(err, "preset", "preset \"%s\" is not a JSON object", name);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(j, "description");
	int rc = merge(overlay, schema, j, "", err);
	cJSON_Delete(j);
	return rc;
}

static int layer_set_object(cJSON *overlay, const cJSON *schema, const cJSON *set,
			    struct spec_error *err)
{
	if (!cJSON_IsObject(set))
		return spec_fail(err, "set", "expected an object, got %s", json_kind_name(set));
	const cJSON *item;
	cJSON_ArrayForEach(item, set) {
		int rc = apply_set(overlay, schema, item->string, strlen(item->string), item, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Merge every source of in into the overlay, in order. */
static int layer_all(cJSON *overlay, const cJSON *schema, const struct spec_input *in,
		     struct spec_error *err)
{
	int rc = 0;
	if (in->preset)
		rc = layer_preset(overlay, schema, in->preset, err);
	if (!rc && in->spec)
		rc = cJSON_IsObject(in->spec)
			     ? merge(overlay, schema, in->spec, "", err)
			     : spec_fail(err, "spec", "expected an object, got %s", json_kind_name(in->spec));
	if (!rc && in->set)
		rc = layer_set_object(overlay, schema, in->set, err);
	for (int i = 0; !rc && i < in->n_set_strings; i++)
		rc = apply_set_string(overlay, schema, in->set_strings[i], err);
	return rc;
}

/* eval_data: the resolved data with split "test", then its own overlay. */
static cJSON *eval_data_of(const cJSON *json, const cJSON *schema, const cJSON *overlay,
			   struct spec_error *err)
{
	cJSON *eval = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(json, "data"), 1);
	const cJSON *own = cJSON_GetObjectItemCaseSensitive(overlay, "eval_data");
	if (!eval || put(eval, "split", cJSON_CreateString("test")) ||
	    (own && merge(eval, cJSON_GetObjectItemCaseSensitive(schema, "eval_data"), own,
			  "eval_data", err))) {
		cJSON_Delete(eval);
		return NULL;
	}
	return eval;
}

/* The resolved spec: the defaults with the overlay laid over them. */
static int materialize(cJSON **out, const cJSON *schema, const cJSON *overlay,
		       struct spec_error *err)
{
	cJSON *json = cJSON_Duplicate(schema, 1);
	if (!json || merge(json, schema, overlay, "", err) ||
	    put(json, "eval_data", eval_data_of(json, schema, overlay, err))) {
		cJSON_Delete(json);
		return oom(err);
	}
	*out = json;
	return 0;
}

/*
 * The resolved spec as it will be read back from its own text (the history and
 * checkpoints store it printed). cJSON 1.7.15 prints a number with 15
 * significant digits whenever they parse back within a relative DBL_EPSILON, so
 * a double may come back one ulp off (-0 comes back as 0); converting from the
 * re-read tree keeps the struct equal to what the stored text resolves to.
 */
static int reparse(cJSON **json, struct spec_error *err)
{
	char *text = cJSON_PrintUnformatted(*json);
	cJSON *again = text ? cJSON_Parse(text) : NULL;
	cJSON_free(text);
	if (!again)
		return oom(err);
	cJSON_Delete(*json);
	*json = again;
	return 0;
}

/* ---- bounds and conversion ------------------------------------------------------- */

static int out_of_range(double v, const struct num_field *f)
{
	return (f->open & LO_OPEN ? v <= f->lo : v < f->lo) ||
	       (f->open & HI_OPEN ? v >= f->hi : v > f->hi);
}

static int fail_range(struct spec_error *err, const char *field, const char *what,
		      const struct num_field *f)
{
	return spec_fail(err, field, "%smust be in %c%.16g, %.16g%c", what, f->open & LO_OPEN ? '(' : '[',
		    f->lo, f->hi, f->open & HI_OPEN ? ')' : ']');
}

/* Store v, already checked against f's bounds, as f's kind at p. */
static void store(char *p, enum num_kind kind, double v)
{
	switch (kind) {
	case NUM_INT: *(int *)p = (int)v; break;
	case NUM_I64: *(long long *)p = (long long)v; break;
	case NUM_U64: *(uint64_t *)p = (uint64_t)v; break;
	case NUM_F64: *(double *)p = v; break;
	case NUM_F32: *(float *)p = (float)v; break;
	}
}

/* Check and store the numeric fields f[0..n) of section o into base. */
static int read_nums(void *base, const cJSON *o, const char *prefix, const struct num_field *f,
		     size_t n, struct spec_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char field[FIELD_SIZE];
		join(field, prefix, f[i].path);
		double v = at(o, f[i].path)->valuedouble;
		if (f[i].kind != NUM_F64 && f[i].kind != NUM_F32 && v != floor(v))
			return spec_fail(err, field, "expected an integer, got %.16g", v);
		if (out_of_range(v, &f[i]))
			return fail_range(err, field, "", &f[i]);
		store((char *)base + f[i].off, f[i].kind, v);
	}
	return 0;
}

/* The index of the string o[key] in values (NULL-terminated); -1 with err set
 * when it is none of them. */
static int read_choice(const cJSON *o, const char *prefix, const char *key, const char *noun,
		       const char *const *values, struct spec_error *err)
{
	const char *v = at(o, key)->valuestring;
	char list[128] = "", field[FIELD_SIZE];
	for (int i = 0; values[i]; i++) {
		if (!strcmp(v, values[i]))
			return i;
		append(list, sizeof list, values[i]);
	}
	join(field, prefix, key);
	spec_fail(err, field, "unknown %s \"%.64s\" (%s)", noun, v, list);
	return -1;
}

/* An array of one value per channel, each within bound. */
static int read_channels(float *out, const cJSON *o, const char *prefix, int channels,
			 const struct num_field *bound, struct spec_error *err)
{
	const cJSON *a = at(o, bound->path), *e;
	char field[FIELD_SIZE];
	join(field, prefix, bound->path);
	if (cJSON_GetArraySize(a) != channels)
		return spec_fail(err, field, "must have 1 value per channel (channels = %d)", channels);
	cJSON_ArrayForEach(e, a) {
		if (out_of_range(e->valuedouble, bound))
			return fail_range(err, field, "values ", bound);
		*out++ = (float)e->valuedouble;
	}
	return 0;
}

/* A range [a, b] with 0 < a <= b <= hi. */
static int read_pair(float out[2], const cJSON *o, const char *prefix, const char *key,
		     double hi, struct spec_error *err)
{
	const cJSON *a = at(o, key);
	char field[FIELD_SIZE];
	join(field, prefix, key);
	if (cJSON_GetArraySize(a) != 2)
		return spec_fail(err, field, "must have 2 values");
	double lo = cJSON_GetArrayItem(a, 0)->valuedouble, up = cJSON_GetArrayItem(a, 1)->valuedouble;
	if (!(0 < lo && lo <= up && up <= hi))
		return spec_fail(err, field, "must be [a, b] with 0 < a <= b <= %.16g", hi);
	out[0] = (float)lo;
	out[1] = (float)up;
	return 0;
}

static int read_name(struct spec *s, const cJSON *json, struct spec_error *err)
{
	const char *name = at(json, "name")->valuestring;
	if (strlen(name) > NAME_MAX_BYTES)
		return spec_fail(err, "name", "must be at most %d bytes", NAME_MAX_BYTES);
	if (!utf8_printable(name))
		return spec_fail(err, "name", "must be printable UTF-8");
	strcpy(s->name, name);
	return 0;
}

/* data.path: absolute; whether it exists is the dataset module's check. */
static int read_path(struct spec_data *d, const cJSON *o, const char *prefix,
		     struct spec_error *err)
{
	const char *path = at(o, "path")->valuestring;
	char field[FIELD_SIZE];
	join(field, prefix, "path");
	if (strlen(path) > PATH_MAX_BYTES)
		return spec_fail(err, field, "must be at most %d bytes", PATH_MAX_BYTES);
	if (path[0] != '/')
		return spec_fail(err, field, "must be an absolute path");
	strcpy(d->path, path);
	return 0;
}

/* data.split: also an imagefolder sub-directory, so one plain path component; or
   eval_data's held-out part of data (holdout:F). */
static int read_split(struct spec_data *d, const cJSON *o, const char *prefix,
		      struct spec_error *err)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
	const char *split = at(o, "split")->valuestring;
	size_t n = strlen(split);
	char field[FIELD_SIZE];
	join(field, prefix, "split");
	double f;
	int holdout = spec_holdout(split, &f);
	if (holdout < 0)
		return spec_fail(err, field, "\"%.64s\": a held-out split is holdout:F with F in (0, 1), "
			    "e.g. holdout:0.1", split);
	if (holdout && strcmp(prefix, "eval_data") != 0)
		return spec_fail(err, field, "only eval_data.split may be a held-out part (holdout:F)");
	if (!holdout && (n == 0 || n >= sizeof d->split || strspn(split, ok) != n ||
			 !strcmp(split, ".") || !strcmp(split, "..")))
		return spec_fail(err, field, "must be 1 to %zu characters of [A-Za-z0-9._-], not . or ..",
			    sizeof d->split - 1);
	strcpy(d->split, split);
	return 0;
}

static int read_data(struct spec_data *d, const cJSON *o, const char *prefix,
		     struct spec_error *err)
{
	char field[FIELD_SIZE];
	int format, on_error;
	if (read_nums(d, o, prefix, data_fields, sizeof data_fields / sizeof *data_fields, err))
		return ERR_INVALID;
	if (d->channels == 2) {
		join(field, prefix, "channels");
		return spec_fail(err, field, "must be 1 or 3");
	}
	if ((format = read_choice(o, prefix, "format", "format", formats, err)) < 0 ||
	    (on_error = read_choice(o, prefix, "on_error", "on_error policy", on_errors, err)) < 0 ||
	    read_path(d, o, prefix, err) || read_split(d, o, prefix, err) ||
	    read_channels(d->mean, o, prefix, d->channels, &mean_bound, err) ||
	    read_channels(d->std, o, prefix, d->channels, &std_bound, err))
		return ERR_INVALID;
	strcpy(d->format, formats[format]);
	d->skip_bad = on_error == 0;
	return 0;
}

static int read_view(struct spec_view *v, const cJSON *o, const char *prefix,
		     struct spec_error *err)
{
	char crop[FIELD_SIZE], blur[FIELD_SIZE];
	join(crop, prefix, "crop");
	join(blur, prefix, "blur");
	if (read_nums(v, o, prefix, view_fields, sizeof view_fields / sizeof *view_fields, err) ||
	    read_pair(v->scale, at(o, "crop"), crop, "scale", 1, err) ||
	    read_pair(v->ratio, at(o, "crop"), crop, "ratio", 100, err) ||
	    read_pair(v->sigma, at(o, "blur"), blur, "sigma", 100, err))
		return ERR_INVALID;
	return 0;
}

/* The encoder, stem, convolution and optimiser names; train.sync_bn. */
static int read_choices(struct spec *s, const cJSON *json, struct spec_error *err)
{
	const cJSON *model = at(json, "model");
	int encoder = read_choice(model, "model", "encoder", "encoder", encoders, err);
	int stem = encoder < 0 ? -1 : read_choice(model, "model", "stem", "stem", stems, err);
	int conv = stem < 0 ? -1 : read_choice(model, "model", "conv", "convolution", convs, err);
	int optim = conv < 0 ? -1 : read_choice(at(json, "optim"), "optim", "name", "optimizer",
						 optimizers, err);
	if (optim < 0)
		return ERR_INVALID;
	strcpy(s->model.encoder, encoders[encoder]);
	s->model.imagenet_stem = stem == 1;
	s->model.winograd = conv == 1;
	strcpy(s->optim.name, optimizers[optim]);
	s->train.sync_bn = cJSON_IsTrue(at(at(json, "train"), "sync_bn"));
	return 0;
}

/* distributed: the launcher, and where the ranks run: host names or a hostfile. */
static int read_distributed(struct spec *s, const cJSON *json, struct spec_error *err)
{
	static const char host_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					 "0123456789.-_:";
	const cJSON *d = at(json, "distributed"), *h;
	int launcher = read_choice(d, "distributed", "launcher", "launcher", launchers, err);
	if (launcher < 0)
		return ERR_INVALID;
	strcpy(s->distributed.launcher, launchers[launcher]);
	s->distributed.hosts[0] = 0;
	cJSON_ArrayForEach(h, at(d, "hosts")) {
		const char *name = cJSON_IsString(h) ? h->valuestring : "";
		size_t len = strlen(name), used = strlen(s->distributed.hosts);
		if (len == 0 || len > 255 || strspn(name, host_chars) != len ||
		    !isalnum((unsigned char)name[0])) /* never an option of mpirun or ssh */
			return spec_fail(err, "distributed.hosts", "each must be a host name or address "
				    "(a letter or digit, then letters, digits, '.', '-', '_', ':')");
		if (used + len + 2 > sizeof s->distributed.hosts)
			return spec_fail(err, "distributed.hosts", "at most %zu bytes of names",
				    sizeof s->distributed.hosts - 1);
		snprintf(s->distributed.hosts + used, sizeof s->distributed.hosts - used, "%s%s",
			 used ? "," : "", name);
	}
	const char *file = at(d, "hostfile")->valuestring;
	if (strlen(file) > PATH_MAX_BYTES || (file[0] && file[0] != '/'))
		return spec_fail(err, "distributed.hostfile", "must be an absolute path");
	if (file[0] && s->distributed.hosts[0])
		return spec_fail(err, "distributed.hostfile", "give hosts or a hostfile, not both");
	if ((file[0] || s->distributed.hosts[0]) && launcher != 0)
		return spec_fail(err, "distributed.launcher", "srun places the ranks itself: hosts and "
			    "hostfile are for mpirun");
	strcpy(s->distributed.hostfile, file);
	return 0;
}

/* Warm-up fits in the run. */
static int check_warmup(const struct spec *s, struct spec_error *err)
{
	if (s->optim.warmup_epochs <= s->train.epochs)
		return 0;
	return spec_fail(err, "optim.warmup_epochs", "must be in [0, %d] (train.epochs)", s->train.epochs);
}

/* eval.finetune.labels: 0 (no fine-tuning at the end), a fraction or a count. */
static int check_finetune(const struct spec *s, struct spec_error *err)
{
	double l = s->eval.finetune_labels;
	if (l == 0 || spec_labels_ok(l))
		return 0;
	return spec_fail(err, "eval.finetune.labels", "must be 0 (none), a fraction in (0, 1) or a "
		    "whole number of labelled images");
}

/* The encoder reads eval images as it reads training images: same planes, same size. */
static int check_eval_shape(const struct spec *s, struct spec_error *err)
{
	if (s->eval_data.channels != s->data.channels)
		return spec_fail(err, "eval_data.channels", "must equal data.channels (%d): the encoder "
			    "takes %d-channel images", s->data.channels, s->data.channels);
	if (s->eval_data.image_size != s->data.image_size)
		return spec_fail(err, "eval_data.image_size", "must equal data.image_size (%d): "
			    "evaluation sees images at the size the encoder trained on",
			    s->data.image_size);
	return 0;
}

/* Check every bound of the resolved spec and fill s. */
static int convert(struct spec *s, const cJSON *json, struct spec_error *err)
{
	const cJSON *views = at(json, "augment");
	if (read_name(s, json, err) ||
	    read_nums(s, json, "", spec_fields, sizeof spec_fields / sizeof *spec_fields, err) ||
	    read_data(&s->data, at(json, "data"), "data", err) ||
	    read_data(&s->eval_data, at(json, "eval_data"), "eval_data", err) ||
	    read_view(&s->view[0], at(views, "view1"), "augment.view1", err) ||
	    read_view(&s->view[1], at(views, "view2"), "augment.view2", err) ||
	    read_choices(s, json, err) || read_distributed(s, json, err) || check_warmup(s, err) ||
	    check_eval_shape(s, err) || check_finetune(s, err))
		return ERR_INVALID;
	return 0;
}

/* ---- API -------------------------------------------------------------------------- */

int spec_resolve(struct spec *out, cJSON **resolved, const struct spec_input *in,
		 struct spec_error *err)
{
	cJSON *schema = cJSON_Parse(defaults_json), *overlay = cJSON_CreateObject(), *json = NULL;
	int rc;
	memset(out, 0, sizeof *out);
	err->field[0] = err->reason[0] = 0;
	if (resolved)
		*resolved = NULL;
	if (!schema || !overlay)
		rc = oom(err);
	else if (!(rc = layer_all(overlay, schema, in, err)) &&
		 !(rc = materialize(&json, schema, overlay, err)) && !(rc = reparse(&json, err)))
		rc = convert(out, json, err);
	if (rc)
		memset(out, 0, sizeof *out);
	else if (resolved) {
		*resolved = json;
		json = NULL;
	}
	cJSON_Delete(json);
	cJSON_Delete(overlay);
	cJSON_Delete(schema);
	return rc;
}

double spec_lr(const struct spec *s)
{
	return s->optim.base_lr * s->train.batch_size / 256.0;
}
