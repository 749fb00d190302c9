/*
 * web/bundle.h — the dashboard's front-end (client/web, built by `make`),
 * compiled into byold: the only files the web listener serves.
 */
#ifndef BYOL_WEB_BUNDLE_H
#define BYOL_WEB_BUNDLE_H

#include <stddef.h>

struct web_file {
	const char *path;   /* "/app.js" */
	const char *type;   /* its Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct web_file web_files[];
extern const int web_n_files;

#endif
