/* Comma-separated idyld addresses (util/addrlist.h). */
#include "util/addrlist.h"

#include <curl/curl.h>
#include <string.h>

size_t addrlist_count(const char *list)
{
        size_t n = 1;

        for (const char *p = list; *p; p++)
                n += *p == ',';
        return n;
}

void addrlist_nth(const char *list, size_t i, char *buf, size_t size)
{
        const char *p = list, *end;
        size_t len;

        i %= addrlist_count(list);
        while (i--)
                p = strchr(p, ',') + 1;
        end = strchr(p, ',');
        if (!end)
                end = p + strlen(p);
        while (p < end && *p == ' ')
                p++;
        while (end > p && end[-1] == ' ')
                end--;
        len = (size_t)(end - p);
        if (len >= size)
                len = size - 1;
        memcpy(buf, p, len);
        buf[len] = '\0';
}

bool addrlist_try_next(int curl_code)
{
        return curl_code == CURLE_COULDNT_CONNECT || curl_code == CURLE_COULDNT_RESOLVE_HOST ||
               curl_code == CURLE_COULDNT_RESOLVE_PROXY;
}
