/* err.c — error recording. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
	if (e) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
		e->code = code;
	}
	return code;
}

const char *err_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "out of memory";
	case ERR_INVALID: return "invalid";
	case ERR_IO: return "i/o error";
	case ERR_RANGE: return "out of range";
	case ERR_BAD_STATE: return "bad state";
	case ERR_NOTFOUND: return "not found";
	case ERR_BUSY: return "busy";
	case ERR_STOPPED: return "stopped";
	}
	return "unknown error";
}
