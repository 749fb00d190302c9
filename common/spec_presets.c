/*
 * spec_presets.c — the built-in presets' lookups (the table itself is generated
 * by common/presets/embed.sh; see spec.h).
 */
#include "spec.h"

#include <string.h>

const struct spec_preset *spec_find_preset(const char *name)
{
	for (int i = 0; i < spec_n_presets; i++)
		if (!strcmp(spec_presets[i].name, name))
			return &spec_presets[i];
	return NULL;
}

cJSON *spec_preset_list_json(void)
{
	cJSON *list = cJSON_CreateArray();
	for (int i = 0; list && i < spec_n_presets; i++) {
		cJSON *p = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(list, p)) {
			cJSON_Delete(p);
			p = NULL;
		}
		if (!p || !cJSON_AddStringToObject(p, "name", spec_presets[i].name) ||
		    !cJSON_AddStringToObject(p, "description", spec_presets[i].description)) {
			cJSON_Delete(list);
			return NULL;
		}
	}
	return list;
}
