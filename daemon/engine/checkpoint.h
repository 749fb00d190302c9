/*
 * checkpoint.h — BYOL checkpoints as safetensors files (byold(8) FILES; safetensors.h).
 *
 * Tensor names are PyTorch's: online.encoder.*, online.projector.*,
 * online.predictor.*, target.encoder.*, target.projector.* (BN running_mean,
 * running_var and num_batches_tracked included) and
 * optim.momentum.<parameter name>. __metadata__ holds format "pt", the
 * resolved spec as JSON text, step and epoch: with the counter-based RNG
 * (seed in the spec, draws keyed by epoch and image) that is everything an
 * exact resume needs. Files are written atomically (temp, fsync, rename,
 * fsync of the directory) and described by their SHA-256.
 */
#ifndef BYOL_CHECKPOINT_H
#define BYOL_CHECKPOINT_H

#include "byol/model.h"

/* What a checkpoint records besides the tensors. */
struct checkpoint_meta {
	long step;   /* completed optimizer steps */
	int epoch;   /* epoch the next step belongs to */
	char *spec;  /* resolved spec, JSON text (owned; free with checkpoint_meta_free) */
};

void checkpoint_meta_free(struct checkpoint_meta *meta);

/* Write m's state to path; sha256 (65 bytes) and bytes receive the file's digest and size. */
int checkpoint_write(const struct byol_model *m, const char *path, const char *spec_json,
		     long step, int epoch, char sha256[65], size_t *bytes, struct err *e);

/* Load a checkpoint into m, whose networks must have exactly the file's tensors
   (names, dtypes, shapes); meta (may be NULL) receives its metadata. On failure
   m may be partly overwritten: load into a fresh model. */
int checkpoint_read(struct byol_model *m, const char *path, struct checkpoint_meta *meta,
		    struct err *e);

/* 0 if the file at path has the given SHA-256, else ERR_INVALID naming both digests. */
int checkpoint_verify(const char *path, const char *sha256, struct err *e);

/* At start-up, before any job runs: remove the temp files of checkpoint writes a
   killed process left, i.e. regular files named "*.safetensors.tmp.<pid>" (the
   name st_writer_write writes to before its rename) in each
   <state_dir>/checkpoints/<job_id>/ directory. Nothing else is touched: not
   other files, not symlinks, not directories. *removed (may be NULL) receives
   the count. A missing checkpoints/ directory is not an error. */
int checkpoint_clean_temps(const char *state_dir, int *removed, struct err *e);

#endif
