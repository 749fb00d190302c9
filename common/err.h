/*
 * err.h — error codes and the error struct that carries detail to the caller.
 *
 * Functions return 0 on success or a negative ERR_* code; the message goes into
 * a struct err so it can reach a log line or a JSON-RPC error unchanged.
 */
#ifndef BYOL_ERR_H
#define BYOL_ERR_H

enum err_code {
	ERR_OK = 0,
	ERR_NOMEM = -1,   /* allocation failed */
	ERR_INVALID = -2, /* bad argument, spec or file content */
	ERR_IO = -3,      /* read, write, open or fsync failed */
	ERR_RANGE = -4,   /* a size or value outside its bounds */
	ERR_BAD_STATE = -5, /* operation not allowed in the current state */
	ERR_NOTFOUND = -6,
	ERR_BUSY = -7,    /* a limit is reached; try again later */
	ERR_STOPPED = -8, /* given up because a stop was asked for (not a failure) */
};

struct err {
	int code;
	char msg[256];
};

/* Record code and a printf-style message in e (if e is not NULL); returns code. */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A short name for an error code ("out of memory", "invalid", ...). */
const char *err_name(int code);

#endif
