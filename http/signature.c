/* SPDX-License-Identifier: MIT */
/* The request signature (see signature.h). */
#include "signature.h"

#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

void signature_hmac_hex(const char *key, const char *stamp, const char *body, char hex[65])
{
    unsigned char mac[32];
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    mbedtls_md_hmac_starts(&ctx, (const unsigned char *)key, strlen(key));
    mbedtls_md_hmac_update(&ctx, (const unsigned char *)stamp, strlen(stamp));
    mbedtls_md_hmac_update(&ctx, (const unsigned char *)".", 1);
    mbedtls_md_hmac_update(&ctx, (const unsigned char *)body, strlen(body));
    mbedtls_md_hmac_finish(&ctx, mac);
    mbedtls_md_free(&ctx);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", mac[i]);
}
