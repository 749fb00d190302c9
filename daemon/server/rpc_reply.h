/*
 * server/rpc_reply.h — the response builders rpc.c and rpc_reply.c share
 * (inside the dispatch; handlers use rpc.h).
 */
#ifndef BYOL_SERVER_RPC_REPLY_H
#define BYOL_SERVER_RPC_REPLY_H

#include "server/rpc.h"

/* Sent when memory runs out while building a response. */
extern const char rpc_oom_line[];

/* v as JSON text: integers below 10^17 in full, others with `digits` significant digits. */
void rpc_format_number(char *out, size_t size, double v, int digits);

/* Adds v to object o under key; v is deleted when it cannot be added. 0 or ERR_NOMEM. */
int rpc_add(cJSON *o, const char *key, cJSON *v);

/* {"jsonrpc":"2.0", key: value, "id": id or null}; takes value; NULL if out of memory. */
cJSON *rpc_response(const char *key, cJSON *value, const cJSON *id);

/* Sets *resp to the error response for e (strings made UTF-8); 0 or ERR_NOMEM. */
int rpc_reply_error(const cJSON *id, struct rpc_error *e, cJSON **resp);

#endif
