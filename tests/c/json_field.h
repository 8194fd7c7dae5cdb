/* Shared by the C test hosts: reads one string field from a compact, flat JSON message, without
 * a JSON library (the hosts are written only from the bolink headers). */
#ifndef BOLINK_TEST_JSON_FIELD_H
#define BOLINK_TEST_JSON_FIELD_H

#include <stdio.h>
#include <string.h>

/* Copies the string value of `"key":"..."` into `out`; 0 when absent or longer than `size`. */
static int json_string_field(const char *json, const char *key, char *out, size_t size)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = strstr(json, pattern);
    if (start == NULL)
        return 0;
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= size)
        return 0;
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

#endif
