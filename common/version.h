/*
 * version.h — the version of byol's programs and protocol, in one place.
 */
#ifndef BYOL_VERSION_H
#define BYOL_VERSION_H

#define BYOL_VERSION "0.1.0"
#define BYOL_PROTOCOL "byol/1"

#endif
